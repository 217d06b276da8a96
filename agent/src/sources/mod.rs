//! Where records come from.

pub mod logs;
