//! (being written)

pub mod dial;
pub mod proto;
pub mod stats;
