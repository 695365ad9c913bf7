//! Encoded answers kept for reuse: the cache-hit path without the resolver.
//!
//! A fresh answer that the resolver marks reusable ([`Answer::fresh_until`])
//! is kept as the response bytes the server sent, keyed by everything that
//! shaped those bytes: the question (QNAME lowercased, QTYPE, QCLASS) and
//! the request's RD, CD, EDNS presence, DO bit and response size limit. An
//! identical question later gets a copy with its own ID and its own QNAME
//! spelling (0x20 case) patched in, and every TTL counted down by the
//! template's age: no task spawned, no record cloned, nothing encoded.
//!
//! A template is used only while all of these hold, else it is dropped and
//! the query takes the resolver's path (which may then store a new one):
//! - `now` is before the answer's `fresh_until` (the first of its cached
//!   steps to expire: past it the ladder decides, fresh or stale);
//! - no TTL has counted down to 0;
//! - the handler's generation is the one the template was made in (an NTA
//!   added or removed, a cache flush or a reload changes it, so none of
//!   those needs to know about templates).
//!
//! Pure apart from the bounded store: bytes in, bytes out, time passed in.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};

use hickory_proto::op::ResponseCode;

use crate::clock::Timestamp;
use crate::limits;
use crate::query::{Answer, CacheState};

/// DNS header length (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;
/// RR type of the OPT pseudo-record (RFC 6891 §6.1.1): its TTL field holds
/// flags, not a TTL.
const OPT_TYPE: u16 = 41;
/// Longest QNAME on the wire (RFC 1035 §3.1).
const MAX_NAME_LEN: usize = 255;
/// Flags byte, length limit (2), QTYPE and QCLASS (4) around the name.
const KEY_EXTRA: usize = 7;
/// Labels walked in one name before giving up (a 255-byte name has at
/// most 127; compression pointers end a name).
const MAX_LABELS: usize = 128;
/// Bytes charged per template on top of its key and response (the Arc and
/// struct, the TTL table, the map's slot, allocator rounding).
const TEMPLATE_OVERHEAD: usize = 256;

/// The key of a template, built on the stack from the request bytes.
#[derive(Clone, Copy, Debug)]
pub struct TemplateKey {
    buf: [u8; MAX_NAME_LEN + KEY_EXTRA],
    len: usize,
    /// Length of the QNAME on the wire (it starts right after the header).
    qname_len: usize,
}

