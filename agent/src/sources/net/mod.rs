//! HTTP capture from the kernel: eBPF programs on syscall and socket
//! tracepoints report socket calls; a connection table pairs requests with
//! responses into [`crate::event::HttpExchange`]s.

pub mod abi;
pub mod connections;
pub mod http1;
pub mod loader;
pub mod socket_event;
