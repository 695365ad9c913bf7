//! Arbitrary records through the validator (src/dnssec): RRSIG
//! verification against a fixed DNSKEY set, DS -> DNSKEY, NSEC and NSEC3
//! denial and wildcard proofs, each within a per-response `Budget`.
//!
//! The records come from a message decoded from the input after a
//! one-byte mode. So that the proofs (which run only on verified records)
//! see arbitrary NSEC/NSEC3 contents, the mode can have the target sign
//! every RRset of the message with the zone's fixed keys, with a chosen
//! validity window and RRSIG labels field (wildcard expansions); the
//! fuzzer's own RRSIGs stay alongside and are tried too.
//!
//! Mode bits: 0-2 question (table below); 3 sign with the ZSK; 4 sign the
//! DNSKEY set with the KSK; 5-6 validity window; 7 labels one less than
//! the owner's (as a wildcard expansion).
//!
//! Invariants (a failure is a crash): no Secure verdict for records the
//! target did not sign; the budget is never overdrawn.

#![no_main]

use std::sync::OnceLock;

use hickory_proto::dnssec::crypto::Ed25519SigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG, SigInput};
use hickory_proto::dnssec::{DigestType, SigningKey, TBS, Verifier};
use hickory_proto::op::Message;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use lastgood_resolver::dnssec::validate::{self, Budget};
use lastgood_resolver::dnssec::{KeyEntry, KeyMap};
use lastgood_resolver::limits;
use libfuzzer_sys::fuzz_target;

/// "Now": 2025-06-15.
const NOW: u64 = 1_750_000_000;
const DAY: u64 = 86_400;

/// (qname, qtype); the zone is always `example.lab.`.
const QUESTIONS: &[(&str, RecordType)] = &[
    ("www.example.lab.", RecordType::A),
    ("nx.example.lab.", RecordType::A),
    ("a.b.example.lab.", RecordType::TXT),
    ("example.lab.", RecordType::MX),
    ("www.example.lab.", RecordType::CNAME),
    ("x.wild.example.lab.", RecordType::A),
    ("example.lab.", RecordType::DNSKEY),
    ("deep.a.b.c.example.lab.", RecordType::AAAA),
];

struct Key {
    signing: Ed25519SigningKey,
    dnskey: DNSKEY,
}

struct Zone {
    name: Name,
    ksk: Key,
    zsk: Key,
    ds: DS,
}

fn zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| {
        let key = |ksk| {
            let pkcs8 = Ed25519SigningKey::generate_pkcs8().expect("key");
            let signing = Ed25519SigningKey::from_pkcs8(&pkcs8).expect("key");
            let public = signing.to_public_key().expect("public key");
            Key {
                signing,
                dnskey: DNSKEY::new(true, ksk, false, public),
            }
        };
        let name = Name::from_ascii("example.lab.").expect("zone");
        let ksk = key(true);
        let zsk = key(false);
        let digest = ksk
            .dnskey
            .to_digest(&name, DigestType::SHA256)
            .expect("digest");
        let ds = DS::new(
            ksk.dnskey.calculate_key_tag().expect("tag"),
            ksk.dnskey.algorithm(),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        );
        Zone { name, ksk, zsk, ds }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let Ok(msg) = Message::from_vec(bytes) else {
        return;
    };
    let z = zone();
    let (qname, qtype) = QUESTIONS[usize::from(mode & 0x07)];
    let qname = Name::from_ascii(qname).expect("qname");
    let window = match (mode >> 5) & 0x03 {
        0 => (NOW - DAY, NOW + 7 * DAY),
        1 => (NOW - 10 * DAY, NOW - DAY),
        2 => (NOW + DAY, NOW + 10 * DAY),
        _ => (NOW + DAY, NOW - DAY),
    };
    let wildcard = mode & 0x80 != 0;
    let mut answers = msg.answers.clone();
    let mut authorities = msg.authorities.clone();
    let signed = mode & 0x08 != 0;
    if signed {
        answers = sign_all(z, &z.zsk, answers, window, wildcard);
        authorities = sign_all(z, &z.zsk, authorities, window, wildcard);
    }

    // The answer or denial, with the zone's keys.
    let mut keys = KeyMap::new();
    keys.insert(
        z.name.clone(),
        KeyEntry::Secure(vec![z.ksk.dnskey.clone(), z.zsk.dnskey.clone()]),
    );
    let mut budget = Budget::new();
    let verdict = validate::validate_answer(
        msg.metadata.response_code,
        &answers,
        &authorities,
        &qname,
        qtype,
        &z.name,
        &keys,
        NOW,
        &mut budget,
    );
    check_budget(&budget);
    if !signed {
        assert!(
            !verdict.security.is_secure(),
            "unsigned answer Secure: {verdict:?}"
        );
    }
    let _ = validate::signer_names(&answers, &authorities);

    // DS -> DNSKEY: the message's answer section as a DNSKEY response.
    let ksk_signed = mode & 0x10 != 0;
    let mut dnskeys = msg.answers;
    if ksk_signed {
        dnskeys = sign_all(z, &z.ksk, dnskeys, window, false);
    }
    let mut budget = Budget::new();
    let entry = validate::validate_dnskeys(
        &z.name,
        &dnskeys,
        std::slice::from_ref(&z.ds),
        &[],
        NOW,
        &mut budget,
    );
    check_budget(&budget);
    if !ksk_signed {
        assert!(
            !matches!(entry, KeyEntry::Secure(_)),
            "unsigned DNSKEY set Secure"
        );
    }
    // The same set against a DNSKEY trust anchor.
    let mut budget = Budget::new();
    let _ = validate::validate_dnskeys(
        &z.name,
        &dnskeys,
        &[],
        std::slice::from_ref(&z.ksk.dnskey),
        NOW,
        &mut budget,
    );
    check_budget(&budget);
});

fn check_budget(budget: &Budget) {
    assert!(budget.signatures_used() <= limits::MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE);
}

/// Add an RRSIG by `key` to every RRset (owner, type, class) of `records`
/// that is not itself an RRSIG.
fn sign_all(
    z: &Zone,
    key: &Key,
    records: Vec<Record>,
    (inception, expiration): (u64, u64),
    wildcard: bool,
) -> Vec<Record> {
    let mut groups: Vec<Vec<Record>> = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.record_type() != RecordType::RRSIG)
    {
        match groups.iter_mut().find(|g| {
            g[0].name == r.name
                && g[0].record_type() == r.record_type()
                && g[0].dns_class == r.dns_class
        }) {
            Some(g) => g.push(r.clone()),
            None => groups.push(vec![r.clone()]),
        }
    }
    let mut out = records;
    for g in groups {
        let first = &g[0];
        let labels = first.name.num_labels();
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: key.signing.algorithm(),
            num_labels: if wildcard {
                labels.saturating_sub(1)
            } else {
                labels
            },
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(expiration as u32),
            sig_inception: SerialNumber::new(inception as u32),
            key_tag: key.dnskey.calculate_key_tag().expect("tag"),
            signer_name: z.name.clone(),
        };
        // Records hickory cannot put in canonical form are left unsigned.
        let Ok(tbs) = TBS::from_input(&first.name, DNSClass::IN, &input, g.iter()) else {
            continue;
        };
        let Ok(sig) = key.signing.sign(&tbs) else {
            continue;
        };
        out.push(Record::from_rdata(
            first.name.clone(),
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        ));
    }
    out
}
