//! The exporter's own telemetry: one struct per event, whose `emit()` logs
//! and counts together (the `internal_events` convention).
//!
//! - `wardwatch_otlp_spans_exported_total`: spans the receiver accepted.
//! - `wardwatch_otlp_spans_dropped_total{reason}`: `queue_full` (the
//!   exporter fell behind), `rejected` (a status that cannot succeed on
//!   retry), `retries_exhausted`, `partial_success` (the receiver took the
//!   request but refused some spans).
//! - `wardwatch_otlp_export_requests_total`: every attempt, retries included.
//! - `wardwatch_otlp_export_retries_total`: attempts that were retries.
//!
//! The counters live here, as sampling's do, so that this module owns its
//! metrics; [`register_metrics`] adds them to the registry served on
//! `/metrics`. Every exporter also keeps its own [`ExportCounts`], which
//! tests and shutdown summaries read without the process-wide totals of
//! other exporters mixed in.
//!
//! Logs carry counts and status codes only: span names and attributes may
//! hold what redaction left of a request, and a receiver's error text may
//! quote them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::retry::ExportStatus;

/// Why spans were dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// More spans arrived than `max_queue_spans` can hold.
    QueueFull,
    /// The receiver answered with a status that retrying cannot change.
    Rejected,
    /// Still failing at `max_elapsed_ms`.
    RetriesExhausted,
    /// Refused one by one inside an accepted request.
    PartialSuccess,
    /// Still queued or in flight when `shutdown_timeout_ms` ran out.
    Shutdown,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Rejected => "rejected",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::PartialSuccess => "partial_success",
            DropReason::Shutdown => "shutdown",
        }
    }

    const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::Rejected,
        DropReason::RetriesExhausted,
        DropReason::PartialSuccess,
        DropReason::Shutdown,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

struct Global {
    spans_exported: Counter,
    spans_dropped: Family<ReasonLabel, Counter>,
    requests: Counter,
    retries: Counter,
}

fn global() -> &'static Global {
    static GLOBAL: OnceLock<Global> = OnceLock::new();
    GLOBAL.get_or_init(|| Global {
        spans_exported: Counter::default(),
        spans_dropped: Family::default(),
        requests: Counter::default(),
        retries: Counter::default(),
    })
}

/// Adds the exporter's counters to `registry`, whose prefix is `wardwatch`.
/// Counting goes on whether or not they are registered.
pub fn register_metrics(registry: &mut Registry) {
    let g = global();
    // prometheus-client appends `_total` to counters itself.
    registry.register(
        "otlp_spans_exported",
        "Spans the OTLP receiver accepted.",
        g.spans_exported.clone(),
    );
    registry.register(
        "otlp_spans_dropped",
        "Spans not delivered over OTLP, by reason (queue_full, rejected, \
         retries_exhausted, partial_success, shutdown).",
        g.spans_dropped.clone(),
    );
    registry.register(
        "otlp_export_requests",
        "OTLP export requests sent, retries included.",
        g.requests.clone(),
    );
    registry.register(
        "otlp_export_retries",
        "OTLP export requests that retried a failed one.",
        g.retries.clone(),
    );
}

/// One exporter's figures since it started.
#[derive(Debug, Default)]
pub struct ExportCounts {
    spans_exported: AtomicU64,
    spans_dropped: [AtomicU64; 5],
    requests: AtomicU64,
    retries: AtomicU64,
}

impl ExportCounts {
    pub fn spans_exported(&self) -> u64 {
        self.spans_exported.load(Ordering::Relaxed)
    }

    pub fn spans_dropped(&self, reason: DropReason) -> u64 {
        self.spans_dropped[reason.index()].load(Ordering::Relaxed)
    }

    /// Spans dropped for any reason.
    pub fn spans_dropped_total(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.spans_dropped(*r)).sum()
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    fn add_dropped(&self, reason: DropReason, spans: u64) {
        self.spans_dropped[reason.index()].fetch_add(spans, Ordering::Relaxed);
        global()
            .spans_dropped
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc_by(spans);
    }
}

/// A request the receiver accepted; `rejected` of its spans refused by
/// partial success.
pub(super) struct SpansExported {
    pub spans: u64,
    pub rejected: u64,
}

impl SpansExported {
    pub fn emit(self, counts: &ExportCounts) {
        let rejected = self.rejected.min(self.spans);
        let accepted = self.spans - rejected;
        counts.spans_exported.fetch_add(accepted, Ordering::Relaxed);
        global().spans_exported.inc_by(accepted);
        if rejected > 0 {
            counts.add_dropped(DropReason::PartialSuccess, rejected);
            // The receiver's error_message is not logged: it may quote
            // the spans it refused.
            tracing::warn!(
                spans = self.spans,
                rejected,
                "OTLP receiver refused part of a request"
            );
        }
    }
}

/// Spans given up on.
pub(super) struct SpansDropped {
    pub reason: DropReason,
    pub spans: u64,
    /// The last attempt's status; none for `queue_full`.
    pub status: Option<ExportStatus>,
}

impl SpansDropped {
    pub fn emit(self, counts: &ExportCounts) {
        counts.add_dropped(self.reason, self.spans);
        match self.status {
            Some(status) => tracing::warn!(
                reason = self.reason.as_str(),
                spans = self.spans,
                %status,
                "OTLP export dropped spans"
            ),
            // Once per incoming batch while the exporter is behind: the
            // counter tells the size, the log would only flood.
            None => tracing::debug!(
                reason = self.reason.as_str(),
                spans = self.spans,
                "OTLP export dropped spans"
            ),
        }
    }
}

/// An export request is about to be sent.
pub(super) struct ExportAttempted;

impl ExportAttempted {
    pub fn emit(self, counts: &ExportCounts) {
        counts.requests.fetch_add(1, Ordering::Relaxed);
        global().requests.inc();
    }
}

/// A failed request will be sent again after `wait`.
pub(super) struct ExportRetrying {
    pub status: ExportStatus,
    pub wait: Duration,
}

impl ExportRetrying {
    pub fn emit(self, counts: &ExportCounts) {
        counts.retries.fetch_add(1, Ordering::Relaxed);
        global().retries.inc();
        tracing::debug!(
            status = %self.status,
            wait_ms = u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX),
            "OTLP export failed; retrying"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_counters_are_named_by_the_rule() {
        let mut registry = Registry::with_prefix("wardwatch");
        register_metrics(&mut registry);
        let counts = ExportCounts::default();
        SpansDropped {
            reason: DropReason::RetriesExhausted,
            spans: 3,
            status: Some(ExportStatus::Grpc(tonic::Code::Unavailable)),
        }
        .emit(&counts);
        SpansExported {
            spans: 5,
            rejected: 2,
        }
        .emit(&counts);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for name in [
            "wardwatch_otlp_spans_exported_total",
            "wardwatch_otlp_spans_dropped_total{reason=\"retries_exhausted\"}",
            "wardwatch_otlp_spans_dropped_total{reason=\"partial_success\"}",
            "wardwatch_otlp_export_requests_total",
            "wardwatch_otlp_export_retries_total",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
        assert_eq!(counts.spans_exported(), 3);
        assert_eq!(counts.spans_dropped(DropReason::PartialSuccess), 2);
        assert_eq!(counts.spans_dropped(DropReason::RetriesExhausted), 3);
        assert_eq!(counts.spans_dropped_total(), 5);
    }
}
