//! Where redacted records go.
