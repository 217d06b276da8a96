//! How a record spread over several lines is recognised.

use regex::bytes::Regex;

use super::draft::Draft;
use super::java;

/// Which lines continue the record before them.
#[derive(Clone, Debug, Default)]
pub enum MultilineRule {
    /// Java (and other JVM) stack traces: frames (`\tat ...`), `Caused by:`,
    /// `Suppressed:`, `... N more`, `... N common frames omitted`, and an
    /// exception header (`java.lang.IllegalStateException: boom`) directly
    /// after a one-line record. Node.js frames (`    at ...`) fold too.
    #[default]
    JavaStackTrace,
    /// A line matching the pattern starts a record; any other line continues
    /// the pending record, or starts one if none is pending.
    StartPattern(Regex),
}

impl MultilineRule {
    /// Whether `line` belongs to `pending` rather than starting a record.
    pub(super) fn continues(&self, pending: &Draft, line: &[u8]) -> bool {
        match self {
            MultilineRule::JavaStackTrace => {
                java::is_trace_line(line)
                    // Only right after the message line: a second header after
                    // a whole trace is the next exception, not this one's.
                    || (pending.lines == 1 && java::is_exception_header(line))
            }
            MultilineRule::StartPattern(start) => !start.is_match(line),
        }
    }
}
