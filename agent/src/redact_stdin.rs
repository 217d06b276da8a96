//! `wardwatch redact`: the redaction rules over standard input, so operators
//! can try a rule pack on their own samples before deploying it.
//!
//! Exactly one line comes out for every line that goes in, in order. A line
//! that is a JSON object is redacted as a structured record (field rules
//! apply) and written back as compact JSON; any other line is redacted as
//! message text.

use std::io::{self, BufRead, Write};
use std::sync::Arc;

use wardwatch::event::{LogRecord, Resource};
use wardwatch::redact::Redactor;
use wardwatch::sources::logs::assemble::AssembledLine;
use wardwatch::sources::logs::record::build_record;

/// What a run saw, for the closing summary.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub invalid_utf8: u64,
}

/// Redacts every line of `input` onto `output`.
pub fn run(
    redactor: &Redactor,
    input: impl BufRead,
    mut output: impl Write,
) -> io::Result<Summary> {
    let resource = Arc::new(Resource::default());
    let mut summary = Summary::default();
    let mut out = Vec::with_capacity(64 << 10);
    for line in input.split(b'\n') {
        let line = line?;
        summary.lines += 1;
        let built = build_record(
            AssembledLine {
                start_offset: 0,
                timestamp: None,
                stream: None,
                bytes: line,
                truncated: false,
                malformed: false,
            },
            &resource,
        );
        summary.invalid_utf8 += u64::from(built.invalid_utf8);
        let redacted = redactor.redact(built.record);
        let record: &LogRecord = redacted.get();
        out.clear();
        match &record.message {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => serde_json::to_writer(&mut out, &record.fields).map_err(io::Error::other)?,
        }
        out.push(b'\n');
        output.write_all(&out)?;
    }
    output.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(input: &[u8]) -> (String, Summary) {
        let mut out = Vec::new();
        let summary = run(&Redactor::builtin(), input, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), summary)
    }

    #[test]
    fn one_line_out_for_every_line_in() {
        let input =
            b"plain text\n{\"message\":\"hi\",\"ssn\":\"900-00-0001\"}\n\nlast without newline";
        let (out, summary) = redact(input);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(summary.lines, 4);
        assert_eq!(lines[0], "plain text");
        assert_eq!(lines[1], r#"{"message":"hi","ssn":"[REDACTED]"}"#);
        assert_eq!(lines[2], "");
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let (out, summary) = redact(b"caf\xe9\n");
        assert_eq!(out, "caf\u{FFFD}\n");
        assert_eq!(summary.invalid_utf8, 1);
    }
}
