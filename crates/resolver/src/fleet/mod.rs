//! The fleet tier: several lastgood instances sharing one Redis (or
//! Valkey) for their last validated answers, their NTAs and their flushes.
//!
//! - Entries: each instance writes the Validated-view entries it caches
//!   (Secure or Insecure, with the chain that proves them, in the store's
//!   entry format) and reads one on a local miss or a failed refresh.
//!   Nothing read is trusted: every entry is proven again
//!   (`store::entry::decode_and_verify`) before it reaches the cache, so a
//!   poisoned Redis can make an instance slower, never wrong.
//! - NTAs: an NTA added or removed through the control API goes into a
//!   Redis hash with its expiry and a message on the fleet channel makes
//!   every instance read the hash again (and each reads it every
//!   `NTA_RECONCILE_INTERVAL` anyway); see [`sync`].
//! - Flushes: `cache flush --fleet` is published and applied by every
//!   instance; an entry read from Redis that was stored before a flush
//!   this instance applied is clipped as that flush would have clipped it.
//!
//! Redis down or slow never blocks an answer: reads on the answer path
//! wait at most [`limits::REDIS_CALL_TIMEOUT`], writes go through a
//! bounded queue to their own task, and a failed call marks Redis down:
//! until the link task reconnects (backoff from [`limits::REDIS_BACKOFF_MIN`]
//! to [`limits::REDIS_BACKOFF_MAX`]) no call is tried at all.
//!
//! Key layout and messages: [`keys`].
//!
//! # Limitations
//!
//! - An NTA added or removed while Redis is down is kept as pending and
//!   pushed at the next reconcile once Redis answers again, unless the
//!   fleet's hash holds a newer change of the same zone (newest wins, by
//!   the time it was added or removed); pending changes live in memory,
//!   so a restart while Redis is down forgets them (the NTA itself stays
//!   in this instance's NTA file). A flush published while an instance
//!   was disconnected is not replayed to it (NTAs are state and are
//!   reconciled; flushes are events).
//! - Config-file NTAs are per instance, never shared.
//! - Proving an entry again shows that its records were signed by the
//!   zone's keys, not when it was stored: a writer to Redis can replay
//!   data whose signatures are still valid with a later stored-at time
//!   (never one in the future), as an on-path attacker can replay it on
//!   the wire. It cannot make up data.

pub mod keys;
pub mod limits;
pub mod sync;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ClientTlsConfig, IntoConnectionInfo, TlsCertificates};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{Notify, mpsc};

use crate::cache::{CacheKey, Entry};
use crate::clock::Timestamp;
use crate::control::Flush;
use crate::resolve::Resolver;
use crate::store::Trust;
use crate::store::chain::ChainLinks;

use keys::{Event, NtaRecord};
use limits::{
    MAX_FLEET_NTAS, MAX_FLUSHES_REMEMBERED, REDIS_BACKOFF_MAX, REDIS_BACKOFF_MIN,
    REDIS_CALL_TIMEOUT, REDIS_CONNECT_TIMEOUT, REDIS_HEALTH_INTERVAL, REDIS_WRITE_BATCH,
    REDIS_WRITE_QUEUE, REDIS_WRITE_TIMEOUT,
};

pub const REDIS_UP: &str = "lastgood_redis_up";
pub const REDIS_ERRORS_TOTAL: &str = "lastgood_redis_errors_total";
pub const REDIS_READS_TOTAL: &str = "lastgood_redis_reads_total";
pub const REDIS_ENTRIES_WRITTEN_TOTAL: &str = "lastgood_redis_entries_written_total";
pub const REDIS_WRITES_DROPPED_TOTAL: &str = "lastgood_redis_writes_dropped_total";
pub const REDIS_REJECTED_TOTAL: &str = "lastgood_redis_rejected_total";
pub const FLEET_EVENTS_TOTAL: &str = "lastgood_fleet_events_total";

