//! The integration test binary: real sockets on 127.0.0.0/8, a lab
//! hierarchy started in-process, the resolver in front of it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod app;
mod attack;
mod bounds;
mod conformance;
mod control;
mod failsmall;
mod fleet;
mod forward;
mod harness;
mod iterator;
mod nta;
mod observe;
mod replay;
mod resolve;
mod server;
mod service;
mod stale;
mod store;
