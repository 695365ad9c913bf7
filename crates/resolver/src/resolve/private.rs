//! Private zones (issue 8): `[[forward-zone]]` and `[[stub-zone]]`, chosen
//! by longest-suffix match against the root, and the `private-address`
//! rebinding filter for names outside them.
//!
//! - A forward zone's servers recurse for us: questions go out with RD=1
//!   and whatever they answer is the step's answer (a referral is a broken
//!   forwarder). A stub zone's servers are authorities: iteration starts
//!   there instead of at the root and follows their referrals.
//! - A private zone without a trust anchor, or with `validate = false`, is
//!   Insecure: answers never carry AD and are never Bogus. With an anchor
//!   the chain of trust for names under the zone starts at that anchor
//!   (merged into [`super::ResolverConfig::anchors`] by the loader).

use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::{Name, RData, Record};
use ipnet::IpNet;

use crate::clock::Timestamp;
use crate::limits;
use crate::resolve::servers::{Delegation, NameServer};

/// How a private zone's servers are asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneMode {
    /// Recursive servers: RD=1, answers taken as they come.
    Forward,
    /// Authoritative servers: iteration starts here.
    Stub,
}

impl ZoneMode {
    /// The config table that declares this mode.
    pub fn key(self) -> &'static str {
        match self {
            ZoneMode::Forward => "forward-zone",
            ZoneMode::Stub => "stub-zone",
        }
    }
}

/// One configured private zone, already checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateZone {
    /// Lowercased zone name.
    pub name: Name,
    pub mode: ZoneMode,
    /// The listed servers, in config order.
    pub servers: Vec<SocketAddr>,
    /// `validate = true` and a trust anchor given: names under the zone
    /// can be Secure. Otherwise they are Insecure.
    pub secure: bool,
    /// `forward-first`: when every forwarder fails, iterate instead.
    pub forward_first: bool,
}

impl PrivateZone {
    /// The configured servers as a delegation to start from: one
    /// "name server" per address, each with its own port.
    pub fn delegation(&self) -> Delegation {
        let servers = self
            .servers
            .iter()
            .map(|a| NameServer {
                name: self.name.clone(),
                addrs: vec![a.ip()],
                port: Some(a.port()),
            })
            .collect();
        Delegation {
            zone: self.name.clone(),
            servers,
            stored_at: Timestamp::default(),
            ttl: limits::MAX_TTL,
            forward: self.mode == ZoneMode::Forward,
        }
    }
}

/// Every private zone, looked up by longest suffix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivateZones {
    zones: Vec<PrivateZone>,
}

impl PrivateZones {
    pub fn new(zones: Vec<PrivateZone>) -> Self {
        Self { zones }
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &PrivateZone> {
        self.zones.iter()
    }

    /// The private zone named exactly `name`.
    pub fn get(&self, name: &Name) -> Option<&PrivateZone> {
        self.zones.iter().find(|z| z.name == *name)
    }

    /// The deepest private zone at or above `name` (`None`: the public
    /// hierarchy, from the root, decides).
    pub fn covering(&self, name: &Name) -> Option<&PrivateZone> {
        self.zones
            .iter()
            .filter(|z| z.name.zone_of(name))
            .max_by_key(|z| z.name.num_labels())
    }
}

/// The `private-address` filter (DNS rebinding protection, Unbound's
/// `private-address`): A/AAAA RRsets of names outside every private zone
/// that hold an address in `nets` are removed whole. Empty: off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivateAddresses {
    pub nets: Vec<IpNet>,
}

/// The default set for `private-address = true`: RFC 1918, RFC 6598
/// shared space, loopback, link-local, unspecified, ULA and IPv4-mapped.
pub const DEFAULT_PRIVATE_NETS: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "fc00::/7",
    "fe80::/10",
];

impl PrivateAddresses {
    pub fn is_enabled(&self) -> bool {
        !self.nets.is_empty()
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Remove from `records` every A/AAAA record (and its RRSIG) of an
    /// RRset that holds a private address, for owners outside the private
    /// zones. Returns whether anything was removed.
    pub fn strip(&self, records: &mut Vec<Record>, zones: &PrivateZones) -> bool {
        if !self.is_enabled() {
            return false;
        }
        let mut tainted: Vec<(Name, hickory_proto::rr::RecordType)> = Vec::new();
        for r in records.iter() {
            let ip = match &r.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(a) => IpAddr::V6(a.0),
                _ => continue,
            };
            if self.contains(ip) && zones.covering(&r.name).is_none() {
                tainted.push((r.name.clone(), r.record_type()));
            }
        }
        if tainted.is_empty() {
            return false;
        }
        records.retain(|r| {
            let rtype = match &r.data {
                RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
                    sig.input().type_covered
                }
                _ => r.record_type(),
            };
            !tainted.iter().any(|(n, t)| *n == r.name && *t == rtype)
        });
        true
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

    use hickory_proto::rr::rdata::{A, CNAME};

    use super::*;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn zone(name: &str, mode: ZoneMode) -> PrivateZone {
        PrivateZone {
            name: n(name),
            mode,
            servers: vec!["127.0.0.1:53".parse().unwrap()],
            secure: false,
            forward_first: false,
        }
    }

    #[test]
    fn longest_suffix_wins() {
        let zones = PrivateZones::new(vec![
            zone("corp.internal.", ZoneMode::Forward),
            zone("lab.corp.internal.", ZoneMode::Stub),
        ]);
        let find = |s: &str| zones.covering(&n(s)).map(|z| z.mode);
        assert_eq!(find("www.corp.internal."), Some(ZoneMode::Forward));
        assert_eq!(find("corp.internal."), Some(ZoneMode::Forward));
        assert_eq!(find("a.lab.corp.internal."), Some(ZoneMode::Stub));
        assert_eq!(find("internal."), None);
        assert_eq!(find("xcorp.internal."), None);
        let d = zones.get(&n("corp.internal.")).unwrap().delegation();
        assert!(d.forward);
        assert_eq!(
            d.socket_addrs(53),
            vec!["127.0.0.1:53".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn strip_removes_whole_private_rrsets_outside_private_zones() {
        let filter = PrivateAddresses {
            nets: DEFAULT_PRIVATE_NETS
                .iter()
                .map(|s| s.parse().unwrap())
                .collect(),
        };
        let zones = PrivateZones::new(vec![zone("corp.internal.", ZoneMode::Forward)]);
        let a = |name: &str, ip: [u8; 4]| {
            Record::from_rdata(n(name), 60, RData::A(A::from(std::net::Ipv4Addr::from(ip))))
        };
        let mut records = vec![
            Record::from_rdata(
                n("www.example."),
                60,
                RData::CNAME(CNAME(n("evil.example."))),
            ),
            a("evil.example.", [192, 0, 2, 1]),
            a("evil.example.", [10, 0, 0, 1]),
            a("ok.example.", [192, 0, 2, 2]),
            a("db.corp.internal.", [10, 1, 1, 1]),
        ];
        assert!(filter.strip(&mut records, &zones));
        let names: Vec<String> = records.iter().map(|r| r.name.to_string()).collect();
        assert_eq!(
            names,
            ["www.example.", "ok.example.", "db.corp.internal."],
            "one private address taints its whole RRset; private zones are exempt"
        );
        assert!(!PrivateAddresses::default().strip(&mut records, &zones));
        assert!(!filter.strip(&mut records, &zones), "nothing left to strip");
    }
}
