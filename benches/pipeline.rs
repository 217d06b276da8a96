//! Whole-pipeline throughput: the real `wardwatch` binary on a node-shaped
//! temp dir, measured from the outside.
//!
//! The corpus is one CRI log file of synthetic healthcare service output (fake
//! identifiers only, generated deterministically) at
//! `<tmp>/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log`: Spring Boot text
//! lines, embedded-Tomcat access lines, logstash-style JSON lines whose
//! `patient`, `ssn`, `email` and `phone` fields the built-in field rules
//! replace, a Java stack trace (stderr, folded into one record) every 400
//! events, and a FHIR bundle dump every 2,000 events that the runtime cut into
//! 16 KiB `P` parts.
//!
//! The agent runs with the stdout sink and default pipeline settings; this
//! harness reads its standard output, and each run checks its answer: exactly
//! one output record per generated record (none missing, none extra after a
//! clean stop), exactly the expected number of `"[REDACTED]"` values, none of
//! the fake identifiers in the output, sampled lines shaped as ECS documents,
//! the agent's own counters agreeing, and exit status 0 after SIGTERM.
//!
//! Figures: wall time from spawning the agent until the last expected record
//! is read, the agent's CPU time (`utime + stime` from `/proc/<pid>/stat`,
//! read before it is stopped), its peak RSS (`VmHWM`), and the rates derived
//! from them. The last record of each stream is held by the multiline stage
//! until `logs.multiline.timeout_ms` (1 s by default) passes, since a stack
//! frame could still follow it; the time spent on that wait is shown apart.
//!
//! ```text
//! cargo bench --bench pipeline                              # 1,000,000 lines
//! WARDWATCH_BENCH_LINES=100000 cargo bench --bench pipeline # a quicker run
//! ```
//!
//! Without `--bench` (under `cargo test --benches`) it is a small smoke run of
//! the same checks on whatever binary that profile built.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use regex::bytes::Regex;
use serde_json::Value;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const BENCH_LINES: usize = 1_000_000;
const SMOKE_LINES: usize = 20_000;
const LINES_VAR: &str = "WARDWATCH_BENCH_LINES";
/// Where containerd cuts long lines into `P` parts.
const CRI_PART_BYTES: usize = 16 * 1024;
/// How long a run may take before the harness gives up.
const RUN_LIMIT: Duration = Duration::from_secs(900);
/// Every this many output lines, one is parsed and its shape checked.
const SAMPLE_EVERY: u64 = 997;

const NAMESPACE: &str = "ehr";
const POD: &str = "ehr-gateway-7c9f8d6b5-x2k4q";
const POD_UID: &str = "0b1c7e52-3f4a-4d8e-9c61-5a2f0e9d1b37";
const CONTAINER: &str = "ehr-gateway";
const NODE_NAME: &str = "bench-node-1";

/// The replacement as it appears in output: a whole JSON string value.
const REDACTED: &[u8] = b"\"[REDACTED]\"";
/// Fragments of the fake identifiers that only ever appear in fields the
/// rules replace; any of them in the output is a leak.
const LEAK_MARKERS: &[&str] = &[
    "987-65-43",        // ssn
    "patients.example", // email
    "+1-555-01",        // phone
    "MRN-",             // patient.mrn
    "Testpatient",      // patient.name
];

/// What the generator wrote, and so what the agent must send.
#[derive(Debug, Default)]
struct Corpus {
    path: PathBuf,
    root: PathBuf,
    lines: u64,
    bytes: u64,
    records: u64,
    /// Values the built-in field rules must replace.
    redactions: u64,
    /// Newlines inside records (folded stack traces): the text format writes
    /// them as they are, so it has this many lines more than records.
    inner_newlines: u64,
    text_records: u64,
    json_records: u64,
    stack_traces: u64,
    partial_records: u64,
    partial_lines: u64,
}

/// One thing the service logged: the stream and its physical lines, each
/// with its CRI tag (`F`, or `P` for a part the runtime cut).
struct Event {
    stream: &'static str,
    lines: Vec<(char, String)>,
    redactions: u64,
    kind: EventKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Text,
    Json,
    StackTrace,
    Bundle,
}

