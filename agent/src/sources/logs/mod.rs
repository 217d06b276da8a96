//! Container log files: discovery, tailing, formats, multiline, checkpoints.
//!
//! The tailer thread reads files and sends [`LogBatch`]es; each batch carries a
//! [`Delivery`] whose acknowledgement by every sink lets the checkpointer
//! thread advance that file's checkpoint.

pub mod assemble;
pub mod format;
pub mod record;

mod checkpoint;
mod discover;
mod identity;
mod tailer;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::Sender;

pub use checkpoint::{Checkpoint, CheckpointStore, Checkpointer};
pub use identity::{FileId, Fingerprint};

use crate::config::{LogsConfig, PipelineConfig, ReadFrom};
use crate::delivery::Delivery;
use crate::enrich::Enricher;
use crate::event::LogRecord;
use assemble::MultilineRule;

/// Records read from one file, and the acknowledgement that moves its checkpoint.
#[derive(Debug)]
pub struct LogBatch {
    pub records: Vec<LogRecord>,
    pub delivery: Delivery,
}

/// The log source's settings, checked and converted from the config.
#[derive(Clone, Debug)]
pub struct LogSourceSettings {
    pub include: Vec<String>,
    pub exclude: Vec<glob::Pattern>,
    pub read_from: ReadFrom,
    pub glob_interval: Duration,
    pub poll_interval: Duration,
    pub max_record_bytes: usize,
    pub multiline: Option<MultilineRule>,
    pub multiline_timeout: Duration,
    pub batch_max_records: usize,
}

impl LogSourceSettings {
    /// Converts a validated config; errors only on values validation rejects.
    /// Relative globs are relative to `base_dir`, the config file's directory.
    pub fn from_config(
        logs: &LogsConfig,
        pipeline: &PipelineConfig,
        base_dir: &Path,
    ) -> anyhow::Result<Self> {
        let absolute = |pattern: &str| base_dir.join(pattern).to_string_lossy().into_owned();
        let exclude = logs
            .exclude
            .iter()
            .map(|p| glob::Pattern::new(&absolute(&p.value)))
            .collect::<Result<_, _>>()?;
        let multiline = if logs.multiline.enabled {
            Some(match &logs.multiline.start_pattern {
                Some(pattern) => {
                    MultilineRule::StartPattern(regex::bytes::Regex::new(&pattern.value)?)
                }
                None => MultilineRule::JavaStackTrace,
            })
        } else {
            None
        };
        Ok(LogSourceSettings {
            include: logs.include.iter().map(|p| absolute(&p.value)).collect(),
            exclude,
            read_from: logs.read_from,
            glob_interval: Duration::from_millis(logs.glob_interval_ms.value),
            poll_interval: Duration::from_millis(logs.poll_interval_ms.value),
            max_record_bytes: usize::try_from(logs.max_record_bytes.value)?,
            multiline,
            multiline_timeout: Duration::from_millis(logs.multiline.timeout_ms.value),
            batch_max_records: usize::try_from(pipeline.batch_max_records.value)?,
        })
    }
}

/// The running log source: its tailer and checkpointer threads.
pub struct LogSource {
    tailer: Option<JoinHandle<()>>,
    checkpointer: Checkpointer,
}

impl LogSource {
    /// Loads the checkpoints from `data_dir` and starts following files.
    /// Stops reading when `shutdown` is set.
    pub fn start(
        settings: LogSourceSettings,
        data_dir: &Path,
        enricher: Enricher,
        out: Sender<LogBatch>,
        shutdown: Arc<AtomicBool>,
    ) -> std::io::Result<LogSource> {
        let (store, saved) = CheckpointStore::open(data_dir)?;
        let checkpointer = Checkpointer::new(store);
        let tailer = tailer::Tailer::new(
            settings,
            enricher,
            saved,
            out,
            checkpointer.clone(),
            shutdown,
        );
        let tailer = std::thread::Builder::new()
            .name("log-tailer".into())
            .spawn(move || tailer.run())?;
        Ok(LogSource {
            tailer: Some(tailer),
            checkpointer,
        })
    }

    /// Waits for the tailer to stop (after shutdown was requested).
    pub fn join_tailer(&mut self) {
        if let Some(tailer) = self.tailer.take() {
            let _ = tailer.join();
        }
    }

    /// Writes the final checkpoints: call once the sinks have settled every
    /// batch (acknowledged it, or dropped it undelivered).
    pub fn finish(mut self) {
        self.join_tailer();
        self.checkpointer.finish();
    }
}
