//! `lastgood lab`: run the testbed standalone, write its root hints and
//! trust anchor, and optionally take fault commands on a UDP control socket.
//! `--keygen DIR` writes keys once; `--keys DIR --only ZONE --listen IP`
//! runs one part of the hierarchy per process (one container per server).
//! `lastgood lab-ctl ADDR LINE` sends one control line and prints the reply.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::Name;
use tokio::net::UdpSocket;

use super::keys::{KEYS_FILE, KeyFileError, LabKeys, TRUST_ANCHOR_FILE};
use super::{Fault, Lab, LabAlgorithm, LabConfig, LabError};

/// Default port of a standalone lab.
pub const DEFAULT_PORT: u16 = 53535;

/// Largest control command accepted (one short text line).
const MAX_CONTROL_LINE: usize = 512;

/// Algorithm names for `--algorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgorithmArg {
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    #[value(name = "ed25519")]
    Ed25519,
}

impl From<AlgorithmArg> for LabAlgorithm {
    fn from(arg: AlgorithmArg) -> Self {
        match arg {
            AlgorithmArg::EcdsaP256 => LabAlgorithm::EcdsaP256,
            AlgorithmArg::Ed25519 => LabAlgorithm::Ed25519,
        }
    }
}

/// Arguments of `lastgood lab`.
#[derive(Clone, Debug, clap::Args)]
pub struct LabArgs {
    /// Directory with root.zone, lab.zone, example.lab.zone, ...
    #[arg(long, value_name = "DIR", default_value = "zones")]
    pub zones: PathBuf,
    /// Port shared by all lab servers (127.53.0.1-4).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Signing algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub algorithm: AlgorithmArg,
    /// Override every TTL (seconds), e.g. for short-TTL demos.
    #[arg(long, value_name = "SECS")]
    pub ttl: Option<u32>,
    /// Write root.hints and root.key (trust anchor) here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// UDP control socket taking lines like `fault lab. unpublished-zsk`.
    /// Faults: none, drop, servfail, refused, garbage, slow:MS,
    /// unpublished-zsk, ksk-without-ds, expired-rrsigs, bad-signatures; attack
    /// zones: keytrap (colliding key tags, many RRSIGs), nsec3-iterations:N,
    /// fan-out:N (NXNS glueless referrals), glueless-loop:N, deep-referral,
    /// cname-loop, cname-chain:N, oversize (62 KiB RRset, UDP past the
    /// payload), spoof-id, spoof-question, spoof-source (forged answer
    /// first), poison (out-of-bailiwick records). See src/lab/fault.rs.
    #[arg(long, value_name = "ADDR")]
    pub control: Option<SocketAddr>,
    /// Generate keys for every signed zone into DIR (lab.keys, root.key) and exit.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["keys", "out", "control"])]
    pub keygen: Option<PathBuf>,
    /// Sign with the keys in DIR/lab.keys (from --keygen) instead of fresh ones.
    #[arg(long, value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// Serve only this zone (repeatable; default: all). Parents still carry
    /// the DS of children served elsewhere.
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    pub only: Vec<Name>,
    /// Serve the zones on this address instead of 127.53.0.1-4.
    #[arg(long, value_name = "IP")]
    pub listen: Option<IpAddr>,
}

/// Arguments of `lastgood lab-ctl`.
#[derive(Clone, Debug, clap::Args)]
pub struct LabCtlArgs {
    /// The lab's control socket (its `--control`).
    pub addr: SocketAddr,
    /// The line to send, e.g. `fault lab. unpublished-zsk` or
    /// `fault other.lab. keytrap` (faults: see `lastgood lab --help`).
    #[arg(required = true, num_args = 1..)]
    pub line: Vec<String>,
}

