//! The store's entry codec and re-verification: the one format every
//! last-good store (the embedded file, the Redis tier, `cache dump`
//! files) holds, and the one function that turns stored bytes back into
//! a cache entry.
//!
//! - [`encode`]`(key, entry, chain) -> Vec<u8>`: a Validated-view entry
//!   (Secure or Insecure) with the chain that proves it: the DNSKEY sets
//!   and DS steps (positive DS sets, or the signed proof that there is no
//!   DS: the insecurity proof) from the trust anchor down to the entry's
//!   zone and signers.
//! - [`decode_and_verify`]`(bytes, trust, now) -> (CacheKey, Entry)`:
//!   parses (bounded, never panics on garbage) and proves the entry again
//!   against the configured trust anchors, as of its stored-at time: an
//!   entry that validated when it was stored is accepted, anything else
//!   (a changed record, a dropped signature, a truncated chain, a Bogus
//!   or CD-view entry) is a [`StoreError`] whose [`StoreError::reason`]
//!   labels `lastgood_store_rejected_total`.
//!
//! Pure: no IO, no clock (`now` is passed in).
//!
//! # Format (version 1; integers big-endian)
//!
//! ```text
//! "LGS" version:u8
//! key:    name qtype:u16 qclass:u16
//! entry:  kind:u8 [target:name if kind = 1] rcode:u16 security:u8
//!         zone:name stored_at_ms:u64 ttl:u32 answers authorities
//! chain:  links:u8 { 1 zone:name records | 2 child:name parent:name
//!                    rcode:u16 answers authorities }
//! name:   len:u16 wire-format name (uncompressed)
//! section: count:u16 { len:u16 wire-format record }
//! ```
//!
//! kind: 0 positive, 1 CNAME, 2 NXDOMAIN, 3 NODATA; security: 0 Secure,
//! 1 Insecure. Bounds: [`MAX_ENTRY_BYTES`], [`MAX_RECORDS_PER_SECTION`],
//! [`MAX_CHAIN_LINKS`].
//!
//! # Limitations
//!
//! - An Insecure entry's records carry no signature: what is proven again
//!   is that its zone was insecure (the signed denial of a DS on the way
//!   down), not the records themselves. A writer with that proof can store
//!   any data for an insecure zone, exactly as an off-path attacker can
//!   answer for it on the wire.
//! - Insecure for lack of a supported algorithm or digest (EDE 1, 2) is
//!   proven through the DS set only when the chain carries it.

use std::collections::HashMap;
use std::time::Duration;

use hickory_proto::dnssec::rdata::{DNSSECRData, DS};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable};

use super::limits::{MAX_CHAIN_LINKS, MAX_CLOCK_SKEW, MAX_ENTRY_BYTES, MAX_RECORDS_PER_SECTION};
use crate::cache::{CacheKey, Entry, StepKind, View};
use crate::clock::Timestamp;
use crate::dnssec::validate::{self, AnswerKind, Budget};
use crate::dnssec::{
    AlgorithmPolicy, KeyEntry, KeyMap, Security, TrustAnchors, VerifiedSignatures,
};
use crate::limits::MAX_TTL;
use crate::resolve::ResolverConfig;
use crate::resolve::private::PrivateZones;

/// The format version written; readers refuse any other.
pub const FORMAT_VERSION: u8 = 1;
const MAGIC: &[u8; 3] = b"LGS";

/// One piece of an entry's chain of trust, as the resolver received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Link {
    /// A zone's DNSKEY RRset with its RRSIGs.
    Dnskey { zone: Name, records: Vec<Record> },
    /// The DS question for `child` as `parent`'s servers answered it: the
    /// DS RRset and its RRSIGs, or the signed proof that there is none.
    Ds {
        child: Name,
        parent: Name,
        rcode: ResponseCode,
        answers: Vec<Record>,
        authorities: Vec<Record>,
    },
}

/// Why stored bytes were not turned into an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not a store entry or truncated: {0}")]
    Malformed(&'static str),
    #[error("store entry format version {0}, this build reads {FORMAT_VERSION}")]
    Version(u8),
    #[error("{what} {count} is over {limit}")]
    Limit {
        limit: &'static str,
        what: &'static str,
        count: usize,
    },
    #[error("only Secure and Insecure entries of the validated view are stored")]
    NotValidated,
    #[error("chain of trust incomplete: {0}")]
    Chain(String),
    #[error("does not validate again: {0}")]
    Signature(String),
    #[error("stored at {stored_at}, after now ({now})")]
    Future {
        stored_at: Timestamp,
        now: Timestamp,
    },
}

