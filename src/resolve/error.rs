//! Resolution failures and the one mapping from failure to EDE.

use hickory_proto::rr::Name;

use crate::ede::{Ede, EdeCode};

/// Why a resolution produced no usable answer. Outcomes (NXDOMAIN, NODATA,
/// Bogus) are values in the cache entry, not errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("limit {limit} ({value}) reached")]
    Limit { limit: &'static str, value: u64 },
    /// Every server timed out, refused or was unreachable.
    #[error("no reachable authority for {zone}: {detail}")]
    NoReachableAuthority { zone: Name, detail: String },
    /// Servers answered, but with SERVFAIL or unusable messages.
    #[error("authorities for {zone} failed: {detail}")]
    NetworkError { zone: Name, detail: String },
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
            ResolveError::Limit { .. }
            | ResolveError::CnameLoop { .. }
            | ResolveError::DependencyLoop { .. }
            | ResolveError::KnownFailure { .. }
            | ResolveError::Internal(_) => EdeCode::Other,
        };
        Ede::new(code, self.to_string())
    }

    /// The zone whose authorities failed, for the failure-recheck window.
    pub fn failing_zone(&self) -> Option<&Name> {
        match self {
            ResolveError::NoReachableAuthority { zone, .. }
            | ResolveError::NetworkError { zone, .. } => Some(zone),
            _ => None,
        }
    }
}
