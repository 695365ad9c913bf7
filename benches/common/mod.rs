//! Setup shared by the benches that need a running hierarchy: the lab on
//! 127.53.0.x and a resolver in front of it, in-process (as
//! `tests/it/harness.rs` and `src/demo.rs` start them). Only public APIs,
//! so that the benches follow the code they measure with few edits.

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use lastgood_lab::{Lab, LabConfig, default_zones_dir};
use lastgood_resolver::clock::SystemClock;
use lastgood_resolver::dnssec::TrustAnchors;
use lastgood_resolver::limits;
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::query::{ClientQuery, Tier};
use lastgood_resolver::resolve::{Resolver, ResolverConfig, servers};

/// Warm-up resolutions in flight at once.
const WARM_CONCURRENCY: usize = 32;

/// True under `cargo bench` (criterion gets `--bench`); false when
/// `cargo test` runs the benches once as tests, where setup is kept small.
pub fn is_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A multi-thread runtime with both cores: the lab's servers run on its
/// workers while criterion's `block_on` drives the measured future.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// `n{i}.wild.example.lab.`: distinct names answered by the
/// `*.wild.example.lab.` wildcard (Secure, NSEC-signed zone).
pub fn wild(i: u64) -> Name {
    name(&format!("n{i}.wild.example.lab."))
}

/// The lab and a validating resolver in front of it (system clock).
pub struct Bed {
    pub lab: Lab,
    pub resolver: Arc<Resolver>,
    pub metrics: Metrics,
}

impl Bed {
    pub async fn start() -> Bed {
        let lab = Lab::start(LabConfig::new(default_zones_dir()))
            .await
            .unwrap();
        let mut config = ResolverConfig::internet().unwrap();
        config.root_hints = servers::parse_hints(&lab.root_hints(), "lab hints").unwrap();
        config.anchors = TrustAnchors::parse(&lab.trust_anchor(), "lab anchor").unwrap();
        config.upstream_port = lab.port();
        let metrics = Metrics::new().unwrap();
        let resolver = Resolver::new(config, Arc::new(SystemClock), metrics.clone());
        Bed {
            lab,
            resolver,
            metrics,
        }
    }

    /// Resolve every name (A, DO set), `WARM_CONCURRENCY` at a time; each
    /// must come back a fresh answer.
    pub async fn warm(&self, names: &[Name]) {
        for chunk in names.chunks(WARM_CONCURRENCY) {
            let mut set = JoinSet::new();
            for n in chunk {
                let resolver = Arc::clone(&self.resolver);
                let q = client_query(n.clone(), true);
                set.spawn(async move { resolver.resolve(&q).await });
            }
            while let Some(answer) = set.join_next().await {
                let answer = answer.unwrap();
                assert_eq!(answer.tier, Tier::Fresh, "warm-up: {answer:?}");
                assert!(answer.authentic_data, "warm-up not Secure: {answer:?}");
            }
        }
    }
}

/// An A question as the server hands it to the resolver (RD set).
pub fn client_query(name: Name, dnssec_ok: bool) -> ClientQuery {
    ClientQuery {
        name,
        qtype: RecordType::A,
        qclass: DNSClass::IN,
        dnssec_ok,
        checking_disabled: false,
        recursion_desired: true,
    }
}

/// A client's A query on the wire: RD set, EDNS with our UDP payload,
/// DO as given (dnsperf and stub resolvers usually leave it clear).
pub fn query_bytes(qname: &Name, id: u16, dnssec_ok: bool) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname.clone(), RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(limits::EDNS_UDP_PAYLOAD);
    edns.set_dnssec_ok(dnssec_ok);
    msg.set_edns(edns);
    msg.to_vec().unwrap()
}
