//! The chain of trust: for a zone, an authenticated DNSKEY set (from a
//! trust anchor or the parent's validated DS set), or a proof that the
//! zone is insecure, or the reason it is Bogus. Verdicts are cached per
//! zone and concurrent fetches for one zone are coalesced.
//!
//! Fail stale for the chain (issue 21): a zone's last verdict that
//! validated (Secure keys, or a proven Insecure delegation) is kept past
//! its TTL, up to `max-stale-ttl`. While a zone above it does not
//! validate (a validation window, or a suspect: see `health`), that
//! last-good verdict is used again for [`limits::LAST_GOOD_KEYS_RECHECK`]
//! instead of asking for the DS (or after the DS asked for did not
//! validate): answers from the zone still have to validate against those
//! keys, signature validity times included. A verdict that never
//! validated is never reused.

use std::sync::Arc;

use hickory_proto::dnssec::rdata::{DNSSECRData, DS};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::cache::StepKind;
use crate::clock::Timestamp;
use crate::dnssec::validate;
use crate::dnssec::{BogusKind, BogusReason, KeyEntry, Security};
use crate::limits;
use crate::resolve::{BoxFuture, Ctx, Resolver};

/// A zone's key verdict in the key cache.
#[derive(Clone, Debug)]
pub(crate) struct KeySlot {
    pub entry: KeyEntry,
    /// Until when the verdict is used without asking again.
    pub expires: Timestamp,
    /// For a verdict that validated: when its own TTL ran out (a reused
    /// last-good verdict keeps the first one); its stale life counts from
    /// there.
    pub validated_until: Timestamp,
}

impl KeySlot {
    /// The verdict validated once (Secure, or Insecure proven) and is
    /// within `max_stale` of its own TTL: usable as the last good chain.
    fn last_good(&self, now: Timestamp, max_stale: std::time::Duration) -> bool {
        matches!(self.entry, KeyEntry::Secure(_) | KeyEntry::Insecure { .. })
            && now.saturating_since(self.validated_until) <= max_stale
    }
}

