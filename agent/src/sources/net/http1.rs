//! HTTP/1.x messages from one direction of one connection, fed the bytes
//! of successive socket calls.
//!
//! The parser sees only a window of each call (the first
//! `abi::CAPTURE_WINDOW` bytes) and the call's full length; the bytes past
//! the window are *unseen*. Heads are read with `httparse`, straight from
//! the call's bytes when a head fits in one call, buffered (up to
//! [`MAX_HEAD_BYTES`]) only when it spans calls. Bodies are skipped by
//! `Content-Length`, by chunked framing, or until the connection closes,
//! and counted, never kept. Skipping needs no bytes, so unseen body bytes
//! are skipped blindly; framing that must be *read* (a head, a chunk-size
//! line, a trailer) cannot lie in unseen bytes, and when it does the
//! stream has lost its place. It then waits for a call whose first line is
//! a request or status line and starts again there (a resync, counted once
//! a head is read again).
//!
//! A message whose head could not be read is still reported
//! ([`Message::HeadLost`]): the connection table keeps a place for it, so
//! that later responses pair with their own requests.
//!
//! Bytes that cannot begin an HTTP/1 message at the start of a fresh
//! stream (TLS, HTTP/2's preface, a database protocol) mark it not-HTTP,
//! and everything after costs one comparison. Tunnels (`101 Switching
//! Protocols`, a successful `CONNECT`) stop the response stream when their
//! response is read; the table then stops the request stream too. A
//! request asking for an upgrade does not stop anything by itself: the
//! server may decline and keep speaking HTTP/1.1.

use crate::event::Role;

use super::socket_event::Direction;

/// The longest head buffered across calls; past it the message is lost.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most headers read from one head; more count as a head too large.
const MAX_HEADERS: usize = 96;
/// The longest method a request line may start with (`UPDATEREDIRECTREF`
/// is 17, the longest registered).
const MAX_METHOD_BYTES: usize = 20;
/// Request headers kept for the exchange (lower-case).
pub const KEPT_HEADERS: [&str; 4] = ["host", "user-agent", "traceparent", "tracestate"];

/// Which messages a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Requests,
    Responses,
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

/// A request, as far as its head tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The target up to `?` (raw; an absolute-form target keeps only its
    /// path).
    pub path: String,
    /// What followed `?`, raw; `None` without a `?`.
    pub query: Option<String>,
    pub version: Version,
    /// [`KEPT_HEADERS`] present, lower-case names, raw values, wire order.
    pub headers: Vec<(String, String)>,
    /// When the call holding the request's first byte returned.
    pub start_ns: u64,
}

/// A final response, read to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub version: Version,
    /// When the call holding the response's last byte returned.
    pub end_ns: u64,
    pub body_bytes: u64,
}

/// What a stream reports, in wire order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request head was read (its body, if any, is being skipped).
    Request(RequestHead),
    /// The body of the last request ended.
    RequestEnd { body_bytes: u64 },
    /// A final response ended.
    Response(Response),
    /// A message began whose head could not be read (too large, cut by the
    /// capture window, or malformed).
    HeadLost,
}

/// What a response stream needs from its connection: the method of the
/// request the next response answers (responses to `HEAD` have no body,
/// a 2xx to `CONNECT` opens a tunnel).
pub trait Pairing {
    fn method_of_next_response(&self) -> Option<&str>;
}

/// A fixed answer: `None` for request streams, which need no pairing.
impl Pairing for Option<&str> {
    fn method_of_next_response(&self) -> Option<&str> {
        *self
    }
}

/// Counters a stream keeps until its owner takes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Times a head was read again after the stream lost its place.
    pub resyncs: u64,
    /// Heads longer than [`MAX_HEAD_BYTES`] or with too many headers.
    pub heads_too_large: u64,
    /// Heads that ran into bytes the capture window cut off.
    pub heads_truncated: u64,
}

