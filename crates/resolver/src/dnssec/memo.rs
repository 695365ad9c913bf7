//! Signatures already verified, so that an RRset seen again with the same
//! RRSIG costs a hash instead of a public-key operation.
//!
//! Many answers carry an identical signed RRset: every name synthesised
//! from one wildcard comes with the same NSEC (or NSEC3) proof and its
//! RRSIG; a DNSKEY set is fetched again when its TTL ends. Unbound gets
//! the same effect by keeping the security status of identical RRsets in
//! its RRset cache.
//!
//! The memo holds SHA-256 digests of everything a verification depends
//! on: the algorithm, the key's public bytes, the signed data (RRSIG RDATA
//! without the signature, so its validity window and key tag too, then
//! the canonical RRset) and the signature. Only successes are kept; the
//! checks that precede the crypto (signer, labels, validity window at
//! `now`, key tag) still run every time. The memo is passed in with the
//! work [`Budget`](super::verify::Budget): validation stays free of hidden
//! state.

use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::dnssec::{PublicKey, Verifier};
use ring::digest::{Context, SHA256};

/// A digest identifying one (key, signed data, signature) triple.
pub(crate) type Digest = [u8; 32];

/// Bounded set of verified signatures
/// ([`crate::limits::MAX_VERIFIED_SIGNATURES_CACHED`]).
#[derive(Clone)]
pub struct VerifiedSignatures {
    store: moka::sync::Cache<Digest, ()>,
}

impl std::fmt::Debug for VerifiedSignatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedSignatures")
            .field("entries", &self.store.entry_count())
            .finish()
    }
}

impl VerifiedSignatures {
    pub fn new(capacity: u64) -> Self {
        Self {
            store: moka::sync::Cache::new(capacity),
        }
    }

    pub(crate) fn digest(key: &DNSKEY, data: &[u8], signature: &[u8]) -> Digest {
        let mut ctx = Context::new(&SHA256);
        let public = key.public_key().public_bytes();
        ctx.update(&[u8::from(key.algorithm())]);
        for part in [public, data, signature] {
            // Lengths first: no two different triples hash the same input.
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            ctx.update(&len.to_be_bytes());
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    pub(crate) fn contains(&self, digest: &Digest) -> bool {
        self.store.contains_key(digest)
    }

    pub(crate) fn insert(&self, digest: Digest) {
        self.store.insert(digest, ());
    }
}
