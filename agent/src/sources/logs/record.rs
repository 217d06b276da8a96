//! From an assembled line to a [`LogRecord`]: text decoding and structured
//! (JSON object) messages.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::assemble::AssembledLine;
use crate::event::{LogRecord, Resource};

/// A record and what building it had to repair.
#[derive(Clone, Debug, PartialEq)]
pub struct BuiltRecord {
    pub record: LogRecord,
    /// Invalid UTF-8 was replaced by U+FFFD.
    pub invalid_utf8: bool,
    /// Some physical line of it did not follow the file's format.
    pub malformed: bool,
}

/// Decodes an assembled line into a record of `resource`.
///
/// Invalid UTF-8 is replaced, never rejected: the bytes are the container's
/// output, and a record rejected here would be lost without a trace.
/// A message that is a JSON object becomes `fields`; anything else (arrays,
/// scalars, JSON cut by the size cap) stays text.
pub fn build_record(line: AssembledLine, resource: &Arc<Resource>) -> BuiltRecord {
    let mut bytes = line.bytes;
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    let (text, invalid_utf8) = match String::from_utf8(bytes) {
        Ok(text) => (text, false),
        Err(error) => (String::from_utf8_lossy(error.as_bytes()).into_owned(), true),
    };
    let (message, fields) = match json_object(&text) {
        Some(fields) => (None, fields),
        None => (Some(text), Map::new()),
    };
    BuiltRecord {
        record: LogRecord {
            timestamp: line.timestamp,
            stream: line.stream,
            message,
            fields,
            truncated: line.truncated,
            resource: Arc::clone(resource),
        },
        invalid_utf8,
        malformed: line.malformed,
    }
}

fn json_object(text: &str) -> Option<Map<String, Value>> {
    let text = text.trim_start();
    // Most messages are not JSON; this spares them a parser start-up.
    if !text.starts_with('{') {
        return None;
    }
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::event::Stream;

    fn line(bytes: &[u8]) -> AssembledLine {
        AssembledLine {
            start_offset: 0,
            timestamp: Some("2024-01-02T03:04:05Z".parse().unwrap()),
            stream: Some(Stream::Stdout),
            bytes: bytes.to_vec(),
            truncated: false,
            malformed: false,
        }
    }

    fn build(bytes: &[u8]) -> BuiltRecord {
        build_record(line(bytes), &Arc::new(Resource::default()))
    }

    #[test]
    fn text_message() {
        let built = build(b"GET /fhir/Patient 200\r");
        assert_eq!(
            built.record.message.as_deref(),
            Some("GET /fhir/Patient 200")
        );
        assert!(built.record.fields.is_empty());
        assert!(!built.invalid_utf8);
        assert_eq!(built.record.stream, Some(Stream::Stdout));
        assert!(built.record.timestamp.is_some());
    }

    #[test]
    fn json_object_becomes_fields() {
        let built = build(br#"  {"level":"info","msg":"admitted","ward":4,"tags":["a"]}"#);
        assert_eq!(built.record.message, None);
        assert_eq!(
            Value::Object(built.record.fields),
            json!({"level":"info","msg":"admitted","ward":4,"tags":["a"]})
        );
    }

    #[test]
    fn other_json_stays_text() {
        for text in [
            r#"[1,2,3]"#,
            r#""a string""#,
            "42",
            "null",
            r#"{"msg":"cut by the cap"#,
            r#"{"a":1} trailing"#,
            "{not json}",
        ] {
            let built = build(text.as_bytes());
            assert_eq!(built.record.message.as_deref(), Some(text), "{text}");
            assert!(built.record.fields.is_empty());
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_and_flagged() {
        let built = build(b"caf\xe9 \xff\xfe ok");
        assert_eq!(
            built.record.message.as_deref(),
            Some("caf\u{fffd} \u{fffd}\u{fffd} ok")
        );
        assert!(built.invalid_utf8);
    }

    #[test]
    fn truncated_and_malformed_carry_over() {
        let mut assembled = line(br#"{"msg":"cut"#);
        assembled.truncated = true;
        assembled.malformed = true;
        let built = build_record(assembled, &Arc::new(Resource::default()));
        assert!(built.record.truncated);
        assert!(built.malformed);
        assert!(built.record.message.is_some());
    }
}
