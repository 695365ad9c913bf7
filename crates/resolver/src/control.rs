//! Control API: NTAs, cache flush, status, config reload and the
//! Prometheus `/metrics` endpoint, over HTTP/1.1 (hyper, one request per
//! connection) on two kinds of listener:
//!
//! - **the local Unix socket** (`control-socket`, default
//!   `/run/lastgood/control.sock`), what the CLI uses by default. Access is
//!   the socket's file mode: 0600 (our user only) or 0660 with
//!   `control-socket-group`; without a group, a peer whose uid is neither
//!   root nor ours is refused even if the mode was loosened. The peer's
//!   uid and pid (`SO_PEERCRED`) are logged with every state-changing
//!   request.
//! - **TCP** (`control-listen`, default 127.0.0.1:8053), for remote use and
//!   the Prometheus scraper: every endpoint but `GET /metrics` needs
//!   `Authorization: Bearer TOKEN` (`control-token-file`, or
//!   `state-dir/control.token` generated at first start, see `token.rs`);
//!   optional TLS (`control-tls-cert`/`-key`, rustls). Every request but
//!   `/metrics` must name the listener in `Host` (DNS rebinding).
//!
//! State-changing requests ([`Route::changes_state`]) must be
//! `Content-Type: application/json` with no `Origin` (or one in
//! `control-allow-origin`), on both listeners: a web page cannot forge
//! them. Each listener caps its connections overall and per peer, and an
//! idle connection yields its slot (`conns.rs`); request heads must arrive
//! within `CONTROL_HEADER_TIMEOUT`. Request bodies are JSON, bounded by
//! `MAX_CONTROL_BODY_BYTES`; answers are JSON (`{"error": ...}` on
//! failure). What the endpoints act on is the [`Control`] trait, so this
//! module knows nothing of the resolver.
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `GET /metrics` | | Prometheus text |
//! | `GET /status` | | [`Control::status`]; from a browser (`Accept: text/html`), no token: the status page ([`status_page`]) |
//! | `GET /status.json` | | no token: [`Control::status_page`] |
//! | `GET /nta` | | `{"ntas": [NtaView...]}` |
//! | `POST /nta` | `{"zone", "lifetime"?: "1h", "reason"?, "force"?: true}` (force: not lifted by the recheck) | `NtaView` |
//! | `DELETE /nta/{zone}` | | `{"zone", "removed": true}` or 404 |
//! | `POST /cache/flush` | one of `{"name"}`, `{"zone"}`, `{"all": true}`; `"drop_stale"?: true`; `"fleet"?: true` (every instance sharing the Redis) | `{"flushed", "target"?, "drop_stale", "fleet"?}` |
//! | `POST /zone/retry` | `{"zone"}` | [`Control::zone_retry`]: `{"zone", "was_failing", "recovered"}` |
//! | `POST /reload` | | `{"reloaded": true}` |
//! | `GET /lookup?name=N&type=T` | | [`Control::lookup`]: what the cache, store, key verdicts, windows and NTAs hold (read-only) |
//! | `POST /cache/flush` | `{"bogus": true}` | [`Control::flush_bogus`]: `{"flushed": "bogus", "cache_entries", "key_verdicts", "windows"}` |
//!
//! # Adding an endpoint
//!
//! A [`Route`] variant (in `Route::parse`, `label` and `changes_state`),
//! a [`Control`] method (with a default body returning
//! [`ControlError::NotSupported`], so fakes and older targets still
//! build), and an arm in `answer`. Authentication, the browser checks, the
//! peer log line and the request metric follow from `changes_state`.

mod conns;
mod listen;
mod request;
pub mod settings;
pub mod status_page;
pub mod tls;
mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::limits::{CONTROL_READ_TIMEOUT, MAX_CONTROL_BODY_BYTES};
use crate::metrics::Metrics;
use crate::nta::{NtaError, NtaView};
pub use settings::ControlSettings;

pub use listen::Peer;
pub use request::{Route, percent_decode};
pub use token::{dir_writable, load_token, state_dir_token};

