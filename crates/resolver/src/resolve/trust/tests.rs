//! The chain-of-trust requests, answered by hand.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::{MessageType, OpCode, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::rr::rdata::A;

use super::*;
use crate::clock::Timestamp;
use crate::ede::Ede;

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// An unsigned authoritative answer for `name`.
fn unsigned(name: &str) -> Message {
    let mut m = Message::new(1, MessageType::Response, OpCode::Query);
    m.metadata.response_code = ResponseCode::NoError;
    m.metadata.authoritative = true;
    m.answers.push(Record::from_rdata(
        n(name),
        60,
        RData::A(A(Ipv4Addr::new(198, 51, 100, 7))),
    ));
    m
}

fn ds(security: Security, kind: StepKind) -> Entry {
    Entry {
        kind,
        rcode: ResponseCode::NoError,
        answers: Vec::new(),
        authorities: Vec::new(),
        security,
        zone: n("lab."),
        stored_at: Timestamp::default(),
        ttl: 60,
    }
}

fn walk(qname: &str, zone: &str, forward: bool) -> ZoneWalk {
    ZoneWalk::start(
        &unsigned(qname),
        &StepKind::Positive,
        &n(qname),
        RecordType::A,
        &n(zone),
        forward,
    )
}

fn need_ds(name: &str) -> WalkStep {
    WalkStep::Need(Need::Ds(n(name)))
}

#[test]
fn an_unsigned_answer_for_the_zone_itself_needs_nothing() {
    let w = walk("example.lab.", "example.lab.", false);
    assert_eq!(w.step(), &WalkStep::Done(n("example.lab.")));
}

#[test]
fn below_an_insecure_zone_there_is_no_walk() {
    let mut w = walk("www.sub.example.lab.", "example.lab.", false);
    assert_eq!(w.step(), &WalkStep::Need(Need::Keys(n("example.lab."))));
    w.handle_keys(&KeyEntry::Insecure { note: None });
    assert_eq!(w.step(), &WalkStep::Done(n("example.lab.")));
}

/// A secure DS moves the zone down; an NXDOMAIN DS ends the walk at the
/// deepest secure delegation found.
#[test]
fn secure_ds_steps_move_the_zone_down() {
    let mut w = walk("a.b.sub.example.lab.", "example.lab.", false);
    w.handle_keys(&KeyEntry::Secure(Vec::new()));
    assert_eq!(w.step(), &need_ds("sub.example.lab."));
    w.handle_ds(&ds(Security::Secure, StepKind::Positive));
    assert_eq!(w.step(), &need_ds("b.sub.example.lab."));
    // A NODATA DS without a delegation shown is no cut: go on.
    w.handle_ds(&ds(Security::Secure, StepKind::NoData));
    assert_eq!(w.step(), &need_ds("a.b.sub.example.lab."));
    w.handle_ds(&ds(Security::Secure, StepKind::NxDomain));
    assert_eq!(w.step(), &WalkStep::Done(n("sub.example.lab.")));
}

/// The walk ends at the name itself when every DS down to it is secure.
#[test]
fn the_walk_ends_at_the_bound() {
    let mut w = walk("www.sub.example.lab.", "example.lab.", false);
    w.handle_keys(&KeyEntry::Secure(Vec::new()));
    w.handle_ds(&ds(Security::Secure, StepKind::Positive));
    w.handle_ds(&ds(Security::Secure, StepKind::Positive));
    assert_eq!(w.step(), &WalkStep::Done(n("www.sub.example.lab.")));
}

/// An insecure or failed DS step: the answer belongs to that name, whose
/// keys give the same verdict.
#[test]
fn an_insecure_ds_ends_the_walk_there() {
    let mut w = walk("www.sub.example.lab.", "example.lab.", false);
    w.handle_keys(&KeyEntry::Secure(Vec::new()));
    w.handle_ds(&ds(Security::INSECURE, StepKind::NoData));
    assert_eq!(w.step(), &WalkStep::Done(n("sub.example.lab.")));
}

/// A forwarder answers for every zone below its own: the walk starts at
/// once, without the forward zone's keys.
#[test]
fn forwarded_answers_walk_without_the_zones_keys() {
    let mut w = walk("www.corp.internal.", "internal.", true);
    assert_eq!(w.step(), &need_ds("corp.internal."));
    // An answer to another request is not taken.
    w.handle_keys(&KeyEntry::Insecure { note: None });
    assert_eq!(w.step(), &need_ds("corp.internal."));
    w.handle_ds(&ds(Security::Secure, StepKind::Positive));
    assert_eq!(w.step(), &need_ds("www.corp.internal."));
}

/// A negative answer belongs at most to its SOA owner.
#[test]
fn negative_answers_stop_at_their_soa() {
    use hickory_proto::rr::rdata::SOA;
    let mut m = Message::new(1, MessageType::Response, OpCode::Query);
    m.metadata.response_code = ResponseCode::NXDomain;
    m.metadata.authoritative = true;
    m.authorities.push(Record::from_rdata(
        n("sub.example.lab."),
        60,
        RData::SOA(SOA::new(
            n("ns.sub.example.lab."),
            n("host.sub.example.lab."),
            1,
            60,
            60,
            60,
            60,
        )),
    ));
    let qname = n("x.y.sub.example.lab.");
    let mut w = ZoneWalk::start(
        &m,
        &StepKind::NxDomain,
        &qname,
        RecordType::A,
        &n("example.lab."),
        false,
    );
    w.handle_keys(&KeyEntry::Secure(Vec::new()));
    w.handle_ds(&ds(Security::Secure, StepKind::Positive));
    assert_eq!(w.step(), &WalkStep::Done(n("sub.example.lab.")));
}

#[test]
fn key_needs_are_other_signers_inside_the_zone() {
    let needs = KeyNeeds::of(&unsigned("www.example.lab."), &n("example.lab."));
    assert!(needs.signers.is_empty());
    assert!(!needs.over_limit);
}

/// Inside a secure zone a signer without a secure delegation is a
/// forgery, unless its DS set was of unsupported algorithms.
#[test]
fn insecure_signers_inside_a_secure_zone_are_bogus() {
    let zone = n("example.lab.");
    let forged = n("a.example.lab.");
    let unsupported = n("b.example.lab.");
    let note = Ede::new(EdeCode::UnsupportedDsDigestType, "digest");
    let keys = key_map(
        &zone,
        KeyEntry::Secure(Vec::new()),
        [
            (forged.clone(), KeyEntry::Insecure { note: None }),
            (unsupported.clone(), KeyEntry::Insecure { note: Some(note) }),
        ],
    );
    assert!(matches!(keys[&zone], KeyEntry::Secure(_)));
    assert!(matches!(keys[&forged], KeyEntry::Bogus(_)));
    assert!(matches!(keys[&unsupported], KeyEntry::Insecure { .. }));
    // Below an insecure zone, an insecure signer stays insecure.
    let keys = key_map(
        &zone,
        KeyEntry::Insecure { note: None },
        [(forged.clone(), KeyEntry::Insecure { note: None })],
    );
    assert!(matches!(keys[&forged], KeyEntry::Insecure { .. }));
}
