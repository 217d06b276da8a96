//! The configuration file's schema. These types *are* the operator's reference:
//! every field says its default, unit and an example. Unknown keys are rejected.
//!
//! Fields whose values are checked after parsing are `Spanned`, so that an error
//! can point at the file, line and column where the value was written.

use std::path::PathBuf;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory for checkpoints (read offsets of every log file).
    /// Default: `/var/lib/wardwatch`. Example: `data_dir: /var/lib/wardwatch`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,

    /// The admin server: health endpoints and `/metrics`.
    #[serde(default)]
    pub admin: AdminConfig,

    /// Where records come from.
    #[serde(default)]
    pub sources: SourcesConfig,

    /// The PHI redaction rules applied to every record before any sink sees it.
    #[serde(default)]
    pub redaction: RedactionConfig,

    /// Where records go. At least one sink must be enabled.
    #[serde(default)]
    pub sinks: SinksConfig,

    /// Batching and queueing between stages.
    #[serde(default)]
    pub pipeline: PipelineConfig,

    /// Metadata added to every record.
    #[serde(default)]
    pub enrich: EnrichConfig,

    /// RED metrics from HTTP traffic.
    #[serde(default)]
    pub metrics: MetricsConfig,

    /// Which spans and log records go on to the sinks. Default: all of
    /// them. See `examples/sampling.yaml`.
    #[serde(default)]
    pub sampling: crate::sample::SamplingConfig,
}

impl Config {
    /// `redaction.rules`, relative ones resolved against `base_dir` (the
    /// config file's directory, [`super::LoadedConfig::base_dir`]). Empty
    /// means the built-in rule pack.
    pub fn rule_paths(&self, base_dir: &std::path::Path) -> Vec<PathBuf> {
        self.redaction
            .rules
            .iter()
            .map(|path| base_dir.join(&path.value))
            .collect()
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/wardwatch")
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Whether to serve the admin endpoints. Default: `true`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Listen address, `host:port`. Default: `127.0.0.1:8686` (loopback only:
    /// expose it deliberately, e.g. `0.0.0.0:8686` for kubelet probes).
    #[serde(default = "default_admin_address")]
    pub address: Spanned<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            address: unspanned(default_admin_address_str()),
        }
    }
}

fn default_admin_address_str() -> String {
    "127.0.0.1:8686".to_owned()
}

fn default_admin_address() -> Spanned<String> {
    unspanned(default_admin_address_str())
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// Container log files.
    #[serde(default)]
    pub logs: LogsConfig,
    /// HTTP traffic of every process on the node, captured with eBPF.
    #[serde(default)]
    pub net: NetConfig,
    /// HTTP exchanges read from an NDJSON file in the stdout sink's shape:
    /// try dashboards and the metrics path without root or traffic.
    #[serde(default)]
    pub replay: Option<ReplayConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// The file, relative to the config file's directory.
    /// Example: `path: exchanges.ndjson`.
    pub path: PathBuf,
    /// `false` (default): as fast as the pipeline takes them. `true`: at the
    /// pace of their `@timestamp`s (gaps capped at 10 s), so a dashboard
    /// sees traffic arrive over time.
    #[serde(default)]
    pub paced: bool,
}

/// Which names RED metrics are published under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsNaming {
    /// `http_server_request_duration_seconds` and its client twin, with the
    /// OpenTelemetry label names (default).
    #[default]
    Otel,
    /// `http_server_requests_seconds` with Micrometer's labels
    /// (`application`, `uri`, `method`, `status`, `outcome`), for existing
    /// Spring Boot dashboards and alert rules.
    Spring,
}

/// RED metrics derived from HTTP exchanges (captured or replayed).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `otel` (default) or `spring`.
    #[serde(default)]
    pub naming: MetricsNaming,
    /// Labels added to every series. Example:
    /// `{cluster: eu-west-1-prod, region: eu-west-1, node: "${NODE_NAME}"}`.
    #[serde(default)]
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// Route templates tried before the automatic one, in order: `{name}`
    /// matches one path segment, `{name*}` the rest of the path.
    /// Example: `["/api/v1/patients/{id}/records"]`.
    #[serde(default)]
    pub route_templates: Vec<String>,
    /// Distinct words one path segment position may show, per service,
    /// before it becomes `{id}` for good. Default: `32`.
    #[serde(default)]
    pub max_distinct_segments: Option<Spanned<u64>>,
}

