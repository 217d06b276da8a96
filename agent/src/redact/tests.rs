//! Behaviour of the redactor as a whole: the shipped pack, the walk, the
//! boundary, fail-closed handling and rule-file errors.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::{json, Map, Value};

use super::load::BUILTIN_PACKS;
use super::*;
use crate::event::{LogRecord, Resource, Stream};

fn resource() -> Arc<Resource> {
    Arc::new(Resource {
        host_name: "node-a".into(),
        log_file_path: "/var/log/pods/x/0.log".into(),
        service_name: Some("billing".into()),
        pod_name: Some("billing-7d9f".into()),
        ..Resource::default()
    })
}

fn record(fields: Value) -> LogRecord {
    let Value::Object(fields) = fields else {
        panic!("fields must be an object");
    };
    LogRecord {
        timestamp: Some(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()),
        stream: Some(Stream::Stdout),
        message: None,
        fields,
        truncated: false,
        resource: resource(),
    }
}

fn fields(redacted: &Redacted<LogRecord>) -> Value {
    Value::Object(redacted.fields.clone())
}

/// The built-in pack, compiled once for every test of the module.
pub(super) fn builtin() -> &'static Redactor {
    static BUILTIN: std::sync::OnceLock<Redactor> = std::sync::OnceLock::new();
    BUILTIN.get_or_init(Redactor::builtin)
}

fn builtin_redacts(input: Value) -> Value {
    fields(&builtin().redact(record(input)))
}

/// A redactor from one in-memory rule file.
fn pack(yaml: &str) -> Redactor {
    Redactor::from_sources(&[("test.yaml", yaml)])
        .unwrap_or_else(|errors| panic!("{}", display(&errors)))
}

fn load_errors(sources: &[(&str, &str)]) -> Vec<RuleError> {
    Redactor::from_sources(sources).expect_err("the rule files should be rejected")
}

