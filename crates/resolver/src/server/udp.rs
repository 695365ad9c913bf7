//! One OS thread per UDP socket, outside the async runtime. The thread
//! sleeps in a blocking `recvmmsg` that returns as soon as one datagram is
//! there, with whatever else is queued (up to [`limits::UDP_BATCH`]); it
//! parses each, answers drops, immediate replies and questions with a
//! reusable answer (`templates`) itself, and sends those replies together
//! (`sendmmsg`). No epoll, task wakeup or readiness re-arm lies between a
//! datagram and its cached answer: two system calls per wakeup.
//!
//! Every other query is handed to the tokio runtime (its own task,
//! `Handle::spawn`), at most [`limits::MAX_IN_FLIGHT_CLIENT_QUERIES`] at
//! once; the task sends its reply on the same socket without waiting
//! ([`batch::send_now`]). Past that bound a query gets SERVFAIL with EDE 14
//! (Not Ready) at once instead of waiting.
//!
//! Per batch, not per query: one read of the handler's state and clock and
//! one update of each metric the template hits touch (`Shared::batch`,
//! `Shared::finish`).
//!
//! Stopping ([`Worker::stop`], also on drop): a flag, and the socket shut
//! down for reading, which wakes a blocked `recvmmsg` at once on Linux (it
//! returns with no datagram). [`limits::UDP_RECEIVE_WAKE`] bounds the wait
//! should that wake-up be lost. Queries in progress are aborted when the
//! thread ends.
//!
//! [`batch::send_now`]: super::batch::send_now

use std::io;
use std::net::{Shutdown, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::batch::{RecvBatch, SendBatch, send_now};
use super::{Batch, RequestInfo, Shared, Transport, Triage, log_join, wire};
use crate::ede::{Ede, EdeCode};
use crate::limits;
use crate::query::{Answer, QueryHandler};

/// One socket's receive thread.
#[derive(Debug)]
pub(super) struct Worker {
    socket: Arc<UdpSocket>,
    stop: Arc<AtomicBool>,
    /// Closed when the thread has ended (its sender is dropped last).
    done: Option<oneshot::Receiver<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Serve `socket` (blocking mode: its timeouts are set here) on a
    /// thread of its own; resolved queries run on `runtime`.
    pub(super) fn spawn<H: QueryHandler>(
        socket: UdpSocket,
        shared: Arc<Shared<H>>,
        runtime: Handle,
        name: String,
    ) -> io::Result<Self> {
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(limits::UDP_RECEIVE_WAKE))?;
        socket.set_write_timeout(Some(limits::UDP_SEND_TIMEOUT))?;
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let (finished, done) = oneshot::channel();
        let thread = std::thread::Builder::new().name(name).spawn({
            let socket = Arc::clone(&socket);
            let stop = Arc::clone(&stop);
            move || serve(&socket, &shared, &stop, &runtime, finished)
        })?;
        Ok(Self {
            socket,
            stop,
            done: Some(done),
            thread: Some(thread),
        })
    }

    /// Ask the thread to end (it does within moments).
    pub(super) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        // On an unconnected UDP socket Linux answers ENOTCONN, but wakes
        // the receiver all the same.
        let _ = socket2::SockRef::from(&*self.socket).shutdown(Shutdown::Read);
    }

    /// Stop the thread and wait until it has ended.
    pub(super) async fn stopped(mut self) {
        self.stop();
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        // The thread is past its last statement: this join does not wait.
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("UDP receive thread panicked");
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: receive, answer, hand over, until stopped.
fn serve<H: QueryHandler>(
    socket: &Arc<UdpSocket>,
    shared: &Arc<Shared<H>>,
    stop: &AtomicBool,
    runtime: &Handle,
    finished: oneshot::Sender<()>,
) {
    // Dropped last: the thread holds nothing once `done` fires.
    let _finished = finished;
    let fd = socket.as_raw_fd();
    let mut tasks = JoinSet::new();
    let mut received = RecvBatch::new();
    let mut replies = SendBatch::new();
    while !stop.load(Ordering::Acquire) {
        let count = match received.recv(fd) {
            Ok(count) => count,
            Err(error) => {
                match error.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
                    _ => {
                        debug!(%error, "UDP receive failed");
                        std::thread::sleep(limits::UDP_ERROR_PAUSE);
                    }
                }
                continue;
            }
        };
        if count > 0 {
            let mut batch = shared.batch();
            for i in 0..count {
                let Some((bytes, peer)) = received.get(i) else {
                    continue;
                };
                let to = Handover {
                    socket,
                    runtime,
                    tasks: &mut tasks,
                };
                handle(bytes, peer, shared, &mut batch, to, &mut replies);
            }
            shared.finish(batch);
            flush(fd, &mut replies);
        }
        while let Some(done) = tasks.try_join_next() {
            log_join(done);
        }
    }
    // Dropping `tasks` aborts the queries in progress.
}

