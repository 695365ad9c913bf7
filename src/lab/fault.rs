//! Faults a lab zone can be switched into at runtime.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How a zone misbehaves. Applies to every query answered from that zone.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// Normal, correctly signed service.
    #[default]
    None,
    /// No answer at all (the client times out).
    Drop,
    /// Answer SERVFAIL.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Random bytes of a plausible length, starting with the query ID.
    Garbage,
    /// A correct answer, sent after this delay.
    Slow(Duration),
    /// Data signed by a new ZSK that the DNSKEY set does not publish (the
    /// .de incident of 2026-05-05).
    UnpublishedZsk,
    /// A new KSK replaces the old one in the DNSKEY set and signs it; the
    /// parent's DS still names the old KSK.
    KskWithoutDs,
    /// Every signature of the zone expired yesterday.
    ExpiredRrsigs,
    /// Every data signature has a flipped byte (DNSKEY set still valid).
    BadSignatures,
}

impl Fault {
    /// Whether the zone must be signed differently under this fault.
    pub fn needs_resigning(&self) -> bool {
        matches!(
            self,
            Fault::UnpublishedZsk
                | Fault::KskWithoutDs
                | Fault::ExpiredRrsigs
                | Fault::BadSignatures
        )
    }
}

/// A fault name that [`Fault::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultParseError {
    #[error(
        "unknown fault {0:?} (none, drop, servfail, refused, garbage, slow:MS, unpublished-zsk, ksk-without-ds, expired-rrsigs, bad-signatures)"
    )]
    Unknown(String),
    #[error("bad delay in {text:?}: expected slow:MILLISECONDS")]
    BadDelay { text: String },
}

impl FromStr for Fault {
    type Err = FaultParseError;

    /// `none`, `drop`, `servfail`, `refused`, `garbage`, `slow:250` (ms),
    /// `unpublished-zsk`, `ksk-without-ds`, `expired-rrsigs`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        if let Some(ms) = lower.strip_prefix("slow:") {
            let ms: u64 = ms.parse().map_err(|_| FaultParseError::BadDelay {
                text: text.to_owned(),
            })?;
            return Ok(Fault::Slow(Duration::from_millis(ms)));
        }
        Ok(match lower.as_str() {
            "none" => Fault::None,
            "drop" => Fault::Drop,
            "servfail" => Fault::ServFail,
            "refused" => Fault::Refused,
            "garbage" => Fault::Garbage,
            "unpublished-zsk" => Fault::UnpublishedZsk,
            "ksk-without-ds" => Fault::KskWithoutDs,
            "expired-rrsigs" => Fault::ExpiredRrsigs,
            "bad-signatures" => Fault::BadSignatures,
            _ => return Err(FaultParseError::Unknown(text.to_owned())),
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::None => f.write_str("none"),
            Fault::Drop => f.write_str("drop"),
            Fault::ServFail => f.write_str("servfail"),
            Fault::Refused => f.write_str("refused"),
            Fault::Garbage => f.write_str("garbage"),
            Fault::Slow(d) => write!(f, "slow:{}", d.as_millis()),
            Fault::UnpublishedZsk => f.write_str("unpublished-zsk"),
            Fault::KskWithoutDs => f.write_str("ksk-without-ds"),
            Fault::ExpiredRrsigs => f.write_str("expired-rrsigs"),
            Fault::BadSignatures => f.write_str("bad-signatures"),
        }
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
    fn parse_display_round_trip() {
        for fault in [
            Fault::None,
            Fault::Drop,
            Fault::ServFail,
            Fault::Refused,
            Fault::Garbage,
            Fault::Slow(Duration::from_millis(250)),
            Fault::UnpublishedZsk,
            Fault::KskWithoutDs,
            Fault::ExpiredRrsigs,
            Fault::BadSignatures,
        ] {
            assert_eq!(fault.to_string().parse::<Fault>().unwrap(), fault);
        }
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            "bogus".parse::<Fault>(),
            Err(FaultParseError::Unknown(_))
        ));
        assert!(matches!(
            "slow:x".parse::<Fault>(),
            Err(FaultParseError::BadDelay { .. })
        ));
    }
}
