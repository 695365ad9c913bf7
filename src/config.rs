//! Configuration: TOML (serde, unknown keys rejected) parsed into a raw
//! struct, then checked into a typed [`Config`]. Every error names the
//! file, the line where it can, the key, the value and what is allowed;
//! nothing is silently clamped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::dnssec::AlgorithmPolicy;
use crate::limits;
use crate::nta::ConfigNta;
use crate::resolve::TtlLimits;

/// Errors loading or checking a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{source_name}:{line}: {message}")]
    Syntax {
        source_name: String,
        line: usize,
        message: String,
    },
    #[error("{source_name}: key `{key}`: value {value:?} is invalid: {allowed}")]
    Invalid {
        source_name: String,
        key: &'static str,
        value: String,
        allowed: &'static str,
    },
    #[error("{source_name}:{line}: key `{key}`: value {value:?} is invalid: {allowed}")]
    InvalidEntry {
        source_name: String,
        line: usize,
        key: &'static str,
        value: String,
        allowed: String,
    },
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    listen: Option<Vec<String>>,
    allow: Option<Vec<String>>,
    root_hints: Option<PathBuf>,
    trust_anchor: Option<PathBuf>,
    upstream_port: Option<u16>,
    dnssec: Option<bool>,
    qname_minimisation: Option<bool>,
    // Name server addresses (issue 15): `do-ip6`.
    #[serde(alias = "do_ip6")]
    do_ip6: Option<bool>,
    cache_size: Option<u64>,
    max_stale_ttl: Option<String>,
    serve_stale: Option<bool>,
    stale_answer_ttl: Option<String>,
    client_response_timer: Option<String>,
    failure_recheck: Option<String>,
    log_format: Option<String>,
    // Control API, NTAs, state directory, ACL action (see the block after
    // `parse_duration`).
    control_listen: Option<String>,
    control_token_file: Option<PathBuf>,
    control_socket: Option<PathBuf>,
    control_socket_group: Option<toml::Spanned<String>>,
    control_tls_cert: Option<PathBuf>,
    control_tls_key: Option<PathBuf>,
    control_allow_origin: Option<Vec<String>>,
    control_allow_host: Option<Vec<String>>,
    state_dir: Option<PathBuf>,
    refused_clients: Option<toml::Spanned<String>>,
    nta_state_file: Option<PathBuf>,
    nta_recheck_interval: Option<String>,
    nta: Option<Vec<RawNta>>,
    // Private zones and rebinding protection (see the block at the end).
    #[serde(alias = "forward_zone")]
    forward_zone: Option<Vec<RawPrivateZone>>,
    #[serde(alias = "stub_zone")]
    stub_zone: Option<Vec<RawPrivateZone>>,
    #[serde(alias = "private_address")]
    private_address: Option<toml::Spanned<RawPrivateAddress>>,
    // Validator algorithms and cache TTL bounds (see the block at the end).
    sha1_algorithms: Option<toml::Spanned<String>>,
    cache_min_ttl: Option<toml::Spanned<RawTtl>>,
    cache_max_ttl: Option<toml::Spanned<RawTtl>>,
    cache_max_negative_ttl: Option<toml::Spanned<RawTtl>>,
    // The fleet tier (issue 18): `redis-url`, `redis-password-file`.
    redis_url: Option<String>,
    redis_password_file: Option<PathBuf>,
    // The last-good store (issue 18).
    store: Option<bool>,
    store_size: Option<u64>,
}

/// A checked configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Addresses to serve on (UDP and TCP each).
    pub listen: Vec<SocketAddr>,
    /// Client networks allowed; `None` means the private default
    /// (loopback, RFC 1918, ULA).
    pub allow: Option<Vec<IpNet>>,
    pub root_hints: Option<PathBuf>,
    pub trust_anchor: Option<PathBuf>,
    pub upstream_port: u16,
    pub dnssec: bool,
    pub qname_minimisation: bool,
    /// `do-ip6` (default true): ask name servers over IPv6 too (off for
    /// hosts without IPv6).
    pub do_ip6: bool,
    /// Cache bound in bytes (`cache-size`).
    pub cache_bytes: u64,
    /// `max-stale-ttl`: how long past TTL entries stay usable (RFC 8767 §5).
    pub max_stale: Duration,
    /// The serve-stale tier (RFC 8767) and its timers.
    pub stale: StaleConfig,
    pub log_format: LogFormat,
    /// The control API (Unix socket and TCP).
    pub control: ControlSettings,
    /// `state-dir`: where optional state lives (NTA file, control token).
    pub state_dir: Option<PathBuf>,
    /// `refused-clients`: answer REFUSED or drop clients the ACL refuses.
    pub refused_clients: RefusedClients,
    /// Negative trust anchors.
    pub nta: NtaSettings,
    /// `[[forward-zone]]` and `[[stub-zone]]` tables, in file order.
    pub private_zones: Vec<PrivateZoneConfig>,
    /// `private-address`: networks stripped from public answers (empty: off).
    pub private_address: Vec<IpNet>,
    /// `sha1-algorithms`: validate RSASHA1 (5, 7) or treat them as unsupported.
    pub algorithms: AlgorithmPolicy,
    /// `cache-min-ttl`, `cache-max-ttl`, `cache-max-negative-ttl`.
    pub ttl: TtlLimits,
    /// `redis-url`, `redis-password-file`: the fleet tier (off if unset).
    pub fleet: Option<crate::fleet::FleetSettings>,
    /// `store`, `store-size`: the last-good store in `state-dir`.
    pub store: StoreSettings,
}

/// The last-good store (issue 18): on by default when `state-dir` is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreSettings {
    /// `store` (default true): keep validated answers in
    /// `state-dir/cache.redb` across restarts.
    pub enabled: bool,
    /// `store-size`: live bytes of stored entries (default 256 MiB).
    pub max_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: crate::store::limits::DEFAULT_STORE_BYTES,
        }
    }
}

/// Serve-stale settings (RFC 8767 §5; names follow Unbound's where one exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleConfig {
    /// `serve-stale`: answer from expired entries when a refresh fails.
    pub enabled: bool,
    /// `stale-answer-ttl`: TTL on stale answers (RFC 8767 §4: 30 s).
    pub answer_ttl: Duration,
    /// `client-response-timer`: answer stale if a refresh takes longer
    /// (RFC 8767 §5: 1.8 s; Unbound `serve-expired-client-timeout`).
    pub client_response_timer: Duration,
    /// `failure-recheck`: after a refresh failed, serve stale straight from
    /// cache for this long before probing again (RFC 8767 §5: 30 s).
    pub failure_recheck: Duration,
}

