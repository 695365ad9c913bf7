//! The chain of trust: for a zone, an authenticated DNSKEY set (from a
//! trust anchor or the parent's validated DS set), or a proof that the
//! zone is insecure, or the reason it is Bogus. Verdicts are cached per
//! zone and concurrent fetches for one zone are coalesced.

use std::sync::Arc;

use hickory_proto::dnssec::rdata::{DNSSECRData, DS};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::cache::StepKind;
use crate::clock::Timestamp;
use crate::dnssec::validate;
use crate::dnssec::{BogusKind, BogusReason, KeyEntry, Security};
use crate::limits;
use crate::resolve::{BoxFuture, Ctx, Resolver};

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
        if let Some((entry, expires)) = self.keys.get(&zone)
            && now < expires
        {
            return entry;
        }
        let this = Arc::clone(self);
        let (z, c) = (zone.clone(), Arc::clone(ctx));
        let fetched = self
            .keys_inflight
            .run(zone.clone(), async move {
                Box::pin(this.fetch_keys(&z, &c)).await
            })
            .await;
        fetched.unwrap_or_else(|| {
            KeyEntry::Indeterminate(crate::ede::Ede::new(
                crate::ede::EdeCode::DnssecIndeterminate,
                format!("{zone}: key fetch ended without a result"),
            ))
        })
    }

    async fn fetch_keys(self: &Arc<Self>, zone: &Name, ctx: &Arc<Ctx>) -> KeyEntry {
        let (entry, ttl) = self.fetch_keys_uncached(zone, ctx).await;
        let ttl = match &entry {
            KeyEntry::Secure(_) | KeyEntry::Insecure { .. } => ttl.min(limits::MAX_TTL),
            KeyEntry::Bogus(_) | KeyEntry::Indeterminate(_) => ttl.min(limits::BOGUS_TTL_SECS),
        };
        let expires = self
            .clock
            .now()
            .saturating_add(std::time::Duration::from_secs(u64::from(ttl)));
        self.keys.insert(zone.clone(), (entry.clone(), expires));
        entry
    }

    /// The verdict for `zone` and how many seconds it may be kept.
    async fn fetch_keys_uncached(self: &Arc<Self>, zone: &Name, ctx: &Arc<Ctx>) -> (KeyEntry, u32) {
        let config = self.config();
        let anchors = &config.anchors;
        if !self.private_zone_secure(zone) {
            // A private zone without an anchor (or `validate = false`).
            return (KeyEntry::Insecure { note: None }, limits::MAX_TTL);
        }
        if let Some((ds, keys)) = anchors.get(zone) {
            let (ds, keys) = (ds.to_vec(), keys.to_vec());
            return self.authenticate_dnskeys(zone, &ds, &keys, ctx).await;
        }
        if anchors.closest(zone).is_none() {
            // No anchor above this zone: nothing can make it secure.
            return (KeyEntry::Insecure { note: None }, limits::MAX_TTL);
        }
        let ds_step = match self.lookup(zone, RecordType::DS, ctx).await {
            Ok(step) => step,
            Err(e) => return (KeyEntry::Indeterminate(e.ede()), 0),
        };
        if let Some(links) = self.chain_links() {
            links.note_ds(zone, &ds_step);
        }
        match (&ds_step.security, &ds_step.kind) {
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
            (Security::Bogus(r), _) => (KeyEntry::Bogus(r.clone()), ds_step.ttl),
            (Security::Indeterminate(e), _) => (KeyEntry::Indeterminate(e.clone()), ds_step.ttl),
        }
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
