//! Key paths and the patterns that select them.
//!
//! The path of a value is its object keys joined with `.`; array levels are
//! transparent, and a key that itself holds dots (ECS style `{"patient.ssn": ..}`)
//! contributes one segment per dot-separated piece, so nested and flattened
//! spellings of a field have the same path. Segments compare ASCII
//! case-insensitively: services disagree on `SSN` versus `ssn`, and a rule must
//! not miss a field over its capitalisation.
//!
//! In a pattern, `*` matches zero or more whole segments: `*.ssn` matches `ssn`,
//! `patient.ssn` and `a.b.ssn`; `patient.*` matches `patient` and everything
//! under it.

use std::cmp::Ordering;

use super::error::RuleProblem;

/// The path of the value being visited, kept as a stack of borrowed segments so
/// that descending and matching never rebuild a `String`.
#[derive(Debug, Default)]
pub(super) struct KeyPath<'k> {
    segments: Vec<&'k str>,
}

impl<'k> KeyPath<'k> {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        KeyPath {
            segments: Vec::with_capacity(capacity),
        }
    }

    /// Enters an object member; returns how many segments to [`leave`](Self::leave)
    /// with, since a dotted key adds more than one.
    pub(super) fn enter(&mut self, key: &'k str) -> usize {
        let before = self.segments.len();
        push_segments(&mut self.segments, key);
        self.segments.len() - before
    }

    pub(super) fn leave(&mut self, entered: usize) {
        self.segments.truncate(self.segments.len() - entered);
    }

    pub(super) fn segments(&self) -> &[&'k str] {
        &self.segments
    }
}

/// Pushes the segments of an object key onto a path: what `key.split('.')`
/// gives, found with `memchr` since this runs for every member of every
/// record.
pub(super) fn push_segments<'k>(path: &mut Vec<&'k str>, key: &'k str) {
    let mut from = 0;
    for dot in memchr::memchr_iter(b'.', key.as_bytes()) {
        path.push(&key[from..dot]);
        from = dot + 1;
    }
    path.push(&key[from..]);
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// `*`: zero or more whole segments.
    Any,
    Key(Box<str>),
}

/// A compiled key-path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PathPattern {
    segments: Vec<Segment>,
}

impl PathPattern {
    pub(super) fn parse(pattern: &str) -> Result<PathPattern, RuleProblem> {
        let bad = |reason: &'static str| RuleProblem::BadPathPattern {
            pattern: pattern.to_owned(),
            reason,
        };
        if pattern.is_empty() {
            return Err(bad("the pattern is empty"));
        }
        let mut segments = Vec::new();
        for piece in pattern.split('.') {
            let segment = match piece {
                "" => return Err(bad("a segment is empty (leading, trailing or doubled `.`)")),
                "*" => Segment::Any,
                key if key.contains('*') => {
                    return Err(bad("`*` must stand for a whole segment, as in `*.ssn`"))
                }
                key => Segment::Key(key.into()),
            };
            // `*.*` means no more than `*`; collapsing keeps matching linear.
            if segment == Segment::Any && segments.last() == Some(&Segment::Any) {
                continue;
            }
            segments.push(segment);
        }
        if segments.iter().all(|s| *s == Segment::Any) {
            return Err(bad("the pattern matches every path; name at least one key"));
        }
        Ok(PathPattern { segments })
    }

    pub(super) fn matches(&self, path: &[&str]) -> bool {
        // Fast reject: almost every pattern ends in a key (`*.ssn`), and almost
        // every visited path ends in some other key, so one comparison settles
        // most calls before the general matcher runs. The keys after a
        // pattern's last `*` can only match the path's last segments, so all
        // of them are compared: allow-lists hold dozens of `*.<thing>.name`.
        let mut tail = path.iter().rev();
        for segment in self.segments.iter().rev() {
            let Segment::Key(key) = segment else { break };
            match tail.next() {
                Some(seg) if seg.eq_ignore_ascii_case(key) => {}
                _ => return false,
            }
        }
        glob(&self.segments, path)
    }
}

impl PathPattern {
    /// Every key the pattern names (not its `*`s).
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Key(key) => Some(&**key),
            Segment::Any => None,
        })
    }

    /// The key a path must end in to match, unless the pattern ends in `*`.
    pub(super) fn last_key(&self) -> Option<&str> {
        match self.segments.last() {
            Some(Segment::Key(key)) => Some(key),
            _ => None,
        }
    }
}

/// The last keys of a set of patterns, so the walk can tell with one binary
/// search that no pattern ending in a key can match the current path. The fact
/// that makes this pay: most keys of a record are operational (`log.level`,
/// `trace.id`) and end in a key that no rule names. `benches/redact_fields.rs`
/// went from 19.6 ms to 13.0 ms per 2,000 records with it.
#[derive(Debug, Default)]
pub(super) struct LastKeys {
    /// Sorted, ASCII-lowercased, deduplicated.
    keys: Vec<Box<str>>,
}

impl LastKeys {
    pub(super) fn new<'p>(patterns: impl IntoIterator<Item = &'p PathPattern>) -> LastKeys {
        let mut keys: Vec<Box<str>> = patterns
            .into_iter()
            .filter_map(PathPattern::last_key)
            .map(|key| key.to_ascii_lowercase().into())
            .collect();
        keys.sort();
        keys.dedup();
        LastKeys { keys }
    }

    #[cfg(test)]
    pub(super) fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Where `key` is in [`keys`](Self::keys), ignoring ASCII case.
    pub(super) fn position(&self, key: &str) -> Option<usize> {
        self.keys
            .binary_search_by(|probe| cmp_ignore_ascii_case(probe, key))
            .ok()
    }

    /// The keys, lowercased, sorted.
    pub(super) fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.keys.iter().map(|key| &**key)
    }
}

