//! Events of the redaction stage. Rule ids and counts only: never the values.

use prometheus_client::metrics::counter::Counter;

use super::metrics;
use super::metrics::{ReasonLabel, RuleLabel};

/// Values replaced by one rule over a batch.
pub struct RedactionsApplied<'a> {
    pub rule_id: &'a str,
    pub count: u64,
}

impl RedactionsApplied<'_> {
    pub fn emit(self) {
        metrics()
            .redactions
            .get_or_create(&RuleLabel {
                rule: self.rule_id.to_owned(),
            })
            .inc_by(self.count);
    }
}

/// One rule's counter of replaced values, looked up once: a hot caller that
/// reports per text keeps it rather than building the label and looking the
/// rule up in the family every time.
#[derive(Clone, Debug)]
pub struct RedactionsCounter(Counter);

impl RedactionsCounter {
    pub fn new(rule_id: &str) -> RedactionsCounter {
        RedactionsCounter(
            metrics()
                .redactions
                .get_or_create(&RuleLabel {
                    rule: rule_id.to_owned(),
                })
                .clone(),
        )
    }

    pub fn inc_by(&self, count: u64) {
        self.0.inc_by(count);
    }
}

/// Why a record could not be redacted normally and was masked whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedactionFailureReason {
    /// A rule panicked.
    Panic,
    /// The record is too deeply nested to walk safely.
    TooDeep,
    /// Scanning the record (its text, decoded views and embedded documents)
    /// would read more than its work budget.
    Budget,
}

impl RedactionFailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RedactionFailureReason::Panic => "panic",
            RedactionFailureReason::TooDeep => "too_deep",
            RedactionFailureReason::Budget => "budget",
        }
    }
}

/// Records masked whole because redaction could not complete: fail closed.
pub struct RedactionFailed {
    pub reason: RedactionFailureReason,
    pub records: u64,
}

impl RedactionFailed {
    pub fn emit(self) {
        metrics()
            .redaction_failures
            .get_or_create(&ReasonLabel {
                reason: self.reason.as_str(),
            })
            .inc_by(self.records);
        tracing::error!(
            reason = self.reason.as_str(),
            records = self.records,
            "redaction failed; records replaced by a marker"
        );
    }
}
