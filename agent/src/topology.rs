//! The pipeline: log source → redaction → sinks, joined by bounded queues.
//!
//! Every queue is bounded, so a slow sink slows the redaction stage, which
//! slows the tailer, which simply reads the files later: memory stays
//! bounded and nothing is dropped. Sinks receive [`Redacted`] records only.
//!
//! Shutdown runs front to back: the tailer stops reading and drops its queue;
//! each stage finishes what it holds and drops the next queue; sinks write and
//! acknowledge their last batches; the checkpointer writes the final offsets
//! once the last acknowledgement (or unacknowledged drop) is in.
//!
//! HTTP exchanges (captured, or replayed from a file) take a second path:
//! traffic source → traffic stage (`traffic.rs`: redaction, RED metrics,
//! spans) → the sinks that take exchanges and spans, and the OTLP
//! exporter. It shares the sinks, and is drained before them.

pub mod traffic;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Context;
use tokio::sync::mpsc::{channel, Receiver, Sender};
use tokio::sync::Notify;

use crate::admin::Health;
use crate::config::{RulesHandle, StdoutFormat};
use crate::derive::red::RedMetrics;
use crate::derive::route::RouteConfig;
use crate::enrich::{Enricher, ProcessAttribution};
use crate::event::HttpExchange;
use crate::event::LogRecord;
use crate::internal_events::QueueDepth;
use crate::redact::Redacted;
use crate::sample::{LogFacts, LogSampler};
use crate::sinks::{stdout, SinkBatch};
use crate::sources::logs::{LogBatch, LogSource, LogSourceSettings};
use crate::sources::net::NetSettings;

/// Everything the pipeline is built from, resolved from config and flags.
pub struct Plan {
    pub logs: LogSourceSettings,
    pub data_dir: PathBuf,
    pub enricher: Enricher,
    /// The rules in force; a reload swaps them between two batches.
    pub rules: RulesHandle,
    pub stdout: Option<StdoutFormat>,
    pub queue_batches: usize,
    /// HTTP exchanges, when a traffic source is configured.
    pub traffic: Option<TrafficPlan>,
    /// Which log records go on to the sinks (after redaction).
    pub log_sampler: Arc<LogSampler>,
}

/// The traffic path: where exchanges come from and what is derived.
pub struct TrafficPlan {
    pub sources: Vec<TrafficSource>,
    /// The RED histograms, shared with `/metrics` and remote-write.
    pub metrics: Arc<Mutex<RedMetrics>>,
    /// How spans name routes (the metrics' router has the same settings).
    pub routes: RouteConfig,
    /// Which spans are kept, for the sinks and for export.
    pub span_sampler: Arc<crate::sample::SpanSampler>,
    /// Span export, when configured.
    pub otlp: Option<crate::sinks::otlp::Resolved>,
    /// How long and how many client spans wait to be nested.
    pub nesting: crate::derive::nesting::NestingLimits,
}

pub enum TrafficSource {
    /// Exchanges from an NDJSON file, read once; paced by their timestamps
    /// when the flag is set.
    Replay(PathBuf, bool),
    /// HTTP traffic of every process on the node, captured with eBPF.
    Capture(NetSettings),
}

/// How many exchanges wait between a traffic source and the traffic stage.
const TRAFFIC_QUEUE: usize = 8192;
/// Batches of spans waiting for the OTLP exporter; past it, dropped and
/// counted (`wardwatch_traffic_dropped_total{output="spans"}`).
const SPAN_QUEUE: usize = 64;

/// Where the stdout sink writes; tests pass a buffer.
pub type StdoutWriter = Box<dyn io::Write + Send>;

