//! The connection table: socket events in, HTTP exchanges out.
//!
//! Each TCP connection a process holds (keyed by pid and fd) has two
//! [`Stream`]s, requests and responses; which way each flows follows from
//! the side: an accepted connection receives requests, a connected one
//! sends them, and a connection older than the capture is placed by its
//! first message start. Requests wait in arrival order, so pipelined
//! requests pair with their responses first in, first out. A message whose
//! head was lost keeps its place in that order (a request placeholder, or
//! a response that retires its request), so one lost head costs one
//! exchange, not the pairing of every later one.
//!
//! A second `Opened` for a socket the table follows updates it (a
//! non-blocking connect learns its addresses when it is established),
//! unless it contradicts it (another role or other addresses): then the
//! descriptor was reused without its close being seen, and the old
//! connection is forgotten.
//!
//! Memory is bounded three ways, each counted: at most
//! [`TableLimits::max_connections`] connections (the least recently active
//! is forgotten first), at most [`TableLimits::max_pending`] unanswered
//! requests per connection, and connections idle past
//! [`TableLimits::idle_ns`] are forgotten by [`ConnectionTable::expire_idle`].
//! Nothing here logs: message content (even a path) must not reach the
//! agent's own logs.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::http1::{
    infer_role, Message, Pairing, RequestHead, Response, Side, Stream, StreamStats,
};
use super::socket_event::{Direction, SocketEvent, SocketId};
use crate::event::{HttpExchange, Resource, Role};

/// Bounds of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableLimits {
    /// Connections followed at once; past it the least recently active one
    /// is forgotten (counted `evicted`). Default 65,536.
    pub max_connections: usize,
    /// Requests waiting for their responses on one connection; past it the
    /// oldest is forgotten (counted `pending_dropped`). Default 64.
    pub max_pending: usize,
    /// A connection without events for this long is forgotten by
    /// [`ConnectionTable::expire_idle`] (counted `expired`). Nanoseconds;
    /// default 5 minutes.
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

/// What the table has done since it was made, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Exchanges emitted.
    pub exchanges: u64,
    /// Connections forgotten because the table was full.
    pub evicted: u64,
    /// Connections forgotten because they were idle.
    pub expired: u64,
    /// Requests whose response was never read: the connection closed, was
    /// evicted or expired first, or the response's head was lost.
    pub unanswered: u64,
    /// Requests forgotten because too many waited on their connection.
    pub pending_dropped: u64,
    /// Responses with no request to pair with (the request came before
    /// the capture, or was lost unnoticed).
    pub unpaired_responses: u64,
    /// Connections whose bytes were not HTTP/1: a fresh connection whose
    /// first bytes could not begin a message, or one older than the
    /// capture that was forgotten before any message start was seen.
    pub not_http: u64,
    /// Times a stream found a message again after losing its place.
    pub resyncs: u64,
    /// Heads longer than the head cap, or with too many headers.
    pub heads_too_large: u64,
    /// Heads that ran into bytes the capture window cut off.
    pub heads_truncated: u64,
    /// Connections followed now.
    pub open: u64,
}

impl ConnectionStats {
    fn absorb(&mut self, stream: StreamStats) {
        self.resyncs += stream.resyncs;
        self.heads_too_large += stream.heads_too_large;
        self.heads_truncated += stream.heads_truncated;
    }
}

/// Finds the resource of a process from its pid and cgroup id (see
/// `enrich::ProcessAttribution`).
pub type Resolver = Box<dyn Fn(u32, u64) -> Arc<Resource> + Send>;

/// A request waiting for its response.
#[derive(Debug)]
struct Pending {
    /// `None`: a request began whose head could not be read; its response
    /// still comes, and must not pair with the next request.
    head: Option<RequestHead>,
    /// The thread that sent (client) or read (server) the request's head.
    tid: u32,
    body_bytes: u64,
    /// Its body is still being read.
    reading_body: bool,
}

