//! Queries to authoritative servers. One question gets one UDP socket
//! (OS-random source port) and one random ID; tries go to the zone's
//! servers in turn with growing waits, and an answer from any server
//! already asked is accepted (a late answer is still the answer). Answers
//! are checked against the ID, the set of servers asked and the question;
//! a truncated answer is fetched again over TCP.
//!
//! # The pool
//!
//! Every socket comes from one [`Pool`]: a budget of descriptors sized
//! from the open-file limit (`rlimit::split`, at most
//! [`limits::MAX_UPSTREAM_SOCKETS`]) and a free list of receive buffers.
//! A question holds one permit for its UDP socket and, while it refetches
//! over TCP, a second one; a question that finds the pool empty fails at
//! once with [`UpstreamError::Exhausted`] (logged once, counted as
//! `MAX_UPSTREAM_SOCKETS` in `lastgood_limit_hits_total`), a TCP refetch
//! waits for a permit within its deadline. Receive buffers are
//! `EDNS_UDP_PAYLOAD` + 1 bytes, enough for the answer we asked for and
//! to tell a larger one, not 64 KiB, and go back to the pool's free list
//! (at most [`limits::UPSTREAM_BUFFERS_KEPT`]) when the question ends.
//!
//! Sockets are per question, not shared: a socket bound once to a random
//! port and reused for many questions would show its port to anyone who
//! sees one of its queries, leaving only the 16-bit ID to guess for the
//! next ones (RFC 5452 §9.2 asks for the port to be unpredictable per
//! query). This is Unbound's model too (`outgoing-range` sockets, each
//! query a fresh random port); the bound on descriptors comes from the
//! permits, not from sharing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::limits;
use crate::resolve::outcome::UpstreamOutcome;

/// Why one upstream exchange failed; decides the next step (next server,
/// then stale, then SERVFAIL with the mapped EDE).
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("timeout after {0:?}")]
    Timeout(Duration),
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    #[error("response did not parse: {0}")]
    Malformed(String),
    #[error("encoding the query failed: {0}")]
    Encode(String),
    #[error("TCP response longer than {} bytes", limits::MAX_MESSAGE_SIZE)]
    TooLong,
    /// The socket pool is empty: `limit` (its size `value`) reached.
    #[error("{limit} ({value}) reached: no upstream socket free")]
    Exhausted {
        limit: crate::limits::Limit,
        value: u64,
    },
}

impl UpstreamError {
    /// What this failure was, for the metric and the zone's evidence.
    pub fn outcome(&self) -> UpstreamOutcome {
        match self {
            UpstreamError::Timeout(_) => UpstreamOutcome::Timeout,
            UpstreamError::Io(_) | UpstreamError::TooLong | UpstreamError::Encode(_) => {
                UpstreamOutcome::NetworkError
            }
            UpstreamError::Malformed(_) => UpstreamOutcome::Malformed,
            UpstreamError::Exhausted { .. } => UpstreamOutcome::PoolExhausted,
        }
    }
}

/// Build the query message sent upstream: RD clear, EDNS with DO.
pub fn build_query(id: u16, name: &Name, qtype: RecordType) -> Message {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    // We validate ourselves, so ask authorities for everything they have.
    msg.metadata.checking_disabled = true;
    let mut q = Query::query(name.clone(), qtype);
    q.set_query_class(DNSClass::IN);
    msg.add_query(q);
    let mut edns = Edns::new();
    edns.set_max_payload(limits::EDNS_UDP_PAYLOAD);
    edns.set_dnssec_ok(true);
    msg.set_edns(edns);
    msg
}

/// Whether `resp` answers `query`: same ID, a response, same question
/// (hickory's `Name` equality ignores ASCII case, so 0x20 is safe).
pub fn matches(query: &Message, resp: &Message) -> bool {
    if resp.metadata.id != query.metadata.id || resp.metadata.message_type != MessageType::Response
    {
        return false;
    }
    match (query.queries.first(), resp.queries.first()) {
        (Some(q), Some(r)) => {
            resp.queries.len() == 1
                && q.query_type() == r.query_type()
                && q.query_class() == r.query_class()
                && q.name() == r.name()
        }
        _ => false,
    }
}

