//! One receive loop per UDP socket; each query is answered in its own task,
//! at most [`limits::MAX_IN_FLIGHT_CLIENT_QUERIES`] at once. Past that a
//! query gets SERVFAIL with EDE 14 (Not Ready) at once instead of waiting.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::debug;

use super::{Parsed, Shared, Transport, log_join, wire};
use crate::ede::{Ede, EdeCode};
use crate::limits;
use crate::query::{Answer, QueryHandler};

/// Serve one socket until `shutdown` changes or its sender is dropped.
/// Queries in progress are aborted when the loop ends.
pub(super) async fn serve<H: QueryHandler>(
    socket: Arc<UdpSocket>,
    shared: Arc<Shared<H>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; limits::MAX_MESSAGE_SIZE];
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => log_join(done),
            received = socket.recv_from(&mut buf) => {
                let (len, peer) = match received {
                    Ok(received) => received,
                    Err(error) => {
                        debug!(%error, "UDP receive failed");
                        continue;
                    }
                };
                let Some(bytes) = buf.get(..len) else {
                    continue;
                };
                match Arc::clone(&shared.in_flight).try_acquire_owned() {
                    Ok(permit) => {
                        let bytes = bytes.to_vec();
                        let socket = Arc::clone(&socket);
                        let shared = Arc::clone(&shared);
                        tasks.spawn(async move {
                            let _permit = permit;
                            if let Some(reply) = shared.respond(&bytes, peer, Transport::Udp).await {
                                send(&socket, &reply, peer).await;
                            }
                        });
                    }
                    Err(_) => {
                        shared.metrics.limit_hit("MAX_IN_FLIGHT_CLIENT_QUERIES");
                        if let Some(reply) = overloaded(bytes, &shared) {
                            // Never wait here: the loop must keep draining.
                            if let Err(error) = socket.try_send_to(&reply, peer) {
                                debug!(%error, client = %peer, "UDP send failed");
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The reply when too many queries are in flight: SERVFAIL + EDE 14 for a
/// query, the usual immediate reply for anything else.
fn overloaded<H: QueryHandler>(bytes: &[u8], shared: &Shared<H>) -> Option<Vec<u8>> {
    match wire::parse_request(bytes, &shared.metrics) {
        Parsed::Drop(_) => None,
        Parsed::Reply(reply) => Some(reply),
        Parsed::Query(_, info) => {
            let started = std::time::Instant::now();
            let answer = Answer::servfail(vec![Ede::new(
                EdeCode::NotReady,
                "too many queries in progress",
            )]);
            let reply = wire::encode_response(&info, &answer, wire::udp_limit(&info));
            shared.record(&answer, started);
            Some(reply)
        }
    }
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(error) = socket.send_to(reply, peer).await {
        debug!(%error, client = %peer, "UDP send failed");
    }
}