impl Default for StaleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            answer_ttl: Duration::from_secs(30),
            client_response_timer: Duration::from_millis(1800),
            failure_recheck: Duration::from_secs(30),
        }
    }
}

/// Smallest accepted `cache-size`: 1 MiB.
pub const MIN_CACHE_BYTES: u64 = 1 << 20;
/// Largest accepted `cache-size`: 64 GiB.
pub const MAX_CACHE_BYTES: u64 = 64 << 30;
/// Largest `max-stale-ttl` (RFC 8767 §5 suggests 1-3 days; allow a week).
pub const MAX_STALE_TTL: Duration = Duration::from_secs(7 * 86_400);

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
            allow: None,
            root_hints: None,
            trust_anchor: None,
            upstream_port: 53,
            dnssec: true,
            qname_minimisation: true,
            do_ip6: true,
            cache_bytes: limits::DEFAULT_CACHE_BYTES,
            max_stale: Duration::from_secs(86_400),
            stale: StaleConfig::default(),
            log_format: LogFormat::Text,
            control: ControlSettings::default(),
            state_dir: None,
            refused_clients: RefusedClients::Refuse,
            nta: NtaSettings::default(),
            private_zones: Vec::new(),
            private_address: Vec::new(),
            algorithms: AlgorithmPolicy::default(),
            ttl: TtlLimits::default(),
            fleet: None,
            store: StoreSettings::default(),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse and check TOML text; `source_name` names it in errors, with
    /// the line of the key whenever it is written in the file.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        Self::parse_checked(text, source_name).map_err(|e| match e {
            ConfigError::Invalid {
                source_name,
                key,
                value,
                allowed,
            } => match line_of_key(text, key) {
                Some(line) => ConfigError::InvalidEntry {
                    source_name,
                    line,
                    key,
                    value,
                    allowed: allowed.to_owned(),
                },
                None => ConfigError::Invalid {
                    source_name,
                    key,
                    value,
                    allowed,
                },
            },
            other => other,
        })
    }

    fn parse_checked(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            source_name: source_name.to_owned(),
            line: e.span().map_or(0, |s| line_of(text, s.start)),
            message: e.message().to_owned(),
        })?;
        let invalid =
            |key: &'static str, value: String, allowed: &'static str| ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key,
                value,
                allowed,
            };
        let mut c = Config::default();
        if let Some(listen) = raw.listen {
            if listen.is_empty() {
                return Err(invalid("listen", "[]".into(), "at least one address:port"));
            }
            c.listen = listen
                .iter()
                .map(|s| {
                    s.parse().map_err(|_| {
                        invalid(
                            "listen",
                            s.clone(),
                            "an address:port such as 127.0.0.1:53 or [::1]:53",
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(allow) = raw.allow {
            c.allow = Some(
                allow
                    .iter()
                    .map(|s| {
                        s.parse().map_err(|_| {
                            invalid(
                                "allow",
                                s.clone(),
                                "a network such as 10.0.0.0/8 or fd00::/8",
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            );
        }
        c.root_hints = raw.root_hints;
        c.trust_anchor = raw.trust_anchor;
        if let Some(port) = raw.upstream_port {
            if port == 0 {
                return Err(invalid("upstream-port", "0".into(), "1 to 65535"));
            }
            c.upstream_port = port;
        }
        c.dnssec = raw.dnssec.unwrap_or(c.dnssec);
        c.qname_minimisation = raw.qname_minimisation.unwrap_or(c.qname_minimisation);
        c.do_ip6 = raw.do_ip6.unwrap_or(c.do_ip6);
        if let Some(bytes) = raw.cache_size {
            if !(MIN_CACHE_BYTES..=MAX_CACHE_BYTES).contains(&bytes) {
                return Err(invalid(
                    "cache-size",
                    bytes.to_string(),
                    "1048576 (1 MiB) to 68719476736 (64 GiB) bytes",
                ));
            }
            c.cache_bytes = bytes;
        }
        c.store.enabled = raw.store.unwrap_or(c.store.enabled);
        if let Some(bytes) = raw.store_size {
            use crate::store::limits::{MAX_STORE_BYTES, MIN_STORE_BYTES};
            if !(MIN_STORE_BYTES..=MAX_STORE_BYTES).contains(&bytes) {
                return Err(invalid(
                    "store-size",
                    bytes.to_string(),
                    "1048576 (1 MiB) to 68719476736 (64 GiB) bytes",
                ));
            }
            c.store.max_bytes = bytes;
        }
        if let Some(s) = raw.max_stale_ttl {
            let d = parse_duration(&s).ok_or_else(|| {
                invalid(
                    "max-stale-ttl",
                    s.clone(),
                    "a duration such as 30s, 5m, 1h, 1d",
                )
            })?;
            if d > MAX_STALE_TTL {
                return Err(invalid("max-stale-ttl", s, "at most 7d"));
            }
            c.max_stale = d;
        }
        c.stale.enabled = raw.serve_stale.unwrap_or(c.stale.enabled);
        let duration = |key: &'static str,
                        value: Option<String>,
                        range: (Duration, Duration),
                        allowed: &'static str| {
            let Some(s) = value else { return Ok(None) };
            match parse_duration(&s) {
                Some(d) if (range.0..=range.1).contains(&d) => Ok(Some(d)),
                _ => Err(invalid(key, s, allowed)),
            }
        };
        if let Some(d) = duration(
            "stale-answer-ttl",
            raw.stale_answer_ttl,
            (Duration::from_secs(1), Duration::from_secs(3600)),
            "a duration from 1s to 1h",
        )? {
            c.stale.answer_ttl = d;
        }
        if let Some(d) = duration(
            "client-response-timer",
            raw.client_response_timer,
            (Duration::from_millis(100), Duration::from_secs(10)),
            "a duration from 100ms to 10s",
        )? {
            c.stale.client_response_timer = d;
        }
        if let Some(d) = duration(
            "failure-recheck",
            raw.failure_recheck,
            (Duration::from_secs(1), Duration::from_secs(3600)),
            "a duration from 1s to 1h",
        )? {
            c.stale.failure_recheck = d;
        }
        if let Some(f) = raw.log_format {
            c.log_format = match f.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(invalid("log-format", f, "\"text\" or \"json\"")),
            };
        }
        let ops = RawOperations {
            control_listen: raw.control_listen,
            control_token_file: raw.control_token_file,
            control_socket: raw.control_socket,
            control_socket_group: raw.control_socket_group,
            control_tls_cert: raw.control_tls_cert,
            control_tls_key: raw.control_tls_key,
            control_allow_origin: raw.control_allow_origin,
            control_allow_host: raw.control_allow_host,
            state_dir: raw.state_dir,
            refused_clients: raw.refused_clients,
            nta_state_file: raw.nta_state_file,
            nta_recheck_interval: raw.nta_recheck_interval,
            nta: raw.nta,
        };
        (c.control, c.nta, c.state_dir, c.refused_clients) = ops.check(text, source_name)?;
        let private = RawPrivate {
            forward_zone: raw.forward_zone,
            stub_zone: raw.stub_zone,
            private_address: raw.private_address,
        };
        (c.private_zones, c.private_address) = private.check(text, source_name)?;
        let validation = RawValidation {
            sha1_algorithms: raw.sha1_algorithms,
            cache_min_ttl: raw.cache_min_ttl,
            cache_max_ttl: raw.cache_max_ttl,
            cache_max_negative_ttl: raw.cache_max_negative_ttl,
        };
        (c.algorithms, c.ttl) = validation.check(text, source_name)?;
        c.fleet = fleet_settings((text, source_name), raw.redis_url, raw.redis_password_file)?;
        Ok(c)
    }
}

/// `redis-url` and `redis-password-file`: the URL's form is checked here
/// (the password file is read by `app::load`, with the other files).
fn fleet_settings(
    (text, source_name): (&str, &str),
    url: Option<String>,
    password_file: Option<PathBuf>,
) -> Result<Option<crate::fleet::FleetSettings>, ConfigError> {
    let invalid = |key: &'static str, value: String, allowed: String| ConfigError::InvalidEntry {
        source_name: source_name.to_owned(),
        line: line_of_key(text, key).unwrap_or(0),
        key,
        value,
        allowed,
    };
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        if let Some(file) = password_file {
            return Err(invalid(
                "redis-password-file",
                file.display().to_string(),
                "only with redis-url".to_owned(),
            ));
        }
        return Ok(None);
    };
    let settings = crate::fleet::FleetSettings {
        url,
        password_file: None,
    };
    if let Err(e) = settings.client() {
        return Err(invalid(
            "redis-url",
            crate::fleet::redact(&settings.url),
            format!(
                "redis://[user:pass@]host:port/db, rediss:// for TLS or redis+unix:///path ({e})"
            ),
        ));
    }
    Ok(Some(crate::fleet::FleetSettings {
        password_file,
        ..settings
    }))
}

/// An error in a table entry, at the line of `span` in `text`.
fn entry_error(
    (text, source_name): (&str, &str),
    key: &'static str,
    span: std::ops::Range<usize>,
    value: &str,
    allowed: String,
) -> ConfigError {
    ConfigError::InvalidEntry {
        source_name: source_name.to_owned(),
        line: line_of(text, span.start),
        key,
        value: value.to_owned(),
        allowed,
    }
}

/// 1-based line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    text.get(..pos).map_or(0, |t| t.matches('\n').count() + 1)
}

/// 1-based line where top-level `key` is set (before the first table
/// header), if it is written in `text` (bare or quoted, `-` or `_`).
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let snake = key.replace('-', "_");
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.starts_with('[') {
            return None;
        }
        let Some((name, _)) = t.split_once('=') else {
            continue;
        };
        let name = name.trim().trim_matches('"');
        if name == key || name == snake {
            return Some(i + 1);
        }
    }
    None
}

/// `"30s"`, `"5m"`, `"1h"`, `"1d"`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (s.get(..i)?, s.get(i..)?),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

// ---------------------------------------------------------------------
// Control API, negative trust anchors and the state directory (issues 4
// and 16): `control-socket`, `control-socket-group`, `control-listen`,
// `control-token-file`, `control-tls-cert`, `control-tls-key`,
// `control-allow-origin`, `control-allow-host`, `state-dir`,
// `refused-clients`, `nta-state-file`, `nta-recheck-interval`, `[[nta]]`.
// ---------------------------------------------------------------------

/// Default `control-listen`: loopback only (and then, like every TCP
/// control listener, a token for everything but `GET /metrics`).
pub const DEFAULT_CONTROL_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8053);
/// Shortest `nta-recheck-interval`.
pub const MIN_NTA_RECHECK_INTERVAL: Duration = Duration::from_secs(10);
/// Longest `nta-recheck-interval`.
pub const MAX_NTA_RECHECK_INTERVAL: Duration = Duration::from_secs(86_400);
/// The NTA state file's name in `state-dir` (unless `nta-state-file`).
pub const NTA_STATE_FILE_NAME: &str = "nta.json";
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

/// What the server does with a client the ACL refuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefusedClients {
    /// Answer REFUSED (+ EDE 18 Prohibited).
    #[default]
    Refuse,
    /// Send nothing (Unbound's `deny`).
    Drop,
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

/// Negative trust anchor settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NtaSettings {
    /// `nta-state-file` (default `state-dir/nta.json`): where NTAs are
    /// persisted across restarts.
    pub state_file: Option<PathBuf>,
    /// `nta-recheck-interval`: how often NTA zones are revalidated.
    pub recheck_interval: Duration,
    /// `[[nta]]` tables.
    pub entries: Vec<ConfigNta>,
}

