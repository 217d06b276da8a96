//! Log records as Elastic Common Schema (ECS) documents, for the stdout sink
//! now and the Elasticsearch sink later: one mapping, so the two cannot differ.
//!
//! Resource metadata goes under ECS names (`container.id`,
//! `orchestrator.namespace`, …). A record's own JSON fields follow as they
//! are, except the handful that ECS names differently (`msg`, `level`,
//! `traceId`, …), which are moved to their ECS names. The agent's metadata
//! wins when a record carries a key of the same name.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::event::{LogRecord, Resource};
use crate::redact::Redacted;

/// Keys of a record's own fields that hold its message, by preference.
const MESSAGE_KEYS: &[&str] = &["message", "msg", "log"];
const LEVEL_KEYS: &[&str] = &["log.level", "level", "severity", "loglevel", "levelname"];
const TRACE_KEYS: &[&str] = &["trace.id", "trace_id", "traceId", "traceid"];
const SPAN_KEYS: &[&str] = &["span.id", "span_id", "spanId", "spanid"];
const LEVEL_WORDS: &[&str] = &[
    "TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL",
];

/// The parts of a record that ECS names, resolved once for both encodings.
pub struct EcsView<'a> {
    record: &'a LogRecord,
    message: Option<&'a str>,
    level: Option<String>,
    trace_id: Option<&'a str>,
    span_id: Option<&'a str>,
    /// Field keys moved to an ECS name, not to be written again.
    consumed: [Option<&'a str>; 4],
}

impl<'a> EcsView<'a> {
    pub fn new(redacted: &'a Redacted<LogRecord>) -> Self {
        let record = redacted.get();
        // One pass over the fields, keeping for each ECS name the candidate
        // key earliest in its preference list.
        let mut found: [Option<(usize, &'a str, &'a str)>; 4] = [None; 4];
        for (key, value) in &record.fields {
            let Value::String(text) = value else { continue };
            for (slot, keys) in [MESSAGE_KEYS, LEVEL_KEYS, TRACE_KEYS, SPAN_KEYS]
                .iter()
                .enumerate()
            {
                if let Some(rank) = keys.iter().position(|k| *k == key) {
                    if found[slot].is_none_or(|(best, _, _)| rank < best) {
                        found[slot] = Some((rank, key.as_str(), text.as_str()));
                    }
                }
            }
        }
        let key = |slot: usize| found[slot].map(|(_, key, _)| key);
        let text = |slot: usize| found[slot].map(|(_, _, text)| text);
        let level = text(1)
            .map(str::to_ascii_lowercase)
            .or_else(|| record.message.as_deref().and_then(level_in_text));
        EcsView {
            record,
            message: record.message.as_deref().or(text(0)),
            level,
            trace_id: text(2),
            span_id: text(3),
            consumed: [key(0), key(1), key(2), key(3)],
        }
    }

    /// The record's level, lower-case, from its fields or its text.
    pub fn level(&self) -> Option<&str> {
        self.level.as_deref()
    }

    /// The record's message, from its text or its message field.
    pub fn message(&self) -> Option<&'a str> {
        self.message
    }

    fn timestamp(&self) -> String {
        rfc3339(self.record.timestamp.unwrap_or_else(Utc::now))
    }

    /// The record's own fields not moved to an ECS name.
    fn other_fields(&self) -> impl Iterator<Item = (&'a String, &'a Value)> + '_ {
        self.record
            .fields
            .iter()
            .filter(|(k, _)| !self.consumed.contains(&Some(k.as_str())))
    }

    /// Writes the record as one JSON line (with the newline).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut serializer = serde_json::Serializer::new(&mut *out);
        // Serializing maps of strings and JSON values into a Vec cannot fail.
        let _ = self.serialize(&mut serializer);
        out.push(b'\n');
    }

    /// Writes the record as one compact human-readable line (with the newline):
    /// `time LEVEL namespace/pod container | message {other fields}`.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        let r = &self.resource_fields();
        let level = self.level.as_deref().unwrap_or("-").to_ascii_uppercase();
        let _ = write!(out, "{} {:<5} ", self.timestamp(), level);
        if let (Some(ns), Some(pod)) = (r.namespace, r.pod) {
            let _ = write!(out, "{ns}/{pod} ");
        }
        if let Some(name) = r.container.or(r.service) {
            let _ = write!(out, "{name} ");
        }
        out.extend_from_slice(b"| ");
        out.extend_from_slice(self.message.unwrap_or("").as_bytes());
        let mut rest = self.other_fields().peekable();
        if rest.peek().is_some() {
            out.extend_from_slice(b" ");
            let mut serializer = serde_json::Serializer::new(&mut *out);
            // Writing JSON values into a Vec cannot fail.
            let _ = serializer.collect_map(rest);
        }
        if self.record.truncated {
            out.extend_from_slice(b" [truncated]");
        }
        out.push(b'\n');
    }

    fn resource_fields(&self) -> ResourceNames<'a> {
        let r = &*self.record.resource;
        ResourceNames {
            namespace: r.namespace.as_deref(),
            pod: r.pod_name.as_deref(),
            container: r.container_name.as_deref(),
            service: r.service_name.as_deref(),
        }
    }
}

struct ResourceNames<'a> {
    namespace: Option<&'a str>,
    pod: Option<&'a str>,
    container: Option<&'a str>,
    service: Option<&'a str>,
}

