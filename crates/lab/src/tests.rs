//! A whole lab over real sockets: referrals, signed answers, denial proofs,
//! truncation, TCP, faults, counters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::Verifier;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, NSEC3, RRSIG};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::sign::nsec3_hash;
use super::*;

const ROOT: u8 = 1;
const TLD: u8 = 2;
const LEAF: u8 = 3;
const INSECURE: u8 = 4;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 53, 0, last))
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

async fn lab() -> Lab {
    Lab::start(LabConfig::new(default_zones_dir()))
        .await
        .unwrap()
}

fn query(qname: &str, qtype: RecordType, dnssec: bool, payload: Option<u16>) -> Message {
    let mut msg = Message::query();
    msg.add_query(Query::query(name(qname), qtype));
    if dnssec || payload.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(payload.unwrap_or(1232));
        edns.set_dnssec_ok(dnssec);
        msg.set_edns(edns);
    }
    msg
}

async fn udp_raw(lab: &Lab, server: u8, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(bytes, SocketAddr::new(ip(server), lab.port()))
        .await
        .unwrap();
    let mut buf = vec![0u8; 65535];
    let (len, _) = tokio::time::timeout(wait, socket.recv_from(&mut buf))
        .await
        .ok()?
        .unwrap();
    Some(buf[..len].to_vec())
}

async fn udp(lab: &Lab, server: u8, msg: &Message) -> Message {
    let bytes = udp_raw(lab, server, &msg.to_vec().unwrap(), Duration::from_secs(2))
        .await
        .expect("no answer");
    let response = Message::from_vec(&bytes).unwrap();
    assert_eq!(response.metadata.id, msg.metadata.id);
    response
}

async fn ask(lab: &Lab, server: u8, qname: &str, qtype: RecordType) -> Message {
    udp(lab, server, &query(qname, qtype, true, None)).await
}

async fn tcp_exchange(stream: &mut TcpStream, msg: &Message) -> Message {
    let bytes = msg.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.unwrap();
    Message::from_vec(&body).unwrap()
}

fn rrsig(record: &Record) -> Option<&RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig),
        _ => None,
    }
}

fn dnskeys(msg: &Message) -> Vec<DNSKEY> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

fn of_type(records: &[Record], rtype: RecordType) -> Vec<&Record> {
    records
        .iter()
        .filter(|r| r.record_type() == rtype)
        .collect()
}

/// Every RRSIG in `records` verifies over its RRset with one of `keys`;
/// returns how many were checked.
fn verify_section(records: &[Record], keys: &[DNSKEY]) -> usize {
    let mut checked = 0;
    for sig_record in records {
        let Some(sig) = rrsig(sig_record) else {
            continue;
        };
        let covered: Vec<Record> = records
            .iter()
            .filter(|r| r.name == sig_record.name && r.record_type() == sig.input().type_covered)
            .cloned()
            .collect();
        assert!(
            !covered.is_empty(),
            "RRSIG without RRset at {}",
            sig_record.name
        );
        let ok = keys.iter().any(|k| {
            k.verify_rrsig(&sig_record.name, DNSClass::IN, sig, covered.iter())
                .is_ok()
        });
        assert!(
            ok,
            "RRSIG over {} {} fails",
            sig_record.name,
            sig.input().type_covered
        );
        checked += 1;
    }
    checked
}

async fn zone_keys(lab: &Lab, server: u8, zone: &str) -> Vec<DNSKEY> {
    let response = ask(lab, server, zone, RecordType::DNSKEY).await;
    let keys = dnskeys(&response);
    assert_eq!(verify_section(&response.answers, &keys), 1);
    keys
}

