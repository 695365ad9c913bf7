//! The authoritative answer logic, free of IO: query message + signed zone
//! -> response message (RFC 1034 §4.3.2, RFC 4035 §3.1, RFC 5155 §7.2).

use std::ops::Bound;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, NS};

use super::Fault;
use super::fault::{POISON_ADDR, POISON_NAME};
use super::sign::{Denial, SignedZone, nsec3_hash};
use super::zone::{Node, RrSet};
use crate::limits::{CLASSIC_UDP_PAYLOAD, EDNS_UDP_PAYLOAD};

/// What to do with the bytes of a received message.
#[derive(Debug)]
pub enum Parsed {
    /// A well-formed standard query with one question.
    Query(Message),
    /// Not answerable, but the header was readable: send this error.
    Reply(Message),
    /// Unreadable, or not a query: say nothing.
    Drop,
}

/// Decode a received message and check it is a query we answer.
pub fn parse_query(bytes: &[u8]) -> Parsed {
    let message = match Message::from_vec(bytes) {
        Ok(message) => message,
        Err(_) => {
            let mut decoder = BinDecoder::new(bytes);
            return match Header::read(&mut decoder) {
                Ok(header) if header.metadata.message_type == MessageType::Query => {
                    Parsed::Reply(Message::error_msg(
                        header.metadata.id,
                        header.metadata.op_code,
                        ResponseCode::FormErr,
                    ))
                }
                _ => Parsed::Drop,
            };
        }
    };
    if message.metadata.message_type != MessageType::Query {
        return Parsed::Drop;
    }
    if message.metadata.op_code != OpCode::Query {
        return Parsed::Reply(error_response(&message, ResponseCode::NotImp));
    }
    if message.queries.len() != 1 {
        return Parsed::Reply(error_response(&message, ResponseCode::FormErr));
    }
    Parsed::Query(message)
}

/// The UDP payload size the client accepts.
pub fn udp_limit(query: &Message) -> usize {
    let payload = query.edns.as_ref().map_or(CLASSIC_UDP_PAYLOAD, |edns| {
        edns.max_payload().max(CLASSIC_UDP_PAYLOAD)
    });
    usize::from(payload)
}

/// Encode `response`; when it exceeds `limit` bytes, send only the header,
/// question and OPT with TC set. `None` if even that cannot be encoded.
pub fn encode(response: &Message, limit: Option<usize>) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok();
    match (bytes, limit) {
        (Some(bytes), Some(limit)) if bytes.len() > limit => response.truncate().to_vec().ok(),
        (Some(bytes), _) => Some(bytes),
        (None, _) => error_response(response, ResponseCode::ServFail)
            .to_vec()
            .ok(),
    }
}

/// A response echoing the question (and OPT) with `rcode` and no records.
pub fn error_response(query: &Message, rcode: ResponseCode) -> Message {
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.checking_disabled = query.metadata.checking_disabled;
    response.metadata.response_code = rcode;
    response.queries = query.queries.clone();
    if let Some(query_edns) = &query.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_UDP_PAYLOAD);
        edns.set_dnssec_ok(query_edns.flags().dnssec_ok);
        response.edns = Some(edns);
    }
    response
}

/// The zone (index into `zones`) that answers `qname`/`qtype` on a server
/// serving `zones`: the deepest one containing the name, except that a DS
/// query for a zone apex goes to the parent if this server has it.
pub fn select_zone<'a>(
    zones: impl Iterator<Item = &'a Name>,
    qname: &Name,
    qtype: RecordType,
) -> Option<usize> {
    let mut candidates: Vec<(usize, usize)> = zones
        .enumerate()
        .filter(|(_, origin)| origin.zone_of(qname))
        .map(|(i, origin)| (label_count(origin), i))
        .collect();
    candidates.sort_unstable();
    let mut best = candidates.pop();
    if qtype == RecordType::DS
        && best.is_some_and(|(labels, _)| labels == label_count(qname))
        && let Some(parent) = candidates.pop()
    {
        best = Some(parent);
    }
    best.map(|(_, i)| i)
}

