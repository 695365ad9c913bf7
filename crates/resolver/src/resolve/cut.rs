//! Pure: does a validated "no DS" answer show a zone cut? Used to find
//! the zone an answer belongs to when the servers asked may hold more
//! than one zone (a forwarder, or an authority that also serves a
//! child): as Unbound's validator does, the DS chain is walked down from
//! the zone asked; a NODATA DS answer is an insecure delegation only if
//! its proof shows NS without SOA at the name (RFC 4035 §5.2), or an
//! opt-out NSEC3 covers it (RFC 5155 §6); otherwise the name is no cut
//! and the walk goes on.

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::limits;

/// Whether the NSEC/NSEC3 records of a DS NODATA answer (already
/// validated) show a delegation at `name`. Hashes at most one NSEC3
/// owner per distinct (salt, iterations), and none past
/// `NSEC3_MAX_ITERATIONS` (such proofs are Insecure anyway).
pub fn delegation_shown(authorities: &[Record], name: &Name) -> bool {
    let name = name.to_lowercase();
    let mut hashes: Vec<(Vec<u8>, u16, Vec<u8>)> = Vec::new();
    for r in authorities {
        match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(nsec)) if r.name.to_lowercase() == name => {
                let types = nsec.type_set();
                return types.contains(RecordType::NS) && !types.contains(RecordType::SOA);
            }
            RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => {
                if nsec3.iterations() > limits::NSEC3_MAX_ITERATIONS {
                    continue;
                }
                let Some(owner) = r.name.iter().next().and_then(|l| {
                    data_encoding::BASE32HEX_NOPAD
                        .decode(&l.to_ascii_uppercase())
                        .ok()
                }) else {
                    continue;
                };
                let known = hashes
                    .iter()
                    .find(|(s, i, _)| s == nsec3.salt() && *i == nsec3.iterations())
                    .map(|(_, _, h)| h.clone());
                let hash = match known {
                    Some(h) => h,
                    None => {
                        let Ok(digest) =
                            nsec3
                                .hash_algorithm()
                                .hash(nsec3.salt(), &name, nsec3.iterations())
                        else {
                            continue;
                        };
                        let h = digest.as_ref().to_vec();
                        hashes.push((nsec3.salt().to_vec(), nsec3.iterations(), h.clone()));
                        h
                    }
                };
                if owner == hash {
                    let types = nsec3.type_set();
                    return types.contains(RecordType::NS) && !types.contains(RecordType::SOA);
                }
                let next = nsec3.next_hashed_owner_name();
                let covers = if owner.as_slice() < next {
                    owner.as_slice() < hash.as_slice() && hash.as_slice() < next
                } else {
                    owner.as_slice() < hash.as_slice() || hash.as_slice() < next
                };
                if covers && nsec3.opt_out() {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::str::FromStr;

    use hickory_proto::dnssec::rdata::NSEC;

    use super::*;

    fn nsec(owner: &str, types: &[RecordType]) -> Record {
        Record::from_rdata(
            Name::from_str(owner).unwrap(),
            300,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                Name::from_str("z.example.").unwrap(),
                types.iter().copied(),
            ))),
        )
    }

    #[test]
    fn nsec_shows_cut_only_with_ns_and_without_soa() {
        let n = Name::from_str("child.example.").unwrap();
        let cut = [nsec("child.example.", &[RecordType::NS, RecordType::NSEC])];
        assert!(delegation_shown(&cut, &n));
        let host = [nsec("child.example.", &[RecordType::A, RecordType::NSEC])];
        assert!(!delegation_shown(&host, &n), "no NS: not a cut");
        let apex = [nsec(
            "child.example.",
            &[RecordType::NS, RecordType::SOA, RecordType::NSEC],
        )];
        assert!(!delegation_shown(&apex, &n), "child-side apex NSEC");
        assert!(!delegation_shown(&[], &n));
    }
}
