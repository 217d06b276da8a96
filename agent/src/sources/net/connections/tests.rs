use std::ops::Range;

use proptest::prelude::*;

use super::*;

const SOCKET: SocketId = SocketId { pid: 100, fd: 7 };
const LOCAL: &str = "10.0.0.1:8080";
const PEER: &str = "10.0.0.2:40000";

fn table(limits: TableLimits) -> ConnectionTable {
    ConnectionTable::new(limits, Box::new(|_, _| Arc::new(Resource::default())))
}

fn addr(text: &str) -> Option<SocketAddr> {
    Some(text.parse().unwrap())
}

fn opened(id: SocketId, role: Option<Role>, ts: u64) -> SocketEvent {
    SocketEvent::Opened {
        id,
        role,
        timestamp_ns: ts,
        local: addr(LOCAL),
        peer: addr(PEER),
        cgroup_id: 5,
    }
}

fn data(id: SocketId, direction: Direction, ts: u64, bytes: &[u8]) -> SocketEvent {
    SocketEvent::Data {
        id,
        tid: 101,
        direction,
        timestamp_ns: ts,
        len: bytes.len() as u64,
        bytes: bytes.to_vec(),
        cgroup_id: 5,
    }
}

fn closed(id: SocketId, ts: u64) -> SocketEvent {
    SocketEvent::Closed {
        id,
        timestamp_ns: ts,
    }
}

fn feed(table: &mut ConnectionTable, events: Vec<SocketEvent>) -> Vec<HttpExchange> {
    let mut out = Vec::new();
    for event in events {
        table.handle(event, &mut |e| out.push(e));
    }
    out
}

fn summary(exchanges: &[HttpExchange]) -> Vec<(String, String, u16)> {
    exchanges
        .iter()
        .map(|e| (e.method.clone(), e.path.clone(), e.status))
        .collect()
}

fn triple(method: &str, path: &str, status: u16) -> (String, String, u16) {
    (method.to_owned(), path.to_owned(), status)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

#[test]
fn a_server_exchange_has_its_addresses_times_trace_context_and_resource() {
    let mut t = ConnectionTable::new(
        TableLimits::default(),
        Box::new(|pid, cgroup| {
            Arc::new(Resource {
                host_name: format!("{pid}/{cgroup}"),
                ..Resource::default()
            })
        }),
    );
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Server), 1_000),
            data(
                SOCKET,
                Direction::Ingress,
                2_000,
                b"POST /patients?page=2 HTTP/1.1\r\nHost: h\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nContent-Length: 3\r\n\r\nabc",
            ),
            data(
                SOCKET,
                Direction::Egress,
                9_000,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ),
            closed(SOCKET, 10_000),
        ],
    );
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(
        (e.role, e.method.as_str(), e.status),
        (Role::Server, "POST", 200)
    );
    assert_eq!(
        (e.path.as_str(), e.query.as_deref()),
        ("/patients", Some("page=2"))
    );
    assert_eq!((e.server, e.client), (addr(LOCAL), addr(PEER)));
    assert_eq!(e.start.timestamp_nanos_opt(), Some(2_000));
    assert_eq!(e.duration, Duration::from_nanos(7_000));
    assert_eq!((e.pid, e.tid, e.cgroup_id), (100, 101, 5));
    assert_eq!(e.request_header("host"), Some("h"));
    assert_eq!(
        e.trace_parent().map(|p| p.trace_id),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!((e.request_body_bytes, e.response_body_bytes), (3, 2));
    assert_eq!(e.protocol_version, "1.1");
    assert_eq!(e.resource.host_name, "100/5");
    let stats = t.stats();
    assert_eq!((stats.exchanges, stats.open, stats.unanswered), (1, 0, 0));
}

#[test]
fn a_client_exchange_swaps_the_addresses() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Client), 1),
            data(SOCKET, Direction::Egress, 2, GET),
            data(
                SOCKET,
                Direction::Ingress,
                3,
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!((out[0].role, out[0].status), (Role::Client, 404));
    assert_eq!((out[0].server, out[0].client), (addr(PEER), addr(LOCAL)));
}

