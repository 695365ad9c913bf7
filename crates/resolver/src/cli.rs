//! Operator subcommands that talk to a running resolver's control API:
//! `lastgood nta add|remove|list`, `lastgood cache flush`, `lastgood
//! reload`, `lastgood status`, `lastgood lookup` (tables in `show.rs`). `main.rs` parses them with clap (the
//! `*Args` types here) and calls the `run_*` functions; the async
//! functions of the same names return the text to print, for tests.
//!
//! Where the CLI talks: the local Unix socket by default (no flag, no
//! token: the socket's file mode is the access control), or `--control`:
//! `unix:PATH` (or an absolute path), `ADDR:PORT`, `http://HOST:PORT`, or
//! `https://HOST:PORT` with `--tls-ca FILE` (a CA, or the server's own
//! certificate, which pins it). TCP needs the token (`--token-file`, or the
//! configuration's `control-token-file` or `state-dir/control.token`).
//!
//! The HTTP client is hyper's HTTP/1.1 connection over that stream: one
//! request per connection, bounded in time and size. State-changing
//! requests are sent as `application/json`, as the server requires.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::{Config, ConfigError, SYSTEM_CONTROL_SOCKET, default_control_socket};
use crate::control::{ControlError, load_token, state_dir_token, tls};
use crate::limits::{CONTROL_CLIENT_TIMEOUT, MAX_CONTROL_RESPONSE_BYTES};
use crate::nta::NtaView;

mod show;

/// Errors of the operator subcommands.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "--control {value:?}: expected unix:PATH, /PATH, ADDRESS:PORT, http://HOST:PORT or \
         https://HOST:PORT"
    )]
    BadControl { value: String },
    #[error("--control {value:?}: https:// needs --tls-ca FILE (a CA or the server's certificate)")]
    NoTlsCa { value: String },
    #[error("the configuration turns both control-socket and control-listen off")]
    NoControl,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Token(#[from] ControlError),
    #[error(
        "cannot connect to the control API at {addr}: {source} \
         (is `lastgood serve` running with that control-socket or control-listen? \
         a socket needs the resolver's user, or root)"
    )]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("control API at {addr}: TLS: {source}")]
    Tls {
        addr: String,
        source: std::io::Error,
    },
    #[error("control API at {addr}: no answer within {}s", CONTROL_CLIENT_TIMEOUT.as_secs())]
    Timeout { addr: String },
    #[error("control API at {addr}: {source}")]
    Http { addr: String, source: hyper::Error },
    #[error("building the request: {source}")]
    Request { source: hyper::http::Error },
    #[error(
        "control API at {addr}: answer larger than the limit MAX_CONTROL_RESPONSE_BYTES \
         ({MAX_CONTROL_RESPONSE_BYTES} bytes)"
    )]
    TooLarge { addr: String },
    #[error("control API at {addr}: reading the answer: {source}")]
    Body {
        addr: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("control API at {addr}: the answer is not the expected JSON: {source}")]
    BadAnswer {
        addr: String,
        source: serde_json::Error,
    },
    #[error("control API answered {status}: {message}")]
    Api { status: StatusCode, message: String },
    #[error("starting the tokio runtime: {source}")]
    Runtime { source: std::io::Error },
}

