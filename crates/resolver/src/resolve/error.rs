//! Resolution failures and the one mapping from failure to EDE.

use std::net::SocketAddr;

use hickory_proto::rr::Name;

use crate::ede::{Ede, EdeCode};
use crate::limits::Limit;
use crate::resolve::outcome::UpstreamOutcome;

/// Why a resolution produced no usable answer. Outcomes (NXDOMAIN, NODATA,
/// Bogus) are values in the cache entry, not errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("limit {limit} ({value}) reached")]
    Limit { limit: Limit, value: u64 },
    /// Every server timed out, refused or was unreachable.
    #[error("no reachable authority for {zone}: {detail}")]
    NoReachableAuthority { zone: Name, detail: String },
    /// Servers answered, but with SERVFAIL or unusable messages.
    #[error("authorities for {zone} failed: {detail}")]
    NetworkError { zone: Name, detail: String },
    /// Every server of the zone failed this question (or is known to be
    /// failing): zone-level evidence that opens its failure window.
    #[error("every server of {zone} failed: {}", outcomes_text(.tries))]
    ZoneDown {
        zone: Name,
        /// Each try: the server and what it did.
        tries: Vec<(SocketAddr, UpstreamOutcome)>,
    },
    /// Servers failed the question, but not every server of the zone was
    /// tried or is failing: not zone-level evidence (fail small).
    #[error("{}", some_failed_text(.zone, .tries))]
    ServersFailed {
        zone: Name,
        /// Each try: the server and what it did.
        tries: Vec<(SocketAddr, UpstreamOutcome)>,
    },
    #[error("CNAME loop at {name}")]
    CnameLoop { name: Name },
    /// A lookup needs its own result (glueless NS dependency loop).
    #[error("dependency loop resolving {name}")]
    DependencyLoop { name: Name },
    /// The zone is in its failure-recheck window: answered from the
    /// remembered failure without asking upstream.
    #[error("{zone} failing (remembered): {ede}")]
    KnownFailure { zone: Name, ede: Ede },
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl ResolveError {
    /// The EDE a client sees for this failure (RFC 8914 §4).
    pub fn ede(&self) -> Ede {
        if let ResolveError::KnownFailure { ede, .. } = self {
            return ede.clone();
        }
        let code = match self {
            ResolveError::NoReachableAuthority { .. } => EdeCode::NoReachableAuthority,
            ResolveError::NetworkError { .. } => EdeCode::NetworkError,
            ResolveError::ZoneDown { tries, .. } | ResolveError::ServersFailed { tries, .. } => {
                if all_unreachable(tries) {
                    EdeCode::NoReachableAuthority
                } else {
                    EdeCode::NetworkError
                }
            }
            ResolveError::Limit { .. }
            | ResolveError::CnameLoop { .. }
            | ResolveError::DependencyLoop { .. }
            | ResolveError::KnownFailure { .. }
            | ResolveError::Internal(_) => EdeCode::Other,
        };
        Ede::new(code, self.to_string())
    }

    /// Whether no server could be reached at all (timeouts, network
    /// errors): a routing problem, as opposed to servers answering badly.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ResolveError::NoReachableAuthority { .. } => true,
            ResolveError::ZoneDown { tries, .. } | ResolveError::ServersFailed { tries, .. } => {
                all_unreachable(tries)
            }
            _ => false,
        }
    }

    /// The zone every server of which failed: zone-level evidence for its
    /// failure-recheck window. Failures of some servers, of one question's
    /// budget or of its validation are not (fail small).
    pub fn failing_zone(&self) -> Option<&Name> {
        match self {
            ResolveError::ZoneDown { zone, .. } => Some(zone),
            _ => None,
        }
    }
}

/// Every try found its server unreachable (EDE 22 rather than 23).
fn all_unreachable(tries: &[(SocketAddr, UpstreamOutcome)]) -> bool {
    tries.iter().all(|(_, o)| o.is_unreachable())
}

/// The text of [`ResolveError::ServersFailed`], as the joined detail of
/// `NoReachableAuthority`/`NetworkError` read before it was typed.
fn some_failed_text(zone: &Name, tries: &[(SocketAddr, UpstreamOutcome)]) -> String {
    let parts: Vec<String> = tries.iter().map(|(s, o)| format!("{s} {o}")).collect();
    let detail = format!(
        "{} tries, not every server tried: {}",
        parts.len(),
        parts.join(", ")
    );
    if all_unreachable(tries) {
        format!("no reachable authority for {zone}: {detail}")
    } else {
        format!("authorities for {zone} failed: {detail}")
    }
}

fn outcomes_text(tries: &[(SocketAddr, UpstreamOutcome)]) -> String {
    let parts: Vec<String> = tries.iter().map(|(s, o)| format!("{s} {o}")).collect();
    format!("{} tries: {}", tries.len(), parts.join(", "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use super::*;

    #[test]
    fn servers_failed_keeps_each_try_and_the_old_text() {
        let zone = Name::from_str("example.lab.").unwrap();
        let a: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:53".parse().unwrap();
        let down = ResolveError::ServersFailed {
            zone: zone.clone(),
            tries: vec![(a, UpstreamOutcome::Timeout), (b, UpstreamOutcome::Refused)],
        };
        assert!(down.is_unreachable());
        assert_eq!(down.ede().code, EdeCode::NoReachableAuthority);
        assert_eq!(
            down.to_string(),
            "no reachable authority for example.lab.: 2 tries, not every server tried: \
             127.0.0.1:53 timeout, 127.0.0.2:53 refused"
        );
        assert_eq!(down.failing_zone(), None, "not zone-level evidence");
        let bad = ResolveError::ServersFailed {
            zone,
            tries: vec![
                (a, UpstreamOutcome::Timeout),
                (b, UpstreamOutcome::Malformed),
            ],
        };
        assert!(!bad.is_unreachable());
        assert_eq!(bad.ede().code, EdeCode::NetworkError);
        assert!(
            bad.to_string()
                .starts_with("authorities for example.lab. failed: 2 tries")
        );
    }
}
