//! The answer cache: one entry per (name, type, class, view), each holding
//! one resolution step (an RRset, a CNAME, or a negative answer) with the
//! proof it carried and when it was stored.
//!
//! Freshness is a pure function of `(stored_at, ttl, now)` ([`freshness`]);
//! the cache never reads a clock. Entries live `ttl + max_stale` so the
//! ladder can serve them stale (RFC 8767); moka bounds the total by bytes.
//!
//! Near full, stale entries are swept out before moka has to evict fresh
//! ones. The sweep walks the whole cache, so past a few hundred entries
//! it runs on a thread of its own (`cache-sweep`), at most once a second,
//! and only once an entry can have gone stale; never on the inserting
//! thread, a runtime worker that other queries wait behind (issue 20: a
//! 15 ms walk there once a second was the tail of real misses).

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::clock::Timestamp;
use crate::dnssec::Security;

pub mod hash;

pub use hash::NameHashState;

/// Which data an entry may be shown to (RFC 4035 §3.2.2, §4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// Secure or Insecure data: served to every client.
    Validated,
    /// Data that failed validation (Bogus/Indeterminate), kept only for
    /// clients that set CD; never served to validating clients.
    CheckingDisabled,
}

/// Cache key; the name is stored lowercased.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub name: Name,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub view: View,
}

impl CacheKey {
    pub fn new(name: &Name, qtype: RecordType, qclass: DNSClass, view: View) -> Self {
        Self {
            name: name.to_lowercase(),
            qtype,
            qclass,
            view,
        }
    }
}

/// What one resolution step found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// The RRset of the question's type exists.
    Positive,
    /// A CNAME at the name points to `target`.
    Cname {
        target: Name,
    },
    NxDomain,
    NoData,
}

/// One cached resolution step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: StepKind,
    pub rcode: ResponseCode,
    /// The RRset (or CNAME) and its RRSIGs, TTLs as received.
    pub answers: Vec<Record>,
    /// SOA and NSEC/NSEC3 proofs (negative answers, wildcard proofs).
    pub authorities: Vec<Record>,
    pub security: Security,
    /// The zone whose servers answered (for failure tracking and NTAs).
    pub zone: Name,
    pub stored_at: Timestamp,
    /// Seconds the entry is fresh, already capped (MAX_TTL, RRSIG expiry).
    pub ttl: u32,
}

impl Entry {
    /// Approximate memory held, in bytes: what `cache-size` bounds. Each
    /// record is charged its in-memory size plus its uncompressed wire
    /// length (which stands for the heap its names and RDATA take; worked
    /// out, not encoded: [`wire_len`]), and each entry
    /// [`ENTRY_OVERHEAD`] for everything around the records.
    pub fn weight(&self) -> u32 {
        let records = self.answers.iter().chain(&self.authorities);
        let bytes = records.fold(ENTRY_OVERHEAD, |sum, r| {
            sum.saturating_add(RECORD_SIZE).saturating_add(wire_len(r))
        });
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }

    /// Records with their TTL counted down to `remaining`.
    pub fn records_with_ttl(records: &[Record], remaining: u32) -> Vec<Record> {
        records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.ttl = r.ttl.min(remaining);
                r
            })
            .collect()
    }
}

/// In-memory size of one record (hickory's `Record`: owner name, RDATA
/// enum, TTL...), before any heap it points to.
const RECORD_SIZE: usize = std::mem::size_of::<Record>();

/// Memory per cache entry besides its records, in bytes: the `Entry` and
/// its `Arc`, the key, the zone name, the records' `Vec` headers, moka's
/// node (key `Arc`, access and write order links, frequency sketch) and
/// allocator rounding. Calibrated, not derived: floods of unique names
/// (wildcard answers with NSEC proofs, 4 records each) into a 64 MiB
/// cache, RSS growth divided by entries held; 2048 leaves room for the
/// allocator's peaks (VmHWM 73.6 MiB after 150,000 names, 80.3 MiB at
/// 1792; `benches/load.sh` phase 5 measures it against Unbound).
pub const ENTRY_OVERHEAD: usize = 2048;

/// A record's wire length without name compression, worked out from its
/// fields rather than by encoding it (issue 20: encoding every record of
/// every insert was 8.6% of a real miss's instructions). Exact for the
/// types a validating resolver caches most (A, AAAA, names, SOA, MX, TXT,
/// RRSIG, NSEC, NSEC3, DS, DNSKEY); others have their RDATA encoded. Never
/// less than the compressed encoding it replaces, so the byte budget
/// holds no more than before. One approximation: a type bitmap received
/// in a non-canonical form (RFC 4034 forbids trailing zero octets) is
/// charged its canonical length.
fn wire_len(record: &Record) -> usize {
    // Owner name, then TYPE, CLASS, TTL and RDLENGTH.
    name_wire_len(&record.name) + 10 + rdata_len(&record.data)
}

