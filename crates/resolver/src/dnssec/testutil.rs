//! Test-only zone signer: builds signed records, DNSKEY sets, DS records and
//! NSEC/NSEC3 chains with hickory's signing keys so the validator's tests
//! stand alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG, SigInput};
use hickory_proto::dnssec::{
    Algorithm, DigestType, Nsec3HashAlgorithm, PublicKeyBuf, SigningKey, TBS, Verifier,
};
use hickory_proto::rr::rdata::{A, CNAME, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use super::{KeyEntry, KeyMap};

/// "Now" for every test: 2025-06-15.
pub const NOW: u64 = 1_750_000_000;
pub const DAY: u64 = 86_400;

pub fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

pub fn a(name: &str, last: u8) -> Record {
    Record::from_rdata(n(name), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, last))))
}

pub fn cname(name: &str, target: &str) -> Record {
    Record::from_rdata(n(name), 300, RData::CNAME(CNAME(n(target))))
}

pub fn soa(zone: &str) -> Record {
    let z = n(zone);
    Record::from_rdata(
        z.clone(),
        300,
        RData::SOA(SOA::new(
            z.prepend_label("ns").unwrap(),
            z.prepend_label("admin").unwrap(),
            1,
            3600,
            600,
            86400,
            60,
        )),
    )
}

pub fn nsec(owner: &str, next: &str, types: &[RecordType]) -> Record {
    let rd = NSEC::new(
        n(next),
        types
            .iter()
            .copied()
            .chain([RecordType::NSEC, RecordType::RRSIG]),
    );
    Record::from_rdata(n(owner), 60, RData::DNSSEC(DNSSECRData::NSEC(rd)))
}

/// A signing key pair with its DNSKEY.
pub struct Key {
    pub signing: Box<dyn SigningKey>,
    pub dnskey: DNSKEY,
}

impl Key {
    pub fn new(alg: Algorithm, ksk: bool) -> Self {
        let signing: Box<dyn SigningKey> = match alg {
            Algorithm::ED25519 => {
                let pk = Ed25519SigningKey::generate_pkcs8().unwrap();
                Box::new(Ed25519SigningKey::from_pkcs8(&pk).unwrap())
            }
            _ => {
                let pk = EcdsaSigningKey::generate_pkcs8(alg).unwrap();
                Box::new(EcdsaSigningKey::from_pkcs8(&pk, alg).unwrap())
            }
        };
        let dnskey = DNSKEY::new(true, ksk, false, signing.to_public_key().unwrap());
        Self { signing, dnskey }
    }

    /// An RSA key of `bits` (RSASHA1, RSASHA1-NSEC3-SHA1, RSASHA256):
    /// made with the `rsa` crate, so sizes ring refuses work too.
    pub fn rsa(alg: Algorithm, bits: usize, ksk: bool) -> Self {
        let signing: Box<dyn SigningKey> = Box::new(RsaKey::generate(alg, bits));
        let dnskey = DNSKEY::new(true, ksk, false, signing.to_public_key().unwrap());
        Self { signing, dnskey }
    }

    pub fn tag(&self) -> u16 {
        self.dnskey.calculate_key_tag().unwrap()
    }
}

/// A test-only RSA signing key (PKCS#1 v1.5, RFC 3110 / RFC 5702).
struct RsaKey {
    key: rsa::RsaPrivateKey,
    alg: Algorithm,
}

impl RsaKey {
    fn generate(alg: Algorithm, bits: usize) -> Self {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).unwrap();
        Self { key, alg }
    }
}

impl SigningKey for RsaKey {
    #[allow(deprecated)]
    fn sign(&self, tbs: &TBS) -> hickory_proto::dnssec::DnsSecResult<Vec<u8>> {
        use crate::dnssec::algorithms::small_rsa::{SHA1_PREFIX, SHA256_PREFIX};
        use ring::digest;
        let (alg, prefix) = match self.alg {
            Algorithm::RSASHA256 => (&digest::SHA256, SHA256_PREFIX),
            _ => (&digest::SHA1_FOR_LEGACY_USE_ONLY, SHA1_PREFIX),
        };
        let hashed = digest::digest(alg, tbs.as_ref());
        let scheme = rsa::Pkcs1v15Sign {
            hash_len: Some(alg.output_len()),
            prefix: prefix.into(),
        };
        Ok(self.key.sign(scheme, hashed.as_ref()).unwrap())
    }

    fn to_public_key(&self) -> hickory_proto::dnssec::DnsSecResult<PublicKeyBuf> {
        use rsa::traits::PublicKeyParts;
        let e = self.key.e().to_bytes_be();
        let mut buf = vec![u8::try_from(e.len()).unwrap()];
        buf.extend(e);
        buf.extend(self.key.n().to_bytes_be());
        Ok(PublicKeyBuf::new(buf, self.alg))
    }

    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// A signed test zone: a KSK and a ZSK.
pub struct Zone {
    pub name: Name,
    pub ksk: Key,
    pub zsk: Key,
}

impl Zone {
    pub fn new(name: &str, alg: Algorithm) -> Self {
        Self {
            name: n(name),
            ksk: Key::new(alg, true),
            zsk: Key::new(alg, false),
        }
    }

    /// A zone with RSA keys of `bits` (see [`Key::rsa`]).
    pub fn rsa(name: &str, alg: Algorithm, bits: usize) -> Self {
        Self {
            name: n(name),
            ksk: Key::rsa(alg, bits, true),
            zsk: Key::rsa(alg, bits, false),
        }
    }

    pub fn p256(name: &str) -> Self {
        Self::new(name, Algorithm::ECDSAP256SHA256)
    }

    pub fn ed25519(name: &str) -> Self {
        Self::new(name, Algorithm::ED25519)
    }

