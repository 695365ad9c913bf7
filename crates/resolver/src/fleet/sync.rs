//! Fleet-wide NTAs and flushes: the listener task that applies what other
//! instances publish, and the NTA reconcile.
//!
//! NTAs are state: the hash `lastgood:1:ntas` is the truth, a message only
//! says "read it again", and every instance reads it whole on each
//! (re)subscription and every [`NTA_RECONCILE_INTERVAL`]. An NTA in the
//! hash is added here with the same expiry (so its lifetime ends at the
//! same moment everywhere); one that left the hash is removed here if it
//! is still the one that was shared. An NTA added or removed here while
//! Redis was down is pushed first, at the first reconcile after it is
//! back (`Fleet::push_pending_ntas`). Flushes are events: applied once,
//! when heard.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;
use hickory_proto::rr::Name;

use crate::control::Flush;
use crate::nta::NtaSource;
use crate::resolve::Resolver;

use super::Fleet;
use super::keys::{self, Event};
use super::limits::{NTA_RECONCILE_INTERVAL, REDIS_BACKOFF_MIN, REDIS_CONNECT_TIMEOUT};

/// Apply a flush to this instance (as `lastgood cache flush` does) and
/// remember it for entries read from Redis later.
pub fn apply_flush(fleet: Option<&Fleet>, resolver: &Resolver, what: &Flush, drop_stale: bool) {
    if let Some(fleet) = fleet {
        fleet.note_flush(what, drop_stale, resolver.now());
    }
    match what {
        Flush::All => resolver.flush(None, drop_stale),
        Flush::Zone(zone) => resolver.flush(Some(zone), drop_stale),
        Flush::Name(name) => resolver.cache().flush_name(name),
    }
}

/// Make this instance's API NTAs agree with the fleet's hash. Returns
/// false if Redis could not be read.
pub async fn reconcile_ntas(fleet: &Fleet, resolver: &Resolver) -> bool {
    let now = resolver.now();
    // What changed here while Redis was down goes first, or the hash
    // would undo it.
    if !fleet.push_pending_ntas(now).await {
        return false;
    }
    let Some(records) = fleet.fleet_ntas().await else {
        return false;
    };
    let store = resolver.ntas();
    let local = store.active(now);
    let mut in_hash: Vec<Name> = Vec::with_capacity(records.len());
    for (zone, record) in records {
        let expires_at = record.expires_at();
        if expires_at <= now {
            continue;
        }
        in_hash.push(zone.clone());
        let same = local
            .iter()
            .any(|n| n.zone == zone && n.expires_at == expires_at && n.force == record.force);
        if !same {
            let lifetime = expires_at.saturating_since(now);
            match store.add_with(
                &zone,
                Some(lifetime),
                &record.reason,
                NtaSource::Api,
                record.force,
                now,
            ) {
                Ok(_) => {
                    tracing::info!(%zone, reason = record.reason, ?lifetime, "NTA from the fleet")
                }
                Err(e) => {
                    tracing::warn!(%zone, error = %e, "NTA from the fleet refused");
                    continue;
                }
            }
        }
        fleet.shared_ntas().insert(zone, expires_at);
    }
    let gone: Vec<(Name, crate::clock::Timestamp)> = fleet
        .shared_ntas()
        .iter()
        .filter(|(zone, _)| !in_hash.contains(zone))
        .map(|(z, t)| (z.clone(), *t))
        .collect();
    for (zone, expires_at) in gone {
        fleet.shared_ntas().remove(&zone);
        let still_shared = local
            .iter()
            .any(|n| n.zone == zone && n.expires_at == expires_at);
        if still_shared {
            match store.remove(&zone) {
                Ok(true) => tracing::info!(%zone, "NTA removed by the fleet"),
                Ok(false) => {}
                Err(e) => tracing::warn!(%zone, error = %e, "NTA removal from the fleet failed"),
            }
        }
    }
    resolver.update_nta_gauge();
    true
}

/// The listener task: subscribe to the fleet channel while Redis is up,
/// reconcile NTAs on each subscription, message and tick, apply flushes.
/// Runs until aborted.
pub async fn run_listener(fleet: Arc<Fleet>, resolver: Arc<Resolver>) {
    loop {
        if !fleet.is_up() {
            tokio::time::sleep(REDIS_BACKOFF_MIN).await;
            continue;
        }
        let subscribed = async {
            let mut pubsub = fleet.client.get_async_pubsub().await?;
            pubsub.subscribe(keys::EVENTS_CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = match tokio::time::timeout(REDIS_CONNECT_TIMEOUT, subscribed).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                fleet.mark_down("subscribe", &e.to_string());
                continue;
            }
            Err(_) => {
                fleet.mark_down("subscribe", "no answer within REDIS_CONNECT_TIMEOUT");
                continue;
            }
        };
        fleet.subscribed.store(true, Ordering::Release);
        reconcile_ntas(&fleet, &resolver).await;
        let mut messages = pubsub.into_on_message();
        let mut tick = tokio::time::interval(NTA_RECONCILE_INTERVAL);
        tick.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        fleet.subscribed.store(false, Ordering::Release);
                        fleet.mark_down("subscribe", "subscription closed");
                        break;
                    };
                    handle(&fleet, &resolver, message.get_payload_bytes()).await;
                }
                _ = tick.tick() => {
                    if !fleet.is_up() {
                        fleet.subscribed.store(false, Ordering::Release);
                        break;
                    }
                    reconcile_ntas(&fleet, &resolver).await;
                }
            }
        }
    }
}

async fn handle(fleet: &Fleet, resolver: &Resolver, payload: &[u8]) {
    let counter = |kind: &str| fleet.metrics().events.with_label_values(&[kind]).inc();
    let (from, event) = match keys::decode_event(payload) {
        Ok(e) => e,
        Err(e) => {
            counter("bad");
            tracing::debug!(error = %e, "fleet message ignored");
            return;
        }
    };
    if from == fleet.instance() {
        counter("own");
        return;
    }
    match event {
        Event::NtaChanged => {
            counter("nta");
            reconcile_ntas(fleet, resolver).await;
        }
        Event::Flush { what, drop_stale } => {
            counter("flush");
            tracing::info!(?what, drop_stale, "flush from the fleet");
            apply_flush(Some(fleet), resolver, &what, drop_stale);
        }
    }
}
