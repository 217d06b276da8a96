use proptest::prelude::*;

use super::*;

const SERVER: SocketId = SocketId { pid: 100, fd: 7 };

fn table(limits: TableLimits) -> ConnectionTable {
    ConnectionTable::new(limits, Box::new(|_, _| Arc::new(Resource::default())))
}

fn opened(id: SocketId, role: Option<Role>, ts: u64) -> SocketEvent {
    SocketEvent::Opened {
        id,
        role,
        timestamp_ns: ts,
        local: Some("127.0.0.1:8080".parse().unwrap()),
        peer: Some("127.0.0.1:40000".parse().unwrap()),
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

#[test]
fn a_server_exchange_has_its_addresses_times_and_trace_context() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SERVER, Some(Role::Server), 1_000),
            data(
                SERVER,
                Direction::Ingress,
                2_000,
                b"GET /patients?page=2 HTTP/1.1\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
            ),
            data(SERVER, Direction::Egress, 9_000, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            SocketEvent::Closed {
                id: SERVER,
                timestamp_ns: 10_000,
            },
        ],
    );
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!((e.role, e.status), (Role::Server, 200));
    assert_eq!(
        (e.path.as_str(), e.query.as_deref()),
        ("/patients", Some("page=2"))
    );
    assert_eq!(e.server, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(e.client, Some("127.0.0.1:40000".parse().unwrap()));
    assert_eq!(e.duration, Duration::from_nanos(7_000));
    assert_eq!(e.start.timestamp_nanos_opt(), Some(2_000));
    assert_eq!((e.pid, e.tid, e.cgroup_id), (100, 101, 5));
    assert!(e.trace_parent().is_some());
    assert_eq!(e.response_body_bytes, 2);
    assert_eq!(t.stats().exchanges, 1);
    assert_eq!(t.stats().open, 0);
}

#[test]
fn client_side_swaps_the_addresses() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SERVER, Some(Role::Client), 1),
            data(SERVER, Direction::Egress, 2, b"GET / HTTP/1.1\r\n\r\n"),
            data(
                SERVER,
                Direction::Ingress,
                3,
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!(out[0].role, Role::Client);
    assert_eq!(out[0].server, Some("127.0.0.1:40000".parse().unwrap()));
    assert_eq!(out[0].status, 404);
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SERVER, Some(Role::Server), 1),
            data(
                SERVER,
                Direction::Ingress,
                2,
                b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
            ),
            data(
                SERVER,
                Direction::Egress,
                3,
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!(
        summary(&out),
        [
            ("GET".into(), "/a".into(), 200),
            ("HEAD".into(), "/b".into(), 200),
            ("GET".into(), "/c".into(), 500)
        ]
    );
}

