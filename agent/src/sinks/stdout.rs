//! The stdout sink: one record, exchange or span per line, JSON (ECS) or
//! compact text. The sink for local debugging, and for node setups where
//! another collector reads the agent's output.
//!
//! A batch is acknowledged only after it is written and flushed. A write
//! error (the reader went away) stops the sink without acknowledging: the
//! checkpoint stays before the batch, which is read again next time.

use std::io::{self, Write};

use tokio::sync::mpsc::Receiver;

use super::ecs::EcsView;
use super::http_exchange::ExchangeView;
use super::trace_span::SpanView;
use super::SinkBatch;
use crate::admin::SinkStatus;
use crate::config::StdoutFormat;
use crate::internal_events::{RecordsSent, SinkWriteFailed};

pub const NAME: &str = "stdout";

/// Writes batches to `writer` until the queue closes. Runs on a thread of
/// its own: writes to a pipe block, and must not block the async runtime.
pub fn run(
    format: StdoutFormat,
    mut batches: Receiver<SinkBatch>,
    mut writer: Box<dyn Write + Send>,
    status: &SinkStatus,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(256 << 10);
    while let Some(batch) = batches.blocking_recv() {
        status.busy();
        buf.clear();
        for record in batch.records.iter() {
            let view = EcsView::new(record);
            match format {
                StdoutFormat::Json => view.write_json(&mut buf),
                StdoutFormat::Text => view.write_text(&mut buf),
            }
        }
        for exchange in batch.exchanges.iter() {
            let view = ExchangeView::new(exchange);
            match format {
                StdoutFormat::Json => view.write_json(&mut buf),
                StdoutFormat::Text => view.write_text(&mut buf),
            }
        }
        for span in batch.spans.iter() {
            let view = SpanView::new(span);
            match format {
                StdoutFormat::Json => view.write_json(&mut buf),
                StdoutFormat::Text => view.write_text(&mut buf),
            }
        }
        if let Err(error) = writer.write_all(&buf).and_then(|()| writer.flush()) {
            SinkWriteFailed {
                sink: NAME,
                error: &error,
            }
            .emit();
            return Err(error);
        }
        RecordsSent {
            sink: NAME,
            records: batch.len() as u64,
            bytes: buf.len() as u64,
        }
        .emit();
        batch.delivery.acknowledge();
        status.idle();
    }
    Ok(())
}
