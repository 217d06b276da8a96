//! Throughput of what is derived from HTTP exchanges, per stage, on batches
//! of 1,000 redacted exchanges over 50 services and 20 routes each:
//!
//! - `red_observe`: exchanges aggregated into RED histograms;
//! - `remote_write_encode`: every series of those histograms as a
//!   remote-write request (labels sorted, protobuf, snappy);
//! - `spans_build` and `otlp_encode`: spans built from the exchanges, and
//!   an OTLP export request of them encoded;
//! - `otlp_export_grpc` and `otlp_export_http`: those spans exported end to
//!   end, over loopback, to an in-process receiver (opentelemetry-proto's
//!   gRPC server for gRPC; a hyper endpoint that decodes the body for
//!   OTLP/HTTP), waiting for each answer.
//!
//! Each checks its answer (counts, series, spans) before it is timed.
//!
//! ```text
//! cargo bench --bench traffic
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use wardwatch::derive::red::{RedConfig, RedMetrics};
use wardwatch::derive::route::{RouteConfig, Router};
use wardwatch::derive::span::SpanBuilder;
use wardwatch::event::{HttpExchange, Resource, Role};
use wardwatch::redact::{Redacted, Redactor};
use wardwatch::sinks::otlp::{export_request, OtlpConfig, OtlpExporter, Outcome, Protocol};
use wardwatch::sinks::remote_write::{encode, series};

const BATCH: usize = 1_000;

#[path = "../tests/support/otlp_receiver.rs"]
mod otlp_receiver;

fn exchanges() -> Vec<Redacted<HttpExchange>> {
    let redactor = Redactor::builtin();
    let resources: Vec<Arc<Resource>> = (0..50)
        .map(|i| {
            Arc::new(Resource {
                host_name: "node-a".into(),
                namespace: Some("clinical".into()),
                service_name: Some(format!("service-{i}")),
                ..Resource::default()
            })
        })
        .collect();
    (0..BATCH)
        .map(|i| {
            redactor.redact_exchange(HttpExchange {
                role: if i % 3 == 0 {
                    Role::Client
                } else {
                    Role::Server
                },
                method: ["GET", "POST", "PUT"][i % 3].into(),
                path: format!("/api/v1/resource-{}/{}/items", i % 20, 10_000 + i),
                query: None,
                status: [200, 200, 201, 404, 500][i % 5],
                protocol_version: "1.1",
                request_headers: vec![("host".into(), "svc".into())],
                start: Utc::now(),
                duration: Duration::from_micros(200 + (i as u64 * 37) % 900_000),
                server: Some("10.0.0.7:8080".parse().unwrap()),
                client: Some("10.0.0.9:40000".parse().unwrap()),
                pid: 1,
                tid: 1,
                cgroup_id: 1,
                request_body_bytes: 0,
                response_body_bytes: 10,
                resource: Arc::clone(&resources[i % 50]),
            })
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let batch = exchanges();
    let mut group = c.benchmark_group("traffic");
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut metrics = RedMetrics::new(&RedConfig::default());
    for exchange in &batch {
        metrics.observe(exchange);
    }
    let series_count = metrics.series_count();
    assert!(series_count > 100, "{series_count} series");
    group.bench_function("red_observe", |b| {
        b.iter(|| {
            for exchange in &batch {
                metrics.observe(exchange);
            }
        })
    });

    let mut samples = Vec::new();
    metrics.samples(|sample, _| samples.push(sample));
    let sample_count = samples.len();
    assert_eq!(
        sample_count,
        series_count * 19,
        "16 buckets, +Inf, sum, count"
    );
    group.throughput(Throughput::Elements(sample_count as u64));
    group.bench_function("remote_write_encode", |b| {
        b.iter(|| {
            let now = Utc::now().timestamp_millis();
            encode(samples.iter().cloned().map(|s| series(s, now)).collect())
        })
    });

    group.throughput(Throughput::Elements(BATCH as u64));
    let builder = SpanBuilder::default();
    let mut router = Router::new(&RouteConfig::default());
    group.bench_function("spans_build", |b| {
        b.iter(|| {
            batch
                .iter()
                .map(|e| {
                    let service = e.resource.service_name.as_deref().unwrap_or("");
                    let route = router.route(service, &e.path);
                    builder.build(e, &route)
                })
                .collect::<Vec<_>>()
        })
    });
    let spans: Vec<_> = batch
        .iter()
        .map(|e| builder.build(e, "/api/v1/resource/{id}/items"))
        .collect();
    let request = export_request(&spans, &[]);
    assert_eq!(request.resource_spans.len(), 50);
    group.bench_function("otlp_encode", |b| {
        b.iter(|| export_request(&spans, &[]).encode_to_vec())
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for (name, protocol) in [
        ("otlp_export_grpc", Protocol::Grpc),
        ("otlp_export_http", Protocol::HttpProtobuf),
    ] {
        let (endpoint, received) = runtime.block_on(async {
            match protocol {
                Protocol::Grpc => otlp_receiver::grpc_receiver(vec![]).await,
                Protocol::HttpProtobuf => otlp_receiver::http_receiver().await,
            }
        });
        let config = OtlpConfig {
            endpoint: Some(endpoint),
            protocol: Some(protocol),
            max_batch_spans: BATCH,
            max_queue_spans: BATCH,
            ..OtlpConfig::default()
        };
        let mut exporter = OtlpExporter::new(config.resolve(&|_| None)).unwrap();
        assert_eq!(
            runtime.block_on(exporter.export(&spans)),
            Outcome::Exported { rejected: 0 }
        );
        let first = received.lock().unwrap().pop().expect("one request arrived");
        let arrived: usize = first
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert_eq!(arrived, BATCH);
        group.bench_function(name, |b| {
            b.iter(|| {
                let outcome = runtime.block_on(exporter.export(&spans));
                received.lock().unwrap().clear();
                outcome
            })
        });
    }
    group.finish();
}

criterion_group!(traffic, benches);
criterion_main!(traffic);