/// The running pipeline.
pub struct Topology {
    shutdown: Arc<AtomicBool>,
    source: LogSource,
    redact: JoinHandle<()>,
    sinks: Vec<(&'static str, JoinHandle<io::Result<()>>)>,
    failed: Arc<Notify>,
    /// The traffic source and stage threads, joined before the sinks.
    traffic: Vec<JoinHandle<()>>,
}

impl Topology {
    pub fn start(
        plan: Plan,
        health: &Health,
        stdout_writer: StdoutWriter,
    ) -> anyhow::Result<Topology> {
        let Plan {
            logs,
            data_dir,
            enricher,
            rules,
            stdout,
            queue_batches,
            traffic,
            log_sampler,
        } = plan;
        let failed = Arc::new(Notify::new());
        let mut sink_queues = Vec::new();
        let mut sinks = Vec::new();
        if let Some(format) = stdout {
            let (tx, rx) = channel(queue_batches);
            let status = health.sink(stdout::NAME);
            let handle = spawn_sink(stdout::NAME, &failed, move || {
                stdout::run(format, rx, stdout_writer, &status)
            })?;
            sink_queues.push((stdout::NAME, tx));
            sinks.push((stdout::NAME, handle));
        }
        anyhow::ensure!(!sink_queues.is_empty(), "no sink is enabled");
        let shutdown = Arc::new(AtomicBool::new(false));
        let traffic = match traffic {
            Some(traffic) => {
                start_traffic(traffic, &rules, sink_queues.clone(), &enricher, &shutdown)?
            }
            None => Vec::new(),
        };

        let (source_tx, source_rx) = channel(queue_batches);
        let redact = std::thread::Builder::new()
            .name("redact".into())
            .spawn(move || run_redaction(source_rx, &rules, &log_sampler, &sink_queues))
            .context("cannot start the redaction stage")?;
        let source = LogSource::start(logs, &data_dir, enricher, source_tx, Arc::clone(&shutdown))
            .with_context(|| {
                format!(
                    "cannot start the log source with data dir {}",
                    data_dir.display()
                )
            })?;
        Ok(Topology {
            shutdown,
            source,
            redact,
            sinks,
            failed,
            traffic,
        })
    }

    /// Resolves once a sink has failed for good; the agent should stop.
    pub fn failure(&self) -> Arc<Notify> {
        Arc::clone(&self.failed)
    }

