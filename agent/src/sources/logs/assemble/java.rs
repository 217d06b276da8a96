//! What the lines of a Java stack trace look like.
//!
//! Modelled on Fluent Bit's built-in `java` multiline parser and Vector's
//! stack-trace example (`^\s+at`): a trace is an exception header, indented
//! `at` frames, `Caused by:`/`Suppressed:` chains and `... N more` elisions.
//! Hand-written checks rather than regexes because the header test runs on
//! nearly every line a service writes (each one is a record that a trace
//! could follow), and every check here gives up within a few bytes on an
//! ordinary log line.

/// A line that can only continue a record: a frame, a cause, an elision.
pub(super) fn is_trace_line(line: &[u8]) -> bool {
    let body = line.trim_ascii_start();
    let indented = body.len() < line.len();
    (indented && body.starts_with(b"at "))
        || body.starts_with(b"Caused by:")
        || body.starts_with(b"Suppressed:")
        || is_elision(body)
}

/// `... 12 more` (the JDK) or `... 12 common frames omitted` (Logback).
fn is_elision(body: &[u8]) -> bool {
    let Some(rest) = body.strip_prefix(b"... ") else {
        return false;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = &rest[digits..];
    digits > 0 && (rest.starts_with(b" more") || rest.starts_with(b" common frames omitted"))
}

/// `java.lang.IllegalStateException: boom` or `com.acme.PatientNotFoundException`:
/// a qualified class name ending in `Exception`, `Error` or `Throwable`,
/// optionally followed by `: message`. Logging frameworks write one right
/// after the message line of `log.error("...", e)`.
pub(super) fn is_exception_header(line: &[u8]) -> bool {
    let name_len = line
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.')))
        .unwrap_or(line.len());
    let (name, rest) = line.split_at(name_len);
    let ends_name = rest.first().is_none_or(|&b| b == b':') || rest.trim_ascii().is_empty();
    if !ends_name {
        return false;
    }
    let is_throwable =
        name.ends_with(b"Exception") || name.ends_with(b"Error") || name.ends_with(b"Throwable");
    let mut segments = name.split(|&b| b == b'.');
    let all_identifiers = segments.clone().all(is_identifier);
    is_throwable && all_identifiers && segments.nth(1).is_some()
}

fn is_identifier(segment: &[u8]) -> bool {
    segment.first().is_some_and(|b| !b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines() {
        let yes: &[&[u8]] = &[
            b"\tat com.acme.ehr.PatientService.load(PatientService.java:42)",
            b"    at java.base/java.lang.Thread.run(Thread.java:833)",
            b"Caused by: java.sql.SQLTimeoutException: timeout",
            b"\tCaused by: java.io.IOException",
            b"\tSuppressed: java.lang.IllegalStateException: close failed",
            b"\t... 12 more",
            b"... 3 more",
            b"\t... 27 common frames omitted",
        ];
        let no: &[&[u8]] = &[
            b"at the desk: nurse station 4",
            b"2024-01-02 03:04:05 INFO admitted",
            b"\t... more",
            b"... 12 others",
            b"Caused",
            b"",
            b"   ",
        ];
        for line in yes {
            assert!(is_trace_line(line), "{}", String::from_utf8_lossy(line));
        }
        for line in no {
            assert!(!is_trace_line(line), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn exception_headers() {
        let yes: &[&[u8]] = &[
            b"java.lang.IllegalStateException: boom",
            b"com.acme.PatientNotFoundException",
            b"com.acme.PatientNotFoundException  ",
            b"java.lang.OutOfMemoryError: Java heap space",
            b"com.acme.Outer$InnerError:",
            b"kotlin.Throwable: x",
        ];
        let no: &[&[u8]] = &[
            b"IllegalStateException: boom",
            b"Exception in thread \"main\" java.lang.RuntimeException",
            b"java.lang.String: not a throwable",
            b"com.acme.PatientNotFoundException was thrown",
            b"com..BrokenException",
            b"com.1acme.BrokenException",
            b".Exception",
            b"2024-01-02 ERROR boom",
            b"",
        ];
        for line in yes {
            assert!(
                is_exception_header(line),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        for line in no {
            assert!(
                !is_exception_header(line),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
