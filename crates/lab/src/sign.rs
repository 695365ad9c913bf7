//! In-memory zone signing: keys, DNSKEY/DS, NSEC or NSEC3 chains, RRSIGs,
//! and the key/time variants that the signing faults need.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{
    DNSKEY, DNSSECRData, DS, NSEC, NSEC3, NSEC3PARAM, RRSIG, SigInput,
};
use hickory_proto::dnssec::{
    Algorithm, DigestType, Nsec3HashAlgorithm, PublicKey, PublicKeyBuf, SigningKey, TBS,
};
use hickory_proto::rr::rdata::{A, CNAME, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::fault::{KEYTRAP_FAKE_KEYS, KEYTRAP_FAKE_SIGS, OVERSIZE_TXT_RECORDS};
use super::zone::{Node, RrSet, ZoneData};
use super::{Fault, LabAlgorithm, LabError};

/// DNSKEY flags: zone key + secure entry point (KSK), zone key (ZSK).
pub const KSK_FLAGS: u16 = 257;
pub const ZSK_FLAGS: u16 = 256;

/// Signature validity (the task's testbed policy: inception an hour ago,
/// expiration in 30 days; expired variant: -30 days .. -1 day).
const INCEPTION_BACKDATE_SECS: i64 = 3600;
const VALIDITY_SECS: i64 = 30 * 86_400;
const EXPIRED_INCEPTION_SECS: i64 = 30 * 86_400;
const EXPIRED_EXPIRATION_SECS: i64 = 86_400;

/// Authenticated denial flavour of a signed zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    Nsec,
    /// SHA-1, 0 iterations, empty salt, no opt-out (RFC 9276).
    Nsec3,
}

/// A private key with its DNSKEY.
pub struct ZoneKey {
    key: Box<dyn SigningKey>,
    pub dnskey: DNSKEY,
    pub tag: u16,
    pub algorithm: Algorithm,
}

impl ZoneKey {
    pub fn generate(algorithm: LabAlgorithm, flags: u16, zone: &Name) -> Result<Self, LabError> {
        let pkcs8 = generate_pkcs8(algorithm, zone)?;
        Self::from_pkcs8(algorithm, flags, zone, &pkcs8)
    }

    /// The key whose private half is `pkcs8` (as made by [`generate_pkcs8`]).
    pub fn from_pkcs8(
        algorithm: LabAlgorithm,
        flags: u16,
        zone: &Name,
        pkcs8: &[u8],
    ) -> Result<Self, LabError> {
        let key_err = |source| LabError::KeyGeneration {
            zone: zone.to_string(),
            source: Box::new(source),
        };
        let der = PrivatePkcs8KeyDer::from(pkcs8);
        let key: Box<dyn SigningKey> = match algorithm {
            LabAlgorithm::EcdsaP256 => {
                let alg = Algorithm::ECDSAP256SHA256;
                Box::new(EcdsaSigningKey::from_pkcs8(&der, alg).map_err(key_err)?)
            }
            LabAlgorithm::Ed25519 => {
                Box::new(Ed25519SigningKey::from_pkcs8(&der).map_err(key_err)?)
            }
        };
        let public = key.to_public_key().map_err(key_err)?;
        let dnskey = DNSKEY::with_flags(flags, public);
        let tag = dnskey
            .calculate_key_tag()
            .map_err(|source| LabError::Sign {
                zone: zone.to_string(),
                name: zone.to_string(),
                source,
            })?;
        let algorithm = key.algorithm();
        Ok(ZoneKey {
            key,
            dnskey,
            tag,
            algorithm,
        })
    }

    /// The SHA-256 DS of this key at `zone`.
    pub fn ds(&self, zone: &Name) -> Result<DS, LabError> {
        let digest = self
            .dnskey
            .to_digest(zone, DigestType::SHA256)
            .map_err(|source| LabError::Sign {
                zone: zone.to_string(),
                name: zone.to_string(),
                source,
            })?;
        Ok(DS::new(
            self.tag,
            self.algorithm,
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        ))
    }
}

