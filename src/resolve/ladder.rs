//! The ladder for one resolution step: fresh from cache; else refresh;
//! if the refresh fails (unreachable, SERVFAIL, garbage, Bogus) or is still
//! running after `client-response-timer`, the last entry that validated,
//! stale (RFC 8767); else SERVFAIL with the cause.
//!
//! A zone with an open failure window (`health`: opened only on zone-level
//! evidence) is not asked: stale answers come straight from the cache and
//! never-cached names get SERVFAIL at once. The window's recheck is a
//! background probe (`spawn_probe`), never a client's wait. A validation
//! failure does not stop clients that set CD, nor names under an NTA: they
//! are resolved and answered unvalidated (RFC 4035 §3.2.2, RFC 7646).

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::cache::{CacheKey, Entry, Freshness, StepKind, View};
use crate::clock::Timestamp;
use crate::dnssec::{KeyEntry, Security};
use crate::ede::{Ede, EdeCode};
use crate::resolve::health::{CauseKey, FailureClass, Hit, Opening, Window};
use crate::resolve::{Ctx, ResolveError, Resolver};

/// How a step reached the client.
#[derive(Clone, Debug)]
pub(crate) struct StepAnswer {
    pub entry: Arc<Entry>,
    /// TTL to show: remaining TTL, or `stale-answer-ttl` when stale.
    pub ttl: u32,
    /// Served past its TTL; the cause of the failed refresh if known.
    pub stale: Option<Option<Ede>>,
}

impl StepAnswer {
    /// `records` as this step shows them: TTLs counted down when fresh;
    /// exactly `stale-answer-ttl` when stale (RFC 8767 §4), even for
    /// records whose own TTL was shorter.
    pub fn records(&self, records: &[Record]) -> Vec<Record> {
        if self.stale.is_none() {
            return Entry::records_with_ttl(records, self.ttl);
        }
        records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.ttl = self.ttl;
                r
            })
            .collect()
    }

    fn fresh(entry: Arc<Entry>, ttl: u32) -> Self {
        Self {
            entry,
            ttl,
            stale: None,
        }
    }
}

/// EDEs of a stale answer: 3 (or 19 for NXDOMAIN, RFC 8914 §4.20) first,
/// then each distinct cause.
pub fn stale_edes(nxdomain: bool, causes: &[Ede]) -> Vec<Ede> {
    let mut out = vec![if nxdomain {
        Ede::new(EdeCode::StaleNxdomainAnswer, "")
    } else {
        Ede::new(EdeCode::StaleAnswer, "")
    }];
    for cause in causes {
        if !out.contains(cause) {
            out.push(cause.clone());
        }
    }
    out
}