#[test]
fn an_exchange_split_at_every_offset_pairs_the_same() {
    let request = b"PUT /r?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    let response =
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    for request_split in 0..=request.len() {
        for response_split in [1, 9, 20, 40, 50, response.len() - 1] {
            let (q1, q2) = request.split_at(request_split);
            let (r1, r2) = response.split_at(response_split);
            let mut t = table(TableLimits::default());
            let out = feed(
                &mut t,
                vec![
                    opened(SOCKET, Some(Role::Server), 1),
                    data(SOCKET, Direction::Ingress, 2, q1),
                    data(SOCKET, Direction::Ingress, 3, q2),
                    data(SOCKET, Direction::Egress, 4, r1),
                    data(SOCKET, Direction::Egress, 5, r2),
                ],
            );
            let at = format!("request split at {request_split}, response at {response_split}");
            assert_eq!(summary(&out), [triple("PUT", "/r", 201)], "{at}");
            let start = if request_split == 0 { 3 } else { 2 };
            assert_eq!(out[0].start.timestamp_nanos_opt(), Some(start), "{at}");
            assert_eq!(
                out[0].duration,
                Duration::from_nanos(5 - start as u64),
                "{at}"
            );
            assert_eq!(
                (out[0].request_body_bytes, out[0].response_body_bytes),
                (4, 3)
            );
        }
    }
    for response_split in 1..response.len() {
        let (r1, r2) = response.split_at(response_split);
        let mut t = table(TableLimits::default());
        let out = feed(
            &mut t,
            vec![
                opened(SOCKET, Some(Role::Client), 1),
                data(SOCKET, Direction::Egress, 2, request),
                data(SOCKET, Direction::Ingress, 3, r1),
                data(SOCKET, Direction::Ingress, 4, r2),
            ],
        );
        assert_eq!(
            summary(&out),
            [triple("PUT", "/r", 201)],
            "split at {response_split}"
        );
        assert_eq!(out[0].duration, Duration::from_nanos(2));
    }
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Server), 1),
            data(
                SOCKET,
                Direction::Ingress,
                2,
                b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
            ),
            // The HEAD response announces 99 bytes it does not send.
            data(
                SOCKET,
                Direction::Egress,
                3,
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!(
        summary(&out),
        [
            triple("GET", "/a", 200),
            triple("HEAD", "/b", 200),
            triple("GET", "/c", 500)
        ]
    );
    assert_eq!(t.stats().unpaired_responses, 0);
}

#[test]
fn an_interim_response_does_not_answer_the_request() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Client), 1),
            data(
                SOCKET,
                Direction::Egress,
                2,
                b"POST /upload HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
            ),
            data(
                SOCKET,
                Direction::Ingress,
                3,
                b"HTTP/1.1 100 Continue\r\n\r\n",
            ),
            data(SOCKET, Direction::Egress, 4, b"0123456789"),
            data(SOCKET, Direction::Ingress, 5, OK),
        ],
    );
    assert_eq!(summary(&out), [triple("POST", "/upload", 200)]);
    assert_eq!(out[0].request_body_bytes, 10);
    assert_eq!(out[0].duration, Duration::from_nanos(3));
}

#[test]
fn connections_older_than_the_capture_are_placed_by_their_first_message() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, None, 1),
            // The tail of a response sent before the capture.
            data(SOCKET, Direction::Ingress, 2, b"ata\"}]}"),
            data(
                SOCKET,
                Direction::Egress,
                3,
                b"PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            ),
            data(
                SOCKET,
                Direction::Ingress,
                4,
                b"HTTP/1.1 204 No Content\r\n\r\n",
            ),
        ],
    );
    assert_eq!(summary(&out), [triple("PUT", "/x", 204)]);
    assert_eq!(out[0].role, Role::Client);
    assert_eq!(out[0].server, addr(PEER));
    // No Opened at all: placed the same way, without addresses; a request
    // body's tail before the first message is skipped.
    let other = SocketId { pid: 1, fd: 3 };
    let out = feed(
        &mut t,
        vec![
            data(other, Direction::Ingress, 2, b"GET THE REST {\"a\": 1}"),
            data(other, Direction::Ingress, 3, GET),
            data(other, Direction::Egress, 4, OK),
        ],
    );
    assert_eq!((out[0].role, out[0].server), (Role::Server, None));
    let stats = t.stats();
    assert_eq!(
        (stats.not_http, stats.resyncs, stats.unpaired_responses),
        (0, 0, 0)
    );
}

