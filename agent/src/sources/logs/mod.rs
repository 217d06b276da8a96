//! Container log files: discovery, tailing, formats, multiline, checkpoints.

pub mod format;
