//! What capture costs and what it sees: `wrk` against a local hyper server,
//! without the agent, then with `wardwatch run --net` capturing. Reports
//! requests/s, p50 and p99 latency for both runs, exchanges captured versus
//! requests sent, ring-buffer and queue drops, and the agent's CPU and peak
//! RSS.
//!
//! `cargo bench --bench capture` as root, with `wrk` installed (Debian
//! package `wrk`). `WARDWATCH_BENCH_SECS` sets each run's length (default
//! 10), `WARDWATCH_BENCH_CONNECTIONS` wrk's connections (default 32).

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("!!! capture bench skipped: eBPF needs root !!!");
        return;
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("!!! capture bench skipped: wrk is not installed (apt-get install wrk) !!!");
        return;
    }
    let secs = env_or("WARDWATCH_BENCH_SECS", 10);
    let connections = env_or("WARDWATCH_BENCH_CONNECTIONS", 32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(serve());

    let baseline = wrk(server, secs, connections);
    let admin: SocketAddr = "127.0.0.1:18687".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
        .args(["run", "--net", "--stdout", "--admin", &admin.to_string()])
        .args(["--logs", &format!("{}/*.log", dir.path().display())])
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wardwatch");
    wait_for_capture(admin);
    let cpu_before = cpu_ticks(agent.id());
    let captured_run = wrk(server, secs, connections);
    // Let the agent drain what it read.
    std::thread::sleep(Duration::from_secs(2));
    let cpu = (cpu_ticks(agent.id()) - cpu_before) as f64 / ticks_per_second();
    let metrics = scrape(admin);
    let rss = peak_rss_kib(agent.id());
    let _ = agent.kill();
    let _ = agent.wait();

    let server_side = sum(
        &metrics,
        "http_server_request_duration_seconds_count{",
        "/hello",
    );
    let client_side = sum(
        &metrics,
        "http_client_request_duration_seconds_count{",
        "/hello",
    );
    let ring = sum(&metrics, "wardwatch_net_ring_drops_total", "");
    let queue = sum(&metrics, "wardwatch_net_queue_drops_total", "");
    println!();
    println!("| {secs} s, {connections} connections, 2 wrk threads | without agent | with `wardwatch run --net` |");
    println!("| --- | ---: | ---: |");
    println!(
        "| requests/s | {:.0} | {:.0} |",
        baseline.rps, captured_run.rps
    );
    println!("| p50 latency | {} | {} |", baseline.p50, captured_run.p50);
    println!("| p99 latency | {} | {} |", baseline.p99, captured_run.p99);
    println!(
        "| requests sent | {} | {} |",
        baseline.requests, captured_run.requests
    );
    println!(
        "| exchanges captured, server side / client side | | {server_side:.0} / {client_side:.0} ({:.2} % / {:.2} %) |",
        server_side * 100.0 / captured_run.requests as f64,
        client_side * 100.0 / captured_run.requests as f64
    );
    println!("| ring-buffer drops / queue drops | | {ring:.0} / {queue:.0} |");
    println!(
        "| agent CPU | | {cpu:.2} s ({:.0} % of one core; {:.2} µs per request) |",
        cpu * 100.0 / secs as f64,
        cpu * 1e6 / captured_run.requests as f64
    );
    println!("| agent peak RSS | | {:.1} MiB |", rss as f64 / 1024.0);
    // With `connections` requests always in flight, the mean latency is
    // connections / throughput (Little's law).
    let added_ns = connections as f64 * (1.0 / captured_run.rps - 1.0 / baseline.rps) * 1e9;
    println!("\nmean latency added per request (Little's law at {connections} connections): {added_ns:.0} ns");
}

async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|_: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"hello from the bench",
                    ))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

struct WrkRun {
    rps: f64,
    requests: u64,
    p50: String,
    p99: String,
}

fn wrk(server: SocketAddr, secs: u64, connections: u64) -> WrkRun {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .arg(format!("http://{server}/hello"))
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()))
            .unwrap_or_default()
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    WrkRun {
        rps: field("Requests/sec:").parse().unwrap_or(0.0),
        requests,
        p50: field("50%"),
        p99: field("99%"),
    }
}

fn wait_for_capture(admin: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if scrape(admin).contains("wardwatch_net_events_total") {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the agent did not start capturing");
}

fn scrape(admin: SocketAddr) -> String {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect(admin) else {
        return String::new();
    };
    let _ = write!(stream, "GET /metrics HTTP/1.0\r\n\r\n");
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

fn sum(metrics: &str, prefix: &str, containing: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(prefix) && l.contains(containing))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th of the whole line.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let number = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    number(11) + number(12)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