#[test]
fn a_connection_placed_by_a_response_joins_its_requests_mid_way() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            // The response to a request sent before the capture places the
            // connection; the tail of the next request's body follows.
            data(SOCKET, Direction::Ingress, 1, OK),
            data(SOCKET, Direction::Egress, 2, b"\x00\x01 rest of an upload"),
            data(SOCKET, Direction::Egress, 3, GET),
            data(SOCKET, Direction::Ingress, 4, OK),
        ],
    );
    assert_eq!(summary(&out), [triple("GET", "/", 200)]);
    assert_eq!(out[0].role, Role::Client);
    let stats = t.stats();
    assert_eq!((stats.unpaired_responses, stats.not_http), (1, 0));
}

#[test]
fn a_second_open_updates_addresses_without_losing_the_connection() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            // A non-blocking connect: the peer is known, the local end not yet.
            SocketEvent::Opened {
                id: SOCKET,
                role: Some(Role::Client),
                timestamp_ns: 1,
                local: None,
                peer: addr(PEER),
                cgroup_id: 5,
            },
            data(SOCKET, Direction::Egress, 2, GET),
            // Established: the tuple is whole now.
            opened(SOCKET, Some(Role::Client), 3),
            data(SOCKET, Direction::Ingress, 4, OK),
        ],
    );
    assert_eq!(summary(&out), [triple("GET", "/", 200)]);
    assert_eq!((out[0].server, out[0].client), (addr(PEER), addr(LOCAL)));
    assert_eq!(out[0].duration, Duration::from_nanos(2));
    // A role-less open placed later by its own Opened.
    let out = feed(
        &mut t,
        vec![
            SocketEvent::Opened {
                id: SOCKET,
                role: None,
                timestamp_ns: 5,
                local: None,
                peer: None,
                cgroup_id: 5,
            },
            opened(SOCKET, Some(Role::Server), 6),
            data(SOCKET, Direction::Ingress, 7, GET),
            data(SOCKET, Direction::Egress, 8, OK),
        ],
    );
    assert_eq!((out[0].role, out[0].server), (Role::Server, addr(LOCAL)));
    assert_eq!(t.stats().unanswered, 0);
}

#[test]
fn an_open_that_contradicts_the_entry_is_a_reused_descriptor() {
    let mut t = table(TableLimits::default());
    let mut reopened = opened(SOCKET, Some(Role::Server), 3);
    if let SocketEvent::Opened { peer, .. } = &mut reopened {
        *peer = addr("10.0.0.9:50000");
    }
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Server), 1),
            data(SOCKET, Direction::Ingress, 2, b"GET /old HTTP/1.1\r\n\r\n"),
            // The close was not seen.
            reopened,
            data(SOCKET, Direction::Ingress, 4, b"GET /new HTTP/1.1\r\n\r\n"),
            data(SOCKET, Direction::Egress, 5, OK),
        ],
    );
    assert_eq!(summary(&out), [triple("GET", "/new", 200)]);
    assert_eq!(out[0].client, addr("10.0.0.9:50000"));
    assert_eq!((t.stats().unanswered, t.stats().open), (1, 1));
    // After a close, the same id is a new connection.
    let out = feed(
        &mut t,
        vec![
            closed(SOCKET, 6),
            opened(SOCKET, Some(Role::Client), 7),
            data(SOCKET, Direction::Egress, 8, b"GET /third HTTP/1.1\r\n\r\n"),
            data(SOCKET, Direction::Ingress, 9, OK),
        ],
    );
    assert_eq!(
        (out[0].role, out[0].path.as_str()),
        (Role::Client, "/third")
    );
}

#[test]
fn closing_ends_a_body_read_until_close_and_counts_the_unanswered() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Client), 1),
            data(
                SOCKET,
                Direction::Egress,
                2,
                b"GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /c HTTP/1.0\r\n\r\n",
            ),
            data(
                SOCKET,
                Direction::Ingress,
                3,
                b"HTTP/1.0 200 OK\r\n\r\nsome",
            ),
            data(SOCKET, Direction::Ingress, 4, b" more"),
            closed(SOCKET, 90),
        ],
    );
    assert_eq!(summary(&out), [triple("GET", "/a", 200)]);
    assert_eq!(out[0].response_body_bytes, 9);
    assert_eq!(out[0].duration, Duration::from_nanos(2));
    assert_eq!(out[0].protocol_version, "1.0");
    let stats = t.stats();
    assert_eq!((stats.unanswered, stats.open), (2, 0));
}

