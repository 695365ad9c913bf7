//! Client messages in, response bytes out: pure functions, no IO.
//!
//! [`parse_request`] checks a client message (RFC 1035, RFC 6891, RFC 9619)
//! and either hands back a [`ClientQuery`] for the resolver, an immediate
//! reply (FORMERR, NOTIMP, REFUSED, BADVERS), or a reason to drop it.
//! [`encode_response`] turns an [`Answer`] into a response, truncating for
//! UDP.
//!
//! The header is decoded by hand so that any message with a readable header
//! gets an answer carrying its ID. Past the question, records are only
//! framed (owner name, type, class, TTL, RDATA length), never decoded: a
//! query has no business carrying data, and the only record we read is the
//! OPT pseudo-record. Records in the answer and authority sections of a
//! query are framed and skipped. Bytes after the last counted record are
//! ignored (RFC 1035 gives them no meaning).
//!
//! [`plain_query`] is the cache-hit path's shortcut: it reads the common
//! shape of a query (one question with a plain name, no records but an
//! optional OPT) in place, with no allocation, and gives up on anything
//! else; whatever it accepts, `parse_request` accepts as a query with the
//! same header bits and EDNS (the test of `parse_table` checks every case).
//!
//! CHAOS-class questions pass as queries (the server answers them itself,
//! `chaos.rs`); every other class but IN is REFUSED here. An NSID option
//! in the request (RFC 5001) is noted in [`EdnsInfo::nsid`]; the server's
//! NSID goes into the response's OPT ([`encode_response_nsid`]).
//!
//! Immediate replies are decided before the ACL (in `server`), so a client
//! outside it may get FORMERR/NOTIMP/BADVERS; these are never larger than a
//! header, the question and an OPT.

use hickory_proto::op::{
    Edns, Header, MessageType, Metadata, OpCode, Query, ResponseCode, emit_message_parts,
};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncoder};

use crate::limits;
use crate::metrics::Metrics;
use crate::query::{Answer, ClientQuery, Tier};

/// DNS header length (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;
/// RR type of the OPT pseudo-record (RFC 6891 §6.1.1).
const OPT_TYPE: u16 = 41;
/// EDNS option code of NSID (RFC 5001 §2.3).
pub const NSID_OPTION_CODE: u16 = 3;
/// Longest name on the wire, root label included (RFC 1035 §3.1).
const MAX_NAME_WIRE_LEN: usize = 255;

/// What to do with one client message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A well-formed query for the resolver.
    Query(ClientQuery, RequestInfo),
    /// Answer immediately with these bytes (FORMERR, NOTIMP, REFUSED,
    /// BADVERS); the handler is not called.
    Reply(Vec<u8>),
    /// Send nothing back.
    Drop(DropReason),
}

/// Why a message gets no reply at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than a DNS header: there is no ID to answer with.
    Short,
    /// QR=1: a response sent to us; answering could start a loop.
    Response,
}

impl DropReason {
    /// The `reason` label of the malformed-messages metric.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Short => "short",
            DropReason::Response => "response",
        }
    }
}

/// What the response needs from the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    pub id: u16,
    /// The question as the client sent it (case preserved), echoed back.
    pub query_message_question: Query,
    /// The request's OPT record; `None` without EDNS.
    pub edns: Option<EdnsInfo>,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
}

/// The parts of a client's OPT record that shape the response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdnsInfo {
    /// Requestor's UDP payload size (RFC 6891 §6.2.3), as sent.
    pub payload: u16,
    pub dnssec_ok: bool,
    /// The request carries an NSID option (RFC 5001): the response gets
    /// the server's NSID, if it has one.
    pub nsid: bool,
}

/// Check one client message. Counts `metrics.malformed` for drops and
/// FORMERR, and `metrics.answered(.., Tier::Local)` for immediate replies
/// (the caller sends every [`Parsed::Reply`]).
pub fn parse_request(bytes: &[u8], metrics: &Metrics) -> Parsed {
    let Some(head) = Head::read(bytes) else {
        return drop_with_metric(DropReason::Short, metrics);
    };
    if head.is_response() {
        return drop_with_metric(DropReason::Response, metrics);
    }
    match parse_body(&head, bytes) {
        Ok(parsed) => parsed,
        Err(rejection) => {
            if rejection.rcode == ResponseCode::FormErr {
                metrics.malformed.with_label_values(&["formerr"]).inc();
            }
            metrics.answered(rcode_label(rejection.rcode), Tier::Local);
            Parsed::Reply(rejection.encode(&head))
        }
    }
}

