//! Running as a system service (issue 19).
//!
//! - systemd's notify protocol (`sd_notify(3)`, `Type=notify`): `READY=1`
//!   once the listeners are bound and the trust anchors loaded,
//!   `WATCHDOG=1` every half `WATCHDOG_USEC` from a task of the runtime,
//!   `STOPPING=1` at shutdown: one datagram each to `$NOTIFY_SOCKET`, a
//!   path or an abstract socket (`@name`). No libsystemd.
//! - `user =`/`group =` without systemd: started as root, `serve` binds
//!   port 53, opens its state directory and control socket, then switches
//!   to that account for good ([`drop_privileges`]).
//!
//! Both are called by `main.rs` only; nothing here is used by tests of the
//! resolver itself.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::config::RunAs;

/// Errors of the service glue.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("NOTIFY_SOCKET {path:?}: expected an absolute path or @abstract-name")]
    BadNotifySocket { path: String },
    #[error("NOTIFY_SOCKET {path:?}: sending {state:?}: {source}")]
    Notify {
        path: String,
        state: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "user = {user:?}: switching to uid {uid} needs starting as root \
         (running as uid {running}); under systemd set User= in the unit instead"
    )]
    NotRoot {
        user: String,
        uid: u32,
        running: u32,
    },
    #[error("user = {user:?}: {step}")]
    Switch {
        user: String,
        step: &'static str,
        #[source]
        source: nix::Error,
    },
}

/// Where readiness and watchdog messages go (`$NOTIFY_SOCKET`).
#[derive(Debug)]
pub struct Notifier {
    path: String,
    socket: UnixDatagram,
    addr: std::os::unix::net::SocketAddr,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From the environment systemd sets; `None` when not started with
    /// `Type=notify` (no `NOTIFY_SOCKET`).
    pub fn from_env() -> Result<Option<Notifier>, ServiceError> {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(None);
        };
        let path = path.to_string_lossy().into_owned();
        let bad = || ServiceError::BadNotifySocket { path: path.clone() };
        let addr = if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .map_err(|_| bad())?
        } else if path.starts_with('/') {
            std::os::unix::net::SocketAddr::from_pathname(&path).map_err(|_| bad())?
        } else {
            return Err(bad());
        };
        let socket = UnixDatagram::unbound().map_err(|source| ServiceError::Notify {
            path: path.clone(),
            state: String::new(),
            source,
        })?;
        Ok(Some(Notifier {
            path,
            socket,
            addr,
            watchdog: watchdog_interval(
                std::env::var("WATCHDOG_USEC").ok().as_deref(),
                std::env::var("WATCHDOG_PID").ok().as_deref(),
                std::process::id(),
            ),
        }))
    }

    /// Send one state (`READY=1`, `STATUS=...`; newline-separated lines).
    pub fn notify(&self, state: &str) -> Result<(), ServiceError> {
        self.socket
            .send_to_addr(state.as_bytes(), &self.addr)
            .map(|_| ())
            .map_err(|source| ServiceError::Notify {
                path: self.path.clone(),
                state: state.to_owned(),
                source,
            })
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when the
    /// watchdog is on and meant for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }
}

/// Half the watchdog timeout (sd_watchdog_enabled(3)), if `usec` is set
/// and non-zero and `pid`, when set, is ours.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, ours: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(ours)
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

/// Switch to `run_as` for good: supplementary groups, gid, then uid. A
/// process already running as that uid is left alone (`Ok(false)`).
pub fn drop_privileges(run_as: &RunAs) -> Result<bool, ServiceError> {
    use nix::unistd::{Gid, Uid};
    let running = nix::unistd::geteuid();
    if running.as_raw() == run_as.uid {
        return Ok(false);
    }
    if !running.is_root() {
        return Err(ServiceError::NotRoot {
            user: run_as.user.clone(),
            uid: run_as.uid,
            running: running.as_raw(),
        });
    }
    let step = |step: &'static str| {
        move |source| ServiceError::Switch {
            user: run_as.user.clone(),
            step,
            source,
        }
    };
    let gid = Gid::from_raw(run_as.gid);
    nix::unistd::setgroups(&[gid]).map_err(step("setgroups"))?;
    nix::unistd::setgid(gid).map_err(step("setgid"))?;
    nix::unistd::setuid(Uid::from_raw(run_as.uid)).map_err(step("setuid"))?;
    // There is no way back: root again must fail.
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(ServiceError::Switch {
            user: run_as.user.clone(),
            step: "checking that root cannot be regained",
            source: nix::Error::EPERM,
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn watchdog_interval_is_half_the_timeout_for_us_only() {
        let half = Some(Duration::from_secs(15));
        assert_eq!(watchdog_interval(Some("30000000"), None, 7), half);
        assert_eq!(watchdog_interval(Some("30000000"), Some("7"), 7), half);
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("soon"), None, 7), None);
        assert_eq!(watchdog_interval(None, Some("7"), 7), None);
    }

    #[test]
    fn notify_reaches_path_and_abstract_sockets() {
        let dir = std::env::temp_dir().join(format!("lastgood-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            path: path.display().to_string(),
            socket: UnixDatagram::unbound().unwrap(),
            addr: std::os::unix::net::SocketAddr::from_pathname(&path).unwrap(),
            watchdog: None,
        };
        n.notify("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
        std::fs::remove_dir_all(&dir).unwrap();

        use std::os::linux::net::SocketAddrExt;
        let name = format!("lastgood-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier {
            path: format!("@{name}"),
            socket: UnixDatagram::unbound().unwrap(),
            addr,
            watchdog: None,
        };
        n.notify("WATCHDOG=1").unwrap();
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }
}
