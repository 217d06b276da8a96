//! HTTP/1.x messages from one direction of one connection, fed the bytes
//! of successive socket calls.
//!
//! The parser only ever sees a window of each call (the first
//! `abi::CAPTURE_WINDOW` bytes) and the call's full length. Heads are read
//! with `httparse`, buffered when a head spans calls; bodies are skipped by
//! `Content-Length`, by chunked framing, or until the connection closes, and
//! counted, never kept. When a head does not fit in what was captured, the
//! stream has lost its place: it waits for a call that starts with a
//! request or status line and starts again there (a resync, counted).
//!
//! Bytes that are not HTTP/1 at the start of a stream (TLS, HTTP/2's
//! preface, a database protocol) mark the stream not-HTTP and everything
//! after it is ignored at no cost. `Upgrade` (WebSocket) and `CONNECT`
//! tunnels stop the parse the same way once their head is read.

use super::socket_event::Direction;

/// The longest head buffered across calls; past it the message is lost.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most headers read from one head.
const MAX_HEADERS: usize = 96;
/// Request headers kept for the exchange (lower-case).
pub const KEPT_HEADERS: [&str; 4] = ["host", "user-agent", "traceparent", "tracestate"];

/// Which messages a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Requests,
    Responses,
}

/// A request, as far as its head tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent (origin form `/a?b`, or absolute form).
    pub target: String,
    pub version: Version,
    pub headers: Vec<(String, String)>,
    /// When the call holding its first byte returned.
    pub start_ns: u64,
}

/// A finished response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub version: Version,
    /// When the call holding its last byte returned.
    pub end_ns: u64,
    pub body_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "1.0",
            Version::Http11 => "1.1",
        }
    }
}

/// What the stream reports, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request head was read (its body, if any, is being skipped).
    Request(RequestHead),
    /// A request's body ended; its size.
    RequestEnd { body_bytes: u64 },
    /// A final response ended.
    Response(Response),
}

/// What the stream needs from its connection: the method of the request
/// the next response answers (HEAD and CONNECT responses have no body).
pub trait Pairing {
    fn method_of_next_response(&self) -> Option<&str>;
}

/// Counters a stream keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Times the stream lost its place and found a message start again.
    pub resyncs: u64,
    /// Heads given up because they passed [`MAX_HEAD_BYTES`] or were cut by
    /// the capture window.
    pub heads_lost: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Between messages: the next byte starts one.
    Idle,
    /// Part of a head is in `head`.
    Head,
    /// `remaining` bytes of a body by Content-Length.
    Body {
        remaining: u64,
    },
    Chunked(Chunk),
    /// A response body that ends when the connection does.
    UntilClose,
    /// Place lost: skip until a call starts with a message start.
    Lost,
    /// Not HTTP/1, or upgraded to something else: ignore the rest.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line (digits so far, whether an extension began).
    Size {
        value: u64,
        digits: u8,
        extension: bool,
    },
    /// The `\n` after the size line's `\r`.
    SizeEnd {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    /// The CRLF after chunk data: how many of its two bytes are still due.
    DataEnd {
        due: u8,
    },
    /// Trailer lines after the last chunk; `line_empty` while the current
    /// line has no byte but CR yet.
    Trailer {
        line_empty: bool,
    },
}

/// One direction of one connection.
#[derive(Debug)]
pub struct Stream {
    side: Side,
    state: State,
    head: Vec<u8>,
    /// When the call holding the current message's first byte returned.
    start_ns: u64,
    /// The response being read: status and version from its head.
    response: Option<(u16, Version)>,
    body_bytes: u64,
    /// When the last call with body bytes returned (a body read until
    /// close ends there).
    last_ns: u64,
    /// Whether a message was read: garbage before the first one means the
    /// stream is not HTTP/1, garbage later means a lost place.
    seen_message: bool,
    pub stats: StreamStats,
}

impl Stream {
    pub fn new(side: Side) -> Stream {
        Stream {
            side,
            state: State::Idle,
            head: Vec::new(),
            start_ns: 0,
            response: None,
            body_bytes: 0,
            last_ns: 0,
            seen_message: false,
            stats: StreamStats::default(),
        }
    }

