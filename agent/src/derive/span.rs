//! Trace spans from redacted HTTP exchanges.
//!
//! An exchange captured on the server side becomes a `SERVER` span, one on
//! the client side a `CLIENT` span. A request that carried a valid W3C
//! `traceparent` joins that trace: the server span as a child of the span
//! the header names, the client span *as* that span (the header is what the
//! caller sent for its own call), so both sides of one request link up.
//! Any other request starts a trace of its own here; a client call made
//! while its thread serves a request is nested under that request's span
//! afterwards (`nesting.rs`). The name is `METHOD /route/template` (the
//! route from `route.rs`, never the raw path), attributes follow the OTel
//! HTTP conventions and are read from the redacted exchange only, and start
//! and end are the captured times, not the time of export.
//!
//! Status is `Error` for 5xx on either side and for 4xx on the client side
//! only: a server that answers 404 did its job, a client that got one did
//! not (the OTel HTTP span conventions).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::event::{HttpExchange, Resource, Role};
use crate::redact::Redacted;

/// One span, ready for sampling and export.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// The caller's span, from the request's `traceparent`.
    pub parent_span_id: Option<[u8; 8]>,
    /// `METHOD /route/template`.
    pub name: String,
    pub route: String,
    pub kind: Role,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub is_error: bool,
    pub attributes: Vec<(&'static str, AttributeValue)>,
    pub resource: Arc<Resource>,
}

/// An attribute's value: the conventions use strings and integers here.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    Str(String),
    Int(i64),
}

/// Builds spans; owns the id generator.
#[derive(Debug)]
pub struct SpanBuilder {
    ids: IdGenerator,
}

impl Default for SpanBuilder {
    fn default() -> Self {
        SpanBuilder {
            ids: IdGenerator::from_entropy(),
        }
    }
}

impl SpanBuilder {
    /// The span of `exchange`, whose route (from the router the metrics
    /// use, so a span and its histogram agree) is `route`.
    pub fn build(&self, exchange: &Redacted<HttpExchange>, route: &str) -> Span {
        let parent = exchange.trace_parent();
        let trace_id = parent
            .and_then(|p| hex_array::<16>(p.trace_id))
            .unwrap_or_else(|| self.ids.trace_id());
        let header_span = parent.and_then(|p| hex_array::<8>(p.parent_span_id));
        // The `traceparent` a request carries names the span of whoever sent
        // it: on the server side that is the parent; on the client side it
        // is the captured call itself, so the client span takes that id and
        // the server span of the same request links to it.
        let (span_id, parent_span_id) = match (exchange.role, header_span) {
            (Role::Client, Some(own)) => (own, None),
            (_, header) => (self.ids.span_id(), header),
        };
        let is_error = match exchange.role {
            Role::Server => exchange.status >= 500,
            Role::Client => exchange.status >= 400,
        };
        let end = exchange.start
            + chrono::Duration::from_std(exchange.duration).unwrap_or(chrono::Duration::zero());
        Span {
            trace_id,
            span_id,
            parent_span_id,
            name: format!("{} {route}", exchange.method),
            route: route.to_owned(),
            kind: exchange.role,
            start: exchange.start,
            end,
            is_error,
            attributes: attributes(exchange, route),
            resource: Arc::clone(&exchange.resource),
        }
    }
}

fn attributes(exchange: &HttpExchange, route: &str) -> Vec<(&'static str, AttributeValue)> {
    use AttributeValue::{Int, Str};
    let mut attributes = vec![
        ("http.request.method", Str(exchange.method.clone())),
        ("http.route", Str(route.to_owned())),
        ("url.path", Str(exchange.path.clone())),
        ("http.response.status_code", Int(i64::from(exchange.status))),
        ("network.protocol.name", Str("http".into())),
        (
            "network.protocol.version",
            Str(exchange.protocol_version.into()),
        ),
    ];
    if let Some(query) = &exchange.query {
        attributes.push(("url.query", Str(query.clone())));
    }
    if let Some(server) = exchange.server {
        attributes.push(("server.address", Str(server.ip().to_string())));
        attributes.push(("server.port", Int(i64::from(server.port()))));
    }
    if let Some(client) = exchange.client {
        attributes.push(("client.address", Str(client.ip().to_string())));
        attributes.push(("client.port", Int(i64::from(client.port()))));
    }
    if let Some(agent) = exchange.request_header("user-agent") {
        attributes.push(("user_agent.original", Str(agent.to_owned())));
    }
    if exchange.status >= 400 {
        // The conventions' `error.type` for an HTTP failure is its status.
        attributes.push(("error.type", Str(exchange.status.to_string())));
    }
    attributes.push(("process.pid", Int(i64::from(exchange.pid))));
    attributes
}

fn hex_array<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex, as OTLP/JSON and `traceparent` write ids.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Trace and span ids: SplitMix64 over a counter from a random seed. Its
/// output function is a bijection, so ids never repeat within a process,
/// and seeds from the kernel's entropy keep nodes apart. Never zero (an
/// all-zero id is invalid in W3C and OTLP).
#[derive(Debug)]
struct IdGenerator {
    seed: u64,
    counter: AtomicU64,
}

