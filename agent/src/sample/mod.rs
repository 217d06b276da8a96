//! Sampling: which spans and log records go on to the sinks, decided by
//! rules an operator writes under `sampling:` (see [`SamplingConfig`]).
//!
//! Why it works the way it does:
//!
//! - **Rules in order, first match decides; no match keeps.** A healthcare
//!   platform's audit wants every record unless an operator chose
//!   otherwise, so the default, and a configuration without rules, keep
//!   everything. Order lets `keep: always` rules for errors, slow requests
//!   and `PHI_ACCESS` lines sit above the probabilities that thin the rest.
//! - **Span probabilities are consistent across nodes.** A trace crosses
//!   nodes, and each node's agent samples the spans it captured. Deciding
//!   by a hash of the trace id alone (never a random number) makes every
//!   node keep or drop the same traces, so a kept trace is complete.
//!   Thresholds nest: a trace kept at 10 % is kept by every rule of 10 % or
//!   more, so services sampled at different probabilities still agree on
//!   the traces the lowest of them keeps.
//! - **Log probabilities hash the message**, for the reasons in `logs.rs`.
//! - **Rate limits are per node and per service** (a token bucket each).
//!   They cannot be consistent across nodes without coordination; use them
//!   as a cap behind a probability, not as the sampling itself.
//! - **Time is passed in.** Deciding reads no clock, so tests step time and
//!   the pipeline reads the clock once per batch.
//! - **Counting is per batch** ([`DecisionTally`]), into
//!   `wardwatch_sampling_decisions_total{signal, rule, decision}`.
//!
//! A Jaeger sampling strategies file can supply span rules too (`jaeger.rs`).

mod compile;
mod config;
mod error;
mod glob;
mod jaeger;
mod limit;
mod logs;
mod rule;
mod spans;
mod telemetry;

pub use config::{
    Keep, LogConditions, LogLevel, LogRuleConfig, LogSamplingConfig, RuleConfig, SamplingConfig,
    SpanConditions, SpanRuleConfig, SpanSamplingConfig,
};
pub use error::{ConfigOrigin, SamplingError, SamplingErrors};
pub use logs::{LogFacts, LogSampler};
pub use rule::{Cause, Decision};
pub use spans::{SpanFacts, SpanSampler};
pub use telemetry::{register_metrics, DecisionTally};

#[cfg(test)]
mod tests;
