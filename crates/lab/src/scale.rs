//! The scaled incident lab (issue 21): a generated TLD `de-lab.` with
//! thousands of signed and unsigned children, served by three TLD
//! instances, and the 2026 .de break replayed on it as a timeline.
//!
//! Shape (all on one port, 53 for the peers):
//! - the root on [`ROOT_ADDR`], delegating `de-lab.` to `ns1..ns3.de-lab.`
//!   ([`TLD_ADDRS`]);
//! - `de-lab.`: NSEC3 (SHA-1, 0 iterations, no opt-out), `signed` children
//!   `sNNNN.de-lab.` (with DS) and `unsigned` children `uNNNN.de-lab.`;
//! - every child on one of [`CHILD_ADDRS`]: SOA, NS, apex A and `www` A
//!   (the address encodes the child: [`child_address`]); signed children
//!   use NSEC and one key pair shared by all of them (their DS differ by
//!   owner), to keep start-up to seconds.
//!
//! TTLs: every child draws one TTL (its records, and its NS and DS in the
//! TLD) log-uniform between [`TTL_MIN_SECS`] and [`TTL_MAX_SECS`] from a
//! seeded generator; the TLD's SOA, DNSKEY and NSEC3 use
//! [`TLD_SOA_TTL_SECS`], the root [`ROOT_TTL_SECS`]. Every TTL and every
//! time of the timeline is divided by one compression factor (60 by
//! default: an incident hour is a minute).
//!
//! The timeline (incident time, from [`IncidentConfig`]):
//! - `break`: the signer starts re-signing incrementally: each incident
//!   minute the next batch of the TLD's DS and NSEC3 RRsets (seeded order,
//!   all of them over [`IncidentConfig::resign_minutes`]) gets a signature
//!   from one of three ZSKs that share a key tag, only one published, so
//!   about a third of new signatures validate; the SOA is re-signed (new
//!   serial) every minute and flaps. Instances 1 and 2 serve this;
//!   instance 3 keeps the older, valid signatures until `stale_end`;
//! - `nta`: operators add a negative trust anchor (the bench script does;
//!   the lab only records the time);
//! - `fix`: the zone is re-signed with the published key everywhere;
//! - `end`: the lab exits.
//!
//! Written to `--out`: `root.hints`, `root.key`, `timeline.txt`
//! (`PHASE UNIX_MS` per line) and `upstream.csv` (per tick: time, queries
//! received by the root, the TLD instances and the child servers, and the
//! broken share of the TLD's signed RRsets on instances 1-2).

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::{Name, RData, RecordType};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::sign::{self, Denial, KSK_FLAGS, SignPlan, SignedZone, ZSK_FLAGS, ZoneKey, ZoneKeys};
use super::zone::{self, ZoneData};
use super::{Fault, Lab, LabAlgorithm, LabError, LabZone, ZoneState, server};

/// The scaled TLD.
pub const TLD: &str = "de-lab.";
/// The root server of the incident lab.
pub const ROOT_ADDR: Ipv4Addr = Ipv4Addr::new(127, 54, 0, 1);
/// The three TLD instances (`ns1..ns3.de-lab.`); the last keeps the older
/// signatures until `stale_end`.
pub const TLD_ADDRS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 54, 0, 2),
    Ipv4Addr::new(127, 54, 0, 3),
    Ipv4Addr::new(127, 54, 0, 4),
];
/// The children's servers (child `i` on `CHILD_ADDRS[i % 4]`).
pub const CHILD_ADDRS: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 54, 0, 10),
    Ipv4Addr::new(127, 54, 0, 11),
    Ipv4Addr::new(127, 54, 0, 12),
    Ipv4Addr::new(127, 54, 0, 13),
];
/// Children TTL distribution (before compression): log-uniform in
/// [TTL_MIN_SECS, TTL_MAX_SECS].
pub const TTL_MIN_SECS: f64 = 300.0;
pub const TTL_MAX_SECS: f64 = 86_400.0;
/// The TLD's SOA, DNSKEY, NSEC3 and negative TTL (as .de: 2 h).
pub const TLD_SOA_TTL_SECS: u32 = 7200;
/// The root's TTLs (1 day).
pub const ROOT_TTL_SECS: u32 = 86_400;
/// Smallest TTL after compression.
pub const MIN_SCALED_TTL: u32 = 1;
/// Most children of either kind (names are `sNNNNN`/`uNNNNN`).
pub const MAX_CHILDREN: usize = 60_000;
/// Bound on keys generated while looking for three ZSKs with one tag.
pub const MAX_SAME_TAG_KEYS: usize = 200_000;
/// Keys in the broken signer (one HSM each), one of them published.
pub const SIGNER_KEYS: usize = 3;
/// Longest wait for `--start-file` before the lab gives up.
pub const MAX_START_WAIT: Duration = Duration::from_secs(600);
/// How often the lab looks for `--start-file`.
pub const START_FILE_POLL: Duration = Duration::from_millis(50);

