//! HTTP control API: NTAs, cache flush, status, config reload and the
//! Prometheus `/metrics` endpoint.
//!
//! HTTP/1.1 over plain TCP (hyper), one request per connection, bound to
//! loopback by default. With a token configured every endpoint except
//! `GET /metrics` needs `Authorization: Bearer TOKEN`; a non-loopback
//! address without a token is refused at start. Request bodies are JSON,
//! bounded by `MAX_CONTROL_BODY_BYTES`; answers are JSON (`{"error": ...}`
//! on failure). What the endpoints act on is the [`Control`] trait, so this
//! module knows nothing of the resolver.
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `GET /metrics` | | Prometheus text |
//! | `GET /status` | | [`Control::status`] |
//! | `GET /nta` | | `{"ntas": [NtaView...]}` |
//! | `POST /nta` | `{"zone", "lifetime"?: "1h", "reason"?}` | `NtaView` |
//! | `DELETE /nta/{zone}` | | `{"zone", "removed": true}` or 404 |
//! | `POST /cache/flush` | one of `{"name"}`, `{"zone"}`, `{"all": true}` | `{"flushed", "target"?}` |
//! | `POST /reload` | | `{"reloaded": true}` |

mod request;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::config::ControlSettings;
use crate::limits::{CONTROL_READ_TIMEOUT, MAX_CONTROL_BODY_BYTES, MAX_CONTROL_CONNECTIONS};
use crate::metrics::Metrics;
use crate::nta::{NtaError, NtaView};

pub use request::{Route, percent_decode};

/// Content type of `GET /metrics` (Prometheus text exposition 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long `shutdown` lets requests in progress finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    #[error("cache flush: give exactly one of `name`, `zone` or `\"all\": true`")]
    FlushTarget,
    #[error("no negative trust anchor for {zone}")]
    NoSuchNta { zone: Name },

    // The target.
    #[error(transparent)]
    Nta(#[from] NtaError),
    #[error("reload failed: {0}")]
    Reload(String),
    #[error("cache flush failed: {0}")]
    Flush(String),
}

