//! wardwatch: a per-node observability agent for healthcare platforms.
//!
//! Sources read what the node's containers write; every record crosses the
//! redaction boundary ([`redact::Redacted`]) before any sink may see it.
//! See `DESIGN.md` in the shared folder for the data flow and its invariants.

pub mod admin;
pub mod config;
pub mod delivery;
pub mod derive;
pub mod enrich;
pub mod event;
pub mod internal_events;
pub mod redact;
pub mod sample;
pub mod sinks;
pub mod sources;
pub mod topology;
