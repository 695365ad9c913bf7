//! Many datagrams per system call on the UDP path: `recvmmsg(2)` to read
//! what is queued on a socket, `sendmmsg(2)` to send the replies answered
//! in the receive loop. Under load a receive loop handles up to
//! [`limits::UDP_BATCH`] queries per pair of system calls instead of one
//! (cache hits are mostly kernel time: the syscalls are what is left to
//! cut); when one datagram is waiting it is the same two calls as before.
//!
//! nix wraps the calls (its `unsafe` stays in nix; this crate forbids its
//! own). Whether a call waits is the socket's: the receive threads of
//! `udp.rs` use blocking sockets (with timeouts), so `recv` sleeps until a
//! datagram comes and `send` until the socket takes the replies;
//! [`send_now`], for resolved replies sent from a task, never waits.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::RawFd;

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

use crate::limits;

/// Receive buffers for one socket's loop.
///
/// (nix's `MultiHeaders` is made per call: nix 0.32 does not reset a
/// header's address length before a call, so a header used again would
/// keep the length of the last sender's address.)
pub(super) struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    /// Per datagram of the last `recv`: its buffer, bytes read, sender.
    got: Vec<(usize, usize, SocketAddr)>,
    /// Datagrams the next `recv` asks for: twice what the last one got,
    /// from [`limits::UDP_BATCH_MIN`] to [`limits::UDP_BATCH`]. The
    /// headers of a call are made (and zeroed) per slot, so a quiet
    /// socket should not pay for 32 of them per datagram; a busy one
    /// gets to 32 within a few calls.
    want: usize,
}

impl RecvBatch {
    pub(super) fn new() -> Self {
        Self {
            bufs: (0..limits::UDP_BATCH)
                .map(|_| vec![0u8; limits::MAX_UDP_QUERY_SIZE])
                .collect(),
            got: Vec::with_capacity(limits::UDP_BATCH),
            want: limits::UDP_BATCH_MIN,
        }
    }

    /// Read the datagrams queued on `fd`, at most `UDP_BATCH` (see
    /// `want`): on a
    /// blocking socket, waits for the first (up to the socket's receive
    /// timeout: then `WouldBlock`) and takes the others already queued
    /// (`MSG_WAITFORONE`); on a non-blocking one, `WouldBlock` when there
    /// are none. A datagram longer than `MAX_UDP_QUERY_SIZE` is cut to it
    /// (and then fails parsing: FORMERR). After `shutdown(SHUT_RD)` it
    /// returns at once with no datagram.
    pub(super) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.got.clear();
        let want = self.want.clamp(1, limits::UDP_BATCH);
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = self
            .bufs
            .iter_mut()
            .take(want)
            .map(|b| [IoSliceMut::new(b.as_mut_slice())])
            .collect();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(want, None);
        let results = recvmmsg(
            fd,
            &mut headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map_err(io::Error::from)?;
        let mut read: usize = 0;
        for (buf, msg) in results.enumerate() {
            read += 1;
            // A sender that is not IPv4/IPv6 cannot be answered: skipped.
            if let Some(from) = msg.address.as_ref().and_then(socket_addr) {
                self.got.push((buf, msg.bytes, from));
            }
        }
        self.want = read
            .saturating_mul(2)
            .clamp(limits::UDP_BATCH_MIN, limits::UDP_BATCH);
        Ok(self.got.len())
    }

    /// Datagram `i` of the last `recv`.
    pub(super) fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let &(buf, len, from) = self.got.get(i)?;
        let bytes = self.bufs.get(buf)?.get(..len)?;
        Some((bytes, from))
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// Replies waiting to be sent by one socket's loop.
///
/// Its headers are made once: `sendmmsg` sets every field it uses per
/// call. (That makes it not `Send`: it lives on its receive thread.)
pub(super) struct SendBatch {
    replies: Vec<(Vec<u8>, SocketAddr)>,
    headers: MultiHeaders<SockaddrStorage>,
    addrs: Vec<Option<SockaddrStorage>>,
}

impl SendBatch {
    pub(super) fn new() -> Self {
        Self {
            replies: Vec::with_capacity(limits::UDP_BATCH),
            headers: MultiHeaders::preallocate(limits::UDP_BATCH, None),
            addrs: Vec::with_capacity(limits::UDP_BATCH),
        }
    }