impl ControlError {
    /// The HTTP status answering this error.
    pub fn status(&self) -> StatusCode {
        use ControlError as E;
        match self {
            E::Unauthorized => StatusCode::UNAUTHORIZED,
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
            | E::FlushTarget => StatusCode::BAD_REQUEST,
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
            | E::TokenFile { .. }
            | E::TokenFileInvalid { .. }
            | E::Reload(_)
            | E::Flush(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

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
    /// Add (or replace) an NTA from the API (source `Api`).
    fn nta_add(
        &self,
        zone: &Name,
        lifetime: Option<Duration>,
        reason: &str,
    ) -> Result<NtaView, ControlError>;
    /// Remove an NTA; false if there was none.
    fn nta_remove(&self, zone: &Name) -> Result<bool, ControlError>;
    fn nta_list(&self) -> Vec<NtaView>;
    fn flush(&self, what: Flush) -> Result<(), ControlError>;
    /// Anything useful to an operator, as a JSON object.
    fn status(&self) -> serde_json::Value;
    /// Reload the configuration; [`ControlError::Reload`] carries the
    /// message naming file, line and key when it is refused.
    fn reload(&self) -> Result<(), ControlError>;
    /// The metrics in Prometheus text format.
    fn metrics_text(&self) -> String;
}

/// Where and how the control API serves.
#[derive(Clone)]
pub struct ControlConfig {
    pub listen: SocketAddr,
    /// Bearer token required on every endpoint except `GET /metrics`.
    pub token: Option<String>,
    /// If set, requests are counted in `lastgood_control_requests_total`.
    pub metrics: Option<Metrics>,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl ControlConfig {
    /// Listen on `listen`, no token, no metrics.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            token: None,
            metrics: None,
        }
    }

    /// From the checked configuration: reads the token file if one is set.
    pub fn from_settings(
        settings: &ControlSettings,
        metrics: Option<Metrics>,
    ) -> Result<Self, ControlError> {
        let token = match &settings.token_file {
            Some(path) => Some(Self::load_token(path)?),
            None => None,
        };
        Ok(Self {
            listen: settings.listen,
            token,
            metrics,
        })
    }

    /// Read a token file: the token is its content, trimmed; it must be
    /// non-empty visible ASCII.
    pub fn load_token(path: &Path) -> Result<String, ControlError> {
        let text = std::fs::read_to_string(path).map_err(|source| ControlError::TokenFile {
            path: path.to_owned(),
            source,
        })?;
        let token = text.trim();
        if !valid_token(token) {
            return Err(ControlError::TokenFileInvalid {
                path: path.to_owned(),
            });
        }
        Ok(token.to_owned())
    }
}

fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// A running control API; dropping it aborts the server.
#[derive(Debug)]
pub struct ControlHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ControlHandle {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting, let requests in progress finish (up to a few
    /// seconds), then stop.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ControlHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Bind and start serving. Refuses a non-loopback `listen` without a
/// token ([`ControlError::TokenRequired`]).
pub async fn serve(
    config: ControlConfig,
    target: Arc<dyn Control>,
) -> Result<ControlHandle, ControlError> {
    if let Some(token) = &config.token {
        if !valid_token(token) {
            return Err(ControlError::InvalidToken);
        }
    } else if !config.listen.ip().is_loopback() {
        return Err(ControlError::TokenRequired {
            listen: config.listen,
        });
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ControlError::Bind {
            listen: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ControlError::Bind {
        listen: config.listen,
        source,
    })?;
    let shared = Arc::new(Shared {
        token: config.token,
        metrics: config.metrics,
        target,
    });
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, shared, stopped));
    tracing::info!(%local_addr, "control API listening");
    Ok(ControlHandle {
        local_addr,
        stop,
        task: Some(task),
    })
}

/// State shared by the request tasks.
struct Shared {
    token: Option<String>,
    metrics: Option<Metrics>,
    target: Arc<dyn Control>,
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_CONTROL_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "control API: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        while conns.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        let stop = stop.clone();
        conns.spawn(async move {
            let _permit = permit;
            serve_connection(stream, shared, stop).await;
        });
    }
    let drain = async { while conns.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
    // Dropping `conns` aborts what is left.
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(CONTROL_READ_TIMEOUT)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "control API connection");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Answer one request and count it.
async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = Route::parse(&method, &path);
    let endpoint = route.as_ref().map_or("unknown", Route::label);
    let response = match answer(shared, route, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    let status = response.status();
    if let Some(m) = &shared.metrics {
        m.control_requests
            .with_label_values(&[endpoint, status.as_str()])
            .inc();
    }
    if method == Method::GET {
        tracing::debug!(%method, %path, status = status.as_u16(), "control request");
    } else {
        tracing::info!(%method, %path, status = status.as_u16(), "control request");
    }
    response
}

async fn answer(
    shared: &Shared,
    route: Result<Route, ControlError>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, ControlError> {
    let public = matches!(route, Ok(Route::Metrics));
    if !public
        && let Some(token) = &shared.token
        && !request::authorized(token, req.headers())
    {
        return Err(ControlError::Unauthorized);
    }
    let route = route?;
    let target = &*shared.target;
    match route {
        Route::Metrics => Ok(text_response(target.metrics_text())),
        Route::Status => Ok(json_response(StatusCode::OK, &target.status())),
        Route::NtaList => Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({ "ntas": target.nta_list() }),
        )),
        Route::NtaAdd => {
            let body = request::read_body(req).await?;
            let add = request::NtaAdd::parse(&body)?;
            let view = target.nta_add(&add.zone, add.lifetime, &add.reason)?;
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
        Route::CacheFlush => {
            let body = request::read_body(req).await?;
            let what = request::parse_flush(&body)?;
            let answer = match &what {
                Flush::Name(n) => serde_json::json!({ "flushed": "name", "target": n.to_string() }),
                Flush::Zone(z) => serde_json::json!({ "flushed": "zone", "target": z.to_string() }),
                Flush::All => serde_json::json!({ "flushed": "all" }),
            };
            target.flush(what)?;
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
        ControlError::Unauthorized => {
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
    fn token_file_is_trimmed_and_checked() {
        let dir = std::env::temp_dir().join(format!("lastgood-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "  s3cret-Token\n").unwrap();
        assert_eq!(ControlConfig::load_token(&file).unwrap(), "s3cret-Token");
        for bad in ["", " \n", "two words"] {
            std::fs::write(&file, bad).unwrap();
            let err = ControlConfig::load_token(&file).unwrap_err().to_string();
            assert!(err.contains(&file.display().to_string()), "{err}");
        }
        let missing = dir.join("missing");
        let err = ControlConfig::load_token(&missing).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn statuses() {
        let cases = [
            (ControlError::Unauthorized, 401),
            (ControlError::FlushTarget, 400),
            (ControlError::Nta(NtaError::RootZone), 400),
            (ControlError::Nta(NtaError::TooMany { count: 2000 }), 409),
            (ControlError::Reload("x.toml:1: bad".into()), 500),
            (ControlError::BodyTooLarge, 413),
        ];
        for (e, want) in cases {
            assert_eq!(e.status().as_u16(), want, "{e}");
        }
    }

    #[test]
    fn config_debug_hides_token() {
        let mut c = ControlConfig::new("127.0.0.1:1".parse().unwrap());
        c.token = Some("hunter2".into());
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
