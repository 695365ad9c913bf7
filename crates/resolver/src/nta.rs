//! Negative trust anchors (RFC 7646): zones, and everything below them,
//! that are resolved without DNSSEC validation for a limited time while
//! their operators fix a broken signing setup.
//!
//! [`NtaStore`] holds them. Reads ([`NtaStore::covering`]) are on the
//! resolver's hot path: a lock-free emptiness check, then a read lock and a
//! scan of a short list. Every change is written to the state file (atomic
//! write: temporary file, fsync, rename) before it takes effect. When the
//! file cannot be written (a read-only or missing state directory) the
//! change still takes effect: NTAs live in memory only, with a WARN and
//! `lastgood_state_file_errors_total{file="nta"}`, and every later change
//! tries the file again. Time is always passed in; nothing here reads the
//! clock.
//!
//! Start-up fails stale ([`NtaStore::open`]): a state file that cannot be
//! read or parsed is moved aside (`<file>.bad-<unix seconds>`), every entry
//! that parses is kept (and written back at once), the others are reported
//! by file and line in one WARN and counted. The resolver never refuses to
//! start because of this optional state.
//!
//! Config-sourced NTAs (`[[nta]]` tables) are identified by zone, lifetime
//! and reason. Once one has expired, been removed or been lifted by a
//! recheck it is remembered as *spent* (persisted too), so a reload or a
//! restart does not arm it again; changing its lifetime or reason in the
//! configuration arms it anew.
//!
//! A *forced* NTA (`lastgood nta add --force`, BIND's `rndc nta -force`)
//! is never lifted by the recheck: it lasts until its lifetime ends or an
//! operator removes it, for a zone that validates by the book but is
//! known to be wrong (a stale signed copy, say). Persisted as `"force":
//! true`; state files written before the field read as not forced.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use hickory_proto::rr::Name;
use prometheus::IntCounter;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::limits::{
    DEFAULT_NTA_LIFETIME, MAX_NTA_LIFETIME, MAX_NTA_REASON_BYTES, MAX_NTA_STATE_FILE_BYTES,
    MAX_NTAS,
};

/// Errors adding NTAs and reading or writing the state file.
#[derive(Debug, thiserror::Error)]
pub enum NtaError {
    #[error("zone {zone:?} is not a valid domain name: {reason}")]
    InvalidZone { zone: String, reason: String },
    #[error(
        "an NTA for the root zone would turn validation off everywhere; set `dnssec = false` instead"
    )]
    RootZone,
    #[error("zone {zone}: a wildcard name cannot be an NTA")]
    WildcardZone { zone: Name },
    #[error("lifetime must be longer than zero")]
    ZeroLifetime,
    #[error("lifetime {}s is longer than the limit MAX_NTA_LIFETIME (7d)", lifetime.as_secs())]
    LifetimeTooLong { lifetime: Duration },
    #[error(
        "reason is {len} bytes, longer than the limit MAX_NTA_REASON_BYTES ({MAX_NTA_REASON_BYTES})"
    )]
    ReasonTooLong { len: usize },
    #[error("{count} NTAs would be held, more than the limit MAX_NTAS ({MAX_NTAS})")]
    TooMany { count: usize },
    #[error("zone {zone} is listed twice")]
    Duplicate { zone: Name },
    #[error("NTA state file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "NTA state file {}: larger than the limit MAX_NTA_STATE_FILE_BYTES ({MAX_NTA_STATE_FILE_BYTES} bytes)",
        path.display()
    )]
    TooLarge { path: PathBuf },
    #[error("NTA state file {}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("NTA state file {}: version {version} is not supported (expected {STATE_VERSION})", path.display())]
    Version { path: PathBuf, version: u32 },
    #[error("NTA state file {}: entry {index} ({zone:?}): {problem}", path.display())]
    BadEntry {
        path: PathBuf,
        index: usize,
        zone: String,
        problem: Box<NtaError>,
    },
    #[error("NTA state file {}: {step}: {source}", path.display())]
    Write {
        path: PathBuf,
        step: &'static str,
        source: std::io::Error,
    },
    #[error("NTA state file {}: encoding: {source}", path.display())]
    Encode {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Where an NTA came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NtaSource {
    /// An `[[nta]]` table of the configuration file.
    Config,
    /// The control API (and so the `lastgood nta` CLI).
    Api,
}

impl NtaSource {
    pub fn as_str(self) -> &'static str {
        match self {
            NtaSource::Config => "config",
            NtaSource::Api => "api",
        }
    }
}

