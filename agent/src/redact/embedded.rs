//! JSON documents inside text: a string value or message that is a JSON
//! document (`"payload": "{\"patient\": {…}}"`), or that carries one after a
//! prefix (`Received: {"ssn": …}`).
//!
//! Text rules see such a document as text and find what is written in it,
//! but field rules need its structure: `patient: {…}` is only replaced whole
//! if the walk sees a `patient` key. So a document found in text is parsed,
//! walked like a record's fields (every rule applies, nesting counts towards
//! [`MAX_DEPTH`](super::MAX_DEPTH)), and written back in place, compact, if the
//! walk replaced something. Parsing is the expensive part, so it is tried only
//! when the text looks like a document and holds a key that some field rule
//! names (one case-insensitive Aho-Corasick pass); otherwise the text rules
//! alone decide, as they would anyway. A text that is one whole document is
//! first walked over its bytes (`byte_walk.rs`), without building a `Value`;
//! only where that reader is unsure is it parsed and walked. Every byte
//! parsed is charged to the record's budget.

use serde_json::Value;

// A child of this module: documents found in text are its only entry point.
mod byte_walk;

use super::engine::{deeper, Work};
use super::path::KeyPath;
use super::text::Hit;
use super::Redactor;
use crate::internal_events::RedactionFailureReason;

/// How many `{` of one text may fail to start a document before the rest is
/// left to the text rules: bounds the parsing work on text full of braces.
const MAX_FAILED_PARSES: usize = 8;

/// A text whose JSON documents were parsed and walked: its new text if a
/// document changed, and where the documents are in the text to scan.
#[derive(Default)]
pub(super) struct Spliced {
    /// `None`: no document changed; the text is the original.
    pub(super) text: Option<String>,
    /// Byte spans of the walked documents in the text to scan: the walk
    /// decided them with their structure (keys, allow lists), so the text
    /// rules leave them alone.
    pub(super) documents: Vec<(usize, usize)>,
    /// The same documents' spans in the original text.
    pub(super) in_original: Vec<(usize, usize)>,
    /// The whole text is one document.
    pub(super) whole: bool,
}

/// Where a document may be in a text: the text trimmed, and whether all of
/// it looks like one document.
pub(super) struct Candidate {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) whole: bool,
}

