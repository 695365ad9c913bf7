//! RRset signature verification (RFC 4035 §5.3) under a work budget.
//!
//! Everything here is pure: records, keys and `now` in, a verified TTL cap
//! or the precise reason for failure out.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use hickory_proto::ProtoError;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::BogusKind;
use super::BogusReason;
use super::algorithms::{AlgorithmPolicy, verify_signature};
use super::memo::VerifiedSignatures;
use crate::cache::NameHashState;
use crate::limits::{self, Limit};

/// Per-response work budget (KeyTrap CVE-2023-50387, CVE-2023-50868).
#[derive(Debug, Clone)]
pub struct Budget {
    signatures_left: u32,
    hashes_left: u32,
    signatures_gone: bool,
    hashes_gone: bool,
    keys_per_tag_cut: bool,
    /// Signatures verified before: a match skips the crypto (and so does
    /// not spend the budget, which bounds crypto work).
    memo: Option<VerifiedSignatures>,
    /// Which algorithms count as supported (`sha1-algorithms`).
    policy: AlgorithmPolicy,
}

impl Budget {
    /// A fresh budget from `MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE` and
    /// `MAX_NSEC3_HASHES_PER_RESPONSE`.
    pub fn new() -> Self {
        Self {
            signatures_left: limits::MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE,
            hashes_left: limits::MAX_NSEC3_HASHES_PER_RESPONSE,
            signatures_gone: false,
            hashes_gone: false,
            keys_per_tag_cut: false,
            memo: None,
            policy: AlgorithmPolicy::default(),
        }
    }

    /// The same budget validating the algorithms `policy` allows.
    #[must_use]
    pub fn with_policy(mut self, policy: AlgorithmPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Whether `alg` is validated under this budget's policy.
    pub(crate) fn supports(&self, alg: Algorithm) -> bool {
        self.policy.supports(alg)
    }

    /// A fresh budget that consults and fills `memo`.
    pub fn with_memo(memo: VerifiedSignatures) -> Self {
        Self {
            memo: Some(memo),
            ..Self::new()
        }
    }

    /// Name of the limit constant that cut work short, if any: a budget
    /// that ran out (and so failed the response) before
    /// `MAX_KEYS_PER_KEY_TAG`, which only skipped colliding keys.
    pub fn exhausted(&self) -> Option<Limit> {
        if self.signatures_gone {
            Some(LIMIT_SIGNATURES)
        } else if self.hashes_gone {
            Some(LIMIT_HASHES)
        } else if self.keys_per_tag_cut {
            Some(LIMIT_KEYS_PER_TAG)
        } else {
            None
        }
    }

    /// Every limit constant that cut work short (see [`Budget::exhausted`]
    /// for the one that decided the verdict).
    pub fn limits_reached(&self) -> Vec<Limit> {
        [
            (self.signatures_gone, LIMIT_SIGNATURES),
            (self.hashes_gone, LIMIT_HASHES),
            (self.keys_per_tag_cut, LIMIT_KEYS_PER_TAG),
        ]
        .into_iter()
        .filter_map(|(hit, limit)| hit.then_some(limit))
        .collect()
    }

    /// Spend one signature verification; `false` once the budget is gone.
    pub(crate) fn take_signature(&mut self) -> bool {
        if let Some(left) = self.signatures_left.checked_sub(1) {
            self.signatures_left = left;
            true
        } else {
            self.signatures_gone = true;
            false
        }
    }

    /// Signature verifications spent from this budget so far.
    pub fn signatures_used(&self) -> u32 {
        limits::MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE.saturating_sub(self.signatures_left)
    }

    /// A verification was refused because the signature budget ran out.
    pub fn signatures_gone(&self) -> bool {
        self.signatures_gone
    }

    /// A hash was refused because the NSEC3 hash budget ran out.
    pub fn hashes_gone(&self) -> bool {
        self.hashes_gone
    }

    /// Spend one NSEC3 hash computation; `false` once the budget is gone.
    pub(crate) fn take_hash(&mut self) -> bool {
        if let Some(left) = self.hashes_left.checked_sub(1) {
            self.hashes_left = left;
            true
        } else {
            self.hashes_gone = true;
            false
        }
    }

    /// More keys shared a key tag than `MAX_KEYS_PER_KEY_TAG`; some were
    /// not tried.
    pub(crate) fn note_keys_per_tag(&mut self) {
        self.keys_per_tag_cut = true;
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) const LIMIT_SIGNATURES: Limit = Limit::MaxSignatureValidationsPerResponse;
pub(crate) const LIMIT_HASHES: Limit = Limit::MaxNsec3HashesPerResponse;
pub(crate) const LIMIT_KEYS_PER_TAG: Limit = Limit::MaxKeysPerKeyTag;

/// An RRset's type and owner, as [`RrSet::describe`] shows them.
pub(crate) struct Described<'a> {
    rtype: RecordType,
    name: &'a Name,
}

impl std::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.rtype, self.name)
    }
}

