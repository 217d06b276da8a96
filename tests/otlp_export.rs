//! OTLP export against in-process receivers: opentelemetry-proto's own
//! generated gRPC `TraceService` server (what Jaeger and the Collector
//! run), and an OTLP/HTTP endpoint on hyper that decodes the protobuf body.
//!
//! A two-service call chain must arrive with its names, kinds, parent
//! links, trace ids, typed attributes, timestamps equal to the spans' own
//! times, and one `ResourceSpans` per service with the resource attributes
//! of the conventions. Retryable failures are retried (and a receiver's
//! requested wait honoured), others are not; a full queue drops and counts
//! without stopping the exporter from draining its input.

mod support;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use support::pki::Pki;
use tokio::sync::{mpsc, Semaphore};
use wardwatch::derive::span::{AttributeValue, Span};
use wardwatch::event::{Resource, Role};
use wardwatch::sinks::otlp::{
    run, Compression, DropReason, ExportCounts, OtlpConfig, OtlpExporter, Outcome, Protocol,
};

/// How a receiver answers one request.
#[derive(Clone)]
enum Answer {
    Ok,
    /// OK with `rejected_spans` in a partial success.
    Partial(i64),
    Grpc(tonic::Code),
    /// A gRPC status whose details carry `google.rpc.RetryInfo`.
    GrpcRetryInfo(tonic::Code, Duration),
    Http(u16, Option<&'static str>),
    /// Waits for a permit of the semaphore, then answers OK.
    HangUntil(Arc<Semaphore>),
}

/// One request as the receiver saw it.
struct Arrival {
    request: ExportTraceServiceRequest,
    headers: Vec<(String, String)>,
    path: String,
    content_type: String,
    accepted: bool,
}

#[derive(Clone, Default)]
struct Receiver {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    /// Answers to give in order; then OK.
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    fn new(script: Vec<Answer>) -> Self {
        Receiver {
            arrivals: Arc::default(),
            script: Arc::new(Mutex::new(script.into())),
        }
    }

    fn next_answer(&self) -> Answer {
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Ok)
    }

    /// Records the request, then answers; `accepted` is set once the
    /// answer is an OK.
    async fn take(&self, arrival: Arrival) -> Answer {
        let index = {
            let mut arrivals = self.arrivals.lock().unwrap();
            arrivals.push(arrival);
            arrivals.len() - 1
        };
        let mut answer = self.next_answer();
        if let Answer::HangUntil(gate) = &answer {
            gate.acquire().await.unwrap().forget();
            answer = Answer::Ok;
        }
        if matches!(answer, Answer::Ok | Answer::Partial(_)) {
            self.arrivals.lock().unwrap()[index].accepted = true;
        }
        answer
    }

    fn attempts(&self) -> usize {
        self.arrivals.lock().unwrap().len()
    }

    /// The requests answered OK, in order.
    fn accepted(&self) -> Vec<ExportTraceServiceRequest> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.accepted)
            .map(|a| a.request.clone())
            .collect()
    }
}

fn response(rejected: i64) -> ExportTraceServiceResponse {
    ExportTraceServiceResponse {
        partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: "span quoted here must not be logged".into(),
        }),
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .iter()
            .filter_map(|entry| match entry {
                tonic::metadata::KeyAndValueRef::Ascii(key, value) => {
                    Some((key.to_string(), value.to_str().ok()?.to_owned()))
                }
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        let arrival = Arrival {
            request: request.into_inner(),
            headers,
            path: String::new(),
            content_type: String::new(),
            accepted: false,
        };
        match self.take(arrival).await {
            Answer::Ok => Ok(tonic::Response::new(response(0))),
            Answer::Partial(rejected) => Ok(tonic::Response::new(response(rejected))),
            Answer::Grpc(code) => Err(tonic::Status::new(code, "scripted")),
            Answer::GrpcRetryInfo(code, delay) => Err(tonic::Status::with_details(
                code,
                "scripted",
                Bytes::from(rpc_status_with_retry_info(code, delay)),
            )),
            Answer::Http(..) | Answer::HangUntil(_) => unreachable!("not a gRPC answer"),
        }
    }
}