/// What arrived for an outstanding question.
#[derive(Debug)]
pub enum Arrival {
    /// A parsed answer from `from`.
    Answer { from: SocketAddr, message: Message },
    /// `from` answered, but over UDP the answer cannot be used: truncated,
    /// or (`oversized`) larger than the payload we advertised. The
    /// iterator asks for it again over TCP (`Question::refetch`).
    Truncated { from: SocketAddr, oversized: bool },
    /// `from` sent something for our ID that is unusable.
    Failed {
        from: SocketAddr,
        error: UpstreamError,
    },
    /// The wait ended with nothing usable.
    Timeout,
}

/// Receive buffer size: the payload we advertise, and one byte more to
/// tell an answer larger than that (which is refetched over TCP).
const RECV_BUFFER: usize = limits::EDNS_UDP_PAYLOAD as usize + 1;

/// The upstream descriptor budget and the receive buffers; see the
/// module doc. Shared by every question of a resolver.
#[derive(Debug)]
pub struct Pool {
    permits: Arc<Semaphore>,
    size: usize,
    buffers: Mutex<Vec<Box<[u8]>>>,
    /// Whether exhaustion was logged at warn already (once per pool).
    warned: AtomicBool,
}

impl Pool {
    /// A pool of `size` descriptors (at least one).
    pub fn new(size: usize) -> Arc<Self> {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(size)),
            size,
            buffers: Mutex::new(Vec::new()),
            warned: AtomicBool::new(false),
        })
    }

    /// A pool sized from the process's descriptor limit (raised first).
    pub fn from_descriptor_limit() -> Arc<Self> {
        Self::new(crate::rlimit::descriptors().upstream_sockets)
    }

    /// Descriptors this pool may hold at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Descriptors held now.
    pub fn in_use(&self) -> usize {
        self.size.saturating_sub(self.permits.available_permits())
    }

    /// Receive buffers kept for reuse.
    pub fn buffers_kept(&self) -> usize {
        self.buffers.lock().map_or(0, |b| b.len())
    }

    /// A new question (RD clear), on a socket of this pool.
    pub async fn exchange(
        self: &Arc<Self>,
        name: &Name,
        qtype: RecordType,
        ipv6: bool,
    ) -> Result<Exchange, UpstreamError> {
        self.exchange_with_recursion(name, qtype, ipv6, false).await
    }

    /// As [`Pool::exchange`], with RD set when `recursion_desired`
    /// (questions to a `forward-zone`'s recursive servers). Fails at once
    /// with [`UpstreamError::Exhausted`] when no descriptor is free.
    pub async fn exchange_with_recursion(
        self: &Arc<Self>,
        name: &Name,
        qtype: RecordType,
        ipv6: bool,
        recursion_desired: bool,
    ) -> Result<Exchange, UpstreamError> {
        let permit = self.try_permit()?;
        let mut query = build_query(rand::random(), name, qtype);
        query.metadata.recursion_desired = recursion_desired;
        let bytes = query
            .to_vec()
            .map_err(|e| UpstreamError::Encode(e.to_string()))?;
        let bind: SocketAddr = if ipv6 {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        };
        let sock = UdpSocket::bind(bind).await?;
        Ok(Exchange {
            sock,
            query,
            bytes,
            asked: Vec::new(),
            buf: Some(self.take_buffer()),
            pool: Arc::clone(self),
            _permit: permit,
        })
    }

    fn try_permit(&self) -> Result<OwnedSemaphorePermit, UpstreamError> {
        Arc::clone(&self.permits).try_acquire_owned().map_err(|_| {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    size = self.size,
                    "upstream socket pool exhausted (MAX_UPSTREAM_SOCKETS or the open-file limit); \
                     new questions fail until sockets are free (logged once)"
                );
            }
            UpstreamError::Exhausted {
                limit: crate::limits::Limit::MaxUpstreamSockets,
                value: self.size as u64,
            }
        })
    }

    fn take_buffer(&self) -> Box<[u8]> {
        self.buffers
            .lock()
            .ok()
            .and_then(|mut b| b.pop())
            .unwrap_or_else(|| vec![0u8; RECV_BUFFER].into_boxed_slice())
    }

    fn return_buffer(&self, buf: Box<[u8]>) {
        if let Ok(mut kept) = self.buffers.lock()
            && kept.len() < limits::UPSTREAM_BUFFERS_KEPT
        {
            kept.push(buf);
        }
    }
}