#[derive(Debug)]
struct Connection {
    role: Option<Role>,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    cgroup_id: u64,
    /// Opened before the capture: bytes may start mid-message.
    preexisting: bool,
    requests: Stream,
    responses: Stream,
    pending: VecDeque<Pending>,
    /// Responses still due to requests forgotten at the pending cap: they
    /// are skipped, so that later responses pair with their own requests.
    skip_responses: usize,
    /// The latest event's time.
    last_ns: u64,
    /// Bytes were seen before the connection could be placed.
    unplaced_data: bool,
    counted_not_http: bool,
}

impl Connection {
    fn new(role: Option<Role>, cgroup_id: u64) -> Connection {
        let mut connection = Connection {
            role: None,
            local: None,
            peer: None,
            cgroup_id,
            preexisting: role.is_none(),
            requests: Stream::new(Side::Requests),
            responses: Stream::new(Side::Responses),
            pending: VecDeque::new(),
            skip_responses: 0,
            last_ns: 0,
            unplaced_data: false,
            counted_not_http: false,
        };
        if let Some(role) = role {
            connection.place(role);
        }
        connection
    }

    fn place(&mut self, role: Role) {
        self.role = Some(role);
        if self.preexisting {
            self.requests = Stream::mid_stream(Side::Requests);
            self.responses = Stream::mid_stream(Side::Responses);
        }
    }

    /// Whether an `Opened` describes this connection rather than a new one
    /// on a reused descriptor.
    fn continues(
        &self,
        role: Option<Role>,
        local: Option<SocketAddr>,
        peer: Option<SocketAddr>,
    ) -> bool {
        fn agrees<T: PartialEq>(known: Option<T>, told: Option<T>) -> bool {
            known.is_none() || told.is_none() || known == told
        }
        agrees(self.role, role) && agrees(self.local, local) && agrees(self.peer, peer)
    }

    fn touch(&mut self, ts_ns: u64) {
        self.last_ns = self.last_ns.max(ts_ns);
    }

    /// Requests with a readable head still waiting.
    fn waiting_requests(&self) -> u64 {
        self.pending.iter().filter(|p| p.head.is_some()).count() as u64
    }
}

/// The method of the request the next response answers, counting the
/// responses already read in the same call: pipelined responses in one
/// read each need their own request's method.
struct NextMethod<'a> {
    pending: &'a VecDeque<Pending>,
    skip: usize,
    answered: &'a Cell<usize>,
}

impl Pairing for NextMethod<'_> {
    fn method_of_next_response(&self) -> Option<&str> {
        let index = self.answered.get().checked_sub(self.skip)?;
        let head = self.pending.get(index)?.head.as_ref()?;
        Some(head.method.as_str())
    }
}

/// Every connection being followed.
pub struct ConnectionTable {
    limits: TableLimits,
    resolver: Resolver,
    connections: RecencyList,
    stats: ConnectionStats,
    /// Messages of the call being applied; kept to spare an allocation per
    /// call.
    messages: Vec<Message>,
}

