//! Failing zones as metrics: how many zones are failing by cause class
//! (`lastgood_zones_failing`), and which, for the [`MAX_FAILING_ZONE_SERIES`]
//! zones with the most client questions answered from their window
//! (`lastgood_failing_zone_info`, `lastgood_failing_zone_seconds`).
//!
//! The per-zone series are the one place a metric label holds a name: a
//! zone from a failure window, at most [`MAX_FAILING_ZONE_SERIES`] of them,
//! all removed at each scrape before the current ones are set (a zone that
//! recovered disappears). Pure: windows and `now` are passed in.

use crate::clock::Timestamp;
use crate::ede::EdeCode;
use crate::resolve::health::{FailureClass, Window};

/// Zones given their own series in `lastgood_failing_zone_info`; the
/// others are only counted in `lastgood_zones_failing`.
pub const MAX_FAILING_ZONE_SERIES: usize = 10;

/// Why a zone is failing, in the words an operator alerts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CauseClass {
    /// Every server failed (outage window).
    Unreachable,
    /// The zone's keys: DNSKEY missing for a key tag or not matching the
    /// DS, no zone key bit (EDE 9, 11).
    BogusKey,
    /// Signatures that do not verify or are missing (EDE 6, 10).
    BogusSignature,
    /// Signatures expired (EDE 7, 25).
    Expired,
    /// Signatures not yet valid (EDE 8).
    NotYetValid,
    /// Denial of existence without a valid proof (EDE 12).
    BogusDenial,
    /// Chain of trust could not be decided (EDE 5).
    Indeterminate,
    /// Any other cause.
    Other,
}

impl CauseClass {
    pub const ALL: [CauseClass; 8] = [
        CauseClass::Unreachable,
        CauseClass::BogusKey,
        CauseClass::BogusSignature,
        CauseClass::Expired,
        CauseClass::NotYetValid,
        CauseClass::BogusDenial,
        CauseClass::Indeterminate,
        CauseClass::Other,
    ];

    /// The `cause` label.
    pub const fn as_str(self) -> &'static str {
        match self {
            CauseClass::Unreachable => "unreachable",
            CauseClass::BogusKey => "bogus-key",
            CauseClass::BogusSignature => "bogus-signature",
            CauseClass::Expired => "expired",
            CauseClass::NotYetValid => "not-yet-valid",
            CauseClass::BogusDenial => "bogus-denial",
            CauseClass::Indeterminate => "indeterminate",
            CauseClass::Other => "other",
        }
    }

    /// The class of a window: its failure class, then its cause's EDE.
    pub fn of(window: &Window) -> Self {
        if window.class == FailureClass::Outage {
            return CauseClass::Unreachable;
        }
        match window.cause.code {
            EdeCode::DnskeyMissing | EdeCode::NoZoneKeyBitSet => CauseClass::BogusKey,
            EdeCode::DnssecBogus | EdeCode::RrsigsMissing => CauseClass::BogusSignature,
            EdeCode::SignatureExpired | EdeCode::SignatureExpiredBeforeValid => CauseClass::Expired,
            EdeCode::SignatureNotYetValid => CauseClass::NotYetValid,
            EdeCode::NsecMissing => CauseClass::BogusDenial,
            EdeCode::DnssecIndeterminate => CauseClass::Indeterminate,
            EdeCode::NoReachableAuthority | EdeCode::NetworkError => CauseClass::Unreachable,
            _ => CauseClass::Other,
        }
    }
}

/// One failing zone as the metrics and the status page show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailingZone {
    pub zone: String,
    pub fault_zone: String,
    pub class: &'static str,
    pub cause: CauseClass,
    pub ede: u16,
    pub ede_text: String,
    pub failing_for_secs: u64,
    pub answered_from_window: u64,
}

impl FailingZone {
    pub fn new(window: &Window, now: Timestamp) -> Self {
        Self {
            zone: window.zone.to_string(),
            fault_zone: window.fault_zone.to_string(),
            class: window.class.as_str(),
            cause: CauseClass::of(window),
            ede: window.cause.code.code(),
            ede_text: window.cause.text.clone(),
            failing_for_secs: now.saturating_since(window.since).as_secs(),
            answered_from_window: window.hits,
        }
    }
}

