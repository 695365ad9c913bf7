//! The client-facing front end: UDP and TCP listeners, per-query parsing,
//! EDNS, truncation and the ACL.
//!
//! Bytes from a client go through the ACL, then, for a query of the common
//! shape, a template lookup ([`wire::plain_query`], nothing parsed), else
//! [`wire::parse_request`] (pure) and a [`QueryHandler`] (the resolver);
//! the [`Answer`] goes back through [`wire::encode_response`]. Only this
//! module touches client sockets. Each UDP socket is drained by an OS
//! thread of its own (`udp.rs`), which answers cache hits without the async
//! runtime; TCP and every query that needs the resolver run on it. Nothing
//! a client sends can panic: parsing is bounds-checked and
//! every error becomes FORMERR, REFUSED or a dropped message with a metric.
//!
//! Bounds: UDP queries in progress share one budget of
//! [`limits::MAX_IN_FLIGHT_CLIENT_QUERIES`] (past it: SERVFAIL + EDE 14);
//! TCP connections share `max_tcp_clients` (sized from the descriptor
//! limit, `rlimit`), at most `max_tcp_clients_per_ip` per client address,
//! and each answers up to [`limits::MAX_TCP_QUERIES_PER_CONNECTION`]
//! pipelined queries at once, out of order; they are not counted against
//! the UDP budget.

mod acl;
mod batch;
pub mod chaos;
mod tcp;
pub mod templates;
mod udp;
pub mod wire;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::DNSClass;
use prometheus::{Histogram, IntCounter};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinError, JoinSet};
use tracing::{Instrument, debug, debug_span, trace, warn};

pub use acl::Acl;
pub use chaos::ServerIdentity;
pub use wire::{
    DropReason, EdnsInfo, Parsed, PlainQuery, RequestInfo, encode_response, parse_request,
    udp_limit,
};

use crate::ede::{Ede, EdeCode};
use crate::limits;
use crate::metrics::Metrics;
use crate::query::{Answer, CacheState, ClientQuery, QueryHandler, Tier};
use templates::{AnswerTemplates, TemplateKey};

/// Where and for whom to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Each address gets a UDP socket and a TCP listener on the same port.
    pub listen: Vec<SocketAddr>,
    pub acl: Acl,
    /// Concurrent TCP connections, over all listeners.
    pub max_tcp_clients: usize,
    /// Concurrent TCP connections from one client address.
    pub max_tcp_clients_per_ip: usize,
    /// A TCP connection with no complete query for this long is closed
    /// (sooner while more than half of `max_tcp_clients` are in use).
    pub tcp_idle_timeout: Duration,
    /// CHAOS `id.server`/`version.bind` answers and the NSID (none by
    /// default).
    pub identity: ServerIdentity,
}

impl ServerConfig {
    /// The private-network ACL and the bounds of `limits.rs`
    /// ([`limits::MAX_TCP_CLIENTS`] or less, as the descriptor limit
    /// allows; [`limits::MAX_TCP_CLIENTS_PER_IP`],
    /// [`limits::TCP_IDLE_TIMEOUT`]).
    pub fn new(listen: Vec<SocketAddr>) -> Self {
        Self {
            listen,
            acl: Acl::private_default(),
            max_tcp_clients: crate::rlimit::descriptors().tcp_clients,
            max_tcp_clients_per_ip: limits::MAX_TCP_CLIENTS_PER_IP,
            tcp_idle_timeout: limits::TCP_IDLE_TIMEOUT,
            identity: ServerIdentity::default(),
        }
    }
}

/// Errors starting the server (all at bind time; serving never fails).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("no listen address configured")]
    NoListenAddress,
    #[error("binding UDP {addr}: {source}")]
    BindUdp { addr: SocketAddr, source: io::Error },
    #[error("binding TCP {addr} after {attempts} attempt(s): {source}")]
    BindTcp {
        addr: SocketAddr,
        attempts: usize,
        source: io::Error,
    },
    #[error("reading the local address bound for {addr}: {source}")]
    LocalAddr { addr: SocketAddr, source: io::Error },
    #[error("starting the UDP receive thread for {addr}: {source}")]
    UdpThread { addr: SocketAddr, source: io::Error },
}

