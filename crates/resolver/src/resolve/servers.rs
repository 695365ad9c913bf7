//! Where to send a question: root hints, delegations learned from
//! referrals, and per-server smoothed RTT for NS selection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

use crate::clock::Timestamp;
use crate::limits;

/// The IANA root hints compiled in.
pub const BUILTIN_ROOT_HINTS: &str = include_str!("named.root");

/// A zone's name servers as learned from a referral or hints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delegation {
    pub zone: Name,
    pub servers: Vec<NameServer>,
    pub stored_at: Timestamp,
    pub ttl: u32,
    /// The servers recurse for us (a `forward-zone`): ask with RD=1 and
    /// take their answer as final.
    pub forward: bool,
}

/// One NS name and the addresses known for it (glue or resolved).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameServer {
    pub name: Name,
    pub addrs: Vec<IpAddr>,
    /// Port of these addresses; `None`: the resolver's `upstream-port`
    /// (only configured forward/stub servers carry their own).
    pub port: Option<u16>,
}

impl Delegation {
    /// Every known address, deduplicated, in NS order.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for a in self.servers.iter().flat_map(|s| s.addrs.iter()) {
            if !out.contains(a) {
                out.push(*a);
            }
        }
        out
    }

    /// Every known address with its port (`default_port` unless the
    /// server names its own), deduplicated, in NS order.
    pub fn socket_addrs(&self, default_port: u16) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = Vec::new();
        for s in &self.servers {
            for a in &s.addrs {
                let sa = SocketAddr::new(*a, s.port.unwrap_or(default_port));
                if !out.contains(&sa) {
                    out.push(sa);
                }
            }
        }
        out
    }

    /// Drop every address `keep` refuses (unusable glue, IPv6 when
    /// `do-ip6` is off); NS names left without one need a lookup.
    pub fn retain_addresses(&mut self, keep: impl Fn(IpAddr) -> bool) {
        for s in &mut self.servers {
            s.addrs.retain(|a| keep(*a));
        }
    }

    /// Whether any address is IPv4 / IPv6.
    pub fn has_family(&self, v6: bool) -> bool {
        self.servers
            .iter()
            .flat_map(|s| s.addrs.iter())
            .any(|a| a.is_ipv6() == v6)
    }

    /// NS names that have no address yet (need a glueless lookup).
    pub fn unresolved(&self) -> impl Iterator<Item = &Name> {
        self.servers
            .iter()
            .filter(|s| s.addrs.is_empty())
            .map(|s| &s.name)
    }

    /// Build from records: NS records owned by `zone` plus A/AAAA for
    /// their names taken only from `glue` accepted by `glue_ok`.
    pub fn from_records<'a>(
        zone: &Name,
        ns: impl Iterator<Item = &'a Record>,
        glue: impl Iterator<Item = &'a Record> + Clone,
        glue_ok: impl Fn(&Name) -> bool,
        now: Timestamp,
    ) -> Option<Delegation> {
        let mut servers: Vec<NameServer> = Vec::new();
        let mut ttl = limits::MAX_TTL;
        for r in ns {
            let RData::NS(target) = &r.data else { continue };
            if r.name != *zone || servers.iter().any(|s| s.name == target.0) {
                continue;
            }
            ttl = ttl.min(r.ttl);
            let addrs = if glue_ok(&target.0) {
                glue.clone()
                    .filter(|g| g.name == target.0)
                    .filter_map(|g| match &g.data {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            servers.push(NameServer {
                name: target.0.clone(),
                addrs,
                port: None,
            });
        }
        if servers.is_empty() {
            return None;
        }
        Some(Delegation {
            zone: zone.clone(),
            servers,
            stored_at: now,
            ttl,
            forward: false,
        })
    }
}

/// Whether a name server address learned from DNS (glue or a lookup)
/// can be asked: never unspecified (0.0.0.0/8, ::), multicast or
/// broadcast; loopback only when `loopback` (the root hints themselves
/// are loopback: a testbed), as Unbound's `do-not-query-localhost`;
/// IPv6 only when `ipv6` (`do-ip6`). Configured servers are not checked.
pub fn usable_server(ip: IpAddr, loopback: bool, ipv6: bool) -> bool {
    let bad = match ip {
        IpAddr::V4(v4) => v4.octets().first() == Some(&0) || v4.is_broadcast() || v4.is_multicast(),
        IpAddr::V6(v6) => !ipv6 || v6.is_unspecified() || v6.is_multicast(),
    };
    !bad && (loopback || !ip.is_loopback())
}

/// Errors reading a root hints file.
#[derive(Debug, thiserror::Error)]
pub enum HintsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{source_name}: {message}")]
    Parse {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: no NS records for the root with an address")]
    Empty { source_name: String },
    #[error("{source_name}:{line}: $INCLUDE is not supported")]
    Include { source_name: String, line: usize },
}

/// The first line (1-based) holding a `$INCLUDE` directive, as hickory's
/// zone-file lexer recognises it (upper case, anywhere on a line). The
/// parser follows an absolute `$INCLUDE` path whatever file it reads, so a
/// hints or zone file naming `/dev/zero` would be read without end; callers
/// refuse such text before parsing.
pub(crate) fn include_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.contains("$INCLUDE"))
        .map(|i| i.saturating_add(1))
}