/// How to run the incident.
#[derive(Clone, Debug)]
pub struct IncidentConfig {
    pub signed: usize,
    pub unsigned: usize,
    /// Incident seconds per real second.
    pub compression: u32,
    pub seed: u64,
    pub port: u16,
    pub algorithm: LabAlgorithm,
    /// Incident minutes before the break.
    pub before_minutes: u32,
    /// Incident minutes from the break to the NTA (2 h 45 min).
    pub nta_minutes: u32,
    /// Incident minutes from the break until instance 3 re-signs too.
    pub stale_instance_minutes: u32,
    /// Incident minutes over which every DS/NSEC3 RRset is re-signed once.
    pub resign_minutes: u32,
    /// Incident minutes from the NTA to the fix.
    pub fix_minutes: u32,
    /// Incident minutes after the fix until the lab exits.
    pub after_minutes: u32,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            signed: 2000,
            unsigned: 500,
            compression: 60,
            seed: 1,
            port: 53,
            algorithm: LabAlgorithm::EcdsaP256,
            before_minutes: 60,
            nta_minutes: 165,
            stale_instance_minutes: 90,
            resign_minutes: 180,
            fix_minutes: 30,
            after_minutes: 30,
        }
    }
}

/// Arguments of `lastgood lab-incident`.
#[derive(Clone, Debug, clap::Args)]
pub struct IncidentArgs {
    /// Signed children of de-lab.
    #[arg(long, default_value_t = 2000)]
    pub signed: usize,
    /// Unsigned children of de-lab.
    #[arg(long, default_value_t = 500)]
    pub unsigned: usize,
    /// Time compression: incident seconds per real second (TTLs and times are divided by it).
    #[arg(long, default_value_t = 60)]
    pub compression: u32,
    /// Seed of TTLs, re-signing order and key choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Port of every server (127.54.0.x).
    #[arg(long, default_value_t = 53)]
    pub port: u16,
    /// Incident minutes before the break.
    #[arg(long, default_value_t = 60)]
    pub before: u32,
    /// Incident minutes from the break to the NTA.
    #[arg(long, default_value_t = 165)]
    pub nta: u32,
    /// Incident minutes from the break until the third instance stops serving older signatures.
    #[arg(long, default_value_t = 90)]
    pub stale_instance: u32,
    /// Incident minutes over which every DS and NSEC3 RRset is re-signed once.
    #[arg(long, default_value_t = 180)]
    pub resign: u32,
    /// Incident minutes from the NTA to the fix.
    #[arg(long, default_value_t = 30)]
    pub fix: u32,
    /// Incident minutes after the fix.
    #[arg(long, default_value_t = 30)]
    pub after: u32,
    /// Write root.hints, root.key, timeline.txt, upstream.csv here.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Serve and write root.hints and root.key, but start the timeline (and
    /// write timeline.txt) only once this file exists, so a harness can start
    /// the resolver from root.key first (at most MAX_START_WAIT).
    #[arg(long, value_name = "FILE")]
    pub start_file: Option<PathBuf>,
}

impl From<&IncidentArgs> for IncidentConfig {
    fn from(a: &IncidentArgs) -> Self {
        IncidentConfig {
            signed: a.signed,
            unsigned: a.unsigned,
            compression: a.compression.max(1),
            seed: a.seed,
            port: a.port,
            algorithm: LabAlgorithm::EcdsaP256,
            before_minutes: a.before,
            nta_minutes: a.nta,
            stale_instance_minutes: a.stale_instance,
            resign_minutes: a.resign.max(1),
            fix_minutes: a.fix,
            after_minutes: a.after,
        }
    }
}

