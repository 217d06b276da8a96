//! Following files: reading, cutting lines, rotation, and sending batches.
//!
//! One thread follows every file. Reading is plain blocking I/O (regular files
//! are always "ready", so async buys nothing), and sending a batch blocks when
//! the pipeline is full: log files are the first buffer, the agent reads later
//! rather than drop anything.
//!
//! Rotation:
//! - by rename: the file keeps its inode. If the new name still matches a glob
//!   it is simply followed under that name; otherwise it is read to its end and
//!   released once it has stopped growing for [`ROTATED_RELEASE_AFTER`].
//! - by copytruncate: the file shrinks below the read offset (or its first
//!   bytes change), and is read again from the start. Lines written after the
//!   last read and before the truncation survive only in the copy; when the
//!   copy is matched by a glob, it is recognised by its first bytes (same
//!   directory, name starting with the original's stem) and read from the
//!   offset the original had reached, so no line is lost and none is repeated
//!   beyond the last batch.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::Sender;

use super::assemble::{AssembledLine, Assembler, AssemblerConfig};
use super::checkpoint::{Checkpoint, CheckpointEvent, Checkpointer, TrackKey};
use super::discover::{Candidate, Globs};
use super::identity::{FileId, Head};
use super::record::build_record;
use super::{LogBatch, LogSourceSettings};
use crate::config::ReadFrom;
use crate::delivery::Delivery;
use crate::enrich::Enricher;
use crate::event::{LogRecord, Resource};
use crate::internal_events::{
    FileReadFailed, FileReleased, FileRotated, FileTruncated, FileWatchStarted, LinesRead,
    RecordsAssembled,
};

/// How long a file whose path is gone (deleted, or renamed out of the globs)
/// is still read after it last grew: writers reopen their file shortly after
/// a rotation, and may write a few more lines to the old one until then.
const ROTATED_RELEASE_AFTER: Duration = Duration::from_secs(5);
/// How much one file may be read before the others get a turn.
const READ_TURN_BYTES: usize = 4 << 20;
const READ_CHUNK_BYTES: usize = 64 << 10;
/// A physical line may be longer than the record cap by the format's framing
/// (Docker's JSON escaping, CRI's prefix) before it is cut.
const FRAMING_HEADROOM: usize = 64 << 10;
/// How long the content of a truncated file is remembered, to recognise its copy.
const FORMER_CONTENT_TTL: Duration = Duration::from_secs(60);

pub(super) struct Tailer {
    settings: LogSourceSettings,
    globs: Globs,
    enricher: Enricher,
    out: Sender<LogBatch>,
    checkpoints: Checkpointer,
    shutdown: Arc<AtomicBool>,
    files: HashMap<FileId, TailedFile>,
    /// Checkpoints loaded at start, until the first discovery claims them.
    saved: Vec<Checkpoint>,
    /// Contents of files that were truncated, to recognise their copies.
    formers: Vec<FormerContent>,
    /// Paths that failed to open, so the failure is reported once.
    unreadable: HashSet<PathBuf>,
    next_key: u64,
    first_round: bool,
}

struct FormerContent {
    dir: PathBuf,
    stem: String,
    head: Head,
    resume_offset: u64,
    at: Instant,
}

struct TailedFile {
    key: TrackKey,
    path: PathBuf,
    file: File,
    id: FileId,
    head: Head,
    resource: Arc<Resource>,
    assembler: Assembler,
    /// Bytes read but not yet cut into lines; `buf[0]` is at `buf_start`.
    buf: Vec<u8>,
    buf_start: u64,
    /// The next byte to read.
    read_offset: u64,
    /// Set while skipping the rest of an over-long physical line: its start.
    skipping: Option<u64>,
    seq: u64,
    last_sent_offset: u64,
    /// When the path stopped naming this file.
    gone_since: Option<Instant>,
    last_growth: Instant,
    /// A copy identified while still being written may be shorter than the
    /// offset it resumes at; it is not "truncated" until it has reached it.
    resume_floor: Option<u64>,
    last_verified: Instant,
}

impl TailedFile {
    /// Where reading must resume after a crash: nothing before it is still
    /// held back, nothing after it has been sent.
    fn resume_offset(&self) -> u64 {
        let unsplit = self.skipping.unwrap_or(self.buf_start);
        self.assembler
            .pending_offset()
            .map_or(unsplit, |pending| pending.min(unsplit))
    }

