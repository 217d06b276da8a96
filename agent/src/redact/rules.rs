//! The rule-file format. These types are its reference: a rule file is YAML
//! that deserializes into a [`RulePack`], and unknown keys are rejected.
//!
//! ```yaml
//! allow:
//!   - "*.service.name"
//! rules:
//!   - id: field-ssn
//!     description: Social Security numbers in structured fields
//!     kind: field
//!     paths: ["*.ssn"]
//!     replacement: "[REDACTED]"
//!     examples:
//!       match: ["ssn", "claim.subscriber.SSN"]
//!       no_match: ["ssn_checked_at"]
//! ```
//!
//! Key paths and their patterns are described in the `redact` module's notes:
//! keys joined with `.`, arrays transparent, ASCII case-insensitive, `*` for zero
//! or more whole segments.
//!
//! Text kinds look at text (a record's message, every string value, and what
//! [`Redactor::redact_text`](super::Redactor::redact_text) is given):
//!
//! ```yaml
//! rules:
//!   - id: ssn-dashed
//!     description: Social Security numbers written 123-45-6789
//!     kind: pattern
//!     patterns: ['\b\d{3}-\d{2}-\d{4}\b']
//!     validator: ssn
//!     examples:
//!       match: ["ssn 123-45-6789 on file"]
//!       no_match: ["order ORD-2024-000123"]
//!   - id: ssn-in-context
//!     description: any value labelled as an SSN
//!     kind: context
//!     keys: [ssn, social_security_number]
//!     examples:
//!       match: ["ssn=123456789", '{"SSN": "123 45 6789"}']
//!   - id: hl7-pid
//!     description: patient identification segment of HL7 v2 messages
//!     kind: hl7
//!     segment: PID
//!     fields: [3, 5, 7, 11, 13, 19]
//!     examples:
//!       match: ["MSH|^~\\&|A|B\rPID|1||123^^^MRN||Doe^John"]
//! ```
//!
//! For text kinds, a `match` example is a text in which the rule, run alone,
//! must replace something, and a `no_match` example one in which it must not.
//! Examples are run as the redactor runs text: encoded views included (a
//! `%40` is seen as `@`), so an example may show an encoding the rule must see
//! through.

use serde::Deserialize;
use serde_saphyr::Spanned;

pub use super::replace::Replacement;
pub use super::validate::Validator;

/// One rule file (a pack): its rules and the operational keys they must spare.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    /// Key-path patterns that this file's rules never take in structured
    /// records: operational keys whose last segment collides with an
    /// identifier, such as `service.name` against `*.name`. Field rules do not
    /// replace the value at an allowed path, context rules do not take it by
    /// its key, and pattern, context and HL7 rules find nothing in its strings
    /// (a decimal `span_id` that passes a card's Luhn check). Anchor an entry
    /// with `*.` so that it holds at any depth. An allowed path is still
    /// descended into, so identifiers below it are still found. Applies to the
    /// rules of this file only, so that loading another file can never weaken
    /// a pack. Default: none.
    /// Example: `allow: ["*.service.name", "*.k8s.pod.name"]`.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,

    /// The rules, tried in file order (files in the order they were loaded):
    /// the first rule that matches a path replaces it and is counted for it.
    /// Required. Example: see the module documentation.
    pub rules: Vec<Spanned<RuleSpec>>,
}

/// One rule; `kind` says what it matches.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RuleSpec {
    /// `kind: field`: replaces whole values found at matching key paths of a
    /// record's structured fields.
    Field(FieldRule),
    /// `kind: pattern`: replaces what a regular expression finds in text.
    Pattern(PatternRule),
    /// `kind: context`: replaces the value written after a labelled key
    /// (`ssn=…`, `"dob": "…"`), and a structured value whose own key is a label.
    Context(ContextRule),
    /// `kind: hl7`: replaces fields of one segment of HL7 v2 messages in text.
    Hl7(Hl7Rule),
}

impl RuleSpec {
    pub fn id(&self) -> &str {
        match self {
            RuleSpec::Field(rule) => &rule.id,
            RuleSpec::Pattern(rule) => &rule.id,
            RuleSpec::Context(rule) => &rule.id,
            RuleSpec::Hl7(rule) => &rule.id,
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

/// A rule of `kind: field`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// The rule's name in metrics (the `rule` label) and in the default
    /// replacement. Unique across every loaded file; 1 to 64 of `a-z`, `0-9`,
    /// `-`, `_`, starting with a letter or digit. Required. Example: `field-ssn`.
    pub id: String,

    /// What the rule removes and which standard asks for it. Required;
    /// documentation only. Example: `Social Security numbers in structured fields`.
    pub description: String,

    /// Key-path patterns whose values the rule replaces whole (strings, numbers,
    /// objects, arrays; a null stays null) without descending into them.
    /// At least one. Segments are separated by `.`, compared ASCII
    /// case-insensitively, and `*` as a whole segment matches zero or more
    /// segments. Example: `["*.ssn", "*.social_security_number"]`.
    pub paths: Vec<String>,

    /// What a matched value becomes. Default: the text `[REDACTED:<rule id>]`.
    /// Example: `replacement: "[REDACTED]"`.
    #[serde(default)]
    pub replacement: Option<Replacement>,

    /// Inputs the rule must and must not match, checked every time the file is
    /// loaded. For `kind: field` they are key paths, written as the walk sees
    /// them (dotted). Required.
    pub examples: Examples,
}

/// A rule's proof that it does what its description says.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    /// Inputs the rule must match; at least one. Use made-up data only.
    /// Example: `match: ["ssn", "patient.ssn", "claim.subscriber.SSN"]`.
    #[serde(rename = "match")]
    pub matching: Vec<String>,

    /// Inputs the rule must leave alone, typically the near misses and the
    /// operational keys the allow-list protects. Default: none.
    /// Example: `no_match: ["ssn_checked_at", "service.name"]`.
    #[serde(default)]
    pub no_match: Vec<String>,
}

/// A rule of `kind: pattern`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternRule {
    /// As for `kind: field`: the rule's name in metrics and in the default
    /// replacement. Required. Example: `ssn-dashed`.
    pub id: String,