/// Content type of `GET /metrics` (Prometheus text exposition 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long `shutdown` lets requests in progress finish.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Errors of the control API: start-up, requests, and what the
/// [`Control`] target reports. [`ControlError::status`] maps each to an
/// HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "control API: refusing to listen on {listen} without a token: a non-loopback address \
         needs `control-token-file` (or listen on 127.0.0.1 / ::1)"
    )]
    TokenRequired { listen: SocketAddr },
    #[error("control API: the token is empty or has characters other than visible ASCII")]
    InvalidToken,
    #[error("control API: binding {listen}: {source}")]
    Bind {
        listen: SocketAddr,
        source: std::io::Error,
    },
    #[error("control socket {}: {source}", path.display())]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "control socket {}: another process is serving it (is lastgood already running?)",
        path.display()
    )]
    SocketInUse { path: PathBuf },
    #[error("control socket {}: exists and is not a socket; not replacing it", path.display())]
    SocketNotSocket { path: PathBuf },
    #[error("control TLS {}: {reason}", path.display())]
    Tls { path: PathBuf, reason: String },
    #[error(
        "control token file {}: readable or writable by group or others (mode {mode:04o}); \
         chmod 600 it",
        path.display()
    )]
    TokenFileTooOpen { path: PathBuf, mode: u32 },
    #[error("control token file {}: cannot be generated: {source}", path.display())]
    TokenGenerate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control token file {}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "control token file {}: the token is empty or has characters other than visible ASCII",
        path.display()
    )]
    TokenFileInvalid { path: PathBuf },

    // Requests.
    #[error("missing or wrong bearer token (send `Authorization: Bearer TOKEN`)")]
    Unauthorized,
    #[error(
        "this TCP listener has no token, so it serves only GET /metrics: use the local \
         control socket, or set control-token-file or state-dir"
    )]
    NoToken,
    #[error("Host {host:?} does not name this control listener (see control-allow-host)")]
    ForeignHost { host: String },
    #[error("Origin {origin:?} is not allowed to change state (see control-allow-origin)")]
    ForeignOrigin { origin: String },
    #[error("state-changing requests must be Content-Type: application/json, not {content_type:?}")]
    NotJson { content_type: String },
    #[error("uid {uid} may not use the control socket (only root and the resolver's user)")]
    PeerNotAllowed { uid: u32 },
    #[error("{what} is not supported by this resolver")]
    NotSupported { what: &'static str },
    #[error("no such endpoint: {method} {path}")]
    NotFound { method: Method, path: String },
    #[error("method {method} not allowed on {path}; allowed: {allowed}")]
    MethodNotAllowed {
        method: Method,
        path: String,
        allowed: &'static str,
    },
    #[error("path {path:?}: bad percent-encoding")]
    BadPath { path: String },
    #[error(
        "request body larger than the limit MAX_CONTROL_BODY_BYTES ({MAX_CONTROL_BODY_BYTES} bytes)"
    )]
    BodyTooLarge,
    #[error("request body not received within {}s", CONTROL_READ_TIMEOUT.as_secs())]
    BodyTimeout,
    #[error("reading the request body: {source}")]
    BodyRead {
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("request body is not valid JSON: {source}")]
    Json { source: serde_json::Error },
    #[error("request body must be a JSON object")]
    NotObject,
    #[error("field `{field}` is unknown; allowed: {allowed}")]
    UnknownField {
        field: String,
        allowed: &'static str,
    },
    #[error("field `{field}` is required")]
    MissingField { field: &'static str },
    #[error("field `{field}`: expected {expected}")]
    FieldType {
        field: &'static str,
        expected: &'static str,
    },
    #[error("field `{field}`: {value:?} is not a valid domain name: {reason}")]
    BadName {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("field `lifetime`: {value:?} is not a duration such as 30m, 1h or 2d")]
    BadLifetime { value: String },
    #[error(
        "cache flush: give exactly one of `name`, `zone`, `\"all\": true` or `\"bogus\": true` \
         (bogus alone)"
    )]
    FlushTarget,
    #[error("field `type`: {value:?} is not a record type such as A, AAAA or MX")]
    BadType { value: String },
    #[error("no negative trust anchor for {zone}")]
    NoSuchNta { zone: Name },

    // The target.
    #[error(transparent)]
    Nta(#[from] NtaError),
    #[error("reload failed: {0}")]
    Reload(String),
    #[error("cache flush failed: {0}")]
    Flush(String),
    #[error("field `file`: {path:?} is not an absolute path")]
    RelativePath { path: String },
    #[error("the last-good store is off (it needs state-dir, and store = true)")]
    NoStore,
    #[error("cache {what} failed: {message}")]
    CacheFile { what: &'static str, message: String },
}

impl ControlError {
    /// The HTTP status answering this error.
    pub fn status(&self) -> StatusCode {
        use ControlError as E;
        match self {
            E::Unauthorized | E::NoToken => StatusCode::UNAUTHORIZED,
            E::ForeignHost { .. } | E::ForeignOrigin { .. } | E::PeerNotAllowed { .. } => {
                StatusCode::FORBIDDEN
            }
            E::NotJson { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            E::NotSupported { .. } => StatusCode::NOT_IMPLEMENTED,
            E::NotFound { .. } | E::NoSuchNta { .. } => StatusCode::NOT_FOUND,
            E::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            E::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            E::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            E::BadPath { .. }
            | E::BodyRead { .. }
            | E::Json { .. }
            | E::NotObject
            | E::UnknownField { .. }
            | E::MissingField { .. }
            | E::FieldType { .. }
            | E::BadName { .. }
            | E::BadLifetime { .. }
            | E::FlushTarget
            | E::BadType { .. }
            | E::RelativePath { .. } => StatusCode::BAD_REQUEST,
            E::NoStore => StatusCode::CONFLICT,
            E::Nta(e) => match e {
                NtaError::InvalidZone { .. }
                | NtaError::RootZone
                | NtaError::WildcardZone { .. }
                | NtaError::ZeroLifetime
                | NtaError::LifetimeTooLong { .. }
                | NtaError::ReasonTooLong { .. }
                | NtaError::Duplicate { .. } => StatusCode::BAD_REQUEST,
                NtaError::TooMany { .. } => StatusCode::CONFLICT,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            E::TokenRequired { .. }
            | E::InvalidToken
            | E::Bind { .. }
            | E::Socket { .. }
            | E::SocketInUse { .. }
            | E::SocketNotSocket { .. }
            | E::Tls { .. }
            | E::TokenFile { .. }
            | E::TokenFileInvalid { .. }
            | E::TokenFileTooOpen { .. }
            | E::TokenGenerate { .. }
            | E::Reload(_)
            | E::Flush(_)
            | E::CacheFile { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The future of a [`Control`] call that waits (a zone probe).
pub type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What to drop from the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Every entry of this owner name (all types).
    Name(Name),
    /// This name and everything below it, plus the zone's keys and
    /// delegation data.
    Zone(Name),
    All,
}

/// What the control API acts on; implemented by the real app and by
/// fakes in tests. Calls come from request tasks: keep them short.
pub trait Control: Send + Sync + 'static {
    /// Add (or replace) an NTA from the API (source `Api`); a `force`d
    /// one is not lifted by the recheck.
    fn nta_add(
        &self,
        zone: &Name,
        lifetime: Option<Duration>,
        reason: &str,
        force: bool,
    ) -> Result<NtaView, ControlError>;
    /// Remove an NTA; false if there was none.
    fn nta_remove(&self, zone: &Name) -> Result<bool, ControlError>;
    fn nta_list(&self) -> Vec<NtaView>;
    /// Flush; zone and whole-cache flushes keep the last validated
    /// answers for the stale tier unless `drop_stale`.
    fn flush(&self, what: Flush, drop_stale: bool) -> Result<(), ControlError>;
    /// Flush here and on every instance of the fleet (`"fleet": true`).
    fn flush_fleet(&self, what: Flush, drop_stale: bool) -> Result<(), ControlError> {
        let _ = (what, drop_stale);
        Err(ControlError::NotSupported {
            what: "fleet flush without redis-url",
        })
    }
    /// End `zone`'s failure window by probing it now; answers when the
    /// probe has ended.
    fn zone_retry(&self, zone: Name) -> BoxFuture<Result<serde_json::Value, ControlError>> {
        let _ = zone;
        Box::pin(async { Err(ControlError::NotSupported { what: "zone retry" }) })
    }
    /// Write the last-good store's entries to a new `file` on the
    /// resolver's host (`cache dump`).
    fn cache_dump(
        &self,
        file: std::path::PathBuf,
    ) -> BoxFuture<Result<serde_json::Value, ControlError>> {
        let _ = file;
        Box::pin(async { Err(ControlError::NotSupported { what: "cache dump" }) })
    }
    /// Read a dump, prove every entry again, and load those that prove
    /// into the cache and the store (`cache load`).
    fn cache_load(
        &self,
        file: std::path::PathBuf,
    ) -> BoxFuture<Result<serde_json::Value, ControlError>> {
        let _ = file;
        Box::pin(async { Err(ControlError::NotSupported { what: "cache load" }) })
    }
    /// `cache flush --bogus`: drop Bogus/Indeterminate data and key
    /// verdicts, keep what validated.
    fn flush_bogus(&self) -> Result<serde_json::Value, ControlError> {
        Err(ControlError::NotSupported {
            what: "cache flush --bogus",
        })
    }
    /// `lastgood lookup`: what the resolver holds for a question, read
    /// only (never an upstream query).
    fn lookup(
        &self,
        name: &Name,
        qtype: hickory_proto::rr::RecordType,
    ) -> Result<serde_json::Value, ControlError> {
        let _ = (name, qtype);
        Err(ControlError::NotSupported { what: "lookup" })
    }
    /// Anything useful to an operator, as a JSON object.
    fn status(&self) -> serde_json::Value;
    /// What the read-only status page shows (`GET /status.json`, no
    /// token): failing zones, NTAs, answers per minute, cache figures.
    fn status_page(&self) -> Result<serde_json::Value, ControlError> {
        Err(ControlError::NotSupported {
            what: "status page",
        })
    }
    /// Reload the configuration; [`ControlError::Reload`] carries the
    /// message naming file, line and key when it is refused.
    fn reload(&self) -> Result<(), ControlError>;
    /// The metrics in Prometheus text format.
    fn metrics_text(&self) -> String;
}

/// The TCP listener.
#[derive(Clone)]
pub struct TcpControl {
    pub listen: SocketAddr,
    /// Bearer token required on every endpoint except `GET /metrics`;
    /// without one only `GET /metrics` is served.
    pub token: Option<String>,
    /// Speak TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `control-allow-host`: names accepted in `Host` besides addresses.
    pub allow_hosts: Vec<String>,
}

/// The local Unix socket.
#[derive(Clone, Debug)]
pub struct SocketControl {
    pub path: PathBuf,
    /// Mode 0660 and this group, else mode 0600.
    pub group: Option<u32>,
}

/// Where and how the control API serves.
#[derive(Clone, Default)]
pub struct ControlConfig {
    pub tcp: Option<TcpControl>,
    pub socket: Option<SocketControl>,
    /// `control-allow-origin`, for both listeners.
    pub allow_origins: Vec<String>,
    /// If set, requests are counted in `lastgood_control_requests_total`.
    pub metrics: Option<Metrics>,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("tcp", &self.tcp.as_ref().map(|t| t.listen))
            .field(
                "token",
                &self
                    .tcp
                    .as_ref()
                    .and_then(|t| t.token.as_ref())
                    .map(|_| "<redacted>"),
            )
            .field("tls", &self.tcp.as_ref().is_some_and(|t| t.tls.is_some()))
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

/// Whether [`ControlConfig::from_settings`] may write (generate the token
/// at start) or only checks (`check-config`, reload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Start,
    Check,
}

impl ControlConfig {
    /// TCP on `listen`, no token (only `/metrics`), no socket, no metrics.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            tcp: Some(TcpControl {
                listen,
                token: None,
                tls: None,
                allow_hosts: Vec::new(),
            }),
            ..Self::default()
        }
    }

    /// The Unix socket at `path` only (mode 0600), no metrics.
    pub fn socket(path: PathBuf) -> Self {
        Self {
            socket: Some(SocketControl { path, group: None }),
            ..Self::default()
        }
    }

    /// From the checked configuration: reads the token (or, at start,
    /// generates it in `state_dir`) and the TLS files. Errors are what
    /// start and reload refuse; the strings returned are warnings.
    pub fn from_settings(
        settings: &ControlSettings,
        state_dir: Option<&Path>,
        metrics: Option<Metrics>,
        purpose: Purpose,
    ) -> Result<(Self, Vec<String>), ControlError> {
        let mut warnings = Vec::new();
        let tcp = match settings.listen {
            None => None,
            Some(listen) => {
                let token = match (&settings.token_file, state_dir) {
                    (Some(path), _) => Some(token::load_token(path)?),
                    (None, Some(dir)) => match purpose {
                        Purpose::Start => match token::ensure_token(dir) {
                            Ok((t, generated)) => {
                                if generated {
                                    tracing::info!(
                                        file = %token::state_dir_token(dir).display(),
                                        "control token generated (mode 0600)"
                                    );
                                }
                                Some(t)
                            }
                            Err(e @ ControlError::TokenGenerate { .. }) => {
                                warnings.push(format!("{e}; TCP control serves only /metrics"));
                                None
                            }
                            Err(e) => return Err(e),
                        },
                        Purpose::Check => match token::check_token_dir(dir) {
                            Ok(()) => None,
                            Err(e @ ControlError::TokenGenerate { .. }) => {
                                warnings.push(format!("{e}; TCP control serves only /metrics"));
                                None
                            }
                            Err(e) => return Err(e),
                        },
                    },
                    (None, None) => None,
                };
                let tls = match &settings.tls {
                    Some((cert, key)) => Some(tls::server_config(cert, key)?),
                    None => None,
                };
                Some(TcpControl {
                    listen,
                    token,
                    tls,
                    allow_hosts: settings.allow_hosts.clone(),
                })
            }
        };
        let socket = settings.socket.as_ref().map(|path| SocketControl {
            path: path.clone(),
            group: settings.socket_group,
        });
        Ok((
            Self {
                tcp,
                socket,
                allow_origins: settings.allow_origins.clone(),
                metrics,
            },
            warnings,
        ))
    }

    /// Read a token file (see [`load_token`]).
    pub fn load_token(path: &Path) -> Result<String, ControlError> {
        token::load_token(path)
    }
}

/// Running control listeners; dropping it aborts them (and removes the
/// socket file).
#[derive(Debug)]
pub struct ControlHandle {
    tcp_addr: Option<SocketAddr>,
    socket_path: Option<PathBuf>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ControlHandle {
    /// The bound TCP address (useful with port 0), if TCP is on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The Unix socket, if it is served.
    pub fn socket_path(&self) -> Option<&Path> {
        self.socket_path.as_deref()
    }

    /// Stop accepting, let requests in progress finish (up to a few
    /// seconds), then stop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        self.remove_socket();
    }

    fn remove_socket(&mut self) {
        if let Some(path) = self.socket_path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for ControlHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.remove_socket();
    }
}

/// Bind and start serving. Refuses a non-loopback TCP `listen` without a
/// token ([`ControlError::TokenRequired`]). A Unix socket that cannot be
/// bound is a WARN, not an error: the resolver still serves, and TCP
/// control (if any) still works (BIND's behaviour for its command
/// channels).
pub async fn serve(
    config: ControlConfig,
    target: Arc<dyn Control>,
) -> Result<ControlHandle, ControlError> {
    let shared = Arc::new(Shared {
        metrics: config.metrics.clone(),
        target,
        allow_origins: config.allow_origins.clone(),
    });
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut tcp_addr = None;
    if let Some(tcp) = config.tcp {
        if let Some(token) = &tcp.token {
            if !token::valid_token(token) {
                return Err(ControlError::InvalidToken);
            }
        } else if !tcp.listen.ip().is_loopback() {
            return Err(ControlError::TokenRequired { listen: tcp.listen });
        }
        let tokenless = tcp.token.is_none();
        let (addr, task) = listen::tcp(tcp, Arc::clone(&shared), stopped.clone()).await?;
        if tokenless {
            tracing::info!(
                %addr,
                "control API listening on TCP for GET /metrics only (no token: set \
                 control-token-file or state-dir)"
            );
        } else {
            tracing::info!(%addr, "control API listening on TCP");
        }
        tcp_addr = Some(addr);
        tasks.push(task);
    }
    let mut socket_path = None;
    if let Some(socket) = config.socket {
        let path = socket.path.clone();
        match listen::unix(socket, Arc::clone(&shared), stopped.clone()) {
            Ok(task) => {
                tracing::info!(path = %path.display(), "control API listening on the local socket");
                socket_path = Some(path);
                tasks.push(task);
            }
            Err(e) => tracing::warn!(error = %e, "local control socket not available"),
        }
    }
    Ok(ControlHandle {
        tcp_addr,
        socket_path,
        stop,
        tasks,
    })
}

/// State shared by the request tasks of every listener.
struct Shared {
    metrics: Option<Metrics>,
    target: Arc<dyn Control>,
    allow_origins: Vec<String>,
}

/// How one listener lets requests in.
#[derive(Debug)]
enum Gate {
    /// TCP: the token (none: `/metrics` only) and the names `Host` may use.
    Tcp {
        token: Option<String>,
        hosts: request::HostNames,
    },
    /// The Unix socket: with a group, any peer the file mode let in;
    /// without, root and our own uid only.
    Unix { group: bool },
}

impl Gate {
    /// Whether `peer` may make this request on this listener.
    fn check(
        &self,
        shared: &Shared,
        peer: &Peer,
        route: Option<&Route>,
        headers: &hyper::HeaderMap,
    ) -> Result<(), ControlError> {
        // Read-only and public like a scrape: /metrics, the status page
        // and its JSON (no token, any Host, so that a scraper or a
        // browser behind a published port reaches them).
        if route.is_some_and(Route::is_public) {
            return Ok(());
        }
        match (self, peer) {
            (Gate::Tcp { token, hosts }, _) => {
                match token {
                    None => return Err(ControlError::NoToken),
                    Some(t) if !request::authorized(t, headers) => {
                        return Err(ControlError::Unauthorized);
                    }
                    Some(_) => {}
                }
                request::check_host(headers, hosts)?;
            }
            (Gate::Unix { group }, Peer::Unix { uid, .. }) => {
                let own = nix::unistd::geteuid().as_raw();
                if !group && *uid != 0 && *uid != own {
                    return Err(ControlError::PeerNotAllowed { uid: *uid });
                }
            }
            (Gate::Unix { .. }, Peer::Tcp { .. }) => {
                return Err(ControlError::Unauthorized);
            }
        }
        if route.is_some_and(Route::changes_state) {
            request::check_json(headers)?;
            request::check_origin(headers, &shared.allow_origins)?;
        }
        Ok(())
    }
}

/// Answer one request, count it, and log it (state-changing ones at info,
/// with the peer: address, or uid and pid on the socket).
async fn handle(
    shared: &Shared,
    gate: &Gate,
    peer: &Peer,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = Route::parse(&method, &path).map(|r| r.negotiate(req.headers()));
    let endpoint = route.as_ref().map_or("unknown", Route::label);
    let changes = route.as_ref().is_ok_and(Route::changes_state);
    // Unknown paths are checked like any endpoint: nothing is told to a
    // client that may not use the API.
    let result = match gate.check(shared, peer, route.as_ref().ok(), req.headers()) {
        Err(e) => Err(e),
        Ok(()) => match route {
            Ok(route) => answer(shared, route, req).await,
            Err(e) => Err(e),
        },
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    let status = response.status();
    if let Some(m) = &shared.metrics {
        m.control_requests
            .with_label_values(&[endpoint, status.as_str()])
            .inc();
    }
    if changes || method != Method::GET {
        match peer {
            Peer::Unix { uid, gid, pid } => tracing::info!(
                %method, %path, status = status.as_u16(), peer_uid = uid, peer_gid = gid,
                peer_pid = ?pid, "control request (local socket)"
            ),
            Peer::Tcp { addr } => tracing::info!(
                %method, %path, status = status.as_u16(), peer = %addr, "control request (TCP)"
            ),
        }
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), "control request");
    }
    response
}

