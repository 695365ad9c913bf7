//! What an operator asks about the resolver's memory, read-only or
//! close to it: `lastgood lookup NAME [TYPE]` (like `unbound-control
//! lookup`) and `lastgood cache flush --bogus` (like `unbound-control
//! flush_bogus`).
//!
//! [`Resolver::inspect`] reads the cache (both views), the last-good
//! store, the key verdicts, the failure windows and the NTAs and says,
//! per cached step, which tier it would be answered from now. It sends
//! no upstream query, starts no probe, counts no window hit and puts
//! nothing into the cache (a store entry is read and proven, not loaded).
//!
//! # Limitations
//!
//! One step only: a CNAME step names its target, which is not followed
//! (ask for the target).

use hickory_proto::rr::{DNSClass, Name, RecordType};
use serde::Serialize;

use crate::cache::{CacheKey, Entry, Freshness, StepKind, View, freshness};
use crate::clock::Timestamp;
use crate::dnssec::{KeyEntry, Security};
use crate::ede::Ede;
use crate::nta::NtaView;
use crate::resolve::Resolver;
use crate::resolve::health::FailureClass;

/// `lastgood lookup`: everything the resolver holds for one question.
#[derive(Clone, Debug, Serialize)]
pub struct Lookup {
    pub name: String,
    #[serde(rename = "type")]
    pub qtype: String,
    /// The zone that would be asked (closest known delegation).
    pub zone: String,
    /// What a validating (CD=0) client would get now without an upstream
    /// query: `fresh`, `stale`, `nta` (a fresh entry of either view under
    /// an NTA: served without AD, as `rung::decide` does) or `none` (a
    /// refresh or a resolution would be needed).
    pub tier: &'static str,
    /// Each step held: the cache's two views and the store.
    pub entries: Vec<EntryView>,
    /// The failure window that applies to the name, if any.
    pub window: Option<WindowView>,
    /// The NTA covering the name, if any.
    pub nta: Option<NtaView>,
    /// The key verdict cached for the zone the data is in (or the zone
    /// asked when nothing is cached).
    pub keys: Option<KeysView>,
}

/// One cached step.
#[derive(Clone, Debug, Serialize)]
pub struct EntryView {
    /// `cache` or `store`.
    pub source: &'static str,
    /// `validated` (served to everyone) or `checking_disabled` (CD
    /// clients and names under an NTA only).
    pub view: &'static str,
    /// `positive`, `cname`, `nxdomain` or `nodata`.
    pub kind: &'static str,
    /// A CNAME step's target.
    pub target: Option<String>,
    pub rcode: String,
    /// The zone whose servers answered.
    pub zone: String,
    /// `secure`, `insecure`, `bogus` or `indeterminate`.
    pub security: &'static str,
    /// The EDE of a validation failure (or of an Insecure note).
    pub ede: Option<EdeView>,
    /// `fresh`, `stale` (within max-stale-ttl, usable by the ladder) or
    /// `none` (for this view: the CD view is never served stale).
    pub tier: &'static str,
    /// Seconds of TTL left while fresh.
    pub ttl_left_s: Option<u64>,
    /// Seconds since the TTL ran out, once expired.
    pub expired_for_s: Option<u64>,
    pub ttl: u32,
    pub stored_at_unix: u64,
    /// The records as text (RRSIGs counted, not listed).
    pub records: Vec<String>,
    pub rrsigs: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct EdeView {
    pub code: u16,
    pub text: String,
}

impl From<&Ede> for EdeView {
    fn from(e: &Ede) -> Self {
        Self {
            code: e.code.code(),
            text: e.text.clone(),
        }
    }
}

/// A failure window as `lookup` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct WindowView {
    pub zone: String,
    pub fault_zone: String,
    /// `outage` or `validation`.
    pub class: &'static str,
    pub cause: EdeView,
    pub since_unix: u64,
    pub failing_for_s: u64,
    /// Whether it stops a CD=0 client's refresh (a validation window
    /// does not stop names under an NTA).
    pub stops_refresh: bool,
}

