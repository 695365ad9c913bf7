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
            ResolveError::ZoneDown { tries, .. } => {
                if tries.iter().all(|(_, o)| o.is_unreachable()) {
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
            ResolveError::ZoneDown { tries, .. } => tries.iter().all(|(_, o)| o.is_unreachable()),
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

fn outcomes_text(tries: &[(SocketAddr, UpstreamOutcome)]) -> String {
    let parts: Vec<String> = tries.iter().map(|(s, o)| format!("{s} {o}")).collect();
    format!("{} tries: {}", tries.len(), parts.join(", "))
}
