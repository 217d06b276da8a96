// SPDX-License-Identifier: GPL-2.0
/* HTTP capture from syscall tracepoints: what every process on the node
 * reads from and writes to its TCP sockets, and when its connections open
 * and close. No kprobes, no fentry: tracepoints are a stable interface, and
 * they are all some kernels (this project's CI among them) allow.
 *
 * - sys_enter_* of read-like and write-like calls remember the buffer (keyed
 *   by thread) when the fd is a TCP socket; sys_exit_* copy the first
 *   WW_CAPTURE_WINDOW bytes of what actually moved into a DATA event.
 * - accept/accept4 exits open a server connection, connect exits a client
 *   one (non-blocking connects too: -EINPROGRESS), with the 4-tuple.
 * - close of a known socket sends CLOSE.
 * - sock:inet_sock_set_state gives the 4-tuple from the tracepoint's own
 *   fields when a connection becomes ESTABLISHED; reading `struct sock`
 *   with CO-RE is the fallback for connections older than the agent.
 *
 * Events are built in a per-CPU scratch map (a DATA event is 4 KiB, far
 * over the 512-byte stack) and copied to one ring buffer. When the ring is
 * full the event is counted in `counters` and dropped: the kernel never
 * waits for the agent. */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "abi.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define TCP_ESTABLISHED 1
#define TCP_CLOSE 7

/* Copy at most this many iovec entries of readv/writev/sendmsg/recvmsg:
 * HTTP libraries put the head in the first one or two. */
#define MAX_IOVECS 4

/* The agent's own process, set by the loader: its sockets are not captured
 * (its sinks talk HTTP too). */
const volatile __u32 self_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, WW_RING_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WW_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* A DATA event and room behind it, so that a copy at any offset below the
 * window with any length below the window stays inside the value: that is
 * what the verifier can check without relating offset and length. */
struct data_scratch {
	struct ww_data_event event;
	__u8 slack[WW_CAPTURE_WINDOW];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_scratch);
} scratch SEC(".maps");

enum buffer_shape {
	SHAPE_PLAIN = 0,  /* buf, count */
	SHAPE_IOVEC = 1,  /* iov, iovcnt */
	SHAPE_MSGHDR = 2, /* struct user_msghdr */
};

/* A call in progress, by thread. */
struct pending_io {
	__u64 buffer;
	__s32 fd;
	__u32 direction;
	__u32 shape;
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending_io);
} pending_io SEC(".maps");

/* accept/connect in progress, by thread: the fd (connect) and the role. */
struct pending_open {
	__s32 fd;
	__u32 role;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pending_open);
} pending_open SEC(".maps");

/* Descriptors known to be TCP sockets, by (tgid << 32 | fd). LRU, so a
 * process that exits without closing cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32); /* enum ww_role */
} sockets SEC(".maps");

/* Descriptors known not to be TCP sockets (files, pipes): most reads and
 * writes on a node, skipped after one lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} not_sockets SEC(".maps");

/* 4-tuples from sock:inet_sock_set_state, by `struct sock` address. */
struct tuple {
	__u16 family;
	__u16 local_port;
	__u16 peer_port;
	__u16 reserved;
	__u8 local_addr[16];
	__u8 peer_addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tuple);
} tuples SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &which);
	if (value)
		*value += 1;
}

static __always_inline __u64 socket_key(__u32 tgid, __s32 fd)
{
	return ((__u64)tgid << 32) | (__u32)fd;
}

static __always_inline void fill_header(struct ww_header *header, __u32 kind, __u64 pid_tgid,
					__s32 fd)
{
	header->kind = kind;
	header->pid = pid_tgid >> 32;
	header->tid = (__u32)pid_tgid;
	header->fd = fd;
	header->timestamp_ns = bpf_ktime_get_ns();
	header->cgroup_id = bpf_get_current_cgroup_id();
}

/* The `struct sock` of a TCP socket at `fd` of the current process, or NULL
 * for anything else. Walks task → files → fdtable → file with CO-RE, so it
 * follows the running kernel's layout. */
static __always_inline struct sock *tcp_sock_of(__s32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (fd < 0 || (unsigned int)fd >= max_fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return NULL;
	umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return NULL;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	return sk;
}

static __always_inline void read_tuple(struct sock *sk, struct ww_open_event *event)
{
	__u64 sk_key = (__u64)sk;
	struct tuple *known = bpf_map_lookup_elem(&tuples, &sk_key);
	if (known) {
		event->family = known->family;
		event->local_port = known->local_port;
		event->peer_port = known->peer_port;
		__builtin_memcpy(event->local_addr, known->local_addr, 16);
		__builtin_memcpy(event->peer_addr, known->peer_addr, 16);
		return;
	}
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	event->family = family;
	event->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	event->peer_port = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 local = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 peer = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(event->local_addr, &local, 4);
		__builtin_memcpy(event->peer_addr, &peer, 4);
	} else {
		BPF_CORE_READ_INTO(&event->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&event->peer_addr, sk, __sk_common.skc_v6_daddr);
	}
}