/// Answer one query from `zone`.
pub fn answer(query: &Message, zone: &SignedZone) -> Message {
    let Some(question) = query.queries.first() else {
        return error_response(query, ResponseCode::FormErr);
    };
    let qname = question.name();
    let qtype = question.query_type();
    if question.query_class() != DNSClass::IN || !zone.origin.zone_of(qname) {
        return error_response(query, ResponseCode::Refused);
    }
    let dnssec = zone.denial.is_some() && query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    let mut response = error_response(query, ResponseCode::NoError);
    let mut ctx = Ctx {
        zone,
        dnssec,
        qname,
        answers: Vec::new(),
        authorities: Vec::new(),
        additionals: Vec::new(),
        proofs: Vec::new(),
    };
    if let Some(cut) = find_cut(zone, qname, qtype) {
        ctx.referral(&cut);
    } else if let Some(owner) = dname_above(zone, qname) {
        response.metadata.authoritative = true;
        ctx.dname(&owner);
    } else {
        response.metadata.authoritative = true;
        if let Some(node) = zone.nodes.get(qname) {
            ctx.answer_node(node, qtype, None);
        } else if is_ent(zone, qname) {
            ctx.negative();
            ctx.prove_ent();
        } else {
            let encloser = closest_encloser(zone, qname);
            let wildcard = encloser.prepend_label("*").ok();
            match wildcard
                .as_ref()
                .and_then(|w| zone.nodes.get(w).map(|n| (w, n)))
            {
                Some((wildcard, node)) => ctx.answer_node(node, qtype, Some((&encloser, wildcard))),
                None => {
                    response.metadata.response_code = ResponseCode::NXDomain;
                    ctx.negative();
                    ctx.prove_nxdomain(&encloser, wildcard.as_ref());
                }
            }
        }
    }
    ctx.finish(&mut response);
    response
}

/// [`Fault::FanOut`]: for a name below the apex that does not exist (and
/// is not under `nxns.ZONE`), a referral to the child at its first label
/// below the apex, served by `servers` NS names `nsI.LABEL.nxns.ZONE`
/// without glue. `None`: answer normally.
pub fn fan_out(query: &Message, zone: &SignedZone, servers: u16) -> Option<Message> {
    referral_without_glue(query, zone, servers, false)
}

/// [`Fault::GluelessLoop`]: like [`fan_out`], with the NS names inside the
/// child (`nsI.LABEL.ZONE`) and no glue.
pub fn glueless_loop(query: &Message, zone: &SignedZone, servers: u16) -> Option<Message> {
    referral_without_glue(query, zone, servers, true)
}

fn referral_without_glue(
    query: &Message,
    zone: &SignedZone,
    servers: u16,
    inside_child: bool,
) -> Option<Message> {
    let qname = query.queries.first()?.name();
    let apex = label_count(&zone.origin);
    let nxns = zone.origin.prepend_label("nxns").ok()?;
    if label_count(qname) <= apex || nxns.zone_of(qname) {
        return None;
    }
    let cut = qname.trim_to(apex + 1).to_lowercase();
    if exists(zone, &cut) {
        return None;
    }
    let label = cut.iter().next()?;
    let mut response = error_response(query, ResponseCode::NoError);
    let ns_parent = if inside_child {
        cut.clone()
    } else {
        nxns.prepend_label(label).ok()?
    };
    for i in 0..servers {
        let ns = ns_parent.prepend_label(format!("ns{i}")).ok()?;
        response.authorities.push(Record::from_rdata(
            cut.clone(),
            zone.negative_ttl,
            RData::NS(NS(ns)),
        ));
    }
    Some(response)
}

