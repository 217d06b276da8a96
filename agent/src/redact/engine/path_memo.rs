//! A per-thread memo of what the rules decide for a key path.
//!
//! Which field rule takes a path, and which context labels its last key
//! names, depend on the path alone, and log lines repeat the same few
//! hundred paths. Deciding afresh costs a binary search over last keys, a
//! glob per open-tailed pattern and, for the many `*.name` paths, a try of
//! every `*.<parent>.name` allow pattern, then two normalizing binary
//! searches for labels: several times one hash of the path's bytes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bounds the memo's memory on input whose keys never repeat (ids as
/// keys); refilling after a clear costs only the decisions made anyway.
const MAX_PATHS: usize = 4096;

/// What the rules decide for one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::redact) struct PathFacts {
    /// The field rule that takes a non-null value at the path.
    pub(in crate::redact) field_rule: Option<usize>,
    /// Where the labels named by the path's last key are in the redactor's
    /// structured labels.
    pub(in crate::redact) label: Option<usize>,
    /// Bit `i`: the allow-list of the `i`th context rule of that label
    /// exempts the path. `None` when the label has too many rules for it.
    pub(in crate::redact) exempt: Option<u64>,
    /// Bit `i`: the allow-list of the `i`th rule file exempts the path, so
    /// text rules of that file find nothing in a string there (files past
    /// the 64th get no bit: their hits stand).
    pub(in crate::redact) allowed_packs: u64,
}

/// Tells redactors apart, so one thread's memo never answers for rules
/// other than those it was filled for (a reload builds a new redactor).
pub(super) fn next_owner() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

struct Memo {
    owner: u64,
    /// The path being looked up, each segment followed by 0xff (never in
    /// UTF-8), so that `[]`, `[""]` and `["", ""]` stay apart.
    key: Vec<u8>,
    /// By the xxh3 of the key; the key itself is kept to rule out a
    /// collision.
    paths: HashMap<u64, (Box<[u8]>, PathFacts), BuildHasherDefault<Prehashed>>,
}

thread_local! {
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            owner: 0,
            key: Vec::new(),
            paths: HashMap::with_hasher(BuildHasherDefault::new()),
        })
    };
}

/// The memo's keys are hashes already.
#[derive(Default)]
pub(super) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed; this keeps the trait honest anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

/// The facts of `path` for the redactor `owner`, from the memo or from
/// `decide`.
pub(super) fn path_facts(
    owner: u64,
    path: &[&str],
    decide: impl FnOnce() -> PathFacts,
) -> PathFacts {
    MEMO.with(|memo| {
        // A reentrant call (none is made today) decides without the memo
        // rather than panic on the borrow.
        let Ok(mut memo) = memo.try_borrow_mut() else {
            return decide();
        };
        let memo = &mut *memo;
        if memo.owner != owner {
            memo.paths.clear();
            memo.owner = owner;
        }
        memo.key.clear();
        for segment in path {
            memo.key.extend_from_slice(segment.as_bytes());
            memo.key.push(0xff);
        }
        let hash = xxhash_rust::xxh3::xxh3_64(&memo.key);
        if let Some((key, facts)) = memo.paths.get(&hash) {
            if **key == *memo.key {
                return *facts;
            }
            return decide();
        }
        let facts = decide();
        if memo.paths.len() >= MAX_PATHS {
            memo.paths.clear();
        }
        memo.paths.insert(hash, (memo.key.as_slice().into(), facts));
        facts
    })
}

