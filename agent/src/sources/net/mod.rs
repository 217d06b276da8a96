//! HTTP capture from the kernel: eBPF programs on syscall and socket
//! tracepoints report socket calls (`loader.rs`, `ebpf/`); a connection
//! table pairs requests with responses (`connections.rs`, `http1.rs`) into
//! [`crate::event::HttpExchange`]s for the traffic stage.
//!
//! Capture runs on a thread of its own: it applies events to the table,
//! sends exchanges on, and once a second forgets idle connections and
//! publishes its counters. When capture cannot start (no privileges, no
//! BTF), the agent says so once and goes on shipping logs, unless the
//! config requires capture, in which case it refuses to start.

pub mod abi;
pub mod connections;
pub mod http1;
pub mod loader;
pub mod socket_event;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::Sender;

use crate::event::HttpExchange;
use crate::internal_events::{CaptureCounters, CaptureUnavailable};
use connections::{ConnectionTable, Resolver, TableLimits};
use loader::{Capture, CaptureError, CaptureOptions};

/// How capture is set up.
#[derive(Clone, Debug)]
pub struct NetSettings {
    pub limits: TableLimits,
    /// Refuse to start when capture is unavailable.
    pub required: bool,
    pub capture: CaptureOptions,
}

/// Starts capture and its table thread. `Ok(None)`: capture is unavailable
/// here and not required (already reported).
pub fn start(
    settings: NetSettings,
    resolver: Resolver,
    out: Sender<HttpExchange>,
    shutdown: Arc<AtomicBool>,
) -> Result<Option<JoinHandle<()>>, CaptureError> {
    let (capture, mut events) = match Capture::start(&settings.capture) {
        Ok(started) => started,
        Err(error) if !settings.required => {
            CaptureUnavailable { error: &error }.emit();
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    tracing::info!("eBPF HTTP capture started");
    let runtime = tokio::runtime::Handle::current();
    let mut table = ConnectionTable::new(settings.limits, resolver);
    let handle = std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            let mut counters = CaptureCounters::default();
            let mut capture = Some(capture);
            loop {
                let next = runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(1), events.recv()).await
                });
                match next {
                    Ok(Some(event)) => {
                        let mut closed = false;
                        table.handle(event, &mut |exchange| {
                            closed |= out.blocking_send(exchange).is_err();
                        });
                        // Take what else is queued before looking at the clock.
                        while let Ok(event) = events.try_recv() {
                            table.handle(event, &mut |exchange| {
                                closed |= out.blocking_send(exchange).is_err();
                            });
                        }
                        if closed {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(_elapsed) => {}
                }
                table.expire_idle(now_ns());
                if let Some(capture) = &capture {
                    counters.publish(capture, &table.stats());
                }
                if shutdown.load(Ordering::Relaxed) {
                    // Detach: no new events; what was read is drained above
                    // on the next turns until the channel closes.
                    if let Some(capture) = capture.take() {
                        counters.publish(&capture, &table.stats());
                        drop(capture);
                    }
                }
            }
        })
        .map_err(|e| CaptureError::Failed(format!("cannot start the capture thread: {e}")))?;
    Ok(Some(handle))
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
