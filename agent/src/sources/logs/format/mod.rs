//! Log file formats.