#[cfg(test)]
#[allow(dead_code, clippy::all)]
#[path = "../../../../tests/corpus/mod.rs"]
mod corpus;

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::Value;

    use super::corpus;
    use crate::redact::Redactor;

    /// Every path of a JSON value, as the walk forms it.
    fn paths_of(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match value {
            Value::Object(members) => {
                for (key, value) in members {
                    let before = path.len();
                    path.extend(key.split('.').map(str::to_owned));
                    out.push(path.clone());
                    paths_of(value, path, out);
                    path.truncate(before);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| paths_of(item, path, out)),
            _ => {}
        }
    }

    fn corpus_paths() -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for line in corpus::corpus_lines(7, 512 << 10) {
            if let Ok(value) = serde_json::from_str::<Value>(&line.text) {
                paths_of(&value, &mut Vec::new(), &mut out);
            }
        }
        let written = [
            "",
            ".",
            "..",
            "ssn",
            "SSN",
            "patient.ssn",
            "service.name",
            "Service.Name",
            "a.service.name",
            "name",
            "app.name",
            "x.app.name",
            "patient",
            "claim.patient.dob",
            "patients",
            "X-Patient-Name",
            "x-patient-name",
            "x-",
            "mrn",
            "patient_mrn",
            "Patient-MRN",
            "server.address",
            "client.address",
        ];
        out.extend(
            written
                .iter()
                .map(|p| p.split('.').map(str::to_owned).collect()),
        );
        out.push(Vec::new());
        out
    }

    /// The memo answers as deciding afresh does, on a miss and on a hit,
    /// while another redactor's answers for the same paths are memoized on
    /// the same thread in between.
    #[test]
    fn memoized_facts_are_the_decided_ones() {
        let builtin = Redactor::builtin();
        let other = Redactor::from_sources(&[(
            "other.yaml",
            r#"
allow: ["*.app.name"]
rules:
  - id: other-name
    description: names
    kind: field
    paths: ["*.name", "*.dob"]
    examples: {match: [name]}
"#,
        )])
        .unwrap();
        let paths = corpus_paths();
        for _ in 0..2 {
            for path in &paths {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                for redactor in [&builtin, &other] {
                    assert_eq!(
                        redactor.path_facts(&path),
                        redactor.decide_path(&path),
                        "{path:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn memo_stays_bounded_and_right_past_its_size() {
        let redactor = Redactor::builtin();
        for round in 0..2 {
            for i in 0..(super::MAX_PATHS + 100) {
                let key = format!("k{i}");
                for path in [vec!["patient", &key], vec![key.as_str(), "name"]] {
                    assert_eq!(
                        redactor.path_facts(&path),
                        redactor.decide_path(&path),
                        "{round} {path:?}"
                    );
                }
            }
        }
        super::MEMO.with(|memo| assert!(memo.borrow().paths.len() <= super::MAX_PATHS));
    }

    /// The clean-text memo charges what a scan charges: on budgets small
    /// enough that some lines run out, lines come out the same (masked or
    /// not) whether their strings are scanned or remembered.
    #[test]
    fn remembered_texts_charge_what_scanning_them_does() {
        let lines = corpus::corpus_lines(17, 128 << 10);
        let mut failed = 0;
        for (floor, per_byte) in [(64, 1), (300, 1), (1000, 1), (200, 2), (2000, 2), (5000, 3)] {
            let fast = Redactor::builtin().with_budget(floor, per_byte);
            let slow = Redactor::builtin()
                .with_budget(floor, per_byte)
                .without_shortcuts();
            // A text is remembered the second time it is found clean, and
            // served from the memo from the third.
            for round in 0..3 {
                for line in &lines {
                    let (a, b) = (fast.redact_text(&line.text), slow.redact_text(&line.text));
                    assert_eq!(a, b, "{floor} {per_byte} {round}: {}", line.text);
                    failed += usize::from(a == crate::redact::REDACTION_FAILED_MARKER);
                }
            }
        }
        assert!(failed > 0, "no line ran out of budget");
    }

    /// Whole lines, redacted with the memos and without them.
    #[test]
    fn corpus_lines_come_out_as_without_the_memo() {
        let fast = Redactor::builtin();
        let slow = Redactor::builtin().without_shortcuts();
        for line in corpus::corpus_lines(13, 512 << 10) {
            let (a, b) = (fast.redact_text(&line.text), slow.redact_text(&line.text));
            assert_eq!(a, b, "{}", line.text);
            assert_eq!(
                matches!(a, Cow::Borrowed(_)),
                matches!(b, Cow::Borrowed(_)),
                "{}",
                line.text
            );
            assert_eq!(fast.find_in_text(&line.text), slow.find_in_text(&line.text));
        }
    }
}
