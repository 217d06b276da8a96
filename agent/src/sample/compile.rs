//! Turning configured rules into compiled ones, checking everything parsing
//! could not and keeping every problem, each at the value it is about.

use std::collections::HashMap;
use std::fmt::Display;

use serde_saphyr::Spanned;

use super::config::{Keep, RuleConfig};
use super::error::{one_line, regex_reason, ConfigOrigin, SamplingError};
use super::glob::Glob;
use super::limit::{RateLimit, MAX_PER_SECOND};
use super::rule::{Action, Probability, Rule, DEFAULT_RULE_ID};

/// Rule ids of this prefix name rules made from a Jaeger strategies file.
pub(super) const JAEGER_ID_PREFIX: &str = "jaeger:";

/// The rule being compiled, for errors about it.
pub(super) struct At<'a> {
    pub(super) rule_id: &'a str,
    /// `sampling.spans.rules[2]`.
    pub(super) key: &'a str,
}

pub(super) struct Checks<'a> {
    origin: &'a ConfigOrigin<'a>,
    pub(super) errors: Vec<SamplingError>,
    /// Each id seen, with the line it was first written on.
    ids: HashMap<String, u64>,
}

impl<'a> Checks<'a> {
    pub(super) fn new(origin: &'a ConfigOrigin<'a>) -> Checks<'a> {
        Checks {
            origin,
            errors: Vec::new(),
            ids: HashMap::new(),
        }
    }

    pub(super) fn error<T>(
        &mut self,
        value: &Spanned<T>,
        at: &At<'_>,
        field: &str,
        problem: impl Display,
    ) {
        let location = value.referenced;
        let key = if field.is_empty() {
            at.key.to_owned()
        } else {
            format!("{}.{field}", at.key)
        };
        self.errors.push(SamplingError::InvalidRule {
            file: self.origin.file.to_owned(),
            line: location.line(),
            column: if location.line() == 0 {
                0
            } else {
                location.column()
            },
            rule_id: at.rule_id.to_owned(),
            key,
            problem: problem.to_string(),
        });
    }

    /// Compiles `rules`, the list at `section` (`sampling.spans.rules`),
    /// with `conditions` compiling each rule's `when`. A rule with any
    /// problem is left out; the problems are in [`Self::errors`].
    pub(super) fn rules<W, M>(
        &mut self,
        section: &str,
        rules: &[Spanned<RuleConfig<W>>],
        mut conditions: impl FnMut(&mut Self, &W, &At<'_>) -> Option<M>,
    ) -> Vec<Rule<M>> {
        let mut compiled = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let key = format!("{section}[{index}]");
            let at = At {
                rule_id: &rule.value.id.value,
                key: &key,
            };
            let id_ok = self.id(&rule.value.id, &at);
            let condition = conditions(self, &rule.value.when, &at);
            let action = self.action(rule, &at);
            if let (true, Some(condition), Some(action)) = (id_ok, condition, action) {
                compiled.push(Rule {
                    id: rule.value.id.value.clone(),
                    condition,
                    action,
                });
            }
        }
        compiled
    }

    fn id(&mut self, id: &Spanned<String>, at: &At<'_>) -> bool {
        let text = id.value.as_str();
        let problem = if text.trim().is_empty() {
            "is empty; a rule needs an id to be counted under".to_owned()
        } else if text.chars().any(char::is_control) {
            "holds a control character".to_owned()
        } else if text == DEFAULT_RULE_ID {
            format!("`{DEFAULT_RULE_ID}` is reserved: it counts records no rule matched")
        } else if text.starts_with(JAEGER_ID_PREFIX) {
            format!("ids starting with `{JAEGER_ID_PREFIX}` are reserved for rules from a Jaeger strategies file")
        } else if let Some(first_line) = self.ids.get(text) {
            format!("`{text}` is already the id of the rule on line {first_line}")
        } else {
            self.ids.insert(text.to_owned(), id.referenced.line());
            return true;
        };
        self.error(id, at, "id", problem);
        false
    }

    fn action<W>(&mut self, rule: &Spanned<RuleConfig<W>>, at: &At<'_>) -> Option<Action> {
        let config = &rule.value;
        let probability = config
            .probability
            .as_ref()
            .map(|p| self.probability(p, at, "probability"));
        let limit = config
            .rate_limit_per_second
            .as_ref()
            .map(|limit| self.rate_limit(limit, at));
        match &config.keep {
            Some(keep) if probability.is_some() || limit.is_some() => {
                let verb = match keep.value {
                    Keep::Always => "always",
                    Keep::Never => "never",
                };
                self.error(
                    keep,
                    at,
                    "keep",
                    format_args!(
                        "`keep: {verb}` decides alone; remove `probability` and \
                         `rate_limit_per_second`, or `keep`"
                    ),
                );
                None
            }
            Some(keep) => Some(match keep.value {
                Keep::Always => Action::KeepAlways,
                Keep::Never => Action::KeepNever,
            }),
            None if probability.is_none() && limit.is_none() => {
                self.error(
                    rule,
                    at,
                    "",
                    "says nothing about what to keep: give `keep: always`, `keep: never`, \
                     `probability` or `rate_limit_per_second`",
                );
                None
            }
            None => Some(Action::Sample {
                probability: match probability {
                    Some(p) => Some(p?),
                    None => None,
                },
                limit: match limit {
                    Some(limit) => Some(limit?),
                    None => None,
                },
            }),
        }
    }

    pub(super) fn probability(
        &mut self,
        p: &Spanned<f64>,
        at: &At<'_>,
        field: &str,
    ) -> Option<Probability> {
        if (0.0..=1.0).contains(&p.value) {
            return Some(Probability::new(p.value));
        }
        self.error(
            p,
            at,
            field,
            format_args!("{} is not between 0 and 1 (0.25 keeps a quarter)", p.value),
        );
        None
    }

    fn rate_limit(&mut self, limit: &Spanned<f64>, at: &At<'_>) -> Option<RateLimit> {
        let value = limit.value;
        if value > 0.0 && value <= MAX_PER_SECOND {
            return Some(RateLimit::new(value));
        }
        self.error(
            limit,
            at,
            "rate_limit_per_second",
            format_args!(
                "{value} is out of range: more than 0 and at most {MAX_PER_SECOND} \
                 per second (to keep nothing, write `keep: never`)"
            ),
        );
        None
    }

    /// A name pattern. `Err(())` when it is unusable (reported); `Ok(None)`
    /// when not given.
    pub(super) fn glob(
        &mut self,
        pattern: Option<&Spanned<String>>,
        at: &At<'_>,
        field: &str,
    ) -> Result<Option<Glob>, ()> {
        let Some(pattern) = pattern else {
            return Ok(None);
        };
        if pattern.value.is_empty() {
            self.error(
                pattern,
                at,
                field,
                "is empty; leave the condition out to match any name, or write `*`",
            );
            return Err(());
        }
        Ok(Some(Glob::new(&pattern.value)))
    }

    /// A regular expression matched against a whole value.
    pub(super) fn whole_value_regex(
        &mut self,
        pattern: &Spanned<String>,
        at: &At<'_>,
        field: &str,
    ) -> Option<regex::Regex> {
        // Compiled alone first: wrapped, a pattern such as `a)|(b` would
        // close the wrapper's group and compile into something else.
        let anchored = regex::Regex::new(&pattern.value)
            .and_then(|_| regex::Regex::new(&format!("^(?:{})$", pattern.value)));
        match anchored {
            Ok(regex) => Some(regex),
            Err(error) => {
                self.error(
                    pattern,
                    at,
                    field,
                    format_args!(
                        "bad regular expression {:?}: {}",
                        one_line(&pattern.value),
                        regex_reason(&error)
                    ),
                );
                None
            }
        }
    }
}
