//! Testbed authoritative servers: zone files -> signed in memory -> answers,
//! with runtime fault injection.
//!
//! A [`Lab`] is a small DNS hierarchy on loopback: the root (127.53.0.1),
//! the `lab.` TLD (127.53.0.2), `example.lab.` and `other.lab.`
//! (127.53.0.3) and the unsigned `insecure.lab.` (127.53.0.4), all on one
//! port. Zones are loaded from unsigned zone files ([`zone`]), signed at
//! start with fresh keys ([`sign`]), answered by a pure function
//! ([`answer`]) behind UDP and TCP sockets ([`server`]). Faults ([`Fault`])
//! switch per zone at runtime.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use hickory_proto::ProtoError;
use hickory_proto::dnssec::DnsSecError;
use hickory_proto::dnssec::rdata::DS;
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::txt::ParseError;

pub mod answer;
pub mod cli;
pub mod demo;
pub mod fault;
pub mod incident_client;
pub mod keys;
pub mod limits;
pub mod scale;
pub mod server;
pub mod sign;
pub mod standalone;
pub mod zone;

pub use cli::{LabArgs, run};
pub use fault::{Fault, NodataFault};
pub use standalone::StandaloneZone;

use sign::{Denial, SignedZone, ZoneKeys};
use zone::ZoneData;

/// Signing algorithm of every signed zone of a lab (ring cannot generate
/// RSA keys, so only these two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LabAlgorithm {
    /// ECDSA P-256 with SHA-256 (algorithm 13).
    #[default]
    EcdsaP256,
    /// Ed25519 (algorithm 15).
    Ed25519,
}

/// How to start a lab.
#[derive(Clone, Debug)]
pub struct LabConfig {
    /// Directory holding `root.zone`, `lab.zone`, ... (see [`default_zones_dir`]).
    pub zones_dir: PathBuf,
    pub algorithm: LabAlgorithm,
    /// Port shared by all servers; 0 picks a free one.
    pub port: u16,
    /// Override every TTL in every zone (and cap SOA minimum to it).
    pub ttl: Option<u32>,
    /// Sign with these keys instead of fresh ones (labs in separate
    /// processes that must agree on keys and DS); see [`keys`].
    pub keys: Option<keys::LabKeys>,
    /// Serve only these zones (empty: all). Every zone is still loaded and
    /// signed, so parents publish the DS of children served elsewhere.
    pub only: Vec<Name>,
    /// Serve every zone on this address instead of its 127.53.0.x default.
    pub listen: Option<IpAddr>,
}

impl LabConfig {
    pub fn new(zones_dir: impl Into<PathBuf>) -> Self {
        LabConfig {
            zones_dir: zones_dir.into(),
            algorithm: LabAlgorithm::EcdsaP256,
            port: 0,
            ttl: None,
            keys: None,
            only: Vec::new(),
            listen: None,
        }
    }
}

/// The zones shipped with the tree (`zones/` at the workspace root).
pub fn default_zones_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../zones")
}

/// Everything that can go wrong starting or steering a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("reading zone file {file}: {source}")]
    ReadZone {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing zone file {file}: {source}")]
    ParseZone {
        file: PathBuf,
        #[source]
        source: ParseError,
    },
    #[error("zone file {file}: DNAME line {line:?}: expected OWNER [TTL] IN DNAME TARGET")]
    Dname { file: PathBuf, line: String },
    #[error("zone file {file}:{line}: $INCLUDE is not supported")]
    Include { file: PathBuf, line: usize },
    #[error("zone file {file}: origin is {found}, expected {expected}")]
    OriginMismatch {
        file: PathBuf,
        expected: String,
        found: String,
    },
    #[error("zone file {file}: no SOA record at the apex {origin}")]
    NoSoa { file: PathBuf, origin: String },
    #[error("zone file {file}: record {name} is outside the zone {origin}")]
    OutOfZone {
        file: PathBuf,
        name: String,
        origin: String,
    },
    #[error("generating a key for zone {zone}: {source}")]
    KeyGeneration {
        zone: String,
        #[source]
        source: Box<DnsSecError>,
    },
    #[error("signing {name} in zone {zone}: {source}")]
    Sign {
        zone: String,
        name: String,
        #[source]
        source: ProtoError,
    },
    #[error("signing {name} in zone {zone}: {source}")]
    SignKey {
        zone: String,
        name: String,
        #[source]
        source: Box<DnsSecError>,
    },
    #[error("binding {proto} {addr}: {source}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no port free on all lab addresses after {attempts} attempts")]
    NoFreePort { attempts: u32 },
    #[error("the lab serves no zone {zone}")]
    UnknownZone { zone: String },
    #[error("writing {file}: {source}")]
    WriteFile {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no {} ZSKs sharing a key tag among {limit} generated (MAX_SAME_TAG_KEYS)",
        scale::SIGNER_KEYS
    )]
    SameTagKeys { limit: usize },
    #[error("more than {limit} children of one kind (MAX_CHILDREN)")]
    TooManyChildren { limit: usize },
    #[error("{file} did not appear within {limit_secs}s (MAX_START_WAIT)")]
    StartFile { file: PathBuf, limit_secs: u64 },
    #[error("waiting for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),
}

