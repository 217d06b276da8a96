//! Deciding that a JSON document needs no change without building it.
//!
//! Most JSON lines carry no PHI, yet the walk needs a parsed `Value` (a map
//! and a string allocated per member) only to conclude that nothing changes.
//! This module reads the document's bytes once and asks every question the
//! walk would ask of every member (field rules on its path, context rules on
//! its key, the text pipeline on its strings, nested documents included), in
//! the same order of depth and with the same budget charges. It answers
//! `Ok(())` only when the walk would count no hit; anything else (a hit, a
//! budget or depth failure, input that serde_json might read differently)
//! is [`Unsure`], and the caller takes the full path, which is the reference.
//!
//! What makes "no hit here" imply "no hit in the walk": the walk visits a
//! subset of what this reads (a duplicate key keeps only its last value), the
//! questions are the engine's own functions, and text is decoded exactly as
//! serde_json decodes it or not at all.

use std::borrow::Cow;

use crate::redact::engine::{deeper, PathFacts, Work};
use crate::redact::path::push_segments;
use crate::redact::Redactor;

/// The document may change, or it is not certain that serde_json reads it as
/// this module does: take the full path.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Unsure;

type Clean = Result<(), Unsure>;

impl Redactor {
    /// Whether the walk of the document `doc` (the whole of it, as
    /// `serde_json::from_str` would read it) would leave it as it is.
    /// `depth` is the depth the walk would start from.
    pub(super) fn document_is_clean(&self, doc: &str, depth: usize, work: &mut Work<'_>) -> Clean {
        let mut reader = Reader {
            redactor: self,
            text: doc,
            bytes: doc.as_bytes(),
            at: 0,
        };
        reader.skip_ws();
        let mut path: Vec<&str> = Vec::new();
        match reader.peek() {
            // The walk enters a top-level object's members at `depth`, and
            // descends into anything else (one level deeper for an array).
            Some(b'{') => {
                reader.at += 1;
                reader.object(&mut path, depth, work)?;
            }
            Some(b'[') => {
                reader.at += 1;
                let depth = deeper(depth).map_err(|_| Unsure)?;
                reader.array(&mut path, depth, work)?;
            }
            _ => return Err(Unsure),
        }
        reader.skip_ws();
        if reader.at == reader.bytes.len() {
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    /// What [`Redactor::scan_text`] decides for a string value found at
    /// `depth`: `Ok` when it would leave it as it is.
    fn string_is_clean(&self, text: &str, depth: usize, work: &mut Work<'_>) -> Clean {
        if let Some(candidate) = self.document_candidate(text) {
            if !candidate.whole {
                return Err(Unsure);
            }
            let depth = deeper(depth).map_err(|_| Unsure)?;
            let (start, end) = (candidate.start, candidate.end);
            work.budget.spend(end - start).map_err(|_| Unsure)?;
            // A whole document is the walk's to decide; text rules skip it.
            return self.document_is_clean(&text[start..end], depth, work);
        }
        if self.text_rules().none_enabled() {
            return Ok(());
        }
        match self.text_is_clean(text, work) {
            Ok(true) => Ok(()),
            _ => Err(Unsure),
        }
    }

    /// Whether a rule would take the non-null value at `path`: a field rule,
    /// or (for a string or a number's text) a context rule naming its key.
    /// `facts` are those of `path`.
    fn takes(
        &self,
        path: &[&str],
        facts: PathFacts,
        scalar: Option<&str>,
        work: &mut Work<'_>,
    ) -> Clean {
        if facts.field_rule.is_some() {
            return Err(Unsure);
        }
        match scalar {
            Some(text) => self.item_taken(path, facts, text, work),
            None => Ok(()),
        }
    }

    /// Whether a context rule would take the array item or labelled scalar
    /// at `path`, whose facts are `facts`.
    fn item_taken(
        &self,
        path: &[&str],
        facts: PathFacts,
        text: &str,
        work: &mut Work<'_>,
    ) -> Clean {
        if facts.label.is_none() {
            return Ok(());
        }
        match self.context_rule_for_text(path, facts, text, work) {
            Some(_) => Err(Unsure),
            None => Ok(()),
        }
    }
}

struct Reader<'r, 't> {
    redactor: &'r Redactor,
    text: &'t str,
    bytes: &'t [u8],
    at: usize,
}

/// A number as serde_json reads it: its text, and the text the walk gives
/// context rules (`Number::to_string`), made only when a key asks for it.
struct Number<'t> {
    raw: &'t str,
}

impl Number<'_> {
    fn text(&self) -> Result<String, Unsure> {
        serde_json::from_str::<serde_json::Number>(self.raw)
            .map(|n| n.to_string())
            .map_err(|_| Unsure)
    }
}

