//! NSEC denial of existence (RFC 4035 §5.4, RFC 6840 §4.1, §4.3).
//!
//! Inputs are NSEC records whose signatures already verified; the
//! functions only reason about names and type bitmaps.

use hickory_proto::dnssec::rdata::NSEC;
use hickory_proto::rr::{Name, RecordType};

use super::canon::{
    common_ancestor, covers, is_proper_ancestor, label_count, next_closer, wildcard_of,
};
use crate::ede::Ede;

/// A successful denial proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proof {
    Secure,
    /// Opt-out, or NSEC3 iterations over the limit (EDE 27).
    Insecure(Option<Ede>),
}

/// Why a denial proof failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProofFail {
    /// No (or no sufficient) NSEC/NSEC3 proof: EDE 12.
    Missing(String),
    /// A work limit stopped the proof: Bogus naming the limit.
    Budget(String),
}

pub(crate) type ProofResult = Result<Proof, ProofFail>;

/// An authenticated NSEC record.
#[derive(Debug, Clone)]
pub(crate) struct NsecRec<'a> {
    pub owner: &'a Name,
    pub nsec: &'a NSEC,
    /// The zone whose key signed it.
    pub zone: Name,
}

impl NsecRec<'_> {
    fn has(&self, t: RecordType) -> bool {
        self.nsec.type_set().contains(t)
    }

    /// RFC 6840 §4.1: the parent side of a zone cut (NS without SOA), or a
    /// DNAME, cannot deny anything below its owner.
    fn is_ancestor_delegation(&self) -> bool {
        self.nsec.is_ancestor_delegation()
    }

    /// This NSEC proves that `name` does not exist: `name` sorts strictly
    /// between owner and next, is not an empty non-terminal (next is not
    /// below it), and is not under a delegation or DNAME at the owner.
    pub fn denies(&self, name: &Name) -> bool {
        let next = self.nsec.next_domain_name();
        self.zone.zone_of(name)
            && covers(self.owner, next, name)
            && !name.zone_of(next)
            && !(self.is_ancestor_delegation() && is_proper_ancestor(self.owner, name))
    }

    /// The closest encloser of a name this NSEC denies: the deepest
    /// existing ancestor, i.e. the longer common ancestor with the owner
    /// or the next name, never above the zone apex.
    fn closest_encloser(&self, name: &Name) -> Name {
        let by_owner = common_ancestor(name, self.owner);
        let by_next = common_ancestor(name, self.nsec.next_domain_name());
        let ce = if label_count(&by_owner) >= label_count(&by_next) {
            by_owner
        } else {
            by_next
        };
        if label_count(&ce) < label_count(&self.zone) {
            self.zone.clone()
        } else {
            ce
        }
    }

    /// The bitmap proves that `qtype` (and a CNAME) is absent at the owner.
    fn lacks(&self, qtype: RecordType) -> bool {
        if self.has(qtype) || self.has(RecordType::CNAME) {
            return false;
        }
        if qtype == RecordType::DS {
            // DS lives at the parent: the child's apex NSEC cannot deny it.
            !self.has(RecordType::SOA) || self.owner.is_root()
        } else {
            // The parent side of a cut only speaks for DS (RFC 6840 §4.1).
            !self.is_ancestor_delegation()
        }
    }
}

fn find_denial<'r, 'a>(recs: &'r [NsecRec<'a>], name: &Name) -> Option<&'r NsecRec<'a>> {
    recs.iter().find(|r| r.denies(name))
}