impl Resolver {
    /// The ladder for (name, qtype). The step may carry Bogus data (from
    /// the CD view); the caller decides who may see it. `cd`: the client
    /// set CD (validation failures do not stop its resolution).
    pub(crate) async fn step_for_client(
        self: &Arc<Self>,
        name: &Name,
        qtype: RecordType,
        ctx: &Arc<Ctx>,
        cd: bool,
    ) -> Result<StepAnswer, ResolveError> {
        let now = self.clock.now();
        let stale_cfg = self.config().stale;
        let nta = self.nta_for(name).is_some();
        // Who may be answered despite a validation failure: the answer
        // will be unvalidated anyway (CD, RFC 4035 §3.2.2; NTA, RFC 7646).
        let unvalidated_ok = cd || nta;
        let key = CacheKey::new(name, qtype, DNSClass::IN, View::Validated);
        let old = match self.cache.get(&key, now) {
            Some((entry, Freshness::Fresh { remaining })) => {
                self.metrics.cache_hits.inc();
                return Ok(StepAnswer::fresh(entry, remaining));
            }
            Some((entry, Freshness::Stale { .. })) if stale_cfg.enabled => Some(entry),
            _ => None,
        };
        if old.is_none() || unvalidated_ok {
            // A recent Bogus verdict answers validating clients too (as
            // SERVFAIL), and CD clients and names under an NTA get its data
            // (what the authority serves now, not a stale copy).
            if let Some((entry, remaining)) = self.fresh(name, qtype, View::CheckingDisabled) {
                self.metrics.cache_hits.inc();
                return Ok(StepAnswer::fresh(entry, remaining));
            }
        }
        if old.is_none() {
            self.metrics.cache_misses.inc();
        }
        // The zone that would be asked: the closest known delegation.
        let asked = self.closest_delegation(name, qtype).zone.to_lowercase();
        if let Some(hit) = self.window_for(name, &asked, now, unvalidated_ok) {
            let ede = hit.window.ede(now);
            self.metrics.answered_from_window(&hit.window);
            tracing::debug!(%name, zone = %hit.window.zone, %ede, "failure window: no upstream query");
            if hit.start_probe {
                self.spawn_probe(hit.window.clone());
            }
            return match old {
                Some(entry) => Ok(self.stale(entry, Some(ede))),
                None => Err(ResolveError::KnownFailure {
                    zone: hit.window.zone,
                    ede,
                }),
            };
        }
        let Some(old) = old else {
            let lookup = self.lookup(name, qtype, ctx);
            // In a zone already known to be slow, a never-cached name gets
            // its answer within the client-response timer too: SERVFAIL
            // with the cause if the resolution (which goes on and fills
            // the cache) has not ended by then.
            let entry = match self.slow_zone(&asked, now) {
                Some(cause) => {
                    match tokio::time::timeout(stale_cfg.client_response_timer, lookup).await {
                        Ok(result) => result?,
                        Err(_) => {
                            return Err(ResolveError::KnownFailure {
                                zone: asked,
                                ede: cause,
                            });
                        }
                    }
                }
                None => lookup.await?,
            };
            let ttl = remaining(&entry, self.clock.now());
            return Ok(StepAnswer::fresh(entry, ttl));
        };
        // A refresh of this zone outlived the client-response timer and is
        // still running: answer the zone's other expired names stale now
        // instead of starting refreshes that would wait on it too.
        if let Some(cause) = self.slow_zone(&old.zone, now) {
            return Ok(self.stale(old, Some(cause)));
        }
        // At most MAX_STALE_REFRESHES_PER_ZONE refreshes of one zone at a
        // time: a burst of expired names during an outage must not become
        // a burst of upstream queries. The rest are answered stale now.
        let Some(_slot) = RefreshSlot::take(&self.refreshing, &old.zone) else {
            self.metrics.limit_hit("MAX_STALE_REFRESHES_PER_ZONE");
            return Ok(self.stale(old, None));
        };
        // Refresh an expired entry, but answer stale if it takes too long:
        // the refresh runs in its own task and fills the cache when done.
        let refresh = self.lookup(name, qtype, ctx);
        match tokio::time::timeout(stale_cfg.client_response_timer, refresh).await {
            // What the authority serves now: validated, or wanted anyway.
            Ok(Ok(new))
                if unvalidated_ok
                    || matches!(new.security, Security::Secure | Security::Insecure { .. }) =>
            {
                self.metrics.cache_misses.inc();
                let ttl = remaining(&new, self.clock.now());
                Ok(StepAnswer::fresh(new, ttl))
            }
            Ok(Ok(bad)) => {
                let cause = match &bad.security {
                    Security::Bogus(r) => r.ede(),
                    Security::Indeterminate(e) => e.clone(),
                    Security::Secure | Security::Insecure { .. } => Ede::new(EdeCode::Other, ""),
                };
                Ok(self.stale(old, Some(cause)))
            }
            Ok(Err(e)) => Ok(self.stale(old, Some(e.ede()))),
            Err(_) => {
                let cause = Ede::new(
                    EdeCode::NoReachableAuthority,
                    format!(
                        "{}: no answer within client-response-timer {:?}; refresh continues",
                        old.zone, stale_cfg.client_response_timer
                    ),
                );
                self.mark_slow(&old.zone, cause.clone());
                Ok(self.stale(old, Some(cause)))
            }
        }
    }

    fn stale(&self, entry: Arc<Entry>, cause: Option<Ede>) -> StepAnswer {
        self.metrics.cache_stale_hits.inc();
        let ttl = u32::try_from(self.config().stale.answer_ttl.as_secs()).unwrap_or(u32::MAX);
        StepAnswer {
            entry,
            ttl,
            stale: Some(cause),
        }
    }

