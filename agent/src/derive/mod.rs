//! What is derived from redacted HTTP exchanges: RED metrics (`red.rs`),
//! trace spans (`span.rs`), client calls nested under the request their
//! thread serves (`nesting.rs`), and the route template both are labelled
//! with (`route.rs`).

pub mod nesting;
pub mod red;
pub mod route;
pub mod span;
