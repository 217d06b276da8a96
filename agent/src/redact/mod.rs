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
//! **Text rules run where the walk hands over text.** `kind: pattern` (a
//! regex over text), `kind: context` (the value after a labelled key) and
//! `kind: hl7` (fields of an HL7 v2 segment) see `record.message`, every
//! string value no field rule replaced, and what
//! [`Redactor::redact_text`] is given (URLs, header values, labels). A
//! string or number whose own key names a context rule's label is that rule's
//! to take whole, after the field rules: keys are part of the decision.
//!
//! **Why a prefilter before the automaton.** Most log text holds no PHI, so
//! the cost that matters is the pass over text that matches nothing. Every
//! enabled pattern and every context rule's key regex are compiled into one
//! multi-pattern lazy DFA (`text/mod.rs`), so that pass is one pass however
//! many rules there are; in front of it a gate derived from the patterns'
//! syntax (`text/analysis.rs`: the fewest digits any digit pattern needs, the
//! rare bytes the others need) turns away text that cannot match with a
//! vectorized count and a `memchr3`, and patterns anchored on a rare byte
//! (email's `@`) run alone behind `memchr` instead of inflating the union.
//! Only text the automaton says matches pays for more: an overlapping search
//! names the patterns that match, and each of those runs alone, so a match of
//! one never hides a match of another (the result equals running every rule
//! on its own, which `naive.rs` property-tests).
//!
//! **Why views.** Services hide text from a byte-level automaton: JSON
//! escaped inside strings (`\"ssn\":`, `\u0040`), URL encoding (`%40`, `+`).
//! When a text holds such an escape (one `memchr` says so), a decoded copy is
//! scanned too, with a map from each decoded byte back to its original span,
//! and hits replace the original span (`text/view.rs`). A JSON document inside
//! a string, or after a prefix in a message, is parsed and walked like a
//! record, field rules included, and written back (`embedded.rs`).
//!
//! **Why union on overlap.** Hits from several rules and views overlap (a
//! number that is both labelled and shaped like an SSN). Failing closed, the
//! widest reading wins: overlapping spans are unioned and replaced once, by
//! the rule first in load order, and counted once for each rule that hit
//! (`text/merge.rs`).
//!
//! **The budget.** Views, nested documents and escapes of escapes multiply the
//! bytes a record makes the scanner read. Each record starts with
//! [`BUDGET_FLOOR_BYTES`] and earns [`BUDGET_BYTES_PER_BYTE`] per byte of its
//! own text; a record that needs more is masked whole and counted
//! (`reason="budget"`), like one that panics or nests too deep. The regex
//! engines are linear-time, so a bounded number of bytes is bounded time.
//!
//! **No PHI, no allocation.** Buffers (hits, decoded views, the output) and
//! the automata's caches live in a per-thread scratch and are reused; text
//! with no hit comes back borrowed (`tests/redaction_rules.rs` counts the
//! allocations of that path: none).
//!
//! Record content never reaches a log line, an error or a metric from here:
//! telemetry carries rule ids and counts, and rule-file errors quote only the
//! rule files.

mod boundary;
mod embedded;
mod engine;
mod error;
mod exchange;
mod load;
mod path;
mod replace;
pub mod rules;
mod text;
pub mod validate;

#[cfg(test)]
mod naive;
#[cfg(test)]
mod tests;

pub use boundary::Redacted;
pub use engine::{
    Redactor, TextHit, BUDGET_BYTES_PER_BYTE, BUDGET_FLOOR_BYTES, MAX_DEPTH,
    REDACTION_FAILED_MARKER,
};
pub use error::RuleError;
