//! Client calls nested under the request their thread is serving.
//!
//! A service that does not propagate `traceparent` still makes its
//! downstream calls while serving a request, and in the common
//! thread-per-request servers (servlet containers, gunicorn sync workers,
//! Rails/Puma, PHP-FPM) on the very thread that read that request. So a
//! client exchange captured on a process's thread, inside the time window
//! of a server exchange on the same thread, is taken to be a call made for
//! it: its span joins the server span's trace as its child.
//!
//! The server exchange completes, and reaches the traffic stage, only after
//! the calls it made; so client spans wait here, per thread, for the server
//! span that may enclose them. What waits is bounded: a span waits at most
//! [`NestingLimits::max_wait`] and at most [`NestingLimits::max_waiting`]
//! spans wait in all (the oldest goes first); either way it leaves on its
//! own, never lost, and is counted by why. A server span takes the calls of
//! its thread that ended before it did: those inside its window become its
//! children, the rest belong to no request of this thread (a sequential
//! thread serves one request at a time) and leave on their own.
//!
//! Best effort, by what a thread id can say:
//! - Async runtimes (Tokio, Netty, Node, asyncio) run many requests on one
//!   thread and move a request between threads: a call may be nested under
//!   a request served concurrently on the same thread, or not at all.
//! - Work handed to another pool (an executor, a background job) runs on a
//!   thread that serves nothing: those calls are not nested.
//! - A call whose exchange completes after the request's response was sent
//!   is not nested (it was not inside the window anyway).
//! - Calls that carry their own `traceparent` keep it: the application
//!   propagated its context, which knows better than a thread id. Exchanges
//!   with no thread id (replayed without `thread.id`) are not nested.
//! - Client spans wait up to `max_wait` before export even when their
//!   thread serves nothing (a pure client, a batch job): whether it does is
//!   known only when a server exchange on it completes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::span::Span;
use crate::event::{HttpExchange, Role};

/// How long and how many client spans may wait for their server span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NestingLimits {
    /// From a client span's arrival: longer than almost every request
    /// lives, short enough that a pure client's spans are not stale. Zero
    /// turns nesting off: no client span waits.
    pub max_wait: Duration,
    /// At about 1 KiB a span, a few MiB at most.
    pub max_waiting: usize,
}

impl Default for NestingLimits {
    fn default() -> Self {
        NestingLimits {
            max_wait: Duration::from_secs(5),
            max_waiting: 4096,
        }
    }
}

/// A span and the client calls nested under it, which follow its sampling
/// decision so a kept request arrives with its calls.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanFamily {
    pub head: Span,
    pub children: Vec<Span>,
}

impl SpanFamily {
    fn alone(head: Span) -> Self {
        SpanFamily {
            head,
            children: Vec::new(),
        }
    }
}

/// Why a client span that waited was not nested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unnested {
    /// A server span of its thread completed, and the call was not inside it.
    OutsideRequest,
    /// No server span of its thread completed within `max_wait`.
    WaitExpired,
    /// `max_waiting` spans were waiting: the oldest left.
    BufferFull,
    /// The traffic input closed.
    Stopped,
}

impl Unnested {
    pub const ALL: [Unnested; 4] = [
        Unnested::OutsideRequest,
        Unnested::WaitExpired,
        Unnested::BufferFull,
        Unnested::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Unnested::OutsideRequest => "outside_request",
            Unnested::WaitExpired => "wait_expired",
            Unnested::BufferFull => "buffer_full",
            Unnested::Stopped => "stopped",
        }
    }
}

/// What became of the client spans that waited, since last taken.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NestingCounts {
    pub nested: u64,
    unnested: [u64; Unnested::ALL.len()],
}

impl NestingCounts {
    pub fn unnested(&self, reason: Unnested) -> u64 {
        self.unnested[reason as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.nested == 0 && self.unnested.iter().all(|&n| n == 0)
    }
}

/// The thread an exchange was read or sent on.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct ProcessThread {
    pid: u32,
    tid: u32,
}

#[derive(Debug)]
struct Waiting {
    thread: ProcessThread,
    since: Instant,
    span: Span,
}

/// Client spans waiting for the server span of their thread.
#[derive(Debug)]
pub struct ClientNesting {
    limits: NestingLimits,
    /// Every waiting span by arrival number: the first is the oldest.
    waiting: BTreeMap<u64, Waiting>,
    /// Each thread's waiting arrival numbers, oldest first.
    threads: HashMap<ProcessThread, VecDeque<u64>>,
    arrivals: u64,
    counts: NestingCounts,
}