static __always_inline void emit_open(__u64 pid_tgid, __s32 fd, __u32 role, struct sock *sk)
{
	struct ww_open_event event = {};
	fill_header(&event.header, WW_EVENT_OPEN, pid_tgid, fd);
	event.role = role;
	if (sk)
		read_tuple(sk, &event);
	if (bpf_ringbuf_output(&events, &event, sizeof(event), 0))
		count(WW_COUNTER_RING_FULL);
}

/* Whether calls on `fd` are to be captured: a known TCP socket, or one seen
 * for the first time (open before the agent started), which is announced
 * with an OPEN of unknown role. */
static __always_inline bool wanted(__u64 pid_tgid, __s32 fd)
{
	__u32 tgid = pid_tgid >> 32;
	if (tgid == self_tgid)
		return false;
	__u64 key = socket_key(tgid, fd);
	if (bpf_map_lookup_elem(&sockets, &key))
		return true;
	if (bpf_map_lookup_elem(&not_sockets, &key))
		return false;
	struct sock *sk = tcp_sock_of(fd);
	if (!sk) {
		__u8 one = 1;
		bpf_map_update_elem(&not_sockets, &key, &one, BPF_ANY);
		return false;
	}
	__u32 role = WW_ROLE_UNKNOWN;
	bpf_map_update_elem(&sockets, &key, &role, BPF_ANY);
	emit_open(pid_tgid, fd, role, sk);
	return true;
}

static __always_inline void enter_io(unsigned long fd, unsigned long buffer, __u32 direction,
				     __u32 shape)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid, (__s32)fd))
		return;
	struct pending_io io = {
		.buffer = buffer,
		.fd = (__s32)fd,
		.direction = direction,
		.shape = shape,
	};
	bpf_map_update_elem(&pending_io, &pid_tgid, &io, BPF_ANY);
}

/* Copies up to the window from the iovecs at `iov` (user memory) into
 * `event->data`; returns the bytes copied. */
static __always_inline __u32 copy_iovecs(struct data_scratch *s, const struct iovec *iov,
					 __u64 iovcnt, __u64 moved)
{
	__u32 copied = 0;
	__u64 wanted_bytes = moved < WW_CAPTURE_WINDOW ? moved : WW_CAPTURE_WINDOW;
#pragma unroll
	for (int i = 0; i < MAX_IOVECS; i++) {
		if (i >= iovcnt || copied >= wanted_bytes)
			break;
		struct iovec vec = {};
		if (bpf_probe_read_user(&vec, sizeof(vec), &iov[i]))
			break;
		__u64 take = vec.iov_len;
		if (take > wanted_bytes - copied)
			take = wanted_bytes - copied;
		__u32 offset = copied & (WW_CAPTURE_WINDOW - 1);
		__u32 len = take & (WW_CAPTURE_WINDOW - 1);
		if (take == WW_CAPTURE_WINDOW)
			len = WW_CAPTURE_WINDOW;
		if (len > WW_CAPTURE_WINDOW)
			break;
		if (bpf_probe_read_user(s->event.data + offset, len, vec.iov_base))
			break;
		copied += len;
	}
	if (iovcnt > MAX_IOVECS && copied < wanted_bytes)
		count(WW_COUNTER_IOV_CUT);
	return copied;
}

static __always_inline void exit_io(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pending_io *io = bpf_map_lookup_elem(&pending_io, &pid_tgid);
	if (!io)
		return;
	struct pending_io call = *io;
	bpf_map_delete_elem(&pending_io, &pid_tgid);
	if (ret <= 0)
		return;
	__u32 zero = 0;
	struct data_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return;
	fill_header(&s->event.header, WW_EVENT_DATA, pid_tgid, call.fd);
	s->event.direction = call.direction;
	s->event.len = ret;
	__u32 captured = 0;
	if (call.shape == SHAPE_PLAIN) {
		__u32 len = ret < WW_CAPTURE_WINDOW ? ret : WW_CAPTURE_WINDOW;
		if (len > WW_CAPTURE_WINDOW)
			return;
		if (!bpf_probe_read_user(s->event.data, len, (const void *)call.buffer))
			captured = len;
	} else {
		const struct iovec *iov = (const struct iovec *)call.buffer;
		__u64 iovcnt = 0;
		if (call.shape == SHAPE_MSGHDR) {
			struct user_msghdr msg = {};
			if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)call.buffer))
				return;
			iov = msg.msg_iov;
			iovcnt = msg.msg_iovlen;
		} else {
			/* readv/writev: the count was the third argument, kept in
			 * `reserved` at entry. */
			iovcnt = call.reserved;
		}
		captured = copy_iovecs(s, iov, iovcnt, ret);
	}
	s->event.captured = captured;
	__u64 size = offsetof(struct ww_data_event, data) + (captured & (2 * WW_CAPTURE_WINDOW - 1));
	if (size > sizeof(struct ww_data_event))
		size = sizeof(struct ww_data_event);
	if (bpf_ringbuf_output(&events, &s->event, size, 0))
		count(WW_COUNTER_RING_FULL);
}

