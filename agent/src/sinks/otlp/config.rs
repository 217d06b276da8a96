//! `sinks.otlp`: the file's settings, merged with the standard
//! `OTEL_EXPORTER_OTLP_*` environment variables into [`Resolved`].
//!
//! Precedence, per setting: the config file, then the traces-specific
//! variable (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `…_TRACES_PROTOCOL`,
//! `…_TRACES_HEADERS`, `…_TRACES_TIMEOUT`), then the generic one
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, …), then the built-in default. The file
//! wins because it is what the operator wrote for this agent; the variables
//! are often injected into every pod of a namespace for the applications'
//! SDKs and would otherwise redirect the agent without anyone asking.
//! Headers merge key by key in the same order, so a file can add a tenant
//! to an API key that arrives by environment.
//!
//! Values the specification does not allow (an unknown protocol, a timeout
//! that is not a number) are ignored with a warning, as the OpenTelemetry
//! environment-variable specification asks; the warning names the
//! variable, never its value (header values are credentials).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::OtlpError;
use crate::sinks::tls::TlsConfig;

/// The OTLP transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    /// OTLP/gRPC: `TraceService/Export` over HTTP/2 (Jaeger and the
    /// Collector on port 4317).
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with a binary protobuf body, `POST <endpoint>/v1/traces`
    /// (port 4318).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// How export request bodies are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// As they are.
    #[default]
    None,
    /// gzip: the gRPC message compressed (`grpc-encoding: gzip`), or the
    /// OTLP/HTTP body (`Content-Encoding: gzip`). Batches repeat attribute
    /// keys and resources, so they compress well: worth the CPU when the
    /// receiver is across a region or a paid link.
    Gzip,
}

impl Compression {
    fn parse(text: &str) -> Option<Compression> {
        match text {
            "none" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            _ => None,
        }
    }
}

impl Protocol {
    fn parse(text: &str) -> Option<Protocol> {
        match text {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            _ => None,
        }
    }

    fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://127.0.0.1:4317",
            Protocol::HttpProtobuf => "http://127.0.0.1:4318",
        }
    }
}

/// `sinks.otlp`: exports trace spans over OTLP.
///
/// ```yaml
/// sinks:
///   otlp:
///     endpoint: http://jaeger-collector.observability:4317
///     headers: { x-scope-orgid: clinical }
///     resource_attributes: { k8s.cluster.name: eu-west-1-prod, cloud.region: eu-west-1 }
/// ```
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpConfig {
    /// Where spans go. For `grpc` the receiver's address; for
    /// `http/protobuf` a base URL to which `/v1/traces` is appended (as for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`). `http://` or `https://` (see `tls`).
    /// Default:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as the full URL, as the
    /// specification says), else `OTEL_EXPORTER_OTLP_ENDPOINT`, else
    /// `http://127.0.0.1:4317` (grpc) or `http://127.0.0.1:4318` (http).
    pub endpoint: Option<String>,
    /// `grpc` or `http/protobuf`. Default: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`,
    /// else `OTEL_EXPORTER_OTLP_PROTOCOL`, else `grpc`.
    pub protocol: Option<Protocol>,
    /// Request headers (gRPC metadata): an API key, a tenant. Merged over
    /// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TRACES_HEADERS`
    /// (`k=v,k2=v2`, percent-encoded), this file winning per key. Names are
    /// lower-cased. Values never appear in the agent's logs. Default: none.
    /// Example: `{api-key: "${OTLP_API_KEY}"}`.
    pub headers: BTreeMap<String, String>,
    /// How long one export request may take, in milliseconds; a request
    /// that times out is retried. Default: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`,
    /// else `OTEL_EXPORTER_OTLP_TIMEOUT`, else `10000`.
    pub timeout_ms: Option<u64>,
    /// `gzip` or `none`. Default: `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`,
    /// else `OTEL_EXPORTER_OTLP_COMPRESSION`, else `none` (as the OTel
    /// specification's default).
    pub compression: Option<Compression>,
    /// Most spans in one export request. Default: `512` (the OTel SDK
    /// batch processor's).
    pub max_batch_spans: usize,
    /// Longest a span waits for its batch to fill, in milliseconds.
    /// Default: `1000`. Shorter than the SDK batch processor's 5000 because
    /// this agent is not inside the application: a flush costs the
    /// service nothing, and a trace appears in Jaeger only once every
    /// service's spans have arrived, so each exporter's delay adds up.
    pub flush_interval_ms: u64,
    /// Most spans waiting for export (not counting the request in flight).
    /// Past it newly arriving spans are dropped and counted
    /// (`wardwatch_otlp_spans_dropped_total{reason="queue_full"}`): the
    /// network source is never slowed down. Default: `2048`.
    pub max_queue_spans: usize,
    /// First wait before retrying a failed request, in milliseconds;
    /// doubled per retry, each wait jittered to between half and all of
    /// it. Default: `1000`.
    pub min_backoff_ms: u64,
    /// Longest wait between two retries, in milliseconds. Default: `30000`.
    pub max_backoff_ms: u64,
    /// Longest a batch is retried, from its first attempt, in
    /// milliseconds; then it is dropped and counted. A receiver's
    /// `Retry-After` (or gRPC `RetryInfo`) is waited in full, but not past
    /// this. Default: `60000`: spans are a sample already, and newer
    /// spans queue behind a batch being retried.
    pub max_elapsed_ms: u64,
    /// Longest the exporter goes on delivering once the agent is asked to
    /// stop, in milliseconds; spans still queued or in flight then are
    /// dropped and counted (`reason="shutdown"`). Default: `10000`, well
    /// inside Kubernetes' 30 s termination grace period, so the other
    /// sinks still get their turn.
    pub shutdown_timeout_ms: u64,
    /// Resource attributes added to every service's spans, such as the
    /// cluster and region. They never replace the attributes the agent
    /// derives (`service.name`, `k8s.pod.name`, …). Default: none.
    /// Example: `{k8s.cluster.name: eu-west-1-prod, cloud.region: eu-west-1}`.
    pub resource_attributes: BTreeMap<String, String>,
    /// For `https://` endpoints: a private CA (`ca_file`; otherwise the
    /// public web PKI roots) and a client certificate for mutual TLS
    /// (`cert_file`, `key_file`). Each file defaults to
    /// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` / `…_CLIENT_CERTIFICATE` /
    /// `…_CLIENT_KEY`, else the same without `TRACES_`.
    pub tls: TlsConfig,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: None,
            protocol: None,
            headers: BTreeMap::new(),
            timeout_ms: None,
            compression: None,
            max_batch_spans: 512,
            flush_interval_ms: 1000,
            max_queue_spans: 2048,
            min_backoff_ms: 1000,
            max_backoff_ms: 30_000,
            max_elapsed_ms: 60_000,
            shutdown_timeout_ms: 10_000,
            resource_attributes: BTreeMap::new(),
            tls: TlsConfig::default(),
        }
    }
}

