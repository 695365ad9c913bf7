//! Sockets of the lab: one UDP socket and one TCP listener per address,
//! all on one port, answering through [`super::answer`] with faults applied.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use super::answer::{self, Parsed};
use super::{Fault, LabError, LabZone, MAX_PORT_ATTEMPTS, ROOT_SERVER};
use crate::limits::{CLASSIC_UDP_PAYLOAD, MAX_MESSAGE_SIZE};

/// Idle TCP connections are closed after this (RFC 7766 §6.2.3: a few seconds).
pub const TCP_IDLE: Duration = Duration::from_secs(3);

/// TCP connections served at once per address; more are closed at accept.
pub const MAX_TCP_CONNECTIONS: usize = 64;

/// Length range of a [`Fault::Garbage`] reply (a plausible response size).
const GARBAGE_MIN_LEN: usize = 24;
const GARBAGE_SPREAD: usize = 200;

/// State shared by all server tasks of a lab.
pub(crate) struct Shared {
    pub(crate) zones: Vec<LabZone>,
    servers: Vec<ServerInfo>,
}

struct ServerInfo {
    addr: IpAddr,
    /// Indexes into `Shared::zones` of the zones this address serves.
    zones: Vec<usize>,
    queries: AtomicU64,
}

impl Shared {
    pub(crate) fn queries_received(&self, addr: IpAddr) -> u64 {
        self.servers
            .iter()
            .find(|s| s.addr == addr)
            .map_or(0, |s| s.queries.load(Ordering::Relaxed))
    }

    pub(crate) fn total_queries(&self) -> u64 {
        self.servers
            .iter()
            .map(|s| s.queries.load(Ordering::Relaxed))
            .sum()
    }

    pub(crate) fn addresses(&self) -> Vec<IpAddr> {
        self.servers.iter().map(|s| s.addr).collect()
    }

    /// The reply of the server at `addr` (no forgery), for [`super::Lab::reply`].
    pub(crate) async fn reply_at(&self, addr: IpAddr, bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
        let server = self.servers.iter().position(|s| s.addr == addr)?;
        self.handle(server, bytes, udp).await
    }

    /// Bytes to send back for one received message (`None`: stay silent).
    async fn handle(&self, server: usize, bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
        self.handle_with_forgery(server, bytes, udp).await.answer
    }

    /// The reply to one received message, and the forged answer to send
    /// ahead of it under the spoofing faults.
    async fn handle_with_forgery(&self, server: usize, bytes: &[u8], udp: bool) -> Reply {
        let Some(info) = self.servers.get(server) else {
            return Reply::default();
        };
        info.queries.fetch_add(1, Ordering::Relaxed);
        let query = match answer::parse_query(bytes) {
            Parsed::Query(query) => query,
            Parsed::Reply(reply) => {
                return Reply::only(answer::encode(
                    &reply,
                    udp.then_some(usize::from(CLASSIC_UDP_PAYLOAD)),
                ));
            }
            Parsed::Drop => return Reply::default(),
        };
        let mut limit = udp.then(|| answer::udp_limit(&query));
        let Some(question) = query.queries.first() else {
            return Reply::default();
        };
        let origins = info
            .zones
            .iter()
            .filter_map(|&i| self.zones.get(i))
            .map(|z| &z.origin);
        let selected = answer::select_zone(origins, question.name(), question.query_type())
            .and_then(|i| info.zones.get(i))
            .and_then(|&i| self.zones.get(i));
        let Some(zone) = selected else {
            let refused = answer::error_response(&query, ResponseCode::Refused);
            return Reply::only(answer::encode(&refused, limit));
        };
        let state = zone.snapshot();
        let mut forged = None;
        let response: Message = match &state.fault {
            Fault::Drop => return Reply::default(),
            Fault::ServFail => answer::error_response(&query, ResponseCode::ServFail),
            Fault::Refused => answer::error_response(&query, ResponseCode::Refused),
            Fault::Garbage => return Reply::only(Some(garbage(query.metadata.id))),
            Fault::Slow(delay) => {
                tokio::time::sleep(*delay).await;
                answer::answer(&query, &state.zone)
            }
            Fault::FanOut(servers) => answer::fan_out(&query, &state.zone, *servers)
                .unwrap_or_else(|| answer::answer(&query, &state.zone)),
            Fault::GluelessLoop(servers) => answer::glueless_loop(&query, &state.zone, *servers)
                .unwrap_or_else(|| answer::answer(&query, &state.zone)),
            Fault::DeepReferral => answer::deep_referral(&query, &state.zone, info.addr)
                .unwrap_or_else(|| answer::answer(&query, &state.zone)),
            Fault::Poison => {
                let mut response = answer::answer(&query, &state.zone);
                answer::poison(&mut response);
                response
            }
            Fault::BrokenNodata(kind) => {
                let response = answer::answer(&query, &state.zone);
                match answer::broken_nodata(&query, response, *kind) {
                    Some(response) => response,
                    None => return Reply::default(),
                }
            }
            Fault::DnameWithoutCname => {
                let mut response = answer::answer(&query, &state.zone);
                answer::strip_synthesised_cname(&mut response);
                response
            }
            Fault::Oversize => {
                limit = None;
                answer::answer(&query, &state.zone)
            }
            fault @ (Fault::SpoofId | Fault::SpoofQuestion | Fault::SpoofSource) => {
                if udp {
                    forged = answer::forge(&query, fault)
                        .and_then(|m| answer::encode(&m, None))
                        .map(|bytes| Forged {
                            bytes,
                            other_port: matches!(fault, Fault::SpoofSource),
                        });
                }
                answer::answer(&query, &state.zone)
            }
            Fault::None
            | Fault::UnpublishedZsk
            | Fault::KskWithoutDs
            | Fault::ExpiredRrsigs
            | Fault::BadSignatures
            | Fault::KeyTrap
            | Fault::Nsec3Iterations(_)
            | Fault::CnameLoop
            | Fault::CnameChain(_) => answer::answer(&query, &state.zone),
        };
        Reply {
            answer: answer::encode(&response, limit),
            forged,
        }
    }
}

