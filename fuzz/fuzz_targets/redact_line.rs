//! Any bytes, as a log line, through the whole redactor (built-in pack).
//!
//! The redactor catches panics and masks the record (fail closed), which would
//! hide a crashing rule from the fuzzer; so a masked record is the failure
//! here, unless the input is legitimately too deep or too large to walk.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use wardwatch::event::Resource;
use wardwatch::redact::{Redactor, REDACTION_FAILED_MARKER};
use wardwatch::sources::logs::assemble::AssembledLine;
use wardwatch::sources::logs::record::build_record;

fn redactor() -> &'static Redactor {
    static REDACTOR: OnceLock<Redactor> = OnceLock::new();
    REDACTOR.get_or_init(Redactor::builtin)
}

fuzz_target!(|data: &[u8]| {
    let line = AssembledLine {
        start_offset: 0,
        timestamp: None,
        stream: None,
        bytes: data.to_vec(),
        truncated: false,
        malformed: false,
    };
    let built = build_record(line, &Arc::new(Resource::default()));
    let deep = data.iter().filter(|&&b| b == b'{' || b == b'[').count() > 32;
    let redacted = redactor().redact(built.record);
    if redacted.get().message.as_deref() == Some(REDACTION_FAILED_MARKER) {
        assert!(
            deep || data.len() > 1 << 20,
            "a rule panicked on this input"
        );
    }
});
