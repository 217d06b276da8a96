//! Which file is which, across renames, truncations and inode reuse.
//!
//! A path is not an identity: rotation renames files, and a new file may take
//! the path (or, once the old one is deleted, even the inode) of an old one. We
//! identify a file by its device and inode *and* a fingerprint of its first
//! bytes: an inode reused by a new file has different first bytes, so it is read
//! from the start instead of being skipped. The first bytes of container log
//! lines carry a timestamp, which makes collisions between distinct files rare.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

use serde::{Deserialize, Serialize};

/// How many leading bytes make a file's fingerprint.
pub const HEAD_BYTES: usize = 256;

/// Device and inode: stable across renames on one filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(metadata: &Metadata) -> Self {
        FileId {
            dev: metadata.dev(),
            ino: metadata.ino(),
        }
    }
}

/// A hash of a file's first `len` bytes (at most [`HEAD_BYTES`]). Stored in
/// checkpoints instead of the bytes themselves, which may hold PHI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u32,
    pub hash: u64,
}

impl Fingerprint {
    /// Whether the fingerprint covers all [`HEAD_BYTES`], and so no longer
    /// changes as the file grows.
    pub fn is_complete(&self) -> bool {
        self.len as usize >= HEAD_BYTES
    }

    /// Whether `file` still begins with the bytes this fingerprint was taken of.
    pub fn matches(&self, file: &File) -> io::Result<bool> {
        let head = Head::read(file)?;
        if head.bytes.len() < self.len as usize {
            return Ok(false);
        }
        Ok(Head::hash(&head.bytes[..self.len as usize]) == self.hash)
    }
}

/// A file's first bytes, kept in memory only (never persisted: PHI).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    bytes: Vec<u8>,
}

impl Head {
    pub fn read(file: &File) -> io::Result<Head> {
        let mut bytes = vec![0u8; HEAD_BYTES];
        let mut filled = 0;
        while filled < HEAD_BYTES {
            match file.read_at(&mut bytes[filled..], filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        bytes.truncate(filled);
        Ok(Head { bytes })
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn is_complete(&self) -> bool {
        self.bytes.len() >= HEAD_BYTES
    }

    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            len: self.bytes.len() as u32,
            hash: Head::hash(&self.bytes),
        }
    }

    /// Whether two files start alike as far as both have been written: one
    /// may be a copy of the other still being made (copytruncate).
    pub fn agrees_with(&self, other: &Head) -> bool {
        let n = self.bytes.len().min(other.bytes.len());
        n > 0 && self.bytes[..n] == other.bytes[..n]
    }

    fn hash(bytes: &[u8]) -> u64 {
        xxhash_rust::xxh3::xxh3_64(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fingerprint_follows_the_first_bytes_only() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[b'a'; 300]).unwrap();
        let fp = Head::read(&file).unwrap().fingerprint();
        assert!(fp.is_complete());
        file.write_all(b"more").unwrap();
        assert!(fp.matches(&file).unwrap());
        file.write_all_at(b"b", 10).unwrap();
        assert!(!fp.matches(&file).unwrap());
    }

    #[test]
    fn short_file_fingerprint_is_incomplete_and_still_matches_as_it_grows() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"2024-01-01 first line\n").unwrap();
        let fp = Head::read(&file).unwrap().fingerprint();
        assert!(!fp.is_complete());
        file.write_all(b"second\n").unwrap();
        assert!(fp.matches(&file).unwrap());
        file.set_len(3).unwrap();
        assert!(!fp.matches(&file).unwrap());
    }

    #[test]
    fn heads_agree_on_the_common_prefix() {
        let a = Head {
            bytes: b"abcdef".to_vec(),
        };
        let b = Head {
            bytes: b"abc".to_vec(),
        };
        let c = Head {
            bytes: b"abx".to_vec(),
        };
        assert!(a.agrees_with(&b));
        assert!(!a.agrees_with(&c));
        assert!(!a.agrees_with(&Head::default()));
    }
}
