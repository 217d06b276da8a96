//! Prometheus remote-write 1.0: RED histograms pushed to Prometheus (or
//! anything that speaks the protocol: Mimir, Thanos receive, VictoriaMetrics).
//!
//! Every `flush_interval_ms` the current value of every series is sent with
//! that flush's timestamp, so samples of a series are strictly in time order
//! (Prometheus rejects a whole request for one out-of-order sample). A
//! request is a protobuf `WriteRequest`, snappy block-compressed, with the
//! headers the spec requires; labels sorted by name, none empty. 5xx and 429
//! are retried with exponential backoff and jitter (`Retry-After` honoured);
//! any other 4xx means the request can never succeed: it is dropped and
//! counted, not retried. A series that has not changed for
//! `stale_after_secs` is ended with a stale marker, so dashboards stop
//! drawing it at once instead of five minutes later.
//!
//! `https://` with a private CA or mutual TLS, basic auth or a bearer
//! token (from files) and extra headers (a Mimir tenant) are settings, so
//! no proxy is needed in front of a managed receiver.

mod auth;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use prost::Message;
use serde::Deserialize;

pub use self::auth::BasicAuth;
use self::auth::Credentials;
use super::tls::TlsConfig;
use crate::derive::red::{RedMetrics, Sample};
use crate::internal_events::{RemoteWriteFailed, RemoteWriteSent};

/// The NaN Prometheus reads as "this series ended" (value.StaleNaN).
pub const STALE_NAN: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

/// `sinks.remote_write`.
///
/// ```yaml
/// sinks:
///   remote_write:
///     url: https://mimir.observability:443/api/v1/push
///     basic_auth: {username: wardwatch, password_file: /etc/wardwatch/rw/password}
///     headers: {X-Scope-OrgID: clinical}
///     tls: {ca_file: /etc/wardwatch/rw/ca.pem}
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The receiver's URL, `http://` or `https://`. Example:
    /// `http://prometheus:9090/api/v1/write`.
    pub url: String,
    /// Basic auth, the password read from a file. Excludes
    /// `bearer_token_file`.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// File holding a bearer token (a service-account token, say), read
    /// for every request so rotated tokens are picked up.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Extra request headers, such as a tenant. Their values never appear
    /// in the agent's logs. The protocol's own headers and
    /// `Authorization` cannot be set here.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Client TLS for `https://`: a private CA, a client certificate.
    #[serde(default)]
    pub tls: TlsConfig,
    /// How often series are sent, in milliseconds. Default: `15000`, a
    /// usual scrape interval, so `rate(...[1m])` has four samples.
    #[serde(default = "default_flush_ms")]
    pub flush_interval_ms: u64,
    /// Most samples in one request. Default: `2000`.
    #[serde(default = "default_max_samples")]
    pub max_samples_per_send: usize,
    /// Retries of one request before it is dropped. Default: `10`.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// A series unchanged this long is ended with a stale marker.
    /// Default: `300`.
    #[serde(default = "default_stale_secs")]
    pub stale_after_secs: u64,
}

impl std::fmt::Debug for RemoteWriteConfig {
    // Header values may be secrets (an API key); show names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriteConfig")
            .field("url", &self.url)
            .field("basic_auth", &self.basic_auth)
            .field("bearer_token_file", &self.bearer_token_file)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("tls", &self.tls)
            .field("flush_interval_ms", &self.flush_interval_ms)
            .field("max_samples_per_send", &self.max_samples_per_send)
            .field("max_retries", &self.max_retries)
            .field("stale_after_secs", &self.stale_after_secs)
            .finish()
    }
}

/// Headers the protocol or the credentials set; a configured header may
/// not replace them.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "content-encoding",
    "content-length",
    "content-type",
    "host",
    "user-agent",
    "x-prometheus-remote-write-version",
];

fn default_flush_ms() -> u64 {
    15_000
}
fn default_max_samples() -> usize {
    2000
}
fn default_retries() -> u32 {
    10
}
fn default_stale_secs() -> u64 {
    300
}