/// Header values are credentials: shown as `<redacted>`.
impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &HeaderNames(self.headers.keys()))
            .field("timeout_ms", &self.timeout_ms)
            .field("compression", &self.compression)
            .field("max_batch_spans", &self.max_batch_spans)
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("max_queue_spans", &self.max_queue_spans)
            .field("min_backoff_ms", &self.min_backoff_ms)
            .field("max_backoff_ms", &self.max_backoff_ms)
            .field("max_elapsed_ms", &self.max_elapsed_ms)
            .field("shutdown_timeout_ms", &self.shutdown_timeout_ms)
            .field("resource_attributes", &self.resource_attributes)
            .field("tls", &self.tls)
            .finish()
    }
}

struct HeaderNames<I>(I);

impl<'a, I: Iterator<Item = &'a String> + Clone> fmt::Debug for HeaderNames<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.clone().map(|name| (name, "<redacted>")))
            .finish()
    }
}

/// Retry timing of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffSettings {
    /// The first wait.
    pub min: Duration,
    /// The longest wait.
    pub max: Duration,
    /// From a batch's first attempt to its last.
    pub max_elapsed: Duration,
}

/// What the exporter runs with: the config and the environment merged.
#[derive(Clone, PartialEq, Eq)]
pub struct Resolved {
    pub protocol: Protocol,
    /// The URL requests go to: the receiver's address for gRPC, the full
    /// `…/v1/traces` URL for OTLP/HTTP.
    pub url: String,
    /// Lower-case names, sorted; the file's value where it and the
    /// environment both name a header.
    pub headers: Vec<(String, String)>,
    /// Per request.
    pub timeout: Duration,
    pub compression: Compression,
    pub max_batch_spans: usize,
    pub flush_interval: Duration,
    pub max_queue_spans: usize,
    pub backoff: BackoffSettings,
    pub shutdown_timeout: Duration,
    /// Added to every `ResourceSpans` after the derived attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// The file's TLS settings, each file falling back to the environment.
    pub tls: TlsConfig,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved")
            .field("protocol", &self.protocol)
            .field("url", &self.url)
            .field("headers", &HeaderNames(self.headers.iter().map(|(k, _)| k)))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("max_batch_spans", &self.max_batch_spans)
            .field("flush_interval", &self.flush_interval)
            .field("max_queue_spans", &self.max_queue_spans)
            .field("backoff", &self.backoff)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("resource_attributes", &self.resource_attributes)
            .field("tls", &self.tls)
            .finish()
    }
}