fn display(errors: &[RuleError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The counter for `rule` as served on `/metrics`.
fn redactions_counted(rule: &str) -> u64 {
    metric_value(&format!(
        "wardwatch_redact_redactions_total{{rule=\"{rule}\"}}"
    ))
}

fn failures_counted(reason: &str) -> u64 {
    metric_value(&format!(
        "wardwatch_redact_failures_total{{reason=\"{reason}\"}}"
    ))
}

fn metric_value(series: &str) -> u64 {
    crate::internal_events::encode_metrics()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn builtin_pack_loads_and_its_examples_pass() {
    let redactor = Redactor::builtin();
    let checked = redactor.check_examples().expect("examples pass");
    assert!(checked >= 300, "only {checked} examples ran");
    let ids: Vec<_> = redactor.rule_ids().collect();
    assert_eq!(
        ids,
        [
            // clinician.yaml
            "clinician-npi",
            "clinician-dea",
            // contact.yaml
            "phone-us",
            "phone-in-context",
            "email",
            "street-address",
            "address-in-context",
            "zip-in-context",
            // hl7.yaml
            "hl7-pid",
            "hl7-nk1",
            "hl7-gt1",
            "hl7-in1",
            "hl7-pv1",
            "hl7-obx-device",
            // identifiers.yaml
            "ssn",
            "ssn-in-context",
            "mrn-prefixed",
            "mrn-in-context",
            "mrn-in-prose",
            "member-account-in-context",
            "member-account-in-prose",
            "licence-in-context",
            "licence-in-prose",
            "device-serial-in-context",
            "card-number",
            "medicare-mbi",
            "vin",
            // names-and-dates.yaml
            "name-in-context",
            "name-in-prose",
            "date-in-context",
            "date-in-prose",
            // network.yaml
            "client-ip",
            "client-ip-in-context",
            // structured-fields.yaml
            "field-ssn",
            "field-dob",
            "field-name",
            "field-email",
            "field-phone",
            "field-address",
            "field-mrn",
            "field-patient",
            "field-fhir-identifiers",
            "field-fhir-name-parts",
            "field-fhir-dates",
            // url-paths.yaml
            "date-in-path",
            "mrn-in-path",
            "member-account-in-path",
            "licence-in-path",
            "device-serial-in-path",
            "zip-in-path",
            "name-in-path",
        ]
    );
}

#[test]
fn embedded_pack_list_names_every_file_in_redaction_rules() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("redaction-rules");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .map(|name| format!("redaction-rules/{name}"))
        .collect();
    let embedded: BTreeSet<String> = BUILTIN_PACKS
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(embedded, on_disk);
    for (name, text) in BUILTIN_PACKS {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        assert_eq!(std::fs::read_to_string(path).unwrap(), *text, "{name}");
    }
}

#[test]
fn redactor_is_shareable_across_workers() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Redactor>();
    assert_send_sync::<Redacted<LogRecord>>();
}

/// The measure `benches/phi_scan.rs` bounds skipping with: bytes read while
/// a match may be under way.
#[test]
fn automaton_is_busy_only_while_a_match_may_be_under_way() {
    let redactor = Redactor::builtin();
    // No pattern of the pack begins with a space.
    assert_eq!(redactor.automaton_busy_bytes(&" ".repeat(64)), Some(0));
    let padding = " ".repeat(20);
    let text = format!("{padding}123-45-6789{padding}");
    let busy = redactor.automaton_busy_bytes(&text).unwrap();
    // From the SSN's first digit to past its end, and back to the start
    // state within the padding.
    assert!((11..text.len() - 20).contains(&busy), "{busy}");
}

#[test]
fn identifiers_are_replaced_at_any_depth_and_in_any_case() {
    let out = builtin_redacts(json!({
        "ssn": "000-00-0000",
        "claim": {"subscriber": {"SSN": "000-00-0000", "DOB": "1900-01-01", "plan": "gold"}},
        "contact": {"Email": "a@example.test", "phone": "555-0100", "address": {"city": "X"}},
        "encounter": {"mrn": "MRN-0", "ward": "4B"},
    }));
    assert_eq!(
        out,
        json!({
            "ssn": "[REDACTED]",
            "claim": {"subscriber": {"SSN": "[REDACTED]", "DOB": "[REDACTED]", "plan": "gold"}},
            "contact": {"Email": "[REDACTED]", "phone": "[REDACTED]", "address": "[REDACTED]"},
            "encounter": {"mrn": "[REDACTED]", "ward": "4B"},
        })
    );
}

#[test]
fn dotted_keys_are_paths_like_nested_keys() {
    let out = builtin_redacts(json!({
        "patient.ssn": "000-00-0000",
        "claim.subscriber.ssn": "000-00-0000",
        "service.name": "billing",
        "claim": {"member.email": "a@example.test"},
    }));
    assert_eq!(
        out,
        json!({
            "patient.ssn": "[REDACTED]",
            "claim.subscriber.ssn": "[REDACTED]",
            "service.name": "billing",
            "claim": {"member.email": "[REDACTED]"},
        })
    );
}

#[test]
fn arrays_are_transparent() {
    let out = builtin_redacts(json!({
        "members": [{"ssn": "000-00-0000", "plan": "gold"}, [{"email": "a@example.test"}], 7],
        "phone": ["555-0100", "555-0101"],
    }));
    assert_eq!(
        out,
        json!({
            "members": [{"ssn": "[REDACTED]", "plan": "gold"}, [{"email": "[REDACTED]"}], 7],
            "phone": "[REDACTED]",
        })
    );
}

#[test]
fn numbers_booleans_and_objects_are_replaced_and_nulls_kept() {
    let out = builtin_redacts(json!({
        "ssn": 123456789,
        "dob": {"year": 1900, "month": 1},
        "mrn": true,
        "email": null,
        "user": {"name": null},
    }));
    assert_eq!(
        out,
        json!({
            "ssn": "[REDACTED]",
            "dob": "[REDACTED]",
            "mrn": "[REDACTED]",
            "email": null,
            "user": {"name": null},
        })
    );
}

#[test]
fn patient_subtree_is_replaced_whole() {
    let out = builtin_redacts(json!({
        "patient": {"id": "p-1", "gender": "x", "visits": [{"ward": "4B"}], "service": {"name": "ok"}},
        "encounter": {"patient": ["p-1", "p-2"], "id": "e-1"},
        "Patient": "Jane Roe",
        "patients_admitted": 3,
    }));
    assert_eq!(
        out,
        json!({
            "patient": "[REDACTED]",
            "encounter": {"patient": "[REDACTED]", "id": "e-1"},
            "Patient": "[REDACTED]",
            "patients_admitted": 3,
        })
    );
}

#[test]
fn personal_names_are_replaced_and_operational_names_kept() {
    // Shapes of real records: Spring Boot 3.4 ECS structured logging, an OTel
    // log record flattened to attributes, Filebeat's Kubernetes metadata.
    let input = json!({
        "@timestamp": "2024-05-01T12:00:00Z",
        "log.level": "INFO",
        "log": {"logger": "com.example.Billing"},
        "logger_name": "com.example.Billing",
        "thread_name": "http-nio-8080-exec-1",
        "process.thread.name": "http-nio-8080-exec-1",
        "process": {"pid": 1, "name": "java", "parent": {"name": "sh"}},
        "service.name": "billing",
        "service": {"name": "billing", "node": {"name": "node-a"}, "environment": "prod"},
        "host": {"name": "node-a", "os": {"name": "Linux"}},
        "container": {"name": "app", "image": {"name": "registry/billing"}},
        "orchestrator": {"resource": {"name": "billing-7d9f"}, "cluster": {"name": "prod-1"}},
        "k8s": {"pod": {"name": "billing-7d9f"}, "namespace": {"name": "claims"},
                "node": {"name": "node-a"}, "deployment": {"name": "billing"},
                "container": {"name": "app"}},
        "kubernetes": {"pod": {"name": "billing-7d9f"}, "node": {"name": "node-a"}},
        "cloud": {"provider": "aws", "account": {"name": "prod"}},
        "otel": {"scope": {"name": "io.opentelemetry.spring"}},
        "telemetry": {"sdk": {"name": "opentelemetry"}},
        "span": {"name": "GET /claims"},
        "event": {"name": "claim.submitted"},
        "db": {"name": "claims", "collection": {"name": "members"}},
        "messaging": {"destination": {"name": "claims-out"}},
        "file": {"name": "claims.csv"},
        "spring": {"application": {"name": "billing"}},
        "name": "Jane Roe",
        "user": {"name": "jroe", "id": "u-1"},
        "first": {"name": "Jane"},
        "guarantor": {"firstName": "John", "last_name": "Roe"},
        "subscriber": {"name": "Jane Roe", "host": {"name": "node-b"}},
    });
    let out = builtin_redacts(input.clone());
    let mut expected = input;
    expected["name"] = json!("[REDACTED]");
    expected["user"]["name"] = json!("[REDACTED]");
    expected["first"]["name"] = json!("[REDACTED]");
    expected["guarantor"] = json!({"firstName": "[REDACTED]", "last_name": "[REDACTED]"});
    expected["subscriber"]["name"] = json!("[REDACTED]");
    assert_eq!(out, expected);
}

#[test]
fn allowed_paths_are_still_walked() {
    let redactor = pack(
        r#"
allow: ["*.service.name"]
rules:
  - id: r-name
    description: names
    kind: field
    paths: ["*.name"]
    examples: {match: [name], no_match: [service.name]}
  - id: r-ssn
    description: ssn
    kind: field
    paths: ["*.ssn"]
    examples: {match: [ssn]}
"#,
    );
    let out = fields(&redactor.redact(record(json!({
        "service": {"name": {"ssn": "000-00-0000", "label": "billing"}},
    }))));
    assert_eq!(
        out,
        json!({"service": {"name": {"ssn": "[REDACTED:r-ssn]", "label": "billing"}}})
    );
}

#[test]
fn replacement_defaults_to_the_rule_id_and_can_be_set() {
    let redactor = pack(
        r#"
rules:
  - id: plain
    description: default replacement
    kind: field
    paths: ["*.ssn"]
    examples: {match: [ssn]}
  - id: explicit
    description: explicit replacement
    kind: field
    paths: ["*.mrn"]
    replacement: "***"
    examples: {match: [mrn]}
"#,
    );
    let out = fields(&redactor.redact(record(json!({"ssn": 1, "mrn": 2}))));
    assert_eq!(out, json!({"ssn": "[REDACTED:plain]", "mrn": "***"}));
}

#[test]
fn first_matching_rule_wins_in_file_order() {
    let redactor = pack(
        r#"
rules:
  - id: first
    description: broad
    kind: field
    paths: ["*.ssn", "*.id"]
    examples: {match: [ssn]}
  - id: second
    description: narrow
    kind: field
    paths: ["member.ssn"]
    examples: {match: [member.ssn]}
"#,
    );
    let out = fields(&redactor.redact(record(json!({"member": {"ssn": 1}}))));
    assert_eq!(out, json!({"member": {"ssn": "[REDACTED:first]"}}));
}

#[test]
fn an_allow_list_spares_only_its_own_files_rules() {
    let lenient = r#"
allow: ["*.service.name"]
rules:
  - id: lenient-name
    description: names, operational ones spared
    kind: field
    paths: ["*.name"]
    examples: {match: [name], no_match: [service.name]}
"#;
    let strict = r#"
rules:
  - id: strict-service
    description: everything about services
    kind: field
    paths: ["*.service.*"]
    examples: {match: [service.name]}
"#;
    let redactor = Redactor::from_sources(&[("a.yaml", lenient), ("b.yaml", strict)]).unwrap();
    let out = fields(&redactor.redact(record(json!({"service.name": "billing", "name": "x"}))));
    assert_eq!(
        out,
        json!({"service.name": "[REDACTED:strict-service]", "name": "[REDACTED:lenient-name]"})
    );
}

#[test]
fn an_allowed_path_spares_its_strings_from_the_files_text_rules() {
    let lenient = r#"
allow: ["*.build.tag"]
rules:
  - id: tag-like
    description: tags
    kind: pattern
    patterns: ['\bT-\d{4}\b']
    examples: {match: ["T-1234"]}
"#;
    let strict = r#"
rules:
  - id: digits
    description: four digits after X-
    kind: pattern
    patterns: ['\bX-\d{4}\b']
    examples: {match: ["X-1234"]}
"#;
    let redactor = Redactor::from_sources(&[("a.yaml", lenient), ("b.yaml", strict)]).unwrap();
    // The allowed path is scanned after the same text elsewhere and before
    // it again: a text spared at one path is not remembered as clean.
    let input = json!({
        "note": "T-1234 X-1234",
        "build": {"tag": "T-1234 X-1234", "list": ["T-1234"]},
        "then": "T-1234 X-1234",
        "build.tag": ["T-1234", {"nested": "T-1234"}, "T-1234"],
    });
    let out = fields(&redactor.redact(record(input)));
    assert_eq!(
        out,
        json!({
            "note": "[REDACTED:tag-like] [REDACTED:digits]",
            "build": {"tag": "T-1234 [REDACTED:digits]", "list": ["[REDACTED:tag-like]"]},
            "then": "[REDACTED:tag-like] [REDACTED:digits]",
            "build.tag": ["T-1234", {"nested": "[REDACTED:tag-like]"}, "T-1234"],
        })
    );
}

#[test]
fn a_decimal_span_id_survives_as_a_json_value_and_a_card_does_not() {
    // 5487007279975250 passes Luhn, as one decimal span id in a few
    // hundred thousand does.
    for key in ["spanId", "span_id", "parentSpanId", "traceId"] {
        // As text (no key a field rule names), and as a document that is
        // parsed and walked (`ssn` is one).
        for line in [
            format!(r#"{{"{key}":"5487007279975250","msg":"ok"}}"#),
            format!(r#"{{"{key}":"5487007279975250","msg":"ok","ssn":null}}"#),
        ] {
            assert_eq!(builtin().redact_text(&line), line.as_str(), "{key}");
        }
    }
    let out =
        builtin_redacts(json!({"span": {"id": "5487007279975250"}, "ref": "5487007279975250"}));
    assert_eq!(
        out,
        json!({"span": {"id": "5487007279975250"}, "ref": "[REDACTED:card-number]"})
    );
}

#[test]
fn message_is_scanned_by_text_rules_and_resource_not_touched() {
    let mut input = record(json!({"ssn": "000-00-0000"}));
    input.message = Some("ssn=000-00-0000".into());
    let resource = input.resource.clone();
    let out = builtin().redact(input);
    // Field rules never read text; the context rule takes the labelled value.
    assert_eq!(
        out.message.as_deref(),
        Some("ssn=[REDACTED:ssn-in-context]")
    );
    assert_eq!(fields(&out), json!({"ssn": "[REDACTED]"}));
    assert!(Arc::ptr_eq(&out.resource, &resource));
    assert_eq!(out.stream, Some(Stream::Stdout));
    assert!(out.timestamp.is_some());
}

#[test]
fn a_batch_is_counted_once_per_rule() {
    let redactor = pack(
        r#"
rules:
  - id: batch-count-ssn
    description: ssn
    kind: field
    paths: ["*.ssn"]
    examples: {match: [ssn]}
  - id: batch-count-unused
    description: never hits
    kind: field
    paths: ["*.nothing_here"]
    examples: {match: [nothing_here]}
"#,
    );
    let records = vec![
        record(json!({"ssn": 1, "a": {"ssn": 2}})),
        record(json!({"plan": "gold"})),
        record(json!({"members": [{"ssn": 3}, {"ssn": 4}]})),
    ];
    let out = redactor.redact_batch(records);
    assert_eq!(out.len(), 3);
    assert_eq!(fields(&out[1]), json!({"plan": "gold"}));
    assert_eq!(redactions_counted("batch-count-ssn"), 4);
    assert_eq!(redactions_counted("batch-count-unused"), 0);
}

#[test]
fn a_panic_in_the_walk_fails_closed() {
    let mut redactor = pack(
        r#"
rules:
  - id: panic-test-ssn
    description: ssn
    kind: field
    paths: ["*.ssn"]
    examples: {match: [ssn]}
"#,
    );
    redactor.panic_on_key = Some("poison");
    let before = failures_counted("panic");
    let mut poisoned = record(json!({"ssn": 1, "nested": {"poison": "000-00-0000"}}));
    poisoned.message = Some("free text with PHI".into());
    poisoned.truncated = true;
    let expected_timestamp = poisoned.timestamp;
    let resource = poisoned.resource.clone();
    let out = redactor.redact_batch(vec![record(json!({"ssn": 2})), poisoned]);

    assert_eq!(fields(&out[0]), json!({"ssn": "[REDACTED:panic-test-ssn]"}));
    let marker = &out[1];
    assert_eq!(marker.message.as_deref(), Some(REDACTION_FAILED_MARKER));
    assert!(marker.fields.is_empty());
    assert_eq!(marker.timestamp, expected_timestamp);
    assert!(Arc::ptr_eq(&marker.resource, &resource));
    assert!(marker.truncated);
    assert_eq!(failures_counted("panic") - before, 1);
    // Hits of the failed record are not counted: its values never shipped.
    assert_eq!(redactions_counted("panic-test-ssn"), 1);
}

fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |inner, level| {
        if level % 2 == 0 {
            json!({ "level": inner })
        } else {
            json!([inner])
        }
    })
}

#[test]
fn records_nested_past_the_limit_are_masked_whole() {
    let redactor = builtin();
    let before = failures_counted("too_deep");

    // `fields` itself is the record's top level; MAX_DEPTH objects and arrays
    // may nest below it (here: MAX_DEPTH - 1 levels, then the `{"ssn": 1}` object).
    let deepest_allowed = record(json!({ "top": nested(MAX_DEPTH - 1, json!({"ssn": 1})) }));
    let out = redactor.redact(deepest_allowed);
    assert_ne!(out.message.as_deref(), Some(REDACTION_FAILED_MARKER));
    assert_eq!(
        fields(&out),
        json!({ "top": nested(MAX_DEPTH - 1, json!({"ssn": "[REDACTED]"})) })
    );

    let too_deep = record(json!({ "top": nested(MAX_DEPTH + 1, json!("x")) }));
    let out = redactor.redact(too_deep);
    assert_eq!(out.message.as_deref(), Some(REDACTION_FAILED_MARKER));
    assert!(out.fields.is_empty());
    assert_eq!(failures_counted("too_deep") - before, 1);

    // A deep subtree under a replaced key is never walked, so it is no failure.
    let replaced = record(json!({ "patient": nested(MAX_DEPTH + 10, json!("x")) }));
    assert_eq!(
        fields(&redactor.redact(replaced)),
        json!({"patient": "[REDACTED]"})
    );
}

#[test]
fn redacted_comes_only_from_this_module() {
    // The compile-fail half of this proof is the doctest on `Redacted`.
    let out = builtin().redact(record(json!({"ssn": 1})));
    assert_eq!(out.get().fields["ssn"], json!("[REDACTED]"));
    assert_eq!(out.clone().into_inner().fields, out.fields);
}

// Rule-file errors.

const VALID_RULE: &str = r#"
rules:
  - id: ok
    description: fine
    kind: field
    paths: ["*.ssn"]
    examples: {match: [ssn]}
"#;

#[test]
fn parse_errors_name_file_line_and_column() {
    let errors = load_errors(&[(
        "bad.yaml",
        "rules:\n  - id: x\n    description: d\n    kind: field\n    paths: [\"*.ssn\"]\n    colour: red\n    examples: {match: [ssn]}\n",
    )]);
    assert_eq!(errors.len(), 1, "{}", display(&errors));
    let error = &errors[0];
    assert_eq!(error.file, std::path::Path::new("bad.yaml"));
    assert_eq!((error.line, error.column), (2, 5));
    assert!(error.message.contains("unknown field `colour`"), "{error}");
    assert!(error.to_string().starts_with("bad.yaml:2:5: "), "{error}");

    let errors = load_errors(&[("syntax.yaml", "rules: [\n")]);
    assert!(errors[0].line >= 1, "{}", display(&errors));
    let errors = load_errors(&[("kind.yaml", "rules:\n  - id: x\n    kind: regex\n")]);
    assert!(
        errors[0].message.contains("unknown variant `regex`"),
        "{}",
        display(&errors)
    );
    assert_eq!(errors[0].line, 3);
    let errors = load_errors(&[("top.yaml", "allow: []\nrulez: []\n")]);
    assert_eq!(
        (errors[0].line, errors[0].column),
        (2, 1),
        "{}",
        display(&errors)
    );
}

#[test]
fn every_problem_is_reported_in_one_load() {
    let first = r#"
allow: ["*.service..name"]
rules:
  - id: dup
    description: first of two
    kind: field
    paths: ["*.ssn"]
    examples: {match: [ssn]}
"#;
    let second = r#"
rules:
  - id: dup
    description: second of two
    kind: field
    paths: ["*.mrn"]
    examples: {match: [mrn]}
  - id: Bad Id
    description: bad id
    kind: field
    paths: ["*.x"]
    examples: {match: [x]}
  - id: redaction-failed
    description: reserved
    kind: field
    paths: ["*.x"]
    examples: {match: [x]}
  - id: no-paths
    description: empty paths
    kind: field
    paths: []
    examples: {match: [x]}
  - id: bad-pattern
    description: partial wildcard
    kind: field
    paths: ["*.ss*"]
    examples: {match: [x]}
  - id: no-examples
    description: nothing to show
    kind: field
    paths: ["*.x"]
    examples: {match: []}
  - id: empty-replacement
    description: empty text
    kind: field
    paths: ["*.x"]
    replacement: ""
    examples: {match: [x]}
  - id: failing-examples
    description: examples that fail
    kind: field
    paths: ["*.ssn"]
    examples:
      match: [ssn, ssn_checked_at]
      no_match: [patient.ssn, ssn.last4]
"#;
    let errors = load_errors(&[("a.yaml", first), ("b.yaml", second)]);
    let text = display(&errors);
    let expect = [
        ("a.yaml:2:9: ", "bad key-path pattern \"*.service..name\""),
        ("b.yaml:3:5: ", "rule id \"dup\" is already used at a.yaml:4:5"),
        ("b.yaml:8:5: ", "rule id \"Bad Id\" must be"),
        ("b.yaml:13:5: ", "rule id \"redaction-failed\" is reserved"),
        ("b.yaml:18:5: ", "rule no-paths: `paths` is empty"),
        ("b.yaml:23:5: ", "rule bad-pattern: bad key-path pattern \"*.ss*\""),
        ("b.yaml:28:5: ", "rule no-examples: `examples.match` is empty"),
        ("b.yaml:33:5: ", "rule empty-replacement: `replacement` text is empty"),
        (
            "b.yaml:39:5: ",
            "rule failing-examples: example match[1] \"ssn_checked_at\" is not matched",
        ),
        (
            "b.yaml:39:5: ",
            "rule failing-examples: example no_match[0] \"patient.ssn\" is matched",
        ),
        (
            "b.yaml:39:5: ",
            "rule failing-examples: example no_match[1] \"ssn.last4\" is matched (with its ancestor \"ssn\")",
        ),
    ];
    for (place, message) in expect {
        assert!(
            errors
                .iter()
                .any(|e| e.to_string().starts_with(place) && e.message.contains(message)),
            "missing {place}{message} in:\n{text}"
        );
    }
    assert_eq!(errors.len(), expect.len(), "{text}");
}

#[test]
fn a_match_example_exempted_by_the_allow_list_says_so() {
    let errors = load_errors(&[(
        "allow.yaml",
        r#"
allow: ["*.service.name"]
rules:
  - id: names
    description: names
    kind: field
    paths: ["*.name"]
    examples: {match: [name, service.name]}
"#,
    )]);
    assert_eq!(errors.len(), 1, "{}", display(&errors));
    assert!(
        errors[0]
            .message
            .ends_with("example match[1] \"service.name\" is not matched (allow pattern \"*.service.name\" exempts it)"),
        "{}",
        errors[0]
    );
}

#[test]
fn yaml_1_1_booleans_stay_strings() {
    let redactor = pack(
        r#"
rules:
  - id: y
    description: keys that YAML 1.1 reads as booleans
    kind: field
    paths: [on, "*.no"]
    examples: {match: [on, a.no, "no"], no_match: [off, yes]}
"#,
    );
    let out = fields(&redactor.redact(record(json!({"on": 1, "off": 2, "a": {"no": 3}}))));
    assert_eq!(
        out,
        json!({"on": "[REDACTED:y]", "off": 2, "a": {"no": "[REDACTED:y]"}})
    );
}

#[test]
fn no_rules_at_all_is_an_error_not_a_pass_through() {
    let errors = load_errors(&[("empty.yaml", "rules: []\n")]);
    assert!(
        errors[0].message.contains("define no rules"),
        "{}",
        display(&errors)
    );
    let errors = Redactor::load(&[]).expect_err("no paths");
    assert!(errors[0].message.contains("no rule files given"));
}

#[test]
fn load_reads_files_and_directories_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let other = r#"
rules:
  - id: other
    description: fine
    kind: field
    paths: ["*.mrn"]
    examples: {match: [mrn]}
"#;
    std::fs::write(dir.path().join("b.yml"), VALID_RULE).unwrap();
    std::fs::write(dir.path().join("a.yaml"), other).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule file").unwrap();
    std::fs::create_dir(dir.path().join("..data")).unwrap();
    let redactor = Redactor::load(&[dir.path().to_owned()]).unwrap();
    assert_eq!(redactor.rule_ids().collect::<Vec<_>>(), ["other", "ok"]);

    let empty = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let errors = Redactor::load(&[empty.path().to_owned(), missing.clone()]).unwrap_err();
    assert_eq!(errors.len(), 2, "{}", display(&errors));
    assert_eq!(errors[0].file, empty.path());
    assert!(errors[0].message.contains("no *.yaml or *.yml"));
    assert_eq!(errors[1].file, missing);
    assert!(errors[1]
        .to_string()
        .starts_with(&format!("{}: cannot read", missing.display())));
}