/// Why a stream reads no more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// Its first bytes could not begin an HTTP/1 message.
    NotHttp,
    /// The connection became a tunnel (upgrade, CONNECT).
    Tunnel,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between messages: the next byte starts one.
    Idle,
    /// Part of a head is buffered.
    Head,
    /// `remaining` bytes of a body framed by Content-Length.
    Body {
        remaining: u64,
    },
    Chunked(Chunk),
    /// A response body that ends when the connection does.
    UntilClose,
    /// Place lost (or joined mid-stream): waiting for a call that starts
    /// with a message.
    Seeking,
    Stopped(Stop),
}

/// Where chunked framing is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// In a chunk-size line: the size so far, its digits, whether an
    /// extension (or the whitespace before one) began.
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
    /// The CRLF after chunk data: how many of its two bytes are due.
    DataEnd {
        due: u8,
    },
    /// Trailer lines after the last chunk; `line_empty` while the current
    /// line has nothing but CR yet.
    Trailer {
        line_empty: bool,
    },
}

impl Chunk {
    const START: Chunk = Chunk::Size {
        value: 0,
        digits: 0,
        extension: false,
    };
}

/// One step of chunked framing over captured bytes.
enum Step {
    Next(Chunk),
    /// The trailer's blank line: the body ended at this byte.
    End,
    /// A byte chunked framing does not allow here.
    Broken,
}

/// One direction of one connection.
#[derive(Debug)]
pub struct Stream {
    side: Side,
    state: State,
    /// The head read so far, when it spans calls; empty otherwise.
    head: Vec<u8>,
    /// When the call holding the current message's first byte returned.
    start_ns: u64,
    /// The response being read: status and version from its head.
    response: Option<(u16, Version)>,
    body_bytes: u64,
    /// When the last call carrying bytes of the current message returned:
    /// a body read until close ends there.
    last_ns: u64,
    /// Until a first head is read, bytes that cannot begin a message mean
    /// the stream is not HTTP/1 at all; later they mean a lost place.
    first_message_due: bool,
    /// The place was lost: the next head read is a resync.
    recovering: bool,
    stats: StreamStats,
}

impl Stream {
    /// A stream whose first byte will be a message's first byte (the
    /// connection was opened while the agent watched).
    pub fn new(side: Side) -> Stream {
        Stream::with_state(side, State::Idle, true)
    }

    /// A stream joined mid-way (the connection is older than the capture):
    /// its first bytes may be the tail of a message, so it waits for a
    /// message start, and not finding one says nothing about the protocol.
    pub fn mid_stream(side: Side) -> Stream {
        Stream::with_state(side, State::Seeking, false)
    }

    fn with_state(side: Side, state: State, first_message_due: bool) -> Stream {
        Stream {
            side,
            state,
            head: Vec::new(),
            start_ns: 0,
            response: None,
            body_bytes: 0,
            last_ns: 0,
            first_message_due,
            recovering: false,
            stats: StreamStats::default(),
        }
    }

    /// The stream's first bytes could not begin an HTTP/1 message.
    pub fn is_not_http(&self) -> bool {
        self.state == State::Stopped(Stop::NotHttp)
    }

    /// The stream read a response that turned the connection into a tunnel.
    pub fn is_tunnel(&self) -> bool {
        self.state == State::Stopped(Stop::Tunnel)
    }

    pub fn is_stopped(&self) -> bool {
        matches!(self.state, State::Stopped(_))
    }

    /// Reads no more: the connection is a tunnel now (seen from the other
    /// direction), or the other direction is not HTTP.
    pub fn stop(&mut self) {
        if !self.is_stopped() {
            self.head = Vec::new();
            self.state = State::Stopped(Stop::Tunnel);
        }
    }

    /// The counters since the last call.
    pub fn take_stats(&mut self) -> StreamStats {
        std::mem::take(&mut self.stats)
    }