impl Serialize for EcsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = self.record;
        let r = &*record.resource;
        let mut written: Vec<&str> = Vec::with_capacity(24);
        let mut map = serializer.serialize_map(None)?;
        macro_rules! entry {
            ($key:expr, $value:expr) => {{
                written.push($key);
                map.serialize_entry($key, $value)?;
            }};
        }
        macro_rules! optional {
            ($key:expr, $value:expr) => {
                if let Some(value) = $value {
                    entry!($key, value);
                }
            };
        }
        entry!("@timestamp", &self.timestamp());
        optional!("message", self.message);
        optional!("log.level", &self.level);
        optional!("trace.id", self.trace_id);
        optional!("span.id", self.span_id);
        optional!("stream", record.stream.map(|s| s.as_str()));
        write_resource(&mut map, r, &mut written)?;
        entry!("log.file.path", &r.log_file_path);
        if record.truncated {
            entry!("wardwatch.truncated", &true);
        }
        for (key, value) in self.other_fields() {
            if !written.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// A resource's fields under their ECS names, shared by every document the
/// agent writes (log records here, HTTP exchanges in `http_exchange.rs`), so
/// a dashboard filters logs and traffic by the same keys. Records the keys
/// written in `written`.
pub(super) fn write_resource<M: SerializeMap>(
    map: &mut M,
    r: &Resource,
    written: &mut Vec<&'static str>,
) -> Result<(), M::Error> {
    macro_rules! entry {
        ($key:expr, $value:expr) => {{
            written.push($key);
            map.serialize_entry($key, $value)?;
        }};
    }
    macro_rules! optional {
        ($key:expr, $value:expr) => {
            if let Some(value) = $value {
                entry!($key, value);
            }
        };
    }
    optional!("service.name", &r.service_name);
    optional!("container.id", &r.container_id);
    optional!("container.name", &r.container_name);
    optional!("container.image.name", &r.container_image);
    if !r.labels.is_empty() {
        entry!("container.labels", &r.labels);
    }
    optional!("orchestrator.namespace", &r.namespace);
    if r.pod_name.is_some() {
        entry!("orchestrator.resource.type", "pod");
    }
    optional!("orchestrator.resource.name", &r.pod_name);
    optional!("kubernetes.pod.uid", &r.pod_uid);
    optional!("kubernetes.container.restart_count", &r.restart_count);
    optional!("tenant.id", &r.tenant_id);
    entry!("host.name", &r.host_name);
    Ok(())
}

/// The level word of a text line (`2024-… INFO 1 --- [main] …`), looked for
/// among the first few words only, where log layouts put it.
fn level_in_text(message: &str) -> Option<String> {
    message
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter(|w| !w.is_empty())
        .take(4)
        .map(|w| w.trim_end_matches(':'))
        .find(|w| LEVEL_WORDS.contains(w))
        .map(|w| match w {
            "WARNING" => "warn".to_owned(),
            other => other.to_ascii_lowercase(),
        })
}

pub(super) fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::Resource;
    use crate::redact::Redactor;

    fn redacted(fields: Value) -> Redacted<LogRecord> {
        let mut record = LogRecord::text("", Arc::new(Resource::default()));
        record.message = None;
        record.fields = fields.as_object().unwrap().clone();
        Redactor::builtin().redact(record)
    }

    fn json(record: &Redacted<LogRecord>) -> Value {
        let mut out = Vec::new();
        EcsView::new(record).write_json(&mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn preferred_keys_take_the_ecs_names_and_others_stay() {
        let record = redacted(serde_json::json!({
            "msg": "second choice",
            "severity": "WARNING",
            "message": "first choice",
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "order": 7,
        }));
        let doc = json(&record);
        assert_eq!(doc["message"], "first choice");
        assert_eq!(doc["log.level"], "warning");
        assert_eq!(doc["trace.id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(doc["span.id"], "00f067aa0ba902b7");
        assert_eq!(doc["msg"], "second choice", "a key not moved stays");
        assert_eq!(doc["order"], 7);
        assert!(doc.get("traceId").is_none() && doc.get("severity").is_none());
    }

    #[test]
    fn agent_metadata_wins_over_a_record_key_of_the_same_name() {
        let record = redacted(serde_json::json!({"message": "m", "host.name": "spoofed"}));
        assert_eq!(json(&record)["host.name"], "");
    }

    #[test]
    fn text_line_carries_level_message_and_remaining_fields() {
        let record = redacted(serde_json::json!({"message": "booked", "level": "info", "slot": 3}));
        let mut out = Vec::new();
        EcsView::new(&record).write_text(&mut out);
        let line = String::from_utf8(out).unwrap();
        assert!(line.ends_with(" INFO  | booked {\"slot\":3}\n"), "{line}");
    }

    #[test]
    fn level_is_found_among_the_first_words() {
        assert_eq!(
            level_in_text("2024-01-02 03:04:05.678  WARN 1 --- [main] c.a.Foo : x").as_deref(),
            Some("warn")
        );
        assert_eq!(level_in_text("[ERROR] boom").as_deref(), Some("error"));
        assert_eq!(level_in_text("WARNING: disk").as_deref(), Some("warn"));
        assert_eq!(level_in_text("a b c d ERROR").as_deref(), None);
    }
}
