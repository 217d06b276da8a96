//! A naive field redactor, obviously right and slow, that the engine is
//! property-tested against: every value's full path is rebuilt as a `String`,
//! split, and matched against every pattern by a recursive glob.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::rules::{RulePack, RuleSpec};
use super::Redactor;
use crate::event::LogRecord;

/// One rule file, as pattern strings.
struct NaivePack {
    allow: Vec<String>,
    /// Rule patterns and the text that replaces a match.
    rules: Vec<(Vec<String>, String)>,
}

impl NaivePack {
    fn from_yaml(yaml: &str) -> NaivePack {
        let pack: RulePack = super::load::parse_pack(yaml).expect("valid rule file");
        NaivePack {
            allow: pack.allow.into_iter().map(|entry| entry.value).collect(),
            rules: pack
                .rules
                .into_iter()
                .map(|rule| match rule.value {
                    RuleSpec::Field(field) => {
                        let replacement = match field.replacement {
                            Some(super::rules::Replacement::Text(text)) => text,
                            None => format!("[REDACTED:{}]", field.id),
                        };
                        (field.paths, replacement)
                    }
                })
                .collect(),
        }
    }
}

fn glob(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"*", rest)) => (0..=path.len()).any(|skip| glob(rest, &path[skip..])),
        Some((key, rest)) => {
            path.first()
                .is_some_and(|first| first.eq_ignore_ascii_case(key))
                && glob(rest, &path[1..])
        }
    }
}

fn pattern_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let path: Vec<&str> = path.split('.').collect();
    glob(&pattern, &path)
}

/// The replacement for the value at `path`, if any rule of any pack takes it.
fn replacement_for<'p>(packs: &'p [NaivePack], path: &str) -> Option<&'p str> {
    packs.iter().find_map(|pack| {
        let allowed = pack.allow.iter().any(|p| pattern_matches(p, path));
        pack.rules
            .iter()
            .find(|(patterns, _)| !allowed && patterns.iter().any(|p| pattern_matches(p, path)))
            .map(|(_, replacement)| replacement.as_str())
    })
}

fn naive_redact(packs: &[NaivePack], fields: &mut Map<String, Value>) {
    for (key, value) in fields.iter_mut() {
        visit(packs, key.clone(), value);
    }
}

fn visit(packs: &[NaivePack], path: String, value: &mut Value) {
    if !value.is_null() {
        if let Some(replacement) = replacement_for(packs, &path) {
            *value = Value::String(replacement.to_owned());
            return;
        }
    }
    descend(packs, &path, value);
}

/// Array levels are transparent: an item has its array's path, which was
/// already decided, so items are only descended into.
fn descend(packs: &[NaivePack], path: &str, value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                visit(packs, format!("{path}.{key}"), child);
            }
        }
        Value::Array(items) => {
            for item in items {
                descend(packs, path, item);
            }
        }
        _ => {}
    }
}

const KEYS: &[&str] = &[
    "ssn",
    "SSN",
    "name",
    "Name",
    "service",
    "host",
    "patient",
    "Patient",
    "patients",
    "first",
    "user",
    "k8s",
    "pod",
    "email",
    "a",
    "b",
    "x",
    "id",
    "",
    "service.name",
    "patient.ssn",
    "a.b",
    "host.name",
    ".ssn",
    "x.",
    "ssn_checked_at",
    "container",
    "image",
    "mrn",
    "dob",
];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS).prop_map(str::to_owned)
}

fn leaf() -> impl Strategy<Value = Value> {
    // Leaves never look like a replacement, so equal trees mean equal decisions.
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::String),
    ]
}

fn tree() -> impl Strategy<Value = Map<String, Value>> {
    let value = leaf().prop_recursive(6, 64, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    });
    prop::collection::vec((key(), value), 0..6).prop_map(|members| members.into_iter().collect())
}

const PACK_A: &str = r#"
allow: ["*.service.name", "*.host.*", "a.*.b"]
rules:
  - id: a-ssn
    description: anywhere
    kind: field
    paths: ["*.ssn", "ssn_checked_at"]
    examples: {match: [ssn]}
  - id: a-patient
    description: subtree
    kind: field
    paths: ["patient.*"]
    replacement: "[P]"
    examples: {match: [patient]}
  - id: a-name
    description: names
    kind: field
    paths: ["*.name", "*.x.*.id"]
    examples: {match: [name]}
"#;

const PACK_B: &str = r#"
rules:
  - id: b-service
    description: a rule that another file's allow-list must not weaken
    kind: field
    paths: ["*.service.*.name", "host.name"]
    examples: {match: [service.name]}
  - id: b-middle
    description: a star between keys
    kind: field
    paths: ["a.*.b", "*.pod.*.x"]
    examples: {match: [a.b]}
"#;

fn engine_redact(redactor: &Redactor, fields: &Map<String, Value>) -> Map<String, Value> {
    let record = LogRecord {
        fields: fields.clone(),
        ..LogRecord::text("", std::sync::Arc::default())
    };
    redactor.redact(record).into_inner().fields
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn engine_agrees_with_naive_reference_on_test_packs(fields in tree()) {
        let redactor = Redactor::from_sources(&[("a.yaml", PACK_A), ("b.yaml", PACK_B)]).unwrap();
        let packs = [NaivePack::from_yaml(PACK_A), NaivePack::from_yaml(PACK_B)];
        let mut expected = fields.clone();
        naive_redact(&packs, &mut expected);
        prop_assert_eq!(engine_redact(&redactor, &fields), expected);
    }

    #[test]
    fn engine_agrees_with_naive_reference_on_builtin_pack(fields in tree()) {
        let redactor = Redactor::builtin();
        let packs: Vec<NaivePack> = super::load::BUILTIN_PACKS
            .iter()
            .map(|(_, yaml)| NaivePack::from_yaml(yaml))
            .collect();
        let mut expected = fields.clone();
        naive_redact(&packs, &mut expected);
        prop_assert_eq!(engine_redact(&redactor, &fields), expected);
    }
}

#[test]
fn naive_glob_table() {
    assert!(pattern_matches("*.ssn", "ssn"));
    assert!(pattern_matches("patient.*", "patient"));
    assert!(pattern_matches("a.*.b", "a.x.y.b"));
    assert!(!pattern_matches("*.ssn", "ssn.x"));
}
