//! Trace spans exported over OTLP, which Jaeger (4317 gRPC, 4318 HTTP), the
//! OpenTelemetry Collector and Tempo ingest natively.
//!
//! Spans arrive in batches from the traffic stage on a bounded queue; the
//! stage never waits (a full queue drops and counts). Each export request
//! holds one `ResourceSpans` per service, with the resource attributes of
//! the OTel conventions (`service.name`, `k8s.namespace.name`,
//! `k8s.pod.name`, `container.id`, `host.name`, and the configured ones such
//! as `k8s.cluster.name` and `cloud.region`). Retryable failures (gRPC
//! UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, CANCELLED, DEADLINE_EXCEEDED,
//! OUT_OF_RANGE, DATA_LOSS; HTTP 429, 502, 503, 504) are retried with
//! exponential backoff; any other failure drops the batch and counts it.
//!
//! Configuration: `sinks.otlp` in the file, which wins; else the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` and
//! `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, values percent-decoded);
//! else `http://127.0.0.1:4317` over gRPC. Plain HTTP only for now.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan, Status};
use prost::Message;
use serde::Deserialize;
use tokio::sync::mpsc::Receiver;

use crate::derive::span::{AttributeValue, Span};
use crate::event::{Resource, Role};
use crate::internal_events::{SpansDropped, SpansExported};

/// OTLP transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// `sinks.otlp`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// Base URL. Default: `OTEL_EXPORTER_OTLP_ENDPOINT`, else
    /// `http://127.0.0.1:4317` (gRPC) or `http://127.0.0.1:4318` (HTTP).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `grpc` or `http/protobuf`. Default: `OTEL_EXPORTER_OTLP_PROTOCOL`,
    /// else `grpc`.
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// Extra request headers (an API key, a tenant). Merged over
    /// `OTEL_EXPORTER_OTLP_HEADERS`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Resource attributes added to every service, e.g.
    /// `{k8s.cluster.name: eu-west-1-prod, cloud.region: eu-west-1}`.
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, String>,
}

/// What the exporter settled on, config and environment merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub endpoint: String,
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub resource_attributes: Vec<(String, String)>,
}

