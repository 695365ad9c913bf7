//! Issue 15: what real authorities send. One test (or more) per
//! behaviour of the iterator: relaxed QNAME minimisation, lame and odd
//! authorities, CNAME chains, DNAME, forwarding everything, IPv6-only
//! name servers. Tests whose servers time out run on the replay harness
//! (virtual time); the others on sockets.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use lastgood_lab::{
    Fault, Lab, LabAlgorithm, LabConfig, NodataFault, StandaloneZone, default_zones_dir,
};
use lastgood_resolver::dnssec::TrustAnchors;
use lastgood_resolver::nta::NtaStore;
use lastgood_resolver::resolve::ResolverConfig;
use lastgood_resolver::resolve::private::{PrivateZone, PrivateZones, ZoneMode};

use crate::harness::{Flags, Testbed, a_data, answers_of, ede_codes, name};
use crate::replay::Replay;
use crate::replay::net::Authority;

/// Upstream queries the resolver sent so far (every outcome).
fn upstream_queries(tb: &Testbed) -> u64 {
    tb.lab.total_queries()
}

fn patient() -> Flags {
    Flags {
        timeout: Duration::from_secs(20),
        ..Flags::default()
    }
}

fn assert_wildcard_answer(r: &Message) {
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(answers_of(r, RecordType::A), 1, "{r:?}");
    assert!(r.metadata.authentic_data, "{r:?}");
}

// --- 1. Relaxed QNAME minimisation (RFC 9156 §2.3) ---

/// `x.wild.example.lab.` is asked minimised as `wild.example.lab. A`, an
/// empty non-terminal: a server that breaks on NODATA answers that
/// question with an error, silence or a lame reply. Relaxed mode asks
/// the full name of the same zone and gets the wildcard answer.
async fn relaxed_case(kind: NodataFault) {
    let tb = Replay::start().await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::BrokenNodata(kind))
        .unwrap();
    let r = tb
        .query_with("x.wild.example.lab.", RecordType::A, patient())
        .await;
    assert_wildcard_answer(&r);
}

#[tokio::test(start_paused = true)]
async fn relaxed_minimisation_after_servfail() {
    relaxed_case(NodataFault::ServFail).await;
}

#[tokio::test(start_paused = true)]
async fn relaxed_minimisation_after_refused() {
    relaxed_case(NodataFault::Refused).await;
}

#[tokio::test(start_paused = true)]
async fn relaxed_minimisation_after_formerr() {
    relaxed_case(NodataFault::FormErr).await;
}

#[tokio::test(start_paused = true)]
async fn relaxed_minimisation_after_notimp() {
    relaxed_case(NodataFault::NotImp).await;
}

#[tokio::test(start_paused = true)]
async fn relaxed_minimisation_after_lame_empty_answer() {
    relaxed_case(NodataFault::Lame).await;
}

#[tokio::test(start_paused = true)]
async fn relaxed_minimisation_after_timeouts() {
    relaxed_case(NodataFault::Drop).await;
}

/// Without the fault, the same name costs no fallback query: the
/// minimised ENT question is answered NODATA and remembered.
#[tokio::test]
async fn relaxed_minimisation_costs_nothing_when_servers_behave() {
    let tb = Testbed::start().await;
    let r = tb.query("x.wild.example.lab.", RecordType::A).await;
    assert_wildcard_answer(&r);
    let before = upstream_queries(&tb);
    let r = tb.query("y.wild.example.lab.", RecordType::A).await;
    assert_wildcard_answer(&r);
    assert_eq!(
        upstream_queries(&tb) - before,
        1,
        "a second name below the ENT costs one query"
    );
}

// --- 2. Lame and odd authorities ---

