//! Where redacted records go. Every sink takes [`SinkBatch`]es, which hold
//! only [`Redacted`] records, and acknowledges each batch once it is written.

pub mod ecs;
pub mod http_exchange;
pub mod otlp;
pub mod remote_write;
pub mod stdout;
pub mod trace_span;

use std::sync::Arc;

use crate::delivery::Delivery;
use crate::event::{HttpExchange, LogRecord};
use crate::redact::Redacted;

/// One batch for one sink: records shared with the other sinks, and this
/// sink's share of the acknowledgement.
#[derive(Debug)]
pub struct SinkBatch {
    pub records: Arc<[Redacted<LogRecord>]>,
    /// HTTP exchanges captured from the network. A batch holds records or
    /// exchanges; exchanges have no upstream buffer to replay, so their
    /// delivery acknowledges nothing.
    pub exchanges: Arc<[Redacted<HttpExchange>]>,
    pub delivery: Delivery,
}

impl SinkBatch {
    /// A batch of log records.
    pub fn records(records: Arc<[Redacted<LogRecord>]>, delivery: Delivery) -> Self {
        SinkBatch {
            records,
            exchanges: Arc::new([]),
            delivery,
        }
    }

    /// A batch of exchanges.
    pub fn exchanges(exchanges: Arc<[Redacted<HttpExchange>]>) -> Self {
        SinkBatch {
            records: Arc::new([]),
            exchanges,
            delivery: Delivery::new(|| {}),
        }
    }
}
