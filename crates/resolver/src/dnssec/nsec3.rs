//! NSEC3 denial of existence (RFC 5155 §8, RFC 6840 §4.4, RFC 9276).
//!
//! Inputs are NSEC3 records whose signatures already verified. Every hash
//! computation is paid from the response's [`Budget`] (CVE-2023-50868),
//! and results are memoised per (name, salt, iterations).

use std::collections::HashMap;

use hickory_proto::dnssec::rdata::NSEC3;
use hickory_proto::rr::{Name, RecordType};

use super::canon::{is_proper_ancestor, label_count, next_closer, wildcard_of};
use super::nsec::{Proof, ProofFail, ProofResult};
use super::verify::{Budget, LIMIT_HASHES};
use crate::ede::{Ede, EdeCode};
use crate::limits;

/// An authenticated NSEC3 record with its decoded owner hash.
#[derive(Debug, Clone)]
pub(crate) struct Nsec3Rec<'a> {
    pub owner_hash: Vec<u8>,
    /// The zone the hashes are relative to (the owner minus its hash label).
    pub apex: Name,
    pub rd: &'a NSEC3,
}

impl<'a> Nsec3Rec<'a> {
    /// Decode the owner's first label (base32hex, RFC 5155 §3.3); `None`
    /// for a malformed owner, which is then ignored.
    pub fn new(owner: &Name, rd: &'a NSEC3) -> Option<Self> {
        let label = owner.iter().next()?;
        let upper = label.to_ascii_uppercase();
        let owner_hash = data_encoding::BASE32HEX_NOPAD.decode(&upper).ok()?;
        if owner_hash.is_empty() {
            return None;
        }
        Some(Self {
            owner_hash,
            apex: owner.base_name(),
            rd,
        })
    }

    fn has(&self, t: RecordType) -> bool {
        self.rd.type_set().contains(t)
    }

    fn covers_hash(&self, h: &[u8]) -> bool {
        let owner = self.owner_hash.as_slice();
        let next = self.rd.next_hashed_owner_name();
        if owner < next {
            owner < h && h < next
        } else {
            // Last NSEC3 of the chain wraps to the first.
            owner < h || h < next
        }
    }

    /// The bitmap proves that `qtype` (and a CNAME) is absent at the name.
    fn lacks(&self, qtype: RecordType) -> bool {
        if self.has(qtype) || self.has(RecordType::CNAME) {
            return false;
        }
        if qtype == RecordType::DS {
            // The child's apex NSEC3 cannot deny the parent's DS.
            !self.has(RecordType::SOA)
        } else {
            // A parent-side NSEC3 at a cut speaks only for DS (RFC 6840 §4.1).
            self.has(RecordType::SOA) || !self.has(RecordType::NS)
        }
    }
}

/// The closest encloser proof (RFC 5155 §8.3).
struct Encloser<'r, 'a> {
    ce: Name,
    nc_cover: &'r Nsec3Rec<'a>,
}

enum CeProof<'r, 'a> {
    /// An NSEC3 matches qname itself: it exists.
    Matched(&'r Nsec3Rec<'a>),
    Encloser(Encloser<'r, 'a>),
}

/// NSEC3 proofs over one response's authenticated records.
pub(crate) struct Prover<'r, 'a, 'b> {
    recs: &'r [Nsec3Rec<'a>],
    budget: &'b mut Budget,
    memo: HashMap<(Name, Vec<u8>, u16), Vec<u8>>,
}

