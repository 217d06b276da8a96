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

fn builtin_redacts(input: Value) -> Value {
    fields(&Redactor::builtin().redact(record(input)))
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
    assert!(checked >= 50, "only {checked} examples ran");
    let ids: Vec<_> = redactor.rule_ids().collect();
    assert_eq!(
        ids,
        [
            "field-ssn",
            "field-dob",
            "field-name",
            "field-email",
            "field-phone",
            "field-address",
            "field-mrn",
            "field-patient"
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
fn message_and_resource_are_not_touched_by_field_rules() {
    let mut input = record(json!({"ssn": "000-00-0000"}));
    input.message = Some("ssn=000-00-0000".into());
    let resource = input.resource.clone();
    let out = Redactor::builtin().redact(input);
    // Free text waits for pattern rules; field rules never read it.
    assert_eq!(out.message.as_deref(), Some("ssn=000-00-0000"));
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
    let redactor = Redactor::builtin();
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
    let out = Redactor::builtin().redact(record(json!({"ssn": 1})));
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
    let redactor = Redactor::builtin();
    let plain = LogRecord::text("started", resource());
    let out = redactor.redact(plain.clone());
    assert_eq!(*out, plain);
    let out = redactor.redact(record(Value::Object(Map::new())));
    assert!(out.fields.is_empty());
}
