//! The last hour of answers by tier, one slot per minute: what the status
//! page draws. A fixed ring of [`HISTORY_MINUTES`] slots of atomic
//! counters (no allocation, no lock on the answer path); the minute is
//! passed in.
//!
//! # Limitations
//! A slot is reused by the first answer of a new minute, which zeroes it;
//! an answer counted concurrently with that reset, by another thread, may
//! be lost. The chart is a picture, not an account: the counters of
//! `lastgood_answers_total` are exact.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::query::Tier;

/// Minutes of answers kept for the status page's chart.
pub const HISTORY_MINUTES: usize = 60;

const TIERS: usize = Tier::ALL.len();

#[derive(Debug, Default)]
struct Slot {
    /// The minute (Unix time / 60) whose answers the counts hold, plus one
    /// (0: never used).
    minute: AtomicU64,
    counts: [AtomicU64; TIERS],
}

/// Per-minute answer counts by tier, the last [`HISTORY_MINUTES`] minutes.
#[derive(Debug)]
pub struct AnswerHistory {
    slots: [Slot; HISTORY_MINUTES],
}

impl Default for AnswerHistory {
    fn default() -> Self {
        Self {
            slots: std::array::from_fn(|_| Slot::default()),
        }
    }
}

/// One minute of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MinuteCounts {
    /// Start of the minute, Unix seconds.
    pub start_unix: u64,
    /// Answers by tier, in [`Tier::ALL`] order.
    pub counts: [u64; TIERS],
}

const fn tier_index(tier: Tier) -> usize {
    match tier {
        Tier::Fresh => 0,
        Tier::Stale => 1,
        Tier::Nta => 2,
        Tier::ServFail => 3,
        Tier::Local => 4,
    }
}

impl AnswerHistory {
    fn slot(&self, minute: u64) -> Option<&Slot> {
        let len = u64::try_from(HISTORY_MINUTES).unwrap_or(1).max(1);
        let index = usize::try_from(minute % len).ok()?;
        self.slots.get(index)
    }

    /// Count `n` answers of `tier` in `minute` (Unix seconds / 60).
    pub fn record(&self, tier: Tier, minute: u64, n: u64) {
        let Some(slot) = self.slot(minute) else {
            return;
        };
        let tag = minute.saturating_add(1);
        let seen = slot.minute.load(Ordering::Acquire);
        if seen != tag {
            if seen > tag {
                // Older than what the slot holds now: too late to count.
                return;
            }
            if slot
                .minute
                .compare_exchange(seen, tag, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                for c in &slot.counts {
                    c.store(0, Ordering::Relaxed);
                }
            }
        }
        if let Some(c) = slot.counts.get(tier_index(tier)) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The [`HISTORY_MINUTES`] minutes up to and including `now_minute`,
    /// oldest first; minutes without answers count zero.
    pub fn snapshot(&self, now_minute: u64) -> Vec<MinuteCounts> {
        let span = u64::try_from(HISTORY_MINUTES).unwrap_or(0);
        let first = now_minute.saturating_add(1).saturating_sub(span);
        (first..=now_minute)
            .map(|minute| {
                let mut counts = [0; TIERS];
                if let Some(slot) = self.slot(minute)
                    && slot.minute.load(Ordering::Acquire) == minute.saturating_add(1)
                {
                    for (out, c) in counts.iter_mut().zip(&slot.counts) {
                        *out = c.load(Ordering::Relaxed);
                    }
                }
                MinuteCounts {
                    start_unix: minute.saturating_mul(60),
                    counts,
                }
            })
            .collect()
    }
}

/// The current minute, Unix seconds / 60 (0 before 1970).
pub fn unix_minute() -> u64 {
    unix_secs() / 60
}

/// Unix seconds now (0 before 1970).
pub fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    fn counts_by_minute_and_tier() {
        let h = AnswerHistory::default();
        let m = 29_000_000;
        h.record(Tier::Fresh, m, 3);
        h.record(Tier::Stale, m, 2);
        h.record(Tier::Stale, m + 1, 5);
        let snap = h.snapshot(m + 1);
        assert_eq!(snap.len(), HISTORY_MINUTES);
        let last = &snap[HISTORY_MINUTES - 1];
        assert_eq!(last.start_unix, (m + 1) * 60);
        assert_eq!(last.counts, [0, 5, 0, 0, 0]);
        assert_eq!(snap[HISTORY_MINUTES - 2].counts, [3, 2, 0, 0, 0]);
        assert!(
            snap[..HISTORY_MINUTES - 2]
                .iter()
                .all(|s| s.counts == [0; 5])
        );
    }

    #[test]
    fn a_reused_slot_forgets_the_old_hour() {
        let h = AnswerHistory::default();
        let m = 29_000_000;
        let len = HISTORY_MINUTES as u64;
        h.record(Tier::ServFail, m, 7);
        // An hour later the same slot holds the new minute only.
        h.record(Tier::Fresh, m + len, 1);
        let snap = h.snapshot(m + len);
        assert_eq!(snap[HISTORY_MINUTES - 1].counts, [1, 0, 0, 0, 0]);
        assert!(snap.iter().all(|s| s.counts[3] == 0));
        // A late answer for the old minute is not counted in the new one.
        h.record(Tier::ServFail, m, 1);
        assert_eq!(
            h.snapshot(m + len)[HISTORY_MINUTES - 1].counts,
            [1, 0, 0, 0, 0]
        );
        // Minutes past the hour are out of the snapshot.
        assert!(h.snapshot(m + 2 * len).iter().all(|s| s.counts == [0; 5]));
    }
}
