//! The ladder for one resolution step: fresh from cache; else refresh;
//! if the refresh fails (unreachable, SERVFAIL, garbage, Bogus) or is still
//! running after `client-response-timer`, the last entry that validated,
//! stale (RFC 8767); else SERVFAIL with the cause.
//!
//! A failed refresh opens a failure-recheck window for the zone: within it
//! stale answers come straight from the cache and never-cached names get
//! SERVFAIL at once, with no upstream query. The first query after the
//! window probes again (one probe, coalesced with any identical ones).

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::cache::{CacheKey, Entry, Freshness, StepKind, View};
use crate::clock::Timestamp;
use crate::dnssec::Security;
use crate::ede::{Ede, EdeCode};
use crate::resolve::{Ctx, ResolveError, Resolver};

/// A failing zone: why, and until when no refresh is attempted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub ede: Ede,
    pub until: Timestamp,
}

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
    /// the CD view); the caller decides who may see it.
    pub(crate) async fn step_for_client(
        self: &Arc<Self>,
        name: &Name,
        qtype: RecordType,
        ctx: &Arc<Ctx>,
    ) -> Result<StepAnswer, ResolveError> {
        let now = self.clock.now();
        let stale_cfg = self.config().stale;
        let nta = self.nta_for(name).is_some();
        let key = CacheKey::new(name, qtype, DNSClass::IN, View::Validated);
        let old = match self.cache.get(&key, now) {
            Some((entry, Freshness::Fresh { remaining })) => {
                self.metrics.cache_hits.inc();
                return Ok(StepAnswer::fresh(entry, remaining));
            }
            Some((entry, Freshness::Stale { .. })) if stale_cfg.enabled => Some(entry),
            _ => None,
        };
        if old.is_none() || nta {
            // A recent Bogus verdict answers validating clients too (as
            // SERVFAIL), and CD clients and names under an NTA get its data.
            if let Some((entry, remaining)) = self.fresh(name, qtype, View::CheckingDisabled) {
                self.metrics.cache_hits.inc();
                return Ok(StepAnswer::fresh(entry, remaining));
            }
        }
        self.metrics.cache_misses.inc();
        // Under an NTA only outages count: a remembered validation failure
        // is exactly what the operator chose to ignore.
        let failure = self
            .known_failure(name, now)
            .filter(|(_, f)| !(nta && is_validation_failure(&f.ede)));
        if let Some((zone, mut failure)) = failure {
            tracing::debug!(%name, %zone, ede = %failure.ede, "failure-recheck window: no upstream query");
            // The remembered text may name another query of the zone: say so.
            failure.ede.text = format!(
                "zone {zone} failing (failure-recheck): {}",
                failure.ede.text
            );
            return match old {
                Some(entry) => Ok(self.stale(entry, Some(failure.ede))),
                None => Err(ResolveError::KnownFailure {
                    zone,
                    ede: failure.ede,
                }),
            };
        }
        let Some(old) = old else {
            let entry = self.lookup(name, qtype, ctx).await?;
            let ttl = remaining(&entry, self.clock.now());
            return Ok(StepAnswer::fresh(entry, ttl));
        };
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
            Ok(Ok(new))
                if nta || matches!(new.security, Security::Secure | Security::Insecure { .. }) =>
            {
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
                // Provisional window: until the refresh ends (a success
                // closes it), other names of the zone are answered stale
                // without new upstream queries.
                self.record_failure(&old.zone, cause.clone());
                Ok(self.stale(old, Some(cause)))
            }
        }
    }

    fn stale(&self, entry: Arc<Entry>, cause: Option<Ede>) -> StepAnswer {
        let ttl = u32::try_from(self.config().stale.answer_ttl.as_secs()).unwrap_or(u32::MAX);
        StepAnswer {
            entry,
            ttl,
            stale: Some(cause),
        }
    }

    /// An open failure window for `name`'s zone or any zone above it.
    fn known_failure(&self, name: &Name, now: Timestamp) -> Option<(Name, Failure)> {
        let mut zone = name.to_lowercase();
        loop {
            if let Some(f) = self.failures.get(&zone) {
                if now < f.until {
                    return Some((zone, f));
                }
                self.failures.invalidate(&zone);
            }
            if zone.is_root() {
                return None;
            }
            zone = zone.base_name();
        }
    }

    /// Open (or extend) the failure-recheck window for `zone`.
    pub(crate) fn record_failure(&self, zone: &Name, ede: Ede) {
        let until = self
            .clock
            .now()
            .saturating_add(self.config().stale.failure_recheck);
        tracing::debug!(%zone, %ede, "zone failing; next probe after failure-recheck");
        self.failures
            .insert(zone.to_lowercase(), Failure { ede, until });
    }

    /// Close the failure window of `zone`: it answered.
    pub(crate) fn clear_failure(&self, zone: &Name) {
        self.failures.invalidate(&zone.to_lowercase());
    }

    /// Whether any zone is in a failure window now (for tests and status).
    pub fn failing_zones(&self) -> Vec<Name> {
        let now = self.clock.now();
        self.failures
            .iter()
            .filter(|(_, f)| now < f.until)
            .map(|(z, _)| Name::clone(&z))
            .collect()
    }
}

/// Whether a remembered failure is a DNSSEC verdict (EDE 1-12, 27)
/// rather than an outage.
fn is_validation_failure(ede: &Ede) -> bool {
    matches!(ede.code.code(), 1..=12 | 27)
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
