//! The connection table: socket events in, HTTP exchanges out.
//!
//! Each TCP connection a process holds (keyed by pid and fd) has two
//! [`Stream`]s, requests and responses; which way each flows follows from
//! the side (an accepted connection receives requests, a connected one
//! sends them; a connection older than the agent is placed by its first
//! message). Requests wait in arrival order, so pipelined requests pair
//! with their responses first in, first out.
//!
//! Memory is bounded three ways, each counted: at most
//! [`TableLimits::max_connections`] connections (the least recently active
//! are forgotten first), at most [`TableLimits::max_pending`] unanswered
//! requests per connection, and connections idle past
//! [`TableLimits::idle_ns`] are forgotten by [`ConnectionTable::expire_idle`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::http1::{infer_role, Message, Pairing, RequestHead, Side, Stream};
use super::socket_event::{Direction, SocketEvent, SocketId};
use crate::event::{HttpExchange, Resource, Role};

/// Bounds of the table.
#[derive(Clone, Copy, Debug)]
pub struct TableLimits {
    pub max_connections: usize,
    pub max_pending: usize,
    pub idle_ns: u64,
}

impl Default for TableLimits {
    fn default() -> Self {
        TableLimits {
            max_connections: 65_536,
            max_pending: 64,
            idle_ns: 300 * 1_000_000_000,
        }
    }
}

/// What the table has done, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    pub exchanges: u64,
    /// Connections forgotten because the table was full.
    pub evicted: u64,
    /// Connections forgotten because they were idle.
    pub expired: u64,
    /// Requests that never got a response (closed, evicted or too many).
    pub unanswered: u64,
    /// Connections whose bytes were not HTTP/1.
    pub not_http: u64,
    pub resyncs: u64,
    pub heads_lost: u64,
    /// Connections open now.
    pub open: u64,
}

/// Finds the resource of a process (see `enrich::ProcessAttribution`).
pub type Resolver = Box<dyn Fn(u32, u64) -> Arc<Resource> + Send>;

/// A request waiting for its response.
#[derive(Debug)]
struct Pending {
    head: RequestHead,
    /// The thread that sent (client) or read (server) the request.
    tid: u32,
    body_bytes: u64,
}

struct Connection {
    role: Option<Role>,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    cgroup_id: u64,
    requests: Stream,
    responses: Stream,
    pending: VecDeque<Pending>,
    last_ns: u64,
    counted_not_http: bool,
}

impl Connection {
    fn new(role: Option<Role>, cgroup_id: u64) -> Connection {
        Connection {
            role,
            local: None,
            peer: None,
            cgroup_id,
            requests: Stream::new(Side::Requests),
            responses: Stream::new(Side::Responses),
            pending: VecDeque::new(),
            last_ns: 0,
            counted_not_http: false,
        }
    }
}

/// The methods of the requests waiting, in order, and how many of them
/// the responses read in this call have answered already: pipelined
/// responses in one read each need their own request's method.
struct WaitingMethods<'a> {
    pending: &'a VecDeque<Pending>,
    answered: &'a std::cell::Cell<usize>,
}

impl Pairing for WaitingMethods<'_> {
    fn method_of_next_response(&self) -> Option<&str> {
        self.pending
            .get(self.answered.get())
            .map(|p| p.head.method.as_str())
    }
}

/// Requests need no pairing.
struct NoPairing;

impl Pairing for NoPairing {
    fn method_of_next_response(&self) -> Option<&str> {
        None
    }
}

/// Every connection being followed.
pub struct ConnectionTable {
    limits: TableLimits,
    resolver: Resolver,
    connections: HashMap<SocketId, Connection>,
    stats: ConnectionStats,
}

impl ConnectionTable {
    pub fn new(limits: TableLimits, resolver: Resolver) -> ConnectionTable {
        ConnectionTable {
            limits,
            resolver,
            connections: HashMap::new(),
            stats: ConnectionStats::default(),
        }
    }

