//! Events of the traffic stage (captured HTTP exchanges).

use super::metrics;
use super::metrics::{OutputLabel, ReasonLabel};

/// Exchanges an output could not take: its queue was full or it is gone.
/// Capture never waits on an output, so these are dropped.
pub struct TrafficDropped {
    pub output: &'static str,
    pub count: usize,
}

impl TrafficDropped {
    pub fn emit(self) {
        metrics()
            .traffic_dropped
            .get_or_create(&OutputLabel {
                output: self.output,
            })
            .inc_by(self.count as u64);
        tracing::debug!(output = self.output, count = self.count, "traffic dropped");
    }
}

/// What became of the client spans that waited for the request their
/// thread was serving, over one batch: nested under it, or let go on their
/// own, by reason.
pub struct ClientSpansSettled {
    pub nested: u64,
    pub unnested: Vec<(&'static str, u64)>,
}

impl ClientSpansSettled {
    pub fn emit(self) {
        let metrics = metrics();
        metrics.traffic_client_spans_nested.inc_by(self.nested);
        for &(reason, count) in &self.unnested {
            if count > 0 {
                metrics
                    .traffic_client_spans_unnested
                    .get_or_create(&ReasonLabel { reason })
                    .inc_by(count);
            }
        }
        tracing::debug!(
            nested = self.nested,
            unnested = ?self.unnested,
            "client spans settled"
        );
    }
}