const FIRST_NAMES: &[&str] = &["Alex", "Jordan", "Sam", "Riley", "Casey", "Morgan", "Quinn"];
const WARDS: &[&str] = &["4B", "ICU-2", "ER", "3A", "PEDS-1", "ONC-5"];
const ACCESS_ROUTES: &[&str] = &[
    "GET /fhir/Patient/{id}",
    "GET /fhir/Observation?patient={id}&code=718-7",
    "GET /fhir/Encounter?subject=Patient/{id}",
    "POST /api/v1/appointments",
    "PUT /api/v1/prescriptions/RX-{n}",
    "GET /actuator/health/readiness",
    "GET /actuator/prometheus",
];
const USER_AGENTS: &[&str] = &[
    "okhttp/4.12.0",
    "kube-probe/1.29",
    "Prometheus/2.51.0",
    "Apache-HttpClient/5.3 (Java/21.0.2)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
];

fn patient_id(rng: &mut Rng) -> String {
    format!("P-{:06}", rng.below(1_000_000))
}

fn hex(rng: &mut Rng, digits: usize) -> String {
    let mut out = String::with_capacity(digits);
    while out.len() < digits {
        out.push_str(&format!("{:016x}", rng.next()));
    }
    out.truncate(digits);
    out
}

/// A patient object as services log it; replaced whole by `*.patient.*`.
fn patient(rng: &mut Rng) -> String {
    let first = rng.pick(FIRST_NAMES);
    format!(
        r#"{{"id":"{}","name":"{first} Testpatient","dob":"19{:02}-{:02}-{:02}","mrn":"MRN-{:08}","gender":"unknown"}}"#,
        patient_id(rng),
        rng.below(100),
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(100_000_000),
    )
}

fn email(rng: &mut Rng) -> String {
    format!(
        "{}.{}@patients.example",
        rng.pick(FIRST_NAMES).to_ascii_lowercase(),
        rng.below(10_000)
    )
}

/// The start of a logstash-logback-encoder line, up to and with `message`.
fn json_head(rng: &mut Rng, time: &DateTime<Utc>, logger: &str, message: &str) -> String {
    format!(
        r#"{{"@timestamp":"{}","@version":"1","message":"{message}","logger_name":"{logger}","thread_name":"http-nio-8080-exec-{}","level":"INFO","level_value":20000,"traceId":"{}","spanId":"{}""#,
        time.to_rfc3339_opts(SecondsFormat::Millis, true),
        1 + rng.below(10),
        hex(rng, 32),
        hex(rng, 16),
    )
}

fn spring_line(rng: &mut Rng, time: &DateTime<Utc>) -> String {
    let stamp = time.to_rfc3339_opts(SecondsFormat::Millis, true);
    let exec = 1 + rng.below(10);
    match rng.below(4) {
        0 => format!(
            "{stamp}  INFO 1 --- [ehr-gateway] [nio-8080-exec-{exec}] c.a.ehr.web.AppointmentController        : Appointment APT-{:08} booked for {} (ward {}, slot {:02}:{:02})",
            rng.below(100_000_000),
            patient_id(rng),
            rng.pick(WARDS),
            7 + rng.below(11),
            rng.below(4) * 15,
        ),
        1 => format!(
            "{stamp} DEBUG 1 --- [ehr-gateway] [nio-8080-exec-{exec}] c.a.ehr.fhir.FhirClient                  : GET https://fhir.internal/Observation?patient={}&code=718-7 -> 200 in {}ms",
            patient_id(rng),
            rng.below(400),
        ),
        2 => format!(
            "{stamp}  WARN 1 --- [ehr-gateway] [   scheduling-1] c.a.ehr.sync.LabSyncJob                  : lab feed lag {}s exceeds threshold 30s (batch {})",
            30 + rng.below(300),
            rng.below(1_000_000),
        ),
        _ => format!(
            "{stamp}  INFO 1 --- [ehr-gateway] [nio-8080-exec-{exec}] o.s.web.servlet.DispatcherServlet        : Completed request {} in {} ms",
            hex(rng, 16),
            rng.below(900),
        ),
    }
}