/// Errors of `lastgood lab` and `lastgood lab-ctl`.
#[derive(Debug, thiserror::Error)]
pub enum LabCliError {
    #[error(transparent)]
    Lab(#[from] LabError),
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    #[error("lab control {addr}: {source}")]
    CtlIo {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("lab control {addr}: no reply after {attempts} attempts of {}ms", CTL_TIMEOUT.as_millis())]
    CtlTimeout { addr: SocketAddr, attempts: u32 },
    #[error("lab control {addr}: {reply}")]
    CtlRefused { addr: SocketAddr, reply: String },
}

/// How long `lab-ctl` waits for each reply.
pub const CTL_TIMEOUT: Duration = Duration::from_millis(1000);

/// Sends of one `lab-ctl` line before giving up (UDP may lose one).
pub const CTL_ATTEMPTS: u32 = 3;

fn parse_zone(text: &str) -> Result<Name, String> {
    Name::from_ascii(text)
        .map(|mut n| {
            n.set_fqdn(true);
            n
        })
        .map_err(|e| format!("bad zone name {text:?}: {e}"))
}

/// Start the lab, write its files, print what it serves, and run until
/// Ctrl-C (or SIGTERM); with `--keygen`, write keys and return.
pub async fn run(args: LabArgs) -> Result<(), LabCliError> {
    if let Some(dir) = &args.keygen {
        return keygen(dir, args.algorithm.into());
    }
    let mut config = LabConfig::new(&args.zones);
    config.port = args.port;
    config.algorithm = args.algorithm.into();
    config.ttl = args.ttl;
    if let Some(dir) = &args.keys {
        let keys = LabKeys::load(&dir.join(KEYS_FILE))?;
        config.algorithm = keys.algorithm();
        config.keys = Some(keys);
    }
    config.only = args.only.clone();
    config.listen = args.listen;
    let lab = Lab::start(config).await?;
    if let Some(dir) = &args.out {
        write(dir.join("root.hints"), &lab.root_hints())?;
        write(dir.join("root.key"), &lab.trust_anchor())?;
    }
    println!("lastgood lab: port {}", lab.port());
    for addr in lab.addresses() {
        println!("  listening on {addr} (udp+tcp)");
    }
    for zone in lab.zones() {
        println!("  zone {zone}");
    }
    print!("trust anchor:\n{}", lab.trust_anchor());
    if let Some(dir) = &args.out {
        println!(
            "resolver: lastgood serve --root-hints {hints} --trust-anchor {key} --upstream-port {port}",
            hints = dir.join("root.hints").display(),
            key = dir.join("root.key").display(),
            port = lab.port()
        );
    }
    let control = match args.control {
        Some(addr) => {
            let socket = UdpSocket::bind(addr)
                .await
                .map_err(|source| LabError::Bind {
                    proto: "udp",
                    addr,
                    source,
                })?;
            println!("control: udp {addr} (send `fault ZONE FAULT`)");
            Some(socket)
        }
        None => None,
    };
    // PID 1 in a container gets SIGTERM from `docker stop`, not SIGINT.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(LabError::Signal)?;
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.map_err(LabError::Signal)?,
        _ = term.recv() => {}
        () = control_loop(&lab, control) => {}
    }
    lab.shutdown().await;
    Ok(())
}

/// Write fresh keys and the matching trust anchor into `dir`.
fn keygen(dir: &std::path::Path, algorithm: LabAlgorithm) -> Result<(), LabCliError> {
    let keys = LabKeys::generate(algorithm)?;
    let anchor = keys.trust_anchor()?;
    write(dir.join(KEYS_FILE), &keys.to_text())?;
    write(dir.join(TRUST_ANCHOR_FILE), &anchor)?;
    println!(
        "lastgood lab: keys for {} zones in {}",
        keys.zones().count(),
        dir.join(KEYS_FILE).display()
    );
    print!(
        "trust anchor ({}):\n{anchor}",
        dir.join(TRUST_ANCHOR_FILE).display()
    );
    Ok(())
}

/// `lastgood lab-ctl ADDR LINE`: send the line, print the reply; an
/// `error: ...` reply is an error.
pub async fn lab_ctl(args: LabCtlArgs) -> Result<(), LabCliError> {
    let reply = send_control(args.addr, &args.line.join(" ")).await?;
    let reply = reply.trim_end();
    if reply.starts_with("error") {
        return Err(LabCliError::CtlRefused {
            addr: args.addr,
            reply: reply.to_owned(),
        });
    }
    println!("{reply}");
    Ok(())
}