/// Bounded attempts to find one port free on every lab address.
pub const MAX_PORT_ATTEMPTS: u32 = 20;

/// TTL of the root hints written by [`Lab::root_hints`] (as in IANA's
/// named.root).
pub const ROOT_HINTS_TTL: u32 = 3_600_000;

/// The fixed shape of the lab: which zone file, which server, how signed.
struct ZoneSpec {
    origin: &'static str,
    file: &'static str,
    server: Ipv4Addr,
    denial: Option<Denial>,
}

/// Parents before children; signing walks this list backwards.
const ZONES: &[ZoneSpec] = &[
    ZoneSpec {
        origin: ".",
        file: "root.zone",
        server: Ipv4Addr::new(127, 53, 0, 1),
        denial: Some(Denial::Nsec),
    },
    ZoneSpec {
        origin: "lab.",
        file: "lab.zone",
        server: Ipv4Addr::new(127, 53, 0, 2),
        denial: Some(Denial::Nsec3),
    },
    ZoneSpec {
        origin: "example.lab.",
        file: "example.lab.zone",
        server: Ipv4Addr::new(127, 53, 0, 3),
        denial: Some(Denial::Nsec),
    },
    ZoneSpec {
        origin: "other.lab.",
        file: "other.lab.zone",
        server: Ipv4Addr::new(127, 53, 0, 3),
        denial: Some(Denial::Nsec),
    },
    ZoneSpec {
        origin: "insecure.lab.",
        file: "insecure.lab.zone",
        server: Ipv4Addr::new(127, 53, 0, 4),
        denial: None,
    },
];

/// Address of the root server (the root hints point here).
pub const ROOT_SERVER: Ipv4Addr = Ipv4Addr::new(127, 53, 0, 1);

/// One zone of a running lab: its data, keys and current (faulted) state.
pub(crate) struct LabZone {
    pub(crate) origin: Name,
    pub(crate) server: IpAddr,
    data: RwLock<Arc<ZoneData>>,
    denial: Option<Denial>,
    keys: Option<Arc<ZoneKeys>>,
    algorithm: LabAlgorithm,
    pub(crate) state: RwLock<Arc<ZoneState>>,
}

/// What a server reads per query: the fault and the signed zone to answer from.
pub(crate) struct ZoneState {
    pub(crate) fault: Fault,
    pub(crate) zone: Arc<SignedZone>,
}

impl LabZone {
    /// The same zone (keys, data and current state shared, not copied),
    /// with locks of its own: faults set on the copy stay there.
    fn copy(&self) -> LabZone {
        LabZone {
            origin: self.origin.clone(),
            server: self.server,
            data: RwLock::new(self.data()),
            denial: self.denial,
            keys: self.keys.clone(),
            algorithm: self.algorithm,
            state: RwLock::new(self.snapshot()),
        }
    }

    fn data(&self) -> Arc<ZoneData> {
        match self.data.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub(crate) fn snapshot(&self) -> Arc<ZoneState> {
        match self.state.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }
}

/// A running lab. Dropping it stops its servers.
pub struct Lab {
    shared: Arc<server::Shared>,
    port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    root_ds: Vec<DS>,
    parent_ds: BTreeMap<Name, Vec<DS>>,
}

impl Lab {
    /// Load, sign and serve the lab's zones.
    pub async fn start(config: LabConfig) -> Result<Lab, LabError> {
        Self::build(config, true).await
    }

    /// Load and sign the lab's zones without binding a socket: queries
    /// reach them through [`Lab::reply`] (the in-process replay harness).
    /// The servers' addresses are the usual ones, on `config.port` (53 if
    /// 0).
    pub async fn in_process(config: LabConfig) -> Result<Lab, LabError> {
        Self::build(config, false).await
    }