fn access_line(rng: &mut Rng, time: &DateTime<Utc>) -> String {
    let route = rng
        .pick(ACCESS_ROUTES)
        .replace("{id}", &patient_id(rng))
        .replace("{n}", &rng.below(10_000_000).to_string());
    format!(
        r#"10.42.{}.{} - - [{}] "{route} HTTP/1.1" {} {} "-" "{}" {}ms"#,
        rng.below(8),
        2 + rng.below(250),
        time.format("%d/%b/%Y:%H:%M:%S %z"),
        [200, 200, 200, 200, 201, 204, 304, 404, 500][rng.below(9) as usize],
        rng.below(40_000),
        rng.pick(USER_AGENTS),
        rng.below(1_500),
    )
}

/// A JSON line and the number of values the field rules replace in it.
fn json_line(rng: &mut Rng, time: &DateTime<Utc>, variant: u64) -> (String, u64) {
    match variant {
        // A claim: patient object, ssn and email.
        0 => {
            let head = json_head(rng, time, "com.acme.claims.ClaimService", "claim submitted");
            let line = format!(
                r#"{head},"claim_id":"CLM-{:08}","amount":{}.{:02},"payer":"ACME-HEALTH","patient":{},"ssn":"987-65-43{:02}","email":"{}"}}"#,
                rng.below(100_000_000),
                rng.below(5_000),
                rng.below(100),
                patient(rng),
                rng.below(100),
                email(rng),
            );
            (line, 3)
        }
        // An encounter with the patient nested below it.
        1 => {
            let head = json_head(
                rng,
                time,
                "com.acme.ehr.EncounterService",
                "encounter updated",
            );
            let line = format!(
                r#"{head},"encounter":{{"id":"ENC-{:08}","status":"in-progress","ward":"{}","attending":"PRV-{:05}","patient":{}}}}}"#,
                rng.below(100_000_000),
                rng.pick(WARDS),
                rng.below(100_000),
                patient(rng),
            );
            (line, 1)
        }
        // A reminder: a recipient's phone and email.
        2 => {
            let head = json_head(
                rng,
                time,
                "com.acme.notify.ReminderSender",
                "appointment reminder sent",
            );
            let line = format!(
                r#"{head},"notification":{{"channel":"sms","template":"appointment-reminder","recipient":{{"phone":"+1-555-01{:02}","email":"{}"}},"attempt":{}}}}}"#,
                rng.below(100),
                email(rng),
                1 + rng.below(3),
            );
            (line, 2)
        }
        // Operational: nothing to replace; `app.name` is on the allow-list.
        _ => {
            let head = json_head(
                rng,
                time,
                "com.zaxxer.hikari.pool.HikariPool",
                "HikariPool-1 - pool stats",
            );
            let line = format!(
                r#"{head},"app":{{"name":"ehr-gateway","version":"2.7.1"}},"pool":{{"total":10,"active":{},"idle":{},"waiting":0}}}}"#,
                rng.below(10),
                rng.below(10),
            );
            (line, 0)
        }
    }
}

fn stack_trace(rng: &mut Rng, time: &DateTime<Utc>) -> Vec<String> {
    let stamp = time.to_rfc3339_opts(SecondsFormat::Millis, true);
    let patient = patient_id(rng);
    let mut lines = vec![
        format!(
            "{stamp} ERROR 1 --- [ehr-gateway] [nio-8080-exec-{}] c.a.ehr.web.PatientController            : lookup failed for {patient}",
            1 + rng.below(10)
        ),
        format!("com.acme.ehr.PatientNotFoundException: patient {patient} not found"),
    ];
    for frame in [
        "com.acme.ehr.PatientRepository.load(PatientRepository.java:88)",
        "com.acme.ehr.PatientService.find(PatientService.java:42)",
        "com.acme.ehr.web.PatientController.get(PatientController.java:17)",
        "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)",
        "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
        "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)",
    ] {
        lines.push(format!("\tat {frame}"));
    }
    lines.push("Caused by: java.sql.SQLTimeoutException: query timed out after 5000 ms".into());
    lines.push("\tat org.postgresql.jdbc.PgStatement.execute(PgStatement.java:401)".into());
    lines.push("\tat com.zaxxer.hikari.pool.ProxyStatement.execute(ProxyStatement.java:94)".into());
    lines.push("\t... 12 more".into());
    lines
}

