/* The events the kernel programs (wardwatch.bpf.c) put on the ring buffer.
 *
 * This header is the one definition of that ABI. The agent mirrors it with
 * #[repr(C)] structs (agent/src/sources/net/abi.rs), and a test compares
 * their sizes and offsets with ebpf/abi_layout.txt, which build.sh writes
 * by compiling this header for the host.
 *
 * Every field has an explicit width and the structs have no implicit
 * padding, so the layout is the same for the BPF target and x86-64/arm64.
 * The includer provides __u8.. __u64 and __s32 (vmlinux.h in the kernel
 * programs, <linux/types.h> on the host). */
#ifndef WARDWATCH_ABI_H
#define WARDWATCH_ABI_H

/* Bytes of each read or write copied from the process: enough for the
 * request line and headers of nearly every HTTP/1.x request (bodies are
 * skipped, so the rest of a large call is only counted). A power of two so
 * the programs can bound copies with a mask the verifier understands. */
#define WW_CAPTURE_WINDOW 4096

/* The ring buffer shared by all CPUs, in bytes (a power of two, a multiple
 * of the page size). 16 MiB holds about 4,000 full-window events: a burst
 * of several milliseconds at 100k requests/s before the agent must read. */
#define WW_RING_BYTES (16 * 1024 * 1024)

enum ww_event_kind {
	WW_EVENT_DATA = 1,  /* a successful read-like or write-like call */
	WW_EVENT_OPEN = 2,  /* accept/connect, or first sight of a socket */
	WW_EVENT_CLOSE = 3, /* close() of a known socket */
};

enum ww_direction {
	WW_INGRESS = 0, /* read, readv, recvfrom, recvmsg */
	WW_EGRESS = 1,  /* write, writev, sendto, sendmsg */
};

enum ww_role {
	/* Open before capture started: the side is not known. */
	WW_ROLE_UNKNOWN = 0,
	WW_ROLE_SERVER = 1, /* accepted */
	WW_ROLE_CLIENT = 2, /* connected */
};

/* Indexes of the per-CPU counters map `counters`. */
enum ww_counter {
	WW_COUNTER_RING_FULL = 0, /* events lost: the ring buffer was full */
	WW_COUNTER_IOV_CUT = 1,   /* iovec calls with more buffers than copied */
	WW_COUNTER_COUNT = 2,
};

struct ww_header {
	__u32 kind; /* enum ww_event_kind */
	__u32 pid;  /* thread-group id: the process */
	__u32 tid;  /* the thread that made the call */
	__s32 fd;
	__u64 timestamp_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id;    /* cgroup v2 id of the process */
};

struct ww_open_event {
	struct ww_header header;
	__u32 role;   /* enum ww_role */
	__u16 family; /* AF_INET or AF_INET6; 0 if the tuple is unknown */
	__u16 local_port; /* host byte order */
	__u16 peer_port;  /* host byte order */
	__u16 reserved;
	__u32 reserved2;
	__u8 local_addr[16]; /* IPv4 in the first 4 bytes */
	__u8 peer_addr[16];
};

struct ww_data_event {
	struct ww_header header;
	__u32 direction; /* enum ww_direction */
	__u32 captured;  /* bytes of `data` that are valid, <= WW_CAPTURE_WINDOW */
	__u64 len;       /* bytes the call moved (its return value) */
	__u8 data[WW_CAPTURE_WINDOW];
};

struct ww_close_event {
	struct ww_header header;
};

#endif
