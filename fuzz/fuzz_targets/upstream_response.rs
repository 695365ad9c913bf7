//! An authority's answer, arbitrary bytes, through what the engine does
//! with it (src/resolve/iterate.rs): decoded as a message, matched to the
//! question asked (a non-matching message is made to match, so every input
//! reaches the classifier), classified (answer, referral, failure,
//! bailiwick), then for an answer validated against the zone's keys and
//! turned into the cache entry the engine would store.
//!
//! The first byte picks the question and zone from a fixed table and
//! whether the zone is secure; the rest is the message.
//!
//! Invariants (a failure is a crash): a referral is strictly below the
//! zone asked and at or above the question's name, with glue addresses only
//! for NS names inside the zone; the validator classifies the answer as the
//! engine did; a cache entry holds answer records only at the question's
//! name and authority records only from the zone, with a TTL within
//! `MAX_TTL` (`BOGUS_TTL_SECS` unless Secure or Insecure); nothing unsigned
//! is Secure.

#![no_main]

use std::sync::OnceLock;

use hickory_proto::dnssec::SigningKey;
use hickory_proto::dnssec::crypto::Ed25519SigningKey;
use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use lastgood_resolver::cache::StepKind;
use lastgood_resolver::clock::Timestamp;
use lastgood_resolver::dnssec::validate::{self, AnswerKind, Budget};
use lastgood_resolver::dnssec::{BogusKind, BogusReason, KeyEntry, KeyMap, Security};
use lastgood_resolver::limits;
use lastgood_resolver::resolve::classify::{Classified, classify};
use lastgood_resolver::resolve::iterate::step_entry;
use lastgood_resolver::resolve::upstream;
use libfuzzer_sys::fuzz_target;

/// "Now": 2025-06-15.
const NOW: u64 = 1_750_000_000;
const ID: u16 = 0x1234;

/// (qname, qtype, zone asked) as the engine asks them.
const QUESTIONS: &[(&str, RecordType, &str)] = &[
    ("www.example.lab.", RecordType::A, "example.lab."),
    ("www.example.lab.", RecordType::A, "lab."),
    ("www.example.lab.", RecordType::A, "."),
    ("example.lab.", RecordType::DS, "lab."),
    ("www.example.lab.", RecordType::CNAME, "example.lab."),
    ("example.lab.", RecordType::DNSKEY, "example.lab."),
    ("a.b.example.lab.", RecordType::AAAA, "example.lab."),
    ("example.lab.", RecordType::A, "lab."),
];

/// The zone keys of a secure zone (their private halves are never used:
/// the fuzzer cannot sign, so nothing it sends may validate).
fn zone_keys() -> &'static Vec<DNSKEY> {
    static KEYS: OnceLock<Vec<DNSKEY>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [true, false]
            .into_iter()
            .map(|ksk| {
                let pkcs8 = Ed25519SigningKey::generate_pkcs8().expect("key");
                let key = Ed25519SigningKey::from_pkcs8(&pkcs8).expect("key");
                DNSKEY::new(true, ksk, false, key.to_public_key().expect("public key"))
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let (qname, qtype, zone) = QUESTIONS[usize::from(pick) % QUESTIONS.len()];
    let qname = Name::from_ascii(qname).expect("qname");
    let zone = Name::from_ascii(zone).expect("zone");
    let secure = pick & 0x80 != 0;

    let Ok(mut resp) = Message::from_vec(bytes) else {
        return;
    };
    let query = upstream::build_query(ID, &qname, qtype);
    if !upstream::matches(&query, &resp) {
        resp.metadata.id = ID;
        resp.metadata.message_type = MessageType::Response;
        let mut q = Query::query(qname.clone(), qtype);
        q.set_query_class(DNSClass::IN);
        resp.queries = vec![q];
        assert!(upstream::matches(&query, &resp));
    }

    let now = Timestamp::from_secs(NOW);
    match classify(&resp, &qname, qtype, &zone, now) {
        Classified::Failed(_) => {}
        Classified::Referral(deleg) => check_referral(&deleg, &qname, qtype, &zone),
        Classified::Answer(kind) => answer(&resp, kind, &qname, qtype, &zone, secure, now),
    }
});