/// Bound sockets, not yet serving.
#[derive(Debug)]
pub struct Server<H> {
    listeners: Vec<Listener>,
    shared: Arc<Shared<H>>,
    max_tcp_clients: usize,
    max_tcp_clients_per_ip: usize,
    tcp_idle_timeout: Duration,
}

#[derive(Debug)]
struct Listener {
    addr: SocketAddr,
    /// One socket per core, all on `addr` (SO_REUSEPORT), each to be
    /// drained by a thread of its own (`udp.rs`).
    udp: Vec<UdpSocket>,
    tcp: TcpListener,
}

impl<H: QueryHandler> Server<H> {
    /// Bind UDP and TCP on every listen address. Port 0 means an OS-chosen
    /// port, the same for UDP and TCP of one address: UDP binds first, TCP
    /// takes its port, retried up to [`limits::SERVER_BIND_ATTEMPTS`] times
    /// if another program holds that TCP port.
    pub async fn bind(
        config: ServerConfig,
        handler: Arc<H>,
        metrics: Metrics,
    ) -> Result<Server<H>, ServerError> {
        if config.listen.is_empty() {
            return Err(ServerError::NoListenAddress);
        }
        let sockets = udp_sockets_per_address();
        let mut listeners = Vec::with_capacity(config.listen.len());
        for addr in &config.listen {
            listeners.push(bind_pair(*addr, sockets).await?);
        }
        let shared = Shared::new(handler, metrics, config.acl, config.identity);
        Ok(Self {
            listeners,
            shared: Arc::new(shared),
            max_tcp_clients: config.max_tcp_clients,
            max_tcp_clients_per_ip: config.max_tcp_clients_per_ip,
            tcp_idle_timeout: config.tcp_idle_timeout,
        })
    }

    /// The bound addresses (port 0 resolved), in `listen` order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.addr).collect()
    }

    /// Start serving: a receive thread per UDP socket (`udp.rs`), TCP and
    /// resolved queries on the current tokio runtime (called outside one,
    /// it panics, as `tokio::spawn` does). Runs until the handle is shut
    /// down or dropped. Fails only if a thread cannot be started.
    pub fn start(self) -> Result<ServerHandle, ServerError> {
        let addrs = self.local_addrs();
        let runtime = tokio::runtime::Handle::current();
        let (shutdown, watch_rx) = watch::channel(false);
        // One budget of TCP connections for all listeners.
        let max_clients = self.max_tcp_clients.clamp(1, Semaphore::MAX_PERMITS);
        let tcp = Arc::new(tcp::Settings {
            clients: Arc::new(Semaphore::new(max_clients)),
            max_clients,
            per_ip: tcp::PerIp::new(self.max_tcp_clients_per_ip),
            idle_timeout: self.tcp_idle_timeout,
        });
        let mut tasks = JoinSet::new();
        let mut udp = Vec::new();
        for listener in self.listeners {
            for socket in listener.udp {
                let name = format!("lastgood-udp-{}", udp.len());
                let worker =
                    udp::Worker::spawn(socket, Arc::clone(&self.shared), runtime.clone(), name)
                        .map_err(|source| ServerError::UdpThread {
                            addr: listener.addr,
                            source,
                        })?;
                udp.push(worker);
            }
            tasks.spawn(tcp::serve(
                listener.tcp,
                Arc::clone(&self.shared),
                Arc::clone(&tcp),
                watch_rx.clone(),
            ));
        }
        debug!(?addrs, "server started");
        Ok(ServerHandle {
            addrs,
            shutdown,
            udp,
            tasks,
        })
    }
}

/// A running server. Dropping it stops the UDP threads and aborts every
/// task (TCP listeners and connections; queries in progress are aborted
/// as each thread ends); [`ServerHandle::shutdown`] waits for the threads
/// and listeners to stop.
#[derive(Debug)]
pub struct ServerHandle {
    addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    /// The UDP receive threads (stopped when dropped).
    udp: Vec<udp::Worker>,
    tasks: JoinSet<()>,
}

impl ServerHandle {
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Stop accepting, abort queries in progress, close sockets; returns
    /// when every UDP thread and listener task has ended.
    pub async fn shutdown(mut self) {
        // Receivers see either the new value or the sender gone: both stop.
        let _ = self.shutdown.send(true);
        for worker in &self.udp {
            worker.stop();
        }
        for worker in std::mem::take(&mut self.udp) {
            worker.stopped().await;
        }
        while let Some(done) = self.tasks.join_next().await {
            log_join(done);
        }
        debug!(addrs = ?self.addrs, "server stopped");
    }
}