async fn answer(
    shared: &Shared,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ControlError> {
    let target = &*shared.target;
    match route {
        Route::Metrics => Ok(text_response(target.metrics_text())),
        Route::Status => Ok(json_response(StatusCode::OK, &target.status())),
        Route::StatusJson => Ok(json_response(StatusCode::OK, &target.status_page()?)),
        Route::StatusPage => {
            let mut r = response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                status_page::HTML.as_bytes().to_vec(),
            );
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(status_page::CSP),
            );
            Ok(r)
        }
        Route::NtaList => Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "ntas": target.nta_list() }),
        )),
        Route::NtaAdd => {
            let body = request::read_body(req).await?;
            let add = request::NtaAdd::parse(&body)?;
            let view = target.nta_add(&add.zone, add.lifetime, &add.reason, add.force)?;
            Ok(json_response(StatusCode::OK, &view))
        }
        Route::NtaRemove(raw) => {
            let zone = request::zone_from_path(&raw)?;
            if target.nta_remove(&zone)? {
                Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "zone": zone.to_string(), "removed": true }),
                ))
            } else {
                Err(ControlError::NoSuchNta { zone })
            }
        }
        Route::Lookup => {
            let (name, qtype) = request::parse_lookup(req.uri().query())?;
            Ok(json_response(StatusCode::OK, &target.lookup(&name, qtype)?))
        }
        Route::CacheFlush => {
            let body = request::read_body(req).await?;
            if request::flush_bogus(&body)? {
                return Ok(json_response(StatusCode::OK, &target.flush_bogus()?));
            }
            let (what, drop_stale) = request::parse_flush(&body)?;
            let fleet = request::flush_fleet(&body)?;
            let mut answer = match &what {
                Flush::Name(n) => {
                    serde_json::json!({ "flushed": "name", "target": n.to_string(), "drop_stale": drop_stale })
                }
                Flush::Zone(z) => {
                    serde_json::json!({ "flushed": "zone", "target": z.to_string(), "drop_stale": drop_stale })
                }
                Flush::All => serde_json::json!({ "flushed": "all", "drop_stale": drop_stale }),
            };
            if fleet {
                target.flush_fleet(what, drop_stale)?;
                if let Some(map) = answer.as_object_mut() {
                    map.insert("fleet".into(), serde_json::Value::Bool(true));
                }
            } else {
                target.flush(what, drop_stale)?;
            }
            Ok(json_response(StatusCode::OK, &answer))
        }
        Route::CacheDump | Route::CacheLoad => {
            let body = request::read_body(req).await?;
            let file = request::parse_cache_file(&body)?;
            let answer = if route == Route::CacheDump {
                target.cache_dump(file).await?
            } else {
                target.cache_load(file).await?
            };
            Ok(json_response(StatusCode::OK, &answer))
        }
        Route::ZoneRetry => {
            let body = request::read_body(req).await?;
            let zone = request::parse_zone_retry(&body)?;
            let answer = target.zone_retry(zone).await?;
            Ok(json_response(StatusCode::OK, &answer))
        }
        Route::Reload => {
            target.reload()?;
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "reloaded": true }),
            ))
        }
    }
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn text_response(text: String) -> Response<Full<Bytes>> {
    response(StatusCode::OK, METRICS_CONTENT_TYPE, text.into_bytes())
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            response(status, "application/json", body)
        }
        Err(e) => {
            tracing::warn!(error = %e, "control API: encoding an answer");
            response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                b"{\"error\":\"encoding the answer failed\"}\n".to_vec(),
            )
        }
    }
}

