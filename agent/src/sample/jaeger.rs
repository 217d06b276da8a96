//! Jaeger sampling strategies files (the JSON read by Jaeger's
//! `--sampling.strategies-file`), turned into span rules, so that a platform
//! that already keeps its sampling policy in one can point the agent at it.
//!
//! ```json
//! {
//!   "service_strategies": [
//!     {
//!       "service": "billing-service", "type": "probabilistic", "param": 0.5,
//!       "operation_strategies": [
//!         {"operation": "GET /api/v1/invoices/{id}", "type": "probabilistic", "param": 0.1}
//!       ]
//!     },
//!     {"service": "audit-service", "type": "ratelimiting", "param": 20}
//!   ],
//!   "default_strategy": {
//!     "type": "probabilistic", "param": 0.2,
//!     "operation_strategies": [
//!       {"operation": "GET /health", "type": "probabilistic", "param": 0.0}
//!     ]
//!   }
//! }
//! ```
//!
//! `probabilistic` keeps `param` (0 to 1) of the traces; `ratelimiting`
//! keeps at most `param` traces per second, which here is spans per second
//! per service on this node. Operation strategies can only be
//! probabilistic, as in Jaeger. An operation is a span name.
//!
//! The rules keep Jaeger's precedence, most specific first. For each service
//! in file order: its operation strategies, then the default strategy's
//! operation strategies it does not override (Jaeger merges those into every
//! service), then its own strategy. After all services: the default
//! strategy's operation strategies for any service, then the default
//! strategy for everything else. Without a `default_strategy`, spans no
//! strategy names fall through to the agent's default and are kept (Jaeger
//! would sample them at 0.1 %).
//!
//! Rule ids: `jaeger:<service>:<operation>`, `jaeger:<service>`,
//! `jaeger:*:<operation>` and `jaeger:*`.
//!
//! Unlike Jaeger, which logs a warning and falls back to a default, the
//! agent refuses a file with an unknown key, an unknown strategy type or a
//! parameter out of range: a typo must not silently change what is kept.
//! Each problem names the file and the field, as a JSON path.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::Path;

use serde_json::{Map, Value};

use super::compile::JAEGER_ID_PREFIX;
use super::error::{one_line, SamplingError};
use super::glob::Glob;
use super::limit::{RateLimit, MAX_PER_SECOND};
use super::rule::{Action, Probability, Rule};
use super::spans::SpanCondition;

/// The rules of the strategies file at `path`, or every problem with it.
pub(super) fn load(path: &Path) -> Result<Vec<Rule<SpanCondition>>, Vec<SamplingError>> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &file),
        Err(source) => Err(vec![SamplingError::Read { file, source }]),
    }
}

/// [`load`] on `text`, as if read from `file`.
pub(super) fn parse(
    text: &str,
    file: &str,
) -> Result<Vec<Rule<SpanCondition>>, Vec<SamplingError>> {
    let document: Value = serde_json::from_str(text).map_err(|error| {
        // serde_json's message ends with the position, given separately here.
        let message = error.to_string();
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |end| &message[..end]);
        vec![SamplingError::StrategiesSyntax {
            file: file.to_owned(),
            line: error.line() as u64,
            column: error.column() as u64,
            message: one_line(message),
        }]
    })?;
    let mut reader = Reader {
        file,
        errors: Vec::new(),
    };
    let strategies = reader.strategies(&document);
    match strategies {
        Some(strategies) if reader.errors.is_empty() => Ok(strategies.into_rules()),
        _ => Err(reader.errors),
    }
}

#[derive(Clone, Copy, Debug)]
enum Strategy {
    Probabilistic(f64),
    RateLimiting(f64),
}

impl Strategy {
    fn action(self) -> Action {
        match self {
            Strategy::Probabilistic(p) => Action::Sample {
                probability: Some(Probability::new(p)),
                limit: None,
            },
            Strategy::RateLimiting(per_second) => Action::Sample {
                probability: None,
                limit: Some(RateLimit::new(per_second)),
            },
        }
    }
}

struct ServiceStrategy {
    service: String,
    strategy: Strategy,
    /// Operation names and their probabilities, in file order.
    operations: Vec<(String, f64)>,
}

struct DefaultStrategy {
    strategy: Strategy,
    operations: Vec<(String, f64)>,
}

struct Strategies {
    services: Vec<ServiceStrategy>,
    default: Option<DefaultStrategy>,
}

