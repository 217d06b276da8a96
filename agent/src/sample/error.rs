//! What can be wrong with a sampling configuration, and where.
//!
//! Every message names the file and, when the problem has a place, the line
//! and column, so that it reads like any other configuration error
//! (`file:line:column: key: problem`). Messages quote only what operators
//! wrote (rule ids, patterns, strategy fields), never a record.

use std::fmt;
use std::path::Path;

/// Where a sampling configuration came from: what errors name, and what
/// relative paths in it (`strategies_file`) are relative to.
#[derive(Clone, Copy, Debug)]
pub struct ConfigOrigin<'a> {
    /// The configuration file as the operator named it (or a label such as
    /// `<embedded default>`).
    pub file: &'a str,
    /// The directory relative paths are resolved against: the configuration
    /// file's own directory.
    pub base_dir: &'a Path,
}

/// One problem in a sampling configuration or a Jaeger strategies file.
#[derive(Debug, thiserror::Error)]
pub enum SamplingError {
    /// A file could not be read at all.
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// YAML that does not fit the schema: syntax, a wrong type, an unknown
    /// or missing key.
    #[error("{file}{}: {message}", position(*.line, *.column))]
    Parse {
        file: String,
        /// 1-based; 0 when unknown.
        line: u64,
        /// 1-based; 0 when unknown.
        column: u64,
        message: String,
    },
    /// A rule that parsed but cannot work as written.
    #[error("{file}{}: {key}: {problem}", position(*.line, *.column))]
    InvalidRule {
        file: String,
        /// 1-based; 0 when unknown.
        line: u64,
        /// 1-based; 0 when unknown.
        column: u64,
        /// The rule's id as written (possibly empty, which is one of the
        /// problems reported).
        rule_id: String,
        /// The key at fault, e.g. `sampling.spans.rules[2].probability`.
        key: String,
        problem: String,
    },
    /// A Jaeger strategies file that is not JSON.
    #[error("{file}:{line}:{column}: not a Jaeger strategies file: {message}")]
    StrategiesSyntax {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    /// A Jaeger strategies file whose content cannot be used.
    #[error("{file}: {field}: {message}")]
    Strategies {
        file: String,
        /// Where in the JSON document, e.g.
        /// `service_strategies[1].operation_strategies[0].param`.
        field: String,
        message: String,
    },
}

fn position(line: u64, column: u64) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (line, 0) => format!(":{line}"),
        (line, column) => format!(":{line}:{column}"),
    }
}

/// Every problem found, in the order found (file order within a file), so
/// that an operator fixes them in one pass rather than one restart each.
#[derive(Debug)]
pub struct SamplingErrors(pub Vec<SamplingError>);

impl fmt::Display for SamplingErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SamplingErrors {}

impl From<SamplingError> for SamplingErrors {
    fn from(error: SamplingError) -> Self {
        SamplingErrors(vec![error])
    }
}

/// A one-line reason from a regex error: its syntax errors are drawn over
/// several lines, with the reason on the one starting `error: `.
pub(super) fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map_or_else(
            || text.split_whitespace().collect::<Vec<_>>().join(" "),
            str::to_owned,
        )
}

/// Operator-written text made safe for one log line: a control character in
/// a pattern must not become an escape sequence in the agent's log.
pub(super) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
