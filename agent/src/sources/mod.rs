//! Where records come from.

pub mod logs;
pub mod net;
pub mod replay;
