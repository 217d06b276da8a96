//! RED metrics pushed by remote-write into a real Prometheus (Debian package
//! `prometheus`, `--web.enable-remote-write-receiver` on 127.0.0.1), then
//! read back with PromQL over its HTTP API: request counts, the 5xx ratio
//! and a p99 come back as computed by hand, under both namings, including
//! the Spring dashboards' own queries. Exchanges come from the replay input,
//! so no root is needed.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::pki::Pki;
use support::{dir_config, free_port, Agent};

/// A Prometheus child process, killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    /// Set when Prometheus serves HTTPS with mutual TLS and basic auth.
    secured: Option<Secured>,
    _dir: tempfile::TempDir,
}

/// What it takes to talk to a secured Prometheus, as the agent must.
struct Secured {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start() -> Option<Prometheus> {
        Prometheus::start_with(None)
    }

    /// Prometheus behind TLS that requires a client certificate signed by
    /// `pki`'s CA and the basic-auth user `wardwatch` / [`PASSWORD`].
    fn start_secured(pki: &Pki) -> Option<Prometheus> {
        Prometheus::start_with(Some(pki))
    }

    fn start_with(pki: Option<&Pki>) -> Option<Prometheus> {
        if Command::new("prometheus")
            .arg("--version")
            .output()
            .is_err()
        {
            if std::env::var_os("CI").is_some() {
                panic!("prometheus is not installed (apt-get install prometheus)");
            }
            eprintln!("\n!!! SKIPPED remote-write test: prometheus is not installed (apt-get install prometheus) !!!\n");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
        let port = free_port();
        let mut command = Command::new("prometheus");
        let secured = pki.map(|pki| {
            let web = dir.path().join("web.yml");
            std::fs::write(
                &web,
                format!(
                    "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\nbasic_auth_users:\n  wardwatch: '{PASSWORD_BCRYPT}'\n",
                    pki.server_cert.display(),
                    pki.server_key.display(),
                    pki.ca.display()
                ),
            )
            .unwrap();
            command.arg(format!("--web.config.file={}", web.display()));
            secured(pki)
        });
        let child = command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            child,
            port,
            secured,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while prometheus.get("/-/ready").map(|(s, _)| s) != Some(200) {
            assert!(Instant::now() < deadline, "prometheus never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(prometheus)
    }

    /// An instant query's single value (`None` if the result is empty).
    fn value(&self, query: &str) -> Option<f64> {
        let path = format!("/api/v1/query?query={}", encode(query));
        let (status, body) = self.get(&path).expect("query prometheus");
        assert_eq!(status, 200, "{query}: {body}");
        let doc: Value = serde_json::from_str(&body).unwrap();
        let result = doc["data"]["result"].as_array()?;
        let first = result.first()?;
        first["value"][1].as_str()?.parse().ok()
    }

    /// Its HTTP API, over HTTPS with the client certificate and password
    /// when it is secured.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        let Some(secured) = &self.secured else {
            return get(self.port, path);
        };
        let url = format!("https://127.0.0.1:{}{path}", self.port);
        secured.runtime.block_on(async {
            let response = secured
                .client
                .get(url)
                .basic_auth("wardwatch", Some(PASSWORD))
                .send()
                .await
                .ok()?;
            let status = response.status().as_u16();
            Some((status, response.text().await.ok()?))
        })
    }

    fn write_url(&self) -> String {
        let scheme = if self.secured.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/api/v1/write", self.port)
    }
}

/// The password Prometheus's web config knows by [`PASSWORD_BCRYPT`].
const PASSWORD: &str = "open sesame";
/// bcrypt (cost 4, the test's only concern being speed) of [`PASSWORD`].
const PASSWORD_BCRYPT: &str = "$2b$04$743p1Qlr1ngUXT6sTk/C6OjObe1sxmQ7ydkkUhqFSMEbngkAQG2z6";

/// A client that trusts only `pki`'s CA and presents its client
/// certificate.
fn secured(pki: &Pki) -> Secured {
    let read = |path: &Path| std::fs::read(path).unwrap();
    let mut identity = read(&pki.client_cert);
    identity.extend(read(&pki.client_key));
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&read(&pki.ca)).unwrap())
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Secured { client, runtime }
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// Ten exchanges of appointment-service, one a second: eight 200s at 30 ms,
/// then two 503s at 1.5 s (the fifth and the last).
fn replay_file(dir: &Path) -> std::path::PathBuf {
    let start = chrono::Utc::now();
    let mut lines = Vec::new();
    for i in 0..10 {
        let (status, millis) = if i == 4 || i == 9 {
            (503, 1500)
        } else {
            (200, 30)
        };
        let at = start + chrono::Duration::milliseconds(700 * i);
        lines.push(format!(
            r#"{{"@timestamp":"{}","span.kind":"server","http.request.method":"GET","url.path":"/api/v1/appointments/{}","http.response.status_code":{status},"event.duration":{},"service.name":"appointment-service","orchestrator.namespace":"clinical","host.name":"node-a"}}"#,
            at.to_rfc3339(),
            1000 + i,
            millis * 1_000_000
        ));
    }
    let path = dir.join("exchanges.ndjson");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// Runs the agent on the replay file with `naming` until it has pushed
/// everything, then stops it (which pushes once more). `settings` are
/// further `remote_write` settings; returns the agent's own log.
fn run_agent(prometheus: &Prometheus, naming: &str, settings: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let replay = replay_file(dir.path());
    let config = dir_config(
        dir.path(),
        &format!("metrics:\n  naming: {naming}\n  external_labels: {{cluster: test-cluster}}\n"),
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "sources:\n",
            &format!(
                "sources:\n  replay:\n    path: '{}'\n    paced: true\n",
                replay.display()
            ),
        )
        .replace(
            "sinks:\n",
            &format!(
                "sinks:\n  remote_write:\n    url: {}\n    flush_interval_ms: 500\n{settings}",
                prometheus.write_url()
            ),
        );
    std::fs::write(&config, text).unwrap();
    let agent = Agent::with_config(&config);
    agent.wait_for(Duration::from_secs(30), "ten exchanges", |records| {
        records
            .iter()
            .filter(|r| r["event.dataset"] == "wardwatch.http")
            .count()
            == 10
    });
    // Two more flushes with the final values.
    std::thread::sleep(Duration::from_millis(1200));
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
    stderr
}

/// Runs the agent and requires every push to have landed.
fn push_all(prometheus: &Prometheus, naming: &str, settings: &str) {
    let stderr = run_agent(prometheus, naming, settings);
    assert!(!stderr.contains("remote-write request dropped"), "{stderr}");
}

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: no result"));
    assert!(
        (actual - expected).abs() < 1e-6,
        "{what}: {actual} != {expected}"
    );
}