impl StoreError {
    /// The `reason` label of `lastgood_store_rejected_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::Malformed(_) => "malformed",
            StoreError::Version(_) => "version",
            StoreError::Limit { .. } => "limit",
            StoreError::NotValidated => "not_validated",
            StoreError::Chain(_) => "chain",
            StoreError::Signature(_) => "signature",
            StoreError::Future { .. } => "future",
        }
    }
}

/// What re-verification needs from the configuration.
#[derive(Clone, Debug)]
pub struct Trust {
    pub anchors: TrustAnchors,
    pub algorithms: AlgorithmPolicy,
    /// `dnssec = false`: every name is Insecure by configuration.
    pub dnssec: bool,
    /// Forward and stub zones: one without validation (or without an
    /// anchor) makes its names Insecure by configuration.
    pub private_zones: PrivateZones,
    /// Signatures verified before (the resolver's memo): the chain's
    /// signatures, shared by every entry of a zone, cost a hash.
    pub memo: Option<VerifiedSignatures>,
}

impl Trust {
    /// The trust a resolver with `config` places (memo: its verified
    /// signatures, if shared).
    pub fn from_config(config: &ResolverConfig, memo: Option<VerifiedSignatures>) -> Self {
        Self {
            anchors: config.anchors.clone(),
            algorithms: config.algorithms,
            dnssec: config.dnssec,
            private_zones: config.private_zones.clone(),
            memo,
        }
    }

    fn budget(&self) -> Budget {
        let budget = match &self.memo {
            Some(m) => Budget::with_memo(m.clone()),
            None => Budget::new(),
        };
        budget.with_policy(self.algorithms)
    }

    /// Whether names in `zone` are Insecure whatever is signed: no
    /// anchor above it, validation off, or a private zone without one.
    pub fn insecure_by_config(&self, zone: &Name) -> bool {
        !self.dnssec
            || self.anchors.closest(zone).is_none()
            || self.private_zones.covering(zone).is_some_and(|z| !z.secure)
    }
}

/// Encode a Validated-view entry with its chain.
pub fn encode(key: &CacheKey, entry: &Entry, chain: &[Link]) -> Result<Vec<u8>, StoreError> {
    let security = match entry.security {
        Security::Secure => 0u8,
        Security::Insecure { .. } => 1,
        Security::Bogus(_) | Security::Indeterminate(_) => return Err(StoreError::NotValidated),
    };
    if key.view != View::Validated {
        return Err(StoreError::NotValidated);
    }
    let links = u8::try_from(chain.len())
        .ok()
        .filter(|n| usize::from(*n) <= MAX_CHAIN_LINKS)
        .ok_or(StoreError::Limit {
            limit: "MAX_CHAIN_LINKS",
            what: "chain links",
            count: chain.len(),
        })?;
    let mut w = Writer(Vec::with_capacity(512));
    w.0.extend_from_slice(MAGIC);
    w.0.push(FORMAT_VERSION);
    w.name(&key.name)?;
    w.u16(u16::from(key.qtype));
    w.u16(u16::from(key.qclass));
    match &entry.kind {
        StepKind::Positive => w.0.push(0),
        StepKind::Cname { target } => {
            w.0.push(1);
            w.name(target)?;
        }
        StepKind::NxDomain => w.0.push(2),
        StepKind::NoData => w.0.push(3),
    }
    w.u16(u16::from(entry.rcode));
    w.0.push(security);
    w.name(&entry.zone)?;
    w.0.extend_from_slice(&entry.stored_at.as_millis().to_be_bytes());
    w.0.extend_from_slice(&entry.ttl.to_be_bytes());
    w.section(&entry.answers)?;
    w.section(&entry.authorities)?;
    w.0.push(links);
    for link in chain {
        match link {
            Link::Dnskey { zone, records } => {
                w.0.push(1);
                w.name(zone)?;
                w.section(records)?;
            }
            Link::Ds {
                child,
                parent,
                rcode,
                answers,
                authorities,
            } => {
                w.0.push(2);
                w.name(child)?;
                w.name(parent)?;
                w.u16(u16::from(*rcode));
                w.section(answers)?;
                w.section(authorities)?;
            }
        }
    }
    if w.0.len() > MAX_ENTRY_BYTES {
        return Err(StoreError::Limit {
            limit: "MAX_ENTRY_BYTES",
            what: "entry bytes",
            count: w.0.len(),
        });
    }
    Ok(w.0)
}