/// One outstanding question: a socket, an ID, the servers asked so far.
/// Holds one descriptor of its [`Pool`] until dropped.
pub struct Exchange {
    sock: UdpSocket,
    query: Message,
    bytes: Vec<u8>,
    asked: Vec<SocketAddr>,
    /// Receive buffer from the pool, returned on drop.
    buf: Option<Box<[u8]>>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            self.pool.return_buffer(buf);
        }
    }
}

impl Exchange {
    /// Send (or retransmit) the question to `server`.
    pub async fn send(&mut self, server: SocketAddr) -> Result<(), UpstreamError> {
        self.sock.send_to(&self.bytes, server).await?;
        if !self.asked.contains(&server) {
            self.asked.push(server);
        }
        Ok(())
    }

    /// Wait until `deadline` for an answer from any server asked.
    /// Datagrams from elsewhere, or with another ID or question, are
    /// ignored and reported through `spoof_ignored`.
    pub async fn recv_until(
        &mut self,
        deadline: Instant,
        spoof_ignored: &(dyn Fn() + Sync),
    ) -> Arrival {
        let mut buf = self.buf.take().unwrap_or_else(|| self.pool.take_buffer());
        let arrival = self.recv_into(&mut buf, deadline, spoof_ignored).await;
        self.buf = Some(buf);
        arrival
    }

    async fn recv_into(
        &self,
        buf: &mut [u8],
        deadline: Instant,
        spoof_ignored: &(dyn Fn() + Sync),
    ) -> Arrival {
        loop {
            let got = match tokio::time::timeout_at(deadline, self.sock.recv_from(buf)).await {
                Err(_) => return Arrival::Timeout,
                Ok(got) => got,
            };
            let (n, from) = match got {
                Ok(got) => got,
                // ICMP unreachable surfaces as an error on some systems;
                // keep waiting for the other servers.
                Err(_) => continue,
            };
            let Some(data) = buf.get(..n) else { continue };
            match read_datagram(&self.query, &self.asked, from, data) {
                Datagram::Answer(message) => return Arrival::Answer { from, message },
                Datagram::Refetch { oversized } => return Arrival::Truncated { from, oversized },
                Datagram::Failed(error) => return Arrival::Failed { from, error },
                Datagram::Ignored => spoof_ignored(),
            }
        }
    }

    /// Fetch the answer from `from` again over TCP, giving up at `until`
    /// (the descriptor for it is waited for within it too).
    pub async fn refetch(&self, from: SocketAddr, until: Instant) -> Arrival {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout_at(until, self.tcp(from)).await {
            Ok(Ok(message)) => Arrival::Answer { from, message },
            Ok(Err(error)) => Arrival::Failed { from, error },
            Err(_) => Arrival::Failed {
                from,
                error: UpstreamError::Timeout(left),
            },
        }
    }

    async fn tcp(&self, server: SocketAddr) -> Result<Message, UpstreamError> {
        // The connection's descriptor comes from the pool too.
        let _permit = Arc::clone(&self.pool.permits)
            .acquire_owned()
            .await
            .map_err(|_| UpstreamError::Exhausted {
                limit: crate::limits::Limit::MaxUpstreamSockets,
                value: self.pool.size as u64,
            })?;
        let mut stream = TcpStream::connect(server).await?;
        let len = u16::try_from(self.bytes.len()).map_err(|_| UpstreamError::TooLong)?;
        let mut framed = Vec::with_capacity(self.bytes.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&self.bytes);
        stream.write_all(&framed).await?;
        let mut len_buf = [0u8; 2];
        stream.read_exact(&mut len_buf).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len_buf))];
        stream.read_exact(&mut buf).await?;
        let resp = Message::from_vec(&buf).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
        if matches(&self.query, &resp) {
            Ok(resp)
        } else {
            Err(UpstreamError::Malformed(
                "TCP answer does not match the question".into(),
            ))
        }
    }
}

/// What one datagram is to an outstanding question.
#[derive(Debug)]
pub enum Datagram {
    /// The answer (neither truncated nor oversized).
    Answer(Message),
    /// Ours, but to be fetched again over TCP: truncated, or (`oversized`)
    /// larger than the payload we advertised.
    Refetch { oversized: bool },
    /// Ours (our ID, from a server asked) and unusable.
    Failed(UpstreamError),
    /// Not for this question (another source, ID or question).
    Ignored,
}

