//! What a pattern needs from a text before it can match, read off its syntax
//! tree: the gate in front of the automaton, and the checks that reject
//! patterns the engine cannot bound.

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::redact::error::RuleProblem;

/// The syntax every text regex is compiled with: ASCII classes, boundaries and
/// case folding, so that the lazy DFA never meets a Unicode word boundary it
/// would have to give up on, and matching runs over bytes.
pub(super) fn syntax() -> regex_automata::util::syntax::Config {
    regex_automata::util::syntax::Config::new()
        .unicode(false)
        .utf8(false)
}

/// Parses `pattern` as the engine will and checks that it can be bounded:
/// no empty matches (they would make every position a hit) and a maximum
/// length (the window a candidate is confirmed in).
pub(super) fn parse(pattern: &str) -> Result<Hir, RuleProblem> {
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(|error| RuleProblem::BadRegex {
            pattern: pattern.to_owned(),
            reason: one_line(&error.to_string()),
        })?;
    let unusable = |reason| RuleProblem::UnusablePattern {
        pattern: pattern.to_owned(),
        reason,
    };
    let properties = hir.properties();
    if properties.minimum_len().is_none() {
        return Err(unusable("can never match"));
    }
    if properties.minimum_len() == Some(0) {
        return Err(unusable(
            "can match the empty text; every position would be a hit",
        ));
    }
    if properties.maximum_len().is_none() {
        return Err(unusable(
            "has no maximum length; bound its repetitions (`{1,64}` rather than `+` or `*`)",
        ));
    }
    Ok(hir)
}

/// A regex error as one line: the crate's messages draw the pattern with a
/// caret on several lines.
pub(super) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or("invalid")
        .to_owned()
}

/// What every match of one pattern contains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::redact) enum Need {
    /// At least this many ASCII digits.
    Digits(usize),
    /// At least one of these bytes, all of them punctuation (rare in prose).
    AnyByte(Vec<u8>),
    /// Nothing the gate can check cheaply.
    Nothing,
}

impl Need {
    /// Whether every match holds one of a few bytes that log text rarely has
    /// (`@`, `#`, `$`, `!`, `*`, `~`, `^`, `` ` ``): such a pattern is cheapest
    /// alone, behind `memchr` on those bytes, rather than in the union.
    pub(in crate::redact) fn is_anchored(&self) -> bool {
        match self {
            Need::AnyByte(bytes) => bytes
                .iter()
                .all(|b| matches!(b, b'@' | b'#' | b'$' | b'!' | b'*' | b'~' | b'^' | b'`')),
            _ => false,
        }
    }
}

pub(super) fn need(hir: &Hir) -> Need {
    if let Some(bytes) = needed_bytes(hir) {
        if bytes.len() <= 3 && bytes.iter().all(|b| is_rare(*b)) {
            return Need::AnyByte(bytes);
        }
    }
    match min_digits(hir) {
        0 => Need::Nothing,
        digits => Need::Digits(digits),
    }
}

/// Punctuation that log lines carry little of: a gate on these skips most
/// text. Letters, digits, spaces and the separators of timestamps, paths and
/// versions (`-`, `.`, `/`, `_`, `,`) are everywhere and gate nothing.
fn is_rare(byte: u8) -> bool {
    byte.is_ascii_punctuation() && !matches!(byte, b'-' | b'.' | b'/' | b'_' | b',')
}

/// The fewest ASCII digits any match of `hir` contains.
fn min_digits(hir: &Hir) -> usize {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(literal) => literal.0.iter().filter(|b| b.is_ascii_digit()).count(),
        HirKind::Class(class) => usize::from(class_within_digits(class)),
        HirKind::Repetition(repetition) => {
            (repetition.min as usize).saturating_mul(min_digits(&repetition.sub))
        }
        HirKind::Capture(capture) => min_digits(&capture.sub),
        HirKind::Concat(parts) => parts.iter().map(min_digits).sum(),
        HirKind::Alternation(parts) => parts.iter().map(min_digits).min().unwrap_or(0),
    }
}

fn class_within_digits(class: &Class) -> bool {
    match class {
        Class::Bytes(bytes) => {
            bytes.ranges().iter().next().is_some()
                && bytes
                    .ranges()
                    .iter()
                    .all(|r| r.start() >= b'0' && r.end() <= b'9')
        }
        Class::Unicode(chars) => {
            chars.ranges().iter().next().is_some()
                && chars
                    .ranges()
                    .iter()
                    .all(|r| r.start() >= '0' && r.end() <= '9')
        }
    }
}

/// A small set of bytes of which every match contains at least one, chosen to
/// be as rare as possible; `None` when there is no such set.
fn needed_bytes(hir: &Hir) -> Option<Vec<u8>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(literal) => {
            let best = literal.0.iter().copied().min_by_key(|b| rarity_rank(*b))?;
            Some(vec![best])
        }
        HirKind::Class(Class::Bytes(bytes)) => {
            let mut set = Vec::new();
            for range in bytes.ranges() {
                for byte in range.start()..=range.end() {
                    set.push(byte);
                    if set.len() > 8 {
                        return None;
                    }
                }
            }
            Some(set)
        }
        HirKind::Class(Class::Unicode(_)) => None,
        HirKind::Repetition(repetition) if repetition.min > 0 => needed_bytes(&repetition.sub),
        HirKind::Repetition(_) => None,
        HirKind::Capture(capture) => needed_bytes(&capture.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .filter_map(needed_bytes)
            .min_by_key(|set| (set.iter().map(|b| rarity_rank(*b)).max(), set.len())),
        HirKind::Alternation(parts) => {
            let mut union = Vec::new();
            for part in parts {
                union.extend(needed_bytes(part)?);
            }
            union.sort_unstable();
            union.dedup();
            (union.len() <= 8).then_some(union)
        }
    }
}