/// An entry as stored, not yet proven.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub key: CacheKey,
    pub entry: Entry,
    pub chain: Vec<Link>,
}

/// Parse stored bytes (bounded; garbage is an error, never a panic).
pub fn decode(bytes: &[u8]) -> Result<Decoded, StoreError> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(StoreError::Limit {
            limit: "MAX_ENTRY_BYTES",
            what: "entry bytes",
            count: bytes.len(),
        });
    }
    let mut r = Reader(bytes);
    if r.take(3)? != MAGIC {
        return Err(StoreError::Malformed("magic"));
    }
    let version = r.u8()?;
    if version != FORMAT_VERSION {
        return Err(StoreError::Version(version));
    }
    let name = r.name()?;
    let qtype = RecordType::from(r.u16()?);
    let qclass = DNSClass::from(r.u16()?);
    let key = CacheKey::new(&name, qtype, qclass, View::Validated);
    let kind = match r.u8()? {
        0 => StepKind::Positive,
        1 => StepKind::Cname { target: r.name()? },
        2 => StepKind::NxDomain,
        3 => StepKind::NoData,
        _ => return Err(StoreError::Malformed("step kind")),
    };
    let rcode =
        ResponseCode::from_low(u8::try_from(r.u16()?).map_err(|_| StoreError::Malformed("rcode"))?);
    let security = match r.u8()? {
        0 => Security::Secure,
        1 => Security::INSECURE,
        _ => return Err(StoreError::Malformed("security")),
    };
    let zone = r.name()?;
    let stored_at = Timestamp::from_millis(r.u64()?);
    let ttl = r.u32()?;
    let answers = r.section()?;
    let authorities = r.section()?;
    let links = usize::from(r.u8()?);
    if links > MAX_CHAIN_LINKS {
        return Err(StoreError::Limit {
            limit: "MAX_CHAIN_LINKS",
            what: "chain links",
            count: links,
        });
    }
    let mut chain = Vec::with_capacity(links);
    for _ in 0..links {
        let link = match r.u8()? {
            1 => Link::Dnskey {
                zone: r.name()?,
                records: r.section()?,
            },
            2 => Link::Ds {
                child: r.name()?,
                parent: r.name()?,
                rcode: ResponseCode::from_low(
                    u8::try_from(r.u16()?).map_err(|_| StoreError::Malformed("rcode"))?,
                ),
                answers: r.section()?,
                authorities: r.section()?,
            },
            _ => return Err(StoreError::Malformed("link type")),
        };
        chain.push(link);
    }
    if !r.0.is_empty() {
        return Err(StoreError::Malformed("trailing bytes"));
    }
    Ok(Decoded {
        key,
        entry: Entry {
            kind,
            rcode,
            answers,
            authorities,
            security,
            zone: zone.to_lowercase(),
            stored_at,
            ttl,
        },
        chain,
    })
}

/// Parse stored bytes and prove the entry again (see the module doc).
pub fn decode_and_verify(
    bytes: &[u8],
    trust: &Trust,
    now: Timestamp,
) -> Result<(CacheKey, Entry), StoreError> {
    verify(decode(bytes)?, trust, now)
}