/// Name of signed child `i` (`signed`) or unsigned child `i`.
pub fn child_name(signed: bool, i: usize) -> String {
    format!("{}{i:05}.{TLD}", if signed { 's' } else { 'u' })
}

/// The address of `www.` and the apex of a child: 10.1.x.y signed, 10.2.x.y unsigned.
pub fn child_address(signed: bool, i: usize) -> Ipv4Addr {
    let [_, _, hi, lo] = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
    Ipv4Addr::new(10, if signed { 1 } else { 2 }, hi, lo)
}

/// The parsed form of a child label (`s00012` -> (true, 12)).
pub fn parse_child_label(label: &str) -> Option<(bool, usize)> {
    let signed = match label.get(..1)? {
        "s" => true,
        "u" => false,
        _ => return None,
    };
    Some((signed, label.get(1..)?.parse().ok()?))
}

fn scaled(secs: u32, compression: u32) -> u32 {
    (secs / compression.max(1)).max(MIN_SCALED_TTL)
}

/// A log-uniform TTL in [TTL_MIN_SECS, TTL_MAX_SECS], compressed.
fn draw_ttl(rng: &mut StdRng, compression: u32) -> u32 {
    let u: f64 = rng.random();
    let secs = (TTL_MIN_SECS.ln() + u * (TTL_MAX_SECS.ln() - TTL_MIN_SECS.ln())).exp();
    scaled(secs as u32, compression)
}

fn parse_zone(text: &str, origin: &str) -> Result<ZoneData, LabError> {
    let name = Name::from_ascii(origin).map_err(|source| LabError::Sign {
        zone: origin.to_owned(),
        name: origin.to_owned(),
        source,
    })?;
    zone::parse(text, Path::new(origin), &name, None)
}

fn name_of(text: &str) -> Result<Name, LabError> {
    Name::from_ascii(text).map_err(|source| LabError::Sign {
        zone: TLD.to_owned(),
        name: text.to_owned(),
        source,
    })
}

/// Three ZSKs of `zone` that share one key tag (the HSMs' keys); the first
/// is the one to publish.
fn same_tag_keys(algorithm: LabAlgorithm, zone: &Name) -> Result<Vec<ZoneKey>, LabError> {
    let mut by_tag: HashMap<u16, Vec<Vec<u8>>> = HashMap::new();
    for _ in 0..MAX_SAME_TAG_KEYS {
        let pkcs8 = sign::generate_pkcs8(algorithm, zone)?;
        let key = ZoneKey::from_pkcs8(algorithm, ZSK_FLAGS, zone, &pkcs8)?;
        let group = by_tag.entry(key.tag).or_default();
        group.push(pkcs8);
        if group.len() == SIGNER_KEYS {
            return group
                .iter()
                .map(|p| ZoneKey::from_pkcs8(algorithm, ZSK_FLAGS, zone, p))
                .collect();
        }
    }
    Err(LabError::SameTagKeys {
        limit: MAX_SAME_TAG_KEYS,
    })
}

fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// The TLD as generated, with what the timeline needs.
struct Tld {
    data: ZoneData,
    signed: SignedZone,
    published_zsk: ZoneKey,
    ksk: ZoneKey,
    others: Vec<ZoneKey>,
}

/// Everything generated before serving.
struct Generated {
    zones: Vec<LabZone>,
    tld: Tld,
    root_ds: String,
}

