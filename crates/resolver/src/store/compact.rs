//! Compaction of the store file (redb files never shrink by themselves:
//! pages freed by evictions are reused, never given back).
//!
//! When the file is much larger than its live rows ([`worth_compacting`]:
//! at least [`COMPACT_MIN_FILE_BYTES`] and [`COMPACT_FILE_RATIO`] times the
//! live bytes), checked when the writer starts and every
//! `COMPACT_CHECK_INTERVAL`, at most one attempt per
//! `COMPACT_MIN_INTERVAL`, the writer task copies the live rows into a
//! fresh redb file beside it (`cache.redb.compact`), [`COMPACT_CHUNK_ROWS`]
//! per transaction, handling queued writes between chunks as usual (on the
//! old file, which reads keep using). The keys those writes and their
//! evictions touch are noted ([`COMPACT_MAX_DIRTY`] at most) and copied
//! again at the end; then the new file is renamed over the old one and
//! replaces it for reads and writes. Nothing waits on it but the writer.
//!
//! A compaction that fails (disk full, an I/O error), runs past
//! [`COMPACT_MAX_DURATION`] or notes too many keys is abandoned: its file
//! is removed, the old one stays, a WARN is logged and
//! `lastgood_store_compactions_total{result}` counts it. A crash during
//! one leaves the `.compact` file behind, removed at the next start.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use redb::{Database, Durability};

use super::db::{BY_EXPIRY, DbError, ENTRIES, META, META_BYTES, io};
#[cfg(doc)]
use super::limits::COMPACT_MIN_FILE_BYTES;
use super::limits::{
    COMPACT_CHUNK_ROWS, COMPACT_FILE_RATIO, COMPACT_MAX_DIRTY, COMPACT_MAX_DURATION,
    PAGE_CACHE_BYTES,
};

/// The compaction's file, beside the store's.
pub fn compact_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".compact");
    PathBuf::from(name)
}

/// Whether a file of `file_bytes` holding `live_bytes` of rows is worth
/// compacting (`min_file_bytes`: [`COMPACT_MIN_FILE_BYTES`] but in tests).
pub fn worth_compacting(file_bytes: u64, live_bytes: u64, min_file_bytes: u64) -> bool {
    file_bytes >= min_file_bytes && file_bytes > live_bytes.saturating_mul(COMPACT_FILE_RATIO)
}

/// Why a compaction did not finish (the metric's `result` label).
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error("{0}")]
    Db(#[from] DbError),
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("still running after COMPACT_MAX_DURATION ({COMPACT_MAX_DURATION:?})")]
    Time,
    #[error("more than COMPACT_MAX_DIRTY ({COMPACT_MAX_DIRTY}) keys written meanwhile")]
    Dirty,
}

impl CompactError {
    pub fn result(&self) -> &'static str {
        match self {
            Self::Db(_) | Self::File { .. } => "error",
            Self::Time => "time",
            Self::Dirty => "dirty",
        }
    }
}

/// A compaction under way.
pub struct Compaction {
    new: Database,
    path: PathBuf,
    /// The last key copied; the next chunk starts after it.
    cursor: Option<Vec<u8>>,
    copied: bool,
    dirty: HashSet<Vec<u8>>,
    started: Instant,
    pub file_before: u64,
}

impl std::fmt::Debug for Compaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compaction")
            .field("path", &self.path)
            .field("copied", &self.copied)
            .field("dirty", &self.dirty.len())
            .finish()
    }
}

impl Compaction {
    /// Create the new file for the store at `store` (one left by a crash
    /// is replaced).
    pub fn begin(store: &Path) -> Result<Self, CompactError> {
        let path = compact_path(store);
        remove_file(&path)?;
        let file_before = std::fs::metadata(store).map_or(0, |m| m.len());
        let new = Database::builder()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(&path)
            .map_err(io)?;
        let txn = new.begin_write().map_err(io)?;
        txn.open_table(ENTRIES).map_err(io)?;
        txn.open_table(BY_EXPIRY).map_err(io)?;
        txn.open_table(META).map_err(io)?;
        txn.commit().map_err(io)?;
        Ok(Self {
            new,
            path,
            cursor: None,
            copied: false,
            dirty: HashSet::new(),
            started: Instant::now(),
            file_before,
        })
    }

    /// True once every row of the old file was copied once.
    pub fn copied(&self) -> bool {
        self.copied
    }

