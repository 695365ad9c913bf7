//! Issue 15, part A: what a downstream validator and an operator see in
//! our answers. Proofs in AUTHORITY for DO clients, nothing fabricated,
//! RD=0 from the cache only, TTL knobs, the RFC 8509 root key sentinel.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use lastgood_lab::{Lab, LabConfig, default_zones_dir};
use lastgood_resolver::nta::NtaStore;

use crate::harness::{Flags, Testbed, answers_of, name};

/// Records of `rtype` in `section`, RRSIGs counted by the type they cover.
fn count(section: &[Record], rtype: RecordType) -> usize {
    section.iter().filter(|r| r.record_type() == rtype).count()
}

fn sigs_over(section: &[Record], covered: RecordType) -> usize {
    section
        .iter()
        .filter(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(s)) => s.input().type_covered == covered,
            _ => false,
        })
        .count()
}

/// Every RRset of `section` (other than RRSIGs) has an RRSIG over it.
fn every_rrset_signed(section: &[Record]) -> Result<(), String> {
    for r in section {
        let t = r.record_type();
        if t == RecordType::RRSIG {
            continue;
        }
        let signed = section.iter().any(|s| match &s.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => {
                s.name == r.name && sig.input().type_covered == t
            }
            _ => false,
        });
        if !signed {
            return Err(format!("{} {t} has no RRSIG", r.name));
        }
    }
    Ok(())
}

#[tokio::test]
async fn proofs_in_wildcard_answer_for_do_clients() {
    let tb = Testbed::start().await;
    for _ in 0..2 {
        // Fresh resolution, then from the cache.
        let r = tb.query("anything.wild.example.lab.", RecordType::A).await;
        assert!(r.metadata.authentic_data, "{r:?}");
        assert_eq!(answers_of(&r, RecordType::A), 1);
        assert!(count(&r.authorities, RecordType::NSEC) >= 1, "{r:?}");
        assert!(sigs_over(&r.authorities, RecordType::NSEC) >= 1, "{r:?}");
        every_rrset_signed(&r.authorities).unwrap();
        assert_eq!(count(&r.authorities, RecordType::NS), 0);
    }
    // Without DO there is nothing to prove: no DNSSEC records at all.
    let plain = Flags {
        dnssec_ok: false,
        ..Flags::default()
    };
    let r = tb
        .query_with("anything.wild.example.lab.", RecordType::A, plain)
        .await;
    assert!(r.authorities.is_empty(), "{r:?}");
    // A name that is not a wildcard expansion carries no proof.
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert!(r.authorities.is_empty(), "{r:?}");
}

#[tokio::test]
async fn proofs_in_nxdomain_and_nodata_for_do_clients() {
    let tb = Testbed::start().await;
    let cases = [
        (
            "nope.example.lab.",
            RecordType::A,
            ResponseCode::NXDomain,
            RecordType::NSEC,
        ),
        (
            "nodata.example.lab.",
            RecordType::A,
            ResponseCode::NoError,
            RecordType::NSEC,
        ),
        (
            "nope.lab.",
            RecordType::A,
            ResponseCode::NXDomain,
            RecordType::NSEC3,
        ),
        (
            "ns1.lab.",
            RecordType::TXT,
            ResponseCode::NoError,
            RecordType::NSEC3,
        ),
    ];
    for (qname, qtype, rcode, denial) in cases {
        for round in 0..2 {
            let r = tb.query(qname, qtype).await;
            let what = format!("{qname} {qtype} round {round}: {r:?}");
            assert_eq!(r.metadata.response_code, rcode, "{what}");
            assert!(r.metadata.authentic_data, "{what}");
            assert!(r.answers.is_empty(), "{what}");
            assert_eq!(count(&r.authorities, RecordType::SOA), 1, "{what}");
            assert_eq!(sigs_over(&r.authorities, RecordType::SOA), 1, "{what}");
            assert!(count(&r.authorities, denial) >= 1, "{what}");
            assert!(sigs_over(&r.authorities, denial) >= 1, "{what}");
            every_rrset_signed(&r.authorities).unwrap();
        }
        let plain = Flags {
            dnssec_ok: false,
            ..Flags::default()
        };
        let r = tb.query_with(qname, qtype, plain).await;
        assert_eq!(count(&r.authorities, RecordType::SOA), 1, "{r:?}");
        assert_eq!(r.authorities.len(), 1, "only the SOA without DO: {r:?}");
    }
}