    /// The failure window that stops a question for `name`: one of the
    /// zones from `name` up to the zone that would be asked (the closest
    /// known delegation). A parent's window does not stop names whose own
    /// delegation is known: their servers and chain may be fine (fail
    /// small). Validation windows do not stop `unvalidated_ok` questions.
    fn window_for(
        &self,
        name: &Name,
        top: &Name,
        now: Timestamp,
        unvalidated_ok: bool,
    ) -> Option<Hit> {
        let lapse = self.config().stale.failure_recheck;
        let mut zone = name.to_lowercase();
        loop {
            if let Some(hit) = self.health.hit(&zone, now, lapse)
                && !(unvalidated_ok && hit.window.class == FailureClass::Validation)
            {
                return Some(hit);
            }
            if zone == *top || zone.is_root() {
                return None;
            }
            zone = zone.base_name();
        }
    }

    /// Zone-level evidence: open `zone`'s failure window (one WARN per
    /// episode; later evidence only refreshes the cause).
    pub(crate) fn open_window(&self, opening: Opening) {
        let (zone, class, cause) = (opening.zone.clone(), opening.class, opening.cause.clone());
        let question = opening.question.clone();
        if self.health.open(opening, self.clock.now()) {
            self.metrics
                .zone_failures
                .with_label_values(&[class.as_str()])
                .inc();
            tracing::warn!(
                %zone,
                class = class.as_str(),
                ede = cause.code.code(),
                cause = %cause.text,
                question = %format!("{} {}", question.0, question.1),
                "zone failing: answering stale or SERVFAIL from the failure window"
            );
        }
    }

    /// Weigh a Bogus verdict about one RRset: its own entry remembers it
    /// (the CD view); the zone's window opens only when the zone's chain
    /// of trust failed, or the same cause hit several RRsets of the zone.
    pub(crate) fn bogus_evidence(
        &self,
        name: &Name,
        qtype: RecordType,
        entry: &Entry,
        reason: &crate::dnssec::BogusReason,
    ) {
        let zone = entry.zone.to_lowercase();
        let chain_failed = matches!(self.keys.get(&zone), Some((KeyEntry::Bogus(_), _)));
        let cause = CauseKey {
            kind: reason.kind,
            key_tag: reason.key_tag,
        };
        let zone_level = chain_failed
            || self
                .health
                .evidence(&zone, cause, (name, qtype), self.clock.now());
        if zone_level {
            self.open_window(Opening {
                zone,
                fault_zone: reason.zone.clone(),
                class: FailureClass::Validation,
                cause: reason.ede(),
                question: (name.to_lowercase(), qtype),
            });
        }
    }

