//! The compiled rules and the walk that applies them to records.

use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::boundary::Redacted;
use super::embedded;
use super::error::{RuleError, RuleProblem};
use super::path::{split_path, KeyPath, LastKeys, PathPattern};
use super::replace::PreparedReplacement;
use super::rules::Examples;
use super::text::{self, Only, Scratch, TextRule, TextRules};
use crate::event::LogRecord;
use crate::internal_events::{RedactionFailed, RedactionFailureReason, RedactionsApplied};

mod clean_text_memo;
mod path_memo;

pub(super) use path_memo::PathFacts;

/// The message of a record that could not be redacted and was masked whole.
pub const REDACTION_FAILED_MARKER: &str = "[REDACTED:redaction-failed]";

/// The rule id reported for a text that could not be scanned.
const REDACTION_FAILED_ID: &str = "redaction-failed";

/// How many objects and arrays may nest below a record's fields before the
/// record is masked whole instead of walked. Real log records nest a handful of
/// levels; the limit bounds the walk's stack use on small worker stacks and is
/// below serde_json's own parser limit (128), so it is the one that decides.
pub const MAX_DEPTH: usize = 64;

/// The work budget of one record (or one text given to
/// [`Redactor::redact_text`]), in bytes read by the text scanner: every text
/// as written, each decoded view of it, and each JSON document parsed out of
/// it. A record starts with `BUDGET_FLOOR_BYTES` and earns
/// `BUDGET_BYTES_PER_BYTE` for every byte of text it carries. Normal records
/// use a small multiple of their size (a view or two, one nested document);
/// text built to make the scanner work without end (documents nested in
/// strings nested in documents, escapes of escapes) runs out of budget and the
/// record is masked whole and counted (`reason="budget"`): fail closed.
pub const BUDGET_FLOOR_BYTES: usize = 1 << 20;
/// See [`BUDGET_FLOOR_BYTES`].
pub const BUDGET_BYTES_PER_BYTE: usize = 16;

/// A rule's hit in a text: which rule, and the byte span of the text it
/// replaces. Never the text itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TextHit<'r> {
    /// The rule's id, or `redaction-failed` (the whole text) when the text
    /// could not be scanned within its budget.
    pub rule_id: &'r str,
    /// Byte offset of the first byte replaced.
    pub start: usize,
    /// Byte offset after the last byte replaced.
    pub end: usize,
}

/// Where a rule was written, for errors about it (its examples).
#[derive(Clone, Debug)]
pub(super) struct Origin {
    pub(super) file: PathBuf,
    pub(super) line: u64,
    pub(super) column: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

impl Origin {
    pub(super) fn error(&self, problem: RuleProblem) -> RuleError {
        RuleError {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
            message: problem.to_string(),
        }
    }
}

/// What every rule has, whatever its kind: the name it is counted under and
/// what a match becomes.
#[derive(Debug)]
pub(super) struct RuleMeta {
    pub(super) id: Box<str>,
    pub(super) replacement: PreparedReplacement,
    pub(super) origin: Origin,
    /// Index into [`Redactor::allow`]: the allow-list of the file it came from.
    pub(super) pack: usize,
}

/// A compiled `kind: field` rule.
#[derive(Debug)]
pub(super) struct FieldMatcher {
    /// Index into [`Redactor::rules`].
    pub(super) rule: usize,
    /// Index into [`Redactor::allow`]: the allow-list of the file it came from.
    pub(super) pack: usize,
    pub(super) patterns: Vec<PathPattern>,
    pub(super) examples: Examples,
}

impl FieldMatcher {
    /// Whether a pattern ends in `*`, so the last-key index cannot rule it out.
    fn has_open_tail(&self) -> bool {
        self.patterns.iter().any(|p| p.last_key().is_none())
    }

    fn matches(&self, path: &[&str]) -> bool {
        self.patterns.iter().any(|pattern| pattern.matches(path))
    }
}

/// One file's allow-list.
#[derive(Debug, Default)]
pub(super) struct AllowList {
    /// The pattern as written, for example errors, and compiled.
    pub(super) patterns: Vec<(String, PathPattern)>,
}

impl AllowList {
    pub(super) fn exempts(&self, path: &[&str]) -> bool {
        self.exempting(path).is_some()
    }