/// `google.rpc.Status { code, details: [Any(RetryInfo { retry_delay })] }`,
/// encoded from the .proto field numbers.
fn rpc_status_with_retry_info(code: tonic::Code, delay: Duration) -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![tag, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }
    let duration = [0x08, u8::try_from(delay.as_secs()).unwrap()];
    let retry_info = field(0x0a, &duration);
    let mut any = field(0x0a, b"type.googleapis.com/google.rpc.RetryInfo");
    any.extend(field(0x12, &retry_info));
    let mut status = vec![0x08, code as u8];
    status.extend(field(0x1a, &any));
    status
}

async fn grpc_receiver(script: Vec<Answer>) -> (String, Receiver) {
    grpc_receiver_over(script, None).await
}

/// With `pki`, the receiver serves TLS with its server certificate and
/// requires a client certificate signed by its CA.
async fn grpc_receiver_over(script: Vec<Answer>, pki: Option<&Pki>) -> (String, Receiver) {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let receiver = Receiver::new(script);
    // As the Collector and Jaeger do, gzip is taken.
    let service = TraceServiceServer::new(receiver.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut server = tonic::transport::Server::builder();
    let mut scheme = "http";
    if let Some(pki) = pki {
        let read = |path: &std::path::Path| std::fs::read(path).unwrap();
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(
                read(&pki.server_cert),
                read(&pki.server_key),
            ))
            .client_ca_root(Certificate::from_pem(read(&pki.ca)));
        server = server.tls_config(tls).unwrap();
        scheme = "https";
    }
    tokio::spawn(async move {
        server
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (format!("{scheme}://{address}"), receiver)
}

async fn http_receiver(script: Vec<Answer>) -> (String, Receiver) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let receiver = Receiver::new(script);
    let shared = receiver.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let receiver = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let receiver = receiver.clone();
                    async move {
                        let headers = request
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                            .collect::<Vec<_>>();
                        let header = |name: &str| {
                            headers
                                .iter()
                                .find(|(k, _)| k == name)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        };
                        let path = request.uri().path().to_owned();
                        let content_type = header("content-type");
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let body = match header("content-encoding").as_str() {
                            "" => body.to_vec(),
                            "gzip" => {
                                let mut plain = Vec::new();
                                let mut gunzip = flate2::read::GzDecoder::new(&body[..]);
                                std::io::Read::read_to_end(&mut gunzip, &mut plain).unwrap();
                                plain
                            }
                            other => panic!("unexpected content-encoding {other}"),
                        };
                        let arrival = Arrival {
                            request: ExportTraceServiceRequest::decode(&body[..]).unwrap(),
                            headers,
                            path,
                            content_type,
                            accepted: false,
                        };
                        let (status, after, rejected) = match receiver.take(arrival).await {
                            Answer::Ok => (200, None, 0),
                            Answer::Partial(rejected) => (200, None, rejected),
                            Answer::Http(status, after) => (status, after, 0),
                            _ => unreachable!("not an HTTP answer"),
                        };
                        let mut reply = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/x-protobuf");
                        if let Some(after) = after {
                            reply = reply.header("retry-after", after);
                        }
                        let body = Bytes::from(response(rejected).encode_to_vec());
                        Ok::<_, Infallible>(reply.body(Full::new(body)).unwrap())
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{address}"), receiver)
}

const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const A_SERVER: [u8; 8] = [0xa1, 0, 0, 0, 0, 0, 0, 0x01];
const A_CLIENT: [u8; 8] = [0xa1, 0, 0, 0, 0, 0, 0, 0x02];
const B_SERVER: [u8; 8] = [0xb2, 0, 0, 0, 0, 0, 0, 0x03];
/// 2026-11-22T10:00:00.123456789Z: nanoseconds kept, not rounded.
const T0: i64 = 1_795_341_600_123_456_789;

fn resource(service: &str, pod: &str, uid: &str) -> Arc<Resource> {
    Arc::new(Resource {
        host_name: "node-a".into(),
        log_file_path: "/var/log/pods/never-exported.log".into(),
        namespace: Some("clinical".into()),
        pod_name: Some(pod.into()),
        pod_uid: Some(uid.into()),
        container_name: Some(service.into()),
        container_id: Some(format!("containerd://{}", uid.repeat(2))),
        service_name: Some(service.into()),
        ..Resource::default()
    })
}

#[allow(clippy::too_many_arguments)]
fn span(
    name: &str,
    kind: Role,
    resource: &Arc<Resource>,
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    start_offset_ns: i64,
    end_offset_ns: i64,
    status: i64,
) -> Span {
    Span {
        trace_id: TRACE_ID,
        span_id,
        parent_span_id: parent,
        name: name.into(),
        route: name.split_once(' ').unwrap().1.into(),
        kind,
        start: Utc.timestamp_nanos(T0 + start_offset_ns),
        end: Utc.timestamp_nanos(T0 + end_offset_ns),
        is_error: status >= 500,
        attributes: vec![
            ("http.request.method", AttributeValue::Str("GET".into())),
            ("http.response.status_code", AttributeValue::Int(status)),
        ],
        resource: Arc::clone(resource),
    }
}

/// appointment-service serves a request and, while doing so, calls
/// billing-service, which fails with 503.
fn chain() -> Vec<Span> {
    let a = resource("appointment-service", "appointment-7d9f8b6c5-x2k4q", "a1a1");
    let b = resource("billing-service", "billing-5c6d7e8f9-q9w8e", "b2b2");
    vec![
        span(
            "GET /appointments/{id}",
            Role::Server,
            &a,
            A_SERVER,
            None,
            0,
            50_000_001,
            200,
        ),
        span(
            "GET /invoices/{id}",
            Role::Client,
            &a,
            A_CLIENT,
            Some(A_SERVER),
            10_000_003,
            40_000_005,
            503,
        ),
        span(
            "GET /invoices/{id}",
            Role::Server,
            &b,
            B_SERVER,
            Some(A_CLIENT),
            15_000_007,
            35_000_009,
            503,
        ),
    ]
}

/// Fast retries, so that only a receiver's own requested wait can make a
/// test take seconds.
fn config(endpoint: String, protocol: Protocol) -> OtlpConfig {
    OtlpConfig {
        endpoint: Some(endpoint),
        protocol: Some(protocol),
        min_backoff_ms: 5,
        max_backoff_ms: 20,
        max_elapsed_ms: 10_000,
        resource_attributes: [
            ("k8s.cluster.name".to_owned(), "eu-west-1-prod".to_owned()),
            ("cloud.region".to_owned(), "eu-west-1".to_owned()),
        ]
        .into(),
        ..OtlpConfig::default()
    }
}

fn exporter(config: OtlpConfig) -> OtlpExporter {
    OtlpExporter::new(config.resolve(&|_| None)).unwrap()
}

fn strings(attributes: &[KeyValue]) -> Vec<(String, String)> {
    let mut out: Vec<_> = attributes
        .iter()
        .map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => (kv.key.clone(), s.clone()),
                other => panic!("{}: {other:?}", kv.key),
            },
        )
        .collect();
    out.sort();
    out
}

