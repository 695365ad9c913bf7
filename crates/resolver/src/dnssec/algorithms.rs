//! Which DNSSEC algorithms the validator uses, and the one signature
//! check ring cannot do for us: RSA moduli under 1024 bits.
//!
//! RFC 8624 §3.1 and RFC 9905: RSASHA256/512, ECDSA P-256/P-384 and
//! Ed25519 are always validated. RSASHA1 (5) and RSASHA1-NSEC3-SHA1 (7)
//! must stay implementable but operators are expected to treat them as
//! unsupported by default; `sha1-algorithms = "validate"` turns them on
//! ([`AlgorithmPolicy::sha1`]). DSA (3, 6), RSAMD5 (1), GOST (12) and
//! private or unknown algorithms are never supported: a zone signed only
//! with them is Insecure (EDE 1), never Bogus.
//!
//! RSA signatures go through ring (via hickory) for moduli of 1024 to
//! 8192 bits (`RSA_PKCS1_1024_8192_*_FOR_LEGACY_USE_ONLY`). ring refuses
//! anything smaller, yet RFC 3110 allowed 512-bit keys and some are still
//! in the wild, so those are checked with RustCrypto's `rsa` crate (its
//! PKCS#1 v1.5 verification; the crate's known timing issue concerns
//! private-key operations, which we never perform), with the digest from
//! ring.

// RSASHA1 is deprecated in hickory; validating it on request is the point.
#![allow(deprecated)]

use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::dnssec::{Algorithm, PublicKey, Verifier};

/// The operator's algorithm choices (config `sha1-algorithms`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    /// Validate RSASHA1 (5) and RSASHA1-NSEC3-SHA1 (7); off by default
    /// (RFC 9905: treated as unsupported, so such zones are Insecure).
    pub sha1: bool,
}

impl AlgorithmPolicy {
    /// Whether signatures and DS records of `alg` are validated.
    pub fn supports(self, alg: Algorithm) -> bool {
        match alg {
            Algorithm::RSASHA256
            | Algorithm::RSASHA512
            | Algorithm::ECDSAP256SHA256
            | Algorithm::ECDSAP384SHA384
            | Algorithm::ED25519 => true,
            Algorithm::RSASHA1 | Algorithm::RSASHA1NSEC3SHA1 => self.sha1,
            _ => false,
        }
    }
}

/// Smallest RSA modulus, in bits, that ring verifies.
const RING_MIN_RSA_BITS: usize = 1024;

/// Verify `signature` over `data` with `key` (whose algorithm the policy
/// already accepted). `false` for any failure, malformed keys included.
pub(crate) fn verify_signature(key: &DNSKEY, data: &[u8], signature: &[u8]) -> bool {
    let alg = key.algorithm();
    let rsa = matches!(
        alg,
        Algorithm::RSASHA1
            | Algorithm::RSASHA1NSEC3SHA1
            | Algorithm::RSASHA256
            | Algorithm::RSASHA512
    );
    if rsa
        && let Some((e, n)) = rsa_components(key.public_key().public_bytes())
        && modulus_bits(n) < RING_MIN_RSA_BITS
    {
        return small_rsa::verify(alg, e, n, data, signature);
    }
    key.verify(data, signature).is_ok()
}

/// (exponent, modulus) of an RSA DNSKEY's public key (RFC 3110 §2): one
/// length octet (or zero and two octets), the exponent, the modulus.
fn rsa_components(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = key.split_first()?;
    let (len, rest) = if first == 0 {
        let (len, rest) = rest.split_at_checked(2)?;
        let len = u16::from_be_bytes(len.try_into().ok()?);
        (usize::from(len), rest)
    } else {
        (usize::from(first), rest)
    };
    let (e, n) = rest.split_at_checked(len)?;
    (!e.is_empty() && !n.is_empty()).then_some((e, n))
}

/// Bits in a big-endian unsigned integer (leading zeros not counted).
fn modulus_bits(n: &[u8]) -> usize {
    let Some(pos) = n.iter().position(|&b| b != 0) else {
        return 0;
    };
    let top = n.get(pos).copied().unwrap_or(0);
    (n.len() - pos - 1) * 8 + (8 - top.leading_zeros() as usize)
}

pub(super) mod small_rsa {
    use hickory_proto::dnssec::Algorithm;
    use ring::digest;
    use rsa::traits::SignatureScheme;
    use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};

    /// DER DigestInfo prefixes (RFC 8017 §9.2, note 1).
    pub(in crate::dnssec) const SHA1_PREFIX: &[u8] = &[
        0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
    ];
    pub(in crate::dnssec) const SHA256_PREFIX: &[u8] = &[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    const SHA512_PREFIX: &[u8] = &[
        0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        0x05, 0x00, 0x04, 0x40,
    ];

    /// PKCS#1 v1.5 verification for RSA keys too small for ring.
    pub(super) fn verify(alg: Algorithm, e: &[u8], n: &[u8], data: &[u8], sig: &[u8]) -> bool {
        let (digest_alg, prefix) = match alg {
            Algorithm::RSASHA1 | Algorithm::RSASHA1NSEC3SHA1 => {
                (&digest::SHA1_FOR_LEGACY_USE_ONLY, SHA1_PREFIX)
            }
            Algorithm::RSASHA256 => (&digest::SHA256, SHA256_PREFIX),
            Algorithm::RSASHA512 => (&digest::SHA512, SHA512_PREFIX),
            _ => return false,
        };
        let Ok(key) = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
        else {
            return false;
        };
        let hashed = digest::digest(digest_alg, data);
        let scheme = Pkcs1v15Sign {
            hash_len: Some(digest_alg.output_len()),
            prefix: prefix.into(),
        };
        scheme.verify(&key, hashed.as_ref(), sig).is_ok()
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
    fn sha1_algorithms_follow_the_policy_and_dsa_never() {
        let off = AlgorithmPolicy::default();
        let on = AlgorithmPolicy { sha1: true };
        for alg in [Algorithm::RSASHA1, Algorithm::RSASHA1NSEC3SHA1] {
            assert!(!off.supports(alg));
            assert!(on.supports(alg));
        }
        for p in [off, on] {
            assert!(p.supports(Algorithm::ECDSAP256SHA256));
            assert!(!p.supports(Algorithm::DSA));
            assert!(!p.supports(Algorithm::RSAMD5));
            assert!(!p.supports(Algorithm::Unknown(200)));
        }
    }

    #[test]
    fn rsa_key_components_and_sizes() {
        let mut key = vec![3, 1, 0, 1];
        key.extend([0x80; 64]);
        let (e, n) = rsa_components(&key).unwrap();
        assert_eq!(e, &[1, 0, 1]);
        assert_eq!(modulus_bits(n), 512);
        let mut long = vec![0, 0, 3, 1, 0, 1];
        long.extend([0x01; 128]);
        let (_, n) = rsa_components(&long).unwrap();
        assert_eq!(modulus_bits(n), 1017);
        assert!(rsa_components(&[]).is_none());
        assert!(rsa_components(&[5, 1]).is_none());
        assert!(rsa_components(&[0, 1]).is_none());
    }
}