/// Read one datagram `data` from `from` for the question `query` sent to
/// `asked`. Pure: every transport checks answers the same way.
pub fn read_datagram(
    query: &Message,
    asked: &[SocketAddr],
    from: SocketAddr,
    data: &[u8],
) -> Datagram {
    if !asked.contains(&from) {
        return Datagram::Ignored;
    }
    // Larger than the payload we advertised (`EDNS_UDP_PAYLOAD`): it would
    // arrive fragmented on a real network, where a forged fragment carries
    // no ID or port to check, so it is not used but fetched again over TCP
    // like a truncated one. Only its head may have been read; it must
    // still be ours.
    if data.len() > usize::from(limits::EDNS_UDP_PAYLOAD) {
        if head_matches(query, data) {
            return Datagram::Refetch { oversized: true };
        }
        return Datagram::Ignored;
    }
    match Message::from_vec(data) {
        Ok(resp) if matches(query, &resp) => {
            if resp.metadata.truncation {
                Datagram::Refetch { oversized: false }
            } else {
                Datagram::Answer(resp)
            }
        }
        Ok(_) => Datagram::Ignored,
        // Unparseable but carrying our ID: this server's answer, and it is garbage.
        Err(e) if data.get(..2) == Some(&query.metadata.id.to_be_bytes()[..]) => {
            Datagram::Failed(UpstreamError::Malformed(e.to_string()))
        }
        Err(_) => Datagram::Ignored,
    }
}