/// Uncompressed wire length of a name: a length octet per label, the
/// labels, the root's zero octet.
fn name_wire_len(name: &Name) -> usize {
    // `Name::len` counts a dot per label (1 for the root alone).
    if name.is_root() { 1 } else { name.len() + 1 }
}

fn rdata_len(data: &RData) -> usize {
    use hickory_proto::dnssec::PublicKey;
    use hickory_proto::dnssec::rdata::DNSSECRData;
    match data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::CNAME(name) => name_wire_len(name),
        RData::NS(name) => name_wire_len(name),
        RData::PTR(name) => name_wire_len(name),
        // MNAME, RNAME, then five 32-bit fields.
        RData::SOA(soa) => name_wire_len(&soa.mname) + name_wire_len(&soa.rname) + 20,
        RData::MX(mx) => 2 + name_wire_len(&mx.exchange),
        RData::TXT(txt) => txt.txt_data.iter().map(|s| 1 + s.len()).sum(),
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
            // Type covered, algorithm, labels, original TTL, expiration,
            // inception, key tag: 18 octets; then signer and signature.
            18 + name_wire_len(&sig.input().signer_name) + sig.sig().len()
        }
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => {
            name_wire_len(nsec.next_domain_name()) + type_bitmap_len(nsec.type_bit_maps())
        }
        RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => {
            // Hash algorithm, flags, iterations (2), salt length, salt,
            // hash length, hash, bitmap.
            5 + nsec3.salt().len()
                + 1
                + nsec3.next_hashed_owner_name().len()
                + type_bitmap_len(nsec3.type_bit_maps())
        }
        // Key tag, algorithm, digest type, digest.
        RData::DNSSEC(DNSSECRData::DS(ds)) => 4 + ds.digest().len(),
        // Flags, protocol, algorithm, key.
        RData::DNSSEC(DNSSECRData::DNSKEY(key)) => 4 + key.public_key().public_bytes().len(),
        other => encoded_len(other),
    }
}

/// Length of an RFC 4034 §4.1.2 type bitmap: per window of 256 types in
/// use, a window number, a length octet and the octets up to the highest
/// type present. `types` come in ascending order (hickory keeps them in a
/// `BTreeSet`); out of order, a window is counted again: more, not less.
fn type_bitmap_len(types: impl Iterator<Item = RecordType>) -> usize {
    let mut total = 0;
    let mut window: Option<(u8, u8)> = None;
    for t in types {
        let [hi, lo] = u16::from(t).to_be_bytes();
        window = match window {
            Some((w, max)) if w == hi => Some((w, max.max(lo))),
            Some((_, max)) => {
                total += 2 + usize::from(max / 8) + 1;
                Some((hi, lo))
            }
            None => Some((hi, lo)),
        };
    }
    if let Some((_, max)) = window {
        total += 2 + usize::from(max / 8) + 1;
    }
    total
}

/// RDATA length by encoding it: for the types [`rdata_len`] does not
/// work out.
fn encoded_len(data: &RData) -> usize {
    let mut buf = Vec::with_capacity(64);
    let mut enc = BinEncoder::new(&mut buf);
    match data.emit(&mut enc) {
        Ok(()) => buf.len(),
        // An unencodable record still takes memory; charge a nominal size.
        Err(_) => 512,
    }
}

/// `cache-size` shared out among the resolver's caches, each bounded by
/// bytes of memory held (estimated per entry, as [`Entry::weight`]):
/// the answer cache, and the side caches of the iterator: delegations
/// (NS sets with their addresses), names QNAME minimisation found inside
/// a zone, and key verdicts per zone. Fixed shares, not one pool: a flood
/// of one kind (every name its own delegation, `deep-referral`) evicts
/// its own kind, never the answers the stale tier lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The answer cache: what `cache-size` leaves after the side caches.
    pub answers: u64,
    /// One eighth: delegations (`Resolver::delegations`).
    pub delegations: u64,
    /// One sixteenth: names inside a zone (`Resolver::inside_zone`).
    pub inside_zone: u64,
    /// One sixteenth: key verdicts per zone (`Resolver::keys`).
    pub keys: u64,
}