/// What a template lookup needs of a query of the common shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainQuery {
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    /// The request's OPT record; `None` without EDNS.
    pub edns: Option<EdnsInfo>,
}

/// `bytes` read in place as the common query: QR=0, opcode QUERY, one
/// question whose name is a plain (uncompressed) name, class IN, a type
/// other than AXFR/IXFR, no answer or authority record and at most one
/// additional record, an OPT of version 0 at the root whose options tile
/// its RDATA. `None` for anything else (then [`parse_request`] decides).
/// Bytes after the last record are ignored, as `parse_request` does.
pub fn plain_query(bytes: &[u8]) -> Option<PlainQuery> {
    let head = Head::read(bytes)?;
    let plain = !head.is_response()
        && head.opcode() == u8::from(OpCode::Query)
        && head.qdcount == limits::MAX_QUESTIONS
        && head.ancount == 0
        && head.nscount == 0
        && head.arcount <= 1;
    if !plain {
        return None;
    }
    let mut pos = HEADER_LEN;
    // A plain name: labels of at most 63 bytes, at most 255 bytes in all.
    loop {
        let len = usize::from(*bytes.get(pos)?);
        if len & 0xc0 != 0 {
            return None;
        }
        pos = pos.checked_add(1 + len)?;
        if pos - HEADER_LEN > MAX_NAME_WIRE_LEN {
            return None;
        }
        if len == 0 {
            break;
        }
    }
    let [t0, t1, c0, c1] = *bytes.get(pos..pos.checked_add(4)?)?.first_chunk::<4>()?;
    let qtype = RecordType::from(u16::from_be_bytes([t0, t1]));
    if u16::from_be_bytes([c0, c1]) != u16::from(DNSClass::IN)
        || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
    {
        return None;
    }
    pos += 4;
    let edns = if head.arcount == 1 {
        // Root owner (0), then type, class, TTL, RDLENGTH.
        let opt = bytes.get(pos..pos.checked_add(11)?)?;
        let [owner, ty0, ty1, p0, p1, _, version, flags, _, l0, l1] = *opt.first_chunk::<11>()?;
        if owner != 0 || u16::from_be_bytes([ty0, ty1]) != OPT_TYPE || version != 0 {
            return None;
        }
        let start = pos + 11;
        let rdata =
            bytes.get(start..start.checked_add(usize::from(u16::from_be_bytes([l0, l1])))?)?;
        let nsid = check_options(rdata).ok()?;
        Some(EdnsInfo {
            payload: u16::from_be_bytes([p0, p1]),
            dnssec_ok: flags & 0x80 != 0,
            nsid,
        })
    } else {
        None
    };
    Some(PlainQuery {
        recursion_desired: head.recursion_desired(),
        checking_disabled: head.checking_disabled(),
        edns,
    })
}

/// Encode the response to a query, at most `max_size` bytes (clamped to
/// 512..=65535). If the full answer does not fit, the reply carries TC=1
/// and only the header, the question and the OPT record (RFC 1035 §4.2.1,
/// RFC 6891 §7): the client retries over TCP.
pub fn encode_response(info: &RequestInfo, answer: &Answer, max_size: usize) -> Vec<u8> {
    encode_response_nsid(info, answer, max_size, None)
}

/// [`encode_response`] by a server whose NSID is `nsid`: the OPT of the
/// response carries it when the request asked (an NSID option, RFC 5001
/// §2.1), also when truncated (as the EDEs are).
pub fn encode_response_nsid(
    info: &RequestInfo,
    answer: &Answer,
    max_size: usize,
    nsid: Option<&[u8]>,
) -> Vec<u8> {
    let reply = Reply {
        id: info.id,
        opcode: OpCode::Query,
        recursion_desired: info.recursion_desired,
        checking_disabled: info.checking_disabled,
        question: Some(&info.query_message_question),
        edns: info.edns,
        nsid: nsid.filter(|_| info.edns.is_some_and(|e| e.nsid)),
    };
    reply.encode(answer, max_size)
}

