//! OTLP export against in-process receivers: opentelemetry-proto's own gRPC
//! `TraceService` server, and an OTLP/HTTP endpoint that decodes the
//! protobuf body. A two-service call chain must arrive with its names,
//! kinds, parent links, attributes, exact timestamps and one ResourceSpans
//! per service; retryable failures are retried, others are not.

mod support;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use chrono::TimeZone;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;
use wardwatch::derive::span::{AttributeValue, Span};
use wardwatch::event::{Resource, Role};
use wardwatch::sinks::otlp::{OtlpConfig, OtlpExporter, Protocol};

use support::otlp_receiver::{grpc_receiver, Received};

async fn http_receiver(script: Vec<(u16, Option<&'static str>)>) -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let log = Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (log, script) = (Arc::clone(&log), Arc::clone(&script));
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let (log, script) = (Arc::clone(&log), Arc::clone(&script));
                    async move {
                        assert_eq!(request.uri().path(), "/v1/traces");
                        assert_eq!(request.headers()["content-type"], "application/x-protobuf");
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        log.lock()
                            .unwrap()
                            .push(ExportTraceServiceRequest::decode(body).unwrap());
                        let (status, after) =
                            script.lock().unwrap().pop_front().unwrap_or((200, None));
                        let mut response = hyper::Response::builder().status(status);
                        if let Some(after) = after {
                            response = response.header("retry-after", after);
                        }
                        let body = ExportTraceServiceResponse::default().encode_to_vec();
                        Ok::<_, Infallible>(response.body(Full::new(Bytes::from(body))).unwrap())
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{address}"), received)
}

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource {
        host_name: "node-a".into(),
        namespace: Some("clinical".into()),
        pod_name: Some(format!("{service}-7d9f8b6c5-x2k4q")),
        container_id: Some("c".repeat(64)),
        service_name: Some(service.into()),
        ..Resource::default()
    })
}

fn span(
    name: &str,
    kind: Role,
    resource: &Arc<Resource>,
    span_id: u8,
    parent: Option<u8>,
    start_ms: i64,
    end_ms: i64,
) -> Span {
    Span {
        trace_id: [7; 16],
        span_id: [span_id; 8],
        parent_span_id: parent.map(|p| [p; 8]),
        name: name.into(),
        route: "/r".into(),
        kind,
        start: chrono::Utc.timestamp_millis_opt(start_ms).unwrap(),
        end: chrono::Utc.timestamp_millis_opt(end_ms).unwrap(),
        is_error: kind == Role::Client,
        attributes: vec![
            ("http.request.method", AttributeValue::Str("GET".into())),
            ("http.response.status_code", AttributeValue::Int(200)),
        ],
        resource: Arc::clone(resource),
    }
}

/// A server span of appointment-service, its client call to billing, and
/// billing's server span for it.
fn chain() -> Vec<Span> {
    let (a, b) = (resource("appointment-service"), resource("billing-service"));
    vec![
        span(
            "GET /appointments/{id}",
            Role::Server,
            &a,
            1,
            None,
            1_000,
            1_050,
        ),
        span(
            "GET /invoices/{id}",
            Role::Client,
            &a,
            2,
            Some(1),
            1_010,
            1_040,
        ),
        span(
            "GET /invoices/{id}",
            Role::Server,
            &b,
            3,
            Some(2),
            1_015,
            1_035,
        ),
    ]
}

fn exporter(endpoint: String, protocol: Protocol) -> OtlpExporter {
    let config = OtlpConfig {
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        resource_attributes: [("k8s.cluster.name".to_owned(), "eu-west-1-prod".to_owned())].into(),
        ..Default::default()
    };
    OtlpExporter::new(config.resolve(&|_| None)).unwrap()
}

fn attribute<'a>(
    attributes: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<&'a Any> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn check_chain(request: &ExportTraceServiceRequest) {
    assert_eq!(
        request.resource_spans.len(),
        2,
        "one ResourceSpans per service"
    );
    let by_service = |service: &str| {
        request
            .resource_spans
            .iter()
            .find(|rs| {
                attribute(&rs.resource.as_ref().unwrap().attributes, "service.name")
                    == Some(&Any::StringValue(service.into()))
            })
            .unwrap()
    };
    let a = by_service("appointment-service");
    let attrs = &a.resource.as_ref().unwrap().attributes;
    assert_eq!(
        attribute(attrs, "k8s.namespace.name"),
        Some(&Any::StringValue("clinical".into()))
    );
    assert_eq!(
        attribute(attrs, "k8s.cluster.name"),
        Some(&Any::StringValue("eu-west-1-prod".into()))
    );
    assert_eq!(
        attribute(attrs, "host.name"),
        Some(&Any::StringValue("node-a".into()))
    );
    let spans = &a.scope_spans[0].spans;
    assert_eq!(a.scope_spans[0].scope.as_ref().unwrap().name, "wardwatch");
    assert_eq!(spans.len(), 2);
    let server = &spans[0];
    assert_eq!(server.kind, 2, "SERVER");
    assert_eq!(server.start_time_unix_nano, 1_000_000_000);
    assert_eq!(server.end_time_unix_nano, 1_050_000_000);
    assert!(server.parent_span_id.is_empty());
    let client = &spans[1];
    assert_eq!(client.kind, 3, "CLIENT");
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(client.status.as_ref().unwrap().code, 2, "ERROR");
    let b = by_service("billing-service");
    let billing = &b.scope_spans[0].spans[0];
    assert_eq!(
        billing.parent_span_id, client.span_id,
        "linked across services"
    );
    assert_eq!(billing.trace_id, server.trace_id);
    assert_eq!(billing.name, "GET /invoices/{id}");
    assert_eq!(
        attribute(&billing.attributes, "http.response.status_code"),
        Some(&Any::IntValue(200))
    );
}

#[tokio::test]
async fn a_call_chain_arrives_whole_over_grpc() {
    let (endpoint, received) = grpc_receiver(vec![]).await;
    assert!(exporter(endpoint, Protocol::Grpc).export(&chain()).await);
    check_chain(&received.lock().unwrap()[0]);
}

#[tokio::test]
async fn a_call_chain_arrives_whole_over_http() {
    let (endpoint, received) = http_receiver(vec![]).await;
    assert!(
        exporter(endpoint, Protocol::HttpProtobuf)
            .export(&chain())
            .await
    );
    check_chain(&received.lock().unwrap()[0]);
}

#[tokio::test]
async fn retryable_failures_are_retried_and_others_are_not() {
    let (endpoint, received) = grpc_receiver(vec![tonic::Code::Unavailable]).await;
    assert!(exporter(endpoint, Protocol::Grpc).export(&chain()).await);
    assert_eq!(received.lock().unwrap().len(), 2);

    let (endpoint, received) = grpc_receiver(vec![tonic::Code::InvalidArgument]).await;
    assert!(!exporter(endpoint, Protocol::Grpc).export(&chain()).await);
    assert_eq!(received.lock().unwrap().len(), 1, "not retried");

    let (endpoint, received) = http_receiver(vec![(503, Some("1"))]).await;
    let started = std::time::Instant::now();
    assert!(
        exporter(endpoint, Protocol::HttpProtobuf)
            .export(&chain())
            .await
    );
    assert_eq!(received.lock().unwrap().len(), 2);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(990),
        "Retry-After waited"
    );

    let (endpoint, received) = http_receiver(vec![(400, None)]).await;
    assert!(
        !exporter(endpoint, Protocol::HttpProtobuf)
            .export(&chain())
            .await
    );
    assert_eq!(received.lock().unwrap().len(), 1);
}