#[test]
fn empty_fields_and_no_rules_hit_pass_unchanged() {
    let redactor = builtin();
    let plain = LogRecord::text("started", resource());
    let out = redactor.redact(plain.clone());
    assert_eq!(*out, plain);
    let out = redactor.redact(record(Value::Object(Map::new())));
    assert!(out.fields.is_empty());
}

// Text rules: patterns, labelled values, HL7, encodings, embedded documents.

/// `(input, output)` of `redact_text` with the built-in pack.
fn assert_redacts_text(table: &[(&str, &str)]) {
    let redactor = builtin();
    for (input, expected) in table {
        assert_eq!(&redactor.redact_text(input), expected, "input {input:?}");
    }
}

#[test]
fn pattern_rules_in_free_text_and_url_paths() {
    assert_redacts_text(&[
        (
            "member SSN 123-45-6789 on file",
            "member SSN [REDACTED:ssn] on file",
        ),
        (
            "GET /patients/123-45-6789/records HTTP/1.1",
            "GET /patients/[REDACTED:ssn]/records HTTP/1.1",
        ),
        (
            "call back at (555) 234-5678 or +1 555 234 5678",
            "call back at [REDACTED:phone-us] or [REDACTED:phone-us]",
        ),
        (
            "card 4111 1111 1111 1111 declined",
            "card [REDACTED:card-number] declined",
        ),
        ("MBI 1EG4-TE5-MK73 ok", "MBI [REDACTED:medicare-mbi] ok"),
        ("VIN 1M8GDM9AXKP042788", "VIN [REDACTED:vin]"),
        (
            "chart MRN-0012345 opened",
            "chart [REDACTED:mrn-prefixed] opened",
        ),
        (
            "lives at 12 Old Mill Rd",
            "lives at [REDACTED:street-address]",
        ),
        ("mail jane.doe@example.com", "mail [REDACTED:email]"),
    ]);
}

