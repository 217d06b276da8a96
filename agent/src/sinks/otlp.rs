//! Trace spans exported over OTLP, which Jaeger (4317 gRPC, 4318 HTTP), the
//! OpenTelemetry Collector and Tempo ingest natively.
//!
//! Spans arrive in batches from the traffic stage on a bounded channel that
//! the stage only `try_send`s to: export never slows capture. [`run`]
//! gathers them into requests of up to `max_batch_spans` (or whatever
//! waited `flush_interval_ms`) and drops, counting, what does not fit in
//! `max_queue_spans` while the receiver is slow. A request holds one
//! `ResourceSpans` per service instance with the OTel resource conventions
//! (`encode`); failures are retried or dropped as the OTLP specification
//! says (`retry`); the settings merge the file with the standard
//! `OTEL_EXPORTER_OTLP_*` variables, the file winning (`config`).
//!
//! - `config`: `sinks.otlp`, the environment, and what they resolve to.
//! - `encode`: spans to `ExportTraceServiceRequest`.
//! - `transport`: one attempt over gRPC (tonic) or HTTP/protobuf (reqwest).
//! - `retry`: retryable statuses, `Retry-After`/`RetryInfo`, backoff.
//! - `exporter`: retries of a batch, batching, the bounded queue.
//! - `telemetry`: counters and logs, never span content.

mod config;
mod encode;
mod exporter;
mod retry;
mod telemetry;
mod transport;

pub use config::{parse_headers, BackoffSettings, Compression, OtlpConfig, Protocol, Resolved};
pub use encode::export_request;
pub use exporter::{run, OtlpExporter, Outcome};
pub use retry::ExportStatus;
pub use telemetry::{register_metrics, DropReason, ExportCounts};

/// Settings an exporter cannot start with. Messages name the setting and,
/// for headers, the header; never a header's value.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("sinks.otlp.endpoint {shown}: {problem}")]
    InvalidEndpoint { shown: String, problem: String },
    #[error("sinks.otlp.headers: {name:?} {problem}")]
    InvalidHeader { name: String, problem: &'static str },
    #[error("sinks.otlp.{field}: {problem}")]
    InvalidSetting {
        field: &'static str,
        problem: String,
    },
    /// The HTTP client could not be built (its TLS roots, most likely).
    #[error("OTLP/HTTP client: {0}")]
    Client(String),
    /// A TLS file that cannot be read or used; the message names it.
    #[error("{0:#}")]
    Tls(anyhow::Error),
}
