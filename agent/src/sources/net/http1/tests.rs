use super::*;

/// Feeds `calls` (captured bytes, moved length) with timestamps 1, 2, 3…,
/// every response answering `method`.
fn run(side: Side, method: Option<&str>, calls: &[(&[u8], u64)]) -> (Vec<Message>, Stream) {
    let mut stream = Stream::new(side);
    let out = feed(&mut stream, method, calls);
    (out, stream)
}

fn feed(stream: &mut Stream, method: Option<&str>, calls: &[(&[u8], u64)]) -> Vec<Message> {
    let mut out = Vec::new();
    for (i, (bytes, len)) in calls.iter().enumerate() {
        stream.feed(bytes, *len, i as u64 + 1, &method, &mut |m| out.push(m));
    }
    out
}

fn whole(bytes: &[u8]) -> (&[u8], u64) {
    (bytes, bytes.len() as u64)
}

/// (method, path) of each request read.
fn requests(messages: &[Message]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Request(head) => Some((head.method.clone(), head.path.clone())),
            _ => None,
        })
        .collect()
}

/// (status, body bytes, end time) of each response read.
fn responses(messages: &[Message]) -> Vec<(u16, u64, u64)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some((r.status, r.body_bytes, r.end_ns)),
            _ => None,
        })
        .collect()
}

fn lost(messages: &[Message]) -> usize {
    messages.iter().filter(|m| **m == Message::HeadLost).count()
}

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const REQUEST: &[u8] = b"POST /api/v1/appointments?notify=true&x=%20 HTTP/1.1\r\nHost: appointment-service\r\nUser-Agent: curl/8.5\r\nTraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: vendor=1\r\nContent-Length: 5\r\nCookie: secret\r\n\r\nhello";
const RESPONSE: &[u8] =
    b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

fn check_request(messages: &[Message], start_ns: u64) {
    assert_eq!(messages.len(), 2, "{messages:?}");
    let Message::Request(head) = &messages[0] else {
        panic!("{messages:?}")
    };
    assert_eq!(head.method, "POST");
    assert_eq!(head.path, "/api/v1/appointments");
    assert_eq!(head.query.as_deref(), Some("notify=true&x=%20"));
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.start_ns, start_ns);
    let kept: Vec<(&str, &str)> = head
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("host", "appointment-service"),
            ("user-agent", "curl/8.5"),
            ("traceparent", TRACEPARENT),
            ("tracestate", "vendor=1"),
        ]
    );
    assert_eq!(messages[1], Message::RequestEnd { body_bytes: 5 });
}

#[test]
fn a_request_split_at_every_offset_reads_the_same() {
    for split in 0..=REQUEST.len() {
        let (a, b) = REQUEST.split_at(split);
        let (messages, _) = run(Side::Requests, None, &[whole(a), whole(b)]);
        // An empty first call holds no byte of the request.
        check_request(&messages, if split == 0 { 2 } else { 1 });
    }
}

#[test]
fn a_request_read_a_byte_at_a_time_reads_the_same() {
    let calls: Vec<(&[u8], u64)> = REQUEST.chunks(1).map(whole).collect();
    let (messages, stream) = run(Side::Requests, None, &calls);
    check_request(&messages, 1);
    assert!(stream.head.is_empty(), "the buffered head is released");
}

#[test]
fn a_head_with_bare_line_feeds_split_at_every_offset_reads_the_same() {
    let request = b"GET /lf?x HTTP/1.1\nHost: h\n\nGET /next HTTP/1.1\n\n";
    for split in 1..request.len() {
        let (a, b) = request.split_at(split);
        let (messages, _) = run(Side::Requests, None, &[whole(a), whole(b)]);
        assert_eq!(
            requests(&messages),
            [("GET".into(), "/lf".into()), ("GET".into(), "/next".into())],
            "split at {split}"
        );
    }
}

#[test]
fn a_response_split_at_every_offset_ends_at_its_last_byte() {
    for split in 1..RESPONSE.len() {
        let (a, b) = RESPONSE.split_at(split);
        let (messages, _) = run(Side::Responses, Some("POST"), &[whole(a), whole(b)]);
        assert_eq!(responses(&messages), [(201, 2, 2)], "split at {split}");
    }
    let (messages, _) = run(Side::Responses, Some("POST"), &[whole(RESPONSE)]);
    assert_eq!(responses(&messages), [(201, 2, 1)]);
}

