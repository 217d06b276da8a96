//! The pipeline wiring.
