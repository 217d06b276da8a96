//! The traffic stage: captured or replayed HTTP exchanges cross the
//! redaction boundary here, once, and what is derived from them (RED
//! metrics, spans) and the exchanges themselves go on from the redacted
//! copy only.
//!
//! Network events have no upstream buffer to fall back on, so nothing here
//! waits on a slow sink: a full sink queue drops the batch and counts it
//! (`wardwatch_traffic_dropped_total`), never blocking capture.
//!
//! Client spans may wait here for the request their thread is serving
//! (`derive::nesting`), so the stage also wakes when the oldest of them is
//! due, not only when exchanges arrive, and lets the rest go when its
//! input closes. A request's span and the calls nested under it are
//! sampled as one: the calls follow the request's decision, so a kept
//! request arrives with its calls and a dropped one leaves no orphans.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc::{error::TrySendError, Receiver, Sender};

use crate::config::RulesHandle;
use crate::derive::nesting::{ClientNesting, NestingLimits, SpanFamily, Unnested};
use crate::derive::red::RedMetrics;
use crate::derive::route::Router;
use crate::derive::span::{AttributeValue, Span, SpanBuilder};
use crate::event::HttpExchange;
use crate::internal_events::{ClientSpansSettled, TrafficDropped};
use crate::redact::Redacted;
use crate::sample::{SpanFacts, SpanSampler};
use crate::sinks::SinkBatch;

/// Most exchanges handled as one batch: one rule set, one sink message.
const BATCH: usize = 256;

/// Where the stage sends what it makes.
pub struct TrafficOutputs {
    /// Sinks that take exchanges and kept spans (stdout).
    pub sinks: Vec<(&'static str, Sender<SinkBatch>)>,
    /// The RED histograms, shared with `/metrics` and remote-write.
    pub metrics: Option<Arc<Mutex<RedMetrics>>>,
    /// How spans are built and thinned; `None` builds none.
    pub spans: Option<SpanOutput>,
}

/// Spans: named by `router`, thinned by `sampler`, nested within `limits`;
/// the kept ones go to the sinks and, when spans are exported, on `export`.
pub struct SpanOutput {
    pub router: Router,
    pub sampler: Arc<SpanSampler>,
    pub limits: NestingLimits,
    /// The OTLP exporter's queue.
    pub export: Option<Sender<Vec<Span>>>,
}

/// Runs until `input` closes. Blocking: run it on a thread of its own.
/// Fails only if its timer cannot be made.
pub fn run(
    mut input: Receiver<HttpExchange>,
    rules: &RulesHandle,
    outputs: TrafficOutputs,
) -> io::Result<()> {
    // Waiting for an exchange or the next nesting deadline, whichever
    // comes first, needs a timer; a runtime of this thread's own keeps
    // the stage off the agent's async workers.
    let timer = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let TrafficOutputs {
        sinks,
        metrics,
        spans,
    } = outputs;
    let mut spans = spans.map(|output| SpanStage::new(output, !sinks.is_empty()));
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let deadline = spans.as_ref().and_then(SpanStage::next_deadline);
        let first = match deadline {
            None => input.blocking_recv(),
            Some(deadline) => {
                let deadline = tokio::time::Instant::from_std(deadline);
                // Inside `block_on`: the timeout needs the timer's context.
                let received =
                    timer.block_on(async { tokio::time::timeout_at(deadline, input.recv()).await });
                match received {
                    Ok(received) => received,
                    Err(_elapsed) => {
                        let kept = spans.as_mut().map(|s| s.expire()).unwrap_or_default();
                        send_to_sinks(&sinks, Arc::new([]), kept);
                        continue;
                    }
                }
            }
        };
        let Some(first) = first else { break };
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
        if let Some(metrics) = &metrics {
            let mut metrics = metrics.lock().unwrap_or_else(|e| e.into_inner());
            for exchange in redacted.iter() {
                metrics.observe(exchange);
            }
        }
        let kept = spans
            .as_mut()
            .map(|s| s.derive(&redacted))
            .unwrap_or_default();
        send_to_sinks(&sinks, redacted, kept);
    }
    // Nothing more can enclose the calls still waiting.
    let kept = spans.as_mut().map(SpanStage::stop).unwrap_or_default();
    send_to_sinks(&sinks, Arc::new([]), kept);
    Ok(())
}