#[test]
fn connections_older_than_capture_are_placed_by_their_first_message() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SERVER, None, 1),
            data(
                SERVER,
                Direction::Egress,
                2,
                b"PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            ),
            data(
                SERVER,
                Direction::Ingress,
                3,
                b"HTTP/1.1 204 No Content\r\n\r\n",
            ),
        ],
    );
    assert_eq!(out[0].role, Role::Client);
    // No Opened at all: placed the same way, without addresses.
    let other = SocketId { pid: 1, fd: 3 };
    let out = feed(
        &mut t,
        vec![
            data(other, Direction::Ingress, 2, b"GET / HTTP/1.1\r\n\r\n"),
            data(
                other,
                Direction::Egress,
                3,
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!((out[0].role, out[0].server), (Role::Server, None));
}

#[test]
fn a_second_open_with_addresses_updates_a_role_less_entry() {
    let mut t = table(TableLimits::default());
    let mut update = opened(SERVER, None, 2);
    if let SocketEvent::Opened { local, .. } = &mut update {
        *local = Some("10.0.0.1:80".parse().unwrap());
    }
    let out = feed(
        &mut t,
        vec![
            SocketEvent::Opened {
                id: SERVER,
                role: Some(Role::Server),
                timestamp_ns: 1,
                local: None,
                peer: None,
                cgroup_id: 5,
            },
            update,
            data(SERVER, Direction::Ingress, 3, b"GET / HTTP/1.1\r\n\r\n"),
            data(
                SERVER,
                Direction::Egress,
                4,
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!(out[0].role, Role::Server);
    assert_eq!(out[0].server, Some("10.0.0.1:80".parse().unwrap()));
}

#[test]
fn unanswered_requests_eviction_and_expiry_are_counted() {
    let mut t = table(TableLimits {
        max_connections: 16,
        max_pending: 2,
        idle_ns: 100,
    });
    feed(
        &mut t,
        vec![
            opened(SERVER, Some(Role::Server), 1),
            data(
                SERVER,
                Direction::Ingress,
                2,
                b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
            ),
            SocketEvent::Closed {
                id: SERVER,
                timestamp_ns: 3,
            },
        ],
    );
    assert_eq!(
        t.stats().unanswered,
        3,
        "one pushed out, two closed unanswered"
    );
    for fd in 0..40 {
        let id = SocketId { pid: 9, fd };
        feed(
            &mut t,
            vec![opened(id, Some(Role::Server), 1_000 + fd as u64)],
        );
    }
    let stats = t.stats();
    assert!(stats.open <= 16, "{stats:?}");
    assert_eq!(stats.evicted, 40 - stats.open);
    t.expire_idle(1_000 + 39 + 100 - 5);
    assert!(t.stats().open < 16);
    assert!(t.stats().expired > 0);
    t.expire_idle(u64::MAX);
    assert_eq!(t.stats().open, 0);
}

#[test]
fn tls_connections_are_counted_once_and_ignored() {
    let mut t = table(TableLimits::default());
    let out = feed(
        &mut t,
        vec![
            opened(SERVER, Some(Role::Server), 1),
            data(
                SERVER,
                Direction::Ingress,
                2,
                &[0x16, 0x03, 0x01, 0x00, 0x05],
            ),
            data(
                SERVER,
                Direction::Egress,
                3,
                &[0x16, 0x03, 0x03, 0x00, 0x05],
            ),
            data(SERVER, Direction::Ingress, 4, b"GET / HTTP/1.1\r\n\r\n"),
        ],
    );
    assert!(out.is_empty());
    assert_eq!(t.stats().not_http, 1);
}

#[test]
fn targets_split_into_path_and_query() {
    assert_eq!(
        split_target("/a/b?x=1&y"),
        ("/a/b".into(), Some("x=1&y".into()))
    );
    assert_eq!(split_target("/a#frag"), ("/a".into(), None));
    assert_eq!(
        split_target("http://h:8080/p?q"),
        ("/p".into(), Some("q".into()))
    );
    assert_eq!(split_target("http://h"), ("/".into(), None));
    assert_eq!(split_target("*"), ("*".into(), None));
}

/// A request or response body framed one way or the other.
#[derive(Clone, Debug)]
enum Body {
    Length(usize),
    Chunked(Vec<usize>),
}

fn frame(head: &str, body: &Body) -> Vec<u8> {
    let mut out = head.as_bytes().to_vec();
    match body {
        Body::Length(n) => {
            out.extend_from_slice(format!("Content-Length: {n}\r\n\r\n").as_bytes());
            out.extend(std::iter::repeat_n(b'b', *n));
        }
        Body::Chunked(chunks) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for n in chunks {
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                out.extend(std::iter::repeat_n(b'c', *n));
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    out
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (0usize..20_000).prop_map(Body::Length),
        proptest::collection::vec(1usize..3000, 0..4).prop_map(Body::Chunked),
    ]
}

/// Splits `stream` into calls at `cuts`; a call of more than the window is
/// captured only up to it, unless a message head begins past the window
/// (heads are never cut in this test: the window rule is for bodies).
fn calls(stream: &[u8], cuts: &[usize], heads: &[usize]) -> Vec<(Vec<u8>, u64)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.extend_from_slice(heads);
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| {
            let call = &stream[w[0]..w[1]];
            let captured = call.len().min(4096);
            (call[..captured].to_vec(), call.len() as u64)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_keep_alive_traffic_pairs_exactly(
        messages in proptest::collection::vec(
            (prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE")], 0u16..5, body(), body()),
            1..6,
        ),
        request_cuts in proptest::collection::vec(any::<usize>(), 0..12),
        response_cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let statuses = [200u16, 201, 404, 500, 503];
        let mut requests = Vec::new();
        let mut request_heads = Vec::new();
        let mut responses = Vec::new();
        let mut response_heads = Vec::new();
        let mut expected = Vec::new();
        for (i, (method, status, request_body, response_body)) in messages.iter().enumerate() {
            let path = format!("/r/{i}");
            request_heads.push(requests.len());
            // Heads must be whole within a call's window: cut before each.
            requests.extend(frame(&format!("{method} {path} HTTP/1.1\r\nHost: h\r\n"), request_body));
            let status = statuses[*status as usize];
            response_heads.push(responses.len());
            responses.extend(frame(&format!("HTTP/1.1 {status} X\r\n"), response_body));
            expected.push((method.to_string(), path, status));
        }
        // A head never straddles a window cut: also cut right after each
        // head start plus at most the window.
        let mut t = table(TableLimits::default());
        let mut events = vec![opened(SERVER, Some(Role::Server), 1)];
        let mut ts = 2;
        for (bytes, len) in calls(&requests, &request_cuts, &request_heads) {
            events.push(SocketEvent::Data { id: SERVER, tid: 1, direction: Direction::Ingress, timestamp_ns: ts, len, bytes, cgroup_id: 0 });
            ts += 1;
        }
        for (bytes, len) in calls(&responses, &response_cuts, &response_heads) {
            events.push(SocketEvent::Data { id: SERVER, tid: 1, direction: Direction::Egress, timestamp_ns: ts, len, bytes, cgroup_id: 0 });
            ts += 1;
        }
        let out = feed(&mut t, events);
        prop_assert_eq!(summary(&out), expected);
    }
}
