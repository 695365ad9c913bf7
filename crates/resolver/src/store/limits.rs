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

/// A store file smaller than this is never compacted (the space it could
/// give back is not worth a copy).
pub const COMPACT_MIN_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Compact when the file is more than this many times its live bytes
/// (keys + values): a freshly written file is about 2 times (each key is
/// held twice, in `entries` and `by_expiry`, and B-tree pages are not
/// full), so past 4 at least half of it is free pages.
pub const COMPACT_FILE_RATIO: u64 = 4;

/// How often the writer checks whether compacting pays (besides at start).
pub const COMPACT_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// At most one compaction (done or not) per this long.
pub const COMPACT_MIN_INTERVAL: Duration = Duration::from_secs(3600);

/// Rows copied per transaction of a compaction; queued writes are
/// handled between two.
pub const COMPACT_CHUNK_ROWS: usize = 8192;

/// A compaction still copying after this long is abandoned (counted,
/// `result="time"`): a store of `MAX_STORE_BYTES` copies in minutes.
pub const COMPACT_MAX_DURATION: Duration = Duration::from_secs(1800);

/// Keys written (or evicted) while a compaction copies, copied again at
/// its end; past this it is abandoned (`result="dirty"`).
pub const COMPACT_MAX_DIRTY: usize = 1 << 20;
