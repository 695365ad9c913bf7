//! Bounds and timers of the fleet tier (see `crate::limits` for the
//! resolver's). Each is our own choice, sized so that Redis being slow or
//! gone costs a client at most one short wait and then nothing.

use std::time::Duration;

/// Wait for one Redis read on the answer path (a local miss or a failed
/// refresh). A loopback or LAN Redis answers in well under a millisecond;
/// past this the read counts as failed, Redis is marked down and the
/// question goes on without it.
pub const REDIS_CALL_TIMEOUT: Duration = Duration::from_millis(50);

/// Wait for a batch of writes, a publish or an NTA change (off the answer
/// path; a late one marks Redis down like a failed read).
pub const REDIS_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// Wait for a new connection (TCP and TLS handshake, AUTH, SELECT).
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// First wait before reconnecting after a failure; doubled per failed
/// attempt up to [`REDIS_BACKOFF_MAX`].
pub const REDIS_BACKOFF_MIN: Duration = Duration::from_millis(100);

/// Longest wait between two reconnection attempts.
pub const REDIS_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// While Redis is up, how often the link is checked with a PING (a dead
/// server is noticed within this even without traffic).
pub const REDIS_HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// Entries waiting to be written to Redis; a full queue drops the newest
/// and counts it (`lastgood_redis_writes_dropped_total{reason="queue_full"}`):
/// the answer path never waits on Redis.
pub const REDIS_WRITE_QUEUE: usize = 4096;

/// Entries written in one pipeline at most.
pub const REDIS_WRITE_BATCH: usize = 256;

/// How often every instance reads the fleet's NTAs whole, besides the
/// pub/sub notification (a missed message costs at most this).
pub const NTA_RECONCILE_INTERVAL: Duration = Duration::from_secs(10);

/// NTAs read from the fleet's hash at most (the NTA store's own bound,
/// `MAX_NTAS`, applies again when they are added).
pub const MAX_FLEET_NTAS: usize = 1024;

/// Largest fleet message (pub/sub payload) accepted: an event names one
/// zone or name (255 bytes) and a few words.
pub const MAX_EVENT_BYTES: usize = 1024;

/// Flushes remembered to clip entries read from Redis that were stored
/// before them; past it the oldest is forgotten.
pub const MAX_FLUSHES_REMEMBERED: usize = 256;
