//! The redaction boundary.