/// What every listener task shares.
#[derive(Debug)]
struct Shared<H> {
    handler: Arc<H>,
    metrics: Metrics,
    acl: Acl,
    /// UDP queries being answered, over all sockets.
    in_flight: Arc<Semaphore>,
    /// Encoded fresh answers, reused for identical questions.
    templates: AnswerTemplates,
    /// Metric handles of the reuse path, looked up once.
    reused: ReuseMetrics,
    /// CHAOS answers and NSID.
    identity: ServerIdentity,
}

#[derive(Debug)]
struct ReuseMetrics {
    noerror: IntCounter,
    nxdomain: IntCounter,
    /// `lastgood_answers_total{tier="fresh",ede="none"}`.
    answers: IntCounter,
    latency: Histogram,
}

impl ReuseMetrics {
    fn new(metrics: &Metrics) -> Self {
        let fresh = Tier::Fresh.as_str();
        Self {
            noerror: metrics.queries.with_label_values(&["NOERROR", fresh]),
            nxdomain: metrics.queries.with_label_values(&["NXDOMAIN", fresh]),
            answers: metrics.answers.with_label_values(&[fresh, "none"]),
            latency: metrics.latency.with_label_values(&[fresh]),
        }
    }
}

/// What the messages of one receive batch share: the handler's state and
/// clock, read once when the batch starts, and the template hits, added to
/// the metrics once when it ends ([`Shared::batch`], [`Shared::finish`]).
/// A TCP message is a batch of one.
struct Batch {
    /// The handler's generation and time as the batch started.
    state: Option<CacheState>,
    started: Instant,
    /// Template answers given, by rcode (other rcodes are counted at once).
    hits: u64,
    noerror: u64,
    nxdomain: u64,
}

/// What a message needs after the checks that take no resolver.
enum Triage {
    /// Send this (or nothing).
    Done(Option<Vec<u8>>),
    /// Ask the handler.
    Resolve(ClientQuery, RequestInfo),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The most a response to `info` may take on this transport.
    fn limit(self, info: &RequestInfo) -> usize {
        self.limit_for(info.edns)
    }

    /// [`Transport::limit`] of a request with this OPT (or none).
    fn limit_for(self, edns: Option<EdnsInfo>) -> usize {
        match self {
            Transport::Udp => wire::udp_limit_for(edns),
            Transport::Tcp => limits::MAX_MESSAGE_SIZE,
        }
    }

    const fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

impl<H: QueryHandler> Shared<H> {
    fn new(handler: Arc<H>, metrics: Metrics, acl: Acl, identity: ServerIdentity) -> Self {
        Self {
            handler,
            identity,
            reused: ReuseMetrics::new(&metrics),
            metrics,
            acl,
            in_flight: Arc::new(Semaphore::new(limits::MAX_IN_FLIGHT_CLIENT_QUERIES)),
            templates: AnswerTemplates::default(),
        }
    }

    /// A batch starting now: the handler's state read once for all of its
    /// messages.
    fn batch(&self) -> Batch {
        Batch {
            state: self.handler.cache_state(),
            started: Instant::now(),
            hits: 0,
            noerror: 0,
            nxdomain: 0,
        }
    }

    /// Count the template answers of `batch`: each counter once, one slot
    /// of the history (the minute of the batch's time, the handler's
    /// clock: the system clock when serving), and one latency per answer,
    /// the batch's (from its start to now, before the replies are sent: a
    /// bound of each answer's own).
    fn finish(&self, batch: Batch) {
        if batch.hits == 0 {
            return;
        }
        self.metrics.cache_hits.inc_by(batch.hits);
        self.reused.answers.inc_by(batch.hits);
        if batch.noerror > 0 {
            self.reused.noerror.inc_by(batch.noerror);
        }
        if batch.nxdomain > 0 {
            self.reused.nxdomain.inc_by(batch.nxdomain);
        }
        let minute = batch
            .state
            .map_or_else(crate::metrics::history::unix_minute, |s| {
                s.now.as_millis() / 60_000
            });
        self.metrics.history.record(Tier::Fresh, minute, batch.hits);
        let latency = batch.started.elapsed().as_secs_f64();
        for _ in 0..batch.hits {
            self.reused.latency.observe(latency);
        }
    }

