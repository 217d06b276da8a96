//! Checks that parsing cannot make, each reported at the value it is about.
//!
//! Every check runs and every problem is kept: an operator editing a
//! DaemonSet's ConfigMap should see all mistakes in one rollout, not one per
//! crash loop.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::Path;

use serde_saphyr::Spanned;

use super::load::Document;
use super::{
    AdminConfig, Config, ConfigError, ConfigErrors, EnrichConfig, LoadedConfig, LogsConfig,
    MetricsConfig, NetConfig, PipelineConfig, RedactionConfig, SinksConfig,
};
use crate::redact::Redactor;

/// Ranges of numeric settings. The upper bounds are not limits of the code:
/// they catch a unit mistake (seconds written as milliseconds, bytes as KiB)
/// before it turns into an agent that never polls or a queue that holds the
/// node's memory.
struct Range {
    allowed: RangeInclusive<u64>,
    unit: &'static str,
    /// How an operator reads the maximum, when the unit makes it hard.
    max_meaning: Option<&'static str>,
}

const GLOB_INTERVAL_MS: Range = Range {
    allowed: 1..=3_600_000,
    unit: "ms",
    max_meaning: Some("1 hour"),
};
const POLL_INTERVAL_MS: Range = Range {
    allowed: 1..=60_000,
    unit: "ms",
    max_meaning: Some("1 minute"),
};
const RELOAD_INTERVAL_SECS: Range = Range {
    allowed: 0..=86_400,
    unit: "s",
    max_meaning: Some("1 day"),
};
const MULTILINE_TIMEOUT_MS: Range = Range {
    allowed: 1..=60_000,
    unit: "ms",
    max_meaning: Some("1 minute"),
};
const MAX_RECORD_BYTES: Range = Range {
    allowed: 1..=64 * 1024 * 1024,
    unit: "bytes",
    max_meaning: Some("64 MiB"),
};
const MAX_CONNECTIONS: Range = Range {
    allowed: 1..=4_194_304,
    unit: "connections",
    max_meaning: None,
};
const CONNECTION_IDLE_SECS: Range = Range {
    allowed: 1..=86_400,
    unit: "s",
    max_meaning: Some("1 day"),
};
const CLIENT_SPAN_WAIT_MS: Range = Range {
    allowed: 0..=60_000,
    unit: "ms",
    max_meaning: Some("1 minute"),
};
const MAX_WAITING_CLIENT_SPANS: Range = Range {
    allowed: 1..=1_048_576,
    unit: "spans",
    max_meaning: None,
};
const MAX_DISTINCT_SEGMENTS: Range = Range {
    allowed: 1..=10_000,
    unit: "words",
    max_meaning: None,
};
const BATCH_MAX_RECORDS: Range = Range {
    allowed: 1..=100_000,
    unit: "records",
    max_meaning: None,
};
const QUEUE_BATCHES: Range = Range {
    allowed: 1..=4096,
    unit: "batches",
    max_meaning: None,
};

/// Every problem with `config`, in no particular order.
pub(crate) fn validate(
    config: &Config,
    base_dir: &Path,
    document: &Document<'_>,
) -> Vec<ConfigError> {
    let mut checks = Checks {
        document,
        errors: Vec::new(),
    };
    checks.data_dir(config);
    checks.admin(&config.admin);
    checks.logs(&config.sources.logs);
    checks.net(&config.sources.net);
    checks.metrics(&config.metrics);
    checks.redaction(&config.redaction, base_dir);
    checks.sinks(&config.sinks);
    checks.pipeline(&config.pipeline);
    checks.enrich(&config.enrich);
    checks
        .errors
        .extend(sampling_errors(config, base_dir, document.file));
    checks.errors
}

/// The sampling rules, built as the agent will build them, their problems
/// reported like every other config error.
fn sampling_errors(config: &Config, base_dir: &Path, file: &str) -> Vec<ConfigError> {
    use crate::sample::{ConfigOrigin, SamplingError};
    let origin = ConfigOrigin { file, base_dir };
    let Err(errors) = config.sampling.build(&origin) else {
        return Vec::new();
    };
    errors
        .0
        .into_iter()
        .map(|error| {
            let (line, column) = match &error {
                SamplingError::Parse { line, column, .. }
                | SamplingError::InvalidRule { line, column, .. }
                | SamplingError::StrategiesSyntax { line, column, .. } => (*line, *column),
                _ => (0, 0),
            };
            let message = match &error {
                SamplingError::InvalidRule { key, problem, .. } => format!("{key}: {problem}"),
                SamplingError::Parse { message, .. } => message.clone(),
                other => other.to_string(),
            };
            ConfigError {
                file: file.to_owned(),
                line,
                column,
                message,
            }
        })
        .collect()
}