/// [`Fault::DeepReferral`]: for a name below the apex that does not exist,
/// a referral to the name itself, served by `ns.NAME` at `server` (glue).
/// `None`: answer normally.
pub fn deep_referral(query: &Message, zone: &SignedZone, server: IpAddr) -> Option<Message> {
    let qname = query.queries.first()?.name().to_lowercase();
    if label_count(&qname) <= label_count(&zone.origin)
        || exists(zone, &qname)
        || find_cut(zone, &qname, RecordType::A).is_some()
    {
        return None;
    }
    let ns = qname.prepend_label("ns").ok()?;
    let glue = match server {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    let mut response = error_response(query, ResponseCode::NoError);
    response.authorities.push(Record::from_rdata(
        qname,
        zone.negative_ttl,
        RData::NS(NS(ns.clone())),
    ));
    response
        .additionals
        .push(Record::from_rdata(ns, zone.negative_ttl, glue));
    Some(response)
}

/// [`Fault::BrokenNodata`]: `response` as a broken server sends it when
/// it is NODATA (authoritative NOERROR, empty answer section); `None`:
/// no answer at all. Other responses pass unchanged.
pub fn broken_nodata(
    query: &Message,
    mut response: Message,
    kind: super::fault::NodataFault,
) -> Option<Message> {
    use super::fault::NodataFault;
    let nodata = response.metadata.authoritative
        && response.metadata.response_code == ResponseCode::NoError
        && response.answers.is_empty();
    if !nodata {
        return Some(response);
    }
    Some(match kind {
        NodataFault::ServFail => error_response(query, ResponseCode::ServFail),
        NodataFault::Refused => error_response(query, ResponseCode::Refused),
        NodataFault::FormErr => error_response(query, ResponseCode::FormErr),
        NodataFault::NotImp => error_response(query, ResponseCode::NotImp),
        NodataFault::Drop => return None,
        NodataFault::Lame => {
            response.metadata.authoritative = false;
            response.authorities.clear();
            response.additionals.clear();
            response
        }
    })
}

/// [`Fault::Poison`]: add out-of-bailiwick records to an answer: an A
/// record of [`POISON_NAME`] (answer and additional sections) and an NS of
/// its zone pointing to `ns.evil.`, with glue.
pub fn poison(response: &mut Message) {
    let (Ok(victim), Ok(evil)) = (Name::from_ascii(POISON_NAME), Name::from_ascii("ns.evil."))
    else {
        return;
    };
    let forged = Record::from_rdata(victim.clone(), 86_400, RData::A(A(POISON_ADDR)));
    response.answers.push(forged.clone());
    response.additionals.push(forged);
    response.authorities.push(Record::from_rdata(
        victim.base_name(),
        86_400,
        RData::NS(NS(evil.clone())),
    ));
    response
        .additionals
        .push(Record::from_rdata(evil, 86_400, RData::A(A(POISON_ADDR))));
}

/// The forged answer sent ahead of the real one under [`Fault::SpoofId`],
/// [`Fault::SpoofQuestion`] and [`Fault::SpoofSource`]: the question's
/// name with an A record of [`POISON_ADDR`], authoritative, unsigned; with
/// the wrong ID or question for the first two.
pub fn forge(query: &Message, fault: &Fault) -> Option<Message> {
    let qname = query.queries.first()?.name().clone();
    let mut forged = error_response(query, ResponseCode::NoError);
    forged.metadata.authoritative = true;
    forged.answers = vec![Record::from_rdata(
        qname.clone(),
        86_400,
        RData::A(A(POISON_ADDR)),
    )];
    match fault {
        Fault::SpoofId => forged.metadata.id = query.metadata.id ^ 0x5a5a,
        Fault::SpoofQuestion => {
            let other = qname.prepend_label("spoof").ok()?;
            if let Some(q) = forged.queries.first_mut() {
                q.set_name(other);
            }
        }
        Fault::SpoofSource => {}
        _ => return None,
    }
    Some(forged)
}

/// True number of labels (a leading `*` counts).
fn label_count(name: &Name) -> usize {
    name.iter().count()
}

/// The highest delegation point at or above `qname` (none for a DS query
/// exactly at it: the parent answers that).
fn find_cut(zone: &SignedZone, qname: &Name, qtype: RecordType) -> Option<Name> {
    let total = label_count(qname);
    (label_count(&zone.origin) + 1..=total)
        .map(|n| qname.trim_to(n))
        .find(|name| zone.cuts.contains(name))
        .filter(|cut| !(qtype == RecordType::DS && label_count(cut) == total))
}

/// The owner of a DNAME at a proper ancestor of `qname` in the zone.
fn dname_above(zone: &SignedZone, qname: &Name) -> Option<Name> {
    (label_count(&zone.origin)..label_count(qname))
        .map(|n| qname.trim_to(n))
        .find(|name| {
            zone.nodes
                .get(name)
                .is_some_and(|node| node.contains_key(&RecordType::DNAME))
        })
}

/// [`Fault::DnameWithoutCname`]: remove the CNAME a DNAME answer
/// synthesised (an authority that leaves synthesis to the resolver).
pub fn strip_synthesised_cname(response: &mut Message) {
    if response
        .answers
        .iter()
        .any(|r| r.record_type() == RecordType::DNAME)
    {
        response
            .answers
            .retain(|r| r.record_type() != RecordType::CNAME);
    }
}

/// A name with no records but with names below it.
fn is_ent(zone: &SignedZone, name: &Name) -> bool {
    zone.nodes
        .range::<Name, _>((Bound::Excluded(name), Bound::Unbounded))
        .next()
        .is_some_and(|(below, _)| name.zone_of(below))
}

fn exists(zone: &SignedZone, name: &Name) -> bool {
    zone.nodes.contains_key(name) || is_ent(zone, name)
}

/// The longest existing ancestor of a name that does not exist.
fn closest_encloser(zone: &SignedZone, qname: &Name) -> Name {
    let floor = label_count(&zone.origin);
    (floor..label_count(qname))
        .rev()
        .map(|n| qname.trim_to(n))
        .find(|name| exists(zone, name))
        .unwrap_or_else(|| zone.origin.clone())
}

struct Ctx<'a> {
    zone: &'a SignedZone,
    dnssec: bool,
    qname: &'a Name,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
    proofs: Vec<&'a RrSet>,
}

