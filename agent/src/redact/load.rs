//! Building a [`Redactor`] from rule files: reading, parsing, compiling, and
//! collecting every problem found on the way rather than stopping at the first.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_saphyr::{DefaultMessageFormatter, Location, MessageFormatter};

use memchr::memmem;

use super::engine::{AllowList, FieldMatcher, Origin, Redactor, RuleMeta};
use super::error::{RuleError, RuleProblem};
use super::path::PathPattern;
use super::replace::PreparedReplacement;
use super::rules::{
    ContextRule, FieldRule, Hl7Rule, PatternRule, Replacement, RulePack, RuleSpec, Separator,
    ValueExtent,
};
use super::text::{self, ContextMatcher, Hl7Matcher, PatternMatcher, TextRules};

/// The packs shipped with the agent, embedded at build time: the one list of
/// them (a test checks it names every `*.yaml` in `redaction-rules/`), in the
/// order a directory of them loads (by name).
pub(super) const BUILTIN_PACKS: &[(&str, &str)] = &[
    (
        "redaction-rules/clinician.yaml",
        include_str!("../../../redaction-rules/clinician.yaml"),
    ),
    (
        "redaction-rules/contact.yaml",
        include_str!("../../../redaction-rules/contact.yaml"),
    ),
    (
        "redaction-rules/hl7.yaml",
        include_str!("../../../redaction-rules/hl7.yaml"),
    ),
    (
        "redaction-rules/identifiers.yaml",
        include_str!("../../../redaction-rules/identifiers.yaml"),
    ),
    (
        "redaction-rules/names-and-dates.yaml",
        include_str!("../../../redaction-rules/names-and-dates.yaml"),
    ),
    (
        "redaction-rules/network.yaml",
        include_str!("../../../redaction-rules/network.yaml"),
    ),
    (
        "redaction-rules/structured-fields.yaml",
        include_str!("../../../redaction-rules/structured-fields.yaml"),
    ),
    (
        "redaction-rules/url-paths.yaml",
        include_str!("../../../redaction-rules/url-paths.yaml"),
    ),
];

/// The id of the marker that replaces records that could not be redacted.
const RESERVED_RULE_ID: &str = "redaction-failed";

pub(super) struct Source {
    pub(super) file: PathBuf,
    pub(super) text: Cow<'static, str>,
}

impl Redactor {
    /// The rule packs shipped in `redaction-rules/`, embedded in the binary.
    pub fn builtin() -> Redactor {
        let sources = BUILTIN_PACKS
            .iter()
            .map(|&(file, text)| Source {
                file: file.into(),
                text: Cow::Borrowed(text),
            })
            .collect();
        compile(sources, Vec::new()).unwrap_or_else(|errors| {
            // Cannot happen in a released build: a test loads these same bytes.
            panic!("the built-in rule pack is invalid: {}", errors[0])
        })
    }

    /// Loads rule files. Each path is a rule file, or a directory whose `*.yaml`
    /// and `*.yml` files are all loaded in name order. Rule files are checked in
    /// full, examples included, and every problem found is returned.
    pub fn load(paths: &[PathBuf]) -> Result<Redactor, Vec<RuleError>> {
        if paths.is_empty() {
            return Err(vec![unplaced(Path::new(""), RuleProblem::NoRuleFiles)]);
        }
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            if path.is_dir() {
                match rule_files_in(path) {
                    Ok(files) if files.is_empty() => {
                        errors.push(unplaced(path, RuleProblem::EmptyDirectory))
                    }
                    Ok(files) => {
                        for file in files {
                            read_source(file, &mut sources, &mut errors);
                        }
                    }
                    Err(error) => errors.push(unplaced(path, RuleProblem::ReadDir(error))),
                }
            } else {
                read_source(path.clone(), &mut sources, &mut errors);
            }
        }
        compile(sources, errors)
    }

    /// Builds a redactor from rule-file text held in memory.
    #[cfg(test)]
    pub(super) fn from_sources(sources: &[(&str, &str)]) -> Result<Redactor, Vec<RuleError>> {
        let sources = sources
            .iter()
            .map(|&(file, text)| Source {
                file: file.into(),
                text: Cow::Owned(text.to_owned()),
            })
            .collect();
        compile(sources, Vec::new())
    }
}

/// `*.yaml` and `*.yml` files of a directory, sorted. Symlinks are followed,
/// which is how a Kubernetes ConfigMap mount presents its files; its `..data`
/// bookkeeping entries have no rule-file extension and are skipped.
fn rule_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_rule_file = matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("yaml" | "yml")
        );
        if is_rule_file && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_source(file: PathBuf, sources: &mut Vec<Source>, errors: &mut Vec<RuleError>) {
    match std::fs::read_to_string(&file) {
        Ok(text) => sources.push(Source {
            file,
            text: Cow::Owned(text),
        }),
        Err(error) => errors.push(unplaced(&file, RuleProblem::Read(error))),
    }
}

