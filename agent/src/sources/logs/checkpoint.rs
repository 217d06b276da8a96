//! Read offsets that survive restarts, advanced only by delivered batches.
//!
//! The tailer tells the [`Checkpointer`] which files it follows and which
//! batches it sent; sinks' acknowledgements (through [`crate::delivery`]) tell it
//! which batches were delivered. A file's checkpoint advances to the resume
//! offset of the last batch in the longest run of delivered batches, so a batch
//! that is never acknowledged holds its file's checkpoint back for good.
//!
//! The checkpoint file is rewritten by the acknowledgement itself, before the
//! sink that gave it moves on to its next batch: so after a crash, at most the
//! one batch a sink was writing is sent again. It is written whole to a
//! temporary file renamed over the old one, so a crash leaves the old or the
//! new file, never a torn one. Renames survive a process crash as soon as they
//! return; `fsync`, which only matters if the node loses power, is
//! rate-limited to once a second and done for certain at shutdown.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::identity::{FileId, Fingerprint};
use crate::internal_events::{CheckpointWriteFailed, CheckpointWritten};

const FILE_NAME: &str = "checkpoints.json";
const FORMAT_VERSION: u32 = 1;
const FSYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Where one file is to be resumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub id: FileId,
    pub fingerprint: Fingerprint,
    /// The first byte not yet delivered to every sink.
    pub offset: u64,
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    files: Vec<Checkpoint>,
}