    /// Feeds one call: `bytes` were captured of the `len` it moved, and it
    /// returned at `ts_ns`. Messages go to `emit`, in order.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        len: u64,
        ts_ns: u64,
        pairing: &dyn Pairing,
        emit: &mut dyn FnMut(Message),
    ) {
        let mut rest = bytes;
        let mut unseen = len.saturating_sub(bytes.len() as u64);
        loop {
            match self.state {
                State::Stopped(_) => return,
                State::Seeking => {
                    // Only a call's first bytes are known to be a message
                    // start rather than body bytes that look like one.
                    if rest.len() == bytes.len() && starts_message(self.side, rest) {
                        self.state = State::Idle;
                        continue;
                    }
                    return;
                }
                State::Idle | State::Head => {
                    if rest.is_empty() {
                        if unseen > 0 {
                            // HTTP/1 has nothing between messages: unseen
                            // bytes here are a message we cannot read.
                            self.stats.heads_truncated += 1;
                            self.lose_head(emit);
                        }
                        return;
                    }
                    match self.read_head(rest, unseen, ts_ns, pairing, emit) {
                        Some(used) => rest = &rest[used..],
                        None => return,
                    }
                }
                State::Body { remaining } => {
                    let seen = remaining.min(rest.len() as u64);
                    rest = &rest[seen as usize..];
                    let skipped = (remaining - seen).min(unseen);
                    unseen -= skipped;
                    self.body_bytes += seen + skipped;
                    let remaining = remaining - seen - skipped;
                    if remaining > 0 {
                        self.state = State::Body { remaining };
                        return;
                    }
                    self.finish(ts_ns, emit);
                }
                State::Chunked(chunk) => {
                    match self.read_chunked(chunk, rest, &mut unseen, ts_ns, emit) {
                        Some(used) => rest = &rest[used..],
                        None => return,
                    }
                }
                State::UntilClose => {
                    self.body_bytes += rest.len() as u64 + unseen;
                    self.last_ns = ts_ns;
                    return;
                }
            }
        }
    }

    /// The connection closed: a body read until close ends with the last
    /// call that carried its bytes.
    pub fn close(&mut self, emit: &mut dyn FnMut(Message)) {
        if self.state == State::UntilClose {
            self.finish(self.last_ns, emit);
        }
        self.head = Vec::new();
        self.state = State::Stopped(Stop::Closed);
    }

    /// Reads a head from the buffered part and `rest`; returns the bytes of
    /// `rest` it used when the head is complete.
    fn read_head(
        &mut self,
        rest: &[u8],
        unseen: u64,
        ts_ns: u64,
        pairing: &dyn Pairing,
        emit: &mut dyn FnMut(Message),
    ) -> Option<usize> {
        let buffered = self.head.len();
        let parsed = if buffered == 0 {
            if self.first_message_due && !could_start(self.side, rest) {
                self.state = State::Stopped(Stop::NotHttp);
                return None;
            }
            self.start_ns = ts_ns;
            // The common case, a head within one call, copies nothing.
            parse(self.side, rest, ts_ns)
        } else {
            let room = MAX_HEAD_BYTES.saturating_sub(buffered);
            self.head.extend_from_slice(&rest[..rest.len().min(room)]);
            // Re-parse only when the new bytes may end the head: a head
            // trickling in by small reads would otherwise cost quadratic
            // time.
            if may_end_head(&self.head, buffered) {
                parse(self.side, &self.head, self.start_ns)
            } else {
                Parsed::Partial
            }
        };
        match parsed {
            Parsed::Complete { used, head } => {
                self.head = Vec::new();
                self.begin(head, ts_ns, pairing, emit);
                Some(used - buffered)
            }
            Parsed::Partial if buffered + rest.len() > MAX_HEAD_BYTES => {
                self.stats.heads_too_large += 1;
                self.lose_head(emit);
                None
            }
            Parsed::Partial if unseen > 0 => {
                self.stats.heads_truncated += 1;
                self.lose_head(emit);
                None
            }
            Parsed::Partial => {
                if buffered == 0 {
                    self.head.extend_from_slice(rest);
                }
                self.state = State::Head;
                None
            }
            Parsed::TooManyHeaders => {
                self.stats.heads_too_large += 1;
                self.lose_head(emit);
                None
            }
            Parsed::Invalid => {
                let claimed =
                    starts_message(self.side, if buffered == 0 { rest } else { &self.head });
                if self.first_message_due {
                    self.head = Vec::new();
                    self.state = State::Stopped(Stop::NotHttp);
                } else if claimed {
                    // A message we cannot parse still takes its place.
                    self.lose_head(emit);
                } else {
                    // Not a message at all: the previous one was framed
                    // wrongly.
                    self.lose();
                }
                None
            }
        }
    }

    /// Starts the message whose head was read.
    fn begin(
        &mut self,
        head: Head,
        ts_ns: u64,
        pairing: &dyn Pairing,
        emit: &mut dyn FnMut(Message),
    ) {
        self.first_message_due = false;
        if self.recovering {
            self.recovering = false;
            self.stats.resyncs += 1;
        }
        self.body_bytes = 0;
        self.last_ns = ts_ns;
        match head {
            Head::Request { head, framing } => {
                emit(Message::Request(head));
                self.state = match framing {
                    Framing::Length(n) if n > 0 => State::Body { remaining: n },
                    Framing::Chunked => State::Chunked(Chunk::START),
                    // Without a length a request has no body (RFC 9112 §6.3).
                    _ => {
                        emit(Message::RequestEnd { body_bytes: 0 });
                        State::Idle
                    }
                };
            }
            Head::Response {
                status,
                version,
                framing,
            } => {
                if (100..200).contains(&status) && status != 101 {
                    // Interim (100 Continue): the final response follows.
                    self.state = State::Idle;
                    return;
                }
                self.response = Some((status, version));
                let method = pairing.method_of_next_response();
                let success = (200..300).contains(&status);
                if status == 101 || (method == Some("CONNECT") && success) {
                    self.finish(ts_ns, emit);
                    self.state = State::Stopped(Stop::Tunnel);
                    return;
                }
                let bodiless = method == Some("HEAD") || status == 204 || status == 304;
                self.state = match framing {
                    _ if bodiless => State::Body { remaining: 0 },
                    Framing::Length(n) => State::Body { remaining: n },
                    Framing::Chunked => State::Chunked(Chunk::START),
                    Framing::None | Framing::Unknown => State::UntilClose,
                };
                if self.state == (State::Body { remaining: 0 }) {
                    self.finish(ts_ns, emit);
                }
            }
        }
    }

    /// Ends the current message at `end_ns`.
    fn finish(&mut self, end_ns: u64, emit: &mut dyn FnMut(Message)) {
        match self.side {
            Side::Requests => emit(Message::RequestEnd {
                body_bytes: self.body_bytes,
            }),
            Side::Responses => {
                if let Some((status, version)) = self.response.take() {
                    emit(Message::Response(Response {
                        status,
                        version,
                        end_ns,
                        body_bytes: self.body_bytes,
                    }));
                }
            }
        }
        self.body_bytes = 0;
        self.state = State::Idle;
    }

    /// A message began that cannot be read: say so, then seek.
    fn lose_head(&mut self, emit: &mut dyn FnMut(Message)) {
        emit(Message::HeadLost);
        self.lose();
    }

    fn lose(&mut self) {
        self.head = Vec::new();
        self.response = None;
        self.body_bytes = 0;
        self.recovering = true;
        self.state = State::Seeking;
    }

    /// Follows chunked framing through the call; returns the bytes of
    /// `rest` used when the body ended in them.
    fn read_chunked(
        &mut self,
        mut chunk: Chunk,
        rest: &[u8],
        unseen: &mut u64,
        ts_ns: u64,
        emit: &mut dyn FnMut(Message),
    ) -> Option<usize> {
        let mut at = 0;
        while at < rest.len() {
            if let Chunk::Data { remaining } = chunk {
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
            match step(chunk, rest[at]) {
                Step::Next(next) => chunk = next,
                Step::End => {
                    self.finish(ts_ns, emit);
                    return Some(at + 1);
                }
                Step::Broken => {
                    // The status (or the request) was read: report it, so
                    // that pairing stays in step, then seek.
                    self.finish(ts_ns, emit);
                    self.lose();
                    return None;
                }
            }
            at += 1;
        }
        // Chunk data and the CRLF after it need not be read to be skipped.
        if let Chunk::Data { remaining } = chunk {
            let take = remaining.min(*unseen);
            *unseen -= take;
            self.body_bytes += take;
            chunk = if take == remaining {
                Chunk::DataEnd { due: 2 }
            } else {
                Chunk::Data {
                    remaining: remaining - take,
                }
            };
        }
        if let Chunk::DataEnd { due } = chunk {
            let take = due.min(u8::try_from(*unseen).unwrap_or(u8::MAX));
            *unseen -= u64::from(take);
            chunk = if take == due {
                Chunk::START
            } else {
                Chunk::DataEnd { due: due - take }
            };
        }
        if *unseen > 0 {
            // A size line or the trailer lies in bytes not seen: the end of
            // the body cannot be found. It ends here, the unseen bytes
            // counted as body.
            self.body_bytes += std::mem::take(unseen);
            self.finish(ts_ns, emit);
            self.lose();
            return None;
        }
        self.state = State::Chunked(chunk);
        None
    }
}

