use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::*;
use crate::event::Resource;
use crate::redact::Redactor;

fn exchange(
    role: Role,
    method: &str,
    path: &str,
    status: u16,
    millis: u64,
) -> Redacted<HttpExchange> {
    Redactor::builtin().redact_exchange(HttpExchange {
        role,
        method: method.into(),
        path: path.into(),
        query: None,
        status,
        protocol_version: "1.1",
        request_headers: vec![("host".into(), "billing-service:8080".into())],
        start: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        duration: Duration::from_millis(millis),
        server: Some("10.0.0.7:8080".parse().unwrap()),
        client: Some("10.0.0.9:40000".parse().unwrap()),
        pid: 1,
        tid: 1,
        cgroup_id: 1,
        request_body_bytes: 0,
        response_body_bytes: 0,
        resource: Arc::new(Resource {
            service_name: Some("appointment-service".into()),
            namespace: Some("clinical".into()),
            ..Resource::default()
        }),
    })
}

fn all(metrics: &RedMetrics) -> Vec<Sample> {
    let mut out = Vec::new();
    metrics.samples(|sample, _| out.push(sample));
    out
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(n, v)| s.labels.iter().any(|(ln, lv)| ln == n && lv == v))
        })
        .map(|s| s.value)
}

#[test]
fn buckets_are_the_advised_bounds_with_the_slo_bounds_merged_in() {
    for slo in [0.05, 0.1, 0.2, 0.5, 1.0, 2.0] {
        assert!(BUCKETS.contains(&slo), "{slo}");
    }
    assert!(BUCKETS.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn otel_histograms_count_rate_errors_and_duration() {
    let mut metrics = RedMetrics::new(&RedConfig::default());
    metrics.observe(&exchange(
        Role::Server,
        "GET",
        "/api/v1/patients/123",
        200,
        30,
    ));
    metrics.observe(&exchange(
        Role::Server,
        "GET",
        "/api/v1/patients/456",
        200,
        150,
    ));
    metrics.observe(&exchange(
        Role::Server,
        "GET",
        "/api/v1/patients/789",
        500,
        1200,
    ));
    metrics.observe(&exchange(Role::Client, "BREW", "/pot", 418, 1));
    let samples = all(&metrics);
    let ok = [
        ("http_route", "/api/v1/patients/{id}"),
        ("http_response_status_code", "200"),
        ("service_name", "appointment-service"),
        ("service_namespace", "clinical"),
        ("http_request_method", "GET"),
    ];
    let name = "http_server_request_duration_seconds";
    assert_eq!(value(&samples, &format!("{name}_count"), &ok), Some(2.0));
    let sum = value(&samples, &format!("{name}_sum"), &ok).unwrap();
    assert!((sum - 0.18).abs() < 1e-9, "{sum}");
    let bucket = |le: &str| {
        let mut labels = ok.to_vec();
        labels.push(("le", le));
        value(&samples, &format!("{name}_bucket"), &labels)
    };
    assert_eq!(bucket("0.025"), Some(0.0));
    assert_eq!(bucket("0.05"), Some(1.0));
    assert_eq!(bucket("0.2"), Some(2.0));
    assert_eq!(bucket("1.0"), Some(2.0));
    assert_eq!(bucket("+Inf"), Some(2.0));
    let errors = [("http_response_status_code", "500")];
    assert_eq!(
        value(&samples, &format!("{name}_count"), &errors),
        Some(1.0)
    );
    let other = [("http_request_method", "_OTHER")];
    assert_eq!(
        value(
            &samples,
            "http_client_request_duration_seconds_count",
            &other
        ),
        Some(1.0)
    );
    assert_eq!(metrics.series_count(), 3);
    for sample in &samples {
        let names: Vec<_> = sample.labels.iter().map(|(n, _)| n.clone()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "labels sorted");
        assert!(sample.labels.iter().all(|(_, v)| !v.is_empty()));
        assert!(!sample.labels.iter().any(|(_, v)| v.contains("123")));
    }
}

#[test]
fn spring_naming_matches_micrometer() {
    let mut metrics = RedMetrics::new(&RedConfig {
        naming: Naming::Spring,
        external_labels: BTreeMap::from([("cluster".into(), "eu-west-1".into())]),
        ..RedConfig::default()
    });
    metrics.observe(&exchange(Role::Server, "POST", "/appointments", 503, 20));
    metrics.observe(&exchange(Role::Client, "GET", "/invoices/42", 404, 20));
    let samples = all(&metrics);
    let server = [
        ("application", "appointment-service"),
        ("uri", "/appointments"),
        ("method", "POST"),
        ("status", "503"),
        ("outcome", "SERVER_ERROR"),
        ("cluster", "eu-west-1"),
    ];
    assert_eq!(
        value(&samples, "http_server_requests_seconds_count", &server),
        Some(1.0)
    );
    let client = [
        ("client_name", "billing-service"),
        ("uri", "/invoices/{id}"),
        ("outcome", "CLIENT_ERROR"),
    ];
    assert_eq!(
        value(&samples, "http_client_requests_seconds_count", &client),
        Some(1.0)
    );
}

#[test]
fn phi_in_a_path_never_reaches_a_label() {
    let mut metrics = RedMetrics::new(&RedConfig::default());
    metrics.observe(&exchange(
        Role::Server,
        "GET",
        "/patients/123-45-6789/records",
        200,
        5,
    ));
    metrics.observe(&exchange(
        Role::Server,
        "GET",
        "/members/by-name/Jane-Roe",
        200,
        5,
    ));
    for sample in all(&metrics) {
        for (_, v) in &sample.labels {
            assert!(!v.contains("6789") && !v.contains("Jane"), "{v}");
        }
    }
}

#[test]
fn ended_series_are_handed_back_for_stale_markers() {
    let mut metrics = RedMetrics::new(&RedConfig::default());
    metrics.observe(&exchange(Role::Server, "GET", "/health", 200, 1));
    let updated = Utc
        .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
        .unwrap()
        .timestamp_millis()
        + 1;
    let mut ended = Vec::new();
    metrics.expire(updated, |s| ended.push(s));
    assert!(ended.is_empty(), "not older than the cut-off");
    metrics.expire(updated + 1, |s| ended.push(s));
    assert_eq!(ended.len(), BUCKETS.len() + 3);
    assert_eq!(metrics.series_count(), 0);
}

#[test]
fn text_exposition_is_parseable() {
    let mut metrics = RedMetrics::new(&RedConfig::default());
    metrics.observe(&exchange(Role::Server, "GET", "/health", 200, 1));
    let mut text = String::new();
    metrics.write_text(&mut text);
    assert!(
        text.starts_with("# TYPE http_server_request_duration_seconds histogram\n"),
        "{text}"
    );
    assert!(text.contains("http_server_request_duration_seconds_bucket{http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/health\",le=\"0.005\",service_name=\"appointment-service\",service_namespace=\"clinical\"} 1\n"), "{text}");
    assert!(text.contains("http_server_request_duration_seconds_count{"));
    assert_eq!(text.matches("# TYPE").count(), 1);
}

#[test]
fn host_ports_are_cut() {
    assert_eq!(host_without_port("billing:8080"), "billing");
    assert_eq!(host_without_port("billing"), "billing");
    assert_eq!(host_without_port("[::1]:80"), "[::1]");
    assert_eq!(host_without_port("::1"), "::1");
}
