//! Docker's json-file driver:
//! `{"log":"text\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}`.
//!
//! The driver cuts a line longer than 16 KiB into several entries; only the
//! last one's `log` ends with `\n`. Other members (`attrs`) are ignored.

use std::borrow::Cow;

use serde::Deserialize;

use super::{parse_timestamp, Fragment};
use crate::event::Stream;

#[derive(Deserialize)]
struct Entry<'a> {
    // Borrowed when the value has no escapes; nearly every `log` ends with an
    // escaped `\n`, so it is usually owned, and that allocation becomes the
    // record's buffer downstream rather than being copied again.
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(default, borrow)]
    stream: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    time: Option<Cow<'a, str>>,
}

/// The line as a Docker entry, or `None` when it is not one.
pub(super) fn decode(line: &[u8]) -> Option<Fragment<'_>> {
    decode_entry(line).map(|(fragment, _)| fragment)
}

/// Whether `line` is a Docker entry with everything the driver always
/// writes, enough to call the whole file Docker.
pub(super) fn is_docker(line: &[u8]) -> bool {
    matches!(decode_entry(line), Some((fragment, true)) if fragment.stream.is_some())
}

fn decode_entry(line: &[u8]) -> Option<(Fragment<'_>, bool)> {
    // serde would also read a struct from an array; the driver writes objects.
    if line.first() != Some(&b'{') {
        return None;
    }
    // Invalid UTF-8 inside a string, truncation and trailing garbage are all
    // parse errors here, so none of them can reach the record half-decoded.
    let entry: Entry<'_> = serde_json::from_slice(line).ok()?;
    let partial = !entry.log.ends_with('\n');
    let mut text = match entry.log {
        Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
        Cow::Owned(text) => Cow::Owned(text.into_bytes()),
    };
    if !partial {
        match &mut text {
            Cow::Borrowed(text) => *text = &text[..text.len() - 1],
            Cow::Owned(text) => {
                text.pop();
            }
        }
    }
    let stream = match entry.stream.as_deref() {
        Some("stdout") => Some(Stream::Stdout),
        Some("stderr") => Some(Stream::Stderr),
        _ => None,
    };
    let has_time = entry.time.is_some();
    let timestamp = entry
        .time
        .as_deref()
        .and_then(|time| parse_timestamp(time.as_bytes()));
    let fragment = Fragment {
        timestamp,
        stream,
        text,
        partial,
        malformed: false,
    };
    Some((fragment, has_time))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::{decode, Format};
    use super::*;

    #[test]
    fn full_line() {
        let line = br#"{"log":"GET /fhir/Patient/123 200 12ms\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}"#;
        let fragment = decode(Format::Docker, line);
        assert_eq!(&fragment.text[..], b"GET /fhir/Patient/123 200 12ms");
        assert_eq!(fragment.stream, Some(Stream::Stdout));
        assert_eq!(
            fragment.timestamp,
            Some(Utc.timestamp_opt(1_704_164_645, 123_456_789).unwrap())
        );
        assert!(!fragment.partial);
        assert!(!fragment.malformed);
    }

    #[test]
    fn value_without_newline_is_partial_and_borrowed() {
        let line = br#"{"log":"first 16 KiB","stream":"stderr","time":"2024-01-02T03:04:05Z"}"#;
        let fragment = decode(Format::Docker, line);
        assert!(fragment.partial);
        assert_eq!(fragment.stream, Some(Stream::Stderr));
        assert!(matches!(fragment.text, Cow::Borrowed(b"first 16 KiB")));
    }

    #[test]
    fn escapes_are_decoded() {
        let line = br#"{"log":"{\"patient\":\"caf\u00e9\"}\ttab\r\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}"#;
        let fragment = decode(Format::Docker, line);
        assert_eq!(
            &fragment.text[..],
            "{\"patient\":\"café\"}\ttab\r".as_bytes()
        );
        assert!(!fragment.partial);
    }

    #[test]
    fn attrs_and_member_order_do_not_matter() {
        let line = br#"{"time":"2024-01-02T03:04:05Z","attrs":{"tag":"ehr","n":[1,{"a":null}]},"stream":"stdout","log":"ok\n"}"#;
        let fragment = decode(Format::Docker, line);
        assert_eq!(&fragment.text[..], b"ok");
        assert!(!fragment.malformed);
        assert!(Format::detect(line) == Format::Docker);
    }

    #[test]
    fn empty_log_is_an_empty_full_line() {
        let line = br#"{"log":"\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}"#;
        let fragment = decode(Format::Docker, line);
        assert_eq!(&fragment.text[..], b"");
        assert!(!fragment.partial);
    }

    #[test]
    fn odd_members_degrade_instead_of_failing() {
        let line = br#"{"log":"ok\n","stream":"console","time":"last tuesday"}"#;
        let fragment = decode(Format::Docker, line);
        assert!(!fragment.malformed);
        assert_eq!(fragment.stream, None);
        assert_eq!(fragment.timestamp, None);
    }

    #[test]
    fn lines_that_are_not_entries_are_malformed_raw_lines() {
        let cases: &[&[u8]] = &[
            b"panic: runtime error",
            br#"{"log":"cut here"#,
            br#"{"log":"ok\n","stream":"stdout"} trailing"#,
            br#"{"stream":"stdout","time":"2024-01-02T03:04:05Z"}"#,
            br#"{"log":42,"stream":"stdout"}"#,
            br#"["log","ok"]"#,
            b"{\"log\":\"bad \xff utf8\\n\",\"stream\":\"stdout\"}",
            b"",
        ];
        for line in cases {
            let fragment = decode(Format::Docker, line);
            assert!(fragment.malformed, "{}", String::from_utf8_lossy(line));
            assert_eq!(&fragment.text[..], *line);
            assert!(!fragment.partial);
            assert_eq!(fragment.stream, None);
        }
    }
}