impl Default for NtaSettings {
    fn default() -> Self {
        Self {
            state_file: None,
            recheck_interval: limits::DEFAULT_NTA_RECHECK_INTERVAL,
            entries: Vec::new(),
        }
    }
}

/// One `[[nta]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNta {
    zone: toml::Spanned<String>,
    lifetime: Option<toml::Spanned<String>>,
    reason: Option<String>,
}

/// The raw keys of this block, moved out of [`RawConfig`].
struct RawOperations {
    control_listen: Option<String>,
    control_token_file: Option<PathBuf>,
    control_socket: Option<PathBuf>,
    control_socket_group: Option<toml::Spanned<String>>,
    control_tls_cert: Option<PathBuf>,
    control_tls_key: Option<PathBuf>,
    control_allow_origin: Option<Vec<String>>,
    control_allow_host: Option<Vec<String>>,
    state_dir: Option<PathBuf>,
    refused_clients: Option<toml::Spanned<String>>,
    nta_state_file: Option<PathBuf>,
    nta_recheck_interval: Option<String>,
    nta: Option<Vec<RawNta>>,
}

/// A group name or number to a gid (`control-socket-group`).
fn group_id(group: &str) -> Option<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Some(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Some(g.gid.as_raw()),
        _ => None,
    }
}

