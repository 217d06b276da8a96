//! Loads the kernel programs (`ebpf/wardwatch.bpf.o`, embedded), attaches
//! them to their tracepoints, and turns ring-buffer records into
//! [`SocketEvent`]s on a bounded channel.
//!
//! The reader never waits on the channel: when the agent falls behind, the
//! event is dropped and counted, as the kernel side drops and counts when
//! the ring is full. Capture must not slow the node's traffic down.
//!
//! Dropping the [`Capture`] detaches every program (aya detaches links on
//! drop) and stops the reader.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::abi::{self, Record};
use super::socket_event::{Direction, SocketEvent, SocketId};
use crate::event::Role;

/// The compiled programs, built from `ebpf/` by `ebpf/build.sh`.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../../../../ebpf/wardwatch.bpf.o");

/// Every program of the object and its tracepoint.
const ATTACHMENTS: &[(&str, &str, &str)] = &[
    ("enter_read", "syscalls", "sys_enter_read"),
    ("exit_read", "syscalls", "sys_exit_read"),
    ("enter_recvfrom", "syscalls", "sys_enter_recvfrom"),
    ("exit_recvfrom", "syscalls", "sys_exit_recvfrom"),
    ("enter_readv", "syscalls", "sys_enter_readv"),
    ("exit_readv", "syscalls", "sys_exit_readv"),
    ("enter_recvmsg", "syscalls", "sys_enter_recvmsg"),
    ("exit_recvmsg", "syscalls", "sys_exit_recvmsg"),
    ("enter_write", "syscalls", "sys_enter_write"),
    ("exit_write", "syscalls", "sys_exit_write"),
    ("enter_sendto", "syscalls", "sys_enter_sendto"),
    ("exit_sendto", "syscalls", "sys_exit_sendto"),
    ("enter_writev", "syscalls", "sys_enter_writev"),
    ("exit_writev", "syscalls", "sys_exit_writev"),
    ("enter_sendmsg", "syscalls", "sys_enter_sendmsg"),
    ("exit_sendmsg", "syscalls", "sys_exit_sendmsg"),
    ("enter_accept", "syscalls", "sys_enter_accept"),
    ("exit_accept", "syscalls", "sys_exit_accept"),
    ("enter_accept4", "syscalls", "sys_enter_accept4"),
    ("exit_accept4", "syscalls", "sys_exit_accept4"),
    ("enter_connect", "syscalls", "sys_enter_connect"),
    ("exit_connect", "syscalls", "sys_exit_connect"),
    ("enter_close", "syscalls", "sys_enter_close"),
    ("sock_state", "sock", "inet_sock_set_state"),
];

/// How capture starts.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// The process whose sockets are not captured: the agent's own, so its
    /// sinks' HTTP is not captured and shipped again. `None` captures all
    /// (tests capturing their own traffic).
    pub exclude_pid: Option<u32>,
    /// Events waiting for the connection table.
    pub queue: usize,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            exclude_pid: Some(std::process::id()),
            queue: 65_536,
        }
    }
}

/// Why capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Missing privileges, BTF or tracefs: an environment the agent can run
    /// in without capture, which it says once and goes on.
    #[error("eBPF capture is unavailable here: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a broken kernel.
    #[error("eBPF capture failed: {0}")]
    Failed(String),
}

/// Counters of what was seen and lost.
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Records read from the ring buffer.
    pub events: AtomicU64,
    /// Events dropped because the connection table's queue was full.
    pub queue_drops: AtomicU64,
    /// Records that did not decode (an object/agent mismatch).
    pub malformed: AtomicU64,
}