fn expected_resource(service: &str, pod: &str, uid: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("service.name", service.to_owned()),
        ("service.namespace", "clinical".to_owned()),
        ("k8s.namespace.name", "clinical".to_owned()),
        ("k8s.pod.name", pod.to_owned()),
        ("k8s.pod.uid", uid.to_owned()),
        ("container.id", format!("containerd://{uid}{uid}")),
        ("container.name", service.to_owned()),
        ("host.name", "node-a".to_owned()),
        ("k8s.cluster.name", "eu-west-1-prod".to_owned()),
        ("cloud.region", "eu-west-1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    out.sort();
    out
}

fn check_chain(request: &ExportTraceServiceRequest) {
    assert_eq!(
        request.resource_spans.len(),
        2,
        "one ResourceSpans per service"
    );
    let (a, b) = (&request.resource_spans[0], &request.resource_spans[1]);
    assert_eq!(
        strings(&a.resource.as_ref().unwrap().attributes),
        expected_resource("appointment-service", "appointment-7d9f8b6c5-x2k4q", "a1a1")
    );
    assert_eq!(
        strings(&b.resource.as_ref().unwrap().attributes),
        expected_resource("billing-service", "billing-5c6d7e8f9-q9w8e", "b2b2")
    );
    for resource_spans in [a, b] {
        assert_eq!(resource_spans.scope_spans.len(), 1);
        let scope = resource_spans.scope_spans[0].scope.as_ref().unwrap();
        assert_eq!(scope.name, "wardwatch");
        assert_eq!(scope.version, env!("CARGO_PKG_VERSION"));
    }

    let a_spans = &a.scope_spans[0].spans;
    let b_spans = &b.scope_spans[0].spans;
    assert_eq!((a_spans.len(), b_spans.len()), (2, 1));
    let (server, client, billing) = (&a_spans[0], &a_spans[1], &b_spans[0]);

    for span in [server, client, billing] {
        assert_eq!(span.trace_id, TRACE_ID);
    }
    assert_eq!(server.name, "GET /appointments/{id}");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(server.span_id, A_SERVER);
    assert!(server.parent_span_id.is_empty(), "a root span");
    assert_eq!(server.start_time_unix_nano, T0 as u64);
    assert_eq!(server.end_time_unix_nano, (T0 + 50_000_001) as u64);
    assert_eq!(
        server.status.as_ref().unwrap().code,
        StatusCode::Unset as i32
    );

    assert_eq!(client.name, "GET /invoices/{id}");
    assert_eq!(client.kind, SpanKind::Client as i32);
    assert_eq!(client.span_id, A_CLIENT);
    assert_eq!(client.parent_span_id, A_SERVER);
    assert_eq!(client.start_time_unix_nano, (T0 + 10_000_003) as u64);
    assert_eq!(client.end_time_unix_nano, (T0 + 40_000_005) as u64);
    assert_eq!(
        client.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );

    assert_eq!(billing.name, "GET /invoices/{id}");
    assert_eq!(billing.kind, SpanKind::Server as i32);
    assert_eq!(billing.span_id, B_SERVER);
    assert_eq!(billing.parent_span_id, A_CLIENT, "linked across services");
    assert_eq!(billing.start_time_unix_nano, (T0 + 15_000_007) as u64);
    assert_eq!(billing.end_time_unix_nano, (T0 + 35_000_009) as u64);
    assert_eq!(
        billing.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );
    let values: Vec<_> = billing
        .attributes
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_ref().unwrap().value.clone()))
        .collect();
    assert_eq!(
        values,
        [
            (
                "http.request.method",
                Some(Value::StringValue("GET".into()))
            ),
            ("http.response.status_code", Some(Value::IntValue(503))),
        ]
    );
}