const DEFAULT_TIMEOUT_MS: u64 = 10_000;

impl OtlpConfig {
    /// Merges the file's settings with the environment, read through `env`
    /// (`|name| std::env::var(name).ok()` in the agent; a table in tests).
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Resolved {
        // The traces-specific variable, else the generic one.
        let var = |suffix: &str| -> Option<(String, String)> {
            let specific = format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}");
            let generic = format!("OTEL_EXPORTER_OTLP_{suffix}");
            env(&specific)
                .map(|value| (specific, value))
                .or_else(|| env(&generic).map(|value| (generic, value)))
                .filter(|(_, value)| !value.trim().is_empty())
        };

        let protocol = self.protocol.unwrap_or_else(|| {
            parsed(
                var("PROTOCOL"),
                Protocol::parse,
                "unsupported OTLP protocol ignored (grpc and http/protobuf are)",
            )
            .unwrap_or(Protocol::Grpc)
        });

        let url = match (&self.endpoint, var("ENDPOINT")) {
            (Some(endpoint), _) => signal_url(protocol, endpoint),
            (None, Some((name, value))) if name.contains("_TRACES_") => value.trim().to_owned(),
            (None, Some((_, value))) => signal_url(protocol, value.trim()),
            (None, None) => signal_url(protocol, protocol.default_endpoint()),
        };

        let mut headers = BTreeMap::new();
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        ] {
            if let Some(text) = env(name) {
                headers.extend(parse_headers(&text));
            }
        }
        headers.extend(
            self.headers
                .iter()
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.clone())),
        );

        let timeout_ms = self.timeout_ms.unwrap_or_else(|| {
            parsed(
                var("TIMEOUT"),
                |v| v.parse().ok(),
                "OTLP timeout is not a number of milliseconds; ignored",
            )
            .unwrap_or(DEFAULT_TIMEOUT_MS)
        });

        let compression = self.compression.unwrap_or_else(|| {
            parsed(
                var("COMPRESSION"),
                Compression::parse,
                "unsupported OTLP compression ignored (gzip and none are)",
            )
            .unwrap_or(Compression::None)
        });

        let file = |set: &Option<PathBuf>, suffix: &str| {
            set.clone()
                .or_else(|| var(suffix).map(|(_, value)| PathBuf::from(value.trim())))
        };
        let tls = TlsConfig {
            ca_file: file(&self.tls.ca_file, "CERTIFICATE"),
            cert_file: file(&self.tls.cert_file, "CLIENT_CERTIFICATE"),
            key_file: file(&self.tls.key_file, "CLIENT_KEY"),
            insecure_skip_verify: self.tls.insecure_skip_verify,
        };

        Resolved {
            protocol,
            url,
            headers: headers.into_iter().collect(),
            timeout: Duration::from_millis(timeout_ms),
            compression,
            max_batch_spans: self.max_batch_spans,
            flush_interval: Duration::from_millis(self.flush_interval_ms),
            max_queue_spans: self.max_queue_spans,
            backoff: BackoffSettings {
                min: Duration::from_millis(self.min_backoff_ms),
                max: Duration::from_millis(self.max_backoff_ms),
                max_elapsed: Duration::from_millis(self.max_elapsed_ms),
            },
            shutdown_timeout: Duration::from_millis(self.shutdown_timeout_ms),
            resource_attributes: self
                .resource_attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            tls,
        }
    }
}

/// The value of a variable found as (name, value), read by `parse`. One the
/// specification does not allow is ignored with the warning `refused`,
/// which names the variable only: a typo could be anything, a secret too.
fn parsed<T>(
    found: Option<(String, String)>,
    parse: impl Fn(&str) -> Option<T>,
    refused: &str,
) -> Option<T> {
    let (name, value) = found?;
    let parsed = parse(value.trim());
    if parsed.is_none() {
        tracing::warn!(variable = %name, "{refused}");
    }
    parsed
}

/// The URL for traces from a generic endpoint: as given for gRPC; for
/// OTLP/HTTP with `v1/traces` appended relative to its path.
fn signal_url(protocol: Protocol, endpoint: &str) -> String {
    match protocol {
        Protocol::Grpc => endpoint.to_owned(),
        Protocol::HttpProtobuf => format!("{}/v1/traces", endpoint.trim_end_matches('/')),
    }
}

