//! Which clients may use the resolver. Never an open resolver by default:
//! only loopback, RFC 1918 and ULA networks are served unless configured.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An allow-list of client networks. A client not in any of them gets
/// REFUSED (with EDE 18, Prohibited, when it sent EDNS), or nothing at all
/// with [`Acl::drop_refused`] (`refused-clients = "drop"`, Unbound's
/// `deny`).
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, seen on dual-stack
/// sockets) are matched as the IPv4 address they carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    nets: Vec<IpNet>,
    /// Send nothing to refused clients instead of REFUSED.
    drop: bool,
}

impl Acl {
    /// Loopback, RFC 1918 private networks and IPv6 ULA (RFC 4193):
    /// 127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, ::1/128,
    /// fc00::/7, plus the IPv4-mapped IPv6 forms of the IPv4 networks.
    pub fn private_default() -> Self {
        let v4 = [
            (Ipv4Addr::new(127, 0, 0, 0), 8),
            (Ipv4Addr::new(10, 0, 0, 0), 8),
            (Ipv4Addr::new(172, 16, 0, 0), 12),
            (Ipv4Addr::new(192, 168, 0, 0), 16),
        ];
        let v6 = [
            (Ipv6Addr::LOCALHOST, 128),
            (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
        ];
        let nets = v4
            .into_iter()
            .filter_map(|(addr, len)| Ipv4Net::new(addr, len).ok().map(IpNet::V4))
            .chain(
                v6.into_iter()
                    .filter_map(|(addr, len)| Ipv6Net::new(addr, len).ok().map(IpNet::V6)),
            )
            .collect();
        Self { nets, drop: false }
    }

    /// Exactly these networks (an empty list refuses everybody).
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets, drop: false }
    }

    /// Drop (send nothing to) refused clients instead of answering REFUSED.
    #[must_use]
    pub fn drop_refused(mut self, drop: bool) -> Self {
        self.drop = drop;
        self
    }

    /// Whether a message from `ip` is dropped unanswered: refused, and
    /// refused clients are dropped.
    pub fn drops(&self, ip: IpAddr) -> bool {
        self.drop && !self.allows(ip)
    }

    /// Whether refused clients get nothing rather than REFUSED.
    pub fn drops_refused(&self) -> bool {
        self.drop
    }

    /// The configured networks.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether a client at `ip` may be served.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

impl Default for Acl {
    fn default() -> Self {
        Self::private_default()
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
    fn private_default_table() {
        let acl = Acl::private_default();
        let cases: &[(&str, bool)] = &[
            ("127.0.0.1", true),
            ("127.255.255.254", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("172.31.255.255", true),
            ("172.32.0.1", false),
            ("172.15.255.255", false),
            ("192.168.1.1", true),
            ("192.169.0.1", false),
            ("8.8.8.8", false),
            ("0.0.0.0", false),
            ("255.255.255.255", false),
            ("::1", true),
            ("::2", false),
            ("fc00::1", true),
            ("fdff:ffff::1", true),
            ("fe80::1", false),
            ("2001:db8::1", false),
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.1", true),
            ("::ffff:192.168.0.7", true),
            ("::ffff:8.8.8.8", false),
            // IPv4-compatible (deprecated) addresses are not mapped.
            ("::127.0.0.1", false),
        ];
        for (ip, want) in cases {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(acl.allows(addr), *want, "{ip}");
        }
    }

    #[test]
    fn custom_and_empty() {
        let acl = Acl::new(vec!["192.0.2.0/24".parse().unwrap()]);
        assert!(acl.allows("192.0.2.9".parse().unwrap()));
        assert!(acl.allows("::ffff:192.0.2.9".parse().unwrap()));
        assert!(!acl.allows("127.0.0.1".parse().unwrap()));
        let none = Acl::new(Vec::new());
        assert!(!none.allows("127.0.0.1".parse().unwrap()));
        assert_eq!(Acl::default(), Acl::private_default());
        assert_eq!(Acl::private_default().nets().len(), 6);
    }

    #[test]
    fn drops_only_refused_clients_when_asked() {
        let acl = Acl::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(!acl.drops(outside), "refused, answered REFUSED");
        let acl = acl.drop_refused(true);
        assert!(acl.drops(outside));
        assert!(!acl.drops(inside));
    }
}
