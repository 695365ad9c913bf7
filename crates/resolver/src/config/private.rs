//! Private zones and rebinding protection (issue 8): `[[forward-zone]]`,
//! `[[stub-zone]]` (snake_case aliases accepted), `private-address`.

use super::*;

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
pub(super) struct RawPrivateZone {
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
pub(super) enum RawPrivateAddress {
    On(bool),
    Nets(Vec<String>),
}

/// The raw keys of this block, moved out of [`RawConfig`].
pub(super) struct RawPrivate {
    pub(super) forward_zone: Option<Vec<RawPrivateZone>>,
    pub(super) stub_zone: Option<Vec<RawPrivateZone>>,
    pub(super) private_address: Option<toml::Spanned<RawPrivateAddress>>,
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
    pub(super) fn check(
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
