//! A client message, arbitrary bytes, through the server's request parser
//! and, for a query it accepts, the response encoder: a positive answer
//! built from the parsed question and a SERVFAIL with EDEs, at the UDP
//! limit the request asked for and at the TCP limit.
//!
//! A reusable answer then goes through the answer templates of the cache-
//! hit path (src/server/templates.rs) as the server uses them: stored from
//! the reply, then replayed for the same question with another ID and the
//! QNAME's case flipped (0x20), some seconds later.
//!
//! Invariants (a failure is a crash): no reply to a message without a
//! header or to a response; every reply carries the request's ID and QR=1,
//! fits its size limit and decodes as a DNS message; a reply without TC
//! carries every record of the answer, one with TC none. A replayed
//! template has the second request's ID and QNAME, the stored reply's
//! length and otherwise its bytes but for TTLs counted down by the age.
//!
//! Bytes after the message are ignored by the parser (RFC 1035 gives them
//! no meaning); the last two shape the answer (record count, TXT size).

#![no_main]

use std::net::Ipv4Addr;
use std::sync::OnceLock;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record};
use lastgood_resolver::clock::Timestamp;
use lastgood_resolver::ede::{Ede, EdeCode};
use lastgood_resolver::limits;
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::query::{Answer, CacheState, Tier};
use lastgood_resolver::server::templates::{AnswerTemplates, TemplateKey};
use lastgood_resolver::server::{Parsed, RequestInfo, encode_response, parse_request, udp_limit};
use libfuzzer_sys::fuzz_target;

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| Metrics::new().expect("metrics registry"))
}

fuzz_target!(|data: &[u8]| {
    match parse_request(data, metrics()) {
        Parsed::Drop(_) => {
            // Only a message without a header, or a response, is dropped.
            assert!(data.len() < 12 || data[2] & 0x80 != 0, "dropped a query");
        }
        Parsed::Reply(reply) => {
            check_reply(data, &reply, usize::from(limits::CLASSIC_UDP_PAYLOAD));
        }
        Parsed::Query(query, info) => {
            assert_eq!(query.name, info.query_message_question.name);
            let recipe = Recipe::from_tail(data);
            let answers = [positive(&info, recipe), servfail(recipe)];
            for answer in &answers {
                for limit in [udp_limit(&info), limits::MAX_MESSAGE_SIZE] {
                    let reply = encode_response(&info, answer, limit);
                    let msg = check_reply(data, &reply, limit);
                    check_sections(&msg, answer, &info);
                    replay(data, &reply, answer, &info, limit, recipe);
                }
            }
        }
    }
});

/// How big an answer to build.
#[derive(Clone, Copy)]
struct Recipe {
    records: usize,
    txt_len: usize,
}

impl Recipe {
    fn from_tail(data: &[u8]) -> Self {
        let n = data.len();
        let last = |back: usize| n.checked_sub(back).map_or(0, |i| data[i]);
        Self {
            records: usize::from(last(1) % 64),
            txt_len: usize::from(last(2)),
        }
    }
}

/// A NOERROR answer at the question's name: A and TXT records, a SOA.
fn positive(info: &RequestInfo, recipe: Recipe) -> Answer {
    let name = info.query_message_question.name.clone();
    let mut answer = Answer::error(ResponseCode::NoError, Tier::Fresh, Vec::new());
    for i in 0..recipe.records {
        let data = if i % 2 == 0 {
            RData::A(A(Ipv4Addr::new(192, 0, 2, (i % 256) as u8)))
        } else {
            RData::TXT(TXT::new(vec!["x".repeat(recipe.txt_len)]))
        };
        answer
            .answers
            .push(Record::from_rdata(name.clone(), 300, data));
    }
    let soa = SOA::new(
        Name::from_ascii("ns.lab.").expect("name"),
        Name::from_ascii("admin.lab.").expect("name"),
        1,
        3600,
        600,
        86400,
        60,
    );
    answer
        .authorities
        .push(Record::from_rdata(Name::root(), 60, RData::SOA(soa)));
    answer.authentic_data = recipe.records % 3 == 0;
    answer.fresh_until = Some(Timestamp::from_secs(NOW + 300));
    answer.ede = vec![Ede::new(EdeCode::StaleAnswer, "")];
    answer
}

/// A SERVFAIL with EDEs whose text may not fit a UDP response.
fn servfail(recipe: Recipe) -> Answer {
    Answer::servfail(vec![
        Ede::new(
            EdeCode::DnssecBogus,
            "y".repeat(recipe.txt_len * recipe.records),
        ),
        Ede::new(EdeCode::NoReachableAuthority, "lab."),
    ])
}