    pub fn stats(&self) -> ConnectionStats {
        let mut stats = self.stats;
        stats.open = self.connections.len() as u64;
        stats
    }

    /// Applies one event; finished exchanges go to `emit`.
    pub fn handle(&mut self, event: SocketEvent, emit: &mut dyn FnMut(HttpExchange)) {
        match event {
            SocketEvent::Opened {
                id,
                role,
                timestamp_ns,
                local,
                peer,
                cgroup_id,
            } => {
                let known = self.connections.contains_key(&id);
                let connection = self.entry(id, role, cgroup_id);
                if known && role.is_some() {
                    // The same descriptor opened again (its close was not
                    // seen): a new connection.
                    *connection = Connection::new(role, cgroup_id);
                }
                connection.local = local.or(connection.local);
                connection.peer = peer.or(connection.peer);
                connection.last_ns = timestamp_ns;
            }
            SocketEvent::Data {
                id,
                tid,
                direction,
                timestamp_ns,
                len,
                bytes,
                cgroup_id,
            } => self.data(
                id,
                tid,
                direction,
                timestamp_ns,
                len,
                &bytes,
                cgroup_id,
                emit,
            ),
            SocketEvent::Closed { id, timestamp_ns } => {
                if let Some(mut connection) = self.connections.remove(&id) {
                    let mut finished = Vec::new();
                    connection
                        .responses
                        .close(timestamp_ns, &mut |m| finished.push(m));
                    for message in finished {
                        self.response_message(id, &mut connection, message, emit);
                    }
                    self.forget(connection);
                }
            }
        }
    }