/// A FHIR search bundle dump of about 36 KiB: one record of three CRI parts.
fn bundle_line(rng: &mut Rng, time: &DateTime<Utc>) -> String {
    let head = json_head(
        rng,
        time,
        "com.acme.ehr.fhir.BundleLogger",
        "FHIR search bundle returned",
    );
    let subject = patient_id(rng);
    let mut line =
        format!(r#"{head},"bundle":{{"resourceType":"Bundle","type":"searchset","entry":["#);
    let mut n = 0;
    while line.len() < 36 * 1024 {
        if n > 0 {
            line.push(',');
        }
        line.push_str(&format!(
            r#"{{"fullUrl":"https://fhir.internal/Observation/obs-{n}","resource":{{"resourceType":"Observation","id":"obs-{n}","status":"final","code":{{"coding":[{{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin"}}]}},"subject":{{"reference":"Patient/{subject}"}},"valueQuantity":{{"value":1{}.{},"unit":"g/dL"}}}}}}"#,
            rng.below(8),
            rng.below(10),
        ));
        n += 1;
    }
    line.push_str(&format!(r#"],"total":{n}}},"patient":{}}}"#, patient(rng)));
    line
}

fn event(rng: &mut Rng, index: u64, time: &DateTime<Utc>) -> Event {
    let text = |line: String| Event {
        stream: "stdout",
        lines: vec![('F', line)],
        redactions: 0,
        kind: EventKind::Text,
    };
    if index % 2_000 == 1_999 {
        let line = bundle_line(rng, time);
        let mut lines = Vec::new();
        let mut rest = line.as_str();
        while rest.len() > CRI_PART_BYTES {
            let (part, tail) = rest.split_at(CRI_PART_BYTES);
            lines.push(('P', part.to_owned()));
            rest = tail;
        }
        lines.push(('F', rest.to_owned()));
        return Event {
            stream: "stdout",
            lines,
            redactions: 1,
            kind: EventKind::Bundle,
        };
    }
    if index % 400 == 199 {
        return Event {
            stream: "stderr",
            lines: stack_trace(rng, time)
                .into_iter()
                .map(|l| ('F', l))
                .collect(),
            redactions: 0,
            kind: EventKind::StackTrace,
        };
    }
    match rng.below(1_000) {
        0..350 => text(spring_line(rng, time)),
        350..650 => text(access_line(rng, time)),
        roll => {
            let variant = match roll {
                650..750 => 0,
                750..830 => 1,
                830..870 => 2,
                _ => 3,
            };
            let (line, redactions) = json_line(rng, time, variant);
            Event {
                stream: "stdout",
                lines: vec![('F', line)],
                redactions,
                kind: EventKind::Json,
            }
        }
    }
}

/// Writes the node's log file: exactly `lines` physical lines.
fn generate(root: &Path, lines: usize) -> std::io::Result<Corpus> {
    let dir = root.join(format!(
        "var/log/pods/{NAMESPACE}_{POD}_{POD_UID}/{CONTAINER}"
    ));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("0.log");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&path)?);
    let mut rng = Rng(0x5eed_ba5e_d00d_f00d);
    let start: DateTime<Utc> = "2024-03-05T10:15:30Z".parse().expect("a valid time");
    let mut corpus = Corpus {
        path: path.clone(),
        root: root.to_path_buf(),
        ..Corpus::default()
    };
    let mut index = 0u64;
    while (corpus.lines as usize) < lines {
        let time = start + chrono::Duration::microseconds(corpus.lines as i64 * 200);
        let mut event = event(&mut rng, index, &time);
        if event.lines.len() > lines - corpus.lines as usize {
            event = Event {
                stream: "stdout",
                lines: vec![('F', spring_line(&mut rng, &time))],
                redactions: 0,
                kind: EventKind::Text,
            };
        }
        index += 1;
        for (tag, text) in &event.lines {
            let time = start + chrono::Duration::microseconds(corpus.lines as i64 * 200);
            let stamp = time.to_rfc3339_opts(SecondsFormat::Nanos, true);
            let line = format!("{stamp} {} {tag} {text}\n", event.stream);
            out.write_all(line.as_bytes())?;
            corpus.lines += 1;
            corpus.bytes += line.len() as u64;
            corpus.partial_lines += u64::from(*tag == 'P');
        }
        corpus.records += 1;
        corpus.redactions += event.redactions;
        match event.kind {
            EventKind::Text => corpus.text_records += 1,
            EventKind::Json => corpus.json_records += 1,
            EventKind::StackTrace => {
                corpus.stack_traces += 1;
                corpus.inner_newlines += event.lines.len() as u64 - 1;
            }
            EventKind::Bundle => corpus.partial_records += 1,
        }
    }
    out.flush()?;
    Ok(corpus)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutputFormat {
    Json,
    Text,
}

impl OutputFormat {
    fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Text => "text",
        }
    }
}

