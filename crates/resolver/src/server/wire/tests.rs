#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::*;
use crate::ede::{Ede, EdeCode};
use crate::metrics::Metrics;
use crate::query::{Answer, Tier};

/// Options for a test query.
#[derive(Clone, Copy)]
struct Q<'a> {
    id: u16,
    name: &'a str,
    qtype: RecordType,
    qclass: DNSClass,
    /// (payload, version, DO)
    edns: Option<(u16, u8, bool)>,
}

const BASE: Q<'static> = Q {
    id: 0x1234,
    name: "ExAmPlE.CoM.",
    qtype: RecordType::A,
    qclass: DNSClass::IN,
    edns: None,
};

fn query(q: Q<'_>) -> Vec<u8> {
    let mut msg = Message::new(q.id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    let mut question = Query::query(Name::from_ascii(q.name).unwrap(), q.qtype);
    question.set_query_class(q.qclass);
    msg.add_query(question);
    if let Some((payload, version, dnssec_ok)) = q.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        edns.set_version(version);
        edns.set_dnssec_ok(dnssec_ok);
        msg.set_edns(edns);
    }
    msg.to_vec().unwrap()
}

fn with_edns() -> Vec<u8> {
    query(Q {
        edns: Some((1232, 0, true)),
        ..BASE
    })
}

/// Overwrite a big-endian u16 at `at`.
fn set_u16(mut bytes: Vec<u8>, at: usize, value: u16) -> Vec<u8> {
    bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
    bytes
}

fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        out.extend_from_slice(&c.to_be_bytes());
    }
    out
}

/// A raw OPT record: root owner, given class (payload) and TTL, rdata.
fn opt_rr(owner: &[u8], payload: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

/// A query for `a.` IN A with the given counts, followed by `rest`.
fn raw(counts: [u16; 4], rest: &[u8]) -> Vec<u8> {
    let mut out = header(7, 0x0100, counts);
    out.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
    out.extend_from_slice(rest);
    out
}

#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Drop(DropReason),
    /// Immediate reply with this rcode; whether the question is echoed and
    /// whether an OPT is present.
    Reply {
        /// As a number: hickory decodes 16 as BADSIG, the same code.
        rcode: u16,
        question: bool,
        opt: bool,
    },
    Query,
}

fn reply(rcode: ResponseCode, question: bool, opt: bool) -> Expect {
    Expect::Reply {
        rcode: u16::from(rcode),
        question,
        opt,
    }
}