/// Whether the head of a datagram (header and question, the rest maybe
/// cut off by our buffer) answers `query`.
fn head_matches(query: &Message, data: &[u8]) -> bool {
    let mut decoder = BinDecoder::new(data);
    let (Ok(header), Ok(question)) = (Header::read(&mut decoder), Query::read(&mut decoder)) else {
        return false;
    };
    if header.counts.queries != 1 {
        return false;
    }
    let mut head = Message::new(
        header.metadata.id,
        header.metadata.message_type,
        header.metadata.op_code,
    );
    head.add_query(question);
    matches(query, &head)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::str::FromStr;

    use super::*;

    #[test]
    fn matching_is_case_insensitive_and_checks_id() {
        let name = Name::from_str("www.Example.LAB.").unwrap();
        let q = build_query(7, &name, RecordType::A);
        let mut r = build_query(
            7,
            &Name::from_str("WWW.example.lab.").unwrap(),
            RecordType::A,
        );
        r.metadata.message_type = MessageType::Response;
        assert!(matches(&q, &r));
        r.metadata.id = 8;
        assert!(!matches(&q, &r));
        let mut other = build_query(7, &name, RecordType::AAAA);
        other.metadata.message_type = MessageType::Response;
        assert!(!matches(&q, &other));
    }

    /// Every transport reads datagrams the same way: the source, the
    /// ID and question, garbage carrying our ID, truncation, size.
    #[test]
    fn datagrams_are_read_by_source_id_question_and_size() {
        let name = Name::from_str("a.example.").unwrap();
        let q = build_query(42, &name, RecordType::A);
        let asked: SocketAddr = "192.0.2.1:53".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.2:53".parse().unwrap();
        let mut resp = q.clone();
        resp.metadata.message_type = MessageType::Response;
        let bytes = resp.to_vec().unwrap();
        let read = |from, data: &[u8]| read_datagram(&q, &[asked], from, data);
        assert!(matches!(read(asked, &bytes), Datagram::Answer(_)));
        assert!(matches!(read(stranger, &bytes), Datagram::Ignored));
        let mut other_id = resp.clone();
        other_id.metadata.id = 43;
        assert!(matches!(
            read(asked, &other_id.to_vec().unwrap()),
            Datagram::Ignored
        ));
        let mut truncated = resp.clone();
        truncated.metadata.truncation = true;
        assert!(matches!(
            read(asked, &truncated.to_vec().unwrap()),
            Datagram::Refetch { oversized: false }
        ));
        let garbage = [0u8, 42, 0x84, 0, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(read(asked, &garbage), Datagram::Failed(_)));
        let not_ours = [0u8, 41, 0x84, 0, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(read(asked, &not_ours), Datagram::Ignored));
        let mut big = bytes.clone();
        big.resize(usize::from(limits::EDNS_UDP_PAYLOAD) + 1, 0);
        assert!(matches!(
            read(asked, &big),
            Datagram::Refetch { oversized: true }
        ));
    }

    #[tokio::test]
    async fn answers_only_from_servers_asked() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let pool = Pool::new(4);
        let mut ex = pool
            .exchange(&Name::from_str("a.example.").unwrap(), RecordType::A, false)
            .await
            .unwrap();
        ex.send(server.local_addr().unwrap()).await.unwrap();
        let mut buf = [0u8; 512];
        let (n, client) = server.recv_from(&mut buf).await.unwrap();
        let mut resp = Message::from_vec(&buf[..n]).unwrap();
        resp.metadata.message_type = MessageType::Response;
        let bytes = resp.to_vec().unwrap();
        // The right answer from the wrong address is ignored...
        stranger.send_to(&bytes, client).await.unwrap();
        let spoofs = std::sync::atomic::AtomicU32::new(0);
        let count = || {
            spoofs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        };
        let r = ex
            .recv_until(Instant::now() + Duration::from_millis(200), &count)
            .await;
        assert!(matches!(r, Arrival::Timeout));
        assert_eq!(spoofs.load(std::sync::atomic::Ordering::SeqCst), 1);
        // ...and accepted from the server asked.
        server.send_to(&bytes, client).await.unwrap();
        let r = ex
            .recv_until(Instant::now() + Duration::from_millis(500), &count)
            .await;
        assert!(matches!(r, Arrival::Answer { .. }));
    }

    #[tokio::test]
    async fn forwarders_are_asked_with_rd() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let name = Name::from_str("www.corp.internal.").unwrap();
        let pool = Pool::new(4);
        for rd in [false, true] {
            let mut ex = pool
                .exchange_with_recursion(&name, RecordType::A, false, rd)
                .await
                .unwrap();
            ex.send(server.local_addr().unwrap()).await.unwrap();
            let mut buf = [0u8; 512];
            let (n, _) = server.recv_from(&mut buf).await.unwrap();
            let q = Message::from_vec(&buf[..n]).unwrap();
            assert_eq!(q.metadata.recursion_desired, rd);
            assert!(q.metadata.checking_disabled, "we validate ourselves");
        }
    }

    #[tokio::test]
    async fn exhausted_pool_refuses_new_questions() {
        let pool = Pool::new(2);
        let name = Name::from_str("a.example.").unwrap();
        let first = pool.exchange(&name, RecordType::A, false).await.unwrap();
        let second = pool.exchange(&name, RecordType::A, false).await.unwrap();
        assert_eq!(pool.in_use(), 2);
        match pool.exchange(&name, RecordType::A, false).await {
            Err(UpstreamError::Exhausted { limit, value }) => {
                assert_eq!(limit, "MAX_UPSTREAM_SOCKETS");
                assert_eq!(value, 2);
            }
            Err(other) => panic!("not exhaustion: {other}"),
            Ok(_) => panic!("a third socket from a pool of two"),
        }
        // A finished question gives its socket and its buffer back.
        drop(first);
        assert_eq!(pool.in_use(), 1);
        assert_eq!(pool.buffers_kept(), 1);
        let third = pool.exchange(&name, RecordType::A, false).await.unwrap();
        assert_eq!(pool.buffers_kept(), 0, "the kept buffer is reused");
        drop((second, third));
        assert_eq!(pool.in_use(), 0);
    }

    #[tokio::test]
    async fn oversized_answers_are_recognised_by_their_head() {
        let name = Name::from_str("big.example.").unwrap();
        let q = build_query(9, &name, RecordType::TXT);
        let mut r = q.clone();
        r.metadata.message_type = MessageType::Response;
        let bytes = r.to_vec().unwrap();
        // Cut after the question, as our receive buffer cuts a large answer.
        assert!(head_matches(&q, &bytes));
        let mut other = bytes.clone();
        other[1] ^= 1;
        assert!(!head_matches(&q, &other), "another ID");
        assert!(!head_matches(&q, &bytes[..14]), "no whole question");
    }
}
