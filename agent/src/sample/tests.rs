//! Sampling as an operator configures it: YAML in, decisions and counters
//! out.

use std::path::Path;
use std::time::{Duration, Instant};

use prometheus_client::registry::Registry;

use super::telemetry::{decisions, DecisionLabels};
use super::*;

const FILE: &str = "sampling.yaml";

fn origin() -> ConfigOrigin<'static> {
    ConfigOrigin {
        file: FILE,
        base_dir: Path::new("/nonexistent"),
    }
}

fn config(yaml: &str) -> SamplingConfig {
    SamplingConfig::from_yaml_str(yaml, FILE).unwrap_or_else(|errors| panic!("{errors}"))
}

fn span_sampler(yaml: &str) -> SpanSampler {
    SpanSampler::new(&config(yaml).spans, &origin()).unwrap_or_else(|errors| panic!("{errors}"))
}

fn log_sampler(yaml: &str) -> LogSampler {
    LogSampler::new(&config(yaml).logs, &origin()).unwrap_or_else(|errors| panic!("{errors}"))
}

/// Every problem `yaml` has, parsing or building, as displayed.
fn problems(yaml: &str) -> Vec<String> {
    let errors = match SamplingConfig::from_yaml_str(yaml, FILE) {
        Err(errors) => errors,
        Ok(config) => config.build(&origin()).expect_err("should be refused"),
    };
    errors.0.iter().map(ToString::to_string).collect()
}

/// splitmix64: trace ids for the statistical tests, from a generator that
/// has nothing in common with the hash under test.
struct Ids(u64);

impl Ids {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn trace_id(&mut self) -> [u8; 16] {
        let mut id = [0; 16];
        id[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        id
    }
}

fn span(trace_id: [u8; 16]) -> SpanFacts<'static> {
    SpanFacts {
        service: "billing-service",
        route: "/api/v1/invoices/{id}",
        operation: "GET /api/v1/invoices/{id}",
        trace_id,
        is_error: false,
        duration: Duration::from_millis(20),
        attributes: &[],
    }
}

/// Asserts that `kept` of `n` trials lies within 4 standard deviations of
/// the binomial mean for `p`: a correct sampler fails this about once in
/// 16,000 runs of a fresh seed, and the seeds here are fixed.
fn assert_binomial(kept: usize, n: usize, p: f64) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    let (low, high) = (mean - 4.0 * sd, mean + 4.0 * sd);
    assert!(
        (low..=high).contains(&(kept as f64)),
        "kept {kept} of {n}, expected {low:.0}..={high:.0} for p = {p}"
    );
}

const QUARTER: &str = "
sampling:
  spans:
    rules:
      - id: billing
        when: {service: billing-service}
        probability: 0.25
";

#[test]
fn two_nodes_keep_the_same_traces() {
    // Built separately, as two agents would from the same configuration.
    let (node_a, node_b) = (span_sampler(QUARTER), span_sampler(QUARTER));
    let now = Instant::now();
    let mut ids = Ids(1);
    let mut kept = 0;
    for _ in 0..10_000 {
        let trace_id = ids.trace_id();
        // Each node sees its own span of the trace: another route, another
        // duration, another outcome. Only the trace id may decide.
        let on_a = span(trace_id);
        let on_b = SpanFacts {
            route: "/api/v1/payments",
            operation: "POST /api/v1/payments",
            is_error: true,
            duration: Duration::from_secs(3),
            ..on_a
        };
        let decision = node_a.decide(&on_a, now);
        assert_eq!(decision, node_b.decide(&on_b, now), "{trace_id:02x?}");
        kept += usize::from(decision.keep);
    }
    assert!(0 < kept && kept < 10_000, "{kept}");
}

#[test]
fn a_quarter_is_kept_within_binomial_bounds() {
    let sampler = span_sampler(QUARTER);
    let now = Instant::now();
    let mut ids = Ids(0x5eed);
    let n = 100_000;
    let kept = (0..n)
        .filter(|_| sampler.decide(&span(ids.trace_id()), now).keep)
        .count();
    assert_binomial(kept, n, 0.25);
}