#define ARG(ctx, n) ((ctx)->args[n])

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx)
{
	enter_io(ARG(ctx, 0), ARG(ctx, 1), WW_INGRESS, SHAPE_PLAIN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	enter_io(ARG(ctx, 0), ARG(ctx, 1), WW_INGRESS, SHAPE_PLAIN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx)
{
	enter_io(ARG(ctx, 0), ARG(ctx, 1), WW_EGRESS, SHAPE_PLAIN);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	enter_io(ARG(ctx, 0), ARG(ctx, 1), WW_EGRESS, SHAPE_PLAIN);
	return 0;
}

static __always_inline void enter_vector(struct trace_event_raw_sys_enter *ctx, __u32 direction)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!wanted(pid_tgid, (__s32)ARG(ctx, 0)))
		return;
	struct pending_io io = {
		.buffer = ARG(ctx, 1),
		.fd = (__s32)ARG(ctx, 0),
		.direction = direction,
		.shape = SHAPE_IOVEC,
		.reserved = (__u32)ARG(ctx, 2),
	};
	bpf_map_update_elem(&pending_io, &pid_tgid, &io, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	enter_vector(ctx, WW_INGRESS);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	enter_vector(ctx, WW_EGRESS);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	enter_io(ARG(ctx, 0), ARG(ctx, 1), WW_INGRESS, SHAPE_MSGHDR);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	enter_io(ARG(ctx, 0), ARG(ctx, 1), WW_EGRESS, SHAPE_MSGHDR);
	return 0;
}

#define EXIT_IO(name)                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                 \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)      \
	{                                                          \
		exit_io(ctx->ret);                                 \
		return 0;                                          \
	}

EXIT_IO(read)
EXIT_IO(recvfrom)
EXIT_IO(write)
EXIT_IO(sendto)
EXIT_IO(readv)
EXIT_IO(writev)
EXIT_IO(recvmsg)
EXIT_IO(sendmsg)

static __always_inline void enter_open(__s32 fd, __u32 role)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((pid_tgid >> 32) == self_tgid)
		return;
	struct pending_open open = { .fd = fd, .role = role };
	bpf_map_update_elem(&pending_open, &pid_tgid, &open, BPF_ANY);
}

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	enter_open(-1, WW_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	enter_open(-1, WW_ROLE_SERVER);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	enter_open((__s32)ARG(ctx, 0), WW_ROLE_CLIENT);
	return 0;
}

static __always_inline void exit_open(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct pending_open *pending = bpf_map_lookup_elem(&pending_open, &pid_tgid);
	if (!pending)
		return;
	struct pending_open open = *pending;
	bpf_map_delete_elem(&pending_open, &pid_tgid);
	__s32 fd;
	if (open.role == WW_ROLE_SERVER) {
		if (ret < 0)
			return;
		fd = (__s32)ret;
	} else {
		/* A non-blocking connect is under way: the connection is the
		 * caller's from now on, and its local port is already bound. */
		if (ret != 0 && ret != -EINPROGRESS)
			return;
		fd = open.fd;
	}
	struct sock *sk = tcp_sock_of(fd);
	if (!sk)
		return;
	__u64 key = socket_key(pid_tgid >> 32, fd);
	bpf_map_update_elem(&sockets, &key, &open.role, BPF_ANY);
	bpf_map_delete_elem(&not_sockets, &key);
	emit_open(pid_tgid, fd, open.role, sk);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	exit_open(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	exit_open(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	exit_open(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__s32 fd = (__s32)ARG(ctx, 0);
	__u64 key = socket_key(pid_tgid >> 32, fd);
	/* The descriptor number may next name anything: forget both ways. */
	bpf_map_delete_elem(&not_sockets, &key);
	if (bpf_map_delete_elem(&sockets, &key))
		return 0;
	struct ww_close_event event = {};
	fill_header(&event.header, WW_EVENT_CLOSE, pid_tgid, fd);
	if (bpf_ringbuf_output(&events, &event, sizeof(event), 0))
		count(WW_COUNTER_RING_FULL);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int sock_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	__u64 sk_key = (__u64)ctx->skaddr;
	if (ctx->newstate == TCP_CLOSE) {
		bpf_map_delete_elem(&tuples, &sk_key);
		return 0;
	}
	if (ctx->newstate != TCP_ESTABLISHED)
		return 0;
	struct tuple tuple = {
		.family = ctx->family,
		.local_port = ctx->sport,
		.peer_port = ctx->dport,
	};
	/* The address arrays are read with a helper: byte loads through an
	 * offset context pointer are refused by the verifier. */
	if (ctx->family == AF_INET) {
		bpf_probe_read_kernel(tuple.local_addr, 4, ctx->saddr);
		bpf_probe_read_kernel(tuple.peer_addr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(tuple.local_addr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(tuple.peer_addr, 16, ctx->daddr_v6);
	}
	bpf_map_update_elem(&tuples, &sk_key, &tuple, BPF_ANY);
	return 0;
}