#[test]
fn parse_table() {
    use ResponseCode::{BADVERS, FormErr, NotImp, Refused};
    let valid = query(BASE);
    let mut response = valid.clone();
    response[2] |= 0x80;
    let mut trailing = valid.clone();
    trailing.extend_from_slice(b"garbage after the question");
    let opt = opt_rr(&[0], 1232, 0, &[]);
    let two_opts = [opt.clone(), opt.clone()].concat();
    let bad_version = opt_rr(&[0], 1232, 1 << 16, &[]);
    let cookie = opt_rr(&[0], 1232, 0, &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    let ragged = opt_rr(&[0], 1232, 0, &[0, 10, 0, 8, 1, 2]);
    let owned = opt_rr(&[1, b'x', 0], 1232, 0, &[]);
    let mut label_too_long = header(9, 0x0100, [1, 0, 0, 0]);
    label_too_long.extend_from_slice(&[0x40, b'a', 0, 0, 1, 0, 1]);
    let mut self_pointer = header(9, 0x0100, [1, 0, 0, 0]);
    self_pointer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let mut label_past_end = header(9, 0x0100, [1, 0, 0, 0]);
    label_past_end.extend_from_slice(&[20, b'a', b'b']);
    let mut no_root = header(9, 0x0100, [1, 0, 0, 0]);
    no_root.extend_from_slice(&[1, b'a']);
    let a_record = [1, b'a', 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];

    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("empty", vec![], Expect::Drop(DropReason::Short)),
        ("11 bytes", vec![0; 11], Expect::Drop(DropReason::Short)),
        ("QR=1", response, Expect::Drop(DropReason::Response)),
        ("valid", valid.clone(), Expect::Query),
        ("trailing garbage ignored", trailing, Expect::Query),
        ("edns", with_edns(), Expect::Query),
        ("edns cookie", raw([1, 0, 0, 1], &cookie), Expect::Query),
        (
            "answer record skipped",
            raw([1, 1, 0, 0], &a_record),
            Expect::Query,
        ),
        (
            "ANY is the handler's call",
            query(Q {
                qtype: RecordType::ANY,
                ..BASE
            }),
            Expect::Query,
        ),
        (
            "header only, qdcount 0",
            header(7, 0x0100, [0; 4]),
            reply(FormErr, false, false),
        ),
        (
            "qdcount 0 with a question",
            set_u16(valid.clone(), 4, 0),
            reply(FormErr, false, false),
        ),
        (
            "qdcount 2",
            raw([2, 0, 0, 0], &[1, b'b', 0, 0, 1, 0, 1]),
            reply(FormErr, false, false),
        ),
        (
            "qdcount 65535",
            set_u16(valid.clone(), 4, 65535),
            reply(FormErr, false, false),
        ),
        (
            "qdcount 1, no question",
            header(7, 0, [1, 0, 0, 0]),
            reply(FormErr, false, false),
        ),
        (
            "label over 63",
            label_too_long,
            reply(FormErr, false, false),
        ),
        (
            "pointer to itself",
            self_pointer,
            reply(FormErr, false, false),
        ),
        (
            "label past the end",
            label_past_end,
            reply(FormErr, false, false),
        ),
        ("name without root", no_root, reply(FormErr, false, false)),
        (
            "qtype cut",
            valid[..valid.len() - 3].to_vec(),
            reply(FormErr, false, false),
        ),
        (
            "arcount 1, nothing",
            raw([1, 0, 0, 1], &[]),
            reply(FormErr, true, false),
        ),
        (
            "record cut",
            raw([1, 1, 0, 0], &a_record[..12]),
            reply(FormErr, true, false),
        ),
        (
            "two OPTs",
            raw([1, 0, 0, 2], &two_opts),
            reply(FormErr, true, false),
        ),
        (
            "OPT in answers",
            raw([1, 1, 0, 0], &opt),
            reply(FormErr, true, false),
        ),
        (
            "OPT in authority",
            raw([1, 0, 1, 0], &opt),
            reply(FormErr, true, false),
        ),
        (
            "OPT not at root",
            raw([1, 0, 0, 1], &owned),
            reply(FormErr, true, false),
        ),
        (
            "OPT options ragged",
            raw([1, 0, 0, 1], &ragged),
            reply(FormErr, true, false),
        ),
        (
            "EDNS version 1",
            raw([1, 0, 0, 1], &bad_version),
            reply(BADVERS, true, true),
        ),
        (
            "opcode STATUS",
            header(7, 2 << 11, [1, 0, 0, 0]),
            reply(NotImp, false, false),
        ),
        (
            "opcode NOTIFY",
            set_u16(valid.clone(), 2, 4 << 11),
            reply(NotImp, false, false),
        ),
        (
            "opcode UPDATE",
            set_u16(valid.clone(), 2, 5 << 11),
            reply(NotImp, false, false),
        ),
        (
            "class CH: the server answers it (chaos.rs)",
            query(Q {
                qclass: DNSClass::CH,
                ..BASE
            }),
            Expect::Query,
        ),
        (
            "class HS",
            query(Q {
                qclass: DNSClass::HS,
                ..BASE
            }),
            reply(Refused, true, false),
        ),
        (
            "class ANY with EDNS",
            query(Q {
                qclass: DNSClass::ANY,
                edns: Some((4096, 0, false)),
                ..BASE
            }),
            reply(Refused, true, true),
        ),
        (
            "AXFR",
            query(Q {
                qtype: RecordType::AXFR,
                ..BASE
            }),
            reply(Refused, true, false),
        ),
        (
            "IXFR",
            query(Q {
                qtype: RecordType::IXFR,
                ..BASE
            }),
            reply(Refused, true, false),
        ),
    ];

    for (label, bytes, want) in cases {
        let metrics = Metrics::new().unwrap();
        let got = match parse_request(&bytes, &metrics) {
            Parsed::Drop(reason) => {
                let count = metrics
                    .malformed
                    .with_label_values(&[reason.as_str()])
                    .get();
                assert_eq!(count, 1, "{label}: drop counted");
                Expect::Drop(reason)
            }
            Parsed::Query(..) => Expect::Query,
            Parsed::Reply(out) => {
                let msg = Message::from_vec(&out).unwrap_or_else(|e| panic!("{label}: {e}"));
                let id = u16::from_be_bytes([bytes[0], bytes[1]]);
                assert_eq!(msg.metadata.id, id, "{label}: id");
                assert_eq!(msg.metadata.message_type, MessageType::Response, "{label}");
                let opcode = OpCode::from_u8((bytes[2] >> 3) & 0x0f);
                assert_eq!(msg.metadata.op_code, opcode, "{label}: opcode echoed");
                let formerr = metrics.malformed.with_label_values(&["formerr"]).get();
                let is_formerr = msg.metadata.response_code == FormErr;
                assert_eq!(formerr, u64::from(is_formerr), "{label}: formerr metric");
                let label_rcode = rcode_label(msg.metadata.response_code);
                let answered = metrics
                    .queries
                    .with_label_values(&[label_rcode, "local"])
                    .get();
                assert_eq!(answered, 1, "{label}: answered metric");
                reply(
                    msg.metadata.response_code,
                    msg.queries.len() == 1,
                    msg.edns.is_some(),
                )
            }
        };
        assert_eq!(got, want, "{label}");
        // The cache-hit shortcut takes exactly the common shape, and
        // nothing that the full parse would not take as the same query.
        let plain = plain_query(&bytes);
        assert_eq!(plain.is_some(), PLAIN.contains(&label), "{label}: plain");
        if let Some(plain) = plain {
            let Parsed::Query(_, info) = parse_request(&bytes, &Metrics::new().unwrap()) else {
                panic!("{label}: plain but not a query");
            };
            assert_eq!(plain.recursion_desired, info.recursion_desired, "{label}");
            assert_eq!(plain.checking_disabled, info.checking_disabled, "{label}");
            assert_eq!(plain.edns, info.edns, "{label}");
        }
    }
}