impl MemoryBudget {
    /// Share `cache_bytes` out; the shares add up to it exactly.
    pub fn split(cache_bytes: u64) -> Self {
        let delegations = cache_bytes / 8;
        let inside_zone = cache_bytes / 16;
        let keys = cache_bytes / 16;
        Self {
            answers: cache_bytes - delegations - inside_zone - keys,
            delegations,
            inside_zone,
            keys,
        }
    }
}

/// Memory per side-cache entry (a delegation, a name inside a zone, a
/// key verdict) besides what its own weigher counts: moka's node and key
/// `Arc`, the value's `Arc` or tuple and allocator rounding. Calibrated
/// like [`ENTRY_OVERHEAD`], with the `deep-referral` flood (one delegation
/// and one inside-zone name per query) into a 16 MiB `cache-size`.
pub const SIDE_ENTRY_OVERHEAD: usize = 512;

/// A side cache: moka, hashing keys with [`NameHashState`].
pub type SideCache<K, V> = moka::sync::Cache<K, V, NameHashState>;

/// A side cache of at most `max_bytes` whose entries weigh `weigh(key,
/// value)` + [`SIDE_ENTRY_OVERHEAD`].
pub fn side_cache<K, V>(max_bytes: u64, weigh: fn(&K, &V) -> usize) -> SideCache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(max_bytes)
        .weigher(move |k: &K, v: &V| {
            u32::try_from(weigh(k, v).saturating_add(SIDE_ENTRY_OVERHEAD)).unwrap_or(u32::MAX)
        })
        .build_with_hasher(NameHashState::default())
}

/// Memory held by a name: the `Name` and, past its inline storage, its
/// labels (charged in full: an estimate, not a measure).
pub fn name_weight(name: &Name) -> usize {
    std::mem::size_of::<Name>() + name.len()
}

/// When `entry` stops being fresh.
fn expiry_of(entry: &Entry) -> Timestamp {
    entry
        .stored_at
        .saturating_add(Duration::from_secs(u64::from(entry.ttl)))
}

/// How usable an entry is at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Within its TTL; `remaining` seconds left (at least 1 while fresh).
    Fresh { remaining: u32 },
    /// Past its TTL but within `max_stale`; usable only by the ladder.
    Stale { expired_for: Duration },
    /// Past `ttl + max_stale`: as good as absent.
    Gone,
}

/// Pure freshness: the whole TTL arithmetic of the cache.
pub fn freshness(stored_at: Timestamp, ttl: u32, now: Timestamp, max_stale: Duration) -> Freshness {
    let age = now.saturating_since(stored_at);
    let ttl = Duration::from_secs(u64::from(ttl));
    if age < ttl {
        let left = ttl.saturating_sub(age);
        // Round up so a fresh entry never shows TTL 0.
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Freshness::Fresh {
            remaining: u32::try_from(secs).unwrap_or(u32::MAX),
        }
    } else {
        let expired_for = age.saturating_sub(ttl);
        if expired_for <= max_stale {
            Freshness::Stale { expired_for }
        } else {
            Freshness::Gone
        }
    }
}

/// A cached entry with its weight, computed once at insert (it encodes
/// every record, so the weigher and the byte counter must not redo it).
#[derive(Clone, Debug)]
struct Stored {
    entry: Arc<Entry>,
    weight: u32,
}

/// The answer cache.
#[derive(Clone)]
pub struct Cache {
    store: moka::sync::Cache<CacheKey, Stored, NameHashState>,
    max_stale: Duration,
    max_bytes: u64,
    /// When stale entries were last swept out (millis since epoch).
    last_sweep: Arc<std::sync::atomic::AtomicU64>,
    /// No entry turns stale before this (millis since epoch): the earliest
    /// expiry (`stored_at + ttl`) of the entries inserted since the last
    /// sweep began and of the fresh ones that sweep kept. Until then a
    /// sweep would find nothing, so none runs.
    next_expiry: Arc<std::sync::atomic::AtomicU64>,
    /// A sweep is running (on its own thread: see [`Cache::insert`]).
    sweeping: Arc<std::sync::atomic::AtomicBool>,
    /// The thread of the last sweep, for [`Cache::settle`].
    sweeper: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
    /// Up to this many entries a sweep runs inline
    /// ([`crate::limits::CACHE_SWEEP_INLINE_ENTRIES`]).
    inline_sweep_entries: u64,
    /// Bytes held, kept exact by the eviction listener (moka's own
    /// `weighted_size` lags until its housekeeping runs).
    bytes: Arc<std::sync::atomic::AtomicU64>,
    /// Counts removals made by hand (flushes, `remove`): answers reused
    /// by the server are checked against it ([`Cache::generation`]).
    generation: Arc<std::sync::atomic::AtomicU64>,
}