/// Runs the exporter's queue on `spans`, then closes it and waits.
async fn run_to_end(exporter: OtlpExporter, spans: Vec<Span>) {
    let (tx, rx) = mpsc::channel(8);
    tx.try_send(spans).unwrap();
    drop(tx);
    tokio::time::timeout(Duration::from_secs(60), run(exporter, rx))
        .await
        .expect("the exporter returns once its input is closed and drained");
}

/// Waits for `condition`, failing after a generous minute: a guard against
/// a hang, not a speed requirement.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_call_chain_arrives_whole_over_grpc() {
    let (endpoint, receiver) = grpc_receiver(vec![]).await;
    // Headers from the environment, percent-decoded, merged with the file's.
    let env = |name: &str| {
        (name == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "api-key=secret,tenant=a%20b".to_owned())
    };
    let mut config = config(endpoint, Protocol::Grpc);
    config
        .headers
        .insert("x-scope-orgid".into(), "clinical".into());
    let exporter = OtlpExporter::new(config.resolve(&env)).unwrap();
    let counts = exporter.counts();
    run_to_end(exporter, chain()).await;

    let arrivals = receiver.arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 1);
    check_chain(&arrivals[0].request);
    let headers = &arrivals[0].headers;
    assert_eq!(header(headers, "api-key"), Some("secret"));
    assert_eq!(header(headers, "tenant"), Some("a b"));
    assert_eq!(header(headers, "x-scope-orgid"), Some("clinical"));
    assert_eq!(counts.spans_exported(), 3);
    assert_eq!(counts.requests(), 1);
    assert_eq!(counts.spans_dropped_total(), 0);
}

