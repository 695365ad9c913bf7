//! The control listeners: TCP (optionally TLS) and the local Unix socket.
//! Each accepted connection is admitted by `conns.rs` (caps overall and per
//! peer, idle connections evicted first), must complete its TLS handshake
//! and send its request head within `CONTROL_HEADER_TIMEOUT`, and serves
//! one request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::conns::{Admitted, Conns, PeerKey};
use super::request::HostNames;
use super::{ControlError, Gate, SHUTDOWN_GRACE, Shared, SocketControl, TcpControl, handle};
use crate::limits::CONTROL_HEADER_TIMEOUT;

/// Who sent a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    Tcp {
        addr: SocketAddr,
    },
    /// From `SO_PEERCRED`; `u32::MAX` ids when the kernel did not say.
    Unix {
        uid: u32,
        gid: u32,
        pid: Option<i32>,
    },
}

/// Bind the TCP listener and start accepting.
pub(super) async fn tcp(
    config: TcpControl,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), ControlError> {
    let bind = |source| ControlError::Bind {
        listen: config.listen,
        source,
    };
    let listener = TcpListener::bind(config.listen).await.map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let listener = Arc::new(listener);
    let conns = Conns::new(shared.metrics.clone());
    let tls = config.tls.map(tokio_rustls::TlsAcceptor::from);
    let token = config.token;
    let allow_hosts = config.allow_hosts;
    let task = tokio::spawn(accept_loop(stop, move |stop| {
        let listener = Arc::clone(&listener);
        let conns = Arc::clone(&conns);
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        let token = token.clone();
        let allow_hosts = allow_hosts.clone();
        async move {
            let (stream, addr) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => return Accepted::Failed(e),
            };
            let Some(admitted) = conns.admit(PeerKey::Ip(addr.ip())) else {
                return Accepted::Refused;
            };
            let mut hosts = HostNames {
                port: local.port(),
                ips: vec![local.ip()],
                names: allow_hosts,
            };
            if let Ok(l) = stream.local_addr() {
                hosts.ips.push(l.ip());
            }
            if local.ip().is_loopback() {
                hosts.names.push("localhost".to_owned());
            }
            let gate = Arc::new(Gate::Tcp { token, hosts });
            let peer = Peer::Tcp { addr };
            Accepted::Conn(Box::pin(async move {
                match tls {
                    None => serve(stream, shared, gate, peer, admitted, stop).await,
                    Some(acceptor) => {
                        let handshake =
                            tokio::time::timeout(CONTROL_HEADER_TIMEOUT, acceptor.accept(stream));
                        let stream = tokio::select! {
                            r = handshake => match r {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "control API: TLS handshake");
                                    return;
                                }
                                Err(_) => return,
                            },
                            _ = admitted.close.notified() => return,
                        };
                        serve(stream, shared, gate, peer, admitted, stop).await;
                    }
                }
            }))
        }
    }));
    Ok((local, task))
}

/// Bind the Unix socket (mode 0600, or 0660 and the group) and start
/// accepting. The socket is bound under a temporary name, given its mode
/// and group, then renamed into place, so it is never reachable with the
/// default mode. A stale socket left by a dead process is replaced; a live
/// one is not.
pub(super) fn unix(
    config: SocketControl,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, ControlError> {
    let listener = Arc::new(bind_socket(&config.path, config.group)?);
    let conns = Conns::new(shared.metrics.clone());
    let gate = Arc::new(Gate::Unix {
        group: config.group.is_some(),
    });
    Ok(tokio::spawn(accept_loop(stop, move |stop| {
        let listener = Arc::clone(&listener);
        let conns = Arc::clone(&conns);
        let shared = Arc::clone(&shared);
        let gate = Arc::clone(&gate);
        async move {
            let (stream, _) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => return Accepted::Failed(e),
            };
            let peer = match stream.peer_cred() {
                Ok(c) => Peer::Unix {
                    uid: c.uid(),
                    gid: c.gid(),
                    pid: c.pid(),
                },
                Err(_) => Peer::Unix {
                    uid: u32::MAX,
                    gid: u32::MAX,
                    pid: None,
                },
            };
            let key = match &peer {
                Peer::Unix { uid, .. } => PeerKey::Uid(*uid),
                Peer::Tcp { addr } => PeerKey::Ip(addr.ip()),
            };
            let Some(admitted) = conns.admit(key) else {
                return Accepted::Refused;
            };
            Accepted::Conn(Box::pin(serve(stream, shared, gate, peer, admitted, stop)))
        }
    })))
}

fn bind_socket(path: &Path, group: Option<u32>) -> Result<UnixListener, ControlError> {
    let io = |source| ControlError::Socket {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
        // Whoever owns the directory can replace the socket: only us or
        // root (a /tmp fallback pre-created by another user is refused).
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(dir).map_err(io)?);
        let me = nix::unistd::geteuid().as_raw();
        if owner != me && owner != 0 {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the directory {} belongs to uid {owner}, not to us ({me}) or root",
                    dir.display()
                ),
            )));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::SocketInUse {
                    path: path.to_owned(),
                });
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        Ok(_) => {
            return Err(ControlError::SocketNotSocket {
                path: path.to_owned(),
            });
        }
        Err(_) => {}
    }
    let Some(name) = path.file_name() else {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )));
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let listener = std::os::unix::net::UnixListener::bind(&tmp).map_err(io)?;
    let placed = (|| {
        let mode = if group.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        if let Some(gid) = group {
            nix::unistd::chown(&tmp, None, Some(nix::unistd::Gid::from_raw(gid)))
                .map_err(std::io::Error::from)?;
        }
        std::fs::rename(&tmp, path)?;
        listener.set_nonblocking(true)?;
        UnixListener::from_std(listener)
    })();
    if placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed.map_err(io)
}

/// What one accept produced.
enum Accepted {
    Conn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
    /// Closed at once: a cap was reached and nothing could be evicted.
    Refused,
    Failed(std::io::Error),
}

/// Accept until `stop`, running each connection as a task; on stop let
/// them finish for up to `SHUTDOWN_GRACE`.
async fn accept_loop<F, Fut>(mut stop: watch::Receiver<bool>, mut accept: F)
where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = Accepted>,
{
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = accept(stop.clone()) => a,
            _ = stop.changed() => break,
        };
        while conns.try_join_next().is_some() {}
        match accepted {
            Accepted::Conn(conn) => {
                conns.spawn(conn);
            }
            Accepted::Refused => {}
            Accepted::Failed(e) => {
                // E.g. out of file descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "control API: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let drain = async { while conns.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
    // Dropping `conns` aborts what is left.
}

/// Serve one request on an admitted connection.
async fn serve<S>(
    stream: S,
    shared: Arc<Shared>,
    gate: Arc<Gate>,
    peer: Peer,
    admitted: Admitted,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let busy = Arc::clone(&admitted.busy);
    let service = hyper::service::service_fn(move |req| {
        busy.store(true, Ordering::Release);
        let shared = Arc::clone(&shared);
        let gate = Arc::clone(&gate);
        let peer = peer.clone();
        async move { Ok::<_, Infallible>(handle(&shared, &gate, &peer, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(CONTROL_HEADER_TIMEOUT)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "control API connection");
            }
        }
        _ = admitted.close.notified() => {
            tracing::debug!("control API: idle connection evicted");
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
