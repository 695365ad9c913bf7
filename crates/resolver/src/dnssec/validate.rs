//! Response validation: the entry points the resolver's engine calls.
//!
//! [`validate_answer`] checks the records of an authoritative response
//! that matter for the question (the answer RRset or CNAME, wildcard
//! proofs, NSEC/NSEC3 denials); [`validate_dnskeys`] authenticates a
//! zone's DNSKEY set from its parent's DS set or a trust anchor. Both are
//! pure and bounded by a per-response [`Budget`].

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinDecodable;

use super::canon::{is_proper_ancestor, label_count};
use super::nsec::{
    NsecRec, Proof, ProofFail, ProofResult, prove_nodata, prove_nxdomain, prove_wildcard_answer,
};
use super::nsec3::{Nsec3Rec, Prover};
use super::verify::{RrSet, Verified, rrsets, verify_rrset};
use super::{BogusKind, BogusReason, KeyEntry, KeyMap, Security};
use crate::ede::{Ede, EdeCode};

pub use super::keys::validate_dnskeys;
pub use super::verify::Budget;

/// Which kind of response this was for the question, as the validator
/// classified it (the same order as the engine's classifier: a CNAME at
/// qname first, then NXDOMAIN, then the qtype RRset, else NODATA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    Positive,
    Cname,
    NxDomain,
    NoData,
}

/// The validator's decision for one response.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub kind: AnswerKind,
    pub security: Security,
    /// RFC 4035 §5.3.3 cap: min over validated RRSIGs of (original TTL,
    /// expiration - now); `None` if nothing validated.
    pub ttl_cap: Option<u32>,
    /// The first expiration among the validated RRSIGs, in seconds from
    /// now: the hard limit for keeping the data, whatever the TTL policy.
    pub expires_in: Option<u32>,
}