fn generate(config: &IncidentConfig) -> Result<Generated, LabError> {
    let c = config.compression;
    if config.signed > MAX_CHILDREN || config.unsigned > MAX_CHILDREN {
        return Err(LabError::TooManyChildren {
            limit: MAX_CHILDREN,
        });
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let alg = config.algorithm;
    let tld_name = name_of(TLD)?;
    let child_pkcs8 = (
        sign::generate_pkcs8(alg, &tld_name)?,
        sign::generate_pkcs8(alg, &tld_name)?,
    );
    let mut zones = Vec::new();
    let soa_ttl = scaled(TLD_SOA_TTL_SECS, c);
    let mut tld_text =
        format!("$ORIGIN {TLD}\n@ {soa_ttl} IN SOA ns1 hostmaster 1 7200 3600 3600000 {soa_ttl}\n");
    for (n, addr) in TLD_ADDRS.iter().enumerate() {
        tld_text.push_str(&format!(
            "@ {soa_ttl} IN NS ns{k}\nns{k} {soa_ttl} IN A {addr}\n",
            k = n + 1
        ));
    }
    let mut child_ds = Vec::new();
    for signed in [true, false] {
        let count = if signed {
            config.signed
        } else {
            config.unsigned
        };
        for i in 0..count {
            let ttl = draw_ttl(&mut rng, c);
            let origin = child_name(signed, i);
            let label = origin.trim_end_matches(&format!(".{TLD}")).to_owned();
            let server = CHILD_ADDRS
                .get(i % CHILD_ADDRS.len())
                .copied()
                .unwrap_or(ROOT_ADDR);
            let addr = child_address(signed, i);
            tld_text.push_str(&format!(
                "{label} {ttl} IN NS ns.{label}\nns.{label} {ttl} IN A {server}\n"
            ));
            let text = format!(
                "$ORIGIN {origin}\n@ {ttl} IN SOA ns hostmaster 1 7200 3600 3600000 {ttl}\n\
                 @ {ttl} IN NS ns\nns {ttl} IN A {server}\n@ {ttl} IN A {addr}\nwww {ttl} IN A {addr}\n"
            );
            let data = parse_zone(&text, &origin)?;
            let (keys, signed_zone) = if signed {
                let keys = ZoneKeys {
                    ksk: ZoneKey::from_pkcs8(alg, KSK_FLAGS, &data.origin, &child_pkcs8.0)?,
                    zsk: ZoneKey::from_pkcs8(alg, ZSK_FLAGS, &data.origin, &child_pkcs8.1)?,
                };
                child_ds.push((data.origin.clone(), keys.ksk.ds(&data.origin)?));
                let z = sign::sign_for_fault(&data, Denial::Nsec, &keys, &Fault::None, alg)?;
                (Some(keys), z)
            } else {
                (None, sign::unsigned(&data))
            };
            zones.push(lab_zone(
                data,
                server,
                signed.then_some(Denial::Nsec),
                keys,
                alg,
                signed_zone,
            ));
        }
    }
    let mut tld_data = parse_zone(&tld_text, TLD)?;
    for (child, ds) in &child_ds {
        tld_data.add_ds(child, std::slice::from_ref(ds));
        // The DS takes the delegation's TTL.
        let ttl = tld_data
            .nodes
            .get(child)
            .and_then(|n| n.get(&RecordType::NS))
            .map(|s| s.ttl);
        if let (Some(ttl), Some(set)) = (
            ttl,
            tld_data
                .nodes
                .get_mut(child)
                .and_then(|n| n.get_mut(&RecordType::DS)),
        ) {
            set.ttl = ttl;
            for r in &mut set.records {
                r.ttl = ttl;
            }
        }
    }
    let mut signer_keys = same_tag_keys(alg, &tld_name)?;
    let published_zsk = signer_keys.remove(0);
    let tld_ksk = ZoneKey::generate(alg, KSK_FLAGS, &tld_name)?;
    let tld_ds = tld_ksk.ds(&tld_name)?;
    let tld_signed = sign_valid(&tld_data, &tld_ksk, &published_zsk)?;
    for addr in TLD_ADDRS {
        zones.push(lab_zone(
            tld_data.clone(),
            addr,
            Some(Denial::Nsec3),
            None,
            alg,
            tld_signed.clone(),
        ));
    }
    let root_ttl = scaled(ROOT_TTL_SECS, c);
    let mut root_text = format!(
        "$ORIGIN .\n. {root_ttl} IN SOA a.root. hostmaster.root. 1 1800 900 604800 {root_ttl}\n\
         . {root_ttl} IN NS a.root.\na.root. {root_ttl} IN A {ROOT_ADDR}\n"
    );
    for (n, addr) in TLD_ADDRS.iter().enumerate() {
        root_text.push_str(&format!(
            "{TLD} {root_ttl} IN NS ns{k}.{TLD}\nns{k}.{TLD} {root_ttl} IN A {addr}\n",
            k = n + 1
        ));
    }
    let mut root_data = parse_zone(&root_text, ".")?;
    root_data.add_ds(&tld_name, &[tld_ds]);
    let root_keys = ZoneKeys::generate(alg, &Name::root())?;
    let root_ds = format!(". 3600 IN DS {}\n", root_keys.ksk.ds(&Name::root())?);
    let root_signed =
        sign::sign_for_fault(&root_data, Denial::Nsec, &root_keys, &Fault::None, alg)?;
    zones.push(lab_zone(
        root_data,
        ROOT_ADDR,
        Some(Denial::Nsec),
        Some(root_keys),
        alg,
        root_signed,
    ));
    Ok(Generated {
        zones,
        tld: Tld {
            data: tld_data,
            signed: tld_signed,
            published_zsk,
            ksk: tld_ksk,
            others: signer_keys,
        },
        root_ds,
    })
}

fn lab_zone(
    data: ZoneData,
    server: Ipv4Addr,
    denial: Option<Denial>,
    keys: Option<ZoneKeys>,
    algorithm: LabAlgorithm,
    signed: SignedZone,
) -> LabZone {
    LabZone {
        origin: data.origin.clone(),
        server: IpAddr::V4(server),
        data: RwLock::new(Arc::new(data)),
        denial,
        keys: keys.map(Arc::new),
        algorithm,
        state: RwLock::new(Arc::new(ZoneState {
            fault: Fault::None,
            zone: Arc::new(signed),
        })),
    }
}

fn validity() -> (u32, u32) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    // RRSIG times are serial numbers modulo 2^32 (RFC 4034 §3.1.5).
    ((now - 3600) as u32, (now + 30 * 86_400) as u32)
}

