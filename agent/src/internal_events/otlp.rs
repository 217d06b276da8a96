//! Events of the OTLP span exporter.

use super::metrics;
use super::metrics::ReasonLabel;

/// A batch the receiver took (`rejected` of it refused by partial success).
pub struct SpansExported {
    pub spans: usize,
    pub rejected: u64,
}

impl SpansExported {
    pub fn emit(self) {
        let m = metrics();
        m.otlp_spans_exported
            .inc_by((self.spans as u64).saturating_sub(self.rejected));
        if self.rejected > 0 {
            m.otlp_spans_dropped
                .get_or_create(&ReasonLabel {
                    reason: "partial_success",
                })
                .inc_by(self.rejected);
        }
    }
}

/// A batch dropped. `detail` is a status code, never span content.
pub struct SpansDropped<'a> {
    pub reason: &'static str,
    pub spans: usize,
    pub detail: &'a dyn std::fmt::Display,
}

impl SpansDropped<'_> {
    pub fn emit(self) {
        metrics()
            .otlp_spans_dropped
            .get_or_create(&ReasonLabel {
                reason: self.reason,
            })
            .inc_by(self.spans as u64);
        tracing::warn!(reason = self.reason, spans = self.spans, detail = %self.detail, "spans dropped");
    }
}
