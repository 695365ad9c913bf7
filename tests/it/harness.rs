//! Shared test helpers: a lab hierarchy plus a resolver serving on real
//! sockets, driven by a manual clock, and a small stub client.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

use lastgood_lab::{Lab, LabConfig, default_zones_dir};
use lastgood_resolver::clock::ManualClock;
use lastgood_resolver::dnssec::TrustAnchors;
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::nta::NtaStore;
use lastgood_resolver::resolve::{Resolver, ResolverConfig, servers};
use lastgood_resolver::server::{Server, ServerConfig, ServerHandle};

pub fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// The lab's zones signed once per test binary: each testbed serves a
/// copy (same keys and trust anchor, faults of its own), so a test does
/// not pay for signing the hierarchy again.
pub async fn lab_template() -> &'static Lab {
    static TEMPLATE: tokio::sync::OnceCell<Lab> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            Lab::in_process(LabConfig::new(default_zones_dir()))
                .await
                .unwrap()
        })
        .await
}

/// A copy of the signed lab served on sockets (a free port): what
/// `Lab::start` gives, without signing the hierarchy again.
pub async fn served_lab() -> Lab {
    lab_template().await.serve_copy().await.unwrap()
}

/// A lab hierarchy and a resolver in front of it.
pub struct Testbed {
    pub lab: Lab,
    pub clock: ManualClock,
    pub resolver: Arc<Resolver>,
    pub metrics: Metrics,
    pub addr: SocketAddr,
    _server: ServerHandle,
}

impl Testbed {
    pub async fn start() -> Testbed {
        Self::start_with(|_| {}).await
    }

    /// Start with a hook to adjust the resolver configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut ResolverConfig)) -> Testbed {
        Self::start_full(adjust, Arc::new(NtaStore::new(None))).await
    }

    async fn start_full(adjust: impl FnOnce(&mut ResolverConfig), ntas: Arc<NtaStore>) -> Testbed {
        let lab = served_lab().await;
        Self::start_on(lab, adjust, ntas).await
    }

    /// A resolver in front of an already running `lab` (one served from
    /// another thread, say).
    pub async fn start_on(
        lab: Lab,
        adjust: impl FnOnce(&mut ResolverConfig),
        ntas: Arc<NtaStore>,
    ) -> Testbed {
        let mut config = ResolverConfig::internet().unwrap();
        config.root_hints = servers::parse_hints(&lab.root_hints(), "lab hints").unwrap();
        config.anchors = TrustAnchors::parse(&lab.trust_anchor(), "lab anchor").unwrap();
        config.upstream_port = lab.port();
        adjust(&mut config);
        let clock = ManualClock::new();
        let metrics = Metrics::new().unwrap();
        let resolver = Resolver::with_ntas(config, Arc::new(clock.clone()), metrics.clone(), ntas);
        let server = Server::bind(
            ServerConfig::new(vec!["127.0.0.1:0".parse().unwrap()]),
            Arc::new(Arc::clone(&resolver)),
            metrics.clone(),
        )
        .await
        .unwrap();
        let handle = server.start().unwrap();
        let addr = handle.local_addrs()[0];
        Testbed {
            lab,
            clock,
            resolver,
            metrics,
            addr,
            _server: handle,
        }
    }

    /// Query with DO set over UDP (TCP on TC).
    pub async fn query(&self, qname: &str, qtype: RecordType) -> Message {
        query(self.addr, qname, qtype, Flags::default()).await
    }

    pub async fn query_with(&self, qname: &str, qtype: RecordType, flags: Flags) -> Message {
        query(self.addr, qname, qtype, flags).await
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }
}

pub use lastgood_resolver::client::Flags;

/// Ask `server` (DO set unless `flags` say otherwise); panics on no answer.
pub async fn query(server: SocketAddr, qname: &str, qtype: RecordType, flags: Flags) -> Message {
    lastgood_resolver::client::query(server, &name(qname), qtype, flags)
        .await
        .unwrap()
}

/// EDE codes in a response.
pub fn ede_codes(msg: &Message) -> Vec<u16> {
    lastgood_resolver::client::edes(msg)
        .into_iter()
        .map(|(c, _)| c)
        .collect()
}

/// Records of one type in the answer section.
pub fn answers_of(msg: &Message, t: RecordType) -> usize {
    msg.answers.iter().filter(|r| r.record_type() == t).count()
}

/// The data of the A records in the answer section.
pub fn a_data(msg: &Message) -> Vec<hickory_proto::rr::RData> {
    msg.answers
        .iter()
        .filter(|r| r.record_type() == RecordType::A)
        .map(|r| r.data.clone())
        .collect()
}

/// A new directory under the system temp dir, unique to this process and
/// call (`lastgood-TAG-PID-RANDOM`).
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "lastgood-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
