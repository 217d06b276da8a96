//! What can be wrong with a set of rule files. Every message names rule ids,
//! patterns and examples from the rule files themselves, never a record's value.

use std::fmt;
use std::path::PathBuf;

/// One problem found while loading rule files, at the place it was written.
///
/// Displays as `file:line:column: message`, or `file: message` when the place
/// within the file is unknown (an unreadable file, an empty directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub file: PathBuf,
    /// 1-based; 0 when unknown.
    pub line: u64,
    /// 1-based; 0 when unknown.
    pub column: u64,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for RuleError {}

/// The problems themselves, worded once; a [`RuleError`] adds where.
#[derive(Debug, thiserror::Error)]
pub(super) enum RuleProblem {
    #[error("cannot read rule file: {0}")]
    Read(#[source] std::io::Error),
    #[error("cannot list rule directory: {0}")]
    ReadDir(#[source] std::io::Error),
    #[error("directory holds no *.yaml or *.yml rule files")]
    EmptyDirectory,
    #[error("no rule files given")]
    NoRuleFiles,
    #[error("the rule files define no rules; the agent will not run without redaction")]
    NoRules,
    #[error("invalid rule file: {0}")]
    Parse(String),
    #[error(
        "rule id {id:?} must be 1 to 64 of a-z, 0-9, `-`, `_`, starting with a letter or digit"
    )]
    BadRuleId { id: String },
    #[error("rule id {id:?} is reserved for the marker of records that could not be redacted")]
    ReservedRuleId { id: String },
    #[error("rule id {id:?} is already used at {first}")]
    DuplicateRuleId { id: String, first: String },
    #[error("rule {rule_id}: `paths` is empty; a field rule needs at least one key-path pattern")]
    EmptyPaths { rule_id: String },
    #[error("rule {rule_id}: `examples.match` is empty; every rule must show what it matches")]
    NoMatchExamples { rule_id: String },
    /// A replacement that cannot be prepared; the message names no secret.
    #[error("{0}")]
    Replacement(String),
    #[error("rule {rule_id}: `{list}` is empty; the rule needs at least one")]
    EmptyList { rule_id: String, list: &'static str },
    #[error("bad regular expression {pattern:?}: {reason}")]
    BadRegex { pattern: String, reason: String },
    #[error("pattern {pattern:?} {reason}")]
    UnusablePattern {
        pattern: String,
        reason: &'static str,
    },
    #[error("rule {rule_id}: `separator: {separator}` needs a `value` regex; without one, a label followed by a space would take the next word of ordinary prose, and a path label the route's next segment")]
    SeparatorWithoutValue {
        rule_id: String,
        separator: &'static str,
    },
    #[error("rule {rule_id}: `separator: path` takes one path segment as the value; leave `value_extent` out or write `segment`")]
    PathExtent { rule_id: String },
    #[error("bad label {label:?}: labels are 1 to 64 of A-Z, a-z, 0-9, `_`, `-`, with at least one letter or digit")]
    BadLabel { label: String },
    #[error("bad HL7 segment {segment:?}: three of A-Z and 0-9, not MSH")]
    BadSegment { segment: String },
    #[error("bad HL7 field number {field}: fields are numbered from 1 to 999")]
    BadField { field: u16 },
    #[error("the text rules together do not compile into one automaton: {0}")]
    TextRulesTooLarge(String),
    #[error("bad key-path pattern {pattern:?}: {reason}")]
    BadPathPattern {
        pattern: String,
        reason: &'static str,
    },
    #[error("rule {rule_id}: {problem}")]
    InRule {
        rule_id: String,
        problem: Box<RuleProblem>,
    },
    #[error("rule {rule_id}: example match[{index}] {example:?} is not matched{why}")]
    ExampleNotMatched {
        rule_id: String,
        index: usize,
        example: String,
        /// Empty, or why not (an allow pattern exempts it).
        why: String,
    },
    #[error("rule {rule_id}: example no_match[{index}] {example:?} is matched{why}")]
    ExampleMatched {
        rule_id: String,
        index: usize,
        example: String,
        /// Empty, or how (with an ancestor).
        why: String,
    },
}
