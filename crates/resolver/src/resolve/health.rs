//! Zone health: which zones are failing, why, since when, and when to
//! probe them again (the failure-recheck of RFC 8767 §5, per zone).
//!
//! Fail small: a window opens only on zone-level evidence (issue 13):
//! - every server of the zone failed for a question ([`FailureClass::Outage`]);
//! - the zone's own chain of trust (DS or DNSKEY set) failed to validate;
//! - the same validation cause (kind and key tag) on
//!   [`limits::ZONE_EVIDENCE_RRSETS`] distinct RRsets of the zone within
//!   [`limits::ZONE_EVIDENCE_WINDOW`] (the .de 2026 pattern: one missing key
//!   tag breaks most signatures).
//!
//! One Bogus RRset is remembered for that RRset only (the cache's
//! checking-disabled view), never here.
//!
//! While a window is open no client question waits on the zone: stale
//! answers come from the cache, never-cached names get SERVFAIL at once.
//! The recheck is a background probe of the question that opened the
//! window, started by the first client question after `next_probe` and
//! never awaited by it; its interval starts at
//! [`limits::FAILURE_PROBE_FIRST`] and doubles up to `failure-recheck`. A
//! probe that succeeds closes the window at once. A window nobody asks
//! about for `failure-recheck` lapses without any probe (no upstream load
//! for zones without clients).
//!
//! Pure: time is passed in; the resolver owns the probes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};

use crate::clock::Timestamp;
use crate::dnssec::BogusKind;
use crate::ede::Ede;
use crate::limits;

/// What kind of failure keeps a zone in its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// Every server failed: nobody (CD or not, NTA or not) can be answered
    /// from upstream; the stale tier applies to all.
    Outage,
    /// The zone's data or chain does not validate: clients that set CD and
    /// names under an NTA are still resolved; the others get stale or
    /// SERVFAIL.
    Validation,
}

impl FailureClass {
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureClass::Outage => "outage",
            FailureClass::Validation => "validation",
        }
    }
}

/// One failing zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The zone the window applies to (its servers or its chain).
    pub zone: Name,
    /// The zone where the fault is (the parent whose signature on our DS
    /// failed, say); named in EDE texts.
    pub fault_zone: Name,
    pub class: FailureClass,
    pub cause: Ede,
    pub since: Timestamp,
    /// The question that opened the window: what the probe asks again.
    pub question: (Name, RecordType),
    pub next_probe: Timestamp,
    pub backoff: Duration,
    pub probing: bool,
    pub last_hit: Timestamp,
    /// Client questions answered from the window (stale or SERVFAIL).
    pub hits: u64,
    /// Of those, answered stale (for the recovery log line).
    pub stale: u64,
}

impl Window {
    /// The EDE a client gets from the window: the cause, prefixed with the
    /// zone where the fault is.
    pub fn ede(&self, now: Timestamp) -> Ede {
        let mut ede = self.cause.clone();
        ede.text = format!(
            "{} failing for {}s (failure-recheck): {}",
            self.fault_zone,
            now.saturating_since(self.since).as_secs(),
            self.cause.text
        );
        ede
    }
}

/// What a client question found.
#[derive(Clone, Debug)]
pub struct Hit {
    pub window: Window,
    /// The caller should start the background probe now (this question
    /// took the probe token).
    pub start_probe: bool,
}

/// The cause of a validation failure, for counting evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CauseKey {
    pub kind: BogusKind,
    pub key_tag: Option<u16>,
}

type Evidence = Vec<(Name, RecordType, Timestamp)>;

/// Every zone's health.
#[derive(Debug, Default)]
pub struct ZoneHealth {
    windows: Mutex<HashMap<Name, Window>>,
    evidence: Mutex<HashMap<(Name, CauseKey), Evidence>>,
    /// Windows dropped by `hit` because nobody asked for `lapse`, until
    /// the resolver takes them for the log (`take_lapsed`).
    lapsed: Mutex<Vec<Window>>,
    /// Bogus answers from single servers, counted before other servers are
    /// asked (an anycast instance with broken signatures while another
    /// still serves valid ones): the same evidence rule as `evidence`.
    server_evidence: Mutex<HashMap<(Name, CauseKey), Evidence>>,
    /// Zones with that evidence, until when (`ZONE_EVIDENCE_WINDOW` after
    /// the evidence was last complete): suspects, not failing zones; no
    /// question is stopped, but the last good chain of a child is used
    /// rather than asking the zone again (issue 21).
    suspects: Mutex<HashMap<Name, Timestamp>>,
}