impl ConnectionTable {
    pub fn new(limits: TableLimits, resolver: Resolver) -> ConnectionTable {
        ConnectionTable {
            limits,
            resolver,
            connections: RecencyList::default(),
            stats: ConnectionStats::default(),
            messages: Vec::new(),
        }
    }

    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            open: self.connections.len() as u64,
            ..self.stats
        }
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
            } => self.opened(id, role, timestamp_ns, local, peer, cgroup_id),
            SocketEvent::Data {
                id,
                tid,
                direction,
                timestamp_ns,
                len,
                bytes,
                cgroup_id,
            } => {
                let call = Call {
                    tid,
                    direction,
                    ts_ns: timestamp_ns,
                    len,
                    bytes: &bytes,
                    cgroup_id,
                };
                self.data(id, call, emit);
            }
            // A body read until close ends with its last byte, not with
            // the close: the close's time is not needed.
            SocketEvent::Closed { id, .. } => self.closed(id, emit),
        }
    }

    /// Forgets connections without events since before `now_ns` minus the
    /// idle limit. Walks from the least recently handled and stops at the
    /// first connection still active: an event handled out of time order
    /// can delay a neighbour's expiry to a later call, never lose it.
    pub fn expire_idle(&mut self, now_ns: u64) {
        let cutoff = now_ns.saturating_sub(self.limits.idle_ns);
        while let Some(connection) = self.connections.pop_oldest_if(|c| c.last_ns < cutoff) {
            self.stats.expired += 1;
            forget(connection, &mut self.stats);
        }
    }

    fn opened(
        &mut self,
        id: SocketId,
        role: Option<Role>,
        ts_ns: u64,
        local: Option<SocketAddr>,
        peer: Option<SocketAddr>,
        cgroup_id: u64,
    ) {
        let slot = match self.connections.touch(id) {
            Some(slot) if self.connections.get_mut(slot).continues(role, local, peer) => slot,
            Some(_) => {
                if let Some(reused) = self.connections.remove(id) {
                    forget(reused, &mut self.stats);
                }
                self.insert(id, Connection::new(role, cgroup_id))
            }
            None => self.insert(id, Connection::new(role, cgroup_id)),
        };
        let connection = self.connections.get_mut(slot);
        if let (None, Some(role)) = (connection.role, role) {
            connection.place(role);
        }
        connection.local = local.or(connection.local);
        connection.peer = peer.or(connection.peer);
        connection.touch(ts_ns);
    }

    fn data(&mut self, id: SocketId, call: Call<'_>, emit: &mut dyn FnMut(HttpExchange)) {
        let slot = match self.connections.touch(id) {
            Some(slot) => slot,
            None => self.insert(id, Connection::new(None, call.cgroup_id)),
        };
        let connection = self.connections.get_mut(slot);
        connection.touch(call.ts_ns);
        if connection.cgroup_id == 0 {
            connection.cgroup_id = call.cgroup_id;
        }
        let role = match connection.role {
            Some(role) => role,
            None => match infer_role(call.direction, call.bytes) {
                Some(role) => {
                    connection.place(role);
                    role
                }
                None => {
                    connection.unplaced_data = true;
                    return;
                }
            },
        };
        let carries_requests = matches!(
            (role, call.direction),
            (Role::Server, Direction::Ingress) | (Role::Client, Direction::Egress)
        );
        let mut messages = std::mem::take(&mut self.messages);
        if carries_requests {
            connection
                .requests
                .feed(call.bytes, call.len, call.ts_ns, &None::<&str>, &mut |m| {
                    messages.push(m)
                });
            self.stats.absorb(connection.requests.take_stats());
            for message in messages.drain(..) {
                request_message(
                    connection,
                    message,
                    call.tid,
                    self.limits.max_pending,
                    &mut self.stats,
                );
            }
        } else {
            let answered = Cell::new(0);
            let next = NextMethod {
                pending: &connection.pending,
                skip: connection.skip_responses,
                answered: &answered,
            };
            connection
                .responses
                .feed(call.bytes, call.len, call.ts_ns, &next, &mut |m| {
                    if matches!(m, Message::Response(_) | Message::HeadLost) {
                        answered.set(answered.get() + 1);
                    }
                    messages.push(m);
                });
            self.stats.absorb(connection.responses.take_stats());
            for message in messages.drain(..) {
                response_message(
                    id,
                    connection,
                    message,
                    &mut self.stats,
                    &self.resolver,
                    emit,
                );
            }
            if connection.responses.is_tunnel() {
                connection.requests.stop();
            }
        }
        self.messages = messages;
        if connection.requests.is_not_http() || connection.responses.is_not_http() {
            connection.requests.stop();
            connection.responses.stop();
            if !connection.counted_not_http {
                connection.counted_not_http = true;
                self.stats.not_http += 1;
            }
        }
    }

    fn closed(&mut self, id: SocketId, emit: &mut dyn FnMut(HttpExchange)) {
        let Some(mut connection) = self.connections.remove(id) else {
            return;
        };
        let mut messages = std::mem::take(&mut self.messages);
        connection.responses.close(&mut |m| messages.push(m));
        for message in messages.drain(..) {
            response_message(
                id,
                &mut connection,
                message,
                &mut self.stats,
                &self.resolver,
                emit,
            );
        }
        self.messages = messages;
        forget(connection, &mut self.stats);
    }

    /// Inserts a connection not yet followed, making room first.
    fn insert(&mut self, id: SocketId, connection: Connection) -> usize {
        while self.connections.len() >= self.limits.max_connections.max(1) {
            let Some(evicted) = self.connections.pop_oldest_if(|_| true) else {
                break;
            };
            self.stats.evicted += 1;
            forget(evicted, &mut self.stats);
        }
        self.connections.insert(id, connection)
    }
}

