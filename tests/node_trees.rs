//! The real binary on temp dirs laid out like a Kubernetes node and a
//! docker-compose host: records carry the right metadata, and PHI in
//! structured fields is redacted before it reaches stdout.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

fn find<'a>(records: &'a [Value], needle: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["message"].as_str().is_some_and(|m| m.contains(needle)))
        .unwrap_or_else(|| panic!("no record with {needle:?} in {records:#?}"))
}

#[test]
fn cri_tree_records_carry_pod_metadata_and_are_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let log = cri_log(
        tmp.path(),
        "cardiology-prod",
        "patient-service-7d9f8b6c4-x2x9z",
        "0b6f4a7e-2c1d-4a57-9a3e-5f0c6d2b1a90",
        "patient-service",
    );
    let mut text = String::new();
    text += &cri_line(
        "stdout",
        "F",
        "2024-05-06 07:08:09.123  INFO 1 --- [main] c.a.PatientApp : started seq=0",
    );
    text += &cri_line(
        "stdout",
        "P",
        "{\"message\":\"lookup seq=1\",\"level\":\"INFO\",",
    );
    text += &cri_line("stderr", "F", "stderr line seq=2");
    text += &cri_line(
        "stdout",
        "F",
        "\"patient\":{\"name\":\"Jane Roe\",\"ssn\":\"900-00-0001\"},\"service.name\":\"patient-service\",\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\"}",
    );
    append(&log, &text);
    let data = tmp.path().join("data");
    let config = test_config(
        tmp.path(),
        &[format!("{}/var/log/pods/*/*/*.log", tmp.path().display())],
        &data,
        "",
    );
    let agent = Agent::with_config(&config);
    agent.wait_for(Duration::from_secs(20), "3 records", |r| r.len() >= 3);
    let records = agent.records();

    let started = find(&records, "seq=0");
    assert_eq!(started["orchestrator.namespace"], "cardiology-prod");
    assert_eq!(
        started["orchestrator.resource.name"],
        "patient-service-7d9f8b6c4-x2x9z"
    );
    assert_eq!(
        started["kubernetes.pod.uid"],
        "0b6f4a7e-2c1d-4a57-9a3e-5f0c6d2b1a90"
    );
    assert_eq!(started["container.name"], "patient-service");
    assert_eq!(started["kubernetes.container.restart_count"], 0);
    assert_eq!(started["service.name"], "patient-service");
    assert_eq!(started["tenant.id"], "cardiology-prod");
    assert_eq!(started["log.level"], "info");
    assert_eq!(started["stream"], "stdout");
    assert_eq!(started["@timestamp"], "2024-05-06T07:08:09.123456789Z");
    assert_eq!(started["log.file.path"], log.to_str().unwrap());

    // The partial CRI line was joined across the interleaved stderr line,
    // parsed as JSON, and its PHI redacted.
    let lookup = find(&records, "seq=1");
    assert_eq!(lookup["patient"], "[REDACTED]");
    assert_eq!(lookup["service.name"], "patient-service");
    assert_eq!(lookup["trace.id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(lookup["log.level"], "info");
    let raw = serde_json::to_string(&records).unwrap();
    assert!(
        !raw.contains("900-00-0001") && !raw.contains("Jane Roe"),
        "PHI reached stdout"
    );

    assert_eq!(find(&records, "seq=2")["stream"], "stderr");
    let (status, _, _) = agent.terminate();
    assert!(status.success());
}

#[test]
fn docker_tree_records_carry_container_and_compose_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
    let log = docker_log(
        tmp.path(),
        id,
        "clinic-billing-service-1",
        "registry.example.org/billing:1.4.2",
        &[
            ("com.docker.compose.project", "clinic"),
            ("com.docker.compose.service", "billing-service"),
        ],
    );
    let mut text = String::new();
    text += &docker_line("stdout", "invoice created seq=0\n");
    // A partial line: no trailing newline in the first part.
    text += &docker_line("stdout", "{\"message\":\"claim seq=1\",\"email\":");
    text += &docker_line("stdout", "\"jane.roe@example.org\",\"level\":\"warn\"}\n");
    append(&log, &text);
    let data = tmp.path().join("data");
    let config = test_config(
        tmp.path(),
        &[format!(
            "{}/var/lib/docker/containers/*/*-json.log",
            tmp.path().display()
        )],
        &data,
        "",
    );
    let agent = Agent::with_config(&config);
    agent.wait_for(Duration::from_secs(20), "2 records", |r| r.len() >= 2);
    let records = agent.records();
    let invoice = find(&records, "seq=0");
    assert_eq!(invoice["container.id"], id);
    assert_eq!(invoice["container.name"], "clinic-billing-service-1");
    assert_eq!(
        invoice["container.image.name"],
        "registry.example.org/billing:1.4.2"
    );
    assert_eq!(invoice["service.name"], "billing-service");
    assert_eq!(invoice["tenant.id"], "clinic");
    assert_eq!(
        invoice["container.labels"]["com.docker.compose.project"],
        "clinic"
    );
    let claim = find(&records, "seq=1");
    assert_eq!(claim["email"], "[REDACTED]");
    assert_eq!(claim["log.level"], "warn");
    assert_eq!(
        records.len(),
        2,
        "the partial line is one record: {records:#?}"
    );
    let (status, _, _) = agent.terminate();
    assert!(status.success());
}

#[test]
fn health_and_metrics_are_served() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    append(&log, "hello seq=0\nworld seq=1\n");
    let config = dir_config(tmp.path(), "");
    let agent = Agent::with_config(&config);
    agent.wait_ready();
    agent.wait_for(Duration::from_secs(20), "2 records", |r| r.len() >= 2);
    assert_eq!(agent.get("/health/live").unwrap().0, 200);
    assert_eq!(agent.get("/health/ready").unwrap().0, 200);
    assert_eq!(agent.get("/nope").unwrap().0, 404);
    // Counters are updated after the write is acknowledged.
    agent.wait_metric("wardwatch_sink_records_sent_total{sink=\"stdout\"}", |v| {
        v >= 2.0
    });
    let metrics = agent.metrics();
    assert_eq!(metrics["wardwatch_logs_lines_read_total"], 2.0);
    assert_eq!(metrics["wardwatch_logs_bytes_read_total"], 24.0);
    assert!(metrics.contains_key("wardwatch_logs_checkpoint_lag_bytes"));
    assert!(metrics.contains_key("wardwatch_pipeline_queue_depth_batches{stage=\"redact\"}"));
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
}