/// Prove a decoded entry again against `trust`, as of its stored-at time.
/// The entry returned carries the security found now (with its EDE note)
/// and a TTL no longer than its signatures allowed when it was stored.
pub fn verify(
    decoded: Decoded,
    trust: &Trust,
    now: Timestamp,
) -> Result<(CacheKey, Entry), StoreError> {
    let Decoded {
        key,
        mut entry,
        chain,
    } = decoded;
    if entry.stored_at > now.saturating_add(MAX_CLOCK_SKEW) {
        return Err(StoreError::Future {
            stored_at: entry.stored_at,
            now,
        });
    }
    let at = entry.stored_at.unix_secs();
    let keys = prove_chain(&chain, trust, at)?;
    let mut keys = keys;
    if !keys.contains_key(&entry.zone) && trust.insecure_by_config(&entry.zone) {
        keys.insert(entry.zone.clone(), KeyEntry::Insecure { note: None });
    }
    if !keys.contains_key(&entry.zone) {
        return Err(StoreError::Chain(format!(
            "no keys for zone {}",
            entry.zone
        )));
    }
    let mut budget = trust.budget();
    let verdict = validate::validate_answer(
        entry.rcode,
        &entry.answers,
        &entry.authorities,
        &key.name,
        key.qtype,
        &entry.zone,
        &keys,
        at,
        &mut budget,
    );
    let same_class = matches!(
        (&verdict.security, &entry.security),
        (Security::Secure, Security::Secure)
            | (Security::Insecure { .. }, Security::Insecure { .. })
    );
    if !same_class {
        return Err(StoreError::Signature(format!(
            "{} {}: stored as {:?}, validates as {:?}",
            key.name, key.qtype, entry.security, verdict.security
        )));
    }
    check_kind(&key, &entry, verdict.kind)?;
    entry.security = verdict.security;
    let cap = verdict.ttl_cap.unwrap_or(MAX_TTL).min(MAX_TTL);
    entry.ttl = entry.ttl.min(cap);
    Ok((key, entry))
}

/// The step kind stored must be the one the records show (a CNAME's
/// target is the target of the CNAME that validated).
fn check_kind(key: &CacheKey, entry: &Entry, found: AnswerKind) -> Result<(), StoreError> {
    let ok = match (&entry.kind, found) {
        (StepKind::Positive, AnswerKind::Positive)
        | (StepKind::NxDomain, AnswerKind::NxDomain)
        | (StepKind::NoData, AnswerKind::NoData) => true,
        (StepKind::Cname { target }, AnswerKind::Cname) => entry.answers.iter().any(|r| {
            r.name.to_lowercase() == key.name
                && matches!(&r.data, RData::CNAME(c) if c.0.to_lowercase() == target.to_lowercase())
        }),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::Signature(format!(
            "{} {}: stored as {:?}, the records show {found:?}",
            key.name, key.qtype, entry.kind
        )))
    }
}

/// Walk the chain top-down and return the key verdicts it proves.
fn prove_chain(chain: &[Link], trust: &Trust, at: u64) -> Result<KeyMap, StoreError> {
    let mut keys = KeyMap::new();
    let mut ds_sets: HashMap<Name, Vec<DS>> = HashMap::new();
    for link in chain {
        let mut budget = trust.budget();
        match link {
            Link::Dnskey { zone, records } => {
                let zone = zone.to_lowercase();
                let (ds, anchor_keys) = match trust.anchors.get(&zone) {
                    Some((ds, keys)) => (ds.to_vec(), keys.to_vec()),
                    None => match ds_sets.get(&zone) {
                        Some(ds) => (ds.clone(), Vec::new()),
                        None => {
                            return Err(StoreError::Chain(format!(
                                "DNSKEY {zone} without an anchor or a DS set above it"
                            )));
                        }
                    },
                };
                let entry =
                    validate::validate_dnskeys(&zone, records, &ds, &anchor_keys, at, &mut budget);
                if let KeyEntry::Bogus(r) = &entry {
                    return Err(StoreError::Signature(format!("DNSKEY {zone}: {r}")));
                }
                keys.insert(zone, entry);
            }
            Link::Ds {
                child,
                parent,
                rcode,
                answers,
                authorities,
            } => {
                let (child, parent) = (child.to_lowercase(), parent.to_lowercase());
                if !parent.zone_of(&child) || parent == child {
                    return Err(StoreError::Chain(format!("DS {child} asked of {parent}")));
                }
                if !keys.contains_key(&parent) {
                    if trust.insecure_by_config(&parent) {
                        keys.insert(parent.clone(), KeyEntry::Insecure { note: None });
                    } else {
                        return Err(StoreError::Chain(format!(
                            "DS {child}: no keys for {parent}"
                        )));
                    }
                }
                let verdict = validate::validate_answer(
                    *rcode,
                    answers,
                    authorities,
                    &child,
                    RecordType::DS,
                    &parent,
                    &keys,
                    at,
                    &mut budget,
                );
                match (verdict.security, verdict.kind) {
                    (Security::Secure, AnswerKind::Positive) => {
                        let ds = answers
                            .iter()
                            .filter(|r| r.name.to_lowercase() == child)
                            .filter_map(|r| match &r.data {
                                RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
                                _ => None,
                            })
                            .collect();
                        ds_sets.insert(child, ds);
                    }
                    (Security::Secure, AnswerKind::NoData) => {
                        keys.insert(child, KeyEntry::Insecure { note: None });
                    }
                    (Security::Insecure { note }, _) => {
                        keys.insert(child, KeyEntry::Insecure { note });
                    }
                    (security, kind) => {
                        return Err(StoreError::Signature(format!(
                            "DS {child}: {kind:?} {security:?}"
                        )));
                    }
                }
            }
        }
    }
    Ok(keys)
}