/// One read-like or write-like call.
struct Call<'a> {
    tid: u32,
    direction: Direction,
    ts_ns: u64,
    len: u64,
    bytes: &'a [u8],
    cgroup_id: u64,
}

/// Counts what a forgotten connection leaves undone.
fn forget(mut connection: Connection, stats: &mut ConnectionStats) {
    stats.unanswered += connection.waiting_requests();
    stats.absorb(connection.requests.take_stats());
    stats.absorb(connection.responses.take_stats());
    if connection.role.is_none() && connection.unplaced_data && !connection.counted_not_http {
        stats.not_http += 1;
    }
}

fn request_message(
    connection: &mut Connection,
    message: Message,
    tid: u32,
    max_pending: usize,
    stats: &mut ConnectionStats,
) {
    let head = match message {
        Message::Request(head) => Some(head),
        Message::HeadLost => None,
        Message::RequestEnd { body_bytes } => {
            if let Some(last) = connection.pending.back_mut().filter(|p| p.reading_body) {
                last.body_bytes = body_bytes;
                last.reading_body = false;
            }
            return;
        }
        Message::Response(_) => return,
    };
    if connection.pending.len() >= max_pending.max(1) {
        if let Some(dropped) = connection.pending.pop_front() {
            connection.skip_responses += 1;
            if dropped.head.is_some() {
                stats.pending_dropped += 1;
            }
        }
    }
    connection.pending.push_back(Pending {
        reading_body: head.is_some(),
        head,
        tid,
        body_bytes: 0,
    });
}

fn response_message(
    id: SocketId,
    connection: &mut Connection,
    message: Message,
    stats: &mut ConnectionStats,
    resolver: &Resolver,
    emit: &mut dyn FnMut(HttpExchange),
) {
    let response = match message {
        Message::Response(response) => Some(response),
        Message::HeadLost => None,
        Message::Request(_) | Message::RequestEnd { .. } => return,
    };
    if connection.skip_responses > 0 {
        connection.skip_responses -= 1;
        return;
    }
    let Some(request) = connection.pending.pop_front() else {
        if response.is_some() {
            stats.unpaired_responses += 1;
        }
        return;
    };
    match (request.head, response) {
        (Some(head), Some(response)) => {
            stats.exchanges += 1;
            emit(exchange(
                id,
                connection,
                head,
                request.tid,
                request.body_bytes,
                response,
                resolver,
            ));
        }
        (Some(_), None) => stats.unanswered += 1,
        // The request's head was lost: its response goes with it.
        (None, _) => {}
    }
}