impl Strategies {
    fn into_rules(self) -> Vec<Rule<SpanCondition>> {
        let default_operations = self
            .default
            .as_ref()
            .map_or(&[][..], |default| &default.operations[..]);
        let mut rules = Vec::new();
        let operation_rule = |id: String, service: Option<&str>, operation: &str, p: f64| Rule {
            id,
            condition: SpanCondition {
                service: service.map(Glob::literal),
                operation: Some(Glob::literal(operation)),
                ..SpanCondition::default()
            },
            action: Strategy::Probabilistic(p).action(),
        };
        for service in &self.services {
            let name = service.service.as_str();
            let inherited = default_operations.iter().filter(|(operation, _)| {
                !service.operations.iter().any(|(own, _)| own == operation)
            });
            for (operation, p) in service.operations.iter().chain(inherited) {
                rules.push(operation_rule(
                    format!("{JAEGER_ID_PREFIX}{name}:{operation}"),
                    Some(name),
                    operation,
                    *p,
                ));
            }
            rules.push(Rule {
                id: format!("{JAEGER_ID_PREFIX}{name}"),
                condition: SpanCondition {
                    service: Some(Glob::literal(name)),
                    ..SpanCondition::default()
                },
                action: service.strategy.action(),
            });
        }
        for (operation, p) in default_operations {
            rules.push(operation_rule(
                format!("{JAEGER_ID_PREFIX}*:{operation}"),
                None,
                operation,
                *p,
            ));
        }
        if let Some(default) = &self.default {
            rules.push(Rule {
                id: format!("{JAEGER_ID_PREFIX}*"),
                condition: SpanCondition::default(),
                action: default.strategy.action(),
            });
        }
        rules
    }
}

/// Reads the document, noting every problem with the field it is about.
struct Reader<'a> {
    file: &'a str,
    errors: Vec<SamplingError>,
}