fn compile(sources: Vec<Source>, mut errors: Vec<RuleError>) -> Result<Redactor, Vec<RuleError>> {
    let mut builder = Builder::default();
    for source in &sources {
        match parse_pack(&source.text) {
            Ok(pack) => builder.add_pack(&source.file, pack, &mut errors),
            Err(error) => errors.push(parse_error(&source.file, &error)),
        }
    }
    if builder.ids.is_empty() && errors.is_empty() {
        let file = sources.first().map_or(Path::new(""), |s| s.file.as_path());
        errors.push(unplaced(file, RuleProblem::NoRules));
    }
    let text = match TextRules::new(builder.patterns, builder.contexts, builder.hl7) {
        Ok(text) => text,
        Err(reason) => {
            let file = sources.first().map_or(Path::new(""), |s| s.file.as_path());
            errors.push(unplaced(file, RuleProblem::TextRulesTooLarge(reason)));
            TextRules::new(Vec::new(), Vec::new(), Vec::new()).expect("no rules compile")
        }
    };
    // Examples run even when other rules failed, so one load reports everything.
    let redactor = Redactor::new(builder.rules, builder.field_matchers, builder.allow, text);
    if let Err(example_errors) = redactor.check_examples() {
        errors.extend(example_errors);
    }
    if errors.is_empty() {
        Ok(redactor)
    } else {
        Err(errors)
    }
}

/// Parses one rule file. Booleans are YAML 1.2's `true`/`false` only: under
/// YAML 1.1 rules a key path such as `y`, `no` or `on` would turn into a
/// boolean and be rejected (or worse, read as something it is not).
pub(super) fn parse_pack(text: &str) -> Result<RulePack, serde_saphyr::Error> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options)
}

#[derive(Default)]
struct Builder {
    rules: Vec<RuleMeta>,
    field_matchers: Vec<FieldMatcher>,
    patterns: Vec<PatternMatcher>,
    contexts: Vec<ContextMatcher>,
    hl7: Vec<Hl7Matcher>,
    allow: Vec<AllowList>,
    /// Every id seen, valid rule or not, and where it was first written.
    ids: HashMap<String, Origin>,
}

impl Builder {
    fn add_pack(&mut self, file: &Path, pack: RulePack, errors: &mut Vec<RuleError>) {
        let pack_index = self.allow.len();
        let mut allow = AllowList::default();
        let mut allow_complete = true;
        for entry in pack.allow {
            match PathPattern::parse(&entry.value) {
                Ok(pattern) => allow.patterns.push((entry.value, pattern)),
                Err(problem) => {
                    errors.push(at(file, entry.referenced, problem));
                    allow_complete = false;
                }
            }
        }
        self.allow.push(allow);

        for rule in pack.rules {
            let origin = origin(file, rule.referenced);
            let id_checked = self.check_id(rule.value.id(), &origin);
            // Without its whole allow-list a rule would replace operational keys
            // and fail its examples for a reason already reported.
            let usable = id_checked.is_ok() && allow_complete;
            if let Err(problem) = id_checked {
                errors.push(origin.error(problem));
            }
            let rule_index = self.rules.len();
            let compiled = match rule.value {
                RuleSpec::Field(rule) => {
                    compile_field_rule(rule, rule_index, pack_index, origin.clone())
                        .map(|(meta, matcher)| (meta, Compiled::Field(matcher)))
                }
                RuleSpec::Pattern(rule) => {
                    compile_pattern_rule(rule, rule_index, pack_index, origin.clone())
                        .map(|(meta, matcher)| (meta, Compiled::Pattern(matcher)))
                }
                RuleSpec::Context(rule) => {
                    compile_context_rule(rule, rule_index, pack_index, origin.clone())
                        .map(|(meta, matcher)| (meta, Compiled::Context(matcher)))
                }
                RuleSpec::Hl7(rule) => {
                    compile_hl7_rule(rule, rule_index, pack_index, origin.clone())
                        .map(|(meta, matcher)| (meta, Compiled::Hl7(matcher)))
                }
            };
            match compiled {
                Ok((meta, matcher)) if usable => {
                    self.rules.push(meta);
                    match matcher {
                        Compiled::Field(m) => self.field_matchers.push(m),
                        Compiled::Pattern(m) => self.patterns.push(m),
                        Compiled::Context(m) => self.contexts.push(m),
                        Compiled::Hl7(m) => self.hl7.push(m),
                    }
                }
                Ok(_) => {}
                Err(problem) => errors.push(origin.error(problem)),
            }
        }
    }