/// Lower is rarer in log text.
fn rarity_rank(byte: u8) -> u8 {
    if is_rare(byte) {
        0
    } else if byte.is_ascii_punctuation() {
        1
    } else if byte.is_ascii_uppercase() {
        2
    } else if byte.is_ascii_digit() {
        3
    } else {
        4
    }
}

/// The cheap test that runs before the automaton: can this text hold a match
/// of any enabled pattern at all?
///
/// The fact it relies on: a text with fewer digits than the least any digit
/// pattern needs, and none of the rare bytes the other patterns need (`=` and
/// `:` for labelled values), cannot match. Counting digits vectorizes and
/// `memchr3` is SIMD (several GB/s), so the test costs a small fraction of the
/// automaton's pass over the same bytes (about 0.6 GB/s for the built-in
/// pack's union on the corpus of benches/redact_text.rs). It pays on prose:
/// short values, messages without digits or separators. Log lines carrying a
/// timestamp pass it, and there the automaton does the work.
#[derive(Clone, Debug, Default)]
pub(super) struct Gate {
    /// `None`: the gate lets everything through.
    test: Option<GateTest>,
}

#[derive(Clone, Debug)]
struct GateTest {
    /// `usize::MAX` when no pattern is gated by digits.
    min_digits: usize,
    /// At most three bytes, any of which lets the text through.
    bytes: Vec<u8>,
}

impl Gate {
    pub(super) fn new(needs: impl IntoIterator<Item = Need>) -> Gate {
        let mut min_digits = usize::MAX;
        let mut bytes = Vec::new();
        for need in needs {
            match need {
                Need::Nothing => return Gate::default(),
                Need::Digits(digits) => min_digits = min_digits.min(digits),
                Need::AnyByte(set) => bytes.extend(set),
            }
        }
        bytes.sort_unstable();
        bytes.dedup();
        if bytes.len() > 3 {
            return Gate::default();
        }
        Gate {
            test: Some(GateTest { min_digits, bytes }),
        }
    }

    pub(super) fn passes(&self, text: &[u8]) -> bool {
        let Some(test) = &self.test else {
            return true;
        };
        let found_byte = match test.bytes[..] {
            [] => false,
            [a] => memchr::memchr(a, text).is_some(),
            [a, b] => memchr::memchr2(a, b, text).is_some(),
            [a, b, c, ..] => memchr::memchr3(a, b, c, text).is_some(),
        };
        found_byte || (test.min_digits != usize::MAX && has_digits(text, test.min_digits))
    }
}

/// Whether `text` holds at least `wanted` ASCII digits. Counts in blocks so
/// the inner loop vectorizes, and stops at the first block that reaches it.
fn has_digits(text: &[u8], wanted: usize) -> bool {
    let mut seen = 0;
    for block in text.chunks(64) {
        seen += block
            .iter()
            .map(|b| usize::from(b.wrapping_sub(b'0') < 10))
            .sum::<usize>();
        if seen >= wanted {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need_of(pattern: &str) -> Need {
        need(&parse(pattern).unwrap())
    }

    #[test]
    fn needs_are_read_off_the_syntax() {
        assert_eq!(need_of(r"\b\d{3}-\d{2}-\d{4}\b"), Need::Digits(9));
        assert_eq!(need_of(r"(?:\d{3}|x)-\d{4}"), Need::Digits(4));
        assert_eq!(
            need_of(r"[a-z]{1,64}@[a-z]{1,64}\.[a-z]{2,8}"),
            Need::AnyByte(vec![b'@'])
        );
        assert_eq!(
            need_of(r"(?i)\b(?:name|dob)[ \t]{0,4}[:=]"),
            Need::AnyByte(vec![b':', b'='])
        );
        assert_eq!(need_of(r"(?i)\bpatient\b"), Need::Nothing);
    }

    #[test]
    fn unbounded_and_empty_patterns_are_rejected() {
        for pattern in [r"\d+", r"a*", r"x?", r"(?:)", "[a&&b]"] {
            assert!(parse(pattern).is_err(), "{pattern}");
        }
        assert!(parse(r"\d{1,9}").is_ok());
    }

    #[test]
    fn the_gate_passes_what_could_match() {
        let gate = Gate::new([Need::Digits(9), Need::AnyByte(vec![b'@'])]);
        assert!(!gate.passes(b"started worker pool size 8"));
        assert!(gate.passes(b"mail a@b"));
        assert!(gate.passes(b"call 555 123 4567"));
        assert!(gate.passes(&[b'1'; 200]));
        assert!(Gate::new([Need::Digits(2), Need::Nothing]).passes(b"no digits"));
        assert!(!Gate::new([]).passes(b"anything"));
    }
}
