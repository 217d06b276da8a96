//! Batching, the bounded queue, and retries.
//!
//! [`run`] keeps reading its input while a request is in flight or waiting
//! to be retried, so the sender's `try_send` finds room unless the agent is
//! truly behind; what does not fit in `max_queue_spans` is dropped and
//! counted there and then. One request is in flight at a time: ordering
//! does not matter to OTLP, but a receiver that is struggling should not
//! see more of this node's load at once, and 512 spans a round trip is far
//! above what one node's capture yields.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

use super::config::Resolved;
use super::encode::export_request;
use super::retry::Backoff;
use super::telemetry::{
    DropReason, ExportAttempted, ExportCounts, ExportRetrying, SpansDropped, SpansExported,
};
use super::transport::Transport;
use super::OtlpError;
use crate::derive::span::Span;

/// What became of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver took the request; `rejected` spans of it were refused
    /// by partial success (and counted as dropped).
    Exported {
        rejected: u64,
    },
    Dropped(DropReason),
}

/// Sends batches of spans to one OTLP receiver, retrying as the
/// specification allows.
pub struct OtlpExporter {
    settings: Resolved,
    transport: Transport,
    counts: Arc<ExportCounts>,
}

impl OtlpExporter {
    /// Checks the settings and prepares the client; connects on the first
    /// export. Needs no runtime.
    pub fn new(settings: Resolved) -> Result<OtlpExporter, OtlpError> {
        settings.check()?;
        let transport = Transport::new(&settings)?;
        Ok(OtlpExporter {
            settings,
            transport,
            counts: Arc::default(),
        })
    }

    /// This exporter's figures, shared: read them while it runs.
    pub fn counts(&self) -> Arc<ExportCounts> {
        Arc::clone(&self.counts)
    }

    /// Exports `spans` as one request, retrying for up to
    /// `max_elapsed_ms`; the outcome is counted either way.
    pub async fn export(&mut self, spans: &[Span]) -> Outcome {
        let deadline = Instant::now() + self.settings.backoff.max_elapsed;
        self.export_before(spans, deadline).await
    }

    async fn export_before(&mut self, spans: &[Span], deadline: Instant) -> Outcome {
        if spans.is_empty() {
            return Outcome::Exported { rejected: 0 };
        }
        let count = spans.len() as u64;
        let payload = self
            .transport
            .payload(export_request(spans, &self.settings.resource_attributes));
        let mut backoff = Backoff::new(self.settings.backoff);
        loop {
            ExportAttempted.emit(&self.counts);
            let failure = match self.transport.send(&payload).await {
                Ok(rejected) => {
                    SpansExported {
                        spans: count,
                        rejected,
                    }
                    .emit(&self.counts);
                    return Outcome::Exported { rejected };
                }
                Err(failure) => failure,
            };
            let reason = if failure.retryable {
                let remaining = deadline.saturating_duration_since(Instant::now());
                match backoff.next(remaining, failure.retry_after) {
                    Some(wait) => {
                        ExportRetrying {
                            status: failure.status,
                            wait,
                        }
                        .emit(&self.counts);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    None => DropReason::RetriesExhausted,
                }
            } else {
                DropReason::Rejected
            };
            SpansDropped {
                reason,
                spans: count,
                status: Some(failure.status),
            }
            .emit(&self.counts);
            return Outcome::Dropped(reason);
        }
    }
}

/// Spans waiting for export, at most `capacity` of them.
struct Queue {
    spans: VecDeque<Span>,
    capacity: usize,
    /// When the oldest waiting span arrived.
    since: Option<Instant>,
    counts: Arc<ExportCounts>,
}

impl Queue {
    /// Takes what fits; the rest is dropped and counted, newest first
    /// given up (the waiting spans are no less worth sending).
    fn admit(&mut self, mut spans: Vec<Span>) {
        let room = self.capacity.saturating_sub(self.spans.len());
        if spans.len() > room {
            SpansDropped {
                reason: DropReason::QueueFull,
                spans: (spans.len() - room) as u64,
                status: None,
            }
            .emit(&self.counts);
            spans.truncate(room);
        }
        if !spans.is_empty() && self.spans.is_empty() {
            self.since = Some(Instant::now());
        }
        self.spans.extend(spans);
    }

