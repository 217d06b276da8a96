//! What the kernel side reports, in the agent's own terms: the loader turns
//! ring-buffer records into these, and the connection table turns these into
//! HTTP exchanges. Keeping this boundary in plain Rust lets the parser and the
//! table be tested without root.

use std::net::SocketAddr;

use crate::event::Role;

/// A socket as the process sees it: its pid (thread-group id) and file descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    pub pid: u32,
    pub fd: i32,
}

/// Which way the bytes moved, seen from the captured process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// read, readv, recvfrom, recvmsg: bytes the process received.
    Ingress,
    /// write, writev, sendto, sendmsg: bytes the process sent.
    Egress,
}

/// One thing a process did with a TCP socket. Timestamps are wall-clock
/// nanoseconds since the Unix epoch (the loader converts the kernel's
/// monotonic clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketEvent {
    /// accept/accept4 (role `Server`) or connect (role `Client`) succeeded;
    /// or a TCP socket opened before capture started was seen for the first
    /// time (role `None`: its side is known from its first message).
    Opened {
        id: SocketId,
        role: Option<Role>,
        timestamp_ns: u64,
        /// This process's end of the connection, when the kernel knew it.
        local: Option<SocketAddr>,
        /// The other end.
        peer: Option<SocketAddr>,
        cgroup_id: u64,
    },
    /// A successful read-like or write-like call on the socket.
    Data {
        id: SocketId,
        /// The thread that made the call.
        tid: u32,
        direction: Direction,
        timestamp_ns: u64,
        /// How many bytes the call moved (its return value).
        len: u64,
        /// The first bytes moved, at most the capture window; shorter than
        /// `len` when the call moved more than the window.
        bytes: Vec<u8>,
        cgroup_id: u64,
    },
    /// close() on the socket's descriptor.
    Closed { id: SocketId, timestamp_ns: u64 },
}