impl Resolver {
    /// Keys for `zone`, from the key cache or fetched.
    pub(crate) fn keys_for<'a>(
        self: &'a Arc<Self>,
        zone: &'a Name,
        ctx: &'a Arc<Ctx>,
    ) -> BoxFuture<'a, KeyEntry> {
        Box::pin(self.keys_for_inner(zone, ctx))
    }

    async fn keys_for_inner(self: &Arc<Self>, zone: &Name, ctx: &Arc<Ctx>) -> KeyEntry {
        let zone = zone.to_lowercase();
        let now = self.clock.now();
        let cached = self.keys.get(&zone);
        if let Some(slot) = &cached
            && now < slot.expires
        {
            return slot.entry.clone();
        }
        let last_good = self.last_good_keys(&zone, cached, now);
        if let Some(good) = &last_good
            && self.parent_failing_validation(&zone).is_some()
        {
            // The parent's DS would not validate now: no question to it.
            return self.reuse_last_good(&zone, good.clone(), "a zone above does not validate");
        }
        let this = Arc::clone(self);
        let (z, c) = (zone.clone(), Arc::clone(ctx));
        let fetched = self
            .keys_inflight
            .run(zone.clone(), async move {
                Box::pin(this.fetch_keys(&z, &c, last_good)).await
            })
            .await;
        fetched.unwrap_or_else(|| {
            KeyEntry::Indeterminate(crate::ede::Ede::new(
                crate::ede::EdeCode::DnssecIndeterminate,
                format!("{zone}: key fetch ended without a result"),
            ))
        })
    }

    async fn fetch_keys(
        self: &Arc<Self>,
        zone: &Name,
        ctx: &Arc<Ctx>,
        last_good: Option<KeySlot>,
    ) -> KeyEntry {
        let (entry, ttl, parent_failed) = self.fetch_keys_uncached(zone, ctx).await;
        if parent_failed
            && let Some(good) = last_good
            && self.parent_failing_validation(zone).is_some()
        {
            return self.reuse_last_good(zone, good, "DS did not validate");
        }
        let ttl = match &entry {
            KeyEntry::Secure(_) | KeyEntry::Insecure { .. } => ttl.min(limits::MAX_TTL),
            KeyEntry::Bogus(_) | KeyEntry::Indeterminate(_) => ttl.min(limits::BOGUS_TTL_SECS),
        };
        let expires = self
            .clock
            .now()
            .saturating_add(std::time::Duration::from_secs(u64::from(ttl)));
        self.keys.insert(
            zone.clone(),
            KeySlot {
                entry: entry.clone(),
                expires,
                validated_until: expires,
            },
        );
        entry
    }

    /// Whether `zone` has a chain of trust that validated (Secure keys or
    /// a proven Insecure delegation), fresh or within `max-stale-ttl`, and
    /// no NTA covers it.
    pub(crate) fn chain_validated(&self, zone: &Name) -> bool {
        let now = self.clock.now();
        self.nta_for(zone).is_none()
            && self
                .keys
                .get(zone)
                .is_some_and(|slot| slot.last_good(now, self.cache.max_stale()))
    }

    /// `zone`'s expired verdict, if it is a last good one.
    fn last_good_keys(
        &self,
        zone: &Name,
        cached: Option<KeySlot>,
        now: Timestamp,
    ) -> Option<KeySlot> {
        if self.nta_for(zone).is_some() {
            return None;
        }
        cached.filter(|slot| slot.last_good(now, self.cache.max_stale()))
    }

    /// Use `zone`'s last good verdict again for `LAST_GOOD_KEYS_RECHECK`.
    fn reuse_last_good(&self, zone: &Name, good: KeySlot, why: &str) -> KeyEntry {
        let now = self.clock.now();
        tracing::debug!(%zone, why, expired_secs = now.saturating_since(good.validated_until).as_secs(), "using the last good chain of trust");
        self.metrics.last_good_keys.inc();
        let entry = good.entry.clone();
        self.keys.insert(
            zone.clone(),
            KeySlot {
                expires: now.saturating_add(limits::LAST_GOOD_KEYS_RECHECK),
                ..good
            },
        );
        entry
    }

    /// The closest zone above `zone` whose data does not validate now (a
    /// validation window, or servers answering Bogus: see
    /// [`crate::resolve::health::ZoneHealth::validation_failing`]).
    pub(crate) fn parent_failing_validation(&self, zone: &Name) -> Option<Name> {
        let now = self.clock.now();
        let mut name = zone.to_lowercase();
        while !name.is_root() {
            name = crate::dnssec::canon::parent(&name);
            if self.health.validation_failing(&name, now) {
                return Some(name);
            }
        }
        None
    }

    /// The verdict for `zone`, how many seconds it may be kept, and
    /// whether the parent failed to prove the DS (no answer, or one that
    /// did not validate).
    async fn fetch_keys_uncached(
        self: &Arc<Self>,
        zone: &Name,
        ctx: &Arc<Ctx>,
    ) -> (KeyEntry, u32, bool) {
        let config = self.config();
        let anchors = &config.anchors;
        if !self.private_zone_secure(zone) {
            // A private zone without an anchor (or `validate = false`).
            return (KeyEntry::Insecure { note: None }, limits::MAX_TTL, false);
        }
        if let Some((ds, keys)) = anchors.get(zone) {
            let (ds, keys) = (ds.to_vec(), keys.to_vec());
            let (entry, ttl) = self.authenticate_dnskeys(zone, &ds, &keys, ctx).await;
            return (entry, ttl, false);
        }
        if anchors.closest(zone).is_none() {
            // No anchor above this zone: nothing can make it secure.
            return (KeyEntry::Insecure { note: None }, limits::MAX_TTL, false);
        }
        let ds_step = match self.lookup(zone, RecordType::DS, ctx).await {
            Ok(step) => step,
            Err(e) => return (KeyEntry::Indeterminate(e.ede()), 0, true),
        };
        if let Some(links) = self.chain_links() {
            links.note_ds(zone, &ds_step);
        }
        let (entry, ttl) = match (&ds_step.security, &ds_step.kind) {
            (Security::Secure, StepKind::Positive) => {
                let ds: Vec<DS> = ds_step
                    .answers
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
                        _ => None,
                    })
                    .collect();
                self.authenticate_dnskeys(zone, &ds, &[], ctx).await
            }
            (Security::Secure, StepKind::NoData) => {
                (KeyEntry::Insecure { note: None }, ds_step.ttl)
            }
            (Security::Secure, StepKind::NxDomain | StepKind::Cname { .. }) => (
                KeyEntry::Bogus(BogusReason::new(
                    BogusKind::DnskeyMissing,
                    zone,
                    None,
                    "signer zone does not exist in its parent",
                )),
                ds_step.ttl,
            ),
            (Security::Insecure { note }, _) => {
                (KeyEntry::Insecure { note: note.clone() }, ds_step.ttl)
            }
            (Security::Bogus(r), _) => {
                return (KeyEntry::Bogus(r.clone()), ds_step.ttl, true);
            }
            (Security::Indeterminate(e), _) => {
                return (KeyEntry::Indeterminate(e.clone()), ds_step.ttl, true);
            }
        };
        (entry, ttl, false)
    }

    /// Fetch `zone`'s DNSKEY RRset and authenticate it with `ds` / anchor keys.
    async fn authenticate_dnskeys(
        self: &Arc<Self>,
        zone: &Name,
        ds: &[DS],
        anchor_keys: &[hickory_proto::dnssec::rdata::DNSKEY],
        ctx: &Arc<Ctx>,
    ) -> (KeyEntry, u32) {
        if let Err(e) = ctx.enter(zone, RecordType::DNSKEY) {
            return (KeyEntry::Indeterminate(e.ede()), 0);
        }
        let fetched = Box::pin(self.iterate(zone, RecordType::DNSKEY, ctx, false)).await;
        ctx.leave(zone, RecordType::DNSKEY);
        let step = match fetched {
            Ok(step) => step,
            Err(e) => return (KeyEntry::Indeterminate(e.ede()), 0),
        };
        if step.kind != StepKind::Positive {
            let reason = BogusReason::new(
                BogusKind::DnskeyMissing,
                zone,
                ds.first().map(|d| d.key_tag()),
                "zone has a DS but publishes no DNSKEY",
            );
            return (KeyEntry::Bogus(reason), step.ttl);
        }
        let mut budget = self.budget();
        let now: Timestamp = self.clock.now();
        let entry = validate::validate_dnskeys(
            zone,
            &step.answers,
            ds,
            anchor_keys,
            now.unix_secs(),
            &mut budget,
        );
        self.metrics
            .signature_verifications
            .inc_by(u64::from(budget.signatures_used()));
        ctx.note_budget(&budget);
        if let (KeyEntry::Secure(_), Some(links)) = (&entry, self.chain_links()) {
            links.note_dnskey(zone, &step.answers);
        }
        let ttl = step.answers.iter().map(|r| r.ttl).min().unwrap_or(0);
        (entry, ttl)
    }
}
