//! Text rules (`kind: pattern`, `kind: context`, `kind: hl7`) compiled for one
//! pass over the bytes, and the search that applies them.
//!
//! Every enabled pattern and every context rule's key regex go into one
//! multi-pattern automaton (`regex_automata::meta`, lazy DFA). A text first
//! meets the gate ([`analysis::Gate`]); if it passes, the automaton is asked
//! whether anything matches at all (one forward pass that stops at the first
//! match: the common, no-PHI case costs exactly that pass); only if something
//! does, an overlapping search names every pattern that matches, and each of
//! those runs alone over the text, so a match of one pattern never hides a
//! match of another and the result is the same as running each rule on its
//! own. HL7 rules find their segment id with `memmem`. Then the text's decoded
//! views (`view.rs`) go through the same search, their hits mapped back.

mod analysis;
mod context;
mod hl7;
mod merge;
mod view;

use std::sync::atomic::{AtomicU64, Ordering};

use memchr::memmem;
use regex_automata::{meta, Anchored, Input, MatchKind, PatternSet};

use super::engine::{AllowList, Budget};
use super::error::RuleProblem;
use super::rules::{Examples, ValueExtent};
use super::validate::Validator;
use crate::internal_events::RedactionFailureReason;

pub(super) use analysis::Need;
use analysis::{one_line, parse, syntax};
pub(super) use context::{key_regex, label_words, normalize_label};
pub(super) use merge::{normalize, render, Hit};

/// Gives every compiled rule set its own id, so scratch caches made for one
/// set are never used with another (a reloaded pack).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The lazy DFA's cache, per regex and thread. The union automaton of the
/// built-in pack visits more states than the default 2 MiB hold on mixed log
/// text, and a full cache is cleared and rebuilt (determinizing again is what
/// costs); 8 MiB keeps the working set (benches/redact_text.rs).
const HYBRID_CACHE_BYTES: usize = 8 << 20;

/// How many places a `value` regex's match may end at (see
/// `ContextMatcher::value_match`): bounds the work per labelled value.
const MAX_VALUE_ENDS: usize = 8;

/// A compiled regex and its slot in [`Scratch::caches`].
#[derive(Debug)]
pub(super) struct Re {
    pub(super) regex: meta::Regex,
    slot: usize,
}

impl Re {
    /// Compiles `pattern` (already checked by [`parse`]) with the text syntax.
    pub(super) fn new(pattern: &str) -> Result<Re, String> {
        Re::build(&[pattern], MatchKind::LeftmostFirst)
    }

    fn build(patterns: &[&str], kind: MatchKind) -> Result<Re, String> {
        meta::Builder::new()
            .syntax(syntax())
            .configure(
                meta::Config::new()
                    .match_kind(kind)
                    .hybrid_cache_capacity(HYBRID_CACHE_BYTES),
            )
            .build_many(patterns)
            .map(|regex| Re {
                regex,
                slot: usize::MAX,
            })
            .map_err(|error| one_line(&error.to_string()))
    }
}

/// A compiled `kind: pattern` rule.
#[derive(Debug)]
pub(super) struct PatternMatcher {
    pub(super) rule: usize,
    pub(super) sources: Vec<String>,
    pub(super) regexes: Vec<Re>,
    pub(super) needs: Vec<Need>,
    pub(super) validator: Option<Validator>,
    pub(super) enabled: bool,
    pub(super) examples: Examples,
}

/// Compiles a pattern (or a context rule's key regex) for the automaton:
/// checked by [`parse`], and what the gate needs of a text for it to match.
pub(super) fn compile(pattern: &str) -> Result<(Re, Need), RuleProblem> {
    let hir = parse(pattern)?;
    let re = Re::new(pattern).map_err(|reason| RuleProblem::BadRegex {
        pattern: pattern.to_owned(),
        reason,
    })?;
    Ok((re, analysis::need(&hir)))
}

/// Compiles a context rule's `value` regex: any valid regex, since it only
/// runs anchored inside a value the parser already bounded.
pub(super) fn compile_value(pattern: &str) -> Result<Re, RuleProblem> {
    let bad = |reason| RuleProblem::BadRegex {
        pattern: pattern.to_owned(),
        reason,
    };
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|error| bad(one_line(&error.to_string())))?;
    Re::new(pattern).map_err(bad)
}