impl Reader<'_> {
    fn problem(&mut self, field: &str, message: impl Display) {
        self.errors.push(SamplingError::Strategies {
            file: self.file.to_owned(),
            field: if field.is_empty() {
                "(top level)".to_owned()
            } else {
                field.to_owned()
            },
            message: one_line(&message.to_string()),
        });
    }

    fn strategies(&mut self, document: &Value) -> Option<Strategies> {
        let Value::Object(root) = document else {
            self.problem(
                "",
                format_args!("expected an object, found {}", kind(document)),
            );
            return None;
        };
        for key in root.keys() {
            match key.as_str() {
                "service_strategies" | "default_strategy" => {}
                // Not Jaeger's either, but an easy guess: say what to write.
                "default_operation_strategies" => self.problem(
                    key,
                    "unknown field; Jaeger reads default operation strategies from \
                     `default_strategy.operation_strategies`",
                ),
                _ => self.problem(
                    key,
                    "unknown field, expected `service_strategies` or `default_strategy`",
                ),
            }
        }
        let mut services = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        match root.get("service_strategies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (index, item) in list.iter().enumerate() {
                    let field = format!("service_strategies[{index}]");
                    // Checked on the raw name, so that a repeat is found even
                    // when the first strategy has problems of its own.
                    let repeated = match item.get("service").and_then(Value::as_str) {
                        Some(name) => seen
                            .insert(name.to_owned(), index)
                            .map(|first| (name, first)),
                        None => None,
                    };
                    if let Some((name, first)) = repeated {
                        self.problem(
                            &format!("{field}.service"),
                            format_args!(
                                "{name:?} already has a strategy at service_strategies[{first}]"
                            ),
                        );
                    }
                    if let Some(service) = self.service(item, &field) {
                        services.push(service);
                    }
                }
            }
            Some(other) => self.problem(
                "service_strategies",
                format_args!("expected a list, found {}", kind(other)),
            ),
        }
        let default = match root.get("default_strategy") {
            None | Some(Value::Null) => None,
            Some(value) => self.default(value, "default_strategy"),
        };
        if services.is_empty() && default.is_none() && self.errors.is_empty() {
            self.problem(
                "",
                "defines no strategies: give `service_strategies` or `default_strategy`",
            );
        }
        Some(Strategies { services, default })
    }

    fn service(&mut self, value: &Value, field: &str) -> Option<ServiceStrategy> {
        let object = self.object(
            value,
            field,
            &["service", "type", "param", "operation_strategies"],
        )?;
        let service = self.name(object, field, "service");
        let strategy = self.strategy(object, field);
        let operations = self.operations(object, field);
        Some(ServiceStrategy {
            service: service?,
            strategy: strategy?,
            operations: operations?,
        })
    }

    fn default(&mut self, value: &Value, field: &str) -> Option<DefaultStrategy> {
        let object = self.object(value, field, &["type", "param", "operation_strategies"])?;
        let strategy = self.strategy(object, field);
        let operations = self.operations(object, field);
        Some(DefaultStrategy {
            strategy: strategy?,
            operations: operations?,
        })
    }

    fn operations(
        &mut self,
        object: &Map<String, Value>,
        field: &str,
    ) -> Option<Vec<(String, f64)>> {
        let field = format!("{field}.operation_strategies");
        let list = match object.get("operation_strategies") {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(other) => {
                self.problem(
                    &field,
                    format_args!("expected a list, found {}", kind(other)),
                );
                return None;
            }
        };
        let mut operations: Vec<(String, f64)> = Vec::with_capacity(list.len());
        let mut complete = true;
        for (index, item) in list.iter().enumerate() {
            let field = format!("{field}[{index}]");
            let Some(object) = self.object(item, &field, &["operation", "type", "param"]) else {
                complete = false;
                continue;
            };
            let operation = self.name(object, &field, "operation");
            let strategy = self.strategy(object, &field);
            match (operation, strategy) {
                (Some(operation), Some(Strategy::Probabilistic(p))) => {
                    if let Some(first) = operations.iter().position(|(seen, _)| *seen == operation)
                    {
                        self.problem(
                            &format!("{field}.operation"),
                            format_args!("{operation:?} is already at index {first} of this list"),
                        );
                        complete = false;
                    } else {
                        operations.push((operation, p));
                    }
                }
                (_, Some(Strategy::RateLimiting(_))) => {
                    self.problem(
                        &format!("{field}.type"),
                        "operation strategies can only be `probabilistic` (Jaeger ignores \
                         others); set a rate limit on the service instead",
                    );
                    complete = false;
                }
                _ => complete = false,
            }
        }
        complete.then_some(operations)
    }

    /// `type` and `param` of `object`.
    fn strategy(&mut self, object: &Map<String, Value>, field: &str) -> Option<Strategy> {
        let kind_field = format!("{field}.type");
        let param_field = format!("{field}.param");
        let strategy_type = match object.get("type") {
            Some(Value::String(name)) if name == "probabilistic" || name == "ratelimiting" => {
                Some(name.as_str())
            }
            Some(Value::String(name)) => {
                self.problem(
                    &kind_field,
                    format_args!(
                        "{:?} is not a strategy type: expected `probabilistic` or `ratelimiting`",
                        name
                    ),
                );
                None
            }
            Some(other) => {
                self.problem(
                    &kind_field,
                    format_args!("expected text, found {}", kind(other)),
                );
                None
            }
            None => {
                self.problem(&kind_field, "is missing: `probabilistic` or `ratelimiting`");
                None
            }
        };
        let param = match object.get("param") {
            Some(Value::Number(number)) => number.as_f64(),
            Some(other) => {
                self.problem(
                    &param_field,
                    format_args!("expected a number, found {}", kind(other)),
                );
                None
            }
            None => {
                self.problem(&param_field, "is missing");
                None
            }
        };
        let (strategy_type, param) = (strategy_type?, param?);
        if strategy_type == "probabilistic" {
            if !(0.0..=1.0).contains(&param) {
                self.problem(
                    &param_field,
                    format_args!("{param} is not a probability between 0 and 1"),
                );
                return None;
            }
            Some(Strategy::Probabilistic(param))
        } else {
            if !(0.0..=MAX_PER_SECOND).contains(&param) {
                self.problem(
                    &param_field,
                    format_args!(
                        "{param} is not a number of traces per second from 0 to {MAX_PER_SECOND}"
                    ),
                );
                return None;
            }
            Some(Strategy::RateLimiting(param))
        }
    }

    /// The non-empty text at `key` of `object`.
    fn name(&mut self, object: &Map<String, Value>, field: &str, key: &str) -> Option<String> {
        let field = format!("{field}.{key}");
        match object.get(key) {
            Some(Value::String(name)) if !name.is_empty() => Some(name.clone()),
            Some(Value::String(_)) => {
                self.problem(&field, "is empty");
                None
            }
            Some(other) => {
                self.problem(&field, format_args!("expected text, found {}", kind(other)));
                None
            }
            None => {
                self.problem(&field, "is missing");
                None
            }
        }
    }

    /// `value` as an object, every key of it among `known`.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        field: &str,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(object) = value else {
            self.problem(
                field,
                format_args!("expected an object, found {}", kind(value)),
            );
            return None;
        };
        for key in object.keys() {
            if !known.contains(&key.as_str()) {
                let at = if field.is_empty() {
                    key.clone()
                } else {
                    format!("{field}.{key}")
                };
                self.problem(
                    &at,
                    format_args!("unknown field, expected one of `{}`", known.join("`, `")),
                );
            }
        }
        Some(object)
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
