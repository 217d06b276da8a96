//! `wardwatch redact`: the redaction rules over standard input, so operators
//! can try a rule pack on their own samples before deploying it.
//!
//! Exactly one line comes out for every line that goes in, in order. A line
//! that is a JSON object is redacted as a structured record (field rules
//! apply) and written back as compact JSON; any other line is redacted as
//! message text. `--explain` reports on standard error which rule replaced
//! which byte span of which line, by rule id and offsets, never the values.

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
    mut explain: Option<&mut dyn Write>,
) -> io::Result<Summary> {
    let resource = Arc::new(Resource::default());
    let mut summary = Summary::default();
    let mut out = Vec::with_capacity(64 << 10);
    for line in input.split(b'\n') {
        let line = line?;
        summary.lines += 1;
        if let Some(explain) = explain.as_deref_mut() {
            let text = String::from_utf8_lossy(&line);
            let text = text.strip_suffix('\r').unwrap_or(&text);
            for hit in redactor.find_in_text(text) {
                writeln!(
                    explain,
                    "line {}: {} bytes {}..{}",
                    summary.lines, hit.rule_id, hit.start, hit.end
                )?;
            }
        }
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
        let summary = run(&Redactor::builtin(), input, &mut out, None).unwrap();
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
    fn explain_names_rules_and_spans_but_never_values() {
        let input = b"ok\ncall 555-867-5309 now, ssn 123-45-6789\n";
        let mut out = Vec::new();
        let mut explain = Vec::new();
        run(
            &Redactor::builtin(),
            &input[..],
            &mut out,
            Some(&mut explain),
        )
        .unwrap();
        let explain = String::from_utf8(explain).unwrap();
        assert!(!explain.contains("555-867-5309") && !explain.contains("123-45-6789"));
        let lines: Vec<&str> = explain.lines().collect();
        assert!(lines.len() >= 2, "{explain}");
        assert!(lines.iter().all(|l| l.starts_with("line 2: ")), "{explain}");
        assert!(explain.contains(" bytes 5..17"), "{explain}");
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let (out, summary) = redact(b"caf\xe9\n");
        assert_eq!(out, "caf\u{FFFD}\n");
        assert_eq!(summary.invalid_utf8, 1);
    }
}
