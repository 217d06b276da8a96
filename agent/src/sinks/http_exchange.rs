//! HTTP exchanges as JSON documents: the request and response under the
//! OpenTelemetry semantic-convention names (`http.request.method`,
//! `url.path`, `http.response.status_code`, `server.address`, …), the
//! process, container and pod under the same ECS names as log records
//! (`ecs.rs`), so one dashboard filters both by the same keys.
//!
//! Only a [`Redacted`] exchange can be written: the path, query and header
//! values are already scanned.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::ecs::{rfc3339, write_resource};
use crate::event::HttpExchange;
use crate::redact::Redacted;

/// One exchange, ready to serialize.
pub struct ExchangeView<'a> {
    exchange: &'a Redacted<HttpExchange>,
}

impl<'a> ExchangeView<'a> {
    pub fn new(exchange: &'a Redacted<HttpExchange>) -> Self {
        ExchangeView { exchange }
    }

    /// Appends the document and a newline.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Serializing strings and numbers into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, self);
        out.push(b'\n');
    }

    /// Appends one compact line: time, role, method, path, status, duration,
    /// service.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        let e = &**self.exchange;
        let service = e.resource.service_name.as_deref().unwrap_or("-");
        let query = e
            .query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let line = format!(
            "{} http {} {} {}{} {} {:.3}ms {}\n",
            rfc3339(e.start),
            e.role.as_str(),
            e.method,
            e.path,
            query,
            e.status,
            e.duration.as_secs_f64() * 1e3,
            service,
        );
        out.extend_from_slice(line.as_bytes());
    }
}

impl Serialize for ExchangeView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = &**self.exchange;
        let mut written = Vec::with_capacity(24);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("@timestamp", &rfc3339(e.start))?;
        map.serialize_entry("event.dataset", "wardwatch.http")?;
        // `span.kind` as OTLP names it: the captured process's side.
        map.serialize_entry("span.kind", e.role.as_str())?;
        map.serialize_entry("http.request.method", &e.method)?;
        map.serialize_entry("url.path", &e.path)?;
        if let Some(query) = &e.query {
            map.serialize_entry("url.query", query)?;
        }
        map.serialize_entry("http.response.status_code", &e.status)?;
        map.serialize_entry("network.protocol.name", "http")?;
        map.serialize_entry("network.protocol.version", e.protocol_version)?;
        // ECS's `event.duration`: nanoseconds.
        map.serialize_entry("event.duration", &(e.duration.as_nanos() as u64))?;
        if let Some(server) = e.server {
            map.serialize_entry("server.address", &server.ip().to_string())?;
            map.serialize_entry("server.port", &server.port())?;
        }
        if let Some(client) = e.client {
            map.serialize_entry("client.address", &client.ip().to_string())?;
            map.serialize_entry("client.port", &client.port())?;
        }
        map.serialize_entry("http.request.body.size", &e.request_body_bytes)?;
        map.serialize_entry("http.response.body.size", &e.response_body_bytes)?;
        if let Some(agent) = e.request_header("user-agent") {
            map.serialize_entry("user_agent.original", agent)?;
        }
        if let Some(host) = e.request_header("host") {
            map.serialize_entry("http.request.header.host", host)?;
        }
        if let Some(parent) = e.trace_parent() {
            map.serialize_entry("trace.id", parent.trace_id)?;
            map.serialize_entry("parent.span.id", parent.parent_span_id)?;
        }
        map.serialize_entry("process.pid", &e.pid)?;
        if e.tid != 0 {
            map.serialize_entry("thread.id", &e.tid)?;
        }
        // A process in no container is labelled so, not left to be guessed
        // from missing fields.
        let placement = if e.resource.container_id.is_some() || e.resource.pod_uid.is_some() {
            "container"
        } else {
            "host"
        };
        map.serialize_entry("wardwatch.process.placement", placement)?;
        write_resource(&mut map, &e.resource, &mut written)?;
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
    use crate::event::{Resource, Role};
    use crate::redact::Redactor;

    fn exchange() -> HttpExchange {
        HttpExchange {
            role: Role::Server,
            method: "POST".into(),
            path: "/api/v1/appointments".into(),
            query: Some("notify=true".into()),
            status: 201,
            protocol_version: "1.1",
            request_headers: vec![
                ("host".into(), "appointment-service:8080".into()),
                (
                    "traceparent".into(),
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
                ),
            ],
            start: Utc.with_ymd_and_hms(2026, 11, 22, 9, 30, 0).unwrap(),
            duration: Duration::from_micros(1500),
            server: Some("10.0.0.7:8080".parse().unwrap()),
            client: Some("10.0.0.9:51234".parse().unwrap()),
            pid: 4242,
            tid: 4242,
            cgroup_id: 1,
            request_body_bytes: 120,
            response_body_bytes: 48,
            resource: Arc::new(Resource {
                host_name: "node-a".into(),
                namespace: Some("clinical".into()),
                pod_name: Some("appointment-service-7d9f8b6c5-x2k4q".into()),
                container_id: Some("c".repeat(64)),
                service_name: Some("appointment-service".into()),
                ..Resource::default()
            }),
        }
    }

    #[test]
    fn documents_use_the_semantic_convention_names() {
        let redacted = Redactor::builtin().redact_exchange(exchange());
        let mut out = Vec::new();
        ExchangeView::new(&redacted).write_json(&mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["http.request.method"], "POST");
        assert_eq!(doc["url.path"], "/api/v1/appointments");
        assert_eq!(doc["url.query"], "notify=true");
        assert_eq!(doc["http.response.status_code"], 201);
        assert_eq!(doc["network.protocol.version"], "1.1");
        assert_eq!(doc["server.address"], "10.0.0.7");
        assert_eq!(doc["server.port"], 8080);
        assert_eq!(doc["client.address"], "10.0.0.9");
        assert_eq!(doc["span.kind"], "server");
        assert_eq!(doc["event.duration"], 1_500_000);
        assert_eq!(doc["trace.id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(doc["parent.span.id"], "00f067aa0ba902b7");
        assert_eq!(doc["service.name"], "appointment-service");
        assert_eq!(doc["orchestrator.namespace"], "clinical");
        assert_eq!(doc["wardwatch.process.placement"], "container");
        assert_eq!(doc["@timestamp"], "2026-11-22T09:30:00Z");
    }

    #[test]
    fn host_processes_say_so_and_text_lines_are_compact() {
        let mut host = exchange();
        host.resource = Arc::new(Resource {
            host_name: "node-a".into(),
            service_name: Some("unknown_service:python3".into()),
            ..Resource::default()
        });
        let redacted = Redactor::builtin().redact_exchange(host);
        let mut out = Vec::new();
        ExchangeView::new(&redacted).write_json(&mut out);
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["wardwatch.process.placement"], "host");
        let mut text = Vec::new();
        ExchangeView::new(&redacted).write_text(&mut text);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "2026-11-22T09:30:00Z http server POST /api/v1/appointments?notify=true 201 1.500ms unknown_service:python3\n"
        );
    }
}