/// Capture running: programs attached, a reader task on the ring buffer.
pub struct Capture {
    /// Owns the programs and their links: dropping it detaches them.
    _ebpf: Ebpf,
    counters: PerCpuArray<MapData, u64>,
    stats: Arc<CaptureStats>,
    stop: Arc<AtomicBool>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Capture {
    /// Loads and attaches the programs and starts reading; needs a tokio
    /// runtime. Returns the capture and the receiving end of its events.
    pub fn start(
        options: &CaptureOptions,
    ) -> Result<(Capture, mpsc::Receiver<SocketEvent>), CaptureError> {
        preflight()?;
        let exclude = options.exclude_pid.unwrap_or(0);
        let mut ebpf = EbpfLoader::new()
            .set_global("self_tgid", &exclude, true)
            .load(OBJECT)
            .map_err(|error| classify(&error.to_string()))?;
        for (program, category, name) in ATTACHMENTS {
            let tracepoint: &mut TracePoint = ebpf
                .program_mut(program)
                .ok_or_else(|| CaptureError::Failed(format!("program {program} missing")))?
                .try_into()
                .map_err(|e| CaptureError::Failed(format!("{program}: {e}")))?;
            tracepoint
                .load()
                .map_err(|e| classify(&format!("{program}: {e}")))?;
            tracepoint
                .attach(category, name)
                .map_err(|e| classify(&format!("{category}/{name}: {e}")))?;
        }
        let ring = RingBuf::try_from(
            ebpf.take_map("events")
                .ok_or_else(|| CaptureError::Failed("map events missing".into()))?,
        )
        .map_err(|e| CaptureError::Failed(format!("events: {e}")))?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map("counters")
                .ok_or_else(|| CaptureError::Failed("map counters missing".into()))?,
        )
        .map_err(|e| CaptureError::Failed(format!("counters: {e}")))?;
        // SAFETY: the ring buffer owns its map's descriptor and keeps it
        // open, unchanged, for as long as it lives; the AsyncFd owns the
        // ring, so the descriptor outlives the registration.
        let ring = unsafe { AsyncFd::register(ring) }
            .map_err(|e| CaptureError::Failed(format!("ring: {e}")))?;
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let stats = Arc::new(CaptureStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = tokio::spawn(read_ring(
            ring,
            tx,
            Arc::clone(&stats),
            Arc::clone(&stop),
            Clock::now(),
        ));
        Ok((
            Capture {
                _ebpf: ebpf,
                counters,
                stats,
                stop,
                reader: Some(reader),
            },
            rx,
        ))
    }

    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// Events the kernel dropped because the ring buffer was full, summed
    /// over CPUs.
    pub fn ring_drops(&self) -> u64 {
        self.kernel_counter(abi::COUNTER_RING_FULL)
    }

    /// readv/writev/sendmsg/recvmsg calls with more buffers than the
    /// programs copy, whose capture may miss part of a head.
    pub fn iovecs_cut(&self) -> u64 {
        self.kernel_counter(abi::COUNTER_IOV_CUT)
    }

    fn kernel_counter(&self, index: u32) -> u64 {
        self.counters
            .get(&index, 0)
            .map(|values| values.iter().sum())
            .unwrap_or(0)
    }

    /// Stops reading and detaches the programs; events already read are
    /// still delivered, then the channel closes.
    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            reader.abort();
            let _ = reader.await;
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
    }
}

/// Says clearly what is missing before the loader fails with a bare errno.
fn preflight() -> Result<(), CaptureError> {
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(CaptureError::Unavailable(
            "the kernel has no BTF (/sys/kernel/btf/vmlinux is missing); \
             CO-RE needs a kernel built with CONFIG_DEBUG_INFO_BTF"
                .into(),
        ));
    }
    let tracefs = [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ];
    let mounted = || tracefs.iter().any(|p| std::path::Path::new(p).exists());
    if !mounted() {
        mount_tracefs();
    }
    if !mounted() {
        return Err(CaptureError::Unavailable(
            "tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)".into(),
        ));
    }
    Ok(())
}

/// Tracepoints are attached by the ids tracefs lists. Hosts that have not
/// mounted it (minimal VMs, CI runners) get it mounted where the kernel
/// expects it; without privileges this fails quietly and preflight says so.
fn mount_tracefs() {
    let target = c"/sys/kernel/tracing";
    let kind = c"tracefs";
    // SAFETY: all pointers are NUL-terminated strings that outlive the call;
    // a null data pointer is allowed for tracefs.
    let result = unsafe {
        libc::mount(
            kind.as_ptr(),
            target.as_ptr(),
            kind.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if result == 0 {
        tracing::info!("mounted tracefs at /sys/kernel/tracing for capture");
    }
}

fn classify(error: &str) -> CaptureError {
    let denied = [
        "Operation not permitted",
        "Permission denied",
        "EPERM",
        "EACCES",
    ];
    if denied.iter().any(|word| error.contains(word)) {
        CaptureError::Unavailable(format!("{error} (needs root, or CAP_BPF and CAP_PERFMON)"))
    } else {
        CaptureError::Failed(error.to_owned())
    }
}

/// Converts the kernel's CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) to
/// wall-clock Unix nanoseconds, by the offset between the two clocks at
/// start. A wall-clock step later (NTP) shifts times by that step, as it
/// does for every other timestamp on the node.
#[derive(Clone, Copy, Debug)]
struct Clock {
    offset_ns: i128,
}

impl Clock {
    fn now() -> Clock {
        let read = |clock| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: clock_gettime writes one timespec into `ts`, which
            // lives for the call.
            unsafe { libc::clock_gettime(clock, &mut ts) };
            i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
        };
        let monotonic = read(libc::CLOCK_MONOTONIC);
        let realtime = read(libc::CLOCK_REALTIME);
        Clock {
            offset_ns: realtime - monotonic,
        }
    }

    fn wall(self, monotonic_ns: u64) -> u64 {
        (i128::from(monotonic_ns) + self.offset_ns).max(0) as u64
    }
}

async fn read_ring(
    mut ring: AsyncFd<RingBuf<MapData>>,
    tx: mpsc::Sender<SocketEvent>,
    stats: Arc<CaptureStats>,
    stop: Arc<AtomicBool>,
    clock: Clock,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut guard = match ring.readable_mut().await {
            Ok(guard) => guard,
            Err(error) => {
                tracing::error!(%error, "eBPF ring buffer unreadable; capture stops");
                return;
            }
        };
        let ring = guard.get_inner_mut();
        while let Some(item) = ring.next() {
            stats.events.fetch_add(1, Ordering::Relaxed);
            let event = match abi::decode(&item) {
                Ok(record) => to_event(record, clock),
                Err(error) => {
                    stats.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "malformed eBPF record");
                    continue;
                }
            };
            if tx.try_send(event).is_err() {
                stats.queue_drops.fetch_add(1, Ordering::Relaxed);
            }
        }
        guard.clear_ready();
        if tx.is_closed() {
            return;
        }
    }
}

