//! The fresh path end to end: the resolver on real sockets in front of an
//! in-process signed lab hierarchy (root, lab. with NSEC3, example.lab.
//! and other.lab. with NSEC, unsigned insecure.lab.).

use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use lastgood_lab::Fault;

use crate::harness::{Flags, Testbed, answers_of, ede_codes, name};

#[tokio::test]
async fn secure_answers_have_ad() {
    let tb = Testbed::start().await;
    for qtype in [RecordType::A, RecordType::AAAA, RecordType::TXT] {
        let r = tb.query("host1.example.lab.", qtype).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{qtype}");
        assert!(r.metadata.authentic_data, "{qtype} not AD");
        assert_eq!(answers_of(&r, qtype), 1, "{qtype}: {r:?}");
        assert_eq!(
            answers_of(&r, RecordType::RRSIG),
            1,
            "{qtype}: DO=1 returns the RRSIG"
        );
    }
}

#[tokio::test]
async fn cold_and_warm_latency() {
    let tb = Testbed::start().await;
    let t = Instant::now();
    let r = tb.query("host2.example.lab.", RecordType::A).await;
    let cold = t.elapsed();
    assert!(r.metadata.authentic_data);
    let t = Instant::now();
    let r = tb.query("host2.example.lab.", RecordType::A).await;
    let warm = t.elapsed();
    assert!(r.metadata.authentic_data);
    // Figures for the closing note, not assertions on speed.
    eprintln!(
        "latency: cold {cold:?} ({} upstream queries), warm {warm:?}",
        tb.lab.total_queries()
    );
}