    /// Asks the source to stop reading; [`Topology::wait`] then drains.
    pub fn stop_reading(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    /// Waits for every stage to drain, in order. Errors if a sink failed.
    pub fn wait(self) -> anyhow::Result<()> {
        let Topology {
            mut source,
            redact,
            sinks,
            traffic,
            ..
        } = self;
        let mut failures = Vec::new();
        source.join_tailer();
        let _ = redact.join();
        for handle in traffic {
            let _ = handle.join();
        }
        for (name, handle) in sinks {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => failures.push(format!("{name}: {error}")),
                Err(_) => failures.push(format!("{name}: panicked")),
            }
        }
        // Every batch is now settled: the final checkpoint is final.
        source.finish();
        anyhow::ensure!(failures.is_empty(), "sinks failed: {}", failures.join("; "));
        Ok(())
    }
}

/// Drops the records the sampling rules thin out (decided on the redacted
/// record: a rule's `contains` never sees PHI), counting every decision.
/// The batch's delivery still covers them: a sampled-out line is delivered
/// by being dropped, and its checkpoint moves on.
fn sample_logs(sampler: &LogSampler, records: &mut Vec<Redacted<LogRecord>>) {
    let now = std::time::Instant::now();
    let mut tally = sampler.tally();
    records.retain(|record| {
        let view = crate::sinks::ecs::EcsView::new(record);
        let facts = LogFacts {
            service: record.resource.service_name.as_deref().unwrap_or(""),
            level: view.level(),
            message: view.message().unwrap_or(""),
        };
        let decision = sampler.decide(&facts, now);
        tally.record(&decision);
        decision.keep
    });
    tally.emit();
}

/// Starts the traffic source and stage; they end when the source does.
fn start_traffic(
    plan: TrafficPlan,
    rules: &RulesHandle,
    sinks: Vec<(&'static str, Sender<SinkBatch>)>,
    enricher: &Enricher,
    shutdown: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let (tx, rx) = channel::<HttpExchange>(TRAFFIC_QUEUE);
    let mut threads = Vec::new();
    for source in plan.sources {
        match source {
            TrafficSource::Replay(path, paced) => {
                let file = std::fs::File::open(&path)
                    .with_context(|| format!("cannot open the replay file {}", path.display()))?;
                let tx = tx.clone();
                let thread = std::thread::Builder::new()
                    .name("replay".into())
                    .spawn(move || {
                        match crate::sources::replay::send_all(io::BufReader::new(file), &tx, paced)
                        {
                            Ok(sent) => tracing::info!(exchanges = sent, "replay finished"),
                            Err(error) => tracing::error!(error = %error, "replay stopped"),
                        }
                    })
                    .context("cannot start the replay source")?;
                threads.push(thread);
            }
            TrafficSource::Capture(settings) => {
                let attribution =
                    ProcessAttribution::new(enricher.host_name().to_owned(), enricher.directory());
                let resolver = Box::new(move |pid, cgroup| attribution.resource_for(pid, cgroup));
                let started = crate::sources::net::start(
                    settings,
                    resolver,
                    tx.clone(),
                    Arc::clone(shutdown),
                )
                .context("sources.net.required is set, and HTTP capture cannot start")?;
                threads.extend(started);
            }
        }
    }
    drop(tx);
    let export = match plan.otlp {
        Some(resolved) => {
            let exporter = crate::sinks::otlp::OtlpExporter::new(resolved)?;
            let (queue, spans) = channel(SPAN_QUEUE);
            let runtime = tokio::runtime::Handle::current();
            threads.push(
                std::thread::Builder::new()
                    .name("otlp".into())
                    .spawn(move || runtime.block_on(crate::sinks::otlp::run(exporter, spans)))
                    .context("cannot start the OTLP exporter")?,
            );
            Some(queue)
        }
        None => None,
    };
    // Spans are built whenever there is somewhere for them to go: the
    // exporter, or a sink such as stdout (debugging without a backend).
    let spans = (export.is_some() || !sinks.is_empty()).then(|| traffic::SpanOutput {
        router: crate::derive::route::Router::new(&plan.routes),
        sampler: plan.span_sampler,
        limits: plan.nesting,
        export,
    });
    let rules = Arc::clone(rules);
    let outputs = traffic::TrafficOutputs {
        sinks,
        metrics: Some(plan.metrics),
        spans,
    };
    let stage = std::thread::Builder::new()
        .name("traffic".into())
        .spawn(move || {
            if let Err(error) = traffic::run(rx, &rules, outputs) {
                tracing::error!(error = %error, "the traffic stage cannot start its timer");
            }
        })
        .context("cannot start the traffic stage")?;
    threads.push(stage);
    Ok(threads)
}

/// Runs a sink on a thread of its own (sinks block on I/O); if it ends with
/// an error, `failed` is notified so the agent stops instead of reading on
/// with nowhere to deliver.
fn spawn_sink(
    name: &'static str,
    failed: &Arc<Notify>,
    sink: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> anyhow::Result<JoinHandle<io::Result<()>>> {
    let failed = Arc::clone(failed);
    std::thread::Builder::new()
        .name(format!("sink-{name}"))
        .spawn(move || {
            let result = sink();
            if result.is_err() {
                failed.notify_one();
            }
            result
        })
        .with_context(|| format!("cannot start the {name} sink"))
}

/// The redaction stage: every batch crosses the boundary here, once, and is
/// shared by all sinks.
fn run_redaction(
    mut input: Receiver<LogBatch>,
    rules: &RulesHandle,
    sampler: &LogSampler,
    sinks: &[(&'static str, Sender<SinkBatch>)],
) {
    while let Some(batch) = input.blocking_recv() {
        QueueDepth {
            stage: "redact",
            depth: input.len(),
        }
        .emit();
        // One batch, one set of rules, even if a reload lands meanwhile.
        let redactor = rules.load();
        let mut records = redactor.redact_batch(batch.records);
        sample_logs(sampler, &mut records);
        let records: Arc<[Redacted<LogRecord>]> = records.into();
        for ((name, queue), delivery) in sinks.iter().zip(batch.delivery.split(sinks.len())) {
            QueueDepth {
                stage: name,
                depth: queue.max_capacity() - queue.capacity(),
            }
            .emit();
            // A sink that is gone has failed; its share is dropped
            // unacknowledged, so the checkpoint stays before this batch.
            let _ = queue.blocking_send(SinkBatch::records(Arc::clone(&records), delivery));
        }
    }
}