/// Parse named.root-format hints into the root delegation.
pub fn parse_hints(text: &str, source_name: &str) -> Result<Delegation, HintsError> {
    if let Some(line) = include_line(text) {
        return Err(HintsError::Include {
            source_name: source_name.to_owned(),
            line,
        });
    }
    let (_, rrsets) = Parser::new(text, None, Some(Name::root()))
        .parse()
        .map_err(|e| HintsError::Parse {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })?;
    let records: Vec<Record> = rrsets
        .values()
        .flat_map(|set| set.records_without_rrsigs().cloned())
        .collect();
    let ns = records
        .iter()
        .filter(|r| r.record_type() == RecordType::NS && r.name.is_root());
    let deleg = Delegation::from_records(
        &Name::root(),
        ns,
        records.iter(),
        |_| true,
        Timestamp::default(),
    );
    match deleg {
        Some(mut d) if !d.addresses().is_empty() => {
            d.ttl = limits::MAX_TTL;
            Ok(d)
        }
        _ => Err(HintsError::Empty {
            source_name: source_name.to_owned(),
        }),
    }
}

pub fn load_hints(path: &Path) -> Result<Delegation, HintsError> {
    let text = std::fs::read_to_string(path).map_err(|source| HintsError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_hints(&text, &path.display().to_string())
}

/// Smoothed RTT per server address (RFC 6298 style, as Unbound's infra cache).
#[derive(Debug, Default)]
pub struct ServerStats {
    srtt: Mutex<HashMap<IpAddr, Duration>>,
    /// Servers that failed and are being retried by one question (the
    /// probe); other questions do not retry them meanwhile.
    probing: Mutex<std::collections::HashSet<IpAddr>>,
    /// Servers whose last answer for a zone did not validate, until when
    /// (`BOGUS_SERVER_HOLD`): asked after the zone's other servers
    /// (server selection by validation outcome, issue 21).
    bogus: Mutex<HashMap<(Name, IpAddr), Timestamp>>,
}

/// The right to retry a failing server, released on drop.
#[derive(Debug)]
pub struct Probe<'a> {
    stats: &'a ServerStats,
    addr: IpAddr,
}

impl Probe<'_> {
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
}

impl Drop for Probe<'_> {
    fn drop(&mut self) {
        self.stats
            .probing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.addr);
    }
}

impl ServerStats {
    pub fn srtt(&self, addr: IpAddr) -> Duration {
        self.lock()
            .and_then(|m| m.get(&addr).copied())
            .unwrap_or(limits::UPSTREAM_RTT_UNKNOWN)
    }

    /// Timeout for the next query to `addr`: a few RTTs, clamped.
    pub fn timeout(&self, addr: IpAddr) -> Duration {
        (self.srtt(addr) * 3).clamp(limits::UPSTREAM_TIMEOUT_MIN, limits::UPSTREAM_TIMEOUT_MAX)
    }

    pub fn record_rtt(&self, addr: IpAddr, rtt: Duration) {
        if let Some(mut m) = self.lock() {
            let old = m.get(&addr).copied().unwrap_or(rtt);
            m.insert(addr, (old * 7 + rtt * 3) / 10);
        }
    }

