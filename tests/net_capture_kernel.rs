//! The kernel programs, loaded for real: a Python HTTP exchange between two
//! child processes must come back as the socket events the connection table
//! expects, with the right pids, roles, addresses and bytes.
//!
//! Needs root (or CAP_BPF + CAP_PERFMON) and BTF. CI runs as root and must
//! run these (`CI` set: a missing privilege fails the test); elsewhere they
//! skip, saying why on stderr.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::sync::mpsc::Receiver;
use wardwatch::event::Role;
use wardwatch::sources::net::loader::{Capture, CaptureOptions};
use wardwatch::sources::net::socket_event::{Direction, SocketEvent};

/// Whether this test can load eBPF here; if not, says why (fails under CI).
fn can_capture() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    if root && btf {
        return true;
    }
    let why = if root {
        "the kernel has no BTF"
    } else {
        "not root"
    };
    if std::env::var_os("CI").is_some() {
        panic!("eBPF capture tests must run in CI, but {why}");
    }
    eprintln!(
        "\n!!! SKIPPED eBPF capture test: {why} (run as root to load the kernel programs) !!!\n"
    );
    false
}

const SERVER: &str = r#"
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
want = int(sys.argv[1])
got = b""
while len(got) < want:
    chunk = c.recv(65536)
    if not chunk:
        break
    got += chunk
c.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
c.close()
"#;

const CLIENT: &str = r#"
import os, socket, sys
port, body = int(sys.argv[1]), int(sys.argv[2])
c = socket.create_connection(("127.0.0.1", port))
head = b"POST /kernel-test HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % body
if body == 0:
    os.writev(c.fileno(), [head[:5], head[5:]])
else:
    c.sendall(head + b"x" * body)
resp = b""
while not resp.endswith(b"ok"):
    resp += c.recv(4096)
c.close()
"#;

fn python(script: &str, args: &[String]) -> Child {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3")
}

/// Runs one exchange with a body of `body` bytes; returns the server and
/// client pids.
fn exchange(body: usize) -> (u32, u32) {
    let head_len =
        format!("POST /kernel-test HTTP/1.1\r\nHost: t\r\nContent-Length: {body}\r\n\r\n").len();
    let mut server = python(SERVER, &[(head_len + body).to_string()]);
    let mut port = String::new();
    BufReader::new(server.stdout.as_mut().unwrap())
        .read_line(&mut port)
        .unwrap();
    let mut client = python(CLIENT, &[port.trim().to_owned(), body.to_string()]);
    assert!(client.wait().unwrap().success());
    assert!(server.wait().unwrap().success());
    let _ = std::io::stderr().flush();
    (server.id(), client.id())
}

/// Events of `pids` until both have closed their connection (or 10 s).
async fn events_of(rx: &mut Receiver<SocketEvent>, pids: [u32; 2]) -> Vec<SocketEvent> {
    let mut events = Vec::new();
    let mut closed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while closed < 2 {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("events within 10 s")
            .expect("capture running");
        let pid = match &event {
            SocketEvent::Opened { id, .. }
            | SocketEvent::Data { id, .. }
            | SocketEvent::Closed { id, .. } => id.pid,
        };
        if !pids.contains(&pid) {
            continue;
        }
        if matches!(event, SocketEvent::Closed { .. }) {
            closed += 1;
        }
        events.push(event);
    }
    events
}

fn data(events: &[SocketEvent], pid: u32, direction: Direction) -> (u64, Vec<u8>) {
    let mut len = 0;
    let mut bytes = Vec::new();
    for event in events {
        if let SocketEvent::Data {
            id,
            direction: d,
            len: l,
            bytes: b,
            ..
        } = event
        {
            if id.pid == pid && *d == direction {
                len += l;
                bytes.extend_from_slice(b);
            }
        }
    }
    (len, bytes)
}

fn opened(
    events: &[SocketEvent],
    pid: u32,
) -> (
    Option<Role>,
    Option<std::net::SocketAddr>,
    Option<std::net::SocketAddr>,
) {
    events
        .iter()
        .find_map(|event| match event {
            SocketEvent::Opened {
                id,
                role,
                local,
                peer,
                ..
            } if id.pid == pid => Some((*role, *local, *peer)),
            _ => None,
        })
        .expect("an Opened event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_exchange_is_seen_from_both_sides() {
    if !can_capture() {
        return;
    }
    let (capture, mut rx) = Capture::start(&CaptureOptions::default()).expect("capture starts");
    let (server, client) = tokio::task::spawn_blocking(|| exchange(0)).await.unwrap();
    let events = events_of(&mut rx, [server, client]).await;

    let (role, server_local, server_peer) = opened(&events, server);
    assert_eq!(role, Some(Role::Server));
    let (role, client_local, client_peer) = opened(&events, client);
    assert_eq!(role, Some(Role::Client));
    assert_eq!(
        server_local, client_peer,
        "the same connection from both ends"
    );
    assert_eq!(server_peer, client_local);
    assert!(server_local.unwrap().ip().is_loopback());

    let request = b"POST /kernel-test HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    let response = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    // writev on the client side, recvfrom on the server side.
    assert_eq!(data(&events, client, Direction::Egress).1, request);
    assert_eq!(data(&events, server, Direction::Ingress).1, request);
    assert_eq!(data(&events, server, Direction::Egress).1, response);
    assert_eq!(data(&events, client, Direction::Ingress).1, response);
    capture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_larger_than_the_window_is_counted_whole_and_cut() {
    if !can_capture() {
        return;
    }
    let (capture, mut rx) = Capture::start(&CaptureOptions::default()).expect("capture starts");
    let body = 20_000;
    let (server, client) = tokio::task::spawn_blocking(move || exchange(body))
        .await
        .unwrap();
    let events = events_of(&mut rx, [server, client]).await;
    let sent: Vec<(u64, usize)> = events
        .iter()
        .filter_map(|event| match event {
            SocketEvent::Data {
                id,
                direction: Direction::Egress,
                len,
                bytes,
                ..
            } if id.pid == client => Some((*len, bytes.len())),
            _ => None,
        })
        .collect();
    let head = b"POST /kernel-test HTTP/1.1\r\n";
    assert_eq!(sent.len(), 1, "one sendall: {sent:?}");
    let (len, captured) = sent[0];
    assert!(len > 20_000, "{len}");
    assert_eq!(captured, 4096, "the window");
    assert!(data(&events, client, Direction::Egress).1.starts_with(head));
    assert_eq!(capture.ring_drops(), 0);
    capture.stop().await;
}