/// HTTP/1.x capture from syscall tracepoints (needs root, or CAP_BPF and
/// CAP_PERFMON, and the kernel's BTF at `/sys/kernel/btf/vmlinux`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Whether to capture. Default: `false`; `wardwatch run --net` sets it.
    #[serde(default)]
    pub enabled: bool,
    /// Whether the agent must capture: when `true` and capture cannot start
    /// (no privileges, no BTF), the agent refuses to start. When `false`
    /// (default) it says why once and ships logs without traffic.
    #[serde(default)]
    pub required: bool,
    /// Most connections followed at once; past it the least recently used
    /// is forgotten and counted. Default: `65536`.
    #[serde(default = "default_max_connections")]
    pub max_connections: Spanned<u64>,
    /// A connection with no traffic for this long is forgotten, in seconds.
    /// Default: `300`.
    #[serde(default = "default_connection_idle_secs")]
    pub idle_timeout_secs: Spanned<u64>,
    /// Longest a client span waits for the request its thread serves to
    /// complete, so that it can be nested under it, in milliseconds; then
    /// it leaves on its own (counted). Longer than almost every request
    /// lives; spans of a thread that serves nothing (a batch job) are
    /// exported this late. `0` nests nothing. Applies to replayed traffic
    /// too. Default: `5000`.
    #[serde(default = "default_client_span_wait_ms")]
    pub client_span_wait_ms: Spanned<u64>,
    /// Most client spans waiting so, in all; past it the oldest leaves on
    /// its own (counted). At about 1 KiB a span, so the default is a few
    /// MiB at most. Default: `4096`.
    #[serde(default = "default_max_waiting_client_spans")]
    pub max_waiting_client_spans: Spanned<u64>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            enabled: false,
            required: false,
            max_connections: default_max_connections(),
            idle_timeout_secs: default_connection_idle_secs(),
            client_span_wait_ms: default_client_span_wait_ms(),
            max_waiting_client_spans: default_max_waiting_client_spans(),
        }
    }
}

fn default_max_connections() -> Spanned<u64> {
    unspanned(65_536)
}

fn default_connection_idle_secs() -> Spanned<u64> {
    unspanned(300)
}

fn default_client_span_wait_ms() -> Spanned<u64> {
    let default = crate::derive::nesting::NestingLimits::default();
    unspanned(default.max_wait.as_millis() as u64)
}

fn default_max_waiting_client_spans() -> Spanned<u64> {
    let default = crate::derive::nesting::NestingLimits::default();
    unspanned(default.max_waiting as u64)
}

/// Where a file seen for the first time (no checkpoint) starts being read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadFrom {
    /// From its first byte (default): nothing written before the agent started is lost.
    #[default]
    Beginning,
    /// From its current end: only what is written from now on.
    End,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Whether to tail log files. Default: `true`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Glob patterns of files to follow.
    /// Default: `["/var/log/pods/*/*/*.log", "/var/lib/docker/containers/*/*-json.log"]`.
    #[serde(default = "default_include")]
    pub include: Vec<Spanned<String>>,
    /// Glob patterns of files never to follow, even when `include` matches.
    /// Default: none. Example: `["/var/log/pods/kube-system_*/*/*.log"]`.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    /// Where a file without a checkpoint starts: `beginning` (default) or `end`.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// How often the globs are expanded to find new files, in milliseconds.
    /// Default: `1000`.
    #[serde(default = "default_glob_interval_ms")]
    pub glob_interval_ms: Spanned<u64>,
    /// How long to wait before reading a file again after reaching its end,
    /// in milliseconds. Default: `100`.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: Spanned<u64>,
    /// Largest record, in bytes, after partial lines are joined and multiline
    /// records folded; the rest is cut and a `truncated` marker set.
    /// Default: `1048576` (1 MiB).
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: Spanned<u64>,
    /// How multiline records (Java stack traces) are folded.
    #[serde(default)]
    pub multiline: MultilineConfig,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            enabled: true,
            include: default_include(),
            exclude: Vec::new(),
            read_from: ReadFrom::Beginning,
            glob_interval_ms: default_glob_interval_ms(),
            poll_interval_ms: default_poll_interval_ms(),
            max_record_bytes: default_max_record_bytes(),
            multiline: MultilineConfig::default(),
        }
    }
}

fn default_include() -> Vec<Spanned<String>> {
    vec![
        unspanned("/var/log/pods/*/*/*.log".to_owned()),
        unspanned("/var/lib/docker/containers/*/*-json.log".to_owned()),
    ]
}

fn default_glob_interval_ms() -> Spanned<u64> {
    unspanned(1000)
}

fn default_poll_interval_ms() -> Spanned<u64> {
    unspanned(100)
}