#[test]
fn the_least_recently_active_connection_is_evicted() {
    let mut t = table(TableLimits {
        max_connections: 4,
        ..TableLimits::default()
    });
    let id = |fd| SocketId { pid: 9, fd };
    let mut events = Vec::new();
    for fd in 0..4 {
        events.push(opened(id(fd), Some(Role::Server), 10 + fd as u64));
        events.push(data(id(fd), Direction::Ingress, 20 + fd as u64, GET));
    }
    // fd 0 answers, so fd 1 is now the least recently active.
    events.push(data(id(0), Direction::Egress, 30, OK));
    events.push(data(id(0), Direction::Ingress, 31, GET));
    events.push(opened(id(4), Some(Role::Server), 32));
    let out = feed(&mut t, events);
    assert_eq!(out.len(), 1);
    let stats = t.stats();
    assert_eq!((stats.evicted, stats.unanswered, stats.open), (1, 1, 4));
    // fd 1 is a stranger now: its response pairs with nothing, and its
    // new entry pushes out fd 2, the least recent left.
    let out = feed(
        &mut t,
        vec![
            data(id(1), Direction::Egress, 40, OK),
            data(id(0), Direction::Egress, 41, OK),
            data(id(3), Direction::Egress, 42, OK),
        ],
    );
    assert_eq!(out.len(), 2);
    let stats = t.stats();
    assert_eq!(
        (stats.evicted, stats.unanswered, stats.unpaired_responses),
        (2, 2, 1)
    );
}

#[test]
fn idle_connections_expire() {
    let mut t = table(TableLimits {
        idle_ns: 100,
        ..TableLimits::default()
    });
    let id = |fd| SocketId { pid: 9, fd };
    feed(
        &mut t,
        vec![
            opened(id(0), Some(Role::Server), 1_000),
            data(id(0), Direction::Ingress, 1_010, GET),
            opened(id(1), Some(Role::Server), 1_050),
            opened(id(2), Some(Role::Server), 1_020),
        ],
    );
    t.expire_idle(1_100);
    assert_eq!((t.stats().expired, t.stats().open), (0, 3));
    t.expire_idle(1_115);
    // fd 0 (last seen at 1,010) goes with its request; fd 2 (1,020) stays.
    let stats = t.stats();
    assert_eq!((stats.expired, stats.unanswered, stats.open), (1, 1, 2));
    t.expire_idle(u64::MAX);
    assert_eq!((t.stats().expired, t.stats().open), (3, 0));
}

#[test]
fn requests_past_the_pending_cap_are_dropped_without_shifting_the_pairing() {
    let mut t = table(TableLimits {
        max_pending: 2,
        ..TableLimits::default()
    });
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Server), 1),
            data(
                SOCKET,
                Direction::Ingress,
                2,
                b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
            ),
            data(
                SOCKET,
                Direction::Egress,
                3,
                b"HTTP/1.1 201 A\r\nContent-Length: 0\r\n\r\nHTTP/1.1 202 B\r\nContent-Length: 0\r\n\r\n",
            ),
            data(
                SOCKET,
                Direction::Egress,
                4,
                b"HTTP/1.1 203 C\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!(
        summary(&out),
        [triple("GET", "/2", 202), triple("GET", "/3", 203)]
    );
    assert_eq!(t.stats().pending_dropped, 1);
}