impl<'t> Reader<'_, 't> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Clean {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Clean {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    /// The members of an object whose `{` was read; `depth` as the walk's
    /// `walk_object` gets it.
    fn object<'p>(&mut self, path: &mut Vec<&'p str>, depth: usize, work: &mut Work<'_>) -> Clean
    where
        't: 'p,
    {
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.eat(b'"')?;
            let key = self.string()?;
            self.skip_ws();
            self.eat(b':')?;
            self.skip_ws();
            #[cfg(test)]
            if self.redactor.panic_on_key == Some(&*key) {
                panic!("injected fault in the redaction walk");
            }
            match key {
                Cow::Borrowed(key) => {
                    let before = path.len();
                    push_segments(path, key);
                    let member = self.member(path, depth, work);
                    path.truncate(before);
                    member?;
                }
                // Decoded keys are rare (`\u0040timestamp`); their path is
                // a copy that lives as long as the key.
                Cow::Owned(key) => {
                    let mut inner: Vec<&str> = path.clone();
                    push_segments(&mut inner, &key);
                    self.member(&mut inner, depth, work)?;
                }
            }
            if self.closed_after_item(b'}')? {
                return Ok(());
            }
        }
    }

    /// An object member's value, as `walk_object` then `descend` see it.
    fn member<'p>(&mut self, path: &mut Vec<&'p str>, depth: usize, work: &mut Work<'_>) -> Clean
    where
        't: 'p,
    {
        let redactor = self.redactor;
        if self.peek() == Some(b'n') {
            return self.literal(b"null");
        }
        let facts = redactor.path_facts(path);
        match self.peek() {
            Some(b't') => {
                self.literal(b"true")?;
                self.takes(path, facts, None, work)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                self.takes(path, facts, None, work)
            }
            Some(b'"') => {
                self.at += 1;
                let text = self.string()?;
                self.takes(path, facts, Some(&text), work)?;
                self.scan(&text, depth, work)
            }
            Some(b'{') => {
                self.takes(path, facts, None, work)?;
                self.at += 1;
                let depth = deeper(depth).map_err(|_| Unsure)?;
                self.object(path, depth, work)
            }
            Some(b'[') => {
                self.takes(path, facts, None, work)?;
                self.at += 1;
                let depth = deeper(depth).map_err(|_| Unsure)?;
                self.array(path, depth, work)
            }
            _ => {
                let number = self.number()?;
                self.takes(path, facts, None, work)?;
                if facts.label.is_some() {
                    redactor.item_taken(path, facts, &number.text()?, work)?;
                }
                Ok(())
            }
        }
    }

    /// The items of an array whose `[` was read; `depth` is the array's.
    /// Items have the array's path.
    fn array<'p>(&mut self, path: &mut Vec<&'p str>, depth: usize, work: &mut Work<'_>) -> Clean
    where
        't: 'p,
    {
        let redactor = self.redactor;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        // Items share the array's path; most arrays hold no scalar.
        let mut known: Option<PathFacts> = None;
        let mut facts = |path: &[&str]| *known.get_or_insert_with(|| redactor.path_facts(path));
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'n') => self.literal(b"null")?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'"') => {
                    self.at += 1;
                    let text = self.string()?;
                    redactor.item_taken(path, facts(path), &text, work)?;
                    self.scan(&text, depth, work)?;
                }
                Some(b'{') => {
                    self.at += 1;
                    self.object(path, deeper(depth).map_err(|_| Unsure)?, work)?;
                }
                Some(b'[') => {
                    self.at += 1;
                    self.array(path, deeper(depth).map_err(|_| Unsure)?, work)?;
                }
                _ => {
                    let number = self.number()?;
                    let facts = facts(path);
                    if facts.label.is_some() {
                        redactor.item_taken(path, facts, &number.text()?, work)?;
                    }
                }
            }
            if self.closed_after_item(b']')? {
                return Ok(());
            }
        }
    }

    fn takes(
        &self,
        path: &[&str],
        facts: PathFacts,
        scalar: Option<&str>,
        work: &mut Work<'_>,
    ) -> Clean {
        self.redactor.takes(path, facts, scalar, work)
    }

    /// After an object member or array item: `,` (more follow) or `close`
    /// (the container ends, `true`); anything else is not JSON we trust.
    fn closed_after_item(&mut self, close: u8) -> Result<bool, Unsure> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(false)
            }
            Some(byte) if byte == close => {
                self.at += 1;
                Ok(true)
            }
            _ => Err(Unsure),
        }
    }

    fn scan(&self, text: &str, depth: usize, work: &mut Work<'_>) -> Clean {
        self.redactor.string_is_clean(text, depth, work)
    }

    /// A number in JSON's grammar. Plain integers of up to 18 digits are
    /// exactly what serde_json accepts; anything else (fractions, exponents,
    /// long integers, where range and rounding matter) is checked by
    /// serde_json itself.
    fn number(&mut self) -> Result<Number<'t>, Unsure> {
        let start = self.at;
        let digits = |reader: &mut Self| {
            let from = reader.at;
            while reader.peek().is_some_and(|b| b.is_ascii_digit()) {
                reader.at += 1;
            }
            reader.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let first = self.peek();
        let int = digits(self);
        if int == 0 || (first == Some(b'0') && int > 1) {
            return Err(Unsure);
        }
        let mut simple = int <= 18;
        if self.peek() == Some(b'.') {
            self.at += 1;
            simple = false;
            if digits(self) == 0 {
                return Err(Unsure);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            simple = false;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(Unsure);
            }
        }
        let number = Number {
            raw: &self.text[start..self.at],
        };
        if !simple {
            number.text()?;
        }
        Ok(number)
    }

    /// A string whose opening quote was read, decoded as serde_json decodes
    /// it; borrowed when it holds no escape.
    fn string(&mut self) -> Result<Cow<'t, str>, Unsure> {
        let start = self.at;
        // Up to the closing quote or the first escape, in two vectorized
        // passes: the stop, then that no raw control character (which
        // serde_json rejects) comes before it.
        let rest = &self.bytes[start..];
        let stop = memchr::memchr2(b'"', b'\\', rest).ok_or(Unsure)?;
        // A fold rather than `any`: without the early exit it vectorizes.
        if rest[..stop]
            .iter()
            .fold(false, |control, &b| control | (b < 0x20))
        {
            return Err(Unsure);
        }
        self.at = start + stop;
        if rest[stop] == b'"' {
            self.at += 1;
            return Ok(Cow::Borrowed(&self.text[start..start + stop]));
        }
        let mut out = String::with_capacity(self.at - start + 16);
        out.push_str(&self.text[start..self.at]);
        loop {
            let run = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(&self.text[run..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut out)?;
                }
                _ => return Err(Unsure),
            }
        }
    }

    /// One escape after its backslash. Surrogates must come as a pair;
    /// anything serde_json might read otherwise is [`Unsure`].
    fn escape(&mut self, out: &mut String) -> Clean {
        let byte = self.peek().ok_or(Unsure)?;
        self.at += 1;
        let decoded = match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                match unit {
                    0xd800..=0xdbff => {
                        self.literal(b"\\u")?;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(Unsure);
                        }
                        let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                        char::from_u32(code).ok_or(Unsure)?
                    }
                    0xdc00..=0xdfff => return Err(Unsure),
                    unit => char::from_u32(unit).ok_or(Unsure)?,
                }
            }
            _ => return Err(Unsure),
        };
        out.push(decoded);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Unsure> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or(Unsure)?;
        let mut unit = 0;
        for &b in digits {
            let digit = (b as char).to_digit(16).ok_or(Unsure)?;
            unit = unit * 16 + digit;
        }
        self.at += 4;
        Ok(unit)
    }
}