/// `redis-url`, `redis-password-file` and the TLS files, as configured.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FleetSettings {
    /// `redis://[user:pass@]host:port/db`, `rediss://` for TLS,
    /// `redis+unix:///path`: may hold a password, so it is shown only
    /// through [`redact`].
    pub url: String,
    /// A file holding the password (overrides one in the URL).
    pub password_file: Option<PathBuf>,
    /// `redis-ca-file`: PEM certificates trusted for the server's
    /// certificate instead of the system roots (a private CA; redis-cli's
    /// `--cacert`). Only with `rediss://`.
    pub ca_file: Option<PathBuf>,
    /// `redis-cert-file` and `redis-key-file`: a client certificate chain
    /// and its key, both PEM, for a server that authenticates clients
    /// (Redis's `tls-auth-clients yes`, its default). Only together, only
    /// with `rediss://`.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl std::fmt::Debug for FleetSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetSettings")
            .field("url", &redact(&self.url))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// Errors setting the fleet tier up (found by `check-config` too).
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("redis-url {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("redis-password-file {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("redis-password-file {path}: empty")]
    EmptyPassword { path: PathBuf },
    #[error("{key} {path}: {source}")]
    TlsFile {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key} {path}: {reason}")]
    BadTlsFile {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("registering fleet metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// `url` with any password replaced by `***` (for logs and `status`).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    format!("{scheme}://{user}:***@{host}{path}")
}

impl FleetSettings {
    /// The client for these settings: the URL parsed and the password
    /// file read. Does not connect.
    pub fn client(&self) -> Result<Client, FleetError> {
        let bad = |reason: String| FleetError::Url {
            url: redact(&self.url),
            reason,
        };
        let scheme = self.url.split_once("://").map(|(s, _)| s);
        if !matches!(
            scheme,
            Some("redis" | "rediss" | "valkey" | "valkeys" | "redis+unix" | "unix")
        ) {
            return Err(bad(
                "expected redis://, rediss:// (TLS), valkey://, valkeys:// or redis+unix://"
                    .to_owned(),
            ));
        }
        let mut info = self
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| bad(e.to_string()))?;
        if let Some(path) = &self.password_file {
            let text =
                std::fs::read_to_string(path).map_err(|source| FleetError::PasswordFile {
                    path: path.clone(),
                    source,
                })?;
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(FleetError::EmptyPassword { path: path.clone() });
            }
            let redis = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(redis);
        }
        match self.tls_certificates()? {
            Some(certs) => Client::build_with_tls(info, certs).map_err(|e| bad(e.to_string())),
            None => Client::open(info).map_err(|e| bad(e.to_string())),
        }
    }

    /// The TLS files read and checked (each must hold what its key says),
    /// or None when none is set: `rediss://` then trusts the system roots.
    fn tls_certificates(&self) -> Result<Option<TlsCertificates>, FleetError> {
        if self.ca_file.is_none() && self.cert_file.is_none() && self.key_file.is_none() {
            return Ok(None);
        }
        let read = |key: &'static str, path: &PathBuf| {
            let bytes = std::fs::read(path).map_err(|source| FleetError::TlsFile {
                key,
                path: path.clone(),
                source,
            })?;
            let bad = |reason: String| FleetError::BadTlsFile {
                key,
                path: path.clone(),
                reason,
            };
            if key == "redis-key-file" {
                PrivateKeyDer::from_pem_slice(&bytes)
                    .map_err(|e| bad(format!("no PEM private key: {e}")))?;
                return Ok(bytes);
            }
            let certs = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(format!("bad PEM certificate: {e}")))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".to_owned()));
            }
            Ok(bytes)
        };
        let root_cert = self
            .ca_file
            .as_ref()
            .map(|p| read("redis-ca-file", p))
            .transpose()?;
        let client_tls = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read("redis-cert-file", cert)?,
                client_key: read("redis-key-file", key)?,
            }),
            (None, None) => None,
            (Some(path), None) | (None, Some(path)) => {
                let key = if self.cert_file.is_some() {
                    "redis-cert-file"
                } else {
                    "redis-key-file"
                };
                return Err(FleetError::BadTlsFile {
                    key,
                    path: path.clone(),
                    reason: "redis-cert-file and redis-key-file go together".to_owned(),
                });
            }
        };
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert,
        }))
    }
}

/// The fleet tier's metrics (registered in the resolver's registry).
#[derive(Clone, Debug)]
pub struct FleetMetrics {
    /// 1 while Redis answers, 0 while it is down.
    pub up: IntGauge,
    /// Failed Redis calls by operation (read, write, publish, nta, ping,
    /// connect, subscribe).
    pub errors: IntCounterVec,
    /// Reads on the answer path by result (hit, miss, down, error).
    pub reads: IntCounterVec,
    /// Entries written to Redis.
    pub written: IntCounter,
    /// Entries not written, by reason (queue_full, down, error, no_chain,
    /// encode).
    pub dropped: IntCounterVec,
    /// Entries read from Redis and refused by re-verification, by reason
    /// (`StoreError::reason`; the embedded store counts its own in
    /// `lastgood_store_rejected_total`).
    pub rejected: IntCounterVec,
    /// Fleet messages by kind (nta, flush, own, bad).
    pub events: IntCounterVec,
}

impl FleetMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let up = IntGauge::new(REDIS_UP, "1 while the fleet's Redis answers, 0 while down.")?;
        let errors = IntCounterVec::new(
            Opts::new(REDIS_ERRORS_TOTAL, "Failed Redis calls, by operation."),
            &["op"],
        )?;
        let reads = IntCounterVec::new(
            Opts::new(
                REDIS_READS_TOTAL,
                "Redis reads on a local miss or failed refresh, by result.",
            ),
            &["result"],
        )?;
        let written = IntCounter::new(
            REDIS_ENTRIES_WRITTEN_TOTAL,
            "Validated entries written to Redis.",
        )?;
        let dropped = IntCounterVec::new(
            Opts::new(
                REDIS_WRITES_DROPPED_TOTAL,
                "Entries not written to Redis, by reason.",
            ),
            &["reason"],
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                REDIS_REJECTED_TOTAL,
                "Entries read from Redis and refused by re-verification, by reason.",
            ),
            &["reason"],
        )?;
        let events = IntCounterVec::new(
            Opts::new(FLEET_EVENTS_TOTAL, "Fleet channel messages, by kind."),
            &["kind"],
        )?;
        registry.register(Box::new(up.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(reads.clone()))?;
        registry.register(Box::new(written.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(events.clone()))?;
        Ok(Self {
            up,
            errors,
            reads,
            written,
            dropped,
            rejected,
            events,
        })
    }
}

