//! What is derived from redacted HTTP exchanges: RED metrics and their
//! route labels (spans join them later).

pub mod red;
pub mod route;
