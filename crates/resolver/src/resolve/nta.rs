//! The resolver's side of negative trust anchors: the recheck that lifts
//! an NTA once its zone validates again (RFC 7646 §4), and forgetting what
//! was learned about a zone so the next answers see it as it is now.

use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};

use crate::cache::View;
use crate::resolve::{Ctx, Resolver};

impl Resolver {
    /// Whether `zone` validates now: its SOA resolved afresh (keys
    /// refetched, nothing from the cache) is Secure, or provably Insecure.
    pub async fn zone_validates(self: &Arc<Self>, zone: &Name) -> bool {
        let zone = zone.to_lowercase();
        self.forget_zone(&zone);
        let ctx = Arc::new(Ctx::default());
        match Box::pin(self.iterate(&zone, RecordType::SOA, &ctx, true)).await {
            Ok(entry) => entry.security.is_validated(),
            Err(e) => {
                tracing::debug!(%zone, error = %e, "NTA recheck: zone unreachable");
                false
            }
        }
    }

    /// One NTA pass: expire, recheck each active NTA and lift those whose
    /// zone validates again. Returns the lifted zones. `main` runs it every
    /// `nta-recheck-interval`; tests call it after moving the clock.
    pub async fn recheck_ntas(self: &Arc<Self>) -> Vec<Name> {
        let now = self.clock.now();
        let ntas = Arc::clone(&self.ntas);
        let lifted = crate::nta::recheck_once(&ntas, now, |zone| {
            let this = Arc::clone(self);
            async move { this.zone_validates(&zone).await }
        })
        .await;
        for zone in &lifted {
            self.forget_zone(zone);
        }
        self.update_nta_gauge();
        lifted
    }

    /// Set `lastgood_ntas_active` from the store.
    pub fn update_nta_gauge(&self) {
        let active = self.ntas.active_count(self.clock.now());
        self.metrics
            .ntas_active
            .set(i64::try_from(active).unwrap_or(i64::MAX));
    }

    /// Drop key verdicts, failure windows and unvalidated (CD-view) data at
    /// or below `zone`. Validated data stays: it validated.
    pub fn forget_zone(&self, zone: &Name) {
        let zone = zone.to_lowercase();
        invalidate_under(&self.keys, &zone);
        self.close_windows_under(&zone, super::zonelog::Recovery::Nta);
        self.cache.flush_view_under(&zone, View::CheckingDisabled);
    }

    /// `lastgood cache flush`: forget what was learned at or below `zone`
    /// (everything for `None`): key verdicts, delegations, failure windows,
    /// unvalidated data. Validated answers expire now but stay for the
    /// stale tier unless `drop_stale`: a flush during an outage must not
    /// turn stale answers into SERVFAIL (issue 13).
    pub fn flush(&self, zone: Option<&Name>, drop_stale: bool) {
        let root = Name::root();
        let under = zone.map_or(root, Name::to_lowercase);
        invalidate_under(&self.keys, &under);
        invalidate_under(&self.delegations, &under);
        invalidate_under(&self.inside_zone, &under);
        self.close_windows_under(&under, super::zonelog::Recovery::Flush);
        match (zone, drop_stale) {
            (None, true) => self.cache.flush_all(),
            (Some(z), true) => {
                if let Err(e) = self.cache.flush_zone(z) {
                    tracing::warn!(zone = %z, error = %e, "cache flush failed");
                }
            }
            (zone, false) => self.cache.expire_under(zone, self.clock.now()),
        }
    }
}

/// Drop every entry of a per-zone side cache keyed at or below `zone`
/// (lowercased).
fn invalidate_under<V>(cache: &crate::cache::SideCache<Name, V>, zone: &Name)
where
    V: Clone + Send + Sync + 'static,
{
    for (k, _) in cache.iter() {
        if zone.zone_of(&k) {
            cache.invalidate(&*k);
        }
    }
}