#[tokio::test]
async fn a_call_chain_arrives_whole_over_http() {
    let (endpoint, receiver) = http_receiver(vec![]).await;
    let mut config = config(format!("{endpoint}/"), Protocol::HttpProtobuf);
    config.headers.insert("api-key".into(), "secret".into());
    let exporter = exporter(config);
    let counts = exporter.counts();
    run_to_end(exporter, chain()).await;

    let arrivals = receiver.arrivals.lock().unwrap();
    assert_eq!(arrivals.len(), 1);
    check_chain(&arrivals[0].request);
    assert_eq!(arrivals[0].path, "/v1/traces");
    assert_eq!(arrivals[0].content_type, "application/x-protobuf");
    assert_eq!(header(&arrivals[0].headers, "api-key"), Some("secret"));
    assert_eq!(counts.spans_exported(), 3);
}

#[tokio::test]
async fn gzip_compresses_requests_over_grpc_and_http() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let (endpoint, receiver) = match protocol {
            Protocol::Grpc => grpc_receiver(vec![]).await,
            Protocol::HttpProtobuf => http_receiver(vec![]).await,
        };
        let encoding = match protocol {
            Protocol::Grpc => "grpc-encoding",
            Protocol::HttpProtobuf => "content-encoding",
        };
        // Once from the file, once from the environment only.
        let mut from_file = config(endpoint.clone(), protocol);
        from_file.compression = Some(Compression::Gzip);
        let env =
            |name: &str| (name == "OTEL_EXPORTER_OTLP_COMPRESSION").then(|| "gzip".to_owned());
        for resolved in [
            from_file.resolve(&|_| None),
            config(endpoint.clone(), protocol).resolve(&env),
        ] {
            assert_eq!(resolved.compression, Compression::Gzip);
            run_to_end(OtlpExporter::new(resolved).unwrap(), chain()).await;
        }
        // And plain, by default.
        run_to_end(exporter(config(endpoint, protocol)), chain()).await;

        let arrivals = receiver.arrivals.lock().unwrap();
        assert_eq!(arrivals.len(), 3, "{protocol:?}");
        for (arrival, expected) in arrivals.iter().zip([Some("gzip"), Some("gzip"), None]) {
            check_chain(&arrival.request);
            assert_eq!(header(&arrival.headers, encoding), expected, "{protocol:?}");
        }
    }
}

#[tokio::test]
async fn unavailable_once_then_ok_is_delivered_once() {
    let (endpoint, receiver) = grpc_receiver(vec![Answer::Grpc(tonic::Code::Unavailable)]).await;
    let mut exporter = exporter(config(endpoint, Protocol::Grpc));
    let counts = exporter.counts();
    assert_eq!(
        exporter.export(&chain()).await,
        Outcome::Exported { rejected: 0 }
    );
    assert_eq!(receiver.attempts(), 2);
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1, "delivered once");
    check_chain(&accepted[0]);
    assert_eq!(
        (counts.requests(), counts.retries(), counts.spans_exported()),
        (2, 1, 3)
    );
}

