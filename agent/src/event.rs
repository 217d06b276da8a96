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