/// One negative trust anchor.
#[derive(Clone, Debug, PartialEq)]
pub struct Nta {
    /// Lowercase, fully qualified.
    pub zone: Name,
    pub reason: String,
    pub added_at: Timestamp,
    pub expires_at: Timestamp,
    pub source: NtaSource,
    /// Kept until it expires even if the recheck finds the zone
    /// validating again.
    pub force: bool,
}

impl Nta {
    fn active(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }

    fn lifetime(&self) -> Duration {
        self.expires_at.saturating_since(self.added_at)
    }

    /// As listed to operators at `now`.
    pub fn view(&self, now: Timestamp) -> NtaView {
        NtaView {
            zone: self.zone.clone(),
            reason: self.reason.clone(),
            source: self.source,
            remaining: self.expires_at.saturating_since(now),
            expires_at: self.expires_at,
            force: self.force,
        }
    }
}

/// An `[[nta]]` table of the configuration, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigNta {
    pub zone: Name,
    pub lifetime: Duration,
    pub reason: String,
}

/// An active NTA as listed to operators. JSON: `{"zone": "lab.",
/// "reason": "...", "source": "api", "remaining_secs": 3599,
/// "expires_at_unix": 1767225600, "force": false}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "NtaViewJson", try_from = "NtaViewJson")]
pub struct NtaView {
    pub zone: Name,
    pub reason: String,
    pub source: NtaSource,
    pub remaining: Duration,
    pub expires_at: Timestamp,
    /// Not lifted by the recheck (`nta add --force`).
    pub force: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NtaViewJson {
    zone: String,
    reason: String,
    source: NtaSource,
    remaining_secs: u64,
    expires_at_unix: u64,
    /// Absent from resolvers older than the field: not forced.
    #[serde(default)]
    force: bool,
}

impl From<NtaView> for NtaViewJson {
    fn from(v: NtaView) -> Self {
        Self {
            zone: v.zone.to_string(),
            reason: v.reason,
            source: v.source,
            // Round up: an NTA with 0.4 s left is still active.
            remaining_secs: v
                .remaining
                .as_millis()
                .div_ceil(1000)
                .try_into()
                .unwrap_or(u64::MAX),
            expires_at_unix: v.expires_at.unix_secs(),
            force: v.force,
        }
    }
}

impl TryFrom<NtaViewJson> for NtaView {
    type Error = NtaError;

    fn try_from(j: NtaViewJson) -> Result<Self, NtaError> {
        Ok(Self {
            zone: parse_zone(&j.zone)?,
            reason: j.reason,
            source: j.source,
            remaining: Duration::from_secs(j.remaining_secs),
            expires_at: Timestamp::from_secs(j.expires_at_unix),
            force: j.force,
        })
    }
}

/// Parse an operator-supplied zone name (`lab` or `lab.`) into the store's
/// form: fully qualified, lowercase, not the root, not a wildcard.
pub fn parse_zone(s: &str) -> Result<Name, NtaError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(NtaError::InvalidZone {
            zone: s.to_owned(),
            reason: "empty name".to_owned(),
        });
    }
    let name = Name::from_str(t).map_err(|e| NtaError::InvalidZone {
        zone: s.to_owned(),
        reason: e.to_string(),
    })?;
    normalize_zone(&name)
}