/// How to reach the control API (common to every operator subcommand).
#[derive(Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlOpts {
    /// Control API: unix:PATH, /PATH, ADDRESS:PORT, http://HOST:PORT or
    /// https://HOST:PORT [default: control-socket of --config, else its
    /// control-listen; without --config the default local socket].
    #[arg(long, global = true, value_name = "URL|ADDR|PATH")]
    pub control: Option<String>,
    /// File holding the bearer token for TCP [default: control-token-file
    /// of --config, else its state-dir/control.token].
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM certificates to trust for https:// (a CA, or the server's own
    /// certificate) [default: control-tls-cert of --config].
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// The resolver's configuration file, to take control-socket,
    /// control-listen and control-token-file from [default:
    /// /etc/lastgood/lastgood.toml if it exists].
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `lastgood nta ...`
#[derive(Args, Debug)]
pub struct NtaArgs {
    #[command(flatten)]
    pub control: ControlOpts,
    #[command(subcommand)]
    pub command: NtaCommand,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum NtaCommand {
    /// Add (or replace) a negative trust anchor: ZONE and everything below
    /// it are resolved without DNSSEC validation until it expires.
    Add {
        /// The zone, e.g. lab.
        zone: String,
        /// How long it lasts: 30m, 1h, 2d (default 1h, at most 7d).
        #[arg(long)]
        lifetime: Option<String>,
        /// Why, for whoever looks at `nta list` next.
        #[arg(long)]
        reason: Option<String>,
        /// Keep it until its lifetime ends even if the recheck finds the
        /// zone validating again (BIND's `rndc nta -force`); without it
        /// the recheck lifts the NTA as soon as the zone validates.
        #[arg(long)]
        force: bool,
    },
    /// Remove a negative trust anchor.
    Remove {
        /// The zone, e.g. lab.
        zone: String,
    },
    /// List negative trust anchors with their remaining lifetime.
    List,
}

/// `lastgood cache ...`
#[derive(Args, Debug)]
pub struct CacheArgs {
    #[command(flatten)]
    pub control: ControlOpts,
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum CacheCommand {
    /// Drop cached data: one name, a zone and everything below, or all.
    Flush(FlushArgs),
    /// Write the last-good store's entries (with their chains of trust)
    /// to FILE, a new file on the resolver's host.
    Dump {
        /// Created by the resolver (never overwritten), mode 0600.
        file: std::path::PathBuf,
    },
    /// Load a dump: every entry is proven again against the trust anchors
    /// before it goes into the cache and the store.
    Load {
        /// A file written by `cache dump`, read by the resolver.
        file: std::path::PathBuf,
    },
}

#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[command(group(ArgGroup::new("what").required(true).args(["name", "zone", "all", "bogus"])))]
pub struct FlushArgs {
    /// Every record of this owner name.
    #[arg(long)]
    pub name: Option<String>,
    /// This name and everything below it.
    #[arg(long)]
    pub zone: Option<String>,
    /// The whole cache.
    #[arg(long)]
    pub all: bool,
    /// Drop the last validated answers too. By default a zone or
    /// whole-cache flush makes them expire but keeps them for the stale
    /// tier, so a flush during an outage never turns them into SERVFAIL.
    #[arg(long)]
    pub drop_stale: bool,
    /// Flush every instance sharing this one's Redis (`redis-url`), not
    /// only this one.
    #[arg(long)]
    pub fleet: bool,
    /// Drop what failed validation (like `unbound-control flush_bogus`):
    /// Bogus and Indeterminate answers (the CD=1 view), Bogus and
    /// Indeterminate key verdicts and validation failure windows, so the next
    /// question validates afresh. Validated answers stay.
    #[arg(long, conflicts_with_all = ["drop_stale", "fleet"])]
    pub bogus: bool,
}

/// `lastgood status`
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct StatusArgs {
    #[command(flatten)]
    pub control: ControlOpts,
    /// Print the full status object as JSON (the table leaves some out).
    #[arg(long)]
    pub json: bool,
}

/// `lastgood lookup`
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct LookupArgs {
    #[command(flatten)]
    pub control: ControlOpts,
    /// The name, e.g. www.example.lab.
    pub name: String,
    /// Record type (A, AAAA, MX, DS, DNSKEY, ...).
    #[arg(default_value = "A")]
    pub qtype: String,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `lastgood zone ...`
#[derive(Args, Debug)]
pub struct ZoneArgs {
    #[command(flatten)]
    pub control: ControlOpts,
    #[command(subcommand)]
    pub command: ZoneCommand,
}

#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum ZoneCommand {
    /// End ZONE's failure window by probing it now (like a flush that
    /// keeps everything): says whether the zone recovered.
    Retry {
        /// The zone, e.g. example.lab.
        zone: String,
    },
}

/// Run `lastgood nta ...` and print the result.
pub fn run_nta(args: NtaArgs) -> Result<(), CliError> {
    print_result(block_on(nta(&args))?)
}

/// Run `lastgood cache ...` and print the result.
pub fn run_cache(args: CacheArgs) -> Result<(), CliError> {
    print_result(block_on(cache(&args))?)
}

/// Run `lastgood zone ...` and print the result.
pub fn run_zone(args: ZoneArgs) -> Result<(), CliError> {
    print_result(block_on(zone(&args))?)
}

/// `lastgood zone ...`: the text to print.
pub async fn zone(args: &ZoneArgs) -> Result<String, CliError> {
    let api = Api::new(&args.control)?;
    let ZoneCommand::Retry { zone } = &args.command;
    let answer = api
        .call(
            Method::POST,
            "/zone/retry",
            Some(serde_json::json!({ "zone": zone })),
        )
        .await?;
    let zone = answer.get("zone").and_then(Value::as_str).unwrap_or(zone);
    let was_failing = answer.get("was_failing").and_then(Value::as_bool);
    let recovered = answer.get("recovered").and_then(Value::as_bool);
    Ok(match (was_failing, recovered) {
        (Some(false), _) => format!("{zone} was not failing\n"),
        (_, Some(true)) => format!("{zone} answers again: failure window closed\n"),
        (_, Some(false)) => format!("{zone} still failing: the window stays, probes go on\n"),
        _ => format!("{zone}: probe still running; see `lastgood status`\n"),
    })
}

/// Run `lastgood reload` and print the result.
pub fn run_reload(opts: ControlOpts) -> Result<(), CliError> {
    print_result(block_on(reload(&opts))?)
}

/// Run `lastgood status` and print the result.
pub fn run_status(args: StatusArgs) -> Result<(), CliError> {
    print_result(block_on(status_text(&args))?)
}

/// Run `lastgood lookup` and print the result.
pub fn run_lookup(args: LookupArgs) -> Result<(), CliError> {
    print_result(block_on(lookup(&args))?)
}

/// `lastgood lookup`: the text to print (a table, or JSON with
/// `--json`). Never causes an upstream query.
pub async fn lookup(args: &LookupArgs) -> Result<String, CliError> {
    let api = Api::new(&args.control)?;
    let path = format!(
        "/lookup?name={}&type={}",
        percent_encode(&args.name),
        percent_encode(&args.qtype)
    );
    let answer = api.call(Method::GET, &path, None).await?;
    if args.json {
        return api.pretty(&answer);
    }
    Ok(show::lookup_table(&answer))
}

fn print_result(text: String) -> Result<(), CliError> {
    print!("{text}");
    Ok(())
}

fn block_on<T>(f: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Runtime { source })?
        .block_on(f)
}

/// `lastgood nta ...`: the text to print.
pub async fn nta(args: &NtaArgs) -> Result<String, CliError> {
    let api = Api::new(&args.control)?;
    match &args.command {
        NtaCommand::Add {
            zone,
            lifetime,
            reason,
            force,
        } => {
            let mut body = serde_json::Map::new();
            body.insert("zone".into(), Value::from(zone.as_str()));
            if let Some(l) = lifetime {
                body.insert("lifetime".into(), Value::from(l.as_str()));
            }
            if let Some(r) = reason {
                body.insert("reason".into(), Value::from(r.as_str()));
            }
            if *force {
                body.insert("force".into(), Value::Bool(true));
            }
            let body = Value::Object(body);
            let answer = api.call(Method::POST, "/nta", Some(body)).await?;
            let view: NtaView = api.decode(answer)?;
            Ok(format!(
                "negative trust anchor for {} added; expires in {}{}\n",
                view.zone,
                format_remaining(view.remaining),
                if view.force {
                    " (forced: the recheck does not lift it)"
                } else {
                    ""
                }
            ))
        }
        NtaCommand::Remove { zone } => {
            let path = format!("/nta/{}", percent_encode(zone));
            let answer = api.call(Method::DELETE, &path, None).await?;
            let zone = answer.get("zone").and_then(Value::as_str).unwrap_or(zone);
            Ok(format!("negative trust anchor for {zone} removed\n"))
        }
        NtaCommand::List => {
            let answer = api.call(Method::GET, "/nta", None).await?;
            #[derive(serde::Deserialize)]
            struct List {
                ntas: Vec<NtaView>,
            }
            let list: List = api.decode(answer)?;
            Ok(nta_table(&list.ntas))
        }
    }
}

/// `lastgood cache ...`: the text to print.
pub async fn cache(args: &CacheArgs) -> Result<String, CliError> {
    let api = Api::new(&args.control)?;
    let f = match &args.command {
        CacheCommand::Flush(f) => f,
        CacheCommand::Dump { file } | CacheCommand::Load { file } => {
            let dump = matches!(args.command, CacheCommand::Dump { .. });
            // The resolver opens the file: give it an absolute path.
            let file = std::path::absolute(file).unwrap_or_else(|_| file.clone());
            let body = serde_json::json!({ "file": file.display().to_string() });
            let path = if dump { "/cache/dump" } else { "/cache/load" };
            let answer = api.call(Method::POST, path, Some(body)).await?;
            let mut text = serde_json::to_string_pretty(&answer).unwrap_or_default();
            text.push('\n');
            return Ok(text);
        }
    };
    if f.bogus {
        let answer = api
            .call(
                Method::POST,
                "/cache/flush",
                Some(serde_json::json!({ "bogus": true })),
            )
            .await?;
        let n = |k: &str| answer.get(k).and_then(Value::as_u64).unwrap_or(0);
        return Ok(format!(
            "cache flushed: bogus data: {} answers (CD view), {} key verdicts, {} validation \
             failure windows closed\n",
            n("cache_entries"),
            n("key_verdicts"),
            n("windows")
        ));
    }
    let (mut body, what) = match (&f.name, &f.zone, f.all) {
        (Some(n), _, _) => (serde_json::json!({ "name": n }), format!("name {n}")),
        (None, Some(z), _) => (
            serde_json::json!({ "zone": z }),
            format!("zone {z} and below"),
        ),
        (None, None, _) => (serde_json::json!({ "all": true }), "everything".to_owned()),
    };
    let what = if f.drop_stale {
        if let Some(map) = body.as_object_mut() {
            map.insert("drop_stale".into(), Value::Bool(true));
        }
        format!("{what}, stale copies dropped")
    } else {
        what
    };
    let what = if f.fleet {
        if let Some(map) = body.as_object_mut() {
            map.insert("fleet".into(), Value::Bool(true));
        }
        format!("{what}, on every instance of the fleet")
    } else {
        what
    };
    api.call(Method::POST, "/cache/flush", Some(body)).await?;
    Ok(format!("cache flushed: {what}\n"))
}

/// `lastgood reload`: the text to print.
pub async fn reload(opts: &ControlOpts) -> Result<String, CliError> {
    let api = Api::new(opts)?;
    api.call(Method::POST, "/reload", None).await?;
    Ok("configuration reloaded\n".to_owned())
}

/// `lastgood status`: the text to print: a table, or with `--json` the
/// status object as pretty JSON (its shape unchanged).
pub async fn status_text(args: &StatusArgs) -> Result<String, CliError> {
    let api = Api::new(&args.control)?;
    let answer = api.call(Method::GET, "/status", None).await?;
    if args.json {
        return api.pretty(&answer);
    }
    Ok(show::status_table(&answer))
}

/// `lastgood status --json`: the status object, pretty JSON.
pub async fn status(opts: &ControlOpts) -> Result<String, CliError> {
    status_text(&StatusArgs {
        control: opts.clone(),
        json: true,
    })
    .await
}

/// NTAs as a table: zone, remaining, source, forced, reason.
pub fn nta_table(ntas: &[NtaView]) -> String {
    if ntas.is_empty() {
        return "no negative trust anchors\n".to_owned();
    }
    let rows: Vec<Vec<String>> = ntas
        .iter()
        .map(|v| {
            vec![
                v.zone.to_string(),
                format_remaining(v.remaining),
                v.source.as_str().to_owned(),
                if v.force { "yes" } else { "no" }.to_owned(),
                v.reason.clone(),
            ]
        })
        .collect();
    show::table(&["ZONE", "REMAINING", "SOURCE", "FORCE", "REASON"], &rows)
}

/// `3d 4h`, `1h 0m`, `59m 59s`, `5s`.
pub fn format_remaining(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

/// Percent-encode everything but unreserved characters (RFC 3986 §2.3).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where `--control` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Unix socket path.
    Unix(PathBuf),
    /// `host:port`, over TLS if `https`.
    Tcp { authority: String, https: bool },
}

/// Parse `--control`: `unix:PATH`, `/PATH`, `ADDRESS:PORT`, `HOST:PORT`,
/// `http://HOST:PORT[/]` or `https://HOST:PORT[/]`.
pub fn control_target(value: &str) -> Result<Target, CliError> {
    let bad = || CliError::BadControl {
        value: value.to_owned(),
    };
    let v = value.trim();
    if let Some(path) = v.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(bad());
        }
        return Ok(Target::Unix(PathBuf::from(path)));
    }
    if v.starts_with('/') {
        return Ok(Target::Unix(PathBuf::from(v)));
    }
    let scheme = |p: &str| v.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p));
    let (rest, https) = if scheme("https://") {
        (v.get(8..).unwrap_or_default(), true)
    } else if scheme("http://") {
        (v.get(7..).unwrap_or_default(), false)
    } else {
        (v, false)
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '@', '?', '#', ' ']) {
        return Err(bad());
    }
    let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && !host.contains(':'),
    };
    if !host_ok || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(Target::Tcp {
        authority: authority.to_owned(),
        https,
    })
}

