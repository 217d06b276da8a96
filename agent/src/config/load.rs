//! Reading a configuration: interpolate, parse, validate.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};

use super::interpolate::{interpolate, ColumnMap};
use super::keys::{Innermost, KeyIndex};
use super::validate::validate;
use super::{Config, ConfigError, ConfigErrors};

/// The label of the built-in configuration in error messages.
pub const EMBEDDED_DEFAULT_LABEL: &str = "<embedded default>";

/// A configuration that parsed and passed validation, with where it came from.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// The file it was read from; `None` for the embedded default.
    pub file: Option<PathBuf>,
    /// What relative paths in the configuration are relative to: the
    /// directory of the file (absolute), or the working directory for the
    /// embedded default.
    pub base_dir: PathBuf,
}

impl LoadedConfig {
    /// `path` from the configuration, made relative to [`Self::base_dir`]
    /// when it is not absolute.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        self.base_dir.join(path)
    }
}

/// Reads `path`, interpolates `${VAR}` from the process environment, parses
/// and validates it. Relative paths in it are relative to its directory.
pub fn load_file(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    load_file_with_env(path, &|name| std::env::var(name).ok())
}

/// [`load_file`] with variables from `env` instead of the process
/// environment (a test, or a `validate` command checking a file for another
/// host).
pub fn load_file_with_env(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigErrors> {
    let label = path.display().to_string();
    let unreadable = |message: String| {
        ConfigErrors::from(ConfigError {
            file: label.clone(),
            line: 0,
            column: 0,
            message,
        })
    };
    let bytes = std::fs::read(path).map_err(|error| unreadable(format!("cannot read: {error}")))?;
    let text = String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|byte| **byte == b'\n').count() + 1;
        unreadable(format!("line {line} is not UTF-8 text"))
    })?;
    let absolute = std::path::absolute(path)
        .map_err(|error| unreadable(format!("cannot resolve its directory: {error}")))?;
    let base_dir = absolute
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);

    let mut loaded = load_str_with_env(&text, &label, &base_dir, env)?;
    loaded.file = Some(path.to_path_buf());
    Ok(loaded)
}

/// Interpolates, parses and validates `text` as if read from a file named
/// `file_label` in `base_dir`, with variables from the process environment.
pub fn load_str(
    text: &str,
    file_label: &str,
    base_dir: &Path,
) -> Result<LoadedConfig, ConfigErrors> {
    load_str_with_env(text, file_label, base_dir, &|name| std::env::var(name).ok())
}

/// [`load_str`] with variables from `env` instead of the process environment.
pub fn load_str_with_env(
    text: &str,
    file_label: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LoadedConfig, ConfigErrors> {
    // Parsing text with holes where variables were missing would only add
    // errors that are consequences of the first ones.
    let interpolated = interpolate(text, file_label, env).map_err(ConfigErrors::sorted)?;
    let document = Document {
        file: file_label,
        columns: &interpolated.columns,
        keys: KeyIndex::build(&interpolated.text),
    };

    let options = serde_saphyr::options! { with_snippet: false };
    let config = serde_saphyr::from_str_with_options::<Config>(&interpolated.text, options)
        .map_err(|error| ConfigErrors::from(document.parse_error(&error)))?;

    let errors = validate(&config, base_dir, &document);
    if !errors.is_empty() {
        return Err(ConfigErrors::sorted(errors));
    }
    Ok(LoadedConfig {
        config,
        file: None,
        base_dir: base_dir.to_path_buf(),
    })
}

/// The built-in configuration for local debugging: every container log file
/// at the usual places, redacted by the built-in rules, written as JSON on
/// standard output. It is `config/default.yaml`, loaded like any file.
///
/// # Panics
///
/// When `WARDWATCH_DATA_DIR` holds a value that breaks the file (a line
/// break, or YAML syntax). [`load_embedded_default`] reports that instead.
pub fn embedded_default() -> LoadedConfig {
    load_embedded_default().unwrap_or_else(|errors| panic!("{errors}"))
}

/// [`embedded_default`], reporting a bad `WARDWATCH_DATA_DIR` as an error.
pub fn load_embedded_default() -> Result<LoadedConfig, ConfigErrors> {
    let base_dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    load_str(EMBEDDED_DEFAULT_TEXT, EMBEDDED_DEFAULT_LABEL, &base_dir)
}

/// The embedded default's text, for `wardwatch` to print as a starting point.
pub const EMBEDDED_DEFAULT_TEXT: &str = include_str!("default.yaml");

/// The parsed text with what is needed to point into the file as written.
pub(crate) struct Document<'a> {
    pub(crate) file: &'a str,
    columns: &'a ColumnMap,
    keys: KeyIndex,
}

