//! What is derived from redacted HTTP exchanges: RED metrics (`red.rs`),
//! trace spans (`span.rs`), and the route template both are labelled with
//! (`route.rs`).

pub mod red;
pub mod route;
pub mod span;