    /// A timeout or failure doubles the estimate (exponential backoff) and
    /// puts the server behind those never tried, so a dead server sorts
    /// last until it answers again.
    pub fn record_failure(&self, addr: IpAddr) {
        if let Some(mut m) = self.lock() {
            let old = m
                .get(&addr)
                .copied()
                .unwrap_or(limits::UPSTREAM_RTT_UNKNOWN);
            // Behind every server never tried, then doubling, capped.
            let backed_off = (old * 2).max(limits::UPSTREAM_RTT_UNKNOWN + Duration::from_millis(1));
            m.insert(addr, backed_off.min(limits::UPSTREAM_TIMEOUT_MAX * 4));
        }
    }

    /// Whether `addr` failed more recently than it answered.
    pub fn is_failing(&self, addr: IpAddr) -> bool {
        self.srtt(addr) > limits::UPSTREAM_RTT_UNKNOWN
    }

    /// Take the probe token for a failing server; `None` if another
    /// question holds it (then this question must not retry the server).
    pub fn probe(&self, addr: IpAddr) -> Option<Probe<'_>> {
        let mut p = self.probing.lock().unwrap_or_else(|e| e.into_inner());
        if p.insert(addr) {
            Some(Probe { stats: self, addr })
        } else {
            None
        }
    }

    /// `addr` answered data of `zone` that did not validate.
    pub fn mark_bogus(&self, zone: &Name, addr: IpAddr, now: Timestamp) {
        let mut marks = self.bogus.lock().unwrap_or_else(|e| e.into_inner());
        if marks.len() >= limits::MAX_BOGUS_SERVER_MARKS {
            marks.retain(|_, until| now < *until);
            if marks.len() >= limits::MAX_BOGUS_SERVER_MARKS {
                return;
            }
        }
        marks.insert(
            (zone.to_lowercase(), addr),
            now.saturating_add(limits::BOGUS_SERVER_HOLD),
        );
    }

    /// `addr` answered data of `zone` that validated.
    pub fn clear_bogus(&self, zone: &Name, addr: IpAddr) {
        let mut marks = self.bogus.lock().unwrap_or_else(|e| e.into_inner());
        if !marks.is_empty() {
            marks.remove(&(zone.to_lowercase(), addr));
        }
    }

    /// `addrs` with the servers whose last answer for `zone` did not
    /// validate (within `BOGUS_SERVER_HOLD`) moved last, order otherwise
    /// kept.
    pub fn validated_first(
        &self,
        zone: &Name,
        addrs: Vec<SocketAddr>,
        now: Timestamp,
    ) -> Vec<SocketAddr> {
        let marks = self.bogus.lock().unwrap_or_else(|e| e.into_inner());
        if marks.is_empty() {
            return addrs;
        }
        let zone = zone.to_lowercase();
        let bogus = |a: &SocketAddr| {
            marks
                .get(&(zone.clone(), a.ip()))
                .is_some_and(|until| now < *until)
        };
        let (bad, mut good): (Vec<SocketAddr>, Vec<SocketAddr>) =
            addrs.into_iter().partition(|a| bogus(a));
        good.extend(bad);
        good
    }

    /// Socket addresses ordered best first by their host's smoothed RTT
    /// (stable: equal estimates keep their given order).
    pub fn order_sockets(&self, mut addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
        addrs.sort_by_key(|a| self.srtt(a.ip()));
        addrs
    }

    /// Addresses ordered best first (lowest smoothed RTT).
    pub fn order(&self, mut addrs: Vec<IpAddr>) -> Vec<IpAddr> {
        addrs.sort_by_key(|a| self.srtt(*a));
        addrs
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, HashMap<IpAddr, Duration>>> {
        // A poisoned lock only means another task panicked mid-update of a
        // plain map; the data is still usable.
        Some(self.srtt.lock().unwrap_or_else(|e| e.into_inner()))
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
    fn servers_that_sent_bogus_are_asked_last_for_a_while() {
        use std::str::FromStr;
        let stats = ServerStats::default();
        let zone = Name::from_str("de-lab.").unwrap();
        let other = Name::from_str("other.").unwrap();
        let addrs: Vec<SocketAddr> = ["192.0.2.1:53", "192.0.2.2:53", "192.0.2.3:53"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let t0 = Timestamp::from_secs(1000);
        assert_eq!(stats.validated_first(&zone, addrs.clone(), t0), addrs);
        stats.mark_bogus(&zone, addrs[0].ip(), t0);
        stats.mark_bogus(&zone, addrs[1].ip(), t0);
        let order = stats.validated_first(&zone, addrs.clone(), t0);
        assert_eq!(order, vec![addrs[2], addrs[0], addrs[1]]);
        // Per zone: the same servers for another zone keep their order.
        assert_eq!(stats.validated_first(&other, addrs.clone(), t0), addrs);
        // Data that validates clears the mark; marks lapse.
        stats.clear_bogus(&zone, addrs[0].ip());
        let order = stats.validated_first(&zone, addrs.clone(), t0);
        assert_eq!(order, vec![addrs[0], addrs[2], addrs[1]]);
        let later = t0.saturating_add(limits::BOGUS_SERVER_HOLD);
        assert_eq!(stats.validated_first(&zone, addrs.clone(), later), addrs);
    }

    #[test]
    fn builtin_hints_parse() {
        let d = parse_hints(BUILTIN_ROOT_HINTS, "builtin").unwrap();
        assert_eq!(d.servers.len(), 13);
        assert_eq!(d.addresses().len(), 26);
    }

    /// hickory's parser follows an absolute `$INCLUDE` from any text: a
    /// hints file naming /dev/zero was read until memory ran out.
    #[test]
    fn hints_refuse_include() {
        let text = ". 3600 IN NS a.root.\na.root. 3600 IN A 192.0.2.1\n$INCLUDE /dev/zero\n";
        let err = parse_hints(text, "x.hints").unwrap_err();
        assert!(matches!(err, HintsError::Include { line: 3, .. }), "{err}");
        assert_eq!(err.to_string(), "x.hints:3: $INCLUDE is not supported");
    }

    #[test]
    fn bad_hints_are_errors() {
        assert!(matches!(
            parse_hints("", "x"),
            Err(HintsError::Empty { .. })
        ));
        assert!(matches!(
            parse_hints(". IN NS", "f"),
            Err(HintsError::Parse { .. })
        ));
    }

    /// Issue 15: glue that cannot be a name server is never asked.
    #[test]
    fn unusable_glue_is_refused() {
        let ok = |s: &str, lo: bool, v6: bool| usable_server(s.parse().unwrap(), lo, v6);
        assert!(ok("192.0.2.1", false, true));
        assert!(!ok("0.0.0.0", true, true), "unspecified");
        assert!(!ok("0.1.2.3", true, true), "this network");
        assert!(!ok("255.255.255.255", true, true), "broadcast");
        assert!(!ok("224.0.0.1", true, true), "multicast");
        assert!(!ok("::", true, true));
        assert!(!ok("ff02::1", true, true));
        assert!(!ok("127.0.0.1", false, true), "loopback outside a testbed");
        assert!(ok("127.0.0.1", true, true), "loopback in a testbed");
        assert!(!ok("::1", false, true));
        assert!(!ok("2001:db8::1", true, false), "do-ip6 off");
        assert!(ok("2001:db8::1", false, true));
    }

    #[test]
    fn srtt_orders_and_backs_off() {
        let s = ServerStats::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        s.record_rtt(a, Duration::from_millis(10));
        assert_eq!(s.order(vec![b, a]), vec![a, b]);
        s.record_failure(a);
        assert_eq!(
            s.order(vec![a, b]),
            vec![b, a],
            "one failure sorts behind an untried server"
        );
        for _ in 0..20 {
            s.record_failure(a);
        }
        assert!(s.is_failing(a) && !s.is_failing(b));
        let probe = s.probe(a).unwrap();
        assert!(s.probe(a).is_none(), "one prober at a time");
        drop(probe);
        assert!(s.probe(a).is_some());
        assert!(
            s.srtt(a) <= limits::UPSTREAM_TIMEOUT_MAX * 4,
            "backoff is capped"
        );
    }
}