/// The checkpoint file in the data directory.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    /// Opens (creating the directory if needed) and loads the checkpoints.
    pub fn open(data_dir: &Path) -> io::Result<(CheckpointStore, Vec<Checkpoint>)> {
        fs::create_dir_all(data_dir)?;
        let store = CheckpointStore {
            path: data_dir.join(FILE_NAME),
        };
        let checkpoints = match fs::read(&store.path) {
            Ok(bytes) => match serde_json::from_slice::<CheckpointFile>(&bytes) {
                Ok(file) if file.version == FORMAT_VERSION => file.files,
                Ok(file) => {
                    tracing::warn!(path = %store.path.display(), version = file.version,
                        "checkpoint file has an unknown version; reading every file from its start");
                    Vec::new()
                }
                Err(error) => {
                    // Failing closed here means reading again (duplicates),
                    // never skipping: the offsets are unknown.
                    tracing::warn!(path = %store.path.display(), %error,
                        "checkpoint file is unreadable; reading every file from its start");
                    Vec::new()
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok((store, checkpoints))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, files: Vec<Checkpoint>, sync: bool) -> io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(&CheckpointFile {
            version: FORMAT_VERSION,
            files,
        })
        .map_err(io::Error::other)?;
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        if sync {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&tmp, &self.path)?;
        if sync {
            if let Some(dir) = self.path.parent() {
                fs::File::open(dir)?.sync_all()?;
            }
        }
        Ok(())
    }
}

/// Names one followed file for as long as its content is the same stream of
/// bytes. A truncated file gets a new key: batches of its old content no
/// longer move its checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackKey(pub u64);

/// What the checkpointer is told.
#[derive(Debug)]
pub enum CheckpointEvent {
    /// A file is followed from `offset`.
    Track {
        key: TrackKey,
        checkpoint: Checkpoint,
    },
    /// The file's fingerprint grew (it was shorter than a full head).
    Fingerprint {
        key: TrackKey,
        fingerprint: Fingerprint,
    },
    /// A batch left; once delivered, the file may resume at `offset`.
    Sent {
        key: TrackKey,
        seq: u64,
        offset: u64,
    },
    /// Every sink acknowledged batch `seq`.
    Delivered { key: TrackKey, seq: u64 },
    /// The file is finished (deleted or rotated away, read to its end): drop
    /// its checkpoint once every batch sent is delivered.
    Release { key: TrackKey },
    /// The file's old content is gone (truncated): drop its checkpoint now.
    Forget { key: TrackKey },
}

struct Tracked {
    checkpoint: Checkpoint,
    /// Batches sent and not yet committed, in sending order: (seq, offset, delivered).
    in_flight: BTreeMap<u64, (u64, bool)>,
    /// The resume offset of the last batch sent.
    sent_offset: u64,
    releasing: bool,
}

/// The checkpoint state, shared by the tailer and the sinks' acknowledgements.
#[derive(Clone)]
pub struct Checkpointer {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    store: CheckpointStore,
    tracked: HashMap<TrackKey, Tracked>,
    dirty: bool,
    last_sync: Instant,
}

impl Checkpointer {
    pub fn new(store: CheckpointStore) -> Self {
        Checkpointer {
            inner: Arc::new(Mutex::new(Inner {
                store,
                tracked: HashMap::new(),
                dirty: false,
                last_sync: Instant::now(),
            })),
        }
    }

    /// Applies an event; a delivery or a release is persisted before this returns.
    pub fn record(&self, event: CheckpointEvent) {
        let persist_now = matches!(
            event,
            CheckpointEvent::Delivered { .. }
                | CheckpointEvent::Release { .. }
                | CheckpointEvent::Forget { .. }
        );
        let mut inner = self.lock();
        let changed = apply(&mut inner.tracked, event);
        inner.dirty |= changed;
        if persist_now && inner.dirty {
            let sync = inner.last_sync.elapsed() >= FSYNC_INTERVAL;
            inner.persist(sync);
        }
    }

    /// Writes and syncs the final state (at shutdown, once the sinks are done).
    pub fn finish(&self) {
        self.lock().persist(true);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent maps
        // (each event is applied whole or not at all): keep going.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn persist(&mut self, sync: bool) {
        let mut files: Vec<Checkpoint> = self
            .tracked
            .values()
            .map(|t| t.checkpoint.clone())
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let lag_bytes = self
            .tracked
            .values()
            .map(|t| t.sent_offset.saturating_sub(t.checkpoint.offset))
            .sum();
        match self.store.write(files, sync) {
            Ok(()) => {
                self.dirty = false;
                if sync {
                    self.last_sync = Instant::now();
                }
                CheckpointWritten { lag_bytes }.emit();
            }
            Err(error) => CheckpointWriteFailed {
                path: self.store.path(),
                error: &error,
            }
            .emit(),
        }
    }
}

/// Applies one event; returns whether the checkpoint file must be rewritten.
fn apply(tracked: &mut HashMap<TrackKey, Tracked>, event: CheckpointEvent) -> bool {
    match event {
        CheckpointEvent::Track { key, checkpoint } => {
            let sent_offset = checkpoint.offset;
            tracked.insert(
                key,
                Tracked {
                    checkpoint,
                    in_flight: BTreeMap::new(),
                    sent_offset,
                    releasing: false,
                },
            );
            true
        }
        CheckpointEvent::Fingerprint { key, fingerprint } => match tracked.get_mut(&key) {
            Some(t) => {
                t.checkpoint.fingerprint = fingerprint;
                true
            }
            None => false,
        },
        CheckpointEvent::Sent { key, seq, offset } => {
            if let Some(t) = tracked.get_mut(&key) {
                t.in_flight.insert(seq, (offset, false));
                t.sent_offset = offset;
            }
            false
        }
        CheckpointEvent::Delivered { key, seq } => {
            let Some(t) = tracked.get_mut(&key) else {
                return false;
            };
            if let Some(entry) = t.in_flight.get_mut(&seq) {
                entry.1 = true;
            }
            let mut advanced = false;
            while let Some(entry) = t.in_flight.first_entry() {
                let (offset, delivered) = *entry.get();
                if !delivered {
                    break;
                }
                entry.remove();
                t.checkpoint.offset = offset;
                advanced = true;
            }
            if t.releasing && t.in_flight.is_empty() {
                tracked.remove(&key);
                return true;
            }
            advanced
        }
        CheckpointEvent::Release { key } => match tracked.get_mut(&key) {
            Some(t) if t.in_flight.is_empty() => {
                tracked.remove(&key);
                true
            }
            Some(t) => {
                t.releasing = true;
                false
            }
            None => false,
        },
        CheckpointEvent::Forget { key } => tracked.remove(&key).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(offset: u64) -> Checkpoint {
        Checkpoint {
            path: PathBuf::from("/var/log/pods/ns_pod_uid/c/0.log"),
            id: FileId { dev: 1, ino: 2 },
            fingerprint: Fingerprint { len: 10, hash: 3 },
            offset,
        }
    }

    const KEY: TrackKey = TrackKey(1);

    /// One file followed from offset 0, with batches sent at `offsets`.
    fn sent(offsets: &[u64]) -> HashMap<TrackKey, Tracked> {
        let mut tracked = HashMap::new();
        let track = CheckpointEvent::Track {
            key: KEY,
            checkpoint: checkpoint(0),
        };
        apply(&mut tracked, track);
        for (seq, &offset) in offsets.iter().enumerate() {
            let seq = seq as u64;
            apply(
                &mut tracked,
                CheckpointEvent::Sent {
                    key: KEY,
                    seq,
                    offset,
                },
            );
        }
        tracked
    }

    fn deliver(tracked: &mut HashMap<TrackKey, Tracked>, seq: u64) -> bool {
        apply(tracked, CheckpointEvent::Delivered { key: KEY, seq })
    }

    fn offset_of(tracked: &HashMap<TrackKey, Tracked>) -> Option<u64> {
        tracked.get(&KEY).map(|t| t.checkpoint.offset)
    }

    #[test]
    fn advances_only_through_a_run_of_delivered_batches() {
        let mut tracked = sent(&[100, 200, 300]);
        assert!(!deliver(&mut tracked, 1));
        assert_eq!(offset_of(&tracked), Some(0), "batch 0 is not delivered yet");
        assert!(deliver(&mut tracked, 0));
        assert_eq!(offset_of(&tracked), Some(200));
        deliver(&mut tracked, 2);
        assert_eq!(offset_of(&tracked), Some(300));
    }

    #[test]
    fn an_undelivered_batch_holds_the_checkpoint_back() {
        let mut tracked = sent(&[100, 200]);
        deliver(&mut tracked, 1);
        assert_eq!(offset_of(&tracked), Some(0));
    }

    #[test]
    fn release_waits_for_batches_in_flight() {
        let mut tracked = sent(&[100]);
        apply(&mut tracked, CheckpointEvent::Release { key: KEY });
        assert!(tracked.contains_key(&KEY));
        deliver(&mut tracked, 0);
        assert!(!tracked.contains_key(&KEY));
    }

    #[test]
    fn forgotten_file_ignores_late_deliveries() {
        let mut tracked = sent(&[100]);
        apply(&mut tracked, CheckpointEvent::Forget { key: KEY });
        assert!(!deliver(&mut tracked, 0));
        assert!(tracked.is_empty());
    }

    #[test]
    fn store_round_trips_and_survives_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let (store, loaded) = CheckpointStore::open(dir.path()).unwrap();
        assert!(loaded.is_empty());
        store.write(vec![checkpoint(42)], true).unwrap();
        let (_, loaded) = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(loaded, vec![checkpoint(42)]);
        fs::write(store.path(), b"{not json").unwrap();
        let (_, loaded) = CheckpointStore::open(dir.path()).unwrap();
        assert!(loaded.is_empty());
    }

    #[test]
    fn a_delivery_is_on_disk_when_the_acknowledgement_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = CheckpointStore::open(dir.path()).unwrap();
        let checkpointer = Checkpointer::new(store);
        let key = KEY;
        checkpointer.record(CheckpointEvent::Track {
            key,
            checkpoint: checkpoint(0),
        });
        checkpointer.record(CheckpointEvent::Sent {
            key,
            seq: 0,
            offset: 77,
        });
        checkpointer.record(CheckpointEvent::Delivered { key, seq: 0 });
        let (_, loaded) = CheckpointStore::open(dir.path()).unwrap();
        assert_eq!(loaded[0].offset, 77);
        checkpointer.record(CheckpointEvent::Release { key });
        checkpointer.finish();
        let (_, loaded) = CheckpointStore::open(dir.path()).unwrap();
        assert!(loaded.is_empty());
    }
}
