//! The redaction boundary: nothing leaves the node until it has been through here.
//!
//! # Design notes
//!
//! **Redaction is a type.** Sinks take [`Redacted<LogRecord>`](Redacted), and only
//! this module can make one. A forgotten call is then a compile error in the
//! sink's caller rather than PHI in a backend, and reviewing the promise means
//! reading this module, not every path through the pipeline. Failing closed
//! follows from the same idea: a record the [`Redactor`] cannot finish (a panic
//! in a rule, nesting past [`MAX_DEPTH`]) still yields a `Redacted`, but of a
//! marker that keeps only where and when it was written.
//!
//! **Field rules walk top-down.** A field rule names a key path (`*.ssn`,
//! `*.patient.*`) and replaces the whole value there, whatever its type, without
//! visiting what is below. Deciding at the highest matching key is what makes
//! `patient: {..}` go as one value however the service shaped it, and it means
//! a value is visited at most once. The file's allow-list is consulted only when
//! a rule matched, since matches are rare, and it exempts that one path: its
//! children are still walked. The walk keeps the current path as a stack of
//! borrowed segments (`path.rs`), so matching a key allocates nothing.
//!
//! **Where pattern rules plug in.** Text-scanning kinds (`kind: pattern`, a
//! regex over text; `kind: context`, the value after a labelled key) become new
//! variants of [`rules::RuleSpec`], each compiled to a matcher kept in its own
//! list beside the field matchers. The walk already hands `record.message` and
//! every string value that no field rule replaced to one place
//! (`Redactor::scan_text`, a no-op today) and counts hits per rule index, so a
//! new kind adds a variant, a compiled matcher and that function's body, and
//! leaves the walk, the batch accounting and the boundary as they are.
//!
//! Record content never reaches a log line, an error or a metric from here:
//! telemetry carries rule ids and counts, and rule-file errors quote only the
//! rule files.

mod boundary;
mod engine;
mod error;
mod load;
mod path;
mod replace;
pub mod rules;
pub mod validate;

#[cfg(test)]
mod naive;
#[cfg(test)]
mod tests;

pub use boundary::Redacted;
pub use engine::{Redactor, MAX_DEPTH, REDACTION_FAILED_MARKER};
pub use error::RuleError;