fn to_event(record: Record<'_>, clock: Clock) -> SocketEvent {
    match record {
        Record::Open(open) => {
            let (local, peer) = addresses(&open);
            SocketEvent::Opened {
                id: id(&open.header),
                role: match open.role {
                    abi::ROLE_SERVER => Some(Role::Server),
                    abi::ROLE_CLIENT => Some(Role::Client),
                    _ => None,
                },
                timestamp_ns: clock.wall(open.header.timestamp_ns),
                local,
                peer,
                cgroup_id: open.header.cgroup_id,
            }
        }
        Record::Data {
            header,
            direction,
            len,
            bytes,
        } => SocketEvent::Data {
            id: id(&header),
            tid: header.tid,
            direction: if direction == abi::EGRESS {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            timestamp_ns: clock.wall(header.timestamp_ns),
            len,
            bytes: bytes.to_vec(),
            cgroup_id: header.cgroup_id,
        },
        Record::Close(header) => SocketEvent::Closed {
            id: id(&header),
            timestamp_ns: clock.wall(header.timestamp_ns),
        },
    }
}

fn id(header: &abi::Header) -> SocketId {
    SocketId {
        pid: header.pid,
        fd: header.fd,
    }
}

fn addresses(open: &abi::OpenEvent) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let ip = |bytes: &[u8; 16]| -> Option<IpAddr> {
        match open.family {
            abi::AF_INET => Some(IpAddr::V4(Ipv4Addr::new(
                bytes[0], bytes[1], bytes[2], bytes[3],
            ))),
            abi::AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*bytes))),
            _ => None,
        }
    };
    let local = ip(&open.local_addr).map(|ip| SocketAddr::new(ip, open.local_port));
    let peer = ip(&open.peer_addr).map(|ip| SocketAddr::new(ip, open.peer_port));
    (local, peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_records_become_addresses() {
        let mut open = abi::OpenEvent {
            role: abi::ROLE_SERVER,
            family: abi::AF_INET,
            local_port: 8080,
            peer_port: 51234,
            ..Default::default()
        };
        open.local_addr[..4].copy_from_slice(&[127, 0, 0, 1]);
        open.peer_addr[..4].copy_from_slice(&[10, 0, 0, 9]);
        let (local, peer) = addresses(&open);
        assert_eq!(local, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(peer, Some("10.0.0.9:51234".parse().unwrap()));
        open.family = 0;
        assert_eq!(addresses(&open), (None, None));
        open.family = abi::AF_INET6;
        open.local_addr = Ipv6Addr::LOCALHOST.octets();
        assert_eq!(addresses(&open).0, Some("[::1]:8080".parse().unwrap()));
    }

    #[test]
    fn kernel_times_become_wall_clock() {
        let clock = Clock::now();
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as in Clock::now.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let monotonic = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        let wall = clock.wall(monotonic);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(now.abs_diff(wall) < 1_000_000_000, "{now} vs {wall}");
    }

    #[test]
    fn permission_errors_mean_unavailable() {
        assert!(matches!(
            classify("program enter_read: Operation not permitted (os error 1)"),
            CaptureError::Unavailable(_)
        ));
        assert!(matches!(
            classify("verifier said no"),
            CaptureError::Failed(_)
        ));
    }
}