/// A compiled `kind: context` rule.
#[derive(Debug)]
pub(super) struct ContextMatcher {
    pub(super) rule: usize,
    /// Index into the redactor's allow lists: its file's.
    pub(super) pack: usize,
    /// Normalized ([`normalize_label`]), sorted, deduplicated.
    pub(super) labels: Vec<String>,
    pub(super) key_source: String,
    pub(super) key: Re,
    pub(super) key_need: Need,
    pub(super) value_source: Option<String>,
    pub(super) value: Option<Re>,
    pub(super) extent: ValueExtent,
    pub(super) validator: Option<Validator>,
    pub(super) enabled: bool,
    pub(super) examples: Examples,
}

impl ContextMatcher {
    /// Whether a structured value (a string, or a number's text) whose key
    /// names one of this rule's labels is one this rule replaces.
    pub(super) fn takes_value(&self, value: &str, scratch: &mut Scratch) -> bool {
        if value.is_empty() {
            return false;
        }
        let text = value.as_bytes();
        self.accept(text, 0, text.len(), true, &mut scratch.caches)
            .is_some()
    }

    /// Where the `value` regex's match at `start` ends: the longest match
    /// that ends at the end of the value or before a space, tab, comma or
    /// period (a phrase may run on past the value: `name=Jane Roe HTTP/1.1`).
    /// Tries the value's end, then each such break from the right, at most
    /// [`MAX_VALUE_ENDS`] of them.
    fn value_match(
        &self,
        re: &Re,
        text: &[u8],
        start: usize,
        end: usize,
        caches: &mut [Option<meta::Cache>],
    ) -> Option<usize> {
        let mut candidate = end;
        for _ in 0..MAX_VALUE_ENDS {
            let input = Input::new(text)
                .range(start..candidate)
                .anchored(Anchored::Yes);
            let found = with_cache(caches, re, |cache| re.regex.search_with(cache, &input));
            if let Some(found) = found {
                if context::ends_value(text, found.end(), candidate) {
                    return Some(found.end());
                }
            }
            candidate = (start + 1..candidate)
                .rev()
                .find(|&at| matches!(text[at], b' ' | b'\t' | b',' | b'.'))?;
        }
        None
    }

    /// Where the replaced part of the value `start..end` ends, if the value is
    /// one this rule takes.
    fn accept(
        &self,
        text: &[u8],
        start: usize,
        end: usize,
        quoted: bool,
        caches: &mut [Option<meta::Cache>],
    ) -> Option<usize> {
        let mut end = end;
        if !quoted {
            while end > start && matches!(text[end - 1], b' ' | b'\t') {
                end -= 1;
            }
        }
        if end <= start || (!quoted && context::is_literal(&text[start..end])) {
            return None;
        }
        let taken = match &self.value {
            None => end,
            Some(re) => self.value_match(re, text, start, end, caches)?,
        };
        let valid = self
            .validator
            .is_none_or(|validator| validates(validator, &text[start..taken]));
        valid.then_some(taken)
    }
}

/// A compiled `kind: hl7` rule.
#[derive(Debug)]
pub(super) struct Hl7Matcher {
    pub(super) rule: usize,
    pub(super) segment: String,
    pub(super) finder: memmem::Finder<'static>,
    /// Sorted, deduplicated.
    pub(super) fields: Vec<u16>,
    pub(super) enabled: bool,
    pub(super) examples: Examples,
}

/// A text rule, by its place in its kind's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TextRule {
    Pattern(usize),
    Context(usize),
    Hl7(usize),
}

/// Which rules a search runs.
#[derive(Clone, Copy, Debug)]
pub(super) enum Only {
    /// Every enabled rule, through the automaton.
    Enabled,
    /// One rule alone, enabled or not (its examples).
    Rule(TextRule),
}

/// What a pattern of the union automaton stands for.
#[derive(Clone, Copy, Debug)]
enum UnionSource {
    Pattern { matcher: usize, pattern: usize },
    ContextKey { matcher: usize },
}

#[derive(Debug)]
struct Union {
    /// Leftmost-first: is there any match at all?
    any: Re,
    /// All matches, overlapping: which patterns match?
    all: Re,
    sources: Vec<UnionSource>,
}