#[test]
fn labelled_values_in_logfmt_json_and_queries() {
    assert_redacts_text(&[
        // logfmt, unquoted and quoted; the key stays.
        (
            "level=info ssn=123456789 msg=ok",
            "level=info ssn=[REDACTED:ssn-in-context] msg=ok",
        ),
        (
            r#"name="Jane Roe" level=info"#,
            r#"name="[REDACTED:name-in-context]" level=info"#,
        ),
        (
            "name=John Smith dob=1980-01-02 ward=4B",
            "name=[REDACTED:name-in-context] dob=[REDACTED:date-in-context] ward=4B",
        ),
        // JSON members in text, a number value and an array of names.
        (
            r#"got "zip": 62704, "given": ["Jane", "Q"] from upstream"#,
            r#"got "zip": [REDACTED:zip-in-context], "given": ["[REDACTED:name-in-context]", "[REDACTED:name-in-context]"] from upstream"#,
        ),
        // A whole JSON document is decided by the walk, with its structure.
        (
            r#"{"zip": 62704, "given": ["Jane", "Q"], "app": {"name": "billing"}}"#,
            r#"{"zip":"[REDACTED:zip-in-context]","given":"[REDACTED]","app":{"name":"billing"}}"#,
        ),
        // A URL query, `+` for a space.
        (
            "GET /p?patient_name=Ingrid+Larkworthy&_count=20 HTTP/1.1",
            "GET /p?patient_name=[REDACTED:name-in-context]&_count=20 HTTP/1.1",
        ),
        // Header values, `X-` ignored.
        (
            "X-Patient-SSN: 459046448",
            "X-Patient-SSN: [REDACTED:ssn-in-context]",
        ),
        // Operational values after the same labels survive.
        (
            "name=claims-7d9f8b6c5-x2k4p service.name=billing zip=true",
            "name=claims-7d9f8b6c5-x2k4p service.name=billing zip=true",
        ),
    ]);
}