    /// The allow pattern that exempts `path`, if any.
    fn exempting(&self, path: &[&str]) -> Option<&str> {
        self.patterns
            .iter()
            .find(|(_, pattern)| pattern.matches(path))
            .map(|(written, _)| written.as_str())
    }
}

/// Removes PHI from records. Immutable once built ([`Redactor::builtin`],
/// [`Redactor::load`]), so one instance is shared by every pipeline worker.
pub struct Redactor {
    /// Every rule, in load order; hits are counted by index into this.
    rules: Vec<RuleMeta>,
    /// The `kind: field` rules, in load order. Text-scanning kinds get their own
    /// list beside this one and run in [`Redactor::scan_text`].
    field_matchers: Vec<FieldMatcher>,
    /// The last keys of every field pattern that ends in a key.
    field_last_keys: LastKeys,
    /// For each of `field_last_keys`, in its order: the indexes into
    /// `field_matchers`, in load order, of those that can match a path ending
    /// in it (a pattern ends in it or in `*`).
    field_candidates: Vec<Vec<usize>>,
    /// Indexes into `field_matchers` of those with a pattern ending in `*`:
    /// the only ones to try when the path's last key is not in `field_last_keys`.
    open_tail_matchers: Vec<usize>,
    /// One per loaded file.
    allow: Vec<AllowList>,
    /// `kind: pattern`, `kind: context` and `kind: hl7` rules.
    text: TextRules,
    /// The labels of enabled context rules, for structured keys.
    structured_labels: StructuredLabels,
    /// Every key named by a field pattern: a JSON document found in a string
    /// is only parsed (to let field rules see its structure) if it holds one.
    field_keys: Option<aho_corasick::AhoCorasick>,
    /// Which of a thread's memoized path decisions are this redactor's.
    memo_owner: u64,
    /// Where the work budget starts ([`BUDGET_FLOOR_BYTES`]).
    budget_floor: usize,
    /// What a byte of text earns ([`BUDGET_BYTES_PER_BYTE`]).
    budget_per_byte: usize,
    /// A key whose visit panics, to prove that a panic in the walk fails closed.
    #[cfg(test)]
    pub(super) panic_on_key: Option<&'static str>,
    /// Parse and walk every JSON document, to prove the shortcut for clean
    /// ones changes no result.
    #[cfg(any(test, fuzzing))]
    pub(super) always_parse_json: bool,
    /// Decide every path and scan every text afresh, to prove the memos
    /// change no result.
    #[cfg(any(test, fuzzing))]
    pub(super) no_memos: bool,
}

/// Context-rule labels, sorted, each with the enabled context rules (indexes
/// into `TextRules::contexts`, in load order) that name it.
#[derive(Debug, Default)]
struct StructuredLabels {
    labels: Vec<(String, Vec<usize>)>,
}

impl StructuredLabels {
    fn new(text: &TextRules) -> StructuredLabels {
        let mut labels: Vec<(String, Vec<usize>)> = Vec::new();
        for (index, matcher) in text.contexts.iter().enumerate() {
            if !matcher.enabled {
                continue;
            }
            for label in &matcher.labels {
                match labels.iter_mut().find(|(known, _)| known == label) {
                    Some((_, matchers)) => matchers.push(index),
                    None => labels.push((label.clone(), vec![index])),
                }
            }
        }
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        StructuredLabels { labels }
    }

    /// Where the label that `key` names is (ignoring case, `_`, `-`, and the
    /// `X-` of a non-standard HTTP header, as in text), for
    /// [`rules_at`](Self::rules_at).
    fn position(&self, key: &str) -> Option<usize> {
        let find = |key: &str| {
            self.labels
                .binary_search_by(|(label, _)| cmp_normalized(label, key))
                .ok()
        };
        find(key).or_else(|| {
            key.get(..2)
                .filter(|prefix| prefix.eq_ignore_ascii_case("x-"))
                .and_then(|_| find(&key[2..]))
        })
    }

    /// The context rules of the label at `position`.
    fn rules_at(&self, position: Option<usize>) -> &[usize] {
        match position {
            Some(at) => &self.labels[at].1,
            None => &[],
        }
    }
}

/// Compares a normalized label with a key as if the key were normalized too.
fn cmp_normalized(label: &str, key: &str) -> Ordering {
    let key = key
        .bytes()
        .filter(|b| *b != b'_' && *b != b'-')
        .map(|b| b.to_ascii_lowercase());
    label.bytes().cmp(key)
}

thread_local! {
    /// The text scanner's buffers and automaton caches, one set per thread.
    /// Boxed: it is taken out and put back on every call, and moving the
    /// caches themselves cost more than scanning a short text.
    static SCRATCH: RefCell<Option<Box<Scratch>>> = const { RefCell::new(None) };
}

/// How far a record may still make the scanner read; see [`BUDGET_FLOOR_BYTES`].
#[derive(Clone, Debug)]
pub(super) struct Budget {
    left: usize,
    per_byte: usize,
}

impl Budget {
    pub(super) fn new(floor: usize, per_byte: usize) -> Budget {
        Budget {
            left: floor,
            per_byte,
        }
    }

    fn earn(&mut self, bytes: usize) {
        self.left = self
            .left
            .saturating_add(bytes.saturating_mul(self.per_byte));
    }

    pub(super) fn spend(&mut self, bytes: usize) -> Result<(), RedactionFailureReason> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(RedactionFailureReason::Budget),
        }
    }
}

/// What one record's redaction works with.
pub(super) struct Work<'a> {
    /// Hits per rule index.
    pub(super) hits: &'a mut [u64],
    pub(super) scratch: &'a mut Scratch,
    pub(super) budget: Budget,
    /// How many JSON documents parsed out of strings enclose the value being
    /// visited; text inside them earns no budget (it was paid for).
    pub(super) embedded: usize,
    /// [`PathFacts::allowed_packs`] of the value being visited: hits of
    /// these files' text rules in its strings are dropped.
    pub(super) allowed_packs: u64,
}