    /// What the rule removes and which standard asks for it. Required;
    /// documentation only.
    pub description: String,

    /// Regular expressions in the syntax of the `regex` crate, each searched
    /// on its own (a match of one never hides a match of another). At least
    /// one. They are compiled with ASCII semantics: `\d`, `\w`, `\s` and `\b`
    /// are ASCII classes and boundaries, `(?i)` folds ASCII case only, and
    /// non-ASCII text never slows the automaton down. A pattern must not match
    /// the empty text and must have a bounded length (write `{1,64}`, not `+`):
    /// the bound is what lets the engine confirm a candidate in a window.
    /// Example: `['\b\d{3}-\d{2}-\d{4}\b']`.
    pub patterns: Vec<String>,

    /// A check every match must also pass (check digits, reserved ranges),
    /// given the matched text with its separators. Default: none.
    /// Example: `validator: luhn`.
    #[serde(default)]
    pub validator: Option<Validator>,

    /// Regular expressions (same syntax and bounds as `patterns`) for the
    /// tokens operators debug with that a match may fall inside by chance: a
    /// match that lies wholly inside a match of one of these is left alone.
    /// For identifiers that a span id or a UUID can spell (a span id of
    /// sixteen decimal digits that passes Luhn). Default: none.
    /// Example: `['\b[0-9a-f]{32}-[0-9a-f]{16}\b']`.
    #[serde(default)]
    pub keep: Vec<String>,

    /// What a match becomes. Default: the text `[REDACTED:<rule id>]`.
    #[serde(default)]
    pub replacement: Option<Replacement>,

    /// `false` ships the rule without applying it (an opt-in rule): its
    /// examples are still checked, so enabling it is a one-word change in a
    /// copy of the pack. Default: `true`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,

    /// Texts the rule must fire in (`match`, at least one) and must not fire in
    /// (`no_match`). Required.
    pub examples: Examples,
}

/// How far an unquoted value after a labelled key reaches. A quoted value
/// (`"…"`, `'…'`, `\"…\"`) always reaches its closing quote, whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueExtent {
    /// To the next space, tab, line break, or one of `& , ; " } ] ) | < > \`.
    /// For identifiers, numbers and dates written without spaces.
    #[default]
    Token,
    /// Words separated by spaces, up to a line break, one of `& , ; " } ] | < > \`,
    /// or the next `key=` / `key:`. For names: `name=John Smith dob=…` takes
    /// `John Smith`.
    Phrase,
    /// As `phrase`, but commas do not stop it. For street addresses:
    /// `address: 1 Main St, Springfield IL`.
    Line,
    /// One URL path segment: to the next `/`, `?`, `#`, space, tab, line
    /// break, or one of `& ; " ' < > \ |`. What `separator: path` always
    /// uses.
    Segment,
}

/// What may stand between a `kind: context` rule's label and its value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Separator {
    /// `=` or `:`, after an optional closing quote and up to 8 spaces or tabs:
    /// `ssn=…`, `"dob": "…"`, `MRN : …`.
    #[default]
    Strict,
    /// As `strict`, or, as labels are written in prose, 1 to 8 spaces or tabs
    /// (`DOB 1936-10-04`) or a `#` with up to 8 spaces or tabs on either side
    /// (`DL# A27535417`, `acct #4471`); and a label's words may also be
    /// separated by one space (`account number A2381711995`). Only for rules
    /// with a `value` regex, which is then all that tells a value from the
    /// next word of a sentence (`the DOB field is required` must stay).
    Loose,
    /// The label is a URL path segment and the value is the segment after
    /// it: `/members/XJH123456789/eligibility`, `/dob/1941-01-10?…`. The
    /// label must be a whole segment, the value the whole next segment (its
    /// `value` regex must match all of it; percent-escapes are also tried
    /// decoded). Only for rules with a `value` regex, which is what tells an
    /// identifier (`/charts/0666494/`) from the route's next word
    /// (`/patients/search/`) or an id operators debug with (a UUID). Path
    /// labels name collections (`members`, `charts`, `dob`), not keys, so
    /// they are not compared with the keys of structured records.
    Path,
}