#[test]
fn a_trace_kept_by_a_low_probability_is_kept_by_higher_ones() {
    let sampler = span_sampler(
        "
sampling:
  spans:
    rules:
      - {id: gateway, when: {service: gateway}, probability: 0.1}
      - {id: billing, when: {service: billing-service}, probability: 0.5}
",
    );
    let now = Instant::now();
    let mut ids = Ids(7);
    let mut kept_at_gateway = 0;
    for _ in 0..10_000 {
        let billing = span(ids.trace_id());
        let gateway = SpanFacts {
            service: "gateway",
            ..billing
        };
        if sampler.decide(&gateway, now).keep {
            kept_at_gateway += 1;
            assert!(sampler.decide(&billing, now).keep);
        }
    }
    assert!(kept_at_gateway > 0);
}

const KEEP_ERRORS_AND_SLOW: &str = "
sampling:
  spans:
    rules:
      - id: keep-errors
        when: {errors: true}
        keep: always
      - id: slow
        when: {slower_than_ms: 1000}
        keep: always
      - id: server-errors
        when: {attributes: {http.response.status_code: '5..', http.request.method: GET}}
        keep: always
      - id: health-checks
        when: {route: '/health*'}
        probability: 0.0
      - id: drop-the-rest
        keep: never
";

#[test]
fn keep_always_beats_a_later_rule_and_the_first_match_decides() {
    let sampler = span_sampler(KEEP_ERRORS_AND_SLOW);
    let now = Instant::now();
    let decide = |span: SpanFacts<'_>| {
        let decision = sampler.decide(&span, now);
        (decision.keep, sampler.rule_id(&decision).to_owned())
    };
    let health = SpanFacts {
        route: "/healthz",
        ..span([1; 16])
    };
    assert_eq!(decide(health), (false, "health-checks".to_owned()));
    assert_eq!(
        decide(SpanFacts {
            is_error: true,
            ..health
        }),
        (true, "keep-errors".to_owned())
    );
    assert_eq!(
        decide(SpanFacts {
            duration: Duration::from_millis(1001),
            ..health
        }),
        (true, "slow".to_owned())
    );
    // Exactly the threshold is not slower than it.
    assert_eq!(
        decide(SpanFacts {
            duration: Duration::from_millis(1000),
            ..health
        })
        .1,
        "health-checks"
    );
    // Every attribute condition must hold, each over the whole value.
    let attributes = |list| SpanFacts {
        attributes: list,
        ..span([2; 16])
    };
    assert_eq!(
        decide(attributes(&[
            ("http.request.method", "GET"),
            ("http.response.status_code", "503"),
        ]))
        .1,
        "server-errors"
    );
    for list in [
        &[("http.response.status_code", "503")][..],
        &[
            ("http.request.method", "GET"),
            ("http.response.status_code", "1503"),
        ],
        &[
            ("http.request.method", "GETS"),
            ("http.response.status_code", "503"),
        ],
    ] {
        assert_eq!(
            decide(attributes(list)),
            (false, "drop-the-rest".to_owned())
        );
    }
}

#[test]
fn without_rules_everything_is_kept_as_default() {
    let now = Instant::now();
    for sampler in [
        SpanSampler::keep_all(),
        SpanSampler::new(&SamplingConfig::default().spans, &origin()).unwrap(),
        span_sampler("sampling: {}\n"),
        // Rules that match nothing here.
        span_sampler(QUARTER.replace("billing-service", "other").as_str()),
    ] {
        let decision = sampler.decide(&span([9; 16]), now);
        assert_eq!(
            decision,
            Decision {
                keep: true,
                rule: None,
                cause: Cause::NoRuleMatched
            }
        );
        assert_eq!(sampler.rule_id(&decision), "default");
    }
}

#[test]
fn rate_limit_keeps_at_most_n_per_second_per_service_and_refills() {
    let sampler = span_sampler(
        "
sampling:
  spans:
    rules:
      - id: capped
        rate_limit_per_second: 5
",
    );
    let start = Instant::now();
    let kept_at = |service: &'static str, at: Instant, tries: usize| {
        (0..tries)
            .filter(|_| {
                let decision = sampler.decide(
                    &SpanFacts {
                        service,
                        ..span([3; 16])
                    },
                    at,
                );
                assert_eq!(decision.cause, Cause::RateLimit);
                decision.keep
            })
            .count()
    };
    assert_eq!(kept_at("billing-service", start, 20), 5);
    assert_eq!(kept_at("scheduling", start, 20), 5);
    // One token every 200 ms.
    assert_eq!(
        kept_at("billing-service", start + Duration::from_millis(199), 20),
        0
    );
    assert_eq!(
        kept_at("billing-service", start + Duration::from_millis(200), 20),
        1
    );
    assert_eq!(
        kept_at("billing-service", start + Duration::from_secs(5), 20),
        5
    );
}

