//! The rule engine shared by spans and logs: an ordered list of rules, each
//! a condition and an action; the first rule whose condition holds decides.

use std::sync::Arc;
use std::time::Instant;

use super::limit::RateLimit;
use super::telemetry::{DecisionTally, RuleCounters, Signal};

/// The id under which records that no rule matched are counted. Reserved:
/// no rule may take it.
pub(super) const DEFAULT_RULE_ID: &str = "default";

/// What a sampler decided for one record, and which rule decided it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the record goes on to the sinks.
    pub keep: bool,
    /// The deciding rule, as an index into the sampler's rules in the order
    /// they are tried (configured rules, then those from a Jaeger strategies
    /// file); `None` when no rule matched and the record is kept.
    pub rule: Option<usize>,
    /// Which part of the rule decided.
    pub cause: Cause,
}

/// Which part of a rule made a [`Decision`]: the check whose outcome was
/// final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// `keep: always`.
    KeepAlways,
    /// `keep: never`.
    KeepNever,
    /// The probability check: it dropped the record, or admitted it and the
    /// rule has no rate limit.
    Probability,
    /// The rate limit, reached after any probability check admitted the
    /// record: a token was taken, or none was left.
    RateLimit,
    /// No rule matched: kept, because an audited platform keeps everything
    /// an operator has not chosen to sample.
    NoRuleMatched,
}

/// Keeps a record when the hash of its sampling key falls below a threshold,
/// so that the decision depends on the key alone: the same key gets the same
/// decision on every node and after every restart. Thresholds nest: a key
/// kept at probability `p` is kept at every probability above `p`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Probability {
    /// `p * 2^64`: a uniform 64-bit hash falls below it with probability `p`.
    threshold: u64,
    /// For `p = 1`, whose threshold `2^64` does not fit in 64 bits.
    everything: bool,
}

impl Probability {
    /// `p` is in `0.0..=1.0`, checked by the caller.
    pub(super) fn new(p: f64) -> Probability {
        Probability {
            // The cast saturates; `everything` covers the one value it cuts.
            threshold: (p * 18_446_744_073_709_551_616.0) as u64,
            everything: p >= 1.0,
        }
    }

    pub(super) fn admits(self, hash: u64) -> bool {
        self.everything || hash < self.threshold
    }
}

#[derive(Debug)]
pub(super) enum Action {
    KeepAlways,
    KeepNever,
    /// At least one of the two is present.
    Sample {
        probability: Option<Probability>,
        limit: Option<RateLimit>,
    },
}

#[derive(Debug)]
pub(super) struct Rule<M> {
    pub(super) id: String,
    pub(super) condition: M,
    pub(super) action: Action,
}

/// Compiled rules with their counters, in the order they are tried.
#[derive(Debug)]
pub(super) struct RuleSet<M> {
    rules: Vec<Rule<M>>,
    /// One per rule, then one for [`DEFAULT_RULE_ID`].
    counters: Arc<[RuleCounters]>,
}

impl<M> RuleSet<M> {
    pub(super) fn new(signal: Signal, rules: Vec<Rule<M>>) -> RuleSet<M> {
        let counters = rules
            .iter()
            .map(|rule| rule.id.as_str())
            .chain([DEFAULT_RULE_ID])
            .map(|id| RuleCounters::new(signal, id))
            .collect();
        RuleSet { rules, counters }
    }

    /// The first rule whose condition `holds` decides. `hash` gives the
    /// record's sampling key hash; it is called only when a probability must
    /// be checked, so a sampler that never needs it never pays for it.
    pub(super) fn decide(
        &self,
        holds: impl Fn(&M) -> bool,
        service: &str,
        hash: impl Fn() -> u64,
        now: Instant,
    ) -> Decision {
        for (index, rule) in self.rules.iter().enumerate() {
            if !holds(&rule.condition) {
                continue;
            }
            let (keep, cause) = match &rule.action {
                Action::KeepAlways => (true, Cause::KeepAlways),
                Action::KeepNever => (false, Cause::KeepNever),
                Action::Sample { probability, limit } => match (probability, limit) {
                    (Some(probability), _) if !probability.admits(hash()) => {
                        (false, Cause::Probability)
                    }
                    (_, Some(limit)) => (limit.admit(service, now), Cause::RateLimit),
                    (_, None) => (true, Cause::Probability),
                },
            };
            return Decision {
                keep,
                rule: Some(index),
                cause,
            };
        }
        Decision {
            keep: true,
            rule: None,
            cause: Cause::NoRuleMatched,
        }
    }

    pub(super) fn rule_id(&self, decision: &Decision) -> &str {
        decision
            .rule
            .and_then(|index| self.rules.get(index))
            .map_or(DEFAULT_RULE_ID, |rule| rule.id.as_str())
    }

    #[cfg(test)]
    pub(super) fn rules(&self) -> &[Rule<M>] {
        &self.rules
    }

    pub(super) fn tally(&self) -> DecisionTally {
        DecisionTally::new(Arc::clone(&self.counters))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probability_bounds() {
        assert!(!Probability::new(0.0).admits(0));
        assert!(Probability::new(1.0).admits(u64::MAX));
        let half = Probability::new(0.5);
        assert!(half.admits((1 << 63) - 1));
        assert!(!half.admits(1 << 63));
    }

    #[test]
    fn probabilities_nest() {
        let hashes = [0, 1 << 40, 1 << 60, 1 << 62, 3 << 62, u64::MAX];
        let ps = [0.0, 0.01, 0.1, 0.25, 0.5, 0.9, 1.0];
        for pair in ps.windows(2) {
            let (low, high) = (Probability::new(pair[0]), Probability::new(pair[1]));
            for hash in hashes {
                assert!(!low.admits(hash) || high.admits(hash), "{pair:?} {hash}");
            }
        }
    }
}