/// NXDOMAIN (RFC 4035 §5.4): an NSEC denies qname, and one denies the
/// wildcard at the closest encloser.
pub(crate) fn prove_nxdomain(recs: &[NsecRec<'_>], qname: &Name) -> ProofResult {
    let Some(cover) = find_denial(recs, qname) else {
        return Err(ProofFail::Missing(format!(
            "no NSEC proves that {qname} does not exist"
        )));
    };
    let ce = cover.closest_encloser(qname);
    let Some(wildcard) = wildcard_of(&ce) else {
        return Err(ProofFail::Missing(format!("no wildcard name under {ce}")));
    };
    if find_denial(recs, &wildcard).is_none() {
        return Err(ProofFail::Missing(format!(
            "no NSEC proves that {wildcard} does not exist"
        )));
    }
    Ok(Proof::Secure)
}

/// NODATA (RFC 4035 §5.4, §3.1.3.2 empty non-terminals, §3.1.3.4
/// wildcard NODATA). For DS, a parent-side NSEC at the delegation without
/// the DS bit proves an insecure delegation.
pub(crate) fn prove_nodata(recs: &[NsecRec<'_>], qname: &Name, qtype: RecordType) -> ProofResult {
    if let Some(exact) = recs
        .iter()
        .find(|r| r.owner == qname && r.zone.zone_of(qname))
    {
        return if exact.lacks(qtype) {
            Ok(Proof::Secure)
        } else {
            Err(ProofFail::Missing(format!(
                "the NSEC at {qname} does not prove the absence of {qtype}"
            )))
        };
    }
    // Empty non-terminal: qname sorts between owner and next, and next is
    // below qname.
    let ent = recs.iter().any(|r| {
        let next = r.nsec.next_domain_name();
        r.zone.zone_of(qname)
            && covers(r.owner, next, qname)
            && is_proper_ancestor(qname, next)
            && !(r.is_ancestor_delegation() && is_proper_ancestor(r.owner, qname))
    });
    if ent {
        return Ok(Proof::Secure);
    }
    // Wildcard NODATA: qname is denied and the wildcard at the closest
    // encloser exists without qtype.
    if let Some(cover) = find_denial(recs, qname) {
        let ce = cover.closest_encloser(qname);
        if let Some(wildcard) = wildcard_of(&ce)
            && recs.iter().any(|r| *r.owner == wildcard && r.lacks(qtype))
        {
            return Ok(Proof::Secure);
        }
    }
    Err(ProofFail::Missing(format!(
        "no NSEC proves that {qname} has no {qtype}"
    )))
}

/// A wildcard-expanded answer (RFC 4035 §5.3.4): the next closer name
/// below the closest encloser `ce` must not exist.
pub(crate) fn prove_wildcard_answer(recs: &[NsecRec<'_>], qname: &Name, ce: &Name) -> ProofResult {
    let Some(nc) = next_closer(qname, ce) else {
        return Err(ProofFail::Missing(format!(
            "{ce} is not an ancestor of {qname}"
        )));
    };
    if find_denial(recs, &nc).is_some() {
        Ok(Proof::Secure)
    } else {
        Err(ProofFail::Missing(format!(
            "wildcard answer for {qname} without an NSEC proving that {nc} does not exist"
        )))
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
    use crate::dnssec::testutil::{n, nsec};

    fn recs(records: &[Record]) -> Vec<NsecRec<'_>> {
        records
            .iter()
            .map(|r| {
                let RData::DNSSEC(DNSSECRData::NSEC(x)) = &r.data else {
                    panic!("not nsec")
                };
                NsecRec {
                    owner: &r.name,
                    nsec: x,
                    zone: n("example."),
                }
            })
            .collect()
    }

    use RecordType::{A, CNAME, DS, MX, NS, SOA};

    #[test]
    fn nxdomain_needs_both_denials() {
        let chain = [
            nsec("example.", "a.example.", &[SOA, NS]),
            nsec("a.example.", "c.example.", &[A]),
        ];
        let r = recs(&chain);
        // b.example. is covered by a->c; *.example. by example.->a.
        assert_eq!(prove_nxdomain(&r, &n("b.example.")), Ok(Proof::Secure));
        assert!(prove_nxdomain(&r[1..], &n("b.example.")).is_err());
        // a.example. exists.
        assert!(prove_nxdomain(&r, &n("a.example.")).is_err());
    }

    #[test]
    fn ancestor_delegation_denies_nothing_below() {
        let chain = [
            nsec("example.", "sub.example.", &[SOA, NS]),
            nsec("sub.example.", "z.example.", &[NS]),
        ];
        let r = recs(&chain);
        assert!(prove_nxdomain(&r, &n("www.sub.example.")).is_err());
        // But it proves the absence of DS at the cut.
        assert_eq!(prove_nodata(&r, &n("sub.example."), DS), Ok(Proof::Secure));
        // and says nothing about A at the cut.
        assert!(prove_nodata(&r, &n("sub.example."), A).is_err());
    }

    #[test]
    fn nodata_ent_and_wildcard() {
        let chain = [
            nsec("example.", "x.ent.example.", &[SOA, NS]),
            nsec("x.ent.example.", "*.w.example.", &[A]),
            nsec("*.w.example.", "example.", &[A]),
        ];
        let r = recs(&chain);
        assert_eq!(
            prove_nodata(&r, &n("x.ent.example."), MX),
            Ok(Proof::Secure)
        );
        assert!(prove_nodata(&r, &n("x.ent.example."), A).is_err());
        assert_eq!(prove_nodata(&r, &n("ent.example."), A), Ok(Proof::Secure));
        assert_eq!(prove_nodata(&r, &n("q.w.example."), MX), Ok(Proof::Secure));
        assert!(prove_nodata(&r, &n("q.w.example."), A).is_err());
        // Apex NSEC of a child cannot deny DS.
        assert!(prove_nodata(&r, &n("example."), DS).is_err());
        let with_cname = [nsec("c.example.", "example.", &[CNAME])];
        assert!(prove_nodata(&recs(&with_cname), &n("c.example."), A).is_err());
    }

    #[test]
    fn wildcard_answer_next_closer() {
        let chain = [nsec("b.example.", "d.example.", &[A])];
        let r = recs(&chain);
        assert_eq!(
            prove_wildcard_answer(&r, &n("c.example."), &n("example.")),
            Ok(Proof::Secure)
        );
        assert_eq!(
            prove_wildcard_answer(&r, &n("x.c.example."), &n("example.")),
            Ok(Proof::Secure)
        );
        assert!(prove_wildcard_answer(&r, &n("e.example."), &n("example.")).is_err());
    }
}