/// What the harness read from the agent's standard output.
#[derive(Debug, Default)]
struct Output {
    lines: u64,
    bytes: u64,
    redacted: u64,
    leaks: u64,
    sampled: u64,
    /// Sampled lines that were not what the format promises.
    misshapen: Vec<String>,
    first_at: Option<Instant>,
    /// When the last expected line was read.
    done_at: Option<Instant>,
    /// The last read before the one that completed the output: the end of
    /// the flow, before the final wait for the multiline timeout.
    flow_end_at: Option<Instant>,
}

/// Reads the agent's standard output to its end, counting and checking as
/// it goes; tells `done` when `expected_lines` have been read.
fn read_output(
    mut stdout: impl Read + Send + 'static,
    format: OutputFormat,
    expected_lines: u64,
    done: mpsc::Sender<()>,
) -> JoinHandle<Output> {
    std::thread::spawn(move || {
        let mut alternatives = vec![regex::escape(std::str::from_utf8(REDACTED).unwrap())];
        alternatives.extend(LEAK_MARKERS.iter().map(|m| regex::escape(m)));
        let finder = Regex::new(&alternatives.join("|")).expect("a valid regex");
        let mut out = Output::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut filled = 0;
        let mut last_read_at = None;
        loop {
            let n = match stdout.read(&mut buf[filled..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now = Instant::now();
            out.first_at.get_or_insert(now);
            out.bytes += n as u64;
            filled += n;
            // Only whole lines are checked; the rest waits for the next read.
            let Some(last_newline) = memchr::memrchr(b'\n', &buf[..filled]) else {
                if filled == buf.len() {
                    buf.resize(buf.len() * 2, 0);
                }
                continue;
            };
            let lines = &buf[..=last_newline];
            for found in finder.find_iter(lines) {
                if found.as_bytes() == REDACTED {
                    out.redacted += 1;
                } else {
                    out.leaks += 1;
                }
            }
            for line in lines[..last_newline].split(|&b| b == b'\n') {
                out.lines += 1;
                if out.lines % SAMPLE_EVERY == 0 {
                    out.sampled += 1;
                    if let Err(why) = check_shape(format, line) {
                        out.misshapen.push(why);
                    }
                }
            }
            buf.copy_within(last_newline + 1..filled, 0);
            filled -= last_newline + 1;
            if out.done_at.is_none() && out.lines >= expected_lines {
                out.done_at = Some(now);
                out.flow_end_at = last_read_at;
                let _ = done.send(());
            }
            last_read_at = Some(now);
        }
        out.bytes -= filled as u64;
        out
    })
}

/// Whether one output line looks like what the format writes for this node.
fn check_shape(format: OutputFormat, line: &[u8]) -> Result<(), String> {
    match format {
        OutputFormat::Json => {
            let value: Value = serde_json::from_slice(line)
                .map_err(|e| format!("an output line is not JSON: {e}"))?;
            let expect = [
                ("orchestrator.namespace", NAMESPACE),
                ("orchestrator.resource.name", POD),
                ("kubernetes.pod.uid", POD_UID),
                ("container.name", CONTAINER),
                ("host.name", NODE_NAME),
            ];
            for (key, want) in expect {
                if value.get(key).and_then(Value::as_str) != Some(want) {
                    return Err(format!("{key} is {:?}, not {want:?}", value.get(key)));
                }
            }
            for key in ["@timestamp", "message", "log.file.path"] {
                if value.get(key).and_then(Value::as_str).is_none() {
                    return Err(format!("{key} is missing"));
                }
            }
            Ok(())
        }
        OutputFormat::Text => {
            let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
            let pod = format!(" {NAMESPACE}/{POD} {CONTAINER} | ");
            let continuation =
                text.starts_with('\t') || text.starts_with("com.") || text.starts_with("Caused");
            if continuation || (text.starts_with("2024-") && text.contains(&pod)) {
                Ok(())
            } else {
                Err(format!(
                    "a text line is neither a record nor a trace line ({} bytes)",
                    line.len()
                ))
            }
        }
    }
}

/// What one run of the agent measured.
struct Run {
    format: OutputFormat,
    wall: Duration,
    flow: Duration,
    startup: Duration,
    cpu: Duration,
    threads: Vec<(String, Duration)>,
    peak_rss_kib: u64,
    output: Output,
    harness_cpu: Duration,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn write_config(corpus: &Corpus, name: &str, port: u16) -> PathBuf {
    let data = corpus.root.join(format!("data-{name}"));
    let text = format!(
        "data_dir: '{data}'\n\
         admin:\n  address: '127.0.0.1:{port}'\n\
         sources:\n  logs:\n    include:\n      - '{root}/var/log/pods/*/*/*.log'\n\
         sinks:\n  stdout:\n    format: json\n",
        data = data.display(),
        root = corpus.root.display(),
    );
    let path = corpus.root.join(format!("wardwatch-{name}.yaml"));
    std::fs::write(&path, text).expect("write the config");
    path
}

/// `utime + stime` of a process, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/pid/stat");
    stat_cpu_time(&stat).1
}

/// CPU time per thread name (the agent names its stage threads), busiest
/// first, from `/proc/<pid>/task/*/stat`.
fn thread_cpu_times(pid: u32) -> Vec<(String, Duration)> {
    let mut by_name: Vec<(String, Duration)> = Vec::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/pid/task");
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread has just ended
        };
        let (name, time) = stat_cpu_time(&stat);
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += time,
            None => by_name.push((name, time)),
        }
    }
    by_name.sort_by_key(|(_, time)| std::cmp::Reverse(*time));
    by_name
}