impl<'a> Ctx<'a> {
    fn referral(&mut self, cut: &Name) {
        let Some(node) = self.zone.nodes.get(cut) else {
            return;
        };
        if let Some(ns) = node.get(&RecordType::NS) {
            ns.emit(None, None, false, &mut self.authorities);
            for target in targets(ns) {
                if cut.zone_of(&target) {
                    self.addresses(&target, false);
                }
            }
        }
        if self.dnssec {
            match node.get(&RecordType::DS) {
                Some(ds) => ds.emit(None, None, true, &mut self.authorities),
                None => self.prove_match(cut),
            }
        }
    }

    /// RFC 6672 §3: the DNAME RRset at `owner` (signed) and the CNAME it
    /// implies for qname (unsigned, TTL of the DNAME).
    fn dname(&mut self, owner: &Name) {
        let Some(set) = self
            .zone
            .nodes
            .get(owner)
            .and_then(|node| node.get(&RecordType::DNAME))
        else {
            return;
        };
        set.emit(None, None, self.dnssec, &mut self.answers);
        if let Some((record, target)) = dname_redirect(&self.answers, self.qname) {
            let cname = synthesised_cname(record, self.qname, &target);
            self.answers.push(cname);
        }
    }

    /// Answer from an existing node; `wildcard` = (closest encloser,
    /// wildcard name) when `node` is a wildcard being expanded.
    fn answer_node(&mut self, node: &'a Node, qtype: RecordType, wildcard: Option<(&Name, &Name)>) {
        let owner = wildcard.map(|_| self.qname);
        if qtype == RecordType::RRSIG && wildcard.is_none() {
            // As real authorities do: every signature at the name, DO or not.
            let sigs: Vec<Record> = node
                .values()
                .flat_map(|set| set.rrsigs.iter().cloned())
                .collect();
            if !sigs.is_empty() {
                self.answers.extend(sigs);
                return;
            }
        }
        let sets: Vec<&RrSet> = match (qtype, node.get(&qtype), node.get(&RecordType::CNAME)) {
            (RecordType::ANY, _, _) => node.values().collect(),
            (_, Some(set), _) => vec![set],
            (RecordType::CNAME, None, _) => Vec::new(),
            (_, None, Some(cname)) => vec![cname],
            (_, None, None) => Vec::new(),
        };
        if sets.is_empty() {
            self.negative();
            match wildcard {
                None => self.prove_match(self.qname),
                Some((encloser, wildcard)) => {
                    self.prove_no_exact(encloser);
                    if self.zone.denial == Some(Denial::Nsec3) {
                        self.prove_match(encloser);
                    }
                    self.prove_match(wildcard);
                }
            }
            return;
        }
        for set in sets {
            set.emit(owner, None, self.dnssec, &mut self.answers);
            if matches!(set.rtype, RecordType::NS | RecordType::MX) {
                for target in targets(set) {
                    self.addresses(&target, self.dnssec && !self.zone.below_cut(&target));
                }
            }
        }
        if let Some((encloser, _)) = wildcard {
            self.prove_no_exact(encloser);
        }
    }