/// A rule of `kind: context`.
///
/// A key is the text before `=` or `:` (quotes and spaces around it allowed),
/// as in `key=value`, `key: value`, `"key":"value"`, `"key": 123`,
/// `key="quoted value"`, logfmt, a URL query (`?key=…&`), JSON escaped inside a
/// string (`\"key\":\"value\"`), and, through the decoded views, url-encoded
/// text (`key%3Dvalue`). With `separator: loose`, a space or `#` may stand
/// for the `=` or `:` (`DOB 1936-10-04`, `DL# A27535417`). A key names a label when its last `.`-separated
/// segment is the label's words, ASCII case ignored, with `_`, `-` or nothing
/// at each break between words (a `_`, a `-`, or a lower-case letter followed
/// by an upper-case one): the label `first_name` matches `first_name`,
/// `firstName`, `FIRST-NAME`, `firstname`, `patient.firstname` and the HTTP
/// header `X-First-Name` (an `X-` prefix is ignored), but not
/// `first_name_hash` or `alt-first-name`. A dotted key that the file's `allow`
/// list exempts (`service.name` against `*.service.name`) is spared.
///
/// In structured records, a string or number whose own key (the last path
/// segment) names a label is replaced whole, after the field rules had their
/// turn and under the same allow list; there the key and the label are
/// compared with every `_` and `-` dropped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextRule {
    /// As for `kind: field`. Required. Example: `ssn-in-context`.
    pub id: String,

    /// What the rule removes and which standard asks for it. Required.
    pub description: String,

    /// The labels: 1 to 64 of `A-Z`, `a-z`, `0-9`, `_`, `-` each, compared as
    /// described above. At least one. Example: `[dob, birth_date]` (which
    /// also matches `birthDate`, `BIRTH-DATE` and `birthdate`).
    pub keys: Vec<String>,

    /// Words that may come before a label in a key, naming whose value it is:
    /// with `subjects: [patient]`, the label `mrn` also matches `patient_mrn`,
    /// `patientMrn`, `Patient-MRN` and (in records) the key `patientMrn`.
    /// Same form as `keys`. Default: none. Example: `[patient, member]`.
    #[serde(default)]
    pub subjects: Vec<String>,

    /// A regular expression (ASCII semantics, as for `kind: pattern`) that the
    /// value must match, anchored at its start and ending at the end of the
    /// value or before a space, tab, comma, period, `)` or `]`; only that match is then
    /// replaced. Leaves `null`, `true` and `false` alone when absent, and takes
    /// any other non-empty value. Example: `value: '\d{5}(?:-\d{4})?'`.
    #[serde(default)]
    pub value: Option<String>,

    /// How far an unquoted value reaches. Default: `token`, and `segment`
    /// (the only one allowed) with `separator: path`.
    #[serde(default)]
    pub value_extent: Option<ValueExtent>,

    /// What may separate a label from its value: `strict` (`=` or `:`),
    /// `loose` (also spaces or `#`, as in `DOB 1936-10-04` and `DL# A2753541`)
    /// or `path` (`/dob/1936-10-04`); see [`Separator`]. `loose` and `path`
    /// require `value`, and a `value` regex that ordinary words after the
    /// label do not match. Default: `strict`.
    /// Example: `separator: loose`.
    #[serde(default)]
    pub separator: Separator,

    /// A check the value (as matched) must pass. Default: none.
    #[serde(default)]
    pub validator: Option<Validator>,

    /// What the value becomes. Default: the text `[REDACTED:<rule id>]`.
    #[serde(default)]
    pub replacement: Option<Replacement>,

    /// As for `kind: pattern`. Default: `true`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,

    /// Texts the rule must and must not fire in. Required.
    pub examples: Examples,
}

/// A rule of `kind: hl7`.
///
/// A segment starts the text or follows a carriage return, a line feed, or
/// their escaped spellings `\r` and `\n` (an HL7 message logged inside a JSON
/// string), and ends at the next of these. Its fields are separated by the
/// character after `MSH` in the nearest preceding `MSH` segment, or by `|`
/// when there is none. Field 1 is the one after the segment name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hl7Rule {
    /// As for `kind: field`. Required. Example: `hl7-pid`.
    pub id: String,

    /// What the rule removes. Required.
    pub description: String,

    /// The segment id: three of `A-Z`, `0-9`, not `MSH` (its numbering is
    /// shifted and it carries no patient data). Example: `PID`.
    pub segment: String,

    /// The field numbers (1-based) whose whole content (every component and
    /// repetition) is replaced; empty fields stay empty. At least one.
    /// Example: `[3, 5, 7, 11, 13, 19]`.
    pub fields: Vec<u16>,

    /// What a field's content becomes. Default: the text `[REDACTED:<rule id>]`.
    #[serde(default)]
    pub replacement: Option<Replacement>,

    /// As for `kind: pattern`. Default: `true`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,

    /// Texts the rule must and must not fire in. Required.
    pub examples: Examples,
}