/// The cases of `parse_table` that `plain_query` reads.
const PLAIN: [&str; 5] = [
    "valid",
    "trailing garbage ignored",
    "edns",
    "edns cookie",
    "ANY is the handler's call",
];

#[test]
fn plain_query_fields() {
    let mut bytes = query(Q {
        edns: Some((4096, 0, true)),
        ..BASE
    });
    bytes[3] |= 0x10; // CD
    let plain = plain_query(&bytes).unwrap();
    assert!(plain.recursion_desired);
    assert!(plain.checking_disabled);
    assert_eq!(
        plain.edns,
        Some(EdnsInfo {
            payload: 4096,
            dnssec_ok: true,
            nsid: false,
        })
    );
    let plain_name = |labels: &[usize]| {
        let mut out = header(1, 0x0100, [1, 0, 0, 0]);
        for &len in labels {
            out.push(u8::try_from(len).unwrap());
            out.extend(std::iter::repeat_n(b'a', len));
        }
        out.extend_from_slice(&[0, 0, 1, 0, 1]);
        out
    };
    // 3 x 64 + 62 + 1 = 255 bytes on the wire: the longest name.
    let fits = plain_name(&[63, 63, 63, 61]);
    assert!(matches!(
        parse_request(&fits, &Metrics::new().unwrap()),
        Parsed::Query(..)
    ));
    assert_eq!(
        plain_query(&plain_name(&[63, 63, 63, 62])),
        None,
        "256 bytes"
    );
    assert!(plain_query(&fits).is_some());
}

#[test]
fn query_fields() {
    let metrics = Metrics::new().unwrap();
    let Parsed::Query(q, info) = parse_request(&with_edns(), &metrics) else {
        panic!("not a query");
    };
    assert_eq!(q.name.to_string(), "ExAmPlE.CoM.");
    assert_eq!(q.qtype, RecordType::A);
    assert_eq!(q.qclass, DNSClass::IN);
    assert!(q.dnssec_ok);
    assert!(q.recursion_desired);
    assert!(!q.checking_disabled);
    assert_eq!(info.id, 0x1234);
    assert_eq!(
        info.edns,
        Some(EdnsInfo {
            payload: 1232,
            dnssec_ok: true,
            nsid: false,
        })
    );
    assert_eq!(info.query_message_question.name.to_string(), "ExAmPlE.CoM.");

    // CD bit and no EDNS.
    let mut bytes = query(BASE);
    bytes[3] |= 0x10;
    let Parsed::Query(q, info) = parse_request(&bytes, &metrics) else {
        panic!("not a query");
    };
    assert!(q.checking_disabled && info.checking_disabled);
    assert!(!q.dnssec_ok);
    assert_eq!(info.edns, None);
}

fn info(edns: Option<EdnsInfo>) -> RequestInfo {
    let mut question = Query::query(Name::from_ascii("ExAmPlE.CoM.").unwrap(), RecordType::A);
    question.set_query_class(DNSClass::IN);
    RequestInfo {
        id: 0xbeef,
        query_message_question: question,
        edns,
        recursion_desired: true,
        checking_disabled: true,
    }
}

