//! The serve-stale ladder (RFC 8767) against the lab: every refresh
//! failure, the failure-recheck window, the client-response timer,
//! recovery, and upstream load during an outage. On the replay harness
//! (in-process lab, paused virtual time): time past TTLs is advanced,
//! upstream timeouts pass when every task waits; nothing sleeps.

use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use lastgood_lab::Fault;

use crate::harness::{a_data, ede_codes, name};
use crate::replay::Replay;

/// Just past the lab's data TTL (3600 s).
const EXPIRE: Duration = Duration::from_secs(3601);

fn leaf_server() -> IpAddr {
    "127.53.0.3".parse().unwrap()
}

/// Poll until the resolver has a failure window open (the refresh that
/// opens it runs in the background after a client got its stale answer).
async fn until_failing(tb: &Replay) {
    for _ in 0..100 {
        if !tb.resolver.failing_zones().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no failure window opened");
}

async fn stale_case(fault: Fault, cause: u16) {
    let tb = Replay::start().await;
    let fresh = tb.query("host1.example.lab.", RecordType::A).await;
    assert!(fresh.metadata.authentic_data);
    // More names, so that a fault in the zone's signatures is seen on
    // several RRsets: one Bogus RRset is that RRset's failure, not the
    // zone's (fail small, issue 13; `ZONE_EVIDENCE_RRSETS`).
    for i in 2..=lastgood_resolver::limits::ZONE_EVIDENCE_RRSETS {
        tb.query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
    }
    tb.lab
        .set_fault(&name("example.lab."), fault.clone())
        .unwrap();
    tb.advance(EXPIRE).await;

    let t = Instant::now();
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    let first_stale = t.elapsed();
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::NoError,
        "{fault:?}: {r:?}"
    );
    assert_eq!(a_data(&r), a_data(&fresh), "{fault:?}: the old data");
    assert!(
        r.answers.iter().all(|rr| rr.ttl == 30),
        "{fault:?}: stale TTL 30"
    );
    assert!(r.metadata.authentic_data, "{fault:?}: it was Secure");
    assert_eq!(
        ede_codes(&r).first(),
        Some(&3),
        "{fault:?}: {:?}",
        ede_codes(&r)
    );
    for i in 2..=lastgood_resolver::limits::ZONE_EVIDENCE_RRSETS {
        let r = tb
            .query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
        assert_eq!(ede_codes(&r).first(), Some(&3), "{fault:?}: stale");
    }

    until_failing(&tb).await;
    let before = tb.lab.total_queries();
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(
        ede_codes(&r).contains(&3) && ede_codes(&r).contains(&cause),
        "{fault:?}: want 3+{cause}, got {:?}",
        ede_codes(&r)
    );

    let t = Instant::now();
    let r = tb.query("host250.example.lab.", RecordType::A).await;
    let never_cached = t.elapsed();
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::ServFail,
        "{fault:?}"
    );
    assert!(
        ede_codes(&r).contains(&cause),
        "{fault:?}: want {cause}, got {:?}",
        ede_codes(&r)
    );
    assert_eq!(
        tb.lab.total_queries(),
        before,
        "{fault:?}: answered within the failure-recheck window without upstream queries"
    );
    eprintln!(
        "{fault}: first stale answer after {first_stale:?}, never-cached SERVFAIL after {never_cached:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn stale_on_timeout() {
    stale_case(Fault::Drop, 22).await;
}

#[tokio::test(start_paused = true)]
async fn stale_on_servfail() {
    stale_case(Fault::ServFail, 23).await;
}

#[tokio::test(start_paused = true)]
async fn stale_on_refused() {
    stale_case(Fault::Refused, 22).await;
}

#[tokio::test(start_paused = true)]
async fn stale_on_garbage() {
    stale_case(Fault::Garbage, 23).await;
}

#[tokio::test(start_paused = true)]
async fn stale_on_unpublished_zsk() {
    stale_case(Fault::UnpublishedZsk, 9).await;
}

#[tokio::test(start_paused = true)]
async fn stale_on_ksk_without_ds() {
    stale_case(Fault::KskWithoutDs, 9).await;
}

#[tokio::test(start_paused = true)]
async fn stale_on_expired_rrsigs() {
    stale_case(Fault::ExpiredRrsigs, 7).await;
}

#[tokio::test(start_paused = true)]
async fn stale_on_bad_signatures() {
    stale_case(Fault::BadSignatures, 6).await;
}