/// One entry waiting to be written (encoded by the writer task).
struct Write {
    key: CacheKey,
    entry: Arc<Entry>,
}

/// A flush this instance applied, remembered to clip older Redis entries.
#[derive(Clone, Debug)]
struct FlushMark {
    what: Flush,
    drop_stale: bool,
    at: Timestamp,
}

/// An NTA change made while Redis was down.
#[derive(Clone, Debug, PartialEq, Eq)]
enum PendingNta {
    Put(NtaRecord),
    /// Removed at this time (milliseconds since the epoch).
    Remove(u64),
}

/// The last failure, for `status`.
#[derive(Clone, Debug)]
struct LastError {
    op: &'static str,
    text: String,
    at: Instant,
}

/// The fleet tier of one instance. Cheap to share behind an `Arc`.
pub struct Fleet {
    client: Client,
    url: String,
    /// Some while Redis is up; calls are tried only then.
    conn: RwLock<Option<ConnectionManager>>,
    /// The answer path's reads have a connection of their own, so that
    /// they never queue behind a pipeline of writes (Some with `conn`).
    read_conn: RwLock<Option<ConnectionManager>>,
    up: AtomicBool,
    /// True while the listener is subscribed to the fleet channel.
    subscribed: AtomicBool,
    /// Wakes the link task when a call failed.
    wake: Notify,
    last_error: Mutex<Option<LastError>>,
    writes: mpsc::Sender<Write>,
    queued: Mutex<Option<mpsc::Receiver<Write>>>,
    /// Random per process: our own messages come back on the channel.
    instance: String,
    flushes: Mutex<VecDeque<FlushMark>>,
    /// NTAs known to be in the fleet's hash, by zone, with their expiry
    /// (the ones a reconcile may remove when they leave the hash).
    shared_ntas: Mutex<HashMap<Name, Timestamp>>,
    /// NTA changes made here while Redis was down, by zone, waiting for
    /// the next reconcile ([`Fleet::push_pending_ntas`]); at most
    /// [`MAX_FLEET_NTAS`].
    pending_ntas: Mutex<HashMap<Name, PendingNta>>,
    read_hits: AtomicU64,
    /// The chain pieces the resolver noted, when there is no embedded
    /// store to hold them (`Resolver::chain_links`).
    links: ChainLinks,
    metrics: FleetMetrics,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("url", &self.url)
            .field("up", &self.is_up())
            .finish()
    }
}

impl Fleet {
    /// The fleet tier for `settings`, its metrics in `registry`. Does not
    /// connect: [`Fleet::run_link`] does, in its own task.
    pub fn new(settings: &FleetSettings, registry: &Registry) -> Result<Arc<Self>, FleetError> {
        let client = settings.client()?;
        let metrics = FleetMetrics::register(registry)?;
        let (tx, rx) = mpsc::channel(REDIS_WRITE_QUEUE);
        Ok(Arc::new(Self {
            client,
            url: redact(&settings.url),
            conn: RwLock::new(None),
            read_conn: RwLock::new(None),
            up: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            wake: Notify::new(),
            last_error: Mutex::new(None),
            writes: tx,
            queued: Mutex::new(Some(rx)),
            instance: format!("{:016x}", rand::random::<u64>()),
            flushes: Mutex::new(VecDeque::new()),
            shared_ntas: Mutex::new(HashMap::new()),
            pending_ntas: Mutex::new(HashMap::new()),
            read_hits: AtomicU64::new(0),
            links: ChainLinks::default(),
            metrics,
        }))
    }

    pub fn metrics(&self) -> &FleetMetrics {
        &self.metrics
    }

