//! Control API, negative trust anchors and the state directory (issues 4
//! and 16): `control-socket`, `control-socket-group`, `control-listen`,
//! `control-token-file`, `control-tls-cert`, `control-tls-key`,
//! `control-allow-origin`, `control-allow-host`, `state-dir`,
//! `refused-clients`, `nta-state-file`, `nta-recheck-interval`, `[[nta]]`.

use super::*;

/// Shortest `nta-recheck-interval`.
pub const MIN_NTA_RECHECK_INTERVAL: Duration = Duration::from_secs(10);
/// Longest `nta-recheck-interval`.
pub const MAX_NTA_RECHECK_INTERVAL: Duration = Duration::from_secs(86_400);
/// The NTA state file's name in `state-dir` (unless `nta-state-file`).
pub const NTA_STATE_FILE_NAME: &str = "nta.json";
/// What the server does with a client the ACL refuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RefusedClients {
    /// Answer REFUSED (+ EDE 18 Prohibited).
    #[default]
    Refuse,
    /// Send nothing (Unbound's `deny`).
    Drop,
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
pub(super) struct RawNta {
    zone: toml::Spanned<String>,
    lifetime: Option<toml::Spanned<String>>,
    reason: Option<String>,
}

/// The raw keys of this block, moved out of [`RawConfig`].
pub(super) struct RawOperations {
    pub(super) control_listen: Option<String>,
    pub(super) control_token_file: Option<PathBuf>,
    pub(super) control_socket: Option<PathBuf>,
    pub(super) control_socket_group: Option<toml::Spanned<String>>,
    pub(super) control_tls_cert: Option<PathBuf>,
    pub(super) control_tls_key: Option<PathBuf>,
    pub(super) control_allow_origin: Option<Vec<String>>,
    pub(super) control_allow_host: Option<Vec<String>>,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) refused_clients: Option<toml::Spanned<String>>,
    pub(super) nta_state_file: Option<PathBuf>,
    pub(super) nta_recheck_interval: Option<String>,
    pub(super) nta: Option<Vec<RawNta>>,
}

/// A group name or number to a gid (`control-socket-group`).
pub(super) fn group_id(group: &str) -> Option<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Some(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Some(g.gid.as_raw()),
        _ => None,
    }
}

/// What [`RawOperations::check`] returns.
pub(super) type Operations = (
    ControlSettings,
    NtaSettings,
    Option<PathBuf>,
    RefusedClients,
);

impl RawOperations {
    pub(super) fn check(self, text: &str, source_name: &str) -> Result<Operations, ConfigError> {
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