/// A fresh private key in PKCS#8 form (to keep, or to load with
/// [`ZoneKey::from_pkcs8`]).
pub fn generate_pkcs8(algorithm: LabAlgorithm, zone: &Name) -> Result<Vec<u8>, LabError> {
    let key_err = |source| LabError::KeyGeneration {
        zone: zone.to_string(),
        source: Box::new(source),
    };
    let pkcs8 = match algorithm {
        LabAlgorithm::EcdsaP256 => {
            EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256).map_err(key_err)?
        }
        LabAlgorithm::Ed25519 => Ed25519SigningKey::generate_pkcs8().map_err(key_err)?,
    };
    Ok(pkcs8.secret_pkcs8_der().to_vec())
}

/// The published key pair of a signed zone.
pub struct ZoneKeys {
    pub ksk: ZoneKey,
    pub zsk: ZoneKey,
}

impl ZoneKeys {
    pub fn generate(algorithm: LabAlgorithm, zone: &Name) -> Result<Self, LabError> {
        Ok(ZoneKeys {
            ksk: ZoneKey::generate(algorithm, KSK_FLAGS, zone)?,
            zsk: ZoneKey::generate(algorithm, ZSK_FLAGS, zone)?,
        })
    }
}

/// Which keys are published and which sign what, and when signatures are valid.
pub struct SignPlan<'a> {
    pub published: Vec<&'a ZoneKey>,
    pub dnskey_signers: Vec<&'a ZoneKey>,
    pub data_signer: &'a ZoneKey,
    pub inception: u32,
    pub expiration: u32,
    /// Corrupt every data signature (not the DNSKEY set's): a tampered zone.
    pub tamper_data: bool,
    /// NSEC3 iterations (0 unless [`Fault::Nsec3Iterations`]).
    pub nsec3_iterations: u16,
    /// [`Fault::KeyTrap`]: publish colliding fake keys and add fake RRSIGs.
    pub keytrap: bool,
}

/// A zone ready to answer from: data, DNSSEC records and signatures.
#[derive(Clone, Debug)]
pub struct SignedZone {
    pub origin: Name,
    pub nodes: BTreeMap<Name, Node>,
    /// Delegation points (names below the apex with NS).
    pub cuts: BTreeSet<Name>,
    /// NSEC3 RRsets by raw hash (NSEC3 zones only).
    pub nsec3: BTreeMap<Vec<u8>, RrSet>,
    pub denial: Option<Denial>,
    pub negative_ttl: u32,
    /// Extra hash iterations of the NSEC3 chain (NSEC3 zones only).
    pub nsec3_iterations: u16,
}

impl SignedZone {
    /// Whether `name` lies strictly below one of this zone's cuts (glue).
    pub fn below_cut(&self, name: &Name) -> bool {
        self.cuts.iter().any(|cut| cut != name && cut.zone_of(name))
    }
}

/// The unsigned form of a zone.
pub fn unsigned(data: &ZoneData) -> SignedZone {
    SignedZone {
        origin: data.origin.clone(),
        nodes: data.nodes.clone(),
        cuts: cuts_of(data),
        nsec3: BTreeMap::new(),
        denial: None,
        negative_ttl: data.negative_ttl,
        nsec3_iterations: 0,
    }
}

