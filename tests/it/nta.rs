//! Negative trust anchors (RFC 7646) end to end: the .de 2026-05-05 case
//! (a TLD's data signed by a ZSK it does not publish) turned from SERVFAIL
//! into unvalidated answers by an NTA, with no cache flush; expiry;
//! recheck lifting it once the zone is fixed; persistence. The ladder
//! tests run on the replay harness (virtual time); those of reused answers
//! (`server::templates`) on sockets.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use lastgood_lab::Fault;
use lastgood_resolver::clock::Clock;
use lastgood_resolver::nta::{NtaSource, NtaStore};

use crate::harness::{Testbed, ede_codes, name};
use crate::replay::Replay;

async fn broken_tld() -> Replay {
    let tb = Replay::start().await;
    tb.lab
        .set_fault(&name("lab."), Fault::UnpublishedZsk)
        .unwrap();
    tb
}

fn add_nta(tb: &impl Clocked, lifetime: Option<Duration>) {
    tb.resolver()
        .ntas()
        .add(
            &name("lab."),
            lifetime,
            "lab. rollover broken",
            NtaSource::Api,
            tb.now(),
        )
        .unwrap();
}

/// A resolver and its clock, on sockets or replayed.
trait Clocked {
    fn resolver(&self) -> &lastgood_resolver::resolve::Resolver;
    fn now(&self) -> lastgood_resolver::clock::Timestamp;
}

impl Clocked for Testbed {
    fn resolver(&self) -> &lastgood_resolver::resolve::Resolver {
        &self.resolver
    }
    fn now(&self) -> lastgood_resolver::clock::Timestamp {
        self.clock.now()
    }
}

impl Clocked for Replay {
    fn resolver(&self) -> &lastgood_resolver::resolve::Resolver {
        &self.resolver
    }
    fn now(&self) -> lastgood_resolver::clock::Timestamp {
        self.clock.now()
    }
}

#[tokio::test(start_paused = true)]
async fn nta_turns_servfail_into_answers_without_flush() {
    let tb = broken_tld().await;
    for q in ["host10.example.lab.", "ns1.lab.", "www.other.lab."] {
        let r = tb.query(q, RecordType::A).await;
        assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{q}");
        assert!(!ede_codes(&r).is_empty(), "{q}: SERVFAIL carries an EDE");
    }
    add_nta(&tb, None);
    // Same names, same cache (Bogus verdicts and keys still in it), no flush.
    for q in ["host10.example.lab.", "ns1.lab.", "www.other.lab."] {
        let r = tb.query(q, RecordType::A).await;
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::NoError,
            "{q}: {r:?}"
        );
        assert!(!r.metadata.authentic_data, "{q}: no AD under an NTA");
        assert!(
            r.answers.iter().any(|rr| rr.record_type() == RecordType::A),
            "{q}"
        );
    }
    // Names outside the NTA still validate.
    let r = tb.query("www.insecure.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(tb.metrics.render().contains(r#"tier="nta""#));
}

#[tokio::test(start_paused = true)]
async fn nta_expires_after_its_lifetime() {
    let tb = broken_tld().await;
    add_nta(&tb, Some(Duration::from_secs(600)));
    let r = tb.query("host11.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    tb.advance(Duration::from_secs(601)).await;
    let r = tb.query("host11.example.lab.", RecordType::A).await;
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::ServFail,
        "NTA over: validation is back"
    );
    assert!(tb.resolver.ntas().list(tb.clock.now()).is_empty());
}

#[tokio::test(start_paused = true)]
async fn recheck_lifts_the_nta_once_the_zone_validates() {
    let tb = broken_tld().await;
    add_nta(&tb, None);
    assert!(
        tb.resolver.recheck_ntas().await.is_empty(),
        "still broken: NTA stays"
    );
    let r = tb.query("host12.example.lab.", RecordType::A).await;
    assert!(!r.metadata.authentic_data);
    tb.lab.set_fault(&name("lab."), Fault::None).unwrap();
    tb.advance(Duration::from_secs(300)).await;
    assert_eq!(tb.resolver.recheck_ntas().await, vec![name("lab.")]);
    let r = tb.query("host12.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(
        r.metadata.authentic_data,
        "secure again after the lift: {r:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn nta_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("lastgood-nta-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nta.json");
    let _ = std::fs::remove_file(&file);
    {
        let tb = broken_tld().await;
        let store = NtaStore::new(Some(file.clone()));
        store
            .add(
                &name("lab."),
                None,
                "persisted",
                NtaSource::Api,
                tb.clock.now(),
            )
            .unwrap();
    }
    // A new process: restore the state file, then resolve through the NTA.
    let restored =
        NtaStore::restore(file.clone(), lastgood_resolver::clock::SystemClock.now()).unwrap();
    let tb = Replay::start_full(|_| {}, Arc::new(restored)).await;
    tb.lab
        .set_fault(&name("lab."), Fault::UnpublishedZsk)
        .unwrap();
    let r = tb.query("host13.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authentic_data);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn stale_tier_still_covers_nta_zones() {
    let tb = Replay::start().await;
    tb.query("host14.example.lab.", RecordType::A).await;
    add_nta(&tb, Some(Duration::from_secs(7 * 86_400)));
    tb.lab
        .set_fault(&name("example.lab."), Fault::Drop)
        .unwrap();
    tb.advance(Duration::from_secs(3601)).await;
    let r = tb.query("host14.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ede_codes(&r).first(), Some(&3));
    assert!(!r.metadata.authentic_data);
}

/// The server reuses encoded fresh answers (`server::templates`); an NTA
/// added or lifted must still change the very next answer, with no flush.
#[tokio::test]
async fn nta_takes_effect_on_reused_answers() {
    let tb = Testbed::start().await;
    let q = "host1.example.lab.";
    let hits = |tb: &Testbed| tb.metrics.cache_hits.get();
    let first = tb.query(q, RecordType::A).await;
    assert!(first.metadata.authentic_data);
    let before = hits(&tb);
    let reused = tb.query(q, RecordType::A).await;
    assert!(reused.metadata.authentic_data);
    assert_eq!(
        reused.answers, first.answers,
        "same data, same TTLs at the same time"
    );
    assert_eq!(hits(&tb), before + 1);

    add_nta(&tb, None);
    let r = tb.query(q, RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authentic_data, "NTA added: AD clear at once");

    tb.resolver.ntas().remove(&name("lab.")).unwrap();
    let r = tb.query(q, RecordType::A).await;
    assert!(r.metadata.authentic_data, "NTA removed: AD back at once");
}

/// Reused answers count their TTLs down with the resolver's clock and end
/// with the data's TTL, after which the ladder answers (here: stale).
#[tokio::test]
async fn reused_answers_count_down_and_expire() {
    let tb = Testbed::start().await;
    let q = "host1.example.lab.";
    let ttl = |m: &hickory_proto::op::Message| m.answers.first().map(|r| r.ttl).unwrap();
    let first = tb.query(q, RecordType::A).await;
    let t0 = ttl(&first);
    tb.advance(Duration::from_secs(10));
    let later = tb.query(q, RecordType::A).await;
    assert_eq!(ttl(&later), t0 - 10);
    assert!(later.metadata.authentic_data);

    tb.lab
        .set_fault(&name("example.lab."), lastgood_lab::Fault::ServFail)
        .unwrap();
    tb.advance(Duration::from_secs(u64::from(t0)));
    let r = tb.query(q, RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(
        ede_codes(&r).contains(&3),
        "past the TTL: stale, not reused: {r:?}"
    );
}