/// The UDP payload size the response must fit: the client's advertised
/// size (at least 512, RFC 6891 §6.2.5), at most what we advertise
/// ([`limits::EDNS_UDP_PAYLOAD`]); 512 without EDNS (RFC 1035 §2.3.4).
pub fn udp_limit(info: &RequestInfo) -> usize {
    udp_limit_for(info.edns)
}

/// [`udp_limit`] of a request with this OPT (or none).
pub fn udp_limit_for(edns: Option<EdnsInfo>) -> usize {
    let classic = limits::CLASSIC_UDP_PAYLOAD;
    match edns {
        Some(edns) => usize::from(edns.payload.max(classic).min(limits::EDNS_UDP_PAYLOAD)),
        None => usize::from(classic),
    }
}

/// The `rcode` label of the queries metric (RFC 1035 / IANA mnemonics).
pub fn rcode_label(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::BADVERS | ResponseCode::BADSIG => "BADVERS",
        _ => "OTHER",
    }
}

fn drop_with_metric(reason: DropReason, metrics: &Metrics) -> Parsed {
    metrics
        .malformed
        .with_label_values(&[reason.as_str()])
        .inc();
    Parsed::Drop(reason)
}

/// The fixed 12-byte header, decoded by hand so it is always available.
#[derive(Clone, Copy, Debug)]
struct Head {
    id: u16,
    /// Second and third octets: QR, OPCODE, AA, TC, RD, RA, Z, AD, CD, RCODE.
    flags: u16,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
}

impl Head {
    fn read(bytes: &[u8]) -> Option<Self> {
        let (header, _) = bytes.split_first_chunk::<HEADER_LEN>()?;
        let [a, b, c, d, e, f, g, h, i, j, k, l] = *header;
        Some(Self {
            id: u16::from_be_bytes([a, b]),
            flags: u16::from_be_bytes([c, d]),
            qdcount: u16::from_be_bytes([e, f]),
            ancount: u16::from_be_bytes([g, h]),
            nscount: u16::from_be_bytes([i, j]),
            arcount: u16::from_be_bytes([k, l]),
        })
    }

    fn is_response(self) -> bool {
        self.flags & 0x8000 != 0
    }

    fn opcode(self) -> u8 {
        // Four bits after QR: the mask makes the value fit in a u8.
        u8::try_from((self.flags >> 11) & 0x0f).unwrap_or(u8::MAX)
    }

    fn recursion_desired(self) -> bool {
        self.flags & 0x0100 != 0
    }

    fn checking_disabled(self) -> bool {
        self.flags & 0x0010 != 0
    }
}

/// An immediate reply decided while parsing.
#[derive(Debug)]
struct Rejection {
    rcode: ResponseCode,
    /// Echoed when it was read (it is not for a QDCOUNT other than 1).
    question: Option<Query>,
    /// Set when the request's OPT was read and the reply must carry one.
    edns: Option<EdnsInfo>,
}

impl Rejection {
    fn formerr(question: Option<Query>) -> Self {
        Self {
            rcode: ResponseCode::FormErr,
            question,
            edns: None,
        }
    }

    fn encode(&self, head: &Head) -> Vec<u8> {
        let reply = Reply {
            id: head.id,
            opcode: OpCode::from_u8(head.opcode()),
            recursion_desired: head.recursion_desired(),
            checking_disabled: head.checking_disabled(),
            question: self.question.as_ref(),
            edns: self.edns,
            nsid: None,
        };
        let answer = Answer::error(self.rcode, Tier::Local, Vec::new());
        reply.encode(&answer, usize::from(limits::CLASSIC_UDP_PAYLOAD))
    }
}

