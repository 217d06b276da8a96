//! The traffic stage: captured or replayed HTTP exchanges cross the
//! redaction boundary here, once, and what is derived from them (RED
//! metrics, spans) and the exchanges themselves go on from the redacted
//! copy only.
//!
//! Network events have no upstream buffer to fall back on, so nothing here
//! waits on a slow sink: a full sink queue drops the batch and counts it
//! (`wardwatch_traffic_dropped_total`), never blocking capture.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{error::TrySendError, Receiver, Sender};

use crate::config::RulesHandle;
use crate::derive::red::RedMetrics;
use crate::derive::route::Router;
use crate::derive::span::{AttributeValue, Span, SpanBuilder};
use crate::event::HttpExchange;
use crate::internal_events::TrafficDropped;
use crate::redact::Redacted;
use crate::sample::{SpanFacts, SpanSampler};
use crate::sinks::SinkBatch;

/// Most exchanges handled as one batch: one rule set, one sink message.
const BATCH: usize = 256;

/// Where the stage sends what it makes.
pub struct TrafficOutputs {
    /// Sinks that take exchanges (stdout).
    pub sinks: Vec<(&'static str, Sender<SinkBatch>)>,
    /// The RED histograms, shared with `/metrics` and remote-write.
    pub metrics: Option<Arc<Mutex<RedMetrics>>>,
    /// Spans for sampling and export, with the router they are named by.
    pub spans: Option<SpanOutput>,
}

/// Where spans go: named by `router`, thinned by `sampler`, sent on `queue`.
pub struct SpanOutput {
    pub router: Router,
    pub sampler: Arc<SpanSampler>,
    pub queue: Sender<Vec<Span>>,
}

/// Runs until `input` closes. Blocking: run it on a thread of its own.
pub fn run(mut input: Receiver<HttpExchange>, rules: &RulesHandle, mut outputs: TrafficOutputs) {
    let builder = SpanBuilder::default();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = input.blocking_recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match input.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let redactor = rules.load();
        let redacted: Arc<[Redacted<HttpExchange>]> = batch
            .drain(..)
            .map(|exchange| redactor.redact_exchange(exchange))
            .collect();
        if let Some(metrics) = &outputs.metrics {
            let mut metrics = metrics.lock().unwrap_or_else(|e| e.into_inner());
            for exchange in redacted.iter() {
                metrics.observe(exchange);
            }
        }
        if let Some(SpanOutput {
            router,
            sampler,
            queue,
        }) = &mut outputs.spans
        {
            let now = std::time::Instant::now();
            let mut tally = sampler.tally();
            let spans: Vec<Span> = redacted
                .iter()
                .map(|exchange| {
                    let service = exchange.resource.service_name.as_deref().unwrap_or("");
                    let route = router.route(service, &exchange.path);
                    builder.build(exchange, &route)
                })
                .filter(|span| {
                    let decision = sampler.decide(&span_facts(span).facts(), now);
                    tally.record(&decision);
                    decision.keep
                })
                .collect();
            tally.emit();
            let count = spans.len();
            if let Err(TrySendError::Full(_) | TrySendError::Closed(_)) = queue.try_send(spans) {
                TrafficDropped {
                    output: "spans",
                    count,
                }
                .emit();
            }
        }
        for (name, queue) in &outputs.sinks {
            let message = SinkBatch::exchanges(Arc::clone(&redacted));
            if queue.try_send(message).is_err() {
                TrafficDropped {
                    output: name,
                    count: redacted.len(),
                }
                .emit();
            }
        }
    }
}

/// What sampling rules see of a span: string attributes only (numbers are
/// matched through their own conditions: errors, duration).
struct OwnedFacts<'s> {
    span: &'s Span,
    attributes: Vec<(&'s str, &'s str)>,
}

fn span_facts(span: &Span) -> OwnedFacts<'_> {
    OwnedFacts {
        span,
        attributes: span
            .attributes
            .iter()
            .filter_map(|(key, value)| match value {
                AttributeValue::Str(text) => Some((*key, text.as_str())),
                AttributeValue::Int(_) => None,
            })
            .collect(),
    }
}