/// One server holds every zone of the lab (root, signed `lab.`, signed
/// `example.lab.`, unsigned `insecure.lab.`): asked at the root it
/// answers each child's data itself, authoritatively. The answer belongs
/// to the child zone, so the unsigned child is Insecure (not Bogus for
/// lacking the root's signatures) and the signed one Secure.
async fn one_server_for_parent_and_child(minimise: bool) {
    let lab = Lab::start(LabConfig {
        listen: Some(IpAddr::V4(lastgood_lab::ROOT_SERVER)),
        ..LabConfig::new(default_zones_dir())
    })
    .await
    .unwrap();
    let tb = Testbed::start_on(
        lab,
        |c| c.qname_minimisation = minimise,
        Arc::new(NtaStore::new(None)),
    )
    .await;
    let r = tb.query("www.insecure.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(!r.metadata.authentic_data, "unsigned child: no AD");
    let r = tb.query("nope.insecure.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{r:?}");
    assert!(!r.metadata.authentic_data);
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(r.metadata.authentic_data, "signed child: AD {r:?}");
    let r = tb.query("nope.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{r:?}");
    assert!(r.metadata.authentic_data, "{r:?}");
}

#[tokio::test]
async fn parent_server_also_authoritative_for_child() {
    one_server_for_parent_and_child(true).await;
}

#[tokio::test]
async fn parent_server_also_authoritative_for_child_without_minimisation() {
    one_server_for_parent_and_child(false).await;
}

// --- 9. Forward everything ---

/// `[[forward-zone]] name = "."` to `upstream`, validating from `anchor`
/// (else from the lab's own).
fn forward_root(c: &mut ResolverConfig, upstream: SocketAddr, anchor: Option<&str>, first: bool) {
    if let Some(anchor) = anchor {
        c.anchors = TrustAnchors::parse(anchor, "forwarded root anchor").unwrap();
    }
    c.private_zones = PrivateZones::new(vec![PrivateZone {
        name: Name::root(),
        mode: ZoneMode::Forward,
        servers: vec![upstream],
        secure: true,
        forward_first: first,
    }]);
}

/// A second lastgood (`b`) forwarding every question to a first one
/// (`a`) that iterates the lab.
async fn forwarding_pair() -> (Testbed, Testbed) {
    let a = Testbed::start().await;
    let (addr, anchor) = (a.addr, a.lab.trust_anchor());
    let b = Testbed::start_with(move |c| forward_root(c, addr, Some(&anchor), false)).await;
    (a, b)
}

#[tokio::test]
async fn forward_all_validates_from_the_root_anchor() {
    let (a, b) = forwarding_pair().await;
    let b_lab_before = b.lab.total_queries();
    let r = b.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(r.metadata.authentic_data, "signed: AD {r:?}");
    // A wildcard answer: the forwarder sends the NSEC proving no closer
    // match (item 5), so it validates here too.
    let r = b.query("anything.wild.example.lab.", RecordType::A).await;
    assert_wildcard_answer(&r);
    assert!(
        r.metadata.authentic_data,
        "wildcard through the forwarder: AD {r:?}"
    );
    let r = b.query("nope.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authentic_data, "NSEC3 NXDOMAIN: AD {r:?}");
    let r = b.query("www.insecure.lab.", RecordType::A).await;
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(!r.metadata.authentic_data, "unsigned zone: Insecure {r:?}");
    let r = b.query("nope.insecure.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{r:?}");
    let r = b.query("www.other.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    assert_eq!(
        b.lab.total_queries(),
        b_lab_before,
        "nothing goes past the forwarder"
    );
    drop(a);
}

#[tokio::test]
async fn forward_all_bogus_is_servfail() {
    let (a, b) = forwarding_pair().await;
    a.lab
        .set_fault(&name("example.lab."), Fault::BadSignatures)
        .unwrap();
    let r = b.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
    assert!(!ede_codes(&r).is_empty());
}

/// On the replay harness: the dead forwarder's timeouts and the
/// client-response timer pass in virtual time.
#[tokio::test(start_paused = true)]
async fn forward_all_serves_stale_when_forwarders_fail() {
    // `a` iterates the lab; `b` forwards everything to it (in-process, as
    // an authority of `b`'s replay network at A).
    const A: &str = "127.0.0.99:53";
    let a = Replay::start().await;
    let (resolver, metrics, anchor) = (a.resolver.clone(), a.metrics.clone(), a.lab.trust_anchor());
    let b = Replay::start_with(move |c| forward_root(c, A.parse().unwrap(), Some(&anchor), false))
        .await;
    b.net
        .set(A.parse().unwrap(), Authority::Resolver(resolver, metrics));
    let fresh = b.query("host1.example.lab.", RecordType::A).await;
    assert!(fresh.metadata.authentic_data);
    // `a` is gone.
    b.net.set(A.parse().unwrap(), Authority::Nothing);
    b.advance(Duration::from_secs(3601)).await;
    let r = b
        .query_with("host1.example.lab.", RecordType::A, patient())
        .await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(a_data(&r), a_data(&fresh));
    assert_eq!(ede_codes(&r).first(), Some(&3), "stale {r:?}");
    assert!(r.answers.iter().all(|rr| rr.ttl == 30));
}

/// `forward-first`: the forwarder is dead, so the resolver iterates
/// from its root hints; without it, SERVFAIL.
#[tokio::test(start_paused = true)]
async fn forward_first_falls_back_to_iteration() {
    let dead: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let tb = Replay::start_with(|c| forward_root(c, dead, None, true)).await;
    let r = tb
        .query_with("host1.example.lab.", RecordType::A, patient())
        .await;
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(r.metadata.authentic_data, "{r:?}");

    let tb = Replay::start_with(|c| forward_root(c, dead, None, false)).await;
    let r = tb
        .query_with("host1.example.lab.", RecordType::A, patient())
        .await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
}

// --- 3. CNAME chains ---

/// Every record of an answer, as (owner, type, data) text.
fn records(r: &Message) -> Vec<String> {
    r.answers
        .iter()
        .map(|rr| format!("{} {} {}", rr.name, rr.record_type(), rr.data))
        .collect()
}

fn assert_no_duplicates(r: &Message) {
    let mut all = records(r);
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a record appears twice: {:#?}", records(r));
}

/// x.dname.example.lab. -> x.other.lab. -> y.dname.example.lab. ->
/// y.other.lab.: the DNAME at dname.example.lab. redirects twice but is
/// sent once.
#[tokio::test]
async fn cname_chain_has_no_record_twice() {
    let tb = Testbed::start().await;
    let r = tb.query("x.dname.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(a_data(&r).len(), 1, "{:#?}", records(&r));
    assert_eq!(answers_of(&r, RecordType::DNAME), 1, "{:#?}", records(&r));
    assert_eq!(answers_of(&r, RecordType::CNAME), 3, "{:#?}", records(&r));
    assert_no_duplicates(&r);
    assert!(r.metadata.authentic_data, "{r:?}");
}

/// A CNAME whose target lies in a sibling zone is chased at the
/// target's own servers (the CNAME's zone holds no data for it) and each
/// link is validated with its own zone's keys: signed -> signed keeps AD,
/// signed -> unsigned answers without AD (never Bogus).
#[tokio::test]
async fn cname_into_sibling_zones_validates_each_link() {
    let tb = Testbed::start().await;
    let r = tb.query("to-other.example.lab.", RecordType::A).await;
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(r.metadata.authentic_data, "signed -> signed {r:?}");
    let r = tb.query("to-insecure.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(!r.metadata.authentic_data, "signed -> unsigned {r:?}");
    assert_no_duplicates(&r);
}

/// Out-of-bailiwick target data sent with a CNAME is not used: under
/// the `poison` fault every answer of other.lab. also carries an A
/// record for host1.example.lab.; the chain to it is still answered with
/// example.lab.'s own (validated) data.
#[tokio::test]
async fn cname_target_data_out_of_bailiwick_is_chased() {
    let tb = Testbed::start().await;
    tb.lab
        .set_fault(&name("insecure.lab."), Fault::Poison)
        .unwrap();
    let r = tb.query("to-insecure.example.lab.", RecordType::A).await;
    let poison = hickory_proto::rr::RData::A(lastgood_lab::fault::POISON_ADDR.into());
    assert!(!a_data(&r).contains(&poison), "{r:?}");
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert!(!a_data(&r).contains(&poison), "{r:?}");
    assert!(r.metadata.authentic_data);
}

// --- 4. DNAME (RFC 6672) ---

/// The answer: the DNAME (signed), the CNAME it implies with the
/// DNAME's TTL, and the target's data; AD because the DNAME validated
/// (the synthesised CNAME is covered by it, RFC 6672 §5.3.3).
async fn dname_case(fault: Fault) {
    let tb = Testbed::start().await;
    tb.lab.set_fault(&name("example.lab."), fault).unwrap();
    let r = tb.query("www.dname.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    let dname: Vec<_> = r
        .answers
        .iter()
        .filter(|rr| rr.record_type() == RecordType::DNAME)
        .collect();
    assert_eq!(dname.len(), 1, "{:#?}", records(&r));
    assert_eq!(dname[0].name, name("dname.example.lab."));
    let cname: Vec<_> = r
        .answers
        .iter()
        .filter(|rr| rr.record_type() == RecordType::CNAME)
        .collect();
    assert_eq!(cname.len(), 1, "{:#?}", records(&r));
    assert_eq!(cname[0].name, name("www.dname.example.lab."));
    assert_eq!(
        cname[0].data,
        hickory_proto::rr::RData::CNAME(hickory_proto::rr::rdata::CNAME(name("www.other.lab.")))
    );
    assert_eq!(cname[0].ttl, dname[0].ttl, "the CNAME has the DNAME's TTL");
    assert_eq!(a_data(&r).len(), 1, "{:#?}", records(&r));
    let dname_pos = r
        .answers
        .iter()
        .position(|rr| rr.record_type() == RecordType::DNAME);
    let cname_pos = r
        .answers
        .iter()
        .position(|rr| rr.record_type() == RecordType::CNAME);
    assert!(dname_pos < cname_pos, "DNAME first");
    assert!(r.metadata.authentic_data, "the DNAME validated {r:?}");
}

#[tokio::test]
async fn dname_redirects_with_synthesised_cname() {
    dname_case(Fault::None).await;
}

#[tokio::test]
async fn dname_redirects_when_the_authority_sends_no_cname() {
    dname_case(Fault::DnameWithoutCname).await;
}

/// A DNAME into an unsigned zone: the DNAME link is Secure, the target
/// Insecure, so no AD; the answer is still given.
#[tokio::test]
async fn dname_into_unsigned_zone_answers_without_ad() {
    let tb = Testbed::start().await;
    let r = tb.query("www.idname.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(a_data(&r).len(), 1, "{:#?}", records(&r));
    assert!(!r.metadata.authentic_data);
}

/// A DNAME whose signature does not verify: SERVFAIL, never the
/// redirected data.
#[tokio::test]
async fn dname_with_bad_signature_is_bogus() {
    let tb = Testbed::start().await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::BadSignatures)
        .unwrap();
    let r = tb.query("www.dname.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
}

// --- 12. Name server addresses (IPv6) ---

/// A lab whose `zone` (unsigned, zones/v6.zone) is served only on
/// [::1], at the main lab's port; on the replay harness (the dead IPv4
/// server's timeouts pass in virtual time).
async fn v6_testbed(zone: &str, do_ip6: bool) -> (Replay, Arc<Lab>) {
    let tb = Replay::start_with(move |c| c.do_ip6 = do_ip6).await;
    let v6 = Arc::new(
        Lab::standalone_in_process(StandaloneZone {
            origin: name(zone),
            file: default_zones_dir().join("v6.zone"),
            servers: vec!["::1".parse().unwrap()],
            denial: None,
            algorithm: LabAlgorithm::EcdsaP256,
            port: tb.lab.port(),
        })
        .await
        .unwrap(),
    );
    tb.net.add_lab(Arc::clone(&v6));
    (tb, v6)
}

/// The zone's only name server has an AAAA record and no A: resolved
/// without glue, asked over IPv6.
#[tokio::test(start_paused = true)]
async fn zone_served_only_over_ipv6_resolves() {
    let (tb, v6) = v6_testbed("v6only.lab.", true).await;
    let r = tb
        .query_with("www.v6only.lab.", RecordType::A, patient())
        .await;
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(v6.total_queries() > 0);
}

/// The name server's IPv4 address answers nothing: its IPv6 one is
/// asked instead.
#[tokio::test(start_paused = true)]
async fn ipv6_server_used_when_ipv4_fails() {
    let (tb, v6) = v6_testbed("dual.lab.", true).await;
    let r = tb
        .query_with("www.dual.lab.", RecordType::A, patient())
        .await;
    assert_eq!(answers_of(&r, RecordType::A), 1, "{r:?}");
    assert!(v6.total_queries() > 0);
}

/// `do-ip6 = false`: IPv6 name server addresses are never used.
#[tokio::test(start_paused = true)]
async fn do_ip6_off_never_asks_over_ipv6() {
    let (tb, v6) = v6_testbed("v6only.lab.", false).await;
    let r = tb
        .query_with("www.v6only.lab.", RecordType::A, patient())
        .await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
    assert_eq!(v6.total_queries(), 0);
}