/// Everything after the header, in the order the checks apply: opcode
/// (NOTIMP), QDCOUNT (FORMERR), question and record framing (FORMERR),
/// OPT count and placement (FORMERR), EDNS version (BADVERS), then
/// QCLASS and QTYPE (REFUSED).
fn parse_body(head: &Head, bytes: &[u8]) -> Result<Parsed, Rejection> {
    if head.opcode() != u8::from(OpCode::Query) {
        return Err(Rejection {
            rcode: ResponseCode::NotImp,
            question: None,
            edns: None,
        });
    }
    if head.qdcount != limits::MAX_QUESTIONS {
        return Err(Rejection::formerr(None));
    }
    let mut decoder = BinDecoder::new(bytes);
    decoder
        .read_slice(HEADER_LEN)
        .map_err(|_| Rejection::formerr(None))?;
    let question = read_question(&mut decoder).ok_or_else(|| Rejection::formerr(None))?;
    let edns = read_records(head, &mut decoder)
        .map_err(|()| Rejection::formerr(Some(question.clone())))?;

    if let Some(opt) = edns
        && opt.version > 0
    {
        // RFC 6891 §6.1.3: BADVERS, with an OPT of the version we speak.
        return Err(Rejection {
            rcode: ResponseCode::BADVERS,
            question: Some(question),
            edns: Some(opt.info),
        });
    }
    let edns = edns.map(|opt| opt.info);
    let refused = !matches!(question.query_class, DNSClass::IN | DNSClass::CH)
        || matches!(question.query_type, RecordType::AXFR | RecordType::IXFR);
    if refused {
        return Err(Rejection {
            rcode: ResponseCode::Refused,
            question: Some(question),
            edns,
        });
    }

    let query = ClientQuery {
        name: question.name.clone(),
        qtype: question.query_type,
        qclass: question.query_class,
        dnssec_ok: edns.is_some_and(|e| e.dnssec_ok),
        checking_disabled: head.checking_disabled(),
        recursion_desired: head.recursion_desired(),
    };
    let info = RequestInfo {
        id: head.id,
        query_message_question: question,
        edns,
        recursion_desired: head.recursion_desired(),
        checking_disabled: head.checking_disabled(),
    };
    Ok(Parsed::Query(query, info))
}

fn read_question(decoder: &mut BinDecoder<'_>) -> Option<Query> {
    let name = Name::read(decoder).ok()?;
    let qtype = decoder.read_u16().ok()?.unverified(/* any type is representable */);
    let qclass = decoder.read_u16().ok()?.unverified(/* any class is representable */);
    let mut query = Query::query(name, RecordType::from(qtype));
    query.set_query_class(DNSClass::from(qclass));
    Some(query)
}

/// The request's OPT record.
#[derive(Clone, Copy, Debug)]
struct Opt {
    version: u8,
    info: EdnsInfo,
}

/// Frame every record of the answer, authority and additional sections;
/// return the single OPT, if any. `Err` means FORMERR.
fn read_records(head: &Head, decoder: &mut BinDecoder<'_>) -> Result<Option<Opt>, ()> {
    let mut opt = None;
    let sections = [
        (head.ancount, false),
        (head.nscount, false),
        (head.arcount, true),
    ];
    for (count, is_additional) in sections {
        for _ in 0..count {
            let owner = Name::read(decoder).map_err(|_| ())?;
            let rtype = read_u16(decoder)?;
            let class = read_u16(decoder)?;
            let ttl = decoder.read_u32().map_err(|_| ())?.unverified(/* opaque */);
            let rdlength = read_u16(decoder)?;
            let rdata = decoder
                .read_slice(usize::from(rdlength))
                .map_err(|_| ())?
                .unverified(/* length checked by read_slice */);
            if rtype != OPT_TYPE {
                continue;
            }
            // RFC 6891 §6.1.1: only in the additional section, only one,
            // owned by the root.
            if !is_additional || opt.is_some() || !owner.is_root() {
                return Err(());
            }
            let nsid = check_options(rdata)?;
            let [_, version, flags_high, _] = ttl.to_be_bytes();
            opt = Some(Opt {
                version,
                info: EdnsInfo {
                    payload: class,
                    dnssec_ok: flags_high & 0x80 != 0,
                    nsid,
                },
            });
        }
    }
    Ok(opt)
}

fn read_u16(decoder: &mut BinDecoder<'_>) -> Result<u16, ()> {
    Ok(decoder.read_u16().map_err(|_| ())?.unverified(/* opaque */))
}

/// EDNS options must tile the RDATA exactly (RFC 6891 §6.1.2); their
/// contents are not used. Returns whether one is NSID (RFC 5001: a
/// requestor sends it empty; any payload is ignored).
fn check_options(mut rdata: &[u8]) -> Result<bool, ()> {
    let mut nsid = false;
    while !rdata.is_empty() {
        let (option_head, rest) = rdata.split_first_chunk::<4>().ok_or(())?;
        let [code_hi, code_lo, len_hi, len_lo] = *option_head;
        nsid |= u16::from_be_bytes([code_hi, code_lo]) == NSID_OPTION_CODE;
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        rdata = rest.get(len..).ok_or(())?;
    }
    Ok(nsid)
}