/// Sign `data` as the zone should look under `fault` (fresh extra keys for
/// the key faults).
pub fn sign_for_fault(
    data: &ZoneData,
    denial: Denial,
    keys: &ZoneKeys,
    fault: &Fault,
    algorithm: LabAlgorithm,
) -> Result<SignedZone, LabError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let (inception, expiration) = match fault {
        Fault::ExpiredRrsigs => (now - EXPIRED_INCEPTION_SECS, now - EXPIRED_EXPIRATION_SECS),
        _ => (now - INCEPTION_BACKDATE_SECS, now + VALIDITY_SECS),
    };
    // RRSIG times are serial numbers modulo 2^32 (RFC 4034 §3.1.5).
    let inception = inception as u32;
    let expiration = expiration as u32;
    let (denial, nsec3_iterations) = match fault {
        Fault::Nsec3Iterations(n) => (Denial::Nsec3, *n),
        _ => (denial, 0),
    };
    let keytrap = matches!(fault, Fault::KeyTrap);
    match fault {
        Fault::UnpublishedZsk => {
            let new_zsk = ZoneKey::generate(algorithm, ZSK_FLAGS, &data.origin)?;
            let plan = SignPlan {
                published: vec![&keys.ksk, &keys.zsk],
                dnskey_signers: vec![&keys.ksk],
                data_signer: &new_zsk,
                inception,
                expiration,
                tamper_data: matches!(fault, Fault::BadSignatures),
                nsec3_iterations,
                keytrap,
            };
            sign(data, denial, &plan)
        }
        Fault::KskWithoutDs => {
            let new_ksk = ZoneKey::generate(algorithm, KSK_FLAGS, &data.origin)?;
            let plan = SignPlan {
                published: vec![&new_ksk, &keys.zsk],
                dnskey_signers: vec![&new_ksk],
                data_signer: &keys.zsk,
                inception,
                expiration,
                tamper_data: matches!(fault, Fault::BadSignatures),
                nsec3_iterations,
                keytrap,
            };
            sign(data, denial, &plan)
        }
        _ => {
            let plan = SignPlan {
                published: vec![&keys.ksk, &keys.zsk],
                dnskey_signers: vec![&keys.ksk],
                data_signer: &keys.zsk,
                inception,
                expiration,
                tamper_data: matches!(fault, Fault::BadSignatures),
                nsec3_iterations,
                keytrap,
            };
            sign(data, denial, &plan)
        }
    }
}

/// Address of the last name of a [`Fault::CnameChain`].
pub const CHAIN_END_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(192, 0, 2, 77);

/// The zone's data as served under `fault`: the attack faults that need
/// records (CNAME loop and chain, the oversized RRset) add them; any
/// other fault leaves the data as it is.
pub fn faulted_data(data: &ZoneData, fault: &Fault) -> Result<ZoneData, LabError> {
    let mut data = data.clone();
    let origin = data.origin.clone();
    let name_err = |source| LabError::Sign {
        zone: origin.to_string(),
        name: origin.to_string(),
        source,
    };
    let at = |label: &str| Name::from_ascii(label).and_then(|n| n.append_domain(&origin));
    let ttl = data.soa_ttl;
    let mut add = |owner: Name, rtype: RecordType, rdata: Vec<RData>| {
        let mut set = RrSet::new(owner.clone(), rtype, ttl);
        for r in rdata {
            set.push(r);
        }
        data.nodes.entry(owner).or_default().insert(rtype, set);
    };
    match fault {
        Fault::CnameLoop => {
            let (a, b) = (
                at("loop-a").map_err(name_err)?,
                at("loop-b").map_err(name_err)?,
            );
            add(
                a.clone(),
                RecordType::CNAME,
                vec![RData::CNAME(CNAME(b.clone()))],
            );
            add(b, RecordType::CNAME, vec![RData::CNAME(CNAME(a))]);
        }
        Fault::CnameChain(n) => {
            for i in 0..*n {
                let from = at(&format!("chain-{i}")).map_err(name_err)?;
                let to = at(&format!("chain-{}", i + 1)).map_err(name_err)?;
                add(from, RecordType::CNAME, vec![RData::CNAME(CNAME(to))]);
            }
            let end = at(&format!("chain-{n}")).map_err(name_err)?;
            add(end, RecordType::A, vec![RData::A(A(CHAIN_END_ADDR))]);
        }
        Fault::Oversize => {
            let big = at("big").map_err(name_err)?;
            let txts = (0..OVERSIZE_TXT_RECORDS)
                .map(|i| {
                    let mut text = format!("{i:04} ");
                    text.extend(std::iter::repeat_n('x', 250));
                    RData::TXT(TXT::new(vec![text]))
                })
                .collect();
            add(big, RecordType::TXT, txts);
        }
        _ => {}
    }
    Ok(data)
}