/// A cached key verdict.
#[derive(Clone, Debug, Serialize)]
pub struct KeysView {
    pub zone: String,
    /// `secure`, `insecure`, `bogus` or `indeterminate`.
    pub state: &'static str,
    pub keys: usize,
    pub ede: Option<EdeView>,
    /// Seconds until the verdict is fetched again (0: expired).
    pub expires_in_s: u64,
}

/// What `cache flush --bogus` dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BogusFlushed {
    /// CD-view entries (Bogus or Indeterminate steps).
    pub cache_entries: u64,
    /// Key verdicts that were not Secure.
    pub key_verdicts: u64,
    /// Validation failure windows closed.
    pub windows: u64,
}

fn security_str(s: &Security) -> &'static str {
    match s {
        Security::Secure => "secure",
        Security::Insecure { .. } => "insecure",
        Security::Bogus(_) => "bogus",
        Security::Indeterminate(_) => "indeterminate",
    }
}

fn security_ede(s: &Security) -> Option<EdeView> {
    match s {
        Security::Insecure { note } => note.as_ref().map(EdeView::from),
        other => other.validation_failure().as_ref().map(EdeView::from),
    }
}

/// One step as shown, at `now`; `stale_ok`: the view may be served stale
/// (the validated view with serve-stale on).
fn entry_view(
    source: &'static str,
    view: View,
    e: &Entry,
    now: Timestamp,
    max_stale: std::time::Duration,
    stale_ok: bool,
) -> EntryView {
    let f = freshness(e.stored_at, e.ttl, now, max_stale);
    let (tier, ttl_left_s, expired_for_s) = match f {
        Freshness::Fresh { remaining } => ("fresh", Some(u64::from(remaining)), None),
        Freshness::Stale { expired_for } if stale_ok => {
            ("stale", None, Some(expired_for.as_secs()))
        }
        Freshness::Stale { expired_for } => ("none", None, Some(expired_for.as_secs())),
        Freshness::Gone => (
            "none",
            None,
            Some(
                now.saturating_since(e.stored_at)
                    .as_secs()
                    .saturating_sub(u64::from(e.ttl)),
            ),
        ),
    };
    let (kind, target) = match &e.kind {
        StepKind::Positive => ("positive", None),
        StepKind::Cname { target } => ("cname", Some(target.to_string())),
        StepKind::NxDomain => ("nxdomain", None),
        StepKind::NoData => ("nodata", None),
    };
    let records = e
        .answers
        .iter()
        .chain(&e.authorities)
        .filter(|r| r.record_type() != RecordType::RRSIG)
        .map(ToString::to_string)
        .collect();
    let rrsigs = e
        .answers
        .iter()
        .chain(&e.authorities)
        .filter(|r| r.record_type() == RecordType::RRSIG)
        .count();
    EntryView {
        source,
        view: match view {
            View::Validated => "validated",
            View::CheckingDisabled => "checking_disabled",
        },
        kind,
        target,
        rcode: e.rcode.to_string(),
        zone: e.zone.to_string(),
        security: security_str(&e.security),
        ede: security_ede(&e.security),
        tier,
        ttl_left_s,
        expired_for_s,
        ttl: e.ttl,
        stored_at_unix: e.stored_at.unix_secs(),
        records,
        rrsigs,
    }
}