/// Above this share of `cache-size` (percent), inserting sweeps out stale
/// entries first, so moka's own eviction (which cannot tell stale from
/// fresh) rarely has to pick a fresh one.
pub const STALE_SWEEP_PERCENT: u64 = 90;
/// At most one stale sweep per this interval (a sweep walks the cache).
pub const STALE_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.store.entry_count())
            .field("bytes", &self.store.weighted_size())
            .finish()
    }
}

impl Cache {
    /// A cache bounded to `max_bytes` (weights estimate memory held, see
    /// [`Entry::weight`]).
    pub fn new(max_bytes: u64, max_stale: Duration) -> Self {
        let bytes: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let counter = Arc::clone(&bytes);
        let store = moka::sync::Cache::builder()
            .eviction_listener(move |_k, v: Stored, _cause| {
                counter.fetch_sub(u64::from(v.weight), std::sync::atomic::Ordering::Relaxed);
            })
            .max_capacity(max_bytes)
            .weigher(|_k: &CacheKey, v: &Stored| v.weight)
            .support_invalidation_closures()
            .build_with_hasher(NameHashState::default());
        Self {
            store,
            max_stale,
            max_bytes,
            last_sweep: Arc::default(),
            next_expiry: Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX)),
            sweeping: Arc::default(),
            sweeper: Arc::default(),
            inline_sweep_entries: crate::limits::CACHE_SWEEP_INLINE_ENTRIES,
            bytes,
            generation: Arc::default(),
        }
    }

    pub fn max_stale(&self) -> Duration {
        self.max_stale
    }

    /// The entry for `key` and how fresh it is; `None` if absent or gone.
    pub fn get(&self, key: &CacheKey, now: Timestamp) -> Option<(Arc<Entry>, Freshness)> {
        let entry = self.store.get(key)?.entry;
        match freshness(entry.stored_at, entry.ttl, now, self.max_stale) {
            Freshness::Gone => {
                self.store.invalidate(key);
                None
            }
            f => Some((entry, f)),
        }
    }

    /// The entry for `key` whatever its age, leaving the cache as it is
    /// (`lastgood lookup`).
    pub fn peek(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.store.get(key).map(|s| s.entry)
    }

    /// Store an entry; its `stored_at` is taken as the current time.
    ///
    /// When the cache is nearly full and an entry may have gone stale, a
    /// sweep of stale entries starts, on a thread of its own unless the
    /// cache is small ([`crate::limits::CACHE_SWEEP_INLINE_ENTRIES`]): it walks
    /// the whole cache (13-15 ms for 14,300 entries), which on the
    /// inserting thread, a runtime worker, stalled every query queued
    /// behind it once a second (issue 20, the miss tail).
    pub fn insert(&self, key: CacheKey, entry: Entry) {
        let now = entry.stored_at;
        let weight = entry.weight();
        let expiry = expiry_of(&entry);
        self.bytes
            .fetch_add(u64::from(weight), std::sync::atomic::Ordering::Relaxed);
        let entry = Arc::new(entry);
        self.store.insert(key, Stored { entry, weight });
        // After the insert: a sweep that starts in between and misses the
        // entry still sees this expiry (a missed one would only lose the
        // entry its priority in eviction, never its data).
        self.note_expiry(expiry);
        self.sweep_stale_if_full(now);
    }

    fn note_expiry(&self, expiry: Timestamp) {
        self.next_expiry
            .fetch_min(expiry.as_millis(), std::sync::atomic::Ordering::AcqRel);
    }

    /// When nearly full, drop entries past their TTL before fresh ones
    /// have to go (RFC 8767 §5: stale data is the first to evict): at
    /// most one sweep per [`STALE_SWEEP_INTERVAL`], none while no entry
    /// can be stale yet, and never on the calling thread.
    fn sweep_stale_if_full(&self, now: Timestamp) {
        use std::sync::atomic::Ordering;
        let held = self.bytes.load(Ordering::Relaxed);
        if held.saturating_mul(100) < self.max_bytes.saturating_mul(STALE_SWEEP_PERCENT) {
            return;
        }
        if now < Timestamp::from_millis(self.next_expiry.load(Ordering::Acquire)) {
            return;
        }
        let last = Timestamp::from_millis(self.last_sweep.load(Ordering::Relaxed));
        if now.saturating_since(last) < STALE_SWEEP_INTERVAL {
            return;
        }
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        self.last_sweep.store(now.as_millis(), Ordering::Relaxed);
        // A small cache is walked in well under a millisecond: inline, so
        // its stale entries are gone before the next insert needs room.
        if self.store.entry_count() <= self.inline_sweep_entries {
            self.sweep_stale(now);
            self.sweeping.store(false, Ordering::Release);
            return;
        }
        let cache = self.clone();
        let spawned = std::thread::Builder::new()
            .name("cache-sweep".into())
            .spawn(move || {
                cache.sweep_stale(now);
                cache.sweeping.store(false, Ordering::Release);
            });
        match spawned {
            Ok(handle) => {
                let mut last = self.sweeper.lock().unwrap_or_else(|e| e.into_inner());
                // The previous sweep ended (`sweeping` was clear): reap it.
                if let Some(done) = last.replace(handle) {
                    let _ = done.join();
                }
            }
            // No thread to be had: sweep here rather than not at all.
            Err(error) => {
                tracing::debug!(%error, "no thread for the cache sweep; sweeping inline");
                self.sweep_stale(now);
                self.sweeping.store(false, Ordering::Release);
            }
        }
    }

    /// Remove every entry that is not fresh at `now`, and note when the
    /// first of the fresh ones kept turns stale.
    fn sweep_stale(&self, now: Timestamp) {
        use std::sync::atomic::Ordering;
        // Inserts from here on lower it again; the walk adds what it keeps.
        self.next_expiry.store(u64::MAX, Ordering::Release);
        let mut earliest = u64::MAX;
        let stale: Vec<Arc<CacheKey>> = self
            .store
            .iter()
            .filter_map(|(k, Stored { entry: e, .. })| {
                match freshness(e.stored_at, e.ttl, now, self.max_stale) {
                    Freshness::Fresh { .. } => {
                        earliest = earliest.min(expiry_of(&e).as_millis());
                        None
                    }
                    Freshness::Stale { .. } | Freshness::Gone => Some(k),
                }
            })
            .collect();
        self.next_expiry.fetch_min(earliest, Ordering::AcqRel);
        for key in stale {
            self.store.invalidate(&*key);
        }
        self.store.run_pending_tasks();
    }

    /// Wait for a sweep in progress and apply moka's pending work, so
    /// that counts and evictions are final (tests, `cache dump`).
    pub fn settle(&self) {
        let sweep = self
            .sweeper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(sweep) = sweep {
            let _ = sweep.join();
        }
        self.store.run_pending_tasks();
    }

    /// Changes whenever entries are removed by hand (flush, `remove`),
    /// never by expiry or eviction: whatever was derived from a fresh
    /// entry stays true until the entry's TTL unless this changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn remove(&self, key: &CacheKey) {
        self.store.invalidate(key);
        self.bump();
    }

    /// Remove every entry at or below `zone`.
    pub fn flush_zone(&self, zone: &Name) -> Result<(), moka::PredicateError> {
        let zone = zone.to_lowercase();
        self.bump();
        self.store
            .invalidate_entries_if(move |k, _| zone.zone_of(&k.name))
            .map(|_| ())
    }

    /// Remove every view's entries for `name` (all types).
    pub fn flush_name(&self, name: &Name) {
        self.bump();
        let name = name.to_lowercase();
        let doomed: Vec<Arc<CacheKey>> = self
            .store
            .iter()
            .filter(|(k, _)| k.name == name)
            .map(|(k, _)| k)
            .collect();
        for key in doomed {
            self.store.invalidate(&*key);
        }
    }

    /// Remove the entries of one view at or below `zone`.
    pub fn flush_view_under(&self, zone: &Name, view: View) {
        self.bump();
        let zone = zone.to_lowercase();
        let doomed: Vec<Arc<CacheKey>> = self
            .store
            .iter()
            .filter(|(k, _)| k.view == view && zone.zone_of(&k.name))
            .map(|(k, _)| k)
            .collect();
        for key in doomed {
            self.store.invalidate(&*key);
        }
    }

    /// Remove every entry of one view; returns how many went.
    pub fn flush_view(&self, view: View) -> u64 {
        self.bump();
        let doomed: Vec<Arc<CacheKey>> = self
            .store
            .iter()
            .filter(|(k, _)| k.view == view)
            .map(|(k, _)| k)
            .collect();
        for key in &doomed {
            self.store.invalidate(&**key);
        }
        u64::try_from(doomed.len()).unwrap_or(u64::MAX)
    }

    /// Make every validated entry at or below `zone` (everything, for
    /// `None`) expire now, keeping it for the stale tier: a flush that
    /// makes the next question refresh but never takes the last good
    /// answer away. Unvalidated (CD view) entries are removed.
    pub fn expire_under(&self, zone: Option<&Name>, now: Timestamp) {
        self.bump();
        let zone = zone.map(Name::to_lowercase);
        let under = |k: &CacheKey| zone.as_ref().is_none_or(|z| z.zone_of(&k.name));
        let doomed: Vec<(Arc<CacheKey>, Stored)> =
            self.store.iter().filter(|(k, _)| under(k)).collect();
        for (key, stored) in doomed {
            let entry = &stored.entry;
            let fresh = matches!(
                freshness(entry.stored_at, entry.ttl, now, self.max_stale),
                Freshness::Fresh { .. }
            );
            if key.view == View::CheckingDisabled {
                self.store.invalidate(&*key);
            } else if fresh {
                let age = now.saturating_since(entry.stored_at).as_secs();
                let mut expired = Entry::clone(entry);
                expired.ttl = u32::try_from(age).unwrap_or(u32::MAX).min(entry.ttl);
                self.note_expiry(expiry_of(&expired));
                self.store.insert(
                    CacheKey::clone(&key),
                    Stored {
                        entry: Arc::new(expired),
                        weight: stored.weight,
                    },
                );
            }
        }
    }

    pub fn flush_all(&self) {
        self.bump();
        self.store.invalidate_all();
    }

    pub fn entry_count(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.entry_count()
    }

    pub fn weighted_size(&self) -> u64 {
        self.store.run_pending_tasks();
        self.store.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::A;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn memory_budget_adds_up_to_cache_size() {
        for bytes in [1 << 20, 16 << 20, 64 << 20, (64 << 30) + 7] {
            let b = MemoryBudget::split(bytes);
            assert_eq!(b.answers + b.delegations + b.inside_zone + b.keys, bytes);
            assert!(b.answers >= bytes / 4 * 3);
        }
    }

    #[test]
    fn side_caches_are_bounded_by_bytes() {
        let budget = 64 * 1024;
        let cache = side_cache(budget, |k: &Name, _v: &u32| name_weight(k));
        for i in 0..10_000u32 {
            let name = Name::from_ascii(format!("n{i}.deep.example.")).unwrap();
            cache.insert(name, i);
        }
        cache.run_pending_tasks();
        assert!(cache.weighted_size() <= budget, "{}", cache.weighted_size());
        let per_entry = (SIDE_ENTRY_OVERHEAD + name_weight(&Name::root())) as u64;
        assert!(cache.entry_count() <= budget / per_entry);
    }

    #[test]
    fn freshness_table() {
        let t0 = Timestamp::from_secs(1_000_000);
        let cases = [
            (0, 300, Freshness::Fresh { remaining: 300 }),
            (1, 300, Freshness::Fresh { remaining: 300 }), // 299.999 s rounds up
            (299_000, 300, Freshness::Fresh { remaining: 1 }),
            (
                300_000,
                300,
                Freshness::Stale {
                    expired_for: Duration::ZERO,
                },
            ),
            (
                301_000,
                300,
                Freshness::Stale {
                    expired_for: Duration::from_secs(1),
                },
            ),
            (
                300_000 + 86_400_000,
                300,
                Freshness::Stale { expired_for: DAY },
            ),
            (300_001 + 86_400_000, 300, Freshness::Gone),
            (
                0,
                0,
                Freshness::Stale {
                    expired_for: Duration::ZERO,
                },
            ),
        ];
        for (age_ms, ttl, want) in cases {
            let now = Timestamp::from_millis(t0.as_millis() + age_ms);
            assert_eq!(
                freshness(t0, ttl, now, DAY),
                want,
                "age {age_ms} ms ttl {ttl}"
            );
        }
    }

    fn entry(stored_at: Timestamp, ttl: u32) -> Entry {
        let name = Name::from_str("www.example.").unwrap();
        Entry {
            kind: StepKind::Positive,
            rcode: ResponseCode::NoError,
            answers: vec![Record::from_rdata(
                name.clone(),
                ttl,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            )],
            authorities: vec![],
            security: Security::Secure,
            zone: Name::from_str("example.").unwrap(),
            stored_at,
            ttl,
        }
    }

    #[test]
    fn get_counts_down_and_expires() {
        let cache = Cache::new(1 << 20, Duration::from_secs(60));
        let t0 = Timestamp::from_secs(5_000);
        let key = CacheKey::new(
            &Name::from_str("WWW.Example.").unwrap(),
            RecordType::A,
            DNSClass::IN,
            View::Validated,
        );
        cache.insert(key.clone(), entry(t0, 100));
        let lower = CacheKey::new(
            &Name::from_str("www.example.").unwrap(),
            RecordType::A,
            DNSClass::IN,
            View::Validated,
        );
        let (_, f) = cache
            .get(&lower, t0.saturating_add(Duration::from_secs(40)))
            .unwrap();
        assert_eq!(f, Freshness::Fresh { remaining: 60 });
        let (_, f) = cache
            .get(&key, t0.saturating_add(Duration::from_secs(130)))
            .unwrap();
        assert_eq!(
            f,
            Freshness::Stale {
                expired_for: Duration::from_secs(30)
            }
        );
        assert!(
            cache
                .get(&key, t0.saturating_add(Duration::from_secs(161)))
                .is_none()
        );
        // and it is gone for good
        assert!(cache.get(&key, t0).is_none());
    }

    #[test]
    fn views_are_separate_and_flush_zone_works() {
        let cache = Cache::new(1 << 20, DAY);
        let t0 = Timestamp::from_secs(5_000);
        let name = Name::from_str("www.example.").unwrap();
        let validated = CacheKey::new(&name, RecordType::A, DNSClass::IN, View::Validated);
        let cd = CacheKey::new(&name, RecordType::A, DNSClass::IN, View::CheckingDisabled);
        cache.insert(cd.clone(), entry(t0, 100));
        assert!(cache.get(&validated, t0).is_none());
        assert!(cache.get(&cd, t0).is_some());
        cache
            .flush_zone(&Name::from_str("EXAMPLE.").unwrap())
            .unwrap();
        assert!(cache.get(&cd, t0).is_none());
    }

    #[test]
    fn stale_entries_are_evicted_before_fresh_ones() {
        let one = entry(Timestamp::from_secs(0), 10).weight() as u64;
        let cache = Cache::new(one * 100, DAY);
        let t0 = Timestamp::from_secs(5_000);
        let key = |prefix: &str, i: usize| {
            let name = Name::from_str(&format!("{prefix}{i}.example.")).unwrap();
            CacheKey::new(&name, RecordType::A, DNSClass::IN, View::Validated)
        };
        for i in 0..60 {
            cache.insert(key("old", i), entry(t0, 10));
        }
        // The old entries expire; fresh ones arrive until the cache is over 90 %.
        let t1 = t0.saturating_add(Duration::from_secs(60));
        for i in 0..60 {
            cache.insert(key("new", i), entry(t1, 300));
        }
        cache.settle();
        let fresh_kept = (0..60)
            .filter(|i| cache.get(&key("new", *i), t1).is_some())
            .count();
        let stale_kept = (0..60)
            .filter(|i| cache.get(&key("old", *i), t1).is_some())
            .count();
        assert_eq!(fresh_kept, 60, "every fresh entry survives");
        assert!(
            stale_kept < 60,
            "stale entries were swept ({stale_kept} left)"
        );
    }

    /// Issue 20: a full cache whose entries are all fresh is not walked
    /// (a walk finds nothing), and a sweep never runs on the inserting
    /// thread.
    #[test]
    fn full_of_fresh_entries_is_not_swept() {
        let one = entry(Timestamp::from_secs(0), 10).weight() as u64;
        let mut cache = Cache::new(one * 100, DAY);
        // As a large cache: this one would be swept inline.
        cache.inline_sweep_entries = 0;
        let t0 = Timestamp::from_secs(5_000);
        let key = |i: usize| {
            let name = Name::from_str(&format!("n{i}.example.")).unwrap();
            CacheKey::new(&name, RecordType::A, DNSClass::IN, View::Validated)
        };
        for i in 0..200 {
            let at = t0.saturating_add(Duration::from_secs(i as u64));
            cache.insert(key(i), entry(at, 300));
        }
        assert!(cache.sweeper.lock().unwrap().is_none(), "no sweep ran");
        // Once one can be stale, a sweep runs, on a thread of its own.
        let later = t0.saturating_add(Duration::from_secs(1_000));
        cache.insert(key(1_000), entry(later, 300));
        let sweep = cache.sweeper.lock().unwrap().take().expect("a sweep");
        assert_eq!(sweep.thread().name(), Some("cache-sweep"));
        assert_ne!(sweep.thread().id(), std::thread::current().id());
        sweep.join().unwrap();
        cache.settle();
        let stale_left = (0..200)
            .filter(|i| cache.get(&key(*i), later).is_some())
            .count();
        assert_eq!(stale_left, 0, "the sweep removed every stale entry");
    }

    /// The worked-out length is the uncompressed encoding, exactly, for
    /// every type it knows and one it does not (issue 20).
    #[test]
    fn wire_len_is_the_uncompressed_encoding() {
        use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG, SigInput};
        use hickory_proto::dnssec::{Algorithm, DigestType, Nsec3HashAlgorithm, PublicKeyBuf};
        use hickory_proto::rr::SerialNumber;
        use hickory_proto::rr::rdata::{AAAA, CNAME, MX, NS, SOA, SRV, TXT};

        let n = |s: &str| Name::from_str(s).unwrap();
        let owner = n("www.Example.");
        let sig = SigInput {
            type_covered: RecordType::A,
            algorithm: Algorithm::ECDSAP256SHA256,
            num_labels: 2,
            original_ttl: 300,
            sig_expiration: SerialNumber::new(2_000),
            sig_inception: SerialNumber::new(1_000),
            key_tag: 7,
            signer_name: n("example."),
        };
        let dnssec = |d: DNSSECRData| RData::DNSSEC(d);
        let data = [
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            RData::AAAA(AAAA(std::net::Ipv6Addr::LOCALHOST)),
            RData::CNAME(CNAME(n("target.example."))),
            RData::NS(NS(n("ns.www.example."))),
            RData::SOA(SOA::new(
                n("ns.example."),
                n("hostmaster.example."),
                1,
                2,
                3,
                4,
                5,
            )),
            RData::MX(MX::new(10, n("mail.example."))),
            RData::TXT(TXT::new(vec!["one".into(), String::new(), "three".into()])),
            dnssec(DNSSECRData::RRSIG(RRSIG::from_sig(sig, vec![9; 64]))),
            dnssec(DNSSECRData::NSEC(NSEC::new(
                n("a.www.example."),
                [
                    RecordType::A,
                    RecordType::RRSIG,
                    RecordType::NSEC,
                    RecordType::CAA,
                ],
            ))),
            dnssec(DNSSECRData::NSEC(NSEC::new(n("example."), []))),
            dnssec(DNSSECRData::NSEC3(NSEC3::new(
                Nsec3HashAlgorithm::SHA1,
                false,
                0,
                vec![1, 2, 3],
                vec![4; 20],
                [RecordType::A, RecordType::MX, RecordType::RRSIG],
            ))),
            dnssec(DNSSECRData::DS(DS::new(
                7,
                Algorithm::ECDSAP256SHA256,
                DigestType::SHA256,
                vec![5; 32],
            ))),
            dnssec(DNSSECRData::DNSKEY(DNSKEY::new(
                true,
                true,
                false,
                PublicKeyBuf::new(vec![6; 64], Algorithm::ECDSAP256SHA256),
            ))),
            // Not worked out: encoded.
            RData::SRV(SRV::new(0, 0, 53, n("ns.example."))),
        ];
        for name in [owner, Name::root()] {
            for d in &data {
                let record = Record::from_rdata(name.clone(), 300, d.clone());
                let mut buf = Vec::new();
                let mut enc = BinEncoder::new(&mut buf);
                enc.set_name_encoding(hickory_proto::serialize::binary::NameEncoding::Uncompressed);
                record.emit(&mut enc).unwrap();
                assert_eq!(wire_len(&record), buf.len(), "{record}");
                // No less than the compressed encoding charged before.
                let mut compressed = Vec::new();
                record.emit(&mut BinEncoder::new(&mut compressed)).unwrap();
                assert!(wire_len(&record) >= compressed.len(), "{record}");
            }
        }
    }

    #[test]
    fn bounded_by_bytes() {
        let cache = Cache::new(10_000, DAY);
        let t0 = Timestamp::from_secs(5_000);
        for i in 0..1000 {
            let name = Name::from_str(&format!("n{i}.example.")).unwrap();
            cache.insert(
                CacheKey::new(&name, RecordType::A, DNSClass::IN, View::Validated),
                entry(t0, 100),
            );
        }
        assert!(cache.weighted_size() <= 10_000, "{}", cache.weighted_size());
        assert!(cache.entry_count() < 1000);
    }
}