impl Document<'_> {
    /// An error about the value at `spanned` under the key `path`. Values
    /// that came from defaults have no place of their own; the key's place,
    /// if written, or else the file, is the best there is.
    pub(crate) fn error_at<T>(
        &self,
        spanned: &Spanned<T>,
        path: &str,
        message: impl std::fmt::Display,
    ) -> ConfigError {
        let location = spanned.referenced;
        if location.line() == 0 {
            return self.error_at_key(path, message);
        }
        self.error(
            location.line(),
            location.column(),
            format!("{path}: {message}"),
        )
    }

    /// An error about the key `path`, at its place when it is written.
    pub(crate) fn error_at_key(&self, path: &str, message: impl std::fmt::Display) -> ConfigError {
        let (line, column) = self.keys.find(path).unwrap_or((0, 0));
        self.error(line, column, format!("{path}: {message}"))
    }

    /// Whether the key `path` is written in the document.
    pub(crate) fn has_key(&self, path: &str) -> bool {
        self.keys.find(path).is_some()
    }

    fn error(&self, line: u64, column: u64, message: String) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line,
            column: if line == 0 {
                0
            } else {
                self.columns.original_column(line, column)
            },
            message,
        }
    }

    /// A syntax, type or unknown-key error from serde_saphyr, named after the
    /// key it is about.
    fn parse_error(&self, error: &serde_saphyr::Error) -> ConfigError {
        let error = error.without_snippet();
        let message = operator_message(&UserMessageFormatter.format_message(error));
        let Some(location) = error.location().filter(|location| location.line() > 0) else {
            return self.error(0, 0, message);
        };
        let (line, column) = (location.line(), location.column());
        // An unknown or repeated key is reported at the key; a wrong type at
        // the value, which may start where an item's first key does.
        let innermost = if message.starts_with("unknown field") || message.starts_with("duplicate")
        {
            Innermost::Key
        } else {
            Innermost::Value
        };
        let message = match self.keys.path_at(line, column, innermost) {
            Some(path) => format!("{path}: {message}"),
            None => message,
        };
        self.error(line, column, message)
    }
}

/// serde_saphyr's wording, made to read as advice about a configuration file
/// (operators write YAML, not Rust types), on one line.
fn operator_message(message: &str) -> String {
    let message: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let plain: Cow<'_, str> = match message.as_str() {
        "invalid u64" | "invalid u32" | "invalid u16" | "invalid u8" | "invalid usize" => {
            "expected a whole number, 0 or more".into()
        }
        "invalid boolean" => "expected true or false".into(),
        "expected string scalar" => "expected a text value".into(),
        "expected mapping start" => "expected a mapping (`key: value` lines or `{ ... }`)".into(),
        "expected sequence start" => "expected a list (`- item` lines or `[ ... ]`)".into(),
        _ => message.as_str().into(),
    };
    plain.into_owned()
}

#[cfg(test)]
mod tests {
    use super::super::interpolate::env;

    use super::*;

    fn load(text: &str) -> Result<LoadedConfig, ConfigErrors> {
        load_str_with_env(text, "w.yaml", Path::new("/etc/wardwatch"), &env(&[]))
    }

