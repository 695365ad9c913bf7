//! DNSSEC costs: validating a signed A RRset per algorithm (through
//! `dnssec::validate::validate_answer`, as the resolver does for every
//! upstream answer), and one NSEC3 hash at 0, 10 and 150 iterations (the
//! SHA-1 iteration `src/dnssec/nsec3.rs` pays per name, per NSEC3 chain).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey, RsaSigningKey};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, Nsec3HashAlgorithm, SigningKey, TBS};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use rustls_pki_types::PrivatePkcs8KeyDer;

use lastgood_resolver::dnssec::validate::{AnswerKind, Budget, validate_answer};
use lastgood_resolver::dnssec::{KeyEntry, KeyMap, Security};

/// A 2048-bit RSA key, PKCS#8 DER (`openssl genpkey -algorithm RSA -pkeyopt
/// rsa_keygen_bits:2048 | openssl pkcs8 -topk8 -nocrypt -outform DER`):
/// ring cannot generate RSA keys.
const RSA_2048_PKCS8: &[u8] = include_bytes!("fixtures/rsa2048.pk8");
const DAY: u64 = 86_400;

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn signing_key(alg: Algorithm) -> Box<dyn SigningKey> {
    match alg {
        Algorithm::ED25519 => {
            let pk = Ed25519SigningKey::generate_pkcs8().unwrap();
            Box::new(Ed25519SigningKey::from_pkcs8(&pk).unwrap())
        }
        Algorithm::RSASHA256 | Algorithm::RSASHA512 => {
            let pk = PrivatePkcs8KeyDer::from(RSA_2048_PKCS8);
            Box::new(RsaSigningKey::from_pkcs8(&pk, alg).unwrap())
        }
        _ => {
            let pk = EcdsaSigningKey::generate_pkcs8(alg).unwrap();
            Box::new(EcdsaSigningKey::from_pkcs8(&pk, alg).unwrap())
        }
    }
}

/// `host1.example.lab. A` (two addresses) signed by a ZSK of `alg`, and
/// the key map holding that ZSK as `example.lab.`'s Secure key set.
fn signed_rrset(alg: Algorithm, now: u64) -> (Vec<Record>, KeyMap) {
    let zone = name("example.lab.");
    let owner = name("host1.example.lab.");
    let key = signing_key(alg);
    let dnskey = DNSKEY::new(true, false, false, key.to_public_key().unwrap());
    let records: Vec<Record> = [1, 2]
        .map(|last| {
            Record::from_rdata(
                owner.clone(),
                3600,
                RData::A(A(Ipv4Addr::new(192, 0, 2, last))),
            )
        })
        .into();
    let input = SigInput {
        type_covered: RecordType::A,
        algorithm: alg,
        num_labels: owner.num_labels(),
        original_ttl: 3600,
        sig_expiration: SerialNumber::new(u32::try_from(now + 30 * DAY).unwrap()),
        sig_inception: SerialNumber::new(u32::try_from(now - DAY).unwrap()),
        key_tag: dnskey.calculate_key_tag().unwrap(),
        signer_name: zone.clone(),
    };
    let tbs = TBS::from_input(&owner, DNSClass::IN, &input, records.iter()).unwrap();
    let sig = key.sign(&tbs).unwrap();
    let mut answers = records;
    answers.push(Record::from_rdata(
        owner,
        3600,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
    ));
    let mut keys = KeyMap::new();
    keys.insert(zone, KeyEntry::Secure(vec![dnskey]));
    (answers, keys)
}

fn rrsig(c: &mut Criterion) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let zone = name("example.lab.");
    let qname = name("host1.example.lab.");
    let mut g = c.benchmark_group("rrsig_verify");
    g.throughput(Throughput::Elements(1));
    for (label, alg) in [
        ("ecdsap256sha256_13", Algorithm::ECDSAP256SHA256),
        ("ecdsap384sha384_14", Algorithm::ECDSAP384SHA384),
        ("ed25519_15", Algorithm::ED25519),
        ("rsasha256_8_2048", Algorithm::RSASHA256),
        ("rsasha512_10_2048", Algorithm::RSASHA512),
    ] {
        let (answers, keys) = signed_rrset(alg, now);
        let validate = || {
            let mut budget = Budget::new();
            validate_answer(
                ResponseCode::NoError,
                &answers,
                &[],
                &qname,
                RecordType::A,
                &zone,
                &keys,
                now,
                &mut budget,
            )
        };
        let verdict = validate();
        assert_eq!(verdict.kind, AnswerKind::Positive);
        assert_eq!(verdict.security, Security::Secure, "{label}");
        g.bench_function(label, |b| b.iter(validate));
    }
    g.finish();
}

fn nsec3_hash(c: &mut Criterion) {
    // A typical owner and an 8-byte salt (RFC 9276 recommends none; zones
    // still carry one).
    let owner = name("host1.example.lab.");
    let salt = [0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89];
    let mut g = c.benchmark_group("nsec3_hash");
    g.throughput(Throughput::Elements(1));
    for iterations in [0u16, 10, 150] {
        g.bench_function(format!("iterations_{iterations}"), |b| {
            b.iter(|| {
                Nsec3HashAlgorithm::SHA1
                    .hash(&salt, &owner, iterations)
                    .unwrap()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, rrsig, nsec3_hash);
criterion_main!(benches);
