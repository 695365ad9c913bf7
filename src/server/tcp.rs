//! TCP (RFC 7766): an accept loop bounded by the connection budget, then
//! per connection 2-byte length-prefixed queries answered in order until
//! the client closes, goes idle, or sends something unanswerable.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tracing::{debug, trace};

use super::{Shared, Transport, log_join};
use crate::query::QueryHandler;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop
/// does not spin; not a protocol bound.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Connection limits shared by the TCP listeners.
pub(super) struct Settings {
    /// Permits for concurrent connections (`max_tcp_clients`).
    pub clients: Arc<Semaphore>,
    pub idle_timeout: Duration,
}

/// Accept until `shutdown` changes or its sender is dropped; connections
/// are aborted when the loop ends.
pub(super) async fn serve<H: QueryHandler>(
    listener: TcpListener,
    shared: Arc<Shared<H>>,
    settings: Settings,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => log_join(done),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match Arc::clone(&settings.clients).try_acquire_owned() {
                    Ok(permit) => {
                        let shared = Arc::clone(&shared);
                        let idle = settings.idle_timeout;
                        connections.spawn(async move {
                            let _permit = permit;
                            connection(stream, peer, &shared, idle).await;
                        });
                    }
                    Err(_) => {
                        shared.metrics.limit_hit("MAX_TCP_CLIENTS");
                        debug!(client = %peer, "too many TCP clients, closing");
                        drop(stream);
                    }
                },
                Err(error) => {
                    debug!(%error, "TCP accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

/// Answer queries on one connection, in order.
async fn connection<H: QueryHandler>(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared<H>,
    idle: Duration,
) {
    if let Err(error) = stream.set_nodelay(true) {
        trace!(%error, "TCP_NODELAY not set");
    }
    loop {
        let mut prefix = [0u8; 2];
        match timeout(idle, stream.read_exact(&mut prefix)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                trace!(%error, client = %peer, "TCP connection closed");
                return;
            }
            Err(_) => {
                shared.metrics.limit_hit("TCP_IDLE_TIMEOUT");
                debug!(client = %peer, "TCP connection idle, closing (TCP_IDLE_TIMEOUT)");
                return;
            }
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        match timeout(idle, stream.read_exact(&mut message)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                debug!(%error, client = %peer, "TCP message cut short");
                return;
            }
            Err(_) => {
                shared.metrics.limit_hit("TCP_IDLE_TIMEOUT");
                debug!(client = %peer, "TCP message incomplete, closing (TCP_IDLE_TIMEOUT)");
                return;
            }
        }
        // A message we cannot answer (short, a response) ends the stream:
        // its framing can no longer be trusted.
        let Some(reply) = shared.respond(&message, peer, Transport::Tcp).await else {
            debug!(client = %peer, "unanswerable TCP message, closing");
            return;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            debug!(client = %peer, size = reply.len(), "reply too large for TCP");
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        match timeout(idle, stream.write_all(&framed)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                debug!(%error, client = %peer, "TCP send failed");
                return;
            }
            Err(_) => {
                debug!(client = %peer, "TCP send timed out");
                return;
            }
        }
    }
}
