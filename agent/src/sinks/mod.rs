//! Where redacted records go. Every sink takes [`SinkBatch`]es, which hold
//! only [`Redacted`] records, and acknowledges each batch once it is written.

pub mod ecs;
pub mod http_exchange;
pub mod stdout;

use std::sync::Arc;

use crate::delivery::Delivery;
use crate::event::LogRecord;
use crate::redact::Redacted;

/// One batch for one sink: records shared with the other sinks, and this
/// sink's share of the acknowledgement.
#[derive(Debug)]
pub struct SinkBatch {
    pub records: Arc<[Redacted<LogRecord>]>,
    pub delivery: Delivery,
}
