//! The resolver's side of the fleet tier (`crate::fleet`): reading an
//! entry from Redis on a local miss or a failed refresh, proving it again
//! (`store::entry::decode_and_verify`) before it enters the cache, and
//! offering validated entries to Redis.
//!
//! Invariant: nothing read from Redis reaches the cache, let alone a
//! client, unless it proves again against the configured trust anchors
//! as of its stored-at time and is the entry for the very question asked.

use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};

use crate::cache::{CacheKey, Entry, Freshness, View};
use crate::clock::Timestamp;
use crate::fleet::{Fleet, keys};
use crate::resolve::Resolver;
use crate::store::chain::ChainLinks;
use crate::store::entry;

impl Resolver {
    /// The resolver's current time (its injected clock).
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Attach the fleet tier; false if one was attached already.
    pub fn set_fleet(&self, fleet: Arc<Fleet>) -> bool {
        self.fleet.set(fleet).is_ok()
    }

    /// The fleet tier, if configured.
    pub fn fleet(&self) -> Option<&Arc<Fleet>> {
        self.fleet.get()
    }

    /// Where the pieces of the chain of trust are noted for stored
    /// entries: the store's, else the fleet's own; None if neither.
    pub(crate) fn chain_links(&self) -> Option<&ChainLinks> {
        match (self.store(), self.fleet()) {
            (Some(store), _) => Some(store.links()),
            (None, Some(fleet)) => Some(fleet.links()),
            (None, None) => None,
        }
    }

    /// Offer a just-cached step to the fleet (Validated view only; the
    /// fleet's writer builds its chain and encodes it off this path).
    pub(crate) fn share(&self, key: &CacheKey, entry: &Arc<Entry>) {
        if key.view == View::Validated
            && let Some(fleet) = self.fleet()
        {
            fleet.offer(key.clone(), Arc::clone(entry));
        }
    }

    /// On a local miss: the fleet's entry for (`name`, `qtype`), proven
    /// again, clipped by the flushes applied here, put into the cache.
    /// None without a fleet, while Redis is down, or if nothing usable.
    pub(crate) async fn fleet_entry(
        &self,
        name: &Name,
        qtype: RecordType,
        now: Timestamp,
    ) -> Option<(Arc<Entry>, Freshness)> {
        let fleet = self.fleet()?;
        let bytes = fleet.get(&keys::entry_key(name, qtype)).await?;
        let key = CacheKey::new(
            name,
            qtype,
            hickory_proto::rr::DNSClass::IN,
            View::Validated,
        );
        let entry = match entry::decode_and_verify(&bytes, &self.trust(), now) {
            Ok((found, entry)) if found == key => entry,
            Ok((found, _)) => {
                fleet.metrics().rejected.with_label_values(&["key"]).inc();
                tracing::warn!(%name, %qtype, held = %found.name, "redis entry under the wrong key: rejected");
                return None;
            }
            Err(e) => {
                fleet
                    .metrics()
                    .rejected
                    .with_label_values(&[e.reason()])
                    .inc();
                tracing::warn!(%name, %qtype, error = %e, "redis entry rejected");
                return None;
            }
        };
        let entry = fleet.clip(&key.name, entry)?;
        match crate::cache::freshness(entry.stored_at, entry.ttl, now, self.cache.max_stale()) {
            Freshness::Gone => return None,
            Freshness::Fresh { .. } | Freshness::Stale { .. } => {}
        }
        self.cache.insert(key.clone(), entry);
        self.cache.get(&key, now)
    }

    /// After a failed refresh of `old`: the fleet's entry if another
    /// instance stored a newer one that is still fresh.
    pub(crate) async fn fresher_fleet_entry(
        &self,
        name: &Name,
        qtype: RecordType,
        old: &Entry,
    ) -> Option<(Arc<Entry>, u32)> {
        let now = self.clock.now();
        match self.fleet_entry(name, qtype, now).await? {
            (entry, Freshness::Fresh { remaining }) if entry.stored_at > old.stored_at => {
                Some((entry, remaining))
            }
            _ => None,
        }
    }
}