#[tokio::test]
async fn a_private_ca_and_a_client_certificate_carry_grpc_over_mutual_tls() {
    let pki = Pki::new();
    let (endpoint, receiver) = grpc_receiver_over(vec![], Some(&pki)).await;
    let mut settings = config(endpoint.clone(), Protocol::Grpc);
    settings.tls.ca_file = Some(pki.ca.clone());
    settings.tls.cert_file = Some(pki.client_cert.clone());
    settings.tls.key_file = Some(pki.client_key.clone());
    let mutual = exporter(settings);
    let counts = mutual.counts();
    run_to_end(mutual, chain()).await;
    assert_eq!(receiver.accepted().len(), 1);
    assert_eq!(counts.spans_exported(), 3);

    // The files can come from the variables the OTel SDKs read.
    let env = |name: &str| {
        let path = match name {
            "OTEL_EXPORTER_OTLP_CERTIFICATE" => &pki.ca,
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE" => &pki.client_cert,
            "OTEL_EXPORTER_OTLP_CLIENT_KEY" => &pki.client_key,
            _ => return None,
        };
        Some(path.display().to_string())
    };
    let from_env =
        OtlpExporter::new(config(endpoint.clone(), Protocol::Grpc).resolve(&env)).unwrap();
    let counts = from_env.counts();
    run_to_end(from_env, chain()).await;
    assert_eq!(counts.spans_exported(), 3);

    // The public roots do not know the private CA: nothing is delivered,
    // and the loss is counted.
    let mut settings = config(endpoint, Protocol::Grpc);
    settings.max_elapsed_ms = 300;
    settings.tls.cert_file = Some(pki.client_cert.clone());
    settings.tls.key_file = Some(pki.client_key.clone());
    let public_roots = exporter(settings);
    let counts = public_roots.counts();
    run_to_end(public_roots, chain()).await;
    assert_eq!(counts.spans_exported(), 0);
    assert_eq!(counts.spans_dropped_total(), 3);
    assert_eq!(receiver.accepted().len(), 2);
}

#[tokio::test]
async fn tls_files_that_cannot_be_used_stop_the_exporter_at_start() {
    let pki = Pki::new();
    let mut settings = config("https://127.0.0.1:4317".into(), Protocol::Grpc);
    settings.tls.ca_file = Some(pki.ca.with_extension("missing"));
    let error = OtlpExporter::new(settings.resolve(&|_| None))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("sinks.otlp.tls.ca_file"), "{error}");

    let mut settings = config("https://127.0.0.1:4318".into(), Protocol::Grpc);
    settings.protocol = Some(Protocol::HttpProtobuf);
    settings.tls.cert_file = Some(pki.client_cert.clone());
    let error = OtlpExporter::new(settings.resolve(&|_| None))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("go together"), "{error}");
}

#[tokio::test]
async fn an_unreachable_receiver_cannot_hold_shutdown_past_its_timeout() {
    // Unavailable for ever, with an hour of retries allowed per batch: only
    // the shutdown timeout can end the drain.
    let (endpoint, receiver) =
        grpc_receiver(vec![Answer::Grpc(tonic::Code::Unavailable); 1_000_000]).await;
    let mut settings = config(endpoint, Protocol::Grpc);
    settings.max_elapsed_ms = 3_600_000;
    settings.shutdown_timeout_ms = 300;
    settings.max_batch_spans = 2;
    let exporter = exporter(settings);
    let counts = exporter.counts();
    run_to_end(exporter, chain()).await;
    assert!(receiver.attempts() > 1, "retried until the drain ran out");
    assert_eq!(counts.spans_exported(), 0);
    assert_eq!(counts.spans_dropped(DropReason::Shutdown), 3);
    assert_eq!(counts.spans_dropped_total(), 3);
}

