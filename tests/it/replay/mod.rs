//! The in-process replay harness: the resolver with its `Transport`
//! replaced by scripted authorities (`net.rs`: the lab's pure answer
//! logic with its faults, or small tables, silence, SERVFAIL, REFUSED,
//! garbage, late answers), on tokio's paused clock, and clients that call
//! the resolver directly (parsed and encoded by `server::wire`, so a test
//! reads a real response `Message`). No socket is opened; nothing sleeps
//! in real time: an upstream timeout passes when every task waits on a
//! timer. Query IDs are seeded; server choice follows RTTs measured on
//! the virtual clock, so a run repeats exactly.
//!
//! Two clocks, moved together by [`Replay::advance`]: tokio's (timers,
//! deadlines, RTTs; it also moves by itself when everything waits) and
//! the resolver's wall clock (TTLs, failure windows, NTA lifetimes; a
//! `ManualClock`, which moves only when a test says so, as in the socket
//! testbed). Tests run with `#[tokio::test(start_paused = true)]`.

mod last_good;
pub mod net;
pub mod scenario;
mod scenarios;

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::RecordType;
use lastgood_lab::Lab;
use lastgood_resolver::clock::ManualClock;
use lastgood_resolver::dnssec::TrustAnchors;
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::nta::NtaStore;
use lastgood_resolver::query::QueryHandler;
use lastgood_resolver::resolve::transport::TransportChoice;
use lastgood_resolver::resolve::{Resolver, ResolverConfig, servers};
use lastgood_resolver::server::wire::{self, Parsed};

use crate::harness::{Flags, name};
use net::{Net, Replayed};

/// Seed of the query IDs (any fixed value: runs repeat).
pub const SEED: u64 = 0x1a57_600d;

/// A resolver in front of the in-process lab, on virtual time.
pub struct Replay {
    pub lab: Arc<Lab>,
    pub net: Arc<Net>,
    pub clock: ManualClock,
    pub resolver: Arc<Resolver>,
    pub metrics: Metrics,
}

impl Replay {
    pub async fn start() -> Replay {
        Self::start_with(|_| {}).await
    }

    /// Start with a hook to adjust the resolver configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut ResolverConfig)) -> Replay {
        Self::start_full(adjust, Arc::new(NtaStore::new(None))).await
    }

    pub async fn start_full(
        adjust: impl FnOnce(&mut ResolverConfig),
        ntas: Arc<NtaStore>,
    ) -> Replay {
        let lab = Arc::new(crate::harness::lab_template().await.copy_in_process());
        let net = Net::new(Some(Arc::clone(&lab)), SEED);
        let mut config = ResolverConfig::internet().unwrap();
        config.root_hints = servers::parse_hints(&lab.root_hints(), "lab hints").unwrap();
        config.anchors = TrustAnchors::parse(&lab.trust_anchor(), "lab anchor").unwrap();
        config.upstream_port = lab.port();
        config.transport = TransportChoice::Given(Arc::new(Replayed(Arc::clone(&net))));
        adjust(&mut config);
        let clock = ManualClock::new();
        let metrics = Metrics::new().unwrap();
        let resolver = Resolver::with_ntas(config, Arc::new(clock.clone()), metrics.clone(), ntas);
        Replay {
            lab,
            net,
            clock,
            resolver,
            metrics,
        }
    }

    /// Ask with DO set.
    pub async fn query(&self, qname: &str, qtype: RecordType) -> Message {
        self.query_with(qname, qtype, Flags::default()).await
    }

    pub async fn query_with(&self, qname: &str, qtype: RecordType, flags: Flags) -> Message {
        ask(
            &self.resolver,
            &self.metrics,
            self.net.next_id(),
            qname,
            qtype,
            flags,
        )
        .await
    }

    /// Move both clocks by `d`: timers due by then fire.
    pub async fn advance(&self, d: Duration) {
        self.clock.advance(d);
        tokio::time::advance(d).await;
    }
}

/// One client query answered by `resolver` in-process: the request is
/// encoded and parsed as the server would, the answer counted and
/// encoded as the server would send it over TCP (no truncation), and
/// parsed back. (The server's template path is not taken: reused answers
/// are tested on sockets.)
pub async fn ask(
    resolver: &Arc<Resolver>,
    metrics: &Metrics,
    id: u16,
    qname: &str,
    qtype: RecordType,
    flags: Flags,
) -> Message {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.metadata.checking_disabled = flags.checking_disabled;
    msg.add_query(Query::query(name(qname), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(lastgood_resolver::limits::EDNS_UDP_PAYLOAD);
    edns.set_dnssec_ok(flags.dnssec_ok);
    msg.set_edns(edns);
    let Parsed::Query(query, info) = wire::parse_request(&msg.to_vec().unwrap(), metrics) else {
        panic!("the server would not hand {qname} {qtype} to the resolver");
    };
    let answer = resolver.answer(query).await;
    // Counted as the server counts what it sends.
    metrics.answered(wire::rcode_label(answer.rcode), answer.tier);
    let bytes = wire::encode_response(&info, &answer, usize::from(u16::MAX));
    Message::from_vec(&bytes).unwrap()
}
