//! Configuration: TOML (serde, unknown keys rejected) parsed into a raw
//! struct, then checked into a typed [`Config`]. Every error names the
//! file, the line where it can, the key, the value and what is allowed;
//! nothing is silently clamped.

mod identity;
mod operations;
mod private;
mod service;
#[cfg(test)]
mod tests;
mod validation;

pub use identity::{IdentityConfig, parse_nsid};
pub use operations::*;
pub use private::*;
pub use service::{DEFAULT_CONFIG_FILE, LogLevel, RunAs};
pub use validation::*;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

pub use crate::control::settings::{
    CONTROL_TOKEN_FILE_NAME, ControlSettings, DEFAULT_CONTROL_LISTEN, SYSTEM_CONTROL_SOCKET,
    default_control_socket,
};
use crate::dnssec::AlgorithmPolicy;
pub use crate::duration::parse_duration;
use crate::limits;
use crate::nta::ConfigNta;
use crate::resolve::TtlLimits;
pub use crate::resolve::settings::{self, StaleConfig};
pub use crate::store::StoreSettings;

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
    // The fleet tier (issue 18): `redis-url`, `redis-password-file`, TLS.
    redis_url: Option<String>,
    redis_password_file: Option<PathBuf>,
    redis_ca_file: Option<PathBuf>,
    redis_cert_file: Option<PathBuf>,
    redis_key_file: Option<PathBuf>,
    // The last-good store (issue 18).
    store: Option<bool>,
    store_size: Option<u64>,
    // Running as a service (issue 19; `config/service.rs`).
    log_level: Option<toml::Spanned<String>>,
    user: Option<toml::Spanned<String>>,
    group: Option<toml::Spanned<String>>,
    // Which instance answered (issue 19; `config/identity.rs`).
    identity: Option<toml::Spanned<String>>,
    hide_identity: Option<bool>,
    version: Option<toml::Spanned<identity::RawVersion>>,
    nsid: Option<toml::Spanned<String>>,
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
    /// `redis-url`, `redis-password-file`, `redis-ca-file`,
    /// `redis-cert-file`, `redis-key-file`: the fleet tier (off if unset).
    pub fleet: Option<crate::fleet::FleetSettings>,
    /// `store`, `store-size`: the last-good store in `state-dir`.
    pub store: StoreSettings,
    /// `log-level` (`--log-level` and `RUST_LOG` override it).
    pub log_level: LogLevel,
    /// `user` and `group`: the account `serve` switches to after binding.
    pub run_as: Option<RunAs>,
    /// `identity`, `hide-identity`, `version`, `nsid`: CHAOS answers and
    /// the NSID.
    pub identity: IdentityConfig,
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
            upstream_port: settings::DEFAULT_UPSTREAM_PORT,
            dnssec: true,
            qname_minimisation: true,
            do_ip6: true,
            cache_bytes: limits::DEFAULT_CACHE_BYTES,
            max_stale: settings::DEFAULT_MAX_STALE,
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
            log_level: LogLevel::default(),
            run_as: None,
            identity: IdentityConfig::default(),
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
        let service = service::RawService {
            log_level: raw.log_level,
            user: raw.user,
            group: raw.group,
        };
        (c.log_level, c.run_as) = service.check(text, source_name)?;
        c.identity = identity::RawIdentity {
            identity: raw.identity,
            hide_identity: raw.hide_identity,
            version: raw.version,
            nsid: raw.nsid,
        }
        .check(text, source_name)?;
        let fleet = crate::fleet::FleetSettings {
            url: raw.redis_url.unwrap_or_default(),
            password_file: raw.redis_password_file,
            ca_file: raw.redis_ca_file,
            cert_file: raw.redis_cert_file,
            key_file: raw.redis_key_file,
        };
        c.fleet = fleet_settings((text, source_name), fleet)?;
        Ok(c)
    }
}

/// `redis-url`, `redis-password-file` and the TLS files: the URL's form
/// and which keys go with which are checked here (the files are read by
/// `app::load`, with the other files).
fn fleet_settings(
    (text, source_name): (&str, &str),
    raw: crate::fleet::FleetSettings,
) -> Result<Option<crate::fleet::FleetSettings>, ConfigError> {
    let invalid = |key: &'static str, value: String, allowed: String| ConfigError::InvalidEntry {
        source_name: source_name.to_owned(),
        line: line_of_key(text, key).unwrap_or(0),
        key,
        value,
        allowed,
    };
    let files = [
        ("redis-password-file", &raw.password_file),
        ("redis-ca-file", &raw.ca_file),
        ("redis-cert-file", &raw.cert_file),
        ("redis-key-file", &raw.key_file),
    ];
    if raw.url.is_empty() {
        if let Some((key, Some(file))) = files.iter().find(|(_, f)| f.is_some()) {
            return Err(invalid(
                key,
                file.display().to_string(),
                "only with redis-url".to_owned(),
            ));
        }
        return Ok(None);
    }
    let url_only = crate::fleet::FleetSettings {
        url: raw.url.clone(),
        ..Default::default()
    };
    if let Err(e) = url_only.client() {
        return Err(invalid(
            "redis-url",
            crate::fleet::redact(&raw.url),
            format!(
                "redis://[user:pass@]host:port/db, rediss:// for TLS or redis+unix:///path ({e})"
            ),
        ));
    }
    let tls = raw.url.starts_with("rediss://") || raw.url.starts_with("valkeys://");
    if !tls && let Some((key, Some(file))) = files.iter().skip(1).find(|(_, f)| f.is_some()) {
        return Err(invalid(
            key,
            file.display().to_string(),
            "only with a rediss:// (TLS) redis-url".to_owned(),
        ));
    }
    match (&raw.cert_file, &raw.key_file) {
        (Some(file), None) => {
            return Err(invalid(
                "redis-cert-file",
                file.display().to_string(),
                "only with redis-key-file (the client certificate's key)".to_owned(),
            ));
        }
        (None, Some(file)) => {
            return Err(invalid(
                "redis-key-file",
                file.display().to_string(),
                "only with redis-cert-file (the client certificate)".to_owned(),
            ));
        }
        _ => {}
    }
    Ok(Some(raw))
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