/// One RRset of a section with the RRSIGs that cover it.
#[derive(Debug)]
pub(crate) struct RrSet<'a> {
    pub name: Name,
    pub rtype: RecordType,
    pub class: DNSClass,
    pub records: Vec<&'a Record>,
    pub sigs: Vec<&'a RRSIG>,
}

impl RrSet<'_> {
    /// `"A host1.example.lab."`, for error details.
    pub fn describe(&self) -> String {
        self.described().to_string()
    }

    /// [`Self::describe`], formatted only when shown: verification that
    /// succeeds never formats it (issue 20: formatting it up front was
    /// ~3,300 instructions per RRset verified).
    pub fn described(&self) -> Described<'_> {
        Described {
            rtype: self.rtype,
            name: &self.name,
        }
    }

    /// The RDATA of the set's records, for typed access.
    pub fn data(&self) -> impl Iterator<Item = &RData> {
        self.records.iter().map(|r| &r.data)
    }

    /// Distinct signer names (lowercased) of the covering RRSIGs.
    pub fn signers(&self) -> Vec<Name> {
        let mut out: Vec<Name> = Vec::new();
        for sig in &self.sigs {
            let s = sig.input().signer_name.to_lowercase();
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

/// Group a section into RRsets (owner, type, class) and attach RRSIGs by
/// owner and type covered. RRSIGs that cover nothing present are dropped.
pub(crate) fn rrsets(section: &[Record]) -> Vec<RrSet<'_>> {
    let mut sets: Vec<RrSet<'_>> = Vec::new();
    let mut index: HashMap<(Name, RecordType, DNSClass), usize, NameHashState> =
        HashMap::with_hasher(NameHashState::default());
    for r in section {
        let rtype = r.record_type();
        if rtype == RecordType::RRSIG {
            continue;
        }
        match index.entry((r.name.clone(), rtype, r.dns_class)) {
            Entry::Occupied(e) => {
                if let Some(set) = sets.get_mut(*e.get()) {
                    set.records.push(r);
                }
            }
            Entry::Vacant(e) => {
                e.insert(sets.len());
                sets.push(RrSet {
                    name: r.name.clone(),
                    rtype,
                    class: r.dns_class,
                    records: vec![r],
                    sigs: Vec::new(),
                });
            }
        }
    }
    for r in section {
        let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &r.data else {
            continue;
        };
        let key = (r.name.clone(), sig.input().type_covered, r.dns_class);
        if let Some(set) = index.get(&key).and_then(|&i| sets.get_mut(i)) {
            set.sigs.push(sig);
        }
    }
    sets
}

/// A signature that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verified {
    /// RFC 4035 §5.3.3: min(original TTL, expiration - now).
    pub ttl_cap: u32,
    /// Seconds until the RRSIG expires (expiration - now).
    pub expires_in: u32,
    /// The RRSIG Labels field; fewer than the owner's labels means the
    /// RRset was synthesized from a wildcard (RFC 4035 §5.3.4).
    pub labels: u8,
}

/// How one RRSIG failed; a higher rank is closer to having verified and
/// wins when every RRSIG fails (the EDE then names the most telling cause).
struct SigFailure {
    rank: u8,
    kind: BogusKind,
    key_tag: Option<u16>,
    detail: String,
}

/// Where a signature stands against `now` (RFC 4034 §3.1.5: 32-bit serial
/// arithmetic, RFC 1982).
enum Window {
    /// Valid; seconds left until expiration.
    Valid(u32),
    Expired,
    NotYetValid,
}