fn cmp_ignore_ascii_case(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|b| b.to_ascii_lowercase())
        .cmp(b.bytes().map(|b| b.to_ascii_lowercase()))
}

/// Wildcard matching with single-point backtracking: on a mismatch, the last
/// `*` absorbs one more segment. With `*` as the only wildcard this is exact,
/// and it runs in O(pattern × path) without recursion or allocation.
fn glob(pattern: &[Segment], path: &[&str]) -> bool {
    let (mut p, mut s) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while s < path.len() {
        match pattern.get(p) {
            Some(Segment::Any) => {
                last_star = Some((p, s));
                p += 1;
                continue;
            }
            Some(Segment::Key(key)) if key.eq_ignore_ascii_case(path[s]) => {
                p += 1;
                s += 1;
                continue;
            }
            _ => {}
        }
        match last_star {
            Some((star_p, star_s)) => {
                p = star_p + 1;
                s = star_s + 1;
                last_star = Some((star_p, star_s + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|segment| *segment == Segment::Any)
}

/// Splits a written key path (an example in a rule file) the way the walk
/// would see it.
pub(super) fn split_path(path: &str) -> Vec<&str> {
    path.split('.').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> bool {
        PathPattern::parse(pattern)
            .expect("valid pattern")
            .matches(&split_path(path))
    }

    #[test]
    fn pattern_table() {
        let table: &[(&str, &str, bool)] = &[
            // Zero-segment `*`.
            ("*.ssn", "ssn", true),
            ("*.ssn", "patient.ssn", true),
            ("*.ssn", "a.b.ssn", true),
            ("*.ssn", "ssn.last4", false),
            ("*.ssn", "ssn_checked_at", false),
            ("*.ssn", "patientssn", false),
            ("patient.*", "patient", true),
            ("patient.*", "patient.name", true),
            ("patient.*", "patient.address.city", true),
            ("patient.*", "patients", false),
            ("patient.*", "claim.patient", false),
            ("*.patient.*", "claim.patient", true),
            ("*.patient.*", "claim.patient.dob", true),
            // Case.
            ("*.ssn", "claim.subscriber.SSN", true),
            ("*.SSN", "ssn", true),
            ("patient.*", "Patient.Name", true),
            // Anchored patterns.
            ("ssn", "ssn", true),
            ("ssn", "patient.ssn", false),
            ("service.name", "service.name", true),
            ("service.name", "a.service.name", false),
            ("*.service.name", "a.service.name", true),
            ("*.service.name", "service.name", true),
            ("*.service.name", "name", false),
            ("*.service.name", "service", false),
            // Star in the middle, and backtracking over repeated keys.
            ("a.*.b", "a.b", true),
            ("a.*.b", "a.x.y.b", true),
            ("a.*.b", "a.b.c", false),
            ("*.a.*.a", "a.a", true),
            ("*.a.*.a", "x.a.y.a.z", false),
            ("*.a.b", "a.a.b", true),
            ("*.a.b", "a.b.a.b", true),
            ("*.a.b", "a.b.a", false),
            ("*.x.*", "x", true),
            ("*.x.*", "a.x.b.c", true),
            ("*.x.*", "a.b", false),
            // Empty segments in keys (`{"": ..}`, `{"a.": ..}`) are keys like any other.
            ("*.ssn", "ssn.", false),
            ("*.ssn", ".ssn", true),
        ];
        for &(pattern, path, expected) in table {
            assert_eq!(
                matches(pattern, path),
                expected,
                "pattern {pattern:?} against path {path:?}"
            );
        }
    }

    #[test]
    fn dotted_keys_join_with_nested_keys() {
        let pattern = PathPattern::parse("*.patient.ssn").unwrap();
        let mut path = KeyPath::with_capacity(4);
        let outer = path.enter("claim");
        let dotted = path.enter("patient.ssn");
        assert_eq!(dotted, 2);
        assert_eq!(path.segments(), ["claim", "patient", "ssn"]);
        assert!(pattern.matches(path.segments()));
        path.leave(dotted);
        assert_eq!(path.segments(), ["claim"]);
        path.leave(outer);
        assert!(path.segments().is_empty());
    }

    #[test]
    fn bad_patterns_are_rejected_with_a_reason() {
        for pattern in [
            "", ".ssn", "ssn.", "a..b", "ss*", "*ssn", "a.**.b", "*", "*.*",
        ] {
            let err = PathPattern::parse(pattern).expect_err(pattern);
            assert!(
                matches!(err, RuleProblem::BadPathPattern { .. }),
                "{pattern:?}: {err}"
            );
        }
    }

    #[test]
    fn last_keys_answer_case_insensitively() {
        let patterns: Vec<PathPattern> = ["*.ssn", "*.SSN", "patient.*", "*.first_name", "*.a.b"]
            .iter()
            .map(|p| PathPattern::parse(p).unwrap())
            .collect();
        let keys = LastKeys::new(&patterns);
        assert_eq!(keys.keys.len(), 3);
        for key in ["ssn", "SSN", "First_Name", "b"] {
            assert!(keys.contains(key), "{key}");
        }
        for key in ["patient", "ss", "ssnx", "", "a", "first-name"] {
            assert!(!keys.contains(key), "{key}");
        }
    }

    #[test]
    fn repeated_stars_collapse() {
        assert_eq!(
            PathPattern::parse("*.*.ssn").unwrap(),
            PathPattern::parse("*.ssn").unwrap()
        );
    }
}
