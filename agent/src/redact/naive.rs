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
                .filter_map(|rule| match rule.value {
                    RuleSpec::Field(field) => {
                        let replacement = match field.replacement {
                            Some(super::rules::Replacement::Text(text)) => text,
                            None => format!("[REDACTED:{}]", field.id),
                            Some(_) => panic!("the naive reference knows text replacements only"),
                        };
                        Some((field.paths, replacement))
                    }
                    _ => None,
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
        let redactor = super::tests::builtin();
        let packs: Vec<NaivePack> = super::load::BUILTIN_PACKS
            .iter()
            .map(|(_, yaml)| NaivePack::from_yaml(yaml))
            .collect();
        let mut expected = fields.clone();
        naive_redact(&packs, &mut expected);
        prop_assert_eq!(engine_redact(redactor, &fields), expected);
    }
}

#[test]
fn naive_glob_table() {
    assert!(pattern_matches("*.ssn", "ssn"));
    assert!(pattern_matches("patient.*", "patient"));
    assert!(pattern_matches("a.*.b", "a.x.y.b"));
    assert!(!pattern_matches("*.ssn", "ssn.x"));
}

// Text rules: every enabled pattern of every `kind: pattern` rule, run on its
// own with the `regex` crate over the text and over its decoded views, spans
// unioned. The engine runs them all through one automaton and a prefilter;
// this is what it must agree with.

type NaiveRule = (
    String,
    Vec<regex::bytes::Regex>,
    Option<super::validate::Validator>,
);

/// The pattern rules of the built-in pack: id, regexes, validator.
fn naive_pattern_rules() -> &'static [NaiveRule] {
    static RULES: std::sync::OnceLock<Vec<NaiveRule>> = std::sync::OnceLock::new();
    RULES.get_or_init(compile_naive_pattern_rules)
}

fn compile_naive_pattern_rules() -> Vec<NaiveRule> {
    let mut rules = Vec::new();
    for (_, yaml) in super::load::BUILTIN_PACKS {
        let pack: RulePack = super::load::parse_pack(yaml).expect("valid rule file");
        for rule in pack.rules {
            if let RuleSpec::Pattern(rule) = rule.value {
                if !rule.enabled {
                    continue;
                }
                let regexes = rule
                    .patterns
                    .iter()
                    .map(|p| {
                        regex::bytes::RegexBuilder::new(p)
                            .unicode(false)
                            .build()
                            .expect("valid pattern")
                    })
                    .collect();
                rules.push((rule.id, regexes, rule.validator));
            }
        }
    }
    rules
}

/// A decoded view, byte by byte, with the original span of each byte.
fn naive_views(text: &str) -> Vec<Vec<(u8, usize, usize)>> {
    let bytes = text.as_bytes();
    let mut views = vec![bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| (b, i, i + 1))
        .collect()];
    // JSON string escapes.
    if bytes
        .windows(2)
        .any(|w| w[0] == b'\\' && b"\"\\/bfnrtu".contains(&w[1]))
    {
        let mut view = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let simple = match (bytes[i], bytes.get(i + 1)) {
                (b'\\', Some(b'"')) => Some(b'"'),
                (b'\\', Some(b'\\')) => Some(b'\\'),
                (b'\\', Some(b'/')) => Some(b'/'),
                (b'\\', Some(b'b')) => Some(8),
                (b'\\', Some(b'f')) => Some(12),
                (b'\\', Some(b'n')) => Some(b'\n'),
                (b'\\', Some(b'r')) => Some(b'\r'),
                (b'\\', Some(b't')) => Some(b'\t'),
                _ => None,
            };
            if let Some(b) = simple {
                view.push((b, i, i + 2));
                i += 2;
                continue;
            }
            let unit = (bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'u'))
                .then(|| std::str::from_utf8(bytes.get(i + 2..i + 6)?).ok())
                .flatten()
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok());
            match unit {
                // The fragments use no surrogates.
                Some(unit) if !(0xD800..0xE000).contains(&unit) => {
                    let c = char::from_u32(unit).unwrap();
                    let mut buf = [0; 4];
                    for &b in c.encode_utf8(&mut buf).as_bytes() {
                        view.push((b, i, i + 6));
                    }
                    i += 6;
                }
                _ => {
                    view.push((bytes[i], i, i + 1));
                    i += 1;
                }
            }
        }
        views.push(view);
    }
    // Percent escapes and `+`.
    let hex = |b: u8| (b as char).to_digit(16);
    let has_percent = (0..bytes.len()).any(|i| {
        bytes[i] == b'%'
            && bytes.get(i + 1).and_then(|&b| hex(b)).is_some()
            && bytes.get(i + 2).and_then(|&b| hex(b)).is_some()
    });
    if has_percent {
        let mut view = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'%')
                .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
                .flatten();
            match (escaped, bytes[i]) {
                (Some(value), _) => {
                    view.push((value as u8, i, i + 3));
                    i += 3;
                }
                (None, b'+') => {
                    view.push((b' ', i, i + 1));
                    i += 1;
                }
                (None, b) => {
                    view.push((b, i, i + 1));
                    i += 1;
                }
            }
        }
        views.push(view);
    }
    views
}