impl OtlpConfig {
    /// Merges the config with the environment (read through `env`).
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Resolved {
        let protocol =
            self.protocol
                .unwrap_or_else(|| match env("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
                    Some("http/protobuf") => Protocol::HttpProtobuf,
                    _ => Protocol::Grpc,
                });
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .unwrap_or_else(|| match protocol {
                Protocol::Grpc => "http://127.0.0.1:4317".into(),
                Protocol::HttpProtobuf => "http://127.0.0.1:4318".into(),
            });
        let mut headers: BTreeMap<String, String> = env("OTEL_EXPORTER_OTLP_HEADERS")
            .map(|text| parse_headers(&text))
            .unwrap_or_default();
        headers.extend(self.headers.clone());
        Resolved {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            protocol,
            headers: headers.into_iter().collect(),
            resource_attributes: self
                .resource_attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `k=v` pairs separated by commas, keys and
/// values percent-decoded (the OTel environment specification).
pub fn parse_headers(text: &str) -> BTreeMap<String, String> {
    text.split(',')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = percent_decode(key.trim());
            (!key.is_empty()).then(|| (key.to_ascii_lowercase(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn resource_attributes(resource: &Resource, extra: &[(String, String)]) -> Vec<KeyValue> {
    let mut out = vec![text(
        "service.name",
        resource
            .service_name
            .as_deref()
            .unwrap_or("unknown_service"),
    )];
    let optional = [
        ("service.namespace", &resource.namespace),
        ("k8s.namespace.name", &resource.namespace),
        ("k8s.pod.name", &resource.pod_name),
        ("k8s.pod.uid", &resource.pod_uid),
        ("k8s.container.name", &resource.container_name),
        ("container.id", &resource.container_id),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            out.push(text(key, value));
        }
    }
    out.push(text("host.name", &resource.host_name));
    out.extend(extra.iter().map(|(k, v)| text(k, v)));
    out
}

fn otlp_span(span: &Span) -> OtlpSpan {
    let nanos =
        |t: chrono::DateTime<chrono::Utc>| t.timestamp_nanos_opt().unwrap_or(0).max(0) as u64;
    OtlpSpan {
        trace_id: span.trace_id.to_vec(),
        span_id: span.span_id.to_vec(),
        parent_span_id: span.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        name: span.name.clone(),
        kind: match span.kind {
            Role::Server => SpanKind::Server,
            Role::Client => SpanKind::Client,
        } as i32,
        start_time_unix_nano: nanos(span.start),
        end_time_unix_nano: nanos(span.end),
        attributes: span
            .attributes
            .iter()
            .map(|(key, value)| KeyValue {
                key: (*key).to_owned(),
                value: Some(AnyValue {
                    value: Some(match value {
                        AttributeValue::Str(s) => any_value::Value::StringValue(s.clone()),
                        AttributeValue::Int(i) => any_value::Value::IntValue(*i),
                    }),
                }),
                ..Default::default()
            })
            .collect(),
        status: Some(Status {
            code: if span.is_error {
                StatusCode::Error
            } else {
                StatusCode::Unset
            } as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One request: a `ResourceSpans` per service (spans grouped by their
/// resource's identity), one scope, `wardwatch`.
pub fn export_request(spans: &[Span], extra: &[(String, String)]) -> ExportTraceServiceRequest {
    let mut groups: Vec<(Arc<Resource>, Vec<OtlpSpan>)> = Vec::new();
    for span in spans {
        match groups
            .iter_mut()
            .find(|(r, _)| Arc::ptr_eq(r, &span.resource) || **r == *span.resource)
        {
            Some((_, list)) => list.push(otlp_span(span)),
            None => groups.push((Arc::clone(&span.resource), vec![otlp_span(span)])),
        }
    }
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(resource, spans)| ResourceSpans {
                resource: Some(OtlpResource {
                    attributes: resource_attributes(&resource, extra),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "wardwatch".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// Whether an export failure is worth retrying, and after how long the
/// receiver asked.
enum Failure {
    Retry(Option<Duration>),
    Drop(String),
}

/// Exports batches to one endpoint.
pub struct OtlpExporter {
    resolved: Resolved,
    grpc: Option<TraceServiceClient<tonic::transport::Channel>>,
    max_retries: u32,
}

impl OtlpExporter {
    pub fn new(resolved: Resolved) -> anyhow::Result<Self> {
        anyhow::ensure!(
            resolved.endpoint.starts_with("http://"),
            "OTLP endpoint {:?}: only http:// is supported for now",
            resolved.endpoint
        );
        Ok(OtlpExporter {
            resolved,
            grpc: None,
            max_retries: 6,
        })
    }

    /// Exports `spans`; true when the receiver took them.
    pub async fn export(&mut self, spans: &[Span]) -> bool {
        if spans.is_empty() {
            return true;
        }
        let request = export_request(spans, &self.resolved.resource_attributes);
        let mut delay = Duration::from_millis(100);
        for attempt in 0..=self.max_retries {
            let result = match self.resolved.protocol {
                Protocol::Grpc => self.grpc(request.clone()).await,
                Protocol::HttpProtobuf => self.http(&request).await,
            };
            match result {
                Ok(rejected) => {
                    SpansExported {
                        spans: spans.len(),
                        rejected,
                    }
                    .emit();
                    return true;
                }
                Err(Failure::Drop(reason)) => {
                    SpansDropped {
                        reason: "rejected",
                        spans: spans.len(),
                        detail: &reason,
                    }
                    .emit();
                    return false;
                }
                Err(Failure::Retry(after)) => {
                    if attempt == self.max_retries {
                        break;
                    }
                    tokio::time::sleep(after.unwrap_or(delay)).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        SpansDropped {
            reason: "retries_exhausted",
            spans: spans.len(),
            detail: &"",
        }
        .emit();
        false
    }

    async fn grpc(&mut self, request: ExportTraceServiceRequest) -> Result<u64, Failure> {
        if self.grpc.is_none() {
            let client = TraceServiceClient::connect(self.resolved.endpoint.clone())
                .await
                .map_err(|_| Failure::Retry(None))?;
            self.grpc = Some(client);
        }
        let client = self.grpc.as_mut().expect("connected above");
        let mut request = tonic::Request::new(request);
        for (key, value) in &self.resolved.headers {
            if let (Ok(key), Ok(value)) = (
                key.parse::<tonic::metadata::MetadataKey<tonic::metadata::Ascii>>(),
                value.parse(),
            ) {
                request.metadata_mut().insert(key, value);
            }
        }
        match client.export(request).await {
            Ok(response) => Ok(response
                .into_inner()
                .partial_success
                .map_or(0, |p| p.rejected_spans.max(0) as u64)),
            Err(status) => {
                use tonic::Code::*;
                match status.code() {
                    Unavailable | ResourceExhausted | Aborted | Cancelled | DeadlineExceeded
                    | OutOfRange | DataLoss => Err(Failure::Retry(None)),
                    code => Err(Failure::Drop(format!("grpc status {code:?}"))),
                }
            }
        }
    }

    async fn http(&self, request: &ExportTraceServiceRequest) -> Result<u64, Failure> {
        let uri: hyper::Uri = format!("{}/v1/traces", self.resolved.endpoint)
            .parse()
            .map_err(|e| Failure::Drop(format!("bad endpoint: {e}")))?;
        let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|_| Failure::Retry(None))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Failure::Retry(None))?;
        tokio::spawn(connection);
        let mut builder = hyper::Request::post(uri.path())
            .header("host", &authority)
            .header("content-type", "application/x-protobuf");
        for (key, value) in &self.resolved.headers {
            builder = builder.header(key, value);
        }
        let body = Full::new(Bytes::from(request.encode_to_vec()));
        let http_request = builder
            .body(body)
            .map_err(|e| Failure::Drop(format!("bad header: {e}")))?;
        let response =
            tokio::time::timeout(Duration::from_secs(10), sender.send_request(http_request))
                .await
                .map_err(|_| Failure::Retry(None))?
                .map_err(|_| Failure::Retry(None))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(60)));
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        match status {
            200..=299 => Ok(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(body)
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map_or(0, |p| p.rejected_spans.max(0) as u64),
            ),
            429 | 502 | 503 | 504 => Err(Failure::Retry(retry_after)),
            other => Err(Failure::Drop(format!("http status {other}"))),
        }
    }
}

/// Exports what arrives on `spans` in batches of up to `max_batch` spans,
/// at least every `flush`, until the queue closes.
pub async fn run(
    mut exporter: OtlpExporter,
    mut spans: Receiver<Vec<Span>>,
    max_batch: usize,
    flush: Duration,
) {
    let mut batch: Vec<Span> = Vec::new();
    loop {
        let next = tokio::time::timeout(flush, spans.recv()).await;
        let timed_out = next.is_err();
        match next {
            Ok(Some(more)) => batch.extend(more),
            Ok(None) => {
                for chunk in batch.chunks(max_batch.max(1)) {
                    exporter.export(chunk).await;
                }
                return;
            }
            Err(_elapsed) => {}
        }
        if batch.len() >= max_batch || timed_out {
            for chunk in batch.chunks(max_batch.max(1)) {
                exporter.export(chunk).await;
            }
            batch.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_from_the_environment_are_parsed_and_config_wins() {
        let headers = parse_headers("api-key=secret, tenant=a%20b,bad,=x");
        assert_eq!(headers.get("api-key").map(String::as_str), Some("secret"));
        assert_eq!(headers.get("tenant").map(String::as_str), Some("a b"));
        assert_eq!(headers.len(), 2);
        let env = |name: &str| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4318/".to_owned()),
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("http/protobuf".to_owned()),
            "OTEL_EXPORTER_OTLP_HEADERS" => Some("tenant=env,api-key=k".to_owned()),
            _ => None,
        };
        let from_env = OtlpConfig::default().resolve(&env);
        assert_eq!(from_env.endpoint, "http://collector:4318");
        assert_eq!(from_env.protocol, Protocol::HttpProtobuf);
        let config = OtlpConfig {
            endpoint: Some("http://jaeger:4317".into()),
            protocol: Some(Protocol::Grpc),
            headers: BTreeMap::from([("tenant".into(), "file".into())]),
            ..Default::default()
        };
        let resolved = config.resolve(&env);
        assert_eq!(resolved.endpoint, "http://jaeger:4317");
        assert_eq!(resolved.protocol, Protocol::Grpc);
        assert_eq!(
            resolved.headers,
            [
                ("api-key".into(), "k".into()),
                ("tenant".into(), "file".into())
            ]
        );
        let nothing = OtlpConfig::default().resolve(&|_| None);
        assert_eq!(nothing.endpoint, "http://127.0.0.1:4317");
    }

    #[test]
    fn percent_decoding_leaves_broken_escapes_alone() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