fn exchange(
    id: SocketId,
    connection: &Connection,
    request: RequestHead,
    tid: u32,
    request_body_bytes: u64,
    response: Response,
    resolver: &Resolver,
) -> HttpExchange {
    // Only a placed connection reads messages.
    let role = connection.role.unwrap_or(Role::Server);
    let (server, client) = match role {
        Role::Server => (connection.local, connection.peer),
        Role::Client => (connection.peer, connection.local),
    };
    HttpExchange {
        role,
        method: request.method,
        path: request.path,
        query: request.query,
        status: response.status,
        protocol_version: request.version.as_str(),
        request_headers: request.headers,
        start: time(request.start_ns),
        duration: Duration::from_nanos(response.end_ns.saturating_sub(request.start_ns)),
        server,
        client,
        pid: id.pid,
        tid,
        cgroup_id: connection.cgroup_id,
        request_body_bytes,
        response_body_bytes: response.body_bytes,
        resource: resolver(id.pid, connection.cgroup_id),
    }
}

fn time(unix_ns: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(i64::try_from(unix_ns).unwrap_or(i64::MAX))
}

/// No slot: the end of a list.
const NIL: usize = usize::MAX;

/// Connections by id, in order of last activity: a slab of slots linked
/// from the least to the most recently active. Touching a connection,
/// evicting the least recent and expiring the idle are O(1) each, with no
/// allocation per event (a sorted index would allocate and cost log n on
/// every call; a scan for the oldest costs n per eviction).
#[derive(Default)]
struct RecencyList {
    index: HashMap<SocketId, usize>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    oldest: Option<usize>,
    newest: Option<usize>,
}

struct Slot {
    id: SocketId,
    /// `None` while the slot is free.
    connection: Option<Connection>,
    older: usize,
    newer: usize,
}

impl RecencyList {
    fn len(&self) -> usize {
        self.index.len()
    }

    /// The slot of `id`, now the most recent.
    fn touch(&mut self, id: SocketId) -> Option<usize> {
        let slot = *self.index.get(&id)?;
        self.unlink(slot);
        self.link_newest(slot);
        Some(slot)
    }

    fn get_mut(&mut self, slot: usize) -> &mut Connection {
        self.slots[slot]
            .connection
            .as_mut()
            .expect("slots in the index hold a connection")
    }

    /// Adds `id` (not present) as the most recent; returns its slot.
    fn insert(&mut self, id: SocketId, connection: Connection) -> usize {
        let entry = Slot {
            id,
            connection: Some(connection),
            older: NIL,
            newer: NIL,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                self.slots.len() - 1
            }
        };
        self.index.insert(id, slot);
        self.link_newest(slot);
        slot
    }

    fn remove(&mut self, id: SocketId) -> Option<Connection> {
        let slot = self.index.remove(&id)?;
        self.unlink(slot);
        self.free.push(slot);
        self.slots[slot].connection.take()
    }

    /// Removes the least recently active connection if `pred` holds for it.
    fn pop_oldest_if(&mut self, pred: impl Fn(&Connection) -> bool) -> Option<Connection> {
        let slot = self.oldest?;
        let entry = &self.slots[slot];
        if !pred(entry.connection.as_ref()?) {
            return None;
        }
        let id = entry.id;
        self.remove(id)
    }

    fn unlink(&mut self, slot: usize) {
        let Slot { older, newer, .. } = self.slots[slot];
        match older {
            NIL => self.oldest = (newer != NIL).then_some(newer),
            older => self.slots[older].newer = newer,
        }
        match newer {
            NIL => self.newest = (older != NIL).then_some(older),
            newer => self.slots[newer].older = older,
        }
        self.slots[slot].older = NIL;
        self.slots[slot].newer = NIL;
    }

    fn link_newest(&mut self, slot: usize) {
        self.slots[slot].older = self.newest.unwrap_or(NIL);
        self.slots[slot].newer = NIL;
        match self.newest {
            Some(newest) => self.slots[newest].newer = slot,
            None => self.oldest = Some(slot),
        }
        self.newest = Some(slot);
    }
}

#[cfg(test)]
mod tests;
