//! Extended DNS Errors (RFC 8914): the codes lastgood emits and the option
//! encoding. One place maps every failure to a code.

use std::fmt;

use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

/// EDNS option code for Extended DNS Error (RFC 8914 §2).
pub const EDE_OPTION_CODE: u16 = 15;

/// An INFO-CODE from the IANA "Extended DNS Error Codes" registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum EdeCode {
    Other = 0,
    UnsupportedDnskeyAlgorithm = 1,
    UnsupportedDsDigestType = 2,
    StaleAnswer = 3,
    ForgedAnswer = 4,
    DnssecIndeterminate = 5,
    DnssecBogus = 6,
    SignatureExpired = 7,
    SignatureNotYetValid = 8,
    DnskeyMissing = 9,
    RrsigsMissing = 10,
    NoZoneKeyBitSet = 11,
    NsecMissing = 12,
    CachedError = 13,
    NotReady = 14,
    Blocked = 15,
    Prohibited = 18,
    StaleNxdomainAnswer = 19,
    NotAuthoritative = 20,
    NotSupported = 21,
    NoReachableAuthority = 22,
    NetworkError = 23,
    InvalidData = 24,
    SignatureExpiredBeforeValid = 25,
    UnsupportedNsec3Iterations = 27,
    /// draft-ietf-dnsop-... "Negative Trust Anchor" (allowed by the design).
    NegativeTrustAnchor = 33,
}

impl EdeCode {
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// Whether this code reports a DNSSEC validation failure (a Bogus or
    /// Indeterminate verdict, RFC 8914 §4.6-4.13 and §4.26), as opposed to
    /// an outage, a policy, a stale answer or an Insecure note (1, 2, 27:
    /// unsupported algorithms and NSEC3 iterations make data Insecure, not
    /// Bogus).
    pub const fn is_validation_failure(self) -> bool {
        matches!(
            self,
            EdeCode::DnssecIndeterminate
                | EdeCode::DnssecBogus
                | EdeCode::SignatureExpired
                | EdeCode::SignatureNotYetValid
                | EdeCode::DnskeyMissing
                | EdeCode::RrsigsMissing
                | EdeCode::NoZoneKeyBitSet
                | EdeCode::NsecMissing
                | EdeCode::SignatureExpiredBeforeValid
        )
    }
}

/// One Extended DNS Error: code plus EXTRA-TEXT.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ede {
    pub code: EdeCode,
    pub text: String,
}

impl Ede {
    pub fn new(code: EdeCode, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }

    /// The EDNS option carrying this error.
    pub fn to_option(&self) -> EdnsOption {
        let mut data = Vec::with_capacity(2 + self.text.len());
        data.extend_from_slice(&self.code.code().to_be_bytes());
        data.extend_from_slice(self.text.as_bytes());
        EdnsOption::Unknown(EDE_OPTION_CODE, data)
    }

    /// Decode an EDE option's payload (code + UTF-8 text); `None` if short.
    pub fn decode(data: &[u8]) -> Option<(u16, String)> {
        let (code, text) = data.split_first_chunk::<2>()?;
        Some((
            u16::from_be_bytes(*code),
            String::from_utf8_lossy(text).into_owned(),
        ))
    }

    /// Whether an EDNS option is an EDE.
    pub fn is_ede(code: EdnsCode) -> bool {
        u16::from(code) == EDE_OPTION_CODE
    }
}

impl fmt::Display for Ede {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EDE {} ({:?})", self.code.code(), self.code)?;
        if !self.text.is_empty() {
            write!(f, ": {}", self.text)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let e = Ede::new(EdeCode::DnskeyMissing, "lab. key tag 1234");
        let EdnsOption::Unknown(15, data) = e.to_option() else {
            unreachable!("EDE encodes as unknown option 15")
        };
        assert_eq!(
            Ede::decode(&data),
            Some((9, "lab. key tag 1234".to_owned()))
        );
        assert_eq!(Ede::decode(&[0]), None);
    }

    #[test]
    fn validation_failures_are_dnssec_verdicts_only() {
        let failures = [5, 6, 7, 8, 9, 10, 11, 12, 25];
        let others = [
            EdeCode::Other,
            EdeCode::UnsupportedDnskeyAlgorithm,
            EdeCode::UnsupportedDsDigestType,
            EdeCode::StaleAnswer,
            EdeCode::ForgedAnswer,
            EdeCode::StaleNxdomainAnswer,
            EdeCode::NoReachableAuthority,
            EdeCode::NetworkError,
            EdeCode::UnsupportedNsec3Iterations,
            EdeCode::NegativeTrustAnchor,
        ];
        for code in others {
            assert!(!code.is_validation_failure(), "{code:?}");
        }
        for code in [
            EdeCode::DnssecIndeterminate,
            EdeCode::DnssecBogus,
            EdeCode::SignatureExpired,
            EdeCode::SignatureNotYetValid,
            EdeCode::DnskeyMissing,
            EdeCode::RrsigsMissing,
            EdeCode::NoZoneKeyBitSet,
            EdeCode::NsecMissing,
            EdeCode::SignatureExpiredBeforeValid,
        ] {
            assert!(code.is_validation_failure(), "{code:?}");
            assert!(failures.contains(&code.code()));
        }
    }
}