/// Send one control line to `addr` and return the reply (retrying a lost one).
pub async fn send_control(addr: SocketAddr, line: &str) -> Result<String, LabCliError> {
    let io = |source| LabCliError::CtlIo { addr, source };
    let local: SocketAddr = if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    socket.connect(addr).await.map_err(io)?;
    let mut buf = [0u8; MAX_CONTROL_LINE];
    for _ in 0..CTL_ATTEMPTS {
        socket.send(line.as_bytes()).await.map_err(io)?;
        match tokio::time::timeout(CTL_TIMEOUT, socket.recv(&mut buf)).await {
            Ok(Ok(len)) => {
                let bytes = buf.get(..len).unwrap_or_default();
                return Ok(String::from_utf8_lossy(bytes).into_owned());
            }
            Ok(Err(source)) => return Err(io(source)),
            Err(_) => continue,
        }
    }
    Err(LabCliError::CtlTimeout {
        addr,
        attempts: CTL_ATTEMPTS,
    })
}

fn write(file: PathBuf, text: &str) -> Result<(), LabError> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|source| LabError::WriteFile {
            file: dir.to_owned(),
            source,
        })?;
    }
    std::fs::write(&file, text).map_err(|source| LabError::WriteFile { file, source })
}

/// Serve control commands forever (or never, without a socket).
async fn control_loop(lab: &Lab, socket: Option<UdpSocket>) {
    let Some(socket) = socket else {
        return std::future::pending().await;
    };
    let mut buf = [0u8; MAX_CONTROL_LINE];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let line = buf
            .get(..len)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let reply = match control_command(lab, &line) {
            Ok(()) => "ok\n".to_owned(),
            Err(error) => format!("error: {error}\n"),
        };
        let _ = socket.send_to(reply.as_bytes(), peer).await;
    }
}