/// What the lab sends for one query.
#[derive(Default)]
struct Reply {
    answer: Option<Vec<u8>>,
    /// Sent first (spoofing faults, UDP only).
    forged: Option<Forged>,
}

impl Reply {
    fn only(answer: Option<Vec<u8>>) -> Self {
        Reply {
            answer,
            forged: None,
        }
    }
}

/// A forged answer and whether it leaves from another port of the address.
struct Forged {
    bytes: Vec<u8>,
    other_port: bool,
}

/// Random bytes that start with the query ID and cannot parse as a message
/// (QDCOUNT 65535 with far too few bytes behind it).
fn garbage(id: u16) -> Vec<u8> {
    let rng = SystemRandom::new();
    let mut len_byte = [0u8; 1];
    let _ = rng.fill(&mut len_byte);
    let len = GARBAGE_MIN_LEN + usize::from(u8::from_ne_bytes(len_byte)) % GARBAGE_SPREAD;
    let mut bytes = vec![0u8; len];
    let _ = rng.fill(&mut bytes);
    let [hi, lo] = id.to_be_bytes();
    for (i, b) in [hi, lo, 0x84, 0x00, 0xff, 0xff].into_iter().enumerate() {
        if let Some(slot) = bytes.get_mut(i) {
            *slot = b;
        }
    }
    bytes
}

struct Bound {
    udp: Vec<(usize, UdpSocket)>,
    tcp: Vec<(usize, TcpListener)>,
    port: u16,
}

/// Bind every address on `port` (0: find a port free on all of them).
async fn bind_all(addrs: &[IpAddr], port: u16) -> Result<Bound, LabError> {
    if port != 0 {
        return bind_on(addrs, port, None).await;
    }
    for _ in 0..MAX_PORT_ATTEMPTS {
        let first = SocketAddr::new(IpAddr::V4(ROOT_SERVER), 0);
        let socket = UdpSocket::bind(first)
            .await
            .map_err(|source| LabError::Bind {
                proto: "udp",
                addr: first,
                source,
            })?;
        let port = socket
            .local_addr()
            .map(|a| a.port())
            .map_err(|source| LabError::Bind {
                proto: "udp",
                addr: first,
                source,
            })?;
        if let Ok(bound) = bind_on(addrs, port, Some(socket)).await {
            return Ok(bound);
        }
    }
    Err(LabError::NoFreePort {
        attempts: MAX_PORT_ATTEMPTS,
    })
}

