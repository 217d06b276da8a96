//! What a pattern rule must leave alone although it matches: spans that
//! operators debug with and that a shape-only pattern cannot tell from PHI.
//! A span id is sixteen hex digits; one in twenty thousand is all decimal,
//! and some of those pass a card number's Luhn check. A rule's `keep`
//! regexes describe the tokens around such a match (`[<trace id>-<span id>]`,
//! `span_id=…`, a UUID); a match that lies wholly inside a keep match is not
//! a hit.
//!
//! This only runs for a match that already passed its pattern and validator,
//! which is rare, so it searches plainly: an anchored search at each place a
//! keep match could start and still cover the hit.

use regex_automata::{meta, Anchored, Input};

use super::analysis::{one_line, parse, syntax};
use crate::redact::error::RuleProblem;

#[derive(Debug)]
pub(in crate::redact) struct Keep {
    regex: meta::Regex,
    /// The longest text any keep regex matches: how far before a hit one
    /// can start.
    max_len: usize,
}

impl Keep {
    /// Compiles a rule's keep regexes; `None` when it has none.
    pub(in crate::redact) fn new(patterns: &[String]) -> Result<Option<Keep>, RuleProblem> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let mut max_len = 0;
        for pattern in patterns {
            let hir = parse(pattern)?;
            // `parse` rejects regexes without a maximum length.
            max_len = max_len.max(hir.properties().maximum_len().unwrap_or(0));
        }
        let regex = meta::Builder::new()
            .syntax(syntax())
            .build_many(patterns)
            .map_err(|error| RuleProblem::BadRegex {
                pattern: patterns.join(" | "),
                reason: one_line(&error.to_string()),
            })?;
        Ok(Some(Keep { regex, max_len }))
    }

    /// Whether some keep match contains `start..end` of `text`.
    pub(super) fn covers(&self, text: &[u8], start: usize, end: usize) -> bool {
        let first = end.saturating_sub(self.max_len);
        (first..=start).any(|at| {
            let input = Input::new(text)
                .range(at..text.len().min(at + self.max_len))
                .anchored(Anchored::Yes);
            self.regex
                .search(&input)
                .is_some_and(|found| found.end() >= end)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_inside_a_kept_token_is_covered() {
        let keep = Keep::new(&[
            r"\b[0-9a-f]{32}-[0-9a-f]{16}\b".to_owned(),
            r"(?i)\bspan_id=[0-9a-f]{16}\b".to_owned(),
        ])
        .unwrap()
        .unwrap();
        let text = b"[a9fe7d472fb1c0415f5b1115f0348284-2279809082470596] span_id=5487007279975250 card 4111111111111111";
        assert!(keep.covers(text, 34, 50));
        assert!(keep.covers(text, 60, 76));
        assert!(!keep.covers(text, 82, 98));
        // Part of a kept token, but reaching past it.
        assert!(!keep.covers(text, 40, 52));
        assert!(Keep::new(&[]).unwrap().is_none());
        assert!(Keep::new(&["a+".to_owned()]).is_err());
    }
}