fn cuts_of(data: &ZoneData) -> BTreeSet<Name> {
    data.nodes
        .iter()
        .filter(|(name, node)| **name != data.origin && node.contains_key(&RecordType::NS))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Sign a zone following `plan`.
pub fn sign(data: &ZoneData, denial: Denial, plan: &SignPlan<'_>) -> Result<SignedZone, LabError> {
    let origin = &data.origin;
    let mut zone = unsigned(data);
    zone.denial = Some(denial);

    let apex = zone.nodes.entry(origin.clone()).or_default();
    let mut dnskeys = RrSet::new(origin.clone(), RecordType::DNSKEY, data.soa_ttl);
    for key in &plan.published {
        dnskeys.push(RData::DNSSEC(DNSSECRData::DNSKEY(key.dnskey.clone())));
    }
    if plan.keytrap {
        for fake in keytrap_keys(plan.dnskey_signers.first().copied(), plan.data_signer) {
            dnskeys.push(RData::DNSSEC(DNSSECRData::DNSKEY(fake)));
        }
    }
    apex.insert(RecordType::DNSKEY, dnskeys);
    if denial == Denial::Nsec3 {
        let mut param = RrSet::new(origin.clone(), RecordType::NSEC3PARAM, data.negative_ttl);
        param.push(RData::DNSSEC(DNSSECRData::NSEC3PARAM(NSEC3PARAM::new(
            Nsec3HashAlgorithm::SHA1,
            false,
            plan.nsec3_iterations,
            Vec::new(),
        ))));
        apex.insert(RecordType::NSEC3PARAM, param);
        zone.nsec3_iterations = plan.nsec3_iterations;
    }

    // Authoritative names: not below a cut (cuts themselves included).
    let owners: Vec<Name> = zone
        .nodes
        .keys()
        .filter(|name| !zone.below_cut(name))
        .cloned()
        .collect();
    match denial {
        Denial::Nsec => add_nsec_chain(&mut zone, &owners, data.negative_ttl),
        Denial::Nsec3 => add_nsec3_chain(&mut zone, &owners, data.negative_ttl)?,
    }

    for name in &owners {
        let is_cut = zone.cuts.contains(name);
        let Some(node) = zone.nodes.get_mut(name) else {
            continue;
        };
        for set in node.values_mut() {
            if is_cut && !matches!(set.rtype, RecordType::DS | RecordType::NSEC) {
                continue; // delegation NS is not authoritative here
            }
            let signers: &[&ZoneKey] = if set.rtype == RecordType::DNSKEY {
                &plan.dnskey_signers
            } else {
                std::slice::from_ref(&plan.data_signer)
            };
            for key in signers {
                let sig = sign_rrset(set, key, origin, plan)?;
                if plan.keytrap {
                    set.rrsigs.extend(keytrap_sigs(&sig));
                }
                set.rrsigs.push(sig);
            }
        }
    }
    for set in zone.nsec3.values_mut() {
        let sig = sign_rrset(set, plan.data_signer, origin, plan)?;
        if plan.keytrap {
            set.rrsigs.extend(keytrap_sigs(&sig));
        }
        set.rrsigs.push(sig);
    }
    Ok(zone)
}

/// [`KEYTRAP_FAKE_KEYS`] DNSKEYs that are not real keys but whose key tags
/// equal the real KSK's (half of them, with the SEP flag) and ZSK's.
fn keytrap_keys(ksk: Option<&ZoneKey>, zsk: &ZoneKey) -> Vec<DNSKEY> {
    let targets = [ksk.unwrap_or(zsk), zsk];
    (0..KEYTRAP_FAKE_KEYS)
        .filter_map(|i| {
            let real = targets.get(i % 2)?;
            let len = real.dnskey.public_key().public_bytes().len().max(4);
            let mut bytes: Vec<u8> = (0..len)
                .map(|j| (i.wrapping_mul(31).wrapping_add(j.wrapping_mul(7)) & 0xff) as u8)
                .collect();
            let flags = real.dnskey.flags();
            let alg = u8::from(real.algorithm);
            set_key_tag(flags, alg, &mut bytes, real.tag);
            Some(DNSKEY::with_flags(
                flags,
                PublicKeyBuf::new(bytes, real.algorithm),
            ))
        })
        .collect()
}

/// Adjust the last two bytes of `key` (at an even RDATA offset when the
/// key's length is even) so that the DNSKEY's tag (RFC 4034 App. B) is
/// `tag`.
fn set_key_tag(flags: u16, alg: u8, key: &mut [u8], tag: u16) {
    let mut rdata = Vec::with_capacity(key.len() + 4);
    rdata.extend_from_slice(&flags.to_be_bytes());
    rdata.push(3);
    rdata.push(alg);
    rdata.extend_from_slice(key);
    let n = rdata.len();
    for word in 0..=u16::MAX {
        let [hi, lo] = word.to_be_bytes();
        if let Some(slot) = rdata.get_mut(n - 2) {
            *slot = hi;
        }
        if let Some(slot) = rdata.get_mut(n - 1) {
            *slot = lo;
        }
        if DNSKEY::calculate_key_tag_internal(&rdata) == tag {
            let k = key.len();
            if let Some(slot) = key.get_mut(k - 2) {
                *slot = hi;
            }
            if let Some(slot) = key.get_mut(k - 1) {
                *slot = lo;
            }
            return;
        }
    }
}

/// [`KEYTRAP_FAKE_SIGS`] copies of `sig` with signature bytes no key verifies.
fn keytrap_sigs(sig: &Record) -> Vec<Record> {
    let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &sig.data else {
        return Vec::new();
    };
    let len = rrsig.sig().len();
    (0..KEYTRAP_FAKE_SIGS)
        .map(|i| {
            let bytes: Vec<u8> = (0..len)
                .map(|j| (i.wrapping_mul(13).wrapping_add(j) & 0xff) as u8 | 1)
                .collect();
            let mut fake = sig.clone();
            fake.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                rrsig.input().clone(),
                bytes,
            )));
            fake
        })
        .collect()
}

