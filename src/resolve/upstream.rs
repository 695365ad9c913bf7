//! Queries to authoritative servers. One question gets one UDP socket
//! (OS-random source port) and one random ID; tries go to the zone's
//! servers in turn with growing waits, and an answer from any server
//! already asked is accepted (a late answer is still the answer). Answers
//! are checked against the ID, the set of servers asked and the question;
//! a truncated answer is fetched again over TCP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

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
    /// A parsed answer from `from` (TCP already done if it was truncated
    /// or, `oversized`, larger over UDP than the payload we advertised).
    Answer {
        from: SocketAddr,
        message: Message,
        oversized: bool,
    },
    /// `from` sent something for our ID that is unusable.
    Failed {
        from: SocketAddr,
        error: UpstreamError,
    },
    /// The wait ended with nothing usable.
    Timeout,
}

/// One outstanding question: a socket, an ID, the servers asked so far.
pub struct Exchange {
    sock: UdpSocket,
    query: Message,
    bytes: Vec<u8>,
    asked: Vec<SocketAddr>,
    /// Receive buffer, allocated once per question, not per wait.
    buf: Vec<u8>,
    /// How long a TCP refetch (after TC or an oversized UDP answer) may
    /// take: the question's deadline, not what is left of one try's wait.
    tcp_deadline: Option<Instant>,
}

impl Exchange {
    pub async fn new(name: &Name, qtype: RecordType, ipv6: bool) -> Result<Self, UpstreamError> {
        Self::with_recursion(name, qtype, ipv6, false).await
    }

    /// As [`Exchange::new`], with RD set when `recursion_desired` (questions
    /// to a `forward-zone`'s recursive servers).
    pub async fn with_recursion(
        name: &Name,
        qtype: RecordType,
        ipv6: bool,
        recursion_desired: bool,
    ) -> Result<Self, UpstreamError> {
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
        Ok(Self {
            sock,
            query,
            bytes,
            asked: Vec::new(),
            buf: vec![0u8; limits::MAX_MESSAGE_SIZE],
            tcp_deadline: None,
        })
    }

    /// Let a TCP refetch run until `deadline` (the question's), even past
    /// the wait of the try whose UDP answer sent us to TCP: that server is
    /// alive, and TCP needs two round trips more than the UDP wait allowed
    /// for (a wait can be as short as `UPSTREAM_TIMEOUT_MIN`).
    pub fn set_tcp_deadline(&mut self, deadline: Instant) {
        self.tcp_deadline = Some(deadline);
    }

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
        let mut buf = std::mem::take(&mut self.buf);
        let arrival = self.recv_into(&mut buf, deadline, spoof_ignored).await;
        self.buf = buf;
        arrival
    }

    async fn recv_into(
        &self,
        buf: &mut [u8],
        deadline: Instant,
        spoof_ignored: &(dyn Fn() + Sync),
    ) -> Arrival {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let got = match tokio::time::timeout(left, self.sock.recv_from(buf)).await {
                Err(_) => return Arrival::Timeout,
                Ok(got) => got,
            };
            let (n, from) = match got {
                Ok(got) => got,
                // ICMP unreachable surfaces as an error on some systems;
                // keep waiting for the other servers.
                Err(_) => continue,
            };
            if !self.asked.contains(&from) {
                spoof_ignored();
                continue;
            }
            let Some(data) = buf.get(..n) else { continue };
            match Message::from_vec(data) {
                Ok(resp) if matches(&self.query, &resp) => {
                    // A UDP answer larger than the payload we advertised
                    // (`EDNS_UDP_PAYLOAD`) would arrive fragmented on a real
                    // network, where a forged fragment carries no ID or
                    // port to check: it is not used, but fetched again
                    // over TCP like a truncated one.
                    let oversized = n > usize::from(limits::EDNS_UDP_PAYLOAD);
                    if !resp.metadata.truncation && !oversized {
                        return Arrival::Answer {
                            from,
                            message: resp,
                            oversized,
                        };
                    }
                    let left = self
                        .tcp_deadline
                        .map_or(deadline, |d| d.max(deadline))
                        .saturating_duration_since(Instant::now())
                        .max(limits::UPSTREAM_TIMEOUT_MIN);
                    return match tokio::time::timeout(left, self.tcp(from)).await {
                        Ok(Ok(message)) => Arrival::Answer {
                            from,
                            message,
                            oversized,
                        },
                        Ok(Err(error)) => Arrival::Failed { from, error },
                        Err(_) => Arrival::Failed {
                            from,
                            error: UpstreamError::Timeout(left),
                        },
                    };
                }
                Ok(_) => spoof_ignored(),
                Err(e) => {
                    // Unparseable but carrying our ID: this server's answer, and it is garbage.
                    if data.get(..2) == Some(&self.query.metadata.id.to_be_bytes()[..]) {
                        return Arrival::Failed {
                            from,
                            error: UpstreamError::Malformed(e.to_string()),
                        };
                    }
                    spoof_ignored();
                }
            }
        }
    }

    async fn tcp(&self, server: SocketAddr) -> Result<Message, UpstreamError> {
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

    #[tokio::test]
    async fn answers_only_from_servers_asked() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut ex = Exchange::new(&Name::from_str("a.example.").unwrap(), RecordType::A, false)
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
        for rd in [false, true] {
            let mut ex = Exchange::with_recursion(&name, RecordType::A, false, rd)
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
}