async fn bind_on(
    addrs: &[IpAddr],
    port: u16,
    mut root_udp: Option<UdpSocket>,
) -> Result<Bound, LabError> {
    let mut bound = Bound {
        udp: Vec::new(),
        tcp: Vec::new(),
        port,
    };
    for (i, ip) in addrs.iter().enumerate() {
        let addr = SocketAddr::new(*ip, port);
        let udp = match root_udp.take_if(|s| s.local_addr().is_ok_and(|a| a == addr)) {
            Some(socket) => socket,
            None => UdpSocket::bind(addr)
                .await
                .map_err(|source| LabError::Bind {
                    proto: "udp",
                    addr,
                    source,
                })?,
        };
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|source| LabError::Bind {
                proto: "tcp",
                addr,
                source,
            })?;
        bound.udp.push((i, udp));
        bound.tcp.push((i, tcp));
    }
    Ok(bound)
}

/// The server addresses of `zones` and what each serves, unbound.
pub(crate) fn shared(zones: Vec<LabZone>) -> Arc<Shared> {
    let addrs = addresses(&zones);
    let servers = servers_of(&zones, &addrs);
    Arc::new(Shared { zones, servers })
}

fn addresses(zones: &[LabZone]) -> Vec<IpAddr> {
    zones
        .iter()
        .map(|z| z.server)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn servers_of(zones: &[LabZone], addrs: &[IpAddr]) -> Vec<ServerInfo> {
    addrs
        .iter()
        .map(|addr| ServerInfo {
            addr: *addr,
            zones: (0..zones.len())
                .filter(|&i| zones.get(i).is_some_and(|z| z.server == *addr))
                .collect(),
            queries: AtomicU64::new(0),
        })
        .collect()
}

/// Bind and spawn the servers for `zones`.
pub(crate) async fn start(
    zones: Vec<LabZone>,
    port: u16,
) -> Result<(Arc<Shared>, u16, Vec<JoinHandle<()>>), LabError> {
    let addrs = addresses(&zones);
    let servers = servers_of(&zones, &addrs);
    let bound = bind_all(&addrs, port).await?;
    let shared = Arc::new(Shared { zones, servers });
    let mut tasks = Vec::new();
    for (server, socket) in bound.udp {
        tasks.push(tokio::spawn(serve_udp(Arc::clone(&shared), server, socket)));
    }
    for (server, listener) in bound.tcp {
        tasks.push(tokio::spawn(serve_tcp(
            Arc::clone(&shared),
            server,
            listener,
        )));
    }
    Ok((shared, bound.port, tasks))
}

/// Answer datagrams; each query runs in its own task (slow faults must not
/// hold up others). Aborting this task aborts them all (the JoinSet drops).
async fn serve_udp(shared: Arc<Shared>, server: usize, socket: UdpSocket) {
    // Another port on the same address, for `spoof-source` forgeries.
    let stray = match socket.local_addr() {
        Ok(addr) => UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).await.ok(),
        Err(_) => None,
    }
    .map(Arc::new);
    let socket = Arc::new(socket);
    let mut inflight = JoinSet::new();
    let mut buf = vec![0u8; MAX_MESSAGE_SIZE];
    loop {
        while inflight.try_join_next().is_some() {}
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!(%error, "lab: udp receive failed");
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let bytes = buf.get(..len).map(<[u8]>::to_vec).unwrap_or_default();
        let shared = Arc::clone(&shared);
        let socket = Arc::clone(&socket);
        let stray = stray.clone();
        inflight.spawn(async move {
            let reply = shared.handle_with_forgery(server, &bytes, true).await;
            if let Some(forged) = reply.forged {
                let from = match (&stray, forged.other_port) {
                    (Some(stray), true) => stray,
                    _ => &socket,
                };
                let _ = from.send_to(&forged.bytes, peer).await;
            }
            if let Some(answer) = reply.answer {
                let _ = socket.send_to(&answer, peer).await;
            }
        });
    }
}

async fn serve_tcp(shared: Arc<Shared>, server: usize, listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::debug!(%error, "lab: tcp accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if connections.len() >= MAX_TCP_CONNECTIONS {
            continue; // dropping the stream closes it
        }
        let shared = Arc::clone(&shared);
        connections.spawn(async move { serve_connection(&shared, server, stream).await });
    }
}

/// Length-framed queries on one connection, answered in order, until the
/// peer closes or stays idle for [`TCP_IDLE`].
async fn serve_connection(shared: &Shared, server: usize, mut stream: TcpStream) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut bytes = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut bytes)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(reply) = shared.handle(server, &bytes, false).await else {
            continue;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