/// One RRSIG over `set` by `key` for the zone `signer`.
pub(crate) fn sign_rrset(
    set: &RrSet,
    key: &ZoneKey,
    signer: &Name,
    plan: &SignPlan<'_>,
) -> Result<Record, LabError> {
    let input = SigInput {
        type_covered: set.rtype,
        algorithm: key.algorithm,
        num_labels: set.name.num_labels(),
        original_ttl: set.ttl,
        sig_expiration: SerialNumber::new(plan.expiration),
        sig_inception: SerialNumber::new(plan.inception),
        key_tag: key.tag,
        signer_name: signer.clone(),
    };
    let tbs =
        TBS::from_input(&set.name, DNSClass::IN, &input, set.records.iter()).map_err(|source| {
            LabError::Sign {
                zone: signer.to_string(),
                name: set.name.to_string(),
                source,
            }
        })?;
    let mut sig = key.key.sign(&tbs).map_err(|source| LabError::SignKey {
        zone: signer.to_string(),
        name: set.name.to_string(),
        source: Box::new(source),
    })?;
    if plan.tamper_data
        && set.rtype != RecordType::DNSKEY
        && let Some(last) = sig.last_mut()
    {
        *last ^= 0x5a;
    }
    let mut record = Record::from_rdata(
        set.name.clone(),
        set.ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
    );
    record.dns_class = DNSClass::IN;
    Ok(record)
}

/// Types in the bitmap of the NSEC/NSEC3 for a node (without NSEC itself).
fn present_types(zone: &SignedZone, name: &Name, node: &Node) -> Vec<RecordType> {
    let is_cut = zone.cuts.contains(name);
    let mut types: Vec<RecordType> = node
        .keys()
        .copied()
        .filter(|t| !is_cut || matches!(t, RecordType::NS | RecordType::DS))
        .collect();
    let signed = !is_cut || node.contains_key(&RecordType::DS);
    if signed && !types.is_empty() {
        types.push(RecordType::RRSIG);
    }
    types
}

