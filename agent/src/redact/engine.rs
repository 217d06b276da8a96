//! The compiled rules and the walk that applies them to records.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::boundary::Redacted;
use super::error::{RuleError, RuleProblem};
use super::path::{split_path, KeyPath, LastKeys, PathPattern};
use super::rules::{Examples, Replacement};
use crate::event::LogRecord;
use crate::internal_events::{RedactionFailed, RedactionFailureReason, RedactionsApplied};

/// The message of a record that could not be redacted and was masked whole.
pub const REDACTION_FAILED_MARKER: &str = "[REDACTED:redaction-failed]";

/// How many objects and arrays may nest below a record's fields before the
/// record is masked whole instead of walked. Real log records nest a handful of
/// levels; the limit bounds the walk's stack use on small worker stacks and is
/// below serde_json's own parser limit (128), so it is the one that decides.
pub const MAX_DEPTH: usize = 64;

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
    pub(super) replacement: Replacement,
    pub(super) origin: Origin,
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
    /// Indexes into `field_matchers` of those with a pattern ending in `*`:
    /// the only ones to try when the path's last key is not in `field_last_keys`.
    open_tail_matchers: Vec<usize>,
    /// One per loaded file.
    allow: Vec<AllowList>,
    /// A key whose visit panics, to prove that a panic in the walk fails closed.
    #[cfg(test)]
    pub(super) panic_on_key: Option<&'static str>,
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
    ) -> Redactor {
        let field_last_keys = LastKeys::new(field_matchers.iter().flat_map(|m| m.patterns.iter()));
        let open_tail_matchers = (0..field_matchers.len())
            .filter(|&i| field_matchers[i].has_open_tail())
            .collect();
        Redactor {
            rules,
            field_matchers,
            field_last_keys,
            open_tail_matchers,
            allow,
            #[cfg(test)]
            panic_on_key: None,
        }
    }

    /// The ids of every rule, in the order they are tried.
    pub fn rule_ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.rules.iter().map(|rule| &*rule.id)
    }

    /// Redacts one record. Prefer [`redact_batch`](Self::redact_batch) on hot
    /// paths: telemetry is emitted once per call.
    pub fn redact(&self, record: LogRecord) -> Redacted<LogRecord> {
        let mut tally = Tally::new(self.rules.len());
        let redacted = self.redact_one(record, &mut tally);
        tally.emit(&self.rules);
        redacted
    }

    /// Redacts a batch, then reports once per rule that replaced something
    /// ([`RedactionsApplied`]) and once per failure reason ([`RedactionFailed`]).
    pub fn redact_batch(&self, records: Vec<LogRecord>) -> Vec<Redacted<LogRecord>> {
        let mut tally = Tally::new(self.rules.len());
        let redacted = records
            .into_iter()
            .map(|record| self.redact_one(record, &mut tally))
            .collect();
        tally.emit(&self.rules);
        redacted
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
        if errors.is_empty() {
            Ok(checked)
        } else {
            Err(errors)
        }
    }

    fn redact_one(&self, mut record: LogRecord, tally: &mut Tally) -> Redacted<LogRecord> {
        let hits = &mut tally.record;
        // Unwind safety: after a panic the half-walked record is read only for
        // its timestamp, stream and resource (never its content), and its hits
        // are discarded, so no broken state is observed.
        let outcome =
            panic::catch_unwind(AssertUnwindSafe(|| self.redact_in_place(&mut record, hits)));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(reason)) => Some(reason),
            Err(_panic) => Some(RedactionFailureReason::Panic),
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
        hits: &mut [u64],
    ) -> Result<(), RedactionFailureReason> {
        if let Some(message) = record.message.as_mut() {
            self.scan_text(message, hits);
        }
        let mut path = KeyPath::with_capacity(16);
        self.walk_object(&mut record.fields, &mut path, 0, hits)
    }

    /// Field rules are decided top-down: the first rule whose pattern matches a
    /// member's path (and that its file's allow-list does not exempt) replaces the
    /// whole value, and nothing below it is visited. So a `patient` object goes
    /// as one value however it is shaped, and no rule below it can half-keep it.
    fn walk_object<'v>(
        &self,
        object: &'v mut Map<String, Value>,
        path: &mut KeyPath<'v>,
        depth: usize,
        hits: &mut [u64],
    ) -> Result<(), RedactionFailureReason> {
        for (key, value) in object.iter_mut() {
            #[cfg(test)]
            if self.panic_on_key == Some(key.as_str()) {
                panic!("injected fault in the redaction walk");
            }
            let entered = path.enter(key);
            let rule = if value.is_null() {
                None
            } else {
                self.field_rule_for(path.segments())
            };
            match rule {
                Some(rule) => {
                    self.rules[rule].replacement.apply(value);
                    hits[rule] += 1;
                }
                None => self.descend(value, path, depth, hits)?,
            }
            path.leave(entered);
        }
        Ok(())
    }

    fn descend<'v>(
        &self,
        value: &'v mut Value,
        path: &mut KeyPath<'v>,
        depth: usize,
        hits: &mut [u64],
    ) -> Result<(), RedactionFailureReason> {
        match value {
            Value::Object(object) => {
                let depth = deeper(depth)?;
                self.walk_object(object, path, depth, hits)
            }
            // Array levels are transparent: every item has the array's path,
            // which no field rule matched, so items are only descended into.
            Value::Array(items) => {
                let depth = deeper(depth)?;
                items
                    .iter_mut()
                    .try_for_each(|item| self.descend(item, path, depth, hits))
            }
            Value::String(text) => {
                self.scan_text(text, hits);
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }

    /// The rule that replaces the value at `path`: the first, in load order,
    /// that matches and that its file's allow-list does not exempt.
    fn field_rule_for(&self, path: &[&str]) -> Option<usize> {
        let takes = |matcher: &&FieldMatcher| {
            matcher.matches(path) && self.allow[matcher.pack].exempting(path).is_none()
        };
        let last_key_named = path
            .last()
            .is_some_and(|key| self.field_last_keys.contains(key));
        let found = if last_key_named {
            self.field_matchers.iter().find(takes)
        } else {
            self.open_tail_matchers
                .iter()
                .map(|&i| &self.field_matchers[i])
                .find(takes)
        };
        found.map(|matcher| matcher.rule)
    }

    /// Where text-scanning rules (`kind: pattern`, `kind: context`) will run: over
    /// `record.message` and every string value that no field rule replaced,
    /// counting into the same `hits`. Field rules never look at text.
    fn scan_text(&self, _text: &mut String, _hits: &mut [u64]) {}
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

fn deeper(depth: usize) -> Result<usize, RedactionFailureReason> {
    if depth >= MAX_DEPTH {
        Err(RedactionFailureReason::TooDeep)
    } else {
        Ok(depth + 1)
    }
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
}

impl Tally {
    fn new(rules: usize) -> Tally {
        Tally {
            batch: vec![0; rules],
            record: vec![0; rules],
            panics: 0,
            too_deep: 0,
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
        ] {
            if records > 0 {
                RedactionFailed { reason, records }.emit();
            }
        }
    }
}