impl IdGenerator {
    fn from_entropy() -> Self {
        let mut seed = [0u8; 8];
        // Reading the kernel's entropy cannot fail on Linux ≥ 3.17 except
        // when interrupted; a time-based seed is a fine second best.
        let got = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed));
        let seed = match got {
            Ok(()) => u64::from_le_bytes(seed),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64),
        };
        IdGenerator {
            seed,
            counter: AtomicU64::new(1),
        }
    }

    fn next(&self) -> u64 {
        loop {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            let value = splitmix64(
                self.seed
                    .wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            );
            if value != 0 {
                return value;
            }
        }
    }

    fn span_id(&self) -> [u8; 8] {
        self.next().to_be_bytes()
    }

    fn trace_id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next().to_be_bytes());
        id[8..].copy_from_slice(&self.next().to_be_bytes());
        id
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::redact::Redactor;

    fn exchange(role: Role, status: u16, traceparent: Option<&str>) -> Redacted<HttpExchange> {
        let mut headers = vec![("host".to_owned(), "patient-service".to_owned())];
        if let Some(value) = traceparent {
            headers.push(("traceparent".to_owned(), value.to_owned()));
        }
        Redactor::builtin().redact_exchange(HttpExchange {
            role,
            method: "GET".into(),
            path: "/api/v1/patients/123-45-6789".into(),
            query: Some("email=jane.roe%40example.org".into()),
            status,
            protocol_version: "1.1",
            request_headers: headers,
            start: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
            duration: Duration::from_millis(250),
            server: Some("10.0.0.7:8080".parse().unwrap()),
            client: Some("10.0.0.9:40000".parse().unwrap()),
            pid: 9,
            tid: 9,
            cgroup_id: 1,
            request_body_bytes: 0,
            response_body_bytes: 0,
            resource: Arc::default(),
        })
    }

    #[test]
    fn a_request_with_traceparent_joins_its_callers_trace() {
        let builder = SpanBuilder::default();
        let span = builder.build(
            &exchange(
                Role::Server,
                200,
                Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ),
            "/api/v1/patients/{id}",
        );
        assert_eq!(hex(&span.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            span.parent_span_id.map(|p| hex(&p)).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_ne!(span.span_id, [0; 8]);
        assert_eq!(span.name, "GET /api/v1/patients/{id}");
        assert_eq!(span.end - span.start, chrono::Duration::milliseconds(250));
    }

    #[test]
    fn both_sides_of_one_request_link_up() {
        let builder = SpanBuilder::default();
        let header = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let client = builder.build(&exchange(Role::Client, 200, header), "/r");
        let server = builder.build(&exchange(Role::Server, 200, header), "/r");
        assert_eq!(client.trace_id, server.trace_id);
        assert_eq!(server.parent_span_id, Some(client.span_id));
        assert_eq!(hex(&client.span_id), "00f067aa0ba902b7");
        assert_eq!(client.parent_span_id, None);
    }

    #[test]
    fn other_requests_start_their_own_trace() {
        let builder = SpanBuilder::default();
        let a = builder.build(&exchange(Role::Server, 200, None), "/r");
        let b = builder.build(&exchange(Role::Server, 200, Some("garbage")), "/r");
        assert_eq!(a.parent_span_id, None);
        assert_eq!(b.parent_span_id, None);
        assert_ne!(a.trace_id, b.trace_id);
        assert_ne!(a.trace_id, [0; 16]);
    }

    #[test]
    fn error_status_depends_on_the_side() {
        let builder = SpanBuilder::default();
        assert!(
            !builder
                .build(&exchange(Role::Server, 404, None), "/r")
                .is_error
        );
        assert!(
            builder
                .build(&exchange(Role::Server, 503, None), "/r")
                .is_error
        );
        assert!(
            builder
                .build(&exchange(Role::Client, 404, None), "/r")
                .is_error
        );
        assert!(
            !builder
                .build(&exchange(Role::Client, 302, None), "/r")
                .is_error
        );
    }

    #[test]
    fn attributes_carry_no_phi() {
        let span = SpanBuilder::default().build(&exchange(Role::Server, 200, None), "/r");
        for (name, value) in &span.attributes {
            if let AttributeValue::Str(text) = value {
                assert!(
                    !text.contains("6789") && !text.contains("jane.roe"),
                    "{name}: {text}"
                );
            }
        }
        let names: Vec<_> = span.attributes.iter().map(|(n, _)| *n).collect();
        for expected in [
            "http.request.method",
            "http.route",
            "http.response.status_code",
            "server.address",
            "url.path",
        ] {
            assert!(names.contains(&expected), "{expected}");
        }
    }

    #[test]
    fn ids_do_not_repeat() {
        let ids = IdGenerator::from_entropy();
        let seen: HashSet<[u8; 8]> = (0..100_000).map(|_| ids.span_id()).collect();
        assert_eq!(seen.len(), 100_000);
    }
}
