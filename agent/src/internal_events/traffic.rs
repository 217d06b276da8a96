//! Events of the traffic stage (captured HTTP exchanges).

use super::metrics;
use super::metrics::OutputLabel;

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
