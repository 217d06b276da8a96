use super::*;

struct Next<'a>(Option<&'a str>);

impl Pairing for Next<'_> {
    fn method_of_next_response(&self) -> Option<&str> {
        self.0
    }
}

/// Feeds `calls` (captured bytes, moved length) with timestamps 1, 2, 3…
fn run(side: Side, method: Option<&str>, calls: &[(&[u8], u64)]) -> (Vec<Message>, Stream) {
    let mut stream = Stream::new(side);
    let mut out = Vec::new();
    for (i, (bytes, len)) in calls.iter().enumerate() {
        stream.feed(bytes, *len, i as u64 + 1, &Next(method), &mut |m| {
            out.push(m)
        });
    }
    (out, stream)
}

fn whole(bytes: &[u8]) -> (&[u8], u64) {
    (bytes, bytes.len() as u64)
}

fn requests(messages: &[Message]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Request(head) => Some((head.method.clone(), head.target.clone())),
            _ => None,
        })
        .collect()
}

fn responses(messages: &[Message]) -> Vec<(u16, u64, u64)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Response(r) => Some((r.status, r.body_bytes, r.end_ns)),
            _ => None,
        })
        .collect()
}

const REQUEST: &[u8] = b"POST /api/v1/appointments?notify=true HTTP/1.1\r\nHost: appointment-service\r\nTraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nContent-Length: 5\r\nX-Other: 1\r\n\r\nhello";
const RESPONSE: &[u8] =
    b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn a_request_split_at_every_offset_reads_the_same() {
    for split in 0..=REQUEST.len() {
        let (a, b) = REQUEST.split_at(split);
        let (messages, _) = run(Side::Requests, None, &[whole(a), whole(b)]);
        assert_eq!(messages.len(), 2, "split at {split}: {messages:?}");
        let Message::Request(head) = &messages[0] else {
            panic!("{messages:?}")
        };
        assert_eq!(head.method, "POST");
        assert_eq!(head.target, "/api/v1/appointments?notify=true");
        assert_eq!(head.start_ns, if split == 0 { 2 } else { 1 });
        assert_eq!(
            head.headers,
            [
                ("host".to_owned(), "appointment-service".to_owned()),
                (
                    "traceparent".to_owned(),
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()
                ),
            ]
        );
        assert_eq!(messages[1], Message::RequestEnd { body_bytes: 5 });
    }
}

#[test]
fn a_response_split_at_every_offset_ends_at_its_last_byte() {
    for split in 1..RESPONSE.len() {
        let (a, b) = RESPONSE.split_at(split);
        let (messages, _) = run(Side::Responses, Some("POST"), &[whole(a), whole(b)]);
        assert_eq!(responses(&messages), [(201, 2, 2)], "split at {split}");
    }
}

#[test]
fn pipelined_requests_in_one_read() {
    let three = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nDELETE /c HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    let (messages, _) = run(Side::Requests, None, &[whole(three)]);
    assert_eq!(
        requests(&messages),
        [
            ("GET".into(), "/a".into()),
            ("GET".into(), "/b".into()),
            ("DELETE".into(), "/c".into())
        ]
    );
}

