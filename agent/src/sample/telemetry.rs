//! Sampling's own telemetry: how many spans and log records each rule kept
//! and dropped.
//!
//! `wardwatch_sampling_decisions_total{signal, rule, decision}`: `signal` is
//! `spans` or `logs`, `rule` a rule id from the configuration (or
//! `default` when no rule matched), `decision` is `kept` or `dropped`. All
//! three come from fixed, operator-written sets; nothing from a record.
//!
//! The counter family lives here rather than in `internal_events`' registry
//! so that this module owns its metric; [`register_metrics`] adds it to the
//! registry served on `/metrics`.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::rule::Decision;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Signal {
    Spans,
    Logs,
}

impl Signal {
    fn as_str(self) -> &'static str {
        match self {
            Signal::Spans => "spans",
            Signal::Logs => "logs",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct DecisionLabels {
    pub(super) signal: &'static str,
    pub(super) rule: String,
    pub(super) decision: &'static str,
}

pub(super) fn decisions() -> &'static Family<DecisionLabels, Counter> {
    static DECISIONS: OnceLock<Family<DecisionLabels, Counter>> = OnceLock::new();
    DECISIONS.get_or_init(Family::default)
}

/// Adds the sampling counters to `registry`, whose prefix is `wardwatch`.
/// Counting starts when the first sampler is built, registered or not.
pub fn register_metrics(registry: &mut Registry) {
    // prometheus-client appends `_total` to counters itself.
    registry.register(
        "sampling_decisions",
        "Spans and log records kept or dropped by sampling, by signal (spans, logs), \
         deciding rule id (default when no rule matched) and decision (kept, dropped).",
        decisions().clone(),
    );
}

/// One rule's two counters, looked up once when the sampler is built, so
/// that counting a batch touches no label map.
#[derive(Debug)]
pub(super) struct RuleCounters {
    signal: Signal,
    rule_id: String,
    kept: Counter,
    dropped: Counter,
}

impl RuleCounters {
    pub(super) fn new(signal: Signal, rule_id: &str) -> RuleCounters {
        let counter = |decision| {
            decisions()
                .get_or_create(&DecisionLabels {
                    signal: signal.as_str(),
                    rule: rule_id.to_owned(),
                    decision,
                })
                .clone()
        };
        RuleCounters {
            signal,
            rule_id: rule_id.to_owned(),
            kept: counter("kept"),
            dropped: counter("dropped"),
        }
    }
}

/// Decisions of one rule over a batch.
struct SamplingDecided<'a> {
    counters: &'a RuleCounters,
    kept: u64,
    dropped: u64,
}

impl SamplingDecided<'_> {
    fn emit(self) {
        self.counters.kept.inc_by(self.kept);
        self.counters.dropped.inc_by(self.dropped);
        tracing::trace!(
            signal = self.counters.signal.as_str(),
            rule = %self.counters.rule_id,
            kept = self.kept,
            dropped = self.dropped,
            "sampling decisions"
        );
    }
}

/// Decisions counted over a batch, added to the counters by [`Self::emit`]:
/// sampling runs per record, and counting per record would put two atomic
/// additions on the hot path for figures read every few seconds.
///
/// Get one from the sampler whose decisions it counts
/// (`SpanSampler::tally`, `LogSampler::tally`).
#[derive(Debug)]
pub struct DecisionTally {
    /// `[kept, dropped]` per rule, then for the default.
    counts: Vec<[u64; 2]>,
    counters: Arc<[RuleCounters]>,
}

impl DecisionTally {
    pub(super) fn new(counters: Arc<[RuleCounters]>) -> DecisionTally {
        DecisionTally {
            counts: vec![[0, 0]; counters.len()],
            counters,
        }
    }

    /// Counts `decision`, which must come from the sampler this tally came
    /// from.
    pub fn record(&mut self, decision: &Decision) {
        let default = self.counts.len() - 1;
        let row = decision.rule.map_or(default, |index| index.min(default));
        self.counts[row][usize::from(!decision.keep)] += 1;
    }

    /// Adds what was counted to the metrics and starts counting afresh.
    pub fn emit(&mut self) {
        for (counts, counters) in self.counts.iter_mut().zip(self.counters.iter()) {
            let [kept, dropped] = std::mem::take(counts);
            if kept + dropped > 0 {
                SamplingDecided {
                    counters,
                    kept,
                    dropped,
                }
                .emit();
            }
        }
    }
}
