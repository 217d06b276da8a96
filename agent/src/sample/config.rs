//! The `sampling:` section of the configuration. These types are the
//! operator's reference: every field says its default, unit and an example.
//! Unknown keys are rejected.
//!
//! ```yaml
//! sampling:
//!   spans:
//!     strategies_file: jaeger-strategies.json
//!     rules:
//!       - id: keep-errors
//!         when: {errors: true}
//!         keep: always
//!       - id: health-checks
//!         when: {route: "/health*"}
//!         probability: 0.01
//!   logs:
//!     rules:
//!       - id: debug-lines
//!         when: {level: [debug, trace]}
//!         probability: 0.1
//! ```
//!
//! Values checked after parsing are `Spanned`, so that an error points at
//! the line and column where the value was written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};

use super::error::{one_line, ConfigOrigin, SamplingError, SamplingErrors};
use super::{LogSampler, SpanSampler};

/// `sampling:`: which spans and log records go on to the sinks. Default:
/// every one of them (no rules).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// Sampling of trace spans. Default: keep every span.
    #[serde(default)]
    pub spans: SpanSamplingConfig,
    /// Sampling of log records. Default: keep every record.
    #[serde(default)]
    pub logs: LogSamplingConfig,
}

/// `sampling.spans`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanSamplingConfig {
    /// Rules tried in order; the first whose `when` holds decides. A span no
    /// rule matches is kept. Default: none.
    #[serde(default)]
    pub rules: Vec<Spanned<SpanRuleConfig>>,

    /// A Jaeger sampling strategies file (the JSON of Jaeger's
    /// `--sampling.strategies-file`), relative to the configuration file's
    /// directory. Its strategies become rules tried after `rules`: each
    /// service's operation strategies, then that service's strategy, then
    /// the default strategy's operation strategies and the default strategy.
    /// Their ids start with `jaeger:`. Default: none.
    /// Example: `strategies_file: /etc/wardwatch/jaeger-strategies.json`.
    #[serde(default)]
    pub strategies_file: Option<Spanned<PathBuf>>,
}

/// `sampling.logs`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSamplingConfig {
    /// Rules tried in order; the first whose `when` holds decides. A record
    /// no rule matches is kept. Default: none.
    #[serde(default)]
    pub rules: Vec<Spanned<LogRuleConfig>>,
}

/// One rule: a condition (`when`) and what to do with what it matches:
/// `keep: always`, `keep: never`, or sampling by `probability` and/or
/// `rate_limit_per_second`. When both of the last two are given, the
/// probability is applied first and the rate limit caps what it admits.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "W: Deserialize<'de> + Default")
)]
pub struct RuleConfig<W> {
    /// The rule's name in metrics (the `rule` label of
    /// `wardwatch_sampling_decisions_total`) and in errors. Unique among the
    /// rules of its signal; not `default`, which counts what no rule matched,
    /// and not starting with `jaeger:`, which names rules from a strategies
    /// file. Required. Example: `id: keep-errors`.
    pub id: Spanned<String>,

    /// What the rule matches: every condition given must hold. Absent or
    /// empty, the rule matches everything. Default: `{}`.
    #[serde(default)]
    pub when: W,

    /// `always` or `never`: the rule keeps, or drops, everything it matches,
    /// and takes no `probability` or `rate_limit_per_second`.
    /// Example: `keep: always`.
    #[serde(default)]
    pub keep: Option<Spanned<Keep>>,

    /// The share of matched records kept, from `0.0` to `1.0`. Decided from
    /// the trace id for spans (every node keeps the same traces) and from
    /// the message for logs (identical messages share a decision).
    /// Example: `probability: 0.25`.
    #[serde(default)]
    pub probability: Option<Spanned<f64>>,

    /// At most this many matched records per second, per service, on this
    /// node (a burst of up to one second's worth is let through at once).
    /// Greater than 0, at most 1000000; fractions allowed (`0.5` is one
    /// every two seconds). Example: `rate_limit_per_second: 100`.
    #[serde(default)]
    pub rate_limit_per_second: Option<Spanned<f64>>,
}

/// A rule in `sampling.spans.rules`.
pub type SpanRuleConfig = RuleConfig<SpanConditions>;
/// A rule in `sampling.logs.rules`.
pub type LogRuleConfig = RuleConfig<LogConditions>;