    /// Whether the stream has seen bytes that are not HTTP/1 (or upgraded).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Feeds one call: `bytes` were captured of `len` moved, the call
    /// returned at `ts_ns`. Messages go to `emit`.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        len: u64,
        ts_ns: u64,
        pairing: &dyn Pairing,
        emit: &mut dyn FnMut(Message),
    ) {
        let uncaptured = len.saturating_sub(bytes.len() as u64);
        let mut rest = bytes;
        loop {
            match self.state {
                State::Done => return,
                State::Lost => {
                    // Only a call that starts a message brings us back.
                    if rest.len() == bytes.len() && starts_message(self.side, rest) {
                        self.stats.resyncs += 1;
                        self.state = State::Idle;
                        continue;
                    }
                    return;
                }
                State::Idle | State::Head => {
                    if rest.is_empty() {
                        if uncaptured > 0 {
                            // The rest of this call is unseen: if it held a
                            // message start, we cannot read it.
                            self.lose();
                        }
                        return;
                    }
                    if self.state == State::Idle {
                        if self.head.is_empty() && !could_start(self.side, rest) {
                            self.state = State::Done;
                            return;
                        }
                        self.start_ns = ts_ns;
                        self.state = State::Head;
                    }
                    match self.read_head(rest, ts_ns, pairing, emit) {
                        HeadRead::Complete(used) => rest = &rest[used..],
                        HeadRead::Partial => {
                            if uncaptured > 0 || self.head.len() > MAX_HEAD_BYTES {
                                self.stats.heads_lost += 1;
                                self.lose();
                            }
                            return;
                        }
                        HeadRead::Invalid => {
                            self.head.clear();
                            if self.seen_message {
                                self.lose();
                            } else {
                                self.state = State::Done;
                            }
                            return;
                        }
                    }
                }
                State::Body { remaining } => {
                    let available = rest.len() as u64 + uncaptured;
                    if available < remaining {
                        self.body_bytes += available;
                        self.state = State::Body {
                            remaining: remaining - available,
                        };
                        return;
                    }
                    self.body_bytes += remaining;
                    let skip_captured = remaining.min(rest.len() as u64) as usize;
                    rest = &rest[skip_captured..];
                    let skipped_uncaptured = remaining - skip_captured as u64;
                    self.finish(ts_ns, emit);
                    if skipped_uncaptured < uncaptured {
                        // Bytes after this message were not captured: a
                        // pipelined message starts there, unseen.
                        self.lose();
                        return;
                    }
                }
                State::Chunked(ref chunk) => {
                    let chunk = chunk.clone();
                    match self.read_chunked(chunk, rest, ts_ns, emit) {
                        Some(used) => rest = &rest[used..],
                        None => {
                            if uncaptured > 0 && self.state != State::Idle {
                                // Chunk framing cannot be followed through
                                // bytes we did not see: end the message at
                                // the last byte seen.
                                self.body_bytes += uncaptured;
                                self.finish(ts_ns, emit);
                                self.lose();
                            }
                            return;
                        }
                    }
                }
                State::UntilClose => {
                    self.body_bytes += rest.len() as u64 + uncaptured;
                    self.last_ns = ts_ns;
                    return;
                }
            }
        }
    }

    /// The connection closed: a body read until close ends now.
    pub fn close(&mut self, ts_ns: u64, emit: &mut dyn FnMut(Message)) {
        if self.state == State::UntilClose {
            // The last byte came with the last call that had any; a close
            // right after the head ends the message at its head.
            let end = if self.last_ns == 0 {
                ts_ns
            } else {
                self.last_ns
            };
            self.finish(end, emit);
        }
        self.state = State::Done;
    }

    fn lose(&mut self) {
        self.head.clear();
        self.response = None;
        self.body_bytes = 0;
        self.state = State::Lost;
    }

    /// Parses a head from the buffered part and `rest`. Returns how many
    /// bytes of `rest` it used.
    fn read_head(
        &mut self,
        rest: &[u8],
        ts_ns: u64,
        pairing: &dyn Pairing,
        emit: &mut dyn FnMut(Message),
    ) -> HeadRead {
        // Parse straight from the call's bytes when nothing is buffered:
        // the common case, a head in one read, copies nothing.
        let buffered = self.head.len();
        let owned;
        let input: &[u8] = if buffered == 0 {
            rest
        } else {
            self.head.extend_from_slice(rest);
            owned = std::mem::take(&mut self.head);
            &owned
        };
        let parsed = match self.side {
            Side::Requests => parse_request(input, self.start_ns),
            Side::Responses => parse_response(input),
        };
        let (used_total, head) = match parsed {
            Parsed::Complete(used, head) => (used, head),
            Parsed::Partial => {
                if buffered == 0 {
                    self.head.extend_from_slice(rest);
                } else {
                    self.head = input.to_vec();
                }
                return HeadRead::Partial;
            }
            Parsed::Invalid => return HeadRead::Invalid,
        };
        let used = used_total - buffered;
        self.body_bytes = 0;
        self.last_ns = 0;
        self.seen_message = true;
        match head {
            Head::Request {
                head,
                framing,
                tunnel,
            } => {
                emit(Message::Request(head));
                self.state = if tunnel {
                    State::Done
                } else {
                    match framing {
                        Framing::Length(0) | Framing::None => {
                            emit(Message::RequestEnd { body_bytes: 0 });
                            State::Idle
                        }
                        Framing::Length(n) => State::Body { remaining: n },
                        Framing::Chunked => State::Chunked(Chunk::Size {
                            value: 0,
                            digits: 0,
                            extension: false,
                        }),
                        // A request without a length has no body (RFC 9112 §6.3).
                        Framing::UntilClose => {
                            emit(Message::RequestEnd { body_bytes: 0 });
                            State::Idle
                        }
                    }
                };
            }
            Head::Response {
                status,
                version,
                framing,
                upgrade,
            } => {
                if (100..200).contains(&status) && status != 101 {
                    // Interim (100 Continue): the final response follows.
                    self.state = State::Idle;
                    return HeadRead::Complete(used);
                }
                self.response = Some((status, version));
                let method = pairing.method_of_next_response();
                let no_body = method == Some("HEAD")
                    || status == 204
                    || status == 304
                    || (method == Some("CONNECT") && (200..300).contains(&status));
                if upgrade
                    || status == 101
                    || (method == Some("CONNECT") && (200..300).contains(&status))
                {
                    // The connection now speaks something else.
                    self.finish(ts_ns, emit);
                    self.state = State::Done;
                    return HeadRead::Complete(used);
                }
                self.state = if no_body {
                    State::Body { remaining: 0 }
                } else {
                    match framing {
                        Framing::Length(n) => State::Body { remaining: n },
                        Framing::Chunked => State::Chunked(Chunk::Size {
                            value: 0,
                            digits: 0,
                            extension: false,
                        }),
                        Framing::None | Framing::UntilClose => State::UntilClose,
                    }
                };
                if self.state == (State::Body { remaining: 0 }) {
                    self.finish(ts_ns, emit);
                }
            }
        }
        HeadRead::Complete(used)
    }

    /// Ends the current message at `ts_ns`.
    fn finish(&mut self, ts_ns: u64, emit: &mut dyn FnMut(Message)) {
        match self.side {
            Side::Requests => emit(Message::RequestEnd {
                body_bytes: self.body_bytes,
            }),
            Side::Responses => {
                if let Some((status, version)) = self.response.take() {
                    emit(Message::Response(Response {
                        status,
                        version,
                        end_ns: ts_ns,
                        body_bytes: self.body_bytes,
                    }));
                }
            }
        }
        self.body_bytes = 0;
        self.state = State::Idle;
    }

    /// Follows chunked framing through `rest`; returns the bytes used when
    /// the body ended inside it, `None` when all of it was body.
    fn read_chunked(
        &mut self,
        mut chunk: Chunk,
        rest: &[u8],
        ts_ns: u64,
        emit: &mut dyn FnMut(Message),
    ) -> Option<usize> {
        let mut at = 0;
        while at < rest.len() {
            let byte = rest[at];
            chunk = match chunk {
                Chunk::Size {
                    value,
                    digits,
                    extension,
                } => match byte {
                    b'\r' => Chunk::SizeEnd { value },
                    b'\n' => self.after_size(value),
                    _ if extension => chunk,
                    b';' | b' ' | b'\t' => Chunk::Size {
                        value,
                        digits,
                        extension: true,
                    },
                    _ => match (byte as char).to_digit(16) {
                        Some(d) if digits < 16 => Chunk::Size {
                            value: value * 16 + u64::from(d),
                            digits: digits + 1,
                            extension,
                        },
                        _ => {
                            self.lose();
                            return None;
                        }
                    },
                },
                Chunk::SizeEnd { value } => {
                    if byte != b'\n' {
                        self.lose();
                        return None;
                    }
                    self.after_size(value)
                }
                Chunk::Data { remaining } => {
                    let take = remaining.min((rest.len() - at) as u64);
                    self.body_bytes += take;
                    at += take as usize;
                    chunk = if take == remaining {
                        Chunk::DataEnd { due: 2 }
                    } else {
                        Chunk::Data {
                            remaining: remaining - take,
                        }
                    };
                    continue;
                }
                Chunk::DataEnd { due } => {
                    let expected = if due == 2 { b'\r' } else { b'\n' };
                    if byte != expected {
                        self.lose();
                        return None;
                    }
                    if due == 2 {
                        Chunk::DataEnd { due: 1 }
                    } else {
                        Chunk::Size {
                            value: 0,
                            digits: 0,
                            extension: false,
                        }
                    }
                }
                Chunk::Trailer { line_empty } => match byte {
                    b'\r' => Chunk::Trailer { line_empty },
                    b'\n' if line_empty => {
                        at += 1;
                        self.finish(ts_ns, emit);
                        return Some(at);
                    }
                    b'\n' => Chunk::Trailer { line_empty: true },
                    _ => Chunk::Trailer { line_empty: false },
                },
            };
            at += 1;
        }
        self.state = State::Chunked(chunk);
        None
    }

    fn after_size(&mut self, value: u64) -> Chunk {
        if value == 0 {
            Chunk::Trailer { line_empty: true }
        } else {
            Chunk::Data { remaining: value }
        }
    }
}

