//! Log file formats: how one physical line of a container log file is decoded.
//!
//! A container runtime writes one of three layouts, fixed for the life of a
//! file: Docker's json-file driver, the CRI layout (kubelet, containerd,
//! CRI-O), or the application's own lines (a plain file, or a runtime we do
//! not know). [`Format::detect`] picks one from the first non-empty line and
//! [`decode`] turns each physical line into a [`Fragment`].
//!
//! Decoding never fails: a line that does not follow the file's format is
//! still delivered, raw and marked `malformed`, because dropping it could hide
//! a record and the redactor scans raw text as well as decoded text.

mod cri;
mod docker;
mod plain;

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::event::Stream;

/// The layout of a log file's lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Docker's json-file driver: one JSON object per line.
    Docker,
    /// `<timestamp> <stream> <P|F> <text>`, as written by CRI runtimes.
    Cri,
    /// The application's own lines, undecorated.
    Plain,
}

impl Format {
    /// The format of a file whose first non-empty line is `line`.
    ///
    /// Stricter than [`decode`]: a plain file must not be taken for a
    /// container runtime's file because one of its lines happens to look
    /// like one, so Docker needs its `stream` member and CRI a timestamp
    /// that parses.
    pub fn detect(line: &[u8]) -> Format {
        if docker::is_docker(line) {
            Format::Docker
        } else if cri::is_cri(line) {
            Format::Cri
        } else {
            Format::Plain
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Docker => "docker",
            Format::Cri => "cri",
            Format::Plain => "plain",
        }
    }
}

/// One physical line, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The time the runtime stamped on the line, when it has one that parses.
    pub timestamp: Option<DateTime<Utc>>,
    /// The container stream the line was written to, when the format says.
    pub stream: Option<Stream>,
    /// The content, without the line terminator.
    pub text: Cow<'a, [u8]>,
    /// More fragments of the same logical line follow.
    pub partial: bool,
    /// The line did not follow the file's format; `text` is the raw line.
    pub malformed: bool,
}

impl<'a> Fragment<'a> {
    fn malformed(line: &'a [u8]) -> Self {
        Fragment {
            timestamp: None,
            stream: None,
            text: Cow::Borrowed(line),
            partial: false,
            malformed: true,
        }
    }
}

/// Decodes one physical line (without its `\n`) of a file in `format`.
/// Never fails and never panics.
pub fn decode(format: Format, line: &[u8]) -> Fragment<'_> {
    match format {
        Format::Docker => docker::decode(line).unwrap_or_else(|| Fragment::malformed(line)),
        Format::Cri => cri::decode(line).unwrap_or_else(|| Fragment::malformed(line)),
        Format::Plain => plain::decode(line),
    }
}

/// A runtime's timestamp. Runtimes write RFC 3339 with nanoseconds, but
/// trailing fractional zeros are dropped (Go's `RFC3339Nano`) and other
/// writers use offsets, `+0200`, or no zone at all (read as UTC).
fn parse_timestamp(text: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(text).ok()?;
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(time) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(time.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(secs: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, nanos).unwrap()
    }

    // 2024-01-02T03:04:05Z
    const BASE: i64 = 1_704_164_645;

    #[test]
    fn timestamps_in_the_shapes_runtimes_write() {
        let cases: &[(&str, Option<DateTime<Utc>>)] = &[
            (
                "2024-01-02T03:04:05.123456789Z",
                Some(utc(BASE, 123_456_789)),
            ),
            ("2024-01-02T03:04:05.1Z", Some(utc(BASE, 100_000_000))),
            ("2024-01-02T03:04:05Z", Some(utc(BASE, 0))),
            ("2024-01-02T05:04:05.5+02:00", Some(utc(BASE, 500_000_000))),
            ("2024-01-02T05:04:05+0200", Some(utc(BASE, 0))),
            ("2024-01-02T03:04:05.25", Some(utc(BASE, 250_000_000))),
            ("2024-01-02 03:04:05Z", Some(utc(BASE, 0))),
            ("yesterday", None),
            ("", None),
            ("2024-13-02T03:04:05Z", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timestamp(text.as_bytes()), *expected, "{text}");
        }
        assert_eq!(parse_timestamp(b"2024-01-02T03:04:05\xffZ"), None);
    }

    #[test]
    fn detects_each_format_from_its_first_line() {
        let docker = br#"{"log":"GET /fhir/Patient 200\n","stream":"stdout","time":"2024-01-02T03:04:05.1Z"}"#;
        let cri = b"2024-01-02T03:04:05.123456789Z stdout F GET /fhir/Patient 200";
        assert_eq!(Format::detect(docker), Format::Docker);
        assert_eq!(Format::detect(cri), Format::Cri);
        assert_eq!(
            Format::detect(b"2024-01-02 03:04:05 INFO started"),
            Format::Plain
        );
        // Structured application logs are plain files, even with a `log` member.
        assert_eq!(
            Format::detect(br#"{"log":"x","level":"info"}"#),
            Format::Plain
        );
        // A CRI layout whose timestamp does not parse is not evidence enough.
        assert_eq!(Format::detect(b"boot stdout F ready"), Format::Plain);
        assert_eq!(Format::detect(b""), Format::Plain);
        assert_eq!(Format::detect(b"\xff\xfe"), Format::Plain);
    }

    proptest::proptest! {
        #[test]
        fn decoding_any_bytes_never_panics(line in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            for format in [Format::Docker, Format::Cri, Format::Plain] {
                let fragment = decode(format, &line);
                if fragment.malformed {
                    proptest::prop_assert_eq!(&fragment.text[..], &line[..]);
                }
            }
            let _ = Format::detect(&line);
        }
    }
}
