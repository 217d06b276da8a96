//! Spans from replayed exchanges, through the real binary: calls a thread
//! made while serving a request arrive at an in-process OTLP receiver as
//! children of that request's span, and every kept span is also one
//! `wardwatch.span` line on stdout.

mod support;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;
use support::otlp_receiver::grpc_receiver;
use support::{dir_config, Agent};

/// One exchange in the stdout sink's shape, on pid 7, thread `tid`,
/// `start_ms` into the second and lasting `millis`.
fn exchange_line(kind: &str, tid: u32, path: &str, start_ms: u32, millis: u64) -> String {
    format!(
        r#"{{"@timestamp":"2026-11-22T09:30:00.{start_ms:03}Z","span.kind":"{kind}","http.request.method":"GET","url.path":"{path}","http.response.status_code":200,"event.duration":{nanos},"process.pid":7,"thread.id":{tid},"service.name":"patient-service","orchestrator.namespace":"clinical","host.name":"node-a"}}"#,
        nanos = millis * 1_000_000
    )
}

/// The agent replaying a request on thread 41 with the two calls it made,
/// and a call of thread 99, exporting to an in-process receiver; `sources`
/// is added under `sources:`. The spans once all four arrived, and the
/// directory the agent's config lives in.
async fn replay_four_spans(sources: &str) -> (tempfile::TempDir, Agent, Vec<Span>) {
    let (endpoint, received) = grpc_receiver(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let replay = dir.path().join("exchanges.ndjson");
    // In the order capture reports them: the calls complete before the
    // request that made them.
    let lines = [
        exchange_line("client", 41, "/api/v1/allergies/123-45-6789", 100, 20),
        exchange_line("client", 41, "/api/v1/coverage/42", 130, 30),
        exchange_line("client", 99, "/api/v1/audit", 110, 5),
        exchange_line("server", 41, "/api/v1/patients/123-45-6789", 50, 200),
    ];
    std::fs::write(&replay, lines.join("\n") + "\n").unwrap();
    let config = dir_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace(
            "sources:\n",
            &format!(
                "sources:\n  replay:\n    path: '{}'\n{sources}",
                replay.display()
            ),
        )
        .replace(
            "sinks:\n",
            &format!("sinks:\n  otlp:\n    endpoint: '{endpoint}'\n    flush_interval_ms: 100\n"),
        );
    std::fs::write(&config, text).unwrap();

    let agent = Agent::with_config(&config);
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans: Vec<Span> = loop {
        let spans: Vec<Span> = received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_spans.iter())
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter().cloned())
            .collect();
        if spans.len() >= 4 || Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(spans.len(), 4, "{spans:#?}\n{}", agent.stderr());
    (dir, agent, spans)
}

fn named<'s>(spans: &'s [Span], name: &str) -> &'s Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_made_while_serving_arrive_as_children_of_the_request() {
    let (_dir, agent, spans) = replay_four_spans("").await;
    let named = |name: &str| named(&spans, name);
    let server = named("GET /api/v1/patients/{id}");
    assert_eq!(server.parent_span_id, Vec::<u8>::new());
    for call in ["GET /api/v1/allergies/{id}", "GET /api/v1/coverage/{id}"] {
        let call = named(call);
        assert_eq!(call.trace_id, server.trace_id, "{}", call.name);
        assert_eq!(call.parent_span_id, server.span_id, "{}", call.name);
    }
    let audit = named("GET /api/v1/audit");
    assert_ne!(audit.trace_id, server.trace_id, "another thread's call");
    assert!(audit.parent_span_id.is_empty());

    agent.wait_for(Duration::from_secs(10), "4 span lines", |records| {
        records
            .iter()
            .filter(|r| r["event.dataset"] == "wardwatch.span")
            .count()
            == 4
    });
    let records = agent.records();
    let lines: Vec<&Value> = records
        .iter()
        .filter(|r| r["event.dataset"] == "wardwatch.span")
        .collect();
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    for call in ["GET /api/v1/allergies/{id}", "GET /api/v1/coverage/{id}"] {
        let line = lines
            .iter()
            .find(|l| l["span"]["name"] == call)
            .unwrap_or_else(|| panic!("no line for {call}: {lines:#?}"));
        assert_eq!(line["span"]["trace_id"], hex(&server.trace_id));
        assert_eq!(line["span"]["parent_span_id"], hex(&server.span_id));
        assert_eq!(line["span"]["kind"], "client");
        assert_eq!(line["service.name"], "patient-service");
    }
    let text = format!("{spans:?}{lines:?}");
    assert!(!text.contains("6789"), "no PHI in spans");
    let (_, body) = agent.get("/metrics").unwrap();
    let nested = body
        .lines()
        .find(|l| l.starts_with("wardwatch_traffic_client_spans_nested_total "))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(nested.ends_with(" 2"), "{nested}");
    assert!(
        body.lines().any(|l| l
            .starts_with("wardwatch_traffic_client_spans_unnested_total{reason=\"stopped\"} 1")),
        "{body}"
    );
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_client_span_wait_nests_nothing() {
    let (_dir, agent, spans) = replay_four_spans("  net:\n    client_span_wait_ms: 0\n").await;
    let server = named(&spans, "GET /api/v1/patients/{id}");
    for call in ["GET /api/v1/allergies/{id}", "GET /api/v1/coverage/{id}"] {
        let call = named(&spans, call);
        assert_ne!(call.trace_id, server.trace_id, "{}", call.name);
        assert!(call.parent_span_id.is_empty(), "{}", call.name);
    }
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
}