    fn stem(&self) -> String {
        file_stem(&self.path)
    }
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether `copy` may be a rotated copy of a file with `stem` in `dir`.
fn may_be_copy_of(copy: &Path, dir: &Path, stem: &str) -> bool {
    copy.parent() == Some(dir)
        && copy
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with(stem))
}

/// What one read turn of a file produced.
#[derive(Default)]
struct Turn {
    records: Vec<LogRecord>,
    truncated: u64,
    invalid_utf8: u64,
    malformed: u64,
}

impl Tailer {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        settings: LogSourceSettings,
        enricher: Enricher,
        saved: Vec<Checkpoint>,
        out: Sender<LogBatch>,
        checkpoints: Checkpointer,
        shutdown: Arc<AtomicBool>,
    ) -> Self {
        let globs = Globs::new(settings.include.clone(), settings.exclude.clone());
        Tailer {
            settings,
            globs,
            enricher,
            out,
            checkpoints,
            shutdown,
            files: HashMap::new(),
            saved,
            formers: Vec::new(),
            unreadable: HashSet::new(),
            next_key: 0,
            first_round: true,
        }
    }

    /// Follows files until shutdown is requested or the pipeline is gone.
    pub(super) fn run(mut self) {
        let mut next_discovery = Instant::now();
        let mut next_housekeeping = Instant::now();
        while !self.shutdown.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= next_discovery {
                self.discover();
                next_discovery = now + self.settings.glob_interval;
            }
            let mut progressed = false;
            let ids: Vec<FileId> = self.files.keys().copied().collect();
            for id in &ids {
                match self.read_turn(*id) {
                    Ok(read_any) => progressed |= read_any,
                    Err(PipelineGone) => return,
                }
            }
            if Instant::now() >= next_housekeeping {
                let rotated = match self.housekeeping() {
                    Ok(rotated) => rotated,
                    Err(PipelineGone) => return,
                };
                if rotated {
                    // The rotated file's successor is wanted promptly.
                    next_discovery = Instant::now();
                }
                next_housekeeping = Instant::now() + self.settings.poll_interval;
            }
            if !progressed {
                self.idle(self.settings.poll_interval);
            }
        }
    }

    fn idle(&self, period: Duration) {
        let deadline = Instant::now() + period;
        while !self.shutdown.load(Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }

    fn discover(&mut self) {
        let now = Instant::now();
        self.formers
            .retain(|f| now.duration_since(f.at) < FORMER_CONTENT_TTL);
        for candidate in self.globs.expand() {
            if let Some(tailed) = self.files.get_mut(&candidate.id) {
                // Same file, maybe renamed to a name the globs still match.
                if tailed.path != candidate.path {
                    tailed.path = candidate.path;
                }
                tailed.gone_since = None;
                continue;
            }
            // A copy being made starts empty; decide what it is once it has
            // bytes. An empty file has nothing to read anyway.
            if candidate.metadata.len() == 0 {
                continue;
            }
            self.start_following(candidate);
        }
        if self.first_round {
            self.first_round = false;
            // Unclaimed checkpoints name files that no longer exist.
            self.saved.clear();
        }
    }

    fn start_following(&mut self, candidate: Candidate) {
        let Candidate { path, metadata, id } = candidate;
        let opened = File::open(&path).and_then(|file| Ok((Head::read(&file)?, file)));
        let (head, mut file) = match opened {
            Ok(opened) => opened,
            Err(error) => return self.unreadable(path, &error),
        };
        let size = metadata.len();
        let (offset, resumed) = self.start_offset(&path, id, &file, &head, size);
        let floor = (offset > size).then_some(offset);
        if let Err(error) = file.seek(SeekFrom::Start(offset)) {
            return self.unreadable(path, &error);
        }
        self.unreadable.remove(&path);
        let key = self.new_key();
        let fingerprint = head.fingerprint();
        self.checkpoints.record(CheckpointEvent::Track {
            key,
            checkpoint: Checkpoint {
                path: path.clone(),
                id,
                fingerprint,
                offset,
            },
        });
        FileWatchStarted {
            path: &path,
            offset,
            resumed,
        }
        .emit();
        let resource = Arc::new(self.enricher.resource_for(&path));
        let now = Instant::now();
        self.files.insert(
            id,
            TailedFile {
                key,
                path,
                file,
                id,
                head,
                resource,
                assembler: Assembler::new(self.assembler_config()),
                buf: Vec::new(),
                buf_start: offset,
                read_offset: offset,
                skipping: None,
                seq: 0,
                last_sent_offset: offset,
                gone_since: None,
                last_growth: now,
                resume_floor: floor,
                last_verified: now,
            },
        );
    }

    /// Reports a file that cannot be opened, once until it can be again:
    /// discovery finds it anew every round.
    fn unreadable(&mut self, path: PathBuf, error: &io::Error) {
        if !self.unreadable.contains(&path) {
            FileReadFailed { path: &path, error }.emit();
            self.unreadable.insert(path);
        }
    }

    /// Where a newly found file starts, and whether that is a resumption.
    fn start_offset(
        &mut self,
        path: &Path,
        id: FileId,
        file: &File,
        head: &Head,
        size: u64,
    ) -> (u64, bool) {
        // 1. Its own checkpoint: same inode, same first bytes.
        if let Some(i) = self
            .saved
            .iter()
            .position(|c| c.id == id && c.fingerprint.matches(file).unwrap_or(false))
        {
            let saved = self.saved.swap_remove(i);
            // Shorter than the checkpoint: truncated while we were away.
            let offset = if saved.offset <= size {
                saved.offset
            } else {
                0
            };
            return (offset, true);
        }
        // 2. A copy of a checkpointed file made while we were away.
        if head.is_complete() {
            let fingerprint = head.fingerprint();
            if let Some(i) = self.saved.iter().position(|c| {
                c.fingerprint == fingerprint
                    && may_be_copy_of(
                        path,
                        c.path.parent().unwrap_or(Path::new("/")),
                        &file_stem(&c.path),
                    )
            }) {
                let saved = self.saved.swap_remove(i);
                return (saved.offset, true);
            }
        }
        // 3. The copy of a file we saw truncated.
        if let Some(i) = self
            .formers
            .iter()
            .position(|f| may_be_copy_of(path, &f.dir, &f.stem) && f.head.agrees_with(head))
        {
            let former = self.formers.swap_remove(i);
            return (former.resume_offset, true);
        }
        // 4. A copy of a file we follow, still being made (before the truncation).
        if let Some(original) = self.files.values().find(|f| {
            f.id != id
                && may_be_copy_of(path, f.path.parent().unwrap_or(Path::new("/")), &f.stem())
                && f.head.agrees_with(head)
        }) {
            return (original.resume_offset(), true);
        }
        match self.settings.read_from {
            // `end` is about files present at start; a file created later is
            // a new container's log, read whole.
            ReadFrom::End if self.first_round => (size, false),
            _ => (0, false),
        }
    }

    fn new_key(&mut self) -> TrackKey {
        self.next_key += 1;
        TrackKey(self.next_key)
    }

    fn assembler_config(&self) -> AssemblerConfig {
        AssemblerConfig {
            max_record_bytes: self.settings.max_record_bytes,
            multiline: self.settings.multiline.clone(),
            multiline_timeout: self.settings.multiline_timeout,
        }
    }

    /// Reads what a file has, up to its turn's budget, and sends the records.
    /// Returns whether anything was read.
    fn read_turn(&mut self, id: FileId) -> Result<bool, PipelineGone> {
        let cap = self.settings.max_record_bytes + FRAMING_HEADROOM;
        let batch_max = self.settings.batch_max_records;
        let Some(tailed) = self.files.get_mut(&id) else {
            return Ok(false);
        };
        let mut turn = Turn::default();
        let mut assembled = Vec::new();
        let mut read_bytes = 0usize;
        let mut lines = 0u64;
        let mut sends = Vec::new();
        while read_bytes < READ_TURN_BYTES {
            let old_len = tailed.buf.len();
            tailed.buf.resize(old_len + READ_CHUNK_BYTES, 0);
            let n = match tailed.file.read(&mut tailed.buf[old_len..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(error) => {
                    tailed.buf.truncate(old_len);
                    FileReadFailed {
                        path: &tailed.path,
                        error: &error,
                    }
                    .emit();
                    break;
                }
            };
            tailed.buf.truncate(old_len + n);
            if n == 0 {
                break;
            }
            read_bytes += n;
            tailed.read_offset += n as u64;
            lines += cut_lines(tailed, cap, &mut assembled);
            // A batch is the unit of duplication after a crash, so it is cut
            // at its configured size even mid-chunk. It may then resume only
            // where the earliest record not yet in a batch starts (records
            // of interleaved streams complete out of file order).
            let mut resume_after = vec![tailed.resume_offset(); assembled.len()];
            for i in (0..assembled.len().saturating_sub(1)).rev() {
                resume_after[i] = resume_after[i + 1].min(assembled[i + 1].start_offset);
            }
            for (line, resume_offset) in assembled.drain(..).zip(resume_after) {
                collect(&mut turn, line, &tailed.resource);
                if turn.records.len() >= batch_max {
                    sends.push((std::mem::take(&mut turn), resume_offset));
                }
            }
        }
        if read_bytes > 0 {
            tailed.last_growth = Instant::now();
            LinesRead {
                lines,
                bytes: read_bytes as u64,
            }
            .emit();
        }
        tailed
            .assembler
            .flush_expired(Instant::now(), &mut assembled);
        for line in assembled.drain(..) {
            collect(&mut turn, line, &tailed.resource);
        }
        sends.push((turn, tailed.resume_offset()));
        for (turn, offset) in sends {
            self.send(id, turn, offset)?;
        }
        Ok(read_bytes > 0)
    }

    /// Sends a batch (or, with no records, just lets the checkpoint advance).
    fn send(&mut self, id: FileId, turn: Turn, offset: u64) -> Result<(), PipelineGone> {
        let Some(tailed) = self.files.get_mut(&id) else {
            return Ok(());
        };
        if turn.records.is_empty() && offset == tailed.last_sent_offset {
            return Ok(());
        }
        let key = tailed.key;
        let seq = tailed.seq;
        tailed.seq += 1;
        tailed.last_sent_offset = offset;
        self.checkpoints
            .record(CheckpointEvent::Sent { key, seq, offset });
        let checkpoints = self.checkpoints.clone();
        let delivery = Delivery::new(move || {
            checkpoints.record(CheckpointEvent::Delivered { key, seq });
        });
        if turn.records.is_empty() {
            delivery.acknowledge();
            return Ok(());
        }
        RecordsAssembled {
            records: turn.records.len() as u64,
            truncated: turn.truncated,
            invalid_utf8: turn.invalid_utf8,
            malformed: turn.malformed,
        }
        .emit();
        self.out
            .blocking_send(LogBatch {
                records: turn.records,
                delivery,
            })
            .map_err(|_| PipelineGone)
    }

    /// Checks every file for rotation, truncation and deletion. Returns
    /// whether a file was seen rotated away.
    fn housekeeping(&mut self) -> Result<bool, PipelineGone> {
        let now = Instant::now();
        let verify_every = self.settings.glob_interval;
        let mut rotated = false;
        let mut truncated = Vec::new();
        let mut released = Vec::new();
        for tailed in self.files.values_mut() {
            match std::fs::metadata(&tailed.path) {
                Ok(meta) if FileId::of(&meta) == tailed.id => {
                    let size = meta.len();
                    if let Some(floor) = tailed.resume_floor {
                        if size >= floor {
                            tailed.resume_floor = None;
                        }
                        continue;
                    }
                    if size < tailed.read_offset {
                        truncated.push((tailed.id, size));
                        continue;
                    }
                    if !tailed.head.is_complete() && size > tailed.head.len() as u64 {
                        if let Ok(head) = Head::read(&tailed.file) {
                            if tailed.head.agrees_with(&head) || tailed.head.is_empty() {
                                self.checkpoints.record(CheckpointEvent::Fingerprint {
                                    key: tailed.key,
                                    fingerprint: head.fingerprint(),
                                });
                                tailed.head = head;
                            } else {
                                truncated.push((tailed.id, size));
                                continue;
                            }
                        }
                    }
                    if tailed.head.is_complete()
                        && now.duration_since(tailed.last_verified) >= verify_every
                    {
                        tailed.last_verified = now;
                        // Same size or larger, other first bytes: truncated and
                        // rewritten past our offset between two looks.
                        if !tailed
                            .head
                            .fingerprint()
                            .matches(&tailed.file)
                            .unwrap_or(true)
                        {
                            truncated.push((tailed.id, size));
                        }
                    }
                }
                _ => {
                    if tailed.gone_since.is_none() {
                        tailed.gone_since = Some(now);
                        rotated = true;
                        FileRotated { path: &tailed.path }.emit();
                    }
                    let quiet = now.duration_since(tailed.last_growth);
                    if quiet >= ROTATED_RELEASE_AFTER {
                        released.push(tailed.id);
                    }
                }
            }
        }
        for (id, size) in truncated {
            self.restart_truncated(id, size);
        }
        for id in released {
            self.release(id)?;
        }
        Ok(rotated)
    }

    fn restart_truncated(&mut self, id: FileId, size: u64) {
        let key = self.new_key();
        let Some(tailed) = self.files.get_mut(&id) else {
            return;
        };
        FileTruncated {
            path: &tailed.path,
            offset: tailed.read_offset,
            size,
        }
        .emit();
        self.formers.push(FormerContent {
            dir: tailed.path.parent().unwrap_or(Path::new("/")).to_path_buf(),
            stem: tailed.stem(),
            head: std::mem::take(&mut tailed.head),
            resume_offset: tailed.resume_offset(),
            at: Instant::now(),
        });
        self.checkpoints
            .record(CheckpointEvent::Forget { key: tailed.key });
        // Whatever was held back belongs to the old content, which the copy
        // (if any) still has.
        tailed.assembler.reset();
        tailed.buf.clear();
        tailed.skipping = None;
        tailed.buf_start = 0;
        tailed.read_offset = 0;
        tailed.seq = 0;
        tailed.last_sent_offset = 0;
        tailed.key = key;
        if let Err(error) = tailed.file.seek(SeekFrom::Start(0)) {
            FileReadFailed {
                path: &tailed.path,
                error: &error,
            }
            .emit();
        }
        tailed.head = Head::read(&tailed.file).unwrap_or_default();
        self.checkpoints.record(CheckpointEvent::Track {
            key,
            checkpoint: Checkpoint {
                path: tailed.path.clone(),
                id,
                fingerprint: tailed.head.fingerprint(),
                offset: 0,
            },
        });
    }

    /// The file is gone and read to its end: send what it still holds.
    fn release(&mut self, id: FileId) -> Result<(), PipelineGone> {
        // One more read: it may have grown since the last turn.
        self.read_turn(id)?;
        let Some(tailed) = self.files.get_mut(&id) else {
            return Ok(());
        };
        let mut turn = Turn::default();
        let mut assembled = Vec::new();
        // A last line without its newline is a line all the same now.
        if tailed.skipping.is_none() && !tailed.buf.is_empty() {
            let rest = std::mem::take(&mut tailed.buf);
            tailed.assembler.push(
                &rest,
                tailed.buf_start,
                false,
                Instant::now(),
                &mut assembled,
            );
            tailed.buf_start += rest.len() as u64;
        }
        tailed.skipping = None;
        tailed.buf.clear();
        tailed.assembler.flush_all(&mut assembled);
        tailed.buf_start = tailed.read_offset;
        for line in assembled.drain(..) {
            collect(&mut turn, line, &tailed.resource);
        }
        let offset = tailed.read_offset;
        self.send(id, turn, offset)?;
        if let Some(tailed) = self.files.remove(&id) {
            self.checkpoints
                .record(CheckpointEvent::Release { key: tailed.key });
            FileReleased {
                path: &tailed.path,
                offset: tailed.read_offset,
            }
            .emit();
        }
        Ok(())
    }
}

/// The pipeline behind the source has stopped: nothing more can be sent.
struct PipelineGone;

fn collect(turn: &mut Turn, line: AssembledLine, resource: &Arc<Resource>) {
    let built = build_record(line, resource);
    turn.truncated += u64::from(built.record.truncated);
    turn.invalid_utf8 += u64::from(built.invalid_utf8);
    turn.malformed += u64::from(built.malformed);
    turn.records.push(built.record);
}

/// Cuts the complete lines out of the file's buffer and hands them to its
/// assembler. A line longer than `cap` is cut: its first `cap` bytes are
/// passed on marked as cut, the rest is skipped up to the next newline, so a
/// runaway line costs bounded memory. Returns the number of lines.
fn cut_lines(tailed: &mut TailedFile, cap: usize, out: &mut Vec<AssembledLine>) -> u64 {
    let now = Instant::now();
    let mut start = 0usize;
    let mut lines = 0u64;
    for newline in memchr::memchr_iter(b'\n', &tailed.buf) {
        lines += 1;
        let offset = tailed.buf_start + start as u64;
        if tailed.skipping.take().is_none() {
            tailed
                .assembler
                .push(&tailed.buf[start..newline], offset, false, now, out);
        }
        start = newline + 1;
    }
    let rest = tailed.buf.len() - start;
    if tailed.skipping.is_some() {
        start = tailed.buf.len();
    } else if rest > cap {
        let offset = tailed.buf_start + start as u64;
        tailed
            .assembler
            .push(&tailed.buf[start..start + cap], offset, true, now, out);
        tailed.skipping = Some(offset);
        start = tailed.buf.len();
    }
    tailed.buf.drain(..start);
    tailed.buf_start += start as u64;
    lines
}
