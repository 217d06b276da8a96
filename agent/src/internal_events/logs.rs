//! Events of the log source: reading, rotation, checkpoints.

use std::path::Path;

use super::metrics;

/// A read pass over one file produced lines. Emitted once per read, not per line.
pub struct LinesRead {
    pub lines: u64,
    pub bytes: u64,
}

impl LinesRead {
    pub fn emit(self) {
        metrics().lines_read.inc_by(self.lines);
        metrics().bytes_read.inc_by(self.bytes);
    }
}

/// Records assembled and handed to the pipeline.
pub struct RecordsAssembled {
    pub records: u64,
    /// Of those, cut at the size cap.
    pub truncated: u64,
    /// Of those, with invalid UTF-8 replaced.
    pub invalid_utf8: u64,
    /// Of those, with lines that did not follow the file's format.
    pub malformed: u64,
}

impl RecordsAssembled {
    pub fn emit(self) {
        let m = metrics();
        m.records_read.inc_by(self.records);
        if self.truncated > 0 {
            m.records_truncated.inc_by(self.truncated);
            tracing::warn!(
                records = self.truncated,
                "log records exceeded the size cap and were truncated"
            );
        }
        if self.malformed > 0 {
            m.malformed_records.inc_by(self.malformed);
            tracing::debug!(
                records = self.malformed,
                "log lines did not follow their file's format; passed on as plain text"
            );
        }
        if self.invalid_utf8 > 0 {
            m.invalid_utf8_records.inc_by(self.invalid_utf8);
            tracing::debug!(
                records = self.invalid_utf8,
                "invalid UTF-8 replaced in log records"
            );
        }
    }
}

/// A file began to be followed.
pub struct FileWatchStarted<'a> {
    pub path: &'a Path,
    pub offset: u64,
    pub resumed: bool,
}

impl FileWatchStarted<'_> {
    pub fn emit(self) {
        metrics().files_watched.inc();
        tracing::info!(
            path = %self.path.display(),
            offset = self.offset,
            resumed = self.resumed,
            "following log file"
        );
    }
}

/// A file was released: deleted or rotated away and read to its end.
pub struct FileReleased<'a> {
    pub path: &'a Path,
    pub offset: u64,
}

impl FileReleased<'_> {
    pub fn emit(self) {
        metrics().files_watched.dec();
        tracing::info!(path = %self.path.display(), offset = self.offset, "released log file");
    }
}

/// The path now names another file: the old one was renamed away.
pub struct FileRotated<'a> {
    pub path: &'a Path,
}

impl FileRotated<'_> {
    pub fn emit(self) {
        metrics().files_rotated.inc();
        tracing::info!(path = %self.path.display(), "log file rotated by rename");
    }
}

/// The file shrank below the read offset: copytruncate, or a rewrite.
pub struct FileTruncated<'a> {
    pub path: &'a Path,
    pub offset: u64,
    pub size: u64,
}

impl FileTruncated<'_> {
    pub fn emit(self) {
        metrics().files_truncated.inc();
        tracing::info!(
            path = %self.path.display(),
            offset = self.offset,
            size = self.size,
            "log file truncated; reading it again from the start"
        );
    }
}

/// A file could not be opened or read.
pub struct FileReadFailed<'a> {
    pub path: &'a Path,
    pub error: &'a std::io::Error,
}

impl FileReadFailed<'_> {
    pub fn emit(self) {
        metrics().read_errors.inc();
        tracing::warn!(path = %self.path.display(), error = %self.error, "cannot read log file");
    }
}

/// The checkpoint file was written.
pub struct CheckpointWritten {
    /// Bytes read but not yet acknowledged, over all files.
    pub lag_bytes: u64,
}

impl CheckpointWritten {
    pub fn emit(self) {
        metrics().checkpoint_writes.inc();
        metrics()
            .checkpoint_lag_bytes
            .set(i64::try_from(self.lag_bytes).unwrap_or(i64::MAX));
    }
}

/// The checkpoint file could not be written; the previous one stays in place.
pub struct CheckpointWriteFailed<'a> {
    pub path: &'a Path,
    pub error: &'a std::io::Error,
}

impl CheckpointWriteFailed<'_> {
    pub fn emit(self) {
        metrics().checkpoint_write_errors.inc();
        tracing::error!(path = %self.path.display(), error = %self.error, "cannot write checkpoint");
    }
}