    /// [`Shared::triage`] of one message in a batch of its own.
    fn triage_one(&self, bytes: &[u8], peer: SocketAddr, transport: Transport) -> Triage {
        let mut batch = self.batch();
        let triage = self.triage(bytes, peer, transport, &mut batch);
        self.finish(batch);
        triage
    }

    /// Parse a message and answer it if that needs no resolver: drops,
    /// immediate replies, and questions with a reusable answer.
    fn triage(
        &self,
        bytes: &[u8],
        peer: SocketAddr,
        transport: Transport,
        batch: &mut Batch,
    ) -> Triage {
        let allowed = self.acl.allows(peer.ip());
        if !allowed && self.acl.drops_refused() {
            self.metrics.refused.inc();
            trace!(client = %peer, "refused by ACL, dropped");
            return Triage::Done(None);
        }
        // A query of the common shape meets its template before any
        // parsing; anything else, or a miss, is parsed in full.
        let plain = if allowed {
            wire::plain_query(bytes)
        } else {
            None
        };
        if let Some(plain) = plain
            && let Some(reply) = self.reuse(bytes, plain, transport, batch)
        {
            return Triage::Done(Some(reply));
        }
        match parse_request(bytes, &self.metrics) {
            Parsed::Drop(reason) => {
                trace!(client = %peer, reason = reason.as_str(), "message dropped");
                Triage::Done(None)
            }
            Parsed::Reply(reply) => {
                trace!(client = %peer, "immediate reply");
                Triage::Done(Some(reply))
            }
            Parsed::Query(query, info) if allowed && query.qclass == DNSClass::CH => {
                let started = Instant::now();
                let answer = chaos::answer(&query, &self.identity);
                self.record(&answer, started);
                Triage::Done(Some(self.encode(&info, &answer, transport)))
            }
            Parsed::Query(query, info) => {
                // Looked up above if it was plain (the same key).
                let reply = (allowed && plain.is_none())
                    .then(|| self.reuse(bytes, shape(&info), transport, batch))
                    .flatten();
                match reply {
                    Some(reply) => Triage::Done(Some(reply)),
                    None => Triage::Resolve(query, info),
                }
            }
        }
    }

    /// The reply from a template, if one is usable, counted in `batch`
    /// (only for a client the ACL allows: the caller checks).
    fn reuse(
        &self,
        bytes: &[u8],
        query: PlainQuery,
        transport: Transport,
        batch: &mut Batch,
    ) -> Option<Vec<u8>> {
        let state = batch.state?;
        let key = template_key(bytes, query, transport)?;
        let (reply, rcode) = self.templates.reply(&key, bytes, state)?;
        batch.hits += 1;
        match rcode {
            ResponseCode::NXDomain => batch.nxdomain += 1,
            ResponseCode::NoError => batch.noerror += 1,
            other => self
                .metrics
                .queries
                .with_label_values(&[wire::rcode_label(other), Tier::Fresh.as_str()])
                .inc(),
        }
        Some(reply)
    }

    async fn answer(
        &self,
        query: ClientQuery,
        info: RequestInfo,
        bytes: &[u8],
        peer: SocketAddr,
        transport: Transport,
    ) -> Vec<u8> {
        let span = debug_span!(
            "query",
            id = info.id,
            qname = %query.name,
            qtype = %query.qtype,
            client = %peer,
            transport = transport.as_str(),
        );
        async move {
            let started = Instant::now();
            // Taken before the answer: a change while resolving leaves the
            // template made from it unusable.
            let state = self.handler.cache_state();
            let allowed = self.acl.allows(peer.ip());
            let answer = if allowed {
                self.handler.answer(query).await
            } else {
                self.metrics.refused.inc();
                debug!("refused by ACL");
                Answer::error(
                    ResponseCode::Refused,
                    Tier::Local,
                    vec![Ede::new(EdeCode::Prohibited, "client not allowed")],
                )
            };
            let reply = self.encode(&info, &answer, transport);
            if let Some(state) = state
                && allowed
                && let Some(key) = template_key(bytes, shape(&info), transport)
            {
                self.templates.insert(&key, &reply, &answer, state);
            }
            self.record(&answer, started);
            trace!(rcode = %answer.rcode, tier = answer.tier.as_str(), size = reply.len(), "answered");
            reply
        }
        .instrument(span)
        .await
    }