/// How a window is opened.
#[derive(Clone, Debug)]
pub struct Opening {
    pub zone: Name,
    pub fault_zone: Name,
    pub class: FailureClass,
    pub cause: Ede,
    pub question: (Name, RecordType),
}

impl ZoneHealth {
    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<Name, Window>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open a window (or refresh the cause of an open one). Returns true
    /// when the zone was not failing before (for the one WARN log line).
    /// Past `MAX_FAILING_ZONES` windows, the least recently hit one goes.
    pub fn open(&self, opening: Opening, now: Timestamp) -> bool {
        let zone = opening.zone.to_lowercase();
        let mut windows = self.windows();
        if let Some(w) = windows.get_mut(&zone) {
            w.cause = opening.cause;
            w.fault_zone = opening.fault_zone;
            // An outage outranks a validation failure: nothing can be asked.
            if opening.class == FailureClass::Outage {
                w.class = FailureClass::Outage;
            }
            return false;
        }
        if windows.len() >= limits::MAX_FAILING_ZONES
            && let Some(oldest) = windows
                .values()
                .min_by_key(|w| w.last_hit)
                .map(|w| w.zone.clone())
        {
            windows.remove(&oldest);
        }
        windows.insert(
            zone.clone(),
            Window {
                zone,
                fault_zone: opening.fault_zone.to_lowercase(),
                class: opening.class,
                cause: opening.cause,
                since: now,
                question: opening.question,
                next_probe: now.saturating_add(limits::FAILURE_PROBE_FIRST),
                backoff: limits::FAILURE_PROBE_FIRST,
                probing: false,
                last_hit: now,
                hits: 0,
                stale: 0,
            },
        );
        true
    }

    /// The open window of exactly `zone`, counted as a client hit. A window
    /// not hit for `lapse` is dropped instead (nobody needs it probed).
    pub fn hit(&self, zone: &Name, now: Timestamp, lapse: Duration) -> Option<Hit> {
        let mut windows = self.windows();
        let w = windows.get_mut(zone)?;
        if now.saturating_since(w.last_hit) > lapse && !w.probing {
            if let Some(w) = windows.remove(zone) {
                let mut lapsed = self.lapsed.lock().unwrap_or_else(|e| e.into_inner());
                if lapsed.len() < limits::MAX_FAILING_ZONES {
                    lapsed.push(w);
                }
            }
            return None;
        }
        w.last_hit = now;
        w.hits = w.hits.saturating_add(1);
        let start_probe = !w.probing && now >= w.next_probe;
        if start_probe {
            w.probing = true;
        }
        Some(Hit {
            window: w.clone(),
            start_probe,
        })
    }