#[test]
fn escaped_and_encoded_text_is_seen_through() {
    assert_redacts_text(&[
        // JSON escaped inside a string, `@` as \u0040.
        (
            r#"payload={\"email\":\"jane\u0040example.com\",\"ssn\":\"123-45-6789\"}"#,
            r#"payload={\"email\":\"[REDACTED:email]\",\"ssn\":\"[REDACTED:ssn]\"}"#,
        ),
        // Percent-encoded query values and keys.
        (
            "GET /search?email=jane.doe%40example.com&page=2",
            "GET /search?email=[REDACTED:email]&page=2",
        ),
        (
            "q=ssn%3D123456789&x=1",
            "q=ssn%3D[REDACTED:ssn-in-context]&x=1",
        ),
    ]);
}

#[test]
fn hl7_segments_by_field_number() {
    assert_redacts_text(&[
        (
            "MSH|^~\\&|ADT|H|||202405011200||ADT^A01|1|P|2.5\rPID|1||123^^^H^MR||Roe^Jane||19800102|F\rPV1|1|I",
            "MSH|^~\\&|ADT|H|||202405011200||ADT^A01|1|P|2.5\rPID|1||[REDACTED:hl7-pid]||[REDACTED:hl7-pid]||[REDACTED:hl7-pid]|F\rPV1|1|I",
        ),
        // A custom field separator from MSH-1, line feeds between segments.
        (
            "MSH#^~\\&#ADT\nPID#1##123##Roe^Jane\n",
            "MSH#^~\\&#ADT\nPID#1##[REDACTED:hl7-pid]##[REDACTED:hl7-pid]\n",
        ),
        // Segments split by an escaped `\r`, as logged inside JSON.
        (
            r"msg=MSH|^~\&|A\rPID|1||123||Roe^Jane\rPV1|x",
            r"msg=MSH|^~\&|A\rPID|1||[REDACTED:hl7-pid]||[REDACTED:hl7-pid]\rPV1|x",
        ),
    ]);
}