/// Whether `entry` is still usable at `now`, fresh or within
/// `max_stale` (readers drop entries past that).
pub fn usable(entry: &Entry, now: Timestamp, max_stale: Duration) -> bool {
    !matches!(
        crate::cache::freshness(entry.stored_at, entry.ttl, now, max_stale),
        crate::cache::Freshness::Gone
    )
}

struct Writer(Vec<u8>);

impl Writer {
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), StoreError> {
        let len = u16::try_from(b.len()).map_err(|_| StoreError::Limit {
            limit: "MAX_ENTRY_BYTES",
            what: "item bytes",
            count: b.len(),
        })?;
        self.u16(len);
        self.0.extend_from_slice(b);
        Ok(())
    }

    fn name(&mut self, name: &Name) -> Result<(), StoreError> {
        let wire = name
            .to_bytes()
            .map_err(|_| StoreError::Malformed("unencodable name"))?;
        self.bytes(&wire)
    }

    fn section(&mut self, records: &[Record]) -> Result<(), StoreError> {
        if records.len() > MAX_RECORDS_PER_SECTION {
            return Err(StoreError::Limit {
                limit: "MAX_RECORDS_PER_SECTION",
                what: "records",
                count: records.len(),
            });
        }
        // Checked just above: at most MAX_RECORDS_PER_SECTION (< 65,536).
        self.u16(u16::try_from(records.len()).unwrap_or(u16::MAX));
        for r in records {
            let wire = r
                .to_bytes()
                .map_err(|_| StoreError::Malformed("unencodable record"))?;
            self.bytes(&wire)?;
        }
        Ok(())
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(StoreError::Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        let b = self.take(1)?;
        b.first().copied().ok_or(StoreError::Malformed("truncated"))
    }

    fn u16(&mut self) -> Result<u16, StoreError> {
        let b: [u8; 2] = self
            .take(2)?
            .try_into()
            .map_err(|_| StoreError::Malformed("truncated"))?;
        Ok(u16::from_be_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| StoreError::Malformed("truncated"))?;
        Ok(u32::from_be_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        let b: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| StoreError::Malformed("truncated"))?;
        Ok(u64::from_be_bytes(b))
    }

    fn item(&mut self) -> Result<&'a [u8], StoreError> {
        let len = usize::from(self.u16()?);
        self.take(len)
    }

    fn name(&mut self) -> Result<Name, StoreError> {
        let wire = self.item()?;
        let mut d = BinDecoder::new(wire);
        let name = Name::read(&mut d).map_err(|_| StoreError::Malformed("name"))?;
        if !d.is_empty() {
            return Err(StoreError::Malformed("name length"));
        }
        Ok(name)
    }

    fn section(&mut self) -> Result<Vec<Record>, StoreError> {
        let count = usize::from(self.u16()?);
        if count > MAX_RECORDS_PER_SECTION {
            return Err(StoreError::Limit {
                limit: "MAX_RECORDS_PER_SECTION",
                what: "records",
                count,
            });
        }
        let mut out = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            let wire = self.item()?;
            let mut d = BinDecoder::new(wire);
            let record = Record::read(&mut d).map_err(|_| StoreError::Malformed("record"))?;
            if !d.is_empty() {
                return Err(StoreError::Malformed("record length"));
            }
            out.push(record);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
