//! `lastgood demo`: the whole story offline in one process. A signed lab
//! hierarchy on loopback, the resolver in front of it, then the 2026-05-05
//! .de incident replayed on `lab.`: its data signed by a ZSK it does not
//! publish. The ladder is printed as a timeline; the exit code says
//! whether every step behaved as expected.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use crate::{Fault, Lab, LabConfig, LabError, default_zones_dir};
use lastgood_resolver::client::{self, ClientError, Flags};
use lastgood_resolver::clock::{Clock, SystemClock};
use lastgood_resolver::config::StaleConfig;
use lastgood_resolver::dnssec::{AnchorError, TrustAnchors};
use lastgood_resolver::metrics::{Metrics, MetricsError};
use lastgood_resolver::nta::{NtaError, NtaSource, NtaStore};
use lastgood_resolver::resolve::{HintsError, Resolver, ResolverConfig, servers};
use lastgood_resolver::server::{Server, ServerConfig, ServerError};

/// `lastgood demo` options.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Zone files of the lab [default: ./zones, else the source tree's].
    #[arg(long)]
    pub zones: Option<PathBuf>,
    /// TTL of every lab record, seconds: short, so the story fits in a minute.
    #[arg(long, default_value_t = 3)]
    pub ttl: u32,
}

/// Why the demo could not run (as opposed to a step misbehaving).
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("lab: {0}")]
    Lab(#[from] LabError),
    #[error("lab hints: {0}")]
    Hints(#[from] HintsError),
    #[error("lab trust anchor: {0}")]
    Anchor(#[from] AnchorError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("NTA: {0}")]
    Nta(#[from] NtaError),
    #[error("query: {0}")]
    Client(#[from] ClientError),
    #[error("--ttl {0}: must be 1 to 30 seconds")]
    Ttl(u32),
    #[error("bad demo name {0:?}")]
    Name(&'static str),
}

fn name(s: &'static str) -> Result<Name, DemoError> {
    Name::from_ascii(s).map_err(|_| DemoError::Name(s))
}

/// The tier a client can tell from the answer itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    Fresh,
    Stale,
    Nta,
    ServFail,
}

impl Tier {
    fn as_str(self) -> &'static str {
        match self {
            Tier::Fresh => "fresh",
            Tier::Stale => "stale",
            Tier::Nta => "nta",
            Tier::ServFail => "servfail",
        }
    }
}

/// One row of the timeline.
struct Row {
    at: Duration,
    step: &'static str,
    name: String,
    rcode: ResponseCode,
    ad: bool,
    ede: Vec<u16>,
    tier: Tier,
    ok: bool,
}

struct Demo {
    started: Instant,
    resolver_addr: SocketAddr,
    nta_active: bool,
    rows: Vec<Row>,
}

impl Demo {
    /// Ask one question and record it against the expected tier and AD.
    async fn ask(
        &mut self,
        step: &'static str,
        qname: &'static str,
        want: Tier,
        want_ad: bool,
    ) -> Result<(), DemoError> {
        let qname = name(qname)?;
        let resp =
            client::query(self.resolver_addr, &qname, RecordType::A, Flags::default()).await?;
        let ede: Vec<u16> = client::edes(&resp).into_iter().map(|(c, _)| c).collect();
        let tier = self.tier_of(&resp, &ede);
        let ad = resp.metadata.authentic_data;
        self.rows.push(Row {
            at: self.started.elapsed(),
            step,
            name: qname.to_string(),
            rcode: resp.metadata.response_code,
            ad,
            ede,
            tier,
            ok: tier == want && ad == want_ad,
        });
        Ok(())
    }

    fn tier_of(&self, resp: &Message, ede: &[u16]) -> Tier {
        if resp.metadata.response_code == ResponseCode::ServFail {
            Tier::ServFail
        } else if ede.first().is_some_and(|c| *c == 3 || *c == 19) {
            Tier::Stale
        } else if self.nta_active && !resp.metadata.authentic_data {
            Tier::Nta
        } else {
            Tier::Fresh
        }
    }

    fn note(&mut self, step: &'static str) {
        self.rows.push(Row {
            at: self.started.elapsed(),
            step,
            name: String::new(),
            rcode: ResponseCode::NoError,
            ad: false,
            ede: Vec::new(),
            tier: Tier::Fresh,
            ok: true,
        });
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:>6}  {:<42} {:<20} {:<8} {:<3} {:<6} {:<8} ok",
            "time", "step", "name", "rcode", "AD", "EDE", "tier"
        );
        for r in &self.rows {
            if r.name.is_empty() {
                let _ = writeln!(out, "{:>5.1}s  -- {}", r.at.as_secs_f64(), r.step);
                continue;
            }
            let ede = r
                .ede
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("+");
            let _ = writeln!(
                out,
                "{:>5.1}s  {:<42} {:<20} {:<8} {:<3} {:<6} {:<8} {}",
                r.at.as_secs_f64(),
                r.step,
                r.name,
                lastgood_resolver::server::wire::rcode_label(r.rcode),
                if r.ad { "ad" } else { "-" },
                if ede.is_empty() { "-".to_owned() } else { ede },
                r.tier.as_str(),
                if r.ok { "yes" } else { "NO" }
            );
        }
        out
    }
}

/// Run the story; `Ok(true)` if every step behaved as expected.
pub async fn run(args: DemoArgs) -> Result<bool, DemoError> {
    if !(1..=30).contains(&args.ttl) {
        return Err(DemoError::Ttl(args.ttl));
    }
    let zones = args.zones.clone().unwrap_or_else(|| {
        let local = PathBuf::from("zones");
        if local.join("root.zone").exists() {
            local
        } else {
            default_zones_dir()
        }
    });
    let mut lab_config = LabConfig::new(zones);
    lab_config.ttl = Some(args.ttl);
    let lab = Lab::start(lab_config).await?;

    let clock = Arc::new(SystemClock);
    let mut config = ResolverConfig::internet()?;
    config.root_hints = servers::parse_hints(&lab.root_hints(), "lab root hints")?;
    config.anchors = TrustAnchors::parse(&lab.trust_anchor(), "lab trust anchor")?;
    config.upstream_port = lab.port();
    config.stale = StaleConfig {
        failure_recheck: Duration::from_secs(u64::from(args.ttl)),
        ..StaleConfig::default()
    };
    let metrics = Metrics::new()?;
    let ntas = Arc::new(NtaStore::new(None));
    let resolver = Resolver::with_ntas(config, clock.clone(), metrics.clone(), Arc::clone(&ntas));
    let server = Server::bind(
        ServerConfig::new(vec![SocketAddr::from(([127, 0, 0, 1], 0))]),
        Arc::new(Arc::clone(&resolver)),
        metrics.clone(),
    )
    .await?
    .start()?;
    let resolver_addr = server
        .local_addrs()
        .first()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 53)));
    println!(
        "lab: root 127.53.0.1, lab. 127.53.0.2 (NSEC3), example.lab. 127.53.0.3 (NSEC), insecure.lab. 127.53.0.4 (unsigned), port {}, TTL {} s",
        lab.port(),
        args.ttl
    );
    println!(
        "resolver: {resolver_addr}, trust anchor {}",
        lab.trust_anchor().trim()
    );
    println!();

    let mut demo = Demo {
        started: Instant::now(),
        resolver_addr,
        nta_active: false,
        rows: Vec::new(),
    };
    let wait_ttl = Duration::from_millis(u64::from(args.ttl) * 1000 + 600);
    let lab_zone = name("lab.")?;
    let leaf_zone = name("example.lab.")?;

    demo.ask("warm the cache", "host1.example.lab.", Tier::Fresh, true)
        .await?;
    demo.ask("warm the cache", "ns1.lab.", Tier::Fresh, true)
        .await?;
    demo.ask("cache hit", "host1.example.lab.", Tier::Fresh, true)
        .await?;

    lab.set_fault(&lab_zone, Fault::UnpublishedZsk)?;
    demo.note("lab. rollover breaks: data signed by a ZSK not in its DNSKEY set");
    tokio::time::sleep(wait_ttl).await;
    demo.note("TTLs expire");
    demo.ask(
        "cached name: last answer that validated",
        "host1.example.lab.",
        Tier::Stale,
        true,
    )
    .await?;
    demo.ask(
        "cached name in the broken zone itself",
        "ns1.lab.",
        Tier::Stale,
        true,
    )
    .await?;
    demo.ask(
        "never cached: fail closed, fast",
        "host2.example.lab.",
        Tier::ServFail,
        false,
    )
    .await?;

    ntas.add(
        &lab_zone,
        Some(Duration::from_secs(3600)),
        "lab. rollover broken",
        NtaSource::Api,
        clock.now(),
    )?;
    demo.nta_active = true;
    demo.note("operator: lastgood nta add lab. (no cache flush)");
    demo.ask(
        "never cached, under the NTA: fail open",
        "host2.example.lab.",
        Tier::Nta,
        false,
    )
    .await?;
    demo.ask(
        "cached name, under the NTA",
        "host1.example.lab.",
        Tier::Nta,
        false,
    )
    .await?;

    lab.set_fault(&lab_zone, Fault::None)?;
    demo.note("lab. operators fix the rollover");
    let lifted = resolver.recheck_ntas().await;
    demo.nta_active = !lifted.contains(&lab_zone);
    demo.note(if lifted.contains(&lab_zone) {
        "NTA recheck: lab. validates again, NTA lifted"
    } else {
        "NTA recheck: lab. still fails, NTA kept (unexpected)"
    });
    if !lifted.contains(&lab_zone) {
        demo.rows.last_mut().into_iter().for_each(|r| r.ok = false);
    }
    tokio::time::sleep(wait_ttl).await;
    demo.ask("secure again", "host2.example.lab.", Tier::Fresh, true)
        .await?;
    demo.ask("secure again", "host1.example.lab.", Tier::Fresh, true)
        .await?;

    lab.set_fault(&leaf_zone, Fault::Drop)?;
    demo.note("example.lab. servers stop answering");
    tokio::time::sleep(wait_ttl).await;
    demo.ask(
        "cached name: stale after the client timer",
        "host1.example.lab.",
        Tier::Stale,
        true,
    )
    .await?;
    demo.ask(
        "cached name: stale from memory, no query",
        "host2.example.lab.",
        Tier::Stale,
        true,
    )
    .await?;
    demo.ask(
        "never cached: fail closed, fast",
        "host3.example.lab.",
        Tier::ServFail,
        false,
    )
    .await?;
    lab.set_fault(&leaf_zone, Fault::None)?;
    demo.note("example.lab. servers are back");
    tokio::time::sleep(wait_ttl).await;
    demo.ask("fresh again", "host3.example.lab.", Tier::Fresh, true)
        .await?;

    print!("{}", demo.table());
    let ok = demo.rows.iter().all(|r| r.ok);
    println!();
    let upstream: u64 = ["answer", "timeout", "servfail", "probe_busy"]
        .iter()
        .map(|o| metrics.upstream.with_label_values(&[o]).get())
        .sum();
    println!(
        "{} steps, {} as expected; {} upstream queries in all; lab servers received {}",
        demo.rows.iter().filter(|r| !r.name.is_empty()).count(),
        demo.rows
            .iter()
            .filter(|r| !r.name.is_empty() && r.ok)
            .count(),
        upstream,
        lab.total_queries()
    );
    println!(
        "demo: {}",
        if ok {
            "every step behaved as expected"
        } else {
            "SOME STEPS DID NOT BEHAVE AS EXPECTED"
        }
    );
    server.shutdown().await;
    lab.shutdown().await;
    Ok(ok)
}
