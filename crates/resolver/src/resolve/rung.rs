//! The ladder, decided in one place: which rung answers one resolution
//! step (fresh -> refresh -> stale -> NTA -> SERVFAIL), and how the steps
//! of a CNAME chain make one answer's tier and EDE list.
//!
//! Pure: no IO, no clock, no locks. [`decide`] takes what the driver
//! (`ladder.rs`) found — the step's cache state, the zone's failure state,
//! the NTA covering the name, the client's CD bit, the refresh outcome —
//! and `now`, and returns a [`Rung`]. Two of the rungs are requests, not
//! answers: [`Rung::Miss`] (the cache cannot answer: look up the zone's
//! state and decide again) and [`Rung::Refresh`] (ask upstream, waiting at
//! most `timer`, and decide again with the outcome). The driver acts on the
//! rest: it counts, logs, opens no windows and decides nothing.
//!
//! The rules (README "The ladder", `DESIGN.md`):
//! - a fresh validated entry answers; a fresh checking-disabled entry (a
//!   recent Bogus verdict, or data fetched for a CD client) answers when no
//!   stale copy could, or for CD clients and names under an NTA;
//! - a failure window that stops the question (outage: everyone;
//!   validation: not CD clients nor NTA names, [`window_stops`]) answers
//!   stale, or SERVFAIL with the window's cause, without asking upstream;
//! - a never-cached name is resolved (within `client-response-timer` when
//!   its zone is already slow); an expired one is refreshed within
//!   `client-response-timer` unless its zone is slow or already has
//!   `MAX_STALE_REFRESHES_PER_ZONE` refreshes running;
//! - a refresh that fails (error, Bogus, still running at the timer)
//!   answers the last entry that validated, stale; CD clients and NTA names
//!   get what the authority serves, never a stale copy;
//! - data that did not validate reaches only CD clients and NTA names;
//!   a validating client gets SERVFAIL with the verdict's EDE.
//!
//! # Limitations
//! The client's DO bit does not change the rung (it only strips DNSSEC
//! records from the answer, `Resolver::finish`).

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{Name, Record};

use crate::cache::{Entry, Freshness, StepKind};
use crate::clock::Timestamp;
use crate::config::StaleConfig;
use crate::ede::{Ede, EdeCode};
use crate::limits::Limit;
use crate::query::Tier;
use crate::resolve::ResolveError;
use crate::resolve::health::{FailureClass, Window};

/// The step's entry in the validated view.
#[derive(Clone, Debug)]
pub(crate) enum Cached {
    Fresh {
        entry: Arc<Entry>,
        remaining: u32,
    },
    /// Past its TTL, within `max-stale-ttl`: what the stale tier serves.
    Expired(Arc<Entry>),
    Nothing,
}

/// What the driver found out about the zone that would be asked, once
/// [`decide`] said [`Rung::Miss`].
#[derive(Clone, Debug)]
pub(crate) struct ZoneState {
    /// [`Rung::Miss`]'s `expired` zone, or else the closest known delegation.
    pub zone: Name,
    /// The open failure window that stops this question ([`window_stops`]).
    pub window: Option<Window>,
    /// A refresh of `zone` outlived the client-response timer: its cause.
    pub slow: Option<Ede>,
    /// A refresh slot of `zone` is held for this step (only looked for
    /// when an expired entry would be refreshed).
    pub slot: bool,
}

/// How the step's refresh (or first resolution) went.
#[derive(Clone, Debug)]
pub(crate) enum Refresh {
    NotStarted,
    /// Ended: an entry (Secure, Insecure, Bogus or Indeterminate) or an error.
    Done(Result<Arc<Entry>, ResolveError>),
    /// Still running at the client-response timer (it goes on in its task).
    StillRunning,
}

/// Everything the ladder looks at for one step.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub validated: Cached,
    /// A fresh entry of the checking-disabled view, with its remaining TTL.
    pub checking_disabled: Option<(Arc<Entry>, u32)>,
    /// The active NTA covering the name.
    pub nta: Option<Name>,
    /// The client set CD.
    pub cd: bool,
    /// `None` until [`decide`] asked for it.
    pub zone: Option<ZoneState>,
    pub refresh: Refresh,
}

/// Data a rung answers with and the TTL to show.
#[derive(Clone, Debug)]
pub(crate) struct Served {
    pub entry: Arc<Entry>,
    /// Remaining TTL; `stale-answer-ttl` when stale.
    pub ttl: u32,
}