    /// Drops and counts everything still waiting: the drain ran out.
    fn give_up(&mut self) {
        if !self.spans.is_empty() {
            SpansDropped {
                reason: DropReason::Shutdown,
                spans: self.spans.len() as u64,
                status: None,
            }
            .emit(&self.counts);
            self.spans.clear();
            self.since = None;
        }
    }

    /// Up to `max` spans from the front. The rest keep their wait's start,
    /// so a remainder left by a retried batch goes out at once.
    fn take(&mut self, max: usize) -> Vec<Span> {
        let n = max.min(self.spans.len());
        let batch = self.spans.drain(..n).collect();
        if self.spans.is_empty() {
            self.since = None;
        }
        batch
    }
}

/// Exports what arrives on `input` until it closes, then what is left,
/// and returns. A batch goes out when `max_batch_spans` spans wait or the
/// oldest has waited `flush_interval_ms`. Once the input closes, draining
/// (the batch in flight included) has `shutdown_timeout_ms` in all: an
/// unreachable receiver must not hold the agent past its grace period.
pub async fn run(mut exporter: OtlpExporter, mut input: Receiver<Vec<Span>>) {
    let max_batch = exporter.settings.max_batch_spans;
    let flush = exporter.settings.flush_interval;
    let max_elapsed = exporter.settings.backoff.max_elapsed;
    let shutdown_timeout = exporter.settings.shutdown_timeout;
    let mut queue = Queue {
        spans: VecDeque::new(),
        capacity: exporter.settings.max_queue_spans,
        since: None,
        counts: exporter.counts(),
    };
    // The URL has no credentials (refused when the exporter was built).
    tracing::info!(
        protocol = ?exporter.settings.protocol,
        url = %exporter.settings.url,
        "exporting spans over OTLP"
    );
    // Set when the input closes: the end of the drain.
    let mut stop_by: Option<Instant> = None;
    let closed = |stop_by: &mut Option<Instant>| {
        stop_by.get_or_insert_with(|| Instant::now() + shutdown_timeout);
    };
    loop {
        while stop_by.is_none() && queue.spans.len() < max_batch {
            let received = match queue.since {
                Some(since) => tokio::select! {
                    received = input.recv() => received,
                    () = tokio::time::sleep_until(since + flush) => break,
                },
                None => input.recv().await,
            };
            match received {
                Some(spans) => queue.admit(spans),
                None => closed(&mut stop_by),
            }
        }
        if queue.spans.is_empty() {
            // Only reached with the input closed: an open input leaves the
            // wait above only with spans waiting.
            return;
        }
        if stop_by.is_some_and(|end| Instant::now() >= end) {
            queue.give_up();
            return;
        }
        let batch = queue.take(max_batch);
        let mut deadline = Instant::now() + max_elapsed;
        if let Some(end) = stop_by {
            deadline = deadline.min(end);
        }
        let export = exporter.export_before(&batch, deadline);
        tokio::pin!(export);
        loop {
            tokio::select! {
                _ = &mut export => break,
                received = input.recv(), if stop_by.is_none() => match received {
                    Some(spans) => queue.admit(spans),
                    None => closed(&mut stop_by),
                },
                // A request that hangs (up to its timeout) or a receiver's
                // long Retry-After must not outlast the drain either. The
                // batch may or may not have arrived; it is counted as lost.
                () = sleep_until_some(stop_by), if stop_by.is_some() => {
                    SpansDropped {
                        reason: DropReason::Shutdown,
                        spans: batch.len() as u64,
                        status: None,
                    }
                    .emit(&queue.counts);
                    queue.give_up();
                    return;
                }
            }
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
