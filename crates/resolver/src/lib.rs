//! lastgood: a validating, caching, recursive DNS resolver that serves the
//! last answer that validated when the authorities above it fail.
//!
//! See ARCHITECTURE.md for the map. `main.rs` is a thin CLI over this library.

#![forbid(unsafe_code)]

pub mod app;
pub mod cache;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod control;
pub mod dnssec;
pub mod duration;
pub mod ede;
pub mod fleet;
pub mod limits;
pub mod metrics;
pub mod nta;
pub mod query;
pub mod resolve;
pub mod rlimit;
pub mod server;
pub mod service;
pub mod store;