    /// A/AAAA of `target` into the additional section, if the zone has them.
    fn addresses(&mut self, target: &Name, with_sigs: bool) {
        if let Some(node) = self.zone.nodes.get(target) {
            for rtype in [RecordType::A, RecordType::AAAA] {
                if let Some(set) = node.get(&rtype) {
                    set.emit(None, None, with_sigs, &mut self.additionals);
                }
            }
        }
    }

    /// SOA (with the negative TTL) into the authority section.
    fn negative(&mut self) {
        let soa = self
            .zone
            .nodes
            .get(&self.zone.origin)
            .and_then(|n| n.get(&RecordType::SOA));
        if let Some(soa) = soa {
            soa.emit(
                None,
                Some(self.zone.negative_ttl),
                self.dnssec,
                &mut self.authorities,
            );
        }
    }

    /// The NSEC at `name`, or the NSEC3 matching it.
    fn prove_match(&mut self, name: &Name) {
        let proof = match self.zone.denial {
            Some(Denial::Nsec) => self
                .zone
                .nodes
                .get(name)
                .and_then(|n| n.get(&RecordType::NSEC)),
            Some(Denial::Nsec3) => nsec3_hash(name, self.zone.nsec3_iterations)
                .ok()
                .and_then(|h| self.zone.nsec3.get(&h)),
            None => None,
        };
        self.proofs.extend(proof);
    }

    /// The NSEC covering `name`, or the NSEC3 covering its hash.
    fn prove_cover(&mut self, name: &Name) {
        let proof = match self.zone.denial {
            Some(Denial::Nsec) => self
                .zone
                .nodes
                .range::<Name, _>(..=name)
                .rev()
                .find_map(|(_, node)| node.get(&RecordType::NSEC)),
            Some(Denial::Nsec3) => {
                nsec3_hash(name, self.zone.nsec3_iterations)
                    .ok()
                    .and_then(|h| {
                        self.zone
                            .nsec3
                            .range(..h)
                            .next_back()
                            .or_else(|| self.zone.nsec3.iter().next_back())
                            .map(|(_, set)| set)
                    })
            }
            None => None,
        };
        self.proofs.extend(proof);
    }

    /// QNAME itself does not exist (for wildcard answers): NSEC covering it,
    /// or the NSEC3 covering the next closer name.
    fn prove_no_exact(&mut self, encloser: &Name) {
        match self.zone.denial {
            Some(Denial::Nsec3) => {
                let next_closer = self.qname.trim_to(label_count(encloser) + 1);
                self.prove_cover(&next_closer);
            }
            _ => self.prove_cover(self.qname),
        }
    }

