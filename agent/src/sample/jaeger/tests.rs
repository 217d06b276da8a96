//! Strategies files in Jaeger's documented shape, and the rules they become.

use std::time::{Duration, Instant};

use super::super::{Cause, SamplingError, SpanFacts, SpanSampler};
use super::parse;

const FILE: &str = "strategies.json";

/// Probabilities of 0 and 1 make every decision certain, so that which rule
/// decided is the thing under test.
const STRATEGIES: &str = r#"{
  "service_strategies": [
    {
      "service": "billing-service",
      "type": "probabilistic",
      "param": 1.0,
      "operation_strategies": [
        {"operation": "GET /api/v1/invoices/{id}", "type": "probabilistic", "param": 0.0},
        {"operation": "GET /health", "type": "probabilistic", "param": 1.0}
      ]
    },
    {
      "service": "audit-service",
      "type": "ratelimiting",
      "param": 3
    }
  ],
  "default_strategy": {
    "type": "probabilistic",
    "param": 0.0,
    "operation_strategies": [
      {"operation": "GET /health", "type": "probabilistic", "param": 0.0},
      {"operation": "GET /metrics", "type": "probabilistic", "param": 1.0}
    ]
  }
}"#;

fn sampler(text: &str) -> SpanSampler {
    SpanSampler::from_rules(parse(text, FILE).unwrap_or_else(|errors| panic!("{errors:?}")))
}

fn span<'a>(service: &'a str, operation: &'a str) -> SpanFacts<'a> {
    SpanFacts {
        service,
        route: "/",
        operation,
        trace_id: [7; 16],
        is_error: false,
        duration: Duration::from_millis(5),
        attributes: &[],
    }
}

/// `(keep, deciding rule id)` for a span of `service` named `operation`.
fn decide(sampler: &SpanSampler, service: &str, operation: &str) -> (bool, String) {
    let decision = sampler.decide(&span(service, operation), Instant::now());
    (decision.keep, sampler.rule_id(&decision).to_owned())
}

fn problems(text: &str) -> Vec<String> {
    let errors = parse(text, FILE).expect_err("should be refused");
    for error in &errors {
        assert!(error.to_string().starts_with(FILE), "{error}");
    }
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn rules_follow_jaeger_precedence() {
    let sampler = sampler(STRATEGIES);
    assert_eq!(
        sampler.rule_ids(),
        [
            "jaeger:billing-service:GET /api/v1/invoices/{id}",
            "jaeger:billing-service:GET /health",
            // Inherited from the default strategy: billing does not name it.
            "jaeger:billing-service:GET /metrics",
            "jaeger:billing-service",
            "jaeger:audit-service:GET /health",
            "jaeger:audit-service:GET /metrics",
            "jaeger:audit-service",
            "jaeger:*:GET /health",
            "jaeger:*:GET /metrics",
            "jaeger:*",
        ]
    );
}

#[test]
fn operation_beats_service_beats_default() {
    let sampler = sampler(STRATEGIES);
    let cases = [
        // The service's own operation strategy, over its service strategy.
        (
            "billing-service",
            "GET /api/v1/invoices/{id}",
            false,
            "jaeger:billing-service:GET /api/v1/invoices/{id}",
        ),
        // The service's operation strategy, over the default's one.
        (
            "billing-service",
            "GET /health",
            true,
            "jaeger:billing-service:GET /health",
        ),
        // An operation only the default names, for a named service.
        (
            "billing-service",
            "GET /metrics",
            true,
            "jaeger:billing-service:GET /metrics",
        ),
        // The service strategy, over the default strategy.
        (
            "billing-service",
            "POST /api/v1/invoices",
            true,
            "jaeger:billing-service",
        ),
        // The default's operation strategy, over the default strategy.
        ("scheduling", "GET /metrics", true, "jaeger:*:GET /metrics"),
        // The default strategy.
        ("scheduling", "GET /api/v1/slots", false, "jaeger:*"),
    ];
    for (service, operation, keep, rule) in cases {
        assert_eq!(
            decide(&sampler, service, operation),
            (keep, rule.to_owned()),
            "{service} {operation}"
        );
    }
}

#[test]
fn ratelimiting_is_traces_per_second_per_service() {
    let sampler = sampler(STRATEGIES);
    let start = Instant::now();
    let span = span("audit-service", "POST /api/v1/audit");
    let decisions: Vec<_> = (0..5).map(|_| sampler.decide(&span, start)).collect();
    assert_eq!(decisions.iter().filter(|d| d.keep).count(), 3);
    assert!(decisions.iter().all(|d| d.cause == Cause::RateLimit));
    assert_eq!(sampler.rule_id(&decisions[4]), "jaeger:audit-service");
    let later = start + Duration::from_secs(1);
    assert_eq!(
        (0..5).filter(|_| sampler.decide(&span, later).keep).count(),
        3
    );
}

#[test]
fn default_strategy_is_optional_and_then_the_agent_default_keeps() {
    let sampler = sampler(
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 0}]}"#,
    );
    assert_eq!(decide(&sampler, "a", "x"), (false, "jaeger:a".to_owned()));
    assert_eq!(decide(&sampler, "b", "x"), (true, "default".to_owned()));
}

