//! Spans as JSON documents, for the stdout sink: what would be exported over
//! OTLP, readable while debugging without a tracing backend.
//!
//! `event.dataset: wardwatch.span` sets them apart from log records and
//! exchanges (`wardwatch.http`); the span itself is one `span` object with
//! the OTLP fields, ids in lower-case hex as `traceparent` and OTLP/JSON
//! write them; the service, pod and container follow under the same ECS
//! names as the other documents (`ecs.rs`). Every value comes from the
//! span, which is built from a redacted exchange only.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::ecs::{rfc3339, write_resource};
use crate::derive::span::{hex, AttributeValue, Span};

/// One span, ready to serialize.
pub struct SpanView<'a> {
    span: &'a Span,
}

impl<'a> SpanView<'a> {
    pub fn new(span: &'a Span) -> Self {
        SpanView { span }
    }

    /// Appends the document and a newline.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Serializing strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
        out.push(b'\n');
    }

    /// Appends one compact line: start, kind, name, status, duration, ids
    /// (`trace/span<parent`), service.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        let s = self.span;
        let parent = s.parent_span_id.map(|p| hex(&p));
        let line = format!(
            "{} span {} {} {} {:.3}ms {}/{}<{} {}\n",
            rfc3339(s.start),
            s.kind.as_str(),
            s.name,
            status(s),
            duration_nanos(s) as f64 / 1e6,
            hex(&s.trace_id),
            hex(&s.span_id),
            parent.as_deref().unwrap_or("-"),
            s.resource.service_name.as_deref().unwrap_or("-"),
        );
        out.extend_from_slice(line.as_bytes());
    }
}

/// OTLP's status code: `error`, or `unset` (the agent cannot know an
/// operation's contract well enough to claim `ok`, see `otlp/encode.rs`).
fn status(span: &Span) -> &'static str {
    if span.is_error {
        "error"
    } else {
        "unset"
    }
}

fn duration_nanos(span: &Span) -> i64 {
    (span.end - span.start)
        .num_nanoseconds()
        .unwrap_or(i64::MAX)
}

impl Serialize for SpanView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.span;
        let mut written = Vec::with_capacity(16);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("@timestamp", &rfc3339(s.start))?;
        map.serialize_entry("event.dataset", "wardwatch.span")?;
        map.serialize_entry("span", &SpanFields(s))?;
        write_resource(&mut map, &s.resource, &mut written)?;
        map.end()
    }
}

struct SpanFields<'a>(&'a Span);

impl Serialize for SpanFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("trace_id", &hex(&s.trace_id))?;
        map.serialize_entry("span_id", &hex(&s.span_id))?;
        if let Some(parent) = s.parent_span_id {
            map.serialize_entry("parent_span_id", &hex(&parent))?;
        }
        map.serialize_entry("name", &s.name)?;
        map.serialize_entry("kind", s.kind.as_str())?;
        map.serialize_entry("start", &rfc3339(s.start))?;
        map.serialize_entry("end", &rfc3339(s.end))?;
        map.serialize_entry("duration_ns", &duration_nanos(s))?;
        map.serialize_entry("status", status(s))?;
        map.serialize_entry("attributes", &Attributes(&s.attributes))?;
        map.end()
    }
}

struct Attributes<'a>(&'a [(&'static str, AttributeValue)]);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            match value {
                AttributeValue::Str(text) => map.serialize_entry(key, text)?,
                AttributeValue::Int(number) => map.serialize_entry(key, number)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use serde_json::Value;

    use super::*;
    use crate::derive::span::SpanBuilder;
    use crate::event::{HttpExchange, Resource, Role};
    use crate::redact::Redactor;

    fn span(role: Role, status: u16) -> Span {
        let exchange = Redactor::builtin().redact_exchange(HttpExchange {
            role,
            method: "GET".into(),
            path: "/api/v1/patients/123-45-6789".into(),
            query: Some("email=jane.roe%40example.org".into()),
            status,
            protocol_version: "1.1",
            request_headers: vec![(
                "traceparent".into(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            )],
            start: Utc.timestamp_nanos(1_795_000_000_123_456_789),
            duration: Duration::from_micros(2500),
            server: Some("10.0.0.7:8080".parse().unwrap()),
            client: Some("10.0.0.9:40000".parse().unwrap()),
            pid: 9,
            tid: 9,
            cgroup_id: 1,
            request_body_bytes: 0,
            response_body_bytes: 0,
            resource: Arc::new(Resource {
                host_name: "node-a".into(),
                namespace: Some("clinical".into()),
                service_name: Some("patient-service".into()),
                ..Resource::default()
            }),
        });
        SpanBuilder::default().build(&exchange, "/api/v1/patients/{id}")
    }

    fn json(span: &Span) -> (Vec<u8>, Value) {
        let mut out = Vec::new();
        SpanView::new(span).write_json(&mut out);
        let doc = serde_json::from_slice(&out).unwrap();
        (out, doc)
    }

    #[test]
    fn a_span_is_one_line_with_the_otlp_fields() {
        let span = span(Role::Server, 503);
        let (out, doc) = json(&span);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(doc["event.dataset"], "wardwatch.span");
        assert_eq!(doc["@timestamp"], "2026-11-18T11:06:40.123456789Z");
        let s = &doc["span"];
        assert_eq!(s["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s["span_id"], hex(&span.span_id));
        assert_eq!(s["parent_span_id"], "00f067aa0ba902b7");
        assert_eq!(s["name"], "GET /api/v1/patients/{id}");
        assert_eq!(s["kind"], "server");
        assert_eq!(s["start"], "2026-11-18T11:06:40.123456789Z");
        assert_eq!(s["end"], "2026-11-18T11:06:40.125956789Z");
        assert_eq!(s["duration_ns"], 2_500_000);
        assert_eq!(s["status"], "error");
        assert_eq!(s["attributes"]["http.route"], "/api/v1/patients/{id}");
        assert_eq!(s["attributes"]["http.response.status_code"], 503);
        assert_eq!(s["attributes"]["server.port"], 8080);
        assert_eq!(doc["service.name"], "patient-service");
        assert_eq!(doc["orchestrator.namespace"], "clinical");
        assert_eq!(doc["host.name"], "node-a");
    }

    #[test]
    fn a_root_span_has_no_parent_and_an_unset_status() {
        let span = span(Role::Client, 200);
        let (_, doc) = json(&span);
        assert_eq!(doc["span"]["kind"], "client");
        assert_eq!(doc["span"]["status"], "unset");
        // The client side of a traced call *is* the header's span.
        assert!(doc["span"].get("parent_span_id").is_none(), "{doc}");
    }

    #[test]
    fn span_documents_carry_no_phi() {
        let (out, _) = json(&span(Role::Server, 200));
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("123-45"), "{text}");
        assert!(!text.contains("jane.roe"), "{text}");
    }

    #[test]
    fn text_lines_are_compact() {
        let span = span(Role::Server, 200);
        let mut out = Vec::new();
        SpanView::new(&span).write_text(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "2026-11-18T11:06:40.123456789Z span server GET /api/v1/patients/{{id}} unset 2.500ms \
                 4bf92f3577b34da6a3ce929d0e0e4736/{}<00f067aa0ba902b7 patient-service\n",
                hex(&span.span_id)
            )
        );
    }
}