    pub(super) fn push(&mut self, reply: Vec<u8>, to: SocketAddr) {
        self.replies.push((reply, to));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Send the waiting replies (at most `UDP_BATCH`) with one
    /// `sendmmsg`; the number sent, counted from the first. Sent ones are
    /// removed. An error is about the first reply not sent.
    pub(super) fn send(&mut self, fd: RawFd) -> io::Result<usize> {
        let count = self.replies.len().min(limits::UDP_BATCH);
        let chosen = self.replies.get(..count).unwrap_or(&[]);
        let slices: Vec<[IoSlice<'_>; 1]> = chosen
            .iter()
            .map(|(reply, _)| [IoSlice::new(reply)])
            .collect();
        self.addrs.clear();
        self.addrs.extend(
            chosen
                .iter()
                .map(|(_, to)| Some(SockaddrStorage::from(*to))),
        );
        let no_cmsgs: [ControlMessage<'_>; 0] = [];
        let sent = sendmmsg(
            fd,
            &mut self.headers,
            &slices,
            &self.addrs,
            no_cmsgs,
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?
        .count();
        drop(slices);
        self.replies.drain(..sent.min(self.replies.len()));
        Ok(sent)
    }

    /// Forget the first reply waiting (one the socket refused).
    pub(super) fn skip(&mut self) {
        if !self.replies.is_empty() {
            self.replies.remove(0);
        }
    }

    /// Forget every reply waiting.
    pub(super) fn clear(&mut self) {
        self.replies.clear();
    }
}

/// Send one datagram without waiting: `WouldBlock` if the socket's send
/// buffer is full, whatever the socket's mode (`MSG_DONTWAIT`).
pub(super) fn send_now(fd: RawFd, reply: &[u8], to: SocketAddr) -> io::Result<usize> {
    nix::sys::socket::sendto(
        fd,
        reply,
        &SockaddrStorage::from(to),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use super::*;

    fn bound() -> UdpSocket {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s
    }

    #[test]
    fn receives_and_sends_many_per_call() {
        let server = bound();
        let client = bound();
        let to = server.local_addr().unwrap();
        let long = vec![7u8; limits::MAX_UDP_QUERY_SIZE + 100];
        for msg in [&b"one"[..], &b"two"[..], &long[..]] {
            client.send_to(msg, to).unwrap();
        }
        server.set_nonblocking(true).unwrap();
        let mut batch = RecvBatch::new();
        let mut got = Vec::new();
        for _ in 0..100 {
            match batch.recv(server.as_raw_fd()) {
                Ok(n) => got.extend((0..n).map(|i| batch.get(i).unwrap().0.to_vec())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            if got.len() == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(got[0], b"one");
        assert_eq!(got[1], b"two");
        assert_eq!(got[2].len(), limits::MAX_UDP_QUERY_SIZE, "cut, not lost");
        assert!(matches!(
            batch.recv(server.as_raw_fd()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        ));

        let from = client.local_addr().unwrap();
        let mut replies = SendBatch::new();
        for i in 0..40u8 {
            replies.push(vec![i], from);
        }
        let mut sent = 0;
        while !replies.is_empty() {
            sent += replies.send(server.as_raw_fd()).unwrap();
        }
        assert_eq!(sent, 40, "{} per call at most", limits::UDP_BATCH);
        let mut buf = [0u8; 16];
        for i in 0..40u8 {
            let (n, _) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i]);
        }
    }

    #[test]
    fn a_batch_grows_with_what_is_queued() {
        let server = bound();
        let client = bound();
        let to = server.local_addr().unwrap();
        for i in 0..40u8 {
            client.send_to(&[i], to).unwrap();
        }
        server.set_nonblocking(true).unwrap();
        // Give the last datagram time to be queued (loopback: at once).
        std::thread::sleep(Duration::from_millis(50));
        let mut batch = RecvBatch::new();
        let mut sizes = Vec::new();
        let mut next = 0u8;
        while let Ok(n) = batch.recv(server.as_raw_fd()) {
            for i in 0..n {
                assert_eq!(batch.get(i).unwrap().0, &[next], "in order");
                next += 1;
            }
            sizes.push(n);
        }
        let min = limits::UDP_BATCH_MIN;
        assert_eq!(sizes, vec![min, 2 * min, 4 * min, 40 - 7 * min]);
    }
}
