//! One receive loop per UDP socket. The loop reads what is queued
//! (`recvmmsg`, up to [`limits::UDP_BATCH`] datagrams), parses each, and
//! answers drops, immediate replies and questions with a reusable answer
//! (`templates`) right there, sending those replies together (`sendmmsg`).
//! Every other query is answered in its own task, at most
//! [`limits::MAX_IN_FLIGHT_CLIENT_QUERIES`] at once. Past that a query gets
//! SERVFAIL with EDE 14 (Not Ready) at once instead of waiting.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::debug;

use super::batch::{RecvBatch, SendBatch};
use super::{RequestInfo, Shared, Transport, Triage, log_join, wire};
use crate::ede::{Ede, EdeCode};
use crate::query::{Answer, QueryHandler};

/// Serve one socket until `shutdown` changes or its sender is dropped.
/// Queries in progress are aborted when the loop ends.
pub(super) async fn serve<H: QueryHandler>(
    socket: Arc<UdpSocket>,
    shared: Arc<Shared<H>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    let mut received = RecvBatch::new();
    let mut replies = SendBatch::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => log_join(done),
            ready = socket.readable() => {
                if let Err(error) = ready {
                    debug!(%error, "UDP socket not readable");
                    continue;
                }
                let fd = socket.as_raw_fd();
                let count = match socket.try_io(Interest::READABLE, || received.recv(fd)) {
                    Ok(count) => count,
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(error) => {
                        debug!(%error, "UDP receive failed");
                        continue;
                    }
                };
                for i in 0..count {
                    let Some((bytes, peer)) = received.get(i) else {
                        continue;
                    };
                    handle(bytes, peer, &socket, &shared, &mut tasks, &mut replies);
                }
                flush(&socket, &mut replies).await;
            }
        }
    }
}

/// One datagram: answered into `replies`, or handed to a task.
fn handle<H: QueryHandler>(
    bytes: &[u8],
    peer: SocketAddr,
    socket: &Arc<UdpSocket>,
    shared: &Arc<Shared<H>>,
    tasks: &mut JoinSet<()>,
    replies: &mut SendBatch,
) {
    let (query, info) = match shared.triage(bytes, peer, Transport::Udp) {
        Triage::Done(Some(reply)) => return replies.push(reply, peer),
        Triage::Done(None) => return,
        Triage::Resolve(query, info) => (query, info),
    };
    match Arc::clone(&shared.in_flight).try_acquire_owned() {
        Ok(permit) => {
            let bytes = bytes.to_vec();
            let socket = Arc::clone(socket);
            let shared = Arc::clone(shared);
            tasks.spawn(async move {
                let _permit = permit;
                let reply = shared
                    .answer(query, info, &bytes, peer, Transport::Udp)
                    .await;
                send(&socket, &reply, peer).await;
            });
        }
        Err(_) => {
            shared
                .metrics
                .limit_hit(crate::limits::Limit::MaxInFlightClientQueries);
            // Sent with this batch: the loop never waits on a query.
            replies.push(overloaded(&info, shared), peer);
        }
    }
}

/// Send what the loop answered: one `sendmmsg` while the socket takes
/// them, then one by one (waiting for the socket) for any left.
async fn flush(socket: &UdpSocket, replies: &mut SendBatch) {
    let fd = socket.as_raw_fd();
    while !replies.is_empty() {
        match socket.try_io(Interest::WRITABLE, || replies.send(fd)) {
            Ok(sent) if sent > 0 => {}
            Ok(_) => break,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) => {
                debug!(%error, "UDP batch send failed");
                break;
            }
        }
    }
    for (reply, peer) in replies.take() {
        send(socket, &reply, peer).await;
    }
}

/// The reply when too many queries are in flight: SERVFAIL + EDE 14.
fn overloaded<H: QueryHandler>(info: &RequestInfo, shared: &Shared<H>) -> Vec<u8> {
    let started = std::time::Instant::now();
    let answer = Answer::servfail(vec![Ede::new(
        EdeCode::NotReady,
        "too many queries in progress",
    )]);
    let reply = wire::encode_response(info, &answer, wire::udp_limit(info));
    shared.record(&answer, started);
    reply
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(error) = socket.send_to(reply, peer).await {
        debug!(%error, client = %peer, "UDP send failed");
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

    use std::time::Duration;

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::opt::EdnsOption;
    use hickory_proto::rr::{Name, RecordType};
    use tokio::sync::Semaphore;

    use super::*;
    use crate::metrics::Metrics;
    use crate::server::Acl;

    /// A handler that must not be reached.
    struct Unreachable;

    impl QueryHandler for Unreachable {
        async fn answer(&self, _query: crate::query::ClientQuery) -> Answer {
            panic!("handler called while overloaded")
        }
    }

    #[tokio::test]
    async fn overloaded_gets_servfail_not_ready() {
        let metrics = Metrics::new().unwrap();
        let mut shared = Shared::new(
            Arc::new(Unreachable),
            metrics.clone(),
            Acl::private_default(),
        );
        shared.in_flight = Arc::new(Semaphore::new(0));
        let shared = Arc::new(shared);
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(socket, shared, stopped));

        let mut msg = Message::new(99, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(
            Name::from_ascii("a.example.").unwrap(),
            RecordType::A,
        ));
        msg.set_edns(Edns::new());
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(&msg.to_vec().unwrap(), addr).await.unwrap();
        let mut buf = vec![0u8; 1500];
        let wait = Duration::from_secs(3);
        let (len, _) = tokio::time::timeout(wait, client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let reply = Message::from_vec(&buf[..len]).unwrap();
        assert_eq!(reply.metadata.id, 99);
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        let options = reply.edns.as_ref().unwrap().options().as_ref().to_vec();
        let codes: Vec<_> = options
            .iter()
            .filter_map(|(_, option)| match option {
                EdnsOption::Unknown(15, data) => Ede::decode(data).map(|(code, _)| code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, vec![EdeCode::NotReady.code()]);
        let hits = metrics
            .limit_hits
            .with_label_values(&["MAX_IN_FLIGHT_CLIENT_QUERIES"]);
        assert_eq!(hits.get(), 1);
        assert_eq!(
            metrics
                .queries
                .with_label_values(&["SERVFAIL", "servfail"])
                .get(),
            1
        );

        stop.send(true).unwrap();
        task.await.unwrap();
    }
}
