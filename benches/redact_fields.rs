//! Field-rule redaction throughput with the built-in pack.
//!
//! The corpus is synthetic Spring Boot ECS-style records (fake identifiers only):
//! about thirty operational keys each, some of them `*.name` keys the allow-list
//! must spare, and on every fourth record a claim carrying a subscriber's ssn,
//! dob, name and email plus a `patient` object. Each run counts the replaced
//! values and checks the count, so a faster but wrong walk cannot pass.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use wardwatch::event::{LogRecord, Resource};
use wardwatch::redact::Redactor;

const RECORDS: usize = 2_000;
/// Values replaced in a record that carries a claim: ssn, dob, name, email, patient.
const HITS_PER_CLAIM: usize = 5;

fn record(index: usize, resource: &Arc<Resource>) -> LogRecord {
    let mut fields = json!({
        "@timestamp": "2024-05-01T12:00:00.000Z",
        "log.level": "INFO",
        "log": {"logger": "com.example.claims.ClaimController"},
        "process": {"pid": 1, "thread": {"name": "http-nio-8080-exec-3"}, "name": "java"},
        "service": {"name": "claims", "version": "1.4.2", "environment": "prod",
                    "node": {"name": "node-a"}},
        "host": {"name": "node-a", "os": {"name": "Linux"}},
        "container": {"name": "app", "image": {"name": "registry.example/claims"}},
        "k8s": {"pod": {"name": "claims-7d9f"}, "namespace": {"name": "claims"}},
        "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
        "span": {"id": "00f067aa0ba902b7", "name": "POST /claims"},
        "http": {"request": {"method": "POST"}, "response": {"status_code": 201}},
        "url": {"path": "/claims"},
        "event": {"name": "claim.received", "duration": 1_250_000},
        "ecs.version": "8.11",
        "message": format!("claim {index} received"),
    });
    if index.is_multiple_of(4) {
        fields["claim"] = json!({
            "id": format!("c-{index}"),
            "subscriber": {
                "ssn": "000-00-0000",
                "dob": "1900-01-01",
                "name": "Test Subscriber",
                "email": "subscriber@example.test",
                "plan": "gold",
            },
            "patient": {"id": "p-0", "gender": "x", "visits": [{"ward": "4B"}]},
            "lines": [{"code": "99213", "amount": 120.5}, {"code": "80053", "amount": 42.0}],
        });
    }
    let Value::Object(fields) = fields else {
        unreachable!("built as an object")
    };
    LogRecord {
        fields,
        ..LogRecord::text("", resource.clone())
    }
}

fn count_replaced(value: &Value) -> usize {
    match value {
        Value::String(text) if text == "[REDACTED]" => 1,
        Value::Object(object) => object.values().map(count_replaced).sum(),
        Value::Array(items) => items.iter().map(count_replaced).sum(),
        _ => 0,
    }
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::builtin();
    let resource = Arc::new(Resource::default());
    let corpus: Vec<LogRecord> = (0..RECORDS).map(|i| record(i, &resource)).collect();
    let expected = RECORDS.div_ceil(4) * HITS_PER_CLAIM;

    let mut group = c.benchmark_group("redact_fields");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("builtin_pack", |b| {
        b.iter_batched(
            || corpus.clone(),
            |batch| {
                let redacted = redactor.redact_batch(batch);
                let replaced: usize = redacted
                    .iter()
                    .map(|record| record.fields.values().map(count_replaced).sum::<usize>())
                    .sum();
                assert_eq!(replaced, expected, "replaced values");
                redacted
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