fn default_max_record_bytes() -> Spanned<u64> {
    unspanned(1024 * 1024)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// Whether to fold continuation lines into the record they belong to.
    /// Default: `true`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A regular expression matching the first line of a record; lines that do
    /// not match continue the previous record. Default: none, which folds Java
    /// stack traces (lines starting with whitespace then `at `, `Caused by:`,
    /// `Suppressed:`, `... N more`, `... N common frames omitted`).
    /// Example: `'^\d{4}-\d{2}-\d{2}'`.
    #[serde(default)]
    pub start_pattern: Option<Spanned<String>>,
    /// How long a pending record waits for more continuation lines before it
    /// is sent, in milliseconds. Default: `1000`.
    #[serde(default = "default_multiline_timeout_ms")]
    pub timeout_ms: Spanned<u64>,
}

impl Default for MultilineConfig {
    fn default() -> Self {
        MultilineConfig {
            enabled: true,
            start_pattern: None,
            timeout_ms: default_multiline_timeout_ms(),
        }
    }
}

fn default_multiline_timeout_ms() -> Spanned<u64> {
    unspanned(1000)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionConfig {
    /// Rule files, or directories whose `*.yaml` files are all loaded, relative
    /// to the config file. Default: none, which uses the rule pack built into
    /// the agent (the files in `redaction-rules/`).
    /// Example: `["/etc/wardwatch/rules"]`.
    #[serde(default)]
    pub rules: Vec<Spanned<PathBuf>>,

    /// How often the rule files are checked for changes, in seconds; a change
    /// loads them anew and swaps the compiled rules in at once, while a broken
    /// file keeps the rules in force and reports the error. `0`: only on
    /// SIGHUP. The built-in pack never changes. Default: `10`.
    #[serde(default = "default_reload_interval_secs")]
    pub reload_interval_secs: Spanned<u64>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            rules: Vec::new(),
            reload_interval_secs: default_reload_interval_secs(),
        }
    }
}

fn default_reload_interval_secs() -> Spanned<u64> {
    unspanned(10)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    /// Writes each record as one line on standard output. Absent: disabled.
    #[serde(default)]
    pub stdout: Option<StdoutConfig>,
    /// Pushes RED metrics to Prometheus by remote-write. Absent: disabled
    /// (they are still served on the admin `/metrics`).
    #[serde(default)]
    pub remote_write: Option<crate::sinks::remote_write::RemoteWriteConfig>,
    /// Exports trace spans over OTLP (Jaeger, the OpenTelemetry Collector).
    /// Absent: disabled.
    #[serde(default)]
    pub otlp: Option<crate::sinks::otlp::OtlpConfig>,
}

impl SinksConfig {
    /// Whether any sink is enabled. A new sink must be counted here, or a
    /// file enabling only that sink is rejected as having none.
    pub fn any_enabled(&self) -> bool {
        self.stdout.is_some()
    }
}

/// How the stdout sink writes a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StdoutFormat {
    /// One JSON object per line with ECS field names (default).
    #[default]
    Json,
    /// A compact human-readable line.
    Text,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    /// `json` (default) or `text`.
    #[serde(default)]
    pub format: StdoutFormat,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Most records in one batch. A batch is the unit of acknowledgement: after
    /// a crash at most one batch per sink is sent twice. Default: `1000`.
    #[serde(default = "default_batch_max_records")]
    pub batch_max_records: Spanned<u64>,
    /// Batches that may wait between two stages before the stage before them
    /// stops (log files are then simply read later). Default: `16`.
    #[serde(default = "default_queue_batches")]
    pub queue_batches: Spanned<u64>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_max_records: default_batch_max_records(),
            queue_batches: default_queue_batches(),
        }
    }
}

fn default_batch_max_records() -> Spanned<u64> {
    unspanned(1000)
}

fn default_queue_batches() -> Spanned<u64> {
    unspanned(16)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// `host.name` on every record. Default: the `NODE_NAME` environment
    /// variable (set it from the downward API in a DaemonSet), else the
    /// machine's host name. Example: `host_name: ${NODE_NAME}`.
    #[serde(default)]
    pub host_name: Option<String>,
    /// `tenant.id` by namespace, for platforms where a tenant spans several
    /// namespaces. Default: none, and `tenant.id` is the namespace (one
    /// namespace per tenant); on compose hosts, the compose project.
    /// Example: `{ cardiology-prod: cardiology, cardiology-jobs: cardiology }`.
    #[serde(default)]
    pub tenants: std::collections::BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// A default value, which has no place in any file.
fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(
        value,
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
}