fn error_response(e: &ControlError) -> Response<Full<Bytes>> {
    let status = e.status();
    let mut r = json_response(status, &serde_json::json!({ "error": e.to_string() }));
    let headers = r.headers_mut();
    match e {
        ControlError::Unauthorized | ControlError::NoToken => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lastgood\""),
            );
        }
        ControlError::MethodNotAllowed { allowed, .. } => {
            headers.insert(header::ALLOW, HeaderValue::from_static(allowed));
        }
        _ => {}
    }
    r
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
    fn statuses() {
        let cases = [
            (ControlError::Unauthorized, 401),
            (ControlError::FlushTarget, 400),
            (ControlError::Nta(NtaError::RootZone), 400),
            (ControlError::Nta(NtaError::TooMany { count: 2000 }), 409),
            (ControlError::Reload("x.toml:1: bad".into()), 500),
            (ControlError::BodyTooLarge, 413),
            (ControlError::NoToken, 401),
            (ControlError::ForeignOrigin { origin: "x".into() }, 403),
            (ControlError::ForeignHost { host: "x".into() }, 403),
            (
                ControlError::NotJson {
                    content_type: "text/plain".into(),
                },
                415,
            ),
            (ControlError::PeerNotAllowed { uid: 65534 }, 403),
        ];
        for (e, want) in cases {
            assert_eq!(e.status().as_u16(), want, "{e}");
        }
    }

    #[test]
    fn config_debug_hides_token() {
        let mut c = ControlConfig::new("127.0.0.1:1".parse().unwrap());
        if let Some(tcp) = &mut c.tcp {
            tcp.token = Some("hunter2".into());
        }
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
