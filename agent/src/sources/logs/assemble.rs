//! Record assembly: from a file's physical lines to its log records.
//!
//! Stages, in order, for each physical line the reader pushes:
//!
//! 1. decode with the file's [`Format`], detected from its first non-empty
//!    line and then fixed;
//! 2. partial-line join: a runtime cuts long lines into parts (Docker at
//!    16 KiB, CRI `P` parts); parts are joined back into one logical line;
//! 3. multiline fold: continuation lines (stack frames) join the record
//!    before them, per the [`MultilineRule`];
//! 4. cap: a record keeps at most `max_record_bytes` bytes and is marked
//!    truncated; its remaining parts are still consumed, and dropped.
//!
//! Stages 2 and 3 keep separate state per stream, because a runtime
//! interleaves a container's stdout and stderr in one file: a stderr line may
//! sit between two parts of a stdout line.
//!
//! Nothing here does I/O or keeps time itself: the reader passes `now`, so
//! tests drive the clock.

mod draft;
mod java;
mod multiline;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use self::draft::Draft;
pub use self::multiline::MultilineRule;
use super::format::{self, Format};
use crate::event::Stream;

/// How records are assembled from lines.
#[derive(Clone, Debug)]
pub struct AssemblerConfig {
    /// Largest record in bytes; the rest is cut and the record marked truncated.
    pub max_record_bytes: usize,
    /// How continuation lines are recognised; `None` sends every logical line
    /// as its own record, without waiting.
    pub multiline: Option<MultilineRule>,
    /// How long a held record (pending multiline, or a partial line whose
    /// last part has not been written) waits before [`Assembler::flush_expired`]
    /// sends it as it is, counted from its first line.
    pub multiline_timeout: Duration,
}

impl Default for AssemblerConfig {
    /// The defaults of the `logs` configuration: 1 MiB, Java stack traces, 1 s.
    fn default() -> Self {
        AssemblerConfig {
            max_record_bytes: 1024 * 1024,
            multiline: Some(MultilineRule::JavaStackTrace),
            multiline_timeout: Duration::from_secs(1),
        }
    }
}

/// One assembled record, not yet decoded as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssembledLine {
    /// File offset of the first byte of the first physical line in this record.
    pub start_offset: u64,
    /// The first fragment's timestamp.
    pub timestamp: Option<DateTime<Utc>>,
    /// The first fragment's stream.
    pub stream: Option<Stream>,
    /// Joined content; continuation lines joined with `\n`.
    pub bytes: Vec<u8>,
    /// Cut at `max_record_bytes`, or the reader cut one of its physical lines.
    pub truncated: bool,
    /// Some physical line did not follow the file's format.
    pub malformed: bool,
}

/// Assembles the records of one file. One per file being read.
///
/// Records come out in the order they complete, which is not always offset
/// order (a stderr record may complete after a later stdout one). Checkpoints
/// must therefore never pass [`Assembler::pending_offset`].
pub struct Assembler {
    config: AssemblerConfig,
    format: Option<Format>,
    streams: [StreamState; 3],
}

/// What one stream of a file holds between lines.
#[derive(Default)]
struct StreamState {
    /// The parts of a logical line whose last part is not read yet.
    partial: Option<Draft>,
    /// A complete record that continuation lines may still join.
    pending: Option<Draft>,
}

impl Assembler {
    pub fn new(config: AssemblerConfig) -> Self {
        Assembler {
            config,
            format: None,
            streams: Default::default(),
        }
    }