#[tokio::test]
async fn never_fabricate_ad_or_placeholder_soa() {
    let tb = Testbed::start().await;
    let questions = [
        ("host1.example.lab.", RecordType::A),
        ("chain1.example.lab.", RecordType::A),
        ("anything.wild.example.lab.", RecordType::TXT),
        ("nope.example.lab.", RecordType::A),
        ("nodata.example.lab.", RecordType::A),
        ("nope.lab.", RecordType::AAAA),
        ("www.insecure.lab.", RecordType::A),
        ("nope.insecure.lab.", RecordType::A),
        ("example.lab.", RecordType::DNSKEY),
    ];
    for (qname, qtype) in questions {
        let r = tb.query(qname, qtype).await;
        let what = format!("{qname} {qtype}: {r:?}");
        for rec in r.answers.iter().chain(&r.authorities) {
            if let RData::SOA(soa) = &rec.data {
                assert!(
                    !(rec.name.is_root() && soa.serial == 0 && soa.mname.is_root()),
                    "placeholder SOA: {what}"
                );
            }
        }
        if r.metadata.authentic_data {
            every_rrset_signed(&r.answers)
                .map_err(|e| format!("{e}: {what}"))
                .unwrap();
            every_rrset_signed(&r.authorities)
                .map_err(|e| format!("{e}: {what}"))
                .unwrap();
        }
        if qname.ends_with("insecure.lab.") {
            assert!(!r.metadata.authentic_data, "{what}");
        }
    }
}