impl Resolver {
    /// `lastgood lookup`: what the cache, the store, the key verdicts, the
    /// failure windows and the NTAs hold for (`name`, `qtype`). Sends no
    /// upstream query and changes nothing the ladder reads.
    pub fn inspect(&self, name: &Name, qtype: RecordType) -> Lookup {
        let now = self.clock.now();
        let config = self.config();
        let max_stale = self.cache.max_stale();
        let name = name.to_lowercase();
        let mut entries = Vec::new();
        let key = |view| CacheKey::new(&name, qtype, DNSClass::IN, view);
        // Read without `Cache::get`, which drops gone entries.
        let validated = self.cache.peek(&key(View::Validated));
        let stale_ok = config.stale.enabled;
        if let Some(e) = &validated {
            entries.push(entry_view(
                "cache",
                View::Validated,
                e,
                now,
                max_stale,
                stale_ok,
            ));
        }
        if let Some(e) = self.cache.peek(&key(View::CheckingDisabled)) {
            entries.push(entry_view(
                "cache",
                View::CheckingDisabled,
                &e,
                now,
                max_stale,
                false,
            ));
        }
        let stored = self.store().and_then(|s| s.get(&key(View::Validated), now));
        if let Some(e) = &stored {
            entries.push(entry_view(
                "store",
                View::Validated,
                e,
                now,
                max_stale,
                stale_ok,
            ));
        }
        let asked = self.closest_delegation(&name, qtype).zone.to_lowercase();
        let nta = self
            .ntas
            .list(now)
            .into_iter()
            .filter(|n| n.zone.zone_of(&name))
            .max_by_key(|n| n.zone.num_labels());
        let window = self
            .health
            .list()
            .into_iter()
            .filter(|w| w.zone.zone_of(&name) && asked.zone_of(&w.zone))
            .max_by_key(|w| w.zone.num_labels())
            .map(|w| WindowView {
                zone: w.zone.to_string(),
                fault_zone: w.fault_zone.to_string(),
                class: w.class.as_str(),
                cause: EdeView::from(&w.cause),
                since_unix: w.since.unix_secs(),
                failing_for_s: now.saturating_since(w.since).as_secs(),
                stops_refresh: super::rung::window_stops(w.class, false, nta.is_some()),
            });
        // The best tier a validating client gets without asking upstream:
        // the cache's validated entry, else the store's.
        let best = entries
            .iter()
            .filter(|e| e.view == "validated")
            .map(|e| e.tier)
            .find(|t| *t != "none")
            .unwrap_or("none");
        let cd_fresh = entries
            .iter()
            .any(|e| e.view == "checking_disabled" && e.tier == "fresh");
        let tier = match best {
            "fresh" if nta.is_some() => "nta",
            "none" if nta.is_some() && cd_fresh => "nta",
            t => t,
        };
        let keys_zone = validated
            .as_deref()
            .or(stored.as_ref())
            .map_or_else(|| asked.clone(), |e| e.zone.to_lowercase());
        let keys = self.keys.get(&keys_zone).map(|slot| KeysView {
            zone: keys_zone.to_string(),
            state: match &slot.entry {
                KeyEntry::Secure(_) => "secure",
                KeyEntry::Insecure { .. } => "insecure",
                KeyEntry::Bogus(_) => "bogus",
                KeyEntry::Indeterminate(_) => "indeterminate",
            },
            keys: match &slot.entry {
                KeyEntry::Secure(keys) => keys.len(),
                _ => 0,
            },
            ede: slot.entry.as_security().as_ref().and_then(security_ede),
            expires_in_s: slot.expires.saturating_since(now).as_secs(),
        });
        Lookup {
            name: name.to_string(),
            qtype: qtype.to_string(),
            zone: asked.to_string(),
            tier,
            entries,
            window,
            nta,
            keys,
        }
    }

    /// `lastgood cache flush --bogus` (Unbound's `flush_bogus`): drop the
    /// remembered failures, keep what validated. CD-view entries (Bogus or
    /// Indeterminate steps), Bogus and Indeterminate key verdicts and
    /// validation failure windows go; the next question validates afresh.
    /// Validated answers, Secure keys, proven Insecure delegations (the
    /// last good chain, see `keys.rs`), delegations and outage windows stay.
    pub fn flush_bogus(&self) -> BogusFlushed {
        let cache_entries = self.cache.flush_view(View::CheckingDisabled);
        let mut key_verdicts = 0u64;
        for (zone, slot) in self.keys.iter() {
            if matches!(slot.entry, KeyEntry::Bogus(_) | KeyEntry::Indeterminate(_)) {
                self.keys.invalidate(&*zone);
                key_verdicts = key_verdicts.saturating_add(1);
            }
        }
        let windows = self.close_windows_of(FailureClass::Validation);
        tracing::info!(cache_entries, key_verdicts, windows, "bogus data flushed");
        BogusFlushed {
            cache_entries,
            key_verdicts,
            windows,
        }
    }
}
