//! The ring-buffer records of `ebpf/abi.h`, mirrored.
//!
//! The `#[repr(C)]` structs below are the Rust side of that one header; the
//! test at the bottom compares their sizes and field offsets with
//! `ebpf/abi_layout.txt`, which `ebpf/build.sh` writes by compiling the
//! header for the host. Records are decoded from the ring buffer's bytes
//! field by field at those offsets (no pointer casts): a short or unknown
//! record is an error, not undefined behaviour.

use std::mem::{offset_of, size_of};

pub const CAPTURE_WINDOW: usize = 4096;
pub const RING_BYTES: usize = 16 * 1024 * 1024;

pub const EVENT_DATA: u32 = 1;
pub const EVENT_OPEN: u32 = 2;
pub const EVENT_CLOSE: u32 = 3;

pub const INGRESS: u32 = 0;
pub const EGRESS: u32 = 1;

pub const ROLE_UNKNOWN: u32 = 0;
pub const ROLE_SERVER: u32 = 1;
pub const ROLE_CLIENT: u32 = 2;

/// Indexes of the per-CPU `counters` map.
pub const COUNTER_RING_FULL: u32 = 0;
pub const COUNTER_IOV_CUT: u32 = 1;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    pub fd: i32,
    pub timestamp_ns: u64,
    pub cgroup_id: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenEvent {
    pub header: Header,
    pub role: u32,
    pub family: u16,
    pub local_port: u16,
    pub peer_port: u16,
    pub reserved: u16,
    pub reserved2: u32,
    pub local_addr: [u8; 16],
    pub peer_addr: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DataEvent {
    pub header: Header,
    pub direction: u32,
    pub captured: u32,
    pub len: u64,
    pub data: [u8; CAPTURE_WINDOW],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloseEvent {
    pub header: Header,
}

/// A record decoded, borrowing the captured bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    Open(OpenEvent),
    Data {
        header: Header,
        direction: u32,
        len: u64,
        bytes: &'a [u8],
    },
    Close(Header),
}

/// Why a ring-buffer record could not be decoded (a build mismatch between
/// the object and the agent; never expected).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {0} bytes is too short")]
    Short(usize),
    #[error("record of unknown kind {0}")]
    UnknownKind(u32),
    #[error("data record claims {captured} captured bytes in a record of {len}")]
    Captured { captured: usize, len: usize },
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn header(bytes: &[u8]) -> Header {
    Header {
        kind: u32_at(bytes, offset_of!(Header, kind)),
        pid: u32_at(bytes, offset_of!(Header, pid)),
        tid: u32_at(bytes, offset_of!(Header, tid)),
        fd: u32_at(bytes, offset_of!(Header, fd)) as i32,
        timestamp_ns: u64_at(bytes, offset_of!(Header, timestamp_ns)),
        cgroup_id: u64_at(bytes, offset_of!(Header, cgroup_id)),
    }
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, DecodeError> {
    if bytes.len() < size_of::<Header>() {
        return Err(DecodeError::Short(bytes.len()));
    }
    let header = header(bytes);
    match header.kind {
        EVENT_OPEN => {
            if bytes.len() < size_of::<OpenEvent>() {
                return Err(DecodeError::Short(bytes.len()));
            }
            let array =
                |at: usize| -> [u8; 16] { bytes[at..at + 16].try_into().expect("16 bytes") };
            Ok(Record::Open(OpenEvent {
                header,
                role: u32_at(bytes, offset_of!(OpenEvent, role)),
                family: u16_at(bytes, offset_of!(OpenEvent, family)),
                local_port: u16_at(bytes, offset_of!(OpenEvent, local_port)),
                peer_port: u16_at(bytes, offset_of!(OpenEvent, peer_port)),
                reserved: 0,
                reserved2: 0,
                local_addr: array(offset_of!(OpenEvent, local_addr)),
                peer_addr: array(offset_of!(OpenEvent, peer_addr)),
            }))
        }
        EVENT_DATA => {
            let data = offset_of!(DataEvent, data);
            if bytes.len() < data {
                return Err(DecodeError::Short(bytes.len()));
            }
            let captured = u32_at(bytes, offset_of!(DataEvent, captured)) as usize;
            if captured > CAPTURE_WINDOW || data + captured > bytes.len() {
                return Err(DecodeError::Captured {
                    captured,
                    len: bytes.len(),
                });
            }
            Ok(Record::Data {
                header,
                direction: u32_at(bytes, offset_of!(DataEvent, direction)),
                len: u64_at(bytes, offset_of!(DataEvent, len)),
                bytes: &bytes[data..data + captured],
            })
        }
        EVENT_CLOSE => Ok(Record::Close(header)),
        other => Err(DecodeError::UnknownKind(other)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// `ebpf/abi_layout.txt`: `name size` or `struct.field offset size`.
    fn c_layout() -> HashMap<String, (usize, usize)> {
        include_str!("../../../../ebpf/abi_layout.txt")
            .lines()
            .map(|line| {
                let parts: Vec<&str> = line.split_whitespace().collect();
                let number = |i: usize| parts[i].parse::<usize>().unwrap();
                match parts.len() {
                    2 => (parts[0].to_owned(), (number(1), 0)),
                    3 => (parts[0].to_owned(), (number(1), number(2))),
                    _ => panic!("bad layout line {line:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn rust_mirrors_match_the_c_header() {
        let c = c_layout();
        let size = |name: &str| c[name].0;
        let field = |name: &str| c[name];
        assert_eq!(size("WW_CAPTURE_WINDOW"), CAPTURE_WINDOW);
        assert_eq!(size("WW_RING_BYTES"), RING_BYTES);
        macro_rules! check {
            ($c:literal, $rust:ty, [$($field:ident: $ty:ty),*]) => {
                assert_eq!(size($c), size_of::<$rust>(), "size of {}", $c);
                $(
                    assert_eq!(
                        field(concat!($c, ".", stringify!($field))),
                        (offset_of!($rust, $field), size_of::<$ty>()),
                        "{}.{}", $c, stringify!($field)
                    );
                )*
            };
        }
        check!("ww_header", Header, [kind: u32, pid: u32, tid: u32, fd: i32, timestamp_ns: u64, cgroup_id: u64]);
        check!("ww_open_event", OpenEvent, [header: Header, role: u32, family: u16, local_port: u16, peer_port: u16, local_addr: [u8; 16], peer_addr: [u8; 16]]);
        check!("ww_data_event", DataEvent, [header: Header, direction: u32, captured: u32, len: u64, data: [u8; CAPTURE_WINDOW]]);
        check!("ww_close_event", CloseEvent, [header: Header]);
    }

    fn header_bytes(kind: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&42u32.to_ne_bytes());
        bytes.extend_from_slice(&43u32.to_ne_bytes());
        bytes.extend_from_slice(&7i32.to_ne_bytes());
        bytes.extend_from_slice(&1_000u64.to_ne_bytes());
        bytes.extend_from_slice(&99u64.to_ne_bytes());
        bytes
    }

    #[test]
    fn records_decode_and_bad_ones_are_errors() {
        let mut data = header_bytes(EVENT_DATA);
        data.extend_from_slice(&EGRESS.to_ne_bytes());
        data.extend_from_slice(&3u32.to_ne_bytes());
        data.extend_from_slice(&10_000u64.to_ne_bytes());
        data.extend_from_slice(b"GET");
        match decode(&data).unwrap() {
            Record::Data {
                header,
                direction,
                len,
                bytes,
            } => {
                assert_eq!((header.pid, header.tid, header.fd), (42, 43, 7));
                assert_eq!(header.cgroup_id, 99);
                assert_eq!((direction, len, bytes), (EGRESS, 10_000, &b"GET"[..]));
            }
            other => panic!("{other:?}"),
        }
        let mut lying = data.clone();
        lying[36..40].copy_from_slice(&9u32.to_ne_bytes());
        assert!(matches!(decode(&lying), Err(DecodeError::Captured { .. })));
        assert_eq!(decode(&data[..10]), Err(DecodeError::Short(10)));
        assert_eq!(decode(&header_bytes(9)), Err(DecodeError::UnknownKind(9)));
        assert!(matches!(decode(&header_bytes(EVENT_CLOSE)), Ok(Record::Close(h)) if h.fd == 7));
        assert_eq!(
            decode(&header_bytes(EVENT_OPEN)),
            Err(DecodeError::Short(32))
        );
    }
}
