//! Log sampling: which log records go on to the sinks.
//!
//! A record has no trace id, so a probability is decided by the xxh3 hash
//! of its (redacted) message rather than by a random number:
//!
//! - The decision is a function of the record. Logs are delivered at least
//!   once: after a crash, the lines since the last checkpoint are read and
//!   sent again, and a hash decides them as before, so the redelivered
//!   batch holds the same lines as the first, not a fresh sample of them.
//!   Replaying a file through `wardwatch` gives the same output each time,
//!   and tests need no seed.
//! - There is no generator state to share between pipeline workers or to
//!   seed differently on each node.
//!
//! The price: identical messages share one decision. A line repeated
//! verbatim (`cache refreshed`) is kept every time or never, while lines
//! that carry ids, durations or timestamps are sampled independently of
//! each other; over many distinct messages the kept share is the
//! probability. Redaction makes messages more alike (every patient name
//! becomes the same marker), which is why `rate_limit_per_second`, not a
//! probability, is the tool for a flood of one repeated line.

use std::time::Instant;

use aho_corasick::AhoCorasick;
use xxhash_rust::xxh3::xxh3_64;

use super::compile::{At, Checks};
use super::config::{LogConditions, LogLevel, LogSamplingConfig};
use super::error::{one_line, ConfigOrigin, SamplingErrors};
use super::glob::Glob;
use super::rule::{Decision, RuleSet};
use super::telemetry::{DecisionTally, Signal};

/// What log sampling looks at, borrowed from the record.
#[derive(Clone, Copy, Debug)]
pub struct LogFacts<'a> {
    /// The service that wrote the record.
    pub service: &'a str,
    /// Lower case: `trace`, `debug`, `info`, `warn`, `error` or `fatal`;
    /// `None` when the record has none (or another word, which no `level`
    /// condition matches).
    pub level: Option<&'a str>,
    /// The message, already redacted.
    pub message: &'a str,
}

/// A log rule's `when`, compiled.
#[derive(Debug)]
pub(super) struct LogCondition {
    service: Option<Glob>,
    /// Bit `1 << level as u8` for each level listed.
    levels: Option<u8>,
    contains: Option<AhoCorasick>,
}

impl LogCondition {
    fn holds(&self, record: &LogFacts<'_>) -> bool {
        self.service
            .as_ref()
            .is_none_or(|glob| glob.matches(record.service))
            && self.levels.is_none_or(|levels| {
                record
                    .level
                    .and_then(LogLevel::parse)
                    .is_some_and(|level| levels & level_bit(level) != 0)
            })
            && self
                .contains
                .as_ref()
                .is_none_or(|texts| texts.is_match(record.message))
    }
}

fn level_bit(level: LogLevel) -> u8 {
    1 << level as u8
}

/// Decides which log records are kept. Cheap to share between threads:
/// deciding locks only a matched rule's rate limit.
#[derive(Debug)]
pub struct LogSampler {
    rules: RuleSet<LogCondition>,
}

impl LogSampler {
    /// The configured rules; every problem with them is reported.
    pub fn new(
        config: &LogSamplingConfig,
        origin: &ConfigOrigin<'_>,
    ) -> Result<LogSampler, SamplingErrors> {
        let mut checks = Checks::new(origin);
        let rules = checks.rules("sampling.logs.rules", &config.rules, compile_conditions);
        if !checks.errors.is_empty() {
            return Err(SamplingErrors(checks.errors));
        }
        Ok(LogSampler {
            rules: RuleSet::new(Signal::Logs, rules),
        })
    }

    /// A sampler without rules: it keeps every record.
    pub fn keep_all() -> LogSampler {
        LogSampler {
            rules: RuleSet::new(Signal::Logs, Vec::new()),
        }
    }

    /// Whether `record` is kept, and which rule decided. `now` is the time
    /// rate limits are counted at; read the clock once per batch.
    pub fn decide(&self, record: &LogFacts<'_>, now: Instant) -> Decision {
        self.rules.decide(
            |condition| condition.holds(record),
            record.service,
            || xxh3_64(record.message.as_bytes()),
            now,
        )
    }

    /// The id of the rule that made `decision` (`default` when none did).
    pub fn rule_id(&self, decision: &Decision) -> &str {
        self.rules.rule_id(decision)
    }

    /// A tally for counting a batch's decisions into
    /// `wardwatch_sampling_decisions_total{signal="logs"}`.
    pub fn tally(&self) -> DecisionTally {
        self.rules.tally()
    }
}

impl Default for LogSampler {
    fn default() -> Self {
        LogSampler::keep_all()
    }
}

fn compile_conditions(
    checks: &mut Checks<'_>,
    when: &LogConditions,
    at: &At<'_>,
) -> Option<LogCondition> {
    let service = checks.glob(when.service.as_ref(), at, "when.service");
    let levels = match &when.level {
        Some(levels) if levels.value.is_empty() => {
            checks.error(
                levels,
                at,
                "when.level",
                "is empty and would match nothing; leave it out to match every level",
            );
            Err(())
        }
        Some(levels) => Ok(Some(
            levels
                .value
                .iter()
                .fold(0, |bits, level| bits | level_bit(*level)),
        )),
        None => Ok(None),
    };
    let contains = match &when.contains {
        None => Ok(None),
        Some(texts) if texts.value.is_empty() => {
            checks.error(
                texts,
                at,
                "when.contains",
                "is empty and would match nothing; leave it out to match every message",
            );
            Err(())
        }
        Some(texts) => {
            let mut ok = true;
            for (index, text) in texts.value.iter().enumerate() {
                if text.value.is_empty() {
                    checks.error(
                        text,
                        at,
                        &format!("when.contains[{index}]"),
                        "is empty and would match every message",
                    );
                    ok = false;
                }
            }
            if ok {
                AhoCorasick::new(texts.value.iter().map(|text| text.value.as_str()))
                    .map(Some)
                    .map_err(|error| {
                        checks.error(
                            texts,
                            at,
                            "when.contains",
                            format_args!(
                                "cannot be searched for: {}",
                                one_line(&error.to_string())
                            ),
                        )
                    })
            } else {
                Err(())
            }
        }
    };
    Some(LogCondition {
        service: service.ok()?,
        levels: levels.ok()?,
        contains: contains.ok()?,
    })
}