impl Redactor {
    /// Redacts the JSON documents in `text`; `None` when there were none or
    /// nothing in them was replaced. With `report`, each field rule that
    /// replaced something in a document is reported once, spanning the whole
    /// document in `text`.
    pub(super) fn embedded_json(
        &self,
        text: &str,
        depth: usize,
        work: &mut Work<'_>,
        mut report: Option<&mut Vec<Hit>>,
    ) -> Result<Spliced, RedactionFailureReason> {
        let bytes = text.as_bytes();
        let Some(Candidate { start, end, whole }) = self.document_candidate(text) else {
            return Ok(Spliced::default());
        };
        let depth = deeper(depth)?;
        if whole {
            work.budget.spend(end - start)?;
            let before = work.budget.clone();
            #[cfg(any(test, fuzzing))]
            let shortcut = !self.always_parse_json;
            #[cfg(not(any(test, fuzzing)))]
            let shortcut = true;
            // Read from its bytes when that is sure to give what the walk of
            // the parsed document gives; otherwise parsed and walked, from
            // the charges and counts before. `--explain` wants the walk's
            // per-rule report.
            if shortcut && report.is_none() {
                let saved = work.scratch.saved_hits.len();
                work.scratch.saved_hits.extend_from_slice(work.hits);
                let walked = self.walked_document(&text[start..end], depth, work);
                if walked.is_err() {
                    work.hits.copy_from_slice(&work.scratch.saved_hits[saved..]);
                }
                work.scratch.saved_hits.truncate(saved);
                if let Ok(document) = walked {
                    return Ok(whole_document(text, start, end, document));
                }
            }
            work.budget = before;
            if let Ok(value) = serde_json::from_str::<Value>(&text[start..end]) {
                let document =
                    self.redact_document(value, depth, work, report.as_deref_mut(), (start, end))?;
                return Ok(whole_document(text, start, end, document));
            }
        }
        let mut spliced = Spliced::default();
        let mut out = String::new();
        let mut copied = 0;
        let mut from = 0;
        let mut failed = 0;
        while let Some(offset) = memchr::memchr(b'{', &bytes[from..]) {
            let at = from + offset;
            if !opens_object(bytes, at) {
                from = at + 1;
                continue;
            }
            let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(value @ Value::Object(_))) => {
                    let end = at + stream.byte_offset();
                    work.budget.spend(end - at)?;
                    let document =
                        self.redact_document(value, depth, work, report.as_deref_mut(), (at, end))?;
                    out.push_str(&text[copied..at]);
                    let placed = out.len();
                    match document {
                        Some(document) => {
                            out.push_str(&document);
                            spliced.text = Some(String::new());
                        }
                        None => out.push_str(&text[at..end]),
                    }
                    spliced.documents.push((placed, out.len()));
                    spliced.in_original.push((at, end));
                    copied = end;
                    from = end;
                }
                _ => {
                    // Where the parser gave up is not reported; charge the
                    // rest of the text, which bounds it from above.
                    work.budget.spend(text.len() - at)?;
                    failed += 1;
                    if failed == MAX_FAILED_PARSES {
                        break;
                    }
                    from = at + 1;
                }
            }
        }
        if spliced.text.is_some() {
            out.push_str(&text[copied..]);
            spliced.text = Some(out);
        }
        Ok(spliced)
    }

    /// Whether `text` may hold a document worth parsing: it looks like one
    /// (whole, or an object somewhere in it) and names a field rule's key.
    pub(super) fn document_candidate(&self, text: &str) -> Option<Candidate> {
        let bytes = text.as_bytes();
        // Most strings hold neither bracket, and then neither a whole
        // document nor an object can be in them; one vectorized pass settles
        // it before trimming and the field-key scan.
        memchr::memchr2(b'{', b'[', bytes)?;
        let start = text.len() - text.trim_start().len();
        let end = text.trim_end().len();
        let whole =
            start < end && matches!((bytes[start], bytes[end - 1]), (b'{', b'}') | (b'[', b']'));
        let has_object = memchr::memchr_iter(b'{', bytes).any(|at| opens_object(bytes, at));
        ((whole || has_object) && self.may_hold_field_key(text)).then_some(Candidate {
            start,
            end,
            whole,
        })
    }

    fn may_hold_field_key(&self, text: &str) -> bool {
        self.field_keys_finder()
            .is_some_and(|finder| finder.is_match(text))
    }

    /// Walks a parsed document; returns it serialized if anything in it was
    /// replaced.
    fn redact_document(
        &self,
        mut value: Value,
        depth: usize,
        work: &mut Work<'_>,
        report: Option<&mut Vec<Hit>>,
        span: (usize, usize),
    ) -> Result<Option<String>, RedactionFailureReason> {
        let before: u64 = work.hits.iter().sum();
        let snapshot = report.as_ref().map(|_| work.hits.to_vec());
        work.embedded += 1;
        let walked = match &mut value {
            Value::Object(members) => {
                let mut path = KeyPath::with_capacity(8);
                self.walk_object(members, &mut path, depth, work)
            }
            other => self.descend(other, &mut KeyPath::default(), depth, work),
        };
        work.embedded -= 1;
        walked?;
        let after: u64 = work.hits.iter().sum();
        if after == before {
            return Ok(None);
        }
        if let (Some(report), Some(snapshot)) = (report, snapshot) {
            for (rule, (&now, was)) in work.hits.iter().zip(snapshot).enumerate() {
                if now > was && self.is_field_rule(rule) {
                    report.push(Hit {
                        start: span.0,
                        end: span.1,
                        rule,
                    });
                }
            }
        }
        // Serializing a `Value` cannot fail (its keys are strings).
        Ok(Some(serde_json::to_string(&value).unwrap_or_default()))
    }
}

/// What became of a text that is one document, at `start..end`: `document`
/// is its new text, if it changed.
fn whole_document(text: &str, start: usize, end: usize, document: Option<String>) -> Spliced {
    match document {
        None => Spliced {
            text: None,
            documents: vec![(start, end)],
            in_original: vec![(start, end)],
            whole: true,
        },
        Some(document) => Spliced {
            text: Some(format!("{}{}{}", &text[..start], document, &text[end..])),
            documents: vec![(start, start + document.len())],
            in_original: vec![(start, end)],
            whole: true,
        },
    }
}

/// Whether the `{` at `at` can open a JSON object with members: a quote
/// follows, after optional whitespace. Log text is full of braces that open
/// nothing (`{}` placeholders, `${VAR}`, code); this keeps them from the parser.
fn opens_object(bytes: &[u8], at: usize) -> bool {
    bytes[at + 1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'"')
}