impl ClientNesting {
    pub fn new(limits: NestingLimits) -> Self {
        ClientNesting {
            limits,
            waiting: BTreeMap::new(),
            threads: HashMap::new(),
            arrivals: 0,
            counts: NestingCounts::default(),
        }
    }

    /// Takes the span built from `exchange`, arrived at `now`; pushes onto
    /// `out` what can leave: a server span with the calls nested under it,
    /// a span that cannot be nested, and what the limits push out.
    pub fn admit(
        &mut self,
        exchange: &HttpExchange,
        span: Span,
        now: Instant,
        out: &mut Vec<SpanFamily>,
    ) {
        if exchange.tid == 0 {
            out.push(SpanFamily::alone(span));
            return;
        }
        let thread = ProcessThread {
            pid: exchange.pid,
            tid: exchange.tid,
        };
        match exchange.role {
            // A zero wait is nesting turned off: nothing waits, so nothing
            // is counted as having waited in vain.
            Role::Client
                if exchange.trace_parent().is_none() && !self.limits.max_wait.is_zero() =>
            {
                self.wait(thread, span, now, out);
            }
            Role::Client => out.push(SpanFamily::alone(span)),
            Role::Server => {
                let family = self.enclose(thread, span, out);
                out.push(family);
            }
        }
    }