/// The TLD signed with its published keys only.
fn sign_valid(data: &ZoneData, ksk: &ZoneKey, zsk: &ZoneKey) -> Result<SignedZone, LabError> {
    let (inception, expiration) = validity();
    let plan = SignPlan {
        published: vec![ksk, zsk],
        dnskey_signers: vec![ksk],
        data_signer: zsk,
        inception,
        expiration,
        tamper_data: false,
        nsec3_iterations: 0,
        keytrap: false,
    };
    sign::sign(data, Denial::Nsec3, &plan)
}

/// Which RRset of the TLD a re-signing step covers.
#[derive(Clone, Debug)]
enum Target {
    Ds(Name),
    Nsec3(Vec<u8>),
}

impl Lab {
    /// Replace what `zone` at `addr` serves.
    fn serve_signed_at(&self, zone: &Name, addr: IpAddr, signed: Arc<SignedZone>) {
        if let Some(lab_zone) = self
            .shared
            .zones
            .iter()
            .find(|z| &z.origin == zone && z.server == addr)
        {
            let state = Arc::new(ZoneState {
                fault: Fault::None,
                zone: signed,
            });
            match lab_zone.state.write() {
                Ok(mut guard) => *guard = state,
                Err(poisoned) => *poisoned.into_inner() = state,
            }
        }
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|source| LabError::WriteFile {
        file: path.to_owned(),
        source,
    })
}

/// Real duration of `minutes` incident minutes.
fn real(minutes: u32, compression: u32) -> Duration {
    Duration::from_millis(u64::from(minutes) * 60_000 / u64::from(compression.max(1)))
}

/// Wait until `file` exists, looking every [`START_FILE_POLL`], for at
/// most `limit`.
async fn wait_for_file(file: &Path, limit: Duration) -> Result<(), LabError> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if tokio::fs::try_exists(file).await.unwrap_or(false) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(LabError::StartFile {
                file: file.to_owned(),
                limit_secs: limit.as_secs(),
            });
        }
        tokio::time::sleep(START_FILE_POLL).await;
    }
}

