//! Last-good persistence: the validated entries the stale tier lives on,
//! kept across restarts.
//!
//! - `entry.rs`: the format every store holds and the re-verification
//!   every read goes through (invariant: anything read back from storage
//!   is proven again before it is served).
//! - `chain.rs`: the DNSKEY sets and DS steps the resolver saw, from which
//!   each written entry's chain is built.
//! - `db.rs`: the embedded store (redb), its writer task and eviction.
//! - `dump.rs`: `cache dump` / `cache load` files.
//! - `limits.rs`: the store's bounds.

pub mod chain;
pub mod db;
pub mod dump;
pub mod entry;
pub mod limits;

pub use db::{STORE_FILE_NAME, Store, StoreStatus};
pub use entry::{StoreError, Trust};