impl RemoteWriteConfig {
    /// The config `--remote-write URL` means.
    pub fn for_url(url: String) -> Self {
        RemoteWriteConfig {
            url,
            basic_auth: None,
            bearer_token_file: None,
            headers: BTreeMap::new(),
            tls: TlsConfig::default(),
            flush_interval_ms: default_flush_ms(),
            max_samples_per_send: default_max_samples(),
            max_retries: default_retries(),
            stale_after_secs: default_stale_secs(),
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<PromSample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PromSample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// One series' sample as remote-write wants it: `__name__` among the
/// labels, labels sorted, no empty value.
pub fn series(sample: Sample, timestamp_ms: i64) -> TimeSeries {
    let mut labels: Vec<Label> = sample
        .labels
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| Label { name, value })
        .collect();
    labels.push(Label {
        name: "__name__".into(),
        value: sample.name,
    });
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    labels.dedup_by(|a, b| a.name == b.name);
    TimeSeries {
        labels,
        samples: vec![PromSample {
            value: sample.value,
            timestamp: timestamp_ms,
        }],
    }
}

/// The snappy-compressed protobuf body of one request.
pub fn encode(timeseries: Vec<TimeSeries>) -> Vec<u8> {
    let body = WriteRequest { timeseries }.encode_to_vec();
    // Encoding into memory only fails past snappy's 4 GiB input limit.
    snap::raw::Encoder::new()
        .compress_vec(&body)
        .unwrap_or_default()
}

/// What one request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// A 4xx other than 429: the receiver will never take it.
    Rejected(u16),
    /// Retries ran out on 5xx, 429 or connection errors.
    GaveUp,
}

/// Sends remote-write requests to one URL.
pub struct RemoteWriter {
    config: RemoteWriteConfig,
    client: reqwest::Client,
    url: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    credentials: Credentials,
}

impl RemoteWriter {
    /// Checks the settings and reads the TLS files and secrets once, so a
    /// mistake stops the agent at start with the setting's name.
    pub fn new(config: RemoteWriteConfig) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| anyhow::anyhow!("sinks.remote_write.url {:?}: {e}", config.url))?;
        // Credentials in the URL would end up in error messages and logs.
        anyhow::ensure!(
            url.username().is_empty() && url.password().is_none(),
            "sinks.remote_write.url: put credentials in basic_auth, not in the URL"
        );
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https") && url.host().is_some(),
            "sinks.remote_write.url {:?}: needs http:// or https:// and a host",
            config.url
        );
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let invalid =
                || anyhow::anyhow!("sinks.remote_write.headers: {name:?} is not a valid header");
            let name =
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            anyhow::ensure!(
                !RESERVED_HEADERS.contains(&name.as_str()),
                "sinks.remote_write.headers: {name} is set by the agent itself"
            );
            // The value is left out of the error: it may be a key.
            let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| invalid())?;
            headers.insert(name, value);
        }
        let credentials = Credentials::new(
            config.basic_auth.as_ref(),
            config.bearer_token_file.as_ref(),
        )?;
        // Fail at start on an unreadable secret, not at the first flush.
        drop(credentials.apply(reqwest::Client::new().post(url.clone()))?);
        let tls = config.tls.read("sinks.remote_write.tls")?;
        let client = tls
            .reqwest(reqwest::Client::builder(), "sinks.remote_write.tls")?
            .user_agent(concat!("wardwatch/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| anyhow::anyhow!("sinks.remote_write: {e}"))?;
        Ok(RemoteWriter {
            config,
            client,
            url,
            headers,
            credentials,
        })
    }

    /// Sends `timeseries` in requests of at most `max_samples_per_send`.
    pub async fn write(&self, timeseries: Vec<TimeSeries>) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let per_request = self.config.max_samples_per_send.max(1);
        let mut rest = timeseries;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(per_request));
            let samples = rest.len();
            let body = Bytes::from(encode(rest));
            let outcome = self.send(body, samples).await;
            outcomes.push(outcome);
            rest = tail;
        }
        outcomes
    }

    async fn send(&self, body: Bytes, samples: usize) -> Outcome {
        let mut delay = Duration::from_millis(30);
        let mut unreachable = None;
        for attempt in 0..=self.config.max_retries {
            let wait = match self.post(&body).await {
                Ok((status, _)) if (200..300).contains(&status) => {
                    RemoteWriteSent {
                        samples,
                        bytes: body.len(),
                    }
                    .emit();
                    return Outcome::Sent;
                }
                // The receiver's own Retry-After is waited in full; only
                // our backoff is jittered.
                Ok((status, retry_after)) if status == 429 || status >= 500 => {
                    retry_after.unwrap_or_else(|| jitter(delay))
                }
                Ok((status, _)) => {
                    RemoteWriteFailed {
                        reason: "rejected",
                        status,
                        samples,
                    }
                    .emit();
                    return Outcome::Rejected(status);
                }
                Err(e) => {
                    unreachable = Some(e);
                    jitter(delay)
                }
            };
            if attempt == self.config.max_retries {
                break;
            }
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        if let Some(e) = unreachable {
            // Connection refused, DNS, or a TLS handshake that failed (an
            // unknown CA, a missing client certificate): the operator needs
            // the cause. It carries the URL and the error, no samples.
            tracing::warn!(
                error = format!("{e:#}"),
                "remote-write receiver unreachable"
            );
        }
        RemoteWriteFailed {
            reason: "retries_exhausted",
            status: 0,
            samples,
        }
        .emit();
        Outcome::GaveUp
    }

    /// One POST; the status and the `Retry-After` it asked for.
    async fn post(&self, body: &Bytes) -> anyhow::Result<(u16, Option<Duration>)> {
        use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
        let request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_ENCODING, "snappy")
            .header(CONTENT_TYPE, "application/x-protobuf")
            .header("x-prometheus-remote-write-version", "0.1.0")
            .body(body.clone());
        let request = self.credentials.apply(request).inspect_err(|e| {
            // Names the file and the error kind, never the secret.
            tracing::warn!(error = %e, "remote-write credentials unreadable; retrying");
        })?;
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|secs| Duration::from_secs(secs.min(300)));
        // Read the body so the connection can be reused; it is never
        // logged (a receiver may echo label values).
        let _ = response.bytes().await;
        Ok((status, retry_after))
    }
}