#[test]
fn a_lost_head_costs_one_exchange_not_the_pairing() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Server), 1),
            // The second request's head runs past the capture window.
            (SocketEvent::Data {
                id: SOCKET,
                tid: 1,
                direction: Direction::Ingress,
                timestamp_ns: 2,
                len: 20_000,
                bytes: b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nCookie: xxxxxx".to_vec(),
                cgroup_id: 5,
            }),
            data(SOCKET, Direction::Ingress, 3, b"GET /3 HTTP/1.1\r\n\r\n"),
            data(SOCKET, Direction::Egress, 4, OK),
            data(
                SOCKET,
                Direction::Egress,
                5,
                b"HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n",
            ),
            data(
                SOCKET,
                Direction::Egress,
                6,
                b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!(
        summary(&out),
        [triple("GET", "/1", 200), triple("GET", "/3", 202)]
    );
    let stats = t.stats();
    assert_eq!((stats.heads_truncated, stats.resyncs), (1, 1));
    // A response whose head is lost retires its request.
    let other = SocketId { pid: 1, fd: 1 };
    let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b"X-Pad: 0123456789abcdef\r\n", 1000).flatten());
    let out = feed(
        &mut t,
        vec![
            opened(other, Some(Role::Client), 1),
            data(
                other,
                Direction::Egress,
                2,
                b"GET /big HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
            ),
            data(other, Direction::Ingress, 3, &huge[..8000]),
            data(other, Direction::Ingress, 4, &huge[8000..16_000]),
            data(other, Direction::Ingress, 5, &huge[16_000..]),
            data(other, Direction::Ingress, 6, OK),
        ],
    );
    assert_eq!(summary(&out), [triple("GET", "/next", 200)]);
    let stats = t.stats();
    assert_eq!((stats.heads_too_large, stats.unanswered), (1, 1));
}

#[test]
fn a_response_without_a_request_is_counted() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Server), 1),
            data(SOCKET, Direction::Egress, 2, OK),
        ],
    );
    assert!(out.is_empty());
    assert_eq!(t.stats().unpaired_responses, 1);
}

#[test]
fn an_upgraded_connection_is_left_alone() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Server), 1),
            data(
                SOCKET,
                Direction::Ingress,
                2,
                b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            ),
            data(
                SOCKET,
                Direction::Egress,
                3,
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            ),
            // Frames that happen to look like HTTP/1 are not read.
            data(SOCKET, Direction::Ingress, 4, GET),
            data(SOCKET, Direction::Egress, 5, OK),
            closed(SOCKET, 6),
        ],
    );
    assert_eq!(summary(&out), [triple("GET", "/ws", 101)]);
    let stats = t.stats();
    assert_eq!(
        (
            stats.not_http,
            stats.resyncs,
            stats.unpaired_responses,
            stats.unanswered
        ),
        (0, 0, 0, 0)
    );
}

#[test]
fn tls_connections_are_counted_once_and_ignored() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SOCKET, Some(Role::Server), 1),
            data(
                SOCKET,
                Direction::Ingress,
                2,
                &[0x16, 0x03, 0x01, 0x00, 0x05],
            ),
            data(
                SOCKET,
                Direction::Egress,
                3,
                &[0x16, 0x03, 0x03, 0x00, 0x05],
            ),
            data(SOCKET, Direction::Ingress, 4, GET),
            data(SOCKET, Direction::Egress, 5, OK),
        ],
    );
    assert!(out.is_empty());
    assert_eq!(t.stats().not_http, 1);
    assert_eq!(t.stats().unpaired_responses, 0);
    // One older than the capture is judged when it is forgotten.
    let old = SocketId { pid: 1, fd: 9 };
    feed(
        &mut t,
        vec![
            data(old, Direction::Ingress, 6, &[0x17, 0x03, 0x03, 0x00, 0x20]),
            data(old, Direction::Egress, 7, &[0x17, 0x03, 0x03, 0x00, 0x20]),
        ],
    );
    assert_eq!(t.stats().not_http, 1);
    feed(&mut t, vec![closed(old, 8)]);
    assert_eq!(t.stats().not_http, 2);
}

/// A body framed one way or the other.
#[derive(Clone, Debug)]
enum Body {
    Length(usize),
    Chunked(Vec<usize>),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Length(n) => *n as u64,
            Body::Chunked(chunks) => chunks.iter().sum::<usize>() as u64,
        }
    }
}

#[derive(Clone, Debug)]
struct Exchange {
    method: &'static str,
    status: u16,
    interim: bool,
    request_body: Body,
    response_body: Body,
}

/// One direction's bytes, with the ranges the capture must see (heads and
/// chunk-size lines: framing that is read, not skipped).
#[derive(Default)]
struct Wire {
    bytes: Vec<u8>,
    must_see: Vec<Range<usize>>,
    /// Each message's first byte and end.
    messages: Vec<Range<usize>>,
}

