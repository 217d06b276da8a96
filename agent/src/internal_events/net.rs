//! Events of the eBPF HTTP capture.

use super::metrics;
use super::metrics::ReasonLabel;
use crate::sources::net::connections::ConnectionStats;
use crate::sources::net::loader::Capture;

/// Capture could not start and is not required: said once, at start.
pub struct CaptureUnavailable<'a> {
    pub error: &'a dyn std::fmt::Display,
}

impl CaptureUnavailable<'_> {
    pub fn emit(self) {
        tracing::warn!(
            error = %self.error,
            "HTTP capture is off: the agent goes on shipping logs (set sources.net.required to refuse to start instead)"
        );
    }
}

/// The capture's counters as last published, so that the registry's
/// counters move by the difference.
#[derive(Debug, Default)]
pub struct CaptureCounters {
    ring_drops: u64,
    queue_drops: u64,
    events: u64,
    table: ConnectionStats,
}

impl CaptureCounters {
    pub fn publish(&mut self, capture: &Capture, table: &ConnectionStats) {
        let m = metrics();
        let stats = capture.stats();
        let ring = capture.ring_drops();
        let queue = stats.queue_drops.load(std::sync::atomic::Ordering::Relaxed);
        let events = stats.events.load(std::sync::atomic::Ordering::Relaxed);
        m.net_ring_drops
            .inc_by(ring.saturating_sub(self.ring_drops));
        m.net_queue_drops
            .inc_by(queue.saturating_sub(self.queue_drops));
        m.net_events.inc_by(events.saturating_sub(self.events));
        let before = self.table;
        m.net_exchanges
            .inc_by(table.exchanges.saturating_sub(before.exchanges));
        m.net_connections_evicted
            .inc_by(table.evicted.saturating_sub(before.evicted));
        m.net_connections_expired
            .inc_by(table.expired.saturating_sub(before.expired));
        m.net_requests_unanswered
            .inc_by(table.unanswered.saturating_sub(before.unanswered));
        m.net_connections_not_http
            .inc_by(table.not_http.saturating_sub(before.not_http));
        m.net_resyncs
            .inc_by(table.resyncs.saturating_sub(before.resyncs));
        m.net_requests_dropped
            .inc_by(table.pending_dropped.saturating_sub(before.pending_dropped));
        m.net_responses_unpaired.inc_by(
            table
                .unpaired_responses
                .saturating_sub(before.unpaired_responses),
        );
        for (reason, now, then) in [
            ("too_large", table.heads_too_large, before.heads_too_large),
            ("truncated", table.heads_truncated, before.heads_truncated),
        ] {
            m.net_heads_lost
                .get_or_create(&ReasonLabel { reason })
                .inc_by(now.saturating_sub(then));
        }
        m.net_connections_open
            .set(i64::try_from(table.open).unwrap_or(i64::MAX));
        self.ring_drops = ring.max(self.ring_drops);
        self.queue_drops = queue;
        self.events = events;
        self.table = *table;
    }
}