/// The header fields and question of a reply.
struct Reply<'a> {
    id: u16,
    opcode: OpCode,
    recursion_desired: bool,
    checking_disabled: bool,
    question: Option<&'a Query>,
    edns: Option<EdnsInfo>,
    /// The server's NSID, to send (the request asked for it).
    nsid: Option<&'a [u8]>,
}

/// How much of an answer goes into the message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Every section.
    Full,
    /// TC=1, header + question + OPT with the EDE options.
    Truncated,
    /// TC=1, header + question + OPT without options (EDE text too long).
    TruncatedBare,
}

impl Reply<'_> {
    fn encode(&self, answer: &Answer, max_size: usize) -> Vec<u8> {
        let max = max_size.clamp(
            usize::from(limits::CLASSIC_UDP_PAYLOAD),
            limits::MAX_MESSAGE_SIZE,
        );
        [Shape::Full, Shape::Truncated, Shape::TruncatedBare]
            .into_iter()
            .find_map(|shape| self.try_encode(answer, shape, max))
            .unwrap_or_else(|| self.header_only(answer.rcode))
    }

    /// `None` if it does not fit in `max` bytes or cannot be encoded.
    fn try_encode(&self, answer: &Answer, shape: Shape, max: usize) -> Option<Vec<u8>> {
        let full = shape == Shape::Full;
        let mut metadata = Metadata::new(self.id, MessageType::Response, self.opcode);
        metadata.recursion_desired = self.recursion_desired;
        metadata.recursion_available = true;
        metadata.checking_disabled = self.checking_disabled;
        metadata.authentic_data = full && answer.authentic_data;
        metadata.truncation = !full;
        metadata.response_code = answer.rcode;

        let edns = self.edns.map(|info| {
            let mut edns = Edns::new();
            edns.set_max_payload(limits::EDNS_UDP_PAYLOAD);
            edns.set_dnssec_ok(info.dnssec_ok);
            if shape != Shape::TruncatedBare {
                if let Some(nsid) = self.nsid {
                    edns.options_mut()
                        .insert(EdnsOption::Unknown(NSID_OPTION_CODE, nsid.to_vec()));
                }
                for ede in &answer.ede {
                    edns.options_mut().insert(ede.to_option());
                }
            }
            edns
        });
        if edns.is_none() && answer.rcode.high() > 0 {
            // An extended rcode needs an OPT to carry its high bits.
            metadata.response_code = ResponseCode::ServFail;
        }

        let none: &[Record] = &[];
        let (answers, authorities, additionals) = if full {
            (
                &answer.answers[..],
                &answer.authorities[..],
                &answer.additionals[..],
            )
        } else {
            (none, none, none)
        };
        let mut buf = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_max_size(u16::try_from(max).unwrap_or(u16::MAX));
        let header: Header = emit_message_parts(
            &metadata,
            &mut self.question.into_iter(),
            &mut answers.iter(),
            &mut authorities.iter(),
            &mut additionals.iter(),
            edns.as_ref(),
            None,
            &mut encoder,
        )
        .ok()?;
        // When a record does not fit, hickory leaves it (and the rest of its
        // section) out, sets TC, and may leave a partial record in the
        // buffer. Such a message is never sent: every record or none.
        let opt = usize::from(edns.is_some());
        let complete = usize::from(header.counts.answers) == answers.len()
            && usize::from(header.counts.authorities) == authorities.len()
            && usize::from(header.counts.additionals) == additionals.len() + opt;
        (complete && buf.len() <= max).then_some(buf)
    }

    /// Last resort: a bare 12-byte header with TC set (cannot fail).
    fn header_only(&self, rcode: ResponseCode) -> Vec<u8> {
        let mut first = 0x80 | (u8::from(self.opcode) & 0x0f) << 3 | 0x02;
        if self.recursion_desired {
            first |= 0x01;
        }
        let mut second = 0x80 | (rcode.low() & 0x0f);
        if self.checking_disabled {
            second |= 0x10;
        }
        let [id_hi, id_lo] = self.id.to_be_bytes();
        vec![id_hi, id_lo, first, second, 0, 0, 0, 0, 0, 0, 0, 0]
    }
}

#[cfg(test)]
mod tests;
