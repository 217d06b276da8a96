//! Any text through the redactor as it runs (JSON documents read from their
//! bytes, clean texts and paths remembered) and through the same rules
//! without those shortcuts (every document parsed and walked by serde_json,
//! nothing remembered): the output, whether it was copied, and every hit
//! `--explain` reports must be the same.
//!
//! The shortcuts are where a redactor could ship raw what the reference
//! would mask; this is their proof on inputs nobody wrote by hand. Seed it
//! with JSON (`fuzz/json.dict` holds the tokens and the pack's keys).

#![no_main]

use std::borrow::Cow;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wardwatch::redact::Redactor;

fn pair() -> &'static (Redactor, Redactor) {
    static PAIR: OnceLock<(Redactor, Redactor)> = OnceLock::new();
    PAIR.get_or_init(|| (Redactor::builtin(), Redactor::builtin().without_shortcuts()))
}

fuzz_target!(|data: &[u8]| {
    // Records reach the redactor as text: invalid UTF-8 is replaced before.
    let text = String::from_utf8_lossy(data);
    let (fast, reference) = pair();
    // Three times: a text found clean is remembered the second time and served
    // from the memo the third.
    for _ in 0..3 {
        let (a, b) = (fast.redact_text(&text), reference.redact_text(&text));
        assert_eq!(a, b, "output differs");
        assert_eq!(
            matches!(a, Cow::Borrowed(_)),
            matches!(b, Cow::Borrowed(_)),
            "one copied, the other did not"
        );
    }
    assert_eq!(
        fast.find_in_text(&text),
        reference.find_in_text(&text),
        "explained hits differ"
    );
});