impl Resolved {
    /// Settings no exporter can run with: an endpoint that is not an
    /// `http(s)://` URL (or carries credentials), a header that cannot be
    /// sent, a zero batch, a queue smaller than a batch, a backoff that
    /// never grows. [`OtlpExporter::new`](super::OtlpExporter::new) checks
    /// the same; config validation can call this without building a client.
    pub fn check(&self) -> Result<(), OtlpError> {
        super::transport::check(self)?;
        let invalid = |field: &'static str, problem: &str| {
            Err(OtlpError::InvalidSetting {
                field,
                problem: problem.to_owned(),
            })
        };
        if self.max_batch_spans == 0 {
            return invalid("max_batch_spans", "must be at least 1");
        }
        if self.max_queue_spans < self.max_batch_spans {
            return invalid(
                "max_queue_spans",
                "must be at least max_batch_spans (a batch is taken from the queue)",
            );
        }
        if self.flush_interval.is_zero() {
            return invalid("flush_interval_ms", "must be at least 1");
        }
        if self.timeout.is_zero() {
            return invalid("timeout_ms", "must be at least 1");
        }
        if self.backoff.min.is_zero() {
            return invalid("min_backoff_ms", "must be at least 1");
        }
        if self.backoff.max < self.backoff.min {
            return invalid("max_backoff_ms", "must be at least min_backoff_ms");
        }
        Ok(())
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: `k=v` pairs separated by commas, keys and
/// values percent-encoded (the W3C Baggage format the OTel specification
/// borrows). Names are trimmed and lower-cased, values trimmed. A pair
/// without `=` or with an empty name is skipped with a warning that says
/// where, never what (a malformed pair may be half a secret).
pub fn parse_headers(text: &str) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    for (index, pair) in text.split(',').enumerate() {
        if pair.trim().is_empty() {
            continue;
        }
        let parsed = pair.split_once('=').and_then(|(key, value)| {
            let key = percent_decode(key.trim()).trim().to_ascii_lowercase();
            (!key.is_empty()).then(|| (key, percent_decode(value.trim())))
        });
        match parsed {
            Some((key, value)) => {
                headers.insert(key, value);
            }
            None => tracing::warn!(
                pair = index + 1,
                "malformed pair in OTEL_EXPORTER_OTLP_HEADERS skipped (want key=value)"
            ),
        }
    }
    headers
}