/// What [`RawOperations::check`] returns.
type Operations = (
    ControlSettings,
    NtaSettings,
    Option<PathBuf>,
    RefusedClients,
);

impl RawOperations {
    fn check(self, text: &str, source_name: &str) -> Result<Operations, ConfigError> {
        let invalid =
            |key: &'static str, value: String, allowed: &'static str| ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key,
                value,
                allowed,
            };
        let at = |key, span, value: &str, allowed| {
            entry_error((text, source_name), key, span, value, allowed)
        };
        let mut control = ControlSettings::default();
        if let Some(s) = self.control_listen {
            control.listen = if s.trim().is_empty() {
                None
            } else {
                Some(s.parse().map_err(|_| {
                    invalid(
                        "control-listen",
                        s.clone(),
                        "an address:port such as 127.0.0.1:8053 or [::1]:8053, or \"\" (off)",
                    )
                })?)
            };
        }
        if let Some(p) = self.control_socket {
            control.socket = (!p.as_os_str().is_empty()).then_some(p);
        }
        if let Some(g) = self.control_socket_group {
            let gid = group_id(g.get_ref()).ok_or_else(|| {
                at(
                    "control-socket-group",
                    g.span(),
                    g.get_ref(),
                    "a group name or number known to this host".to_owned(),
                )
            })?;
            control.socket_group = Some(gid);
        }
        control.token_file = self.control_token_file;
        control.tls = match (self.control_tls_cert, self.control_tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "control-tls-key",
                    String::new(),
                    "required with control-tls-cert",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "control-tls-cert",
                    String::new(),
                    "required with control-tls-key",
                ));
            }
        };
        control.allow_origins = self.control_allow_origin.unwrap_or_default();
        control.allow_hosts = self.control_allow_host.unwrap_or_default();
        let state_dir = self.state_dir.filter(|p| !p.as_os_str().is_empty());
        if let Some(listen) = control.listen
            && !listen.ip().is_loopback()
            && control.token_file.is_none()
            && state_dir.is_none()
        {
            return Err(invalid(
                "control-token-file",
                String::new(),
                "required when control-listen is not a loopback address and no \
                 state-dir is set (TCP control needs a token)",
            ));
        }
        let refused = match self.refused_clients {
            None => RefusedClients::Refuse,
            Some(r) => match r.get_ref().as_str() {
                "refuse" => RefusedClients::Refuse,
                "drop" => RefusedClients::Drop,
                other => {
                    return Err(at(
                        "refused-clients",
                        r.span(),
                        other,
                        "\"refuse\" or \"drop\"".to_owned(),
                    ));
                }
            },
        };
        let mut nta = NtaSettings {
            state_file: self
                .nta_state_file
                .or_else(|| state_dir.as_ref().map(|d| d.join(NTA_STATE_FILE_NAME))),
            ..NtaSettings::default()
        };
        if let Some(s) = self.nta_recheck_interval {
            nta.recheck_interval = match parse_duration(&s) {
                Some(d) if (MIN_NTA_RECHECK_INTERVAL..=MAX_NTA_RECHECK_INTERVAL).contains(&d) => d,
                _ => {
                    return Err(invalid(
                        "nta-recheck-interval",
                        s,
                        "a duration from 10s to 1d",
                    ));
                }
            };
        }
        for raw in self.nta.unwrap_or_default() {
            let at = |key, span, value: &str, allowed| {
                entry_error((text, source_name), key, span, value, allowed)
            };
            let zone_text = raw.zone.get_ref();
            let zone = crate::nta::parse_zone(zone_text)
                .map_err(|e| at("nta.zone", raw.zone.span(), zone_text, e.to_string()))?;
            if nta.entries.iter().any(|e| e.zone == zone) {
                return Err(at(
                    "nta.zone",
                    raw.zone.span(),
                    zone_text,
                    format!("{zone} is listed in another [[nta]] table"),
                ));
            }
            let lifetime = match &raw.lifetime {
                None => limits::DEFAULT_NTA_LIFETIME,
                Some(l) => parse_duration(l.get_ref())
                    .filter(|d| !d.is_zero() && *d <= limits::MAX_NTA_LIFETIME)
                    .ok_or_else(|| {
                        at(
                            "nta.lifetime",
                            l.span(),
                            l.get_ref(),
                            "a duration from 1s to 7d (MAX_NTA_LIFETIME)".to_owned(),
                        )
                    })?,
            };
            let reason = raw.reason.unwrap_or_default();
            if reason.len() > limits::MAX_NTA_REASON_BYTES {
                return Err(at(
                    "nta.reason",
                    raw.zone.span(),
                    zone_text,
                    format!(
                        "reason longer than MAX_NTA_REASON_BYTES ({})",
                        limits::MAX_NTA_REASON_BYTES
                    ),
                ));
            }
            nta.entries.push(ConfigNta {
                zone,
                lifetime,
                reason,
            });
        }
        if nta.entries.len() > limits::MAX_NTAS {
            return Err(invalid(
                "nta",
                nta.entries.len().to_string(),
                "at most MAX_NTAS (1024) [[nta]] tables",
            ));
        }
        Ok((control, nta, state_dir, refused))
    }
}

// ---------------------------------------------------------------------
// Private zones and rebinding protection (issue 8): `[[forward-zone]]`,
// `[[stub-zone]]` (snake_case aliases accepted), `private-address`.
// ---------------------------------------------------------------------

/// One checked `[[forward-zone]]` or `[[stub-zone]]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateZoneConfig {
    /// Lowercased, fully qualified; the root only for a forward zone
    /// (forward everything).
    pub name: hickory_proto::rr::Name,
    pub mode: crate::resolve::private::ZoneMode,
    /// `addrs`: port 53 unless given.
    pub servers: Vec<SocketAddr>,
    /// `validate` (default true).
    pub validate: bool,
    /// `trust-anchor`: DS/DNSKEY records for the zone (read by the loader).
    pub trust_anchor: Option<PathBuf>,
    /// `forward-first` (forward zones only, default false): when every
    /// forwarder fails, resolve by iteration instead (Unbound's
    /// `forward-first`).
    pub forward_first: bool,
}

/// One private zone table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPrivateZone {
    name: toml::Spanned<String>,
    addrs: toml::Spanned<Vec<String>>,
    validate: Option<bool>,
    #[serde(alias = "trust_anchor")]
    trust_anchor: Option<PathBuf>,
    #[serde(alias = "forward_first")]
    forward_first: Option<toml::Spanned<bool>>,
}