#[cfg(test)]
#[allow(dead_code, clippy::all)]
#[path = "../../../../tests/corpus/mod.rs"]
mod corpus;

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::corpus;
    use crate::redact::Redactor;

    /// Asserts that `line` comes out of the shortcut exactly as out of the
    /// full parse and walk: text, whether it was copied, and every hit.
    fn same(fast: &Redactor, slow: &Redactor, line: &str) {
        let (a, b) = (fast.redact_text(line), slow.redact_text(line));
        assert_eq!(a, b, "{line}");
        assert_eq!(
            matches!(a, Cow::Borrowed(_)),
            matches!(b, Cow::Borrowed(_)),
            "{line}"
        );
        assert_eq!(fast.find_in_text(line), slow.find_in_text(line), "{line}");
    }

    fn pair() -> (Redactor, Redactor) {
        let mut slow = Redactor::builtin();
        slow.always_parse_json = true;
        (Redactor::builtin(), slow)
    }

    #[test]
    fn corpus_lines_come_out_as_from_the_full_walk() {
        let (fast, slow) = pair();
        let lines = corpus::corpus_lines(11, 1 << 20);
        for line in &lines {
            same(&fast, &slow, &line.text);
        }
    }

    /// JSON lines of the corpus, cut short and with bytes that matter to a
    /// JSON reader put in, so that every way serde_json can refuse a
    /// document (or read it otherwise) is met near real content.
    #[test]
    fn damaged_json_lines_come_out_as_from_the_full_walk() {
        let (fast, slow) = pair();
        let lines = corpus::corpus_lines(5, 256 << 10);
        let inserts = [
            "\"", "\\", "{", "}", "[", "]", ",", ":", "0", "-", "e", ".", "\\u", "\\ud800", " ",
            "\u{1}", "null", "1e999", "\\\"",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        for line in lines
            .iter()
            .filter(|l| l.text.trim_start().starts_with('{'))
        {
            let text = &line.text;
            let boundaries: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            for _ in 0..6 {
                let at = boundaries[next(boundaries.len())];
                let insert = inserts[next(inserts.len())];
                let damaged = format!("{}{}{}", &text[..at], insert, &text[at..]);
                same(&fast, &slow, &damaged);
                let cut = boundaries[next(boundaries.len())];
                same(&fast, &slow, &format!("{}}}", &text[..cut]));
            }
        }
    }

    #[test]
    fn tricky_documents_come_out_as_from_the_full_walk() {
        let (fast, slow) = pair();
        let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
        let deep_object = format!(
            "{}\"ssn_note\":\"x\"{}",
            "{\"a\":".repeat(70),
            "}".repeat(70)
        );
        let cases = [
            r#"{"level":"info","msg":"ok"}"#,
            r#"{"\u0073sn":"123-45-6789"}"#,
            r#"{"s\u0073n":"x","ok":1}"#,
            r#"{"\u0040timestamp":"2024-01-01","msg":"plain"}"#,
            r#"{"patient\u002essn":"x"}"#,
            r#"{"a.b":{"ssn":"x"}}"#,
            r#"{"note":"mail jane\u0040example.com"}"#,
            r#"{"note":"\ud83d\ude00 fine"}"#,
            r#"{"note":"\ud83d fine"}"#,
            r#"{"note":"\udc00"}"#,
            r#"{"payload":"{\"ssn\":\"123-45-6789\"}"}"#,
            r#"{"payload":"{\"status\":\"ok\"}"}"#,
            r#"{"payload":"{\"name\":\"x\",\"p\":\"{\\\"ssn\\\":1}\"}"}"#,
            r#"{"payload":" {\"name\":\"ok\"} trailing"}"#,
            r#"{"mrn":12345678}"#,
            r#"{"mrn":1.5e3}"#,
            r#"{"mrn":-0}"#,
            r#"{"count":1e400}"#,
            r#"{"count":01}"#,
            r#"{"count":1.}"#,
            r#"{"count":123456789012345678901234567890}"#,
            r#"{"mrn":[12345678,"A1234567",null,true,{"x":1}]}"#,
            r#"{"given":["Jane"]}"#,
            r#"{"x-patient-name":["Jane Roe"]}"#,
            r#"{"X-Patient-Name":"Jane Roe"}"#,
            r#"{"patient_mrn":"A1234567"}"#,
            r#"{"tags":[["a",["b"]],[]]}"#,
            r#"{"ssn":null}"#,
            r#"{"ssn":false}"#,
            r#"{"a":1,"a":{"ssn":"x"}}"#,
            r#"{"a":{"ssn":"x"},"a":1}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} {"b":2}"#,
            r#"{"a":1}  "#,
            "{\"a\":1}\u{a0}",
            "\u{a0}{\"a\":\"b\"}",
            "{\"a\":\"tab\there\"}",
            r#"{"a":"\x"}"#,
            r#"{"a":tru}"#,
            r#"[{"ssn":"x"}]"#,
            r#"[1,2,"plain"]"#,
            r#"["{\"ssn\":1}"]"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"":""}"#,
            r#"{"service.name":"billing","host.name":"node-1","app":{"name":"x"}}"#,
            deep.as_str(),
            deep_object.as_str(),
        ];
        for case in cases {
            same(&fast, &slow, case);
        }
    }
}