#[tokio::test]
async fn referral_from_root_carries_signed_ds_and_glue() {
    let lab = lab().await;
    let r = ask(&lab, ROOT, "host1.example.lab.", RecordType::A).await;
    assert!(!r.metadata.authoritative);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    let ns = of_type(&r.authorities, RecordType::NS);
    assert_eq!(ns.len(), 1);
    assert_eq!(ns[0].name, name("lab."));
    assert_eq!(of_type(&r.authorities, RecordType::DS).len(), 1);
    assert_eq!(
        of_type(&r.additionals, RecordType::A)[0].name,
        name("ns1.lab.")
    );
    let root_keys = zone_keys(&lab, ROOT, ".").await;
    assert_eq!(verify_section(&r.authorities, &root_keys), 1);
    // The DS in the referral is the KSK of lab.; the trust anchor is root's KSK.
    let lab_keys = zone_keys(&lab, TLD, "lab.").await;
    let ds = lab.ds_records(&name("lab."));
    assert!(
        lab_keys
            .iter()
            .any(|k| ds[0].covers(&name("lab."), k).unwrap())
    );
    let anchor = lab.ds_records(&Name::root());
    assert!(
        root_keys
            .iter()
            .any(|k| anchor[0].covers(&Name::root(), k).unwrap())
    );
    assert!(lab.trust_anchor().starts_with(". 3600 IN DS "));
    assert!(lab.root_hints().contains("a.root-servers.lab."));
    // Without DO: no DS, no RRSIG.
    let plain = udp(
        &lab,
        ROOT,
        &query("host1.example.lab.", RecordType::A, false, None),
    )
    .await;
    assert!(of_type(&plain.authorities, RecordType::DS).is_empty());
    assert!(plain.edns.is_none());
}

#[tokio::test]
async fn signed_answer_verifies_up_the_chain() {
    let lab = lab().await;
    let r = ask(&lab, LEAF, "HOST1.example.lab.", RecordType::A).await;
    assert!(r.metadata.authoritative);
    assert_eq!(
        r.queries[0].name().to_ascii(),
        "HOST1.example.lab.",
        "question echoed as sent"
    );
    assert_eq!(of_type(&r.answers, RecordType::A).len(), 1);
    assert_eq!(r.answers[0].ttl, 3600);
    let keys = zone_keys(&lab, LEAF, "example.lab.").await;
    assert_eq!(verify_section(&r.answers, &keys), 1);
    let ds = lab.ds_records(&name("example.lab."));
    assert!(
        keys.iter()
            .any(|k| k.is_key_signing_key() && ds[0].covers(&name("example.lab."), k).unwrap())
    );
    // The DS at lab. is answered authoritatively and signed by lab.
    let r = ask(&lab, TLD, "example.lab.", RecordType::DS).await;
    assert!(r.metadata.authoritative);
    let tld_keys = zone_keys(&lab, TLD, "lab.").await;
    assert_eq!(verify_section(&r.answers, &tld_keys), 1);
}