/// `keep:` of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    Always,
    Never,
}

/// `when:` of a span rule. Names (`service`, `route`, `operation`) match
/// exactly, or with `*` standing for any text (`/` included):
/// `route: "/health*"`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanConditions {
    /// `true`: only spans marked as errors; `false`: only the others.
    /// Example: `errors: true`.
    #[serde(default)]
    pub errors: Option<bool>,

    /// Only spans that took longer than this, in milliseconds.
    /// Example: `slower_than_ms: 1000`.
    #[serde(default)]
    pub slower_than_ms: Option<u64>,

    /// The service that served the request. Example: `service: billing-*`.
    #[serde(default)]
    pub service: Option<Spanned<String>>,

    /// The route template of the request path.
    /// Example: `route: "/api/v1/patients/{id}"`.
    #[serde(default)]
    pub route: Option<Spanned<String>>,

    /// The span's name: method and route template.
    /// Example: `operation: "GET /api/v1/patients/*"`.
    #[serde(default)]
    pub operation: Option<Spanned<String>>,

    /// Span attributes and a regular expression each one's value must match
    /// as a whole (write `.*` around a pattern to find it inside a value).
    /// A span without the attribute does not match.
    /// Example: `attributes: {http.response.status_code: "5.."}`.
    #[serde(default)]
    pub attributes: BTreeMap<String, Spanned<String>>,
}

/// `when:` of a log rule.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConditions {
    /// The service that wrote the record, exactly or with `*` wildcards.
    /// Example: `service: "billing-*"`.
    #[serde(default)]
    pub service: Option<Spanned<String>>,

    /// The record's level is one of these: `trace`, `debug`, `info`,
    /// `warn`, `error`, `fatal`. A record without a level does not match.
    /// Example: `level: [warn, error, fatal]`.
    #[serde(default)]
    pub level: Option<Spanned<Vec<LogLevel>>>,

    /// The message contains at least one of these texts, as written (case
    /// matters; no patterns). The message is the redacted one.
    /// Example: `contains: [PHI_ACCESS, CONSENT_CHANGED]`.
    #[serde(default)]
    pub contains: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A log level as the parsers normalize it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    pub fn parse(level: &str) -> Option<LogLevel> {
        Some(match level {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "fatal" => LogLevel::Fatal,
            _ => return None,
        })
    }
}

/// A file holding the `sampling:` section at its top level, as the main
/// configuration file does. Its other top-level keys belong to the main
/// configuration and are not read here.
#[derive(Deserialize)]
struct SamplingDocument {
    sampling: SamplingConfig,
}

impl SamplingConfig {
    /// Reads the `sampling:` section of a configuration file. This parses;
    /// [`Self::build`] checks the rules.
    pub fn from_yaml_file(path: &Path) -> Result<SamplingConfig, SamplingErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SamplingError::Read {
            file: file.clone(),
            source,
        })?;
        Self::from_yaml_str(&text, &file)
    }

    /// [`Self::from_yaml_file`] on `text`, as if read from `file`.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<SamplingConfig, SamplingErrors> {
        // The main configuration's parser options, so that a section reads
        // the same here as there.
        let options = serde_saphyr::options! { with_snippet: false };
        let document: SamplingDocument = serde_saphyr::from_str_with_options(text, options)
            .map_err(|error| {
                let error = error.without_snippet();
                let location = error.location();
                SamplingError::Parse {
                    file: file.to_owned(),
                    line: location.map_or(0, |location| location.line()),
                    column: location.map_or(0, |location| location.column()),
                    message: one_line(&UserMessageFormatter.format_message(error)),
                }
            })?;
        Ok(document.sampling)
    }

    /// Both samplers, or every problem with either.
    pub fn build(
        &self,
        origin: &ConfigOrigin<'_>,
    ) -> Result<(SpanSampler, LogSampler), SamplingErrors> {
        match (
            SpanSampler::new(&self.spans, origin),
            LogSampler::new(&self.logs, origin),
        ) {
            (Ok(spans), Ok(logs)) => Ok((spans, logs)),
            (spans, logs) => {
                let mut errors = spans.err().map(|errors| errors.0).unwrap_or_default();
                errors.extend(logs.err().map(|errors| errors.0).unwrap_or_default());
                Err(SamplingErrors(errors))
            }
        }
    }
}
