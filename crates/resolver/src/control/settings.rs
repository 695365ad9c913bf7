//! The control plane's settings (`control-*` keys) and their defaults,
//! owned here; `config` parses the file into them.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Default `control-listen`: loopback only (and then, like every TCP
/// control listener, a token for everything but `GET /metrics`).
pub const DEFAULT_CONTROL_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8053);
/// The generated control token's name in `state-dir`.
pub const CONTROL_TOKEN_FILE_NAME: &str = "control.token";

/// `control-socket` of a resolver running as root (the default then).
pub const SYSTEM_CONTROL_SOCKET: &str = "/run/lastgood/control.sock";

/// Default `control-socket`: `/run/lastgood/control.sock` for root; for
/// another user `$XDG_RUNTIME_DIR/lastgood/control.sock`, else
/// `/tmp/lastgood-<uid>/control.sock`. The CLI uses the same default.
pub fn default_control_socket() -> PathBuf {
    let uid = nix::unistd::geteuid();
    if uid.is_root() {
        return PathBuf::from(SYSTEM_CONTROL_SOCKET);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("lastgood/control.sock"),
        _ => PathBuf::from(format!("/tmp/lastgood-{uid}/control.sock")),
    }
}

/// Where the control API listens and how it authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlSettings {
    /// `control-socket`: the local Unix socket (`""` turns it off).
    pub socket: Option<PathBuf>,
    /// `control-socket-group`, resolved to a gid: the socket is mode 0660
    /// and owned by this group (else 0600).
    pub socket_group: Option<u32>,
    /// `control-listen`: the TCP listener (`""` turns it off).
    pub listen: Option<SocketAddr>,
    /// `control-token-file`: the bearer token TCP clients must send; if
    /// unset, `state-dir/control.token`, generated at first start.
    pub token_file: Option<PathBuf>,
    /// `control-tls-cert` and `control-tls-key` (PEM): TCP speaks TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `control-allow-origin`: `Origin` values accepted on state-changing
    /// requests (none by default: a request with an `Origin` is refused).
    pub allow_origins: Vec<String>,
    /// `control-allow-host`: host names accepted in `Host` besides the
    /// listen address (e.g. the name in the TLS certificate).
    pub allow_hosts: Vec<String>,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            socket: Some(default_control_socket()),
            socket_group: None,
            listen: Some(DEFAULT_CONTROL_LISTEN),
            token_file: None,
            tls: None,
            allow_origins: Vec::new(),
            allow_hosts: Vec::new(),
        }
    }
}
