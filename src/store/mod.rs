//! Last-good persistence: the validated entries the stale tier lives on,
//! kept across restarts. `entry.rs` is the format every store holds and
//! the re-verification every read goes through.

pub mod entry;
pub mod limits;