    /// The windows that lapsed since the last call.
    pub fn take_lapsed(&self) -> Vec<Window> {
        let mut lapsed = self.lapsed.lock().unwrap_or_else(|e| e.into_inner());
        if lapsed.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut *lapsed)
    }

    /// A client question answered from `zone`'s window got a stale answer.
    pub fn served_stale(&self, zone: &Name) {
        if let Some(w) = self.windows().get_mut(zone) {
            w.stale = w.stale.saturating_add(1);
        }
    }

    /// Whether `zone` is in an outage window (peek: not a client hit).
    pub fn outage(&self, zone: &Name) -> Option<Window> {
        self.windows()
            .get(zone)
            .filter(|w| w.class == FailureClass::Outage)
            .cloned()
    }

    /// Whether `zone`'s data does not validate now: a validation window,
    /// or a suspect (peek: not a client hit). `zone` lowercased.
    pub fn validation_failing(&self, zone: &Name, now: Timestamp) -> bool {
        if self
            .windows()
            .get(zone)
            .is_some_and(|w| w.class == FailureClass::Validation)
        {
            return true;
        }
        let suspects = self.suspects.lock().unwrap_or_else(|e| e.into_inner());
        !suspects.is_empty() && suspects.get(zone).is_some_and(|until| now < *until)
    }

    /// Count one Bogus answer of one server of `zone`, before any other
    /// server is asked; once `ZONE_EVIDENCE_RRSETS` distinct RRsets had the
    /// same cause within `ZONE_EVIDENCE_WINDOW`, the zone is a suspect for
    /// `ZONE_EVIDENCE_WINDOW`. True when it became one.
    pub fn server_bogus(
        &self,
        zone: &Name,
        cause: CauseKey,
        rrset: (&Name, RecordType),
        now: Timestamp,
    ) -> bool {
        let complete = count_evidence(&self.server_evidence, zone, cause, rrset, now);
        if !complete {
            return false;
        }
        let mut suspects = self.suspects.lock().unwrap_or_else(|e| e.into_inner());
        if suspects.len() >= limits::MAX_FAILING_ZONES {
            suspects.retain(|_, until| now < *until);
            if suspects.len() >= limits::MAX_FAILING_ZONES {
                return false;
            }
        }
        let until = now.saturating_add(limits::ZONE_EVIDENCE_WINDOW);
        suspects
            .insert(zone.to_lowercase(), until)
            .is_none_or(|was| was <= now)
    }

    /// A probe of `zone` ended. Success closes the window and returns it
    /// (for the recovery log line); failure backs the next probe off.
    pub fn probe_done(
        &self,
        zone: &Name,
        ok: bool,
        now: Timestamp,
        max_backoff: Duration,
    ) -> Option<Window> {
        let mut windows = self.windows();
        if ok {
            // The zone validates again: its Bogus evidence and suspect go
            // too, so a repaired parent does not keep its children on their
            // last good chain (`keys.rs`) for the rest of the evidence window.
            let closed = windows.remove(zone);
            drop(windows);
            self.forget_evidence(|z| z == zone);
            return closed;
        }
        if let Some(w) = windows.get_mut(zone) {
            w.probing = false;
            w.backoff = (w.backoff * 2).min(max_backoff);
            w.next_probe = now.saturating_add(w.backoff);
        }
        None
    }

    /// Make the next client question of `zone` start a probe at once
    /// (`lastgood zone retry`). Returns whether the zone was failing.
    pub fn probe_now(&self, zone: &Name, now: Timestamp) -> bool {
        match self.windows().get_mut(&zone.to_lowercase()) {
            Some(w) => {
                w.next_probe = now;
                w.backoff = limits::FAILURE_PROBE_FIRST;
                true
            }
            None => false,
        }
    }

    /// Close the windows of `zone` and every zone below it; returns how many.
    pub fn clear_under(&self, zone: &Name) -> usize {
        self.take_under(zone).len()
    }

    /// Close the windows of `zone` and every zone below it and return them
    /// (for the recovery log line).
    pub fn take_under(&self, zone: &Name) -> Vec<Window> {
        let zone = zone.to_lowercase();
        let mut windows = self.windows();
        let under: Vec<Name> = windows
            .keys()
            .filter(|z| zone.zone_of(z))
            .cloned()
            .collect();
        let closed = under.iter().filter_map(|z| windows.remove(z)).collect();
        drop(windows);
        self.forget_evidence(|z| zone.zone_of(z));
        closed
    }

    /// Drop the Bogus evidence (towards windows and suspects) and the
    /// suspects of the zones `gone` selects.
    fn forget_evidence(&self, gone: impl Fn(&Name) -> bool) {
        for evidence in [&self.evidence, &self.server_evidence] {
            evidence
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|(z, _), _| !gone(z));
        }
        self.suspects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|z, _| !gone(z));
    }

    /// Close every window of `class` and return them; for a validation
    /// class, the Bogus evidence gathered towards new windows goes too
    /// (`cache flush --bogus`).
    pub fn take_class(&self, class: FailureClass) -> Vec<Window> {
        let mut windows = self.windows();
        let zones: Vec<Name> = windows
            .values()
            .filter(|w| w.class == class)
            .map(|w| w.zone.clone())
            .collect();
        let closed = zones.iter().filter_map(|z| windows.remove(z)).collect();
        if class == FailureClass::Validation {
            self.evidence
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        closed
    }

    /// Count one Bogus RRset of `zone` with `cause`; true once
    /// `ZONE_EVIDENCE_RRSETS` distinct RRsets had the same cause within
    /// `ZONE_EVIDENCE_WINDOW`.
    pub fn evidence(
        &self,
        zone: &Name,
        cause: CauseKey,
        rrset: (&Name, RecordType),
        now: Timestamp,
    ) -> bool {
        count_evidence(&self.evidence, zone, cause, rrset, now)
    }

    /// Every open window, zone order.
    pub fn list(&self) -> Vec<Window> {
        let mut out: Vec<Window> = self.windows().values().cloned().collect();
        out.sort_by(|a, b| a.zone.cmp(&b.zone));
        out
    }
}