/// Every text rule, compiled.
#[derive(Debug)]
pub(super) struct TextRules {
    id: u64,
    pub(super) patterns: Vec<PatternMatcher>,
    pub(super) contexts: Vec<ContextMatcher>,
    pub(super) hl7: Vec<Hl7Matcher>,
    union: Option<Union>,
    /// Enabled patterns kept out of the union, as (matcher, pattern): those
    /// anchored on a rare byte (email's `@`). Alone, each runs behind its own
    /// `memchr` prefilter at memory speed; in the union, the counted
    /// repetition before the `@` (`[A-Za-z0-9._%+-]{1,64}`) multiplied the
    /// automaton's states by 64 and cut its speed from about 850 to 150 MB/s
    /// on the corpus of benches/redact_text.rs.
    standalone: Vec<(usize, usize)>,
    gate: analysis::Gate,
    slots: usize,
}

impl TextRules {
    pub(super) fn new(
        mut patterns: Vec<PatternMatcher>,
        mut contexts: Vec<ContextMatcher>,
        hl7: Vec<Hl7Matcher>,
    ) -> Result<TextRules, String> {
        let mut sources = Vec::new();
        let mut texts: Vec<&str> = Vec::new();
        let mut needs = Vec::new();
        let mut standalone = Vec::new();
        for (m, matcher) in patterns.iter().enumerate().filter(|(_, m)| m.enabled) {
            for (p, source) in matcher.sources.iter().enumerate() {
                if matcher.needs[p].is_anchored() {
                    standalone.push((m, p));
                    continue;
                }
                sources.push(UnionSource::Pattern {
                    matcher: m,
                    pattern: p,
                });
                texts.push(source);
                needs.push(matcher.needs[p].clone());
            }
        }
        for (m, matcher) in contexts.iter().enumerate().filter(|(_, m)| m.enabled) {
            sources.push(UnionSource::ContextKey { matcher: m });
            texts.push(&matcher.key_source);
            needs.push(matcher.key_need.clone());
        }
        let union = if texts.is_empty() {
            None
        } else {
            Some(Union {
                any: Re::build(&texts, MatchKind::LeftmostFirst)?,
                all: Re::build(&texts, MatchKind::All)?,
                sources,
            })
        };
        let mut rules = TextRules {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            patterns: Vec::new(),
            contexts: Vec::new(),
            hl7,
            union,
            standalone,
            gate: analysis::Gate::new(needs),
            slots: 0,
        };
        let mut slot = 0;
        let mut assign = |re: &mut Re| {
            re.slot = slot;
            slot += 1;
        };
        if let Some(union) = &mut rules.union {
            assign(&mut union.any);
            assign(&mut union.all);
        }
        for matcher in &mut patterns {
            matcher.regexes.iter_mut().for_each(&mut assign);
        }
        for matcher in &mut contexts {
            assign(&mut matcher.key);
            if let Some(value) = &mut matcher.value {
                assign(value);
            }
        }
        rules.slots = slot;
        rules.patterns = patterns;
        rules.contexts = contexts;
        Ok(rules)
    }

    /// Whether no text rule is enabled: text then needs no scan.
    pub(super) fn none_enabled(&self) -> bool {
        self.union.is_none() && self.standalone.is_empty() && !self.hl7.iter().any(|m| m.enabled)
    }

    /// The text rule of rule index `rule`, if it is one.
    pub(super) fn text_rule(&self, rule: usize) -> Option<TextRule> {
        let pattern = self.patterns.iter().position(|m| m.rule == rule);
        let context = self.contexts.iter().position(|m| m.rule == rule);
        let hl7 = self.hl7.iter().position(|m| m.rule == rule);
        pattern
            .map(TextRule::Pattern)
            .or(context.map(TextRule::Context))
            .or(hl7.map(TextRule::Hl7))
    }

