//! The operator's log of failing zones (issue 19): one WARN when a zone
//! enters its failure window (zone, class, EDE, cause, the first failing
//! question) and one INFO when it leaves it (how, after how long, how many
//! stale answers were served meanwhile).
//!
//! Rate limit, per zone and failure class (an outage and a validation
//! failure are different incidents): at most one WARN in
//! [`limits::ZONE_LOG_INTERVAL`]. A zone that fails the same way again
//! within it (a flapping authority) is not logged again, nor is that
//! episode's end; the episodes left out are counted
//! and named in the next WARN. A suppressed episode that is still failing
//! once the interval has passed is logged then (at its next failed probe),
//! so a zone that recovered in the log never stays failing unseen.
//!
//! [`ZoneLog`] only decides (pure: time passed in); the `impl Resolver`
//! block emits the lines and is called at the transitions: a window opened
//! (`ladder.rs::open_window`), a probe ended (`ladder.rs::probe_done`),
//! windows closed by a flush, an NTA or a reload ([`Resolver::close_windows_under`]).
//!
//! A window that lapses because no client asked about the zone for
//! `failure-recheck` is logged as closed by the next question that looks
//! for windows ([`Resolver::log_lapsed_windows`]).
//!
//! # Limitations
//! A window evicted past `MAX_FAILING_ZONES` ends without an INFO line.

use std::collections::HashMap;
use std::sync::Mutex;

use hickory_proto::rr::Name;

use crate::clock::Timestamp;
use crate::limits;
use crate::resolve::Resolver;
use crate::resolve::health::{FailureClass, Opening, Window};

/// What ended a failure window, for the recovery line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// A background probe (or `lastgood zone retry`) got a good answer.
    Probe,
    /// `lastgood cache flush` of the zone or above.
    Flush,
    /// NTA bookkeeping forgot the zone (an NTA added, rechecked or lifted).
    Nta,
    /// A configuration reload dropped every window.
    Reload,
    /// Nobody asked about the zone for `failure-recheck`: the window
    /// lapsed and the next question goes upstream again.
    Lapse,
}

impl Recovery {
    const fn as_str(self) -> &'static str {
        match self {
            Recovery::Probe => "probe: the zone answers again",
            Recovery::Flush => "cache flush",
            Recovery::Nta => "NTA added, rechecked or lifted",
            Recovery::Reload => "configuration reload",
            Recovery::Lapse => "lapse: no question for failure-recheck",
        }
    }
}

/// What the rate limit counts apart.
type Key = (Name, FailureClass);

/// One zone's log state.
#[derive(Clone, Copy, Debug)]
struct Logged {
    /// When the last WARN for the zone was written.
    warned_at: Timestamp,
    /// The current (or last) episode's WARN was written: its recovery is.
    episode_logged: bool,
    /// Episodes left out since the last WARN.
    suppressed: u64,
}

/// The rate limiter of the failure log lines.
#[derive(Debug, Default)]
pub(crate) struct ZoneLog {
    zones: Mutex<HashMap<Key, Logged>>,
}