    /// The bytes the lab's server at `to` sends back for the query `bytes`
    /// (`udp`: truncated to the query's payload size), with its faults
    /// applied; `None`: it stays silent. Forged answers of the spoofing
    /// faults are not sent. Counts the query like one on a socket.
    pub async fn reply(&self, to: SocketAddr, bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
        if to.port() != self.port {
            return None;
        }
        self.shared.reply_at(to.ip(), bytes, udp).await
    }

    /// A lab serving what this one serves now (same keys, so the same
    /// trust anchor; data and faults as they are), without signing again:
    /// in-process like [`Lab::in_process`]. Tests start many labs; one
    /// signed lab copied is far cheaper than signing each.
    pub fn copy_in_process(&self) -> Lab {
        Lab {
            shared: server::shared(self.copy_zones()),
            port: self.port,
            tasks: Vec::new(),
            root_ds: self.root_ds.clone(),
            parent_ds: self.parent_ds.clone(),
        }
    }

    /// As [`Lab::copy_in_process`], served on sockets (a free port).
    pub async fn serve_copy(&self) -> Result<Lab, LabError> {
        let (shared, port, tasks) = server::start(self.copy_zones(), 0).await?;
        Ok(Lab {
            shared,
            port,
            tasks,
            root_ds: self.root_ds.clone(),
            parent_ds: self.parent_ds.clone(),
        })
    }

    fn copy_zones(&self) -> Vec<LabZone> {
        self.shared.zones.iter().map(LabZone::copy).collect()
    }