/// Why a step was answered stale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StaleCause {
    /// The zone's failure window is open: upstream was not asked.
    Window(Ede),
    /// Another refresh of the zone outlived the client-response timer.
    SlowZone(Ede),
    /// The zone already has its refreshes running: no EDE beyond 3/19.
    Busy(Limit),
    /// The refresh failed: an error, or data that did not validate.
    Refresh(Ede),
    /// The refresh was still running at the client-response timer; the
    /// zone is slow from now on (the driver remembers it).
    Timer(Ede),
}

impl StaleCause {
    /// The cause's EDE, after 3 (or 19).
    pub fn ede(&self) -> Option<&Ede> {
        match self {
            StaleCause::Window(e)
            | StaleCause::SlowZone(e)
            | StaleCause::Refresh(e)
            | StaleCause::Timer(e) => Some(e),
            StaleCause::Busy(_) => None,
        }
    }
}

/// Why a step ends in SERVFAIL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No answer and nothing validated cached: the resolution's error
    /// (the window's remembered failure, the slow zone's timer, ...).
    Error(ResolveError),
    /// The data did not validate and the client wants validated data:
    /// the Bogus or Indeterminate verdict.
    Verdict(Ede),
}

impl Failure {
    /// The EDE of the SERVFAIL.
    pub fn ede(&self) -> Ede {
        match self {
            Failure::Error(e) => e.ede(),
            Failure::Verdict(ede) => ede.clone(),
        }
    }

    /// The client's answer: SERVFAIL with the failure's EDE (RFC 8914).
    pub fn answer(&self) -> crate::query::Answer {
        crate::query::Answer::servfail(vec![self.ede()])
    }
}

/// The ladder's decision for one step.
#[derive(Clone, Debug)]
pub(crate) enum Rung {
    /// Not answerable from the cache: fill in [`Step::zone`] and decide
    /// again. `expired`: the zone of the expired entry the stale tier
    /// would serve (its slow-zone hold and refresh slots apply); `None`:
    /// nothing to serve stale, the zone asked is the closest delegation.
    Miss {
        expired: Option<Name>,
    },
    /// Ask upstream, waiting at most `timer` (`None`: until the resolution
    /// ends), then fill in [`Step::refresh`] and decide again.
    Refresh {
        timer: Option<Duration>,
    },
    /// Fresh data (from the cache or just resolved).
    Fresh(Served),
    /// Fresh data under a negative trust anchor: answered unvalidated.
    Nta {
        served: Served,
        anchor: Name,
    },
    /// The last data that validated, past its TTL (RFC 8767).
    Stale {
        served: Served,
        cause: StaleCause,
        /// The NTA covering the name, if any (EDE 33 too).
        nta: Option<Name>,
    },
    ServFail(Failure),
}

impl Rung {
    /// The data the rung answers with (`None` for SERVFAIL and requests).
    pub fn served(&self) -> Option<&Served> {
        match self {
            Rung::Fresh(s) | Rung::Nta { served: s, .. } | Rung::Stale { served: s, .. } => Some(s),
            Rung::Miss { .. } | Rung::Refresh { .. } | Rung::ServFail(_) => None,
        }
    }

    /// A limit this rung was cut short by (counted by the driver).
    pub fn limit(&self) -> Option<Limit> {
        match self {
            Rung::Stale {
                cause: StaleCause::Busy(limit),
                ..
            } => Some(*limit),
            _ => None,
        }
    }

    /// `records` as this step shows them: TTLs counted down when fresh;
    /// exactly `stale-answer-ttl` when stale (RFC 8767 §4), even for
    /// records whose own TTL was shorter.
    pub fn records(&self, records: &[Record]) -> Vec<Record> {
        match self {
            Rung::Stale { served, .. } => records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.ttl = served.ttl;
                    r
                })
                .collect(),
            Rung::Fresh(s) | Rung::Nta { served: s, .. } => Entry::records_with_ttl(records, s.ttl),
            Rung::Miss { .. } | Rung::Refresh { .. } | Rung::ServFail(_) => Vec::new(),
        }
    }
}

/// Whether an open failure window of `class` stops a client's question:
/// an outage stops everyone; a validation failure does not stop clients
/// that set CD nor names under an NTA, whose answer is unvalidated anyway
/// (RFC 4035 §3.2.2, RFC 7646).
pub(crate) fn window_stops(class: FailureClass, cd: bool, nta: bool) -> bool {
    match class {
        FailureClass::Outage => true,
        FailureClass::Validation => !(cd || nta),
    }
}

