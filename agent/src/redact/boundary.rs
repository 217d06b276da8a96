//! The type that marks a value as having crossed the redaction boundary.

use std::ops::Deref;

/// A value that has been through the [`Redactor`](super::Redactor). Sinks accept
/// only `Redacted<LogRecord>`, so a record that skipped redaction does not compile
/// into a sink call.
///
/// Only the `redact` module can build one: the field is private, and there is no
/// public constructor, `Default`, `From` or `Deserialize`. Reading is free:
///
/// ```
/// use std::sync::Arc;
/// use wardwatch::event::LogRecord;
/// use wardwatch::redact::{Redacted, Redactor};
///
/// let redactor = Redactor::builtin();
/// let record = LogRecord::text("patient admitted", Arc::default());
/// let redacted: Redacted<LogRecord> = redactor.redact(record);
/// assert!(redacted.fields.is_empty()); // through `Deref`
/// let _record: LogRecord = redacted.into_inner();
/// ```
///
/// Code outside the module cannot wrap a raw record:
///
/// ```compile_fail,E0423
/// use std::sync::Arc;
/// use wardwatch::event::LogRecord;
/// use wardwatch::redact::Redacted;
///
/// let raw = LogRecord::text("ssn 123-45-6789", Arc::default());
/// let forged = Redacted(raw); // E0423: the field is private
/// ```
///
/// nor conjure an empty one:
///
/// ```compile_fail,E0599
/// use wardwatch::event::LogRecord;
/// use wardwatch::redact::Redacted;
///
/// let forged = Redacted::<LogRecord>::default(); // E0599: no `Default`
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Redacted<T>(pub(super) T);

impl<T> Redacted<T> {
    pub fn get(&self) -> &T {
        &self.0
    }

    /// Gives up the mark: whatever is done to the value afterwards is no longer
    /// vouched for, and a sink will not take it back.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Redacted<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