#[test]
fn a_rate_limit_caps_what_a_probability_admits() {
    let sampler = span_sampler(
        "
sampling:
  spans:
    rules:
      - {id: both, probability: 0.5, rate_limit_per_second: 100}
",
    );
    let now = Instant::now();
    let mut ids = Ids(11);
    let decisions: Vec<Decision> = (0..1000)
        .map(|_| sampler.decide(&span(ids.trace_id()), now))
        .collect();
    let count = |keep, cause| {
        decisions
            .iter()
            .filter(|d| d.keep == keep && d.cause == cause)
            .count()
    };
    assert_eq!(count(true, Cause::RateLimit), 100);
    let admitted = 1000 - count(false, Cause::Probability);
    assert_binomial(admitted, 1000, 0.5);
    assert_eq!(count(false, Cause::RateLimit), admitted - 100);
}

const PLATFORM_LOGS: &str = "
sampling:
  logs:
    rules:
      - id: phi-access-audit
        when: {contains: [PHI_ACCESS]}
        keep: always
      - id: warnings-and-errors
        when: {level: [warn, error, fatal]}
        keep: always
      - id: debug-lines
        when: {level: [debug, trace]}
        probability: 0.1
";

fn log<'a>(level: Option<&'a str>, message: &'a str) -> LogFacts<'a> {
    LogFacts {
        service: "ehr-api",
        level,
        message,
    }
}

/// Checks the platform standard: debug at 10 %, warnings and errors and
/// every `PHI_ACCESS` line always, the rest by default.
fn assert_platform_log_policy(sampler: &LogSampler) {
    let now = Instant::now();
    let n = 100_000;
    let messages: Vec<String> = (0..n)
        .map(|index| format!("cache refreshed for ward {index} in {}ms", index % 97))
        .collect();
    let kept_at = |level| {
        messages
            .iter()
            .filter(|message| sampler.decide(&log(Some(level), message), now).keep)
            .count()
    };
    assert_binomial(kept_at("debug"), n, 0.1);
    assert_binomial(kept_at("trace"), n, 0.1);
    for level in ["warn", "error", "fatal", "info"] {
        assert_eq!(kept_at(level), n, "{level}");
    }
    for message in &messages {
        let line = format!("{message} PHI_ACCESS user=[REDACTED] patient=[REDACTED]");
        let decision = sampler.decide(&log(Some("debug"), &line), now);
        assert!(decision.keep);
        assert_eq!(sampler.rule_id(&decision), "phi-access-audit");
    }
    let decision = sampler.decide(&log(None, "no level"), now);
    assert_eq!(sampler.rule_id(&decision), "default");
}

#[test]
fn platform_log_policy() {
    assert_platform_log_policy(&log_sampler(PLATFORM_LOGS));
}

#[test]
fn identical_messages_share_a_decision() {
    let (a, b) = (log_sampler(PLATFORM_LOGS), log_sampler(PLATFORM_LOGS));
    let now = Instant::now();
    let mut seen = [false; 2];
    for index in 0..200 {
        let message = format!("slot {index} released");
        let first = a.decide(&log(Some("debug"), &message), now);
        for sampler in [&a, &b] {
            assert_eq!(sampler.decide(&log(Some("debug"), &message), now), first);
        }
        seen[usize::from(first.keep)] = true;
    }
    assert_eq!(seen, [true, true]);
}

