//! The CRI log layout: `<RFC 3339 timestamp> <stdout|stderr> <tags> <text>`.
//!
//! `tags` is `:`-separated; its first tag is `P` when the runtime cut the line
//! (more parts follow) and `F` on the last part. The text is raw bytes, and
//! may be empty (`... stdout F ` or `... stdout F`).

use std::borrow::Cow;

use memchr::memchr;

use super::{parse_timestamp, Fragment};
use crate::event::Stream;

/// The line in the CRI layout, or `None` when it does not follow it. A
/// timestamp that does not parse is kept as `None` rather than losing the
/// line's stream and partial tag.
pub(super) fn decode(line: &[u8]) -> Option<Fragment<'_>> {
    let (time, rest) = split_field(line)?;
    let (stream, rest) = split_field(rest)?;
    let stream = match stream {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let (tags, text) = split_field(rest).unwrap_or((rest, &[]));
    let partial = match tags.split(|&b| b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return None,
    };
    if time.is_empty() {
        return None;
    }
    Some(Fragment {
        timestamp: parse_timestamp(time),
        stream: Some(stream),
        text: Cow::Borrowed(text),
        partial,
        malformed: false,
    })
}

/// Whether `line` is clearly a CRI line, timestamp included.
pub(super) fn is_cri(line: &[u8]) -> bool {
    matches!(decode(line), Some(fragment) if fragment.timestamp.is_some())
}

/// The bytes up to the first space, and the bytes after it.
fn split_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = memchr(b' ', line)?;
    Some((&line[..space], &line[space + 1..]))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::{decode, Format};
    use super::*;

    #[test]
    fn full_line() {
        let line = b"2024-01-02T03:04:05.123456789Z stdout F POST /fhir/Observation 201";
        let fragment = decode(Format::Cri, line);
        assert_eq!(&fragment.text[..], b"POST /fhir/Observation 201");
        assert_eq!(fragment.stream, Some(Stream::Stdout));
        assert_eq!(
            fragment.timestamp,
            Some(Utc.timestamp_opt(1_704_164_645, 123_456_789).unwrap())
        );
        assert!(!fragment.partial);
        assert!(!fragment.malformed);
    }

    #[test]
    fn partial_tag() {
        let fragment = decode(Format::Cri, b"2024-01-02T03:04:05Z stderr P first part ");
        assert!(fragment.partial);
        assert_eq!(fragment.stream, Some(Stream::Stderr));
        // Spaces inside and at the end of the text belong to it.
        assert_eq!(&fragment.text[..], b"first part ");
    }

    #[test]
    fn extra_tags_after_the_partial_tag() {
        let fragment = decode(Format::Cri, b"2024-01-02T03:04:05Z stdout P:x text");
        assert!(fragment.partial);
        assert_eq!(&fragment.text[..], b"text");
    }

    #[test]
    fn empty_text_is_valid() {
        for line in [
            &b"2024-01-02T03:04:05Z stdout F "[..],
            &b"2024-01-02T03:04:05Z stdout F"[..],
        ] {
            let fragment = decode(Format::Cri, line);
            assert!(!fragment.malformed);
            assert_eq!(&fragment.text[..], b"");
        }
    }

    #[test]
    fn odd_timestamps() {
        let base = Utc.timestamp_opt(1_704_164_645, 0).unwrap();
        let cases: &[(&[u8], Option<chrono::DateTime<Utc>>)] = &[
            (b"2024-01-02T05:04:05+02:00 stdout F x", Some(base)),
            (
                b"2024-01-02T03:04:05.5Z stdout F x",
                Some(base + chrono::Duration::milliseconds(500)),
            ),
            (b"2024-01-02T03:04:05Z stdout F x", Some(base)),
            (b"not-a-time stdout F x", None),
        ];
        for (line, expected) in cases {
            let fragment = decode(Format::Cri, line);
            assert!(!fragment.malformed);
            assert_eq!(fragment.timestamp, *expected);
            assert_eq!(&fragment.text[..], b"x");
        }
    }

    #[test]
    fn invalid_utf8_text_is_kept_raw() {
        let fragment = decode(Format::Cri, b"2024-01-02T03:04:05Z stdout F caf\xe9");
        assert!(!fragment.malformed);
        assert_eq!(&fragment.text[..], b"caf\xe9");
    }

    #[test]
    fn lines_that_do_not_follow_the_layout_are_malformed_raw_lines() {
        let cases: &[&[u8]] = &[
            b"Exception in thread \"main\" java.lang.IllegalStateException",
            b"2024-01-02T03:04:05Z stdout",
            b"2024-01-02T03:04:05Z stdout X text",
            b"2024-01-02T03:04:05Z console F text",
            b" stdout F text",
            b"",
        ];
        for line in cases {
            let fragment = decode(Format::Cri, line);
            assert!(fragment.malformed, "{}", String::from_utf8_lossy(line));
            assert_eq!(&fragment.text[..], *line);
            assert_eq!(fragment.stream, None);
        }
    }
}
