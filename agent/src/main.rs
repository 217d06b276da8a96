//! The `wardwatch` command line: run, validate, version.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use clap::{Parser, Subcommand, ValueEnum};
use serde_saphyr::{Location, Spanned};
use tracing_subscriber::EnvFilter;

mod redact_stdin;

use wardwatch::admin::{self, Health};
use wardwatch::config::{self, LoadedConfig, RuleReloader, StdoutConfig, StdoutFormat};
use wardwatch::derive::nesting::NestingLimits;
use wardwatch::derive::red::{Naming, RedConfig, RedMetrics};
use wardwatch::derive::route::RouteConfig;
use wardwatch::enrich::Enricher;
use wardwatch::redact::Redactor;
use wardwatch::sample::SpanSampler;
use wardwatch::sinks::remote_write::{self, RemoteWriteConfig};
use wardwatch::sources::logs::LogSourceSettings;
use wardwatch::sources::net::connections::TableLimits;
use wardwatch::sources::net::loader::CaptureOptions;
use wardwatch::sources::net::NetSettings;
use wardwatch::topology::{Plan, Topology, TrafficPlan, TrafficSource};

// Records are allocated by the tailer thread and freed by the sink threads;
// glibc malloc serialises that on its arena lock (half the tailer's CPU in the
// pipeline bench). jemalloc's thread caches remove the contention: the 1M-line
// pipeline run went from 7.4 s to 3.6 s (benches/pipeline.rs, README).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit status for a configuration that cannot be used (sysexits' EX_CONFIG,
/// as Vector uses).
const EXIT_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "wardwatch",
    version,
    about = "Per-node observability agent for healthcare platforms: tails container logs, removes PHI, ships what is left."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent.
    Run(RunArgs),
    /// Check a config file and the rule files it names; report every error
    /// with its file, line and column.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Redact standard input line by line with the rules, to try them on
    /// your own samples: one line out for every line in. JSON-object lines get
    /// the field rules too.
    Redact {
        /// Rule files or directories. Default: the built-in pack.
        #[arg(long, value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Also write, on standard error, which rule replaced which bytes of
        /// which line (`line 3: ssn bytes 17..28`), never the values.
        #[arg(long)]
        explain: bool,
    },
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Config file (YAML). Without one, the built-in config for local
    /// debugging is used: stdout sink, Kubernetes and Docker log globs.
    #[arg(long, short, env = "WARDWATCH_CONFIG")]
    config: Option<PathBuf>,
    /// Log files to follow (glob; repeatable). Replaces the config's
    /// `sources.logs.include`.
    #[arg(long = "logs", value_name = "GLOB")]
    logs: Vec<String>,
    /// Directory for checkpoints. Replaces the config's `data_dir`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Write records to standard output (adds the stdout sink).
    #[arg(long)]
    stdout: bool,
    /// Format of the stdout sink; implies --stdout.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Admin server address (health probes, /metrics). Replaces the config's
    /// `admin.address`.
    #[arg(long, value_name = "ADDR")]
    admin: Option<SocketAddr>,
    /// Capture the HTTP traffic of every process on the node with eBPF
    /// (needs root; without it the agent says why and ships logs only).
    #[arg(long)]
    net: bool,
    /// Read HTTP exchanges from an NDJSON file in the stdout sink's shape,
    /// as if captured: try dashboards without root. Replaces the config's
    /// `sources.replay`.
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Push RED metrics to this Prometheus remote-write URL
    /// (`http://127.0.0.1:9090/api/v1/write`). Replaces the config's
    /// `sinks.remote_write.url`.
    #[arg(long, value_name = "URL")]
    remote_write: Option<String>,
    /// Export trace spans over OTLP to this endpoint (gRPC by default:
    /// `http://127.0.0.1:4317`). Replaces the config's `sinks.otlp.endpoint`.
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
    /// Format of the agent's own logs (on standard error).
    #[arg(long, value_enum, default_value = "json", env = "WARDWATCH_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            let _ = writeln!(std::io::stdout(), "wardwatch {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Validate { config } => validate(&config),
        Command::Redact { rules, explain } => redact(&rules, explain),
        Command::Run(args) => {
            init_logging(args.log_format);
            match run(args) {
                Ok(code) => code,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "wardwatch stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The agent's own logs go to standard error (standard output may be the
/// stdout sink), JSON by default; `WARDWATCH_LOG` filters (default `info`).
fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("WARDWATCH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

fn validate(path: &Path) -> ExitCode {
    let report = |text: String| {
        let _ = write!(std::io::stderr(), "{text}");
    };
    let loaded = match config::load_file(path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            report(format!("{errors}\n"));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(errors) = config::validate_rules(&loaded) {
        report(format!("{errors}\n"));
        return ExitCode::from(EXIT_CONFIG);
    }
    let _ = writeln!(std::io::stdout(), "{}: ok", path.display());
    ExitCode::SUCCESS
}

fn redact(rules: &[PathBuf], explain: bool) -> ExitCode {
    let redactor = if rules.is_empty() {
        Redactor::builtin()
    } else {
        match Redactor::load(rules) {
            Ok(redactor) => redactor,
            Err(errors) => {
                for error in errors {
                    let _ = writeln!(std::io::stderr(), "{error}");
                }
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    };
    let stdin = std::io::stdin().lock();
    let stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut stderr = std::io::stderr().lock();
    let explain = explain.then_some(&mut stderr as &mut dyn Write);
    match redact_stdin::run(&redactor, stdin, stdout, explain) {
        Ok(summary) => {
            if summary.invalid_utf8 > 0 {
                let _ = writeln!(
                    std::io::stderr(),
                    "{} of {} lines had invalid UTF-8, replaced by U+FFFD",
                    summary.invalid_utf8,
                    summary.lines
                );
            }
            ExitCode::SUCCESS
        }
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "wardwatch redact: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = match &args.config {
        Some(path) => match config::load_file(path) {
            Ok(loaded) => loaded,
            Err(errors) => {
                tracing::error!(errors = %errors, "invalid config");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
        },
        None => match config::load_embedded_default() {
            Ok(loaded) => loaded,
            Err(errors) => {
                tracing::error!(errors = %errors, "invalid built-in config");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
        },
    };
    if let Err(message) = apply_flags(&mut loaded, &args) {
        tracing::error!(error = %message, "invalid command line");
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let redactor = match config::load_rules(&loaded) {
        Ok(redactor) => redactor,
        Err(errors) => {
            tracing::error!(errors = %errors, "invalid redaction rules");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    tracing::info!(rules = redactor.rule_ids().len(), "redaction rules loaded");

    let config = &loaded.config;
    let file_label = loaded.file.as_ref().map_or_else(
        || "<embedded default>".to_owned(),
        |path| path.display().to_string(),
    );
    let origin = wardwatch::sample::ConfigOrigin {
        file: &file_label,
        base_dir: &loaded.base_dir,
    };
    // Checked with the rest of the config when it loaded.
    let (span_sampler, log_sampler) = config
        .sampling
        .build(&origin)
        .map_err(|errors| anyhow::anyhow!("{}", errors))?;
    let plan = Plan {
        logs: LogSourceSettings::from_config(
            &config.sources.logs,
            &config.pipeline,
            &loaded.base_dir,
        )?,
        data_dir: loaded.base_dir.join(&config.data_dir),
        enricher: Enricher::new(&config.enrich),
        rules: Arc::new(ArcSwap::from_pointee(redactor)),
        stdout: config.sinks.stdout.as_ref().map(|s| s.format),
        queue_batches: usize::try_from(config.pipeline.queue_batches.value)?,
        traffic: traffic_plan(config, &loaded.base_dir, Arc::new(span_sampler)),
        log_sampler: Arc::new(log_sampler),
    };
    let admin = config
        .admin
        .enabled
        .then(|| config.admin.address.value.clone());
    let rule_paths = config.rule_paths(&loaded.base_dir);
    let reloader = (!rule_paths.is_empty()).then(|| {
        let interval = Duration::from_secs(config.redaction.reload_interval_secs.value);
        (
            RuleReloader::new(rule_paths, Arc::clone(&plan.rules)),
            interval,
        )
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("wardwatch-rt")
        .build()
        .context("cannot start the async runtime")?;
    let remote_write = config.sinks.remote_write.clone();
    runtime.block_on(serve(plan, admin, reloader, remote_write))
}

async fn serve(
    plan: Plan,
    admin_address: Option<String>,
    reloader: Option<(RuleReloader, Duration)>,
    remote_write: Option<RemoteWriteConfig>,
) -> anyhow::Result<ExitCode> {
    use tokio::signal::unix::{signal, SignalKind};

    let health = Arc::new(Health::default());
    if let Some(address) = admin_address {
        let address: SocketAddr = address
            .parse()
            .with_context(|| format!("admin.address {address:?} is not host:port"))?;
        admin::serve(address, Arc::clone(&health))
            .await
            .with_context(|| format!("cannot listen on {address} for the admin server"))?;
    }
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    match reloader {
        Some((reloader, interval)) => {
            tokio::spawn(reloader.run(interval));
        }
        // SIGHUP's default action ends the process: answer it instead.
        None => {
            let mut hangup = signal(SignalKind::hangup())?;
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    tracing::info!("SIGHUP: the built-in rules are in force; there are no rule files to reload");
                }
            });
        }
    }
    let stop_pushing = Arc::new(tokio::sync::Notify::new());
    let mut pusher = None;
    if let Some(traffic) = &plan.traffic {
        health.publish_traffic_metrics(Arc::clone(&traffic.metrics));
        if let Some(config) = remote_write {
            let metrics = Arc::clone(&traffic.metrics);
            let stop = Arc::clone(&stop_pushing);
            // Checked before anything starts: a bad URL is a config error.
            remote_write::RemoteWriter::new(config.clone())?;
            pusher = Some(tokio::spawn(remote_write::run(config, metrics, stop)));
        }
    } else if remote_write.is_some() {
        tracing::warn!(
            "sinks.remote_write is set but no traffic source is (sources.net or sources.replay): nothing to push"
        );
    }
    let topology = Topology::start(plan, &health, Box::new(std::io::stdout()))?;
    health.mark_started();
    tracing::info!("wardwatch started");

    let failure = topology.failure();
    let failed = tokio::select! {
        _ = terminate.recv() => false,
        _ = interrupt.recv() => false,
        () = failure.notified() => true,
    };
    tracing::info!("stopping: no more reading; flushing and checkpointing");
    topology.stop_reading();
    let mut drained = tokio::task::spawn_blocking(move || topology.wait());
    // A second Ctrl-C while draining means: stop now. Repeated SIGTERMs do
    // not (supervisors and `timeout` may signal the process and its group).
    let result = loop {
        tokio::select! {
            joined = &mut drained => break joined.context("shutdown panicked")?,
            _ = terminate.recv() => continue,
            _ = interrupt.recv() => anyhow::bail!("interrupted again while draining"),
        }
    };
    result?;
    // The traffic stage has drained: push the final values once more.
    if let Some(mut pusher) = pusher {
        stop_pushing.notify_one();
        // Retries against an unreachable receiver would otherwise outlast
        // Kubernetes' 30 s grace period and end in SIGKILL. The counters
        // are cumulative, so what is lost is the last interval's increase.
        match tokio::time::timeout(FINAL_PUSH_LIMIT, &mut pusher).await {
            Ok(Ok(Err(error))) => tracing::error!(error = %error, "remote-write stopped"),
            Ok(_) => {}
            Err(_) => {
                pusher.abort();
                tracing::warn!(
                    limit_secs = FINAL_PUSH_LIMIT.as_secs(),
                    "remote-write final push abandoned: the receiver did not take it in time"
                );
            }
        }
    }
    if failed {
        anyhow::bail!("a sink failed");
    }
    tracing::info!("wardwatch stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// Longest the last remote-write push may take at shutdown.
const FINAL_PUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The traffic path, if a traffic source is configured.
fn traffic_plan(
    config: &config::Config,
    base_dir: &Path,
    span_sampler: Arc<SpanSampler>,
) -> Option<TrafficPlan> {
    let mut sources = Vec::new();
    if let Some(replay) = &config.sources.replay {
        sources.push(TrafficSource::Replay(
            base_dir.join(&replay.path),
            replay.paced,
        ));
    }
    let net = &config.sources.net;
    if net.enabled {
        sources.push(TrafficSource::Capture(NetSettings {
            limits: TableLimits {
                max_connections: net.max_connections.value as usize,
                idle_ns: net.idle_timeout_secs.value.saturating_mul(1_000_000_000),
                ..TableLimits::default()
            },
            required: net.required,
            capture: CaptureOptions::default(),
        }));
    }
    if sources.is_empty() {
        return None;
    }
    let metrics = &config.metrics;
    let routes = RouteConfig {
        templates: metrics.route_templates.clone(),
        max_distinct_segments: metrics
            .max_distinct_segments
            .as_ref()
            .map_or(RouteConfig::default().max_distinct_segments, |max| {
                max.value as usize
            }),
    };
    let red = RedConfig {
        naming: match metrics.naming {
            config::MetricsNaming::Otel => Naming::Otel,
            config::MetricsNaming::Spring => Naming::Spring,
        },
        external_labels: metrics.external_labels.clone(),
        routes: routes.clone(),
    };
    let otlp = config.sinks.otlp.as_ref().map(|otlp| {
        let env = |name: &str| std::env::var(name).ok();
        otlp.resolve(&env)
    });
    Some(TrafficPlan {
        nesting: NestingLimits {
            max_wait: Duration::from_millis(net.client_span_wait_ms.value),
            max_waiting: net.max_waiting_client_spans.value as usize,
        },
        otlp,
        span_sampler,
        sources,
        metrics: Arc::new(Mutex::new(RedMetrics::new(&red))),
        routes,
    })
}

/// Command-line flags add to or override the config file.
fn apply_flags(loaded: &mut LoadedConfig, args: &RunArgs) -> Result<(), String> {
    let config = &mut loaded.config;
    if !args.logs.is_empty() {
        let cwd = std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?;
        let mut include = Vec::new();
        for pattern in &args.logs {
            glob::Pattern::new(pattern).map_err(|e| format!("--logs {pattern:?}: {e}"))?;
            // Relative to where the command runs, as a shell user expects.
            include.push(flag(cwd.join(pattern).to_string_lossy().into_owned()));
        }
        config.sources.logs.include = include;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if args.net {
        config.sources.net.enabled = true;
    }
    if let Some(path) = &args.replay {
        let cwd = std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?;
        config.sources.replay = Some(config::ReplayConfig {
            path: cwd.join(path),
            paced: false,
        });
    }
    if let Some(url) = &args.otlp {
        let otlp = config.sinks.otlp.get_or_insert_with(Default::default);
        otlp.endpoint = Some(url.clone());
    }
    if let Some(url) = &args.remote_write {
        match &mut config.sinks.remote_write {
            Some(remote_write) => remote_write.url = url.clone(),
            None => config.sinks.remote_write = Some(RemoteWriteConfig::for_url(url.clone())),
        }
    }
    if let Some(address) = args.admin {
        config.admin.address = flag(address.to_string());
        config.admin.enabled = true;
    }
    if args.stdout || args.format.is_some() {
        let stdout = config
            .sinks
            .stdout
            .get_or_insert_with(StdoutConfig::default);
        if let Some(format) = args.format {
            stdout.format = match format {
                FormatArg::Json => StdoutFormat::Json,
                FormatArg::Text => StdoutFormat::Text,
            };
        }
    }
    Ok(())
}

/// A value from the command line, which has no place in a file.
fn flag<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}
