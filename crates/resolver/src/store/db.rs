//! The embedded store: `state-dir/cache.redb`, the Validated view's
//! entries (Secure and Insecure) with their chains, kept across restarts.
//!
//! redb (pure Rust, crash-safe copy-on-write B-trees, one file, a lock
//! against a second process). Three tables: `entries` (key -> expiry,
//! encoded entry), `by_expiry` ((expiry, key) -> ()) for eviction, and
//! `meta` (live bytes).
//!
//! - **Writes** leave the answer path as a `(key, Arc<Entry>)` on a
//!   bounded queue ([`Store::offer`]; full: dropped and counted). One
//!   writer task builds each entry's chain ([`ChainLinks`]), encodes it
//!   ([`super::entry::encode`]) and writes up to [`WRITE_BATCH`] entries
//!   per transaction, at most one per [`WRITE_INTERVAL`]. A failed
//!   transaction counts `lastgood_store_write_errors_total` and logs once
//!   (until a write succeeds again); no client query waits on it.
//! - **Size**: live bytes (keys + values) stay under `store-size`. After
//!   each batch, entries past `ttl + max-stale-ttl` are removed, then, if
//!   still over, the entries that expire first (so stale before fresh,
//!   and among fresh the one closest to its end).
//! - **Reads** ([`Store::get`]) happen on a local cache miss; what is read
//!   is proven again ([`super::entry::decode_and_verify`]) before it goes
//!   into the cache; a rejected entry is counted, logged and deleted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use super::chain::ChainLinks;
use super::compact::{self, Compaction};
use super::entry::{self, Trust};
use super::limits::{
    COMPACT_CHECK_INTERVAL, COMPACT_MIN_FILE_BYTES, COMPACT_MIN_INTERVAL, MAX_EVICTIONS_PER_BATCH,
    PAGE_CACHE_BYTES, WRITE_BATCH, WRITE_INTERVAL, WRITE_QUEUE,
};
use crate::cache::{CacheKey, Entry};
use crate::clock::{SharedClock, Timestamp};
use crate::metrics::StoreMetrics;

/// The store's file name in `state-dir`.
pub const STORE_FILE_NAME: &str = "cache.redb";

pub(super) const ENTRIES: TableDefinition<&[u8], (u64, &[u8])> = TableDefinition::new("entries");
pub(super) const BY_EXPIRY: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("by_expiry");
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const META_BYTES: &str = "bytes";

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("last-good store: {0}")]
    Io(#[from] Box<redb::Error>),
    #[error("last-good store is closed")]
    Closed,
}

pub(super) fn io(e: impl Into<redb::Error>) -> DbError {
    DbError::Io(Box::new(e.into()))
}

/// What the writer task is asked to do.
enum Op {
    Put(CacheKey, Arc<Entry>),
    /// Raw rows (already encoded: `cache load`).
    PutRaw(Vec<u8>, u64, Vec<u8>),
    Remove(Vec<u8>),
    /// Answer once everything queued before is written.
    Sync(oneshot::Sender<()>),
    /// Write what is queued, then close the file.
    Close(oneshot::Sender<()>),
    /// Compact now, whatever the file's size (tests); answers with the
    /// error if it did not finish.
    Compact(oneshot::Sender<Result<(), String>>),
}

/// What `status` shows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoreStatus {
    pub path: String,
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub file_bytes: u64,
    /// Milliseconds since the epoch of the last committed write.
    pub last_write_ms: Option<u64>,
    pub write_errors: u64,
}

/// The embedded last-good store.
pub struct Store {
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    max_bytes: u64,
    max_stale: Duration,
    clock: SharedClock,
    metrics: StoreMetrics,
    trust: RwLock<Arc<Trust>>,
    links: ChainLinks,
    queue: mpsc::Sender<Op>,
    receiver: Mutex<Option<mpsc::Receiver<Op>>>,
    entries: AtomicU64,
    bytes: AtomicU64,
    last_write: AtomicU64,
    /// A write error was logged and no write succeeded since.
    error_logged: AtomicBool,
    /// Files smaller than this are not compacted on their own
    /// (`COMPACT_MIN_FILE_BYTES`; [`Store::set_compact_min_file_bytes`]).
    compact_min_file_bytes: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("entries", &self.entries)
            .finish()
    }
}