fn window(input: &SigInput, now: u64) -> Window {
    // Truncation to 32 bits is the point: RRSIG times wrap (RFC 4034 §3.1.5).
    let now32 = (now & 0xFFFF_FFFF) as u32;
    let to_expiration = input.sig_expiration.get().wrapping_sub(now32) as i32;
    if to_expiration < 0 {
        return Window::Expired;
    }
    let since_inception = now32.wrapping_sub(input.sig_inception.get()) as i32;
    if since_inception < 0 {
        return Window::NotYetValid;
    }
    Window::Valid(to_expiration.unsigned_abs())
}

/// Verify `set` with the RRSIGs made by `signer`, trying `keys` (the
/// signer's authenticated zone keys). Each RRSIG is checked for signer,
/// labels, algorithm, validity window and key tag before any crypto.
pub(crate) fn verify_rrset(
    set: &RrSet<'_>,
    signer: &Name,
    keys: &[DNSKEY],
    now: u64,
    budget: &mut Budget,
) -> Result<Verified, BogusReason> {
    let what = set.described();
    let owner_labels = set.name.num_labels();
    let tagged: Vec<(u16, &DNSKEY)> = keys
        .iter()
        .filter(|k| k.zone_key() && !k.revoke())
        .filter_map(|k| k.calculate_key_tag().ok().map(|t| (t, k)))
        .collect();
    let mut best: Option<SigFailure> = None;
    let mut fail = |f: SigFailure| {
        if best.as_ref().is_none_or(|b| f.rank > b.rank) {
            best = Some(f);
        }
    };
    for sig in set.sigs.iter().filter(|s| s.input().signer_name == *signer) {
        let input = sig.input();
        let tag = input.key_tag;
        if !signer.zone_of(&set.name) {
            fail(SigFailure {
                rank: 1,
                kind: BogusKind::Bogus,
                key_tag: Some(tag),
                detail: format!("RRSIG signer {signer} is not an ancestor of {what}"),
            });
            continue;
        }
        if input.num_labels > owner_labels {
            fail(SigFailure {
                rank: 1,
                kind: BogusKind::Bogus,
                key_tag: Some(tag),
                detail: format!(
                    "RRSIG labels {} exceed the owner's {owner_labels} for {what}",
                    input.num_labels
                ),
            });
            continue;
        }
        if !budget.supports(input.algorithm) {
            fail(SigFailure {
                rank: 0,
                kind: BogusKind::RrsigsMissing,
                key_tag: Some(tag),
                detail: format!(
                    "no RRSIG with a supported algorithm for {what} (saw {})",
                    input.algorithm
                ),
            });
            continue;
        }
        let remaining = match window(input, now) {
            Window::Valid(s) => s,
            Window::Expired => {
                fail(SigFailure {
                    rank: 3,
                    kind: BogusKind::SignatureExpired,
                    key_tag: Some(tag),
                    detail: format!("RRSIG for {what} expired at {}", input.sig_expiration.get()),
                });
                continue;
            }
            Window::NotYetValid => {
                fail(SigFailure {
                    rank: 2,
                    kind: BogusKind::SignatureNotYetValid,
                    key_tag: Some(tag),
                    detail: format!(
                        "RRSIG for {what} not valid before {}",
                        input.sig_inception.get()
                    ),
                });
                continue;
            }
        };
        let candidates: Vec<&DNSKEY> = tagged
            .iter()
            .filter(|(t, k)| *t == tag && k.algorithm() == input.algorithm)
            .map(|(_, k)| *k)
            .collect();
        if candidates.is_empty() {
            fail(SigFailure {
                rank: 4,
                kind: BogusKind::DnskeyMissing,
                key_tag: Some(tag),
                detail: format!("no DNSKEY with tag {tag} for {what}"),
            });
            continue;
        }
        let Ok(data) = signed_data(set, input) else {
            fail(SigFailure {
                rank: 1,
                kind: BogusKind::Bogus,
                key_tag: Some(tag),
                detail: format!("cannot rebuild the signed data of {what}"),
            });
            continue;
        };
        if candidates.len() > limits::MAX_KEYS_PER_KEY_TAG {
            budget.note_keys_per_tag();
        }
        for key in candidates.iter().take(limits::MAX_KEYS_PER_KEY_TAG) {
            let known = budget
                .memo
                .clone()
                .map(|memo| (memo, VerifiedSignatures::digest(key, &data, sig.sig())));
            if let Some((memo, digest)) = &known
                && memo.contains(digest)
            {
                return Ok(Verified {
                    ttl_cap: remaining.min(input.original_ttl),
                    expires_in: remaining,
                    labels: input.num_labels,
                });
            }
            if !budget.take_signature() {
                return Err(BogusReason::new(
                    BogusKind::Bogus,
                    signer,
                    Some(tag),
                    format!(
                        "{LIMIT_SIGNATURES} ({}) reached while verifying {what}",
                        limits::MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE
                    ),
                ));
            }
            if verify_signature(key, &data, sig.sig()) {
                if let Some((memo, digest)) = known {
                    memo.insert(digest);
                }
                return Ok(Verified {
                    ttl_cap: remaining.min(input.original_ttl),
                    expires_in: remaining,
                    labels: input.num_labels,
                });
            }
        }
        let cut = if candidates.len() > limits::MAX_KEYS_PER_KEY_TAG {
            format!(
                " ({LIMIT_KEYS_PER_TAG} = {} of {} keys tried)",
                limits::MAX_KEYS_PER_KEY_TAG,
                candidates.len()
            )
        } else {
            String::new()
        };
        fail(SigFailure {
            rank: 5,
            kind: BogusKind::Bogus,
            key_tag: Some(tag),
            detail: format!("RRSIG by key tag {tag} does not verify for {what}{cut}"),
        });
    }
    Err(match best {
        Some(f) => BogusReason::new(f.kind, signer, f.key_tag, f.detail),
        None => BogusReason::new(
            BogusKind::RrsigsMissing,
            signer,
            None,
            format!("no RRSIG by {signer} for {what}"),
        ),
    })
}

