//! Text rules (`kind: pattern`, `kind: context`, `kind: hl7`) compiled for one
//! pass over the bytes, and the search that applies them.
//!
//! Every enabled pattern and every context rule's key regex go into one
//! multi-pattern lazy DFA (`regex_automata::hybrid`, `MatchKind::All`). A
//! text first meets the gate ([`analysis::Gate`]) and a length check (shorter
//! than the shortest possible match: nothing to do); if it passes, one
//! overlapping forward pass of the DFA reports every (pattern, match end)
//! pair. That pass is all the common, no-PHI case costs, and it allocates
//! nothing. Every pattern has a maximum match length (checked at load), so a
//! match of pattern `p` ending at `e` starts no earlier than `e - maxlen(p)`:
//! each reported end gives a window, a pattern's overlapping windows are
//! merged, and the pattern (or the context rule's key loop) runs alone,
//! leftmost-first, inside each merged window only (look-around still sees
//! the bytes outside it). Since every match of the pattern lies inside one
//! merged window, this finds exactly what running the pattern over the whole
//! text finds, so a match of one pattern never hides a match of another and
//! the result is the same as running each rule on its own. HL7 rules find
//! their segment id with `memmem`, after one pass that says whether any
//! segment start holds one of their ids. Then the text's decoded views
//! (`view.rs`) go through the same search, their hits mapped back.

mod analysis;
mod context;
mod hl7;
mod keep;
mod merge;
mod view;

use std::sync::atomic::{AtomicU64, Ordering};

use std::ops::Range;