#[test]
fn red_metrics_reach_prometheus_under_both_namings() {
    let Some(prometheus) = Prometheus::start() else {
        return;
    };
    push_all(&prometheus, "otel", "");
    let count = "http_server_request_duration_seconds_count";
    let selector = r#"{service_name="appointment-service",service_namespace="clinical",cluster="test-cluster",http_route="/api/v1/appointments/{id}"}"#;
    close(
        prometheus.value(&format!("sum({count}{selector})")),
        10.0,
        "requests",
    );
    close(
        prometheus.value(&format!(
            r#"sum({count}{{http_response_status_code=~"5.."}}) / sum({count})"#
        )),
        0.2,
        "5xx ratio",
    );
    // Eight at 30 ms (bucket 0.05), two at 1.5 s (bucket 2.0): rank 9.9 of
    // 10 interpolates to 1 + (9.9 - 8) / 2 = 1.95 s.
    close(
        prometheus.value(
            "histogram_quantile(0.99, sum by (le) (http_server_request_duration_seconds_bucket))",
        ),
        1.95,
        "p99",
    );

    push_all(&prometheus, "spring", "");
    let spring = r#"http_server_requests_seconds_count{application="appointment-service"}"#;
    close(
        prometheus.value(&format!("sum({spring})")),
        10.0,
        "spring requests",
    );
    // The platform's alert and dashboard queries, unchanged.
    let errors = prometheus
        .value(r#"sum(rate(http_server_requests_seconds_count{application="appointment-service",status=~"5.."}[5m]))"#)
        .expect("5xx rate");
    assert!(errors > 0.0, "5xx rate {errors}");
    let p99 = prometheus
        .value(
            "histogram_quantile(0.99, sum by (le) (rate(http_server_requests_seconds_bucket[5m])))",
        )
        .expect("spring p99");
    assert!(p99 > 1.0 && p99 <= 2.0, "spring p99 {p99}");
    close(
        prometheus.value(r#"sum(http_server_requests_seconds_count{outcome="SERVER_ERROR",uri="/api/v1/appointments/{id}",method="GET",status="503"})"#),
        2.0,
        "spring outcome labels",
    );
}

#[test]
fn red_metrics_reach_prometheus_over_mutual_tls_with_basic_auth() {
    let pki = Pki::new();
    let Some(prometheus) = Prometheus::start_secured(&pki) else {
        return;
    };
    let secrets = tempfile::tempdir().unwrap();
    let password = secrets.path().join("password");
    // A trailing newline, as `echo` or a Kubernetes secret leaves it.
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let auth = format!(
        "    basic_auth:\n      username: wardwatch\n      password_file: '{}'\n",
        password.display()
    );
    push_all(&prometheus, "otel", &(auth.clone() + &pki.agent_tls()));
    close(
        prometheus.value("sum(http_server_request_duration_seconds_count)"),
        10.0,
        "requests over mutual TLS",
    );

    // A wrong password is refused with 401: dropped and counted at once,
    // never retried, and the password appears nowhere in the agent's log.
    std::fs::write(&password, "not the password\n").unwrap();
    let stderr = run_agent(&prometheus, "spring", &(auth + &pki.agent_tls()));
    assert!(stderr.contains("remote-write request dropped"), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(!stderr.contains("retries_exhausted"), "{stderr}");
    assert!(!stderr.contains("not the password"), "{stderr}");
    assert_eq!(
        prometheus.value("sum(http_server_requests_seconds_count)"),
        None,
        "nothing was written with the wrong password"
    );

    // Without the client certificate the handshake fails, and the agent
    // says why.
    let ca_only = format!(
        "    max_retries: 1\n    tls:\n      ca_file: '{}'\n",
        pki.ca.display()
    );
    let stderr = run_agent(&prometheus, "spring", &ca_only);
    assert!(
        stderr.contains("remote-write receiver unreachable"),
        "{stderr}"
    );
    assert!(stderr.contains("retries_exhausted"), "{stderr}");
}

const PY_SERVER: &str = r#"
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        status = 503 if self.path.endswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"#;

/// Root only: real traffic captured by eBPF, counted, pushed, and read back.
#[test]
fn captured_traffic_reaches_prometheus() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var_os("CI").is_some() {
            panic!("the capture-to-Prometheus test must run in CI, but it is not root");
        }
        eprintln!("\n!!! SKIPPED capture-to-Prometheus test: not root (eBPF needs root) !!!\n");
        return;
    }
    let Some(prometheus) = Prometheus::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir_config(dir.path(), "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("sources:\n", "sources:\n  net:\n    enabled: true\n")
        .replace(
            "sinks:\n",
            &format!(
                "sinks:\n  remote_write:\n    url: http://127.0.0.1:{}/api/v1/write\n    flush_interval_ms: 500\n",
                prometheus.port
            ),
        );
    std::fs::write(&config, text).unwrap();
    let agent = Agent::with_config(&config);
    agent.wait_ready();

    let port = free_port();
    let mut server = Command::new("python3")
        .args(["-c", PY_SERVER, &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    for path in [
        "/api/v1/slots/ok",
        "/api/v1/slots/ok",
        "/api/v1/slots/ok",
        "/api/v1/slots/fail",
    ] {
        let (status, _) = get(port, path).expect("python server answers");
        assert!(status == 200 || status == 503);
    }
    // The server lives until its exchanges are out: the agent names a host
    // process from /proc, which a loaded machine may read after a kill.
    agent.wait_for(Duration::from_secs(20), "eight exchanges", |records| {
        records
            .iter()
            .filter(|r| r["event.dataset"] == "wardwatch.http" && r["server.port"] == port)
            .count()
            == 8
    });
    let _ = server.kill();
    let _ = server.wait();
    std::thread::sleep(Duration::from_millis(1200));
    let (status, _, stderr) = agent.terminate();
    assert!(status.success(), "{stderr}");
    let server_side = r#"sum(http_server_request_duration_seconds_count{service_name="unknown_service:python3",http_route=~"/api/v1/slots/.*"})"#;
    close(
        prometheus.value(server_side),
        4.0,
        "captured server-side requests",
    );
    close(
        prometheus.value(
            r#"sum(http_server_request_duration_seconds_count{service_name="unknown_service:python3",http_response_status_code="503"})"#,
        ),
        1.0,
        "captured 5xx",
    );
}
