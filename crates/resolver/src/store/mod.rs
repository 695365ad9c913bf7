//! Last-good persistence: the validated entries the stale tier lives on,
//! kept across restarts.
//!
//! - `entry.rs`: the format every store holds and the re-verification
//!   every read goes through (invariant: anything read back from storage
//!   is proven again before it is served).
//! - `chain.rs`: the DNSKEY sets and DS steps the resolver saw, from which
//!   each written entry's chain is built.
//! - `db.rs`: the embedded store (redb), its writer task and eviction.
//! - `compact.rs`: giving the space of evicted entries back (a copy of
//!   the live rows into a new file, by the writer task).
//! - `dump.rs`: `cache dump` / `cache load` files.
//! - `limits.rs`: the store's bounds.

pub mod chain;
pub mod compact;
pub mod db;
pub mod dump;
pub mod entry;
pub mod limits;

pub use db::{STORE_FILE_NAME, Store, StoreStatus};
pub use entry::{StoreError, Trust};

/// The last-good store's settings (issue 18): on by default when
/// `state-dir` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreSettings {
    /// `store` (default true): keep validated answers in
    /// `state-dir/cache.redb` across restarts.
    pub enabled: bool,
    /// `store-size`: live bytes of stored entries (default 256 MiB).
    pub max_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: limits::DEFAULT_STORE_BYTES,
        }
    }
}