#[test]
fn overlapping_hits_are_replaced_once_by_the_first_rule() {
    // `ssn` (a pattern) and `ssn-in-context` both take the value; `ssn`
    // comes first in load order. Both are counted.
    let redactor = builtin();
    let hits = redactor.find_in_text("ssn=123-45-6789");
    let ids: Vec<_> = hits.iter().map(|h| (h.rule_id, h.start, h.end)).collect();
    assert_eq!(ids, [("ssn", 4, 15), ("ssn-in-context", 4, 15)]);
    assert_eq!(
        redactor.redact_text("ssn=123-45-6789"),
        "ssn=[REDACTED:ssn]"
    );
    // A wider span wins: the union of both is replaced.
    let redactor = pack(
        r#"
rules:
  - id: short
    description: a short pattern
    kind: pattern
    patterns: ['\d{3}-\d{2}']
    examples: {match: ["123-45"]}
  - id: long
    description: a long pattern
    kind: pattern
    patterns: ['\d{2}-\d{4}']
    examples: {match: ["45-6789"]}
"#,
    );
    assert_eq!(
        redactor.redact_text("x 123-45-6789 y"),
        "x [REDACTED:short] y"
    );
}

#[test]
fn canaries_survive_and_come_back_borrowed() {
    let redactor = builtin();
    for canary in [
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
        "request 123e4567-e89b-12d3-a456-426614174000 done",
        "2024-05-01T12:00:00.123Z INFO started in 1234 ms",
        "ts=1714564800123 took=1.5s",
        "order ORD-2024-000123 shipped",
        "version 1.4.2 build 2024.05.01",
        "pod claims-7d9f8b6c5-x2k4p ready",
        "referring provider npi 1234567893",
        "GET /api/v1/orders/ORD-2024-000123?page=2 HTTP/1.1 200 5123",
        "",
    ] {
        let out = redactor.redact_text(canary);
        assert!(
            matches!(out, std::borrow::Cow::Borrowed(_)),
            "{canary:?} became {out:?}"
        );
        assert!(redactor.find_in_text(canary).is_empty(), "{canary:?}");
    }
}