/// RFC 4035 §5.3.2: the RRSIG RDATA (without signature) followed by the
/// RRset in canonical form and order, duplicates removed (RFC 4034 §6.3).
fn signed_data(set: &RrSet<'_>, input: &SigInput) -> Result<Vec<u8>, ProtoError> {
    let owner = if input.num_labels < set.name.num_labels() {
        super::canon::trim_to(&set.name, usize::from(input.num_labels)).prepend_label("*")?
    } else {
        set.name.clone()
    }
    .to_lowercase();
    let mut rdatas: Vec<Vec<u8>> = Vec::with_capacity(set.records.len());
    for r in &set.records {
        let mut buf = Vec::new();
        let mut enc = BinEncoder::new(&mut buf);
        enc.set_canonical_form(true);
        enc.set_name_encoding(NameEncoding::Uncompressed);
        r.data.emit(&mut enc)?;
        rdatas.push(buf);
    }
    rdatas.sort();
    rdatas.dedup();
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_canonical_form(true);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    input.emit(&mut enc)?;
    for rdata in &rdatas {
        owner.emit(&mut enc)?;
        input.type_covered.emit(&mut enc)?;
        set.class.emit(&mut enc)?;
        enc.emit_u32(input.original_ttl)?;
        let len =
            u16::try_from(rdata.len()).map_err(|_| ProtoError::from("RDATA longer than 65535"))?;
        enc.emit_u16(len)?;
        enc.emit_vec(rdata)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use hickory_proto::dnssec::TBS;

    use super::*;
    use crate::dnssec::testutil::*;

    #[test]
    fn signed_data_matches_hickory_tbs() {
        let z = Zone::p256("example.lab.");
        let set = z.sign(vec![a("www.example.lab.", 1), a("www.example.lab.", 2)]);
        let sets = rrsets(&set);
        let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &set.last().unwrap().data else {
            panic!("no rrsig")
        };
        let tbs = TBS::from_input(
            &sets[0].name,
            DNSClass::IN,
            sig.input(),
            sets[0].records.iter().copied(),
        )
        .unwrap();
        assert_eq!(signed_data(&sets[0], sig.input()).unwrap(), tbs.as_ref());
    }

    #[test]
    fn serial_arithmetic_window() {
        let z = Zone::p256("example.lab.");
        let set = z.sign(vec![a("www.example.lab.", 1)]);
        let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &set.last().unwrap().data else {
            panic!("no rrsig")
        };
        let inc = u64::from(sig.input().sig_inception.get());
        let exp = u64::from(sig.input().sig_expiration.get());
        assert!(matches!(window(sig.input(), inc), Window::Valid(_)));
        assert!(matches!(window(sig.input(), exp + 1), Window::Expired));
        assert!(matches!(window(sig.input(), inc - 1), Window::NotYetValid));
        // The same instant one 2^32 era later still compares by serial arithmetic.
        assert!(matches!(
            window(sig.input(), inc + (1 << 32) + 10),
            Window::Valid(_)
        ));
    }

    #[test]
    fn budget_counts_and_names_the_limit() {
        let mut b = Budget::new();
        for _ in 0..limits::MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE {
            assert!(b.take_signature());
        }
        assert_eq!(b.exhausted(), None);
        assert!(!b.take_signature());
        assert_eq!(b.exhausted(), Some(LIMIT_SIGNATURES));
    }

    #[test]
    fn rrsets_group_case_insensitively_and_attach_sigs() {
        let z = Zone::p256("example.lab.");
        let mut recs = z.sign(vec![a("www.example.lab.", 1)]);
        recs.push(a("WWW.example.lab.", 2));
        recs.push(a("other.example.lab.", 3));
        let sets = rrsets(&recs);
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].records.len(), 2);
        assert_eq!(sets[0].sigs.len(), 1);
        assert!(sets[1].sigs.is_empty());
    }

    #[test]
    fn memo_skips_repeated_crypto_but_not_the_checks() {
        let z = Zone::p256("example.lab.");
        let keys = z.dnskeys();
        let memo = VerifiedSignatures::new(16);
        let section = z.sign(vec![a("www.example.lab.", 1)]);
        let verify = |section: &[Record], now: u64| {
            let sets = rrsets(section);
            let mut budget = Budget::with_memo(memo.clone());
            let r = verify_rrset(&sets[0], &z.name, &keys, now, &mut budget);
            (r, budget.signatures_used())
        };
        let (first, used) = verify(&section, NOW);
        assert!(first.is_ok());
        assert_eq!(used, 1);
        let (again, used) = verify(&section, NOW);
        assert!(again.is_ok());
        assert_eq!(used, 0, "a verified signature is not verified again");

        // Other data under the same signature: the digest differs, crypto
        // runs and fails.
        let mut forged = section.clone();
        forged[0] = a("www.example.lab.", 2);
        let (r, used) = verify(&forged, NOW);
        assert!(r.is_err());
        assert_eq!(used, 1);
        // The validity window is still checked on a memo hit.
        let (late, _) = verify(&section, NOW + 400 * DAY);
        assert!(late.is_err());
    }

    #[test]
    fn garbage_keys_and_signatures_do_not_panic() {
        use hickory_proto::dnssec::PublicKeyBuf;
        use hickory_proto::rr::SerialNumber;

        let z = Zone::p256("example.lab.");
        let recs = vec![a("www.example.lab.", 1)];
        let blobs: [&[u8]; 6] = [
            &[],
            &[0],
            &[0, 0],
            &[0, 0, 9, 1],
            &[3, 1, 0, 1, 7, 7],
            &[0xff; 300],
        ];
        for alg in [8u8, 10, 13, 14, 15, 5, 200] {
            let alg = Algorithm::from_u8(alg);
            for blob in blobs {
                let key = DNSKEY::with_flags(256, PublicKeyBuf::new(blob.to_vec(), alg));
                let input = SigInput {
                    type_covered: RecordType::A,
                    algorithm: alg,
                    num_labels: 3,
                    original_ttl: 300,
                    sig_expiration: SerialNumber::new((NOW + DAY) as u32),
                    sig_inception: SerialNumber::new((NOW - DAY) as u32),
                    key_tag: key.calculate_key_tag().unwrap(),
                    signer_name: z.name.clone(),
                };
                for sig in blobs {
                    let rd = RRSIG::from_sig(input.clone(), sig.to_vec());
                    let mut section = recs.clone();
                    section.push(Record::from_rdata(
                        recs[0].name.clone(),
                        300,
                        RData::DNSSEC(DNSSECRData::RRSIG(rd)),
                    ));
                    let sets = rrsets(&section);
                    let r = verify_rrset(
                        &sets[0],
                        &z.name,
                        std::slice::from_ref(&key),
                        NOW,
                        &mut Budget::new(),
                    );
                    let e = r.unwrap_err();
                    assert!(
                        matches!(e.kind, BogusKind::Bogus | BogusKind::RrsigsMissing),
                        "{e:?}"
                    );
                }
            }
        }
    }
}