/// One captured byte of chunked framing outside chunk data.
fn step(chunk: Chunk, byte: u8) -> Step {
    let after_size = |value: u64| {
        if value == 0 {
            Chunk::Trailer { line_empty: true }
        } else {
            Chunk::Data { remaining: value }
        }
    };
    let next = match chunk {
        Chunk::Size {
            value,
            digits,
            extension,
        } => match byte {
            _ if digits == 0 && !(byte as char).is_ascii_hexdigit() => return Step::Broken,
            b'\r' => Chunk::SizeEnd { value },
            // A bare LF ends the line for lenient peers.
            b'\n' => after_size(value),
            _ if extension => chunk,
            b';' | b' ' | b'\t' => Chunk::Size {
                value,
                digits,
                extension: true,
            },
            _ => match (byte as char).to_digit(16) {
                // 16 hex digits fill a u64.
                Some(digit) if digits < 16 => Chunk::Size {
                    value: (value << 4) | u64::from(digit),
                    digits: digits + 1,
                    extension,
                },
                _ => return Step::Broken,
            },
        },
        Chunk::SizeEnd { value } if byte == b'\n' => after_size(value),
        Chunk::DataEnd { due: 2 } if byte == b'\r' => Chunk::DataEnd { due: 1 },
        Chunk::DataEnd { .. } if byte == b'\n' => Chunk::START,
        Chunk::Trailer { line_empty } => match byte {
            b'\r' => Chunk::Trailer { line_empty },
            b'\n' if line_empty => return Step::End,
            b'\n' => Chunk::Trailer { line_empty: true },
            _ => Chunk::Trailer { line_empty: false },
        },
        Chunk::SizeEnd { .. } | Chunk::DataEnd { .. } => return Step::Broken,
        Chunk::Data { .. } => unreachable!("chunk data is skipped in bulk"),
    };
    Step::Next(next)
}