/// What became of a text.
pub(super) enum Scanned {
    Unchanged,
    /// The result is in `scratch.out`.
    InScratch,
    /// Only an embedded document changed; this is the result.
    Owned(String),
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.rule_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Redactor {
    pub(super) fn new(
        rules: Vec<RuleMeta>,
        field_matchers: Vec<FieldMatcher>,
        allow: Vec<AllowList>,
        text: TextRules,
    ) -> Redactor {
        let field_last_keys = LastKeys::new(field_matchers.iter().flat_map(|m| m.patterns.iter()));
        let open_tail_matchers: Vec<usize> = (0..field_matchers.len())
            .filter(|&i| field_matchers[i].has_open_tail())
            .collect();
        let field_candidates = field_last_keys
            .keys()
            .map(|last| {
                (0..field_matchers.len())
                    .filter(|&i| {
                        open_tail_matchers.contains(&i)
                            || field_matchers[i]
                                .patterns
                                .iter()
                                .filter_map(PathPattern::last_key)
                                .any(|key| key.eq_ignore_ascii_case(last))
                    })
                    .collect()
            })
            .collect();
        let mut keys: Vec<String> = field_matchers
            .iter()
            .flat_map(|m| m.patterns.iter())
            .flat_map(PathPattern::keys)
            .map(str::to_ascii_lowercase)
            .collect();
        keys.sort();
        keys.dedup();
        let field_keys = (!keys.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&keys)
                    .ok()
            })
            .flatten();
        let structured_labels = StructuredLabels::new(&text);
        Redactor {
            rules,
            field_matchers,
            field_last_keys,
            field_candidates,
            open_tail_matchers,
            allow,
            text,
            structured_labels,
            field_keys,
            memo_owner: path_memo::next_owner(),
            budget_floor: BUDGET_FLOOR_BYTES,
            budget_per_byte: BUDGET_BYTES_PER_BYTE,
            #[cfg(test)]
            panic_on_key: None,
            #[cfg(any(test, fuzzing))]
            always_parse_json: false,
            #[cfg(any(test, fuzzing))]
            no_memos: false,
        }
    }

    pub(super) fn field_keys_finder(&self) -> Option<&aho_corasick::AhoCorasick> {
        self.field_keys.as_ref()
    }

    pub(super) fn is_field_rule(&self, rule: usize) -> bool {
        self.field_matchers.iter().any(|m| m.rule == rule)
    }

    /// The same rules without the shortcuts: every JSON document parsed and
    /// walked, every path decided and every text scanned afresh. The
    /// reference the differential fuzz target (`fuzz/`) holds the engine to.
    #[cfg(any(test, fuzzing))]
    #[doc(hidden)]
    pub fn without_shortcuts(mut self) -> Redactor {
        self.always_parse_json = true;
        self.no_memos = true;
        self
    }

    /// Sets the budget, to test what happens when it runs out.
    #[cfg(test)]
    pub(super) fn with_budget(mut self, floor: usize, per_byte: usize) -> Redactor {
        self.budget_floor = floor;
        self.budget_per_byte = per_byte;
        self
    }

    fn new_budget(&self) -> Budget {
        Budget::new(self.budget_floor, self.budget_per_byte)
    }

    /// The ids of every rule, in load order, disabled rules included.
    pub fn rule_ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.rules.iter().map(|rule| &*rule.id)
    }

    /// Runs `f` with this thread's scratch, made anew if the last one was made
    /// for other rules or lost to a panic.
    fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        let taken = SCRATCH.with(|cell| cell.borrow_mut().take());
        let mut scratch = match taken {
            Some(scratch) if self.text.owns(&scratch) => scratch,
            _ => Box::new(self.text.new_scratch()),
        };
        let result = f(&mut scratch);
        SCRATCH.with(|cell| *cell.borrow_mut() = Some(scratch));
        result
    }

    /// Redacts one record. Prefer [`redact_batch`](Self::redact_batch) on hot
    /// paths: telemetry is emitted once per call.
    pub fn redact(&self, record: LogRecord) -> Redacted<LogRecord> {
        let mut tally = Tally::new(self.rules.len());
        let redacted = self.with_scratch(|scratch| self.redact_one(record, &mut tally, scratch));
        tally.emit(&self.rules);
        redacted
    }

    /// Redacts a batch, then reports once per rule that replaced something
    /// ([`RedactionsApplied`]) and once per failure reason ([`RedactionFailed`]).
    pub fn redact_batch(&self, records: Vec<LogRecord>) -> Vec<Redacted<LogRecord>> {
        let mut tally = Tally::new(self.rules.len());
        let redacted = self.with_scratch(|scratch| {
            records
                .into_iter()
                .map(|record| self.redact_one(record, &mut tally, scratch))
                .collect()
        });
        tally.emit(&self.rules);
        redacted
    }

    /// Redacts one text that is not a record: a URL path or query, a header
    /// value, a metric label, a span attribute. Every text rule applies, with
    /// the decoded views and JSON documents found in the text (their field
    /// rules included); field rules on their own need structure and do not.
    ///
    /// Returns the text borrowed, without allocating, when nothing was found.
    /// Hits are counted on `/metrics` per rule. A text that cannot be scanned
    /// within its budget, or on which a rule panics, comes back as
    /// [`REDACTION_FAILED_MARKER`] and is counted as a failure.
    pub fn redact_text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut tally = Tally::new(0);
        let result = self.with_scratch(|scratch| {
            let mut counts = std::mem::take(&mut scratch.counts);
            counts.clear();
            counts.resize(self.rules.len(), 0);
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut work = Work {
                    hits: &mut counts,
                    scratch: &mut *scratch,
                    budget: self.new_budget(),
                    embedded: 0,
                    allowed_packs: 0,
                };
                work.budget.earn(text.len());
                self.scan_str(text, 0, &mut work)
            }));
            let result = match outcome {
                Ok(Ok(Scanned::Unchanged)) => Ok(Cow::Borrowed(text)),
                Ok(Ok(Scanned::InScratch)) => Ok(Cow::Owned(std::mem::take(&mut scratch.out))),
                Ok(Ok(Scanned::Owned(text))) => Ok(Cow::Owned(text)),
                Ok(Err(reason)) => Err(reason),
                Err(_panic) => {
                    *scratch = self.text.new_scratch();
                    Err(RedactionFailureReason::Panic)
                }
            };
            if result.is_ok() {
                for (rule, &count) in counts.iter().enumerate() {
                    if count > 0 {
                        scratch.counter(rule, &self.rules[rule].id).inc_by(count);
                    }
                }
            }
            scratch.counts = counts;
            result
        });
        match result {
            Ok(text) => text,
            Err(reason) => {
                tally.discard_record(reason);
                tally.emit(&self.rules);
                Cow::Owned(REDACTION_FAILED_MARKER.to_owned())
            }
        }
    }

    /// Where the text rules hit in `text`, as [`Redactor::redact_text`] would
    /// replace it: every rule's spans (overlapping spans of different rules
    /// are all listed; the redactor replaces their union), in the original
    /// text's byte offsets, sorted. A JSON document inside the text in which
    /// field rules replaced something is reported as one span per such rule,
    /// the whole document. Counts nothing. For `wardwatch redact --explain`:
    /// print the ids and offsets, never the text.
    pub fn find_in_text(&self, text: &str) -> Vec<TextHit<'_>> {
        self.with_scratch(|scratch| {
            let mut counts = vec![0; self.rules.len()];
            let mut budget = self.new_budget();
            budget.earn(text.len());
            let mut work = Work {
                hits: &mut counts,
                scratch,
                budget,
                embedded: 0,
                allowed_packs: 0,
            };
            let mut found = Vec::new();
            let scanned = self
                .embedded_json(text, 0, &mut work, Some(&mut found))
                .and_then(|spliced| {
                    work.scratch.hits.clear();
                    if spliced.whole || self.text.none_enabled() {
                        return Ok(());
                    }
                    self.text_hits(text, &mut work)?;
                    drop_hits_inside(&mut work.scratch.hits, &spliced.in_original);
                    Ok(())
                });
            if scanned.is_err() {
                return vec![TextHit {
                    rule_id: REDACTION_FAILED_ID,
                    start: 0,
                    end: text.len(),
                }];
            }
            found.extend_from_slice(&work.scratch.hits);
            text::normalize(text, &mut found);
            found
                .into_iter()
                .map(|hit| TextHit {
                    rule_id: &self.rules[hit.rule].id,
                    start: hit.start,
                    end: hit.end,
                })
                .collect()
        })
    }

    /// The regular expressions of the enabled text rules, one per line of a
    /// pattern file for `rg -o -f` (ripgrep's syntax is this crate's): each
    /// pattern rule's patterns as written, and for context and HL7 rules a
    /// regex that approximates what they find (key and value; a segment).
    /// ASCII semantics are made explicit with `(?-u)`.
    pub fn pattern_sources(&self) -> Vec<String> {
        self.text.pattern_sources()
    }

    /// How many (pattern, match end) pairs the text rules' union automaton
    /// reports in `text`, walking every byte (no gate, nothing confirmed, no
    /// views): the cost floor of the one-pass design, for `benches/phi_scan.rs`.
    #[doc(hidden)]
    pub fn automaton_pass(&self, text: &str) -> usize {
        self.with_scratch(|scratch| self.text.union_pass(text.as_bytes(), scratch))
    }

    /// How many bytes of `text` the union automaton reads while a match may
    /// be under way: after them it is not back in its start state. However
    /// well a prefilter picked the bytes where a match can begin, an exact
    /// automaton would still read these; the rest is what skipping could
    /// save, for `benches/phi_scan.rs`. `None` if there is no union.
    #[doc(hidden)]
    pub fn automaton_busy_bytes(&self, text: &str) -> Option<usize> {
        self.with_scratch(|scratch| self.text.union_busy_bytes(text.as_bytes(), scratch))
    }

    /// Runs every rule's examples against the rules as compiled (with their
    /// file's allow-list). Returns how many examples were checked.
    pub fn check_examples(&self) -> Result<usize, Vec<RuleError>> {
        let mut checked = 0;
        let mut errors = Vec::new();
        for matcher in &self.field_matchers {
            let rule = &self.rules[matcher.rule];
            let allow = &self.allow[matcher.pack];
            for (index, example) in matcher.examples.matching.iter().enumerate() {
                checked += 1;
                let why = match verdict(matcher, allow, &split_path(example)) {
                    Verdict::Replaced { .. } => continue,
                    Verdict::Exempt { by } => format!(" (allow pattern {by:?} exempts it)"),
                    Verdict::Untouched => String::new(),
                };
                errors.push(rule.origin.error(RuleProblem::ExampleNotMatched {
                    rule_id: rule.id.to_string(),
                    index,
                    example: example.clone(),
                    why,
                }));
            }
            for (index, example) in matcher.examples.no_match.iter().enumerate() {
                checked += 1;
                let path = split_path(example);
                let Verdict::Replaced { at } = verdict(matcher, allow, &path) else {
                    continue;
                };
                let why = if at < path.len() {
                    format!(" (with its ancestor {:?})", path[..at].join("."))
                } else {
                    String::new()
                };
                errors.push(rule.origin.error(RuleProblem::ExampleMatched {
                    rule_id: rule.id.to_string(),
                    index,
                    example: example.clone(),
                    why,
                }));
            }
        }
        checked += self.check_text_examples(&mut errors);
        if errors.is_empty() {
            Ok(checked)
        } else {
            Err(errors)
        }
    }

    /// Runs each text rule alone over its examples: a `match` example must
    /// get at least one hit of the rule, a `no_match` example none.
    fn check_text_examples(&self, errors: &mut Vec<RuleError>) -> usize {
        let mut checked = 0;
        let rules = self
            .text
            .patterns
            .iter()
            .map(|m| (m.rule, &m.examples))
            .chain(self.text.contexts.iter().map(|m| (m.rule, &m.examples)))
            .chain(self.text.hl7.iter().map(|m| (m.rule, &m.examples)));
        for (rule, examples) in rules {
            let Some(text_rule) = self.text.text_rule(rule) else {
                continue;
            };
            let meta = &self.rules[rule];
            for (index, example) in examples.matching.iter().enumerate() {
                checked += 1;
                if self.example_hits(text_rule, example) == 0 {
                    errors.push(meta.origin.error(RuleProblem::ExampleNotMatched {
                        rule_id: meta.id.to_string(),
                        index,
                        example: example.clone(),
                        why: String::new(),
                    }));
                }
            }
            for (index, example) in examples.no_match.iter().enumerate() {
                checked += 1;
                let hits = self.example_hits(text_rule, example);
                if hits > 0 {
                    errors.push(meta.origin.error(RuleProblem::ExampleMatched {
                        rule_id: meta.id.to_string(),
                        index,
                        example: example.clone(),
                        why: format!(" ({hits} hits)"),
                    }));
                }
            }
        }
        checked
    }

    fn example_hits(&self, rule: TextRule, example: &str) -> usize {
        self.with_scratch(|scratch| {
            scratch.hits.clear();
            let mut budget = Budget::new(usize::MAX, 0);
            let found = self.text.find(
                example.as_bytes(),
                Only::Rule(rule),
                &self.allow,
                scratch,
                &mut budget,
            );
            debug_assert!(found.is_ok(), "examples have no budget");
            scratch.hits.len()
        })
    }

    fn redact_one(
        &self,
        mut record: LogRecord,
        tally: &mut Tally,
        scratch: &mut Scratch,
    ) -> Redacted<LogRecord> {
        let hits = &mut tally.record;
        // Unwind safety: after a panic the half-walked record is read only for
        // its timestamp, stream and resource (never its content), its hits
        // are discarded, and the scratch is replaced, so no broken state is
        // observed.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut work = Work {
                hits,
                scratch: &mut *scratch,
                budget: self.new_budget(),
                embedded: 0,
                allowed_packs: 0,
            };
            self.redact_in_place(&mut record, &mut work)
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(reason)) => Some(reason),
            Err(_panic) => {
                *scratch = self.text.new_scratch();
                Some(RedactionFailureReason::Panic)
            }
        };
        match failure {
            None => {
                tally.keep_record();
                Redacted(record)
            }
            Some(reason) => {
                tally.discard_record(reason);
                Redacted(failure_marker(&record))
            }
        }
    }

    fn redact_in_place(
        &self,
        record: &mut LogRecord,
        work: &mut Work<'_>,
    ) -> Result<(), RedactionFailureReason> {
        if let Some(message) = record.message.as_mut() {
            self.scan_text(message, 0, work)?;
        }
        let mut path = KeyPath::with_capacity(16);
        self.walk_object(&mut record.fields, &mut path, 0, work)
    }

    /// Field rules are decided top-down: the first rule whose pattern matches a
    /// member's path (and that its file's allow-list does not exempt) replaces the
    /// whole value, and nothing below it is visited. So a `patient` object goes
    /// as one value however it is shaped, and no rule below it can half-keep it.
    /// Then a string or number whose own key names a context rule's label is
    /// that rule's to take ("keys included in the decision"); anything else is
    /// descended into, and strings are scanned as text.
    pub(super) fn walk_object<'v>(
        &self,
        object: &'v mut Map<String, Value>,
        path: &mut KeyPath<'v>,
        depth: usize,
        work: &mut Work<'_>,
    ) -> Result<(), RedactionFailureReason> {
        for (key, value) in object.iter_mut() {
            #[cfg(test)]
            if self.panic_on_key == Some(key.as_str()) {
                panic!("injected fault in the redaction walk");
            }
            let entered = path.enter(key);
            if !value.is_null() {
                let facts = self.path_facts(path.segments());
                let rule = facts
                    .field_rule
                    .or_else(|| self.context_rule_for(path.segments(), facts, value, work));
                // The member's subtree is visited under its path's allow
                // lists; the enclosing member's are back for its next item.
                let enclosing = std::mem::replace(&mut work.allowed_packs, facts.allowed_packs);
                let visited = self.take_or_descend(rule, value, path, depth, work);
                work.allowed_packs = enclosing;
                visited?;
            }
            path.leave(entered);
        }
        Ok(())
    }

    /// Replaces `value` with `rule`'s replacement and counts it, or, when no
    /// rule takes it, descends into it.
    fn take_or_descend<'v>(
        &self,
        rule: Option<usize>,
        value: &'v mut Value,
        path: &mut KeyPath<'v>,
        depth: usize,
        work: &mut Work<'_>,
    ) -> Result<(), RedactionFailureReason> {
        match rule {
            Some(rule) => {
                self.take(rule, value, work);
                Ok(())
            }
            None => self.descend(value, path, depth, work),
        }
    }

    /// `rule` takes `value` whole: replaced, and counted.
    pub(super) fn take(&self, rule: usize, value: &mut Value, work: &mut Work<'_>) {
        self.rules[rule].replacement.apply(value);
        work.hits[rule] += 1;
    }

    pub(super) fn descend<'v>(
        &self,
        value: &'v mut Value,
        path: &mut KeyPath<'v>,
        depth: usize,
        work: &mut Work<'_>,
    ) -> Result<(), RedactionFailureReason> {
        match value {
            Value::Object(object) => {
                let depth = deeper(depth)?;
                self.walk_object(object, path, depth, work)
            }
            // Array levels are transparent: every item has the array's path,
            // which no field rule matched, so items are descended into; a
            // scalar item is the array key's value as much as a lone one is
            // (`"x-patient-name": ["Jane Roe"]`, `"given": ["Jane"]`).
            Value::Array(items) => {
                let depth = deeper(depth)?;
                let mut facts = None;
                items.iter_mut().try_for_each(|item| {
                    let scalar = matches!(item, Value::String(_) | Value::Number(_));
                    let rule = if scalar {
                        let facts = *facts.get_or_insert_with(|| self.path_facts(path.segments()));
                        self.context_rule_for(path.segments(), facts, item, work)
                    } else {
                        None
                    };
                    self.take_or_descend(rule, item, path, depth, work)
                })
            }
            Value::String(text) => self.scan_text(text, depth, work),
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }

    /// The context rule that takes the string or number at `path` because its
    /// last key names the rule's label, if any.
    fn context_rule_for(
        &self,
        path: &[&str],
        facts: PathFacts,
        value: &Value,
        work: &mut Work<'_>,
    ) -> Option<usize> {
        facts.label?;
        match value {
            Value::String(text) => self.context_rule_for_text(path, facts, text, work),
            Value::Number(n) => self.context_rule_for_text(path, facts, &n.to_string(), work),
            _ => None,
        }
    }

    /// [`context_rule_for`](Self::context_rule_for) on a scalar's text;
    /// `facts` are those of `path`.
    pub(super) fn context_rule_for_text(
        &self,
        path: &[&str],
        facts: PathFacts,
        text: &str,
        work: &mut Work<'_>,
    ) -> Option<usize> {
        let matchers = self.structured_labels.rules_at(facts.label);
        matchers.iter().enumerate().find_map(|(at, &index)| {
            let matcher = &self.text.contexts[index];
            let allowed = match facts.exempt {
                Some(exempt) => exempt & (1 << at) != 0,
                None => self.allow[matcher.pack].exempts(path),
            };
            (!allowed && matcher.takes_value(text, work.scratch)).then_some(matcher.rule)
        })
    }

    /// Scans a string of a record (its message, or a string value) in place.
    fn scan_text(
        &self,
        text: &mut String,
        depth: usize,
        work: &mut Work<'_>,
    ) -> Result<(), RedactionFailureReason> {
        if work.embedded == 0 {
            work.budget.earn(text.len());
        }
        match self.scan_value(text, depth, work)? {
            Scanned::Unchanged => {}
            // The old text's buffer becomes the next output buffer.
            Scanned::InScratch => std::mem::swap(text, &mut work.scratch.out),
            Scanned::Owned(new) => *text = new,
        }
        Ok(())
    }

    /// What [`scan_text`](Self::scan_text) does to a string value, with the
    /// budget already earned, for a caller that does not own the string.
    pub(super) fn scan_value(
        &self,
        text: &str,
        depth: usize,
        work: &mut Work<'_>,
    ) -> Result<Scanned, RedactionFailureReason> {
        // Without a document in it, `scan_str` only runs the text rules, so
        // a text they found clean before is clean again, at the same charge.
        let plain = !self.text.none_enabled() && self.document_candidate(text).is_none();
        let memo_key = if plain { self.memo_key(text) } else { None };
        if let Some(key) = memo_key {
            if let Some(charge) = clean_text_memo::clean_charge(self.memo_owner, text, key) {
                work.budget.spend(charge)?;
                return Ok(Scanned::Unchanged);
            }
        }
        let before = work.budget.left;
        let scanned = if plain {
            self.scan_with_text_rules(text, embedded::Spliced::default(), work)?
        } else {
            self.scan_str(text, depth, work)?
        };
        // Clean only because an allow list dropped hits is not clean
        // elsewhere.
        if let (Scanned::Unchanged, Some(key), 0) = (&scanned, memo_key, work.allowed_packs) {
            clean_text_memo::remember_clean(self.memo_owner, text, key, before - work.budget.left)
        }
        Ok(scanned)
    }

    /// The whole text pipeline over one text: JSON documents inside it
    /// (redacted as records, field rules included), then every text rule over
    /// it and its decoded views, hits merged and replaced once.
    fn scan_str(
        &self,
        text: &str,
        depth: usize,
        work: &mut Work<'_>,
    ) -> Result<Scanned, RedactionFailureReason> {
        let spliced = self.embedded_json(text, depth, work, None)?;
        self.scan_with_text_rules(text, spliced, work)
    }

    /// The text rules over `text` once its documents are `spliced` (see
    /// [`scan_str`](Self::scan_str)).
    fn scan_with_text_rules(
        &self,
        text: &str,
        spliced: embedded::Spliced,
        work: &mut Work<'_>,
    ) -> Result<Scanned, RedactionFailureReason> {
        let current = spliced.text.as_deref().unwrap_or(text);
        let unchanged =
            |spliced: embedded::Spliced| spliced.text.map_or(Scanned::Unchanged, Scanned::Owned);
        // A text that is one JSON document was decided by the walk, with its
        // structure; the text rules would only second-guess it.
        if self.text.none_enabled() || spliced.whole {
            return Ok(unchanged(spliced));
        }
        self.text_hits(current, work)?;
        drop_hits_inside(&mut work.scratch.hits, &spliced.documents);
        if work.allowed_packs != 0 {
            let rules = &self.rules;
            let allowed = work.allowed_packs;
            work.scratch
                .hits
                .retain(|hit| allowed & pack_bit(rules[hit.rule].pack) == 0);
        }
        if work.scratch.hits.is_empty() {
            return Ok(unchanged(spliced));
        }
        let scratch = &mut *work.scratch;
        text::normalize(current, &mut scratch.hits);
        let hits = &mut *work.hits;
        text::render(
            current,
            &scratch.hits,
            &mut scratch.rules_in_union,
            &mut scratch.out,
            &mut |rule, matched, out| self.rules[rule].replacement.render(matched, out),
            &mut |rule| hits[rule] += 1,
        );
        Ok(Scanned::InScratch)
    }

    /// Where `text` is remembered as clean, if it may be.
    fn memo_key(&self, text: &str) -> Option<u64> {
        #[cfg(any(test, fuzzing))]
        if self.no_memos {
            return None;
        }
        clean_text_memo::key(text)
    }

    /// Every enabled text rule's hits in `text` and its views, into
    /// `work.scratch.hits`.
    pub(super) fn text_hits(
        &self,
        text: &str,
        work: &mut Work<'_>,
    ) -> Result<(), RedactionFailureReason> {
        work.scratch.hits.clear();
        self.text.find(
            text.as_bytes(),
            Only::Enabled,
            &self.allow,
            work.scratch,
            &mut work.budget,
        )
    }

    #[cfg(test)]
    pub(super) fn text_rules(&self) -> &TextRules {
        &self.text
    }

    /// What the rules decide for `path`, remembered per thread.
    pub(super) fn path_facts(&self, path: &[&str]) -> PathFacts {
        #[cfg(any(test, fuzzing))]
        if self.no_memos {
            return self.decide_path(path);
        }
        path_memo::path_facts(self.memo_owner, path, || self.decide_path(path))
    }

    fn decide_path(&self, path: &[&str]) -> PathFacts {
        let label = path
            .last()
            .and_then(|key| self.structured_labels.position(key));
        let matchers = self.structured_labels.rules_at(label);
        let exempt = (matchers.len() <= 64).then(|| {
            matchers
                .iter()
                .enumerate()
                .filter(|&(_, &index)| self.allow[self.text.contexts[index].pack].exempts(path))
                .fold(0, |exempt, (at, _)| exempt | 1 << at)
        });
        let allowed_packs = self
            .allow
            .iter()
            .take(64)
            .enumerate()
            .filter(|(_, allow)| allow.exempts(path))
            .fold(0, |packs, (pack, _)| packs | pack_bit(pack));
        PathFacts {
            field_rule: self.field_rule_for(path),
            label,
            exempt,
            allowed_packs,
        }
    }

    /// The rule that replaces the value at `path`: the first, in load order,
    /// that matches and that its file's allow-list does not exempt.
    fn field_rule_for(&self, path: &[&str]) -> Option<usize> {
        let takes = |matcher: &&FieldMatcher| {
            matcher.matches(path) && self.allow[matcher.pack].exempting(path).is_none()
        };
        let candidates = match path
            .last()
            .and_then(|key| self.field_last_keys.position(key))
        {
            Some(at) => &self.field_candidates[at],
            None => &self.open_tail_matchers,
        };
        candidates
            .iter()
            .map(|&i| &self.field_matchers[i])
            .find(takes)
            .map(|matcher| matcher.rule)
    }
}

