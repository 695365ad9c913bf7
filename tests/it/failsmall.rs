//! Fail small (issue 13): one bad answer never closes a zone; a window
//! opens only on zone-level evidence, heals by a background probe, ends
//! with a flush that keeps stale answers, and never stops CD clients when
//! the failure is a validation failure. On the replay harness (in-process
//! lab, paused virtual time), but for the forward/stub zone case, which
//! runs on sockets.

use std::time::Duration;

use tokio::time::Instant;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use lastgood_lab::Fault;
use lastgood_resolver::limits;
use lastgood_resolver::resolve::private::ZoneMode;

use crate::forward::{ZONE, corp_anchor, corp_lab, corp_servers, testbed};
use crate::harness::{Flags, a_data, answers_of, ede_codes, name};
use crate::replay::Replay;

/// Just past the lab's data TTL (3600 s).
const EXPIRE: Duration = Duration::from_secs(3601);

fn cd() -> Flags {
    Flags {
        checking_disabled: true,
        ..Flags::default()
    }
}

fn assert_secure(r: &Message, what: &str) {
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::NoError,
        "{what}: {r:?}"
    );
    assert!(r.metadata.authentic_data, "{what}: AD");
    assert!(!r.answers.is_empty(), "{what}: data");
}

/// Wait until the background work of a query (a failed refresh, a probe)
/// has opened or closed the window we expect.
async fn until(tb: &Replay, failing: bool) {
    for _ in 0..200 {
        if tb.resolver.failing_zones().is_empty() != failing {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "failing zones never became {}: {:?}",
        if failing { "non-empty" } else { "empty" },
        tb.resolver.failing_zones()
    );
}

/// Issue 13 item 1: `. ANY`, `hostN ANY` and `hostN RRSIG` answered
/// without closing a zone: a never-cached name resolves right after.
#[tokio::test(start_paused = true)]
async fn meta_questions_never_close_a_zone() {
    let tb = Replay::start().await;
    let cases = [
        (".", RecordType::ANY, "host101.example.lab."),
        (
            "host5.example.lab.",
            RecordType::ANY,
            "host102.example.lab.",
        ),
        (
            "host11.example.lab.",
            RecordType::RRSIG,
            "host103.example.lab.",
        ),
    ];
    for (qname, qtype, next) in cases {
        let r = tb.query(qname, qtype).await;
        assert_ne!(
            r.metadata.response_code,
            ResponseCode::ServFail,
            "{qname} {qtype}: {r:?}"
        );
        let r = tb.query(next, RecordType::A).await;
        assert_secure(&r, &format!("{next} after {qname} {qtype}"));
        assert!(tb.resolver.failing_zones().is_empty(), "{qname} {qtype}");
    }
    let r = tb.query("www.other.lab.", RecordType::A).await;
    assert_secure(&r, "other.lab. after the meta questions");
}

/// RFC 8482: ANY is answered from what the cache holds, or with one
/// validated RRset; a qtype RRSIG question gets the authority's RRSIGs,
/// never with AD (no signature covers them).
#[tokio::test(start_paused = true)]
async fn any_and_rrsig_answers() {
    let tb = Replay::start().await;
    // Nothing cached: the A RRset, validated.
    let r = tb.query("host7.example.lab.", RecordType::ANY).await;
    assert_secure(&r, "ANY, nothing cached");
    assert_eq!(answers_of(&r, RecordType::A), 1);
    // Cached: what the cache holds (A and AAAA now).
    tb.query("host7.example.lab.", RecordType::AAAA).await;
    let r = tb.query("host7.example.lab.", RecordType::ANY).await;
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert_eq!(answers_of(&r, RecordType::AAAA), 1, "{r:?}");
    assert!(r.metadata.authentic_data);
    // A name without A: a synthesised HINFO, without AD.
    let r = tb.query("example.lab.", RecordType::ANY).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert!(!r.metadata.authentic_data, "synthesised: never AD");
    assert_eq!(answers_of(&r, RecordType::HINFO), 1, "{r:?}");
    let r = tb.query("host11.example.lab.", RecordType::RRSIG).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert!(
        answers_of(&r, RecordType::RRSIG) >= 3,
        "A, AAAA, TXT signed: {r:?}"
    );
    assert!(!r.metadata.authentic_data);
}

/// Issue 13 item 2: a garbage reply from one of two servers sends the
/// question to the other; no window opens; new names resolve.
#[tokio::test]
async fn one_bad_server_of_two_never_closes_the_zone() {
    for fault in [Fault::Garbage, Fault::ServFail, Fault::Refused] {
        let corp = corp_lab(false).await;
        let [first, _] = corp_servers();
        corp.set_fault_at(&name(ZONE), first, fault.clone())
            .unwrap();
        let tb = testbed(&corp, ZoneMode::Stub, None).await;
        for (qname, qtype) in [
            ("www.corp.internal.", RecordType::A),
            ("db.corp.internal.", RecordType::AAAA),
            ("mail.corp.internal.", RecordType::A),
        ] {
            let r = tb.query(qname, qtype).await;
            assert_eq!(
                r.metadata.response_code,
                ResponseCode::NoError,
                "{fault}: {qname}: {r:?}"
            );
            assert!(!r.answers.is_empty(), "{fault}: {qname}");
        }
        assert!(tb.resolver.failing_zones().is_empty(), "{fault}");
    }
}

/// One bad server fails that server, not the zone (issue 21's finding:
/// during the .de break one instance still served older, valid
/// signatures): an answer that does not validate from one of two servers
/// is asked again of the other, so every answer validates, no window
/// opens, and the refetches are counted. After that first Bogus answer
/// the other server is asked first (server selection by validation
/// outcome): one refetch for all the questions.
#[tokio::test]
async fn one_server_with_bad_signatures_of_two_never_closes_the_zone() {
    let corp = corp_lab(true).await;
    let [first, _] = corp_servers();
    corp.set_fault_at(&name(ZONE), first, Fault::BadSignatures)
        .unwrap();
    let tb = testbed(&corp, ZoneMode::Stub, Some(corp_anchor(&corp))).await;
    let mut questions = vec![
        ("www.corp.internal.".to_owned(), RecordType::A),
        ("db.corp.internal.".to_owned(), RecordType::AAAA),
        ("mail.corp.internal.".to_owned(), RecordType::A),
        ("www.corp.internal.".to_owned(), RecordType::TXT),
    ];
    questions.extend((1..=6).map(|i| (format!("nope{i}.corp.internal."), RecordType::A)));
    for (qname, qtype) in &questions {
        let r = tb.query(qname, *qtype).await;
        assert!(
            matches!(
                r.metadata.response_code,
                ResponseCode::NoError | ResponseCode::NXDomain
            ),
            "{qname} {qtype}: {r:?}"
        );
        assert!(r.metadata.authentic_data, "{qname} {qtype}: AD {r:?}");
    }
    assert!(tb.resolver.failing_zones().is_empty());
    let refetches = tb
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix("lastgood_bogus_refetches_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap();
    assert_eq!(refetches, 1.0, "the bad server was asked, then asked last");
}

/// The .de 2026 pattern (data of `lab.` signed by a key it does not
/// publish, many names) still opens a window: stale for cached names,
/// SERVFAIL at once for new ones, no upstream query, and the EDE names
/// the zone where the fault is (`lab.`, not the child).
#[tokio::test(start_paused = true)]
async fn de_pattern_still_opens_the_window() {
    let tb = Replay::start().await;
    for i in 1..=3 {
        tb.query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
    }
    tb.lab
        .set_fault(&name("lab."), Fault::UnpublishedZsk)
        .unwrap();
    tb.advance(EXPIRE).await;
    for i in 1..=3 {
        let r = tb
            .query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
        assert_eq!(ede_codes(&r).first(), Some(&3), "stale: {r:?}");
    }
    until(&tb, true).await;
    let before = tb.lab.total_queries();
    let t = Instant::now();
    let r = tb.query("host250.example.lab.", RecordType::A).await;
    let took = t.elapsed();
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    let texts = lastgood_resolver::client::edes(&r);
    assert!(
        texts.iter().any(|(_, t)| t.starts_with("lab. failing")),
        "the fault is in lab.: {texts:?}"
    );
    assert_eq!(tb.lab.total_queries(), before, "no upstream query");
    eprintln!("de pattern: never-cached SERVFAIL after {took:?}");
}

/// Issue 13 item 3: a blip heals within seconds. The probe runs in the
/// background (the client that starts it is answered stale at once) and
/// its success closes the window; nothing waits `failure-recheck`.
#[tokio::test(start_paused = true)]
async fn repaired_zone_is_fresh_after_one_probe() {
    let tb = Replay::start().await;
    tb.query("host1.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::Drop)
        .unwrap();
    tb.advance(EXPIRE).await;
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(ede_codes(&r).first(), Some(&3));
    until(&tb, true).await;
    // The authority comes back; the first probe is due after
    // FAILURE_PROBE_FIRST (virtual time).
    tb.lab
        .set_fault(&name("example.lab."), Fault::None)
        .unwrap();
    tb.advance(limits::FAILURE_PROBE_FIRST).await;
    let t = Instant::now();
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(
        ede_codes(&r).first(),
        Some(&3),
        "answered stale, not kept waiting"
    );
    until(&tb, false).await;
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_secure(&r, "fresh after the probe");
    assert!(!ede_codes(&r).contains(&3));
    eprintln!(
        "blip: repair to first fresh answer {:?} of virtual time + {:?} real",
        limits::FAILURE_PROBE_FIRST,
        t.elapsed()
    );
    assert_eq!(
        tb.metrics
            .failure_probes
            .with_label_values(&["recovered"])
            .get(),
        1
    );
}

/// A long outage costs at most one probe per interval, the interval
/// doubling up to `failure-recheck`; `zone retry` probes at once.
#[tokio::test(start_paused = true)]
async fn long_outage_probes_back_off_and_retry_probes_now() {
    let tb = Replay::start().await;
    tb.query("host1.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::Drop)
        .unwrap();
    tb.advance(EXPIRE).await;
    tb.query("host1.example.lab.", RecordType::A).await;
    until(&tb, true).await;
    let probes = || {
        tb.metrics
            .failure_probes
            .with_label_values(&["failing"])
            .get()
    };
    // Clients every second of virtual time for two minutes.
    let mut waited = Vec::new();
    for _ in 0..120 {
        tb.advance(Duration::from_secs(1)).await;
        let before = probes();
        let r = tb.query("host1.example.lab.", RecordType::A).await;
        assert_eq!(ede_codes(&r).first(), Some(&3));
        // Let a probe started by this query finish (the dead server's
        // timeouts take real time).
        for _ in 0..200 {
            let w = tb.resolver.failure_windows();
            if w.iter().all(|w| !w.probing) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if probes() > before {
            waited.push(tb.resolver.failure_windows()[0].backoff.as_secs());
        }
    }
    eprintln!("long outage: probe backoffs {waited:?} (s)");
    // 2+4+8+16 s, then one per failure-recheck (30 s): at most 7 in 120 s.
    assert!(waited.len() <= 4 + 90 / 30, "{waited:?}");
    assert!(waited.iter().all(|s| *s <= 30));
    // Repaired: `zone retry` closes the window now.
    tb.lab
        .set_fault(&name("example.lab."), Fault::None)
        .unwrap();
    assert_eq!(
        tb.resolver.retry_zone(&name("example.lab.")).await,
        Some(true)
    );
    assert!(tb.resolver.failing_zones().is_empty());
    assert_secure(
        &tb.query("host1.example.lab.", RecordType::A).await,
        "after zone retry",
    );
}

/// Issue 13 item 3: `cache flush --zone` during an outage ends the window
/// and keeps the stale answers flowing.
#[tokio::test(start_paused = true)]
async fn flush_zone_during_outage_keeps_stale_answers() {
    let tb = Replay::start().await;
    let fresh = tb.query("host1.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::Drop)
        .unwrap();
    tb.advance(EXPIRE).await;
    tb.query("host1.example.lab.", RecordType::A).await;
    until(&tb, true).await;
    tb.resolver.flush(Some(&name("example.lab.")), false);
    assert!(
        tb.resolver.failing_zones().is_empty(),
        "the flush ends the window"
    );
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(a_data(&r), a_data(&fresh));
    assert_eq!(ede_codes(&r).first(), Some(&3));
    // A fresh entry flushed is refreshed next time, but stays for stale.
    tb.lab
        .set_fault(&name("example.lab."), Fault::None)
        .unwrap();
    let fresh2 = tb.query("host2.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::Drop)
        .unwrap();
    tb.resolver.flush(None, false);
    let r = tb.query("host2.example.lab.", RecordType::A).await;
    assert_eq!(a_data(&r), a_data(&fresh2));
    assert_eq!(ede_codes(&r).first(), Some(&3), "{r:?}");
    // --drop-stale drops them.
    tb.resolver.flush(None, true);
    let r = tb.query("host2.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

/// Issue 13 item 4: during each validation fault, CD=1 gets what the
/// authority serves now, unvalidated (no AD, no stale copy), for a cached
/// name and for a never-cached one, while the window answers the others.
#[tokio::test(start_paused = true)]
async fn cd_clients_get_the_authority_data_during_validation_faults() {
    for fault in [
        Fault::UnpublishedZsk,
        Fault::KskWithoutDs,
        Fault::ExpiredRrsigs,
        Fault::BadSignatures,
    ] {
        let tb = Replay::start().await;
        for i in 1..=3 {
            tb.query(&format!("host{i}.example.lab."), RecordType::A)
                .await;
        }
        tb.lab
            .set_fault(&name("example.lab."), fault.clone())
            .unwrap();
        tb.advance(EXPIRE).await;
        for i in 1..=3 {
            tb.query(&format!("host{i}.example.lab."), RecordType::A)
                .await;
        }
        until(&tb, true).await;
        let plain = tb.query("host250.example.lab.", RecordType::A).await;
        assert_eq!(
            plain.metadata.response_code,
            ResponseCode::ServFail,
            "{fault}"
        );
        for qname in ["host251.example.lab.", "host1.example.lab."] {
            let r = tb.query_with(qname, RecordType::A, cd()).await;
            assert_eq!(
                r.metadata.response_code,
                ResponseCode::NoError,
                "{fault}: {qname}: {r:?}"
            );
            assert!(!r.metadata.authentic_data, "{fault}: {qname}: never AD");
            assert_eq!(answers_of(&r, RecordType::A), 1, "{fault}: {qname}");
            assert!(
                !ede_codes(&r).contains(&3),
                "{fault}: {qname}: not stale: {r:?}"
            );
        }
    }
}

/// Under an NTA answers carry EDE 33 (draft-farrokhi-dnsop-ede-nta).
#[tokio::test(start_paused = true)]
async fn nta_answers_carry_ede_33() {
    let tb = Replay::start().await;
    tb.resolver
        .ntas()
        .add(
            &name("example.lab."),
            Some(Duration::from_secs(600)),
            "test",
            lastgood_resolver::nta::NtaSource::Api,
            lastgood_resolver::clock::Clock::now(&tb.clock),
        )
        .unwrap();
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authentic_data);
    assert!(ede_codes(&r).contains(&33), "{:?}", ede_codes(&r));
}
