//! Events of the remote-write sink.

use super::metrics;
use super::metrics::ReasonLabel;

/// A request the receiver accepted.
pub struct RemoteWriteSent {
    pub samples: usize,
    pub bytes: usize,
}

impl RemoteWriteSent {
    pub fn emit(self) {
        let m = metrics();
        m.remote_write_samples.inc_by(self.samples as u64);
        m.remote_write_bytes.inc_by(self.bytes as u64);
        m.remote_write_requests.inc();
    }
}

/// A request dropped: rejected (4xx) or out of retries. Logs the status
/// only: a receiver's error body may echo label values.
pub struct RemoteWriteFailed {
    pub reason: &'static str,
    pub status: u16,
    pub samples: usize,
}

impl RemoteWriteFailed {
    pub fn emit(self) {
        metrics()
            .remote_write_failed_samples
            .get_or_create(&ReasonLabel {
                reason: self.reason,
            })
            .inc_by(self.samples as u64);
        tracing::warn!(
            reason = self.reason,
            status = self.status,
            samples = self.samples,
            "remote-write request dropped"
        );
    }
}