#[test]
fn json_in_strings_goes_through_the_full_engine() {
    // A message that is a JSON document: field rules apply to it.
    let mut input = record(json!({}));
    input.message = Some(r#"{"patient": {"id": "p-1"}, "status": "ok"}"#.into());
    let out = builtin().redact(input);
    assert_eq!(
        out.message.as_deref(),
        Some(r#"{"patient":"[REDACTED]","status":"ok"}"#)
    );
    // A document after a prefix is spliced back in place.
    assert_redacts_text(&[(
        r#"Received: {"ssn": "000-00-0000", "ok": true} done"#,
        r#"Received: {"ssn":"[REDACTED]","ok":true} done"#,
    )]);
    // A string value holding a serialized FHIR Patient.
    let patient = json!({
        "resourceType": "Patient",
        "id": "a0a3ac4b",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "0965473"}],
        "name": [{"family": "Roe", "given": ["Jane"]}],
        "telecom": [{"system": "phone", "value": "555-234-5678"}],
        "gender": "female",
        "birthDate": "1980-01-02",
        "address": [{"line": ["1 Main St"], "city": "Springfield", "postalCode": "62704"}],
    });
    let expected = json!({
        "resourceType": "Patient",
        "id": "a0a3ac4b",
        "identifier": "[REDACTED]",
        "name": "[REDACTED]",
        "telecom": "[REDACTED]",
        "gender": "female",
        "birthDate": "[REDACTED]",
        "address": "[REDACTED]",
    });
    let out = builtin_redacts(json!({"body": patient.to_string()}));
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, expected);
    // And as a record.
    let Value::Object(fields) = patient else {
        unreachable!()
    };
    assert_eq!(builtin_redacts(Value::Object(fields)), expected);
}

#[test]
fn structured_values_are_taken_by_their_labelled_key() {
    let out = builtin_redacts(json!({
        "zip": "62704",
        "member": {"memberId": "XJH123456789", "plan": "gold"},
        "service": {"name": "billing"},
        "admission_date": "2024-05-01",
        "count": 3,
        "comment": "called 555-234-5678 about ssn=123456789",
    }));
    assert_eq!(
        out,
        json!({
            "zip": "[REDACTED:zip-in-context]",
            "member": {"memberId": "[REDACTED:member-account-in-context]", "plan": "gold"},
            "service": {"name": "billing"},
            "admission_date": "[REDACTED:date-in-context]",
            "count": 3,
            "comment": "called [REDACTED:phone-us] about ssn=[REDACTED:ssn-in-context]",
        })
    );
}

#[test]
fn disabled_rules_are_checked_but_not_applied() {
    let redactor = builtin();
    assert!(redactor.rule_ids().any(|id| id == "client-ip"));
    assert_eq!(
        redactor.redact_text("client 203.0.113.7 connected"),
        "client 203.0.113.7 connected"
    );
    assert!(!redactor
        .pattern_sources()
        .iter()
        .any(|s| s.contains("25[0-5]")));
}

