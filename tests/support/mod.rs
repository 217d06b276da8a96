//! Running the real `wardwatch` binary on temp dirs laid out like a node.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod otlp_receiver;
pub mod pki;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port (bound then released: a small race, fine for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config tuned for tests: fast polling, small batches.
pub fn test_config(dir: &Path, include: &[String], data_dir: &Path, extra: &str) -> PathBuf {
    let globs: Vec<String> = include.iter().map(|g| format!("      - '{g}'")).collect();
    let text = format!(
        "data_dir: '{data}'\n\
         admin:\n  address: '127.0.0.1:{port}'\n\
         sources:\n  logs:\n    include:\n{globs}\n    glob_interval_ms: 100\n    poll_interval_ms: 10\n\
         sinks:\n  stdout: {{}}\n\
         pipeline:\n  batch_max_records: 500\n\
         {extra}",
        data = data_dir.display(),
        port = free_port(),
        globs = globs.join("\n"),
    );
    let path = dir.join("wardwatch.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// [`test_config`] for the common layout: every `*.log` directly in `dir`,
/// state in `dir/data`.
pub fn dir_config(dir: &Path, extra: &str) -> PathBuf {
    test_config(
        dir,
        &[format!("{}/*.log", dir.display())],
        &dir.join("data"),
        extra,
    )
}

/// Adds a line to the `sources.logs` section of a config written by [`test_config`].
pub fn add_logs_setting(config: &Path, setting: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let text = text.replacen(
        "    glob_interval_ms",
        &format!("    {setting}\n    glob_interval_ms"),
        1,
    );
    std::fs::write(config, text).unwrap();
}

/// The agent, running, with its stdout records collected as they come.
pub struct Agent {
    child: Child,
    records: Arc<Mutex<Vec<Value>>>,
    /// Stdout lines that are not JSON: only a kill can tear the last line.
    torn: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    pub admin: Option<SocketAddr>,
}

impl Agent {
    pub fn start(args: &[&str]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatch"))
            .args(args)
            .env("WARDWATCH_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wardwatch");
        let records = Arc::new(Mutex::new(Vec::new()));
        let torn = Arc::new(Mutex::new(Vec::new()));
        let (sink, torn_sink) = (Arc::clone(&records), Arc::clone(&torn));
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str(&line) {
                    Ok(value) => sink.lock().unwrap().push(value),
                    Err(_) => torn_sink.lock().unwrap().push(line),
                }
            }
        });
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let err_sink = Arc::clone(&stderr_text);
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut text = err_sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Agent {
            child,
            records,
            torn,
            stderr: stderr_text,
            admin: None,
        }
    }

    /// Starts the agent on a config file, remembering its admin address.
    pub fn with_config(config: &Path) -> Agent {
        let text = std::fs::read_to_string(config).unwrap();
        let admin = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("address: "))
            .map(|a| a.trim_matches('\'').parse().unwrap());
        let mut agent = Agent::start(&[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
        ]);
        agent.admin = admin;
        agent
    }

    pub fn records(&self) -> Vec<Value> {
        self.records.lock().unwrap().clone()
    }

    pub fn record_count(&self) -> usize {
        self.records.lock().unwrap().len()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the records so far, or panics after `limit`.
    pub fn wait_for(&self, limit: Duration, what: &str, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.records.lock().unwrap()) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: {} records so far\n--- agent stderr ---\n{}",
                    self.record_count(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the admin server answers.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok((200, _)) = self.get("/health/startup") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "agent never started\n--- agent stderr ---\n{}",
            self.stderr()
        );
    }

    /// A plain HTTP/1.0 GET against the admin server.
    pub fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let addr = self.admin.expect("agent has an admin address");
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// The agent's own counters and gauges, by full series text.
    pub fn metrics(&self) -> HashMap<String, f64> {
        let (_, body) = self.get("/metrics").expect("scrape /metrics");
        body.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                Some((series.to_owned(), value.parse().ok()?))
            })
            .collect()
    }

    pub fn metric(&self, series: &str) -> f64 {
        self.metrics().get(series).copied().unwrap_or(0.0)
    }

    /// Waits until a series satisfies `done` (metrics move after the
    /// acknowledgement, a little after the records appear), or panics.
    pub fn wait_metric(&self, series: &str, done: impl Fn(f64) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let value = self.metric(series);
            if done(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series} stayed at {value}\n--- agent stderr ---\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGTERM, then the exit status (waits up to 30 s).
    pub fn terminate(mut self) -> (std::process::ExitStatus, Vec<Value>, String) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let status = wait_exit(&mut self.child, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(100)); // let the readers finish
        let torn = self.torn.lock().unwrap().len();
        assert_eq!(torn, 0, "a clean stop wrote {torn} lines that are not JSON");
        (status, self.records(), self.stderr())
    }

    /// SIGKILL: no flushing, no checkpointing.
    pub fn kill9(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(200));
        self.records()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("agent did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `seq=N` numbers found in records' messages.
pub fn sequence_numbers(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .filter_map(|r| r.get("message")?.as_str())
        .filter_map(|m| {
            let at = m.find("seq=")? + 4;
            let digits: String = m[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
            digits.parse().ok()
        })
        .collect()
}

/// Checks that every number in `0..n` was seen; returns how many were seen twice or more.
pub fn assert_all_seen(seen: &[u64], n: u64, context: &str) -> u64 {
    let mut counts = vec![0u32; n as usize];
    for &s in seen {
        if s < n {
            counts[s as usize] += 1;
        }
    }
    let missing: Vec<usize> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == 0)
        .map(|(i, _)| i)
        .collect();
    assert!(
        missing.is_empty(),
        "{context}: {} of {n} lines lost, first: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    counts.iter().map(|&c| u64::from(c.saturating_sub(1))).sum()
}

/// A CRI log file under `root/var/log/pods/...`; returns its path.
pub fn cri_log(root: &Path, namespace: &str, pod: &str, uid: &str, container: &str) -> PathBuf {
    let dir = root.join(format!("var/log/pods/{namespace}_{pod}_{uid}/{container}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("0.log")
}

/// A Docker json-file log with its `config.v2.json`; returns the log's path.
pub fn docker_log(
    root: &Path,
    id: &str,
    name: &str,
    image: &str,
    labels: &[(&str, &str)],
) -> PathBuf {
    let dir = root.join(format!("var/lib/docker/containers/{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let config = serde_json::json!({
        "ID": id,
        "Name": format!("/{name}"),
        "Config": { "Image": image, "Labels": labels, "Env": ["SECRET=never-read"] },
        "State": { "Running": true },
    });
    std::fs::write(dir.join("config.v2.json"), config.to_string()).unwrap();
    dir.join(format!("{id}-json.log"))
}

/// Appends lines to a file.
pub fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

pub fn cri_line(stream: &str, tag: &str, text: &str) -> String {
    format!("2024-05-06T07:08:09.123456789Z {stream} {tag} {text}\n")
}

pub fn docker_line(stream: &str, text: &str) -> String {
    format!(
        "{}\n",
        serde_json::json!({"log": text, "stream": stream, "time": "2024-05-06T07:08:09.123456789Z"})
    )
}
