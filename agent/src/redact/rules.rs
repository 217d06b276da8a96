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

use serde::Deserialize;
use serde_saphyr::Spanned;

pub use super::replace::Replacement;

/// One rule file (a pack): its rules and the operational keys they must spare.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    /// Key-path patterns that this file's field rules never replace: operational
    /// keys whose last segment collides with an identifier, such as
    /// `service.name` against `*.name`. Anchor an entry with `*.` so that it holds
    /// at any depth. An allowed path is still descended into, so identifiers
    /// below it are still found. Applies to the rules of this file only, so that
    /// loading another file can never weaken a pack. Default: none.
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
}

impl RuleSpec {
    pub fn id(&self) -> &str {
        match self {
            RuleSpec::Field(rule) => &rule.id,
        }
    }
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