/// Decodes `%XX` escapes (bytes, then UTF-8, replacing what is not); a `%`
/// not followed by two hex digits is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn headers_are_parsed_and_percent_decoded() {
        let headers = parse_headers("api-key=secret,tenant=a%20b");
        assert_eq!(
            headers.into_iter().collect::<Vec<_>>(),
            [
                ("api-key".to_owned(), "secret".to_owned()),
                ("tenant".to_owned(), "a b".to_owned())
            ]
        );
        let headers = parse_headers(" Api-Key = s%3Dx%2Cy , ,broken,=nokey,note=caf%C3%A9");
        assert_eq!(headers.get("api-key").map(String::as_str), Some("s=x,y"));
        assert_eq!(headers.get("note").map(String::as_str), Some("café"));
        assert_eq!(headers.len(), 2, "{headers:?}");
    }

    #[test]
    fn broken_escapes_are_kept_as_written() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%zz%"), "%zz%");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn defaults_depend_on_the_protocol() {
        let none = |_: &str| None;
        let grpc = OtlpConfig::default().resolve(&none);
        assert_eq!(grpc.protocol, Protocol::Grpc);
        assert_eq!(grpc.url, "http://127.0.0.1:4317");
        assert_eq!(grpc.timeout, Duration::from_secs(10));
        assert_eq!(grpc.max_batch_spans, 512);
        assert_eq!(grpc.max_queue_spans, 2048);
        assert_eq!(grpc.flush_interval, Duration::from_secs(1));
        grpc.check().unwrap();
        let http = OtlpConfig {
            protocol: Some(Protocol::HttpProtobuf),
            ..OtlpConfig::default()
        }
        .resolve(&none);
        assert_eq!(http.url, "http://127.0.0.1:4318/v1/traces");
    }

    #[test]
    fn the_environment_fills_what_the_file_leaves_out() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/otlp/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret,tenant=a%20b"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]);
        let resolved = OtlpConfig::default().resolve(&env);
        assert_eq!(resolved.protocol, Protocol::HttpProtobuf);
        assert_eq!(resolved.url, "http://collector:4318/otlp/v1/traces");
        assert_eq!(resolved.timeout, Duration::from_millis(2500));
        assert_eq!(
            resolved.headers,
            [
                ("api-key".to_owned(), "secret".to_owned()),
                ("tenant".to_owned(), "a b".to_owned())
            ]
        );
    }

    #[test]
    fn compression_comes_from_the_file_then_the_environment() {
        let none = |_: &str| None;
        assert_eq!(
            OtlpConfig::default().resolve(&none).compression,
            Compression::None
        );
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ]);
        assert_eq!(
            OtlpConfig::default().resolve(&env).compression,
            Compression::Gzip
        );
        let file = OtlpConfig {
            compression: Some(Compression::None),
            ..OtlpConfig::default()
        };
        assert_eq!(file.resolve(&env).compression, Compression::None);
        // Not a value the specification allows: ignored, with a warning.
        let env = env_of(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]);
        assert_eq!(
            OtlpConfig::default().resolve(&env).compression,
            Compression::None
        );
    }

    #[test]
    fn the_file_wins_over_the_environment() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=env-key,tenant=env"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]);
        let config = OtlpConfig {
            endpoint: Some("http://jaeger:4317".into()),
            protocol: Some(Protocol::Grpc),
            headers: BTreeMap::from([("Tenant".into(), "file".into())]),
            timeout_ms: Some(700),
            ..OtlpConfig::default()
        };
        let resolved = config.resolve(&env);
        assert_eq!(resolved.url, "http://jaeger:4317");
        assert_eq!(resolved.protocol, Protocol::Grpc);
        assert_eq!(resolved.timeout, Duration::from_millis(700));
        assert_eq!(
            resolved.headers,
            [
                ("api-key".to_owned(), "env-key".to_owned()),
                ("tenant".to_owned(), "file".to_owned())
            ],
            "merged per key, the file's value kept"
        );
    }

    #[test]
    fn traces_variables_win_over_generic_ones_and_their_endpoint_is_used_as_is() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:9999/custom",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=generic,b=generic"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "b=traces"),
        ]);
        let resolved = OtlpConfig::default().resolve(&env);
        assert_eq!(resolved.protocol, Protocol::HttpProtobuf);
        assert_eq!(resolved.url, "http://traces:9999/custom");
        assert_eq!(
            resolved.headers,
            [
                ("a".to_owned(), "generic".to_owned()),
                ("b".to_owned(), "traces".to_owned())
            ]
        );
    }

    #[test]
    fn values_the_specification_does_not_allow_are_ignored() {
        let env = env_of(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "  "),
        ]);
        let resolved = OtlpConfig::default().resolve(&env);
        assert_eq!(resolved.protocol, Protocol::Grpc);
        assert_eq!(resolved.timeout, Duration::from_secs(10));
        assert_eq!(resolved.url, "http://127.0.0.1:4317");
    }

    #[test]
    fn the_yaml_form_parses_with_defaults_and_rejects_unknown_keys() {
        let config: OtlpConfig = serde_saphyr::from_str(
            "protocol: http/protobuf\n\
             endpoint: https://otlp.example.org\n\
             headers: {api-key: k}\n\
             resource_attributes: {k8s.cluster.name: eu-west-1-prod, cloud.region: eu-west-1}\n",
        )
        .unwrap();
        assert_eq!(config.protocol, Some(Protocol::HttpProtobuf));
        assert_eq!(config.max_batch_spans, 512);
        assert_eq!(config.max_elapsed_ms, 60_000);
        assert_eq!(config.resource_attributes.len(), 2);
        assert!(serde_saphyr::from_str::<OtlpConfig>("endpont: http://x:4317\n").is_err());
        assert!(serde_saphyr::from_str::<OtlpConfig>("protocol: http/json\n").is_err());
    }

    #[test]
    fn debug_output_shows_header_names_not_values() {
        let config = OtlpConfig {
            headers: BTreeMap::from([("api-key".into(), "hunter2".into())]),
            ..OtlpConfig::default()
        };
        let resolved = config.resolve(&|_| None);
        for text in [format!("{config:?}"), format!("{resolved:?}")] {
            assert!(text.contains("api-key"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    }

    #[test]
    fn settings_no_exporter_can_run_with_are_refused() {
        let check = |config: OtlpConfig| config.resolve(&|_| None).check();
        assert!(check(OtlpConfig {
            max_batch_spans: 0,
            ..OtlpConfig::default()
        })
        .is_err());
        assert!(check(OtlpConfig {
            max_queue_spans: 100,
            ..OtlpConfig::default()
        })
        .is_err());
        assert!(check(OtlpConfig {
            min_backoff_ms: 5000,
            max_backoff_ms: 1000,
            ..OtlpConfig::default()
        })
        .is_err());
        assert!(check(OtlpConfig {
            timeout_ms: Some(0),
            ..OtlpConfig::default()
        })
        .is_err());
    }
}
