//! TCP (RFC 7766): an accept loop bounded by the connection budget and a
//! cap per client address, then per connection 2-byte length-prefixed
//! queries read until the client closes, goes idle, or sends something
//! unanswerable.
//!
//! Pipelined queries are processed concurrently and answered as each is
//! ready, out of order (RFC 7766 §6.2.1.1): a cached answer is sent while
//! an uncached one is still being resolved. At most
//! [`limits::MAX_TCP_QUERIES_PER_CONNECTION`] queries of one connection
//! are in progress; past that the connection is not read until an answer
//! is sent. Queries answered without the resolver (templates, errors) are
//! answered in the reading task; the others get a task each, whose reply
//! goes to the connection's writer.
//!
//! When more than half of the connection slots are in use, a connection
//! waiting for its next query is closed after
//! [`limits::TCP_IDLE_TIMEOUT_UNDER_PRESSURE`] instead of the configured
//! idle timeout (Unbound does the same), so idle clients make room. A
//! connection that stops being read (idle, end of stream) still sends the
//! answers of the queries it had in progress.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tracing::{debug, trace};

use super::{Shared, Transport, Triage, log_join};
use crate::limits;
use crate::query::QueryHandler;

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop
/// does not spin; not a protocol bound.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// Connection limits shared by the TCP listeners.
pub(super) struct Settings {
    /// Permits for concurrent connections (`max_tcp_clients`).
    pub clients: Arc<Semaphore>,
    /// The number of those permits.
    pub max_clients: usize,
    /// Connections per client address (`max_tcp_clients_per_ip`).
    pub per_ip: Arc<PerIp>,
    pub idle_timeout: Duration,
}

impl Settings {
    /// The idle timeout for a connection waiting for its next query now:
    /// shortened while more than half of the slots are in use.
    fn idle(&self) -> Duration {
        let in_use = self
            .max_clients
            .saturating_sub(self.clients.available_permits());
        if in_use.saturating_mul(2) > self.max_clients {
            self.idle_timeout
                .min(limits::TCP_IDLE_TIMEOUT_UNDER_PRESSURE)
        } else {
            self.idle_timeout
        }
    }
}

/// Connections open per client address, each entry only while one is.
pub(super) struct PerIp {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    pub(super) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, if under the cap.
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            per_ip: Arc::clone(self),
            ip,
        })
    }
}