impl Store {
    /// Open (or create) the store at `path`. Call [`Store::start`] from a
    /// tokio runtime to start its writer.
    pub fn open(
        path: &Path,
        max_bytes: u64,
        max_stale: Duration,
        trust: Trust,
        clock: SharedClock,
        metrics: StoreMetrics,
    ) -> Result<Arc<Self>, DbError> {
        let open_err = |e: redb::Error| DbError::Open {
            path: path.to_path_buf(),
            source: Box::new(e),
        };
        // A compaction's file left by a crash (the store itself is whole:
        // the new file replaces it by a rename only once complete).
        if let Err(e) = compact::remove_file(&compact::compact_path(path)) {
            tracing::warn!(error = %e, "last-good store: removing an unfinished compaction");
        }
        let db = Database::builder()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(path)
            .map_err(|e| open_err(e.into()))?;
        let (entries, bytes) = {
            let txn = db.begin_write().map_err(|e| open_err(e.into()))?;
            let counts = {
                let t = txn.open_table(ENTRIES).map_err(|e| open_err(e.into()))?;
                txn.open_table(BY_EXPIRY).map_err(|e| open_err(e.into()))?;
                let meta = txn.open_table(META).map_err(|e| open_err(e.into()))?;
                let bytes = meta
                    .get(META_BYTES)
                    .map_err(|e| open_err(e.into()))?
                    .map_or(0, |g| g.value());
                (t.len().map_err(|e| open_err(e.into()))?, bytes)
            };
            txn.commit().map_err(|e| open_err(e.into()))?;
            counts
        };
        let (queue, receiver) = mpsc::channel(WRITE_QUEUE);
        let store = Arc::new(Self {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.to_path_buf(),
            max_bytes,
            max_stale,
            clock,
            metrics,
            trust: RwLock::new(Arc::new(trust)),
            links: ChainLinks::default(),
            queue,
            receiver: Mutex::new(Some(receiver)),
            entries: AtomicU64::new(entries),
            bytes: AtomicU64::new(bytes),
            last_write: AtomicU64::new(0),
            error_logged: AtomicBool::new(false),
            compact_min_file_bytes: AtomicU64::new(COMPACT_MIN_FILE_BYTES),
        });
        store.update_gauges();
        Ok(store)
    }