impl Wire {
    fn framing(&mut self, text: &str) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(text.as_bytes());
        self.must_see.push(start..self.bytes.len());
    }

    fn filler(&mut self, n: usize) {
        self.bytes.extend(std::iter::repeat_n(b'b', n));
    }

    fn body(&mut self, body: &Body) {
        match body {
            Body::Length(n) => {
                self.framing(&format!("Content-Length: {n}\r\n\r\n"));
                self.filler(*n);
            }
            Body::Chunked(chunks) => {
                self.framing("Transfer-Encoding: chunked\r\n\r\n");
                for n in chunks {
                    self.framing(&format!("{n:x}\r\n"));
                    self.filler(*n);
                    // The CRLF after chunk data may go unseen.
                    self.bytes.extend_from_slice(b"\r\n");
                }
                self.framing("0\r\n\r\n");
            }
        }
    }
}

/// Splits `wire` into calls at `cuts`. A call longer than the window is
/// captured only up to it, but never short of a byte the capture must see.
fn calls(wire: &Wire, cuts: &[usize], window: usize) -> Vec<(Range<usize>, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.bytes.len() + 1)).collect();
    points.extend([0, wire.bytes.len()]);
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| {
            let call = w[0]..w[1];
            let needed = wire
                .must_see
                .iter()
                .filter(|r| r.start < call.end && r.end > call.start)
                .map(|r| r.end.min(call.end) - call.start)
                .max()
                .unwrap_or(0);
            let captured = needed.max(window).min(call.len());
            (call, captured)
        })
        .collect()
}

fn call_event(
    wire: &Wire,
    call: &(Range<usize>, usize),
    direction: Direction,
    ts: u64,
) -> SocketEvent {
    let (range, captured) = call;
    SocketEvent::Data {
        id: SOCKET,
        tid: 1,
        direction,
        timestamp_ns: ts,
        len: range.len() as u64,
        bytes: wire.bytes[range.start..range.start + captured].to_vec(),
        cgroup_id: 0,
    }
}

fn exchange() -> impl Strategy<Value = Exchange> {
    let body = || {
        prop_oneof![
            (0usize..12_000).prop_map(Body::Length),
            proptest::collection::vec(1usize..6_000, 0..4).prop_map(Body::Chunked),
        ]
    };
    (
        prop_oneof![
            Just("GET"),
            Just("POST"),
            Just("PUT"),
            Just("DELETE"),
            Just("HEAD")
        ],
        prop_oneof![
            Just(200u16),
            Just(201),
            Just(204),
            Just(304),
            Just(404),
            Just(503)
        ],
        any::<bool>(),
        body(),
        body(),
    )
        .prop_map(
            |(method, status, interim, request_body, response_body)| Exchange {
                method,
                status,
                interim,
                request_body,
                response_body,
            },
        )
}