fn add_nsec_chain(zone: &mut SignedZone, owners: &[Name], ttl: u32) {
    let mut chain = Vec::with_capacity(owners.len());
    for (i, name) in owners.iter().enumerate() {
        let next = owners.get(i + 1).unwrap_or(&zone.origin).clone();
        let mut types = zone
            .nodes
            .get(name)
            .map(|node| present_types(zone, name, node))
            .unwrap_or_default();
        if !types.contains(&RecordType::RRSIG) {
            types.push(RecordType::RRSIG); // the NSEC itself is signed
        }
        types.push(RecordType::NSEC);
        let mut set = RrSet::new(name.clone(), RecordType::NSEC, ttl);
        set.push(RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types))));
        chain.push(set);
    }
    for set in chain {
        zone.nodes
            .entry(set.name.clone())
            .or_default()
            .insert(RecordType::NSEC, set);
    }
}

/// NSEC3 hash of `name` with the lab's parameters (SHA-1, empty salt,
/// `iterations` extra iterations: 0 unless faulted).
pub fn nsec3_hash(name: &Name, iterations: u16) -> Result<Vec<u8>, hickory_proto::ProtoError> {
    Ok(Nsec3HashAlgorithm::SHA1
        .hash(&[], name, iterations)?
        .as_ref()
        .to_vec())
}

