//! Pure classification of an authority's response to one question:
//! answer, referral, or a failure that sends us to the next server.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinDecodable;

use crate::cache::StepKind;
use crate::clock::Timestamp;
use crate::resolve::outcome::UpstreamOutcome;
use crate::resolve::servers::Delegation;

/// What a response means for the question asked of `zone`'s servers.
#[derive(Debug)]
pub enum Classified {
    Answer(StepKind),
    Referral(Delegation),
    /// Unusable: try the next server.
    Failed(UpstreamOutcome),
}

/// Classify `resp` for (`qname`, `qtype`) asked of servers for `zone`.
/// Bailiwick: a referral must be strictly below `zone` and at or above
/// `qname`; glue is taken only for NS names inside `zone`.
pub fn classify(
    resp: &Message,
    qname: &Name,
    qtype: RecordType,
    zone: &Name,
    now: Timestamp,
) -> Classified {
    match resp.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        ResponseCode::ServFail => return Classified::Failed(UpstreamOutcome::ServFail),
        ResponseCode::Refused => return Classified::Failed(UpstreamOutcome::Refused),
        _ => return Classified::Failed(UpstreamOutcome::BadRcode),
    }
    let at_qname = |t: RecordType| {
        resp.answers
            .iter()
            .any(|r| r.record_type() == t && r.name == *qname)
    };
    if qtype != RecordType::CNAME {
        let cname = resp.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == *qname => Some(c.0.clone()),
            _ => None,
        });
        if let Some(target) = cname
            && !at_qname(qtype)
        {
            return Classified::Answer(StepKind::Cname { target });
        }
        // RFC 6672: a DNAME above qname redirects it, whether or not the
        // server synthesised the CNAME (then it was found above).
        if !at_qname(qtype)
            && let Some((dname, target)) = dname_redirect(&resp.answers, qname)
            && zone.zone_of(&dname.name)
        {
            return Classified::Answer(StepKind::Cname { target });
        }
    }
    if resp.metadata.response_code == ResponseCode::NXDomain {
        return Classified::Answer(StepKind::NxDomain);
    }
    if at_qname(qtype) {
        return Classified::Answer(StepKind::Positive);
    }
    if qtype != RecordType::ANY && resp.answers.iter().any(|r| r.name == *qname) {
        // Records at qname, none of the type asked nor a CNAME: a broken
        // server (BIND: FORMERR, next server); caching it as NODATA
        // would hide the real data.
        return Classified::Failed(UpstreamOutcome::Lame);
    }
    if !resp.metadata.authoritative {
        let cut = resp.authorities.iter().find_map(|r| match r.data {
            RData::NS(_) if r.name != *zone && zone.zone_of(&r.name) && r.name.zone_of(qname) => {
                Some(r.name.clone())
            }
            _ => None,
        });
        if let Some(cut) = cut {
            // A DS record lives at the parent: a referral to the child for
            // the child's own DS is a broken server.
            if qtype == RecordType::DS && cut == *qname {
                return Classified::Failed(UpstreamOutcome::Lame);
            }
            let ns = resp.authorities.iter().filter(|r| r.name == cut);
            let deleg = Delegation::from_records(
                &cut,
                ns,
                resp.additionals.iter(),
                |ns_name| zone.zone_of(ns_name),
                now,
            );
            return match deleg {
                Some(d) => Classified::Referral(d),
                None => Classified::Failed(UpstreamOutcome::Lame),
            };
        }
    }
    let has_soa = resp
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA && r.name.zone_of(qname));
    if resp.metadata.authoritative || has_soa {
        Classified::Answer(StepKind::NoData)
    } else {
        // Upward referral, or an empty non-authoritative answer.
        Classified::Failed(UpstreamOutcome::Lame)
    }
}