use memchr::memmem;
use regex_automata::hybrid::dfa::{Cache as DfaCache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::{meta, Anchored, Input, MatchKind};

use super::engine::{AllowList, Budget};
use super::error::RuleProblem;
use super::rules::{Examples, ValueExtent};
use super::validate::Validator;
use crate::internal_events::{RedactionFailureReason, RedactionsCounter};

pub(super) use analysis::Need;
use analysis::{one_line, parse, syntax};
pub(super) use context::{key_regex, label_words, normalize_label};
pub(super) use keep::Keep;
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
        meta::Builder::new()
            .syntax(syntax())
            .configure(meta::Config::new().hybrid_cache_capacity(HYBRID_CACHE_BYTES))
            .build(pattern)
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
    pub(super) keep: Option<Keep>,
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
        self.accept(text, 0, text.len(), true, &mut scratch.caches[..])
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
        caches: &mut (impl Caches + ?Sized),
    ) -> Option<usize> {
        let mut candidate = end;
        for _ in 0..MAX_VALUE_ENDS {
            let input = Input::new(text)
                .range(start..candidate)
                .anchored(Anchored::Yes);
            // Look-around sees the same bytes whatever the range's end, so a
            // match within a shorter range is one within this one too: no
            // match here means none at any earlier break.
            let found = re.regex.search_with(caches.cache(re), &input)?;
            if context::ends_value(text, found.end(), candidate) {
                return Some(found.end());
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
        caches: &mut (impl Caches + ?Sized),
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
    /// Every match end of every pattern, overlapping.
    dfa: DFA,
    sources: Vec<UnionSource>,
    /// Per pattern, the longest match in bytes: how far before a reported
    /// end its match can start. `usize::MAX` (the whole text before the end)
    /// if the syntax gives none, which [`parse`] does not let through.
    max_lens: Vec<usize>,
    /// The shortest match of any pattern: a shorter text (a short JSON value)
    /// needs no pass at all.
    min_len: usize,
}

impl Union {
    fn build(patterns: &[&str], sources: Vec<UnionSource>) -> Result<Union, String> {
        let dfa = DFA::builder()
            .syntax(syntax())
            .thompson(thompson::Config::new().utf8(false))
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(HYBRID_CACHE_BYTES),
            )
            .build_many(patterns)
            .map_err(|error| one_line(&error.to_string()))?;
        let mut max_lens = Vec::with_capacity(patterns.len());
        let mut min_len = usize::MAX;
        for pattern in patterns {
            let properties = parse(pattern).map(|hir| hir.properties().clone());
            let properties = properties.as_ref().ok();
            max_lens.push(
                properties
                    .and_then(|p| p.maximum_len())
                    .unwrap_or(usize::MAX),
            );
            min_len = min_len.min(properties.and_then(|p| p.minimum_len()).unwrap_or(0));
        }
        Ok(Union {
            dfa,
            sources,
            max_lens,
            min_len,
        })
    }
}

/// A pattern's window being grown during the union pass: `start..end`, or
/// none yet.
const NO_WINDOW: (usize, usize) = (usize::MAX, 0);

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
    /// Per entry of `standalone`, the bytes one of which every match holds.
    standalone_bytes: Vec<Vec<u8>>,
    gate: analysis::Gate,
    /// The segment ids of the enabled HL7 rules; `None` if one is not three
    /// bytes (the loader allows no such id), and then no text skips them.
    hl7_ids: Option<Vec<[u8; 3]>>,
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
        let mut standalone_bytes = Vec::new();
        for (m, matcher) in patterns.iter().enumerate().filter(|(_, m)| m.enabled) {
            for (p, source) in matcher.sources.iter().enumerate() {
                if let Need::AnyByte(bytes) = &matcher.needs[p] {
                    if matcher.needs[p].is_anchored() {
                        standalone.push((m, p));
                        standalone_bytes.push(bytes.clone());
                        continue;
                    }
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
            Some(Union::build(&texts, sources)?)
        };
        let hl7_ids = hl7
            .iter()
            .filter(|m| m.enabled)
            .map(|m| m.segment.as_bytes().try_into().ok())
            .collect();
        let mut rules = TextRules {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            patterns: Vec::new(),
            contexts: Vec::new(),
            hl7,
            union,
            standalone,
            standalone_bytes,
            gate: analysis::Gate::new(needs),
            hl7_ids,
            slots: 0,
        };
        let mut slot = 0;
        let mut assign = |re: &mut Re| {
            re.slot = slot;
            slot += 1;
        };
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
            union_cache: None,
            windows: vec![NO_WINDOW; self.union.as_ref().map_or(0, |u| u.sources.len())],
            hits: Vec::new(),
            view: view::View::default(),
            out: String::new(),
            rules_in_union: Vec::new(),
            counts: Vec::new(),
            saved_hits: Vec::new(),
            counters: Vec::new(),
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

    /// See [`Redactor::automaton_pass`](super::Redactor::automaton_pass).
    pub(super) fn union_pass(&self, text: &[u8], scratch: &mut Scratch) -> usize {
        let Some(union) = &self.union else {
            return 0;
        };
        let cache = scratch
            .union_cache
            .get_or_insert_with(|| union.dfa.create_cache());
        let mut ends = 0;
        // The walk cannot fail (see `find_through_union`); a failure counts
        // as no ends, which only makes this floor look faster.
        let _ = each_match_end(&union.dfa, cache, text, |_, _| ends += 1);
        ends
    }

    /// See [`Redactor::automaton_busy_bytes`](super::Redactor::automaton_busy_bytes).
    pub(super) fn union_busy_bytes(&self, text: &[u8], scratch: &mut Scratch) -> Option<usize> {
        let union = self.union.as_ref()?;
        let dfa = &union.dfa;
        let cache = scratch
            .union_cache
            .get_or_insert_with(|| dfa.create_cache());
        let mut sid = dfa.start_state_forward(cache, &Input::new(text)).ok()?;
        let mut busy = 0;
        for at in 0..text.len() {
            sid = dfa.next_state(cache, sid, text[at]).ok()?;
            // What a walk started afresh after this byte would be in: the
            // unanchored start state, with this byte as what comes before.
            let fresh = dfa
                .start_state_forward(cache, &Input::new(text).range(at + 1..))
                .ok()?;
            busy += usize::from(sid != fresh);
        }
        Some(busy)
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
            union_cache,
            windows,
            hits,
            view,
            ..
        } = scratch;
        let mut search = Search {
            allow,
            caches,
            union_cache,
            windows,
        };
        budget.spend(text.len())?;
        self.find_layer(text, only, &mut search, &mut |hit| hits.push(hit));
        for encoding in view::ENCODINGS {
            if !view::decode(encoding, text, view) {
                continue;
            }
            budget.spend(view.bytes.len())?;
            let view = &*view;
            self.find_layer(&view.bytes, only, &mut search, &mut |hit| {
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
        search: &mut Search<'_>,
        emit: &mut dyn FnMut(Hit),
    ) {
        let whole = 0..text.len();
        match only {
            Only::Enabled => {
                if let Some(union) = &self.union {
                    if text.len() >= union.min_len && self.gate.passes(text) {
                        self.find_through_union(union, text, search, emit);
                    }
                }
                for (&(matcher, pattern), bytes) in
                    self.standalone.iter().zip(&self.standalone_bytes)
                {
                    if has_any_byte(text, bytes) {
                        let matcher = &self.patterns[matcher];
                        find_pattern(matcher, pattern, text, whole.clone(), search.caches, emit);
                    }
                }
                let segments = match &self.hl7_ids {
                    Some(ids) => !ids.is_empty() && hl7::any_segment(text, ids),
                    None => true,
                };
                if segments {
                    for matcher in self.hl7.iter().filter(|m| m.enabled) {
                        find_hl7(matcher, text, emit);
                    }
                }
            }
            Only::Rule(TextRule::Pattern(m)) => {
                for pattern in 0..self.patterns[m].regexes.len() {
                    find_pattern(
                        &self.patterns[m],
                        pattern,
                        text,
                        whole.clone(),
                        search.caches,
                        emit,
                    );
                }
            }
            Only::Rule(TextRule::Context(m)) => find_context(
                &self.contexts[m],
                text,
                whole,
                search.allow,
                search.caches,
                emit,
            ),
            Only::Rule(TextRule::Hl7(m)) => find_hl7(&self.hl7[m], text, emit),
        }
    }

    /// One overlapping pass names every (pattern, match end); each pattern
    /// then runs alone in the merged windows its ends give (see the module
    /// doc). A window is confirmed as soon as a later end of its pattern
    /// falls past it, so what is held stays one window per pattern however
    /// many matches the text has.
    fn find_through_union(
        &self,
        union: &Union,
        text: &[u8],
        search: &mut Search<'_>,
        emit: &mut dyn FnMut(Hit),
    ) {
        let Search {
            allow,
            caches,
            union_cache,
            windows,
        } = search;
        let cache = union_cache.get_or_insert_with(|| union.dfa.create_cache());
        let mut any = false;
        let walked = each_match_end(&union.dfa, cache, text, |pattern, end| {
            if !any {
                any = true;
                windows.fill(NO_WINDOW);
            }
            let start = end.saturating_sub(union.max_lens[pattern]);
            let window = &mut windows[pattern];
            if window.0 != usize::MAX && start <= window.1 {
                window.1 = end;
                return;
            }
            let (done_start, done_end) = std::mem::replace(window, (start, end));
            if done_start != usize::MAX {
                self.confirm(
                    union,
                    pattern,
                    done_start..done_end,
                    text,
                    allow,
                    caches,
                    emit,
                );
            }
        });
        if walked.is_err() {
            // The DFA is built to neither quit nor give up, so this is not
            // expected; if it happens, fail closed: every pattern over the
            // whole text, as if each had matched at its end (a window already
            // confirmed is found again, and hits are deduplicated when
            // normalized).
            for pattern in 0..union.sources.len() {
                self.confirm(union, pattern, 0..text.len(), text, allow, caches, emit);
            }
            return;
        }
        if !any {
            return;
        }
        for pattern in 0..union.sources.len() {
            let (start, end) = windows[pattern];
            if start != usize::MAX {
                self.confirm(union, pattern, start..end, text, allow, caches, emit);
            }
        }
    }

    /// Runs union pattern `pattern` alone in `window` of `text`.
    #[allow(clippy::too_many_arguments)]
    fn confirm(
        &self,
        union: &Union,
        pattern: usize,
        window: Range<usize>,
        text: &[u8],
        allow: &[AllowList],
        caches: &mut [Option<meta::Cache>],
        emit: &mut dyn FnMut(Hit),
    ) {
        match union.sources[pattern] {
            UnionSource::Pattern { matcher, pattern } => {
                find_pattern(&self.patterns[matcher], pattern, text, window, caches, emit)
            }
            UnionSource::ContextKey { matcher } => {
                find_context(&self.contexts[matcher], text, window, allow, caches, emit)
            }
        }
    }
}

/// What a search borrows from the scratch.
struct Search<'s> {
    allow: &'s [AllowList],
    caches: &'s mut [Option<meta::Cache>],
    union_cache: &'s mut Option<DfaCache>,
    /// Per union pattern, its open window ([`TextRules::find_through_union`]).
    windows: &'s mut [(usize, usize)],
}

/// Calls `on_match(pattern, end)` for every pattern of `dfa` (built with
/// `MatchKind::All`) that has a match ending at `end`, in order of `end`:
/// what an overlapping search reports, walked in one loop. The library's
/// overlapping search returns to its caller at every match and keeps its
/// position in memory; on lines where labels match every few bytes that
/// cost about as much as the walk itself.
fn each_match_end(
    dfa: &DFA,
    cache: &mut DfaCache,
    text: &[u8],
    mut on_match: impl FnMut(usize, usize),
) -> Result<(), ()> {
    let mut sid = dfa
        .start_state_forward(cache, &Input::new(text))
        .map_err(drop)?;
    for (at, &byte) in text.iter().enumerate() {
        sid = if sid.is_tagged() {
            dfa.next_state(cache, sid, byte).map_err(drop)?
        } else {
            let next = dfa.next_state_untagged(cache, sid, byte);
            if next.is_unknown() {
                dfa.next_state(cache, sid, byte).map_err(drop)?
            } else {
                next
            }
        };
        if sid.is_tagged() {
            if sid.is_match() {
                // Matches are delayed by one byte: this state says what
                // ended just before `at`.
                for index in 0..dfa.match_len(cache, sid) {
                    on_match(dfa.match_pattern(cache, sid, index).as_usize(), at);
                }
            } else if sid.is_dead() {
                return Ok(());
            } else if sid.is_quit() {
                return Err(());
            }
        }
    }
    sid = dfa.next_eoi_state(cache, sid).map_err(drop)?;
    if sid.is_match() {
        for index in 0..dfa.match_len(cache, sid) {
            on_match(dfa.match_pattern(cache, sid, index).as_usize(), text.len());
        }
    }
    Ok(())
}

/// Whether `text` holds one of `bytes` (at most three are read: a pattern's
/// [`Need::AnyByte`] set kept out of the union has one to three).
fn has_any_byte(text: &[u8], bytes: &[u8]) -> bool {
    match *bytes {
        [a] => memchr::memchr(a, text).is_some(),
        [a, b] => memchr::memchr2(a, b, text).is_some(),
        [a, b, c] => memchr::memchr3(a, b, c, text).is_some(),
        _ => true,
    }
}

/// Where a regex finds its cache (made on first use).
pub(super) trait Caches {
    fn cache(&mut self, re: &Re) -> &mut meta::Cache;
}

impl Caches for [Option<meta::Cache>] {
    fn cache(&mut self, re: &Re) -> &mut meta::Cache {
        self[re.slot].get_or_insert_with(|| re.regex.create_cache())
    }
}

/// Every cache but the one at `slot`, which is borrowed elsewhere.
struct SplitCaches<'c> {
    before: &'c mut [Option<meta::Cache>],
    after: &'c mut [Option<meta::Cache>],
    slot: usize,
}

impl Caches for SplitCaches<'_> {
    fn cache(&mut self, re: &Re) -> &mut meta::Cache {
        let entry = match re.slot.cmp(&self.slot) {
            std::cmp::Ordering::Less => &mut self.before[re.slot],
            std::cmp::Ordering::Greater => &mut self.after[re.slot - self.slot - 1],
            std::cmp::Ordering::Equal => unreachable!("the key's cache is borrowed apart"),
        };
        entry.get_or_insert_with(|| re.regex.create_cache())
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

/// Every leftmost-first match of one pattern that lies inside `span` of
/// `text` (look-around sees the whole text).
fn find_pattern(
    matcher: &PatternMatcher,
    pattern: usize,
    text: &[u8],
    span: Range<usize>,
    caches: &mut [Option<meta::Cache>],
    emit: &mut dyn FnMut(Hit),
) {
    let re = &matcher.regexes[pattern];
    with_cache(caches, re, |cache| {
        let mut input = Input::new(text).range(span);
        while let Some(found) = re.regex.search_with(cache, &input) {
            let valid = matcher
                .validator
                .is_none_or(|validator| validates(validator, &text[found.range()]))
                && !matcher
                    .keep
                    .as_ref()
                    .is_some_and(|keep| keep.covers(text, found.start(), found.end()));
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

/// Every labelled value whose key's leftmost-first match lies inside `span`
/// of `text`; the value itself may reach past it.
fn find_context(
    matcher: &ContextMatcher,
    text: &[u8],
    span: Range<usize>,
    allow: &[AllowList],
    caches: &mut [Option<meta::Cache>],
    emit: &mut dyn FnMut(Hit),
) {
    // Values are checked with another regex (and its cache) inside the loop,
    // so the key's cache is borrowed apart from the rest; taking it out
    // instead copied the whole cache twice per window.
    let slot = matcher.key.slot;
    let (before, rest) = caches.split_at_mut(slot);
    let (key_cache, after) = rest.split_first_mut().expect("every regex has a slot");
    let key_cache = key_cache.get_or_insert_with(|| matcher.key.regex.create_cache());
    let mut value_caches = SplitCaches {
        before,
        after,
        slot,
    };
    let mut input = Input::new(text).range(span);
    while let Some(found) = matcher.key.regex.search_with(key_cache, &input) {
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
                if let Some(end) = matcher.accept(text, start, end, quoted, &mut value_caches) {
                    emit(Hit {
                        start,
                        end,
                        rule: matcher.rule,
                    });
                }
            },
        );
    }
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
    union_cache: Option<DfaCache>,
    /// One per union pattern; only read after the pass that fills it.
    windows: Vec<(usize, usize)>,
    /// Hits of the text being scanned, as spans of it.
    pub(super) hits: Vec<Hit>,
    view: view::View,
    /// The replaced text, swapped with the original when a record's string
    /// changes, so its buffer is the next one's output.
    pub(super) out: String,
    pub(super) rules_in_union: Vec<usize>,
    /// Hits per rule of a text given to `redact_text`.
    pub(super) counts: Vec<u64>,
    /// Hits per rule saved before a document is walked over its bytes, to
    /// be put back if that reader gives up; a stack, as documents nest.
    pub(super) saved_hits: Vec<u64>,
    /// Per rule index, its `/metrics` counter once a text has counted a hit
    /// of it on this thread.
    counters: Vec<Option<RedactionsCounter>>,
}

impl Scratch {
    /// The counter of rule index `rule`, whose id is `id`.
    pub(super) fn counter(&mut self, rule: usize, id: &str) -> &RedactionsCounter {
        if self.counters.len() <= rule {
            self.counters.resize(rule + 1, None);
        }
        self.counters[rule].get_or_insert_with(|| RedactionsCounter::new(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::rules::Separator;

    fn no_examples() -> Examples {
        Examples {
            matching: Vec::new(),
            no_match: Vec::new(),
        }
    }

    fn pattern_rule(rule: usize, sources: &[&str]) -> PatternMatcher {
        let (regexes, needs) = sources.iter().map(|s| compile(s).unwrap()).unzip();
        PatternMatcher {
            rule,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            regexes,
            needs,
            validator: None,
            keep: None,
            enabled: true,
            examples: no_examples(),
        }
    }

    fn context_rule(
        rule: usize,
        labels: &[&str],
        subjects: &[&str],
        separator: Separator,
        value: Option<&str>,
        extent: ValueExtent,
    ) -> ContextMatcher {
        let words = |list: &[&str]| list.iter().map(|l| label_words(l)).collect::<Vec<_>>();
        let key_source = key_regex(&words(labels), &words(subjects), separator);
        let (key, key_need) = compile(&key_source).unwrap();
        ContextMatcher {
            rule,
            pack: 0,
            labels: labels.iter().filter_map(|l| normalize_label(l)).collect(),
            key_source,
            key,
            key_need,
            value_source: value.map(str::to_owned),
            value: value.map(|v| compile_value(v).unwrap()),
            extent,
            validator: None,
            enabled: true,
            examples: no_examples(),
        }
    }

    /// Patterns whose matches chain (one ends where the next starts),
    /// overlap, nest, prefer an earlier alternative, or depend on look-around
    /// at a window's edge.
    fn rules() -> TextRules {
        let patterns = vec![
            pattern_rule(0, &[r"\b\d{3}-\d{2}-\d{4}\b"]),
            pattern_rule(1, &[r"\d{2,4}", r"[0-9a-f]{8}"]),
            pattern_rule(2, &[r"(?:ab|a)(?:bc)?c{0,3}"]),
            pattern_rule(3, &[r"x[a-z ]{0,10}y", r"\bfoo\b|\bfoo bar\b"]),
            pattern_rule(4, &[r"^\d{3}", r"\d{3}$", r"(?m)^ab"]),
            pattern_rule(5, &[r"[a-z]{1,8}@[a-z]{1,8}\.[a-z]{2,3}"]),
        ];
        let contexts = vec![
            context_rule(
                6,
                &["dob", "date_of_birth"],
                &["patient"],
                Separator::Loose,
                Some(r"\d{1,4}[-/]\d{1,2}[-/]\d{1,4}"),
                ValueExtent::Token,
            ),
            context_rule(
                7,
                &["name", "full_name"],
                &[],
                Separator::Strict,
                None,
                ValueExtent::Phrase,
            ),
        ];
        TextRules::new(patterns, contexts, Vec::new()).unwrap()
    }

    fn hits(rules: &TextRules, text: &str, only: Only, scratch: &mut Scratch) -> Vec<Hit> {
        scratch.hits.clear();
        let mut budget = Budget::new(usize::MAX, 0);
        rules
            .find(text.as_bytes(), only, &[], scratch, &mut budget)
            .unwrap();
        let mut found = std::mem::take(&mut scratch.hits);
        found.sort_unstable();
        found.dedup();
        found
    }

    #[test]
    fn windowed_search_finds_what_each_rule_finds_alone() {
        const PIECES: [&str; 32] = [
            "123",
            "-",
            "45",
            "6789",
            "0",
            "ab",
            "abc",
            "c",
            "cc",
            " ",
            "x",
            "y",
            "foo",
            " bar",
            "dob",
            "=",
            ": ",
            "#",
            "patient_",
            "name",
            "Jane Roe",
            "@",
            "a@b.org",
            ".com",
            "\\\"",
            "%40",
            "%2D",
            "deadbeef",
            "\n",
            "12/31/1999",
            "+",
            "date_of_birth",
        ];
        let rules = rules();
        let mut scratch = rules.new_scratch();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let mut texts: Vec<String> = vec![
            "123-45-6789".into(),
            "1234567890123".into(),
            "abcbcccabcc ab abc".into(),
            "xaaaaaaaaaay xay xxy foo bar foo".into(),
            "patient dob 1999-12-31 dob=12/31/1999 name=Jane Roe".into(),
            "deadbeefdeadbeef0123456789".into(),
            "mail a@b.org, c@d.com 123".into(),
        ];
        for _ in 0..400 {
            let pieces = 1 + next(40);
            texts.push((0..pieces).map(|_| PIECES[next(PIECES.len())]).collect());
        }
        let alone: Vec<TextRule> = (0..rules.patterns.len())
            .map(TextRule::Pattern)
            .chain((0..rules.contexts.len()).map(TextRule::Context))
            .collect();
        let mut matched = 0;
        for text in &texts {
            let together = hits(&rules, text, Only::Enabled, &mut scratch);
            let mut each: Vec<Hit> = alone
                .iter()
                .flat_map(|&rule| hits(&rules, text, Only::Rule(rule), &mut scratch))
                .collect();
            each.sort_unstable();
            each.dedup();
            assert_eq!(together, each, "{text:?}");
            matched += usize::from(!together.is_empty());
        }
        assert!(matched > texts.len() / 2, "the texts exercise the rules");
    }
}
