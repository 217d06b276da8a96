//! From hits to replaced text.
//!
//! Hits come from several rules and several views of one text, and they
//! overlap: a phone number inside a labelled value, an SSN found both as
//! written and in the JSON-unescaped view. Overlapping spans are unioned
//! rather than one chosen, because failing closed means the widest reading of
//! what is PHI wins; each union is replaced once, by the rule that comes first
//! in load order among those that hit it, and counted once for every rule
//! that hit it.

/// One rule's hit: a span of the original text and the rule's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::redact) struct Hit {
    pub(in crate::redact) start: usize,
    pub(in crate::redact) end: usize,
    pub(in crate::redact) rule: usize,
}

/// Widens each hit to character boundaries (a byte-level match can end inside
/// a multi-byte character: the whole character goes), then sorts and
/// deduplicates.
pub(in crate::redact) fn normalize(text: &str, hits: &mut Vec<Hit>) {
    for hit in hits.iter_mut() {
        hit.end = hit.end.min(text.len());
        hit.start = hit.start.min(hit.end);
        while !text.is_char_boundary(hit.start) {
            hit.start -= 1;
        }
        while !text.is_char_boundary(hit.end) {
            hit.end += 1;
        }
    }
    hits.retain(|hit| hit.end > hit.start);
    hits.sort_unstable();
    hits.dedup();
}

/// Writes `text` with every union of overlapping hits (normalized) replaced,
/// into `out`. `replace(rule, matched, out)` writes the replacement of the
/// rule chosen for a union; `count(rule)` is called once per union per rule
/// that hit it.
pub(in crate::redact) fn render(
    text: &str,
    hits: &[Hit],
    rules_in_union: &mut Vec<usize>,
    out: &mut String,
    replace: &mut dyn FnMut(usize, &str, &mut String),
    count: &mut dyn FnMut(usize),
) {
    out.clear();
    out.reserve(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < hits.len() {
        let start = hits[i].start;
        let mut end = hits[i].end;
        rules_in_union.clear();
        while i < hits.len() && hits[i].start < end {
            end = end.max(hits[i].end);
            rules_in_union.push(hits[i].rule);
            i += 1;
        }
        rules_in_union.sort_unstable();
        rules_in_union.dedup();
        out.push_str(&text[copied..start]);
        replace(rules_in_union[0], &text[start..end], out);
        for &rule in rules_in_union.iter() {
            count(rule);
        }
        copied = end;
    }
    out.push_str(&text[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(start: usize, end: usize, rule: usize) -> Hit {
        Hit { start, end, rule }
    }

    fn rendered(text: &str, mut hits: Vec<Hit>) -> (String, Vec<usize>) {
        normalize(text, &mut hits);
        let mut out = String::new();
        let mut counted = Vec::new();
        render(
            text,
            &hits,
            &mut Vec::new(),
            &mut out,
            &mut |rule, _, out| out.push_str(&format!("<{rule}>")),
            &mut |rule| counted.push(rule),
        );
        (out, counted)
    }

    #[test]
    fn overlapping_hits_merge_and_the_first_rule_replaces() {
        let (out, counted) = rendered(
            "a 0123456789 b 42 c",
            vec![hit(2, 8, 3), hit(5, 12, 1), hit(15, 17, 2), hit(5, 12, 1)],
        );
        assert_eq!(out, "a <1> b <2> c");
        assert_eq!(counted, [1, 3, 2]);
        // Touching spans stay two replacements.
        let (out, _) = rendered("abcd", vec![hit(0, 2, 0), hit(2, 4, 1)]);
        assert_eq!(out, "<0><1>");
    }

    #[test]
    fn hits_widen_to_whole_characters() {
        let text = "x é y";
        // A hit on the second byte of `é` takes the whole character.
        let (out, _) = rendered(text, vec![hit(3, 4, 0)]);
        assert_eq!(out, "x <0> y");
        let (out, _) = rendered(text, vec![hit(0, 99, 0)]);
        assert_eq!(out, "<0>");
    }
}