    pub fn links(&self) -> &ChainLinks {
        &self.links
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Whether fleet messages (flushes, NTA changes) reach this instance now.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Acquire)
    }

    fn current_read(&self) -> Option<ConnectionManager> {
        self.read_conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn current(&self) -> Option<ConnectionManager> {
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A call failed: Redis is down until the link task reconnects.
    pub(crate) fn mark_down(&self, op: &'static str, error: &str) {
        self.metrics.errors.with_label_values(&[op]).inc();
        let was_up = self.up.swap(false, Ordering::AcqRel);
        self.metrics.up.set(0);
        *self.conn.write().unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .read_conn
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(LastError {
            op,
            text: error.to_owned(),
            at: Instant::now(),
        });
        if was_up {
            tracing::warn!(url = %self.url, op, error, "redis down; serving without the fleet tier");
        }
        self.wake.notify_one();
    }

    fn mark_up(&self, (conn, read): (ConnectionManager, ConnectionManager)) {
        *self
            .read_conn
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(read);
        *self.conn.write().unwrap_or_else(PoisonError::into_inner) = Some(conn);
        if !self.up.swap(true, Ordering::AcqRel) {
            tracing::info!(url = %self.url, "redis up");
        }
        self.metrics.up.set(1);
    }

    /// Two connections: calls and writes, and the answer path's reads.
    async fn connect_pair(&self) -> Result<(ConnectionManager, ConnectionManager), String> {
        let conn = self.connect().await?;
        let read = self.connect().await?;
        Ok((conn, read))
    }

    async fn connect(&self) -> Result<ConnectionManager, String> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT))
            .set_response_timeout(Some(REDIS_WRITE_TIMEOUT))
            .set_number_of_retries(1);
        let connecting = ConnectionManager::new_with_config(self.client.clone(), config);
        let mut conn = match tokio::time::timeout(REDIS_CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("connect timed out (REDIS_CONNECT_TIMEOUT)".to_owned()),
        };
        ping(&mut conn).await?;
        Ok(conn)
    }

    /// The link task: connect, reconnect with backoff after a failure,
    /// PING every [`REDIS_HEALTH_INTERVAL`] while up. Runs until aborted.
    pub async fn run_link(self: Arc<Self>) {
        let mut backoff = REDIS_BACKOFF_MIN;
        let mut first = true;
        loop {
            if let Some(mut conn) = self.current() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(REDIS_HEALTH_INTERVAL) => {}
                }
                if self.is_up()
                    && let Err(e) = ping(&mut conn).await
                {
                    self.mark_down("ping", &e);
                }
                continue;
            }
            if !first {
                tokio::time::sleep(backoff).await;
            }
            first = false;
            match self.connect_pair().await {
                Ok(conn) => {
                    backoff = REDIS_BACKOFF_MIN;
                    self.mark_up(conn);
                }
                Err(e) => {
                    self.mark_down("connect", &e);
                    backoff = backoff.saturating_mul(2).min(REDIS_BACKOFF_MAX);
                }
            }
        }
    }

    /// Read the entry bytes at `key` (answer path: at most
    /// [`REDIS_CALL_TIMEOUT`]; nothing at all while Redis is down).
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let Some(mut conn) = self.current_read() else {
            self.metrics.reads.with_label_values(&["down"]).inc();
            return None;
        };
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        let read = cmd.query_async::<Option<Vec<u8>>>(&mut conn);
        match tokio::time::timeout(REDIS_CALL_TIMEOUT, read).await {
            Ok(Ok(Some(bytes))) => {
                self.metrics.reads.with_label_values(&["hit"]).inc();
                self.read_hits.fetch_add(1, Ordering::Relaxed);
                Some(bytes)
            }
            Ok(Ok(None)) => {
                self.metrics.reads.with_label_values(&["miss"]).inc();
                None
            }
            Ok(Err(e)) => {
                self.metrics.reads.with_label_values(&["error"]).inc();
                self.mark_down("read", &e.to_string());
                None
            }
            Err(_) => {
                self.metrics.reads.with_label_values(&["error"]).inc();
                self.mark_down("read", "no answer within REDIS_CALL_TIMEOUT");
                None
            }
        }
    }

    /// Queue a Validated-view entry for writing (never waits; nothing
    /// while Redis is down).
    pub fn offer(&self, key: CacheKey, entry: Arc<Entry>) {
        if !self.is_up() {
            self.metrics.dropped.with_label_values(&["down"]).inc();
            return;
        }
        let write = Write { key, entry };
        if self.writes.try_send(write).is_err() {
            self.metrics
                .dropped
                .with_label_values(&["queue_full"])
                .inc();
        }
    }

    /// The writer task: drains the queue, builds each entry's chain from
    /// the links the resolver noted and encodes it (`store::entry`), and
    /// writes pipelines of at most [`REDIS_WRITE_BATCH`], each key kept
    /// for the entry's TTL + `max-stale-ttl` left. Runs until aborted.
    pub async fn run_writer(self: Arc<Self>, resolver: Arc<Resolver>) {
        let queued = self
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut rx) = queued else {
            return;
        };
        let mut batch = Vec::with_capacity(REDIS_WRITE_BATCH);
        while let Some(first) = rx.recv().await {
            batch.clear();
            batch.push(first);
            while batch.len() < REDIS_WRITE_BATCH {
                match rx.try_recv() {
                    Ok(w) => batch.push(w),
                    Err(_) => break,
                }
            }
            let Some(mut conn) = self.current() else {
                let n = batch.len() as u64;
                self.metrics.dropped.with_label_values(&["down"]).inc_by(n);
                continue;
            };
            let trust = resolver.trust();
            let links = resolver.chain_links().unwrap_or(&self.links);
            let now = resolver.now();
            let max_stale = resolver.cache().max_stale();
            let mut pipe = redis::pipe();
            let mut n = 0u64;
            for w in &batch {
                let Some(bytes) = self.encode(&w.key, &w.entry, links, &trust) else {
                    continue;
                };
                let until = w
                    .entry
                    .stored_at
                    .saturating_add(Duration::from_secs(u64::from(w.entry.ttl)))
                    .saturating_add(max_stale);
                let expire = until.saturating_since(now).as_secs();
                if expire == 0 {
                    continue;
                }
                pipe.cmd("SET")
                    .arg(keys::entry_key(&w.key.name, w.key.qtype))
                    .arg(bytes)
                    .arg("EX")
                    .arg(expire)
                    .ignore();
                n += 1;
            }
            if n == 0 {
                continue;
            }
            match tokio::time::timeout(REDIS_WRITE_TIMEOUT, pipe.query_async::<()>(&mut conn)).await
            {
                Ok(Ok(())) => self.metrics.written.inc_by(n),
                Ok(Err(e)) => {
                    self.metrics.dropped.with_label_values(&["error"]).inc_by(n);
                    self.mark_down("write", &e.to_string());
                }
                Err(_) => {
                    self.metrics.dropped.with_label_values(&["error"]).inc_by(n);
                    self.mark_down("write", "no answer within REDIS_WRITE_TIMEOUT");
                }
            }
        }
    }

    /// The entry's bytes with its chain, or None (counted) without one.
    fn encode(
        &self,
        key: &CacheKey,
        entry: &Entry,
        links: &ChainLinks,
        trust: &Trust,
    ) -> Option<Vec<u8>> {
        let chain = match links.chain_for(entry, trust) {
            Ok(chain) => chain,
            Err(e) => {
                self.metrics.dropped.with_label_values(&["no_chain"]).inc();
                tracing::debug!(name = %key.name, qtype = %key.qtype, error = %e, "not shared");
                return None;
            }
        };
        match crate::store::entry::encode(key, entry, &chain) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.metrics.dropped.with_label_values(&["encode"]).inc();
                tracing::debug!(name = %key.name, qtype = %key.qtype, error = %e, "not shared");
                None
            }
        }
    }

    /// Run one call off the answer path, bounded by [`REDIS_WRITE_TIMEOUT`].
    async fn call<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        pipe: &redis::Pipeline,
    ) -> Option<T> {
        let mut conn = self.current()?;
        match tokio::time::timeout(REDIS_WRITE_TIMEOUT, pipe.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.mark_down(op, &e.to_string());
                None
            }
            Err(_) => {
                self.mark_down(op, "no answer within REDIS_WRITE_TIMEOUT");
                None
            }
        }
    }

    /// Tell every other instance about `event`; false if Redis is down.
    pub async fn publish(&self, event: &Event) -> bool {
        let mut pipe = redis::pipe();
        pipe.cmd("PUBLISH")
            .arg(keys::EVENTS_CHANNEL)
            .arg(keys::encode_event(&self.instance, event))
            .ignore();
        self.call::<()>("publish", &pipe).await.is_some()
    }

    /// Share an NTA with the fleet (hash + message); false if Redis is
    /// down, and then it is pushed at the next reconcile.
    pub async fn put_nta(&self, zone: &Name, record: &NtaRecord) -> bool {
        let Ok(json) = serde_json::to_string(record) else {
            return false;
        };
        let mut pipe = redis::pipe();
        pipe.cmd("HSET")
            .arg(keys::NTA_HASH)
            .arg(zone.to_lowercase().to_string())
            .arg(json)
            .ignore()
            .cmd("PUBLISH")
            .arg(keys::EVENTS_CHANNEL)
            .arg(keys::encode_event(&self.instance, &Event::NtaChanged))
            .ignore();
        let ok = self.call::<()>("nta", &pipe).await.is_some();
        let zone = zone.to_lowercase();
        if ok {
            self.pending_ntas().remove(&zone);
            self.shared_ntas().insert(zone, record.expires_at());
        } else {
            self.note_pending(zone, PendingNta::Put(record.clone()));
        }
        ok
    }

    /// Remove an NTA fleet-wide (hash + message); false if Redis is down,
    /// and then it is pushed at the next reconcile.
    pub async fn remove_nta(&self, zone: &Name, now: Timestamp) -> bool {
        let zone = zone.to_lowercase();
        let mut pipe = redis::pipe();
        pipe.cmd("HDEL")
            .arg(keys::NTA_HASH)
            .arg(zone.to_string())
            .ignore()
            .cmd("PUBLISH")
            .arg(keys::EVENTS_CHANNEL)
            .arg(keys::encode_event(&self.instance, &Event::NtaChanged))
            .ignore();
        let ok = self.call::<()>("nta", &pipe).await.is_some();
        if ok {
            self.pending_ntas().remove(&zone);
            self.shared_ntas().remove(&zone);
        } else {
            self.note_pending(zone, PendingNta::Remove(now.as_millis()));
        }
        ok
    }

    fn pending_ntas(&self) -> std::sync::MutexGuard<'_, HashMap<Name, PendingNta>> {
        self.pending_ntas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn note_pending(&self, zone: Name, change: PendingNta) {
        let mut pending = self.pending_ntas();
        if pending.len() >= MAX_FLEET_NTAS && !pending.contains_key(&zone) {
            self.metrics
                .events
                .with_label_values(&["pending_full"])
                .inc();
            tracing::warn!(%zone, "NTA change not kept for the fleet: MAX_FLEET_NTAS ({MAX_FLEET_NTAS}) pending");
            return;
        }
        pending.insert(zone, change);
    }

    /// NTA changes made here while Redis was down.
    pub fn pending_nta_count(&self) -> usize {
        self.pending_ntas().len()
    }

    /// Push the NTA changes made here while Redis was down, each unless
    /// the fleet's hash holds a newer one for its zone (an NTA added
    /// there after ours, or after our removal); expired ones are dropped.
    /// Returns false if Redis could not be read or written (they stay
    /// pending).
    pub async fn push_pending_ntas(&self, now: Timestamp) -> bool {
        let pending: Vec<(Name, PendingNta)> = self
            .pending_ntas()
            .iter()
            .map(|(z, p)| (z.clone(), p.clone()))
            .collect();
        if pending.is_empty() {
            return true;
        }
        let Some(fleet) = self.fleet_ntas().await else {
            return false;
        };
        let fleet: HashMap<Name, NtaRecord> = fleet.into_iter().collect();
        let mut pipe = redis::pipe();
        let mut pushed = Vec::new();
        for (zone, change) in &pending {
            let theirs = fleet.get(zone).map(|r| r.added_at_ms);
            match change {
                PendingNta::Put(record) => {
                    let newer_there = theirs.is_some_and(|t| t >= record.added_at_ms);
                    if record.expires_at() <= now || newer_there {
                        continue;
                    }
                    let Ok(json) = serde_json::to_string(record) else {
                        continue;
                    };
                    pipe.cmd("HSET")
                        .arg(keys::NTA_HASH)
                        .arg(zone.to_string())
                        .arg(json)
                        .ignore();
                    pushed.push((zone.clone(), Some(record.expires_at())));
                }
                PendingNta::Remove(at_ms) => {
                    if theirs.is_none_or(|t| t > *at_ms) {
                        continue;
                    }
                    pipe.cmd("HDEL")
                        .arg(keys::NTA_HASH)
                        .arg(zone.to_string())
                        .ignore();
                    pushed.push((zone.clone(), None));
                }
            }
        }
        if !pushed.is_empty() {
            pipe.cmd("PUBLISH")
                .arg(keys::EVENTS_CHANNEL)
                .arg(keys::encode_event(&self.instance, &Event::NtaChanged))
                .ignore();
            if self.call::<()>("nta", &pipe).await.is_none() {
                return false;
            }
        }
        let mut shared = self.shared_ntas();
        for (zone, expires_at) in &pushed {
            match expires_at {
                Some(t) => shared.insert(zone.clone(), *t),
                None => shared.remove(zone),
            };
            tracing::info!(%zone, put = expires_at.is_some(), "NTA change made while redis was down pushed to the fleet");
        }
        drop(shared);
        // Done with what was read (pushed or superseded), unless it
        // changed again meanwhile.
        let mut left = self.pending_ntas();
        for (zone, change) in pending {
            if left.get(&zone) == Some(&change) {
                left.remove(&zone);
            }
        }
        true
    }

    /// The fleet's NTAs (None while Redis is down). Records that do not
    /// parse are skipped and counted; at most [`MAX_FLEET_NTAS`].
    pub async fn fleet_ntas(&self) -> Option<Vec<(Name, NtaRecord)>> {
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL").arg(keys::NTA_HASH);
        let (map,): (HashMap<String, String>,) = self.call("nta", &pipe).await?;
        let mut out = Vec::new();
        for (zone, json) in map {
            if out.len() >= MAX_FLEET_NTAS {
                tracing::warn!("fleet NTAs past MAX_FLEET_NTAS ({MAX_FLEET_NTAS}) ignored");
                self.metrics.events.with_label_values(&["bad"]).inc();
                break;
            }
            let zone = Name::from_ascii(&zone).map(|z| z.to_lowercase());
            match (zone, serde_json::from_str::<NtaRecord>(&json)) {
                (Ok(zone), Ok(record)) => out.push((zone, record)),
                _ => {
                    self.metrics.events.with_label_values(&["bad"]).inc();
                }
            }
        }
        Some(out)
    }

    fn shared_ntas(&self) -> std::sync::MutexGuard<'_, HashMap<Name, Timestamp>> {
        self.shared_ntas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Remember a flush applied here at `now` (see [`Fleet::clip`]).
    pub fn note_flush(&self, what: &Flush, drop_stale: bool, now: Timestamp) {
        let mut flushes = self.flushes.lock().unwrap_or_else(PoisonError::into_inner);
        if flushes.len() >= MAX_FLUSHES_REMEMBERED {
            flushes.pop_front();
        }
        if matches!(what, Flush::All) {
            flushes.clear();
        }
        flushes.push_back(FlushMark {
            what: what.clone(),
            drop_stale,
            at: now,
        });
    }

    /// An entry read from Redis as the flushes applied here since it was
    /// stored (at the same millisecond counts as since) leave it: unchanged, expired at the flush (kept for the
    /// stale tier, as a local flush keeps it), or gone (a name flush or
    /// `drop_stale`).
    pub fn clip(&self, name: &Name, mut entry: Entry) -> Option<Entry> {
        let flushes = self.flushes.lock().unwrap_or_else(PoisonError::into_inner);
        for mark in flushes.iter().filter(|m| m.at >= entry.stored_at) {
            let covers = match &mark.what {
                Flush::All => true,
                Flush::Zone(z) => z.zone_of(name),
                Flush::Name(n) => n == name,
            };
            if !covers {
                continue;
            }
            if mark.drop_stale || matches!(mark.what, Flush::Name(_)) {
                return None;
            }
            let age = mark.at.saturating_since(entry.stored_at).as_secs();
            entry.ttl = entry.ttl.min(u32::try_from(age).unwrap_or(u32::MAX));
        }
        Some(entry)
    }

    /// What `status` shows: the URL without its password, up or down, the
    /// last error, entries written and read.
    pub fn status(&self) -> serde_json::Value {
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let dropped: u64 = ["queue_full", "down", "error", "no_chain", "encode"]
            .iter()
            .map(|r| self.metrics.dropped.with_label_values(&[*r]).get())
            .sum();
        serde_json::json!({
            "url": self.url,
            "up": self.is_up(),
            "subscribed": self.is_subscribed(),
            "last_error": last.as_ref().map(|e| format!("{}: {}", e.op, e.text)),
            "last_error_secs_ago": last.as_ref().map(|e| e.at.elapsed().as_secs()),
            "entries_written": self.metrics.written.get(),
            "entries_read": self.read_hits.load(Ordering::Relaxed),
            "entries_rejected": self.rejected_total(),
            "writes_dropped": dropped,
            "ntas_shared": self.shared_ntas().len(),
            "ntas_pending": self.pending_nta_count(),
        })
    }

    /// Entries from Redis refused by re-verification, all reasons.
    pub fn rejected_total(&self) -> u64 {
        use prometheus::core::Collector;
        self.metrics
            .rejected
            .collect()
            .iter()
            .flat_map(|f| f.get_metric())
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }
}