/// Zones failing per cause class, in [`CauseClass::ALL`] order.
pub fn count_by_cause(windows: &[Window]) -> [(CauseClass, i64); CauseClass::ALL.len()] {
    CauseClass::ALL.map(|c| {
        let n = windows.iter().filter(|w| CauseClass::of(w) == c).count();
        (c, i64::try_from(n).unwrap_or(i64::MAX))
    })
}

/// The zones that get their own series: most client questions answered
/// from the window first, then longest failing, then by name; at most
/// [`MAX_FAILING_ZONE_SERIES`].
pub fn top(windows: &[Window], now: Timestamp) -> Vec<FailingZone> {
    let mut all: Vec<FailingZone> = windows.iter().map(|w| FailingZone::new(w, now)).collect();
    all.sort_by(|a, b| {
        b.answered_from_window
            .cmp(&a.answered_from_window)
            .then(b.failing_for_secs.cmp(&a.failing_for_secs))
            .then_with(|| a.zone.cmp(&b.zone))
    });
    all.truncate(MAX_FAILING_ZONE_SERIES);
    all
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

    use hickory_proto::rr::{Name, RecordType};

    use super::*;
    use crate::ede::Ede;

    fn window(zone: &str, class: FailureClass, code: EdeCode, hits: u64) -> Window {
        let name = Name::from_str(zone).unwrap();
        Window {
            zone: name.clone(),
            fault_zone: name.clone(),
            class,
            cause: Ede::new(code, "x"),
            since: Timestamp::from_secs(1000),
            question: (name, RecordType::A),
            next_probe: Timestamp::from_secs(1001),
            backoff: Duration::from_secs(1),
            probing: false,
            last_hit: Timestamp::from_secs(1000),
            hits,
            stale: 0,
        }
    }

    #[test]
    fn classes_from_window_class_and_ede() {
        let cases = [
            (FailureClass::Outage, EdeCode::DnskeyMissing, "unreachable"),
            (
                FailureClass::Validation,
                EdeCode::DnskeyMissing,
                "bogus-key",
            ),
            (
                FailureClass::Validation,
                EdeCode::DnssecBogus,
                "bogus-signature",
            ),
            (
                FailureClass::Validation,
                EdeCode::SignatureExpired,
                "expired",
            ),
            (
                FailureClass::Validation,
                EdeCode::NsecMissing,
                "bogus-denial",
            ),
            (FailureClass::Validation, EdeCode::Other, "other"),
        ];
        for (class, code, want) in cases {
            assert_eq!(CauseClass::of(&window("a.", class, code, 0)).as_str(), want);
        }
    }

    #[test]
    fn counts_every_class_and_bounds_the_top() {
        let mut windows: Vec<Window> = (0..MAX_FAILING_ZONE_SERIES as u64 + 5)
            .map(|i| {
                window(
                    &format!("z{i}.lab."),
                    FailureClass::Validation,
                    EdeCode::DnskeyMissing,
                    i,
                )
            })
            .collect();
        windows.push(window(
            "down.lab.",
            FailureClass::Outage,
            EdeCode::Other,
            100,
        ));
        let counts = count_by_cause(&windows);
        assert_eq!(counts.len(), CauseClass::ALL.len());
        assert_eq!(counts[0], (CauseClass::Unreachable, 1));
        assert_eq!(
            counts[1],
            (CauseClass::BogusKey, MAX_FAILING_ZONE_SERIES as i64 + 5)
        );
        assert!(counts[2..].iter().all(|(_, n)| *n == 0));
        let now = Timestamp::from_secs(1060);
        let top = top(&windows, now);
        assert_eq!(top.len(), MAX_FAILING_ZONE_SERIES);
        assert_eq!(top[0].zone, "down.lab.");
        assert_eq!(top[0].failing_for_secs, 60);
        assert_eq!(
            top[1].zone,
            format!("z{}.lab.", MAX_FAILING_ZONE_SERIES + 4)
        );
    }
}