    pub(super) fn new_scratch(&self) -> Scratch {
        Scratch {
            owner: self.id,
            caches: (0..self.slots).map(|_| None).collect(),
            patset: PatternSet::new(self.union.as_ref().map_or(0, |u| u.sources.len())),
            hits: Vec::new(),
            view: view::View::default(),
            out: String::new(),
            rules_in_union: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// See [`Redactor::pattern_sources`](super::Redactor::pattern_sources).
    pub(super) fn pattern_sources(&self) -> Vec<String> {
        let mut sources = Vec::new();
        for matcher in self.patterns.iter().filter(|m| m.enabled) {
            sources.extend(matcher.sources.iter().map(|s| format!("(?-u){s}")));
        }
        for matcher in self.contexts.iter().filter(|m| m.enabled) {
            let value = match (&matcher.value_source, matcher.extent) {
                (Some(value), _) => format!("(?:{value})"),
                (None, ValueExtent::Token) => r#"[^\s&,;"}\])|<>\\]{1,256}"#.to_owned(),
                (None, _) => r#"[^\r\n&;"}\]|<>\\=]{1,256}"#.to_owned(),
            };
            sources.push(format!(
                r#"(?-u){}[ \t]{{0,8}}(?:\\?"|')?{}"#,
                matcher.key_source, value
            ));
        }
        for matcher in self.hl7.iter().filter(|m| m.enabled) {
            sources.push(format!(
                r"(?-u)(?:^|\r|\\r){}\|[^\r\n]{{1,4096}}",
                matcher.segment
            ));
        }
        sources
    }

    /// Whether `scratch` was made for these rules.
    pub(super) fn owns(&self, scratch: &Scratch) -> bool {
        scratch.owner == self.id
    }

    /// Appends to `scratch.hits` every hit in `text` and in its decoded views,
    /// as spans of `text`. Charges every byte read to `budget`.
    pub(super) fn find(
        &self,
        text: &[u8],
        only: Only,
        allow: &[AllowList],
        scratch: &mut Scratch,
        budget: &mut Budget,
    ) -> Result<(), RedactionFailureReason> {
        let Scratch {
            caches,
            patset,
            hits,
            view,
            ..
        } = scratch;
        budget.spend(text.len())?;
        self.find_layer(text, only, allow, caches, patset, &mut |hit| hits.push(hit));
        for encoding in view::ENCODINGS {
            if !view::decode(encoding, text, view) {
                continue;
            }
            budget.spend(view.bytes.len())?;
            let view = &*view;
            self.find_layer(&view.bytes, only, allow, caches, patset, &mut |hit| {
                let (start, end) = view.original(hit.start, hit.end);
                hits.push(Hit {
                    start,
                    end,
                    rule: hit.rule,
                });
            });
        }
        Ok(())
    }

    fn find_layer(
        &self,
        text: &[u8],
        only: Only,
        allow: &[AllowList],
        caches: &mut [Option<meta::Cache>],
        patset: &mut PatternSet,
        emit: &mut dyn FnMut(Hit),
    ) {
        match only {
            Only::Enabled => {
                if let Some(union) = &self.union {
                    if self.gate.passes(text) {
                        self.find_through_union(union, text, allow, caches, patset, emit);
                    }
                }
                for &(matcher, pattern) in &self.standalone {
                    find_pattern(&self.patterns[matcher], pattern, text, caches, emit);
                }
                for matcher in self.hl7.iter().filter(|m| m.enabled) {
                    find_hl7(matcher, text, emit);
                }
            }
            Only::Rule(TextRule::Pattern(m)) => {
                for pattern in 0..self.patterns[m].regexes.len() {
                    find_pattern(&self.patterns[m], pattern, text, caches, emit);
                }
            }
            Only::Rule(TextRule::Context(m)) => {
                find_context(&self.contexts[m], text, allow, caches, emit)
            }
            Only::Rule(TextRule::Hl7(m)) => find_hl7(&self.hl7[m], text, emit),
        }
    }

    fn find_through_union(
        &self,
        union: &Union,
        text: &[u8],
        allow: &[AllowList],
        caches: &mut [Option<meta::Cache>],
        patset: &mut PatternSet,
        emit: &mut dyn FnMut(Hit),
    ) {
        let any = with_cache(caches, &union.any, |cache| {
            let input = Input::new(text).earliest(true);
            union.any.regex.search_half_with(cache, &input).is_some()
        });
        if !any {
            return;
        }
        patset.clear();
        with_cache(caches, &union.all, |cache| {
            union
                .all
                .regex
                .which_overlapping_matches_with(cache, &Input::new(text), patset)
        });
        for id in patset.iter() {
            match union.sources[id.as_usize()] {
                UnionSource::Pattern { matcher, pattern } => {
                    find_pattern(&self.patterns[matcher], pattern, text, caches, emit)
                }
                UnionSource::ContextKey { matcher } => {
                    find_context(&self.contexts[matcher], text, allow, caches, emit)
                }
            }
        }
    }
}

/// Runs `f` with the cache of `re`, made on first use.
fn with_cache<R>(
    caches: &mut [Option<meta::Cache>],
    re: &Re,
    f: impl FnOnce(&mut meta::Cache) -> R,
) -> R {
    f(caches[re.slot].get_or_insert_with(|| re.regex.create_cache()))
}

/// Validators read text; a match that is not UTF-8 (a percent-decoded view
/// can hold any byte) cannot be checked and is kept as a hit: fail closed.
fn validates(validator: Validator, matched: &[u8]) -> bool {
    std::str::from_utf8(matched).map_or(true, |text| validator.check(text))
}

fn find_pattern(
    matcher: &PatternMatcher,
    pattern: usize,
    text: &[u8],
    caches: &mut [Option<meta::Cache>],
    emit: &mut dyn FnMut(Hit),
) {
    let re = &matcher.regexes[pattern];
    with_cache(caches, re, |cache| {
        let mut input = Input::new(text);
        while let Some(found) = re.regex.search_with(cache, &input) {
            let valid = matcher
                .validator
                .is_none_or(|validator| validates(validator, &text[found.range()]));
            if valid {
                emit(Hit {
                    start: found.start(),
                    end: found.end(),
                    rule: matcher.rule,
                });
            }
            // Patterns cannot match the empty text (checked at load), so
            // this always moves forward.
            input.set_start(found.end().max(found.start() + 1));
        }
    })
}

fn find_context(
    matcher: &ContextMatcher,
    text: &[u8],
    allow: &[AllowList],
    caches: &mut [Option<meta::Cache>],
    emit: &mut dyn FnMut(Hit),
) {
    // The key's cache is taken out for the loop, since values are checked
    // with another regex (and its cache) inside it.
    let mut key_cache = caches[matcher.key.slot]
        .take()
        .unwrap_or_else(|| matcher.key.regex.create_cache());
    let mut input = Input::new(text);
    while let Some(found) = matcher.key.regex.search_with(&mut key_cache, &input) {
        input.set_start(found.end().max(found.start() + 1));
        let Some(key) = context::whole_key(text, found.start()) else {
            continue;
        };
        if key.contains(&b'.') && exempt(allow, matcher.pack, key) {
            continue;
        }
        context::values(
            text,
            found.end(),
            matcher.extent,
            &mut |start, end, quoted| {
                if let Some(end) = matcher.accept(text, start, end, quoted, caches) {
                    emit(Hit {
                        start,
                        end,
                        rule: matcher.rule,
                    });
                }
            },
        );
    }
    caches[matcher.key.slot] = Some(key_cache);
}

/// Whether the file's allow list exempts a dotted key written in text.
fn exempt(allow: &[AllowList], pack: usize, key: &[u8]) -> bool {
    let Ok(key) = std::str::from_utf8(key) else {
        return false;
    };
    let mut segments = [""; 16];
    let mut count = 0;
    for segment in key.split('.') {
        if count == segments.len() {
            return false;
        }
        segments[count] = segment;
        count += 1;
    }
    allow
        .get(pack)
        .is_some_and(|list| list.exempts(&segments[..count]))
}

fn find_hl7(matcher: &Hl7Matcher, text: &[u8], emit: &mut dyn FnMut(Hit)) {
    hl7::find(text, &matcher.finder, &matcher.fields, &mut |start, end| {
        emit(Hit {
            start,
            end,
            rule: matcher.rule,
        })
    });
}

/// Buffers and automaton caches reused from one text to the next, one per
/// thread ([`super::engine`] keeps it in a thread local). Nothing in it
/// outlives a call but capacity.
pub(super) struct Scratch {
    owner: u64,
    caches: Vec<Option<meta::Cache>>,
    patset: PatternSet,
    /// Hits of the text being scanned, as spans of it.
    pub(super) hits: Vec<Hit>,
    view: view::View,
    /// The replaced text, swapped with the original when a record's string
    /// changes, so its buffer is the next one's output.
    pub(super) out: String,
    pub(super) rules_in_union: Vec<usize>,
    /// Hits per rule of a text given to `redact_text`.
    pub(super) counts: Vec<u64>,
}