impl ZoneLog {
    fn zones(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Logged>> {
        self.zones.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `zone` entered its failure window: `Some(episodes left out since
    /// the last WARN)` when the WARN is to be written now.
    pub(crate) fn opened(&self, key: &Key, now: Timestamp) -> Option<u64> {
        let mut zones = self.zones();
        if let Some(z) = zones.get_mut(key) {
            if now.saturating_since(z.warned_at) < limits::ZONE_LOG_INTERVAL {
                z.suppressed = z.suppressed.saturating_add(1);
                z.episode_logged = false;
                return None;
            }
            let suppressed = z.suppressed;
            *z = Logged::warned(now);
            return Some(suppressed);
        }
        if zones.len() >= limits::MAX_ZONE_LOG_ENTRIES {
            zones.retain(|_, z| now.saturating_since(z.warned_at) < limits::ZONE_LOG_INTERVAL);
        }
        // Still full: logged, not remembered (no flood: the map is full
        // only when that many zones failed within the interval).
        if zones.len() < limits::MAX_ZONE_LOG_ENTRIES {
            zones.insert(key.clone(), Logged::warned(now));
        }
        Some(0)
    }

    /// A probe of `zone` failed again: `Some(left out)` when an episode
    /// whose WARN was suppressed is still failing past the interval, and
    /// is to be logged now.
    pub(crate) fn still_failing(&self, key: &Key, now: Timestamp) -> Option<u64> {
        let mut zones = self.zones();
        let z = zones.get_mut(key)?;
        if z.episode_logged || now.saturating_since(z.warned_at) < limits::ZONE_LOG_INTERVAL {
            return None;
        }
        // This episode was one of the suppressed ones: it is logged now.
        let suppressed = z.suppressed.saturating_sub(1);
        *z = Logged::warned(now);
        Some(suppressed)
    }

    /// `zone` left its failure window: whether to write the INFO (its
    /// episode's WARN was written, or the zone is not remembered).
    pub(crate) fn closed(&self, key: &Key) -> bool {
        match self.zones().get_mut(key) {
            Some(z) => std::mem::replace(&mut z.episode_logged, false),
            None => true,
        }
    }
}

impl Logged {
    fn warned(now: Timestamp) -> Self {
        Self {
            warned_at: now,
            episode_logged: true,
            suppressed: 0,
        }
    }
}

impl Resolver {
    /// A window was opened by `opening` (the zone was not failing).
    pub(crate) fn log_zone_failing(&self, opening: &Opening) {
        let now = self.clock.now();
        let zone = opening.zone.to_lowercase();
        if let Some(suppressed) = self.zone_log.opened(&(zone.clone(), opening.class), now) {
            warn_failing(
                &FailingLine {
                    zone: &zone,
                    fault_zone: &opening.fault_zone,
                    class: opening.class.as_str(),
                    cause: &opening.cause,
                    question: &opening.question,
                    failing_for_s: 0,
                },
                suppressed,
            );
        }
    }

    /// A probe of `window`'s zone failed: log a suppressed episode that is
    /// still failing past the interval.
    pub(crate) fn log_zone_still_failing(&self, window: &Window) {
        let now = self.clock.now();
        let key = (window.zone.clone(), window.class);
        if let Some(suppressed) = self.zone_log.still_failing(&key, now) {
            warn_failing(
                &FailingLine {
                    zone: &window.zone,
                    fault_zone: &window.fault_zone,
                    class: window.class.as_str(),
                    cause: &window.cause,
                    question: &window.question,
                    failing_for_s: now.saturating_since(window.since).as_secs(),
                },
                suppressed,
            );
        }
    }

    /// `window` was closed by `how`.
    pub(crate) fn log_zone_recovered(&self, window: &Window, how: Recovery) {
        if !self.zone_log.closed(&(window.zone.clone(), window.class)) {
            return;
        }
        let now = self.clock.now();
        tracing::info!(
            zone = %window.zone,
            class = window.class.as_str(),
            closed_by = how.as_str(),
            failing_for_s = now.saturating_since(window.since).as_secs(),
            stale_answers = window.stale,
            answered_from_window = window.hits,
            "zone failure window closed"
        );
    }

    /// Log the windows that lapsed (see `health::ZoneHealth::hit`).
    pub(crate) fn log_lapsed_windows(&self) {
        for window in self.health.take_lapsed() {
            self.log_zone_recovered(&window, Recovery::Lapse);
        }
    }

    /// Close the failure windows at or below `zone`, logging each.
    pub(crate) fn close_windows_under(&self, zone: &Name, how: Recovery) {
        for window in self.health.take_under(zone) {
            self.log_zone_recovered(&window, how);
        }
    }

    /// Close every window of `class` (a flush of bogus data); returns
    /// how many.
    pub(crate) fn close_windows_of(&self, class: super::health::FailureClass) -> u64 {
        let closed = self.health.take_class(class);
        for window in &closed {
            self.log_zone_recovered(window, Recovery::Flush);
        }
        u64::try_from(closed.len()).unwrap_or(u64::MAX)
    }
}

/// What the WARN line says.
struct FailingLine<'a> {
    zone: &'a Name,
    fault_zone: &'a Name,
    class: &'static str,
    cause: &'a crate::ede::Ede,
    question: &'a (Name, hickory_proto::rr::RecordType),
    failing_for_s: u64,
}

fn warn_failing(line: &FailingLine<'_>, suppressed: u64) {
    tracing::warn!(
        zone = %line.zone,
        fault_zone = %line.fault_zone,
        class = line.class,
        ede = line.cause.code.code(),
        cause = %line.cause.text,
        question = %format!("{} {}", line.question.0, line.question.1),
        failing_for_s = line.failing_for_s,
        episodes_not_logged = suppressed,
        "zone failing: answering stale or SERVFAIL from the failure window"
    );
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::str::FromStr;
    use std::time::Duration;

    use super::*;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn v(s: &str) -> Key {
        (n(s), FailureClass::Validation)
    }

    #[test]
    fn one_warn_and_one_info_per_episode() {
        let log = ZoneLog::default();
        let t0 = Timestamp::from_secs(1000);
        assert_eq!(log.opened(&v("lab."), t0), Some(0));
        assert!(log.closed(&v("lab.")));
        // Zones are limited apart.
        assert_eq!(log.opened(&v("other."), t0), Some(0));
        // Another class of the same zone is another incident.
        assert_eq!(log.opened(&(n("lab."), FailureClass::Outage), t0), Some(0));
        // An unknown zone's recovery is logged (nothing to pair it with).
        assert!(log.closed(&v("never.")));
    }

    #[test]
    fn flapping_zone_is_logged_once_per_interval() {
        let log = ZoneLog::default();
        let t0 = Timestamp::from_secs(1000);
        assert_eq!(log.opened(&v("lab."), t0), Some(0));
        assert!(log.closed(&v("lab.")));
        let t1 = t0.saturating_add(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(log.opened(&v("lab."), t1), None, "within the interval");
            assert!(!log.closed(&v("lab.")), "its recovery is left out too");
        }
        let t2 = t0.saturating_add(limits::ZONE_LOG_INTERVAL);
        assert_eq!(
            log.opened(&v("lab."), t2),
            Some(3),
            "names what was left out"
        );
        assert!(log.closed(&v("lab.")));
    }

    #[test]
    fn suppressed_episode_still_failing_is_logged_later() {
        let log = ZoneLog::default();
        let t0 = Timestamp::from_secs(1000);
        assert_eq!(log.opened(&v("lab."), t0), Some(0));
        // The logged episode: no second WARN while it fails.
        assert_eq!(log.still_failing(&v("lab."), t0), None);
        assert!(log.closed(&v("lab.")));
        let t1 = t0.saturating_add(Duration::from_secs(10));
        assert_eq!(log.opened(&v("lab."), t1), None);
        assert_eq!(log.still_failing(&v("lab."), t1), None, "interval not over");
        let t2 = t0.saturating_add(limits::ZONE_LOG_INTERVAL);
        assert_eq!(log.still_failing(&v("lab."), t2), Some(0));
        assert_eq!(log.still_failing(&v("lab."), t2), None, "once");
        assert!(log.closed(&v("lab.")), "now its recovery is logged");
    }
}