/// Generate, serve and play the incident, then return.
pub async fn run_incident(args: IncidentArgs) -> Result<(), LabError> {
    let config = IncidentConfig::from(&args);
    let c = config.compression;
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|source| LabError::WriteFile {
        file: out.clone(),
        source,
    })?;
    let started = std::time::Instant::now();
    let generated = generate(&config)?;
    let Generated {
        zones,
        tld,
        root_ds,
    } = generated;
    let zone_count = zones.len();
    let (shared, port, tasks) = server::start(zones, config.port).await?;
    let lab = Lab {
        shared,
        port,
        tasks,
        root_ds: Vec::new(),
        parent_ds: Default::default(),
    };
    write_file(&out.join("root.key"), &root_ds)?;
    write_file(
        &out.join("root.hints"),
        &format!(". 3600000 IN NS a.root.\na.root. 3600000 IN A {ROOT_ADDR}\n"),
    )?;
    println!(
        "incident lab: {} zones ({} signed, {} unsigned children of {TLD}) generated and signed in {:.1}s; port {port}; compression {c}",
        zone_count,
        config.signed,
        config.unsigned,
        started.elapsed().as_secs_f64()
    );
    if let Some(file) = &args.start_file {
        println!("waiting for {} to start the timeline", file.display());
        wait_for_file(file, MAX_START_WAIT).await?;
    }

    let t0 = SystemTime::now();
    let tick = real(1, c);
    let at_break = real(config.before_minutes, c);
    let at_stale_end = at_break + real(config.stale_instance_minutes, c);
    let at_nta = at_break + real(config.nta_minutes, c);
    let at_fix = at_nta + real(config.fix_minutes, c);
    let at_end = at_fix + real(config.after_minutes, c);
    let phases = [
        ("start", Duration::ZERO),
        ("break", at_break),
        ("stale_instance_end", at_stale_end),
        ("nta", at_nta),
        ("fix", at_fix),
        ("end", at_end),
    ];
    let timeline: String = phases
        .iter()
        .map(|(name, d)| format!("{name} {}\n", unix_ms(t0 + *d)))
        .collect();
    write_file(&out.join("timeline.txt"), &timeline)?;
    print!("{timeline}");

    let upstream_path = out.join("upstream.csv");
    let mut upstream =
        std::fs::File::create(&upstream_path).map_err(|source| LabError::WriteFile {
            file: upstream_path.clone(),
            source,
        })?;
    let _ = writeln!(upstream, "unix_ms,root,tld,children,broken_share");

    let tld_name = name_of(TLD)?;
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed);
    let mut current = tld.signed.clone();
    let mut targets: Vec<Target> = current
        .cuts
        .iter()
        .filter(|cut| {
            current
                .nodes
                .get(*cut)
                .is_some_and(|n| n.contains_key(&RecordType::DS))
        })
        .map(|cut| Target::Ds(cut.clone()))
        .chain(current.nsec3.keys().map(|h| Target::Nsec3(h.clone())))
        .collect();
    targets.shuffle(&mut rng);
    let total_targets = targets.len().max(1);
    let ticks = usize::try_from(config.resign_minutes)
        .unwrap_or(usize::MAX)
        .max(1);
    let batch = total_targets.div_ceil(ticks);
    let mut next_target = 0usize;
    let mut broken = 0usize;
    let mut serial: u32 = 1;
    let mut signers: Vec<&ZoneKey> = vec![&tld.published_zsk];
    signers.extend(tld.others.iter());
    let (inception, expiration) = validity();
    let plan = SignPlan {
        published: vec![&tld.ksk, &tld.published_zsk],
        dnskey_signers: vec![&tld.ksk],
        data_signer: &tld.published_zsk,
        inception,
        expiration,
        tamper_data: false,
        nsec3_iterations: 0,
        keytrap: false,
    };
    let mut fixed = false;
    let mut stale_instance_done = false;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        let elapsed = t0.elapsed().unwrap_or_default();
        let tld_queries: u64 = TLD_ADDRS
            .iter()
            .map(|a| lab.queries_received(IpAddr::V4(*a)))
            .sum();
        let child_queries: u64 = CHILD_ADDRS
            .iter()
            .map(|a| lab.queries_received(IpAddr::V4(*a)))
            .sum();
        let share = if fixed {
            0.0
        } else {
            broken as f64 / total_targets as f64
        };
        let _ = writeln!(
            upstream,
            "{},{},{},{},{:.4}",
            unix_ms(SystemTime::now()),
            lab.queries_received(IpAddr::V4(ROOT_ADDR)),
            tld_queries,
            child_queries,
            share
        );
        let _ = upstream.flush();
        if elapsed >= at_end {
            break;
        }
        if elapsed >= at_fix {
            if !fixed {
                fixed = true;
                serial = serial.wrapping_add(1);
                set_serial(&mut current, &tld_name, serial);
                let mut data = tld.data.clone();
                if let Some(set) = current
                    .nodes
                    .get(&tld_name)
                    .and_then(|n| n.get(&RecordType::SOA))
                    .cloned()
                    && let Some(node) = data.nodes.get_mut(&tld_name)
                {
                    let mut set = set;
                    set.rrsigs.clear();
                    node.insert(RecordType::SOA, set);
                }
                let good = Arc::new(sign_valid(&data, &tld.ksk, &tld.published_zsk)?);
                for addr in TLD_ADDRS {
                    lab.serve_signed_at(&tld_name, IpAddr::V4(addr), Arc::clone(&good));
                }
                println!("fix: {TLD} re-signed with the published key on all instances");
            }
            continue;
        }
        if elapsed < at_break {
            continue;
        }
        // One incident minute of incremental signing.
        for _ in 0..batch {
            let Some(target) = targets.get(next_target) else {
                break;
            };
            next_target += 1;
            let k = rng.random_range(0..signers.len());
            let Some(key) = signers.get(k) else {
                continue;
            };
            let set = match target {
                Target::Ds(name) => current
                    .nodes
                    .get_mut(name)
                    .and_then(|n| n.get_mut(&RecordType::DS)),
                Target::Nsec3(hash) => current.nsec3.get_mut(hash),
            };
            if let Some(set) = set {
                let sig = sign::sign_rrset(set, key, &tld_name, &plan)?;
                set.rrsigs = vec![sig];
                if k != 0 {
                    broken += 1;
                }
            }
        }
        serial = serial.wrapping_add(1);
        set_serial(&mut current, &tld_name, serial);
        let k = rng.random_range(0..signers.len());
        if let (Some(key), Some(set)) = (
            signers.get(k),
            current
                .nodes
                .get_mut(&tld_name)
                .and_then(|n| n.get_mut(&RecordType::SOA)),
        ) {
            let sig = sign::sign_rrset(set, key, &tld_name, &plan)?;
            set.rrsigs = vec![sig];
        }
        let snapshot = Arc::new(current.clone());
        let broken_instances = if elapsed >= at_stale_end {
            if !stale_instance_done {
                stale_instance_done = true;
                println!(
                    "stale instance end: {} serves the broken signer too",
                    TLD_ADDRS[2]
                );
            }
            &TLD_ADDRS[..]
        } else {
            &TLD_ADDRS[..2]
        };
        for addr in broken_instances {
            lab.serve_signed_at(&tld_name, IpAddr::V4(*addr), Arc::clone(&snapshot));
        }
    }
    println!("end");
    lab.shutdown().await;
    Ok(())
}