    /// Start the writer task (once; later calls do nothing).
    pub fn start(self: &Arc<Self>) {
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rx) = receiver {
            tokio::spawn(Arc::clone(self).run_writer(rx));
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pieces of chains the resolver notes as it authenticates keys.
    pub fn links(&self) -> &ChainLinks {
        &self.links
    }

    /// Replace the trust entries are proven against (a reload).
    pub fn set_trust(&self, trust: Trust) {
        *self.trust.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(trust);
    }

    fn trust(&self) -> Arc<Trust> {
        Arc::clone(&self.trust.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn db(&self) -> Option<Arc<Database>> {
        self.db.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Queue a Validated-view entry for writing; never waits.
    pub fn offer(&self, key: CacheKey, entry: Arc<Entry>) {
        if self.queue.try_send(Op::Put(key, entry)).is_err() {
            self.metrics
                .write_dropped
                .with_label_values(&["queue_full"])
                .inc();
        }
    }

    /// Wait until everything queued so far is written.
    pub async fn sync(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue.send(Op::Sync(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Write what is queued and close the file (its lock goes with it).
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.queue.send(Op::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.db.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// The entry stored for `key`, proven again and still usable at
    /// `now` (fresh or within max-stale-ttl); `None` otherwise.
    pub fn get(&self, key: &CacheKey, now: Timestamp) -> Option<Entry> {
        let db = self.db()?;
        let k = key_bytes(key);
        let read = || -> Result<Option<Vec<u8>>, DbError> {
            let txn = db.begin_read().map_err(io)?;
            let table = txn.open_table(ENTRIES).map_err(io)?;
            Ok(table
                .get(k.as_slice())
                .map_err(io)?
                .map(|g| g.value().1.to_vec()))
        };
        let bytes = match read() {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                self.metrics.reads.with_label_values(&["miss"]).inc();
                return None;
            }
            Err(e) => {
                self.metrics.reads.with_label_values(&["error"]).inc();
                tracing::debug!(error = %e, "last-good store read failed");
                return None;
            }
        };
        match self.prove(&bytes, now) {
            Ok((found, entry)) if found == *key => {
                if entry::usable(&entry, now, self.max_stale) {
                    self.metrics.reads.with_label_values(&["hit"]).inc();
                    Some(entry)
                } else {
                    self.metrics.reads.with_label_values(&["gone"]).inc();
                    None
                }
            }
            Ok((found, _)) => {
                self.reject(key, "key", &format!("holds {} {}", found.name, found.qtype));
                None
            }
            Err(e) => {
                self.reject(key, e.reason(), &e.to_string());
                None
            }
        }
    }

    /// Prove stored bytes again with the current trust.
    pub fn prove(
        &self,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(CacheKey, Entry), entry::StoreError> {
        entry::decode_and_verify(bytes, &self.trust(), now)
    }

    fn reject(&self, key: &CacheKey, reason: &str, detail: &str) {
        self.metrics.rejected.with_label_values(&[reason]).inc();
        tracing::warn!(name = %key.name, qtype = %key.qtype, reason, detail, "last-good store entry rejected and deleted");
        let _ = self.queue.try_send(Op::Remove(key_bytes(key)));
    }

    /// Call `each` with every stored entry as encoded (`cache dump`),
    /// in key order, until it returns false.
    pub fn each_entry(&self, mut each: impl FnMut(&[u8]) -> bool) -> Result<(), DbError> {
        let db = self.db().ok_or(DbError::Closed)?;
        let txn = db.begin_read().map_err(io)?;
        let table = txn.open_table(ENTRIES).map_err(io)?;
        for row in table.iter().map_err(io)? {
            let (_, v) = row.map_err(io)?;
            if !each(v.value().1) {
                break;
            }
        }
        Ok(())
    }

    /// Queue an entry the caller proved (`cache load`) for writing; waits
    /// for room in the queue, so call it from a blocking thread.
    pub fn put_encoded_blocking(&self, key: &CacheKey, entry: &Entry, bytes: Vec<u8>) {
        let op = Op::PutRaw(key_bytes(key), expiry_ms(entry), bytes);
        if self.queue.blocking_send(op).is_err() {
            self.metrics
                .write_dropped
                .with_label_values(&["closed"])
                .inc();
        }
    }

    pub fn status(&self) -> StoreStatus {
        let last = self.last_write.load(Ordering::Relaxed);
        StoreStatus {
            path: self.path.display().to_string(),
            entries: self.entries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            max_bytes: self.max_bytes,
            file_bytes: std::fs::metadata(&self.path).map_or(0, |m| m.len()),
            last_write_ms: (last != 0).then_some(last),
            write_errors: self.metrics.write_errors.get(),
        }
    }

    fn update_gauges(&self) {
        let gauge = |v: &AtomicU64| i64::try_from(v.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        self.metrics.entries.set(gauge(&self.entries));
        self.metrics.bytes.set(gauge(&self.bytes));
    }

    async fn run_writer(self: Arc<Self>, mut rx: mpsc::Receiver<Op>) {
        let mut next = tokio::time::Instant::now();
        let mut compaction: Option<Compaction> = None;
        // The last compaction begun, and whether the check at start ran.
        let mut last_compaction: Option<tokio::time::Instant> = None;
        let mut checked = false;
        let mut forced: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
        loop {
            // While a compaction copies, queued ops are taken without
            // waiting (a chunk follows); otherwise wait for one, waking
            // every COMPACT_CHECK_INTERVAL to see if compacting pays.
            let first = if compaction.is_some() {
                match rx.try_recv() {
                    Ok(op) => Some(op),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                }
            } else if !checked && forced.is_empty() {
                // At start: check first.
                None
            } else {
                match tokio::time::timeout(COMPACT_CHECK_INTERVAL, rx.recv()).await {
                    Ok(Some(op)) => Some(op),
                    Ok(None) => break,
                    Err(_) => None,
                }
            };
            if let Some(first) = first {
                let closing = self
                    .handle_ops(first, &mut rx, &mut compaction, &mut forced)
                    .await;
                if let Some(tx) = closing {
                    if let Some(c) = compaction.take() {
                        self.compaction_failed(c, "closed", "the store is closing");
                    }
                    for f in forced.drain(..) {
                        let _ = f.send(Err("the store is closing".to_owned()));
                    }
                    self.db.write().unwrap_or_else(|e| e.into_inner()).take();
                    let _ = tx.send(());
                    return;
                }
                next += WRITE_INTERVAL;
                let now = tokio::time::Instant::now();
                if next > now {
                    tokio::time::sleep_until(next).await;
                } else {
                    next = now;
                }
            }
            if compaction.is_some() {
                compaction = self.compaction_step(compaction, &mut forced).await;
            } else {
                let due = last_compaction.is_none_or(|t| t.elapsed() >= COMPACT_MIN_INTERVAL);
                let status = self.status();
                let min_file = self.compact_min_file_bytes.load(Ordering::Relaxed);
                if !forced.is_empty()
                    || (due && compact::worth_compacting(status.file_bytes, status.bytes, min_file))
                {
                    last_compaction = Some(tokio::time::Instant::now());
                    compaction = self.compaction_begin(&mut forced).await;
                }
                checked = true;
            }
        }
        if let Some(c) = compaction.take() {
            c.abandon();
        }
    }

    /// Handle `first` and what else is queued (up to [`WRITE_BATCH`]);
    /// the close request, if one came.
    async fn handle_ops(
        self: &Arc<Self>,
        first: Op,
        rx: &mut mpsc::Receiver<Op>,
        compaction: &mut Option<Compaction>,
        forced: &mut Vec<oneshot::Sender<Result<(), String>>>,
    ) -> Option<oneshot::Sender<()>> {
        let mut ops = vec![first];
        while ops.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        let mut rows = Vec::with_capacity(ops.len());
        let mut waiting = Vec::new();
        let mut closing = None;
        let trust = self.trust();
        for op in ops {
            match op {
                Op::Put(key, entry) => {
                    if let Some(row) = self.encode_row(&key, &entry, &trust) {
                        rows.push(row);
                    }
                }
                Op::PutRaw(k, expiry, v) => rows.push(Row::Put(k, expiry, v)),
                Op::Remove(k) => rows.push(Row::Remove(k)),
                Op::Sync(tx) => waiting.push(tx),
                Op::Close(tx) => closing = Some(tx),
                Op::Compact(tx) => forced.push(tx),
            }
        }
        if !rows.is_empty() {
            let this = Arc::clone(self);
            let now = self.clock.now();
            let touched = compaction.is_some();
            let written = tokio::task::spawn_blocking(move || this.write(rows, now, touched)).await;
            match written {
                Ok(Ok((count, keys))) => {
                    self.metrics.writes.inc_by(count);
                    self.last_write.store(now.as_millis(), Ordering::Relaxed);
                    self.error_logged.store(false, Ordering::Relaxed);
                    if let Some(c) = compaction.as_mut()
                        && let Err(e) = c.note_dirty(keys)
                        && let Some(c) = compaction.take()
                    {
                        self.compaction_failed(c, e.result(), &e.to_string());
                        answer(forced, Err(e.to_string()));
                    }
                }
                Ok(Err(e)) => self.write_failed(&e.to_string()),
                Err(e) => self.write_failed(&e.to_string()),
            }
            self.update_gauges();
        }
        for tx in waiting {
            let _ = tx.send(());
        }
        closing
    }

    async fn compaction_begin(
        &self,
        forced: &mut Vec<oneshot::Sender<Result<(), String>>>,
    ) -> Option<Compaction> {
        let path = self.path.clone();
        let begun = tokio::task::spawn_blocking(move || Compaction::begin(&path)).await;
        match begun {
            Ok(Ok(c)) => {
                let status = self.status();
                tracing::info!(path = %self.path.display(), file_bytes = status.file_bytes, live_bytes = status.bytes, "last-good store: compacting");
                Some(c)
            }
            Ok(Err(e)) => {
                self.metrics
                    .compactions
                    .with_label_values(&[e.result()])
                    .inc();
                tracing::warn!(path = %self.path.display(), error = %e, "last-good store compaction failed; the file stays as it is");
                answer(forced, Err(e.to_string()));
                None
            }
            Err(e) => {
                self.metrics.compactions.with_label_values(&["error"]).inc();
                answer(forced, Err(e.to_string()));
                None
            }
        }
    }

    /// One chunk of the copy, or the end: the compaction still under way.
    async fn compaction_step(
        self: &Arc<Self>,
        compaction: Option<Compaction>,
        forced: &mut Vec<oneshot::Sender<Result<(), String>>>,
    ) -> Option<Compaction> {
        let c = compaction?;
        let Some(old) = self.db() else {
            self.compaction_failed(c, "closed", "the store is closed");
            answer(forced, Err("the store is closed".to_owned()));
            return None;
        };
        let tmp = compact::compact_path(&self.path);
        if !c.copied() {
            let stepped = tokio::task::spawn_blocking(move || {
                let mut c = c;
                let r = c.copy_chunk(&old);
                (c, r)
            })
            .await;
            let error = match stepped {
                Ok((c, Ok(()))) => return Some(c),
                Ok((c, Err(e))) => {
                    self.compaction_failed(c, e.result(), &e.to_string());
                    e.to_string()
                }
                Err(e) => {
                    let _ = compact::remove_file(&tmp);
                    self.compaction_failed_counted("error", &e.to_string());
                    e.to_string()
                }
            };
            answer(forced, Err(error));
            return None;
        }
        let path = self.path.clone();
        let before = c.file_before;
        let started = std::time::Instant::now();
        let finished = tokio::task::spawn_blocking(move || c.finish(&old, &path)).await;
        match finished {
            Ok(Ok(db)) => {
                *self.db.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(db));
                let after = std::fs::metadata(&self.path).map_or(0, |m| m.len());
                self.metrics.compactions.with_label_values(&["done"]).inc();
                tracing::info!(
                    path = %self.path.display(),
                    file_bytes_before = before,
                    file_bytes_after = after,
                    finish_ms = started.elapsed().as_millis(),
                    "last-good store compacted"
                );
                answer(forced, Ok(()));
            }
            Ok(Err(e)) => {
                self.compaction_failed_counted(e.result(), &e.to_string());
                answer(forced, Err(e.to_string()));
            }
            Err(e) => {
                let _ = compact::remove_file(&tmp);
                self.compaction_failed_counted("error", &e.to_string());
                answer(forced, Err(e.to_string()));
            }
        }
        None
    }

    fn compaction_failed(&self, c: Compaction, result: &'static str, error: &str) {
        c.abandon();
        self.compaction_failed_counted(result, error);
    }

    fn compaction_failed_counted(&self, result: &'static str, error: &str) {
        self.metrics.compactions.with_label_values(&[result]).inc();
        tracing::warn!(path = %self.path.display(), result, error, "last-good store compaction abandoned; the file stays as it is");
    }

    /// Compact files from `bytes` on, instead of `COMPACT_MIN_FILE_BYTES`
    /// (tests; `u64::MAX`: only when asked by [`Store::compact`]).
    pub fn set_compact_min_file_bytes(&self, bytes: u64) {
        self.compact_min_file_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Compact the file now, whatever its size; the error if that did
    /// not finish (tests).
    pub async fn compact(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        if self.queue.send(Op::Compact(tx)).await.is_err() {
            return Err("the store is closed".to_owned());
        }
        rx.await
            .unwrap_or_else(|_| Err("the store is closed".to_owned()))
    }

    fn write_failed(&self, error: &str) {
        self.metrics.write_errors.inc();
        if !self.error_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(path = %self.path.display(), error, "last-good store write failed; answers go on from memory (logged once until a write succeeds)");
        }
    }

    fn encode_row(&self, key: &CacheKey, entry: &Entry, trust: &Trust) -> Option<Row> {
        let chain = match self.links.chain_for(entry, trust) {
            Ok(chain) => chain,
            Err(e) => {
                self.metrics
                    .write_dropped
                    .with_label_values(&["no_chain"])
                    .inc();
                tracing::debug!(name = %key.name, qtype = %key.qtype, error = %e, "not stored");
                return None;
            }
        };
        match entry::encode(key, entry, &chain) {
            Ok(bytes) => Some(Row::Put(key_bytes(key), expiry_ms(entry), bytes)),
            Err(e) => {
                self.metrics
                    .write_dropped
                    .with_label_values(&["encode"])
                    .inc();
                tracing::debug!(name = %key.name, qtype = %key.qtype, error = %e, "not stored");
                None
            }
        }
    }

    /// One write transaction: the rows, then eviction. Returns the number
    /// of entries written and, if `touched`, the keys it changed (for a
    /// compaction under way).
    fn write(
        &self,
        rows: Vec<Row>,
        now: Timestamp,
        touched: bool,
    ) -> Result<(u64, Vec<Vec<u8>>), DbError> {
        let db = self.db().ok_or(DbError::Closed)?;
        let txn = db.begin_write().map_err(io)?;
        let mut written = 0u64;
        let mut keys = Vec::new();
        let (entries, bytes) = {
            let mut table = txn.open_table(ENTRIES).map_err(io)?;
            let mut by_expiry = txn.open_table(BY_EXPIRY).map_err(io)?;
            let mut meta = txn.open_table(META).map_err(io)?;
            let mut bytes = meta.get(META_BYTES).map_err(io)?.map_or(0, |g| g.value());
            for row in rows {
                let (k, put) = match row {
                    Row::Put(k, expiry, v) => (k, Some((expiry, v))),
                    Row::Remove(k) => (k, None),
                };
                if touched {
                    keys.push(k.clone());
                }
                let old = match &put {
                    Some((expiry, v)) => table
                        .insert(k.as_slice(), (*expiry, v.as_slice()))
                        .map_err(io)?
                        .map(|g| (g.value().0, g.value().1.len())),
                    None => table
                        .remove(k.as_slice())
                        .map_err(io)?
                        .map(|g| (g.value().0, g.value().1.len())),
                };
                if let Some((old_expiry, old_len)) = old {
                    by_expiry.remove((old_expiry, k.as_slice())).map_err(io)?;
                    bytes = bytes.saturating_sub(row_bytes(k.len(), old_len));
                }
                if let Some((expiry, v)) = put {
                    by_expiry.insert((expiry, k.as_slice()), ()).map_err(io)?;
                    bytes = bytes.saturating_add(row_bytes(k.len(), v.len()));
                    written += 1;
                }
            }
            // Past ttl + max-stale first, then whatever expires first while
            // over store-size.
            let gone_before = now
                .as_millis()
                .saturating_sub(u64::try_from(self.max_stale.as_millis()).unwrap_or(u64::MAX));
            for _ in 0..MAX_EVICTIONS_PER_BATCH {
                let first = by_expiry
                    .first()
                    .map_err(io)?
                    .map(|(k, _)| (k.value().0, k.value().1.to_vec()));
                let Some((expiry, k)) = first else { break };
                let reason = if expiry < gone_before {
                    "gone"
                } else if bytes > self.max_bytes {
                    "size"
                } else {
                    break;
                };
                by_expiry.remove((expiry, k.as_slice())).map_err(io)?;
                let removed = table
                    .remove(k.as_slice())
                    .map_err(io)?
                    .map(|g| g.value().1.len());
                if let Some(len) = removed {
                    bytes = bytes.saturating_sub(row_bytes(k.len(), len));
                }
                if touched {
                    keys.push(k);
                }
                self.metrics.evicted.with_label_values(&[reason]).inc();
            }
            meta.insert(META_BYTES, bytes).map_err(io)?;
            (table.len().map_err(io)?, bytes)
        };
        txn.commit().map_err(io)?;
        self.entries.store(entries, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        Ok((written, keys))
    }
}

/// Tell everyone who asked for a compaction how it went.
fn answer(forced: &mut Vec<oneshot::Sender<Result<(), String>>>, result: Result<(), String>) {
    for tx in forced.drain(..) {
        let _ = tx.send(result.clone());
    }
}

enum Row {
    Put(Vec<u8>, u64, Vec<u8>),
    Remove(Vec<u8>),
}

fn row_bytes(key: usize, value: usize) -> u64 {
    u64::try_from(key.saturating_add(value).saturating_add(8)).unwrap_or(u64::MAX)
}

/// When `entry` stops being fresh, in milliseconds since the epoch.
fn expiry_ms(entry: &Entry) -> u64 {
    entry
        .stored_at
        .saturating_add(Duration::from_secs(u64::from(entry.ttl)))
        .as_millis()
}

/// The store's key for a cache key: `name qtype` (name lowercased by
/// `CacheKey::new`; the view is always Validated, the class IN).
pub fn key_bytes(key: &CacheKey) -> Vec<u8> {
    format!("{} {}", key.name, key.qtype).into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::dnssec::{AlgorithmPolicy, TrustAnchors};
    use crate::metrics::Metrics;
    use crate::resolve::private::PrivateZones;

    fn trust() -> Trust {
        Trust {
            anchors: TrustAnchors::builtin_root(),
            algorithms: AlgorithmPolicy::default(),
            dnssec: true,
            private_zones: PrivateZones::default(),
            memo: None,
        }
    }

    /// The indices (first 4 bytes of each value) of what the store holds.
    fn held(store: &Store) -> Vec<u32> {
        let mut v = Vec::new();
        store
            .each_entry(|b| {
                v.push(u32::from_be_bytes(b[..4].try_into().unwrap()));
                true
            })
            .unwrap();
        v.sort_unstable();
        v
    }

    #[tokio::test]
    async fn bounded_by_store_size_evicting_gone_then_soonest_to_expire() {
        let dir = std::env::temp_dir().join(format!("lastgood-db-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let clock = ManualClock::new();
        let metrics = Metrics::new().unwrap();
        let max_stale = Duration::from_secs(100);
        let store = Store::open(
            &dir.join(STORE_FILE_NAME),
            20_000,
            max_stale,
            trust(),
            Arc::new(clock.clone()),
            metrics.store.clone(),
        )
        .unwrap();
        store.start();
        let now = clock.now().as_millis();
        let value = |i: u32| {
            let mut v = i.to_be_bytes().to_vec();
            v.resize(1000, 0);
            v
        };
        // 100 entries of ~1 KB, entry i expiring i seconds from now, in a
        // shuffled order.
        for i in (0..100u32).map(|i| (i * 37) % 100) {
            let op = Op::PutRaw(
                format!("k{i}").into_bytes(),
                now + u64::from(i) * 1000,
                value(i),
            );
            store.queue.send(op).await.unwrap();
        }
        store.sync().await;
        let status = store.status();
        assert!(status.bytes <= 20_000, "{status:?}");
        let kept = held(&store);
        assert!(kept.len() >= 15 && kept.len() < 100, "{kept:?}");
        let first_kept = kept[0];
        assert_eq!(
            kept,
            (first_kept..100).collect::<Vec<_>>(),
            "the latest to expire stay"
        );
        assert_eq!(status.entries, kept.len() as u64);
        assert_eq!(
            metrics.store.evicted.with_label_values(&["size"]).get(),
            100 - kept.len() as u64
        );

        // Past expiry + max-stale: gone at the next write, whatever the size.
        clock.advance(max_stale + Duration::from_secs(u64::from(first_kept) + 5));
        let op = Op::PutRaw(
            b"new".to_vec(),
            clock.now().as_millis() + 60_000,
            value(1000),
        );
        store.queue.send(op).await.unwrap();
        store.sync().await;
        let kept = held(&store);
        assert!(!kept.contains(&first_kept), "{kept:?}");
        assert!(kept.contains(&1000));
        assert!(metrics.store.evicted.with_label_values(&["gone"]).get() >= 1);

        // Removing counts the bytes back; reopening keeps entries and bytes.
        let before = store.status();
        store.close().await;
        let again = Store::open(
            &dir.join(STORE_FILE_NAME),
            20_000,
            max_stale,
            trust(),
            Arc::new(clock.clone()),
            metrics.store.clone(),
        )
        .unwrap();
        let after = again.status();
        assert_eq!((after.entries, after.bytes), (before.entries, before.bytes));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A store of 1 GiB at `path` (never full in these tests).
    fn open_big(
        path: &Path,
        clock: &ManualClock,
        max_stale: Duration,
        metrics: &Metrics,
    ) -> Arc<Store> {
        Store::open(
            path,
            1 << 30,
            max_stale,
            trust(),
            Arc::new(clock.clone()),
            metrics.store.clone(),
        )
        .unwrap()
    }

    async fn put_raw(store: &Store, key: String, expiry: u64, value: Vec<u8>) {
        let op = Op::PutRaw(key.into_bytes(), expiry, value);
        store.queue.send(op).await.unwrap();
    }

    #[tokio::test]
    async fn compaction_gives_back_what_evictions_freed() {
        let dir = std::env::temp_dir().join(format!("lastgood-db-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(STORE_FILE_NAME);
        let clock = ManualClock::new();
        let metrics = Metrics::new().unwrap();
        let max_stale = Duration::from_secs(100);
        let open = |metrics: &Metrics| open_big(&path, &clock, max_stale, metrics);
        let store = open(&metrics);
        store.set_compact_min_file_bytes(u64::MAX);
        store.start();
        let now = clock.now().as_millis();
        let value = |i: u32| {
            let mut v = i.to_be_bytes().to_vec();
            v.resize(2000, 7);
            v
        };
        // 20,000 entries of 2 KB; all but every tenth expire in a second.
        for i in 0..20_000u32 {
            let expiry = if i % 10 == 0 {
                now + 36_000_000
            } else {
                now + 1000
            };
            put_raw(&store, format!("k{i:05}"), expiry, value(i)).await;
        }
        store.sync().await;
        // Past max-stale-ttl: writes evict them (MAX_EVICTIONS_PER_BATCH
        // per transaction).
        clock.advance(max_stale + Duration::from_secs(2));
        let gone = || metrics.store.evicted.with_label_values(&["gone"]).get();
        for i in 0..10u32 {
            put_raw(
                &store,
                format!("n{i}"),
                now + 36_000_000,
                value(100_000 + i),
            )
            .await;
            store.sync().await;
            if gone() == 18_000 {
                break;
            }
        }
        assert_eq!(gone(), 18_000);
        let before = store.status();
        let kept = held(&store);
        assert_eq!(kept.len() as u64, before.entries);

        // Refused: the compaction's file cannot be made (a directory is in
        // its way); the store goes on as it was.
        let tmp = compact::compact_path(&path);
        std::fs::create_dir_all(tmp.join("x")).unwrap();
        let err = store.compact().await.unwrap_err();
        assert!(err.contains(".compact"), "{err}");
        assert_eq!(
            metrics
                .store
                .compactions
                .with_label_values(&["error"])
                .get(),
            1
        );
        assert_eq!(held(&store), kept);
        std::fs::remove_dir_all(&tmp).unwrap();

        // Compacted, with writes queued behind the request: a new entry and
        // a removal land in the new file too.
        let (tx, rx) = oneshot::channel();
        store.queue.send(Op::Compact(tx)).await.unwrap();
        put_raw(&store, "late".to_owned(), now + 36_000_000, value(200_000)).await;
        store
            .queue
            .send(Op::Remove(b"k00010".to_vec()))
            .await
            .unwrap();
        rx.await.unwrap().unwrap();
        store.sync().await;
        let after = store.status();
        eprintln!(
            "live {} file before {} after {} ({:.2} x live)",
            after.bytes,
            before.file_bytes,
            after.file_bytes,
            after.file_bytes as f64 / after.bytes as f64
        );
        assert!(
            after.file_bytes < before.file_bytes / 2,
            "{before:?} -> {after:?}"
        );
        assert!(!tmp.exists());
        assert_eq!(
            metrics.store.compactions.with_label_values(&["done"]).get(),
            1
        );
        let mut expected: Vec<u32> = kept.iter().copied().filter(|&i| i != 10).collect();
        expected.push(200_000);
        expected.sort_unstable();
        assert_eq!(held(&store), expected);
        assert_eq!(after.entries, expected.len() as u64);
        // The new file is the store now: written to, and whole on reopening.
        put_raw(&store, "later".to_owned(), now + 36_000_000, value(300_000)).await;
        store.sync().await;
        store.close().await;
        let again = open(&Metrics::new().unwrap());
        expected.push(300_000);
        assert_eq!(held(&again), expected);
        assert_eq!(again.status().entries, expected.len() as u64);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn compacting_pays_only_for_a_large_mostly_free_file() {
        use super::super::limits::{COMPACT_FILE_RATIO, COMPACT_MIN_FILE_BYTES};
        let big = COMPACT_MIN_FILE_BYTES * 4;
        let min = COMPACT_MIN_FILE_BYTES;
        assert!(compact::worth_compacting(
            big,
            big / (COMPACT_FILE_RATIO + 1),
            min
        ));
        assert!(!compact::worth_compacting(big, big / 2, min));
        assert!(!compact::worth_compacting(min - 1, 0, min));
    }

    #[tokio::test]
    async fn a_mostly_free_file_is_compacted_at_start() {
        let dir = std::env::temp_dir().join(format!("lastgood-db-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(STORE_FILE_NAME);
        let clock = ManualClock::new();
        let max_stale = Duration::from_secs(100);
        let open = |metrics: &Metrics| open_big(&path, &clock, max_stale, metrics);
        let metrics = Metrics::new().unwrap();
        let store = open(&metrics);
        store.set_compact_min_file_bytes(u64::MAX);
        store.start();
        let now = clock.now().as_millis();
        for i in 0..5_000u32 {
            let expiry = if i % 10 == 0 {
                now + 36_000_000
            } else {
                now + 1000
            };
            put_raw(&store, format!("k{i:05}"), expiry, vec![1; 2000]).await;
        }
        store.sync().await;
        clock.advance(max_stale + Duration::from_secs(2));
        for i in 0..5u32 {
            put_raw(&store, format!("n{i}"), now + 36_000_000, vec![2; 2000]).await;
            store.sync().await;
        }
        let before = store.status();
        assert_eq!(before.entries, 505);
        assert_eq!(
            metrics.store.compactions.with_label_values(&["done"]).get(),
            0
        );
        store.close().await;

        // Opened again with a threshold this small file passes: the writer
        // compacts it on its own, first thing.
        let metrics = Metrics::new().unwrap();
        let store = open(&metrics);
        store.set_compact_min_file_bytes(1);
        store.start();
        let done = || metrics.store.compactions.with_label_values(&["done"]).get();
        for _ in 0..200 {
            if done() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(done(), 1);
        let after = store.status();
        assert!(
            after.file_bytes < before.file_bytes / 2,
            "{before:?} -> {after:?}"
        );
        assert_eq!((after.entries, after.bytes), (before.entries, before.bytes));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
