#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

use super::*;
use crate::dnssec::testutil::{DAY, NOW, Zone, a, n, nsec, soa};

/// root (anchored) -> lab. (DS) -> www.lab. A; insecure.lab. (no DS).
struct World {
    root: Zone,
    lab: Zone,
    trust: Trust,
}

fn world() -> World {
    let root = Zone::p256(".");
    let lab = Zone::p256("lab.");
    let ds = root.ds();
    let text = format!(
        ". IN DS {} {} 2 {}",
        ds.key_tag(),
        u8::from(ds.algorithm()),
        data_encoding::HEXUPPER.encode(ds.digest())
    );
    let anchors = TrustAnchors::parse(&text, "test").unwrap();
    World {
        root,
        lab,
        trust: Trust {
            anchors,
            algorithms: AlgorithmPolicy::default(),
            dnssec: true,
            private_zones: PrivateZones::default(),
            memo: None,
        },
    }
}

impl World {
    fn chain(&self) -> Vec<Link> {
        let ds = Record::from_rdata(
            n("lab."),
            3600,
            RData::DNSSEC(DNSSECRData::DS(self.lab.ds())),
        );
        vec![
            Link::Dnskey {
                zone: n("."),
                records: self.root.dnskey_answer(),
            },
            Link::Ds {
                child: n("lab."),
                parent: n("."),
                rcode: ResponseCode::NoError,
                answers: self.root.sign(vec![ds]),
                authorities: Vec::new(),
            },
            Link::Dnskey {
                zone: n("lab."),
                records: self.lab.dnskey_answer(),
            },
        ]
    }

    /// The chain of insecure.lab.: lab.'s signed NODATA for its DS.
    fn insecure_chain(&self) -> Vec<Link> {
        let mut chain = self.chain();
        let mut auth = self.lab.sign(vec![soa("lab.")]);
        auth.extend(
            self.lab
                .sign(vec![nsec("insecure.lab.", "zzz.lab.", &[RecordType::NS])]),
        );
        chain.push(Link::Ds {
            child: n("insecure.lab."),
            parent: n("lab."),
            rcode: ResponseCode::NoError,
            answers: Vec::new(),
            authorities: auth,
        });
        chain
    }

    fn secure(&self) -> (CacheKey, Entry) {
        let key = CacheKey::new(&n("www.lab."), RecordType::A, DNSClass::IN, View::Validated);
        let entry = Entry {
            kind: StepKind::Positive,
            rcode: ResponseCode::NoError,
            answers: self.lab.sign(vec![a("www.lab.", 7)]),
            authorities: Vec::new(),
            security: Security::Secure,
            zone: n("lab."),
            stored_at: Timestamp::from_secs(NOW),
            ttl: 300,
        };
        (key, entry)
    }

    fn insecure(&self) -> (CacheKey, Entry) {
        let key = CacheKey::new(
            &n("host.insecure.lab."),
            RecordType::A,
            DNSClass::IN,
            View::Validated,
        );
        let entry = Entry {
            kind: StepKind::Positive,
            rcode: ResponseCode::NoError,
            answers: vec![a("host.insecure.lab.", 9)],
            authorities: Vec::new(),
            security: Security::INSECURE,
            zone: n("insecure.lab."),
            stored_at: Timestamp::from_secs(NOW),
            ttl: 300,
        };
        (key, entry)
    }
}

fn later() -> Timestamp {
    Timestamp::from_secs(NOW + 2 * DAY)
}

#[test]
fn secure_entry_round_trips_and_verifies() {
    let w = world();
    let (key, entry) = w.secure();
    let chain = w.chain(); // ECDSA signatures differ per signing: sign once
    let bytes = encode(&key, &entry, &chain).unwrap();
    let decoded = decode(&bytes).unwrap();
    assert_eq!(decoded.key, key);
    assert_eq!(decoded.entry, entry);
    assert_eq!(decoded.chain, chain);
    // Verified as of its stored-at time, read two days later.
    let (k, e) = decode_and_verify(&bytes, &w.trust, later()).unwrap();
    assert_eq!(k, key);
    assert_eq!(e.security, Security::Secure);
    assert_eq!(e.answers, entry.answers);
    assert_eq!(e.ttl, 300);
}

#[test]
fn insecure_entry_needs_its_insecurity_proof() {
    let w = world();
    let (key, entry) = w.insecure();
    let bytes = encode(&key, &entry, &w.insecure_chain()).unwrap();
    let (_, e) = decode_and_verify(&bytes, &w.trust, later()).unwrap();
    assert!(matches!(e.security, Security::Insecure { .. }));
    // Without the proof of no DS, nothing shows the zone insecure.
    let bytes = encode(&key, &entry, &w.chain()).unwrap();
    let err = decode_and_verify(&bytes, &w.trust, later()).unwrap_err();
    assert_eq!(err.reason(), "chain", "{err}");
    // Claiming Insecure for data of a secure zone is refused too.
    let (key, mut entry) = w.secure();
    entry.security = Security::INSECURE;
    let bytes = encode(&key, &entry, &w.chain()).unwrap();
    let err = decode_and_verify(&bytes, &w.trust, later()).unwrap_err();
    assert_eq!(err.reason(), "signature", "{err}");
}