#[test]
fn pattern_sources_compile_as_regexes() {
    let sources = builtin().pattern_sources();
    assert!(sources.len() >= 20, "{}", sources.len());
    for source in &sources {
        assert!(!source.contains('\n') && !source.contains('\r'), "{source}");
        regex::bytes::Regex::new(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    }
}

#[test]
fn a_text_over_budget_is_masked_and_counted() {
    const RULES: &str = r#"
rules:
  - id: ok
    description: fine
    kind: field
    paths: ["*.ssn"]
    examples: {match: [ssn]}
  - id: budget-digits
    description: digits
    kind: pattern
    patterns: ['\b\d{6}\b']
    examples: {match: ["123456"]}
"#;
    let redactor = Redactor::from_sources(&[("a.yaml", RULES)])
        .unwrap()
        .with_budget(64, 0);
    let before = failures_counted("budget");
    let mut input = record(json!({"ok": "short"}));
    input.message = Some("x".repeat(100));
    let out = redactor.redact_batch(vec![input, record(json!({"ssn": 1}))]);
    assert_eq!(out[0].message.as_deref(), Some(REDACTION_FAILED_MARKER));
    assert!(out[0].fields.is_empty());
    assert_eq!(fields(&out[1]), json!({"ssn": "[REDACTED:ok]"}));
    assert_eq!(
        redactor.redact_text(&"y".repeat(100)),
        REDACTION_FAILED_MARKER
    );
    let hits = redactor.find_in_text(&"z".repeat(100));
    assert_eq!(
        hits,
        [TextHit {
            rule_id: "redaction-failed",
            start: 0,
            end: 100
        }]
    );
    assert_eq!(failures_counted("budget") - before, 2);
    // Within budget, the same text passes.
    let roomy = Redactor::from_sources(&[("a.yaml", RULES)]).unwrap();
    assert_eq!(roomy.redact_text(&"y".repeat(100)), "y".repeat(100));
}

#[test]
fn text_hits_are_counted_per_rule() {
    let redactor = pack(
        r#"
rules:
  - id: count-text-digits
    description: six digits
    kind: pattern
    patterns: ['\b\d{6}\b']
    examples: {match: ["123456"]}
"#,
    );
    let mut input = record(json!({"a": "123456 and 654321", "b": ["111111"]}));
    input.message = Some("222222".into());
    let out = redactor.redact(input);
    assert_eq!(
        fields(&out),
        json!({"a": "[REDACTED:count-text-digits] and [REDACTED:count-text-digits]", "b": ["[REDACTED:count-text-digits]"]})
    );
    assert_eq!(redactions_counted("count-text-digits"), 4);
}

#[test]
fn text_rule_errors_name_the_rule_and_place() {
    let errors = load_errors(&[(
        "text.yaml",
        r#"
rules:
  - id: unbounded
    description: d
    kind: pattern
    patterns: ['\d+']
    examples: {match: ["1"]}
  - id: bad-regex
    description: d
    kind: pattern
    patterns: ['(']
    examples: {match: ["1"]}
  - id: bad-label
    description: d
    kind: context
    keys: ["a.b"]
    examples: {match: ["a=1"]}
  - id: bad-segment
    description: d
    kind: hl7
    segment: MSH
    fields: [3]
    examples: {match: ["x"]}
  - id: no-fields
    description: d
    kind: hl7
    segment: PID
    fields: []
    examples: {match: ["x"]}
  - id: failing
    description: d
    kind: pattern
    patterns: ['\b\d{4}\b']
    examples: {match: ["123"], no_match: ["1234"]}
  - id: loose-no-value
    description: d
    kind: context
    keys: [dob]
    separator: loose
    examples: {match: ["dob 1980"]}
"#,
    )]);
    let text = display(&errors);
    for (place, message) in [
        (
            "text.yaml:3:5: ",
            "rule unbounded: pattern \"\\\\d+\" has no maximum length",
        ),
        (
            "text.yaml:8:5: ",
            "rule bad-regex: bad regular expression \"(\"",
        ),
        ("text.yaml:13:5: ", "rule bad-label: bad label \"a.b\""),
        (
            "text.yaml:18:5: ",
            "rule bad-segment: bad HL7 segment \"MSH\"",
        ),
        ("text.yaml:24:5: ", "rule no-fields: `fields` is empty"),
        (
            "text.yaml:30:5: ",
            "rule failing: example match[0] \"123\" is not matched",
        ),
        (
            "text.yaml:30:5: ",
            "rule failing: example no_match[0] \"1234\" is matched",
        ),
        (
            "text.yaml:35:5: ",
            "rule loose-no-value: `separator: loose` needs a `value` regex",
        ),
    ] {
        assert!(
            errors
                .iter()
                .any(|e| e.to_string().starts_with(place) && e.message.contains(message)),
            "missing {place}{message} in:\n{text}"
        );
    }
    assert_eq!(errors.len(), 8, "{text}");
}

#[test]
fn loose_separators_take_labelled_values_in_prose() {
    // The same label in a strict rule and a loose one: each key match maps
    // back to its own rule, and only the loose rule sees the prose forms.
    let redactor = pack(
        r#"
rules:
  - id: strict-mrn
    description: d
    kind: context
    keys: [mrn, account_number]
    examples: {match: ["mrn=A1"], no_match: ["MRN 0048213"]}
  - id: loose-mrn
    description: d
    kind: context
    keys: [mrn, account_number]
    value: '[A-Za-z0-9-]{0,32}\d[A-Za-z0-9-]{0,32}'
    separator: loose
    examples: {match: ["MRN 0048213"], no_match: ["MRN lookup failed"]}
"#,
    );
    for (input, expected) in [
        ("mrn=abc", "mrn=[REDACTED:strict-mrn]"),
        ("MRN 0048213 seen", "MRN [REDACTED:loose-mrn] seen"),
        ("MRN# 0048213", "MRN# [REDACTED:loose-mrn]"),
        ("mrn # 0048213", "mrn # [REDACTED:loose-mrn]"),
        (
            "account number A2381711995",
            "account number [REDACTED:loose-mrn]",
        ),
        (
            "account number lookup failed",
            "account number lookup failed",
        ),
        ("the MRN field is required", "the MRN field is required"),
        ("mrn_system 42", "mrn_system 42"),
    ] {
        assert_eq!(redactor.redact_text(input), expected, "{input:?}");
    }
    let hits = redactor.find_in_text("mrn=A1");
    let ids: Vec<_> = hits.iter().map(|h| h.rule_id).collect();
    assert_eq!(ids, ["strict-mrn", "loose-mrn"]);
}