/// Full jitter, from the clock's nanoseconds: no RNG state needed.
fn jitter(wait: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    wait / 2 + wait.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// Pushes `metrics` every flush interval until `stop` resolves, then once
/// more.
pub async fn run(
    config: RemoteWriteConfig,
    metrics: Arc<Mutex<RedMetrics>>,
    stop: Arc<tokio::sync::Notify>,
) -> anyhow::Result<()> {
    let interval = Duration::from_millis(config.flush_interval_ms.max(100));
    let stale_after_ms =
        i64::try_from(config.stale_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let writer = RemoteWriter::new(config)?;
    let mut last_ms = 0;
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(interval) => false,
            () = stop.notified() => true,
        };
        // Strictly increasing per flush, so no series ever goes back in time.
        let now_ms = chrono::Utc::now().timestamp_millis().max(last_ms + 1);
        last_ms = now_ms;
        let timeseries = {
            let mut metrics = metrics.lock().unwrap_or_else(|e| e.into_inner());
            let mut out = Vec::with_capacity(metrics.series_count() * 20);
            metrics.expire(now_ms - stale_after_ms, |sample| {
                let mut ended = series(sample, now_ms);
                ended.samples[0].value = STALE_NAN;
                out.push(ended);
            });
            metrics.samples(|sample, _| out.push(series(sample, now_ms)));
            out
        };
        if !timeseries.is_empty() {
            writer.write(timeseries).await;
        }
        if stopping {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests;