/// The store's form of `zone`: fully qualified, lowercase; the root and
/// wildcards are refused.
pub fn normalize_zone(zone: &Name) -> Result<Name, NtaError> {
    let mut z = zone.to_lowercase();
    z.set_fqdn(true);
    if z.is_root() {
        return Err(NtaError::RootZone);
    }
    if z.is_wildcard() {
        return Err(NtaError::WildcardZone { zone: z });
    }
    Ok(z)
}

/// Check an NTA lifetime against the bounds.
pub fn check_lifetime(lifetime: Duration) -> Result<Duration, NtaError> {
    if lifetime.is_zero() {
        return Err(NtaError::ZeroLifetime);
    }
    if lifetime > MAX_NTA_LIFETIME {
        return Err(NtaError::LifetimeTooLong { lifetime });
    }
    Ok(lifetime)
}

fn check_reason(reason: &str) -> Result<(), NtaError> {
    if reason.len() > MAX_NTA_REASON_BYTES {
        return Err(NtaError::ReasonTooLong { len: reason.len() });
    }
    Ok(())
}

/// What the store holds; replaced whole on every change.
#[derive(Clone, Debug, Default, PartialEq)]
struct State {
    ntas: Vec<Nta>,
    /// Config NTAs that expired, were removed or lifted (see module docs).
    spent: Vec<ConfigNta>,
}

impl State {
    fn position(&self, zone: &Name) -> Option<usize> {
        self.ntas.iter().position(|n| &n.zone == zone)
    }

    /// Remove the NTA at `i`, remembering a Config one as spent.
    fn take(&mut self, i: usize) -> Option<Nta> {
        if i >= self.ntas.len() {
            return None;
        }
        let nta = self.ntas.remove(i);
        if nta.source == NtaSource::Config {
            let spent = ConfigNta {
                zone: nta.zone.clone(),
                lifetime: nta.lifetime(),
                reason: nta.reason.clone(),
            };
            if !self.spent.contains(&spent) {
                self.spent.push(spent);
            }
        }
        Some(nta)
    }
}

/// The set of NTAs: thread-safe, persisted when a state file is given.
#[derive(Debug)]
pub struct NtaStore {
    state: RwLock<State>,
    /// NTAs held (active or not yet expired by [`NtaStore::expire`]), for a
    /// lock-free fast path in [`NtaStore::covering`].
    held: AtomicUsize,
    /// Serialises changes so they reach the state file in order.
    change: Mutex<()>,
    /// Counts changes to the set ([`NtaStore::generation`]).
    generation: AtomicU64,
    state_file: Option<PathBuf>,
    /// False while the last write of the state file failed (memory only).
    persisted: AtomicBool,
    /// Counts state-file problems (`lastgood_state_file_errors_total{file="nta"}`).
    errors: Option<IntCounter>,
}

impl NtaStore {
    /// An empty store; changes are persisted to `state_file` if given.
    pub fn new(state_file: Option<PathBuf>) -> Self {
        Self::with_state(state_file, State::default())
    }

    fn with_state(state_file: Option<PathBuf>, state: State) -> Self {
        Self {
            held: AtomicUsize::new(state.ntas.len()),
            state: RwLock::new(state),
            change: Mutex::new(()),
            generation: AtomicU64::new(0),
            state_file,
            persisted: AtomicBool::new(true),
            errors: None,
        }
    }

    /// Count state-file problems (bad entries, failed writes) in `counter`.
    #[must_use]
    pub fn count_errors(mut self, counter: IntCounter) -> Self {
        self.errors = Some(counter);
        self
    }

