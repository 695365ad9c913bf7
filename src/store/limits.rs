//! Bounds of the last-good store (see `crate::limits` for the resolver's).
//! Hitting one is an error naming the constant and a metric, never a panic.

use std::time::Duration;

/// Largest encoded entry accepted or written, in bytes: one RRset may be
/// 64 KiB (the TCP message limit, the lab's `oversize` zone sends 62 KiB)
/// plus the chain (a DNSKEY and DS set per zone level, a few KiB each).
pub const MAX_ENTRY_BYTES: usize = 128 * 1024;

/// Records per section of an entry or a chain link (a DNS message of
/// 64 KiB holds fewer than 6,000 of the smallest records; real RRsets
/// hold a handful, the lab's largest 250).
pub const MAX_RECORDS_PER_SECTION: usize = 1024;

/// Links in one entry's chain: a DS and a DNSKEY link per zone level from
/// the anchor down (`MAX_REFERRAL_DEPTH` is 30 referrals; real names sit
/// 3-6 levels deep).
pub const MAX_CHAIN_LINKS: usize = 64;

/// A stored-at time this far after the reader's `now` is refused (a store
/// written by a host whose clock ran ahead, or a forged timestamp).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Default `store-size`: live bytes of encoded entries kept on disk.
pub const DEFAULT_STORE_BYTES: u64 = 256 * 1024 * 1024;

/// Smallest `store-size` accepted (a few hundred entries).
pub const MIN_STORE_BYTES: u64 = 1024 * 1024;

/// Largest `store-size` accepted.
pub const MAX_STORE_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// Entries waiting to be written; a full queue drops the newest and
/// counts it (`lastgood_store_write_dropped_total`): the answer path
/// never waits on the disk.
pub const WRITE_QUEUE: usize = 4096;

/// Entries written in one transaction at most.
pub const WRITE_BATCH: usize = 512;

/// At least this long between two write transactions: with
/// [`WRITE_BATCH`] it bounds the write rate (5,120 entries a second).
pub const WRITE_INTERVAL: Duration = Duration::from_millis(100);

/// Zones whose DNSKEY set and DS step are kept in memory to build the
/// chains of entries being written.
pub const MAX_CHAIN_ZONES: u64 = 16_384;

/// Entries evicted per write transaction when over `store-size` (more
/// wait for the next one).
pub const MAX_EVICTIONS_PER_BATCH: usize = 4096;

/// redb's page cache (its default is 1 GiB, which a 1 GiB store would
/// fill): reads are one B-tree walk per cache miss, so a small cache
/// keeps the hot upper pages and RSS flat.
pub const PAGE_CACHE_BYTES: usize = 16 * 1024 * 1024;
