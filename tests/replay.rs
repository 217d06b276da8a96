//! The replay input, end to end through the real binary: exchanges read
//! from a file come out of the stdout sink redacted, and their RED
//! histograms are served on `/metrics` (what users try dashboards with).

mod support;

use std::time::Duration;

use support::{dir_config, Agent};

fn exchange_line(path: &str, status: u16, millis: u64, second: u32) -> String {
    format!(
        r#"{{"@timestamp":"2026-11-22T09:30:{second:02}Z","span.kind":"server","http.request.method":"GET","url.path":"{path}","http.response.status_code":{status},"event.duration":{nanos},"server.address":"10.0.0.7","server.port":8080,"process.pid":7,"service.name":"patient-service","orchestrator.namespace":"clinical","host.name":"node-a"}}"#,
        nanos = millis * 1_000_000
    )
}

#[test]
fn replayed_exchanges_are_redacted_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let replay = dir.path().join("exchanges.ndjson");
    let lines = [
        exchange_line("/api/v1/patients/123-45-6789/records", 200, 40, 1),
        exchange_line("/api/v1/patients/234-56-7891/records", 200, 300, 2),
        exchange_line("/api/v1/patients/42/records", 503, 1500, 3),
    ];
    std::fs::write(&replay, lines.join("\n") + "\n").unwrap();
    let config = dir_config(
        dir.path(),
        "metrics:\n  external_labels: {cluster: test-cluster}\n",
    );
    let config_text = std::fs::read_to_string(&config).unwrap().replace(
        "sources:\n",
        &format!("sources:\n  replay:\n    path: '{}'\n", replay.display()),
    );
    std::fs::write(&config, config_text).unwrap();

    let agent = Agent::with_config(&config);
    agent.wait_ready();
    agent.wait_for(Duration::from_secs(15), "3 exchanges", |records| {
        records
            .iter()
            .filter(|r| r["event.dataset"] == "wardwatch.http")
            .count()
            == 3
    });
    let records = agent.records();
    let paths: Vec<&str> = records
        .iter()
        .filter_map(|r| r["url.path"].as_str())
        .collect();
    assert_eq!(paths.len(), 3);
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("6789") && !p.contains("7891")),
        "{paths:?}"
    );

    let route = r#"http_route="/api/v1/patients/{id}/records""#;
    let count = |status: &str| {
        agent
            .metrics()
            .iter()
            .filter(|(series, _)| {
                series.starts_with("http_server_request_duration_seconds_count{")
                    && series.contains(route)
                    && series.contains(&format!("http_response_status_code=\"{status}\""))
                    && series.contains(r#"cluster="test-cluster""#)
            })
            .map(|(_, v)| *v)
            .sum::<f64>()
    };
    assert_eq!(count("200"), 2.0);
    assert_eq!(count("503"), 1.0);
    let (_, body) = agent.get("/metrics").unwrap();
    assert!(!body.contains("6789"), "no PHI on /metrics");
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("replay finished"), "{stderr}");
}

#[test]
fn a_bad_replay_line_is_reported_by_number_without_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let replay = dir.path().join("exchanges.ndjson");
    let good = exchange_line("/health", 200, 1, 1);
    std::fs::write(&replay, format!("{good}\n{{\"ssn\": \"123-45-6789\"\n")).unwrap();
    let config = dir_config(dir.path(), "");
    let config_text = std::fs::read_to_string(&config).unwrap().replace(
        "sources:\n",
        &format!("sources:\n  replay:\n    path: '{}'\n", replay.display()),
    );
    std::fs::write(&config, config_text).unwrap();
    let agent = Agent::with_config(&config);
    agent.wait_for(Duration::from_secs(15), "1 exchange", |records| {
        records.iter().any(|r| r["url.path"] == "/health")
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !agent.stderr().contains("replay stopped") {
        assert!(std::time::Instant::now() < deadline, "{}", agent.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, _, stderr) = agent.terminate();
    assert!(stderr.contains("line 2: not a JSON object"), "{stderr}");
    assert!(!stderr.contains("6789"), "{stderr}");
}