async fn ping(conn: &mut ConnectionManager) -> Result<(), String> {
    let cmd = redis::cmd("PING");
    let ping = cmd.query_async::<String>(conn);
    match tokio::time::timeout(REDIS_WRITE_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("PING: no answer within REDIS_WRITE_TIMEOUT".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn urls_are_redacted() {
        let cases = [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:s3cret@h:6379/1", "redis://:***@h:6379/1"),
            ("rediss://app:s3cret@h:6380", "rediss://app:***@h:6380"),
            ("redis://app@h", "redis://app:***@h"),
            (
                "redis+unix:///run/redis.sock",
                "redis+unix:///run/redis.sock",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn settings_check_scheme_and_password_file() {
        let s = |url: &str| FleetSettings {
            url: url.to_owned(),
            ..FleetSettings::default()
        };
        assert!(s("redis://127.0.0.1:6379/0").client().is_ok());
        assert!(s("rediss://cache.example:6380/0").client().is_ok());
        assert!(s("http://127.0.0.1/").client().is_err());
        assert!(s("127.0.0.1:6379").client().is_err());
        let err = s("redis://:pw@127.0.0.1:notaport").client().unwrap_err();
        assert!(!err.to_string().contains("pw@"), "{err}");
        let dir = std::env::temp_dir().join(format!("lg-fleet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let with_file = FleetSettings {
            url: "redis://127.0.0.1:6379".to_owned(),
            password_file: Some(file.clone()),
            ..FleetSettings::default()
        };
        let client = with_file.client().unwrap();
        assert_eq!(
            client.get_connection_info().redis_settings().password(),
            Some("s3cret")
        );
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(
            with_file.client(),
            Err(FleetError::EmptyPassword { .. })
        ));
        let missing = FleetSettings {
            password_file: Some(dir.join("absent")),
            ..with_file
        };
        assert!(matches!(
            missing.client(),
            Err(FleetError::PasswordFile { .. })
        ));
        assert!(!format!("{:?}", s("redis://:pw@h/")).contains("pw@"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn config_keys_are_checked() {
        use crate::config::Config;
        let c = Config::parse("redis-url = \"redis://:pw@10.0.0.5:6379/2\"\n", "t.toml").unwrap();
        let fleet = c.fleet.unwrap();
        assert_eq!(fleet.url, "redis://:pw@10.0.0.5:6379/2");
        assert!(fleet.password_file.is_none());
        assert!(Config::parse("", "t.toml").unwrap().fleet.is_none());
        let err = Config::parse(
            "listen = [\"127.0.0.1:53\"]\nredis-url = \"http://:pw@h/\"\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("t.toml:2") && err.contains("redis-url"),
            "{err}"
        );
        assert!(!err.contains(":pw@"), "the password is never shown: {err}");
        let err = Config::parse("redis-password-file = \"/etc/pw\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("only with redis-url"), "{err}");
    }

    #[test]
    fn tls_keys_and_files_are_checked() {
        use crate::config::Config;
        let parse = |text: &str| Config::parse(text, "t.toml").map_err(|e| e.to_string());
        let err =
            parse("redis-url = \"redis://h:6379\"\nredis-ca-file = \"/etc/ca.pem\"\n").unwrap_err();
        assert!(
            err.contains("t.toml:2") && err.contains("redis-ca-file") && err.contains("rediss://"),
            "{err}"
        );
        let err = parse("redis-ca-file = \"/etc/ca.pem\"\n").unwrap_err();
        assert!(err.contains("only with redis-url"), "{err}");
        let err =
            parse("redis-url = \"rediss://h:6379\"\nredis-cert-file = \"/c.pem\"\n").unwrap_err();
        assert!(
            err.contains("redis-cert-file") && err.contains("redis-key-file"),
            "{err}"
        );
        let c = parse(
            "redis-url = \"rediss://h:6379\"\nredis-ca-file = \"/ca.pem\"\n\
             redis-cert-file = \"/c.pem\"\nredis-key-file = \"/k.pem\"\n",
        )
        .unwrap();
        let fleet = c.fleet.unwrap();
        assert_eq!(
            fleet.ca_file.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        assert_eq!(
            fleet.key_file.as_deref(),
            Some(std::path::Path::new("/k.pem"))
        );

        // The files themselves: missing, or without what their key says.
        let dir = std::env::temp_dir().join(format!("lg-fleet-tls-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let with_ca = |path: PathBuf| FleetSettings {
            url: "rediss://localhost:6380/0".to_owned(),
            ca_file: Some(path),
            ..FleetSettings::default()
        };
        let err = with_ca(dir.join("absent.pem")).client().unwrap_err();
        assert!(
            matches!(
                err,
                FleetError::TlsFile {
                    key: "redis-ca-file",
                    ..
                }
            ),
            "{err}"
        );
        std::fs::write(dir.join("empty.pem"), "no certificate here\n").unwrap();
        let err = with_ca(dir.join("empty.pem")).client().unwrap_err();
        assert!(
            matches!(
                err,
                FleetError::BadTlsFile {
                    key: "redis-ca-file",
                    ..
                }
            ),
            "{err}"
        );
        let fixtures = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/control-tls"
        );
        let cert = PathBuf::from(fixtures).join("cert.pem");
        let key = PathBuf::from(fixtures).join("key.pem");
        assert!(with_ca(cert.clone()).client().is_ok());
        let mtls = FleetSettings {
            cert_file: Some(cert.clone()),
            key_file: Some(cert.clone()),
            ..with_ca(cert.clone())
        };
        let err = mtls.client().unwrap_err();
        assert!(
            matches!(
                err,
                FleetError::BadTlsFile {
                    key: "redis-key-file",
                    ..
                }
            ),
            "{err}"
        );
        let mtls = FleetSettings {
            key_file: Some(key),
            ..mtls
        };
        assert!(mtls.client().is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// rediss:// builds its rustls client (ring, system roots) and fails
    /// the handshake with an error, not a panic, against a server that
    /// does not speak TLS; Redis stays down.
    #[tokio::test]
    async fn tls_to_a_plain_server_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(b"-ERR not tls\r\n").await;
            }
        });
        let fleet = Fleet::new(
            &FleetSettings {
                url: format!("rediss://localhost:{port}/0"),
                ..FleetSettings::default()
            },
            &Registry::new(),
        )
        .unwrap();
        assert!(fleet.connect().await.is_err());
        assert!(!fleet.is_up());
        assert!(fleet.get("lastgood:1:e:x.|1").await.is_none());
    }

    fn entry(stored_at: u64, ttl: u32) -> Entry {
        Entry {
            kind: crate::cache::StepKind::NoData,
            rcode: hickory_proto::op::ResponseCode::NoError,
            answers: Vec::new(),
            authorities: Vec::new(),
            security: crate::dnssec::Security::Secure,
            zone: Name::from_ascii("lab.").unwrap(),
            stored_at: Timestamp::from_secs(stored_at),
            ttl,
        }
    }

    #[test]
    fn clip_follows_the_flushes_applied_here() {
        let fleet = Fleet::new(
            &FleetSettings {
                url: "redis://127.0.0.1:1/".to_owned(),
                ..FleetSettings::default()
            },
            &Registry::new(),
        )
        .unwrap();
        let www = Name::from_ascii("www.lab.").unwrap();
        let other = Name::from_ascii("www.other.").unwrap();
        fleet.note_flush(
            &Flush::Zone(Name::from_ascii("lab.").unwrap()),
            false,
            Timestamp::from_secs(1_000),
        );
        // Stored before the zone flush: expired at it, kept for stale.
        assert_eq!(fleet.clip(&www, entry(900, 3600)).unwrap().ttl, 100);
        // After it, or outside the zone: unchanged.
        assert_eq!(fleet.clip(&www, entry(1_100, 3600)).unwrap().ttl, 3600);
        assert_eq!(fleet.clip(&other, entry(900, 3600)).unwrap().ttl, 3600);
        fleet.note_flush(
            &Flush::Name(www.clone()),
            false,
            Timestamp::from_secs(2_000),
        );
        assert!(fleet.clip(&www, entry(1_100, 3600)).is_none());
        fleet.note_flush(&Flush::All, true, Timestamp::from_secs(3_000));
        assert!(fleet.clip(&other, entry(2_500, 3600)).is_none());
        assert!(fleet.clip(&other, entry(3_500, 3600)).is_some());
    }
}