    fn prove_ent(&mut self) {
        match self.zone.denial {
            Some(Denial::Nsec3) => self.prove_match(self.qname),
            _ => self.prove_cover(self.qname),
        }
    }

    fn prove_nxdomain(&mut self, encloser: &Name, wildcard: Option<&Name>) {
        if self.zone.denial == Some(Denial::Nsec3) {
            self.prove_match(encloser);
        }
        self.prove_no_exact(encloser);
        if let Some(wildcard) = wildcard {
            self.prove_cover(wildcard);
        }
    }

    fn finish(mut self, response: &mut Message) {
        if self.dnssec {
            let mut seen: Vec<&Name> = Vec::new();
            for proof in std::mem::take(&mut self.proofs) {
                if seen.contains(&&proof.name) {
                    continue;
                }
                seen.push(&proof.name);
                proof.emit(None, None, true, &mut self.authorities);
            }
        }
        response.answers = self.answers;
        response.authorities = self.authorities;
        response.additionals = self.additionals;
    }
}

/// Names an NS or MX RRset points to.
fn targets(set: &RrSet) -> Vec<Name> {
    set.records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            RData::MX(mx) => Some(mx.exchange.clone()),
            _ => None,
        })
        .collect()
}

/// The DNAME among `records` that redirects `qname` and the name it maps
/// `qname` to (RFC 6672 §2.2), the deepest owner winning. The lab's own
/// implementation: the test authority does not borrow the resolver's.
fn dname_redirect<'r>(records: &'r [Record], qname: &Name) -> Option<(&'r Record, Name)> {
    records
        .iter()
        .filter(|r| r.record_type() == RecordType::DNAME)
        .filter(|r| r.name.num_labels() < qname.num_labels() && r.name.zone_of(qname))
        .max_by_key(|r| r.name.num_labels())
        .and_then(|r| {
            // hickory has no DNAME type: its RDATA is an uncompressed name.
            let RData::Unknown { rdata, .. } = &r.data else {
                return None;
            };
            let target = Name::from_bytes(&rdata.anything).ok()?;
            let keep = usize::from(qname.num_labels().saturating_sub(r.name.num_labels()));
            let prefix: Vec<&[u8]> = qname.iter().take(keep).collect();
            let new = Name::from_labels(prefix).ok()?.append_name(&target).ok()?;
            Some((r, new))
        })
}