    /// Recheck a failing zone in the background: ask the question that
    /// opened its window again, past the window, with the zone's doubtful
    /// key verdicts forgotten. Success closes the window; failure backs
    /// the next probe off (up to `failure-recheck`).
    pub(crate) fn spawn_probe(self: &Arc<Self>, window: Window) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let ok = this.probe(&window).await;
            this.probe_done(&window, ok);
        });
    }

    async fn probe(self: &Arc<Self>, window: &Window) -> bool {
        if window.class == FailureClass::Validation {
            self.forget_doubtful_keys(&window.fault_zone);
            self.forget_doubtful_keys(&window.zone);
        }
        let ctx = Arc::new(Ctx::probe());
        let (name, qtype) = &window.question;
        tracing::debug!(zone = %window.zone, %name, %qtype, "failure window probe");
        match self.lookup(name, *qtype, &ctx).await {
            Ok(entry) => match window.class {
                FailureClass::Outage => true,
                FailureClass::Validation => {
                    matches!(entry.security, Security::Secure | Security::Insecure { .. })
                }
            },
            Err(_) => false,
        }
    }

    fn probe_done(&self, window: &Window, ok: bool) {
        let now = self.clock.now();
        let max = self.config().stale.failure_recheck;
        let result = if ok { "recovered" } else { "failing" };
        self.metrics
            .failure_probes
            .with_label_values(&[result])
            .inc();
        if let Some(closed) = self.health.probe_done(&window.zone, ok, now, max) {
            tracing::info!(
                zone = %closed.zone,
                class = closed.class.as_str(),
                failing_for_s = now.saturating_since(closed.since).as_secs(),
                answered_from_window = closed.hits,
                "zone recovered: failure window closed by its probe"
            );
        }
    }

    /// Drop key verdicts at or below `zone` that are not Secure (they are
    /// what a validation failure may have been built on).
    fn forget_doubtful_keys(&self, zone: &Name) {
        let zone = zone.to_lowercase();
        for (k, (entry, _)) in self.keys.iter() {
            if zone.zone_of(&k) && !matches!(entry, KeyEntry::Secure(_)) {
                self.keys.invalidate(&*k);
            }
        }
    }

    /// End `zone`'s window and probe it now; waits for the probe's verdict
    /// (`lastgood zone retry`). `None`: the zone was not failing.
    pub async fn retry_zone(self: &Arc<Self>, zone: &Name) -> Option<bool> {
        let zone = zone.to_lowercase();
        let window = self.health.list().into_iter().find(|w| w.zone == zone)?;
        let ok = self.probe(&window).await;
        self.probe_done(&window, ok);
        if ok {
            // A probe that failed keeps the window; one that worked closed it.
            self.health.clear_under(&zone);
        }
        Some(ok)
    }

    fn slow_zone(&self, zone: &Name, now: Timestamp) -> Option<Ede> {
        let mut slow = self.slow_zones.lock().unwrap_or_else(|e| e.into_inner());
        let zone = zone.to_lowercase();
        match slow.get(&zone) {
            Some((until, cause)) if now < *until => Some(cause.clone()),
            Some(_) => {
                slow.remove(&zone);
                None
            }
            None => None,
        }
    }

    fn mark_slow(&self, zone: &Name, cause: Ede) {
        let until = self
            .clock
            .now()
            .saturating_add(crate::limits::SLOW_ZONE_HOLD);
        let mut slow = self.slow_zones.lock().unwrap_or_else(|e| e.into_inner());
        if slow.len() >= crate::limits::MAX_FAILING_ZONES {
            slow.clear();
        }
        slow.insert(zone.to_lowercase(), (until, cause));
    }

    /// A refresh of `zone` ended (well or badly): it is no longer slow.
    pub(crate) fn not_slow(&self, zone: &Name) {
        let mut slow = self.slow_zones.lock().unwrap_or_else(|e| e.into_inner());
        if !slow.is_empty() {
            slow.remove(&zone.to_lowercase());
        }
    }

    /// Zones in a failure window now (for tests and status).
    pub fn failing_zones(&self) -> Vec<Name> {
        self.health.list().into_iter().map(|w| w.zone).collect()
    }

    /// Every open failure window with its cause, since-when and next probe.
    pub fn failure_windows(&self) -> Vec<Window> {
        self.health.list()
    }
}

/// In-flight stale refreshes per zone.
pub(crate) type Refreshing = std::sync::Mutex<std::collections::HashMap<Name, usize>>;

/// One of a zone's `MAX_STALE_REFRESHES_PER_ZONE` refresh slots, released on drop.
struct RefreshSlot<'a> {
    map: &'a Refreshing,
    zone: Name,
}

impl<'a> RefreshSlot<'a> {
    fn take(map: &'a Refreshing, zone: &Name) -> Option<Self> {
        let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(zone.to_lowercase()).or_insert(0);
        if *n >= crate::limits::MAX_STALE_REFRESHES_PER_ZONE {
            return None;
        }
        *n += 1;
        Some(Self {
            map,
            zone: zone.to_lowercase(),
        })
    }
}

impl Drop for RefreshSlot<'_> {
    fn drop(&mut self) {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.zone) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.zone);
            }
        }
    }
}

/// Seconds left on a just-resolved entry (0 for TTL-0 data).
fn remaining(entry: &Entry, now: Timestamp) -> u32 {
    match crate::cache::freshness(entry.stored_at, entry.ttl, now, Duration::ZERO) {
        Freshness::Fresh { remaining } => remaining,
        Freshness::Stale { .. } | Freshness::Gone => 0,
    }
}

/// Whether a step kind is NXDOMAIN (for EDE 19 on stale negatives).
pub fn is_nxdomain(kind: &StepKind) -> bool {
    matches!(kind, StepKind::NxDomain)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn stale_edes_lead_with_3_or_19_and_dedup_causes() {
        let c = Ede::new(EdeCode::NoReachableAuthority, "x");
        let e = stale_edes(false, &[c.clone(), c.clone()]);
        assert_eq!(
            e.iter().map(|e| e.code.code()).collect::<Vec<_>>(),
            vec![3, 22]
        );
        let e = stale_edes(true, &[]);
        assert_eq!(
            e.iter().map(|e| e.code.code()).collect::<Vec<_>>(),
            vec![19]
        );
    }
}