impl TemplateKey {
    /// The key for a request already accepted by `parse_request`: `None`
    /// when its question is not a plain name at offset 12 (a compression
    /// pointer in a question is legal but never worth a template).
    pub fn new(
        request: &[u8],
        recursion_desired: bool,
        checking_disabled: bool,
        edns: Option<bool>,
        limit: usize,
    ) -> Option<Self> {
        let mut buf = [0u8; MAX_NAME_LEN + KEY_EXTRA];
        let mut flags = 0u8;
        if recursion_desired {
            flags |= 1;
        }
        if checking_disabled {
            flags |= 2;
        }
        if let Some(dnssec_ok) = edns {
            flags |= 4;
            if dnssec_ok {
                flags |= 8;
            }
        }
        let limit = u16::try_from(limit).unwrap_or(u16::MAX).to_be_bytes();
        buf.get_mut(..3)?
            .copy_from_slice(&[flags, limit[0], limit[1]]);
        let qname_len = name_len(request, HEADER_LEN)?;
        if qname_len > MAX_NAME_LEN {
            return None;
        }
        let question_end = HEADER_LEN.checked_add(qname_len)?.checked_add(4)?;
        let question = request.get(HEADER_LEN..question_end)?;
        let out = buf.get_mut(3..3 + question.len())?;
        out.copy_from_slice(question);
        // The name compares case-insensitively (RFC 4343); QTYPE and QCLASS
        // are numbers and stay as they are.
        out.get_mut(..qname_len)?.make_ascii_lowercase();
        Some(Self {
            buf,
            len: 3 + question.len(),
            qname_len,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// One response kept for reuse.
#[derive(Debug)]
struct Template {
    bytes: Box<[u8]>,
    qname_len: usize,
    /// Offset and value of every TTL field (OPT excluded).
    ttls: Box<[(usize, u32)]>,
    created: Timestamp,
    /// Used strictly before this instant.
    expires: Timestamp,
    generation: u64,
    rcode: ResponseCode,
}

impl Template {
    /// Read `reply` (made by `encode_response` for the key's question) and
    /// note its TTL fields; `None` if it is not framed as expected or a
    /// TTL is 0 (nothing to reuse).
    fn new(
        reply: &[u8],
        qname_len: usize,
        rcode: ResponseCode,
        fresh_until: Timestamp,
        state: CacheState,
    ) -> Option<Self> {
        let count = |at: usize| -> Option<usize> {
            let b = reply.get(at..at + 2)?;
            Some(usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?])))
        };
        if count(4)? != 1 {
            return None;
        }
        let records = count(6)?.checked_add(count(8)?)?.checked_add(count(10)?)?;
        let mut pos = HEADER_LEN.checked_add(qname_len)?;
        // The name ends with its root label where the key says it does.
        if reply.get(pos.checked_sub(1)?) != Some(&0) {
            return None;
        }
        pos = pos.checked_add(4)?;
        // Every record takes at least 11 bytes (a root name, 10 fixed).
        let mut ttls = Vec::with_capacity(records.min(reply.len() / 11));
        let mut min_ttl = u32::MAX;
        for _ in 0..records {
            pos = skip_name(reply, pos)?;
            let fixed = reply.get(pos..pos.checked_add(10)?)?;
            let [t0, t1, _, _, a, b, c, d, l0, l1] = <[u8; 10]>::try_from(fixed).ok()?;
            let rtype = u16::from_be_bytes([t0, t1]);
            let rdlen = usize::from(u16::from_be_bytes([l0, l1]));
            if rtype != OPT_TYPE {
                let ttl = u32::from_be_bytes([a, b, c, d]);
                min_ttl = min_ttl.min(ttl);
                ttls.push((pos + 4, ttl));
            }
            pos = pos.checked_add(10)?.checked_add(rdlen)?;
        }
        if pos != reply.len() || min_ttl == 0 {
            return None;
        }
        let by_ttl = state
            .now
            .saturating_add(std::time::Duration::from_secs(u64::from(min_ttl)));
        Some(Self {
            bytes: reply.into(),
            qname_len,
            ttls: ttls.into_boxed_slice(),
            created: state.now,
            expires: fresh_until.min(by_ttl),
            generation: state.generation,
            rcode,
        })
    }

    /// This template as the reply to `request`, or `None` if it is past
    /// its time or does not fit the request.
    fn reply(&self, request: &[u8], now: Timestamp) -> Option<Vec<u8>> {
        if now >= self.expires {
            return None;
        }
        let age = u32::try_from(now.saturating_since(self.created).as_secs()).unwrap_or(u32::MAX);
        let mut out = self.bytes.to_vec();
        out.get_mut(..2)?.copy_from_slice(request.get(..2)?);
        let qname = HEADER_LEN..HEADER_LEN + self.qname_len;
        out.get_mut(qname.clone())?
            .copy_from_slice(request.get(qname)?);
        for &(at, ttl) in &*self.ttls {
            // `expires` keeps every TTL above 0; max(1) guards rounding.
            let left = ttl.saturating_sub(age).max(1);
            out.get_mut(at..at + 4)?
                .copy_from_slice(&left.to_be_bytes());
        }
        Some(out)
    }

    fn weight(&self, key_len: usize) -> u32 {
        let bytes = key_len
            .saturating_add(self.bytes.len())
            .saturating_add(
                self.ttls
                    .len()
                    .saturating_mul(std::mem::size_of::<(usize, u32)>()),
            )
            .saturating_add(TEMPLATE_OVERHEAD);
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// Length of the uncompressed name at `start`, root label included.
fn name_len(bytes: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    for _ in 0..MAX_LABELS {
        let len = usize::from(*bytes.get(pos)?);
        if len == 0 {
            return pos.checked_add(1)?.checked_sub(start);
        }
        if len & 0xc0 != 0 {
            return None;
        }
        pos = pos.checked_add(1 + len)?;
    }
    None
}

/// Position after the (possibly compressed) name at `pos`.
fn skip_name(bytes: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..MAX_LABELS {
        let len = *bytes.get(pos)?;
        match len & 0xc0 {
            0 if len == 0 => return pos.checked_add(1),
            0 => pos = pos.checked_add(1 + usize::from(len))?,
            0xc0 => {
                bytes.get(pos.checked_add(1)?)?;
                return pos.checked_add(2);
            }
            _ => return None,
        }
    }
    None
}

/// Shards of the store: a lookup locks one shard for reading, so the
/// receive loops of different cores rarely meet on a lock.
const SHARDS: usize = 16;

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Box<[u8]>, Arc<Template>>,
    bytes: u64,
}

impl Shard {
    fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.map.remove(key) {
            self.bytes = self.bytes.saturating_sub(u64::from(old.weight(key.len())));
        }
    }
}

/// The bounded store of templates ([`limits::ANSWER_TEMPLATE_BYTES`]).
///
/// A plain sharded map rather than moka: a hit must cost a hash and a
/// read lock, not an access-order update. When a shard is full, entries
/// picked by the map's (random) iteration order make room: a hot answer
/// evicted this way is stored again by the next query that misses it.
#[derive(Debug)]
pub struct AnswerTemplates {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    shard_bytes: u64,
}

impl AnswerTemplates {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            shard_bytes: max_bytes / SHARDS as u64,
        }
    }

    /// The shard of `key` (always `Some`: the index is taken modulo the
    /// shard count).
    fn shard(&self, key: &[u8]) -> Option<&RwLock<Shard>> {
        let hash = usize::try_from(self.hasher.hash_one(key)).unwrap_or(0);
        self.shards.get(hash % SHARDS)
    }

    /// The reply to `request` from a template, with the answer's rcode
    /// (for the metrics); `None` when there is no usable template.
    pub fn reply(
        &self,
        key: &TemplateKey,
        request: &[u8],
        state: CacheState,
    ) -> Option<(Vec<u8>, ResponseCode)> {
        let shard = self.shard(key.as_bytes())?;
        let template = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(key.as_bytes())
            .cloned()?;
        let reply = (template.generation == state.generation)
            .then(|| template.reply(request, state.now))
            .flatten();
        match reply {
            Some(reply) => Some((reply, template.rcode)),
            None => {
                let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
                // Only the template just refused: another may have come.
                if shard
                    .map
                    .get(key.as_bytes())
                    .is_some_and(|t| Arc::ptr_eq(t, &template))
                {
                    shard.remove(key.as_bytes());
                }
                None
            }
        }
    }

    /// Keep `reply` (just sent for `answer`) if the resolver marked the
    /// answer reusable.
    pub fn insert(&self, key: &TemplateKey, reply: &[u8], answer: &Answer, state: CacheState) {
        let Some(fresh_until) = answer.fresh_until else {
            return;
        };
        let Some(template) = Template::new(reply, key.qname_len, answer.rcode, fresh_until, state)
        else {
            return;
        };
        let key = key.as_bytes();
        let weight = u64::from(template.weight(key.len()));
        if weight > self.shard_bytes {
            return;
        }
        let Some(shard) = self.shard(key) else {
            return;
        };
        let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
        shard.remove(key);
        while shard.bytes.saturating_add(weight) > self.shard_bytes {
            let Some(victim) = shard.map.keys().next().cloned() else {
                break;
            };
            shard.remove(&victim);
        }
        shard.bytes = shard.bytes.saturating_add(weight);
        shard.map.insert(key.into(), Arc::new(template));
    }

    /// Templates held (for tests and status).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes charged for the templates held.
    pub fn bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).bytes)
            .sum()
    }
}