impl<'r, 'a, 'b> Prover<'r, 'a, 'b> {
    pub fn new(recs: &'r [Nsec3Rec<'a>], budget: &'b mut Budget) -> Self {
        Self {
            recs,
            budget,
            memo: HashMap::new(),
        }
    }

    /// RFC 9276 §3.2: iterations over the limit make the answer Insecure
    /// (EDE 27) before any hash is computed.
    fn too_many_iterations(&self) -> Option<Proof> {
        let max = self.recs.iter().map(|r| r.rd.iterations()).max()?;
        (max > limits::NSEC3_MAX_ITERATIONS).then(|| {
            Proof::Insecure(Some(Ede::new(
                EdeCode::UnsupportedNsec3Iterations,
                format!(
                    "NSEC3 iterations {max} exceed NSEC3_MAX_ITERATIONS ({})",
                    limits::NSEC3_MAX_ITERATIONS
                ),
            )))
        })
    }

    fn hash(&mut self, rec: &Nsec3Rec<'_>, name: &Name) -> Result<Vec<u8>, ProofFail> {
        let key = (
            name.to_lowercase(),
            rec.rd.salt().to_vec(),
            rec.rd.iterations(),
        );
        if let Some(h) = self.memo.get(&key) {
            return Ok(h.clone());
        }
        if !self.budget.take_hash() {
            return Err(ProofFail::Budget(format!(
                "{LIMIT_HASHES} ({}) reached while hashing {name}",
                limits::MAX_NSEC3_HASHES_PER_RESPONSE
            )));
        }
        let h = rec
            .rd
            .hash_algorithm()
            .hash(rec.rd.salt(), name, rec.rd.iterations())
            .map(|d| d.as_ref().to_vec())
            .unwrap_or_default();
        self.memo.insert(key, h.clone());
        Ok(h)
    }

    fn find_match(&mut self, name: &Name) -> Result<Option<&'r Nsec3Rec<'a>>, ProofFail> {
        let recs = self.recs;
        for rec in recs.iter().filter(|r| r.apex.zone_of(name)) {
            if self.hash(rec, name)? == rec.owner_hash {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    fn find_cover(&mut self, name: &Name) -> Result<Option<&'r Nsec3Rec<'a>>, ProofFail> {
        let recs = self.recs;
        for rec in recs.iter().filter(|r| r.apex.zone_of(name)) {
            let h = self.hash(rec, name)?;
            if rec.covers_hash(&h) {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }

    /// Walk from qname towards the apex: the first name with a matching
    /// NSEC3 is the closest encloser, and the name one label below it must
    /// be covered (RFC 5155 §8.3).
    fn closest_encloser(&mut self, qname: &Name) -> Result<CeProof<'r, 'a>, ProofFail> {
        let Some(apex) = self
            .recs
            .iter()
            .map(|r| &r.apex)
            .filter(|a| a.zone_of(qname))
            .max_by_key(|a| label_count(a))
            .cloned()
        else {
            return Err(ProofFail::Missing(format!(
                "no NSEC3 from a zone above {qname}"
            )));
        };
        let mut sname = qname.clone();
        let mut below: Option<Name> = None;
        loop {
            if let Some(m) = self.find_match(&sname)? {
                let Some(nc) = below else {
                    return Ok(CeProof::Matched(m));
                };
                if m.has(RecordType::DNAME) || (m.has(RecordType::NS) && !m.has(RecordType::SOA)) {
                    return Err(ProofFail::Missing(format!(
                        "closest encloser {sname} of {qname} is a delegation or DNAME"
                    )));
                }
                let Some(cover) = self.find_cover(&nc)? else {
                    return Err(ProofFail::Missing(format!(
                        "no NSEC3 covers the next closer name {nc}"
                    )));
                };
                return Ok(CeProof::Encloser(Encloser {
                    ce: sname,
                    nc_cover: cover,
                }));
            }
            if label_count(&sname) <= label_count(&apex) {
                return Err(ProofFail::Missing(format!(
                    "no NSEC3 proves a closest encloser of {qname}"
                )));
            }
            below = Some(sname.clone());
            sname = sname.base_name();
        }
    }

    /// NXDOMAIN (RFC 5155 §8.4): closest encloser proof plus a covered
    /// wildcard. Opt-out on the next closer cover leaves it Insecure: the
    /// name may sit under an unsigned delegation.
    pub fn nxdomain(&mut self, qname: &Name) -> ProofResult {
        if let Some(p) = self.too_many_iterations() {
            return Ok(p);
        }
        let enc = match self.closest_encloser(qname)? {
            CeProof::Matched(_) => {
                return Err(ProofFail::Missing(format!(
                    "an NSEC3 matches {qname}: it exists"
                )));
            }
            CeProof::Encloser(e) => e,
        };
        let Some(wildcard) = wildcard_of(&enc.ce) else {
            return Err(ProofFail::Missing(format!(
                "no wildcard name under {}",
                enc.ce
            )));
        };
        if self.find_cover(&wildcard)?.is_none() {
            return Err(ProofFail::Missing(format!("no NSEC3 covers {wildcard}")));
        }
        if enc.nc_cover.rd.opt_out() {
            return Ok(Proof::Insecure(None));
        }
        Ok(Proof::Secure)
    }

    /// NODATA (RFC 5155 §8.5-8.7): a matching NSEC3 without qtype; for DS
    /// without a match, an opt-out cover of the next closer name proves an
    /// insecure delegation (§8.6); wildcard NODATA via the closest
    /// encloser's wildcard (§8.7).
    pub fn nodata(&mut self, qname: &Name, qtype: RecordType) -> ProofResult {
        if let Some(p) = self.too_many_iterations() {
            return Ok(p);
        }
        let enc = match self.closest_encloser(qname)? {
            CeProof::Matched(m) => {
                return if m.lacks(qtype) {
                    Ok(Proof::Secure)
                } else {
                    Err(ProofFail::Missing(format!(
                        "the NSEC3 for {qname} does not prove the absence of {qtype}"
                    )))
                };
            }
            CeProof::Encloser(e) => e,
        };
        if qtype == RecordType::DS && enc.nc_cover.rd.opt_out() {
            return Ok(Proof::Insecure(None));
        }
        if let Some(wildcard) = wildcard_of(&enc.ce)
            && let Some(m) = self.find_match(&wildcard)?
            && m.lacks(qtype)
        {
            return Ok(Proof::Secure);
        }
        Err(ProofFail::Missing(format!(
            "no NSEC3 proves that {qname} has no {qtype}"
        )))
    }

    /// A wildcard-expanded answer (RFC 5155 §8.8): the next closer name
    /// below the closest encloser `ce` is covered.
    pub fn wildcard_answer(&mut self, qname: &Name, ce: &Name) -> ProofResult {
        if let Some(p) = self.too_many_iterations() {
            return Ok(p);
        }
        let Some(nc) = next_closer(qname, ce) else {
            return Err(ProofFail::Missing(format!(
                "{ce} is not an ancestor of {qname}"
            )));
        };
        if !is_proper_ancestor(ce, qname) || self.find_cover(&nc)?.is_none() {
            return Err(ProofFail::Missing(format!(
                "wildcard answer for {qname} without an NSEC3 covering {nc}"
            )));
        }
        Ok(Proof::Secure)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use hickory_proto::dnssec::rdata::DNSSECRData;
    use hickory_proto::rr::{RData, Record};

    use super::*;
    use crate::dnssec::testutil::{Zone, hash, n, nsec3_cover, nsec3_match, plus};

    fn recs(records: &[Record]) -> Vec<Nsec3Rec<'_>> {
        records
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::NSEC3(x)) => Nsec3Rec::new(&r.name, x),
                _ => None,
            })
            .collect()
    }

    fn cover(z: &Zone, name: &str, opt_out: bool) -> Record {
        nsec3_cover(z, name, opt_out, 1)
    }

    fn matching(z: &Zone, name: &str, types: &[RecordType]) -> Record {
        nsec3_match(z, name, types, 1)
    }

    #[test]
    fn nxdomain_closest_encloser_proof() {
        let z = Zone::p256("example.");
        let rs = [
            matching(&z, "example.", &[RecordType::SOA, RecordType::NS]),
            cover(&z, "nope.example.", false),
            cover(&z, "*.example.", false),
        ];
        let r = recs(&rs);
        let mut b = Budget::new();
        assert_eq!(
            Prover::new(&r, &mut b).nxdomain(&n("nope.example.")),
            Ok(Proof::Secure)
        );
        // Without the wildcard cover: missing.
        let r2 = recs(&rs[..2]);
        assert!(matches!(
            Prover::new(&r2, &mut b).nxdomain(&n("nope.example.")),
            Err(ProofFail::Missing(_))
        ));
        // Opt-out on the next closer cover: insecure.
        let rs3 = [
            rs[0].clone(),
            cover(&z, "nope.example.", true),
            rs[2].clone(),
        ];
        let r3 = recs(&rs3);
        assert_eq!(
            Prover::new(&r3, &mut b).nxdomain(&n("a.nope.example.")),
            Ok(Proof::Insecure(None))
        );
    }

    #[test]
    fn nodata_and_ds_opt_out() {
        let z = Zone::p256("example.");
        let rs = [
            matching(&z, "www.example.", &[RecordType::A]),
            matching(&z, "example.", &[RecordType::SOA, RecordType::NS]),
            cover(&z, "unsigned.example.", true),
            matching(&z, "deleg.example.", &[RecordType::NS]),
        ];
        let r = recs(&rs);
        let mut b = Budget::new();
        let mut p = Prover::new(&r, &mut b);
        assert_eq!(
            p.nodata(&n("www.example."), RecordType::MX),
            Ok(Proof::Secure)
        );
        assert!(p.nodata(&n("www.example."), RecordType::A).is_err());
        assert_eq!(
            p.nodata(&n("unsigned.example."), RecordType::DS),
            Ok(Proof::Insecure(None))
        );
        assert_eq!(
            p.nodata(&n("deleg.example."), RecordType::DS),
            Ok(Proof::Secure)
        );
        assert!(p.nodata(&n("deleg.example."), RecordType::A).is_err());
        assert!(p.nodata(&n("example."), RecordType::DS).is_err());
    }

    #[test]
    fn iterations_over_limit_are_insecure_with_ede_27() {
        let z = Zone::p256("example.");
        let h = hash("x.example.", 1);
        let rs = [z.nsec3(&h, &plus(&h, 1), 151, false, &[])];
        let r = recs(&rs);
        let mut b = Budget::new();
        let Ok(Proof::Insecure(Some(ede))) = Prover::new(&r, &mut b).nxdomain(&n("x.example."))
        else {
            panic!("expected insecure")
        };
        assert_eq!(ede.code, EdeCode::UnsupportedNsec3Iterations);
        assert_eq!(b.exhausted(), None);
    }

    #[test]
    fn hashes_are_bounded() {
        let z = Zone::p256("example.");
        let rs = [cover(&z, "a.example.", false)];
        let r = recs(&rs);
        let mut b = Budget::new();
        // 100 labels deep: the walk to the apex needs more hashes than allowed.
        let deep = (0..100).map(|_| "x").collect::<Vec<_>>().join(".") + ".example.";
        let res = Prover::new(&r, &mut b).nxdomain(&n(&deep));
        assert!(matches!(res, Err(ProofFail::Budget(_))), "{res:?}");
        assert_eq!(b.exhausted(), Some(LIMIT_HASHES));
    }
}
