//! The log test binary (issue 19): in a process of its own, because
//! tracing's per-callsite interest cache is process-wide, and a test that
//! captures logs with a thread-local subscriber loses lines when other
//! tests in the same process hit the same callsites first.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[allow(dead_code)]
#[path = "it/harness.rs"]
mod harness;
#[path = "it/logs.rs"]
mod logs;