/// `private-address = true` (the default set) or a list of networks.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPrivateAddress {
    On(bool),
    Nets(Vec<String>),
}

/// The raw keys of this block, moved out of [`RawConfig`].
struct RawPrivate {
    forward_zone: Option<Vec<RawPrivateZone>>,
    stub_zone: Option<Vec<RawPrivateZone>>,
    private_address: Option<toml::Spanned<RawPrivateAddress>>,
}

/// A private zone server: `10.0.0.1`, `10.0.0.1:5353`, `fd00::1`,
/// `[fd00::1]:53`; port 53 unless given, never 0.
pub fn parse_server_addr(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    let addr = match s.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, 53),
        Err(_) => s.parse::<SocketAddr>().ok()?,
    };
    (addr.port() != 0).then_some(addr)
}

impl RawPrivate {
    fn check(
        self,
        text: &str,
        source_name: &str,
    ) -> Result<(Vec<PrivateZoneConfig>, Vec<IpNet>), ConfigError> {
        use crate::resolve::private::ZoneMode;
        let at = |key, span, value: &str, allowed| {
            entry_error((text, source_name), key, span, value, allowed)
        };
        let tables = self
            .forward_zone
            .unwrap_or_default()
            .into_iter()
            .map(|t| (ZoneMode::Forward, t))
            .chain(
                self.stub_zone
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (ZoneMode::Stub, t)),
            );
        let mut zones: Vec<PrivateZoneConfig> = Vec::new();
        for (mode, raw) in tables {
            let (name_key, addrs_key) = match mode {
                ZoneMode::Forward => ("forward-zone.name", "forward-zone.addrs"),
                ZoneMode::Stub => ("stub-zone.name", "stub-zone.addrs"),
            };
            let name_text = raw.name.get_ref();
            // Forwarding the root sends every question to the forwarders
            // (validated from the root trust anchor); a stub root is what
            // `root-hints` is for.
            let name = if mode == ZoneMode::Forward && name_text.trim() == "." {
                hickory_proto::rr::Name::root()
            } else {
                crate::nta::parse_zone(name_text).map_err(|e| {
                    // parse_zone speaks of NTAs; say what it means here.
                    let why = match e {
                        crate::nta::NtaError::RootZone => {
                            "the root cannot be a stub zone; use root-hints".to_owned()
                        }
                        crate::nta::NtaError::WildcardZone { .. } => {
                            "a wildcard name cannot be a zone".to_owned()
                        }
                        other => other.to_string(),
                    };
                    at(name_key, raw.name.span(), name_text, why)
                })?
            };
            let forward_first = match (&raw.forward_first, mode) {
                (None, _) => false,
                (Some(first), ZoneMode::Forward) => *first.get_ref(),
                (Some(first), ZoneMode::Stub) => {
                    return Err(at(
                        "stub-zone.forward-first",
                        first.span(),
                        &first.get_ref().to_string(),
                        "only in a [[forward-zone]] table".to_owned(),
                    ));
                }
            };
            if let Some(other) = zones.iter().find(|z| z.name == name) {
                let what = if other.mode == mode {
                    format!("{name} is listed in another [[{}]] table", mode.key())
                } else {
                    format!(
                        "{name} is already a [[{}]]; a zone is either forwarded or stubbed",
                        other.mode.key()
                    )
                };
                return Err(at(name_key, raw.name.span(), name_text, what));
            }
            let addrs = raw.addrs.get_ref();
            if addrs.is_empty() || addrs.len() > limits::MAX_PRIVATE_ZONE_SERVERS {
                return Err(at(
                    addrs_key,
                    raw.addrs.span(),
                    &format!("{addrs:?}"),
                    "from 1 to MAX_PRIVATE_ZONE_SERVERS (16) addresses".to_owned(),
                ));
            }
            let mut servers: Vec<SocketAddr> = Vec::new();
            for a in addrs {
                let addr = parse_server_addr(a).ok_or_else(|| {
                    at(
                        addrs_key,
                        raw.addrs.span(),
                        a,
                        "an address with an optional port from 1 to 65535, such as \
                         10.0.0.1, 10.0.0.2:5353 or [fd00::1]:53"
                            .to_owned(),
                    )
                })?;
                if servers.contains(&addr) {
                    return Err(at(
                        addrs_key,
                        raw.addrs.span(),
                        a,
                        format!("{addr} is listed twice"),
                    ));
                }
                servers.push(addr);
            }
            zones.push(PrivateZoneConfig {
                name,
                mode,
                servers,
                validate: raw.validate.unwrap_or(true),
                trust_anchor: raw.trust_anchor,
                forward_first,
            });
        }
        if zones.len() > limits::MAX_PRIVATE_ZONES {
            return Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key: "forward-zone",
                value: zones.len().to_string(),
                allowed: "at most MAX_PRIVATE_ZONES (256) forward and stub zones",
            });
        }
        let nets = match self.private_address {
            None => Vec::new(),
            Some(spanned) => {
                let span = spanned.span();
                match spanned.into_inner() {
                    RawPrivateAddress::On(false) => Vec::new(),
                    RawPrivateAddress::On(true) => crate::resolve::private::DEFAULT_PRIVATE_NETS
                        .iter()
                        .filter_map(|n| n.parse().ok())
                        .collect(),
                    RawPrivateAddress::Nets(list) => {
                        if list.len() > limits::MAX_PRIVATE_ADDRESS_NETS {
                            return Err(at(
                                "private-address",
                                span,
                                &list.len().to_string(),
                                "at most MAX_PRIVATE_ADDRESS_NETS (256) networks".to_owned(),
                            ));
                        }
                        let mut nets = Vec::new();
                        for n in &list {
                            let net = n
                                .parse::<IpNet>()
                                .or_else(|_| n.parse::<std::net::IpAddr>().map(IpNet::from))
                                .map_err(|_| {
                                    at(
                                        "private-address",
                                        span.clone(),
                                        n,
                                        "a network such as 10.0.0.0/8 or fd00::/8, or an address"
                                            .to_owned(),
                                    )
                                })?;
                            nets.push(net.trunc());
                        }
                        nets
                    }
                }
            }
        };
        Ok((zones, nets))
    }
}

// ---------------------------------------------------------------------
// Validator algorithms and cache TTL bounds (issue 15): `sha1-algorithms`,
// `cache-min-ttl`, `cache-max-ttl`, `cache-max-negative-ttl`.
// ---------------------------------------------------------------------