#[test]
fn log_conditions_combine() {
    let sampler = log_sampler(
        "
sampling:
  logs:
    rules:
      - id: billing-consent
        when: {service: 'billing-*', level: [info], contains: [CONSENT_GIVEN, CONSENT_WITHDRAWN]}
        keep: never
",
    );
    let now = Instant::now();
    let decide = |service, level, message| {
        sampler
            .decide(
                &LogFacts {
                    service,
                    level,
                    message,
                },
                now,
            )
            .keep
    };
    assert!(!decide(
        "billing-api",
        Some("info"),
        "x CONSENT_WITHDRAWN y"
    ));
    assert!(!decide("billing-api", Some("info"), "CONSENT_GIVEN"));
    assert!(decide("ehr-api", Some("info"), "CONSENT_GIVEN"));
    assert!(decide("billing-api", Some("warn"), "CONSENT_GIVEN"));
    assert!(decide("billing-api", Some("info"), "consent_given"));
    assert!(decide("billing-api", None, "CONSENT_GIVEN"));
}

fn counter(signal: &'static str, rule: &str, decision: &'static str) -> u64 {
    decisions()
        .get_or_create(&DecisionLabels {
            signal,
            rule: rule.to_owned(),
            decision,
        })
        .get()
}

#[test]
fn counters_move_per_rule_and_decision_when_a_tally_is_emitted() {
    // Rule ids of their own: the counters are process-wide and other tests
    // run alongside.
    let sampler = span_sampler(
        "
sampling:
  spans:
    rules:
      - {id: counted-errors, when: {errors: true}, keep: always}
      - {id: counted-health, when: {route: /health}, keep: never}
",
    );
    let logs = log_sampler(
        "
sampling:
  logs:
    rules:
      - {id: counted-debug, when: {level: [debug]}, keep: never}
",
    );
    let now = Instant::now();
    let mut tally = sampler.tally();
    let error = SpanFacts {
        is_error: true,
        ..span([4; 16])
    };
    let health = SpanFacts {
        route: "/health",
        ..span([4; 16])
    };
    for span in [error, error, health, health, health, span([4; 16])] {
        tally.record(&sampler.decide(&span, now));
    }
    let mut log_tally = logs.tally();
    log_tally.record(&logs.decide(&log(Some("debug"), "x"), now));

    // Nothing moves before the batch is done.
    assert_eq!(counter("spans", "counted-health", "dropped"), 0);
    tally.emit();
    log_tally.emit();
    assert_eq!(counter("spans", "counted-errors", "kept"), 2);
    assert_eq!(counter("spans", "counted-errors", "dropped"), 0);
    assert_eq!(counter("spans", "counted-health", "kept"), 0);
    assert_eq!(counter("spans", "counted-health", "dropped"), 3);
    assert_eq!(counter("logs", "counted-debug", "dropped"), 1);
    assert_eq!(counter("spans", "counted-debug", "dropped"), 0);

    // Emitting again adds only what was recorded since.
    tally.record(&sampler.decide(&health, now));
    tally.emit();
    tally.emit();
    assert_eq!(counter("spans", "counted-health", "dropped"), 4);

    let mut registry = Registry::with_prefix("wardwatch");
    register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for line in [
        "# TYPE wardwatch_sampling_decisions counter",
        "wardwatch_sampling_decisions_total{signal=\"spans\",rule=\"counted-health\",decision=\"dropped\"} 4",
        "wardwatch_sampling_decisions_total{signal=\"spans\",rule=\"counted-errors\",decision=\"kept\"} 2",
        "wardwatch_sampling_decisions_total{signal=\"logs\",rule=\"counted-debug\",decision=\"dropped\"} 1",
    ] {
        assert!(text.lines().any(|found| found == line), "{line}\n{text}");
    }
}

#[test]
fn example_file_is_the_platform_standard() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sampling.yaml");
    let config = SamplingConfig::from_yaml_file(&path).unwrap_or_else(|errors| panic!("{errors}"));
    let file = path.display().to_string();
    let base_dir = path.parent().unwrap();
    let (spans, logs) = config
        .build(&ConfigOrigin {
            file: &file,
            base_dir,
        })
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_platform_log_policy(&logs);

    let now = Instant::now();
    let error = SpanFacts {
        is_error: true,
        route: "/health",
        ..span([5; 16])
    };
    assert!(spans.decide(&error, now).keep);
    let slow = SpanFacts {
        duration: Duration::from_secs(2),
        route: "/health",
        ..span([5; 16])
    };
    assert!(spans.decide(&slow, now).keep);
}

