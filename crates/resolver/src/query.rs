//! The boundary between the wire (`server/`) and the resolver: a parsed
//! client question in, an [`Answer`] out. The server owns encoding,
//! truncation and EDNS; the resolver owns what the answer says.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::clock::Timestamp;
use crate::ede::Ede;

/// A client's question after the server has checked the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientQuery {
    /// QNAME as the client wrote it (case preserved for the reply).
    pub name: Name,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    /// EDNS DO bit: the client wants RRSIGs and denial proofs.
    pub dnssec_ok: bool,
    /// CD bit: the client validates itself; return data even if Bogus.
    pub checking_disabled: bool,
    pub recursion_desired: bool,
}

/// Which rung of the ladder produced an answer (a metric label, never a qname).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Cache hit within TTL, or a fresh resolution.
    Fresh,
    /// Expired entry served because the refresh failed (RFC 8767).
    Stale,
    /// Under a negative trust anchor: resolved without validation.
    Nta,
    /// SERVFAIL (with EDE).
    ServFail,
    /// Refused or answered locally without resolution (ACL, policy, FORMERR).
    Local,
}

impl Tier {
    pub const ALL: [Tier; 5] = [
        Tier::Fresh,
        Tier::Stale,
        Tier::Nta,
        Tier::ServFail,
        Tier::Local,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Fresh => "fresh",
            Tier::Stale => "stale",
            Tier::Nta => "nta",
            Tier::ServFail => "servfail",
            Tier::Local => "local",
        }
    }
}

/// What the resolver says; the server turns it into a response message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// AD bit: only when every part of the answer is Secure.
    pub authentic_data: bool,
    pub ede: Vec<Ede>,
    pub tier: Tier,
    /// Set when the server may reuse this answer's encoding for identical
    /// questions until this instant (a fresh answer from the validated
    /// view, no NTA, no CD): the first expiry among the cached steps it was
    /// built from. `None`: answer every such question anew.
    pub fresh_until: Option<Timestamp>,
}

impl Answer {
    /// A record-less answer with an rcode and EDEs (SERVFAIL, REFUSED, ...).
    pub fn error(rcode: ResponseCode, tier: Tier, ede: Vec<Ede>) -> Self {
        Self {
            rcode,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            authentic_data: false,
            ede,
            tier,
            fresh_until: None,
        }
    }

    pub fn servfail(ede: Vec<Ede>) -> Self {
        Self::error(ResponseCode::ServFail, Tier::ServFail, ede)
    }
}

/// Anything that answers client queries (the resolver; a fixed responder in
/// server tests).
pub trait QueryHandler: Send + Sync + 'static {
    fn answer(&self, query: ClientQuery) -> impl Future<Output = Answer> + Send;

    /// What the server's answer templates are checked against; `None` (the
    /// default) keeps the server from reusing any answer of this handler.
    fn cache_state(&self) -> Option<CacheState> {
        None
    }
}

/// The handler's time and generation, against which a reused answer is
/// checked ([`Answer::fresh_until`]). The generation changes whenever
/// something other than time may change an answer still fresh: an NTA
/// added or removed, a cache flush, a configuration reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheState {
    pub generation: u64,
    pub now: Timestamp,
}