/// Largest `cache-min-ttl` (BIND caps `min-cache-ttl` at 90 s; Unbound
/// has no cap; an hour keeps a typo from pinning data for days).
pub const MAX_CACHE_MIN_TTL: u32 = 3600;
/// Largest `cache-max-negative-ttl` (a day; RFC 2308 §5 suggests 1-3 h).
pub const MAX_CACHE_MAX_NEGATIVE_TTL: u32 = 86_400;

/// A TTL as written: seconds (`300`, Unbound's form) or a duration (`"5m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTtl {
    Seconds(i64),
    Text(String),
}

/// The keys of this block as written.
struct RawValidation {
    sha1_algorithms: Option<toml::Spanned<String>>,
    cache_min_ttl: Option<toml::Spanned<RawTtl>>,
    cache_max_ttl: Option<toml::Spanned<RawTtl>>,
    cache_max_negative_ttl: Option<toml::Spanned<RawTtl>>,
}

impl RawValidation {
    fn check(
        self,
        text: &str,
        source_name: &str,
    ) -> Result<(AlgorithmPolicy, TtlLimits), ConfigError> {
        let at = (text, source_name);
        let mut policy = AlgorithmPolicy::default();
        if let Some(v) = self.sha1_algorithms {
            let span = v.span();
            policy.sha1 = match v.into_inner().as_str() {
                "insecure" => false,
                "validate" => true,
                other => {
                    return Err(entry_error(
                        at,
                        "sha1-algorithms",
                        span,
                        other,
                        "\"insecure\" (the default) or \"validate\"".into(),
                    ));
                }
            };
        }
        let ttl = |key: &'static str, value: Option<toml::Spanned<RawTtl>>, range: (u32, u32)| {
            let Some(v) = value else { return Ok(None) };
            let span = v.span();
            let (secs, shown) = match v.into_inner() {
                RawTtl::Seconds(n) => (u32::try_from(n).ok(), n.to_string()),
                RawTtl::Text(s) => (
                    parse_duration(&s).and_then(|d| u32::try_from(d.as_secs()).ok()),
                    s,
                ),
            };
            match secs {
                Some(n) if (range.0..=range.1).contains(&n) => Ok(Some(n)),
                _ => Err(entry_error(
                    at,
                    key,
                    span,
                    &shown,
                    format!(
                        "seconds or a duration such as 5m, from {} to {} seconds",
                        range.0, range.1
                    ),
                )),
            }
        };
        let mut limits = TtlLimits::default();
        if let Some(n) = ttl("cache-min-ttl", self.cache_min_ttl, (0, MAX_CACHE_MIN_TTL))? {
            limits.min = n;
        }
        let max_span = self.cache_max_ttl.as_ref().map(toml::Spanned::span);
        if let Some(n) = ttl("cache-max-ttl", self.cache_max_ttl, (1, limits::MAX_TTL))? {
            limits.max = n;
        }
        if let Some(n) = ttl(
            "cache-max-negative-ttl",
            self.cache_max_negative_ttl,
            (1, MAX_CACHE_MAX_NEGATIVE_TTL),
        )? {
            limits.max_negative = n;
        }
        if limits.min > limits.max {
            return Err(entry_error(
                at,
                "cache-max-ttl",
                max_span.unwrap_or(0..0),
                &limits.max.to_string(),
                format!("at least cache-min-ttl ({})", limits.min),
            ));
        }
        Ok((policy, limits))
    }
}