    fn check_id(&mut self, id: &str, origin: &Origin) -> Result<(), RuleProblem> {
        if id == RESERVED_RULE_ID {
            return Err(RuleProblem::ReservedRuleId { id: id.to_owned() });
        }
        if !is_valid_rule_id(id) {
            return Err(RuleProblem::BadRuleId { id: id.to_owned() });
        }
        if let Some(first) = self.ids.get(id) {
            return Err(RuleProblem::DuplicateRuleId {
                id: id.to_owned(),
                first: first.to_string(),
            });
        }
        self.ids.insert(id.to_owned(), origin.clone());
        Ok(())
    }
}

enum Compiled {
    Field(FieldMatcher),
    Pattern(PatternMatcher),
    Context(ContextMatcher),
    Hl7(Hl7Matcher),
}

/// Ids become metric labels and replacement text, so they are kept to a small,
/// plain alphabet.
fn is_valid_rule_id(id: &str) -> bool {
    let mut chars = id.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    starts_well
        && id.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn compile_field_rule(
    rule: FieldRule,
    rule_index: usize,
    pack: usize,
    origin: Origin,
) -> Result<(RuleMeta, FieldMatcher), RuleProblem> {
    let in_rule = |problem| RuleProblem::InRule {
        rule_id: rule.id.clone(),
        problem: Box::new(problem),
    };
    if rule.paths.is_empty() {
        return Err(RuleProblem::EmptyPaths { rule_id: rule.id });
    }
    if rule.examples.matching.is_empty() {
        return Err(RuleProblem::NoMatchExamples { rule_id: rule.id });
    }
    let replacement = replacement_or_default(rule.replacement, &rule.id)?;
    let patterns = rule
        .paths
        .iter()
        .map(|pattern| PathPattern::parse(pattern).map_err(in_rule))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        RuleMeta {
            id: rule.id.into(),
            replacement,
            origin,
            pack,
        },
        FieldMatcher {
            rule: rule_index,
            pack,
            patterns,
            examples: rule.examples,
        },
    ))
}

/// The rule's replacement prepared (a hash key read), or `[REDACTED:<id>]`.
fn replacement_or_default(
    replacement: Option<Replacement>,
    rule_id: &str,
) -> Result<PreparedReplacement, RuleProblem> {
    match replacement {
        Some(replacement) => replacement
            .prepare(rule_id)
            .map_err(|message| in_rule(rule_id)(RuleProblem::Replacement(message))),
        None => Ok(PreparedReplacement::default_for(rule_id)),
    }
}

fn in_rule(rule_id: &str) -> impl Fn(RuleProblem) -> RuleProblem + '_ {
    move |problem| RuleProblem::InRule {
        rule_id: rule_id.to_owned(),
        problem: Box::new(problem),
    }
}

fn empty_list(rule_id: &str, list: &'static str) -> RuleProblem {
    RuleProblem::EmptyList {
        rule_id: rule_id.to_owned(),
        list,
    }
}

fn compile_pattern_rule(
    rule: PatternRule,
    rule_index: usize,
    pack: usize,
    origin: Origin,
) -> Result<(RuleMeta, PatternMatcher), RuleProblem> {
    if rule.patterns.is_empty() {
        return Err(empty_list(&rule.id, "patterns"));
    }
    if rule.examples.matching.is_empty() {
        return Err(RuleProblem::NoMatchExamples { rule_id: rule.id });
    }
    let replacement = replacement_or_default(rule.replacement, &rule.id)?;
    let mut regexes = Vec::new();
    let mut needs = Vec::new();
    for pattern in &rule.patterns {
        let (re, need) = text::compile(pattern).map_err(in_rule(&rule.id))?;
        regexes.push(re);
        needs.push(need);
    }
    let keep = text::Keep::new(&rule.keep).map_err(in_rule(&rule.id))?;
    Ok((
        RuleMeta {
            id: rule.id.into(),
            replacement,
            origin,
            pack,
        },
        PatternMatcher {
            rule: rule_index,
            sources: rule.patterns,
            regexes,
            needs,
            validator: rule.validator,
            keep,
            enabled: rule.enabled,
            examples: rule.examples,
        },
    ))
}

