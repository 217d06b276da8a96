//! The shared data model: what sources produce and sinks (after redaction) consume.
//!
//! A [`LogRecord`] is one reassembled log record (partial lines joined, stack
//! traces folded) with the [`Resource`] it came from. Network exchanges join this
//! module when the eBPF source lands.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Which of a container's output streams a record was written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Where a record came from: the node, the file, and the container, pod and
/// service that wrote it. Shared by every record of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// `host.name`: the node.
    pub host_name: String,
    /// `log.file.path`: the file the record was read from.
    pub log_file_path: String,
    /// `orchestrator.namespace` (Kubernetes namespace).
    pub namespace: Option<String>,
    /// `orchestrator.resource.name` (pod name).
    pub pod_name: Option<String>,
    /// `kubernetes.pod.uid`.
    pub pod_uid: Option<String>,
    /// `container.name`.
    pub container_name: Option<String>,
    /// `container.id` (full runtime id).
    pub container_id: Option<String>,
    /// `container.image.name`.
    pub container_image: Option<String>,
    /// `kubernetes.container.restart_count`, from the CRI file name.
    pub restart_count: Option<u32>,
    /// `container.labels`: runtime labels (Docker `Config.Labels`).
    pub labels: BTreeMap<String, String>,
    /// `service.name`.
    pub service_name: Option<String>,
    /// `tenant.id`: the namespace unless the operator maps it otherwise.
    pub tenant_id: Option<String>,
}

/// One log record, before or after redaction.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// The time the container runtime stamped on the line, if the format has one.
    pub timestamp: Option<DateTime<Utc>>,
    /// The stream the record was written to, if the format says.
    pub stream: Option<Stream>,
    /// The record's text when it is not a JSON object. `None` when the text
    /// parsed as a JSON object: its members are then in `fields`.
    pub message: Option<String>,
    /// Structured fields parsed from a JSON-object message.
    pub fields: Map<String, Value>,
    /// Set when the record was cut at the configured size cap.
    pub truncated: bool,
    pub resource: Arc<Resource>,
}

impl LogRecord {
    /// A text record with no structured fields.
    pub fn text(message: impl Into<String>, resource: Arc<Resource>) -> Self {
        LogRecord {
            timestamp: None,
            stream: None,
            message: Some(message.into()),
            fields: Map::new(),
            truncated: false,
            resource,
        }
    }
}

/// Which side of a connection the observed process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The process accepted the connection: it answers requests.
    Server,
    /// The process connected: it sends requests.
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// One HTTP/1.x request and its response, as captured from a process's
/// socket calls. Fields hold raw wire text until redaction; only a
/// `Redacted<HttpExchange>` may reach a sink.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpExchange {
    /// Whether the captured process served or sent the request.
    pub role: Role,
    /// `http.request.method`, as sent (`GET`, `POST`, …).
    pub method: String,
    /// `url.path`: the request target up to `?`.
    pub path: String,
    /// `url.query`: what followed `?`, without it; `None` when there was no `?`.
    pub query: Option<String>,
    /// `http.response.status_code`.
    pub status: u16,
    /// `network.protocol.version`: `1.0` or `1.1`.
    pub protocol_version: &'static str,
    /// Request header values the agent keeps (lower-case names), in wire
    /// order: `host`, `user-agent`, `traceparent`, `tracestate`.
    pub request_headers: Vec<(String, String)>,
    /// The request's first byte was seen at this time.
    pub start: DateTime<Utc>,
    /// From the request's first byte to the response's last.
    pub duration: std::time::Duration,
    /// `server.address` / `server.port`: the accepting side of the connection.
    pub server: Option<std::net::SocketAddr>,
    /// `client.address` / `client.port`: the connecting side.
    pub client: Option<std::net::SocketAddr>,
    /// `process.pid` of the captured process.
    pub pid: u32,
    /// `thread.id`: the thread that read the request (server side) or sent
    /// it (client side); 0 when not known.
    pub tid: u32,
    /// The cgroup the process ran in (cgroup v2 id), used for attribution.
    pub cgroup_id: u64,
    /// Body sizes as announced or counted (bodies themselves are never kept).
    pub request_body_bytes: u64,
    pub response_body_bytes: u64,
    /// The container, pod and service the process belongs to; a host
    /// process gets a resource with no container fields.
    pub resource: Arc<Resource>,
}

/// The W3C `traceparent` a request carried: whose span it continues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent<'a> {
    /// 32 lower-case hex digits, not all zero.
    pub trace_id: &'a str,
    /// The caller's span: 16 lower-case hex digits, not all zero.
    pub parent_span_id: &'a str,
    /// The `sampled` flag.
    pub sampled: bool,
}

impl<'a> TraceParent<'a> {
    /// Parses a `traceparent` header value as the W3C Trace Context spec
    /// reads it: version `00` has exactly four fields; a later version may
    /// append fields, which are ignored; version `ff` and all-zero ids are
    /// invalid.
    pub fn parse(value: &'a str) -> Option<TraceParent<'a>> {
        let value = value.trim();
        let mut fields = value.split('-');
        let version = fields.next()?;
        let trace_id = fields.next()?;
        let parent_span_id = fields.next()?;
        let flags = fields.next()?;
        let lower_hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
        let valid = lower_hex(version, 2)
            && version != "ff"
            && (version != "00" || fields.next().is_none())
            && lower_hex(trace_id, 32)
            && nonzero(trace_id)
            && lower_hex(parent_span_id, 16)
            && nonzero(parent_span_id)
            && lower_hex(flags, 2);
        if !valid {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(TraceParent {
            trace_id,
            parent_span_id,
            sampled: flags & 1 == 1,
        })
    }
}

impl HttpExchange {
    /// The value of a kept request header (`name` in lower case).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trace the request continues, if it carried a valid `traceparent`.
    pub fn trace_parent(&self) -> Option<TraceParent<'_>> {
        self.request_header("traceparent")
            .and_then(TraceParent::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_as_the_w3c_spec_says() {
        let ok =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(ok.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ok.parent_span_id, "00f067aa0ba902b7");
        assert!(ok.sampled);
        let later = TraceParent::parse(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes",
        );
        assert!(later.is_some_and(|p| !p.sampled));
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }
}