/// Ask `qname` with RD=0 (DO set).
async fn query_norec(tb: &Testbed, qname: &str, qtype: RecordType) -> Message {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    msg.add_query(Query::query(name(qname), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.set_dnssec_ok(true);
    msg.set_edns(edns);
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&msg.to_vec().unwrap(), tb.addr).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

fn ns_zone(r: &Message) -> Option<Name> {
    r.authorities
        .iter()
        .find(|rec| rec.record_type() == RecordType::NS)
        .map(|rec| rec.name.clone())
}

#[tokio::test]
async fn rd0_answered_from_cache_only() {
    let tb = Testbed::start().await;
    // Nothing cached: a referral to the root from the hints, no recursion.
    let r = query_norec(&tb, "host5.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty() && !r.metadata.authentic_data, "{r:?}");
    assert_eq!(ns_zone(&r), Some(Name::root()), "{r:?}");
    assert!(count(&r.additionals, RecordType::A) >= 1, "{r:?}");
    assert_eq!(tb.lab.total_queries(), 0, "RD=0 sent an upstream query");

    let warm = tb.query("host5.example.lab.", RecordType::A).await;
    assert!(warm.metadata.authentic_data);
    let upstream = tb.lab.total_queries();
    // Cached: the answer itself, validated.
    let r = query_norec(&tb, "host5.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    // Cached CNAME chains and negative answers too.
    tb.query("chain1.example.lab.", RecordType::A).await;
    tb.query("nope.example.lab.", RecordType::A).await;
    let upstream_after_warm = tb.lab.total_queries();
    let r = query_norec(&tb, "chain1.example.lab.", RecordType::A).await;
    assert_eq!(answers_of(&r, RecordType::CNAME), 2, "{r:?}");
    let r = query_norec(&tb, "nope.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{r:?}");
    assert_eq!(count(&r.authorities, RecordType::SOA), 1, "{r:?}");
    // Not cached, but its zone's delegation is: a referral to example.lab.
    let r = query_norec(&tb, "host6.example.lab.", RecordType::A).await;
    assert!(r.answers.is_empty(), "{r:?}");
    assert_eq!(ns_zone(&r), Some(name("example.lab.")), "{r:?}");
    assert!(upstream <= upstream_after_warm);
    assert_eq!(
        tb.lab.total_queries(),
        upstream_after_warm,
        "RD=0 sent an upstream query"
    );
    // And no stale data: once expired, RD=0 refers instead of answering.
    tb.advance(Duration::from_secs(3601));
    let r = query_norec(&tb, "host5.example.lab.", RecordType::A).await;
    assert!(r.answers.is_empty(), "{r:?}");
    assert_eq!(tb.lab.total_queries(), upstream_after_warm);
}

#[tokio::test]
async fn ttl_knobs_bound_cached_ttls() {
    let tb = Testbed::start_with(|c| {
        c.ttl.max = 60;
        c.ttl.max_negative = 10;
    })
    .await;
    let r = tb.query("host7.example.lab.", RecordType::A).await;
    assert!(r.answers.iter().all(|rec| rec.ttl <= 60), "{r:?}");
    let r = tb.query("nope.example.lab.", RecordType::A).await;
    assert!(r.authorities.iter().all(|rec| rec.ttl <= 10), "{r:?}");
    // Cached for 60 s, not the zone's 3600: past it, asked again.
    let before = tb.lab.total_queries();
    tb.advance(Duration::from_secs(30));
    tb.query("host7.example.lab.", RecordType::A).await;
    assert_eq!(tb.lab.total_queries(), before, "still fresh at 30 s");
    tb.advance(Duration::from_secs(31));
    let r = tb.query("host7.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data);
    assert!(
        tb.lab.total_queries() > before,
        "refetched after cache-max-ttl"
    );
}

#[tokio::test]
async fn cache_min_ttl_raises_short_ttls() {
    let mut lab = LabConfig::new(default_zones_dir());
    lab.ttl = Some(20);
    let lab = Lab::start(lab).await.unwrap();
    let tb = Testbed::start_on(lab, |c| c.ttl.min = 600, Arc::new(NtaStore::new(None))).await;
    // Unsigned data: raised to cache-min-ttl, counting down from there.
    let r = tb.query("www.insecure.lab.", RecordType::A).await;
    assert!(
        r.answers.iter().all(|rec| rec.ttl > 20 && rec.ttl <= 600),
        "{r:?}"
    );
    let before = tb.lab.total_queries();
    tb.advance(Duration::from_secs(300));
    let r = tb.query("www.insecure.lab.", RecordType::A).await;
    assert!(
        r.answers.iter().all(|rec| rec.ttl <= 300),
        "counts down: {r:?}"
    );
    assert_eq!(tb.lab.total_queries(), before, "kept past the record TTL");
    // Signed data too (up to the RRSIG's expiration, days away here).
    let r = tb.query("host8.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    assert!(
        r.answers.iter().all(|rec| rec.ttl > 20 && rec.ttl <= 600),
        "{r:?}"
    );
    let before = tb.lab.total_queries();
    tb.advance(Duration::from_secs(300));
    let r = tb.query("host8.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    assert_eq!(tb.lab.total_queries(), before, "signed data kept too");
    // Negative answers keep their own TTL (cache-min-ttl is for RRsets).
    let r = tb.query("nope.example.lab.", RecordType::A).await;
    assert!(r.authorities.iter().all(|rec| rec.ttl <= 20), "{r:?}");
}

#[tokio::test]
async fn root_key_sentinel_rfc_8509() {
    let tb = Testbed::start().await;
    let root_tag = tb.lab.ds_records(&Name::root())[0].key_tag();
    let other = root_tag.wrapping_add(1);
    let q = |label: &str, tag: u16| format!("root-key-sentinel-{label}-{tag:05}.wild.example.lab.");
    let cases = [
        (q("is-ta", root_tag), ResponseCode::NoError),
        (q("is-ta", other), ResponseCode::ServFail),
        (q("not-ta", root_tag), ResponseCode::ServFail),
        (q("not-ta", other), ResponseCode::NoError),
    ];
    for (qname, rcode) in &cases {
        for qtype in [RecordType::A] {
            let r = tb.query(qname, qtype).await;
            assert_eq!(r.metadata.response_code, *rcode, "{qname} {qtype}: {r:?}");
        }
    }
    // Only A/AAAA, only for validating clients (CD=0).
    let (failing, _) = &cases[1];
    let r = tb.query(failing, RecordType::TXT).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    let cd = Flags {
        checking_disabled: true,
        ..Flags::default()
    };
    let r = tb.query_with(failing, RecordType::A, cd).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    // A sentinel label in an insecure zone is answered as is (not AD).
    let r = tb
        .query(
            &format!("root-key-sentinel-is-ta-{other:05}.insecure.lab."),
            RecordType::A,
        )
        .await;
    assert_ne!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
}

#[tokio::test]
async fn ttl_knobs_never_change_stale_ttl() {
    let tb = Testbed::start_with(|c| {
        c.ttl.min = 3600;
        c.ttl.max = 3600;
    })
    .await;
    let fresh = tb.query("host9.example.lab.", RecordType::A).await;
    assert!(fresh.metadata.authentic_data);
    tb.lab
        .set_fault(&name("example.lab."), lastgood_lab::Fault::ServFail)
        .unwrap();
    tb.advance(Duration::from_secs(3601));
    let r = tb.query("host9.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(
        r.answers.iter().all(|rec| rec.ttl == 30),
        "stale-answer-ttl, not cache-min-ttl: {r:?}"
    );
}

/// A DS of algorithm 200 (unassigned) for `child`, tag `tag`.
fn unknown_ds(tag: u16) -> hickory_proto::dnssec::rdata::DS {
    hickory_proto::dnssec::rdata::DS::new(
        tag,
        hickory_proto::dnssec::Algorithm::from_u8(200),
        hickory_proto::dnssec::DigestType::SHA256,
        vec![0x42; 32],
    )
}

#[tokio::test]
async fn unknown_algorithm_ds_alone_is_insecure() {
    let tb = Testbed::start().await;
    let child = name("example.lab.");
    tb.lab.set_ds(&child, &[unknown_ds(4242)]).unwrap();
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert!(!r.metadata.authentic_data, "{r:?}");
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(crate::harness::ede_codes(&r).contains(&1), "EDE 1: {r:?}");
    let r = tb.query("nope.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{r:?}");
    assert!(!r.metadata.authentic_data, "{r:?}");
}

#[tokio::test]
async fn unknown_algorithm_ds_beside_known_is_secure() {
    let tb = Testbed::start().await;
    let child = name("example.lab.");
    let mut ds = tb.lab.ds_records(&child);
    ds.push(unknown_ds(4242));
    tb.lab.set_ds(&child, &ds).unwrap();
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    assert!(crate::harness::ede_codes(&r).is_empty(), "{r:?}");
    // The known DS still decides: with it wrong, the zone is Bogus.
    let tb = Testbed::start().await;
    let mut wrong = tb.lab.ds_records(&child);
    for d in &mut wrong {
        *d = hickory_proto::dnssec::rdata::DS::new(
            d.key_tag(),
            d.algorithm(),
            d.digest_type(),
            vec![0x24; d.digest().len()],
        );
    }
    wrong.push(unknown_ds(4242));
    tb.lab.set_ds(&child, &wrong).unwrap();
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
}
