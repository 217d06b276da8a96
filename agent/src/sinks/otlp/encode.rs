//! Spans to an OTLP `ExportTraceServiceRequest`.
//!
//! A request holds one `ResourceSpans` per service instance: spans are
//! grouped by the resource attributes they would carry, not by `Arc`
//! identity, because the traffic stage may hold two equal resources for
//! one container (one per side of a connection). Each group has one scope,
//! `wardwatch` at the agent's version, which tells a backend the spans were
//! observed from the network, not emitted by the service's own SDK.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span as OtlpSpan, Status};

use crate::derive::span::{AttributeValue, Span};
use crate::event::{Resource, Role};

/// The request for `spans`; `extra` are the configured resource attributes
/// (cluster, region), added to every group after the derived ones.
pub fn export_request(spans: &[Span], extra: &[(String, String)]) -> ExportTraceServiceRequest {
    let mut index: HashMap<ServiceIdentity<'_>, usize> = HashMap::new();
    let mut groups: Vec<(&Resource, Vec<OtlpSpan>)> = Vec::new();
    for span in spans {
        let slot = *index
            .entry(ServiceIdentity::of(&span.resource))
            .or_insert_with(|| {
                groups.push((span.resource.as_ref(), Vec::new()));
                groups.len() - 1
            });
        groups[slot].1.push(otlp_span(span));
    }
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(resource, spans)| ResourceSpans {
                resource: Some(OtlpResource {
                    attributes: resource_attributes(resource, extra),
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

/// Exactly the fields [`resource_attributes`] reads: two resources equal
/// here become one `ResourceSpans`.
#[derive(Hash, PartialEq, Eq)]
struct ServiceIdentity<'a> {
    service_name: Option<&'a str>,
    namespace: Option<&'a str>,
    pod_name: Option<&'a str>,
    pod_uid: Option<&'a str>,
    container_id: Option<&'a str>,
    container_name: Option<&'a str>,
    host_name: &'a str,
}

impl<'a> ServiceIdentity<'a> {
    fn of(resource: &'a Resource) -> Self {
        ServiceIdentity {
            service_name: resource.service_name.as_deref(),
            namespace: resource.namespace.as_deref(),
            pod_name: resource.pod_name.as_deref(),
            pod_uid: resource.pod_uid.as_deref(),
            container_id: resource.container_id.as_deref(),
            container_name: resource.container_name.as_deref(),
            host_name: &resource.host_name,
        }
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

/// The OTel resource conventions. `service.namespace` is the Kubernetes
/// namespace: in this platform a namespace is a team's or tenant's set of
/// services, which is what the convention means by it, and it keeps two
/// teams' `api` services apart in Jaeger's service list.
fn resource_attributes(resource: &Resource, extra: &[(String, String)]) -> Vec<KeyValue> {
    let service = resource
        .service_name
        .as_deref()
        .unwrap_or("unknown_service");
    let mut attributes = vec![string("service.name", service)];
    let optional = [
        ("service.namespace", &resource.namespace),
        ("k8s.namespace.name", &resource.namespace),
        ("k8s.pod.name", &resource.pod_name),
        ("k8s.pod.uid", &resource.pod_uid),
        ("container.id", &resource.container_id),
        ("container.name", &resource.container_name),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            attributes.push(string(key, value));
        }
    }
    if !resource.host_name.is_empty() {
        attributes.push(string("host.name", &resource.host_name));
    }
    let derived = attributes.len();
    for (key, value) in extra {
        // A configured attribute must not relabel the service a span came
        // from: what the agent observed wins.
        if !attributes[..derived].iter().any(|kv| &kv.key == key) {
            attributes.push(string(key, value));
        }
    }
    attributes
}

/// Nanoseconds since the epoch; 0 (OTLP's "unknown") for a time before it
/// or past 2262, which no captured exchange has.
fn unix_nanos(time: DateTime<Utc>) -> u64 {
    time.timestamp_nanos_opt()
        .and_then(|nanos| u64::try_from(nanos).ok())
        .unwrap_or(0)
}

fn otlp_span(span: &Span) -> OtlpSpan {
    let kind = match span.kind {
        Role::Server => SpanKind::Server,
        Role::Client => SpanKind::Client,
    };
    let code = if span.is_error {
        StatusCode::Error
    } else {
        // OTel leaves a success unset: only the instrumentation that
        // knows the operation's contract may claim OK.
        StatusCode::Unset
    };
    OtlpSpan {
        trace_id: span.trace_id.to_vec(),
        span_id: span.span_id.to_vec(),
        parent_span_id: span.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        name: span.name.clone(),
        kind: kind as i32,
        start_time_unix_nano: unix_nanos(span.start),
        end_time_unix_nano: unix_nanos(span.end),
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
            code: code as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;

    fn span(resource: Arc<Resource>, is_error: bool) -> Span {
        Span {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            name: "GET /r".into(),
            route: "/r".into(),
            kind: Role::Server,
            start: Utc.timestamp_nanos(1_763_805_600_123_456_789),
            end: Utc.timestamp_nanos(1_763_805_600_373_456_789),
            is_error,
            attributes: vec![("http.response.status_code", AttributeValue::Int(503))],
            resource,
        }
    }

    fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        let found: Vec<_> = attributes.iter().filter(|kv| kv.key == key).collect();
        assert!(found.len() <= 1, "{key} repeated");
        found.first()?.value.as_ref()?.value.as_ref()
    }

    #[test]
    fn equal_resources_in_different_arcs_share_one_resource_spans() {
        let resource = Resource {
            service_name: Some("billing".into()),
            host_name: "node-a".into(),
            ..Resource::default()
        };
        let request = export_request(
            &[
                span(Arc::new(resource.clone()), false),
                span(Arc::new(resource), true),
            ],
            &[],
        );
        assert_eq!(request.resource_spans.len(), 1);
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 2);
        assert_eq!(
            spans[0].status.as_ref().unwrap().code,
            StatusCode::Unset as i32
        );
        assert_eq!(
            spans[1].status.as_ref().unwrap().code,
            StatusCode::Error as i32
        );
    }

    #[test]
    fn two_pods_of_one_service_are_two_resources() {
        let pod = |name: &str| {
            Arc::new(Resource {
                service_name: Some("billing".into()),
                pod_name: Some(name.into()),
                ..Resource::default()
            })
        };
        let request = export_request(&[span(pod("a"), false), span(pod("b"), false)], &[]);
        assert_eq!(request.resource_spans.len(), 2);
    }

    #[test]
    fn a_resource_without_a_service_is_unknown_service_and_configured_attributes_do_not_relabel() {
        let request = export_request(
            &[span(Arc::new(Resource::default()), false)],
            &[
                ("service.name".into(), "override".into()),
                ("cloud.region".into(), "eu-west-1".into()),
            ],
        );
        let attributes = &request.resource_spans[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes;
        assert_eq!(
            value(attributes, "service.name"),
            Some(&any_value::Value::StringValue("unknown_service".into()))
        );
        assert_eq!(
            value(attributes, "cloud.region"),
            Some(&any_value::Value::StringValue("eu-west-1".into()))
        );
        assert_eq!(value(attributes, "host.name"), None, "empty host left out");
        assert_eq!(value(attributes, "k8s.pod.name"), None);
    }

    #[test]
    fn times_keep_their_nanoseconds() {
        let request = export_request(&[span(Arc::default(), false)], &[]);
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.start_time_unix_nano, 1_763_805_600_123_456_789);
        assert_eq!(span.end_time_unix_nano, 1_763_805_600_373_456_789);
        assert_eq!(unix_nanos(Utc.timestamp_nanos(-1)), 0);
    }
}