fn compile_context_rule(
    rule: ContextRule,
    rule_index: usize,
    pack: usize,
    origin: Origin,
) -> Result<(RuleMeta, ContextMatcher), RuleProblem> {
    if rule.keys.is_empty() {
        return Err(empty_list(&rule.id, "keys"));
    }
    if rule.examples.matching.is_empty() {
        return Err(RuleProblem::NoMatchExamples { rule_id: rule.id });
    }
    let separator_name = match rule.separator {
        Separator::Strict => None,
        Separator::Loose => Some("loose"),
        Separator::Path => Some("path"),
    };
    if let (Some(separator), None) = (separator_name, &rule.value) {
        return Err(RuleProblem::SeparatorWithoutValue {
            rule_id: rule.id,
            separator,
        });
    }
    let extent = match (rule.separator, rule.value_extent) {
        (Separator::Path, None | Some(ValueExtent::Segment)) => ValueExtent::Segment,
        (Separator::Path, Some(_)) => return Err(RuleProblem::PathExtent { rule_id: rule.id }),
        (_, extent) => extent.unwrap_or_default(),
    };
    let replacement = replacement_or_default(rule.replacement, &rule.id)?;
    let normalize = |label: &String| {
        text::normalize_label(label).ok_or_else(|| {
            in_rule(&rule.id)(RuleProblem::BadLabel {
                label: label.clone(),
            })
        })
    };
    let keys = rule
        .keys
        .iter()
        .map(normalize)
        .collect::<Result<Vec<_>, _>>()?;
    let subjects = rule
        .subjects
        .iter()
        .map(normalize)
        .collect::<Result<Vec<_>, _>>()?;
    // Structured keys are compared normalized, so a subject is one more
    // normalized prefix of each label; path labels name no keys at all.
    let mut labels = Vec::new();
    if rule.separator != Separator::Path {
        for key in &keys {
            labels.push(key.clone());
            labels.extend(subjects.iter().map(|subject| format!("{subject}{key}")));
        }
    }
    labels.sort();
    labels.dedup();
    let words: Vec<_> = rule.keys.iter().map(|key| text::label_words(key)).collect();
    let subject_words: Vec<_> = rule.subjects.iter().map(|s| text::label_words(s)).collect();
    let key_source = text::key_regex(&words, &subject_words, rule.separator);
    let (key, key_need) = text::compile(&key_source).map_err(in_rule(&rule.id))?;
    let value = match &rule.value {
        Some(value) => Some(text::compile_value(value).map_err(in_rule(&rule.id))?),
        None => None,
    };
    Ok((
        RuleMeta {
            id: rule.id.into(),
            replacement,
            origin,
            pack,
        },
        ContextMatcher {
            rule: rule_index,
            pack,
            labels,
            key_source,
            key,
            key_need,
            value_source: rule.value,
            value,
            extent,
            validator: rule.validator,
            enabled: rule.enabled,
            examples: rule.examples,
        },
    ))
}

fn compile_hl7_rule(
    rule: Hl7Rule,
    rule_index: usize,
    pack: usize,
    origin: Origin,
) -> Result<(RuleMeta, Hl7Matcher), RuleProblem> {
    let segment_ok = rule.segment.len() == 3
        && rule
            .segment
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && rule.segment != "MSH";
    if !segment_ok {
        return Err(in_rule(&rule.id)(RuleProblem::BadSegment {
            segment: rule.segment,
        }));
    }
    if rule.fields.is_empty() {
        return Err(empty_list(&rule.id, "fields"));
    }
    if let Some(&field) = rule.fields.iter().find(|&&f| f == 0 || f > 999) {
        return Err(in_rule(&rule.id)(RuleProblem::BadField { field }));
    }
    if rule.examples.matching.is_empty() {
        return Err(RuleProblem::NoMatchExamples { rule_id: rule.id });
    }
    let replacement = replacement_or_default(rule.replacement, &rule.id)?;
    let mut fields = rule.fields;
    fields.sort_unstable();
    fields.dedup();
    let finder = memmem::Finder::new(rule.segment.as_bytes()).into_owned();
    Ok((
        RuleMeta {
            id: rule.id.into(),
            replacement,
            origin,
            pack,
        },
        Hl7Matcher {
            rule: rule_index,
            segment: rule.segment,
            finder,
            fields,
            enabled: rule.enabled,
            examples: rule.examples,
        },
    ))
}

fn origin(file: &Path, location: Location) -> Origin {
    Origin {
        file: file.to_owned(),
        line: location.line(),
        column: location.column(),
    }
}

fn at(file: &Path, location: Location, problem: RuleProblem) -> RuleError {
    origin(file, location).error(problem)
}

fn unplaced(file: &Path, problem: RuleProblem) -> RuleError {
    RuleError {
        file: file.to_owned(),
        line: 0,
        column: 0,
        message: problem.to_string(),
    }
}

fn parse_error(file: &Path, error: &serde_saphyr::Error) -> RuleError {
    let message = DefaultMessageFormatter.format_message(error.without_snippet());
    // The formatter leaves control characters in; a rule file must not be able
    // to write escape sequences into the agent's log.
    let message = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let problem = RuleProblem::Parse(message);
    match error.location() {
        Some(location) => at(file, location, problem),
        None => unplaced(file, problem),
    }
}
