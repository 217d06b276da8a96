//! The agent's own telemetry, defined once.
//!
//! Each event is a struct whose `emit()` logs (through `tracing`) and counts (in
//! the Prometheus registry served on `/metrics`) together, so a figure and its
//! log line cannot drift apart.
//!
//! Naming rule: `wardwatch_<component>_<noun>_<unit>_total` for counters,
//! `wardwatch_<component>_<noun>_<unit>` for gauges. Labels come only from small
//! fixed sets (sink names, rule ids, stage names); never from record content, so
//! no PHI can reach a metric or a log line of the agent. Hot paths emit once per
//! batch, not once per record.

mod logs;
mod metrics;
mod net;
mod redact;
mod remote_write;
mod rules;
mod sinks;
mod traffic;

pub use logs::*;
pub use metrics::{encode_metrics, metrics, Metrics};
pub use net::*;
pub use redact::*;
pub use remote_write::*;
pub use rules::*;
pub use sinks::*;
pub use traffic::*;