    pub fn dnskeys(&self) -> Vec<DNSKEY> {
        vec![self.ksk.dnskey.clone(), self.zsk.dnskey.clone()]
    }

    pub fn entry(&self) -> KeyEntry {
        KeyEntry::Secure(self.dnskeys())
    }

    pub fn keymap(&self) -> KeyMap {
        let mut m = KeyMap::new();
        m.insert(self.name.clone(), self.entry());
        m
    }

    pub fn ds(&self) -> DS {
        let d = self
            .ksk
            .dnskey
            .to_digest(&self.name, DigestType::SHA256)
            .unwrap();
        DS::new(
            self.ksk.tag(),
            self.ksk.dnskey.algorithm(),
            DigestType::SHA256,
            d.as_ref().to_vec(),
        )
    }

    /// The DNSKEY RRset signed by the KSK, as a DNSKEY response's answer.
    pub fn dnskey_answer(&self) -> Vec<Record> {
        let recs: Vec<Record> = self
            .dnskeys()
            .into_iter()
            .map(|k| {
                Record::from_rdata(
                    self.name.clone(),
                    3600,
                    RData::DNSSEC(DNSSECRData::DNSKEY(k)),
                )
            })
            .collect();
        self.sign_with(recs, &self.ksk, Times::good())
    }

    /// `records` (one RRset) plus an RRSIG by the ZSK, valid around NOW.
    pub fn sign(&self, records: Vec<Record>) -> Vec<Record> {
        self.sign_with(records, &self.zsk, Times::good())
    }

    pub fn sign_with(&self, records: Vec<Record>, key: &Key, t: Times) -> Vec<Record> {
        let sig = self.rrsig(&records, key, t, None);
        let mut out = records;
        out.push(sig);
        out
    }

    /// An RRSIG record over `records`; `labels` overrides the Labels field
    /// (wildcard expansion).
    pub fn rrsig(&self, records: &[Record], key: &Key, t: Times, labels: Option<u8>) -> Record {
        let first = &records[0];
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: key.signing.algorithm(),
            num_labels: labels.unwrap_or_else(|| first.name.num_labels()),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(t.expiration),
            sig_inception: SerialNumber::new(t.inception),
            key_tag: key.tag(),
            signer_name: self.name.clone(),
        };
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, records.iter()).unwrap();
        let sig = key.signing.sign(&tbs).unwrap();
        Record::from_rdata(
            first.name.clone(),
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }

    /// The NSEC3 record for `name` (hashed with `salt`, `iterations`),
    /// pointing at `next` (a name whose hash is the next owner) or at the
    /// raw `next_hash`.
    pub fn nsec3(
        &self,
        owner_hash: &[u8],
        next_hash: &[u8],
        iterations: u16,
        opt_out: bool,
        types: &[RecordType],
    ) -> Record {
        let label = data_encoding::BASE32HEX_NOPAD
            .encode(owner_hash)
            .to_ascii_lowercase();
        let owner = self.name.prepend_label(label.as_str()).unwrap();
        let rd = NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            opt_out,
            iterations,
            SALT.to_vec(),
            next_hash.to_vec(),
            types.iter().copied().chain([RecordType::RRSIG]),
        );
        Record::from_rdata(owner, 60, RData::DNSSEC(DNSSECRData::NSEC3(rd)))
    }
}

pub const SALT: &[u8] = &[0xab, 0xcd];

pub fn hash(name: &str, iterations: u16) -> Vec<u8> {
    Nsec3HashAlgorithm::SHA1
        .hash(SALT, &n(name), iterations)
        .unwrap()
        .as_ref()
        .to_vec()
}

/// Inception/expiration of a test signature.
#[derive(Clone, Copy)]
pub struct Times {
    pub inception: u32,
    pub expiration: u32,
}

impl Times {
    pub fn good() -> Self {
        Self::at(NOW - DAY, NOW + 7 * DAY)
    }
    pub fn expired() -> Self {
        Self::at(NOW - 10 * DAY, NOW - DAY)
    }
    pub fn future() -> Self {
        Self::at(NOW + DAY, NOW + 10 * DAY)
    }
    pub fn at(inception: u64, expiration: u64) -> Self {
        Self {
            inception: inception as u32,
            expiration: expiration as u32,
        }
    }
}

/// Sign each RRset in `records` (grouped by owner and type) with the ZSK.
pub fn sign_all(z: &Zone, records: Vec<Record>) -> Vec<Record> {
    let mut groups: Vec<Vec<Record>> = Vec::new();
    for r in records {
        match groups
            .iter_mut()
            .find(|g| g[0].name == r.name && g[0].record_type() == r.record_type())
        {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    groups.into_iter().flat_map(|g| z.sign(g)).collect()
}

/// `h` with its last byte moved by `d` (wrapping).
pub fn plus(h: &[u8], d: i16) -> Vec<u8> {
    let mut v = h.to_vec();
    let last = v.len() - 1;
    v[last] = (i16::from(v[last]) + d) as u8;
    v
}

/// An NSEC3 (salt [`SALT`], `iterations`) that covers exactly `name`'s hash.
pub fn nsec3_cover(z: &Zone, name: &str, opt_out: bool, iterations: u16) -> Record {
    let h = hash(name, iterations);
    z.nsec3(&plus(&h, -1), &plus(&h, 1), iterations, opt_out, &[])
}

/// The NSEC3 matching `name`, with `types` in its bitmap.
pub fn nsec3_match(z: &Zone, name: &str, types: &[RecordType], iterations: u16) -> Record {
    let h = hash(name, iterations);
    z.nsec3(&h, &plus(&h, 1), iterations, false, types)
}