#[test]
fn pipelined_requests_in_one_read() {
    let three = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPUT /c?q HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    let (messages, stream) = run(Side::Requests, None, &[whole(three)]);
    assert_eq!(
        requests(&messages),
        [
            ("GET".into(), "/a".into()),
            ("POST".into(), "/b".into()),
            ("PUT".into(), "/c".into())
        ]
    );
    let ends: Vec<u64> = messages
        .iter()
        .filter_map(|m| match m {
            Message::RequestEnd { body_bytes } => Some(*body_bytes),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [0, 3, 2]);
    assert_eq!(stream.state, State::Idle);
}

#[test]
fn chunked_bodies_with_split_size_lines_extensions_and_trailers() {
    let body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;ext=\"1\"\r\nWiki\r\n10 \r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n";
    for split in 1..body.len() {
        let (a, b) = body.split_at(split);
        let (messages, stream) = run(Side::Responses, Some("GET"), &[whole(a), whole(b)]);
        assert_eq!(responses(&messages), [(200, 20, 2)], "split at {split}");
        assert_eq!(stream.state, State::Idle, "split at {split}");
    }
    let (messages, _) = run(
        Side::Responses,
        Some("GET"),
        &[whole(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        )],
    );
    assert_eq!(responses(&messages), [(200, 0, 1), (204, 0, 1)]);
}

#[test]
fn broken_chunk_framing_reports_the_response_and_seeks() {
    let (messages, mut stream) = run(
        Side::Responses,
        Some("GET"),
        &[whole(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
        )],
    );
    assert_eq!(responses(&messages), [(200, 3, 1)]);
    assert_eq!(stream.state, State::Seeking);
    let messages = feed(
        &mut stream,
        Some("GET"),
        &[whole(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        )],
    );
    assert_eq!(responses(&messages), [(404, 0, 1)]);
    assert_eq!(stream.take_stats().resyncs, 1);
}

#[test]
fn content_length_bodies_beyond_the_window_count_what_was_moved() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    let mut first = head.to_vec();
    first.extend_from_slice(&[b'x'; 100]);
    // The first call moved the head and 60,000 body bytes, the second the
    // last 40,000 body bytes: the body ends exactly with the second call.
    let calls: [(&[u8], u64); 3] = [
        (&first, head.len() as u64 + 60_000),
        (&[b'y'; 64], 40_000),
        whole(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (messages, mut stream) = run(Side::Responses, Some("GET"), &calls);
    assert_eq!(responses(&messages), [(200, 100_000, 2), (404, 0, 3)]);
    assert_eq!(stream.take_stats(), StreamStats::default(), "no place lost");
}

#[test]
fn a_truncated_call_reads_what_it_can_and_loses_only_the_unseen_head() {
    // A small response then a big one in one write; then, in the unseen
    // bytes after the big one's body, a third response's head.
    let mut window = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc".to_vec();
    window.extend_from_slice(b"HTTP/1.1 206 Partial\r\nContent-Length: 5000\r\n\r\n");
    let seen = window.len();
    window.resize(4096, b'z');
    let body_seen = (4096 - seen) as u64;
    let len = 4096 + (5000 - body_seen) + 40;
    let (messages, mut stream) = run(Side::Responses, Some("GET"), &[(&window, len)]);
    assert_eq!(responses(&messages), [(200, 3, 1), (206, 5000, 1)]);
    assert_eq!(lost(&messages), 1);
    assert_eq!(stream.state, State::Seeking);
    assert_eq!(stream.take_stats().heads_truncated, 1);
}

#[test]
fn chunk_data_past_the_window_is_skipped_blindly() {
    // Each write holds a size line and a 10,000-byte chunk: the window
    // sees the size line, the rest of the chunk and its CRLF are unseen.
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut first = head.to_vec();
    first.extend_from_slice(b"2710\r\n");
    let first_len = first.len() as u64 + 10_000 + 2;
    first.resize(4096, b'c');
    let mut second = b"2710\r\n".to_vec();
    let second_len = second.len() as u64 + 10_002;
    second.resize(4096, b'c');
    let calls: [(&[u8], u64); 3] = [
        (&first, first_len),
        (&second, second_len),
        whole(b"0\r\n\r\n"),
    ];
    let (messages, mut stream) = run(Side::Responses, Some("GET"), &calls);
    assert_eq!(responses(&messages), [(200, 20_000, 3)]);
    assert_eq!(stream.take_stats(), StreamStats::default());
}

#[test]
fn a_size_line_in_unseen_bytes_ends_the_body_there() {
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n";
    let calls: [(&[u8], u64); 3] = [
        (head, head.len() as u64 + 100),
        whole(b"0\r\n\r\n"),
        whole(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (messages, mut stream) = run(Side::Responses, Some("GET"), &calls);
    assert_eq!(responses(&messages), [(200, 105, 1), (500, 0, 3)]);
    assert_eq!(stream.take_stats().resyncs, 1);
}

#[test]
fn responses_to_head_and_204_and_304_have_no_body() {
    let (messages, _) = run(
        Side::Responses,
        Some("HEAD"),
        &[whole(
            b"HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        )],
    );
    assert_eq!(responses(&messages), [(200, 0, 1), (200, 0, 1)], "HEAD");
    for status in ["204 No Content", "304 Not Modified\r\nContent-Length: 99"] {
        let text =
            format!("HTTP/1.1 {status}\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!");
        let (messages, _) = run(Side::Responses, Some("GET"), &[whole(text.as_bytes())]);
        let code = status[..3].parse().unwrap();
        assert_eq!(
            responses(&messages),
            [(code, 0, 1), (200, 1, 1)],
            "{status}"
        );
    }
}

#[test]
fn interim_responses_are_skipped() {
    let (messages, _) = run(
        Side::Responses,
        Some("POST"),
        &[
            whole(b"HTTP/1.1 100 Continue\r\n\r\n"),
            whole(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
    );
    assert_eq!(responses(&messages), [(200, 0, 2)]);
    let (messages, _) = run(
        Side::Responses,
        Some("POST"),
        &[whole(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        )],
    );
    assert_eq!(responses(&messages), [(200, 0, 1)]);
}

#[test]
fn a_body_until_close_ends_with_its_last_call() {
    for head in [
        &b"HTTP/1.0 200 OK\r\n\r\nabc"[..],
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc",
    ] {
        let mut stream = Stream::new(Side::Responses);
        let mut out = Vec::new();
        stream.feed(head, head.len() as u64, 10, &Some("GET"), &mut |m| {
            out.push(m)
        });
        // 3 seen and 5,000 unseen bytes.
        stream.feed(b"def", 5_003, 20, &Some("GET"), &mut |m| out.push(m));
        assert!(out.is_empty());
        stream.close(&mut |m| out.push(m));
        assert_eq!(responses(&out), [(200, 5_006, 20)]);
    }
    // Closed right after the head: it ends with the head.
    let mut stream = Stream::new(Side::Responses);
    let mut out = Vec::new();
    stream.feed(
        b"HTTP/1.0 404 Not Found\r\n\r\n",
        26,
        7,
        &Some("GET"),
        &mut |m| out.push(m),
    );
    stream.close(&mut |m| out.push(m));
    assert_eq!(responses(&out), [(404, 0, 7)]);
}

#[test]
fn tls_and_http2_are_not_http_and_cost_nothing_after() {
    let client_hello = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let (messages, stream) = run(
        Side::Requests,
        None,
        &[whole(&client_hello), whole(REQUEST)],
    );
    assert!(messages.is_empty());
    assert!(stream.is_not_http());
    assert!(stream.head.is_empty());
    let server_hello = [0x16, 0x03, 0x03, 0x00, 0x7a, 0x02];
    let (_, stream) = run(Side::Responses, Some("GET"), &[whole(&server_hello)]);
    assert!(stream.is_not_http());
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let (messages, stream) = run(Side::Requests, None, &[whole(preface), whole(REQUEST)]);
    assert!(messages.is_empty());
    assert!(stream.is_not_http());
    // A plausible prefix is judged when more arrives.
    let (_, stream) = run(Side::Requests, None, &[whole(b"GE")]);
    assert!(!stream.is_not_http());
}

#[test]
fn garbage_after_a_message_seeks_until_a_call_starts_with_a_request_line() {
    let calls = [
        whole(b"GET /one HTTP/1.1\r\n\r\n"),
        whole(b"\x00\x01garbage"),
        // Looks like a method but is no request line.
        whole(b"GET READY FOR THE BODY\r\n"),
        // A request line, but not at the start of the call.
        whole(b"xx GET /two HTTP/1.1\r\n\r\n"),
        whole(b"GET /three HTTP/1.1\r\n\r\n"),
    ];
    let (messages, mut stream) = run(Side::Requests, None, &calls);
    assert_eq!(
        requests(&messages),
        [
            ("GET".into(), "/one".into()),
            ("GET".into(), "/three".into())
        ]
    );
    assert_eq!(lost(&messages), 0, "garbage is no message");
    assert_eq!(stream.take_stats().resyncs, 1);
    assert!(!stream.is_not_http());
}

#[test]
fn heads_cut_by_the_window_are_lost_and_counted() {
    let calls: [(&[u8], u64); 3] = [
        whole(b"GET /one HTTP/1.1\r\n\r\n"),
        (b"GET /two HTTP/1.1\r\nCookie: aaaa", 9000),
        whole(b"GET /three HTTP/1.1\r\n\r\n"),
    ];
    let (messages, mut stream) = run(Side::Requests, None, &calls);
    assert_eq!(requests(&messages).len(), 2);
    assert_eq!(lost(&messages), 1);
    let stats = stream.take_stats();
    assert_eq!((stats.heads_truncated, stats.resyncs), (1, 1));
}

#[test]
fn heads_past_the_cap_are_lost_and_counted() {
    let mut stream = Stream::new(Side::Requests);
    let mut calls: Vec<Vec<u8>> = vec![b"GET / HTTP/1.1\r\n".to_vec()];
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000)).into_bytes();
    calls.extend(std::iter::repeat_n(filler, 20));
    let calls: Vec<(&[u8], u64)> = calls.iter().map(|c| whole(c)).collect();
    let messages = feed(&mut stream, None, &calls);
    assert_eq!(lost(&messages), 1);
    assert_eq!(stream.take_stats().heads_too_large, 1);
    assert!(stream.head.capacity() == 0, "the buffer is released");
    // Too many headers is too large too.
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let (messages, mut stream) = run(
        Side::Requests,
        None,
        &[whole(b"GET / HTTP/1.1\r\n\r\n"), whole(&many)],
    );
    assert_eq!((requests(&messages).len(), lost(&messages)), (1, 1));
    assert_eq!(stream.take_stats().heads_too_large, 1);
}

#[test]
fn a_switch_of_protocols_stops_the_stream_a_declined_upgrade_does_not() {
    let (messages, stream) = run(
        Side::Responses,
        Some("GET"),
        &[
            whole(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
            whole(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
    );
    assert_eq!(responses(&messages), [(101, 0, 1)]);
    assert!(stream.is_tunnel());
    let (messages, stream) = run(
        Side::Responses,
        Some("CONNECT"),
        &[whole(
            b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01",
        )],
    );
    assert_eq!(responses(&messages), [(200, 0, 1)]);
    assert!(stream.is_tunnel());
    // The request stream goes on: the server may answer without upgrading.
    let (messages, stream) = run(
        Side::Requests,
        None,
        &[
            whole(b"GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n"),
            whole(b"GET /next HTTP/1.1\r\n\r\n"),
        ],
    );
    assert_eq!(requests(&messages).len(), 2);
    assert!(!stream.is_stopped());
}

#[test]
fn a_stream_joined_mid_way_waits_for_a_message_start() {
    let mut stream = Stream::mid_stream(Side::Responses);
    let messages = feed(
        &mut stream,
        Some("GET"),
        &[
            whole(b"\x16 tail of an earlier body"),
            whole(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n."),
        ],
    );
    assert_eq!(responses(&messages), [(200, 1, 2)]);
    assert!(!stream.is_not_http());
    assert_eq!(
        stream.take_stats(),
        StreamStats::default(),
        "joining is no resync"
    );
}

#[test]
fn roles_are_inferred_from_a_whole_first_line() {
    use crate::event::Role;
    assert_eq!(infer_role(Direction::Ingress, REQUEST), Some(Role::Server));
    assert_eq!(infer_role(Direction::Egress, REQUEST), Some(Role::Client));
    assert_eq!(infer_role(Direction::Ingress, RESPONSE), Some(Role::Client));
    assert_eq!(infer_role(Direction::Egress, RESPONSE), Some(Role::Server));
    assert_eq!(
        infer_role(Direction::Ingress, b"PROPFIND /dav HTTP/1.1\n\n"),
        Some(Role::Server)
    );
    for not_a_start in [
        &b"\x16\x03\x01"[..],
        b"GET /half-a-line HTTP/1.",
        b"OK this is a body\r\n",
        b"GET  HTTP/1.1\r\n",
        b"HTTP/1.1 2000\r\n",
        b"PRI * HTTP/2.0\r\n\r\n",
    ] {
        assert_eq!(
            infer_role(Direction::Ingress, not_a_start),
            None,
            "{not_a_start:?}"
        );
    }
}

#[test]
fn targets_split_into_path_and_query() {
    assert_eq!(
        split_target("/a/b?x=1&y"),
        ("/a/b".into(), Some("x=1&y".into()))
    );
    assert_eq!(split_target("/a?"), ("/a".into(), Some(String::new())));
    assert_eq!(split_target("/a#frag"), ("/a".into(), None));
    assert_eq!(
        split_target("http://h:8080/p?q"),
        ("/p".into(), Some("q".into()))
    );
    assert_eq!(split_target("http://h"), ("/".into(), None));
    assert_eq!(split_target("*"), ("*".into(), None));
}

#[test]
fn contradicting_lengths_make_a_message_unreadable() {
    let (messages, stream) = run(
        Side::Requests,
        None,
        &[whole(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        )],
    );
    assert!(messages.is_empty());
    assert!(stream.is_not_http());
    let (messages, _) = run(
        Side::Requests,
        None,
        &[whole(
            b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n",
        )],
    );
    assert_eq!(requests(&messages).len(), 2);
}