impl Default for AnswerTemplates {
    fn default() -> Self {
        Self::new(limits::ANSWER_TEMPLATE_BYTES)
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

    use std::net::Ipv4Addr;
    use std::time::Duration;

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use super::*;
    use crate::metrics::Metrics;
    use crate::query::Tier;
    use crate::server::wire::{Parsed, RequestInfo, encode_response, parse_request, udp_limit};

    const T0: Timestamp = Timestamp::from_secs(1_000_000);

    fn request(id: u16, name: &str, dnssec_ok: Option<bool>) -> Vec<u8> {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        if let Some(dnssec_ok) = dnssec_ok {
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            edns.set_dnssec_ok(dnssec_ok);
            msg.set_edns(edns);
        }
        msg.to_vec().unwrap()
    }

    fn info(bytes: &[u8]) -> RequestInfo {
        thread_local! {
            // One registry for every parse here (no test reads its
            // counts): a new one per request was most of the CPU time of
            // `bounded_by_bytes`.
            static METRICS: Metrics = Metrics::new().unwrap();
        }
        match METRICS.with(|metrics| parse_request(bytes, metrics)) {
            Parsed::Query(_, info) => info,
            other => panic!("not a query: {other:?}"),
        }
    }

    fn key(bytes: &[u8]) -> TemplateKey {
        let info = info(bytes);
        TemplateKey::new(
            bytes,
            info.recursion_desired,
            info.checking_disabled,
            info.edns.map(|e| e.dnssec_ok),
            udp_limit(&info),
        )
        .unwrap()
    }

    fn answer(ttls: &[u32], fresh_until: Option<Timestamp>) -> Answer {
        let name = Name::from_ascii("host.example.").unwrap();
        let answers = ttls
            .iter()
            .map(|&ttl| Record::from_rdata(name.clone(), ttl, RData::A(A(Ipv4Addr::LOCALHOST))))
            .collect();
        Answer {
            answers,
            authentic_data: true,
            fresh_until,
            ..Answer::error(ResponseCode::NoError, Tier::Fresh, Vec::new())
        }
    }

    fn state(generation: u64, now: Timestamp) -> CacheState {
        CacheState { generation, now }
    }

    /// A store holding the answer to `first`, encoded as the server does.
    fn stored(first: &[u8], answer: &Answer) -> AnswerTemplates {
        let templates = AnswerTemplates::default();
        let info = info(first);
        let reply = encode_response(&info, answer, udp_limit(&info));
        templates.insert(&key(first), &reply, answer, state(7, T0));
        templates
    }

    fn at(secs: u64) -> Timestamp {
        T0.saturating_add(Duration::from_secs(secs))
    }

    #[test]
    fn key_ignores_case_and_id_but_not_flags() {
        let a = key(&request(1, "Host.Example.", Some(true)));
        let b = key(&request(2, "hOST.eXAMPLE.", Some(true)));
        assert_eq!(a.as_bytes(), b.as_bytes());
        for other in [
            request(1, "host.example.", Some(false)),
            request(1, "host.example.", None),
            request(1, "host2.example.", Some(true)),
        ] {
            assert_ne!(a.as_bytes(), key(&other).as_bytes());
        }
    }

    #[test]
    fn key_refuses_a_compressed_question() {
        let mut bytes = request(1, "host.example.", None);
        // Replace the name by a pointer to offset 12 itself.
        bytes.splice(12..26, [0xc0, 12]);
        assert!(TemplateKey::new(&bytes, true, false, None, 512).is_none());
    }

    #[test]
    fn reuse_patches_id_case_and_ttls() {
        let first = request(1, "host.example.", Some(true));
        let templates = stored(&first, &answer(&[300, 120], Some(at(300))));
        let second = request(0xbeef, "HoSt.ExAmPlE.", Some(true));

        let (reply, rcode) = templates
            .reply(&key(&second), &second, state(7, at(100)))
            .unwrap();
        assert_eq!(rcode, ResponseCode::NoError);
        let msg = Message::from_vec(&reply).unwrap();
        assert_eq!(msg.metadata.id, 0xbeef);
        assert!(msg.metadata.authentic_data);
        assert_eq!(msg.queries[0].name().to_ascii(), "HoSt.ExAmPlE.");
        let ttls: Vec<u32> = msg.answers.iter().map(|r| r.ttl).collect();
        assert_eq!(ttls, vec![200, 20]);
        // The OPT's TTL field (flags) is not a TTL: DO survives.
        assert!(msg.edns.unwrap().flags().dnssec_ok);
    }

    #[test]
    fn expiry_and_generation_end_a_template() {
        let first = request(1, "host.example.", None);
        let k = key(&first);
        // Expires with the shortest TTL (60 s), before fresh_until.
        let templates = stored(&first, &answer(&[300, 60], Some(at(300))));
        assert!(templates.reply(&k, &first, state(7, at(59))).is_some());
        assert!(templates.reply(&k, &first, state(7, at(60))).is_none());
        // Gone once refused.
        assert!(templates.reply(&k, &first, state(7, at(1))).is_none());

        // fresh_until first.
        let templates = stored(&first, &answer(&[300], Some(at(30))));
        assert!(templates.reply(&k, &first, state(7, at(29))).is_some());
        assert!(templates.reply(&k, &first, state(7, at(30))).is_none());

        let templates = stored(&first, &answer(&[300], Some(at(300))));
        assert!(templates.reply(&k, &first, state(8, at(1))).is_none());
    }

    #[test]
    fn not_kept_without_fresh_until_or_with_ttl_0() {
        let first = request(1, "host.example.", None);
        let k = key(&first);
        for answer in [answer(&[300], None), answer(&[300, 0], Some(at(300)))] {
            let templates = stored(&first, &answer);
            assert!(templates.is_empty());
            assert!(templates.reply(&k, &first, state(7, T0)).is_none());
        }
    }

    #[test]
    fn bounded_by_bytes() {
        let answer = answer(&[300], Some(at(300)));
        let one = {
            let t = stored(&request(1, "h.example.", None), &answer);
            t.bytes()
        };
        let max = one * 40;
        let templates = AnswerTemplates::new(max);
        for i in 0..1000 {
            let q = request(1, &format!("h{i}.example."), None);
            let info = info(&q);
            let reply = encode_response(&info, &answer, udp_limit(&info));
            templates.insert(&key(&q), &reply, &answer, state(7, T0));
        }
        assert!(templates.bytes() <= max, "{} > {max}", templates.bytes());
        assert!(templates.len() > 10 && templates.len() <= 40);
    }

    #[test]
    fn garbage_is_never_a_template() {
        let first = request(1, "host.example.", None);
        let k = key(&first);
        let answer = answer(&[300], Some(at(300)));
        let info = info(&first);
        let reply = encode_response(&info, &answer, 512);
        let templates = AnswerTemplates::default();
        for cut in 0..reply.len() {
            templates.insert(&k, &reply[..cut], &answer, state(7, T0));
        }
        let mut longer = reply.clone();
        longer.push(0);
        templates.insert(&k, &longer, &answer, state(7, T0));
        assert!(templates.is_empty());
    }
}