/// "Now" when a template is stored (2025-06-15).
const NOW: u64 = 1_750_000_000;

/// Store `reply` as a template, replay it for the same question with a
/// new ID and the QNAME's case flipped, `recipe.txt_len % 8` s later.
fn replay(
    request: &[u8],
    reply: &[u8],
    answer: &Answer,
    info: &RequestInfo,
    limit: usize,
    recipe: Recipe,
) {
    let dnssec_ok = info.edns.map(|e| e.dnssec_ok);
    let (rd, cd) = (info.recursion_desired, info.checking_disabled);
    let Some(key) = TemplateKey::new(request, rd, cd, dnssec_ok, limit) else {
        return;
    };
    let templates = AnswerTemplates::new(1 << 20);
    let stored = CacheState {
        generation: 7,
        now: Timestamp::from_secs(NOW),
    };
    templates.insert(&key, reply, answer, stored);
    if templates.is_empty() {
        return;
    }
    // The same question: another ID, the QNAME's ASCII case flipped.
    let mut second = request.to_vec();
    second[0] ^= 0xff;
    second[1] ^= 0x5a;
    let qname_end = 12 + name_len(request);
    for b in &mut second[12..qname_end] {
        if b.is_ascii_alphabetic() {
            *b ^= 0x20;
        }
    }
    let key2 = TemplateKey::new(&second, rd, cd, dnssec_ok, limit).expect("same shape");
    assert_eq!(key.as_bytes(), key2.as_bytes(), "0x20 changed the key");
    let age = (recipe.txt_len % 8) as u64;
    let later = CacheState {
        generation: 7,
        now: Timestamp::from_secs(NOW + age),
    };
    let (out, rcode) = templates
        .reply(&key2, &second, later)
        .expect("a stored template within its time is used");
    assert_eq!(rcode, answer.rcode);
    assert_eq!(out.len(), reply.len(), "template changed length");
    assert_eq!(out[..2], second[..2], "ID not patched");
    assert_eq!(
        out[12..qname_end],
        second[12..qname_end],
        "QNAME not patched"
    );
    assert_eq!(out[2..12], reply[2..12], "header changed");
    let msg = Message::from_vec(&out).expect("replayed template decodes");
    let orig = Message::from_vec(reply).expect("reply decodes");
    assert_eq!(msg.answers.len(), orig.answers.len());
    for (a, b) in msg.answers.iter().zip(&orig.answers) {
        assert_eq!(a.data, b.data);
        assert_eq!(
            u64::from(a.ttl),
            u64::from(b.ttl).saturating_sub(age).max(1)
        );
    }
    // Another generation (an NTA, a flush, a reload) never replays.
    let changed = CacheState {
        generation: 8,
        now: later.now,
    };
    assert!(templates.reply(&key2, &second, changed).is_none());
}

/// Wire length of the uncompressed QNAME after the header.
fn name_len(request: &[u8]) -> usize {
    let mut pos = 12;
    while request[pos] != 0 {
        pos += 1 + usize::from(request[pos]);
    }
    pos + 1 - 12
}

/// Checks every reply must pass; returns it decoded.
fn check_reply(request: &[u8], reply: &[u8], limit: usize) -> Message {
    assert!(reply.len() >= 12, "reply shorter than a header");
    let limit = limit.clamp(
        usize::from(limits::CLASSIC_UDP_PAYLOAD),
        limits::MAX_MESSAGE_SIZE,
    );
    assert!(reply.len() <= limit, "reply of {} > {limit}", reply.len());
    assert_eq!(reply[..2], request[..2], "ID not echoed");
    assert!(reply[2] & 0x80 != 0, "QR not set");
    let msg = Message::from_vec(reply).expect("our reply decodes");
    assert_eq!(msg.metadata.message_type, MessageType::Response);
    msg
}

/// A full reply carries every record and the question; a truncated one
/// carries no records.
fn check_sections(msg: &Message, answer: &Answer, info: &RequestInfo) {
    if msg.metadata.truncation {
        assert!(msg.answers.is_empty() && msg.authorities.is_empty());
        return;
    }
    assert_eq!(msg.metadata.response_code.low(), answer.rcode.low());
    assert_eq!(msg.answers.len(), answer.answers.len());
    assert_eq!(msg.authorities.len(), answer.authorities.len());
    assert_eq!(msg.queries.len(), 1);
    assert_eq!(msg.queries[0].name(), &info.query_message_question.name);
    assert_eq!(msg.metadata.authentic_data, answer.authentic_data);
    assert_eq!(msg.edns.is_some(), info.edns.is_some());
}
