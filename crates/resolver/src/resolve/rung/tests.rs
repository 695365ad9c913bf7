//! The ladder table (README "The ladder", DESIGN.md "The ladder (the
//! heart)" and its fail-small rules), one row per situation, run through
//! [`decide`] the way `ladder.rs` drives it: no sockets, no sleeps, no
//! clock.
//!
//! Rows are named after the README's table; DESIGN.md's rows are the same
//! situations: "fresh entry" = "fresh in cache"; "expired entry, refresh
//! succeeds and validates" = "expired, refresh validates" (and "a
//! validated NXDOMAIN replaces the old answer": stale must not mask real
//! changes); "expired entry that had validated (or was insecure), refresh
//! fails: ..." = the "expired, refresh fails: ..." rows and "expired entry
//! that was insecure"; "refresh still running after the client-response
//! timer" = the "refresh still running" rows; "name under an active NTA"
//! = the "name under an NTA" rows; "nothing usable" = the "nothing usable"
//! rows. The bullets under DESIGN's table (never stale data that never
//! validated, fail small, CD=1 stale only for outages) are the rows after
//! those.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::str::FromStr;

use hickory_proto::op::ResponseCode;

use super::*;
use crate::dnssec::{BogusKind, BogusReason, Security};
use crate::resolve::outcome::UpstreamOutcome;

const T0: Timestamp = Timestamp::from_secs(1_000_000);
/// When the refresh ended (decide's `now` the second time).
const T1: Timestamp = Timestamp::from_secs(1_000_001);

fn zone() -> Name {
    Name::from_str("example.lab.").unwrap()
}

fn entry(kind: StepKind, security: Security, stored_at: Timestamp, ttl: u32) -> Arc<Entry> {
    Arc::new(Entry {
        kind,
        rcode: ResponseCode::NoError,
        answers: Vec::new(),
        authorities: Vec::new(),
        security,
        zone: zone(),
        stored_at,
        ttl,
    })
}

fn bogus() -> Security {
    Security::Bogus(BogusReason::new(
        BogusKind::DnskeyMissing,
        &zone(),
        Some(12345),
        "no DNSKEY for RRSIG",
    ))
}

fn window(class: FailureClass) -> Window {
    let cause = match class {
        FailureClass::Outage => Ede::new(EdeCode::NoReachableAuthority, "every server failed"),
        FailureClass::Validation => bogus().validation_failure().unwrap(),
    };
    Window {
        zone: zone(),
        fault_zone: zone(),
        class,
        cause,
        since: Timestamp::from_secs(1_000_000 - 5),
        question: (zone(), hickory_proto::rr::RecordType::A),
        next_probe: T0,
        backoff: Duration::from_secs(2),
        probing: false,
        last_hit: T0,
        hits: 0,
        stale: 0,
    }
}

/// The validated view.
#[derive(Clone, Copy, Debug)]
enum V {
    Nothing,
    /// Fresh, 120 s left.
    Fresh,
    /// Expired (it had validated: Secure).
    Expired,
    /// Expired, Insecure by proof.
    ExpiredInsecure,
    /// Expired NXDOMAIN.
    ExpiredNx,
}

/// What upstream does if asked.
#[derive(Clone, Copy, Debug)]
enum Up {
    /// Never asked (the row says so).
    Unused,
    Validates,
    /// A validated NXDOMAIN.
    ValidatesNx,
    Bogus,
    /// Every server of the zone ends the try so.
    Fails(UpstreamOutcome),
    /// Answers (validated) only after the client-response timer.
    Late,
}

/// Whether and how long the driver waited on upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    No,
    /// Until the resolution ended.
    Wait,
    /// At most `client-response-timer`.
    Timer,
}

/// Which data the answer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    None,
    /// The fresh validated entry.
    Cached,
    /// The expired validated entry.
    Old,
    /// The checking-disabled view's entry.
    CdView,
    /// What the refresh brought.
    New,
}

#[derive(Clone, Copy, Debug)]
struct Expect {
    asked: Asked,
    tier: Tier,
    data: Data,
    ttl: Option<u32>,
    edes: &'static [u16],
    /// In some EDE's text.
    text: Option<&'static str>,
    /// No AD whatever the data (an NTA).
    unvalidated: bool,
}