impl OwnedFacts<'_> {
    fn facts(&self) -> SpanFacts<'_> {
        let span = self.span;
        SpanFacts {
            service: span.resource.service_name.as_deref().unwrap_or(""),
            route: &span.route,
            operation: &span.name,
            trace_id: span.trace_id,
            is_error: span.is_error,
            duration: (span.end - span.start).to_std().unwrap_or_default(),
            attributes: &self.attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use arc_swap::ArcSwap;
    use chrono::Utc;
    use tokio::sync::mpsc::channel;

    use super::*;
    use crate::derive::red::RedConfig;
    use crate::derive::route::RouteConfig;
    use crate::event::{Resource, Role};
    use crate::redact::Redactor;

    fn exchange(path: &str, status: u16) -> HttpExchange {
        HttpExchange {
            role: Role::Server,
            method: "GET".into(),
            path: path.into(),
            query: None,
            status,
            protocol_version: "1.1",
            request_headers: Vec::new(),
            start: Utc::now(),
            duration: Duration::from_millis(4),
            server: None,
            client: None,
            pid: 1,
            tid: 1,
            cgroup_id: 1,
            request_body_bytes: 0,
            response_body_bytes: 0,
            resource: Arc::new(Resource {
                service_name: Some("patient-service".into()),
                ..Resource::default()
            }),
        }
    }

    #[test]
    fn every_output_sees_only_the_redacted_exchange() {
        let rules: RulesHandle = Arc::new(ArcSwap::from_pointee(Redactor::builtin()));
        let (input_tx, input_rx) = channel(16);
        let (sink_tx, mut sink_rx) = channel(16);
        let (span_tx, mut span_rx) = channel(16);
        let metrics = Arc::new(Mutex::new(RedMetrics::new(&RedConfig::default())));
        let outputs = TrafficOutputs {
            sinks: vec![("stdout", sink_tx)],
            metrics: Some(Arc::clone(&metrics)),
            spans: Some(SpanOutput {
                router: Router::new(&RouteConfig::default()),
                sampler: Arc::new(SpanSampler::keep_all()),
                queue: span_tx,
            }),
        };
        input_tx
            .blocking_send(exchange("/patients/123-45-6789", 200))
            .unwrap();
        input_tx
            .blocking_send(exchange("/patients/234-56-7891", 500))
            .unwrap();
        drop(input_tx);
        run(input_rx, &rules, outputs);

        let mut paths = Vec::new();
        while let Ok(batch) = sink_rx.try_recv() {
            paths.extend(batch.exchanges.iter().map(|e| e.path.clone()));
        }
        assert_eq!(paths.len(), 2);
        assert!(
            paths
                .iter()
                .all(|p| !p.contains("6789") && !p.contains("7891")),
            "{paths:?}"
        );
        let mut names = Vec::new();
        while let Ok(spans) = span_rx.try_recv() {
            names.extend(spans.into_iter().map(|s| s.name));
        }
        assert_eq!(names, ["GET /patients/{id}", "GET /patients/{id}"]);
        let mut text = String::new();
        metrics.lock().unwrap().write_text(&mut text);
        assert!(text.contains("http_route=\"/patients/{id}\""), "{text}");
        assert!(!text.contains("6789"));
    }

    #[test]
    fn a_full_output_drops_instead_of_blocking() {
        let rules: RulesHandle = Arc::new(ArcSwap::from_pointee(Redactor::builtin()));
        let (input_tx, input_rx) = channel(2048);
        let (sink_tx, mut sink_rx) = channel(1);
        for i in 0..1000 {
            input_tx
                .blocking_send(exchange(&format!("/r/{i}"), 200))
                .unwrap();
        }
        drop(input_tx);
        let outputs = TrafficOutputs {
            sinks: vec![("stdout", sink_tx)],
            metrics: None,
            spans: None,
        };
        // Returns although nobody reads the sink queue.
        run(input_rx, &rules, outputs);
        let first = sink_rx.try_recv().unwrap();
        assert_eq!(first.exchanges.len(), BATCH);
        assert!(sink_rx.try_recv().is_err(), "later batches were dropped");
    }
}