/// The ladder for one step. See the module doc for the rules.
pub(crate) fn decide(step: &Step, stale: &StaleConfig, now: Timestamp) -> Rung {
    // Who may be answered despite a validation failure: the answer will
    // be unvalidated anyway (CD, RFC 4035 §3.2.2; NTA, RFC 7646).
    let unvalidated_ok = step.cd || step.nta.is_some();
    let old = match &step.validated {
        Cached::Fresh { entry, remaining } => return serve(step, entry, *remaining),
        Cached::Expired(entry) if stale.enabled => Some(entry),
        Cached::Expired(_) | Cached::Nothing => None,
    };
    if (old.is_none() || unvalidated_ok)
        && let Some((entry, remaining)) = &step.checking_disabled
    {
        // A recent Bogus verdict answers validating clients too (as
        // SERVFAIL), and CD clients and names under an NTA get its data
        // (what the authority serves now, not a stale copy).
        return serve(step, entry, *remaining);
    }
    let Some(zone) = &step.zone else {
        return Rung::Miss {
            expired: old.map(|e| e.zone.clone()),
        };
    };
    if let Some(window) = &zone.window {
        let ede = window.ede(now);
        return match old {
            Some(old) => stale_rung(step, old, StaleCause::Window(ede), stale),
            None => Rung::ServFail(Failure::Error(ResolveError::KnownFailure {
                zone: window.zone.clone(),
                ede,
            })),
        };
    }
    let Some(old) = old else {
        // Never cached: resolve. In a zone already known to be slow the
        // answer comes within the client-response timer too: SERVFAIL with
        // the cause if the resolution (which goes on and fills the cache)
        // has not ended by then.
        return match &step.refresh {
            Refresh::NotStarted => Rung::Refresh {
                timer: zone.slow.as_ref().map(|_| stale.client_response_timer),
            },
            Refresh::Done(Ok(entry)) => serve(step, entry, remaining(entry, now)),
            Refresh::Done(Err(e)) => Rung::ServFail(Failure::Error(e.clone())),
            Refresh::StillRunning => Rung::ServFail(Failure::Error(ResolveError::KnownFailure {
                zone: zone.zone.clone(),
                ede: zone
                    .slow
                    .clone()
                    .unwrap_or_else(|| timer_ede(&zone.zone, stale)),
            })),
        };
    };
    match &step.refresh {
        // A refresh of this zone outlived the client-response timer and is
        // still running: answer the zone's other expired names stale now
        // instead of starting refreshes that would wait on it too.
        Refresh::NotStarted if zone.slow.is_some() => {
            let cause = zone
                .slow
                .clone()
                .unwrap_or_else(|| timer_ede(&zone.zone, stale));
            stale_rung(step, old, StaleCause::SlowZone(cause), stale)
        }
        // At most MAX_STALE_REFRESHES_PER_ZONE refreshes of one zone at a
        // time: a burst of expired names during an outage must not become
        // a burst of upstream queries. The rest are answered stale now.
        Refresh::NotStarted if !zone.slot => stale_rung(
            step,
            old,
            StaleCause::Busy(Limit::MaxStaleRefreshesPerZone),
            stale,
        ),
        // Refresh, but answer stale if it takes too long: the refresh runs
        // in its own task and fills the cache when done.
        Refresh::NotStarted => Rung::Refresh {
            timer: Some(stale.client_response_timer),
        },
        // What the authority serves now: validated, or wanted anyway.
        Refresh::Done(Ok(new)) if unvalidated_ok || new.security.is_validated() => {
            serve(step, new, remaining(new, now))
        }
        Refresh::Done(Ok(bad)) => {
            let cause = bad
                .security
                .validation_failure()
                .unwrap_or_else(|| Ede::new(EdeCode::Other, ""));
            stale_rung(step, old, StaleCause::Refresh(cause), stale)
        }
        Refresh::Done(Err(e)) => stale_rung(step, old, StaleCause::Refresh(e.ede()), stale),
        Refresh::StillRunning => stale_rung(
            step,
            old,
            StaleCause::Timer(timer_ede(&old.zone, stale)),
            stale,
        ),
    }
}