    /// Open the store written by an earlier run, failing stale: whatever
    /// is wrong with the file is reported (see [`StateReport`]), the file
    /// is moved aside if it had problems, the good entries are kept and
    /// written back, and a store is always returned. `errors` counts each
    /// problem.
    pub fn open(
        state_file: PathBuf,
        now: Timestamp,
        errors: Option<IntCounter>,
    ) -> (Self, StateReport) {
        let (state, mut report) = check_state(&state_file, now);
        let mut store = Self::with_state(Some(state_file.clone()), state);
        store.errors = errors;
        if !report.problems.is_empty() {
            let mut aside = state_file.clone().into_os_string();
            aside.push(format!(".bad-{}", now.unix_secs()));
            let aside = PathBuf::from(aside);
            report.moved_aside = Some(match std::fs::rename(&state_file, &aside) {
                Ok(()) => Ok(aside),
                Err(e) => Err(e.to_string()),
            });
        }
        store.count(report.problems.len());
        // Write the kept entries back at once (and find out now whether
        // the directory is writable).
        let state = store.read().clone();
        store.persist_or_warn(&state);
        (store, report)
    }

    /// Whether the last change reached the state file (true without one).
    pub fn persisted(&self) -> bool {
        self.persisted.load(Ordering::Acquire)
    }