#[tokio::test]
async fn invalid_argument_is_not_retried_and_is_counted_as_dropped() {
    let (endpoint, receiver) =
        grpc_receiver(vec![Answer::Grpc(tonic::Code::InvalidArgument)]).await;
    let mut exporter = exporter(config(endpoint, Protocol::Grpc));
    let counts = exporter.counts();
    assert_eq!(
        exporter.export(&chain()).await,
        Outcome::Dropped(DropReason::Rejected)
    );
    assert_eq!(receiver.attempts(), 1, "not retried");
    assert_eq!(counts.spans_dropped(DropReason::Rejected), 3);
    assert_eq!((counts.retries(), counts.spans_exported()), (0, 0));
}

#[tokio::test]
async fn resource_exhausted_waits_as_long_as_its_retry_info_asks() {
    let (endpoint, receiver) = grpc_receiver(vec![Answer::GrpcRetryInfo(
        tonic::Code::ResourceExhausted,
        Duration::from_secs(1),
    )])
    .await;
    let mut exporter = exporter(config(endpoint, Protocol::Grpc));
    let started = Instant::now();
    assert_eq!(
        exporter.export(&chain()).await,
        Outcome::Exported { rejected: 0 }
    );
    // The backoff alone is at most 20 ms here.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(receiver.accepted().len(), 1);
}

#[tokio::test]
async fn http_503_with_retry_after_then_200_is_delivered() {
    let (endpoint, receiver) = http_receiver(vec![Answer::Http(503, Some("1"))]).await;
    let mut exporter = exporter(config(endpoint, Protocol::HttpProtobuf));
    let counts = exporter.counts();
    let started = Instant::now();
    assert_eq!(
        exporter.export(&chain()).await,
        Outcome::Exported { rejected: 0 }
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After waited, not the 20 ms backoff: {:?}",
        started.elapsed()
    );
    assert_eq!(receiver.attempts(), 2);
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1);
    check_chain(&accepted[0]);
    assert_eq!((counts.retries(), counts.spans_exported()), (1, 3));
}

#[tokio::test]
async fn http_400_is_not_retried() {
    let (endpoint, receiver) = http_receiver(vec![Answer::Http(400, Some("1"))]).await;
    let mut exporter = exporter(config(endpoint, Protocol::HttpProtobuf));
    let counts = exporter.counts();
    assert_eq!(
        exporter.export(&chain()).await,
        Outcome::Dropped(DropReason::Rejected)
    );
    assert_eq!(receiver.attempts(), 1);
    assert_eq!(counts.spans_dropped(DropReason::Rejected), 3);
}

#[tokio::test]
async fn retries_end_at_max_elapsed_and_the_batch_is_counted() {
    let script = vec![Answer::Grpc(tonic::Code::Unavailable); 1000];
    let (endpoint, receiver) = grpc_receiver(script).await;
    let mut config = config(endpoint, Protocol::Grpc);
    config.max_elapsed_ms = 300;
    let mut exporter = exporter(config);
    let counts = exporter.counts();
    assert_eq!(
        exporter.export(&chain()).await,
        Outcome::Dropped(DropReason::RetriesExhausted)
    );
    let attempts = receiver.attempts();
    assert!(attempts >= 2, "retried: {attempts}");
    assert!(receiver.accepted().is_empty());
    assert_eq!(counts.requests(), attempts as u64);
    assert_eq!(counts.retries(), attempts as u64 - 1);
    assert_eq!(counts.spans_dropped(DropReason::RetriesExhausted), 3);
}

#[tokio::test]
async fn an_unreachable_receiver_is_retried_then_given_up() {
    // A port that was just free: nothing listens there.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let mut config = config(format!("http://{address}"), protocol);
        config.max_elapsed_ms = 200;
        let mut exporter = exporter(config);
        let counts = exporter.counts();
        assert_eq!(
            exporter.export(&chain()).await,
            Outcome::Dropped(DropReason::RetriesExhausted),
            "{protocol:?}"
        );
        assert!(counts.retries() >= 1, "{protocol:?}");
    }
}