/// What one field rule does to the value at an example's path. The walk is
/// top-down, so a value also goes when the rule replaces one of its ancestors.
enum Verdict<'a> {
    /// Replaced, with the value at the first `at` segments of the path.
    Replaced {
        at: usize,
    },
    /// Matched, but the allow pattern `by` exempts it.
    Exempt {
        by: &'a str,
    },
    Untouched,
}

fn verdict<'a>(matcher: &FieldMatcher, allow: &'a AllowList, path: &[&str]) -> Verdict<'a> {
    let mut exempt = None;
    for at in 1..=path.len() {
        let prefix = &path[..at];
        if matcher.matches(prefix) {
            match allow.exempting(prefix) {
                None => return Verdict::Replaced { at },
                Some(by) => exempt = exempt.or(Some(by)),
            }
        }
    }
    exempt.map_or(Verdict::Untouched, |by| Verdict::Exempt { by })
}

/// Rule file `pack`'s bit in [`PathFacts::allowed_packs`]; files past the
/// 64th have none, so their hits always stand.
fn pack_bit(pack: usize) -> u64 {
    if pack < 64 {
        1 << pack
    } else {
        0
    }
}

pub(super) fn deeper(depth: usize) -> Result<usize, RedactionFailureReason> {
    if depth >= MAX_DEPTH {
        Err(RedactionFailureReason::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

/// Drops the hits that lie inside a walked document.
fn drop_hits_inside(hits: &mut Vec<text::Hit>, documents: &[(usize, usize)]) {
    if documents.is_empty() {
        return;
    }
    hits.retain(|hit| {
        !documents
            .iter()
            .any(|&(start, end)| start <= hit.start && hit.end <= end)
    });
}

/// What ships in place of a record that could not be redacted: where and when
/// it was written, nothing of what it said.
fn failure_marker(record: &LogRecord) -> LogRecord {
    LogRecord {
        timestamp: record.timestamp,
        stream: record.stream,
        message: Some(REDACTION_FAILED_MARKER.to_owned()),
        fields: Map::new(),
        truncated: record.truncated,
        resource: record.resource.clone(),
    }
}

/// Hits and failures over one batch, so telemetry is emitted per batch.
struct Tally {
    /// Hits per rule of the records kept so far.
    batch: Vec<u64>,
    /// Hits per rule of the record being walked; merged or dropped once its
    /// outcome is known.
    record: Vec<u64>,
    panics: u64,
    too_deep: u64,
    over_budget: u64,
}

impl Tally {
    fn new(rules: usize) -> Tally {
        Tally {
            batch: vec![0; rules],
            record: vec![0; rules],
            panics: 0,
            too_deep: 0,
            over_budget: 0,
        }
    }

    fn keep_record(&mut self) {
        for (total, hits) in self.batch.iter_mut().zip(self.record.iter_mut()) {
            *total += std::mem::take(hits);
        }
    }

    fn discard_record(&mut self, reason: RedactionFailureReason) {
        self.record.iter_mut().for_each(|hits| *hits = 0);
        match reason {
            RedactionFailureReason::Panic => self.panics += 1,
            RedactionFailureReason::TooDeep => self.too_deep += 1,
            RedactionFailureReason::Budget => self.over_budget += 1,
        }
    }

    fn emit(self, rules: &[RuleMeta]) {
        for (rule, &count) in rules.iter().zip(&self.batch) {
            if count > 0 {
                RedactionsApplied {
                    rule_id: &rule.id,
                    count,
                }
                .emit();
            }
        }
        for (reason, records) in [
            (RedactionFailureReason::Panic, self.panics),
            (RedactionFailureReason::TooDeep, self.too_deep),
            (RedactionFailureReason::Budget, self.over_budget),
        ] {
            if records > 0 {
                RedactionFailed { reason, records }.emit();
            }
        }
    }
}