/// The CNAME an authority synthesises from a DNAME (RFC 6672 §3.1: with
/// the DNAME's TTL).
fn synthesised_cname(dname: &Record, qname: &Name, target: &Name) -> Record {
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
    use super::*;
    use crate::sign::{self, ZoneKeys};
    use crate::{Fault, LabAlgorithm, default_zones_dir, zone};
    use hickory_proto::op::Query;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn example() -> SignedZone {
        let data = zone::load(
            &default_zones_dir().join("example.lab.zone"),
            &name("example.lab."),
            None,
        )
        .unwrap();
        let keys = ZoneKeys::generate(LabAlgorithm::EcdsaP256, &data.origin).unwrap();
        sign::sign_for_fault(
            &data,
            Denial::Nsec,
            &keys,
            &Fault::None,
            LabAlgorithm::EcdsaP256,
        )
        .unwrap()
    }

    fn ask(zone: &SignedZone, qname: &str, qtype: RecordType, dnssec: bool) -> Message {
        let mut query = Message::query();
        query.add_query(Query::query(name(qname), qtype));
        if dnssec {
            let mut edns = Edns::new();
            edns.set_dnssec_ok(true);
            query.set_edns(edns);
        }
        answer(&query, zone)
    }

    #[test]
    fn table_of_answers() {
        let zone = example();
        // (qname, qtype, rcode, answers, authorities) with DO set
        let cases = [
            (
                "host1.example.lab.",
                RecordType::A,
                ResponseCode::NoError,
                2,
                0,
            ),
            (
                "alias.example.lab.",
                RecordType::A,
                ResponseCode::NoError,
                2,
                0,
            ),
            (
                "alias.example.lab.",
                RecordType::CNAME,
                ResponseCode::NoError,
                2,
                0,
            ),
            (
                "x.wild.example.lab.",
                RecordType::TXT,
                ResponseCode::NoError,
                2,
                2,
            ),
            (
                "nodata.example.lab.",
                RecordType::A,
                ResponseCode::NoError,
                0,
                4,
            ),
            (
                "wild.example.lab.",
                RecordType::A,
                ResponseCode::NoError,
                0,
                4,
            ),
            (
                "nope.example.lab.",
                RecordType::A,
                ResponseCode::NXDomain,
                0,
                6,
            ),
            (
                "a.nope.example.lab.",
                RecordType::A,
                ResponseCode::NXDomain,
                0,
                6,
            ),
            ("example.lab.", RecordType::DS, ResponseCode::NoError, 0, 4),
            (
                "www.example.com.",
                RecordType::A,
                ResponseCode::Refused,
                0,
                0,
            ),
        ];
        for (qname, qtype, rcode, answers, authorities) in cases {
            let r = ask(&zone, qname, qtype, true);
            let what = format!("{qname} {qtype}: {r:?}");
            assert_eq!(r.metadata.response_code, rcode, "{what}");
            assert_eq!(r.answers.len(), answers, "{what}");
            assert_eq!(r.authorities.len(), authorities, "{what}");
            assert_eq!(r.edns.as_ref().map(|e| e.flags().dnssec_ok), Some(true));
        }
        // Without DO: no DNSSEC records anywhere.
        let r = ask(&zone, "nope.example.lab.", RecordType::A, false);
        assert_eq!(r.authorities.len(), 1);
        assert!(r.edns.is_none());
        let r = ask(&zone, "example.lab.", RecordType::MX, false);
        assert_eq!(r.answers.len(), 2);
        assert_eq!(r.additionals.len(), 2, "addresses of the MX targets");
    }

    #[test]
    fn zone_selection() {
        let zones = [Name::root(), name("lab."), name("example.lab.")];
        let pick = |q: &str, t| select_zone(zones.iter(), &name(q), t);
        assert_eq!(pick("www.example.lab.", RecordType::A), Some(2));
        assert_eq!(pick("example.lab.", RecordType::A), Some(2));
        assert_eq!(pick("example.lab.", RecordType::DS), Some(1));
        assert_eq!(pick("com.", RecordType::A), Some(0));
        assert_eq!(
            select_zone([name("lab.")].iter(), &name("com."), RecordType::A),
            None
        );
    }

    #[test]
    fn malformed_input_never_panics() {
        assert!(matches!(parse_query(&[]), Parsed::Drop));
        assert!(matches!(parse_query(&[0; 5]), Parsed::Drop));
        let mut header = vec![0x12, 0x34, 0x00, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0];
        header.extend_from_slice(&[3, b'a', b'b']);
        match parse_query(&header) {
            Parsed::Reply(r) => {
                assert_eq!(r.metadata.id, 0x1234);
                assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
            }
            other => panic!("{other:?}"),
        }
        // A response (QR=1) is ignored.
        let mut response = Message::response(7, OpCode::Query);
        response.add_query(Query::query(name("a."), RecordType::A));
        assert!(matches!(
            parse_query(&response.to_vec().unwrap()),
            Parsed::Drop
        ));
        // Two questions: FORMERR.
        let mut two = Message::query();
        two.add_query(Query::query(name("a."), RecordType::A));
        two.add_query(Query::query(name("b."), RecordType::A));
        assert!(matches!(
            parse_query(&two.to_vec().unwrap()),
            Parsed::Reply(_)
        ));
    }
}