/// The command (thread) name and `utime + stime` of a `stat` line.
fn stat_cpu_time(stat: &str) -> (String, Duration) {
    let open = stat.find('(').expect("a comm field");
    let close = stat.rfind(')').expect("a comm field");
    // Fields after the name: state is the 3rd field of the line, utime the
    // 14th and stime the 15th.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let time = Duration::from_secs_f64(ticks as f64 / per_second as f64);
    (stat[open + 1..close].to_owned(), time)
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/pid/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

/// CPU time this harness process has used (all its threads).
fn own_cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The agent's own counters, by series, from `/metrics`.
fn scrape_metrics(port: u16) -> Vec<(String, f64)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the admin server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read /metrics");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn metric_sum(metrics: &[(String, f64)], name: &str) -> u64 {
    metrics
        .iter()
        .filter(|(series, _)| series == name || series.starts_with(&format!("{name}{{")))
        .map(|(_, value)| *value as u64)
        .sum()
}

fn stderr_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(4_000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

fn terminate(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    // SAFETY: sending a signal to our own child process, which has not been
    // waited for, so its pid is still ours.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the agent") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the agent over the corpus once, and checks what it wrote.
fn run(binary: &Path, corpus: &Corpus, format: OutputFormat) -> Run {
    let port = free_port();
    let config = write_config(corpus, format.as_str(), port);
    let stderr_path = corpus
        .root
        .join(format!("agent-{}.stderr", format.as_str()));
    let expected_lines = match format {
        OutputFormat::Json => corpus.records,
        OutputFormat::Text => corpus.records + corpus.inner_newlines,
    };
    let harness_cpu_before = own_cpu_time();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .args(["run", "--config"])
        .arg(&config)
        .args(["--format", format.as_str(), "--log-format", "json"])
        .env("WARDWATCH_LOG", "info")
        .env("NODE_NAME", NODE_NAME)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&stderr_path).expect("create the stderr file"))
        .spawn()
        .expect("start wardwatch");
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    let reader = read_output(
        child.stdout.take().expect("piped stdout"),
        format,
        expected_lines,
        done_tx,
    );
    if done_rx.recv_timeout(RUN_LIMIT).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        let partial = reader.join().expect("the output reader");
        panic!(
            "{} run: {} of {expected_lines} lines after {:?}\n--- agent stderr ---\n{}",
            format.as_str(),
            partial.lines,
            started.elapsed(),
            stderr_tail(&stderr_path)
        );
    }
    let harness_cpu = own_cpu_time().saturating_sub(harness_cpu_before);
    let cpu = cpu_time(pid);
    let threads = thread_cpu_times(pid);
    let peak_rss_kib = peak_rss_kib(pid);
    let metrics = scrape_metrics(port);
    let status = terminate(&mut child, Duration::from_secs(60));
    let output = reader.join().expect("the output reader");
    assert!(
        status.success(),
        "{} run: the agent exited with {status} after SIGTERM\n--- agent stderr ---\n{}",
        format.as_str(),
        stderr_tail(&stderr_path)
    );
    check_answer(corpus, format, expected_lines, &output, &metrics);
    let done_at = output.done_at.expect("done was signalled");
    Run {
        format,
        wall: done_at - started,
        flow: output.flow_end_at.unwrap_or(done_at) - started,
        startup: output.first_at.unwrap_or(done_at) - started,
        cpu,
        threads,
        peak_rss_kib,
        output,
        harness_cpu,
    }
}