/// Distinct RRSIG signer names in answer+authority (lowercased), for the
/// driver to fetch keys for before validating.
pub fn signer_names(answers: &[Record], authorities: &[Record]) -> Vec<Name> {
    let mut out: Vec<Name> = Vec::new();
    for r in answers.iter().chain(authorities) {
        if let RData::DNSSEC(DNSSECRData::RRSIG(sig)) = &r.data {
            let s = sig.input().signer_name.to_lowercase();
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Classify the response for (qname, qtype).
fn classify(
    rcode: ResponseCode,
    answers: &[Record],
    qname: &Name,
    qtype: RecordType,
) -> AnswerKind {
    let at_qname = |t: RecordType| {
        answers
            .iter()
            .any(|r| r.record_type() == t && r.name == *qname)
    };
    if qtype != RecordType::CNAME && !at_qname(qtype) && at_qname(RecordType::CNAME) {
        AnswerKind::Cname
    } else if rcode == ResponseCode::NXDomain {
        AnswerKind::NxDomain
    } else if at_qname(qtype) {
        AnswerKind::Positive
    } else {
        AnswerKind::NoData
    }
}

/// Validate an authoritative (non-referral) response for (qname, qtype)
/// that came from `zone`'s servers. `keys` holds an entry for `zone` and
/// for every signer name of [`signer_names`]; a missing zone entry is
/// Indeterminate, a missing signer entry is Bogus (DNSKEY missing).
#[allow(clippy::too_many_arguments)]
pub fn validate_answer(
    rcode: ResponseCode,
    answers: &[Record],
    authorities: &[Record],
    qname: &Name,
    qtype: RecordType,
    zone: &Name,
    keys: &KeyMap,
    now: u64,
    budget: &mut Budget,
) -> Verdict {
    let kind = classify(rcode, answers, qname, qtype);
    let zone = zone.to_lowercase();
    let mut v = Validator {
        zone: &zone,
        keys,
        now,
        budget,
        ttl_cap: None,
        expires_in: None,
    };
    let security = match keys.get(&zone) {
        None => Security::Indeterminate(Ede::new(
            EdeCode::DnssecIndeterminate,
            format!("{zone}: keys unavailable"),
        )),
        Some(KeyEntry::Secure(_)) => v.run(kind, answers, authorities, qname, qtype),
        Some(other) => other.as_security().unwrap_or(Security::INSECURE),
    };
    Verdict {
        kind,
        security,
        ttl_cap: v.ttl_cap,
        expires_in: v.expires_in,
    }
}

/// State of one `validate_answer` call.
struct Validator<'k, 'b> {
    zone: &'k Name,
    keys: &'k KeyMap,
    now: u64,
    budget: &'b mut Budget,
    ttl_cap: Option<u32>,
    expires_in: Option<u32>,
}

impl Validator<'_, '_> {
    fn run(
        &mut self,
        kind: AnswerKind,
        answers: &[Record],
        authorities: &[Record],
        qname: &Name,
        qtype: RecordType,
    ) -> Security {
        let result = match kind {
            AnswerKind::Positive => self.positive(answers, authorities, qname, qtype),
            AnswerKind::Cname => self.cname(answers, authorities, qname),
            AnswerKind::NxDomain | AnswerKind::NoData => {
                self.negative(kind, authorities, qname, qtype)
            }
        };
        match result {
            Ok(s) | Err(s) => s,
        }
    }

    /// The qtype RRset at qname, with a wildcard proof if it was expanded.
    fn positive(
        &mut self,
        answers: &[Record],
        authorities: &[Record],
        qname: &Name,
        qtype: RecordType,
    ) -> Result<Security, Security> {
        let sets = rrsets(answers);
        let Some(set) = sets.iter().find(|s| s.name == *qname && s.rtype == qtype) else {
            return Err(self.bogus(
                BogusKind::Bogus,
                None,
                format!("no {qtype} {qname} in the answer"),
            ));
        };
        let (verified, signer) = self.check(set)?;
        self.wildcard(&verified, &signer, authorities, qname)
    }

    /// The CNAME at qname: signed itself, or synthesized from a validated
    /// DNAME at an ancestor (RFC 6672 §5.3.1).
    fn cname(
        &mut self,
        answers: &[Record],
        authorities: &[Record],
        qname: &Name,
    ) -> Result<Security, Security> {
        let sets = rrsets(answers);
        let Some(set) = sets
            .iter()
            .find(|s| s.name == *qname && s.rtype == RecordType::CNAME)
        else {
            return Err(self.bogus(
                BogusKind::Bogus,
                None,
                format!("no CNAME {qname} in the answer"),
            ));
        };
        if set.sigs.is_empty()
            && let Some(s) = self.dname(&sets, set, qname)
        {
            return Ok(s);
        }
        let (verified, signer) = self.check(set)?;
        self.wildcard(&verified, &signer, authorities, qname)
    }

    /// An unsigned CNAME is fine if a validated DNAME at an ancestor
    /// synthesizes exactly its target; `None` if no DNAME applies.
    fn dname(&mut self, sets: &[RrSet<'_>], cname: &RrSet<'_>, qname: &Name) -> Option<Security> {
        let dname = sets
            .iter()
            .find(|s| s.rtype == RecordType::DNAME && is_proper_ancestor(&s.name, qname))?;
        // hickory has no DNAME type: its RDATA arrives as raw bytes (an
        // uncompressed name, RFC 6672 §2.5).
        let target = dname.data().find_map(|d| match d {
            RData::Unknown { rdata, .. } => Name::from_bytes(&rdata.anything).ok(),
            _ => None,
        })?;
        if let Err(s) = self.check(dname) {
            return Some(s);
        }
        let keep = label_count(qname).saturating_sub(label_count(&dname.name));
        let prefix: Vec<&[u8]> = qname.iter().take(keep).collect();
        let synthesized = Name::from_labels(prefix)
            .ok()
            .and_then(|p| p.append_name(&target).ok());
        let matches = cname.data().any(|d| match (d, &synthesized) {
            (RData::CNAME(c), Some(s)) => c.0 == *s,
            _ => false,
        });
        Some(if matches {
            Security::Secure
        } else {
            self.bogus(
                BogusKind::Bogus,
                None,
                format!("CNAME {qname} does not match the DNAME at {}", dname.name),
            )
        })
    }

    /// RFC 4035 §5.3.4: an RRset whose RRSIG has fewer labels than its
    /// owner was expanded from a wildcard; prove the next closer name does
    /// not exist.
    fn wildcard(
        &mut self,
        verified: &Verified,
        signer: &Name,
        authorities: &[Record],
        qname: &Name,
    ) -> Result<Security, Security> {
        if verified.labels >= qname.num_labels() {
            return Ok(Security::Secure);
        }
        let ce = super::canon::trim_to(qname, usize::from(verified.labels));
        let denials = self.denials(authorities, false)?;
        let nsec = prove_wildcard_answer(&denials.nsec, qname, &ce);
        let result = if nsec.is_ok() || denials.nsec3.is_empty() {
            nsec
        } else {
            Prover::new(&denials.nsec3, self.budget).wildcard_answer(qname, &ce)
        };
        Ok(self.proof_security(result, signer))
    }

    /// NXDOMAIN or NODATA: validated NSEC/NSEC3 proofs from the authority
    /// section (and a validated SOA, when present).
    fn negative(
        &mut self,
        kind: AnswerKind,
        authorities: &[Record],
        qname: &Name,
        qtype: RecordType,
    ) -> Result<Security, Security> {
        let denials = self.denials(authorities, true)?;
        if denials.nsec.is_empty() && denials.nsec3.is_empty() {
            let what = if kind == AnswerKind::NxDomain {
                "NXDOMAIN".to_owned()
            } else {
                format!("no {qtype}")
            };
            return Err(self.bogus(
                BogusKind::NsecMissing,
                None,
                format!("{what} for {qname} without NSEC/NSEC3"),
            ));
        }
        let nsec = if denials.nsec.is_empty() {
            None
        } else if kind == AnswerKind::NxDomain {
            Some(prove_nxdomain(&denials.nsec, qname))
        } else {
            Some(prove_nodata(&denials.nsec, qname, qtype))
        };
        let result = match nsec {
            Some(r) if r.is_ok() || denials.nsec3.is_empty() => r,
            _ => {
                let mut prover = Prover::new(&denials.nsec3, self.budget);
                if kind == AnswerKind::NxDomain {
                    prover.nxdomain(qname)
                } else {
                    prover.nodata(qname, qtype)
                }
            }
        };
        let zone = self.zone.clone();
        Ok(self.proof_security(result, &zone))
    }

    fn proof_security(&self, result: ProofResult, zone: &Name) -> Security {
        match result {
            Ok(Proof::Secure) => Security::Secure,
            Ok(Proof::Insecure(note)) => Security::Insecure { note },
            Err(ProofFail::Missing(d)) => {
                Security::Bogus(BogusReason::new(BogusKind::NsecMissing, zone, None, d))
            }
            Err(ProofFail::Budget(d)) => {
                Security::Bogus(BogusReason::new(BogusKind::Bogus, zone, None, d))
            }
        }
    }

    /// Validate the NSEC, NSEC3 (and, for negative answers, SOA) RRsets of
    /// the authority section that belong to the zone. Any that fails
    /// fails the response with its own reason (expired, missing key, ...).
    fn denials<'a>(
        &mut self,
        authorities: &'a [Record],
        with_soa: bool,
    ) -> Result<Denials<'a>, Security> {
        let mut out = Denials::default();
        for set in rrsets(authorities) {
            let wanted = match set.rtype {
                RecordType::NSEC | RecordType::NSEC3 => true,
                RecordType::SOA => with_soa,
                _ => false,
            };
            if !wanted || !self.zone.zone_of(&set.name) {
                continue;
            }
            let (_, signer) = self.check(&set)?;
            for r in &set.records {
                match &r.data {
                    RData::DNSSEC(DNSSECRData::NSEC(nsec)) => out.nsec.push(NsecRec {
                        owner: &r.name,
                        nsec,
                        zone: signer.clone(),
                    }),
                    RData::DNSSEC(DNSSECRData::NSEC3(rd)) => {
                        if let Some(rec) = Nsec3Rec::new(&r.name, rd) {
                            out.nsec3.push(rec);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// Verify one RRset with the keys of its signers. `Ok` carries the
    /// verified signature and the signer; `Err` the security to report
    /// (Bogus with the most telling reason, or the signer zone's own
    /// Insecure/Indeterminate state).
    fn check(&mut self, set: &RrSet<'_>) -> Result<(Verified, Name), Security> {
        if set.sigs.is_empty() {
            return Err(self.bogus(
                BogusKind::RrsigsMissing,
                None,
                format!("no RRSIG for {} in a signed zone", set.describe()),
            ));
        }
        let mut failures: Vec<Security> = Vec::new();
        for signer in set.signers() {
            if !self.zone.zone_of(&signer) {
                failures.push(Security::Bogus(BogusReason::new(
                    BogusKind::Bogus,
                    self.zone,
                    None,
                    format!(
                        "RRSIG for {} by out-of-zone signer {signer}",
                        set.describe()
                    ),
                )));
                continue;
            }
            let keys = match self.keys.get(&signer) {
                Some(KeyEntry::Secure(keys)) => keys,
                Some(other) => {
                    failures.push(other.as_security().unwrap_or(Security::INSECURE));
                    continue;
                }
                None => {
                    failures.push(Security::Bogus(BogusReason::new(
                        BogusKind::DnskeyMissing,
                        &signer,
                        None,
                        format!("no keys for signer {signer} of {}", set.describe()),
                    )));
                    continue;
                }
            };
            match verify_rrset(set, &signer, keys, self.now, self.budget) {
                Ok(v) => {
                    self.ttl_cap = Some(self.ttl_cap.map_or(v.ttl_cap, |c| c.min(v.ttl_cap)));
                    self.expires_in = Some(
                        self.expires_in
                            .map_or(v.expires_in, |c| c.min(v.expires_in)),
                    );
                    return Ok((v, signer));
                }
                Err(reason) => {
                    if self.budget.signatures_gone() {
                        // KeyTrap: stop at once and name the limit.
                        return Err(Security::Bogus(reason));
                    }
                    failures.push(Security::Bogus(reason));
                }
            }
        }
        Err(pick_failure(failures))
    }

    fn bogus(&self, kind: BogusKind, key_tag: Option<u16>, detail: String) -> Security {
        Security::Bogus(BogusReason::new(kind, self.zone, key_tag, detail))
    }
}

/// The authenticated denial records of a response.
#[derive(Default)]
struct Denials<'a> {
    nsec: Vec<NsecRec<'a>>,
    nsec3: Vec<Nsec3Rec<'a>>,
}

/// When no signer validates an RRset: a provably insecure signer zone
/// wins (data under an insecure cut is insecure), then an undecided one,
/// then the most telling Bogus reason.
fn pick_failure(failures: Vec<Security>) -> Security {
    fn rank(s: &Security) -> u8 {
        match s {
            Security::Insecure { .. } => 9,
            Security::Indeterminate(_) => 8,
            Security::Bogus(r) => match r.kind {
                BogusKind::Bogus => 6,
                BogusKind::DnskeyMissing => 5,
                BogusKind::SignatureExpired => 4,
                BogusKind::SignatureNotYetValid => 3,
                BogusKind::NoZoneKeyBitSet => 2,
                BogusKind::RrsigsMissing | BogusKind::NsecMissing => 1,
            },
            Security::Secure => 0,
        }
    }
    let mut best: Option<Security> = None;
    for f in failures {
        if best.as_ref().is_none_or(|b| rank(&f) > rank(b)) {
            best = Some(f);
        }
    }
    best.unwrap_or(Security::Indeterminate(Ede::new(
        EdeCode::DnssecIndeterminate,
        "no usable signature",
    )))
}

#[cfg(test)]
mod tests;
