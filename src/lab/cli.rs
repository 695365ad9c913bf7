//! `lastgood lab`: run the testbed standalone, write its root hints and
//! trust anchor, and optionally take fault commands on a UDP control socket.

use std::net::SocketAddr;
use std::path::PathBuf;

use hickory_proto::rr::Name;
use tokio::net::UdpSocket;

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
    #[arg(long, value_name = "ADDR")]
    pub control: Option<SocketAddr>,
}

/// Start the lab, write its files, print what it serves, and run until Ctrl-C.
pub async fn run(args: LabArgs) -> Result<(), LabError> {
    let mut config = LabConfig::new(&args.zones);
    config.port = args.port;
    config.algorithm = args.algorithm.into();
    config.ttl = args.ttl;
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
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.map_err(LabError::Signal)?,
        () = control_loop(&lab, control) => {}
    }
    lab.shutdown().await;
    Ok(())
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