    /// Keys that writes to the old file changed (put, removed, evicted).
    pub fn note_dirty(&mut self, keys: Vec<Vec<u8>>) -> Result<(), CompactError> {
        self.dirty.extend(keys);
        if self.dirty.len() > COMPACT_MAX_DIRTY {
            return Err(CompactError::Dirty);
        }
        Ok(())
    }

    /// Copy the next [`COMPACT_CHUNK_ROWS`] rows of `old`.
    pub fn copy_chunk(&mut self, old: &Database) -> Result<(), CompactError> {
        if self.started.elapsed() > COMPACT_MAX_DURATION {
            return Err(CompactError::Time);
        }
        let read = old.begin_read().map_err(io)?;
        let from = read.open_table(ENTRIES).map_err(io)?;
        let mut txn = self.new.begin_write().map_err(io)?;
        txn.set_durability(Durability::Eventual);
        let mut last = None;
        let mut n = 0;
        {
            let mut entries = txn.open_table(ENTRIES).map_err(io)?;
            let mut by_expiry = txn.open_table(BY_EXPIRY).map_err(io)?;
            let range = match &self.cursor {
                Some(k) => from.range::<&[u8]>((
                    std::ops::Bound::Excluded(k.as_slice()),
                    std::ops::Bound::Unbounded,
                )),
                None => from.range::<&[u8]>(..),
            }
            .map_err(io)?;
            for row in range.take(COMPACT_CHUNK_ROWS) {
                let (k, v) = row.map_err(io)?;
                let (key, (expiry, value)) = (k.value(), v.value());
                entries.insert(key, (expiry, value)).map_err(io)?;
                by_expiry.insert((expiry, key), ()).map_err(io)?;
                last = Some(key.to_vec());
                n += 1;
            }
        }
        txn.commit().map_err(io)?;
        if n < COMPACT_CHUNK_ROWS {
            self.copied = true;
        }
        if last.is_some() {
            self.cursor = last;
        }
        Ok(())
    }

    /// Copy the dirty keys again, make the new file durable and rename it
    /// over `store`; the new database, to replace the old one. The caller
    /// (the writer) writes nothing to the old file meanwhile.
    pub fn finish(self, old: &Database, store: &Path) -> Result<Database, CompactError> {
        let path = self.path.clone();
        let finished = self.finish_inner(old, store);
        if finished.is_err() {
            let _ = remove_file(&path);
        }
        finished
    }

    fn finish_inner(self, old: &Database, store: &Path) -> Result<Database, CompactError> {
        let read = old.begin_read().map_err(io)?;
        let from = read.open_table(ENTRIES).map_err(io)?;
        let bytes = read
            .open_table(META)
            .map_err(io)?
            .get(META_BYTES)
            .map_err(io)?
            .map_or(0, |g| g.value());
        let mut txn = self.new.begin_write().map_err(io)?;
        txn.set_durability(Durability::Immediate);
        {
            let mut entries = txn.open_table(ENTRIES).map_err(io)?;
            let mut by_expiry = txn.open_table(BY_EXPIRY).map_err(io)?;
            for key in &self.dirty {
                let was = entries
                    .remove(key.as_slice())
                    .map_err(io)?
                    .map(|g| g.value().0);
                if let Some(expiry) = was {
                    by_expiry.remove((expiry, key.as_slice())).map_err(io)?;
                }
                if let Some(row) = from.get(key.as_slice()).map_err(io)? {
                    let (expiry, value) = row.value();
                    entries
                        .insert(key.as_slice(), (expiry, value))
                        .map_err(io)?;
                    by_expiry.insert((expiry, key.as_slice()), ()).map_err(io)?;
                }
            }
            txn.open_table(META)
                .map_err(io)?
                .insert(META_BYTES, bytes)
                .map_err(io)?;
        }
        txn.commit().map_err(io)?;
        std::fs::rename(&self.path, store).map_err(|source| CompactError::File {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.new)
    }

    /// Give up: close and remove the new file.
    pub fn abandon(self) {
        let path = self.path.clone();
        drop(self.new);
        let _ = remove_file(&path);
    }
}

/// Remove `path` if it exists.
pub fn remove_file(path: &Path) -> Result<(), CompactError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CompactError::File {
            path: path.to_path_buf(),
            source,
        }),
    }
}