struct Checks<'a> {
    document: &'a Document<'a>,
    errors: Vec<ConfigError>,
}

impl Checks<'_> {
    fn at<T>(&mut self, value: &Spanned<T>, path: &str, message: impl std::fmt::Display) {
        let error = self.document.error_at(value, path, message);
        self.errors.push(error);
    }

    fn at_key(&mut self, path: &str, message: impl std::fmt::Display) {
        let error = self.document.error_at_key(path, message);
        self.errors.push(error);
    }

    fn data_dir(&mut self, config: &Config) {
        if config.data_dir.as_os_str().is_empty() {
            self.at_key(
                "data_dir",
                "is empty; checkpoints need a directory (default `/var/lib/wardwatch`)",
            );
        }
    }

    fn admin(&mut self, admin: &AdminConfig) {
        let address = &admin.address;
        if address.value.parse::<SocketAddr>().is_err() {
            self.at(
                address,
                "admin.address",
                format_args!(
                    "`{}` is not an IP address and port, e.g. `127.0.0.1:8686` or \
                     `0.0.0.0:8686` (host names are not resolved)",
                    address.value
                ),
            );
        }
    }

    fn metrics(&mut self, metrics: &MetricsConfig) {
        if let Some(max) = &metrics.max_distinct_segments {
            self.range(max, "metrics.max_distinct_segments", &MAX_DISTINCT_SEGMENTS);
        }
        for name in metrics.external_labels.keys() {
            let mut bytes = name.bytes();
            let valid = bytes
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.starts_with("__");
            if !valid {
                self.at_key(
                    &format!("metrics.external_labels.{name}"),
                    format_args!(
                        "`{name}` is not a Prometheus label name (letters, digits and `_`, \
                         not starting with a digit or `__`)"
                    ),
                );
            }
        }
        for (index, template) in metrics.route_templates.iter().enumerate() {
            if !template.starts_with('/') {
                self.at_key(
                    &format!("metrics.route_templates[{index}]"),
                    format_args!("`{template}` must start with `/`"),
                );
            }
        }
    }

    fn net(&mut self, net: &NetConfig) {
        self.range(
            &net.max_connections,
            "sources.net.max_connections",
            &MAX_CONNECTIONS,
        );
        self.range(
            &net.idle_timeout_secs,
            "sources.net.idle_timeout_secs",
            &CONNECTION_IDLE_SECS,
        );
        self.range(
            &net.client_span_wait_ms,
            "sources.net.client_span_wait_ms",
            &CLIENT_SPAN_WAIT_MS,
        );
        self.range(
            &net.max_waiting_client_spans,
            "sources.net.max_waiting_client_spans",
            &MAX_WAITING_CLIENT_SPANS,
        );
    }

    fn logs(&mut self, logs: &LogsConfig) {
        if logs.enabled && logs.include.is_empty() {
            self.at_key(
                "sources.logs.include",
                "is empty, so no file would be read; to collect no logs, set \
                 `sources.logs.enabled: false`",
            );
        }
        for (index, glob) in logs.include.iter().enumerate() {
            self.glob(glob, &format!("sources.logs.include[{index}]"));
        }
        for (index, glob) in logs.exclude.iter().enumerate() {
            self.glob(glob, &format!("sources.logs.exclude[{index}]"));
        }
        self.range(
            &logs.glob_interval_ms,
            "sources.logs.glob_interval_ms",
            &GLOB_INTERVAL_MS,
        );
        self.range(
            &logs.poll_interval_ms,
            "sources.logs.poll_interval_ms",
            &POLL_INTERVAL_MS,
        );
        self.range(
            &logs.max_record_bytes,
            "sources.logs.max_record_bytes",
            &MAX_RECORD_BYTES,
        );

        let multiline = &logs.multiline;
        if let Some(pattern) = &multiline.start_pattern {
            let path = "sources.logs.multiline.start_pattern";
            if pattern.value.is_empty() {
                self.at(
                    pattern,
                    path,
                    "is empty, so every line would start a record; remove it for the \
                     built-in stack-trace folding, or set `multiline.enabled: false`",
                );
            } else if let Err(error) = regex::bytes::Regex::new(&pattern.value) {
                self.at(
                    pattern,
                    path,
                    format_args!(
                        "is not a valid regular expression: {}",
                        regex_reason(&error)
                    ),
                );
            }
        }
        self.range(
            &multiline.timeout_ms,
            "sources.logs.multiline.timeout_ms",
            &MULTILINE_TIMEOUT_MS,
        );
    }

    fn glob(&mut self, glob: &Spanned<String>, path: &str) {
        let pattern = glob.value.as_str();
        if pattern.trim().is_empty() {
            self.at(
                glob,
                path,
                "is empty; a glob names files, e.g. `/var/log/pods/*/*/*.log`",
            );
        } else if pattern.contains('\0') {
            self.at(glob, path, "contains a NUL character, which no path can");
        } else if pattern.contains("://") {
            self.at(
                glob,
                path,
                format_args!("`{pattern}` is a URL; a glob is a file path, absolute or relative"),
            );
        } else if let Err(error) = glob::Pattern::new(pattern) {
            self.at(
                glob,
                path,
                format_args!(
                    "`{pattern}` is not a valid glob: {} (at character {})",
                    error.msg,
                    error.pos + 1
                ),
            );
        }
    }

    fn redaction(&mut self, redaction: &RedactionConfig, base_dir: &Path) {
        self.range(
            &redaction.reload_interval_secs,
            "redaction.reload_interval_secs",
            &RELOAD_INTERVAL_SECS,
        );
        for (index, rules) in redaction.rules.iter().enumerate() {
            let path = format!("redaction.rules[{index}]");
            let written = &rules.value;
            if written.as_os_str().is_empty() {
                self.at(
                    rules,
                    &path,
                    "is empty; name a rule file or a directory of them",
                );
                continue;
            }
            let resolved = base_dir.join(written);
            let shown = if written.is_absolute() {
                format!("`{}`", written.display())
            } else {
                format!(
                    "`{}` (that is, `{}`)",
                    written.display(),
                    resolved.display()
                )
            };
            match resolved.try_exists() {
                Ok(true) => {}
                Ok(false) => self.at(rules, &path, format_args!("{shown} does not exist")),
                Err(error) => self.at(
                    rules,
                    &path,
                    format_args!("{shown} cannot be checked: {error}"),
                ),
            }
        }
    }

    fn sinks(&mut self, sinks: &SinksConfig) {
        if sinks.any_enabled() {
            return;
        }
        // `stdout:` with nothing after it is YAML null, which serde reads as
        // an absent sink: the commonest way to "enable" a sink and get none.
        if self.document.has_key("sinks.stdout") {
            self.at_key(
                "sinks.stdout",
                "is empty, which leaves the sink disabled; write `stdout: {}` to \
                 enable it with its defaults",
            );
        } else {
            self.at_key(
                "sinks",
                "no sink is enabled, so records would have nowhere to go; enable one, \
                 e.g. `sinks: { stdout: {} }`",
            );
        }
    }

    fn pipeline(&mut self, pipeline: &PipelineConfig) {
        self.range(
            &pipeline.batch_max_records,
            "pipeline.batch_max_records",
            &BATCH_MAX_RECORDS,
        );
        self.range(
            &pipeline.queue_batches,
            "pipeline.queue_batches",
            &QUEUE_BATCHES,
        );
    }

    fn enrich(&mut self, enrich: &EnrichConfig) {
        if enrich
            .host_name
            .as_deref()
            .is_some_and(|name| name.trim().is_empty())
        {
            self.at_key(
                "enrich.host_name",
                "is empty; remove it to use `NODE_NAME` or the machine's host name",
            );
        }
        for (namespace, tenant) in &enrich.tenants {
            let path = format!("enrich.tenants.{namespace}");
            if namespace.trim().is_empty() {
                self.at_key(&path, "a namespace name cannot be empty");
            }
            if tenant.trim().is_empty() {
                self.at_key(&path, "the tenant id is empty");
            }
        }
    }

    fn range(&mut self, value: &Spanned<u64>, path: &str, range: &Range) {
        if !range.allowed.contains(&value.value) {
            self.at(
                value,
                path,
                format_args!(
                    "must be between {} and {} {}{}, found {}",
                    range.allowed.start(),
                    range.allowed.end(),
                    range.unit,
                    range
                        .max_meaning
                        .map(|meaning| format!(" ({meaning})"))
                        .unwrap_or_default(),
                    value.value
                ),
            );
        }
    }
}