/// One connection's place in [`PerIp`], given back on drop.
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.per_ip.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Accept until `shutdown` changes or its sender is dropped; connections
/// are aborted when the loop ends.
pub(super) async fn serve<H: QueryHandler>(
    listener: TcpListener,
    shared: Arc<Shared<H>>,
    settings: Arc<Settings>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(done) = connections.join_next(), if !connections.is_empty() => log_join(done),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => admit(stream, peer, &shared, &settings, &mut connections),
                Err(error) => {
                    debug!(%error, "TCP accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

/// Start serving an accepted connection, or close it at once when the
/// connection budget or its address's cap is used up.
fn admit<H: QueryHandler>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared<H>>,
    settings: &Arc<Settings>,
    connections: &mut JoinSet<()>,
) {
    let Ok(permit) = Arc::clone(&settings.clients).try_acquire_owned() else {
        shared
            .metrics
            .limit_hit(crate::limits::Limit::MaxTcpClients);
        debug!(client = %peer, "too many TCP clients, closing (MAX_TCP_CLIENTS)");
        return;
    };
    let Some(slot) = settings.per_ip.enter(peer.ip()) else {
        shared
            .metrics
            .limit_hit(crate::limits::Limit::MaxTcpClientsPerIp);
        debug!(client = %peer, "too many TCP connections from this client, closing (MAX_TCP_CLIENTS_PER_IP)");
        return;
    };
    let shared = Arc::clone(shared);
    let settings = Arc::clone(settings);
    connections.spawn(async move {
        let _held = (permit, slot);
        connection(stream, peer, shared, settings).await;
    });
}

/// Serve one connection: read and answer queries concurrently.
async fn connection<H: QueryHandler>(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared<H>>,
    settings: Arc<Settings>,
) {
    if let Err(error) = stream.set_nodelay(true) {
        trace!(%error, "TCP_NODELAY not set");
    }
    let (reader, writer) = stream.into_split();
    let (replies, outbox) = mpsc::channel(limits::MAX_TCP_QUERIES_PER_CONNECTION);
    let read = read_queries(reader, peer, shared, &settings, replies);
    let write = write_replies(writer, outbox, peer, settings.idle_timeout);
    tokio::pin!(read, write);
    tokio::select! {
        // Every reply was handed over; send what is left.
        () = &mut read => write.await,
        // The client stopped taking replies: the connection is done.
        () = &mut write => {}
    }
}

/// Read queries until the stream ends, goes idle or turns unanswerable;
/// answer each, and wait for those in progress before returning.
async fn read_queries<H: QueryHandler>(
    mut reader: OwnedReadHalf,
    peer: SocketAddr,
    shared: Arc<Shared<H>>,
    settings: &Settings,
    replies: mpsc::Sender<Vec<u8>>,
) {
    let in_progress = Arc::new(Semaphore::new(limits::MAX_TCP_QUERIES_PER_CONNECTION));
    let mut tasks = JoinSet::new();
    loop {
        while let Some(done) = tasks.try_join_next() {
            log_join(done);
        }
        let Ok(permit) = Arc::clone(&in_progress).acquire_owned().await else {
            break;
        };
        let Some(message) = read_message(&mut reader, peer, &shared, settings.idle()).await else {
            break;
        };
        match shared.triage_one(&message, peer, Transport::Tcp) {
            Triage::Done(Some(reply)) => {
                if replies.send(reply).await.is_err() {
                    break;
                }
            }
            // A message we cannot answer (short, a response) ends the
            // stream: its framing can no longer be trusted.
            Triage::Done(None) => {
                debug!(client = %peer, "unanswerable TCP message, closing");
                break;
            }
            Triage::Resolve(query, info) => {
                let shared = Arc::clone(&shared);
                let replies = replies.clone();
                tasks.spawn(async move {
                    let reply = shared
                        .answer(query, info, &message, peer, Transport::Tcp)
                        .await;
                    // The writer is gone only when the client is.
                    let _ = replies.send(reply).await;
                    drop(permit);
                });
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        log_join(done);
    }
}

/// One length-prefixed message, or `None` when the connection ends: the
/// client closed, it stayed idle for `idle`, or the message was cut short.
async fn read_message<H: QueryHandler>(
    reader: &mut OwnedReadHalf,
    peer: SocketAddr,
    shared: &Shared<H>,
    idle: Duration,
) -> Option<Vec<u8>> {
    let mut prefix = [0u8; 2];
    match timeout(idle, reader.read_exact(&mut prefix)).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            trace!(%error, client = %peer, "TCP connection closed");
            return None;
        }
        Err(_) => {
            shared
                .metrics
                .limit_hit(crate::limits::Limit::TcpIdleTimeout);
            debug!(client = %peer, ?idle, "TCP connection idle, closing (TCP_IDLE_TIMEOUT)");
            return None;
        }
    }
    let len = usize::from(u16::from_be_bytes(prefix));
    if len > limits::MAX_TCP_QUERY_SIZE {
        shared
            .metrics
            .limit_hit(crate::limits::Limit::MaxTcpQuerySize);
        debug!(client = %peer, len, "TCP query too long, closing (MAX_TCP_QUERY_SIZE)");
        return None;
    }
    let mut message = vec![0u8; len];
    match timeout(idle, reader.read_exact(&mut message)).await {
        Ok(Ok(_)) => Some(message),
        Ok(Err(error)) => {
            debug!(%error, client = %peer, "TCP message cut short");
            None
        }
        Err(_) => {
            shared
                .metrics
                .limit_hit(crate::limits::Limit::TcpIdleTimeout);
            debug!(client = %peer, "TCP message incomplete, closing (TCP_IDLE_TIMEOUT)");
            None
        }
    }
}

/// Send replies as they come, each within `send_timeout`, until every
/// sender is gone or a send fails; then close our side.
async fn write_replies(
    mut writer: OwnedWriteHalf,
    mut outbox: mpsc::Receiver<Vec<u8>>,
    peer: SocketAddr,
    send_timeout: Duration,
) {
    while let Some(reply) = outbox.recv().await {
        let Ok(len) = u16::try_from(reply.len()) else {
            debug!(client = %peer, size = reply.len(), "reply too large for TCP");
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        match timeout(send_timeout, writer.write_all(&framed)).await {
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
    if let Err(error) = writer.shutdown().await {
        trace!(%error, client = %peer, "TCP shutdown failed");
    }
}