#[test]
fn chunked_bodies_with_split_size_lines_and_trailers() {
    let body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nWiki\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n";
    for split in 1..body.len() {
        let (a, b) = body.split_at(split);
        let (messages, stream) = run(Side::Responses, Some("GET"), &[whole(a), whole(b)]);
        assert_eq!(responses(&messages), [(200, 20, 2)], "split at {split}");
        assert!(!stream.is_done());
    }
    let (messages, _) = run(
        Side::Responses,
        Some("GET"),
        &[whole(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")],
    );
    assert_eq!(responses(&messages), [(200, 0, 1), (204, 0, 1)]);
}

#[test]
fn bodies_beyond_the_window_are_counted_not_read() {
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    let mut first = head.to_vec();
    first.extend_from_slice(&[b'x'; 100]);
    let window = &first[..];
    // One call moved the head and 60,000 body bytes; we saw the head and 100.
    let calls: [(&[u8], u64); 3] = [
        (window, head.len() as u64 + 60_000),
        (&[b'y'; 64], 40_000),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 44),
    ];
    let (messages, _) = run(Side::Responses, Some("GET"), &calls);
    assert_eq!(responses(&messages), [(200, 100_000, 2), (404, 0, 3)]);
}

#[test]
fn responses_without_bodies() {
    let (messages, _) = run(
        Side::Responses,
        Some("HEAD"),
        &[whole(b"HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n")],
    );
    assert_eq!(responses(&messages), [(200, 0, 1)], "HEAD");
    for status in ["204 No Content", "304 Not Modified"] {
        let text = format!("HTTP/1.1 {status}\r\n\r\n");
        let (messages, _) = run(Side::Responses, Some("GET"), &[whole(text.as_bytes())]);
        assert_eq!(responses(&messages).len(), 1, "{status}");
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
}

#[test]
fn a_body_until_close_ends_at_its_last_byte() {
    let mut stream = Stream::new(Side::Responses);
    let mut out = Vec::new();
    let pairing = Next(Some("GET"));
    stream.feed(b"HTTP/1.0 200 OK\r\n\r\nabc", 22, 10, &pairing, &mut |m| {
        out.push(m)
    });
    stream.feed(b"def", 3, 20, &pairing, &mut |m| out.push(m));
    assert!(out.is_empty());
    stream.close(90, &mut |m| out.push(m));
    assert_eq!(responses(&out), [(200, 6, 20)]);
}

#[test]
fn garbage_at_the_start_is_not_http_and_tls_costs_nothing() {
    let tls = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
    let (messages, stream) = run(Side::Requests, None, &[whole(&tls), whole(REQUEST)]);
    assert!(messages.is_empty());
    assert!(stream.is_done());
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let (_, stream) = run(Side::Requests, None, &[whole(preface)]);
    assert!(stream.is_done());
}

#[test]
fn a_lost_head_resyncs_at_the_next_message_start() {
    // The head of the second request is longer than what was captured.
    let calls: [(&[u8], u64); 4] = [
        whole(b"GET /one HTTP/1.1\r\n\r\n"),
        (b"GET /two HTTP/1.1\r\nCookie: aaaa", 9000),
        whole(b"aaaa\r\n\r\n"),
        whole(b"GET /three HTTP/1.1\r\n\r\n"),
    ];
    let (messages, stream) = run(Side::Requests, None, &calls);
    assert_eq!(
        requests(&messages),
        [
            ("GET".into(), "/one".into()),
            ("GET".into(), "/three".into())
        ]
    );
    assert_eq!(stream.stats.resyncs, 1);
    assert_eq!(stream.stats.heads_lost, 1);
}

#[test]
fn upgrades_stop_the_parse() {
    let (messages, stream) = run(
        Side::Responses,
        Some("GET"),
        &[
            whole(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
            whole(b"\x81\x05hello"),
        ],
    );
    assert_eq!(responses(&messages), [(101, 0, 1)]);
    assert!(stream.is_done());
    let (messages, stream) = run(
        Side::Requests,
        None,
        &[whole(
            b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )],
    );
    assert_eq!(requests(&messages).len(), 1);
    assert!(stream.is_done());
}

#[test]
fn heads_past_the_cap_are_lost() {
    let mut stream = Stream::new(Side::Requests);
    let pairing = Next(None);
    stream.feed(b"GET / HTTP/1.1\r\n", 16, 1, &pairing, &mut |_| {});
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000));
    for i in 0..20 {
        stream.feed(
            filler.as_bytes(),
            filler.len() as u64,
            i + 2,
            &pairing,
            &mut |_| {},
        );
    }
    assert_eq!(stream.stats.heads_lost, 1);
}

#[test]
fn roles_are_inferred_from_the_first_message() {
    use crate::event::Role;
    assert_eq!(infer_role(Direction::Ingress, REQUEST), Some(Role::Server));
    assert_eq!(infer_role(Direction::Egress, REQUEST), Some(Role::Client));
    assert_eq!(infer_role(Direction::Ingress, RESPONSE), Some(Role::Client));
    assert_eq!(infer_role(Direction::Egress, RESPONSE), Some(Role::Server));
    assert_eq!(infer_role(Direction::Egress, b"\x16\x03\x01"), None);
}