    fn single_error(text: &str) -> ConfigError {
        let errors = load(text).expect_err("should fail").0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    const MINIMAL: &str = "sinks:\n  stdout: {}\n";

    #[test]
    fn minimal_file_takes_every_default() {
        let loaded = load(MINIMAL).unwrap();
        let config = &loaded.config;
        assert_eq!(config.data_dir, Path::new("/var/lib/wardwatch"));
        assert_eq!(config.admin.address.value, "127.0.0.1:8686");
        assert_eq!(config.sources.logs.include.len(), 2);
        assert_eq!(config.pipeline.batch_max_records.value, 1000);
        assert_eq!(loaded.base_dir, Path::new("/etc/wardwatch"));
        assert_eq!(loaded.resolve("rules"), Path::new("/etc/wardwatch/rules"));
        assert_eq!(loaded.resolve("/abs"), Path::new("/abs"));
    }

    #[test]
    fn unknown_key_names_the_key_its_place_and_the_expected_keys() {
        let error = single_error("sinks:\n  stdout: {}\nsources:\n  logs:\n    inclde: []\n");
        assert_eq!((error.line, error.column), (5, 5));
        assert!(
            error
                .message
                .starts_with("sources.logs.inclde: unknown field `inclde`"),
            "{error}"
        );
        assert!(error.message.contains("include"), "{error}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let error = single_error("sinks:\n  stdout: {}\npipeline:\n  queue_batches: -1\n");
        assert_eq!((error.line, error.column), (4, 18));
        assert_eq!(
            error.message,
            "pipeline.queue_batches: expected a whole number, 0 or more"
        );

        let error = single_error("sinks:\n  stdout:\n    format: xml\n");
        assert!(
            error
                .message
                .starts_with("sinks.stdout.format: unknown variant `xml`"),
            "{error}"
        );

        let error =
            single_error("sinks:\n  stdout: {}\nsources:\n  logs:\n    include: /var/log\n");
        assert_eq!(
            error.message,
            "sources.logs.include: expected a list (`- item` lines or `[ ... ]`)"
        );
    }

    #[test]
    fn syntax_error_has_a_place() {
        let error = single_error("sinks:\n  stdout: {}\nadmin: {address: [1\n");
        assert_eq!(error.file, "w.yaml");
        assert!(error.line >= 3, "{error}");
    }

    #[test]
    fn duplicate_key_is_rejected_at_the_second_one() {
        let error = single_error("sinks:\n  stdout: {}\ndata_dir: /a\ndata_dir: /b\n");
        assert_eq!((error.line, error.column), (4, 1));
        assert!(error.message.starts_with("data_dir: duplicate"), "{error}");
    }

    #[test]
    fn error_columns_point_into_the_file_as_written() {
        let text = "sinks:\n  stdout: {}\npipeline: {batch_max_records: ${N}, queue_batches: x}\n";
        let errors = load_str_with_env(text, "w.yaml", Path::new("/"), &env(&[("N", "12345678")]))
            .unwrap_err()
            .0;
        // `x` is at column 52 in the file, 56 after interpolation.
        assert_eq!((errors[0].line, errors[0].column), (3, 52), "{errors:?}");
        assert!(errors[0].message.starts_with("pipeline.queue_batches:"));
    }

    #[test]
    fn interpolation_errors_stop_before_parsing() {
        let errors = load("sinks:\n  stdout: {}\ndata_dir: ${NOPE}\nadmin: [\n")
            .unwrap_err()
            .0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].column), (3, 11));
    }

    #[test]
    fn unreadable_file_is_reported_without_a_place() {
        let errors = load_file(Path::new("/nonexistent/wardwatch.yaml")).unwrap_err();
        assert!(
            errors
                .to_string()
                .starts_with("/nonexistent/wardwatch.yaml: cannot read:"),
            "{errors}"
        );
    }

    #[test]
    fn non_utf8_file_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.yaml");
        std::fs::write(&path, b"sinks:\n  stdout: {}\ndata_dir: /\xff\n").unwrap();
        let errors = load_file(&path).unwrap_err();
        assert!(
            errors.to_string().ends_with(": line 3 is not UTF-8 text"),
            "{errors}"
        );
    }

    #[test]
    fn file_base_dir_is_its_absolute_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.yaml");
        std::fs::write(&path, MINIMAL).unwrap();
        let loaded = load_file(&path).unwrap();
        assert_eq!(loaded.base_dir, dir.path());
        assert_eq!(loaded.file.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn embedded_default_loads_with_a_stdout_sink() {
        let loaded = load_str_with_env(
            EMBEDDED_DEFAULT_TEXT,
            EMBEDDED_DEFAULT_LABEL,
            Path::new("/"),
            &env(&[]),
        )
        .unwrap_or_else(|errors| panic!("{errors}"));
        let config = loaded.config;
        assert_eq!(config.data_dir, Path::new("/var/lib/wardwatch"));
        assert!(config.sinks.stdout.is_some());
        assert_eq!(config.admin.address.value, "127.0.0.1:8686");
        assert_eq!(
            config
                .sources
                .logs
                .include
                .iter()
                .map(|glob| glob.value.as_str())
                .collect::<Vec<_>>(),
            [
                "/var/log/pods/*/*/*.log",
                "/var/lib/docker/containers/*/*-json.log"
            ]
        );

        let loaded = load_str_with_env(
            EMBEDDED_DEFAULT_TEXT,
            EMBEDDED_DEFAULT_LABEL,
            Path::new("/"),
            &env(&[("WARDWATCH_DATA_DIR", "/tmp/ww")]),
        )
        .unwrap();
        assert_eq!(loaded.config.data_dir, Path::new("/tmp/ww"));
        assert!(embedded_default().file.is_none());
    }

    #[test]
    fn operator_messages_stay_on_one_line() {
        assert_eq!(operator_message("a\nb"), "a b");
        assert_eq!(
            operator_message("invalid u64"),
            "expected a whole number, 0 or more"
        );
    }
}
