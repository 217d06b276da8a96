//! Span sampling: which trace spans go on to the sinks (stdout) and OTLP.

use std::time::{Duration, Instant};

use xxhash_rust::xxh3::xxh3_64;

use super::compile::{At, Checks};
use super::config::{SpanConditions, SpanSamplingConfig};
use super::error::{ConfigOrigin, SamplingErrors};
use super::glob::Glob;
use super::jaeger;
use super::rule::{Decision, Rule, RuleSet};
use super::telemetry::{DecisionTally, Signal};

/// What span sampling looks at, borrowed from whatever the span builder
/// holds: the sampler does not depend on the span model.
#[derive(Clone, Copy, Debug)]
pub struct SpanFacts<'a> {
    /// The service that served the request.
    pub service: &'a str,
    /// The route template: `/api/v1/patients/{id}`.
    pub route: &'a str,
    /// The span's name: `GET /api/v1/patients/{id}`.
    pub operation: &'a str,
    pub trace_id: [u8; 16],
    pub is_error: bool,
    pub duration: Duration,
    pub attributes: &'a [(&'a str, &'a str)],
}

/// A span rule's `when`, compiled.
#[derive(Debug, Default)]
pub(super) struct SpanCondition {
    pub(super) errors: Option<bool>,
    pub(super) slower_than: Option<Duration>,
    pub(super) service: Option<Glob>,
    pub(super) route: Option<Glob>,
    pub(super) operation: Option<Glob>,
    pub(super) attributes: Vec<(String, regex::Regex)>,
}

impl SpanCondition {
    fn holds(&self, span: &SpanFacts<'_>) -> bool {
        self.errors.is_none_or(|errors| span.is_error == errors)
            && self
                .slower_than
                .is_none_or(|threshold| span.duration > threshold)
            && self
                .service
                .as_ref()
                .is_none_or(|glob| glob.matches(span.service))
            && self
                .route
                .as_ref()
                .is_none_or(|glob| glob.matches(span.route))
            && self
                .operation
                .as_ref()
                .is_none_or(|glob| glob.matches(span.operation))
            && self.attributes.iter().all(|(name, regex)| {
                span.attributes
                    .iter()
                    .any(|(key, value)| key == name && regex.is_match(value))
            })
    }
}

/// Decides which spans are kept. Cheap to share between threads: deciding
/// locks only a matched rule's rate limit.
#[derive(Debug)]
pub struct SpanSampler {
    rules: RuleSet<SpanCondition>,
}

impl SpanSampler {
    /// The configured rules, then those of the Jaeger strategies file if one
    /// is named; every problem with either is reported.
    pub fn new(
        config: &SpanSamplingConfig,
        origin: &ConfigOrigin<'_>,
    ) -> Result<SpanSampler, SamplingErrors> {
        let mut checks = Checks::new(origin);
        let mut rules = checks.rules("sampling.spans.rules", &config.rules, compile_conditions);
        let mut errors = checks.errors;
        if let Some(file) = &config.strategies_file {
            match jaeger::load(&origin.base_dir.join(&file.value)) {
                Ok(strategies) => rules.extend(strategies),
                Err(problems) => errors.extend(problems),
            }
        }
        if !errors.is_empty() {
            return Err(SamplingErrors(errors));
        }
        Ok(SpanSampler::from_rules(rules))
    }

    /// A sampler without rules: it keeps every span.
    pub fn keep_all() -> SpanSampler {
        SpanSampler::from_rules(Vec::new())
    }

    pub(super) fn from_rules(rules: Vec<Rule<SpanCondition>>) -> SpanSampler {
        SpanSampler {
            rules: RuleSet::new(Signal::Spans, rules),
        }
    }

    /// Whether `span` is kept, and which rule decided. `now` is the time
    /// rate limits are counted at; read the clock once per batch.
    ///
    /// A probability is decided by the trace id alone (its xxh3 hash against
    /// `probability * 2^64`), so every node keeps or drops the same traces
    /// and a kept trace arrives whole. The whole id is hashed rather than
    /// its random part read directly: only W3C ids with the random flag
    /// promise random low bytes, and ids from older clients (64-bit Jaeger
    /// ids padded with zeros) do not.
    pub fn decide(&self, span: &SpanFacts<'_>, now: Instant) -> Decision {
        self.rules.decide(
            |condition| condition.holds(span),
            span.service,
            || xxh3_64(&span.trace_id),
            now,
        )
    }

    /// The id of the rule that made `decision` (`default` when none did),
    /// for logs and debugging; metrics are counted with [`Self::tally`].
    pub fn rule_id(&self, decision: &Decision) -> &str {
        self.rules.rule_id(decision)
    }

    /// A tally for counting a batch's decisions into
    /// `wardwatch_sampling_decisions_total{signal="spans"}`.
    pub fn tally(&self) -> DecisionTally {
        self.rules.tally()
    }

    #[cfg(test)]
    pub(super) fn rule_ids(&self) -> Vec<&str> {
        self.rules
            .rules()
            .iter()
            .map(|rule| rule.id.as_str())
            .collect()
    }
}

impl Default for SpanSampler {
    fn default() -> Self {
        SpanSampler::keep_all()
    }
}

fn compile_conditions(
    checks: &mut Checks<'_>,
    when: &SpanConditions,
    at: &At<'_>,
) -> Option<SpanCondition> {
    let service = checks.glob(when.service.as_ref(), at, "when.service");
    let route = checks.glob(when.route.as_ref(), at, "when.route");
    let operation = checks.glob(when.operation.as_ref(), at, "when.operation");
    let mut attributes = Vec::with_capacity(when.attributes.len());
    let mut attributes_ok = true;
    for (name, pattern) in &when.attributes {
        match checks.whole_value_regex(pattern, at, &format!("when.attributes.{name}")) {
            Some(regex) => attributes.push((name.clone(), regex)),
            None => attributes_ok = false,
        }
    }
    Some(SpanCondition {
        errors: when.errors,
        slower_than: when.slower_than_ms.map(Duration::from_millis),
        service: service.ok()?,
        route: route.ok()?,
        operation: operation.ok()?,
        attributes: attributes_ok.then_some(attributes)?,
    })
}