    /// Forgets connections idle since before `now_ns - idle`.
    pub fn expire_idle(&mut self, now_ns: u64) {
        let cutoff = now_ns.saturating_sub(self.limits.idle_ns);
        let idle: Vec<SocketId> = self
            .connections
            .iter()
            .filter(|(_, c)| c.last_ns < cutoff)
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            if let Some(connection) = self.connections.remove(&id) {
                self.stats.expired += 1;
                self.forget(connection);
            }
        }
    }

    fn forget(&mut self, connection: Connection) {
        self.stats.unanswered += connection.pending.len() as u64;
        self.stats.resyncs +=
            connection.requests.stats.resyncs + connection.responses.stats.resyncs;
        self.stats.heads_lost +=
            connection.requests.stats.heads_lost + connection.responses.stats.heads_lost;
    }

    fn entry(&mut self, id: SocketId, role: Option<Role>, cgroup_id: u64) -> &mut Connection {
        if !self.connections.contains_key(&id)
            && self.connections.len() >= self.limits.max_connections
        {
            self.evict();
        }
        self.connections
            .entry(id)
            .or_insert_with(|| Connection::new(role, cgroup_id))
    }

    /// Forgets the least recently active sixteenth of the table: amortized,
    /// one scan per many insertions rather than an ordered index kept on
    /// every event.
    fn evict(&mut self) {
        let mut ages: Vec<(u64, SocketId)> = self
            .connections
            .iter()
            .map(|(id, c)| (c.last_ns, *id))
            .collect();
        let count = (ages.len() / 16).max(1);
        ages.select_nth_unstable(count - 1);
        for (_, id) in ages.into_iter().take(count) {
            if let Some(connection) = self.connections.remove(&id) {
                self.stats.evicted += 1;
                self.forget(connection);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn data(
        &mut self,
        id: SocketId,
        tid: u32,
        direction: Direction,
        ts: u64,
        len: u64,
        bytes: &[u8],
        cgroup_id: u64,
        emit: &mut dyn FnMut(HttpExchange),
    ) {
        let mut connection = match self.connections.remove(&id) {
            Some(connection) => connection,
            None => {
                if self.connections.len() >= self.limits.max_connections {
                    self.evict();
                }
                Connection::new(None, cgroup_id)
            }
        };
        connection.last_ns = ts;
        if connection.role.is_none() {
            connection.role = infer_role(direction, bytes);
        }
        let Some(role) = connection.role else {
            // Neither side's first message: not HTTP/1 (or not yet
            // placeable); keep the entry so the verdict is cheap next time.
            if !connection.counted_not_http {
                connection.counted_not_http = true;
                self.stats.not_http += 1;
            }
            self.connections.insert(id, connection);
            return;
        };
        let carries_requests = matches!(
            (role, direction),
            (Role::Server, Direction::Ingress) | (Role::Client, Direction::Egress)
        );
        let mut messages = Vec::new();
        if carries_requests {
            connection
                .requests
                .feed(bytes, len, ts, &NoPairing, &mut |m| messages.push(m));
            for message in messages {
                match message {
                    Message::Request(head) => {
                        if connection.pending.len() >= self.limits.max_pending {
                            connection.pending.pop_front();
                            self.stats.unanswered += 1;
                        }
                        connection.pending.push_back(Pending {
                            head,
                            tid,
                            body_bytes: 0,
                        });
                    }
                    Message::RequestEnd { body_bytes } => {
                        if let Some(last) = connection.pending.back_mut() {
                            last.body_bytes = body_bytes;
                        }
                    }
                    Message::Response(_) => {}
                }
            }
        } else {
            let answered = std::cell::Cell::new(0);
            let pairing = WaitingMethods {
                pending: &connection.pending,
                answered: &answered,
            };
            connection
                .responses
                .feed(bytes, len, ts, &pairing, &mut |m| {
                    if matches!(m, Message::Response(_)) {
                        answered.set(answered.get() + 1);
                    }
                    messages.push(m);
                });
            for message in messages {
                self.response_message(id, &mut connection, message, emit);
            }
        }
        if connection.requests.is_done()
            && connection.responses.is_done()
            && !connection.counted_not_http
            && connection.pending.is_empty()
        {
            connection.counted_not_http = true;
            self.stats.not_http += 1;
        }
        self.connections.insert(id, connection);
    }

    fn response_message(
        &mut self,
        id: SocketId,
        connection: &mut Connection,
        message: Message,
        emit: &mut dyn FnMut(HttpExchange),
    ) {
        let Message::Response(response) = message else {
            return;
        };
        // A response with no request seen (capture started mid-exchange)
        // has nothing to pair with.
        let Some(request) = connection.pending.pop_front() else {
            return;
        };
        let role = connection.role.unwrap_or(Role::Server);
        let (server, client) = match role {
            Role::Server => (connection.local, connection.peer),
            Role::Client => (connection.peer, connection.local),
        };
        let (path, query) = split_target(&request.head.target);
        let start_ns = request.head.start_ns;
        self.stats.exchanges += 1;
        emit(HttpExchange {
            role,
            method: request.head.method,
            path,
            query,
            status: response.status,
            protocol_version: request.head.version.as_str(),
            request_headers: request.head.headers,
            start: time(start_ns),
            duration: Duration::from_nanos(response.end_ns.saturating_sub(start_ns)),
            server,
            client,
            pid: id.pid,
            tid: request.tid,
            cgroup_id: connection.cgroup_id,
            request_body_bytes: request.body_bytes,
            response_body_bytes: response.body_bytes,
            resource: (self.resolver)(id.pid, connection.cgroup_id),
        });
    }
}

fn time(unix_ns: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(i64::try_from(unix_ns).unwrap_or(i64::MAX))
}

/// `/a/b?x=1` → (`/a/b`, `x=1`); an absolute-form target (`http://h/a?x`)
/// keeps only its path and query; a fragment is not part of either.
fn split_target(target: &str) -> (String, Option<String>) {
    let target = target.split('#').next().unwrap_or("");
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

#[cfg(test)]
mod tests;