#[tokio::test(start_paused = true)]
async fn stale_nxdomain_is_ede19() {
    let tb = Replay::start().await;
    let r = tb.query("gone.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    tb.lab
        .set_fault(&name("example.lab."), Fault::ServFail)
        .unwrap();
    tb.advance(EXPIRE).await;
    let r = tb.query("gone.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ede_codes(&r).first(), Some(&19), "{:?}", ede_codes(&r));
}

#[tokio::test(start_paused = true)]
async fn bogus_refresh_never_replaces_validated_data() {
    let tb = Replay::start().await;
    let fresh = tb.query("host2.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::UnpublishedZsk)
        .unwrap();
    tb.advance(EXPIRE).await;
    // Several rounds through failure windows: still the validated data.
    for _ in 0..3 {
        let r = tb.query("host2.example.lab.", RecordType::A).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a_data(&r), a_data(&fresh));
        assert!(r.metadata.authentic_data);
        tb.advance(Duration::from_secs(31)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn never_validated_data_is_never_served_stale() {
    let tb = Replay::start().await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::BadSignatures)
        .unwrap();
    let r = tb.query("host3.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    tb.lab
        .set_fault(&name("example.lab."), Fault::Drop)
        .unwrap();
    tb.advance(EXPIRE).await;
    let r = tb.query("host3.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
    assert!(r.answers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn recovery_replaces_stale_with_fresh() {
    let tb = Replay::start().await;
    tb.query("host4.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::ServFail)
        .unwrap();
    tb.advance(EXPIRE).await;
    let r = tb.query("host4.example.lab.", RecordType::A).await;
    assert_eq!(ede_codes(&r).first(), Some(&3));
    tb.lab
        .set_fault(&name("example.lab."), Fault::None)
        .unwrap();
    // Within the failure-recheck window the answer stays stale...
    let r = tb.query("host4.example.lab.", RecordType::A).await;
    assert_eq!(ede_codes(&r).first(), Some(&3));
    // ...and the first query after it probes, finds the zone back, and is fresh.
    tb.advance(Duration::from_secs(31)).await;
    let r = tb.query("host4.example.lab.", RecordType::A).await;
    assert!(ede_codes(&r).is_empty(), "{:?}", ede_codes(&r));
    assert!(r.metadata.authentic_data);
    assert!(r.answers[0].ttl > 30);
}

#[tokio::test(start_paused = true)]
async fn real_nxdomain_replaces_stale_positive() {
    let tb = Replay::start().await;
    tb.query("host5.example.lab.", RecordType::A).await;
    tb.lab
        .remove_name(&name("example.lab."), &name("host5.example.lab."))
        .unwrap();
    tb.advance(EXPIRE).await;
    let r = tb.query("host5.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{r:?}");
    assert!(r.metadata.authentic_data);
    assert!(ede_codes(&r).is_empty());
}

#[tokio::test(start_paused = true)]
async fn client_response_timer_answers_stale_then_refresh_lands() {
    let tb = Replay::start().await;
    tb.query("host6.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::Slow(Duration::from_secs(3)))
        .unwrap();
    tb.advance(EXPIRE).await;
    let t = Instant::now();
    let r = tb.query("host6.example.lab.", RecordType::A).await;
    let waited = t.elapsed();
    assert_eq!(ede_codes(&r).first(), Some(&3), "stale at the timer");
    assert!(waited >= Duration::from_millis(1800), "{waited:?}");
    eprintln!("client-response timer: stale answer after {waited:?}");
    // The refresh goes on and fills the cache (the slow server answers at ~3 s).
    tb.lab
        .set_fault(&name("example.lab."), Fault::None)
        .unwrap();
    let mut fresh = false;
    for _ in 0..80 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let key = lastgood_resolver::cache::CacheKey::new(
            &name("host6.example.lab."),
            RecordType::A,
            hickory_proto::rr::DNSClass::IN,
            lastgood_resolver::cache::View::Validated,
        );
        if let Some((_, lastgood_resolver::cache::Freshness::Fresh { .. })) = tb
            .resolver
            .cache()
            .get(&key, lastgood_resolver::clock::Clock::now(&tb.clock))
        {
            fresh = true;
            break;
        }
    }
    assert!(fresh, "refresh did not land in the cache");
}

#[tokio::test(start_paused = true)]
async fn outage_does_not_amplify_upstream_load() {
    let tb = Replay::start().await;
    const NAMES: usize = 50;
    for i in 1..=NAMES {
        tb.query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
    }
    tb.lab
        .set_fault(&name("example.lab."), Fault::Drop)
        .unwrap();
    tb.advance(EXPIRE).await;
    let mut per_window = Vec::new();
    for _window in 0..3 {
        let before = tb.lab.queries_received(leaf_server());
        let mut clients = 0;
        for wave in 0..10 {
            let mut tasks = Vec::new();
            for j in 0..100 {
                let (resolver, metrics) = (tb.resolver.clone(), tb.metrics.clone());
                let id = tb.net.next_id();
                let qname = format!("host{}.example.lab.", (wave * 100 + j) % NAMES + 1);
                tasks.push(tokio::spawn(async move {
                    crate::replay::ask(
                        &resolver,
                        &metrics,
                        id,
                        &qname,
                        RecordType::A,
                        crate::harness::Flags::default(),
                    )
                    .await
                }));
            }
            for t in tasks {
                let r = t.await.unwrap();
                assert_eq!(r.metadata.response_code, ResponseCode::NoError);
                assert_eq!(ede_codes(&r).first(), Some(&3));
                clients += 1;
            }
        }
        // Let background refreshes finish before counting the window
        // (virtual time: passes at once).
        tokio::time::sleep(Duration::from_millis(4500)).await;
        per_window.push((clients, tb.lab.queries_received(leaf_server()) - before));
        tb.advance(Duration::from_secs(31)).await;
    }
    eprintln!("outage: (client queries, upstream queries) per 30 s window: {per_window:?}");
    for (clients, upstream) in &per_window {
        assert_eq!(*clients, 1000);
        assert!(
            *upstream <= 10,
            "{upstream} upstream queries for {clients} client queries"
        );
    }
}

/// Regression (found by the interop suite, issue 5): stale records carry
/// exactly stale-answer-ttl, even when their own TTL was shorter.
#[tokio::test(start_paused = true)]
async fn regression_stale_ttl_is_exactly_stale_answer_ttl() {
    let tb = Replay::start_with(|c| c.stale.answer_ttl = Duration::from_secs(7200)).await;
    tb.query("host7.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::ServFail)
        .unwrap();
    tb.advance(EXPIRE).await;
    let r = tb.query("host7.example.lab.", RecordType::A).await;
    assert_eq!(ede_codes(&r).first(), Some(&3));
    assert!(!r.answers.is_empty());
    assert!(r.answers.iter().all(|rr| rr.ttl == 7200), "{:?}", r.answers);
}