enum HeadRead {
    Complete(usize),
    Partial,
    Invalid,
}

enum Framing {
    Length(u64),
    Chunked,
    /// No length given (a response then runs until close).
    UntilClose,
    None,
}

enum Head {
    Request {
        head: RequestHead,
        framing: Framing,
        tunnel: bool,
    },
    Response {
        status: u16,
        version: Version,
        framing: Framing,
        upgrade: bool,
    },
}

enum Parsed {
    Complete(usize, Head),
    Partial,
    Invalid,
}

fn version(minor: Option<u8>) -> Version {
    if minor == Some(0) {
        Version::Http10
    } else {
        Version::Http11
    }
}

/// Framing from the headers (RFC 9112 §6): chunked wins over a length.
fn framing(headers: &[httparse::Header<'_>]) -> Result<Framing, ()> {
    let mut length = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = std::str::from_utf8(header.value).map_err(drop)?;
            if value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
            {
                return Ok(Framing::Chunked);
            }
            return Ok(Framing::UntilClose);
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value).map_err(drop)?;
            let parsed: u64 = value.trim().parse().map_err(drop)?;
            if length.is_some_and(|known| known != parsed) {
                return Err(());
            }
            length = Some(parsed);
        }
    }
    Ok(length.map_or(Framing::None, Framing::Length))
}

fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case(name)
            && std::str::from_utf8(h.value)
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

fn parse_request(input: &[u8], start_ns: u64) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let used = match request.parse(input) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    };
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Parsed::Invalid;
    };
    let Ok(framing) = framing(request.headers) else {
        return Parsed::Invalid;
    };
    let kept = request
        .headers
        .iter()
        .filter_map(|h| {
            let name = KEPT_HEADERS
                .iter()
                .find(|kept| h.name.eq_ignore_ascii_case(kept))?;
            Some((
                (*name).to_owned(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            ))
        })
        .collect();
    let tunnel = method == "CONNECT" || has_token(request.headers, "connection", "upgrade");
    Parsed::Complete(
        used,
        Head::Request {
            head: RequestHead {
                method: method.to_owned(),
                target: target.to_owned(),
                version: version(request.version),
                headers: kept,
                start_ns,
            },
            framing,
            tunnel,
        },
    )
}

fn parse_response(input: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let used = match response.parse(input) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    };
    let Some(status) = response.code else {
        return Parsed::Invalid;
    };
    let Ok(framing) = framing(response.headers) else {
        return Parsed::Invalid;
    };
    let version = version(response.version);
    // HTTP/1.0 without a length, or `Connection: close`: the body runs to
    // the end of the connection.
    let framing = match framing {
        Framing::None if version == Version::Http10 => Framing::UntilClose,
        other => other,
    };
    Parsed::Complete(
        used,
        Head::Response {
            status,
            version,
            framing,
            upgrade: status == 101,
        },
    )
}

/// Methods a request line starts with; anything else at the start of a
/// stream is not HTTP/1.
const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"HEAD ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// Whether `bytes` may begin a message of `side` (also true for a prefix
/// too short to tell).
fn could_start(side: Side, bytes: &[u8]) -> bool {
    let prefix_of = |word: &[u8]| {
        let n = bytes.len().min(word.len());
        bytes[..n] == word[..n]
    };
    match side {
        Side::Requests => METHODS.iter().any(|m| prefix_of(m)),
        Side::Responses => prefix_of(b"HTTP/1."),
    }
}

/// Whether `bytes` certainly begins a message of `side`.
fn starts_message(side: Side, bytes: &[u8]) -> bool {
    match side {
        Side::Requests => METHODS.iter().any(|m| bytes.starts_with(m)),
        Side::Responses => bytes.starts_with(b"HTTP/1."),
    }
}

/// Which side of the connection sent `bytes` first in `direction`, if they
/// start an HTTP/1 message: requests received mean a server.
pub fn infer_role(direction: Direction, bytes: &[u8]) -> Option<crate::event::Role> {
    use crate::event::Role;
    let request = starts_message(Side::Requests, bytes);
    let response = starts_message(Side::Responses, bytes);
    match (direction, request, response) {
        (Direction::Ingress, true, _) | (Direction::Egress, _, true) => Some(Role::Server),
        (Direction::Egress, true, _) | (Direction::Ingress, _, true) => Some(Role::Client),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