/// Set the serial of `zone`'s SOA (signatures are redone by the caller).
fn set_serial(zone: &mut SignedZone, apex: &Name, serial: u32) {
    if let Some(set) = zone
        .nodes
        .get_mut(apex)
        .and_then(|n| n.get_mut(&RecordType::SOA))
    {
        for r in &mut set.records {
            if let RData::SOA(soa) = &mut r.data {
                soa.serial = serial;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use hickory_proto::dnssec::PublicKey;

    #[tokio::test]
    async fn the_timeline_waits_for_the_start_file() {
        let dir = std::env::temp_dir().join(format!("lastgood-start-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("start");
        let missing = wait_for_file(&file, Duration::from_millis(200)).await;
        assert!(
            matches!(missing, Err(LabError::StartFile { .. })),
            "{missing:?}"
        );
        let waiter = tokio::spawn({
            let file = file.clone();
            async move { wait_for_file(&file, Duration::from_secs(30)).await }
        });
        std::fs::write(&file, "").unwrap();
        let found = waiter.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(found.is_ok(), "{found:?}");
    }

    #[test]
    fn child_labels_round_trip() {
        let name = child_name(true, 42);
        assert_eq!(name, "s00042.de-lab.");
        assert_eq!(parse_child_label("s00042"), Some((true, 42)));
        assert_eq!(parse_child_label("u00007"), Some((false, 7)));
        assert_eq!(parse_child_label("x1"), None);
        assert_eq!(child_address(false, 300), Ipv4Addr::new(10, 2, 1, 44));
    }

    #[test]
    fn ttls_stay_in_the_compressed_range() {
        let mut rng = StdRng::seed_from_u64(7);
        let ttls: Vec<u32> = (0..1000).map(|_| draw_ttl(&mut rng, 60)).collect();
        assert!(ttls.iter().all(|t| (5..=1440).contains(t)));
        // Log-uniform: the median is near the geometric mean (~5100 s / 60).
        let mut sorted = ttls.clone();
        sorted.sort_unstable();
        let median = sorted.get(500).copied().unwrap_or(0);
        assert!((50..=120).contains(&median), "median {median}");
    }

    #[test]
    fn three_signer_keys_share_one_tag() {
        let zone = name_of(TLD).unwrap();
        let keys = same_tag_keys(LabAlgorithm::EcdsaP256, &zone).unwrap();
        assert_eq!(keys.len(), SIGNER_KEYS);
        let tags: Vec<u16> = keys.iter().map(|k| k.tag).collect();
        assert!(tags.iter().all(|t| Some(t) == tags.first()));
        let publics: std::collections::BTreeSet<Vec<u8>> = keys
            .iter()
            .map(|k| k.dnskey.public_key().public_bytes().to_vec())
            .collect();
        assert_eq!(publics.len(), SIGNER_KEYS, "three different keys");
    }

    fn small() -> IncidentConfig {
        IncidentConfig {
            signed: 12,
            unsigned: 4,
            ..IncidentConfig::default()
        }
    }

    #[test]
    fn the_generated_tld_delegates_every_child() {
        let g = generate(&small()).unwrap();
        let tld = &g.tld.signed;
        assert_eq!(tld.cuts.len(), 16);
        let with_ds = tld
            .cuts
            .iter()
            .filter(|c| tld.nodes[*c].contains_key(&RecordType::DS))
            .count();
        assert_eq!(with_ds, 12);
        // Apex, ns1..ns3 and every delegation are in the NSEC3 chain.
        assert_eq!(tld.nsec3.len(), 1 + 3 + 16);
        assert_eq!(tld.denial, Some(Denial::Nsec3));
        // 16 children, 3 TLD instances, the root.
        assert_eq!(g.zones.len(), 16 + 3 + 1);
        // A DS keeps its delegation's TTL, within the compressed range.
        for cut in &tld.cuts {
            let node = &tld.nodes[cut];
            let ns = node[&RecordType::NS].ttl;
            assert!((5..=1440).contains(&ns), "{cut} ttl {ns}");
            if let Some(ds) = node.get(&RecordType::DS) {
                assert_eq!(ds.ttl, ns);
            }
        }
        assert!(g.root_ds.starts_with(". 3600 IN DS "));
    }

    #[test]
    fn only_the_published_signer_validates_and_all_share_its_tag() {
        let g = generate(&small()).unwrap();
        let tld_name = name_of(TLD).unwrap();
        let (inception, expiration) = validity();
        let plan = SignPlan {
            published: vec![&g.tld.ksk, &g.tld.published_zsk],
            dnskey_signers: vec![&g.tld.ksk],
            data_signer: &g.tld.published_zsk,
            inception,
            expiration,
            tamper_data: false,
            nsec3_iterations: 0,
            keytrap: false,
        };
        let cut = g.tld.signed.cuts.iter().next().unwrap().clone();
        let set = g.tld.signed.nodes[&cut][&RecordType::DS].clone();
        let public = g.tld.published_zsk.dnskey.public_key();
        let mut signers = vec![&g.tld.published_zsk];
        signers.extend(g.tld.others.iter());
        let verdicts: Vec<bool> = signers
            .iter()
            .map(|key| {
                let record = sign::sign_rrset(&set, key, &tld_name, &plan).unwrap();
                let RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(rrsig)) =
                    &record.data
                else {
                    unreachable!("not an RRSIG");
                };
                assert_eq!(rrsig.input().key_tag, g.tld.published_zsk.tag);
                let tbs = hickory_proto::dnssec::TBS::from_input(
                    &set.name,
                    hickory_proto::rr::DNSClass::IN,
                    rrsig.input(),
                    set.records.iter(),
                )
                .unwrap();
                public.verify(tbs.as_ref(), rrsig.sig()).is_ok()
            })
            .collect();
        assert_eq!(verdicts, vec![true, false, false]);
    }
}
