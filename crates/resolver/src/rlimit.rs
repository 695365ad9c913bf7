//! The open-file limit (RLIMIT_NOFILE) and how it is shared out.
//!
//! At the first call of [`descriptors`] the soft limit is raised to the
//! hard limit (Unbound and BIND do the same at start: the default soft
//! limit of 1024 is far below what a busy resolver needs, and the hard
//! limit is what the operator allowed). Every descriptor pool is then
//! sized from the limit in force ([`split`]): a reserve for listeners,
//! the control API, files and the runtime; the TCP client connections;
//! and upstream sockets (UDP sockets and TCP refetches). A pool that is
//! full refuses more work with an error naming its bound, so the process
//! never meets EMFILE with nothing logged.

use std::sync::OnceLock;

use tracing::{info, warn};

use crate::limits;

/// How the descriptor limit is shared out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptors {
    /// The soft RLIMIT_NOFILE in force (after raising it).
    pub limit: u64,
    /// Upstream descriptors (UDP sockets, TCP refetches) open at once.
    pub upstream_sockets: usize,
    /// TCP client connections open at once.
    pub tcp_clients: usize,
}

/// The descriptor budget of this process; raises the soft limit to the
/// hard limit the first time it is called.
pub fn descriptors() -> Descriptors {
    static DESCRIPTORS: OnceLock<Descriptors> = OnceLock::new();
    *DESCRIPTORS.get_or_init(|| {
        let d = split(raise_nofile());
        info!(
            limit = d.limit,
            upstream_sockets = d.upstream_sockets,
            tcp_clients = d.tcp_clients,
            "descriptor budget"
        );
        d
    })
}

/// Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
/// in force afterwards. Failure to read or raise it is logged and the
/// limit left as it is (or, unreadable, assumed to be the common 1024).
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            warn!(%error, "reading RLIMIT_NOFILE failed; assuming {ASSUMED_LIMIT}");
            return ASSUMED_LIMIT;
        }
    };
    if soft >= hard {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            info!(from = soft, to = hard, "raised the open-file limit");
            hard
        }
        Err(error) => {
            warn!(%error, soft, hard, "raising RLIMIT_NOFILE failed");
            soft
        }
    }
}

/// The limit assumed when it cannot be read (the usual default soft limit).
const ASSUMED_LIMIT: u64 = 1024;

/// Share `limit` descriptors out: [`limits::RESERVED_DESCRIPTORS`] first,
/// then TCP clients (at most [`limits::MAX_TCP_CLIENTS`] and an eighth of
/// the rest), then upstream sockets (at most
/// [`limits::MAX_UPSTREAM_SOCKETS`]); each pool gets at least one.
pub fn split(limit: u64) -> Descriptors {
    let free =
        usize::try_from(limit.saturating_sub(limits::RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
    let tcp_clients = (free / 8).clamp(1, limits::MAX_TCP_CLIENTS);
    let upstream_sockets = free
        .saturating_sub(tcp_clients)
        .clamp(1, limits::MAX_UPSTREAM_SOCKETS);
    Descriptors {
        limit,
        upstream_sockets,
        tcp_clients,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_fit_within_the_limit() {
        for limit in [0, 64, 200, 1024, 4096, 20_000, 1 << 20, u64::MAX] {
            let d = split(limit);
            assert!(d.tcp_clients >= 1 && d.upstream_sockets >= 1, "{d:?}");
            assert!(d.tcp_clients <= limits::MAX_TCP_CLIENTS);
            assert!(d.upstream_sockets <= limits::MAX_UPSTREAM_SOCKETS);
            if limit >= limits::RESERVED_DESCRIPTORS + 16 {
                let used = (d.tcp_clients + d.upstream_sockets) as u64;
                assert!(used + limits::RESERVED_DESCRIPTORS <= limit, "{d:?}");
            }
        }
        // The common default: both pools well inside 1024.
        let d = split(1024);
        assert_eq!((d.tcp_clients, d.upstream_sockets), (112, 784));
        // A generous limit: the constants bind.
        let d = split(1 << 20);
        assert_eq!(
            (d.tcp_clients, d.upstream_sockets),
            (limits::MAX_TCP_CLIENTS, limits::MAX_UPSTREAM_SOCKETS)
        );
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        use nix::sys::resource::{Resource, getrlimit};
        let (before, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap_or((0, 0));
        assert!(raise_nofile() >= before);
    }
}