    /// Lets go, on their own, of the spans that have waited `max_wait`.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<SpanFamily>) {
        while let Some(entry) = self.waiting.first_entry() {
            if now < entry.get().since + self.limits.max_wait {
                break;
            }
            let waited = entry.remove();
            self.release(waited, Unnested::WaitExpired, out);
        }
    }

    /// Lets go of everything, on its own: the input has closed.
    pub fn stop(&mut self, out: &mut Vec<SpanFamily>) {
        while let Some((_, waited)) = self.waiting.pop_first() {
            self.release(waited, Unnested::Stopped, out);
        }
    }

    /// When the oldest waiting span is due to leave.
    pub fn next_deadline(&self) -> Option<Instant> {
        let (_, oldest) = self.waiting.first_key_value()?;
        Some(oldest.since + self.limits.max_wait)
    }

    /// The counts since the last call, leaving zeros.
    pub fn take_counts(&mut self) -> NestingCounts {
        std::mem::take(&mut self.counts)
    }

    fn wait(&mut self, thread: ProcessThread, span: Span, now: Instant, out: &mut Vec<SpanFamily>) {
        let arrival = self.arrivals;
        self.arrivals += 1;
        self.waiting.insert(
            arrival,
            Waiting {
                thread,
                since: now,
                span,
            },
        );
        self.threads.entry(thread).or_default().push_back(arrival);
        while self.waiting.len() > self.limits.max_waiting {
            if let Some((_, oldest)) = self.waiting.pop_first() {
                self.release(oldest, Unnested::BufferFull, out);
            }
        }
    }

    /// `waited`, already out of `waiting`, leaves on its own.
    fn release(&mut self, waited: Waiting, reason: Unnested, out: &mut Vec<SpanFamily>) {
        // The oldest waiting span is the oldest of its thread's, so it is
        // at the front of the thread's queue.
        if let Some(queue) = self.threads.get_mut(&waited.thread) {
            queue.pop_front();
            if queue.is_empty() {
                self.threads.remove(&waited.thread);
            }
        }
        self.counts.unnested[reason as usize] += 1;
        out.push(SpanFamily::alone(waited.span));
    }

    /// The family of `server`: the waiting calls of its thread inside its
    /// window. Calls that ended before it but outside it go to `out` alone;
    /// calls that ended after it keep waiting (the next request's, or
    /// reported out of order).
    fn enclose(
        &mut self,
        thread: ProcessThread,
        server: Span,
        out: &mut Vec<SpanFamily>,
    ) -> SpanFamily {
        let mut family = SpanFamily::alone(server);
        let Some(queue) = self.threads.remove(&thread) else {
            return family;
        };
        let mut still = VecDeque::new();
        for arrival in queue {
            let Some(waited) = self.waiting.remove(&arrival) else {
                continue;
            };
            let mut call = waited.span;
            let server = &family.head;
            if server.start <= call.start && call.end <= server.end {
                call.trace_id = server.trace_id;
                call.parent_span_id = Some(server.span_id);
                family.children.push(call);
                self.counts.nested += 1;
            } else if call.end <= server.end {
                self.counts.unnested[Unnested::OutsideRequest as usize] += 1;
                out.push(SpanFamily::alone(call));
            } else {
                self.waiting.insert(
                    arrival,
                    Waiting {
                        span: call,
                        ..waited
                    },
                );
                still.push_back(arrival);
            }
        }
        if !still.is_empty() {
            self.threads.insert(thread, still);
        }
        family
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::derive::span::{hex, SpanBuilder};
    use crate::redact::Redactor;

    const T0: i64 = 1_795_000_000_000;

    fn at(millis: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(T0 + millis).unwrap()
    }

    /// An exchange on pid 40, `tid`, from `start` to `end` ms.
    fn exchange(role: Role, tid: u32, start: i64, end: i64) -> HttpExchange {
        HttpExchange {
            role,
            method: "GET".into(),
            path: "/r".into(),
            query: None,
            status: 200,
            protocol_version: "1.1",
            request_headers: Vec::new(),
            start: at(start),
            duration: Duration::from_millis((end - start) as u64),
            server: None,
            client: None,
            pid: 40,
            tid,
            cgroup_id: 1,
            request_body_bytes: 0,
            response_body_bytes: 0,
            resource: Arc::default(),
        }
    }

    struct Stage {
        redactor: Redactor,
        builder: SpanBuilder,
        nesting: ClientNesting,
        now: Instant,
        out: Vec<SpanFamily>,
    }

    impl Stage {
        fn new(limits: NestingLimits) -> Self {
            Stage {
                redactor: Redactor::builtin(),
                builder: SpanBuilder::default(),
                nesting: ClientNesting::new(limits),
                now: Instant::now(),
                out: Vec::new(),
            }
        }

        fn admit(&mut self, exchange: HttpExchange) -> Span {
            let exchange = self.redactor.redact_exchange(exchange);
            let span = self.builder.build(&exchange, "/r");
            self.nesting
                .admit(&exchange, span.clone(), self.now, &mut self.out);
            span
        }

        fn taken(&mut self) -> Vec<SpanFamily> {
            std::mem::take(&mut self.out)
        }
    }

    #[test]
    fn calls_inside_the_request_on_its_thread_become_its_children() {
        let mut stage = Stage::new(NestingLimits::default());
        let first = stage.admit(exchange(Role::Client, 7, 10, 20));
        let second = stage.admit(exchange(Role::Client, 7, 30, 45));
        assert!(stage.taken().is_empty(), "calls wait for their request");
        let server = stage.admit(exchange(Role::Server, 7, 0, 50));
        let families = stage.taken();
        assert_eq!(families.len(), 1);
        let family = &families[0];
        assert_eq!(family.head, server);
        assert_eq!(family.children.len(), 2);
        for (child, built) in family.children.iter().zip([&first, &second]) {
            assert_eq!(child.span_id, built.span_id);
            assert_eq!(child.trace_id, server.trace_id);
            assert_eq!(child.parent_span_id, Some(server.span_id));
            assert_ne!(child.trace_id, built.trace_id, "left its own trace");
        }
        let counts = stage.nesting.take_counts();
        assert_eq!(counts.nested, 2);
        assert!(stage.nesting.take_counts().is_empty());
        assert_eq!(stage.nesting.next_deadline(), None);
    }

    #[test]
    fn calls_on_another_thread_or_outside_the_window_keep_their_own_trace() {
        let mut stage = Stage::new(NestingLimits::default());
        let other_thread = stage.admit(exchange(Role::Client, 8, 10, 20));
        let before = stage.admit(exchange(Role::Client, 7, 0, 5));
        let after = stage.admit(exchange(Role::Client, 7, 95, 120));
        let server = stage.admit(exchange(Role::Server, 7, 10, 100));
        let families = stage.taken();
        assert_eq!(
            families,
            [SpanFamily::alone(before.clone()), SpanFamily::alone(server)]
        );
        assert_eq!(
            stage
                .nesting
                .take_counts()
                .unnested(Unnested::OutsideRequest),
            1
        );
        // The call that ended after the request is the next request's, if
        // any; the other thread's waits for a request of its own.
        let next = stage.admit(exchange(Role::Server, 7, 90, 130));
        let families = stage.taken();
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].head, next);
        assert_eq!(families[0].children[0].span_id, after.span_id);
        stage.nesting.stop(&mut stage.out);
        let families = stage.taken();
        assert_eq!(families, [SpanFamily::alone(other_thread)]);
        assert_eq!(
            stage.nesting.take_counts().unnested(Unnested::Stopped),
            1,
            "never lost: let go at the end"
        );
    }

    #[test]
    fn a_call_carrying_its_own_traceparent_keeps_it() {
        let mut stage = Stage::new(NestingLimits::default());
        let mut call = exchange(Role::Client, 7, 10, 20);
        call.request_headers.push((
            "traceparent".into(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        ));
        let call = stage.admit(call);
        let families = stage.taken();
        assert_eq!(families, [SpanFamily::alone(call.clone())]);
        assert_eq!(hex(&call.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        let server = stage.admit(exchange(Role::Server, 7, 0, 50));
        assert_eq!(stage.taken(), [SpanFamily::alone(server)]);
    }

    #[test]
    fn exchanges_without_a_thread_are_not_nested() {
        let mut stage = Stage::new(NestingLimits::default());
        let call = stage.admit(exchange(Role::Client, 0, 10, 20));
        let server = stage.admit(exchange(Role::Server, 0, 0, 50));
        assert_eq!(
            stage.taken(),
            [SpanFamily::alone(call), SpanFamily::alone(server)]
        );
    }

    #[test]
    fn limits_let_spans_go_alone_and_count_them() {
        let mut stage = Stage::new(NestingLimits {
            max_wait: Duration::from_secs(5),
            max_waiting: 2,
        });
        let start = stage.now;
        let oldest = stage.admit(exchange(Role::Client, 7, 10, 20));
        stage.now += Duration::from_secs(1);
        let kept = stage.admit(exchange(Role::Client, 7, 30, 40));
        let other = stage.admit(exchange(Role::Client, 9, 30, 40));
        assert_eq!(stage.taken(), [SpanFamily::alone(oldest)]);
        assert_eq!(
            stage.nesting.take_counts().unnested(Unnested::BufferFull),
            1
        );
        assert_eq!(
            stage.nesting.next_deadline(),
            Some(start + Duration::from_secs(6))
        );
        stage
            .nesting
            .expire(start + Duration::from_secs(5), &mut stage.out);
        assert!(stage.taken().is_empty(), "not yet due");
        stage
            .nesting
            .expire(start + Duration::from_secs(6), &mut stage.out);
        assert_eq!(
            stage.taken(),
            [SpanFamily::alone(kept), SpanFamily::alone(other)]
        );
        assert_eq!(
            stage.nesting.take_counts().unnested(Unnested::WaitExpired),
            2
        );
        assert_eq!(stage.nesting.next_deadline(), None);
        assert!(stage.nesting.threads.is_empty(), "nothing left behind");
        // A request that completes later finds nothing to nest.
        let server = stage.admit(exchange(Role::Server, 7, 0, 50));
        assert_eq!(stage.taken(), [SpanFamily::alone(server)]);
    }

    #[test]
    fn a_zero_wait_nests_nothing_and_counts_nothing() {
        let mut stage = Stage::new(NestingLimits {
            max_wait: Duration::ZERO,
            max_waiting: 4096,
        });
        let call = stage.admit(exchange(Role::Client, 7, 10, 20));
        assert_eq!(stage.taken(), [SpanFamily::alone(call)], "left at once");
        let server = stage.admit(exchange(Role::Server, 7, 0, 50));
        assert_eq!(stage.taken(), [SpanFamily::alone(server)]);
        let counts = stage.nesting.take_counts();
        assert_eq!(counts, NestingCounts::default());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_calls() {
        let mut stage = Stage::new(NestingLimits {
            max_wait: Duration::from_secs(5),
            max_waiting: 64,
        });
        for i in 0..10_000 {
            stage.admit(exchange(Role::Client, 1 + i % 100, 0, 1));
        }
        assert_eq!(stage.nesting.waiting.len(), 64);
        assert!(stage.nesting.threads.len() <= 64);
        assert_eq!(stage.taken().len(), 10_000 - 64);
        stage.nesting.stop(&mut stage.out);
        assert_eq!(stage.taken().len(), 64);
        let counts = stage.nesting.take_counts();
        assert_eq!(counts.unnested(Unnested::BufferFull), 10_000 - 64);
        assert_eq!(counts.unnested(Unnested::Stopped), 64);
    }
}