#[test]
fn forged_address_with_the_real_rrsig_is_rejected() {
    let w = world();
    let (key, mut entry) = w.secure();
    entry.answers[0].data = RData::A(A(Ipv4Addr::new(6, 6, 6, 6)));
    let bytes = encode(&key, &entry, &w.chain()).unwrap();
    let err = decode_and_verify(&bytes, &w.trust, later()).unwrap_err();
    assert_eq!(err.reason(), "signature", "{err}");
}

#[test]
fn a_broken_or_foreign_chain_is_rejected() {
    let w = world();
    let (key, entry) = w.secure();
    // Each link dropped in turn.
    for skip in 0..3 {
        let chain: Vec<Link> = w
            .chain()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, l)| l)
            .collect();
        let bytes = encode(&key, &entry, &chain).unwrap();
        let err = decode_and_verify(&bytes, &w.trust, later()).unwrap_err();
        assert!(
            matches!(err.reason(), "chain" | "signature"),
            "skip {skip}: {err}"
        );
    }
    // A zone signed by keys the anchor does not know.
    let other = World {
        trust: w.trust.clone(),
        ..world()
    };
    let bytes = encode(&key, &entry, &other.chain()).unwrap();
    assert!(decode_and_verify(&bytes, &w.trust, later()).is_err());
}

#[test]
fn stored_kind_and_ttl_must_match_the_records() {
    let w = world();
    let (key, mut entry) = w.secure();
    entry.kind = StepKind::Cname { target: n("evil.") };
    let bytes = encode(&key, &entry, &w.chain()).unwrap();
    assert_eq!(
        decode_and_verify(&bytes, &w.trust, later())
            .unwrap_err()
            .reason(),
        "signature"
    );
    // A TTL past the signature's original TTL is cut to it.
    let (key, mut entry) = w.secure();
    entry.ttl = 86_400 * 30;
    let bytes = encode(&key, &entry, &w.chain()).unwrap();
    let (_, e) = decode_and_verify(&bytes, &w.trust, later()).unwrap();
    assert!(e.ttl <= 3600, "{}", e.ttl);
}

#[test]
fn stored_in_the_future_or_unvalidated_is_refused() {
    let w = world();
    let (key, mut entry) = w.secure();
    entry.stored_at = Timestamp::from_secs(NOW + DAY);
    let bytes = encode(&key, &entry, &w.chain()).unwrap();
    let err = decode_and_verify(&bytes, &w.trust, Timestamp::from_secs(NOW)).unwrap_err();
    assert_eq!(err.reason(), "future");
    let (key, entry) = w.secure();
    let cd = CacheKey::new(&key.name, key.qtype, key.qclass, View::CheckingDisabled);
    assert_eq!(
        encode(&cd, &entry, &[]).unwrap_err(),
        StoreError::NotValidated
    );
}

#[test]
fn garbage_and_truncations_never_panic() {
    let w = world();
    let (key, entry) = w.secure();
    let good = encode(&key, &entry, &w.chain()).unwrap();
    for len in 0..good.len() {
        assert!(
            decode(&good[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
    let mut rng = Lcg(rand::random());
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(bytes.len());
            bytes[i] = rng.byte();
        }
        // Either refused, or (a flipped TTL byte) still provably the same data.
        if let Ok((k, e)) = decode_and_verify(&bytes, &w.trust, later()) {
            assert_eq!(k.name, key.name);
            assert_eq!(e.answers.len(), entry.answers.len());
            assert_eq!(e.answers[0].data, entry.answers[0].data);
        }
    }
    for len in [0usize, 1, 3, 4, 100, 5000] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        assert!(decode_and_verify(&bytes, &w.trust, later()).is_err());
    }
    let huge = vec![0u8; MAX_ENTRY_BYTES + 1];
    assert_eq!(decode(&huge).unwrap_err().reason(), "limit");
}

#[test]
fn other_versions_are_refused() {
    let w = world();
    let (key, entry) = w.secure();
    let mut bytes = encode(&key, &entry, &w.chain()).unwrap();
    bytes[3] = FORMAT_VERSION + 1;
    assert_eq!(
        decode(&bytes).unwrap_err(),
        StoreError::Version(FORMAT_VERSION + 1)
    );
}

/// A small generator for the garbage tests (seeded at random per run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}
