//! DNSSEC validation (RFC 4033-4035, 5155, 6840, 8624, 9276).
//!
//! Pure: every function takes records, keys and `now` and returns a verdict.
//! The resolver's driver fetches DS/DNSKEY sets and hands them in as a
//! [`KeyMap`]; nothing here performs IO or reads the clock.

use std::collections::HashMap;
use std::fmt;

use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::rr::Name;

use crate::ede::{Ede, EdeCode};

mod algorithms;
pub mod anchors;
pub(crate) mod canon;
mod keys;
mod memo;
mod nsec;
mod nsec3;
#[cfg(test)]
pub(crate) mod testutil;
pub mod validate;
mod verify;

pub use algorithms::AlgorithmPolicy;
pub use anchors::{AnchorError, TrustAnchors};
pub use memo::VerifiedSignatures;

/// The outcome of validating one answer (RFC 4033 §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Security {
    /// A chain of trust from an anchor covers the data.
    Secure,
    /// Proven to be outside any signed zone (no DS on the path, or only
    /// unsupported algorithms/digests, or NSEC3 iterations over the limit).
    /// `note` says why when it should reach the client as an EDE (1, 2, 27).
    Insecure { note: Option<Ede> },
    /// A chain of trust should cover the data, but it does not verify.
    Bogus(BogusReason),
    /// Could not decide (e.g. keys unavailable because authorities failed).
    Indeterminate(Ede),
}

impl Security {
    pub const INSECURE: Security = Security::Insecure { note: None };

    pub fn is_secure(&self) -> bool {
        matches!(self, Security::Secure)
    }

    pub fn is_bogus(&self) -> bool {
        matches!(self, Security::Bogus(_))
    }

    /// Whether the data validated: Secure, or Insecure by proof. Only such
    /// data goes to the validated view and may ever be served stale.
    pub fn is_validated(&self) -> bool {
        matches!(self, Security::Secure | Security::Insecure { .. })
    }

    /// The validation failure (Bogus or Indeterminate) with the EDE a
    /// validating client gets for it; `None` for data that validated.
    pub fn validation_failure(&self) -> Option<Ede> {
        match self {
            Security::Bogus(reason) => Some(reason.ede()),
            Security::Indeterminate(ede) => Some(ede.clone()),
            Security::Secure | Security::Insecure { .. } => None,
        }
    }

    /// Combine the security of two pieces of one answer (a CNAME chain):
    /// the weakest wins, Bogus over Indeterminate over Insecure over Secure.
    #[must_use]
    pub fn combine(self, other: Security) -> Security {
        fn rank(s: &Security) -> u8 {
            match s {
                Security::Secure => 0,
                Security::Insecure { .. } => 1,
                Security::Indeterminate(_) => 2,
                Security::Bogus(_) => 3,
            }
        }
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }
}

/// Why a validation failed; maps 1:1 to an EDE code (RFC 8914).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BogusKind {
    /// Signature did not verify, DS did not match, malformed DNSSEC data (EDE 6).
    Bogus,
    /// Every covering RRSIG expired (EDE 7).
    SignatureExpired,
    /// Every covering RRSIG not yet valid (EDE 8).
    SignatureNotYetValid,
    /// No DNSKEY matches the RRSIG's key tag/algorithm, or the DNSKEY set
    /// could not be authenticated by the DS set (EDE 9).
    DnskeyMissing,
    /// Data from a secure zone without RRSIGs (EDE 10).
    RrsigsMissing,
    /// DNSKEY without the Zone Key bit (EDE 11).
    NoZoneKeyBitSet,
    /// Denial of existence without a valid NSEC/NSEC3 proof (EDE 12).
    NsecMissing,
}

impl BogusKind {
    pub fn ede_code(self) -> EdeCode {
        match self {
            BogusKind::Bogus => EdeCode::DnssecBogus,
            BogusKind::SignatureExpired => EdeCode::SignatureExpired,
            BogusKind::SignatureNotYetValid => EdeCode::SignatureNotYetValid,
            BogusKind::DnskeyMissing => EdeCode::DnskeyMissing,
            BogusKind::RrsigsMissing => EdeCode::RrsigsMissing,
            BogusKind::NoZoneKeyBitSet => EdeCode::NoZoneKeyBitSet,
            BogusKind::NsecMissing => EdeCode::NsecMissing,
        }
    }
}

/// A Bogus verdict with enough context for EDE EXTRA-TEXT:
/// e.g. `"lab. DNSKEY missing for RRSIG key tag 12345 (A host1.example.lab.)"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BogusReason {
    pub kind: BogusKind,
    /// Zone whose data or keys failed.
    pub zone: Name,
    /// Key tag involved, when one is known.
    pub key_tag: Option<u16>,
    /// Human-readable detail (no secrets; goes into EXTRA-TEXT).
    pub detail: String,
}

impl BogusReason {
    pub fn new(
        kind: BogusKind,
        zone: &Name,
        key_tag: Option<u16>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            zone: zone.clone(),
            key_tag,
            detail: detail.into(),
        }
    }

    pub fn ede(&self) -> Ede {
        Ede::new(self.kind.ede_code(), self.to_string())
    }
}

impl fmt::Display for BogusReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.zone)?;
        if let Some(tag) = self.key_tag {
            write!(f, " key tag {tag}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// What the resolver knows about one zone's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyEntry {
    /// DNSKEY set authenticated from a trust anchor or a validated DS set;
    /// only the zone keys (flag bit 7) are kept.
    Secure(Vec<DNSKEY>),
    /// Proven insecure (no DS, unsupported algorithms, ...).
    Insecure { note: Option<Ede> },
    /// The keys could not be authenticated.
    Bogus(BogusReason),
    /// The keys could not be fetched (authorities failed).
    Indeterminate(Ede),
}

impl KeyEntry {
    /// The security that data signed (or not) under this zone inherits when
    /// the keys themselves are the problem.
    pub fn as_security(&self) -> Option<Security> {
        match self {
            KeyEntry::Secure(_) => None,
            KeyEntry::Insecure { note } => Some(Security::Insecure { note: note.clone() }),
            KeyEntry::Bogus(r) => Some(Security::Bogus(r.clone())),
            KeyEntry::Indeterminate(e) => Some(Security::Indeterminate(e.clone())),
        }
    }
}

/// Zone apex (lowercased) -> key entry, prepared by the driver before a
/// response is validated.
pub type KeyMap = HashMap<Name, KeyEntry>;
