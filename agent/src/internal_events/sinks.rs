//! Events shared by every sink.

use super::metrics;
use super::metrics::{SinkLabel, StageLabel};

/// A batch was written and acknowledged by a sink.
pub struct RecordsSent {
    pub sink: &'static str,
    pub records: u64,
    pub bytes: u64,
}

impl RecordsSent {
    pub fn emit(self) {
        let label = SinkLabel { sink: self.sink };
        metrics()
            .records_sent
            .get_or_create(&label)
            .inc_by(self.records);
        metrics()
            .bytes_sent
            .get_or_create(&label)
            .inc_by(self.bytes);
    }
}

/// A sink failed to write a batch. `error` must not carry record content.
pub struct SinkWriteFailed<'a> {
    pub sink: &'static str,
    pub error: &'a dyn std::fmt::Display,
}

impl SinkWriteFailed<'_> {
    pub fn emit(self) {
        metrics()
            .sink_errors
            .get_or_create(&SinkLabel { sink: self.sink })
            .inc();
        tracing::error!(sink = self.sink, error = %self.error, "sink write failed");
    }
}

/// The number of batches queued in front of a stage.
pub struct QueueDepth {
    pub stage: &'static str,
    pub depth: usize,
}

impl QueueDepth {
    pub fn emit(self) {
        metrics()
            .queue_depth
            .get_or_create(&StageLabel { stage: self.stage })
            .set(i64::try_from(self.depth).unwrap_or(i64::MAX));
    }
}
