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
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use wardwatch::redact::{Redactor, TextHit};

/// The output, whether it is a copy, and the explained hits.
type Answer = (String, bool, Vec<TextHit<'static>>);

fn redactor() -> &'static Redactor {
    static REDACTOR: OnceLock<Redactor> = OnceLock::new();
    REDACTOR.get_or_init(Redactor::builtin)
}

/// The reference runs on a thread of its own: a thread's scratch (automaton
/// caches included) belongs to one redactor, and two taking turns on one
/// thread would rebuild it at every call, a hundred times slower.
fn reference(text: &str) -> Answer {
    static WORKER: OnceLock<Mutex<(Sender<String>, Receiver<Answer>)>> = OnceLock::new();
    let worker = WORKER.get_or_init(|| {
        let (ask, asked) = channel::<String>();
        let (answer, answered) = channel::<Answer>();
        std::thread::spawn(move || {
            let reference: &'static Redactor =
                Box::leak(Box::new(Redactor::builtin().without_shortcuts()));
            for text in asked {
                let output = reference.redact_text(&text);
                let copied = matches!(output, Cow::Owned(_));
                let hits = reference.find_in_text(&text);
                if answer.send((output.into_owned(), copied, hits)).is_err() {
                    return;
                }
            }
        });
        Mutex::new((ask, answered))
    });
    let worker = worker.lock().expect("one fuzzing thread");
    worker
        .0
        .send(text.to_owned())
        .expect("the reference thread runs");
    worker.1.recv().expect("the reference thread answers")
}

fuzz_target!(|data: &[u8]| {
    // Records reach the redactor as text: invalid UTF-8 is replaced before.
    let text = String::from_utf8_lossy(data);
    let (output, copied, hits) = reference(&text);
    // Three times: a text found clean is remembered the second time and
    // served from the memo the third.
    for _ in 0..3 {
        let fast = redactor().redact_text(&text);
        assert_eq!(fast, output.as_str(), "output differs");
        assert_eq!(
            matches!(fast, Cow::Owned(_)),
            copied,
            "one copied, the other did not"
        );
    }
    assert_eq!(
        redactor().find_in_text(&text),
        hits,
        "explained hits differ"
    );
});