    /// The file's format, once a non-empty line has been pushed.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// One physical line, without its `\n`. `offset` is the file offset of
    /// its first byte; `cut` says the reader cut it at the record cap.
    /// Completed records are appended to `out`.
    pub fn push(
        &mut self,
        line: &[u8],
        offset: u64,
        cut: bool,
        now: Instant,
        out: &mut Vec<AssembledLine>,
    ) {
        let format = self.format_for(line);
        let fragment = format::decode(format, line);
        let cap = self.config.max_record_bytes;
        let more_parts = fragment.partial;
        let state = &mut self.streams[stream_slot(fragment.stream)];
        // A malformed line is not a part of anything, even in the slot it
        // shares with entries whose stream is unknown.
        let held = if fragment.malformed {
            None
        } else {
            state.partial.take()
        };
        let draft = match held {
            Some(mut draft) => {
                draft.join_part(&fragment, cut, cap);
                draft
            }
            None => Draft::start(fragment, offset, cut, now, cap),
        };
        if more_parts {
            state.partial = Some(draft);
        } else {
            fold(&self.config, state, draft, out);
        }
    }

    /// Sends what has been held for longer than the timeout: pending
    /// multiline records, and partial lines whose last part never came (CRI-O
    /// writes a `P` part for output without a newline, a prompt for example).
    ///
    /// Call it when the reader has reached the end of the file, not between
    /// two reads of a backlog: lines already on disk would otherwise be
    /// split from their record just because reading them was slow.
    pub fn flush_expired(&mut self, now: Instant, out: &mut Vec<AssembledLine>) {
        let first = out.len();
        let timeout = self.config.multiline_timeout;
        let expired = |draft: &mut Draft| now.saturating_duration_since(draft.started) >= timeout;
        for state in &mut self.streams {
            if let Some(line) = state.partial.take_if(expired) {
                fold(&self.config, state, line, out);
            }
            if let Some(record) = state.pending.take_if(expired) {
                emit(record, out);
            }
        }
        out[first..].sort_by_key(|line| line.start_offset);
    }

    /// Sends everything held: the file is finished (rotated away, deleted,
    /// or the agent is shutting down).
    pub fn flush_all(&mut self, out: &mut Vec<AssembledLine>) {
        let first = out.len();
        for state in &mut self.streams {
            if let Some(line) = state.partial.take() {
                fold(&self.config, state, line, out);
            }
            if let Some(record) = state.pending.take() {
                emit(record, out);
            }
        }
        out[first..].sort_by_key(|line| line.start_offset);
    }

    /// The smallest start offset of anything still held; a checkpoint must
    /// not pass it, or a restart would lose the held lines.
    pub fn pending_offset(&self) -> Option<u64> {
        self.streams
            .iter()
            .flat_map(|state| [&state.partial, &state.pending])
            .flatten()
            .map(|draft| draft.line.start_offset)
            .min()
    }

    /// The file was truncated: drop everything held and detect the format
    /// again, since the file may now be written by something else.
    pub fn reset(&mut self) {
        self.format = None;
        self.streams = Default::default();
    }

    fn format_for(&mut self, line: &[u8]) -> Format {
        if let Some(format) = self.format {
            return format;
        }
        // A blank line says nothing about the format; it becomes an empty
        // record, which is dropped.
        if line.trim_ascii().is_empty() {
            return Format::Plain;
        }
        let format = Format::detect(line);
        self.format = Some(format);
        format
    }
}

fn stream_slot(stream: Option<Stream>) -> usize {
    match stream {
        Some(Stream::Stdout) => 0,
        Some(Stream::Stderr) => 1,
        None => 2,
    }
}

/// A complete logical line enters the multiline stage.
fn fold(
    config: &AssemblerConfig,
    state: &mut StreamState,
    logical: Draft,
    out: &mut Vec<AssembledLine>,
) {
    let Some(rule) = &config.multiline else {
        return emit(logical, out);
    };
    match state.pending.take() {
        Some(mut pending) if rule.continues(&pending, &logical.line.bytes) => {
            pending.fold(logical, config.max_record_bytes);
            state.pending = Some(pending);
        }
        Some(pending) => {
            emit(pending, out);
            state.pending = Some(logical);
        }
        None => state.pending = Some(logical),
    }
}

fn emit(record: Draft, out: &mut Vec<AssembledLine>) {
    if !record.is_blank() {
        out.push(record.into_line());
    }
}
