//! Server front-end tests: real UDP and TCP sockets on 127.0.0.1, a fixed
//! handler in place of the resolver.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use lastgood_resolver::ede::{Ede, EdeCode};
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::query::{Answer, ClientQuery, QueryHandler, Tier};
use lastgood_resolver::server::{
    Acl, Parsed, Server, ServerConfig, ServerHandle, encode_response, parse_request,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// How long to wait for a reply that should come.
const REPLY_WAIT: Duration = Duration::from_secs(3);
/// How long to wait to be sure no reply comes.
const SILENCE_WAIT: Duration = Duration::from_millis(250);

/// What the fixed handler answers.
#[derive(Clone, Debug)]
enum Mode {
    /// One A record 192.0.2.1 for the query name.
    A,
    /// `n` A records (too big for UDP when `n` is large).
    Big(u8),
    /// SERVFAIL with one EDE.
    ServFail(Ede),
}

#[derive(Debug)]
struct Fixed {
    mode: Mode,
    calls: AtomicUsize,
}

impl Fixed {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode,
            calls: AtomicUsize::new(0),
        })
    }
}

fn a_records(name: &Name, n: u8) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let ip = Ipv4Addr::new(192, 0, 2, i.wrapping_add(1));
            Record::from_rdata(name.clone(), 300, RData::A(A(ip)))
        })
        .collect()
}

impl QueryHandler for Fixed {
    fn answer(&self, query: ClientQuery) -> impl Future<Output = Answer> + Send {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = match &self.mode {
            Mode::A | Mode::Big(_) => {
                let n = match self.mode {
                    Mode::Big(n) => n,
                    _ => 1,
                };
                Answer {
                    rcode: ResponseCode::NoError,
                    answers: a_records(&query.name, n),
                    authorities: Vec::new(),
                    additionals: Vec::new(),
                    authentic_data: false,
                    ede: Vec::new(),
                    tier: Tier::Fresh,
                    fresh_until: None,
                }
            }
            Mode::ServFail(ede) => Answer::servfail(vec![ede.clone()]),
        };
        async move { answer }
    }
}

struct Running {
    handle: ServerHandle,
    addr: SocketAddr,
    metrics: Metrics,
    handler: Arc<Fixed>,
}

async fn start_with(mode: Mode, configure: impl FnOnce(&mut ServerConfig)) -> Running {
    let mut config = ServerConfig::new(vec!["127.0.0.1:0".parse().unwrap()]);
    configure(&mut config);
    let metrics = Metrics::new().unwrap();
    let handler = Fixed::new(mode);
    let server = Server::bind(config, Arc::clone(&handler), metrics.clone())
        .await
        .unwrap();
    let bound = server.local_addrs();
    let handle = server.start().unwrap();
    assert_eq!(handle.local_addrs(), bound);
    let addr = bound[0];
    assert_ne!(addr.port(), 0);
    Running {
        handle,
        addr,
        metrics,
        handler,
    }
}

async fn start(mode: Mode) -> Running {
    start_with(mode, |_| {}).await
}

/// A query message; `edns` = Some((payload, version)) adds an OPT with DO.
fn query(id: u16, name: &str, edns: Option<(u16, u8)>) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    if let Some((payload, version)) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(payload);
        opt.set_version(version);
        opt.set_dnssec_ok(true);
        msg.set_edns(opt);
    }
    msg.to_vec().unwrap()
}

fn set_u16(mut bytes: Vec<u8>, at: usize, value: u16) -> Vec<u8> {
    bytes[at..at + 2].copy_from_slice(&value.to_be_bytes());
    bytes
}

/// Send one datagram; the reply, or `None` after `wait`.
async fn udp(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, addr).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    // An error (ICMP port unreachable after shutdown) counts as no reply.
    let (len, _) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    buf.truncate(len);
    Some(buf)
}