    /// The response to `info` on `transport`, with our NSID if asked.
    fn encode(&self, info: &RequestInfo, answer: &Answer, transport: Transport) -> Vec<u8> {
        wire::encode_response_nsid(
            info,
            answer,
            transport.limit(info),
            self.identity.nsid.as_deref(),
        )
    }

    fn record(&self, answer: &Answer, started: Instant) {
        self.metrics
            .answered_with_ede(wire::rcode_label(answer.rcode), answer.tier, &answer.ede);
        self.metrics
            .latency
            .with_label_values(&[answer.tier.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// What shapes a template of a parsed request.
fn shape(info: &RequestInfo) -> PlainQuery {
    PlainQuery {
        recursion_desired: info.recursion_desired,
        checking_disabled: info.checking_disabled,
        edns: info.edns,
    }
}

/// The template key of a request on `transport`. None for a request
/// with an NSID option: a template holds no NSID, and one made from an
/// answer with our NSID must not serve a client that did not ask for it,
/// so such queries are answered in full (RFC 5001; issue 19).
fn template_key(bytes: &[u8], query: PlainQuery, transport: Transport) -> Option<TemplateKey> {
    if query.edns.is_some_and(|e| e.nsid) {
        return None;
    }
    TemplateKey::new(
        bytes,
        query.recursion_desired,
        query.checking_disabled,
        query.edns.map(|e| e.dnssec_ok),
        transport.limit_for(query.edns),
    )
}

/// UDP sockets (and receive threads) per listen address: one per core.
fn udp_sockets_per_address() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, limits::MAX_UDP_SOCKETS_PER_LISTEN_ADDRESS)
}

/// A UDP socket on `addr`, with SO_REUSEPORT if `shared` so that the
/// other sockets of the same listen address can bind it too (its receive
/// thread sets its mode and timeouts).
fn bind_udp(addr: SocketAddr, shared: bool) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if shared {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The UDP sockets of one listen address and the address they share:
/// `count` sockets with SO_REUSEPORT on a configured port; one socket on
/// an OS-chosen port (port 0), since the kernel may hand an ephemeral
/// port already held by another SO_REUSEPORT socket of ours to a socket
/// that asks with SO_REUSEPORT, and two servers would then share it.
fn bind_udp_group(
    addr: SocketAddr,
    count: usize,
) -> Result<(SocketAddr, Vec<UdpSocket>), ServerError> {
    let shared = addr.port() != 0 && count > 1;
    let first = bind_udp(addr, shared).map_err(|source| ServerError::BindUdp { addr, source })?;
    let local = first
        .local_addr()
        .map_err(|source| ServerError::LocalAddr { addr, source })?;
    let mut group = vec![first];
    if shared {
        for _ in 1..count {
            let socket = bind_udp(local, true).map_err(|source| ServerError::BindUdp {
                addr: local,
                source,
            })?;
            group.push(socket);
        }
    }
    Ok((local, group))
}

/// UDP then TCP on the port UDP got; see [`Server::bind`].
async fn bind_pair(addr: SocketAddr, sockets: usize) -> Result<Listener, ServerError> {
    let attempts = if addr.port() == 0 {
        limits::SERVER_BIND_ATTEMPTS
    } else {
        1
    };
    let mut attempt = 1;
    loop {
        let (local, udp) = bind_udp_group(addr, sockets)?;
        match TcpListener::bind(local).await {
            Ok(tcp) => {
                return Ok(Listener {
                    addr: local,
                    udp,
                    tcp,
                });
            }
            Err(source) if attempt >= attempts => {
                return Err(ServerError::BindTcp {
                    addr: local,
                    attempts,
                    source,
                });
            }
            Err(error) => {
                debug!(%local, %error, attempt, "TCP port taken, trying another");
                attempt += 1;
            }
        }
    }
}

/// Log how a finished task ended (a panic would be a bug: network input
/// never reaches one).
fn log_join(done: Result<(), JoinError>) {
    if let Err(error) = done
        && error.is_panic()
    {
        warn!(%error, "server task panicked");
    }
}
