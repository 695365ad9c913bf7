//! Queries to authoritative servers: UDP with a fresh random source port
//! and ID per query, answer checked against ID, source and question,
//! TCP when the answer is truncated.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::limits;

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

/// Outcome label for the upstream metric.
impl UpstreamError {
    pub fn outcome(&self) -> &'static str {
        match self {
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Io(_) | UpstreamError::TooLong | UpstreamError::Encode(_) => {
                "network_error"
            }
            UpstreamError::Malformed(_) => "malformed",
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
/// (names compared case-insensitively, so 0x20 case randomisation is safe).
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
                && q.name() == r.name() // hickory's Name equality ignores ASCII case
        }
        _ => false,
    }
}

/// One UDP exchange, falling back to TCP on TC. Answers from another
/// source, with another ID or question are ignored (counted by the
/// caller via `spoof_ignored`) until the timeout.
pub async fn exchange(
    server: SocketAddr,
    name: &Name,
    qtype: RecordType,
    timeout: Duration,
    spoof_ignored: &(dyn Fn() + Sync),
) -> Result<Message, UpstreamError> {
    let id: u16 = rand::random();
    let query = build_query(id, name, qtype);
    let bytes = query
        .to_vec()
        .map_err(|e| UpstreamError::Encode(e.to_string()))?;
    let resp = tokio::time::timeout(timeout, udp(server, &query, &bytes, spoof_ignored))
        .await
        .map_err(|_| UpstreamError::Timeout(timeout))??;
    if !resp.metadata.truncation {
        return Ok(resp);
    }
    tokio::time::timeout(timeout, tcp(server, &query, &bytes))
        .await
        .map_err(|_| UpstreamError::Timeout(timeout))?
}

async fn udp(
    server: SocketAddr,
    query: &Message,
    bytes: &[u8],
    spoof_ignored: &(dyn Fn() + Sync),
) -> Result<Message, UpstreamError> {
    let bind: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    // A new socket per query: the OS picks a random ephemeral port, and
    // `connect` makes the kernel drop datagrams from any other source.
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(bytes).await?;
    let mut buf = vec![0u8; limits::MAX_MESSAGE_SIZE];
    loop {
        let n = sock.recv(&mut buf).await?;
        let Some(data) = buf.get(..n) else {
            continue;
        };
        match Message::from_vec(data) {
            Ok(resp) if matches(query, &resp) => return Ok(resp),
            Ok(_) => spoof_ignored(),
            Err(e) => {
                // A datagram from the server that does not parse: with the
                // right ID it is this server's answer, and it is garbage.
                let same_id = data.get(..2) == Some(&query.metadata.id.to_be_bytes()[..]);
                if same_id {
                    return Err(UpstreamError::Malformed(e.to_string()));
                }
                spoof_ignored();
            }
        }
    }
}

async fn tcp(server: SocketAddr, query: &Message, bytes: &[u8]) -> Result<Message, UpstreamError> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(bytes.len()).map_err(|_| UpstreamError::TooLong)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await?;
    let mut len_buf = [0u8; 2];
    stream.read_exact(&mut len_buf).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len_buf))];
    stream.read_exact(&mut buf).await?;
    let resp = Message::from_vec(&buf).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
    if matches(query, &resp) {
        Ok(resp)
    } else {
        Err(UpstreamError::Malformed(
            "TCP answer does not match the question".into(),
        ))
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
}