/// Where a query that needs the resolver goes.
struct Handover<'a> {
    socket: &'a Arc<UdpSocket>,
    runtime: &'a Handle,
    tasks: &'a mut JoinSet<()>,
}

/// One datagram: answered into `replies`, or handed to a task.
fn handle<H: QueryHandler>(
    bytes: &[u8],
    peer: SocketAddr,
    shared: &Arc<Shared<H>>,
    batch: &mut Batch,
    to: Handover<'_>,
    replies: &mut SendBatch,
) {
    let (query, info) = match shared.triage(bytes, peer, Transport::Udp, batch) {
        Triage::Done(Some(reply)) => return replies.push(reply, peer),
        Triage::Done(None) => return,
        Triage::Resolve(query, info) => (query, info),
    };
    match Arc::clone(&shared.in_flight).try_acquire_owned() {
        Ok(permit) => {
            let bytes = bytes.to_vec();
            let socket = Arc::clone(to.socket);
            let shared = Arc::clone(shared);
            to.tasks.spawn_on(
                async move {
                    let _permit = permit;
                    let reply = shared
                        .answer(query, info, &bytes, peer, Transport::Udp)
                        .await;
                    send(&socket, &reply, peer).await;
                },
                to.runtime,
            );
        }
        Err(_) => {
            shared
                .metrics
                .limit_hit(limits::Limit::MaxInFlightClientQueries);
            // Sent with this batch: the thread never waits on a query.
            replies.push(overloaded(&info, shared), peer);
        }
    }
}

/// Send what the thread answered: `sendmmsg` until every reply is out. A
/// reply the socket refuses is dropped (logged); when the send buffer
/// stays full for [`limits::UDP_SEND_TIMEOUT`] the rest are dropped too.
fn flush(fd: std::os::fd::RawFd, replies: &mut SendBatch) {
    while !replies.is_empty() {
        match replies.send(fd) {
            Ok(sent) if sent > 0 => {}
            Ok(_) => replies.skip(),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                debug!("UDP send buffer full, replies dropped");
                replies.clear();
            }
            Err(error) => {
                debug!(%error, "UDP reply not sent");
                replies.skip();
            }
        }
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

/// Send a resolved reply from its task without blocking the runtime:
/// while the send buffer is full, up to [`limits::UDP_SEND_ATTEMPTS`]
/// tries [`limits::UDP_SEND_RETRY`] apart, then dropped.
async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    for attempt in 1..=limits::UDP_SEND_ATTEMPTS {
        match send_now(socket.as_raw_fd(), reply, peer) {
            Ok(_) => return,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) && attempt < limits::UDP_SEND_ATTEMPTS =>
            {
                tokio::time::sleep(limits::UDP_SEND_RETRY).await;
            }
            Err(error) => {
                debug!(%error, client = %peer, "UDP send failed");
                return;
            }
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

    use std::time::Duration;

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::opt::EdnsOption;
    use hickory_proto::rr::{Name, RecordType};
    use tokio::sync::Semaphore;

    use super::*;
    use crate::metrics::Metrics;
    use crate::server::{Acl, ServerIdentity};

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
            ServerIdentity::default(),
        );
        shared.in_flight = Arc::new(Semaphore::new(0));
        let shared = Arc::new(shared);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let worker = Worker::spawn(socket, shared, Handle::current(), "test".into()).unwrap();

        let mut msg = Message::new(99, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(
            Name::from_ascii("a.example.").unwrap(),
            RecordType::A,
        ));
        msg.set_edns(Edns::new());
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
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

        worker.stopped().await;
    }

    /// A stopped worker has let go of its socket: the address binds again
    /// (without SO_REUSEPORT).
    #[tokio::test]
    async fn stopping_releases_the_socket() {
        let metrics = Metrics::new().unwrap();
        let shared = Arc::new(Shared::new(
            Arc::new(Unreachable),
            metrics,
            Acl::private_default(),
            ServerIdentity::default(),
        ));
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let worker = Worker::spawn(socket, shared, Handle::current(), "test".into()).unwrap();
        // Let the thread reach its blocking receive.
        tokio::time::sleep(Duration::from_millis(50)).await;
        worker.stopped().await;
        UdpSocket::bind(addr).unwrap();
    }
}
