//! Throughput of the pipeline's hot stages, one at a time, on batches of the
//! size the pipeline uses (`pipeline.batch_max_records`, 1,000):
//!
//! - `build_record`: an assembled line becomes a [`LogRecord`] (JSON objects
//!   parsed into fields), the last step of the tailer thread;
//! - `redact_batch`: [`Redactor::redact_batch`] with the built-in pack, the
//!   redaction thread;
//! - `ecs_encode`: [`EcsView::write_json`] and `write_text` of redacted
//!   records, the stdout sink's thread.
//!
//! Two corpora, synthetic with fake identifiers only: structured records
//! (logstash-style JSON with a patient object on every record, at the top,
//! nested, beside a subscriber, or inside array items) and plain text records
//! (Spring Boot and access lines, with no PHI the rules look for). Each run
//! checks its answer: the number of `[REDACTED]` values, the text left as it
//! was, one output line per record.
//!
//! ```text
//! cargo bench --bench stages
//! ```

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;
use wardwatch::event::{LogRecord, Resource, Stream};
use wardwatch::redact::{Redacted, Redactor};
use wardwatch::sinks::ecs::EcsView;
use wardwatch::sources::logs::assemble::AssembledLine;
use wardwatch::sources::logs::record::build_record;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// Records per batch: the default `pipeline.batch_max_records`.
const BATCH: usize = 1_000;
/// Values replaced per four structured records (one of each shape): 3 + 1 + 3 + 2.
const HITS_PER_FOUR: usize = 9;
const REPLACEMENT: &str = "[REDACTED]";

/// The resource of a CRI pod log, as the enricher fills it.
fn resource() -> Arc<Resource> {
    let uid = "0b1c7e52-3f4a-4d8e-9c61-5a2f0e9d1b37";
    Arc::new(Resource {
        host_name: "bench-node-1".into(),
        log_file_path: format!(
            "/var/log/pods/ehr_ehr-gateway-7c9f8d6b5-x2k4q_{uid}/ehr-gateway/0.log"
        ),
        namespace: Some("ehr".into()),
        pod_name: Some("ehr-gateway-7c9f8d6b5-x2k4q".into()),
        pod_uid: Some(uid.into()),
        container_name: Some("ehr-gateway".into()),
        restart_count: Some(0),
        service_name: Some("ehr-gateway".into()),
        tenant_id: Some("ehr".into()),
        ..Resource::default()
    })
}

fn patient(rng: &mut Rng) -> String {
    format!(
        r#"{{"id":"P-{:06}","name":"Alex Testpatient","dob":"19{:02}-0{}-1{}","mrn":"MRN-{:08}","address":{{"city":"Springfield","zip":"00000"}}}}"#,
        rng.below(1_000_000),
        rng.below(100),
        1 + rng.below(9),
        rng.below(10),
        rng.below(100_000_000),
    )
}

/// A logstash-logback-encoder line; the `index % 4` shape decides what the
/// field rules replace (see [`HITS_PER_FOUR`]).
fn structured_line(index: usize, rng: &mut Rng) -> String {
    let head = format!(
        r#"{{"@timestamp":"2024-03-05T10:15:30.{:03}Z","@version":"1","message":"request handled","logger_name":"com.acme.ehr.web.RequestLogger","thread_name":"http-nio-8080-exec-{}","level":"INFO","level_value":20000,"traceId":"{:016x}{:016x}","spanId":"{:016x}","service":{{"name":"ehr-gateway","version":"2.7.1"}}"#,
        index % 1000,
        1 + rng.below(10),
        rng.next(),
        rng.next(),
        rng.next(),
    );
    match index % 4 {
        // patient, ssn, email: 3
        0 => format!(
            r#"{head},"patient":{},"ssn":"987-65-43{:02}","email":"alex.{}@patients.example","claim_id":"CLM-{:08}"}}"#,
            patient(rng),
            rng.below(100),
            rng.below(1000),
            rng.below(100_000_000),
        ),
        // encounter.patient: 1
        1 => format!(
            r#"{head},"encounter":{{"id":"ENC-{:08}","ward":"4B","status":"in-progress","patient":{}}}}}"#,
            rng.below(100_000_000),
            patient(rng),
        ),
        // claim.subscriber.name, claim.subscriber.dob, claim.patient: 3
        2 => format!(
            r#"{head},"claim":{{"id":"CLM-{:08}","subscriber":{{"name":"Jordan Testpatient","dob":"1970-01-01","plan":"gold"}},"patient":{},"lines":[{{"code":"99213","amount":120.5}},{{"code":"80053","amount":42.0}}]}}}}"#,
            rng.below(100_000_000),
            patient(rng),
        ),
        // fhir.entry[].resource.patient, twice (arrays are transparent): 2
        _ => format!(
            r#"{head},"fhir":{{"type":"searchset","entry":[{{"resource":{{"resourceType":"Encounter","status":"finished","patient":{}}}}},{{"resource":{{"resourceType":"Encounter","status":"planned","patient":{}}}}}]}}}}"#,
            patient(rng),
            patient(rng),
        ),
    }
}