    async fn build(config: LabConfig, bind: bool) -> Result<Lab, LabError> {
        let mut zones: Vec<LabZone> = Vec::with_capacity(ZONES.len());
        let mut parent_ds: BTreeMap<Name, Vec<DS>> = BTreeMap::new();
        let mut root_ds = Vec::new();
        // Children first, so their DS can go into the parent before it is signed.
        for spec in ZONES.iter().rev() {
            let origin = Name::from_ascii(spec.origin).map_err(|source| LabError::Sign {
                zone: spec.origin.to_owned(),
                name: spec.origin.to_owned(),
                source,
            })?;
            let file = config.zones_dir.join(spec.file);
            let mut data = zone::load(&file, &origin, config.ttl)?;
            for (child, ds) in &parent_ds {
                if child.base_name() == origin {
                    data.add_ds(child, ds);
                }
            }
            let (keys, signed) = match spec.denial {
                Some(denial) => {
                    let loaded = match &config.keys {
                        Some(stored) => stored.zone_keys(&origin)?,
                        None => None,
                    };
                    let keys = match loaded {
                        Some(keys) => keys,
                        None => ZoneKeys::generate(config.algorithm, &origin)?,
                    };
                    let ds = vec![keys.ksk.ds(&origin)?];
                    if origin.is_root() {
                        root_ds = ds.clone();
                    }
                    parent_ds.insert(origin.clone(), ds);
                    let signed =
                        sign::sign_for_fault(&data, denial, &keys, &Fault::None, config.algorithm)?;
                    (Some(Arc::new(keys)), signed)
                }
                None => (None, sign::unsigned(&data)),
            };
            zones.push(LabZone {
                origin,
                server: IpAddr::V4(spec.server),
                data: RwLock::new(Arc::new(data)),
                denial: spec.denial,
                keys,
                algorithm: config.algorithm,
                state: RwLock::new(Arc::new(ZoneState {
                    fault: Fault::None,
                    zone: Arc::new(signed),
                })),
            });
        }
        zones.reverse();
        for zone in &config.only {
            if !zones.iter().any(|z| &z.origin == zone) {
                return Err(LabError::UnknownZone {
                    zone: zone.to_string(),
                });
            }
        }
        zones.retain(|z| config.only.is_empty() || config.only.contains(&z.origin));
        if let Some(ip) = config.listen {
            for zone in &mut zones {
                zone.server = ip;
            }
        }
        let (shared, port, tasks) = if bind {
            server::start(zones, config.port).await?
        } else {
            let port = if config.port == 0 { 53 } else { config.port };
            (server::shared(zones), port, Vec::new())
        };
        Ok(Lab {
            shared,
            port,
            tasks,
            root_ds,
            parent_ds,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// named.root-style hints for the lab's root server.
    pub fn root_hints(&self) -> String {
        format!(
            ".                        {ttl} IN NS a.root-servers.lab.\n\
             a.root-servers.lab.      {ttl} IN A  {ROOT_SERVER}\n",
            ttl = ROOT_HINTS_TTL
        )
    }

    /// The root's DS record(s) in zone-file syntax: the lab's trust anchor.
    pub fn trust_anchor(&self) -> String {
        self.root_ds
            .iter()
            .map(|ds| format!(". 3600 IN DS {ds}\n"))
            .collect()
    }

    /// The DS set of `zone` as published in its parent (empty for unsigned
    /// or unknown zones). For the root: the trust anchor.
    pub fn ds_records(&self, zone: &Name) -> Vec<DS> {
        self.parent_ds.get(zone).cloned().unwrap_or_default()
    }

    /// Switch the fault of one zone; `Fault::None` restores normal service.
    pub fn set_fault(&self, zone: &Name, fault: Fault) -> Result<(), LabError> {
        let lab_zone = self.zone(zone)?;
        let resign = fault.needs_resigning() || lab_zone.snapshot().fault.needs_resigning();
        self.publish(lab_zone, fault, resign)
    }

    /// Delete every record owned by `name` from `zone` and re-sign it (the
    /// name then answers NXDOMAIN with a fresh denial proof).
    pub fn remove_name(&self, zone: &Name, name: &Name) -> Result<(), LabError> {
        let lab_zone = self.zone(zone)?;
        let mut data = ZoneData::clone(&lab_zone.data());
        data.nodes.remove(name);
        match lab_zone.data.write() {
            Ok(mut guard) => *guard = Arc::new(data),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(data),
        }
        let fault = lab_zone.snapshot().fault.clone();
        self.publish(lab_zone, fault, true)
    }

    /// Replace the DS set the parent publishes for `child` with `ds` and
    /// re-sign the parent (a DS of an unknown algorithm, say). The child's
    /// own keys are unchanged.
    pub fn set_ds(&self, child: &Name, ds: &[DS]) -> Result<(), LabError> {
        let parent = self.zone(&child.base_name())?;
        let mut data = ZoneData::clone(&parent.data());
        if let Some(node) = data.nodes.get_mut(child) {
            node.remove(&RecordType::DS);
        }
        data.add_ds(child, ds);
        match parent.data.write() {
            Ok(mut guard) => *guard = Arc::new(data),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(data),
        }
        let fault = parent.snapshot().fault.clone();
        self.publish(parent, fault, true)
    }

    fn zone(&self, zone: &Name) -> Result<&LabZone, LabError> {
        self.shared
            .zones
            .iter()
            .find(|z| &z.origin == zone)
            .ok_or_else(|| LabError::UnknownZone {
                zone: zone.to_string(),
            })
    }

    /// Serve `lab_zone` under `fault`, signing it again if `resign`.
    fn publish(&self, lab_zone: &LabZone, fault: Fault, resign: bool) -> Result<(), LabError> {
        let data = sign::faulted_data(&lab_zone.data(), &fault)?;
        let signed = match (&lab_zone.keys, lab_zone.denial) {
            (Some(keys), Some(denial)) if resign => Arc::new(sign::sign_for_fault(
                &data,
                denial,
                keys,
                &fault,
                lab_zone.algorithm,
            )?),
            (None, _) if resign => Arc::new(sign::unsigned(&data)),
            _ => Arc::clone(&lab_zone.snapshot().zone),
        };
        let state = Arc::new(ZoneState {
            fault,
            zone: signed,
        });
        match lab_zone.state.write() {
            Ok(mut guard) => *guard = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
        Ok(())
    }

    /// Queries received by the server at `addr` (UDP and TCP).
    pub fn queries_received(&self, addr: IpAddr) -> u64 {
        self.shared.queries_received(addr)
    }

    /// Queries received by all servers of the lab.
    pub fn total_queries(&self) -> u64 {
        self.shared.total_queries()
    }

    /// The socket addresses the lab's servers listen on.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.shared
            .addresses()
            .into_iter()
            .map(|ip| SocketAddr::new(ip, self.port))
            .collect()
    }

    /// Names of the zones served, parents first.
    pub fn zones(&self) -> Vec<Name> {
        self.shared.zones.iter().map(|z| z.origin.clone()).collect()
    }

    /// Stop every server task and wait for them to end.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