fn check_referral(
    deleg: &lastgood_resolver::resolve::Delegation,
    qname: &Name,
    qtype: RecordType,
    zone: &Name,
) {
    assert!(
        zone.zone_of(&deleg.zone) && deleg.zone != *zone,
        "not below the zone"
    );
    assert!(deleg.zone.zone_of(qname), "not above the question");
    assert!(
        !(qtype == RecordType::DS && deleg.zone == *qname),
        "DS referral"
    );
    assert!(!deleg.servers.is_empty());
    assert!(deleg.ttl <= limits::MAX_TTL);
    for ns in &deleg.servers {
        assert!(
            ns.addrs.is_empty() || zone.zone_of(&ns.name),
            "glue out of bailiwick"
        );
    }
    let addrs = deleg.addresses();
    assert_eq!(deleg.socket_addrs(53).len(), addrs.len());
    assert!(deleg.unresolved().count() <= deleg.servers.len());
}

/// The engine's `finish_step` + `validate_response`, without the key
/// fetches: the zone's keys are fixed; a signer below the zone has no
/// secure delegation (Bogus in a secure zone, as the engine decides).
fn answer(
    resp: &Message,
    kind: StepKind,
    qname: &Name,
    qtype: RecordType,
    zone: &Name,
    secure: bool,
    now: Timestamp,
) {
    let zone_entry = if secure {
        KeyEntry::Secure(zone_keys().clone())
    } else {
        KeyEntry::Insecure { note: None }
    };
    let mut keys = KeyMap::new();
    keys.insert(zone.to_lowercase(), zone_entry);
    let signers = validate::signer_names(&resp.answers, &resp.authorities);
    for signer in signers.into_iter().take(limits::MAX_SIGNERS_PER_RESPONSE) {
        if keys.contains_key(&signer) || !zone.zone_of(&signer) {
            continue;
        }
        let entry = if secure {
            KeyEntry::Bogus(BogusReason::new(
                BogusKind::DnskeyMissing,
                &signer,
                None,
                "signer is not a secure zone under the answering zone",
            ))
        } else {
            KeyEntry::Insecure { note: None }
        };
        keys.insert(signer, entry);
    }
    let mut budget = Budget::new();
    let verdict = validate::validate_answer(
        resp.metadata.response_code,
        &resp.answers,
        &resp.authorities,
        qname,
        qtype,
        zone,
        &keys,
        NOW,
        &mut budget,
    );
    assert!(budget.signatures_used() <= limits::MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE);
    assert!(
        !verdict.security.is_secure(),
        "unsigned data validated: {verdict:?}"
    );
    let expected = match &kind {
        StepKind::Positive => AnswerKind::Positive,
        StepKind::Cname { .. } => AnswerKind::Cname,
        StepKind::NxDomain => AnswerKind::NxDomain,
        StepKind::NoData => AnswerKind::NoData,
    };
    assert_eq!(verdict.kind, expected, "validator and engine disagree");

    let security = verdict.security.clone();
    let entry = step_entry(
        resp,
        kind,
        qname,
        qtype,
        zone,
        security,
        verdict.ttl_cap,
        &Default::default(),
        now,
    );
    for r in &entry.answers {
        assert_eq!(r.name, *qname, "answer record off the question's name");
    }
    for r in &entry.authorities {
        assert!(zone.zone_of(&r.name), "authority record out of zone");
    }
    assert!(entry.ttl <= limits::MAX_TTL);
    if matches!(
        entry.security,
        Security::Bogus(_) | Security::Indeterminate(_)
    ) {
        assert!(entry.ttl <= limits::BOGUS_TTL_SECS);
    }
    let _ = entry.weight();
}