#[tokio::test]
async fn partial_success_is_counted() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let script = vec![Answer::Partial(1)];
        let (endpoint, _receiver) = match protocol {
            Protocol::Grpc => grpc_receiver(script).await,
            Protocol::HttpProtobuf => http_receiver(script).await,
        };
        let mut exporter = exporter(config(endpoint, protocol));
        let counts = exporter.counts();
        assert_eq!(
            exporter.export(&chain()).await,
            Outcome::Exported { rejected: 1 }
        );
        assert_eq!(counts.spans_exported(), 2, "{protocol:?}");
        assert_eq!(counts.spans_dropped(DropReason::PartialSuccess), 1);
    }
}

fn many(count: usize) -> Vec<Span> {
    let one = chain().swap_remove(0);
    (0..count)
        .map(|i| Span {
            span_id: (i as u64 + 1).to_be_bytes(),
            ..one.clone()
        })
        .collect()
}

fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_while_the_input_keeps_draining() {
    let gate = Arc::new(Semaphore::new(0));
    let (endpoint, receiver) = grpc_receiver(vec![Answer::HangUntil(Arc::clone(&gate))]).await;
    let mut config = config(endpoint, Protocol::Grpc);
    config.max_batch_spans = 100;
    config.max_queue_spans = 200;
    config.timeout_ms = Some(120_000);
    let exporter = exporter(config);
    let counts: Arc<ExportCounts> = exporter.counts();
    let (tx, rx) = mpsc::channel(4);
    let running = tokio::spawn(run(exporter, rx));

    // The first batch goes out and the receiver holds on to it.
    tx.try_send(many(100)).unwrap();
    eventually("the first request is in flight", || {
        receiver.attempts() == 1
    })
    .await;

    // Five more batches while the request hangs: each is taken off the
    // channel (the sender, like the traffic stage, only ever try_sends),
    // two batches' worth fit in the queue and the rest are dropped.
    for _ in 0..5 {
        tx.try_send(many(100))
            .expect("the exporter keeps reading while a request hangs");
        eventually("the exporter takes the batch", || {
            tx.capacity() == tx.max_capacity()
        })
        .await;
    }
    eventually("drops are counted", || {
        counts.spans_dropped(DropReason::QueueFull) == 300
    })
    .await;
    assert_eq!(receiver.attempts(), 1, "still one request in flight");

    gate.add_permits(1);
    drop(tx);
    tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("drained and returned")
        .unwrap();
    let sizes: Vec<_> = receiver.accepted().iter().map(span_count).collect();
    assert_eq!(sizes, [100, 100, 100]);
    assert_eq!(counts.spans_exported(), 300);
    assert_eq!(counts.spans_dropped(DropReason::QueueFull), 300);
    assert_eq!(counts.spans_dropped_total(), 300);
}

#[tokio::test]
async fn batches_are_cut_at_max_batch_spans() {
    let (endpoint, receiver) = grpc_receiver(vec![]).await;
    let mut config = config(endpoint, Protocol::Grpc);
    config.max_batch_spans = 2;
    config.max_queue_spans = 10;
    run_to_end(exporter(config), many(5)).await;
    let sizes: Vec<_> = receiver.accepted().iter().map(span_count).collect();
    assert_eq!(sizes, [2, 2, 1]);
}

#[tokio::test]
async fn a_partial_batch_goes_out_after_the_flush_interval() {
    let (endpoint, receiver) = grpc_receiver(vec![]).await;
    let mut config = config(endpoint, Protocol::Grpc);
    config.flush_interval_ms = 20;
    let (tx, rx) = mpsc::channel(4);
    let running = tokio::spawn(run(exporter(config), rx));
    tx.try_send(many(3)).unwrap();
    // The input stays open: only the flush interval can send this batch.
    eventually("the batch is flushed", || receiver.accepted().len() == 1).await;
    assert_eq!(span_count(&receiver.accepted()[0]), 3);
    drop(tx);
    running.await.unwrap();
    assert_eq!(receiver.attempts(), 1);
}