fn add_nsec3_chain(zone: &mut SignedZone, owners: &[Name], ttl: u32) -> Result<(), LabError> {
    let iterations = zone.nsec3_iterations;
    // Owners plus empty non-terminals between them and the apex.
    let mut names: BTreeMap<Name, Vec<RecordType>> = BTreeMap::new();
    for name in owners {
        let types = zone
            .nodes
            .get(name)
            .map(|node| present_types(zone, name, node))
            .unwrap_or_default();
        names.insert(name.clone(), types);
        let mut parent = name.base_name();
        while zone.origin.zone_of(&parent) && parent != zone.origin && !parent.is_root() {
            names.entry(parent.clone()).or_default();
            parent = parent.base_name();
        }
    }
    let mut hashed: BTreeMap<Vec<u8>, Vec<RecordType>> = BTreeMap::new();
    for (name, types) in names {
        let hash = nsec3_hash(&name, iterations).map_err(|source| LabError::Sign {
            zone: zone.origin.to_string(),
            name: name.to_string(),
            source,
        })?;
        hashed.insert(hash, types);
    }
    let hashes: Vec<Vec<u8>> = hashed.keys().cloned().collect();
    for (i, (hash, types)) in hashed.into_iter().enumerate() {
        let next = hashes
            .get(i + 1)
            .or_else(|| hashes.first())
            .cloned()
            .unwrap_or_default();
        let label = data_encoding::BASE32_DNSSEC.encode(&hash);
        let owner = Name::from_ascii(&label)
            .and_then(|n| n.append_domain(&zone.origin))
            .map_err(|source| LabError::Sign {
                zone: zone.origin.to_string(),
                name: zone.origin.to_string(),
                source,
            })?;
        let mut set = RrSet::new(owner, RecordType::NSEC3, ttl);
        set.push(RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            false,
            iterations,
            Vec::new(),
            next,
            types,
        ))));
        zone.nsec3.insert(hash, set);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;
    use crate::default_zones_dir;
    use crate::zone;
    use hickory_proto::dnssec::Verifier;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn load(origin: &str, file: &str) -> ZoneData {
        zone::load(&default_zones_dir().join(file), &name(origin), None).unwrap()
    }

    fn rrsig(record: &Record) -> &RRSIG {
        match &record.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) => sig,
            other => panic!("not an RRSIG: {other:?}"),
        }
    }

    fn verify_all(zone: &SignedZone, keys: &[&DNSKEY]) {
        let sets = zone
            .nodes
            .values()
            .flat_map(|n| n.values())
            .chain(zone.nsec3.values());
        let mut checked = 0;
        for set in sets {
            for sig in &set.rrsigs {
                let sig = rrsig(sig);
                let ok = keys.iter().any(|k| {
                    k.verify_rrsig(&set.name, DNSClass::IN, sig, set.records.iter())
                        .is_ok()
                });
                assert!(
                    ok,
                    "signature over {} {} does not verify",
                    set.name, set.rtype
                );
                checked += 1;
            }
        }
        assert!(checked > 5);
    }

    #[test]
    fn nsec_zone_signs_and_verifies() {
        for alg in [LabAlgorithm::EcdsaP256, LabAlgorithm::Ed25519] {
            let data = load("other.lab.", "other.lab.zone");
            let keys = ZoneKeys::generate(alg, &data.origin).unwrap();
            let zone = sign_for_fault(&data, Denial::Nsec, &keys, &Fault::None, alg).unwrap();
            verify_all(&zone, &[&keys.ksk.dnskey, &keys.zsk.dnskey]);
            let ds = keys.ksk.ds(&data.origin).unwrap();
            assert!(ds.covers(&data.origin, &keys.ksk.dnskey).unwrap());
            let apex = &zone.nodes[&data.origin];
            assert_eq!(apex[&RecordType::DNSKEY].rrsigs.len(), 1);
            assert_eq!(
                rrsig(&apex[&RecordType::DNSKEY].rrsigs[0]).input().key_tag,
                keys.ksk.tag
            );
        }
    }

    #[test]
    fn nsec3_zone_has_ents_and_cut_bitmaps() {
        let mut data = load("lab.", "lab.zone");
        let child = ZoneKeys::generate(LabAlgorithm::EcdsaP256, &name("example.lab.")).unwrap();
        data.add_ds(
            &name("example.lab."),
            &[child.ksk.ds(&name("example.lab.")).unwrap()],
        );
        let keys = ZoneKeys::generate(LabAlgorithm::EcdsaP256, &data.origin).unwrap();
        let zone = sign_for_fault(
            &data,
            Denial::Nsec3,
            &keys,
            &Fault::None,
            LabAlgorithm::EcdsaP256,
        )
        .unwrap();
        verify_all(&zone, &[&keys.ksk.dnskey, &keys.zsk.dnskey]);
        let bitmap = |n: &str| {
            let set = &zone.nsec3[&nsec3_hash(&name(n), 0).unwrap()];
            match &set.records[0].data {
                RData::DNSSEC(DNSSECRData::NSEC3(n)) => n.type_bit_maps().collect::<Vec<_>>(),
                _ => panic!(),
            }
        };
        assert_eq!(bitmap("insecure.lab."), vec![RecordType::NS]);
        let secure = bitmap("example.lab.");
        assert!(secure.contains(&RecordType::DS) && secure.contains(&RecordType::RRSIG));
        assert!(bitmap("a.root-servers.lab.").contains(&RecordType::A));
        assert!(bitmap("root-servers.lab.").is_empty(), "empty non-terminal");
        // glue below cuts is neither hashed nor signed
        assert!(
            !zone
                .nsec3
                .contains_key(&nsec3_hash(&name("ns1.example.lab."), 0).unwrap())
        );
        assert!(
            zone.nodes[&name("ns1.example.lab.")][&RecordType::A]
                .rrsigs
                .is_empty()
        );
        assert!(
            zone.nodes[&name("example.lab.")][&RecordType::NS]
                .rrsigs
                .is_empty()
        );
        assert_eq!(
            zone.nodes[&name("example.lab.")][&RecordType::DS]
                .rrsigs
                .len(),
            1
        );
    }

    #[test]
    fn fault_variants_sign_differently() {
        let data = load("other.lab.", "other.lab.zone");
        let alg = LabAlgorithm::EcdsaP256;
        let keys = ZoneKeys::generate(alg, &data.origin).unwrap();
        let published = |z: &SignedZone| -> Vec<u16> {
            z.nodes[&data.origin][&RecordType::DNSKEY]
                .records
                .iter()
                .map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::DNSKEY(k)) => k.calculate_key_tag().unwrap(),
                    _ => panic!(),
                })
                .collect()
        };
        let www = name("www.other.lab.");
        let www_tag = |z: &SignedZone| {
            rrsig(&z.nodes[&www][&RecordType::A].rrsigs[0])
                .input()
                .key_tag
        };

        let z = sign_for_fault(&data, Denial::Nsec, &keys, &Fault::UnpublishedZsk, alg).unwrap();
        assert_eq!(published(&z), vec![keys.ksk.tag, keys.zsk.tag]);
        assert!(!published(&z).contains(&www_tag(&z)));

        let z = sign_for_fault(&data, Denial::Nsec, &keys, &Fault::KskWithoutDs, alg).unwrap();
        assert!(!published(&z).contains(&keys.ksk.tag));
        assert!(published(&z).contains(&keys.zsk.tag));
        assert_eq!(www_tag(&z), keys.zsk.tag);

        let z = sign_for_fault(&data, Denial::Nsec, &keys, &Fault::ExpiredRrsigs, alg).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32;
        let sig = rrsig(&z.nodes[&www][&RecordType::A].rrsigs[0]);
        assert!(sig.input().sig_expiration.get() < now);
    }

    #[test]
    fn keytrap_keys_collide_and_fake_signatures_come_first() {
        let data = load("other.lab.", "other.lab.zone");
        let alg = LabAlgorithm::EcdsaP256;
        let keys = ZoneKeys::generate(alg, &data.origin).unwrap();
        let z = sign_for_fault(&data, Denial::Nsec, &keys, &Fault::KeyTrap, alg).unwrap();
        let tags: Vec<u16> = z.nodes[&data.origin][&RecordType::DNSKEY]
            .records
            .iter()
            .map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => k.calculate_key_tag().unwrap(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(tags.len(), 2 + KEYTRAP_FAKE_KEYS);
        for tag in [keys.ksk.tag, keys.zsk.tag] {
            let sharing = tags.iter().filter(|t| **t == tag).count();
            assert_eq!(sharing, 1 + KEYTRAP_FAKE_KEYS / 2, "tag {tag}");
        }
        let set = &z.nodes[&name("www.other.lab.")][&RecordType::A];
        assert_eq!(set.rrsigs.len(), KEYTRAP_FAKE_SIGS + 1);
        assert!(
            set.rrsigs
                .iter()
                .all(|s| rrsig(s).input().key_tag == keys.zsk.tag)
        );
        let (last, fakes) = set.rrsigs.split_last().unwrap();
        let verify = |sig: &Record| {
            keys.zsk
                .dnskey
                .verify_rrsig(&set.name, DNSClass::IN, rrsig(sig), set.records.iter())
                .is_ok()
        };
        assert!(verify(last), "the real signature is last");
        assert!(!fakes.iter().any(verify));
    }

    #[test]
    fn nsec3_iterations_fault_signs_with_nsec3() {
        let data = load("other.lab.", "other.lab.zone");
        let alg = LabAlgorithm::EcdsaP256;
        let keys = ZoneKeys::generate(alg, &data.origin).unwrap();
        let z = sign_for_fault(
            &data,
            Denial::Nsec,
            &keys,
            &Fault::Nsec3Iterations(500),
            alg,
        )
        .unwrap();
        assert_eq!(z.denial, Some(Denial::Nsec3));
        assert_eq!(z.nsec3_iterations, 500);
        let hash = nsec3_hash(&name("www.other.lab."), 500).unwrap();
        assert!(z.nsec3.contains_key(&hash));
        verify_all(&z, &[&keys.ksk.dnskey, &keys.zsk.dnskey]);
    }

    #[test]
    fn attack_faults_add_their_records() {
        let data = load("other.lab.", "other.lab.zone");
        let has = |d: &ZoneData, n: &str, t: RecordType| {
            d.nodes
                .get(&name(n))
                .is_some_and(|node| node.contains_key(&t))
        };
        let d = faulted_data(&data, &Fault::CnameLoop).unwrap();
        assert!(has(&d, "loop-a.other.lab.", RecordType::CNAME));
        assert!(has(&d, "loop-b.other.lab.", RecordType::CNAME));
        let d = faulted_data(&data, &Fault::CnameChain(3)).unwrap();
        assert!(has(&d, "chain-2.other.lab.", RecordType::CNAME));
        assert!(has(&d, "chain-3.other.lab.", RecordType::A));
        let d = faulted_data(&data, &Fault::Oversize).unwrap();
        let big = &d.nodes[&name("big.other.lab.")][&RecordType::TXT];
        assert_eq!(big.records.len(), OVERSIZE_TXT_RECORDS);
        let d = faulted_data(&data, &Fault::Drop).unwrap();
        assert_eq!(d.nodes.len(), data.nodes.len());
    }
}