fn a_records(n: u8) -> Vec<Record> {
    let name = Name::from_ascii("a-rather-long-owner-name-to-fill-packets.example.com.").unwrap();
    (0..n)
        .map(|i| Record::from_rdata(name.clone(), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, i)))))
        .collect()
}

fn noerror(records: Vec<Record>, ede: Vec<Ede>) -> Answer {
    Answer {
        rcode: ResponseCode::NoError,
        answers: records,
        authorities: Vec::new(),
        additionals: Vec::new(),
        authentic_data: true,
        ede,
        tier: Tier::Fresh,
        fresh_until: None,
    }
}

fn edes(msg: &Message) -> Vec<(u16, String)> {
    let Some(edns) = &msg.edns else {
        return Vec::new();
    };
    edns.options()
        .as_ref()
        .iter()
        .filter_map(|(_, option)| match option {
            hickory_proto::rr::rdata::opt::EdnsOption::Unknown(15, data) => Ede::decode(data),
            _ => None,
        })
        .collect()
}

#[test]
fn encode_full_answer() {
    let edns = Some(EdnsInfo {
        payload: 4096,
        dnssec_ok: true,
        nsid: false,
    });
    let ede = vec![
        Ede::new(EdeCode::StaleAnswer, "stale"),
        Ede::new(EdeCode::NetworkError, ""),
    ];
    let out = encode_response(&info(edns), &noerror(a_records(3), ede), 1232);
    let msg = Message::from_vec(&out).unwrap();
    let md = msg.metadata;
    assert_eq!(md.id, 0xbeef);
    assert_eq!(md.message_type, MessageType::Response);
    assert_eq!(md.op_code, OpCode::Query);
    assert!(md.recursion_desired && md.recursion_available && md.checking_disabled);
    assert!(md.authentic_data && !md.truncation);
    assert_eq!(md.response_code, ResponseCode::NoError);
    assert_eq!(msg.queries[0].name.to_string(), "ExAmPlE.CoM.");
    assert_eq!(msg.answers.len(), 3);
    let opt = msg.edns.as_ref().unwrap();
    assert_eq!(opt.max_payload(), limits::EDNS_UDP_PAYLOAD);
    assert!(opt.flags().dnssec_ok);
    assert_eq!(opt.version(), 0);
    assert_eq!(
        edes(&msg),
        vec![(3, "stale".to_owned()), (23, String::new())]
    );
}

#[test]
fn encode_without_edns_has_no_opt() {
    let answer = Answer::servfail(vec![Ede::new(EdeCode::DnssecBogus, "x")]);
    let msg = Message::from_vec(&encode_response(&info(None), &answer, 512)).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
    assert!(msg.edns.is_none());
    assert!(!msg.metadata.authentic_data);
}

#[test]
fn encode_truncates_to_limit() {
    let edns = Some(EdnsInfo {
        payload: 1232,
        dnssec_ok: false,
        nsid: false,
    });
    let answer = noerror(a_records(100), vec![Ede::new(EdeCode::StaleAnswer, "")]);
    for (limit, truncated) in [(512, true), (1232, true), (65_535, false), (100_000, false)] {
        let out = encode_response(&info(edns), &answer, limit);
        assert!(out.len() <= limit.min(65_535), "limit {limit}");
        let msg = Message::from_vec(&out).unwrap();
        assert_eq!(msg.metadata.truncation, truncated, "limit {limit}");
        assert_eq!(
            msg.answers.len(),
            if truncated { 0 } else { 100 },
            "limit {limit}"
        );
        assert_eq!(msg.queries.len(), 1);
        assert!(msg.edns.is_some(), "OPT kept");
        assert_eq!(edes(&msg), vec![(3, String::new())]);
        assert_eq!(msg.metadata.authentic_data, !truncated);
    }
    // Without EDNS, the classic 512 limit applies; limits below it are raised.
    let msg = Message::from_vec(&encode_response(&info(None), &answer, 10)).unwrap();
    assert!(msg.metadata.truncation && msg.edns.is_none());
}

