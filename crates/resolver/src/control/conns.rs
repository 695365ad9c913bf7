//! Connection accounting for one control listener: at most
//! `MAX_CONTROL_CONNECTIONS` open, `MAX_CONTROL_CONNECTIONS_PER_PEER` per
//! peer. A connection past a cap closes the oldest *idle* one (that has
//! not sent a complete request head yet) of the same peer, or of anyone
//! for the overall cap; when none is idle the newcomer is closed. So idle
//! connections can delay nobody: a scraper's `GET /metrics` always gets a
//! slot, and a peer flooding connections only evicts its own.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::limits::{MAX_CONTROL_CONNECTIONS, MAX_CONTROL_CONNECTIONS_PER_PEER};
use crate::metrics::Metrics;

/// Who a connection comes from, for the per-peer cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PeerKey {
    Ip(IpAddr),
    Uid(u32),
}

#[derive(Debug)]
struct Slot {
    peer: PeerKey,
    busy: Arc<AtomicBool>,
    close: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Open {
    next: u64,
    /// By admission order: the first idle one found is the oldest.
    slots: BTreeMap<u64, Slot>,
}

/// The open connections of one listener.
#[derive(Debug)]
pub(super) struct Conns {
    open: Mutex<Open>,
    total: usize,
    per_peer: usize,
    metrics: Option<Metrics>,
}

/// An admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub(super) struct Admitted {
    conns: Arc<Conns>,
    id: u64,
    /// Set once the request head is in (the connection is no longer idle).
    pub busy: Arc<AtomicBool>,
    /// Notified when the connection is evicted: close it.
    pub close: Arc<Notify>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.conns.lock().slots.remove(&self.id);
    }
}

impl Conns {
    pub fn new(metrics: Option<Metrics>) -> Arc<Self> {
        Self::with_caps(
            MAX_CONTROL_CONNECTIONS,
            MAX_CONTROL_CONNECTIONS_PER_PEER,
            metrics,
        )
    }

    pub fn with_caps(total: usize, per_peer: usize, metrics: Option<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(Open::default()),
            total,
            per_peer,
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hit(&self, limit: crate::limits::Limit) {
        if let Some(m) = &self.metrics {
            m.limit_hit(limit);
        }
        tracing::debug!(%limit, "control API connection cap reached");
    }

    /// Admit a connection from `peer`, evicting an idle one if a cap is
    /// reached; `None` (close the newcomer) if no idle one can go.
    pub fn admit(self: &Arc<Self>, peer: PeerKey) -> Option<Admitted> {
        let mut open = self.lock();
        let same = open.slots.values().filter(|s| s.peer == peer).count();
        if same >= self.per_peer {
            self.hit(crate::limits::Limit::MaxControlConnectionsPerPeer);
            if !evict_oldest_idle(&mut open, |s| s.peer == peer) {
                return None;
            }
        }
        if open.slots.len() >= self.total {
            self.hit(crate::limits::Limit::MaxControlConnections);
            if !evict_oldest_idle(&mut open, |_| true) {
                return None;
            }
        }
        let id = open.next;
        open.next = open.next.wrapping_add(1);
        let busy = Arc::new(AtomicBool::new(false));
        let close = Arc::new(Notify::new());
        open.slots.insert(
            id,
            Slot {
                peer,
                busy: Arc::clone(&busy),
                close: Arc::clone(&close),
            },
        );
        Some(Admitted {
            conns: Arc::clone(self),
            id,
            busy,
            close,
        })
    }

    /// Connections open now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().slots.len()
    }
}

fn evict_oldest_idle(open: &mut Open, which: impl Fn(&Slot) -> bool) -> bool {
    let victim = open
        .slots
        .iter()
        .find(|(_, s)| which(s) && !s.busy.load(Ordering::Acquire))
        .map(|(id, _)| *id);
    match victim.and_then(|id| open.slots.remove(&id)) {
        Some(slot) => {
            slot.close.notify_one();
            true
        }
        None => false,
    }
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
    fn idle_connections_make_room() {
        let conns = Conns::with_caps(4, 2, None);
        let a = PeerKey::Ip("127.0.0.1".parse().unwrap());
        let b = PeerKey::Uid(0);
        let a1 = conns.admit(a).unwrap();
        let a2 = conns.admit(a).unwrap();
        // Per peer: a's oldest idle goes.
        let a3 = conns.admit(a).unwrap();
        assert_eq!(conns.len(), 2);
        drop(a1); // already evicted: freeing twice is harmless
        assert_eq!(conns.len(), 2);
        // Busy connections are never evicted.
        a2.busy.store(true, Ordering::Release);
        a3.busy.store(true, Ordering::Release);
        assert!(conns.admit(a).is_none());
        // Overall: b's own idle connection goes first.
        let b1 = conns.admit(b).unwrap();
        let _b2 = conns.admit(b).unwrap();
        assert_eq!(conns.len(), 4);
        let _c = conns.admit(PeerKey::Uid(7)).unwrap();
        assert_eq!(conns.len(), 4);
        drop(b1);
        assert_eq!(conns.len(), 4);
    }
}
