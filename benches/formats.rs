//! Decode + assemble throughput for each log file format.
//!
//! The corpus is synthetic healthcare service output (fake identifiers only):
//! access lines, structured JSON lines, an error with a Java stack trace every
//! 200 events, and a 40 KiB FHIR bundle dump every 500 events, which Docker and
//! CRI runtimes cut into 16 KiB parts. Every event must come out as exactly
//! one record, stack traces folded, so each run checks its answer.

use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wardwatch::event::Stream;
use wardwatch::sources::logs::assemble::{Assembler, AssemblerConfig};
use wardwatch::sources::logs::format::Format;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const EVENTS: usize = 20_000;
/// Where Docker's json-file driver and containerd cut long lines.
const RUNTIME_LINE_LIMIT: usize = 16 * 1024;

/// One thing a service logged: a line, or several (a stack trace).
struct Event {
    time: DateTime<Utc>,
    stream: Stream,
    lines: Vec<String>,
}

const SERVICES: &[&str] = &[
    "appointment-service",
    "lab-results",
    "ehr-gateway",
    "pharmacy-orders",
];
const ROUTES: &[&str] = &[
    "GET /fhir/Patient/{id}",
    "GET /fhir/Observation?patient={id}&code=718-7",
    "POST /api/v1/appointments",
    "PUT /api/v1/prescriptions/{id}",
    "GET /fhir/Encounter?subject=Patient/{id}",
];

fn events() -> Vec<Event> {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let start: DateTime<Utc> = "2024-03-05T10:15:30Z".parse().unwrap();
    (0..EVENTS)
        .map(|i| {
            let time = start + Duration::microseconds(i as i64 * 1_337);
            let stamp = time.to_rfc3339_opts(SecondsFormat::Millis, true);
            let service = SERVICES[rng.below(SERVICES.len() as u64) as usize];
            let patient = format!("P-{:06}", rng.below(1_000_000));
            if i % 200 == 199 {
                return Event {
                    time,
                    stream: Stream::Stderr,
                    lines: stack_trace(&stamp, service, &patient),
                };
            }
            let line = if i % 500 == 0 {
                bundle_dump(&stamp, &patient)
            } else if i % 3 == 0 {
                format!(
                    r#"{{"ts":"{stamp}","level":"info","service":"{service}","msg":"result published","order_id":"ORD-{:08}","patient_ref":"Patient/{patient}","loinc":"718-7","latency_ms":{}}}"#,
                    rng.below(100_000_000),
                    rng.below(500)
                )
            } else {
                let route = ROUTES[rng.below(ROUTES.len() as u64) as usize].replace("{id}", &patient);
                format!(
                    "{stamp} INFO  [{service}] {route} status={} duration_ms={} trace_id={:032x}",
                    [200, 200, 200, 201, 404][rng.below(5) as usize],
                    rng.below(900),
                    rng.next() as u128 * rng.next() as u128
                )
            };
            Event {
                time,
                stream: Stream::Stdout,
                lines: vec![line],
            }
        })
        .collect()
}

fn stack_trace(stamp: &str, service: &str, patient: &str) -> Vec<String> {
    let mut lines = vec![
        format!(
            "{stamp} ERROR [http-nio-8080-exec-7] c.a.e.{service} - lookup failed for {patient}"
        ),
        format!("com.acme.ehr.PatientNotFoundException: patient {patient} not found"),
    ];
    for frame in [
        "com.acme.ehr.PatientRepository.load(PatientRepository.java:88)",
        "com.acme.ehr.PatientService.find(PatientService.java:42)",
        "com.acme.ehr.PatientController.get(PatientController.java:17)",
        "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)",
        "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
    ] {
        lines.push(format!("\tat {frame}"));
    }
    lines.push("Caused by: java.sql.SQLTimeoutException: query timed out after 5000 ms".into());
    lines.push("\tat org.postgresql.jdbc.PgStatement.execute(PgStatement.java:401)".into());
    lines.push("\tat com.zaxxer.hikari.pool.ProxyStatement.execute(ProxyStatement.java:94)".into());
    lines.push("\t... 12 more".into());
    lines
}

fn bundle_dump(stamp: &str, patient: &str) -> String {
    let mut line = format!(
        r#"{stamp} DEBUG [ehr-gateway] bundle {{"resourceType":"Bundle","type":"searchset","entry":["#
    );
    let mut n = 0;
    while line.len() < 40 * 1024 {
        line.push_str(&format!(
            r#"{{"resource":{{"resourceType":"Observation","id":"obs-{n}","subject":{{"reference":"Patient/{patient}"}},"code":{{"coding":[{{"system":"http://loinc.org","code":"718-7"}}]}},"valueQuantity":{{"value":13.{n},"unit":"g/dL"}}}}}},"#
        ));
        n += 1;
    }
    line.push_str("]}");
    line
}

/// `text` cut where a runtime would: at most 16 KiB per part.
fn parts(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > RUNTIME_LINE_LIMIT {
        let (part, tail) = rest.split_at(RUNTIME_LINE_LIMIT);
        parts.push(part);
        rest = tail;
    }
    parts.push(rest);
    parts
}

fn file(format: Format, events: &[Event]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for event in events {
        let time = event.time.to_rfc3339_opts(SecondsFormat::Nanos, true);
        let stream = event.stream.as_str();
        for line in &event.lines {
            match format {
                Format::Plain => lines.push(line.clone().into_bytes()),
                Format::Docker => {
                    let parts = parts(line);
                    let last = parts.len() - 1;
                    for (i, part) in parts.into_iter().enumerate() {
                        let log = if i == last {
                            format!("{part}\n")
                        } else {
                            part.to_owned()
                        };
                        let entry =
                            serde_json::json!({ "log": log, "stream": stream, "time": time });
                        lines.push(entry.to_string().into_bytes());
                    }
                }
                Format::Cri => {
                    let parts = parts(line);
                    let last = parts.len() - 1;
                    for (i, part) in parts.into_iter().enumerate() {
                        let tag = if i == last { 'F' } else { 'P' };
                        lines.push(format!("{time} {stream} {tag} {part}").into_bytes());
                    }
                }
            }
        }
    }
    lines
}

/// Pushes every line of a file through a fresh assembler; the record count.
fn assemble(lines: &[Vec<u8>]) -> usize {
    let mut assembler = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::with_capacity(4);
    let now = Instant::now();
    let mut offset = 0;
    let mut records = 0;
    for line in lines {
        assembler.push(line, offset, false, now, &mut out);
        offset += line.len() as u64 + 1;
        records += out.len();
        out.clear();
    }
    assembler.flush_all(&mut out);
    records + out.len()
}

fn formats(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("decode_assemble");
    for format in [Format::Docker, Format::Cri, Format::Plain] {
        let lines = file(format, &events);
        let bytes: usize = lines.iter().map(|line| line.len() + 1).sum();
        assert_eq!(Format::detect(&lines[0]), format);
        assert_eq!(assemble(&lines), EVENTS, "{format:?}: one record per event");
        group.throughput(Throughput::Bytes(bytes as u64));
        let id = BenchmarkId::new(format.as_str(), format!("{} lines", lines.len()));
        group.bench_with_input(id, &lines, |b, lines| {
            b.iter(|| assert_eq!(assemble(lines), EVENTS));
        });
    }
    group.finish();
}

criterion_group!(benches, formats);
criterion_main!(benches);