/// The default socket as seen by this user: a non-root operator (in the
/// socket's group) reaches a resolver running as root at the system path
/// when there is none of their own.
fn local_default(own: PathBuf) -> PathBuf {
    let system = PathBuf::from(SYSTEM_CONTROL_SOCKET);
    if !own.exists() && system.exists() {
        system
    } else {
        own
    }
}

/// How to connect.
enum Endpoint {
    Unix(PathBuf),
    Tcp {
        authority: String,
        tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    },
}

/// A resolved control API endpoint and token.
struct Api {
    endpoint: Endpoint,
    /// Names the endpoint in errors.
    authority: String,
    token: Option<String>,
}

/// The TLS server name of `host:port` (an IP address or a DNS name).
fn server_name(authority: &str) -> Option<ServerName<'static>> {
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).ok()
}

impl Api {
    fn new(opts: &ControlOpts) -> Result<Api, CliError> {
        let config = match &opts.config {
            Some(path) => Some(Config::load(path)?),
            None => None,
        };
        let target = match (&opts.control, &config) {
            (Some(c), _) => control_target(c)?,
            (None, Some(config)) => match (&config.control.socket, config.control.listen) {
                (Some(path), _) => Target::Unix(path.clone()),
                (None, Some(listen)) => Target::Tcp {
                    authority: listen.to_string(),
                    https: config.control.tls.is_some(),
                },
                (None, None) => return Err(CliError::NoControl),
            },
            (None, None) => Target::Unix(default_control_socket()),
        };
        let target = match target {
            Target::Unix(path) if path == default_control_socket() => {
                Target::Unix(local_default(path))
            }
            other => other,
        };
        let (authority, https) = match target {
            Target::Unix(path) => {
                return Ok(Api {
                    authority: format!("unix:{}", path.display()),
                    endpoint: Endpoint::Unix(path),
                    token: None,
                });
            }
            Target::Tcp { authority, https } => (authority, https),
        };
        let tls = if https {
            let ca = opts
                .tls_ca
                .clone()
                .or_else(|| {
                    config
                        .as_ref()
                        .and_then(|c| c.control.tls.clone())
                        .map(|t| t.0)
                })
                .ok_or_else(|| CliError::NoTlsCa {
                    value: authority.clone(),
                })?;
            let name = server_name(&authority).ok_or_else(|| CliError::BadControl {
                value: authority.clone(),
            })?;
            Some((tls::client_config(&ca)?, name))
        } else {
            None
        };
        let token_file = opts.token_file.clone().or_else(|| {
            let c = config.as_ref()?;
            c.control.token_file.clone().or_else(|| {
                let dir = c.state_dir.as_ref()?;
                Some(state_dir_token(dir)).filter(|p| p.exists())
            })
        });
        let token = match token_file {
            Some(path) => Some(load_token(&path)?),
            None => None,
        };
        Ok(Api {
            endpoint: Endpoint::Tcp {
                authority: authority.clone(),
                tls,
            },
            authority,
            token,
        })
    }

