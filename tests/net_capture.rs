//! HTTP capture end to end, through the real binary: `wardwatch run --net
//! --stdout` while this test serves HTTP with hyper (Rust) and with Python,
//! and sends a known set of requests to both, with and without keep-alive.
//! Exactly those exchanges must come out, from both sides, with the right
//! method, path, status and a plausible duration.
//!
//! Needs root (CI runs as root and must run it; elsewhere it skips loudly).

mod support;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use support::{free_port, Agent};

fn can_capture() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the capture test must run in CI, but it is not root");
    }
    eprintln!("\n!!! SKIPPED HTTP capture test: not root (eBPF needs root or CAP_BPF + CAP_PERFMON) !!!\n");
    false
}

/// The status each path answers with, on both servers.
fn status_of(path: &str) -> u16 {
    match path.rsplit('/').next().unwrap_or("") {
        "missing" => 404,
        "fail" => 500,
        _ => 200,
    }
}

async fn hyper_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let status = status_of(request.uri().path());
                    let mut response = Response::new(Full::new(Bytes::from("hello from hyper")));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    Ok::<_, Infallible>(response)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

const PYTHON_SERVER: &str = r#"
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        tail = self.path.rsplit("/", 1)[-1]
        status = {"missing": 404, "fail": 500}.get(tail, 200)
        body = b"hello from python"
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_DELETE = answer
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"#;

/// Sends `requests` (method, path) on one connection, keep-alive, reading
/// each response before the next; or on a connection each with
/// `Connection: close`.
fn send(server: SocketAddr, requests: &[(&str, String)], keep_alive: bool) {
    let mut stream: Option<BufReader<TcpStream>> = None;
    for (method, path) in requests {
        if stream.is_none() || !keep_alive {
            stream = Some(BufReader::new(TcpStream::connect(server).unwrap()));
        }
        let reader = stream.as_mut().unwrap();
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let body = if *method == "POST" {
            "{\"appointment\":1}"
        } else {
            ""
        };
        write!(
            reader.get_mut(),
            "{method} {path} HTTP/1.1\r\nHost: {server}\r\nConnection: {connection}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        // Status line, headers, then the body by its length.
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
    }
}

/// The request set: distinct paths, three methods, three statuses.
fn request_set(prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", format!("/{prefix}/patients/ok")),
        ("POST", format!("/{prefix}/appointments/ok")),
        ("GET", format!("/{prefix}/records/missing")),
        ("DELETE", format!("/{prefix}/sessions/fail")),
    ]
}

type Key = (String, String, String, u64);

/// (role, method, path, status) → count, for exchanges of `server_port`.
fn captured(records: &[Value], server_port: u16) -> BTreeMap<Key, usize> {
    let mut out = BTreeMap::new();
    for r in records {
        if r["event.dataset"] != "wardwatch.http" || r["server.port"] != server_port {
            continue;
        }
        let duration = r["event.duration"].as_u64().unwrap();
        assert!(
            duration > 0 && duration < 5_000_000_000,
            "implausible duration {duration} in {r}"
        );
        let key = (
            r["span.kind"].as_str().unwrap().to_owned(),
            r["http.request.method"].as_str().unwrap().to_owned(),
            r["url.path"].as_str().unwrap().to_owned(),
            r["http.response.status_code"].as_u64().unwrap(),
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

fn expected(requests: &[(&str, String)], roles: &[&str]) -> BTreeMap<Key, usize> {
    let mut out = BTreeMap::new();
    for role in roles {
        for (method, path) in requests {
            let key = (
                role.to_string(),
                method.to_string(),
                path.clone(),
                u64::from(status_of(path)),
            );
            *out.entry(key).or_insert(0) += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_of_a_rust_and_a_python_server_are_captured_from_both_sides() {
    if !can_capture() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let admin = free_port();
    let agent = Agent::start(&[
        "run",
        "--net",
        "--stdout",
        "--logs",
        &format!("{}/*.log", dir.path().display()),
        "--data-dir",
        dir.path().join("data").to_str().unwrap(),
        "--admin",
        &format!("127.0.0.1:{admin}"),
    ]);
    let mut agent = agent;
    agent.admin = Some(format!("127.0.0.1:{admin}").parse().unwrap());
    agent.wait_ready();

    let hyper = hyper_server().await;
    let python_port = free_port();
    let mut python = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_SERVER)
        .arg(python_port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut ready = String::new();
    BufReader::new(python.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let python_addr: SocketAddr = format!("127.0.0.1:{python_port}").parse().unwrap();

    let to_hyper_kept = request_set("hyper-kept");
    let to_hyper_closed = request_set("hyper-closed");
    let to_python_kept = request_set("python-kept");
    let to_python_closed = request_set("python-closed");
    {
        let (a, b, c, d) = (
            to_hyper_kept.clone(),
            to_hyper_closed.clone(),
            to_python_kept.clone(),
            to_python_closed.clone(),
        );
        tokio::task::spawn_blocking(move || {
            send(hyper, &a, true);
            send(hyper, &b, false);
            send(python_addr, &c, true);
            send(python_addr, &d, false);
        })
        .await
        .unwrap();
    }

    // Both sides of every request: this process is the client of both
    // servers and the hyper server; Python serves the rest.
    let mut hyper_expected = expected(&to_hyper_kept, &["server", "client"]);
    hyper_expected.extend(expected(&to_hyper_closed, &["server", "client"]));
    let mut python_expected = expected(&to_python_kept, &["server", "client"]);
    python_expected.extend(expected(&to_python_closed, &["server", "client"]));
    let want = hyper_expected.values().sum::<usize>() + python_expected.values().sum::<usize>();
    agent.wait_for(Duration::from_secs(20), "every exchange", |records| {
        records
            .iter()
            .filter(|r| {
                r["event.dataset"] == "wardwatch.http"
                    && (r["server.port"] == hyper.port() || r["server.port"] == python_port)
            })
            .count()
            >= want
    });
    // Anything late would be a duplicate: give it a moment to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let records = agent.records();
    assert_eq!(captured(&records, hyper.port()), hyper_expected);
    assert_eq!(captured(&records, python_port), python_expected);

    let python_side: Vec<&Value> = records
        .iter()
        .filter(|r| r["server.port"] == python_port && r["span.kind"] == "server")
        .collect();
    assert!(python_side
        .iter()
        .all(|r| r["service.name"] == "unknown_service:python3"
            && r["wardwatch.process.placement"] == "host"));
    assert!(python_side.iter().all(|r| r["process.pid"] == python.id()));
    python.kill().unwrap();
    let _ = python.wait();
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
}