/// The DNAME record owned by the closest proper ancestor of `qname` in
/// `records`, and the name it redirects `qname` to (RFC 6672 §2.2: the
/// owner's labels in `qname` replaced by the DNAME's target). `None` if
/// there is none or the new name would be too long.
pub fn dname_redirect<'a>(records: &'a [Record], qname: &Name) -> Option<(&'a Record, Name)> {
    records
        .iter()
        .filter(|r| r.record_type() == RecordType::DNAME)
        .filter(|r| r.name.num_labels() < qname.num_labels() && r.name.zone_of(qname))
        .max_by_key(|r| r.name.num_labels())
        .and_then(|r| {
            // hickory has no DNAME type: its RDATA arrives as raw bytes (an
            // uncompressed name, RFC 6672 §2.5).
            let RData::Unknown { rdata, .. } = &r.data else {
                return None;
            };
            let target = Name::from_bytes(&rdata.anything).ok()?;
            let keep = usize::from(qname.num_labels() - r.name.num_labels());
            let prefix: Vec<&[u8]> = qname.iter().take(keep).collect();
            let new = Name::from_labels(prefix).ok()?.append_name(&target).ok()?;
            Some((r, new))
        })
}

/// The CNAME a DNAME implies for `qname` (RFC 6672 §3.1: the DNAME's
/// TTL), for a response whose server did not synthesise it.
pub fn synthesised_cname(dname: &Record, qname: &Name, target: &Name) -> Record {
    let mut cname = Record::from_rdata(
        qname.clone(),
        dname.ttl,
        RData::CNAME(hickory_proto::rr::rdata::CNAME(target.clone())),
    );
    cname.dns_class = dname.dns_class;
    cname
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use hickory_proto::op::MessageType;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, CNAME, NS};

    use super::*;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn msg(rcode: ResponseCode, aa: bool) -> Message {
        let mut m = Message::new(1, MessageType::Response, hickory_proto::op::OpCode::Query);
        m.metadata.response_code = rcode;
        m.metadata.authoritative = aa;
        m
    }

    #[test]
    fn referral_with_in_bailiwick_glue_only() {
        let mut m = msg(ResponseCode::NoError, false);
        m.authorities.push(Record::from_rdata(
            n("example.lab."),
            60,
            RData::NS(NS(n("ns1.example.lab."))),
        ));
        m.authorities.push(Record::from_rdata(
            n("example.lab."),
            60,
            RData::NS(NS(n("ns.evil."))),
        ));
        m.additionals.push(Record::from_rdata(
            n("ns1.example.lab."),
            60,
            RData::A(A(Ipv4Addr::new(127, 0, 0, 3))),
        ));
        m.additionals.push(Record::from_rdata(
            n("ns.evil."),
            60,
            RData::A(A(Ipv4Addr::new(6, 6, 6, 6))),
        ));
        let Classified::Referral(d) = classify(
            &m,
            &n("www.example.lab."),
            RecordType::A,
            &n("lab."),
            Timestamp::default(),
        ) else {
            panic!("not a referral")
        };
        assert_eq!(d.zone, n("example.lab."));
        assert_eq!(
            d.addresses(),
            vec!["127.0.0.3".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(d.unresolved().count(), 1);
    }

    #[test]
    fn out_of_bailiwick_referral_is_lame() {
        let mut m = msg(ResponseCode::NoError, false);
        m.authorities.push(Record::from_rdata(
            n("other."),
            60,
            RData::NS(NS(n("ns.other."))),
        ));
        assert!(matches!(
            classify(
                &m,
                &n("www.example.lab."),
                RecordType::A,
                &n("lab."),
                Timestamp::default()
            ),
            Classified::Failed(UpstreamOutcome::Lame)
        ));
    }

    fn classify_at(m: &Message, zone: &str) -> Classified {
        classify(
            m,
            &n("www.example.lab."),
            RecordType::A,
            &n(zone),
            Timestamp::default(),
        )
    }

    /// Issue 15: an empty answer without AA and without SOA is lame, not
    /// NODATA (it must never be cached as one).
    #[test]
    fn non_authoritative_empty_answer_is_lame() {
        let m = msg(ResponseCode::NoError, false);
        assert!(matches!(
            classify_at(&m, "example.lab."),
            Classified::Failed(UpstreamOutcome::Lame)
        ));
    }

    /// A referral to the zone asked itself or above it goes nowhere.
    #[test]
    fn referral_to_same_or_higher_zone_is_lame() {
        for cut in ["example.lab.", "lab.", "."] {
            let mut m = msg(ResponseCode::NoError, false);
            m.authorities.push(Record::from_rdata(
                n(cut),
                60,
                RData::NS(NS(n("ns1.example.lab."))),
            ));
            assert!(
                matches!(
                    classify_at(&m, "example.lab."),
                    Classified::Failed(UpstreamOutcome::Lame)
                ),
                "referral to {cut}"
            );
        }
    }

    /// An answer of a type not asked (and no CNAME) is a broken server.
    #[test]
    fn answer_of_unexpected_type_is_lame() {
        let mut m = msg(ResponseCode::NoError, true);
        m.answers.push(Record::from_rdata(
            n("www.example.lab."),
            60,
            RData::NS(NS(n("ns1.example.lab."))),
        ));
        assert!(matches!(
            classify_at(&m, "example.lab."),
            Classified::Failed(UpstreamOutcome::Lame)
        ));
    }

    /// NODATA: from an authoritative server even without SOA (accepted as
    /// Unbound does; without an SOA it gets TTL 0, RFC 2308 §5), and from
    /// a non-authoritative one (a forwarder) only with the zone's SOA.
    #[test]
    fn nodata_with_aa_or_soa() {
        let m = msg(ResponseCode::NoError, true);
        assert!(matches!(
            classify_at(&m, "example.lab."),
            Classified::Answer(StepKind::NoData)
        ));
        let mut m = msg(ResponseCode::NoError, false);
        m.authorities.push(Record::from_rdata(
            n("example.lab."),
            60,
            RData::SOA(hickory_proto::rr::rdata::SOA::new(
                n("ns1.example.lab."),
                n("h.example.lab."),
                1,
                2,
                3,
                4,
                5,
            )),
        ));
        assert!(matches!(
            classify_at(&m, "example.lab."),
            Classified::Answer(StepKind::NoData)
        ));
    }

    /// A DNAME above qname redirects it, with or without the CNAME.
    #[test]
    fn dname_without_cname_redirects() {
        use hickory_proto::serialize::binary::BinEncodable;
        let mut m = msg(ResponseCode::NoError, true);
        m.answers.push(Record::from_rdata(
            n("example.lab."),
            60,
            RData::Unknown {
                code: RecordType::DNAME,
                rdata: hickory_proto::rr::rdata::NULL::with(n("other.lab.").to_bytes().unwrap()),
            },
        ));
        match classify_at(&m, "example.lab.") {
            Classified::Answer(StepKind::Cname { target }) => {
                assert_eq!(target, n("www.other.lab."));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers() {
        let q = n("www.example.lab.");
        let mut m = msg(ResponseCode::NoError, true);
        m.answers.push(Record::from_rdata(
            q.clone(),
            60,
            RData::CNAME(CNAME(n("x.example.lab."))),
        ));
        assert!(matches!(
            classify(
                &m,
                &q,
                RecordType::A,
                &n("example.lab."),
                Timestamp::default()
            ),
            Classified::Answer(StepKind::Cname { .. })
        ));
        let m = msg(ResponseCode::NXDomain, true);
        assert!(matches!(
            classify(
                &m,
                &q,
                RecordType::A,
                &n("example.lab."),
                Timestamp::default()
            ),
            Classified::Answer(StepKind::NxDomain)
        ));
        let m = msg(ResponseCode::NoError, true);
        assert!(matches!(
            classify(
                &m,
                &q,
                RecordType::A,
                &n("example.lab."),
                Timestamp::default()
            ),
            Classified::Answer(StepKind::NoData)
        ));
        let m = msg(ResponseCode::ServFail, false);
        assert!(matches!(
            classify(
                &m,
                &q,
                RecordType::A,
                &n("example.lab."),
                Timestamp::default()
            ),
            Classified::Failed(UpstreamOutcome::ServFail)
        ));
    }
}
