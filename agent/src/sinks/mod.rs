//! Where redacted records go. Every sink takes [`SinkBatch`]es, which hold
//! only [`Redacted`] records and the spans built from redacted exchanges,
//! and acknowledges each batch once it is written.

pub mod ecs;
pub mod http_exchange;
pub mod otlp;
pub mod remote_write;
pub mod stdout;
pub mod tls;
pub mod trace_span;

use std::sync::Arc;

use crate::delivery::Delivery;
use crate::derive::span::Span;
use crate::event::{HttpExchange, LogRecord};
use crate::redact::Redacted;

/// One batch for one sink: records shared with the other sinks, and this
/// sink's share of the acknowledgement.
#[derive(Debug)]
pub struct SinkBatch {
    pub records: Arc<[Redacted<LogRecord>]>,
    /// HTTP exchanges captured from the network. A batch holds records or
    /// traffic (exchanges and spans); traffic has no upstream buffer to
    /// replay, so its delivery acknowledges nothing.
    pub exchanges: Arc<[Redacted<HttpExchange>]>,
    /// Kept spans, built only from redacted exchanges (`derive::span`).
    /// A span may come in a later batch than its exchange: client calls
    /// wait for the request they are nested under.
    pub spans: Arc<[Span]>,
    pub delivery: Delivery,
}

impl SinkBatch {
    /// A batch of log records.
    pub fn records(records: Arc<[Redacted<LogRecord>]>, delivery: Delivery) -> Self {
        SinkBatch {
            records,
            exchanges: Arc::new([]),
            spans: Arc::new([]),
            delivery,
        }
    }

    /// A batch of traffic: exchanges and kept spans.
    pub fn traffic(exchanges: Arc<[Redacted<HttpExchange>]>, spans: Arc<[Span]>) -> Self {
        SinkBatch {
            records: Arc::new([]),
            exchanges,
            spans,
            delivery: Delivery::new(|| {}),
        }
    }

    /// How many records, exchanges and spans the batch holds.
    pub fn len(&self) -> usize {
        self.records.len() + self.exchanges.len() + self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
