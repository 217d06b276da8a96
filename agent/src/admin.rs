//! The admin server: health probes and the agent's own metrics.
//!
//! - `/health/live`: the process answers.
//! - `/health/startup`: the config is loaded and the sources are started.
//! - `/health/ready`: started, and no sink has been stuck on one batch for
//!   longer than [`STALL_AFTER`] (a stalled sink stops the whole pipeline,
//!   since queues are bounded).
//! - `/metrics`: Prometheus text format, see [`crate::internal_events`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::derive::red::RedMetrics;
use crate::internal_events::encode_metrics;

/// How long a sink may spend on one batch before it counts as stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(30);

/// Whether one sink is working on a batch, and since when.
pub struct SinkStatus {
    name: &'static str,
    epoch: Instant,
    stall_after: Duration,
    /// Milliseconds since `epoch` + 1 when the current batch began; 0 when idle.
    busy_since: AtomicU64,
}

impl SinkStatus {
    pub fn busy(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64 + 1;
        self.busy_since.store(ms, Ordering::Relaxed);
    }

    pub fn idle(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    fn stalled(&self) -> bool {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => false,
            since => {
                let now = self.epoch.elapsed().as_millis() as u64 + 1;
                now.saturating_sub(since) > self.stall_after.as_millis() as u64
            }
        }
    }
}

/// What the probes report.
pub struct Health {
    epoch: Instant,
    stall_after: Duration,
    started: AtomicBool,
    sinks: Mutex<Vec<Arc<SinkStatus>>>,
    /// RED metrics of the traffic path, served after the agent's own.
    traffic: std::sync::OnceLock<Arc<Mutex<RedMetrics>>>,
}

impl Default for Health {
    fn default() -> Self {
        Health::with_stall_after(STALL_AFTER)
    }
}

impl Health {
    pub fn with_stall_after(stall_after: Duration) -> Self {
        Health {
            epoch: Instant::now(),
            stall_after,
            started: AtomicBool::new(false),
            sinks: Mutex::new(Vec::new()),
            traffic: std::sync::OnceLock::new(),
        }
    }

    /// Registers a sink, whose status it then follows.
    pub fn sink(&self, name: &'static str) -> Arc<SinkStatus> {
        let status = Arc::new(SinkStatus {
            name,
            epoch: self.epoch,
            stall_after: self.stall_after,
            busy_since: AtomicU64::new(0),
        });
        self.sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&status));
        status
    }

    /// Serves `metrics` on `/metrics` too, for users who scrape the node
    /// instead of receiving remote-write.
    pub fn publish_traffic_metrics(&self, metrics: Arc<Mutex<RedMetrics>>) {
        let _ = self.traffic.set(metrics);
    }

    fn metrics_text(&self) -> String {
        let mut text = encode_metrics();
        if let Some(traffic) = self.traffic.get() {
            // The registry's text ends with `# EOF` (OpenMetrics); the
            // histograms go before it.
            let eof = text.rfind("# EOF").unwrap_or(text.len());
            let mut red = String::new();
            traffic
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .write_text(&mut red);
            text.insert_str(eof, &red);
        }
        text
    }

    /// Config loaded, sources started.
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// The names of the sinks that are stalled.
    pub fn stalled_sinks(&self) -> Vec<&'static str> {
        self.sinks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|s| s.stalled())
            .map(|s| s.name)
            .collect()
    }
}

/// Binds `address` and serves until the runtime shuts down.
pub async fn serve(address: SocketAddr, health: Arc<Health>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "admin server listening");
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "admin server accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let health = Arc::clone(&health);
            tokio::spawn(async move {
                let service = service_fn(move |req| respond(req, Arc::clone(&health)));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

async fn respond(
    req: Request<Incoming>,
    health: Arc<Health>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        ));
    }
    let response = match req.uri().path() {
        "/health/live" => reply(StatusCode::OK, "text/plain", "live\n".into()),
        "/health/startup" => {
            if health.is_started() {
                reply(StatusCode::OK, "text/plain", "started\n".into())
            } else {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "starting\n".into(),
                )
            }
        }
        "/health/ready" => {
            let stalled = health.stalled_sinks();
            if !health.is_started() {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "starting\n".into(),
                )
            } else if stalled.is_empty() {
                reply(StatusCode::OK, "text/plain", "ready\n".into())
            } else {
                let body = format!("stalled sinks: {}\n", stalled.join(", "));
                reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", body)
            }
        }
        "/metrics" => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            health.metrics_text(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    Ok(response)
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sink_busy_for_too_long_is_stalled() {
        let health = Health::with_stall_after(Duration::from_millis(20));
        let sink = health.sink("stdout");
        assert!(health.stalled_sinks().is_empty());
        sink.busy();
        assert!(health.stalled_sinks().is_empty(), "just began its batch");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(health.stalled_sinks(), ["stdout"]);
        sink.idle();
        assert!(health.stalled_sinks().is_empty());
    }
}
