//! What is wrong with a configuration, and where.

use std::fmt;

/// One problem in a configuration file, at the place an operator must edit.
///
/// Lines and columns are 1-based and count characters in the file as written
/// (before `${VAR}` interpolation). They are 0 when the problem has no place
/// in the file: the file cannot be read, or a required section is absent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", position(*.line, *.column))]
pub struct ConfigError {
    /// The file, as the operator named it (or `<embedded default>`).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column in characters, 0 when unknown.
    pub column: u64,
    /// What is wrong, naming the key (`sources.logs.include[1]: ...`).
    pub message: String,
}

fn position(line: u64, column: u64) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (line, 0) => format!(":{line}"),
        (line, column) => format!(":{line}:{column}"),
    }
}

/// Every problem found in one configuration, in file order.
///
/// Loading collects them all instead of stopping at the first, so that an
/// operator fixes a file in one pass rather than one restart per mistake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Sorts by file, then position, so the report reads top to bottom
    /// whichever check found each problem.
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by(|a, b| {
            (&a.file, a.line == 0, a.line, a.column).cmp(&(&b.file, b.line == 0, b.line, b.column))
        });
        ConfigErrors(errors)
    }
}

impl fmt::Display for ConfigErrors {
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

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: u64, column: u64) -> ConfigError {
        ConfigError {
            file: "wardwatch.yaml".to_owned(),
            line,
            column,
            message: "bad".to_owned(),
        }
    }

    #[test]
    fn display_names_file_line_and_column_when_known() {
        assert_eq!(error(3, 7).to_string(), "wardwatch.yaml:3:7: bad");
        assert_eq!(error(3, 0).to_string(), "wardwatch.yaml:3: bad");
        assert_eq!(error(0, 0).to_string(), "wardwatch.yaml: bad");
    }

    #[test]
    fn errors_display_one_per_line_in_file_order() {
        let errors = ConfigErrors::sorted(vec![error(0, 0), error(9, 1), error(2, 5)]);
        assert_eq!(
            errors.to_string(),
            "wardwatch.yaml:2:5: bad\nwardwatch.yaml:9:1: bad\nwardwatch.yaml: bad"
        );
    }
}
