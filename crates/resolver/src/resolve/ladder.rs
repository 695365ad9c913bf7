//! The ladder's driver for one resolution step: reads the cache, the
//! zone's failure state and the NTA store, runs the refresh (with the
//! client-response timer) and acts on what [`rung::decide`] says. The
//! decision itself — fresh, refresh, stale, NTA or SERVFAIL, and the EDEs —
//! is made only in `rung.rs`.
//!
//! Here too: a zone's failure window (`health`: opened only on zone-level
//! evidence) and its recheck, a background probe (`spawn_probe`), never a
//! client's wait; the slow-zone hold; per-zone refresh slots.

use std::sync::Arc;

use hickory_proto::rr::{DNSClass, Name, RecordType};

use crate::cache::{CacheKey, Entry, Freshness, View};
use crate::clock::Timestamp;
use crate::dnssec::KeyEntry;
use crate::ede::Ede;
use crate::resolve::health::{CauseKey, FailureClass, Hit, Opening, Window};
use crate::resolve::rung::{self, Cached, Refresh, Rung, StaleCause, Step, ZoneState};
use crate::resolve::zonelog::Recovery;
use crate::resolve::{Ctx, Resolver};

impl Resolver {
    /// The ladder for (name, qtype): the rung that answers this step. The
    /// rung may carry Bogus data (from the CD view) only for CD clients
    /// and names under an NTA. `cd`: the client set CD.
    pub(crate) async fn step_for_client(
        self: &Arc<Self>,
        name: &Name,
        qtype: RecordType,
        ctx: &Arc<Ctx>,
        cd: bool,
    ) -> Rung {
        let now = self.clock.now();
        let stale_cfg = self.config().stale;
        let key = CacheKey::new(name, qtype, DNSClass::IN, View::Validated);
        let validated = match self
            .cache
            .get(&key, now)
            .or_else(|| self.stored_entry(&key, now))
        {
            Some((entry, Freshness::Fresh { remaining })) => Cached::Fresh { entry, remaining },
            Some((entry, Freshness::Stale { .. })) => Cached::Expired(entry),
            Some((_, Freshness::Gone)) | None => Cached::Nothing,
        };
        // A local miss: the fleet's copy, proven again (`shared.rs`).
        let validated = match validated {
            Cached::Nothing => match self.fleet_entry(name, qtype, now).await {
                Some((entry, Freshness::Fresh { remaining })) => Cached::Fresh { entry, remaining },
                Some((entry, Freshness::Stale { .. })) => Cached::Expired(entry),
                _ => Cached::Nothing,
            },
            cached => cached,
        };
        let checking_disabled = match validated {
            Cached::Fresh { .. } => None,
            Cached::Expired(_) | Cached::Nothing => self.fresh(name, qtype, View::CheckingDisabled),
        };
        let mut step = Step {
            validated,
            checking_disabled,
            nta: self.nta_for(name),
            cd,
            zone: None,
            refresh: Refresh::NotStarted,
        };
        let expired = match rung::decide(&step, &stale_cfg, now) {
            Rung::Miss { expired } => expired,
            rung => {
                self.metrics.cache_hits.inc();
                return rung;
            }
        };
        // A stale answer is a stale hit, not a miss: a miss is counted when
        // nothing is cached, or when an expired entry's refresh answers.
        if expired.is_none() {
            self.metrics.cache_misses.inc();
        }
        // The zone that would be asked: the closest known delegation (or
        // one below a zone in a validation window, with its last good chain).
        let (asked, passed_over) = self.closest_delegation_checked(name, qtype, true);
        let asked = asked.zone.to_lowercase();
        if let Some(failing) = passed_over {
            self.keep_probing(&failing, now);
        }
        let nta = step.nta.is_some();
        let window = self.window_for(name, &asked, now, cd, nta).map(|hit| {
            tracing::debug!(%name, zone = %hit.window.zone, ede = %hit.window.ede(now), "failure window: no upstream query");
            self.metrics.answered_from_window(&hit.window);
            if hit.start_probe {
                self.spawn_probe(hit.window.clone());
            }
            hit.window
        });
        let zone = expired.clone().unwrap_or(asked);
        // Read only what the ladder looks at next: the slow-zone hold when
        // no window stops the question, a refresh slot when an expired
        // entry would be refreshed (held until the refresh ends).
        let slow = match window {
            Some(_) => None,
            None => self.slow_zone(&zone, now),
        };
        let slot = match (&window, &slow, &expired) {
            (None, None, Some(zone)) => RefreshSlot::take(&self.refreshing, zone),
            _ => None,
        };
        step.zone = Some(ZoneState {
            zone,
            window,
            slow,
            slot: slot.is_some(),
        });
        let rung = match rung::decide(&step, &stale_cfg, now) {
            Rung::Refresh { timer } => {
                // The refresh runs in its own task (coalesced) and fills
                // the cache when done, whether or not we waited for it.
                let lookup = self.lookup(name, qtype, ctx);
                step.refresh = match timer {
                    Some(timer) => match tokio::time::timeout(timer, lookup).await {
                        Ok(result) => Refresh::Done(result),
                        Err(_) => Refresh::StillRunning,
                    },
                    None => Refresh::Done(lookup.await),
                };
                drop(slot);
                rung::decide(&step, &stale_cfg, self.clock.now())
            }
            rung => rung,
        };
        if let Rung::Stale {
            served,
            cause: StaleCause::Timer(cause),
            ..
        } = &rung
        {
            self.mark_slow(&served.entry.zone, cause.clone());
        }
        if let Rung::Stale {
            cause: StaleCause::Window(_),
            ..
        } = &rung
            && let Some(window) = step.zone.as_ref().and_then(|z| z.window.as_ref())
        {
            self.health.served_stale(&window.zone);
        }
        if let Some(limit) = rung.limit() {
            self.metrics.limit_hit(limit);
        }
        match &rung {
            Rung::Stale { .. } => self.metrics.cache_stale_hits.inc(),
            Rung::Fresh(_) | Rung::Nta { .. } if expired.is_some() => {
                self.metrics.cache_misses.inc()
            }
            _ => {}
        }
        // A failed refresh: another instance may hold a newer copy.
        if let Rung::Stale {
            served,
            cause: StaleCause::Refresh(_) | StaleCause::Timer(_),
            ..
        } = &rung
            && let Some((entry, remaining)) =
                self.fresher_fleet_entry(name, qtype, &served.entry).await
        {
            return Rung::Fresh(rung::Served {
                entry,
                ttl: remaining,
            });
        }
        rung
    }