fn send_to_sinks(
    sinks: &[(&'static str, Sender<SinkBatch>)],
    exchanges: Arc<[Redacted<HttpExchange>]>,
    spans: Vec<Span>,
) {
    if exchanges.is_empty() && spans.is_empty() {
        return;
    }
    let spans: Arc<[Span]> = spans.into();
    for (name, queue) in sinks {
        let message = SinkBatch::traffic(Arc::clone(&exchanges), Arc::clone(&spans));
        let count = message.len();
        if queue.try_send(message).is_err() {
            TrafficDropped {
                output: name,
                count,
            }
            .emit();
        }
    }
}

/// Builds, nests and samples spans; sends the kept ones to the exporter
/// and hands them back for the sinks, if there are any.
struct SpanStage {
    output: SpanOutput,
    builder: SpanBuilder,
    nesting: ClientNesting,
    to_sinks: bool,
}

impl SpanStage {
    fn new(output: SpanOutput, to_sinks: bool) -> Self {
        SpanStage {
            nesting: ClientNesting::new(output.limits),
            builder: SpanBuilder::default(),
            output,
            to_sinks,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.nesting.next_deadline()
    }

    fn derive(&mut self, exchanges: &[Redacted<HttpExchange>]) -> Vec<Span> {
        let now = Instant::now();
        let mut families = Vec::with_capacity(exchanges.len());
        for exchange in exchanges {
            let service = exchange.resource.service_name.as_deref().unwrap_or("");
            let route = self.output.router.route(service, &exchange.path);
            let span = self.builder.build(exchange, &route);
            self.nesting.admit(exchange, span, now, &mut families);
        }
        self.nesting.expire(now, &mut families);
        self.sample(families, now)
    }

    fn expire(&mut self) -> Vec<Span> {
        let now = Instant::now();
        let mut families = Vec::new();
        self.nesting.expire(now, &mut families);
        self.sample(families, now)
    }

    fn stop(&mut self) -> Vec<Span> {
        let mut families = Vec::new();
        self.nesting.stop(&mut families);
        self.sample(families, Instant::now())
    }

    /// Decides each family by its head, counts what nesting did, exports.
    fn sample(&mut self, families: Vec<SpanFamily>, now: Instant) -> Vec<Span> {
        let counts = self.nesting.take_counts();
        if !counts.is_empty() {
            ClientSpansSettled {
                nested: counts.nested,
                unnested: Unnested::ALL
                    .iter()
                    .map(|&reason| (reason.as_str(), counts.unnested(reason)))
                    .collect(),
            }
            .emit();
        }
        if families.is_empty() {
            return Vec::new();
        }
        let sampler = &self.output.sampler;
        let mut tally = sampler.tally();
        let mut kept = Vec::with_capacity(families.len());
        for SpanFamily { head, children } in families {
            let decision = sampler.decide(&span_facts(&head).facts(), now);
            for _ in 0..=children.len() {
                tally.record(&decision);
            }
            if decision.keep {
                kept.push(head);
                kept.extend(children);
            }
        }
        tally.emit();
        let Some(queue) = &self.output.export else {
            return kept;
        };
        if kept.is_empty() {
            return kept;
        }
        let count = kept.len();
        let (exported, for_sinks) = if self.to_sinks {
            (kept.clone(), kept)
        } else {
            (kept, Vec::new())
        };
        if let Err(TrySendError::Full(_) | TrySendError::Closed(_)) = queue.try_send(exported) {
            TrafficDropped {
                output: "spans",
                count,
            }
            .emit();
        }
        for_sinks
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
                limits: NestingLimits::default(),
                export: Some(span_tx),
            }),
        };
        input_tx
            .blocking_send(exchange("/patients/123-45-6789", 200))
            .unwrap();
        input_tx
            .blocking_send(exchange("/patients/234-56-7891", 500))
            .unwrap();
        drop(input_tx);
        run(input_rx, &rules, outputs).unwrap();

        let mut paths = Vec::new();
        let mut sink_spans = Vec::new();
        while let Ok(batch) = sink_rx.try_recv() {
            paths.extend(batch.exchanges.iter().map(|e| e.path.clone()));
            sink_spans.extend(batch.spans.iter().map(|s| s.name.clone()));
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
        assert_eq!(sink_spans, names, "the sinks get the kept spans too");
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
        run(input_rx, &rules, outputs).unwrap();
        let first = sink_rx.try_recv().unwrap();
        assert_eq!(first.exchanges.len(), BATCH);
        assert!(sink_rx.try_recv().is_err(), "later batches were dropped");
    }

    /// An exchange of pid 40 on `tid`, from `start` to `end` ms after `t0`.
    fn on_thread(
        role: Role,
        tid: u32,
        path: &str,
        t0: chrono::DateTime<Utc>,
        (start, end): (i64, i64),
    ) -> HttpExchange {
        HttpExchange {
            role,
            pid: 40,
            tid,
            start: t0 + chrono::Duration::milliseconds(start),
            duration: Duration::from_millis((end - start) as u64),
            ..exchange(path, 200)
        }
    }

    /// Runs the stage over `exchanges` with `sampler`; the spans exported,
    /// and those the sink got.
    fn spans_of(exchanges: Vec<HttpExchange>, sampler: SpanSampler) -> (Vec<Span>, Vec<Span>) {
        let rules: RulesHandle = Arc::new(ArcSwap::from_pointee(Redactor::builtin()));
        let (input_tx, input_rx) = channel(16);
        let (sink_tx, mut sink_rx) = channel(16);
        let (span_tx, mut span_rx) = channel(16);
        let outputs = TrafficOutputs {
            sinks: vec![("stdout", sink_tx)],
            metrics: None,
            spans: Some(SpanOutput {
                router: Router::new(&RouteConfig::default()),
                sampler: Arc::new(sampler),
                limits: NestingLimits::default(),
                export: Some(span_tx),
            }),
        };
        for exchange in exchanges {
            input_tx.blocking_send(exchange).unwrap();
        }
        drop(input_tx);
        run(input_rx, &rules, outputs).unwrap();
        let mut exported = Vec::new();
        while let Ok(spans) = span_rx.try_recv() {
            exported.extend(spans);
        }
        let mut sunk = Vec::new();
        while let Ok(batch) = sink_rx.try_recv() {
            sunk.extend(batch.spans.iter().cloned());
        }
        (exported, sunk)
    }

    fn by_path<'s>(spans: &'s [Span], path: &str) -> &'s Span {
        spans
            .iter()
            .find(|s| s.name.ends_with(path))
            .unwrap_or_else(|| panic!("no span for {path}"))
    }

    #[test]
    fn calls_made_while_serving_go_out_nested_with_the_request() {
        let t0 = Utc::now();
        let (exported, sunk) = spans_of(
            vec![
                on_thread(Role::Client, 7, "/allergies", t0, (10, 20)),
                on_thread(Role::Client, 8, "/elsewhere", t0, (12, 22)),
                on_thread(Role::Client, 7, "/insurance", t0, (30, 45)),
                on_thread(Role::Server, 7, "/patients", t0, (0, 50)),
            ],
            SpanSampler::keep_all(),
        );
        assert_eq!(exported.len(), 4, "never lost");
        assert_eq!(sunk, exported);
        let server = by_path(&exported, "/patients");
        for call in ["/allergies", "/insurance"] {
            let call = by_path(&exported, call);
            assert_eq!(call.trace_id, server.trace_id);
            assert_eq!(call.parent_span_id, Some(server.span_id));
        }
        let elsewhere = by_path(&exported, "/elsewhere");
        assert_ne!(elsewhere.trace_id, server.trace_id);
        assert_eq!(elsewhere.parent_span_id, None);
    }

    #[test]
    fn calls_follow_the_sampling_decision_of_their_request() {
        let yaml = "sampling:\n  spans:\n    rules:\n      - id: no-patients\n        when: {route: '/patients*'}\n        keep: never\n";
        let config = crate::sample::SamplingConfig::from_yaml_str(yaml, "sampling.yaml").unwrap();
        let origin = crate::sample::ConfigOrigin {
            file: "sampling.yaml",
            base_dir: std::path::Path::new("/nonexistent"),
        };
        let sampler = SpanSampler::new(&config.spans, &origin).unwrap();
        let t0 = Utc::now();
        let (exported, _) = spans_of(
            vec![
                on_thread(Role::Client, 7, "/allergies", t0, (10, 20)),
                on_thread(Role::Client, 8, "/elsewhere", t0, (12, 22)),
                on_thread(Role::Server, 7, "/patients", t0, (0, 50)),
            ],
            sampler,
        );
        // `/allergies` alone would be kept; under a dropped request it goes
        // with it, and the call on another thread is decided on its own.
        let names: Vec<&str> = exported.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["GET /elsewhere"]);
    }

    #[test]
    fn a_waiting_call_leaves_on_time_while_the_input_stays_open() {
        let rules: RulesHandle = Arc::new(ArcSwap::from_pointee(Redactor::builtin()));
        let (input_tx, input_rx) = channel(16);
        let (sink_tx, mut sink_rx) = channel(16);
        let outputs = TrafficOutputs {
            sinks: vec![("stdout", sink_tx)],
            metrics: None,
            spans: Some(SpanOutput {
                router: Router::new(&RouteConfig::default()),
                sampler: Arc::new(SpanSampler::keep_all()),
                limits: NestingLimits {
                    max_wait: Duration::from_millis(50),
                    max_waiting: 16,
                },
                export: None,
            }),
        };
        let stage = std::thread::spawn(move || run(input_rx, &rules, outputs));
        let call = on_thread(Role::Client, 7, "/allergies", Utc::now(), (0, 5));
        input_tx.blocking_send(call).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut spans = Vec::new();
        while spans.is_empty() {
            assert!(Instant::now() < deadline, "the waiting span never left");
            match sink_rx.try_recv() {
                Ok(batch) => spans.extend(batch.spans.iter().cloned()),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "GET /allergies");
        assert!(!input_tx.is_closed(), "left before the input closed");
        drop(input_tx);
        stage.join().unwrap().unwrap();
    }
}
