//! The registry behind `/metrics`: every figure the agent reports about itself.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    pub sink: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    pub rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutputLabel {
    pub output: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// All of the agent's own metrics. One instance per process, see [`metrics`].
pub struct Metrics {
    registry: Registry,
    pub lines_read: Counter,
    pub bytes_read: Counter,
    pub records_read: Counter,
    pub files_watched: Gauge,
    pub files_rotated: Counter,
    pub files_truncated: Counter,
    pub read_errors: Counter,
    pub records_truncated: Counter,
    pub invalid_utf8_records: Counter,
    pub malformed_records: Counter,
    pub checkpoint_lag_bytes: Gauge,
    pub checkpoint_writes: Counter,
    pub checkpoint_write_errors: Counter,
    pub redactions: Family<RuleLabel, Counter>,
    pub redaction_failures: Family<ReasonLabel, Counter>,
    pub rule_reloads: Family<OutcomeLabel, Counter>,
    pub records_sent: Family<SinkLabel, Counter>,
    pub bytes_sent: Family<SinkLabel, Counter>,
    pub sink_errors: Family<SinkLabel, Counter>,
    pub queue_depth: Family<StageLabel, Gauge>,
    pub traffic_dropped: Family<OutputLabel, Counter>,
    pub traffic_client_spans_nested: Counter,
    pub traffic_client_spans_unnested: Family<ReasonLabel, Counter>,
    pub net_events: Counter,
    pub net_ring_drops: Counter,
    pub net_queue_drops: Counter,
    pub net_exchanges: Counter,
    pub net_connections_evicted: Counter,
    pub net_connections_expired: Counter,
    pub net_requests_unanswered: Counter,
    pub net_connections_not_http: Counter,
    pub net_resyncs: Counter,
    pub net_requests_dropped: Counter,
    pub net_responses_unpaired: Counter,
    pub net_heads_lost: Family<ReasonLabel, Counter>,
    pub net_connections_open: Gauge,
    pub remote_write_requests: Counter,
    pub remote_write_samples: Counter,
    pub remote_write_bytes: Counter,
    pub remote_write_failed_samples: Family<ReasonLabel, Counter>,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("wardwatch");
        macro_rules! register {
            ($name:literal, $help:literal, $metric:expr) => {{
                let metric = $metric;
                registry.register($name, $help, metric.clone());
                metric
            }};
        }
        crate::sample::register_metrics(&mut registry);
        crate::sinks::otlp::register_metrics(&mut registry);
        // prometheus-client appends `_total` to counters itself.
        Metrics {
            lines_read: register!(
                "logs_lines_read",
                "Physical lines read from log files.",
                Counter::default()
            ),
            bytes_read: register!(
                "logs_bytes_read",
                "Bytes read from log files.",
                Counter::default()
            ),
            records_read: register!(
                "logs_records_read",
                "Log records assembled from lines (partial lines joined, multiline folded).",
                Counter::default()
            ),
            files_watched: register!(
                "logs_files_watched",
                "Log files currently open.",
                Gauge::default()
            ),
            files_rotated: register!(
                "logs_files_rotated",
                "Log files seen renamed away (rotation by rename).",
                Counter::default()
            ),
            files_truncated: register!(
                "logs_files_truncated",
                "Log files seen shrinking (rotation by copytruncate).",
                Counter::default()
            ),
            read_errors: register!(
                "logs_read_errors",
                "Errors reading or opening log files.",
                Counter::default()
            ),
            records_truncated: register!(
                "logs_records_truncated",
                "Records cut at the size cap.",
                Counter::default()
            ),
            invalid_utf8_records: register!(
                "logs_invalid_utf8_records",
                "Records whose invalid UTF-8 was replaced by U+FFFD.",
                Counter::default()
            ),
            malformed_records: register!(
                "logs_malformed_records",
                "Records with lines that did not follow their file's format (passed on as plain text).",
                Counter::default()
            ),
            checkpoint_lag_bytes: register!(
                "logs_checkpoint_lag_bytes",
                "Bytes read from log files but not yet acknowledged by every sink.",
                Gauge::default()
            ),
            checkpoint_writes: register!(
                "logs_checkpoint_writes",
                "Checkpoint files written.",
                Counter::default()
            ),
            checkpoint_write_errors: register!(
                "logs_checkpoint_write_errors",
                "Checkpoint files that could not be written.",
                Counter::default()
            ),
            redactions: register!(
                "redact_redactions",
                "Values replaced, by redaction rule id.",
                Family::default()
            ),
            redaction_failures: register!(
                "redact_failures",
                "Records masked whole because redaction could not complete (fail closed).",
                Family::default()
            ),
            rule_reloads: register!(
                "redact_rule_reloads",
                "Attempts to reload changed rule files, by outcome (ok, error).",
                Family::default()
            ),
            records_sent: register!(
                "sink_records_sent",
                "Records written and acknowledged, by sink.",
                Family::default()
            ),
            bytes_sent: register!(
                "sink_bytes_sent",
                "Bytes written, by sink.",
                Family::default()
            ),
            sink_errors: register!(
                "sink_errors",
                "Write failures, by sink.",
                Family::default()
            ),
            queue_depth: register!(
                "pipeline_queue_depth_batches",
                "Batches waiting between pipeline stages.",
                Family::default()
            ),
            traffic_dropped: register!(
                "traffic_dropped",
                "HTTP exchanges (or their spans) dropped because an output's queue was full, by output.",
                Family::default()
            ),
            traffic_client_spans_nested: register!(
                "traffic_client_spans_nested",
                "Client spans nested under the request their thread was serving.",
                Counter::default()
            ),
            traffic_client_spans_unnested: register!(
                "traffic_client_spans_unnested",
                "Client spans that waited for a request of their thread and went out on their own, by reason (outside_request, wait_expired, buffer_full, stopped).",
                Family::default()
            ),
            net_events: register!(
                "net_events",
                "Socket events read from the eBPF ring buffer.",
                Counter::default()
            ),
            net_ring_drops: register!(
                "net_ring_drops",
                "Socket events the kernel dropped because the ring buffer was full.",
                Counter::default()
            ),
            net_queue_drops: register!(
                "net_queue_drops",
                "Socket events dropped because the connection table fell behind.",
                Counter::default()
            ),
            net_exchanges: register!(
                "net_exchanges",
                "HTTP exchanges (request and response paired) captured.",
                Counter::default()
            ),
            net_connections_evicted: register!(
                "net_connections_evicted",
                "Connections forgotten because the table was full.",
                Counter::default()
            ),
            net_connections_expired: register!(
                "net_connections_expired",
                "Connections forgotten after being idle.",
                Counter::default()
            ),
            net_requests_unanswered: register!(
                "net_requests_unanswered",
                "Requests whose response was never seen.",
                Counter::default()
            ),
            net_connections_not_http: register!(
                "net_connections_not_http",
                "Connections whose bytes were not HTTP/1 (TLS, HTTP/2, other protocols).",
                Counter::default()
            ),
            net_resyncs: register!(
                "net_resyncs",
                "Times a connection's stream lost its place and found a message start again.",
                Counter::default()
            ),
            net_requests_dropped: register!(
                "net_requests_dropped",
                "Requests forgotten because too many waited unanswered on one connection.",
                Counter::default()
            ),
            net_responses_unpaired: register!(
                "net_responses_unpaired",
                "Responses with no request to pair with (sent before capture started).",
                Counter::default()
            ),
            net_heads_lost: register!(
                "net_heads_lost",
                "HTTP heads that could not be read, by reason (too_large, truncated by the capture window).",
                Family::default()
            ),
            net_connections_open: register!(
                "net_connections_open",
                "Connections followed now.",
                Gauge::default()
            ),
            remote_write_requests: register!(
                "remote_write_requests",
                "Remote-write requests the receiver accepted.",
                Counter::default()
            ),
            remote_write_samples: register!(
                "remote_write_samples",
                "Samples the remote-write receiver accepted.",
                Counter::default()
            ),
            remote_write_bytes: register!(
                "remote_write_bytes",
                "Compressed bytes of accepted remote-write requests.",
                Counter::default()
            ),
            remote_write_failed_samples: register!(
                "remote_write_failed_samples",
                "Samples dropped, by reason (rejected: a 4xx; retries_exhausted).",
                Family::default()
            ),
            registry,
        }
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The metrics in the Prometheus text exposition format.
pub fn encode_metrics() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics().registry);
    out
}