/// How a message's body is delimited (RFC 9112 §6.3).
enum Framing {
    /// No length and no transfer coding.
    None,
    Length(u64),
    Chunked,
    /// A transfer coding other than chunked last: only the end of the
    /// connection delimits it.
    Unknown,
}

enum Head {
    Request {
        head: RequestHead,
        framing: Framing,
    },
    Response {
        status: u16,
        version: Version,
        framing: Framing,
    },
}

enum Parsed {
    Complete { used: usize, head: Head },
    Partial,
    TooManyHeaders,
    Invalid,
}

/// Lenient where browsers and common servers are: the agent observes
/// traffic its peers accepted, it does not police it.
fn parser_config() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .ignore_invalid_headers_in_requests(true)
        .ignore_invalid_headers_in_responses(true);
    config
}

fn parse(side: Side, input: &[u8], start_ns: u64) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match side {
        Side::Requests => {
            let mut request = httparse::Request::new(&mut headers);
            match parser_config().parse_request(&mut request, input) {
                Ok(httparse::Status::Complete(used)) => request_head(&request, start_ns)
                    .map_or(Parsed::Invalid, |head| Parsed::Complete { used, head }),
                Ok(httparse::Status::Partial) => Parsed::Partial,
                Err(httparse::Error::TooManyHeaders) => Parsed::TooManyHeaders,
                Err(_) => Parsed::Invalid,
            }
        }
        Side::Responses => {
            let mut response = httparse::Response::new(&mut headers);
            match parser_config().parse_response(&mut response, input) {
                Ok(httparse::Status::Complete(used)) => response_head(&response)
                    .map_or(Parsed::Invalid, |head| Parsed::Complete { used, head }),
                Ok(httparse::Status::Partial) => Parsed::Partial,
                Err(httparse::Error::TooManyHeaders) => Parsed::TooManyHeaders,
                Err(_) => Parsed::Invalid,
            }
        }
    }
}