#[test]
fn service_names_are_exact_not_patterns() {
    let sampler = sampler(
        r#"{"service_strategies": [{"service": "a*", "type": "probabilistic", "param": 0}]}"#,
    );
    assert_eq!(decide(&sampler, "a*", "x").1, "jaeger:a*");
    assert_eq!(decide(&sampler, "ab", "x").1, "default");
}

#[test]
fn problems_name_the_file_and_the_field() {
    let found = problems(
        r#"{
          "service_strategies": [
            {"service": "a", "type": "probabilistic", "param": 1.5},
            {"service": "b", "type": "adaptive", "param": 1},
            {"service": "c", "type": "probabilistic", "param": "0.5"},
            {"service": "d", "type": "ratelimiting", "param": 10,
             "operation_strategies": [{"operation": "op", "type": "ratelimiting", "param": 1}]},
            {"service": "a", "type": "probabilistic", "param": 0.5},
            {"type": "probabilistic", "param": 0.5, "sevice": "e"}
          ],
          "default_strategy": {"type": "ratelimiting", "param": -1}
        }"#,
    );
    let expected = [
        "strategies.json: service_strategies[0].param: 1.5 is not a probability between 0 and 1",
        "strategies.json: service_strategies[1].type: \"adaptive\" is not a strategy type",
        "strategies.json: service_strategies[2].param: expected a number, found text",
        "strategies.json: service_strategies[3].operation_strategies[0].type: operation strategies can only be `probabilistic`",
        "strategies.json: service_strategies[4].service: \"a\" already has a strategy at service_strategies[0]",
        "strategies.json: service_strategies[5].sevice: unknown field",
        "strategies.json: service_strategies[5].service: is missing",
        "strategies.json: default_strategy.param: -1 is not a number of traces per second",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (found, expected) in found.iter().zip(expected) {
        assert!(found.starts_with(expected), "{found}\nexpected {expected}");
    }
}

#[test]
fn documented_shape_only() {
    let found = problems(r#"{"default_operation_strategies": [], "per_service_strategies": []}"#);
    assert!(
        found[0].contains("default_strategy.operation_strategies"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("strategies.json: per_service_strategies: unknown field"),
        "{found:?}"
    );
    assert_eq!(
        problems("{}"),
        ["strategies.json: (top level): defines no strategies: give `service_strategies` or `default_strategy`"]
    );
}

#[test]
fn json_syntax_errors_have_a_line_and_column() {
    let errors = parse(
        "{\n  \"default_strategy\": {\"type\": \"probabilistic\",,}\n}",
        FILE,
    )
    .err()
    .unwrap();
    let [SamplingError::StrategiesSyntax { line, column, .. }] = &errors[..] else {
        panic!("{errors:?}");
    };
    assert_eq!((*line, *column), (2, 48));
    assert!(
        errors[0]
            .to_string()
            .starts_with("strategies.json:2:48: not a Jaeger strategies file: "),
        "{}",
        errors[0]
    );
}