/// Count one Bogus RRset of `zone` with `cause` in `map`; true once
/// `ZONE_EVIDENCE_RRSETS` distinct RRsets had the same cause within
/// `ZONE_EVIDENCE_WINDOW`. At most `MAX_EVIDENCE_ENTRIES` (zone, cause)
/// pairs; past it, new evidence is not counted.
fn count_evidence(
    map: &Mutex<HashMap<(Name, CauseKey), Evidence>>,
    zone: &Name,
    cause: CauseKey,
    rrset: (&Name, RecordType),
    now: Timestamp,
) -> bool {
    let mut all = map.lock().unwrap_or_else(|e| e.into_inner());
    if all.len() >= limits::MAX_EVIDENCE_ENTRIES {
        all.retain(|_, seen| {
            seen.iter()
                .any(|(_, _, t)| now.saturating_since(*t) < limits::ZONE_EVIDENCE_WINDOW)
        });
        if all.len() >= limits::MAX_EVIDENCE_ENTRIES {
            return false;
        }
    }
    let seen = all.entry((zone.to_lowercase(), cause)).or_default();
    seen.retain(|(_, _, t)| now.saturating_since(*t) < limits::ZONE_EVIDENCE_WINDOW);
    let name = rrset.0.to_lowercase();
    if !seen.iter().any(|(n, t, _)| *n == name && *t == rrset.1) {
        seen.push((name, rrset.1, now));
    }
    seen.len() >= limits::ZONE_EVIDENCE_RRSETS
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

    use super::*;
    use crate::ede::EdeCode;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn opening(zone: &str, class: FailureClass) -> Opening {
        Opening {
            zone: n(zone),
            fault_zone: n(zone),
            class,
            cause: Ede::new(EdeCode::NoReachableAuthority, "x"),
            question: (n(zone), RecordType::SOA),
        }
    }

    const RECHECK: Duration = Duration::from_secs(30);

    #[test]
    fn probe_backs_off_and_success_closes() {
        let h = ZoneHealth::default();
        let t0 = Timestamp::from_secs(1000);
        assert!(h.open(opening("lab.", FailureClass::Outage), t0));
        assert!(!h.open(opening("lab.", FailureClass::Outage), t0));
        // Before the first probe time: answered from the window, no probe.
        let hit = h.hit(&n("lab."), t0, RECHECK).unwrap();
        assert!(!hit.start_probe);
        let t1 = t0.saturating_add(limits::FAILURE_PROBE_FIRST);
        assert!(h.hit(&n("lab."), t1, RECHECK).unwrap().start_probe);
        // One probe at a time.
        assert!(!h.hit(&n("lab."), t1, RECHECK).unwrap().start_probe);
        assert!(h.probe_done(&n("lab."), false, t1, RECHECK).is_none());
        let w = h.hit(&n("lab."), t1, RECHECK).unwrap().window;
        assert_eq!(w.backoff, limits::FAILURE_PROBE_FIRST * 2);
        // Backoff is capped by failure-recheck.
        for _ in 0..10 {
            h.probe_done(&n("lab."), false, t1, RECHECK);
        }
        assert_eq!(h.list()[0].backoff, RECHECK);
        assert!(h.probe_done(&n("lab."), true, t1, RECHECK).is_some());
        assert!(h.hit(&n("lab."), t1, RECHECK).is_none());
    }

    #[test]
    fn unasked_windows_lapse() {
        let h = ZoneHealth::default();
        let t0 = Timestamp::from_secs(1000);
        h.open(opening("lab.", FailureClass::Outage), t0);
        let late = t0.saturating_add(RECHECK + Duration::from_secs(1));
        assert!(h.hit(&n("lab."), late, RECHECK).is_none());
        assert!(h.list().is_empty());
        let lapsed = h.take_lapsed();
        assert_eq!(lapsed.len(), 1);
        assert_eq!(lapsed[0].zone, n("lab."));
        assert!(h.take_lapsed().is_empty());
    }

    fn missing_key(tag: u16) -> CauseKey {
        CauseKey {
            kind: BogusKind::DnskeyMissing,
            key_tag: Some(tag),
        }
    }

    #[test]
    fn evidence_needs_distinct_rrsets_with_one_cause() {
        let h = ZoneHealth::default();
        let t0 = Timestamp::from_secs(1000);
        let (cause, other) = (missing_key(7), missing_key(8));
        let lab = n("lab.");
        assert!(!h.evidence(&lab, cause, (&n("a.lab."), RecordType::A), t0));
        // The same RRset again is not new evidence.
        assert!(!h.evidence(&lab, cause, (&n("A.lab."), RecordType::A), t0));
        // Another cause is counted apart.
        assert!(!h.evidence(&lab, other, (&n("b.lab."), RecordType::A), t0));
        assert!(!h.evidence(&lab, cause, (&n("a.lab."), RecordType::AAAA), t0));
        assert!(h.evidence(&lab, cause, (&n("c.lab."), RecordType::A), t0));
        // Old evidence expires.
        let later = t0.saturating_add(limits::ZONE_EVIDENCE_WINDOW);
        assert!(!h.evidence(&lab, cause, (&n("d.lab."), RecordType::A), later));
    }

    #[test]
    fn bogus_from_single_servers_makes_a_suspect_not_a_window() {
        let h = ZoneHealth::default();
        let t0 = Timestamp::from_secs(1000);
        let cause = missing_key(7);
        let tld = n("de-lab.");
        assert!(!h.server_bogus(&tld, cause, (&n("a.de-lab."), RecordType::DS), t0));
        assert!(!h.server_bogus(&tld, cause, (&n("b.de-lab."), RecordType::DS), t0));
        assert!(!h.validation_failing(&tld, t0));
        assert!(h.server_bogus(&tld, cause, (&n("c.de-lab."), RecordType::DS), t0));
        assert!(h.validation_failing(&tld, t0));
        // A suspect stops nobody: no window, and the window evidence is apart.
        assert!(h.list().is_empty());
        assert!(!h.evidence(&tld, cause, (&n("d.de-lab."), RecordType::DS), t0));
        // It lapses without more evidence, and NTAs or flushes clear it.
        let later = t0.saturating_add(limits::ZONE_EVIDENCE_WINDOW);
        assert!(!h.validation_failing(&tld, later));
        // More evidence while a suspect extends it (not a new suspect).
        let soon = t0.saturating_add(Duration::from_secs(1));
        assert!(!h.server_bogus(&tld, cause, (&n("e.de-lab."), RecordType::DS), soon));
        assert!(h.validation_failing(&tld, later));
        h.clear_under(&n("."));
        assert!(!h.validation_failing(&tld, t0));
        // A probe that finds the zone validating again ends its suspect too.
        for owner in ["a.de-lab.", "b.de-lab.", "c.de-lab."] {
            h.server_bogus(&tld, cause, (&n(owner), RecordType::DS), t0);
        }
        h.open(opening("de-lab.", FailureClass::Validation), t0);
        assert!(h.probe_done(&tld, true, t0, RECHECK).is_some());
        assert!(!h.validation_failing(&tld, t0));
        // A validation window makes the zone failing too; an outage does not.
        h.open(opening("lab.", FailureClass::Validation), t0);
        assert!(h.validation_failing(&n("lab."), t0));
        h.open(opening("out.", FailureClass::Outage), t0);
        assert!(!h.validation_failing(&n("out."), t0));
    }

    #[test]
    fn clear_under_closes_subzones() {
        let h = ZoneHealth::default();
        let t0 = Timestamp::from_secs(1000);
        h.open(opening("example.lab.", FailureClass::Validation), t0);
        h.open(opening("other.", FailureClass::Validation), t0);
        assert_eq!(h.clear_under(&n("lab.")), 1);
        assert_eq!(h.list().len(), 1);
        assert!(h.probe_now(&n("other."), t0));
        assert!(h.hit(&n("other."), t0, RECHECK).unwrap().start_probe);
    }
}