/// Checks the contents of the rule files that `redaction.rules` names, as
/// the agent will load them at start-up. With no rule files the built-in pack
/// applies, which its own tests check: there is nothing to do.
///
/// Errors are placed in the rule files, not in the configuration.
pub fn validate_rules(loaded: &LoadedConfig) -> Result<(), ConfigErrors> {
    load_rules(loaded).map(drop)
}

/// The redactor the config names: its rule files, or the built-in pack when
/// it names none. Rule file errors are reported like config errors.
pub fn load_rules(loaded: &LoadedConfig) -> Result<Redactor, ConfigErrors> {
    let paths = loaded.config.rule_paths(&loaded.base_dir);
    if paths.is_empty() {
        return Ok(Redactor::builtin());
    }
    Redactor::load(&paths).map_err(rule_errors)
}

/// Rule-file errors, reported like config errors.
pub(super) fn rule_errors(errors: Vec<crate::redact::RuleError>) -> ConfigErrors {
    ConfigErrors::sorted(
        errors
            .into_iter()
            .map(|error| ConfigError {
                file: error.file.display().to_string(),
                line: error.line,
                column: error.column,
                message: error.message,
            })
            .collect(),
    )
}

/// The reason from a regex error, on one line: its syntax errors are drawn
/// over several lines, with the reason on the one starting `error: `.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map_or_else(
            || text.split_whitespace().collect::<Vec<_>>().join(" "),
            str::to_owned,
        )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{load_str_with_env, ConfigErrors, LoadedConfig};
    use super::*;

    fn load_in(text: &str, base_dir: &Path) -> Result<LoadedConfig, ConfigErrors> {
        load_str_with_env(text, "w.yaml", base_dir, &|_| None)
    }

    fn messages(text: &str) -> Vec<(u64, u64, String)> {
        load_in(text, Path::new("/nonexistent"))
            .expect_err("should fail")
            .0
            .into_iter()
            .map(|error| (error.line, error.column, error.message))
            .collect()
    }

    #[test]
    fn metrics_settings_are_checked_where_written() {
        let text = "\
sinks: {stdout: {}}
metrics:
  external_labels:
    cluster: eu-west-1
    1zone: a
  route_templates: ['api/v1/{id}']
  max_distinct_segments: 0
";
        let found = messages(text);
        let lines: Vec<u64> = found.iter().map(|(line, _, _)| *line).collect();
        assert_eq!(lines, [5, 6, 7], "{found:#?}");
        assert!(found[0]
            .2
            .contains("`1zone` is not a Prometheus label name"));
        assert!(found[1].2.contains("must start with `/`"));
    }

    #[test]
    fn client_span_nesting_limits_are_checked_where_written() {
        let text = "\
sinks: {stdout: {}}
sources:
  net:
    client_span_wait_ms: 60001
    max_waiting_client_spans: 0
";
        let found = messages(text);
        let messages: Vec<_> = found
            .iter()
            .map(|(line, _, message)| (*line, message.as_str()))
            .collect();
        assert_eq!(
            messages,
            [
                (
                    4,
                    "sources.net.client_span_wait_ms: must be between 0 and 60000 ms (1 minute), found 60001"
                ),
                (
                    5,
                    "sources.net.max_waiting_client_spans: must be between 1 and 1048576 spans, found 0"
                )
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_at_its_value() {
        let text = "\
sinks: {stdout: {}}
admin:
  address: localhost:8686
sources:
  logs:
    include: ['/var/log/[a', '']
    exclude: ['https://x/*.log']
    glob_interval_ms: 0
    max_record_bytes: 67108865
    multiline:
      start_pattern: '^(\\d+'
      timeout_ms: 0
  net:
    max_connections: 0
    idle_timeout_secs: 86401
pipeline:
  batch_max_records: 100001
  queue_batches: 4097
";
        let found = messages(text);
        let places: Vec<_> = found
            .iter()
            .map(|(line, column, _)| (*line, *column))
            .collect();
        assert_eq!(
            places,
            [
                (3, 12),
                (6, 15),
                (6, 30),
                (7, 15),
                (8, 23),
                (9, 23),
                (11, 22),
                (12, 19),
                (14, 22),
                (15, 24),
                (17, 22),
                (18, 18)
            ],
            "{found:#?}"
        );
        let text_of = |path: &str| {
            found
                .iter()
                .find(|(_, _, message)| message.starts_with(path))
                .map(|(_, _, message)| message.clone())
                .unwrap_or_default()
        };
        assert!(text_of("admin.address").contains("`localhost:8686` is not an IP address"));
        assert!(text_of("sources.logs.include[0]").contains("is not a valid glob"));
        assert!(text_of("sources.logs.include[1]").contains("is empty"));
        assert!(text_of("sources.logs.exclude[0]").contains("is a URL"));
        assert_eq!(
            text_of("sources.logs.max_record_bytes"),
            "sources.logs.max_record_bytes: must be between 1 and 67108864 bytes (64 MiB), found 67108865"
        );
        assert_eq!(
            text_of("sources.net.idle_timeout_secs"),
            "sources.net.idle_timeout_secs: must be between 1 and 86400 s (1 day), found 86401"
        );
        assert_eq!(
            text_of("sources.logs.multiline.start_pattern"),
            "sources.logs.multiline.start_pattern: is not a valid regular expression: unclosed group"
        );
    }

    #[test]
    fn no_sink_is_an_error_at_the_sinks_key_or_the_file() {
        assert_eq!(
            messages("data_dir: /x\n"),
            [(
                0,
                0,
                "sinks: no sink is enabled, so records would have nowhere to go; enable one, \
                 e.g. `sinks: { stdout: {} }`"
                    .to_owned()
            )]
        );
        let found = messages("sinks: {}\n");
        assert_eq!((found[0].0, found[0].1), (1, 1));
    }

    #[test]
    fn null_sink_gets_a_hint() {
        let found = messages("sinks:\n  stdout:\n");
        assert_eq!((found[0].0, found[0].1), (2, 3));
        assert!(found[0].2.contains("write `stdout: {}`"), "{found:?}");
    }

    #[test]
    fn logs_enabled_without_include_is_an_error() {
        let found = messages("sinks: {stdout: {}}\nsources: {logs: {include: []}}\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].2.starts_with("sources.logs.include: is empty"));
        let disabled = "sinks: {stdout: {}}\nsources: {logs: {enabled: false, include: []}}\n";
        assert!(load_in(disabled, Path::new("/")).is_ok());
    }

    #[test]
    fn rule_paths_must_exist_relative_to_the_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("phi.yaml"), "").unwrap();
        std::fs::create_dir(dir.path().join("packs")).unwrap();
        let text = "sinks: {stdout: {}}\nredaction:\n  rules:\n    - phi.yaml\n    - packs\n    - missing.yaml\n    - /nonexistent/abs\n";
        let errors = load_in(text, dir.path()).unwrap_err().0;
        let places: Vec<_> = errors.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(places, [(6, 7), (7, 7)], "{errors:?}");
        assert!(errors[0].message.contains("does not exist"));
        assert!(errors[0]
            .message
            .contains(&dir.path().join("missing.yaml").display().to_string()));

        let text = "sinks: {stdout: {}}\nredaction: {rules: [phi.yaml, packs, /etc]}\n";
        let loaded = load_in(text, dir.path()).unwrap();
        assert_eq!(
            loaded.config.rule_paths(&loaded.base_dir),
            [
                dir.path().join("phi.yaml"),
                dir.path().join("packs"),
                PathBuf::from("/etc")
            ]
        );
    }

    #[test]
    fn empty_enrich_values_are_errors() {
        let found =
            messages("sinks: {stdout: {}}\nenrich:\n  host_name: ''\n  tenants: {a: '', b: t}\n");
        let paths: Vec<_> = found
            .iter()
            .map(|(l, _, m)| (*l, m.split(':').next().unwrap().to_owned()))
            .collect();
        assert_eq!(
            paths,
            [
                (3, "enrich.host_name".to_owned()),
                (4, "enrich.tenants.a".to_owned())
            ]
        );
    }

    #[test]
    fn bounds_are_inclusive() {
        let text = "sinks: {stdout: {}}\nsources: {logs: {glob_interval_ms: 3600000, poll_interval_ms: 1, max_record_bytes: 67108864, multiline: {timeout_ms: 60000}}}\npipeline: {batch_max_records: 100000, queue_batches: 4096}\n";
        load_in(text, Path::new("/")).unwrap_or_else(|errors| panic!("{errors}"));
    }

    #[test]
    fn rule_files_are_checked_only_when_named() {
        let builtin = load_in("sinks: {stdout: {}}\n", Path::new("/")).unwrap();
        assert_eq!(validate_rules(&builtin), Ok(()));

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.yaml"), "rules: [{{{\n").unwrap();
        let text = "sinks: {stdout: {}}\nredaction: {rules: [broken.yaml]}\n";
        let loaded = load_in(text, dir.path()).unwrap();
        let errors = validate_rules(&loaded).expect_err("a broken rule file").0;
        let file = dir.path().join("broken.yaml").display().to_string();
        assert!(errors.iter().all(|error| error.file == file), "{errors:?}");
    }

    #[test]
    fn regex_reason_is_one_line() {
        // Built at run time: it is meant to be invalid.
        let pattern = String::from("a{2,1}");
        let error = regex::bytes::Regex::new(&pattern).unwrap_err();
        assert!(!regex_reason(&error).contains('\n'));
    }
}