/// `(rule id, start, end)` of every pattern-rule hit, sorted, deduplicated,
/// widened to character boundaries.
fn naive_text_hits(text: &str) -> Vec<(String, usize, usize)> {
    let mut hits = Vec::new();
    for view in naive_views(text) {
        let decoded: Vec<u8> = view.iter().map(|&(b, _, _)| b).collect();
        for (id, regexes, validator) in naive_pattern_rules() {
            for regex in regexes {
                for found in regex.find_iter(&decoded) {
                    let valid = validator.is_none_or(|v| {
                        std::str::from_utf8(found.as_bytes()).map_or(true, |s| v.check(s))
                    });
                    if valid {
                        let mut start = view[found.start()].1;
                        let mut end = view[found.end() - 1].2;
                        while !text.is_char_boundary(start) {
                            start -= 1;
                        }
                        while !text.is_char_boundary(end) {
                            end += 1;
                        }
                        hits.push((id.clone(), start, end));
                    }
                }
            }
        }
    }
    hits.sort();
    hits.dedup();
    hits
}

const TEXT_FRAGMENTS: &[&str] = &[
    // PHI-ish.
    "123-45-6789",
    "123 45 6789",
    "4111 1111 1111 1111",
    "4111111111111111",
    "378282246310005",
    "jane.doe@example.com",
    "jane.doe%40example.com",
    "jane\\u0040example.com",
    "(555) 234-5678",
    "555.234.5678",
    "+15552345678",
    "1EG4-TE5-MK73",
    "1EG4TE5MK73",
    "MRN-0012345",
    "mrn 001234",
    "1M8GDM9AXKP042788",
    "12 Oak Ave",
    "742 Evergreen Terrace",
    // Canary-ish.
    "ORD-2024-000123",
    "2024-05-01T12:00:00.123Z",
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "00f067aa0ba902b7",
    "1714564800123",
    "v1.4.2",
    "claims-7d9f8b6c5-x2k4p",
    "1234567893",
    "é",
    // Glue.
    " ",
    "-",
    "=",
    "%20",
    "%2",
    "+",
    "\\\"",
    "\\",
    "@",
    "\n",
    "x",
    "7",
    "",
];

fn fragment_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TEXT_FRAGMENTS), 0..12)
        .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn text_scanner_agrees_with_naive_reference_on_pattern_rules(text in fragment_text()) {
        let redactor = super::tests::builtin();
        let patterns: std::collections::HashSet<String> =
            naive_pattern_rules().iter().map(|(id, _, _)| id.clone()).collect();
        let mut fast: Vec<(String, usize, usize)> = redactor
            .find_in_text(&text)
            .into_iter()
            .filter(|hit| patterns.contains(hit.rule_id))
            .map(|hit| (hit.rule_id.to_owned(), hit.start, hit.end))
            .collect();
        fast.sort();
        prop_assert_eq!(fast, naive_text_hits(&text), "text {:?}", text);
    }
}

#[test]
fn naive_text_reference_table() {
    let hits = naive_text_hits("ssn 123-45-6789 mail jane\\u0040example.com");
    let ids: Vec<&str> = hits.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["email", "ssn"]);
}