#[tokio::test]
async fn nxdomain_nsec_and_nsec3_proofs() {
    let lab = lab().await;
    let r = ask(&lab, LEAF, "nope.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authoritative);
    assert_eq!(of_type(&r.authorities, RecordType::SOA).len(), 1);
    assert_eq!(of_type(&r.authorities, RecordType::SOA)[0].ttl, 300);
    assert_eq!(of_type(&r.authorities, RecordType::NSEC).len(), 2);
    let keys = zone_keys(&lab, LEAF, "example.lab.").await;
    assert_eq!(verify_section(&r.authorities, &keys), 3);

    let r = ask(&lab, TLD, "nope.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    let nsec3 = of_type(&r.authorities, RecordType::NSEC3);
    assert!(nsec3.len() >= 2, "{nsec3:?}");
    let keys = zone_keys(&lab, TLD, "lab.").await;
    assert_eq!(verify_section(&r.authorities, &keys), 1 + nsec3.len());
}

#[tokio::test]
async fn insecure_delegation_ds_nodata_with_nsec3() {
    let lab = lab().await;
    let r = ask(&lab, TLD, "insecure.lab.", RecordType::DS).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert!(r.answers.is_empty());
    let nsec3 = of_type(&r.authorities, RecordType::NSEC3);
    assert_eq!(nsec3.len(), 1);
    let hash = nsec3_hash(&name("insecure.lab."), 0).unwrap();
    let label = data_encoding::BASE32_DNSSEC.encode(&hash);
    assert_eq!(nsec3[0].name, name(&format!("{label}.lab.")));
    let RData::DNSSEC(DNSSECRData::NSEC3(n)) = &nsec3[0].data else {
        panic!()
    };
    let n: &NSEC3 = n;
    assert_eq!(n.type_bit_maps().collect::<Vec<_>>(), vec![RecordType::NS]);
    // The referral to it carries the same proof instead of a DS.
    let r = ask(&lab, TLD, "www.insecure.lab.", RecordType::A).await;
    assert!(!r.metadata.authoritative);
    assert_eq!(of_type(&r.authorities, RecordType::NSEC3).len(), 1);
    assert_eq!(
        of_type(&r.additionals, RecordType::A)[0].name,
        name("ns1.insecure.lab.")
    );
    // The unsigned zone answers without RRSIGs even with DO.
    let r = ask(&lab, INSECURE, "www.insecure.lab.", RecordType::A).await;
    assert!(r.metadata.authoritative);
    assert_eq!(r.answers.len(), 1);
}

#[tokio::test]
async fn glueless_delegation_has_no_glue() {
    let lab = lab().await;
    let r = ask(&lab, TLD, "www.other.lab.", RecordType::A).await;
    let ns = of_type(&r.authorities, RecordType::NS);
    assert_eq!(
        ns[0].data,
        RData::NS(hickory_proto::rr::rdata::NS(name("ns2.example.lab.")))
    );
    assert!(r.additionals.is_empty());
    assert_eq!(of_type(&r.authorities, RecordType::DS).len(), 1);
    let r = ask(&lab, LEAF, "www.other.lab.", RecordType::A).await;
    assert!(r.metadata.authoritative);
    let keys = zone_keys(&lab, LEAF, "other.lab.").await;
    assert_eq!(verify_section(&r.answers, &keys), 1);
}

#[tokio::test]
async fn wildcard_cname_nodata_and_ent() {
    let lab = lab().await;
    let keys = zone_keys(&lab, LEAF, "example.lab.").await;

    let r = ask(&lab, LEAF, "foo.wild.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers[0].name, name("foo.wild.example.lab."));
    let sig = r.answers.iter().find_map(rrsig).unwrap();
    assert_eq!(sig.input().num_labels, 3, "labels of *.wild.example.lab.");
    assert_eq!(verify_section(&r.answers, &keys), 1);
    assert_eq!(of_type(&r.authorities, RecordType::NSEC).len(), 1);

    let r = ask(&lab, LEAF, "foo.wild.example.lab.", RecordType::MX).await;
    assert!(r.answers.is_empty(), "wildcard NODATA");
    // *.wild sorts just before foo.wild: its NSEC both covers QNAME and
    // shows the wildcard lacks MX, so one NSEC (deduplicated) is the proof.
    let nsec = of_type(&r.authorities, RecordType::NSEC);
    assert_eq!(nsec.len(), 1);
    assert_eq!(nsec[0].name, name("*.wild.example.lab."));
    assert_eq!(verify_section(&r.authorities, &keys), 2);

    let r = ask(&lab, LEAF, "chain1.example.lab.", RecordType::A).await;
    assert_eq!(of_type(&r.answers, RecordType::CNAME).len(), 1);
    assert!(of_type(&r.answers, RecordType::A).is_empty());

    let r = ask(&lab, LEAF, "nodata.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    let nsec = of_type(&r.authorities, RecordType::NSEC);
    assert_eq!(nsec[0].name, name("nodata.example.lab."));
    assert_eq!(verify_section(&r.authorities, &keys), 2);

    let r = ask(&lab, LEAF, "wild.example.lab.", RecordType::A).await;
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::NoError,
        "empty non-terminal"
    );
    assert!(r.answers.is_empty());
}

#[tokio::test]
async fn udp_truncates_and_tcp_carries_it() {
    let lab = lab().await;
    let big = query("example.lab.", RecordType::ANY, true, Some(512));
    let r = udp(&lab, LEAF, &big).await;
    assert!(r.metadata.truncation);
    assert!(r.answers.is_empty());
    assert!(r.edns.is_some());
    let addr = SocketAddr::new(ip(LEAF), lab.port());
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let r = tcp_exchange(&mut stream, &big).await;
    assert!(!r.metadata.truncation);
    assert!(r.answers.len() > 8);
    // A second query on the same connection.
    let r = tcp_exchange(
        &mut stream,
        &query("host2.example.lab.", RecordType::TXT, false, None),
    )
    .await;
    assert_eq!(r.answers.len(), 1);
}

#[tokio::test]
async fn malformed_refused_and_counters() {
    let lab = lab().await;
    // A readable header with a question that is cut short: FORMERR.
    let mut bytes = query("host1.example.lab.", RecordType::A, false, None)
        .to_vec()
        .unwrap();
    bytes.truncate(20);
    let reply = udp_raw(&lab, LEAF, &bytes, Duration::from_secs(2))
        .await
        .unwrap();
    let reply = Message::from_vec(&reply).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    // Not even a header: silence.
    assert!(
        udp_raw(&lab, LEAF, &[1, 2, 3], Duration::from_millis(100))
            .await
            .is_none()
    );
    // A name no zone of this server contains.
    let r = ask(&lab, LEAF, "www.insecure.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert_eq!(lab.queries_received(ip(LEAF)), 3);
    assert_eq!(lab.queries_received(ip(ROOT)), 0);
    assert_eq!(lab.total_queries(), 3);
    assert_eq!(lab.addresses().len(), 4);
    assert!(lab.addresses().iter().all(|a| a.port() == lab.port()));
}

#[tokio::test]
async fn network_faults() {
    let lab = lab().await;
    let zone = name("example.lab.");
    let q = query("host1.example.lab.", RecordType::A, true, None);
    let wire = q.to_vec().unwrap();

    lab.set_fault(&zone, Fault::Drop).unwrap();
    assert!(
        udp_raw(&lab, LEAF, &wire, Duration::from_millis(100))
            .await
            .is_none()
    );

    lab.set_fault(&zone, Fault::ServFail).unwrap();
    assert_eq!(
        udp(&lab, LEAF, &q).await.metadata.response_code,
        ResponseCode::ServFail
    );
    lab.set_fault(&zone, Fault::Refused).unwrap();
    assert_eq!(
        udp(&lab, LEAF, &q).await.metadata.response_code,
        ResponseCode::Refused
    );

    lab.set_fault(&zone, Fault::Garbage).unwrap();
    let junk = udp_raw(&lab, LEAF, &wire, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(junk[..2], q.metadata.id.to_be_bytes());
    assert!(Message::from_vec(&junk).is_err());

    lab.set_fault(&zone, Fault::Slow(Duration::from_millis(60)))
        .unwrap();
    let start = Instant::now();
    assert_eq!(udp(&lab, LEAF, &q).await.answers.len(), 2);
    assert!(start.elapsed() >= Duration::from_millis(60));

    // Other zones on the same server are unaffected.
    lab.set_fault(&zone, Fault::Drop).unwrap();
    assert_eq!(
        ask(&lab, LEAF, "www.other.lab.", RecordType::A)
            .await
            .answers
            .len(),
        2
    );

    lab.set_fault(&zone, Fault::None).unwrap();
    assert_eq!(udp(&lab, LEAF, &q).await.answers.len(), 2);
    assert!(matches!(
        lab.set_fault(&name("nope.lab."), Fault::Drop),
        Err(LabError::UnknownZone { .. })
    ));
}

#[tokio::test]
async fn signing_faults() {
    let lab = lab().await;
    let zone = name("lab.");
    let ds = lab.ds_records(&zone);
    let tags = |keys: &[DNSKEY]| -> Vec<u16> {
        keys.iter()
            .map(|k| k.calculate_key_tag().unwrap())
            .collect()
    };
    let sig_tag = |r: &Message| r.answers.iter().find_map(rrsig).unwrap().input().key_tag;

    lab.set_fault(&zone, Fault::UnpublishedZsk).unwrap();
    let keys = zone_keys(&lab, TLD, "lab.").await; // DNSKEY still signed by the KSK
    let r = ask(&lab, TLD, "ns1.lab.", RecordType::A).await;
    assert!(!tags(&keys).contains(&sig_tag(&r)));

    lab.set_fault(&zone, Fault::KskWithoutDs).unwrap();
    let keys = zone_keys(&lab, TLD, "lab.").await; // signed by the new KSK
    assert!(!keys.iter().any(|k| ds[0].covers(&zone, k).unwrap()));
    let r = ask(&lab, TLD, "ns1.lab.", RecordType::A).await;
    assert_eq!(verify_section(&r.answers, &keys), 1);

    lab.set_fault(&zone, Fault::ExpiredRrsigs).unwrap();
    let r = ask(&lab, TLD, "ns1.lab.", RecordType::A).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    assert!(
        r.answers
            .iter()
            .find_map(rrsig)
            .unwrap()
            .input()
            .sig_expiration
            .get()
            < now
    );

    lab.set_fault(&zone, Fault::None).unwrap();
    let keys = zone_keys(&lab, TLD, "lab.").await;
    assert!(keys.iter().any(|k| ds[0].covers(&zone, k).unwrap()));
    let r = ask(&lab, TLD, "ns1.lab.", RecordType::A).await;
    assert_eq!(verify_section(&r.answers, &keys), 1);
    assert!(
        r.answers
            .iter()
            .find_map(rrsig)
            .unwrap()
            .input()
            .sig_expiration
            .get()
            > now
    );
}

#[tokio::test]
async fn parallel_labs_ed25519_and_ttl_override() {
    let mut config = LabConfig::new(default_zones_dir());
    config.algorithm = LabAlgorithm::Ed25519;
    config.ttl = Some(5);
    let (a, b) = tokio::join!(Lab::start(config), lab());
    let (a, b) = (a.unwrap(), b);
    assert_ne!(a.port(), b.port());
    let r = ask(&a, LEAF, "host7.example.lab.", RecordType::AAAA).await;
    assert_eq!(r.answers[0].ttl, 5);
    let keys = zone_keys(&a, LEAF, "example.lab.").await;
    assert_eq!(verify_section(&r.answers, &keys), 1);
    let r = ask(&a, LEAF, "nope.example.lab.", RecordType::A).await;
    assert_eq!(of_type(&r.authorities, RecordType::SOA)[0].ttl, 5);
    a.shutdown().await;
    assert_eq!(ask(&b, ROOT, ".", RecordType::NS).await.answers.len(), 2);
}

#[tokio::test]
async fn hints_and_anchor_parse_and_control_lines() {
    let lab = lab().await;
    // The resolver reads hints with hickory's zone parser.
    let hints =
        hickory_proto::serialize::txt::Parser::new(lab.root_hints(), None, Some(Name::root()));
    let (_, sets) = hints.parse().unwrap();
    assert_eq!(sets.len(), 2);
    lastgood_resolver::dnssec::TrustAnchors::parse(&lab.trust_anchor(), "root.key").unwrap();

    cli::control_command(&lab, "fault example.lab servfail").unwrap();
    let r = ask(&lab, LEAF, "host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    cli::control_command(&lab, "FAULT example.lab. none").unwrap();
    let r = ask(&lab, LEAF, "host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(matches!(
        cli::control_command(&lab, "fault"),
        Err(cli::ControlError::Usage)
    ));
    assert!(matches!(
        cli::control_command(&lab, "fault nope. drop"),
        Err(cli::ControlError::Lab(LabError::UnknownZone { .. }))
    ));
    assert!(matches!(
        cli::control_command(&lab, "fault lab. melt"),
        Err(cli::ControlError::Fault(_))
    ));
}

#[tokio::test]
async fn cli_run_writes_hints_and_anchor() {
    let out = std::env::temp_dir().join(format!("lastgood-lab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let args = LabArgs {
        zones: default_zones_dir(),
        port: 0,
        algorithm: cli::AlgorithmArg::EcdsaP256,
        ttl: Some(30),
        out: Some(out.clone()),
        control: None,
        keygen: None,
        keys: None,
        only: Vec::new(),
        listen: None,
    };
    let task = tokio::spawn(run(args));
    let key = out.join("root.key");
    let mut waited = 0;
    while !std::fs::metadata(&key).is_ok_and(|m| m.len() > 0) && waited < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    task.abort();
    let anchor = std::fs::read_to_string(&key).unwrap();
    assert!(anchor.starts_with(". 3600 IN DS "), "{anchor}");
    let hints = std::fs::read_to_string(out.join("root.hints")).unwrap();
    assert!(hints.contains("127.53.0.1"));
    let _ = std::fs::remove_dir_all(&out);
}