    /// Send one request; the answer's JSON on a 2xx status, else
    /// [`CliError::Api`] with the server's error message.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let exchange = self.exchange(method, path, body);
        let (status, bytes) = tokio::time::timeout(CONTROL_CLIENT_TIMEOUT, exchange)
            .await
            .map_err(|_| CliError::Timeout {
                addr: self.authority.clone(),
            })??;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if !status.is_success() {
            let message = json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
            return Err(CliError::Api { status, message });
        }
        serde_json::from_slice(&bytes).map_err(|source| CliError::BadAnswer {
            addr: self.authority.clone(),
            source,
        })
    }

    /// `v` as pretty JSON, one trailing newline.
    fn pretty(&self, v: &Value) -> Result<String, CliError> {
        let mut text = serde_json::to_string_pretty(v).map_err(|source| CliError::BadAnswer {
            addr: self.authority.clone(),
            source,
        })?;
        text.push('\n');
        Ok(text)
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, v: Value) -> Result<T, CliError> {
        serde_json::from_value(v).map_err(|source| CliError::BadAnswer {
            addr: self.authority.clone(),
            source,
        })
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Bytes), CliError> {
        let connect = |source| CliError::Connect {
            addr: self.authority.clone(),
            source,
        };
        let host = match &self.endpoint {
            Endpoint::Unix(_) => "localhost",
            Endpoint::Tcp { authority, .. } => authority.as_str(),
        };
        let changes = method != Method::GET;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host)
            .header(header::USER_AGENT, "lastgood-cli");
        if let Some(token) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => Bytes::from(v.to_string()),
            None if changes => Bytes::from_static(b"{}"),
            None => Bytes::new(),
        };
        if changes {
            req = req.header(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let req = req
            .body(Full::new(body))
            .map_err(|source| CliError::Request { source })?;
        match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(connect)?;
                self.send(stream, req).await
            }
            Endpoint::Tcp { authority, tls } => {
                let stream = tokio::net::TcpStream::connect(authority.as_str())
                    .await
                    .map_err(connect)?;
                match tls {
                    None => self.send(stream, req).await,
                    Some((config, name)) => {
                        let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                            .connect(name.clone(), stream)
                            .await
                            .map_err(|source| CliError::Tls {
                                addr: self.authority.clone(),
                                source,
                            })?;
                        self.send(stream, req).await
                    }
                }
            }
        }
    }

    async fn send<S>(
        &self,
        stream: S,
        req: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), CliError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let addr = || self.authority.clone();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| CliError::Http {
                addr: addr(),
                source,
            })?;
        let driver = tokio::spawn(conn);
        let result = async {
            let resp = send
                .send_request(req)
                .await
                .map_err(|source| CliError::Http {
                    addr: addr(),
                    source,
                })?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_CONTROL_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|source| {
                    if source.downcast_ref::<LengthLimitError>().is_some() {
                        CliError::TooLarge { addr: addr() }
                    } else {
                        CliError::Body {
                            addr: addr(),
                            source,
                        }
                    }
                })?;
            Ok((status, body.to_bytes()))
        }
        .await;
        driver.abort();
        result
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

    use std::str::FromStr;

    use hickory_proto::rr::Name;

    use super::*;
    use crate::clock::Timestamp;
    use crate::nta::NtaSource;

    #[test]
    fn targets() {
        let tcp = |a: &str, https| Target::Tcp {
            authority: a.to_owned(),
            https,
        };
        for (input, want) in [
            ("127.0.0.1:8053", tcp("127.0.0.1:8053", false)),
            ("http://127.0.0.1:8053", tcp("127.0.0.1:8053", false)),
            ("HTTP://localhost:1/", tcp("localhost:1", false)),
            ("[::1]:8053", tcp("[::1]:8053", false)),
            ("http://[::1]:8053/", tcp("[::1]:8053", false)),
            ("https://h:1", tcp("h:1", true)),
            ("unix:/run/x.sock", Target::Unix("/run/x.sock".into())),
            ("/run/x.sock", Target::Unix("/run/x.sock".into())),
        ] {
            assert_eq!(control_target(input).unwrap(), want, "{input}");
        }
        for bad in [
            "",
            "127.0.0.1",
            "http://",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            "http://h:1/path",
            "::1:8053",
            "ftp://h:1",
            "unix:",
        ] {
            assert!(
                matches!(control_target(bad), Err(CliError::BadControl { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            server_name("127.0.0.1:1").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert!(server_name("[::1]:1").is_some());
        assert!(server_name("localhost:1").is_some());
    }

    #[test]
    fn remaining_and_table() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (3599, "59m 59s"),
            (3600, "1h 0m"),
            (7 * 86_400 - 1, "6d 23h"),
        ];
        for (secs, want) in cases {
            assert_eq!(format_remaining(Duration::from_secs(secs)), want);
        }
        assert_eq!(nta_table(&[]), "no negative trust anchors\n");
        let view = |zone: &str, secs, source, reason: &str| NtaView {
            zone: Name::from_str(zone).unwrap(),
            reason: reason.into(),
            source,
            remaining: Duration::from_secs(secs),
            expires_at: Timestamp::from_secs(0),
            force: reason.is_empty(),
        };
        let table = nta_table(&[
            view("lab.", 3599, NtaSource::Api, "KSK roll"),
            view("very.long.example.", 60, NtaSource::Config, ""),
        ]);
        let want = "\
ZONE                REMAINING  SOURCE  FORCE  REASON
lab.                59m 59s    api     no     KSK roll
very.long.example.  1m 0s      config  yes
";
        assert_eq!(table, want);
    }

    /// The way `main.rs` wires these in.
    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Command {
        Nta(NtaArgs),
        Cache(CacheArgs),
        Reload(ControlOpts),
        Status(StatusArgs),
        Lookup(LookupArgs),
    }

    #[test]
    fn clap_wiring() {
        use clap::{CommandFactory, Parser};
        Cli::command().debug_assert();
        let parse = |args: &[&str]| Cli::try_parse_from(["lastgood"].iter().chain(args));
        let cli = parse(&[
            "nta",
            "add",
            "lab.",
            "--lifetime",
            "2h",
            "--reason",
            "KSK",
            "--control",
            "127.0.0.1:1",
            "--token-file",
            "/t",
        ])
        .unwrap();
        let Command::Nta(args) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(args.control.control.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(args.control.token_file, Some(PathBuf::from("/t")));
        assert_eq!(
            args.command,
            NtaCommand::Add {
                zone: "lab.".into(),
                lifetime: Some("2h".into()),
                reason: Some("KSK".into()),
                force: false,
            }
        );
        let cli = parse(&["nta", "add", "lab.", "--force"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Nta(NtaArgs {
                command: NtaCommand::Add { force: true, .. },
                ..
            })
        ));
        let cli = parse(&["nta", "--control", "h:1", "list"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Nta(NtaArgs {
                command: NtaCommand::List,
                ..
            })
        ));
        assert!(parse(&["nta", "remove", "lab."]).is_ok());
        assert!(parse(&["cache", "flush", "--zone", "lab."]).is_ok());
        assert!(parse(&["cache", "flush", "--all"]).is_ok());
        assert!(parse(&["cache", "flush"]).is_err(), "one target required");
        assert!(parse(&["cache", "flush", "--all", "--name", "a."]).is_err());
        assert!(parse(&["cache", "flush", "--zone", "lab.", "--drop-stale"]).is_ok());
        let cli = parse(&["reload", "-c", "/etc/lastgood.toml"]).unwrap();
        let Command::Reload(opts) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(opts.config, Some(PathBuf::from("/etc/lastgood.toml")));
        assert!(parse(&["status"]).is_ok());
        let cli = parse(&["status", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Status(StatusArgs { json: true, .. })
        ));
        assert!(parse(&["cache", "flush", "--bogus"]).is_ok());
        assert!(parse(&["cache", "flush", "--bogus", "--all"]).is_err());
        assert!(parse(&["cache", "flush", "--bogus", "--drop-stale"]).is_err());
        let cli = parse(&["lookup", "www.lab."]).unwrap();
        let Command::Lookup(args) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(
            (args.name.as_str(), args.qtype.as_str(), args.json),
            ("www.lab.", "A", false)
        );
        let cli = parse(&["lookup", "lab.", "dnskey", "--json"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Lookup(LookupArgs { json: true, .. })
        ));
    }

    #[test]
    fn encodes_paths() {
        assert_eq!(percent_encode("lab."), "lab.");
        assert_eq!(percent_encode("a b/c%"), "a%20b%2Fc%25");
        assert_eq!(
            crate::control::percent_decode(&percent_encode("x\\.y é")).unwrap(),
            "x\\.y é"
        );
    }
}