async fn udp_message(addr: SocketAddr, bytes: &[u8]) -> Message {
    let reply = udp(addr, bytes, REPLY_WAIT).await.expect("a UDP reply");
    Message::from_vec(&reply).unwrap()
}

async fn tcp_send(stream: &mut TcpStream, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap();
    stream.write_all(&len.to_be_bytes()).await.unwrap();
    stream.write_all(bytes).await.unwrap();
}

async fn tcp_read(stream: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    timeout(REPLY_WAIT, stream.read_exact(&mut len))
        .await
        .unwrap()
        .unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    timeout(REPLY_WAIT, stream.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    Message::from_vec(&buf).unwrap()
}

async fn tcp_message(addr: SocketAddr, bytes: &[u8]) -> Message {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    tcp_send(&mut stream, bytes).await;
    tcp_read(&mut stream).await
}

/// Whether the server closed the connection (EOF or reset) within the wait.
async fn closed(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        timeout(wait, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

fn edes(msg: &Message) -> Vec<(u16, String)> {
    let Some(edns) = &msg.edns else {
        return Vec::new();
    };
    edns.options()
        .as_ref()
        .iter()
        .filter_map(|(_, option)| match option {
            EdnsOption::Unknown(15, data) => Ede::decode(data),
            _ => None,
        })
        .collect()
}

fn count(metrics: &Metrics, rcode: &str, tier: &str) -> u64 {
    metrics.queries.with_label_values(&[rcode, tier]).get()
}

#[tokio::test]
async fn udp_and_tcp_answer() {
    let server = start(Mode::A).await;
    let bytes = query(0x4242, "WwW.ExAmPlE.", Some((1232, 0)));
    for msg in [
        udp_message(server.addr, &bytes).await,
        tcp_message(server.addr, &bytes).await,
    ] {
        let md = msg.metadata;
        assert_eq!(md.id, 0x4242);
        assert_eq!(md.message_type, MessageType::Response);
        assert!(md.recursion_desired && md.recursion_available && !md.truncation);
        assert_eq!(md.response_code, ResponseCode::NoError);
        assert_eq!(msg.queries[0].name.to_string(), "WwW.ExAmPlE.", "case kept");
        assert_eq!(msg.answers.len(), 1);
        assert_eq!(
            msg.answers[0].data,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))
        );
        let opt = msg.edns.as_ref().expect("OPT echoed");
        assert!(opt.flags().dnssec_ok);
        assert_eq!(opt.max_payload(), 1232);
    }
    assert_eq!(count(&server.metrics, "NOERROR", "fresh"), 2);
    let latency = server.metrics.latency.with_label_values(&["fresh"]);
    assert_eq!(latency.get_sample_count(), 2);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn malformed_messages() {
    let server = start(Mode::A).await;
    let addr = server.addr;
    let malformed = |reason: &str| server.metrics.malformed.with_label_values(&[reason]).get();

    // Too short for a header: nothing comes back, but it is counted.
    assert_eq!(udp(addr, &[0x12, 0x34, 0x01], SILENCE_WAIT).await, None);
    assert_eq!(malformed("short"), 1);
    // A response sent to us: dropped.
    let mut response = query(5, "a.example.", None);
    response[2] |= 0x80;
    assert_eq!(udp(addr, &response, SILENCE_WAIT).await, None);
    assert_eq!(malformed("response"), 1);

    let valid = query(0x0bad, "a.example.", None);
    let mut bad_label = valid.clone();
    bad_label[12] = 0x45; // a label length byte with the reserved 01 prefix
    let mut two_opts = query(0x0bad, "a.example.", Some((1232, 0)));
    let opt = two_opts[two_opts.len() - 11..].to_vec();
    two_opts.extend_from_slice(&opt);
    let two_opts = set_u16(two_opts, 10, 2);
    let cases = [
        ("bad label", bad_label),
        ("qdcount 0", set_u16(valid.clone(), 4, 0)),
        ("qdcount 2", set_u16(valid.clone(), 4, 2)),
        ("qdcount 65535", set_u16(valid.clone(), 4, 65_535)),
        ("two OPTs", two_opts),
    ];
    for (i, (label, bytes)) in cases.iter().enumerate() {
        let msg = udp_message(addr, bytes).await;
        assert_eq!(msg.metadata.id, 0x0bad, "{label}");
        assert_eq!(msg.metadata.response_code, ResponseCode::FormErr, "{label}");
        assert_eq!(malformed("formerr"), i as u64 + 1, "{label}");
    }

    let msg = udp_message(addr, &query(77, "a.example.", Some((1232, 1)))).await;
    assert_eq!(msg.metadata.id, 77);
    assert_eq!(u16::from(msg.metadata.response_code), 16, "BADVERS");
    assert_eq!(msg.edns.as_ref().map(Edns::version), Some(0));

    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
    assert_eq!(count(&server.metrics, "FORMERR", "local"), 5);
    assert_eq!(count(&server.metrics, "BADVERS", "local"), 1);
    // Still serving.
    let msg = udp_message(addr, &valid).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn udp_truncates_tcp_does_not() {
    let server = start(Mode::Big(120)).await;
    for edns in [None, Some((512, 0)), Some((4096, 0))] {
        let bytes = query(9, "big.example.", edns);
        let reply = udp(server.addr, &bytes, REPLY_WAIT).await.unwrap();
        assert!(reply.len() <= 1232, "{edns:?}: {} bytes", reply.len());
        let msg = Message::from_vec(&reply).unwrap();
        assert!(msg.metadata.truncation, "{edns:?}");
        assert!(msg.answers.is_empty());
        assert_eq!(msg.queries.len(), 1);
        assert_eq!(msg.edns.is_some(), edns.is_some());

        let msg = tcp_message(server.addr, &bytes).await;
        assert!(!msg.metadata.truncation, "{edns:?}");
        assert_eq!(msg.answers.len(), 120);
    }
    server.handle.shutdown().await;
}

#[tokio::test]
async fn servfail_carries_ede() {
    let ede = Ede::new(EdeCode::DnskeyMissing, "lab. key tag 1234");
    let server = start(Mode::ServFail(ede)).await;
    let msg = udp_message(server.addr, &query(3, "broken.lab.", Some((1232, 0)))).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
    assert!(!msg.metadata.authentic_data);
    assert_eq!(edes(&msg), vec![(9, "lab. key tag 1234".to_owned())]);
    // No OPT in the query: no OPT, so no EDE, in the reply.
    let msg = udp_message(server.addr, &query(4, "broken.lab.", None)).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
    assert!(msg.edns.is_none());
    assert_eq!(count(&server.metrics, "SERVFAIL", "servfail"), 2);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn acl_refuses_without_calling_handler() {
    let server = start_with(Mode::A, |config| {
        config.acl = Acl::new(vec!["192.0.2.0/24".parse().unwrap()]);
    })
    .await;
    let with_edns = query(11, "a.example.", Some((1232, 0)));
    for msg in [
        udp_message(server.addr, &with_edns).await,
        tcp_message(server.addr, &with_edns).await,
    ] {
        assert_eq!(msg.metadata.id, 11);
        assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
        assert!(msg.answers.is_empty());
        let codes: Vec<u16> = edes(&msg).into_iter().map(|(code, _)| code).collect();
        assert_eq!(codes, vec![18], "EDE Prohibited");
    }
    let msg = udp_message(server.addr, &query(12, "a.example.", None)).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
    assert!(msg.edns.is_none());

    assert_eq!(server.handler.calls.load(Ordering::SeqCst), 0);
    assert_eq!(server.metrics.refused.get(), 3);
    assert_eq!(count(&server.metrics, "REFUSED", "local"), 3);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn tcp_connection_lifecycle() {
    let server = start_with(Mode::A, |config| {
        config.tcp_idle_timeout = Duration::from_millis(300);
        config.max_tcp_clients = 1;
    })
    .await;
    let addr = server.addr;

    // Several queries on one connection, answered in order.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for id in 1..=3u16 {
        tcp_send(&mut stream, &query(id, "a.example.", None)).await;
    }
    for id in 1..=3u16 {
        assert_eq!(tcp_read(&mut stream).await.metadata.id, id);
    }
    // Only one client at a time: a second connection is closed at once.
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(closed(&mut second, REPLY_WAIT).await, "over the limit");
    let limit = server
        .metrics
        .limit_hits
        .with_label_values(&["MAX_TCP_CLIENTS"]);
    assert_eq!(limit.get(), 1);
    // Idle: the server closes the first connection.
    assert!(closed(&mut stream, REPLY_WAIT).await, "idle timeout");
    let idle = server
        .metrics
        .limit_hits
        .with_label_values(&["TCP_IDLE_TIMEOUT"]);
    assert_eq!(idle.get(), 1, "the idle close is counted");

    // A message shorter than a header closes the connection.
    let mut stream = connect_retry(addr).await;
    tcp_send(&mut stream, &[1, 2, 3, 4, 5]).await;
    assert!(closed(&mut stream, REPLY_WAIT).await, "short message");
    // So does a length prefix announcing more than ever arrives.
    let mut stream = connect_retry(addr).await;
    stream.write_all(&[0x01, 0x00, 0xab]).await.unwrap();
    assert!(closed(&mut stream, REPLY_WAIT).await, "cut message");
    server.handle.shutdown().await;
}

/// Issue 17: one client address holds at most `max_tcp_clients_per_ip`
/// connections; past it a new one is closed at once and counted, and a
/// closed connection gives its place back.
#[tokio::test]
async fn issue17_tcp_connections_capped_per_client_address() {
    let server = start_with(Mode::A, |config| {
        config.max_tcp_clients_per_ip = 2;
    })
    .await;
    let addr = server.addr;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    for (id, stream) in [(1u16, &mut first), (2, &mut second)] {
        tcp_send(stream, &query(id, "a.example.", None)).await;
        assert_eq!(tcp_read(stream).await.metadata.id, id);
    }
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed(&mut third, REPLY_WAIT).await,
        "over the per-address cap"
    );
    let hits = server
        .metrics
        .limit_hits
        .with_label_values(&["MAX_TCP_CLIENTS_PER_IP"]);
    assert_eq!(hits.get(), 1);
    // The others still work, and a closed one frees its place.
    tcp_send(&mut second, &query(3, "a.example.", None)).await;
    assert_eq!(tcp_read(&mut second).await.metadata.id, 3);
    drop(first);
    let _again = connect_retry(addr).await;
    server.handle.shutdown().await;
}

/// Issue 17: once more than half of the TCP slots are in use, a new
/// connection waiting for a query is closed after the short idle timeout
/// (Unbound's behaviour), not the configured one.
#[tokio::test]
async fn issue17_tcp_idle_timeout_shortened_under_pressure() {
    let server = start_with(Mode::A, |config| {
        config.max_tcp_clients = 4;
        config.tcp_idle_timeout = Duration::from_secs(600);
    })
    .await;
    let addr = server.addr;
    let mut first = TcpStream::connect(addr).await.unwrap();
    tcp_send(&mut first, &query(1, "a.example.", None)).await;
    assert_eq!(tcp_read(&mut first).await.metadata.id, 1);
    let mut second = TcpStream::connect(addr).await.unwrap();
    tcp_send(&mut second, &query(2, "a.example.", None)).await;
    assert_eq!(tcp_read(&mut second).await.metadata.id, 2);
    // Three of four slots: the third connection gets the short timeout.
    let mut third = TcpStream::connect(addr).await.unwrap();
    assert!(closed(&mut third, REPLY_WAIT).await, "idle under pressure");
    let idle = server
        .metrics
        .limit_hits
        .with_label_values(&["TCP_IDLE_TIMEOUT"]);
    assert_eq!(idle.get(), 1);
    server.handle.shutdown().await;
}

/// Connect once the previous connection's slot is free again.
async fn connect_retry(addr: SocketAddr) -> TcpStream {
    for _ in 0..50 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        tcp_send(&mut stream, &query(1, "probe.example.", None)).await;
        let mut len = [0u8; 2];
        if let Ok(Ok(_)) = timeout(SILENCE_WAIT, stream.read_exact(&mut len)).await {
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut buf).await.unwrap();
            return stream;
        }
    }
    panic!("no TCP slot came free");
}

/// Random bytes and mutated queries: parsing never panics, the encoder
/// never panics on what parses, and the server keeps answering.
#[tokio::test]
async fn random_input_never_breaks_the_server() {
    let server = start(Mode::A).await;
    let mut rng = StdRng::seed_from_u64(0x1a57_600d);
    let metrics = Metrics::new().unwrap();
    let templates = [
        query(1, "a.example.", None),
        query(2, "WwW.ExAmPlE.CoM.", Some((1232, 0))),
    ];
    let answer = Answer::servfail(vec![Ede::new(EdeCode::Other, "x")]);
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut queries = 0;
    for i in 0..10_000u32 {
        let bytes = if i % 2 == 0 {
            let mut bytes = vec![0u8; rng.random_range(0..600usize)];
            rng.fill(&mut bytes[..]);
            bytes
        } else {
            let mut bytes = templates[(i as usize / 2) % 2].clone();
            for _ in 0..rng.random_range(1..6u32) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            if rng.random_bool(0.25) {
                let keep = rng.random_range(0..=bytes.len());
                bytes.truncate(keep);
            }
            bytes
        };
        if let Parsed::Query(_, info) = parse_request(&bytes, &metrics) {
            queries += 1;
            let _ = encode_response(&info, &answer, 512);
        }
        if i % 10 == 0 {
            // Over the wire too (some may be lost to buffer pressure).
            let _ = client.send_to(&bytes, server.addr).await;
            // Let the server (same runtime thread) drain its socket.
            tokio::task::yield_now().await;
        }
    }
    assert!(
        queries > 500,
        "mutations should still parse sometimes: {queries}"
    );
    // UDP is lossy under a burst: a few tries, one reply needed.
    let mut reply = None;
    for _ in 0..5 {
        reply = udp(server.addr, &templates[0], Duration::from_secs(1)).await;
        if reply.is_some() {
            break;
        }
    }
    let msg = Message::from_vec(&reply.expect("a UDP reply after the burst")).unwrap();
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    let msg = tcp_message(server.addr, &templates[1]).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    server.handle.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sockets() {
    let server = start(Mode::A).await;
    let addr = server.addr;
    assert!(
        udp(addr, &query(1, "a.example.", None), REPLY_WAIT)
            .await
            .is_some()
    );
    server.handle.shutdown().await;
    assert_eq!(
        udp(addr, &query(2, "a.example.", None), SILENCE_WAIT).await,
        None
    );
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bind_errors() {
    let metrics = Metrics::new().unwrap();
    let empty = Server::bind(
        ServerConfig::new(Vec::new()),
        Fixed::new(Mode::A),
        metrics.clone(),
    )
    .await;
    assert!(matches!(
        empty,
        Err(lastgood_resolver::server::ServerError::NoListenAddress)
    ));
    // A fixed port already held by another server.
    let first = start(Mode::A).await;
    let taken = ServerConfig::new(vec![first.addr]);
    let err = Server::bind(taken, Fixed::new(Mode::A), metrics)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&first.addr.to_string()), "{err}");
    first.handle.shutdown().await;
}