fn request_head(request: &httparse::Request<'_, '_>, start_ns: u64) -> Option<Head> {
    let framing = framing(request.headers)?;
    if matches!(framing, Framing::Unknown) {
        // A request body with no readable length cannot be skipped
        // (servers answer 400 and close).
        return None;
    }
    let headers = request
        .headers
        .iter()
        .filter_map(|header| {
            let name = KEPT_HEADERS
                .iter()
                .find(|kept| header.name.eq_ignore_ascii_case(kept))?;
            let value = String::from_utf8_lossy(header.value).into_owned();
            Some(((*name).to_owned(), value))
        })
        .collect();
    let (path, query) = split_target(request.path?);
    Some(Head::Request {
        head: RequestHead {
            method: request.method?.to_owned(),
            path,
            query,
            version: version(request.version?),
            headers,
            start_ns,
        },
        framing,
    })
}

fn response_head(response: &httparse::Response<'_, '_>) -> Option<Head> {
    Some(Head::Response {
        status: response.code?,
        version: version(response.version?),
        framing: framing(response.headers)?,
    })
}

fn version(minor: u8) -> Version {
    if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    }
}

/// The body's framing from the headers, `None` when they contradict each
/// other. A transfer coding wins over a length.
fn framing(headers: &[httparse::Header<'_>]) -> Option<Framing> {
    let mut length = None;
    let mut coding = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = std::str::from_utf8(header.value).ok()?;
            // With several fields the last one names the final coding.
            coding = value.rsplit(',').next().map(str::trim);
        } else if header.name.eq_ignore_ascii_case("content-length") {
            // A list of equal values is one length (RFC 9110 §8.6).
            for value in std::str::from_utf8(header.value).ok()?.split(',') {
                let value: u64 = value.trim().parse().ok()?;
                if length.is_some_and(|known| known != value) {
                    return None;
                }
                length = Some(value);
            }
        }
    }
    Some(match (coding, length) {
        (Some(coding), _) if coding.eq_ignore_ascii_case("chunked") => Framing::Chunked,
        (Some(_), _) => Framing::Unknown,
        (None, Some(length)) => Framing::Length(length),
        (None, None) => Framing::None,
    })
}