#[cfg(test)]
mod validation_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn sha1_algorithms_and_ttl_knobs_parse() {
        let c = Config::parse("", "x.toml").unwrap();
        assert!(!c.algorithms.sha1);
        assert_eq!(c.ttl, TtlLimits::default());
        let c = Config::parse(
            "sha1-algorithms = \"validate\"\ncache-min-ttl = 60\ncache-max-ttl = \"1d\"\ncache-max-negative-ttl = \"5m\"\n",
            "x.toml",
        )
        .unwrap();
        assert!(c.algorithms.sha1);
        assert_eq!(
            c.ttl,
            TtlLimits {
                min: 60,
                max: 86_400,
                max_negative: 300
            }
        );
    }

    #[test]
    fn ttl_knob_errors_name_key_line_and_range() {
        let cases = [
            (
                "dnssec = true\nsha1-algorithms = \"maybe\"",
                "x.toml:2: key `sha1-algorithms`: value \"maybe\"",
            ),
            (
                "cache-min-ttl = 7200",
                "x.toml:1: key `cache-min-ttl`: value \"7200\" is invalid: seconds or a duration such as 5m, from 0 to 3600 seconds",
            ),
            ("\ncache-max-ttl = 0", "x.toml:2: key `cache-max-ttl`"),
            (
                "cache-max-ttl = \"8d\"",
                "key `cache-max-ttl`: value \"8d\"",
            ),
            (
                "cache-max-negative-ttl = -1",
                "key `cache-max-negative-ttl`: value \"-1\"",
            ),
            ("cache-max-negative-ttl = \"soon\"", "value \"soon\""),
            (
                "cache-min-ttl = 600\n\ncache-max-ttl = 300",
                "x.toml:3: key `cache-max-ttl`: value \"300\" is invalid: at least cache-min-ttl (600)",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "x.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
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

    use super::*;

    #[test]
    fn defaults_and_full_file() {
        assert_eq!(Config::parse("", "empty").unwrap(), Config::default());
        let c = Config::parse(
            r#"
listen = ["127.0.0.1:5300", "[::1]:5300"]
allow = ["10.0.0.0/8"]
upstream-port = 5353
dnssec = true
cache-size = 2097152
max-stale-ttl = "2h"
serve-stale = false
stale-answer-ttl = "10s"
client-response-timer = "500ms"
failure-recheck = "1m"
log-format = "json"
"#,
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.upstream_port, 5353);
        assert_eq!(c.max_stale, Duration::from_secs(7200));
        assert_eq!(c.log_format, LogFormat::Json);
        let want = StaleConfig {
            enabled: false,
            answer_ttl: Duration::from_secs(10),
            client_response_timer: Duration::from_millis(500),
            failure_recheck: Duration::from_secs(60),
        };
        assert_eq!(c.stale, want);
    }

    #[test]
    fn store_keys_issue_18() {
        let c = Config::parse("", "x.toml").unwrap();
        assert!(c.store.enabled);
        assert_eq!(c.store.max_bytes, 256 * 1024 * 1024);
        let c = Config::parse("store = false\nstore-size = 2097152", "x.toml").unwrap();
        assert_eq!(
            c.store,
            StoreSettings {
                enabled: false,
                max_bytes: 2_097_152
            }
        );
        let e = Config::parse("store-size = 5", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `store-size`: value \"5\""), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            ("listen = [\"nonsense\"]", "x.toml:1: key `listen`"),
            ("\n\nbogus-key = 1", "x.toml:3:"),
            ("cache-size = 5", "key `cache-size`: value \"5\""),
            ("max-stale-ttl = \"8d\"", "at most 7d"),
            ("max-stale-ttl = \"soon\"", "key `max-stale-ttl`"),
            ("upstream-port = 0", "key `upstream-port`"),
            (
                "stale-answer-ttl = \"0s\"",
                "key `stale-answer-ttl`: value \"0s\"",
            ),
            ("client-response-timer = \"11s\"", "100ms to 10s"),
            ("failure-recheck = \"2h\"", "key `failure-recheck`"),
            ("serve-stale = \"yes\"", "x.toml:1:"),
            ("log-format = \"xml\"", "key `log-format`"),
            ("listen = [", "x.toml:1:"),
            // Issue 16: range errors name the line too.
            (
                "dnssec = true\ncache-size = 5",
                "x.toml:2: key `cache-size`",
            ),
            (
                "dnssec = true\n\nnta-recheck-interval = \"5s\"",
                "x.toml:3: key `nta-recheck-interval`",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "x.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1y"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    // --- control API and NTA keys ---

    #[test]
    fn control_and_nta_keys() {
        let c = Config::parse("", "x.toml").unwrap();
        assert_eq!(c.control.listen, Some(DEFAULT_CONTROL_LISTEN));
        assert_eq!(c.control.socket, Some(default_control_socket()));
        assert!(c.state_dir.is_none() && c.nta.state_file.is_none());
        assert_eq!(c.refused_clients, RefusedClients::Refuse);
        assert_eq!(c.nta.recheck_interval, Duration::from_secs(300));
        assert!(c.nta.entries.is_empty());
        let c = Config::parse(
            r#"
control-listen = "0.0.0.0:9053"
control-token-file = "/etc/lastgood/token"
nta-state-file = "/var/lib/lastgood/nta.json"
nta-recheck-interval = "10s"

[[nta]]
zone = "Lab"
lifetime = "2h"
reason = "KSK roll gone wrong"

[[nta]]
zone = "example.org."
"#,
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.control.listen, Some("0.0.0.0:9053".parse().unwrap()));
        assert_eq!(
            c.control.token_file.as_deref(),
            Some(Path::new("/etc/lastgood/token"))
        );
        assert_eq!(
            c.nta.state_file.as_deref(),
            Some(Path::new("/var/lib/lastgood/nta.json"))
        );
        assert_eq!(c.nta.recheck_interval, Duration::from_secs(10));
        let want = [
            ConfigNta {
                zone: hickory_proto::rr::Name::from_ascii("lab.").unwrap(),
                lifetime: Duration::from_secs(7200),
                reason: "KSK roll gone wrong".into(),
            },
            ConfigNta {
                zone: hickory_proto::rr::Name::from_ascii("example.org.").unwrap(),
                lifetime: limits::DEFAULT_NTA_LIFETIME,
                reason: String::new(),
            },
        ];
        assert_eq!(c.nta.entries, want);
        // Loopback without a token is fine, IPv6 too.
        let c = Config::parse("control-listen = \"[::1]:1\"", "x.toml").unwrap();
        assert!(c.control.token_file.is_none());
        // Issue 16: the socket, TLS, state-dir and refused-clients keys.
        let c = Config::parse(
            r#"
control-socket = "/run/x/ctl.sock"
control-socket-group = "0"
control-listen = "0.0.0.0:9053"
control-tls-cert = "/etc/c.pem"
control-tls-key = "/etc/k.pem"
control-allow-origin = ["https://ops.example"]
control-allow-host = ["resolver.example"]
state-dir = "/var/lib/lastgood"
refused-clients = "drop"
"#,
            "x.toml",
        )
        .unwrap();
        assert_eq!(
            c.control.socket.as_deref(),
            Some(Path::new("/run/x/ctl.sock"))
        );
        assert_eq!(c.control.socket_group, Some(0));
        assert!(c.control.tls.is_some());
        assert_eq!(c.control.allow_origins, ["https://ops.example"]);
        assert_eq!(c.control.allow_hosts, ["resolver.example"]);
        assert_eq!(
            c.nta.state_file.as_deref(),
            Some(Path::new("/var/lib/lastgood/nta.json"))
        );
        assert_eq!(c.refused_clients, RefusedClients::Drop);
        let off = Config::parse("control-socket = \"\"\ncontrol-listen = \"\"", "x.toml").unwrap();
        assert!(off.control.socket.is_none() && off.control.listen.is_none());
    }

    // --- forward/stub zones and private-address ---

    #[test]
    fn private_zone_keys() {
        use crate::resolve::private::ZoneMode;
        let c = Config::parse(
            r#"
private-address = ["10.0.0.0/8", "192.168.1.1", "fd00::/8"]

[[forward-zone]]
name = "Corp.Internal"
addrs = ["10.0.0.1", "10.0.0.2:5353", "[fd00::1]:53", "fd00::2"]

[[stub_zone]]
name = "lab.corp.internal."
addrs = ["10.0.0.9"]
validate = false
trust-anchor = "/etc/lastgood/lab.key"
"#,
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.private_zones.len(), 2);
        let fwd = &c.private_zones[0];
        assert_eq!(fwd.name.to_string(), "corp.internal.");
        assert_eq!(fwd.mode, ZoneMode::Forward);
        assert!(fwd.validate && fwd.trust_anchor.is_none());
        let want: Vec<SocketAddr> = [
            "10.0.0.1:53",
            "10.0.0.2:5353",
            "[fd00::1]:53",
            "[fd00::2]:53",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(fwd.servers, want);
        let stub = &c.private_zones[1];
        assert_eq!(stub.mode, ZoneMode::Stub);
        assert!(!stub.validate);
        assert_eq!(
            stub.trust_anchor.as_deref(),
            Some(Path::new("/etc/lastgood/lab.key"))
        );
        assert_eq!(c.private_address.len(), 3);
        assert_eq!(
            c.private_address[1],
            "192.168.1.1/32".parse::<IpNet>().unwrap()
        );
        let on = Config::parse("private-address = true", "x.toml").unwrap();
        assert_eq!(
            on.private_address.len(),
            crate::resolve::private::DEFAULT_PRIVATE_NETS.len()
        );
        let off = Config::parse("private-address = false", "x.toml").unwrap();
        assert!(off.private_address.is_empty());
    }

    /// Issue 15: `[[forward-zone]] name = "."` forwards everything;
    /// `forward-first` falls back to iteration.
    #[test]
    fn forward_root_and_forward_first() {
        let c = Config::parse(
            "[[forward-zone]]\nname = \".\"\naddrs = [\"127.0.0.1:5353\"]\nforward-first = true\n",
            "x.toml",
        )
        .unwrap();
        let root = &c.private_zones[0];
        assert!(root.name.is_root());
        assert!(root.forward_first && root.validate);
        let c = Config::parse(
            "[[forward-zone]]\nname = \"corp.\"\naddrs = [\"10.0.0.1\"]\n",
            "x.toml",
        )
        .unwrap();
        assert!(
            !c.private_zones[0].forward_first,
            "forward-first defaults off"
        );
    }

    #[test]
    fn private_zone_errors_name_key_and_line() {
        let fwd = |body: &str| format!("dnssec = true\n\n[[forward-zone]]\n{body}\n");
        let cases = [
            (
                fwd("name = \"a..b\"\naddrs = [\"10.0.0.1\"]"),
                "x.toml:4: key `forward-zone.name`: value \"a..b\"",
            ),
            (
                "[[stub-zone]]\nname = \".\"\naddrs = [\"10.0.0.1\"]".to_owned(),
                "x.toml:2: key `stub-zone.name`: value \".\" is invalid: the root cannot be a stub zone; use root-hints",
            ),
            (
                "[[stub-zone]]\nname = \"corp.\"\naddrs = [\"10.0.0.1\"]\nforward-first = true"
                    .to_owned(),
                "x.toml:4: key `stub-zone.forward-first`: value \"true\" is invalid: only in a [[forward-zone]] table",
            ),
            (
                fwd("name = \"corp.\"\naddrs = [\"10.0.0.1:70000\"]"),
                "x.toml:5: key `forward-zone.addrs`: value \"10.0.0.1:70000\"",
            ),
            (
                fwd("name = \"corp.\"\naddrs = [\"ns1.corp\"]"),
                "key `forward-zone.addrs`: value \"ns1.corp\"",
            ),
            (
                fwd("name = \"corp.\"\naddrs = []"),
                "x.toml:5: key `forward-zone.addrs`: value \"[]\" is invalid: from 1 to MAX_PRIVATE_ZONE_SERVERS",
            ),
            (
                fwd("name = \"corp.\"\naddrs = [\"10.0.0.1\", \"10.0.0.1:53\"]"),
                "10.0.0.1:53 is listed twice",
            ),
            (
                fwd(
                    "name = \"corp.\"\naddrs = [\"10.0.0.1\"]\n[[forward-zone]]\nname = \"CORP\"\naddrs = [\"10.0.0.2\"]",
                ),
                "x.toml:7: key `forward-zone.name`: value \"CORP\" is invalid: corp. is listed in another [[forward-zone]] table",
            ),
            (
                fwd(
                    "name = \"corp.\"\naddrs = [\"10.0.0.1\"]\n[[stub-zone]]\nname = \"corp\"\naddrs = [\"10.0.0.2\"]",
                ),
                "x.toml:7: key `stub-zone.name`: value \"corp\" is invalid: corp. is already a [[forward-zone]]",
            ),
            (
                fwd("name = \"corp.\"\naddrs = [\"10.0.0.1\"]\nforwarders = 1"),
                "x.toml:6:",
            ),
            (fwd("addrs = [\"10.0.0.1\"]"), "missing field `name`"),
            (
                "\nprivate-address = [\"10.0.0.0/33\"]".to_owned(),
                "x.toml:2: key `private-address`: value \"10.0.0.0/33\"",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(&text, "x.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        // Nested zones are fine.
        let nested = fwd(
            "name = \"corp.\"\naddrs = [\"10.0.0.1\"]\n[[stub-zone]]\nname = \"a.corp\"\naddrs = [\"10.0.0.2\"]",
        );
        assert_eq!(
            Config::parse(&nested, "x.toml")
                .unwrap()
                .private_zones
                .len(),
            2
        );
    }

    #[test]
    fn control_and_nta_errors_name_key_and_line() {
        let nta = |body: &str| format!("serve-stale = true\n\n[[nta]]\n{body}\n");
        let cases = [
            (
                "control-listen = \"0.0.0.0:8053\"".to_owned(),
                "x.toml: key `control-token-file`: value \"\" is invalid: required when control-listen is not a loopback",
            ),
            (
                "\nrefused-clients = \"ignore\"".to_owned(),
                "x.toml:2: key `refused-clients`: value \"ignore\"",
            ),
            (
                "\n\ncontrol-socket-group = \"no-such-group-here\"".to_owned(),
                "x.toml:3: key `control-socket-group`",
            ),
            (
                "control-tls-cert = \"/c.pem\"".to_owned(),
                "key `control-tls-key`: value \"\" is invalid: required with control-tls-cert",
            ),
            (
                "control-listen = \"localhost\"".to_owned(),
                "key `control-listen`",
            ),
            (
                "nta-recheck-interval = \"5s\"".to_owned(),
                "key `nta-recheck-interval`: value \"5s\" is invalid: a duration from 10s to 1d",
            ),
            ("nta-recheck-interval = \"2d\"".to_owned(), "10s to 1d"),
            (
                nta("zone = \"a..b\""),
                "x.toml:4: key `nta.zone`: value \"a..b\"",
            ),
            (nta("zone = \".\""), "x.toml:4: key `nta.zone`"),
            (
                nta("zone = \"lab.\"\nlifetime = \"8d\""),
                "x.toml:5: key `nta.lifetime`: value \"8d\" is invalid: a duration from 1s to 7d",
            ),
            (nta("zone = \"lab.\"\nlifetime = \"0s\""), "x.toml:5:"),
            (
                nta("zone = \"lab.\"\n[[nta]]\nzone = \"LAB\""),
                "x.toml:6: key `nta.zone`: value \"LAB\" is invalid: lab. is listed in another",
            ),
            (nta("zone = \"lab.\"\nzonee = 1"), "x.toml:5:"),
            (nta("lifetime = \"1h\""), "missing field `zone`"),
            (
                nta(&format!(
                    "zone = \"lab.\"\nreason = \"{}\"",
                    "r".repeat(2000)
                )),
                "key `nta.reason`",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(&text, "x.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