/// A control line that cannot be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("usage: fault ZONE FAULT")]
    Usage,
    #[error("bad zone name {0:?}")]
    BadZone(String),
    #[error(transparent)]
    Fault(#[from] super::fault::FaultParseError),
    #[error(transparent)]
    Lab(#[from] LabError),
}

/// Execute one control line: `fault ZONE FAULT`.
pub fn control_command(lab: &Lab, line: &str) -> Result<(), ControlError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [verb, zone, fault] = words.as_slice() else {
        return Err(ControlError::Usage);
    };
    if !verb.eq_ignore_ascii_case("fault") {
        return Err(ControlError::Usage);
    }
    let zone = Name::from_ascii(zone)
        .map(|mut n| {
            n.set_fqdn(true);
            n
        })
        .map_err(|_| ControlError::BadZone((*zone).to_owned()))?;
    let fault: Fault = fault.parse()?;
    lab.set_fault(&zone, fault)?;
    Ok(())
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

    use clap::Parser;

    use super::*;
    use crate::default_zones_dir;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Subcommand)]
    enum Command {
        Lab(LabArgs),
        LabCtl(LabCtlArgs),
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn parses_split_lab_options() {
        let cli = Cli::try_parse_from([
            "x",
            "lab",
            "--keys",
            "/keys",
            "--only",
            "example.lab",
            "--only",
            "other.lab.",
            "--listen",
            "172.31.253.4",
            "--port",
            "53",
            "--ttl",
            "5",
        ])
        .unwrap();
        let Command::Lab(args) = cli.command else {
            panic!("not lab");
        };
        assert_eq!(args.only, vec![name("example.lab."), name("other.lab.")]);
        assert_eq!(
            args.listen,
            Some(IpAddr::V4(Ipv4Addr::new(172, 31, 253, 4)))
        );
        assert_eq!(args.keys, Some(PathBuf::from("/keys")));
        assert!(Cli::try_parse_from(["x", "lab", "--keygen", "/k", "--keys", "/k"]).is_err());
        let cli = Cli::try_parse_from(["x", "lab-ctl", "127.0.0.1:5399", "fault", "lab.", "drop"])
            .unwrap();
        let Command::LabCtl(args) = cli.command else {
            panic!("not lab-ctl");
        };
        assert_eq!(args.line.join(" "), "fault lab. drop");
        assert!(Cli::try_parse_from(["x", "lab-ctl", "127.0.0.1:5399"]).is_err());
    }

    /// Two labs from one key file agree on DS and trust anchor; `only` and
    /// `listen` pick the zones and the address served.
    #[tokio::test]
    async fn shared_keys_only_and_listen() {
        let dir = std::env::temp_dir().join(format!("lastgood-keygen-{}", std::process::id()));
        keygen(&dir, LabAlgorithm::EcdsaP256).unwrap();
        let keys = LabKeys::load(&dir.join(KEYS_FILE)).unwrap();
        let anchor = std::fs::read_to_string(dir.join(TRUST_ANCHOR_FILE)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);

        let mut config = LabConfig::new(default_zones_dir());
        config.keys = Some(keys.clone());
        config.only = vec![name("lab.")];
        config.listen = Some(IpAddr::V4(Ipv4Addr::new(127, 53, 0, 9)));
        let tld = Lab::start(config).await.unwrap();
        assert_eq!(tld.zones(), vec![name("lab.")]);
        assert_eq!(tld.addresses().len(), 1);
        assert_eq!(
            tld.addresses()[0].ip(),
            IpAddr::V4(Ipv4Addr::new(127, 53, 0, 9))
        );
        assert_eq!(tld.trust_anchor(), anchor);

        let mut config = LabConfig::new(default_zones_dir());
        config.keys = Some(keys.clone());
        config.only = vec![name("example.lab."), name("other.lab.")];
        let leaf = Lab::start(config).await.unwrap();
        let zone = name("example.lab.");
        let expected = keys
            .zone_keys(&zone)
            .unwrap()
            .unwrap()
            .ksk
            .ds(&zone)
            .unwrap();
        assert_eq!(tld.ds_records(&zone), vec![expected.clone()]);
        assert_eq!(leaf.ds_records(&zone), vec![expected]);

        let mut config = LabConfig::new(default_zones_dir());
        config.only = vec![name("nope.lab.")];
        assert!(matches!(
            Lab::start(config).await,
            Err(LabError::UnknownZone { .. })
        ));
    }

    #[tokio::test]
    async fn lab_ctl_round_trip() {
        let mut config = LabConfig::new(default_zones_dir());
        config.only = vec![name("lab.")];
        let lab = Lab::start(config).await.unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let reply = tokio::select! {
            () = control_loop(&lab, Some(socket)) => unreachable!(),
            reply = async {
                let ok = send_control(addr, "fault lab. drop").await.unwrap();
                let bad = lab_ctl(LabCtlArgs {
                    addr,
                    line: vec!["fault".into(), "lab.".into(), "bogus".into()],
                })
                .await;
                (ok, bad)
            } => reply,
        };
        assert_eq!(reply.0, "ok\n");
        assert!(matches!(reply.1, Err(LabCliError::CtlRefused { .. })));
        assert_eq!(
            lab.zone(&name("lab.")).unwrap().snapshot().fault,
            Fault::Drop
        );
    }

    #[tokio::test]
    async fn control_lines_set_attack_faults() {
        let mut config = LabConfig::new(default_zones_dir());
        config.only = vec![name("lab.")];
        let lab = Lab::start(config).await.unwrap();
        for (line, fault) in [
            ("fault lab. keytrap", Fault::KeyTrap),
            (
                "fault lab. nsec3-iterations:500",
                Fault::Nsec3Iterations(500),
            ),
            ("fault lab. fan-out:20", Fault::FanOut(20)),
            ("fault lab. glueless-loop:5", Fault::GluelessLoop(5)),
            ("fault lab. oversize", Fault::Oversize),
            ("fault lab. spoof-source", Fault::SpoofSource),
            ("fault lab. none", Fault::None),
        ] {
            control_command(&lab, line).unwrap();
            assert_eq!(lab.zone(&name("lab.")).unwrap().snapshot().fault, fault);
        }
        assert!(matches!(
            control_command(&lab, "fault lab. fan-out:many"),
            Err(ControlError::Fault(_))
        ));
    }
}