#[test]
fn strategies_file_rules_come_after_the_configured_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("jaeger.json"),
        r#"{"default_strategy": {"type": "probabilistic", "param": 0.0}}"#,
    )
    .unwrap();
    let config = config(
        "
sampling:
  spans:
    strategies_file: jaeger.json
    rules:
      - {id: keep-errors, when: {errors: true}, keep: always}
",
    );
    let file = "w.yaml";
    let sampler = SpanSampler::new(
        &config.spans,
        &ConfigOrigin {
            file,
            base_dir: dir.path(),
        },
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let now = Instant::now();
    let error = SpanFacts {
        is_error: true,
        ..span([6; 16])
    };
    let decision = sampler.decide(&error, now);
    assert_eq!(
        (decision.keep, sampler.rule_id(&decision)),
        (true, "keep-errors")
    );
    let decision = sampler.decide(&span([6; 16]), now);
    assert_eq!(
        (decision.keep, sampler.rule_id(&decision)),
        (false, "jaeger:*")
    );

    let missing = SpanSampler::new(&config.spans, &origin()).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/jaeger.json: cannot read:"),
        "{missing}"
    );
}

#[test]
fn unknown_key_is_refused_at_its_line() {
    let found = problems(
        "
sampling:
  logs:
    rules:
      - id: debug-lines
        when: {level: [debug]}
        probabilty: 0.1
",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("sampling.yaml:7:9: unknown field `probabilty`"),
        "{found:?}"
    );
}

#[test]
fn unknown_level_is_refused_at_its_line() {
    let found = problems(
        "sampling:\n  logs:\n    rules:\n      - {id: x, when: {level: [debug, verbose]}, keep: never}\n",
    );
    assert!(found[0].starts_with("sampling.yaml:4:"), "{found:?}");
    assert!(found[0].contains("verbose"), "{found:?}");
}

#[test]
fn every_bad_rule_is_reported_at_its_line() {
    let found = problems(
        "
sampling:
  spans:
    rules:
      - id: too-likely
        probability: 1.5
      - id: bad-regex
        when: {attributes: {http.route: '/api/(v1'}}
        keep: always
      - id: too-likely
        keep: never
      - id: ''
        keep: always
      - id: default
        keep: always
      - id: undecided
        when: {service: billing}
      - id: both
        keep: always
        probability: 0.5
      - id: zero-limit
        rate_limit_per_second: 0
  logs:
    rules:
      - id: nothing-listed
        when: {level: [], contains: ['']}
        keep: always
",
    );
    let expected = [
        "sampling.yaml:6:22: sampling.spans.rules[0].probability: 1.5 is not between 0 and 1",
        "sampling.yaml:8:41: sampling.spans.rules[1].when.attributes.http.route: bad regular expression \"/api/(v1\": unclosed group",
        "sampling.yaml:10:13: sampling.spans.rules[2].id: `too-likely` is already the id of the rule on line 5",
        "sampling.yaml:12:13: sampling.spans.rules[3].id: is empty",
        "sampling.yaml:14:13: sampling.spans.rules[4].id: `default` is reserved",
        "sampling.yaml:16:9: sampling.spans.rules[5]: says nothing about what to keep",
        "sampling.yaml:19:15: sampling.spans.rules[6].keep: `keep: always` decides alone",
        "sampling.yaml:22:32: sampling.spans.rules[7].rate_limit_per_second: 0 is out of range: more than 0",
        "sampling.yaml:26:23: sampling.logs.rules[0].when.level: is empty",
    ];
    for (found, expected) in found.iter().zip(expected) {
        assert!(found.starts_with(expected), "{found}\nexpected {expected}");
    }
    assert_eq!(found.len(), expected.len() + 1, "{found:#?}");
    assert!(
        found[9]
            .starts_with("sampling.yaml:26:38: sampling.logs.rules[0].when.contains[0]: is empty"),
        "{found:#?}"
    );
}

#[test]
fn a_wrapped_regex_cannot_escape_its_anchors() {
    let found = problems(
        "sampling:\n  spans:\n    rules:\n      - {id: x, when: {attributes: {a: 'b)|(c'}}, keep: never}\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("bad regular expression"), "{found:?}");
}
