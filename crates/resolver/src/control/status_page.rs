//! The read-only status page: `GET /status` from a browser (one static
//! HTML page, no external assets, its script draws from `status.json`)
//! and `GET /status.json`. Both are served without the token, like
//! `/metrics`; neither changes anything.
//!
//! [`StatusPage::to_json`] is pure: the caller gathers the windows, NTAs
//! and figures, and passes `now`.

use serde_json::{Value, json};

use crate::clock::Timestamp;
use crate::metrics::history::MinuteCounts;
use crate::metrics::zones::FailingZone;
use crate::nta::NtaView;
use crate::query::Tier;
use crate::resolve::health::Window;

/// The page: inline style and script, nothing fetched but `status.json`.
pub const HTML: &str = include_str!("status_page.html");

/// Content-Security-Policy of the page: nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// What `status.json` shows.
#[derive(Clone, Debug, Default)]
pub struct StatusPage {
    pub version: &'static str,
    pub uptime_secs: u64,
    pub windows: Vec<Window>,
    pub ntas: Vec<NtaView>,
    /// Answers per minute by tier, oldest first.
    pub minutes: Vec<MinuteCounts>,
    pub cache_entries: u64,
    pub cache_bytes: u64,
    pub cache_hits: u64,
    pub cache_stale_hits: u64,
    pub cache_misses: u64,
    pub ntas_persisted: bool,
}

impl StatusPage {
    /// The JSON document, as of `now`.
    pub fn to_json(&self, now: Timestamp) -> Value {
        let failing: Vec<Value> = self
            .windows
            .iter()
            .map(|w| {
                let z = FailingZone::new(w, now);
                // Validation failures under an NTA: clients get answers
                // anyway, the zone is still broken.
                let under_nta = self.ntas.iter().any(|n| n.zone.zone_of(&w.zone));
                json!({
                    "zone": z.zone,
                    "fault_zone": z.fault_zone,
                    "class": z.class,
                    "cause": z.cause.as_str(),
                    "ede": z.ede,
                    "ede_text": z.ede_text,
                    "since_unix": w.since.unix_secs(),
                    "failing_for_s": z.failing_for_secs,
                    "answered_from_window": z.answered_from_window,
                    "under_nta": under_nta,
                })
            })
            .collect();
        json!({
            "version": self.version,
            "generated_at_unix": now.unix_secs(),
            "uptime_seconds": self.uptime_secs,
            "failing_zones": failing,
            "ntas": self.ntas,
            "answers": {
                "tiers": Tier::ALL.map(Tier::as_str),
                "minutes": self.minutes,
            },
            "cache": {
                "entries": self.cache_entries,
                "bytes": self.cache_bytes,
                "hits": self.cache_hits,
                "stale_hits": self.cache_stale_hits,
                "misses": self.cache_misses,
            },
            "store": {
                "ntas_active": self.ntas.len(),
                "ntas_persisted": self.ntas_persisted,
            },
        })
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

    use std::str::FromStr;
    use std::time::Duration;

    use hickory_proto::rr::{Name, RecordType};

    use super::*;
    use crate::ede::{Ede, EdeCode};
    use crate::nta::NtaSource;
    use crate::resolve::health::FailureClass;

    #[test]
    fn json_names_zone_cause_nta_and_tiers() {
        let zone = Name::from_str("lab.").unwrap();
        let page = StatusPage {
            version: "9.9.9",
            windows: vec![Window {
                zone: zone.clone(),
                fault_zone: zone.clone(),
                class: FailureClass::Validation,
                cause: Ede::new(EdeCode::DnskeyMissing, "key tag 7"),
                since: Timestamp::from_secs(1_000),
                question: (zone.clone(), RecordType::SOA),
                next_probe: Timestamp::from_secs(1_001),
                backoff: Duration::from_secs(1),
                probing: false,
                last_hit: Timestamp::from_secs(1_000),
                hits: 4,
                stale: 0,
            }],
            ntas: vec![NtaView {
                zone: zone.clone(),
                reason: "rollover <b>".to_owned(),
                source: NtaSource::Api,
                remaining: Duration::from_secs(90),
                expires_at: Timestamp::from_secs(1_150),
                force: false,
            }],
            minutes: vec![MinuteCounts {
                start_unix: 960,
                counts: [1, 2, 3, 4, 5],
            }],
            ..StatusPage::default()
        };
        let j = page.to_json(Timestamp::from_secs(1_060));
        assert_eq!(j["failing_zones"][0]["zone"], "lab.");
        assert_eq!(j["failing_zones"][0]["cause"], "bogus-key");
        assert_eq!(j["failing_zones"][0]["ede"], 9);
        assert_eq!(j["failing_zones"][0]["since_unix"], 1_000);
        assert_eq!(j["failing_zones"][0]["failing_for_s"], 60);
        assert_eq!(j["failing_zones"][0]["under_nta"], true);
        assert_eq!(j["ntas"][0]["remaining_secs"], 90);
        assert_eq!(j["ntas"][0]["reason"], "rollover <b>");
        assert_eq!(j["answers"]["tiers"][1], "stale");
        assert_eq!(j["answers"]["minutes"][0]["counts"][3], 4);
        assert_eq!(j["store"]["ntas_active"], 1);
    }

    #[test]
    fn page_fetches_nothing_but_status_json() {
        for foreign in ["https:", "src=", "@import", "url("] {
            assert!(!HTML.contains(foreign), "{foreign}");
        }
        // The one link is the empty icon (no favicon request).
        assert_eq!(HTML.matches("href=").count(), 1);
        assert!(HTML.contains("<link rel=\"icon\" href=\"data:,\">"));
        // The only URL is the SVG namespace, an identifier never fetched.
        assert_eq!(HTML.matches("http:").count(), 1);
        assert!(HTML.contains("\"http://www.w3.org/2000/svg\""));
        assert!(HTML.contains("fetch(\"status.json\""));
        // Data goes in as text, never as markup.
        assert!(!HTML.contains("innerHTML"));
    }
}