    /// On a cache miss, the last-good store's entry (proven again by the
    /// store), put into the cache as it was stored (issue 18).
    fn stored_entry(&self, key: &CacheKey, now: Timestamp) -> Option<(Arc<Entry>, Freshness)> {
        let entry = self.store()?.get(key, now)?;
        self.cache.insert(key.clone(), entry);
        self.cache.get(key, now)
    }

    /// The failure window that stops a question for `name`: one of the
    /// zones from `name` up to the zone that would be asked (the closest
    /// known delegation). A parent's window does not stop names whose own
    /// delegation is known: their servers and chain may be fine (fail
    /// small). Which windows stop whom is the ladder's
    /// [`rung::window_stops`].
    fn window_for(
        &self,
        name: &Name,
        top: &Name,
        now: Timestamp,
        cd: bool,
        nta: bool,
    ) -> Option<Hit> {
        let lapse = self.config().stale.failure_recheck;
        let mut zone = name.to_lowercase();
        loop {
            if let Some(hit) = self.health.hit(&zone, now, lapse)
                && rung::window_stops(hit.window.class, cd, nta)
            {
                self.log_lapsed_windows();
                return Some(hit);
            }
            if zone == *top || zone.is_root() {
                self.log_lapsed_windows();
                return None;
            }
            zone = crate::dnssec::canon::parent(&zone);
        }
    }

    /// A question went below `zone`'s validation window on a last good
    /// chain: it counts as a hit of the window (which does not lapse while
    /// it is used this way), and starts the window's probe when due, so the
    /// window closes once the zone validates again.
    fn keep_probing(self: &Arc<Self>, zone: &Name, now: Timestamp) {
        let lapse = self.config().stale.failure_recheck;
        if let Some(hit) = self.health.hit(&zone.to_lowercase(), now, lapse)
            && hit.start_probe
        {
            self.spawn_probe(hit.window);
        }
        self.log_lapsed_windows();
    }

    /// Zone-level evidence: open `zone`'s failure window (one WARN per
    /// episode; later evidence only refreshes the cause).
    pub(crate) fn open_window(&self, opening: Opening) {
        let class = opening.class;
        if self.health.open(opening.clone(), self.clock.now()) {
            self.metrics
                .zone_failures
                .with_label_values(&[class.as_str()])
                .inc();
            self.log_zone_failing(&opening);
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
        let chain_failed = self
            .keys
            .get(&zone)
            .is_some_and(|slot| matches!(slot.entry, KeyEntry::Bogus(_)));
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
                FailureClass::Validation => entry.security.is_validated(),
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
        match self.health.probe_done(&window.zone, ok, now, max) {
            Some(closed) => self.log_zone_recovered(&closed, Recovery::Probe),
            None if !ok => self.log_zone_still_failing(window),
            None => {}
        }
    }

    /// Drop key verdicts at or below `zone` that failed (Bogus or
    /// Indeterminate: what a validation failure may have been built on).
    /// Proven verdicts (Secure, Insecure) stay: they are the last good
    /// chains of the zone's children.
    fn forget_doubtful_keys(&self, zone: &Name) {
        let zone = zone.to_lowercase();
        for (k, slot) in self.keys.iter() {
            if zone.zone_of(&k)
                && matches!(slot.entry, KeyEntry::Bogus(_) | KeyEntry::Indeterminate(_))
            {
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
            self.close_windows_under(&zone, Recovery::Probe);
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
