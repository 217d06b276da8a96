//! A per-thread memo of texts the text rules found nothing in.
//!
//! What the text rules find in a text, and what reading it charges to the
//! budget, depend on its bytes alone. Log lines repeat many string values
//! (levels, loggers, service and thread names, templated messages), and a
//! JSON document that changes has its strings scanned twice, once by the
//! shortcut that gives up at the first hit and once by the walk. A text
//! found clean is remembered with its charge, so the next time it costs a
//! hash and the same charge.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use super::path_memo::Prehashed;

/// Bounds the memo's memory: entries, and the length of a text kept (long
/// texts rarely repeat, and their scan dwarfs the hash anyway).
const MAX_TEXTS: usize = 4096;
const MAX_TEXT_LEN: usize = 256;

struct Memo {
    owner: u64,
    /// By the xxh3 of the text: the text, and what scanning it charged.
    texts: HashMap<u64, (Box<str>, usize), BuildHasherDefault<Prehashed>>,
    /// Hashes of texts found clean once: most values (timestamps, ids) never
    /// come again, and copying each into `texts` cost more than it saved.
    seen: HashSet<u64, BuildHasherDefault<Prehashed>>,
}

thread_local! {
    static MEMO: RefCell<Memo> = const {
        RefCell::new(Memo {
            owner: 0,
            texts: HashMap::with_hasher(BuildHasherDefault::new()),
            seen: HashSet::with_hasher(BuildHasherDefault::new()),
        })
    };
}

/// The key `text` is remembered under, if it is short enough to be.
pub(super) fn key(text: &str) -> Option<u64> {
    (text.len() <= MAX_TEXT_LEN).then(|| xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// What scanning `text` (whose [`key`] is `hash`) charged when the rules of
/// `owner` found nothing in it, if that is remembered.
pub(super) fn clean_charge(owner: u64, text: &str, hash: u64) -> Option<usize> {
    MEMO.with(|memo| {
        let memo = memo.try_borrow().ok()?;
        if memo.owner != owner {
            return None;
        }
        match memo.texts.get(&hash) {
            Some((known, charge)) if **known == *text => Some(*charge),
            _ => None,
        }
    })
}

/// Remembers that the rules of `owner` found nothing in `text` (whose
/// [`key`] is `hash`), and that scanning it charged `charge`.
pub(super) fn remember_clean(owner: u64, text: &str, hash: u64, charge: usize) {
    MEMO.with(|memo| {
        let Ok(mut memo) = memo.try_borrow_mut() else {
            return;
        };
        if memo.owner != owner {
            memo.texts.clear();
            memo.seen.clear();
            memo.owner = owner;
        }
        if memo.seen.len() >= MAX_TEXTS {
            memo.seen.clear();
        }
        if memo.seen.insert(hash) {
            return;
        }
        if memo.texts.len() >= MAX_TEXTS {
            memo.texts.clear();
        }
        memo.texts.insert(hash, (text.into(), charge));
    })
}