    fn count(&self, n: usize) {
        if let Some(c) = &self.errors {
            c.inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    /// Persist `state`; on failure keep going in memory only (WARN once
    /// per failing streak, counted every time).
    fn persist_or_warn(&self, state: &State) {
        match self.persist(state) {
            Ok(()) => {
                if !self.persisted.swap(true, Ordering::AcqRel) {
                    tracing::info!(
                        file = ?self.state_file,
                        "NTA state file written again; NTAs are persisted"
                    );
                }
            }
            Err(e) => {
                self.count(1);
                if self.persisted.swap(false, Ordering::AcqRel) {
                    tracing::warn!(
                        error = %e,
                        "NTAs are kept in memory only until the state file can be written \
                         (retried on each change)"
                    );
                } else {
                    tracing::debug!(error = %e, "NTA state file still not writable");
                }
            }
        }
    }

    /// Load the store written by an earlier run; NTAs expired by `now`
    /// are dropped. A missing file is an empty store; a corrupt one is an
    /// error naming the file (and the line and column).
    pub fn restore(state_file: PathBuf, now: Timestamp) -> Result<Self, NtaError> {
        let state = read_state(&state_file, now)?.unwrap_or_default();
        Ok(Self::with_state(Some(state_file), state))
    }

    /// Parse state-file contents as [`NtaStore::restore`] does, without
    /// reading a file: `path` only names it in errors and is where changes
    /// are persisted. Pure; the entry point of the state-file fuzz target.
    pub fn restore_from_bytes(
        bytes: &[u8],
        state_file: PathBuf,
        now: Timestamp,
    ) -> Result<Self, NtaError> {
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_NTA_STATE_FILE_BYTES {
            return Err(NtaError::TooLarge { path: state_file });
        }
        let state = parse_state(bytes, &state_file, now)?;
        Ok(Self::with_state(Some(state_file), state))
    }

    /// The state file, if any.
    pub fn state_file(&self) -> Option<&Path> {
        self.state_file.as_deref()
    }

    /// Add (or replace) the NTA for `zone`. `lifetime` defaults to
    /// [`DEFAULT_NTA_LIFETIME`]; one longer than [`MAX_NTA_LIFETIME`] is an
    /// error. The change is persisted before it takes effect.
    pub fn add(
        &self,
        zone: &Name,
        lifetime: Option<Duration>,
        reason: &str,
        source: NtaSource,
        now: Timestamp,
    ) -> Result<Nta, NtaError> {
        self.add_with(zone, lifetime, reason, source, false, now)
    }

    /// As [`NtaStore::add`]; a `force`d NTA is never lifted by the
    /// recheck, only by its lifetime or an operator.
    pub fn add_with(
        &self,
        zone: &Name,
        lifetime: Option<Duration>,
        reason: &str,
        source: NtaSource,
        force: bool,
        now: Timestamp,
    ) -> Result<Nta, NtaError> {
        let zone = normalize_zone(zone)?;
        let lifetime = check_lifetime(lifetime.unwrap_or(DEFAULT_NTA_LIFETIME))?;
        check_reason(reason)?;
        let nta = Nta {
            zone,
            reason: reason.to_owned(),
            added_at: now,
            expires_at: now.saturating_add(lifetime),
            source,
            force,
        };
        self.change(|state| {
            if let Some(i) = state.position(&nta.zone) {
                state.take(i);
            }
            if state.ntas.len() >= MAX_NTAS {
                return Err(NtaError::TooMany {
                    count: state.ntas.len().saturating_add(1),
                });
            }
            state.ntas.push(nta.clone());
            Ok(((), true))
        })?;
        Ok(nta)
    }

    /// Remove the NTA for `zone`; false if there was none.
    pub fn remove(&self, zone: &Name) -> Result<bool, NtaError> {
        let Ok(zone) = normalize_zone(zone) else {
            return Ok(false);
        };
        self.change(|state| match state.position(&zone) {
            Some(i) => Ok((state.take(i).is_some(), true)),
            None => Ok((false, false)),
        })
    }

    /// Remove `nta` only if it is still held unchanged (a recheck must not
    /// lift an NTA an operator re-added meanwhile).
    fn remove_same(&self, nta: &Nta) -> Result<bool, NtaError> {
        self.change(|state| match state.ntas.iter().position(|n| n == nta) {
            Some(i) => Ok((state.take(i).is_some(), true)),
            None => Ok((false, false)),
        })
    }

    /// Active NTAs in DNS canonical order (RFC 4034 §6.1: rightmost
    /// label first), with their remaining lifetime.
    pub fn list(&self, now: Timestamp) -> Vec<NtaView> {
        let mut v: Vec<NtaView> = self
            .read()
            .ntas
            .iter()
            .filter(|n| n.active(now))
            .map(|n| n.view(now))
            .collect();
        v.sort_by(|a, b| a.zone.cmp(&b.zone));
        v
    }

    /// Active NTAs, as held.
    pub fn active(&self, now: Timestamp) -> Vec<Nta> {
        self.read()
            .ntas
            .iter()
            .filter(|n| n.active(now))
            .cloned()
            .collect()
    }

    /// The active NTA zone at or above `name` (RFC 7646 §2: the NTA covers
    /// the zone and everything below), None if none. The deepest one wins
    /// when NTAs nest.
    pub fn covering(&self, name: &Name, now: Timestamp) -> Option<Name> {
        if self.held.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.read()
            .ntas
            .iter()
            .filter(|n| n.active(now) && n.zone.zone_of(name))
            .max_by_key(|n| n.zone.num_labels())
            .map(|n| n.zone.clone())
    }

    /// Remove the NTAs expired by `now` and return their zones. The
    /// removal holds even if the state file cannot be written (logged):
    /// an expired NTA must not keep validation off.
    pub fn expire(&self, now: Timestamp) -> Vec<Name> {
        let _order = self.change.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self.read().clone();
        let mut expired = Vec::new();
        while let Some(i) = next.ntas.iter().position(|n| !n.active(now)) {
            if let Some(nta) = next.take(i) {
                expired.push(nta.zone);
            }
        }
        if expired.is_empty() {
            return expired;
        }
        self.persist_or_warn(&next);
        self.commit(next);
        for zone in &expired {
            tracing::info!("NTA for {zone} expired");
        }
        expired
    }

    /// Active NTAs at `now`.
    pub fn active_count(&self, now: Timestamp) -> usize {
        self.read().ntas.iter().filter(|n| n.active(now)).count()
    }

    /// Replace every Config-sourced NTA with `entries` (used on start and
    /// on config reload); Api ones stay. An entry already held unchanged
    /// keeps its times; one already spent is not armed again; an entry for
    /// a zone with an Api NTA is left out while that one lasts.
    pub fn set_config_ntas(&self, entries: &[ConfigNta], now: Timestamp) -> Result<(), NtaError> {
        let mut checked: Vec<ConfigNta> = Vec::with_capacity(entries.len());
        for e in entries {
            let zone = normalize_zone(&e.zone)?;
            check_lifetime(e.lifetime)?;
            check_reason(&e.reason)?;
            if checked.iter().any(|c| c.zone == zone) {
                return Err(NtaError::Duplicate { zone });
            }
            checked.push(ConfigNta {
                zone,
                lifetime: e.lifetime,
                reason: e.reason.clone(),
            });
        }
        self.change(|state| {
            let old = std::mem::take(&mut state.ntas);
            let (mut ntas, old_config): (Vec<Nta>, Vec<Nta>) =
                old.into_iter().partition(|n| n.source == NtaSource::Api);
            for e in &checked {
                if ntas.iter().any(|n| n.zone == e.zone) || state.spent.contains(e) {
                    continue;
                }
                let same = old_config.iter().find(|n| {
                    n.zone == e.zone && n.lifetime() == e.lifetime && n.reason == e.reason
                });
                ntas.push(match same {
                    Some(n) => n.clone(),
                    None => Nta {
                        zone: e.zone.clone(),
                        reason: e.reason.clone(),
                        added_at: now,
                        expires_at: now.saturating_add(e.lifetime),
                        source: NtaSource::Config,
                        force: false,
                    },
                });
            }
            if ntas.len() > MAX_NTAS {
                return Err(NtaError::TooMany { count: ntas.len() });
            }
            state.ntas = ntas;
            state.spent.retain(|s| checked.contains(s));
            Ok(((), true))
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Apply `f` to a copy of the state; if it reports a change, persist
    /// the copy (memory only if that fails), then make it the state.
    fn change<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<(R, bool), NtaError>,
    ) -> Result<R, NtaError> {
        let _order = self.change.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = self.read().clone();
        let (r, changed) = f(&mut next)?;
        if changed {
            self.persist_or_warn(&next);
            self.commit(next);
        }
        Ok(r)
    }

    fn commit(&self, next: State) {
        let held = next.ntas.len();
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = next;
        self.held.store(held, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Changes whenever an NTA is added, replaced or removed (an expiry by
    /// time alone does not change it: answers under an NTA are never
    /// reused, see `Answer::fresh_until`).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn persist(&self, state: &State) -> Result<(), NtaError> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let file = StateFile::from_state(state);
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|source| NtaError::Encode {
            path: path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        write_atomic(path, &bytes)
    }
}

/// One periodic pass: expire, then for each active NTA call `check(zone)`;
/// if it returns true (the zone validates again) remove the NTA. Forced
/// NTAs are not checked (nothing would come of it). Returns the lifted
/// zones. The caller runs it every `nta-recheck-interval`.
pub async fn recheck_once<F, Fut>(store: &NtaStore, now: Timestamp, check: F) -> Vec<Name>
where
    F: Fn(Name) -> Fut,
    Fut: Future<Output = bool>,
{
    store.expire(now);
    let mut lifted = Vec::new();
    for nta in store.active(now) {
        if nta.force {
            tracing::debug!(zone = %nta.zone, "NTA recheck: forced, kept until it expires");
            continue;
        }
        if !check(nta.zone.clone()).await {
            tracing::debug!(zone = %nta.zone, "NTA recheck: zone still fails validation");
            continue;
        }
        match store.remove_same(&nta) {
            Ok(true) => {
                tracing::info!("NTA for {} lifted: zone validates again", nta.zone);
                lifted.push(nta.zone);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(zone = %nta.zone, error = %e, "NTA not lifted"),
        }
    }
    lifted
}

mod state;

use state::{STATE_VERSION, StateFile, check_state, parse_state, read_state, write_atomic};
pub use state::{StateReport, check_state_file};

#[cfg(test)]
mod tests;