#[tokio::test]
async fn cname_chain_is_followed_and_secure() {
    let tb = Testbed::start().await;
    let r = tb.query("chain1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authentic_data);
    assert_eq!(answers_of(&r, RecordType::CNAME), 2, "{r:?}");
    assert_eq!(answers_of(&r, RecordType::A), 1);
}

#[tokio::test]
async fn wildcard_expansion_is_secure() {
    let tb = Testbed::start().await;
    let r = tb.query("anything.wild.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authentic_data, "{r:?}");
    let a = r
        .answers
        .iter()
        .find(|rr| rr.record_type() == RecordType::A)
        .unwrap();
    assert_eq!(a.name, name("anything.wild.example.lab."));
}

#[tokio::test]
async fn nxdomain_and_nodata_with_nsec_are_secure() {
    let tb = Testbed::start().await;
    let r = tb.query("nope.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authentic_data, "{r:?}");
    assert!(
        r.authorities
            .iter()
            .any(|rr| rr.record_type() == RecordType::NSEC)
    );
    let r = tb.query("nodata.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert!(r.metadata.authentic_data, "{r:?}");
}

#[tokio::test]
async fn nxdomain_and_nodata_with_nsec3_are_secure() {
    let tb = Testbed::start().await;
    let r = tb.query("nope.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authentic_data, "{r:?}");
    assert!(
        r.authorities
            .iter()
            .any(|rr| rr.record_type() == RecordType::NSEC3)
    );
    let r = tb.query("ns1.lab.", RecordType::TXT).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert!(r.metadata.authentic_data, "{r:?}");
}

#[tokio::test]
async fn insecure_delegation_answers_without_ad() {
    let tb = Testbed::start().await;
    let r = tb.query("www.insecure.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(!r.metadata.authentic_data);
    assert_eq!(answers_of(&r, RecordType::A), 1);
}

#[tokio::test]
async fn glueless_delegation_resolves() {
    let tb = Testbed::start().await;
    let r = tb.query("www.other.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert!(r.metadata.authentic_data);
}

#[tokio::test]
async fn do_clear_strips_dnssec_records() {
    let tb = Testbed::start().await;
    let flags = Flags {
        dnssec_ok: false,
        ..Flags::default()
    };
    let r = tb
        .query_with("host1.example.lab.", RecordType::A, flags)
        .await;
    assert_eq!(answers_of(&r, RecordType::A), 1);
    assert_eq!(answers_of(&r, RecordType::RRSIG), 0);
}

async fn bogus_case(fault: Fault, want_ede: u16) {
    let tb = Testbed::start().await;
    tb.lab
        .set_fault(&name("example.lab."), fault.clone())
        .unwrap();
    let r = tb.query("host3.example.lab.", RecordType::A).await;
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::ServFail,
        "{fault:?}: {r:?}"
    );
    assert!(
        ede_codes(&r).contains(&want_ede),
        "{fault:?}: want EDE {want_ede}, got {:?}",
        ede_codes(&r)
    );
    // CD=1: the client validates itself, so it gets the data, without AD.
    let cd = Flags {
        checking_disabled: true,
        ..Flags::default()
    };
    let r = tb.query_with("host3.example.lab.", RecordType::A, cd).await;
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::NoError,
        "{fault:?} CD: {r:?}"
    );
    assert!(!r.metadata.authentic_data);
    assert_eq!(answers_of(&r, RecordType::A), 1);
    // and the bogus data never reaches a validating client afterwards
    let r = tb.query("host3.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn tampered_signature_is_bogus_ede6() {
    bogus_case(Fault::BadSignatures, 6).await;
}

#[tokio::test]
async fn unpublished_zsk_is_dnskey_missing_ede9() {
    bogus_case(Fault::UnpublishedZsk, 9).await;
}

#[tokio::test]
async fn expired_rrsigs_are_ede7() {
    bogus_case(Fault::ExpiredRrsigs, 7).await;
}

#[tokio::test]
async fn ksk_without_ds_is_ede9() {
    bogus_case(Fault::KskWithoutDs, 9).await;
}

/// On the replay harness: the dead server's timeouts pass in virtual time.
#[tokio::test(start_paused = true)]
async fn unreachable_authority_is_servfail_ede22() {
    let tb = crate::replay::Replay::start().await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::Drop)
        .unwrap();
    let r = tb.query("host4.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert!(ede_codes(&r).contains(&22), "{:?}", ede_codes(&r));
}

#[tokio::test]
async fn ttls_count_down_from_cache() {
    let tb = Testbed::start().await;
    let r = tb.query("host5.example.lab.", RecordType::A).await;
    let ttl0 = r.answers[0].ttl;
    let before = tb.lab.total_queries();
    tb.advance(Duration::from_secs(100));
    let r = tb.query("host5.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data);
    assert_eq!(r.answers[0].ttl, ttl0 - 100);
    assert_eq!(tb.lab.total_queries(), before, "answered from cache");
    assert!(tb.resolver.cache().entry_count() > 0);
}

#[tokio::test]
async fn metrics_count_answers_and_validation() {
    let tb = Testbed::start().await;
    tb.query("host8.example.lab.", RecordType::A).await;
    tb.query("host8.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::BadSignatures)
        .unwrap();
    tb.query("host9.example.lab.", RecordType::A).await;
    let text = tb.metrics.render();
    for want in [
        r#"lastgood_queries_total{rcode="NOERROR",tier="fresh"} 2"#,
        r#"lastgood_queries_total{rcode="SERVFAIL",tier="servfail"} 1"#,
        r#"lastgood_validation_total{ede="6",outcome="bogus"} 1"#,
        "lastgood_cache_hits_total 1",
    ] {
        assert!(text.contains(want), "missing {want} in\n{text}");
    }
}

#[tokio::test]
async fn concurrent_identical_misses_are_coalesced() {
    let tb = Testbed::start().await;
    // Warm the path so only the leaf query remains.
    tb.query("host6.example.lab.", RecordType::A).await;
    let before = tb.lab.queries_received("127.53.0.3".parse().unwrap());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let addr = tb.addr;
        tasks.push(tokio::spawn(async move {
            crate::harness::query(addr, "host7.example.lab.", RecordType::A, Flags::default()).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert!(r.metadata.authentic_data);
        assert!(matches!(
            r.answers
                .iter()
                .find(|a| a.record_type() == RecordType::A)
                .map(|a| &a.data),
            Some(RData::A(_))
        ));
    }
    let sent = tb.lab.queries_received("127.53.0.3".parse().unwrap()) - before;
    assert_eq!(sent, 1, "50 identical client queries, {sent} upstream");
}