/// Fresh data for this client: under an NTA answered unvalidated; data
/// that did not validate only for CD clients, else SERVFAIL with the
/// verdict.
fn serve(step: &Step, entry: &Arc<Entry>, ttl: u32) -> Rung {
    let served = Served {
        entry: Arc::clone(entry),
        ttl,
    };
    if let Some(anchor) = &step.nta {
        return Rung::Nta {
            served,
            anchor: anchor.clone(),
        };
    }
    if !step.cd
        && let Some(ede) = entry.security.validation_failure()
    {
        return Rung::ServFail(Failure::Verdict(ede));
    }
    Rung::Fresh(served)
}

fn stale_rung(step: &Step, entry: &Arc<Entry>, cause: StaleCause, stale: &StaleConfig) -> Rung {
    Rung::Stale {
        served: Served {
            entry: Arc::clone(entry),
            ttl: u32::try_from(stale.answer_ttl.as_secs()).unwrap_or(u32::MAX),
        },
        cause,
        nta: step.nta.clone(),
    }
}

/// The cause of a stale answer whose refresh is still running.
fn timer_ede(zone: &Name, stale: &StaleConfig) -> Ede {
    Ede::new(
        EdeCode::NoReachableAuthority,
        format!(
            "{zone}: no answer within client-response-timer {:?}; refresh continues",
            stale.client_response_timer
        ),
    )
}

/// Seconds left on a just-resolved entry (0 for TTL-0 data).
fn remaining(entry: &Entry, now: Timestamp) -> u32 {
    match crate::cache::freshness(entry.stored_at, entry.ttl, now, Duration::ZERO) {
        Freshness::Fresh { remaining } => remaining,
        Freshness::Stale { .. } | Freshness::Gone => 0,
    }
}

/// The rungs of a CNAME chain's steps, folded into one answer: Stale if
/// any step was stale, else NTA if any step was under one, else Fresh.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chain {
    /// `Some(causes)` once any step was served stale.
    stale: Option<Vec<Ede>>,
    /// The NTAs the steps were under, each once.
    anchors: Vec<Name>,
}

impl Chain {
    /// Add one step's rung (answers only; requests and SERVFAIL end the
    /// chain before).
    pub fn add(&mut self, rung: &Rung) {
        let anchor = match rung {
            Rung::Nta { anchor, .. } => Some(anchor),
            Rung::Stale { cause, nta, .. } => {
                let causes = self.stale.get_or_insert_with(Vec::new);
                causes.extend(cause.ede().cloned());
                nta.as_ref()
            }
            Rung::Fresh(_) | Rung::Miss { .. } | Rung::Refresh { .. } | Rung::ServFail(_) => None,
        };
        if let Some(anchor) = anchor
            && !self.anchors.contains(anchor)
        {
            self.anchors.push(anchor.clone());
        }
    }

    /// Some step was under an NTA: the answer is unvalidated (no AD).
    pub fn under_nta(&self) -> bool {
        !self.anchors.is_empty()
    }

    pub fn tier(&self) -> Tier {
        if self.stale.is_some() {
            Tier::Stale
        } else if self.under_nta() {
            Tier::Nta
        } else {
            Tier::Fresh
        }
    }

    /// The answer's EDEs: for a stale answer 3 (19 when the last step is
    /// NXDOMAIN) and each distinct cause first; then `answer`'s own
    /// (Insecure note, private-address); then 33 under an NTA
    /// (draft-farrokhi-dnsop-ede-nta, as BIND and PowerDNS Recursor 5 send).
    pub fn edes(&self, last: &StepKind, answer: Vec<Ede>) -> Vec<Ede> {
        let mut out = match &self.stale {
            Some(causes) => stale_edes(matches!(last, StepKind::NxDomain), causes),
            None => Vec::new(),
        };
        out.extend(answer);
        if self.under_nta() {
            let zones: Vec<String> = self.anchors.iter().map(ToString::to_string).collect();
            out.push(Ede::new(
                EdeCode::NegativeTrustAnchor,
                format!("negative trust anchor for {}", zones.join(", ")),
            ));
        }
        out
    }
}

/// EDEs of a stale answer: 3 (or 19 for NXDOMAIN, RFC 8914 §4.20) first,
/// then each distinct cause.
pub fn stale_edes(nxdomain: bool, causes: &[Ede]) -> Vec<Ede> {
    let mut out = vec![if nxdomain {
        Ede::new(EdeCode::StaleNxdomainAnswer, "")
    } else {
        Ede::new(EdeCode::StaleAnswer, "")
    }];
    for cause in causes {
        if !out.contains(cause) {
            out.push(cause.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests;