#[test]
fn encode_oversized_ede_dropped_when_truncating() {
    let edns = Some(EdnsInfo {
        payload: 512,
        dnssec_ok: false,
        nsid: false,
    });
    let answer = Answer::servfail(vec![Ede::new(EdeCode::Other, "x".repeat(70_000))]);
    let out = encode_response(&info(edns), &answer, 512);
    let msg = Message::from_vec(&out).unwrap();
    assert!(msg.metadata.truncation);
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
    assert!(
        msg.edns.is_some() && edes(&msg).is_empty(),
        "{msg:?} {}",
        out.len()
    );
}

#[test]
fn extended_rcode() {
    let answer = Answer::error(ResponseCode::BADVERS, Tier::Local, Vec::new());
    let edns = Some(EdnsInfo {
        payload: 512,
        dnssec_ok: false,
        nsid: false,
    });
    let msg = Message::from_vec(&encode_response(&info(edns), &answer, 512)).unwrap();
    assert_eq!(u16::from(msg.metadata.response_code), 16, "BADVERS");
    // Without an OPT the high bits have nowhere to go.
    let msg = Message::from_vec(&encode_response(&info(None), &answer, 512)).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn udp_limit_table() {
    let cases = [
        (None, 512),
        (Some(0), 512),
        (Some(100), 512),
        (Some(512), 512),
        (Some(800), 800),
        (Some(1232), 1232),
        (Some(4096), 1232),
        (Some(u16::MAX), 1232),
    ];
    for (payload, want) in cases {
        let edns = payload.map(|payload| EdnsInfo {
            payload,
            dnssec_ok: false,
            nsid: false,
        });
        assert_eq!(udp_limit(&info(edns)), want, "{payload:?}");
    }
}

#[test]
fn header_only_fallback() {
    let reply = Reply {
        id: 0xabcd,
        opcode: OpCode::Query,
        recursion_desired: true,
        checking_disabled: true,
        question: None,
        edns: None,
        nsid: None,
    };
    let msg = Message::from_vec(&reply.header_only(ResponseCode::ServFail)).unwrap();
    assert_eq!(msg.metadata.id, 0xabcd);
    assert_eq!(msg.metadata.message_type, MessageType::Response);
    assert!(msg.metadata.truncation && msg.metadata.recursion_desired);
    assert!(msg.metadata.checking_disabled && msg.metadata.recursion_available);
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn labels() {
    assert_eq!(rcode_label(ResponseCode::NoError), "NOERROR");
    assert_eq!(rcode_label(ResponseCode::ServFail), "SERVFAIL");
    assert_eq!(rcode_label(ResponseCode::BADVERS), "BADVERS");
    assert_eq!(rcode_label(ResponseCode::YXDomain), "OTHER");
    assert_eq!(DropReason::Short.as_str(), "short");
}

/// Issue 19: an NSID option in the request is noted, by the plain path
/// and the full parse alike, and answered with our NSID when we have one;
/// never without the request asking.
#[test]
fn nsid_option() {
    use hickory_proto::rr::rdata::opt::EdnsOption;
    let mut msg = Message::new(9, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii("a.").unwrap(), RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut()
        .insert(EdnsOption::Unknown(NSID_OPTION_CODE, Vec::new()));
    msg.set_edns(edns);
    let bytes = msg.to_vec().unwrap();
    assert!(plain_query(&bytes).unwrap().edns.unwrap().nsid);
    let Parsed::Query(_, info) = parse_request(&bytes, &Metrics::new().unwrap()) else {
        panic!("not a query")
    };
    assert!(info.edns.unwrap().nsid);
    let answer = noerror(a_records(1), Vec::new());
    let nsid_of = |reply: &[u8]| {
        let msg = Message::from_vec(reply).unwrap();
        let edns = msg.edns.unwrap();
        edns.options().as_ref().iter().find_map(|(_, o)| match o {
            EdnsOption::NSID(p) => Some(p.as_ref().to_vec()),
            EdnsOption::Unknown(NSID_OPTION_CODE, d) => Some(d.clone()),
            _ => None,
        })
    };
    let with = encode_response_nsid(&info, &answer, 1232, Some(b"ns1"));
    assert_eq!(nsid_of(&with), Some(b"ns1".to_vec()));
    assert_eq!(
        nsid_of(&encode_response_nsid(&info, &answer, 1232, None)),
        None
    );
    let Parsed::Query(_, plain_info) = parse_request(&with_edns(), &Metrics::new().unwrap()) else {
        panic!("not a query")
    };
    assert!(!plain_info.edns.unwrap().nsid);
    let not_asked = encode_response_nsid(&plain_info, &answer, 1232, Some(b"ns1"));
    assert_eq!(nsid_of(&not_asked), None, "only when asked");
}