fn text_line(index: usize, rng: &mut Rng) -> String {
    if index.is_multiple_of(2) {
        format!(
            "2024-03-05T10:15:30.{:03}Z  INFO 1 --- [ehr-gateway] [nio-8080-exec-{}] c.a.ehr.web.AppointmentController        : Appointment APT-{:08} booked for P-{:06} (ward 4B)",
            index % 1000,
            1 + rng.below(10),
            rng.below(100_000_000),
            rng.below(1_000_000),
        )
    } else {
        format!(
            r#"10.42.{}.{} - - [05/Mar/2024:10:15:30 +0000] "GET /fhir/Observation?patient=P-{:06}&code=718-7 HTTP/1.1" 200 {} "-" "okhttp/4.12.0" {}ms"#,
            rng.below(8),
            2 + rng.below(250),
            rng.below(1_000_000),
            rng.below(40_000),
            rng.below(1_500),
        )
    }
}

/// One batch of assembled lines, as the assembler hands them on.
fn assembled(line: impl Fn(usize, &mut Rng) -> String) -> Vec<AssembledLine> {
    let mut rng = Rng(0x5eed_5ca1_ab1e_f00d);
    let timestamp = "2024-03-05T10:15:30.123456789Z".parse().ok();
    (0..BATCH)
        .map(|i| AssembledLine {
            start_offset: i as u64 * 300,
            timestamp,
            stream: Some(Stream::Stdout),
            bytes: line(i, &mut rng).into_bytes(),
            truncated: false,
            malformed: false,
        })
        .collect()
}

fn build(lines: Vec<AssembledLine>, resource: &Arc<Resource>) -> Vec<LogRecord> {
    lines
        .into_iter()
        .map(|line| build_record(line, resource).record)
        .collect()
}

fn count_replaced(value: &Value) -> usize {
    match value {
        Value::String(text) if text == REPLACEMENT => 1,
        Value::Object(object) => object.values().map(count_replaced).sum(),
        Value::Array(items) => items.iter().map(count_replaced).sum(),
        _ => 0,
    }
}

fn replaced_in(records: &[Redacted<LogRecord>]) -> usize {
    records
        .iter()
        .map(|r| r.fields.values().map(count_replaced).sum::<usize>())
        .sum()
}

fn encode(records: &[Redacted<LogRecord>], out: &mut Vec<u8>, text: bool) {
    out.clear();
    for record in records {
        let view = EcsView::new(record);
        if text {
            view.write_text(out);
        } else {
            view.write_json(out);
        }
    }
}

/// What an encoded batch must hold: one line per record, `replaced` values.
fn check_encoded(out: &[u8], replaced: usize, what: &str) {
    let lines = memchr::memchr_iter(b'\n', out).count();
    assert_eq!(lines, BATCH, "{what}: one line per record");
    let needle = format!("\"{REPLACEMENT}\"");
    let found = memchr::memmem::find_iter(out, needle.as_bytes()).count();
    assert_eq!(found, replaced, "{what}: replaced values in the output");
}

fn stages(c: &mut Criterion) {
    let resource = resource();
    let redactor = Redactor::builtin();
    let structured_lines = assembled(structured_line);
    let text_lines = assembled(text_line);
    let expected_hits = BATCH / 4 * HITS_PER_FOUR;
    let bytes_in = |lines: &[AssembledLine]| lines.iter().map(|l| l.bytes.len() as u64).sum();

    // build_record: the JSON parse that turns a line into fields.
    let mut group = c.benchmark_group("build_record");
    for (name, lines, structured) in [
        ("structured", &structured_lines, true),
        ("text", &text_lines, false),
    ] {
        let records = build(lines.clone(), &resource);
        assert!(
            records
                .iter()
                .all(|r| r.message.is_none() == structured && r.fields.is_empty() != structured),
            "{name}: every line parsed as {}",
            if structured { "JSON" } else { "text" }
        );
        group.throughput(Throughput::Bytes(bytes_in(lines)));
        group.bench_function(name, |b| {
            b.iter_batched(
                || lines.clone(),
                |lines| {
                    let records = build(lines, &resource);
                    assert_eq!(records.len(), BATCH);
                    records
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    let structured = build(structured_lines, &resource);
    let text = build(text_lines, &resource);

    // redact_batch: the built-in pack over a batch.
    let mut group = c.benchmark_group("redact_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("structured", |b| {
        b.iter_batched(
            || structured.clone(),
            |batch| {
                let redacted = redactor.redact_batch(batch);
                assert_eq!(replaced_in(&redacted), expected_hits, "replaced values");
                redacted
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("text", |b| {
        b.iter_batched(
            || text.clone(),
            |batch| {
                let redacted = redactor.redact_batch(batch);
                let kept = redacted
                    .iter()
                    .zip(&text)
                    .all(|(after, before)| after.message == before.message);
                assert!(kept, "text without PHI is left as it was");
                redacted
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    // ecs_encode: what the stdout sink writes, per format.
    let structured = redactor.redact_batch(structured);
    let text = redactor.redact_batch(text);
    let mut group = c.benchmark_group("ecs_encode");
    let mut out = Vec::with_capacity(4 << 20);
    for (name, records, replaced) in [
        ("structured", &structured, expected_hits),
        ("text", &text, 0),
    ] {
        for (format, as_text) in [("json", false), ("text", true)] {
            let what = format!("{name} records as {format}");
            encode(records, &mut out, as_text);
            check_encoded(&out, replaced, &what);
            let encoded = out.len();
            group.throughput(Throughput::Bytes(encoded as u64));
            group.bench_function(format!("{name}/{format}"), |b| {
                b.iter(|| {
                    encode(records, &mut out, as_text);
                    assert_eq!(out.len(), encoded, "{what}: same bytes every time");
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