fn check_answer(
    corpus: &Corpus,
    format: OutputFormat,
    expected_lines: u64,
    output: &Output,
    metrics: &[(String, f64)],
) {
    let name = format.as_str();
    assert_eq!(
        output.lines,
        expected_lines,
        "{name} run: output lines after a clean stop (one per record{})",
        if format == OutputFormat::Text {
            ", plus folded trace lines"
        } else {
            ""
        }
    );
    assert_eq!(
        output.redacted, corpus.redactions,
        "{name} run: values replaced"
    );
    assert_eq!(
        output.leaks, 0,
        "{name} run: fake identifiers in the output"
    );
    assert!(output.sampled > 0 || expected_lines < SAMPLE_EVERY);
    assert!(
        output.misshapen.is_empty(),
        "{name} run: {} of {} sampled lines misshapen, first: {}",
        output.misshapen.len(),
        output.sampled,
        output.misshapen[0]
    );
    let counters = [
        ("wardwatch_logs_lines_read_total", corpus.lines),
        ("wardwatch_logs_bytes_read_total", corpus.bytes),
        ("wardwatch_logs_records_read_total", corpus.records),
        ("wardwatch_sink_records_sent_total", corpus.records),
        ("wardwatch_redact_redactions_total", corpus.redactions),
        ("wardwatch_redact_failures_total", 0),
    ];
    for (series, want) in counters {
        assert_eq!(metric_sum(metrics, series), want, "{name} run: {series}");
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn per_second(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn report(corpus: &Corpus, runs: &[Run]) {
    println!();
    println!(
        "corpus: {} lines, {} records, {:.1} MiB ({} text, {} JSON, {} stack traces, {} records in {} `P` parts), {} values to redact",
        thousands(corpus.lines as f64),
        thousands(corpus.records as f64),
        mib(corpus.bytes),
        thousands(corpus.text_records as f64),
        thousands(corpus.json_records as f64),
        thousands(corpus.stack_traces as f64),
        corpus.partial_records,
        corpus.partial_records + corpus.partial_lines,
        thousands(corpus.redactions as f64),
    );
    println!();
    let header: Vec<String> = runs
        .iter()
        .map(|r| format!("stdout `{}`", r.format.as_str()))
        .collect();
    println!("| figure | {} |", header.join(" | "));
    println!("| --- |{}", " ---: |".repeat(runs.len()));
    let row = |name: &str, cell: &dyn Fn(&Run) -> String| {
        let cells: Vec<String> = runs.iter().map(cell).collect();
        println!("| {name} | {} |", cells.join(" | "));
    };
    row("wall time to last record (s)", &|r| {
        format!("{:.2}", r.wall.as_secs_f64())
    });
    row("… of which start-up to first record (s)", &|r| {
        format!("{:.2}", r.startup.as_secs_f64())
    });
    row("… of which final multiline hold (s)", &|r| {
        format!("{:.2}", (r.wall - r.flow).as_secs_f64())
    });
    row("input lines/s", &|r| {
        thousands(per_second(corpus.lines, r.wall))
    });
    row("records/s", &|r| {
        thousands(per_second(corpus.records, r.wall))
    });
    row("input MiB/s", &|r| {
        format!("{:.1}", mib(corpus.bytes) / r.wall.as_secs_f64())
    });
    row("output MiB/s", &|r| {
        format!("{:.1}", mib(r.output.bytes) / r.wall.as_secs_f64())
    });
    row("records/s without the final hold", &|r| {
        thousands(per_second(corpus.records, r.flow))
    });
    row("output (MiB)", &|r| format!("{:.1}", mib(r.output.bytes)));
    row("agent CPU time (s)", &|r| {
        format!("{:.2}", r.cpu.as_secs_f64())
    });
    row("agent CPU µs per record", &|r| {
        format!("{:.2}", r.cpu.as_secs_f64() * 1e6 / corpus.records as f64)
    });
    row("agent peak RSS (MiB)", &|r| {
        format!("{:.1}", r.peak_rss_kib as f64 / 1024.0)
    });
    row("harness CPU time (s)", &|r| {
        format!("{:.2}", r.harness_cpu.as_secs_f64())
    });
    for run in runs {
        let threads: Vec<String> = run
            .threads
            .iter()
            .filter(|(_, time)| !time.is_zero())
            .map(|(name, time)| format!("{name} {:.2} s", time.as_secs_f64()))
            .collect();
        println!();
        println!(
            "agent CPU by thread, stdout `{}`: {}",
            run.format.as_str(),
            threads.join(", ")
        );
    }
    println!();
    println!(
        "checked: every run wrote {} records with {} `[REDACTED]` values, no fake identifier, sampled lines well-formed, counters agreeing, exit 0 on SIGTERM",
        thousands(corpus.records as f64),
        thousands(corpus.redactions as f64),
    );
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let lines = match std::env::var(LINES_VAR) {
        Ok(value) => value
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{LINES_VAR}={value:?} is not a number")),
        Err(_) if benching => BENCH_LINES,
        Err(_) => SMOKE_LINES,
    };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_wardwatch"));
    let optimized = !cfg!(debug_assertions);
    if benching {
        // The bench profile builds this harness and the binary alike.
        assert!(
            optimized,
            "the pipeline bench must run on an optimized build: use `cargo bench`"
        );
        println!(
            "binary: {} (bench profile, optimized, debug assertions off)",
            binary.display()
        );
    } else {
        println!(
            "smoke run on {} ({}); `cargo bench --bench pipeline` measures",
            binary.display(),
            if optimized {
                "optimized"
            } else {
                "unoptimized"
            }
        );
    }

    let dir = tempfile::tempdir().expect("a temp dir");
    let generating = Instant::now();
    let corpus = generate(dir.path(), lines).expect("write the corpus");
    println!(
        "generated {} in {:.1} s",
        corpus.path.display(),
        generating.elapsed().as_secs_f64()
    );
    let formats: &[OutputFormat] = if benching {
        &[OutputFormat::Json, OutputFormat::Text]
    } else {
        &[OutputFormat::Json]
    };
    let mut runs = Vec::new();
    for &format in formats {
        println!("running the agent, stdout format {}…", format.as_str());
        runs.push(run(&binary, &corpus, format));
    }
    report(&corpus, &runs);
}