#[derive(Clone, Copy, Debug)]
struct Row {
    /// The situation, as the tables name it.
    name: &'static str,
    validated: V,
    /// A fresh Bogus verdict in the checking-disabled view.
    cd_view_bogus: bool,
    nta: bool,
    cd: bool,
    window: Option<FailureClass>,
    slow: bool,
    /// A refresh slot of the zone is free.
    slot_free: bool,
    serve_stale: bool,
    up: Up,
    expect: Expect,
}

const BASE: Row = Row {
    name: "",
    validated: V::Nothing,
    cd_view_bogus: false,
    nta: false,
    cd: false,
    window: None,
    slow: false,
    slot_free: true,
    serve_stale: true,
    up: Up::Unused,
    expect: Expect {
        asked: Asked::No,
        tier: Tier::ServFail,
        data: Data::None,
        ttl: None,
        edes: &[],
        text: None,
        unvalidated: false,
    },
};

const STALE_TTL: Option<u32> = Some(30);

fn rows() -> Vec<Row> {
    use UpstreamOutcome::{Malformed, Refused, ServFail, Timeout};
    vec![
        // README | fresh in cache | cached data, remaining TTL, AD if it validated
        Row {
            name: "fresh in cache",
            validated: V::Fresh,
            expect: Expect {
                tier: Tier::Fresh,
                data: Data::Cached,
                ttl: Some(120),
                ..BASE.expect
            },
            ..BASE
        },
        // | expired, refresh validates | fresh data
        Row {
            name: "expired, refresh validates",
            validated: V::Expired,
            up: Up::Validates,
            expect: Expect {
                asked: Asked::Timer,
                tier: Tier::Fresh,
                data: Data::New,
                ttl: Some(600),
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "expired, refresh validates: a validated NXDOMAIN replaces the old answer",
            validated: V::Expired,
            up: Up::ValidatesNx,
            expect: Expect {
                asked: Asked::Timer,
                tier: Tier::Fresh,
                data: Data::New,
                ttl: Some(600),
                ..BASE.expect
            },
            ..BASE
        },
        // | expired, refresh fails (timeout, SERVFAIL, REFUSED, garbage, or
        // Bogus) | the last data that validated, TTL stale-answer-ttl, EDE 3
        // (19 for NXDOMAIN) plus the cause (22/23 unreachable, 6/7/9 bogus
        // with the key tag)
        Row {
            name: "expired, refresh fails: timeout",
            validated: V::Expired,
            up: Up::Fails(Timeout),
            expect: stale(Asked::Timer, &[3, 22]),
            ..BASE
        },
        Row {
            name: "expired, refresh fails: SERVFAIL",
            validated: V::Expired,
            up: Up::Fails(ServFail),
            expect: stale(Asked::Timer, &[3, 23]),
            ..BASE
        },
        Row {
            name: "expired, refresh fails: REFUSED",
            validated: V::Expired,
            up: Up::Fails(Refused),
            expect: stale(Asked::Timer, &[3, 22]),
            ..BASE
        },
        Row {
            name: "expired, refresh fails: garbage",
            validated: V::Expired,
            up: Up::Fails(Malformed),
            expect: stale(Asked::Timer, &[3, 23]),
            ..BASE
        },
        Row {
            name: "expired, refresh fails: Bogus",
            validated: V::Expired,
            up: Up::Bogus,
            expect: Expect {
                text: Some("key tag 12345"),
                ..stale(Asked::Timer, &[3, 9])
            },
            ..BASE
        },
        Row {
            name: "expired NXDOMAIN, refresh fails: EDE 19",
            validated: V::ExpiredNx,
            up: Up::Fails(Timeout),
            expect: stale(Asked::Timer, &[19, 22]),
            ..BASE
        },
        Row {
            name: "expired entry that was insecure, refresh fails",
            validated: V::ExpiredInsecure,
            up: Up::Fails(ServFail),
            expect: stale(Asked::Timer, &[3, 23]),
            ..BASE
        },
        // | refresh still running at client-response-timer | stale now; the
        // refresh goes on (and a never-cached name in that slow zone gets
        // SERVFAIL + EDE 22 at the timer)
        Row {
            name: "refresh still running at client-response-timer",
            validated: V::Expired,
            up: Up::Late,
            expect: Expect {
                text: Some("client-response-timer"),
                ..stale(Asked::Timer, &[3, 22])
            },
            ..BASE
        },
        Row {
            name: "refresh still running: the slow zone's other expired names, stale at once",
            validated: V::Expired,
            slow: true,
            expect: stale(Asked::No, &[3, 22]),
            ..BASE
        },
        Row {
            name: "refresh still running: a never-cached name in that slow zone, SERVFAIL at the timer",
            slow: true,
            up: Up::Late,
            expect: Expect {
                asked: Asked::Timer,
                edes: &[22],
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "a never-cached name in a slow zone that answers within the timer",
            slow: true,
            up: Up::Validates,
            expect: Expect {
                asked: Asked::Timer,
                tier: Tier::Fresh,
                data: Data::New,
                ttl: Some(600),
                ..BASE.expect
            },
            ..BASE
        },
        // | name under an NTA | resolved without validation, AD clear,
        // EDE 33, no cache flush needed
        Row {
            name: "name under an NTA",
            nta: true,
            up: Up::Bogus,
            expect: Expect {
                asked: Asked::Wait,
                tier: Tier::Nta,
                data: Data::New,
                ttl: Some(600),
                edes: &[33],
                unvalidated: true,
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "name under an NTA: a cached Bogus verdict answers, no flush needed",
            nta: true,
            cd_view_bogus: true,
            expect: Expect {
                tier: Tier::Nta,
                data: Data::CdView,
                ttl: Some(50),
                edes: &[33],
                unvalidated: true,
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "name under an NTA during a validation failure window",
            nta: true,
            validated: V::Expired,
            window: Some(FailureClass::Validation),
            up: Up::Bogus,
            expect: Expect {
                asked: Asked::Timer,
                tier: Tier::Nta,
                data: Data::New,
                ttl: Some(600),
                edes: &[33],
                unvalidated: true,
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "name under an NTA whose authorities fail: stale, EDE 3 + cause + 33",
            nta: true,
            validated: V::Expired,
            up: Up::Fails(Timeout),
            expect: Expect {
                unvalidated: true,
                ..stale(Asked::Timer, &[3, 22, 33])
            },
            ..BASE
        },
        // | CD=1 during a validation failure | resolved and answered
        // unvalidated (AD clear), never a stale copy
        Row {
            name: "CD=1 during a validation failure",
            cd: true,
            validated: V::Expired,
            window: Some(FailureClass::Validation),
            up: Up::Bogus,
            expect: Expect {
                asked: Asked::Timer,
                tier: Tier::Fresh,
                data: Data::New,
                ttl: Some(600),
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "CD=1 during a validation failure: a cached Bogus verdict answers",
            cd: true,
            validated: V::Expired,
            cd_view_bogus: true,
            expect: Expect {
                tier: Tier::Fresh,
                data: Data::CdView,
                ttl: Some(50),
                ..BASE.expect
            },
            ..BASE
        },
        // DESIGN: "CD=1 ... stale only for outages"
        Row {
            name: "CD=1 during an outage: stale like everyone",
            cd: true,
            validated: V::Expired,
            window: Some(FailureClass::Outage),
            expect: Expect {
                text: Some("failing for 5s"),
                ..stale(Asked::No, &[3, 22])
            },
            ..BASE
        },
        // | nothing usable | SERVFAIL with a precise EDE; during a known
        // failure at once, without an upstream query
        Row {
            name: "nothing usable",
            up: Up::Fails(Timeout),
            expect: Expect {
                asked: Asked::Wait,
                edes: &[22],
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "nothing usable: answers that do not parse",
            up: Up::Fails(Malformed),
            expect: Expect {
                asked: Asked::Wait,
                edes: &[23],
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "nothing usable during a known failure: at once, no upstream query",
            window: Some(FailureClass::Outage),
            expect: Expect {
                edes: &[22],
                text: Some("example.lab. failing for 5s (failure-recheck)"),
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "nothing usable during a validation failure: SERVFAIL from the window",
            window: Some(FailureClass::Validation),
            expect: Expect {
                edes: &[9],
                text: Some("key tag 12345"),
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "never cached, the answer is Bogus: SERVFAIL with the verdict",
            up: Up::Bogus,
            expect: Expect {
                asked: Asked::Wait,
                edes: &[9],
                text: Some("key tag 12345"),
                ..BASE.expect
            },
            ..BASE
        },
        // Fail small: a Bogus RRset is remembered for that RRset only.
        Row {
            name: "fail small: one Bogus RRset remembered, SERVFAIL from the cache",
            cd_view_bogus: true,
            expect: Expect {
                edes: &[9],
                ..BASE.expect
            },
            ..BASE
        },
        Row {
            name: "a known failure with a stale entry: stale from the cache, no upstream query",
            validated: V::Expired,
            window: Some(FailureClass::Outage),
            expect: stale(Asked::No, &[3, 22]),
            ..BASE
        },
        Row {
            name: "a validation failure window stops validating clients: stale",
            validated: V::Expired,
            window: Some(FailureClass::Validation),
            expect: stale(Asked::No, &[3, 9]),
            ..BASE
        },
        // Never serve stale data that never validated; Bogus data never
        // reaches a validating client.
        Row {
            name: "expired, a fresh Bogus verdict cached: the validated entry, stale",
            validated: V::Expired,
            cd_view_bogus: true,
            up: Up::Bogus,
            expect: stale(Asked::Timer, &[3, 9]),
            ..BASE
        },
        Row {
            name: "MAX_STALE_REFRESHES_PER_ZONE refreshes running: stale at once",
            validated: V::Expired,
            slot_free: false,
            expect: stale(Asked::No, &[3]),
            ..BASE
        },
        Row {
            name: "serve-stale off: an expired entry is never served",
            validated: V::Expired,
            serve_stale: false,
            up: Up::Fails(Timeout),
            expect: Expect {
                asked: Asked::Wait,
                edes: &[22],
                ..BASE.expect
            },
            ..BASE
        },
    ]
}

const fn stale(asked: Asked, edes: &'static [u16]) -> Expect {
    Expect {
        asked,
        tier: Tier::Stale,
        data: Data::Old,
        ttl: STALE_TTL,
        edes,
        text: None,
        unvalidated: false,
    }
}

struct Entries {
    cached: Arc<Entry>,
    old: Arc<Entry>,
    cd_view: Arc<Entry>,
    new: Option<Arc<Entry>>,
}

/// Drive one row as `ladder.rs` does; returns how upstream was asked, the
/// final rung and the entries it may serve.
fn drive(row: &Row) -> (Asked, Rung, Entries) {
    let cfg = StaleConfig {
        enabled: row.serve_stale,
        ..StaleConfig::default()
    };
    let expired_at = Timestamp::from_secs(1_000_000 - 400);
    let old = match row.validated {
        V::ExpiredInsecure => entry(StepKind::Positive, Security::INSECURE, expired_at, 300),
        V::ExpiredNx => entry(StepKind::NxDomain, Security::Secure, expired_at, 300),
        _ => entry(StepKind::Positive, Security::Secure, expired_at, 300),
    };
    let cached = entry(
        StepKind::Positive,
        Security::Secure,
        Timestamp::from_secs(1_000_000 - 180),
        300,
    );
    let cd_view = entry(
        StepKind::Positive,
        bogus(),
        Timestamp::from_secs(1_000_000 - 10),
        60,
    );
    let mut entries = Entries {
        cached: Arc::clone(&cached),
        old: Arc::clone(&old),
        cd_view: Arc::clone(&cd_view),
        new: None,
    };
    let mut step = Step {
        validated: match row.validated {
            V::Nothing => Cached::Nothing,
            V::Fresh => Cached::Fresh {
                entry: cached,
                remaining: 120,
            },
            V::Expired | V::ExpiredInsecure | V::ExpiredNx => Cached::Expired(old),
        },
        checking_disabled: row.cd_view_bogus.then_some((cd_view, 50)),
        nta: row.nta.then(zone),
        cd: row.cd,
        zone: None,
        refresh: Refresh::NotStarted,
    };
    let mut rung = decide(&step, &cfg, T0);
    if let Rung::Miss { expired } = &rung {
        let expect = matches!(
            row.validated,
            V::Expired | V::ExpiredInsecure | V::ExpiredNx
        ) && row.serve_stale;
        assert_eq!(
            expired.is_some(),
            expect,
            "{}: stale entry's zone",
            row.name
        );
        step.zone = Some(ZoneState {
            zone: expired.clone().unwrap_or_else(zone),
            window: row
                .window
                .filter(|class| window_stops(*class, row.cd, row.nta))
                .map(window),
            slow: row
                .slow
                .then(|| Ede::new(EdeCode::NoReachableAuthority, "slow")),
            slot: row.slot_free,
        });
        rung = decide(&step, &cfg, T0);
    }
    assert!(
        !matches!(rung, Rung::Miss { .. }),
        "{}: Miss twice",
        row.name
    );
    let mut asked = Asked::No;
    if let Rung::Refresh { timer } = rung {
        asked = match timer {
            Some(t) => {
                assert_eq!(t, cfg.client_response_timer, "{}", row.name);
                Asked::Timer
            }
            None => Asked::Wait,
        };
        let validated_new = |kind| entry(kind, Security::Secure, T1, 600);
        step.refresh = match row.up {
            Up::Unused => panic!("{}: asked upstream", row.name),
            Up::Validates => Refresh::Done(Ok(validated_new(StepKind::Positive))),
            Up::ValidatesNx => Refresh::Done(Ok(validated_new(StepKind::NxDomain))),
            Up::Bogus => Refresh::Done(Ok(entry(StepKind::Positive, bogus(), T1, 600))),
            Up::Fails(outcome) => {
                let a: SocketAddr = "127.0.0.1:53".parse().unwrap();
                let b: SocketAddr = "127.0.0.2:53".parse().unwrap();
                Refresh::Done(Err(ResolveError::ZoneDown {
                    zone: zone(),
                    tries: vec![(a, outcome), (b, outcome)],
                }))
            }
            Up::Late if timer.is_some() => Refresh::StillRunning,
            Up::Late => Refresh::Done(Ok(validated_new(StepKind::Positive))),
        };
        if let Refresh::Done(Ok(new)) = &step.refresh {
            entries.new = Some(Arc::clone(new));
        }
        rung = decide(&step, &cfg, T1);
    }
    assert!(
        !matches!(rung, Rung::Miss { .. } | Rung::Refresh { .. }),
        "{}: a request after the refresh",
        row.name
    );
    (asked, rung, entries)
}

fn which(served: &Served, e: &Entries) -> Data {
    let is = |x: &Arc<Entry>| Arc::ptr_eq(&served.entry, x);
    if is(&e.cached) {
        Data::Cached
    } else if is(&e.old) {
        Data::Old
    } else if is(&e.cd_view) {
        Data::CdView
    } else if e.new.as_ref().is_some_and(is) {
        Data::New
    } else {
        panic!("served an entry from nowhere")
    }
}

#[test]
fn ladder_table() {
    let rows = rows();
    let mut names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names are unique");
    for row in &rows {
        let (asked, rung, entries) = drive(row);
        let (tier, data, ttl, edes, unvalidated) = match &rung {
            Rung::ServFail(failure) => {
                let answer = failure.answer();
                assert_eq!(answer.rcode, ResponseCode::ServFail, "{}", row.name);
                (answer.tier, Data::None, None, answer.ede, false)
            }
            _ => {
                let served = rung.served().expect("an answer");
                let mut chain = Chain::default();
                chain.add(&rung);
                let edes = chain.edes(&served.entry.kind, Vec::new());
                (
                    chain.tier(),
                    which(served, &entries),
                    Some(served.ttl),
                    edes,
                    chain.under_nta(),
                )
            }
        };
        let e = &row.expect;
        let codes: Vec<u16> = edes.iter().map(|e| e.code.code()).collect();
        assert_eq!(asked, e.asked, "{}: upstream asked", row.name);
        assert_eq!(tier, e.tier, "{}: tier", row.name);
        assert_eq!(data, e.data, "{}: data", row.name);
        assert_eq!(ttl, e.ttl, "{}: TTL", row.name);
        assert_eq!(codes, e.edes, "{}: EDEs {edes:?}", row.name);
        assert_eq!(unvalidated, e.unvalidated, "{}: under an NTA", row.name);
        if let Some(text) = e.text {
            assert!(
                edes.iter().any(|e| e.text.contains(text)),
                "{}: no EDE says {text:?}: {edes:?}",
                row.name
            );
        }
        // Data that never validated reaches only CD clients and NTA names.
        if let Some(served) = rung.served() {
            assert!(
                served.entry.security.is_validated() || row.cd || row.nta,
                "{}: unvalidated data to a validating client",
                row.name
            );
        }
        // A validation failure's EDE is one (the table's 6/7/9 row).
        if let Rung::Stale {
            cause: StaleCause::Refresh(cause),
            ..
        } = &rung
            && matches!(row.up, Up::Bogus)
        {
            assert!(cause.code.is_validation_failure(), "{}", row.name);
        }
        // The driver remembers a slow zone, counts a limit: both say so.
        assert_eq!(
            matches!(
                rung,
                Rung::Stale {
                    cause: StaleCause::Timer(_),
                    ..
                }
            ),
            matches!(row.up, Up::Late) && !matches!(row.validated, V::Nothing),
            "{}: slow zone",
            row.name
        );
        assert_eq!(
            rung.limit(),
            (!row.slot_free).then_some(Limit::MaxStaleRefreshesPerZone),
            "{}: limit",
            row.name
        );
    }
}

#[test]
fn stale_records_show_exactly_the_stale_ttl() {
    let mut r = hickory_proto::rr::Record::from_rdata(
        zone(),
        5,
        hickory_proto::rr::RData::A(hickory_proto::rr::rdata::A::new(192, 0, 2, 1)),
    );
    let e = entry(StepKind::Positive, Security::Secure, T0, 300);
    let stale = Rung::Stale {
        served: Served {
            entry: Arc::clone(&e),
            ttl: 30,
        },
        cause: StaleCause::Busy(Limit::MaxStaleRefreshesPerZone),
        nta: None,
    };
    assert_eq!(stale.records(std::slice::from_ref(&r))[0].ttl, 30);
    r.ttl = 300;
    let fresh = Rung::Fresh(Served { entry: e, ttl: 120 });
    assert_eq!(fresh.records(&[r])[0].ttl, 120);
}

#[test]
fn chain_of_steps_stale_wins_and_edes_keep_their_order() {
    let fresh = Rung::Fresh(Served {
        entry: entry(StepKind::Positive, Security::Secure, T0, 300),
        ttl: 300,
    });
    let cause = Ede::new(EdeCode::NetworkError, "x");
    let stale = Rung::Stale {
        served: Served {
            entry: entry(StepKind::NxDomain, Security::Secure, T0, 300),
            ttl: 30,
        },
        cause: StaleCause::Refresh(cause.clone()),
        nta: Some(zone()),
    };
    let mut chain = Chain::default();
    chain.add(&fresh);
    assert_eq!(chain.tier(), Tier::Fresh);
    chain.add(&stale);
    chain.add(&stale);
    assert_eq!(chain.tier(), Tier::Stale);
    let note = Ede::new(EdeCode::Blocked, "private-address");
    let edes = chain.edes(&StepKind::NxDomain, vec![note]);
    let codes: Vec<u16> = edes.iter().map(|e| e.code.code()).collect();
    assert_eq!(codes, vec![19, 23, 15, 33], "{edes:?}");
    assert_eq!(edes[3].text, "negative trust anchor for example.lab.");
}

#[test]
fn stale_edes_lead_with_3_or_19_and_dedup_causes() {
    let c = Ede::new(EdeCode::NoReachableAuthority, "x");
    let e = stale_edes(false, &[c.clone(), c.clone()]);
    assert_eq!(
        e.iter().map(|e| e.code.code()).collect::<Vec<_>>(),
        vec![3, 22]
    );
    let e = stale_edes(true, &[]);
    assert_eq!(
        e.iter().map(|e| e.code.code()).collect::<Vec<_>>(),
        vec![19]
    );
}

#[test]
fn validation_windows_stop_only_validating_clients() {
    assert!(window_stops(FailureClass::Outage, true, true));
    assert!(window_stops(FailureClass::Validation, false, false));
    assert!(!window_stops(FailureClass::Validation, true, false));
    assert!(!window_stops(FailureClass::Validation, false, true));
}