/// `/a/b?x=1` → (`/a/b`, `x=1`); an absolute-form target
/// (`http://h/a?x`) keeps its path and query; a fragment belongs to
/// neither.
pub fn split_target(target: &str) -> (String, Option<String>) {
    let target = target.split('#').next().unwrap_or_default();
    let target = match target.find("://") {
        Some(scheme_end) => {
            let after = &target[scheme_end + 3..];
            after.find(['/', '?']).map_or("/", |at| &after[at..])
        }
        None => target,
    };
    match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    }
}

/// Whether the bytes appended from `from` on may have ended a head: the
/// LF ending its blank line (CRLF or bare LF) must be among them, or an
/// earlier parse would have found the head whole.
fn may_end_head(buffer: &[u8], from: usize) -> bool {
    memchr::memchr_iter(b'\n', &buffer[from..]).any(|at| {
        let line_end = &buffer[..=from + at];
        line_end.ends_with(b"\n\n") || line_end.ends_with(b"\n\r\n")
    })
}

fn is_method_byte(byte: &u8) -> bool {
    byte.is_ascii_uppercase() || *byte == b'-' || *byte == b'_'
}

/// The length of the method a request line starts with, if it is one.
fn method_len(line: &[u8]) -> Option<usize> {
    let len = line
        .iter()
        .take(MAX_METHOD_BYTES + 1)
        .take_while(|b| is_method_byte(b))
        .count();
    (1..=MAX_METHOD_BYTES).contains(&len).then_some(len)
}

/// Whether the first bytes of a fresh stream may begin a message of `side`
/// (also true for a prefix too short to tell): `httparse` judges the rest.
fn could_start(side: Side, bytes: &[u8]) -> bool {
    match side {
        Side::Requests => match method_len(bytes) {
            Some(len) => bytes.get(len).is_none_or(|b| *b == b' '),
            None => false,
        },
        Side::Responses => {
            let n = bytes.len().min(7);
            bytes[..n] == b"HTTP/1."[..n]
        }
    }
}

/// Whether `bytes` certainly begin a message of `side`: their first line
/// is whole and is a request line (`METHOD SP target SP HTTP/1.x`) or a
/// status line (`HTTP/1.x SP 3DIGIT`). Strict, because a body's bytes
/// that merely look like a message must not move a lost stream or place a
/// connection.
fn starts_message(side: Side, bytes: &[u8]) -> bool {
    // Most calls that are no message start fail on their first bytes:
    // look for the line's end only past them.
    let plausible = match side {
        Side::Requests => method_len(bytes).is_some_and(|len| bytes.get(len) == Some(&b' ')),
        Side::Responses => bytes.starts_with(b"HTTP/1."),
    };
    let Some(end) = memchr::memchr(b'\n', bytes).filter(|_| plausible) else {
        return false;
    };
    let line = &bytes[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match side {
        Side::Requests => {
            let method = method_len(line).unwrap_or(0);
            // The target between the spaces is not empty.
            line.len() > method + 10
                && (line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
        }
        Side::Responses => {
            line.len() >= 12
                && matches!(line[7], b'0' | b'1')
                && line[8] == b' '
                && line[9..12].iter().all(u8::is_ascii_digit)
                && line.get(12).is_none_or(|b| *b == b' ')
        }
    }
}

/// The side of a connection whose process moved `bytes` in `direction`,
/// if they begin an HTTP/1 message: requests received or responses sent
/// make a server.
pub fn infer_role(direction: Direction, bytes: &[u8]) -> Option<Role> {
    if starts_message(Side::Requests, bytes) {
        Some(match direction {
            Direction::Ingress => Role::Server,
            Direction::Egress => Role::Client,
        })
    } else if starts_message(Side::Responses, bytes) {
        Some(match direction {
            Direction::Ingress => Role::Client,
            Direction::Egress => Role::Server,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