/// How the table first hears of the connection.
#[derive(Clone, Copy, Debug)]
enum Start {
    Opened,
    OpenedBeforeCapture,
    DataOnly,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_keep_alive_traffic_pairs_exactly(
        exchanges in proptest::collection::vec(exchange(), 1..7),
        close_delimited_last in any::<bool>(),
        role in prop_oneof![Just(Role::Server), Just(Role::Client)],
        start in prop_oneof![Just(Start::Opened), Just(Start::OpenedBeforeCapture), Just(Start::DataOnly)],
        window in prop_oneof![Just(64usize), Just(512), Just(4096)],
        request_cuts in proptest::collection::vec(any::<usize>(), 0..16),
        response_cuts in proptest::collection::vec(any::<usize>(), 0..16),
        interleave in proptest::collection::vec(any::<bool>(), 32),
    ) {
        let mut requests = Wire::default();
        let mut responses = Wire::default();
        let mut expected = Vec::new();
        let last = exchanges.len() - 1;
        for (i, x) in exchanges.iter().enumerate() {
            let start = requests.bytes.len();
            requests.framing(&format!("{} /r/{i} HTTP/1.1\r\nHost: h\r\n", x.method));
            requests.body(&x.request_body);
            requests.messages.push(start..requests.bytes.len());

            let start = responses.bytes.len();
            if x.interim {
                responses.framing("HTTP/1.1 100 Continue\r\n\r\n");
            }
            responses.framing(&format!("HTTP/1.1 {} X\r\n", x.status));
            let bodiless = x.method == "HEAD" || matches!(x.status, 204 | 304);
            let body = if bodiless {
                // A HEAD response announces the length it does not send.
                let announced = if x.status == 204 || x.status == 304 { String::new() } else { "Content-Length: 7\r\n".into() };
                responses.framing(&format!("{announced}\r\n"));
                0
            } else if close_delimited_last && i == last {
                responses.framing("Connection: close\r\n\r\n");
                let n = x.response_body.len() as usize;
                responses.filler(n);
                n as u64
            } else {
                responses.body(&x.response_body);
                x.response_body.len()
            };
            responses.messages.push(start..responses.bytes.len());
            expected.push((x.method.to_string(), format!("/r/{i}"), x.status, x.request_body.len(), body));
        }
        // A connection placed by its first message needs that message's
        // first line whole in one call, in each direction.
        let (request_cuts, response_cuts) = match start {
            Start::Opened => (request_cuts, response_cuts),
            _ => {
                let first_line = |wire: &Wire, cuts: Vec<usize>| -> Vec<usize> {
                    let line_end = wire.bytes.iter().position(|b| *b == b'\n').unwrap() + 1;
                    cuts.into_iter().filter(|c| c % (wire.bytes.len() + 1) >= line_end).collect()
                };
                (first_line(&requests, request_cuts), first_line(&responses, response_cuts))
            }
        };
        let request_calls = calls(&requests, &request_cuts, window);
        let response_calls = calls(&responses, &response_cuts, window);
        let (request_direction, response_direction) = match role {
            Role::Server => (Direction::Ingress, Direction::Egress),
            Role::Client => (Direction::Egress, Direction::Ingress),
        };

        let mut events = Vec::new();
        if !matches!(start, Start::DataOnly) {
            events.push(opened(SOCKET, matches!(start, Start::Opened).then_some(role), 1));
        }
        let mut ts = 10;
        let mut request_ts = Vec::new();
        let mut response_ts = Vec::new();
        let mut next_request = 0;
        for (n, call) in response_calls.iter().enumerate() {
            // Every request a response in this call answers is whole
            // first; sometimes one call more.
            let answered = responses.messages.iter().filter(|m| m.start < call.0.end).count();
            let needed = requests.messages[answered - 1].end;
            let mut extra = interleave[n % interleave.len()];
            while let Some(request_call) = request_calls.get(next_request) {
                if request_call.0.start >= needed && !std::mem::take(&mut extra) {
                    break;
                }
                ts += 1;
                events.push(call_event(&requests, request_call, request_direction, ts));
                request_ts.push((request_call.0.clone(), ts));
                next_request += 1;
            }
            ts += 1;
            events.push(call_event(&responses, call, response_direction, ts));
            response_ts.push((call.0.clone(), ts));
        }
        ts += 1;
        events.push(closed(SOCKET, ts));

        let mut t = table(TableLimits::default());
        let out = feed(&mut t, events);
        let got: Vec<_> = out
            .iter()
            .map(|e| (e.method.clone(), e.path.clone(), e.status, e.request_body_bytes, e.response_body_bytes))
            .collect();
        prop_assert_eq!(got, expected);
        // Times: a request starts with the call holding its first byte, a
        // response ends with the call holding its last.
        let ts_of = |calls: &[(Range<usize>, u64)], at: usize| {
            calls.iter().find(|(range, _)| range.contains(&at)).map(|(_, ts)| *ts).unwrap()
        };
        for (i, e) in out.iter().enumerate() {
            let start = ts_of(&request_ts, requests.messages[i].start);
            let end = ts_of(&response_ts, responses.messages[i].end - 1);
            prop_assert_eq!(e.start.timestamp_nanos_opt(), Some(start as i64));
            prop_assert_eq!(e.duration, Duration::from_nanos(end - start));
            prop_assert_eq!(e.role, role);
        }
        let stats = t.stats();
        prop_assert_eq!(
            (stats.unanswered, stats.unpaired_responses, stats.resyncs, stats.heads_truncated, stats.not_http, stats.open),
            (0, 0, 0, 0, 0, 0)
        );
    }
}
