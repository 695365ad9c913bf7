//! The keyed hasher of the maps keyed by names: the answer cache, the
//! side caches, the RRset index of a section (issue 20).
//!
//! hickory's `Name` hashes case-insensitively, one `write_u8` per byte
//! of its labels; under std's SipHash every such call is a separate
//! update, and hashing names was ~10% of a real miss's instructions.
//! [`NameHashState`] keeps the same keyed SipHash (`RandomState`: a
//! random key per map, so client-chosen names cannot aim at collisions)
//! and only batches what the key's `Hash` writes: bytes collect in a
//! buffer of [`NAME_HASH_BUFFER`] and reach SipHash in one `write`.
//! The hash is a deterministic function of the bytes written, so keys
//! that are equal (and so write the same bytes) hash alike.

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::hash::{BuildHasher, Hasher};

use crate::limits::NAME_HASH_BUFFER;

/// Builds [`BufferedHasher`]s; one random SipHash key per instance.
#[derive(Clone, Debug, Default)]
pub struct NameHashState(RandomState);

impl BuildHasher for NameHashState {
    type Hasher = BufferedHasher;

    fn build_hasher(&self) -> BufferedHasher {
        BufferedHasher {
            inner: self.0.build_hasher(),
            buf: [0; NAME_HASH_BUFFER],
            len: 0,
        }
    }
}

/// SipHash fed in batches: see the module docs.
#[derive(Clone, Debug)]
pub struct BufferedHasher {
    inner: DefaultHasher,
    buf: [u8; NAME_HASH_BUFFER],
    /// Bytes of `buf` in use.
    len: usize,
}

impl BufferedHasher {
    fn flush(&mut self) {
        self.inner
            .write(self.buf.get(..self.len).unwrap_or_default());
        self.len = 0;
    }
}

impl Hasher for BufferedHasher {
    fn write(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if end > NAME_HASH_BUFFER {
            self.flush();
            if bytes.len() > NAME_HASH_BUFFER {
                self.inner.write(bytes);
                return;
            }
        }
        let start = self.len;
        if let Some(dst) = self.buf.get_mut(start..start + bytes.len()) {
            dst.copy_from_slice(bytes);
            self.len = start + bytes.len();
        }
    }

    fn write_u8(&mut self, byte: u8) {
        if self.len >= NAME_HASH_BUFFER {
            self.flush();
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    fn finish(&self) -> u64 {
        let mut inner = self.inner.clone();
        inner.write(self.buf.get(..self.len).unwrap_or_default());
        inner.finish()
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

    use std::hash::BuildHasher;
    use std::str::FromStr;

    use hickory_proto::rr::Name;

    use super::*;

    /// Equal keys hash alike however the bytes arrive, across buffer
    /// boundaries; different names do not (with this key, here).
    #[test]
    fn equal_keys_hash_alike() {
        let state = NameHashState::default();
        let long = format!("{}.example.", vec!["a".repeat(63); 3].join("."));
        for (a, b) in [
            ("www.Example.", "WWW.example."),
            (long.as_str(), long.to_uppercase().as_str()),
        ] {
            let (a, b) = (Name::from_str(a).unwrap(), Name::from_str(b).unwrap());
            assert_eq!(a, b);
            assert_eq!(state.hash_one(&a), state.hash_one(&b));
        }
        let www = Name::from_str("www.example.").unwrap();
        let ftp = Name::from_str("ftp.example.").unwrap();
        assert_ne!(state.hash_one(&www), state.hash_one(&ftp));
        // Whole writes, partial, and byte by byte: the same stream.
        let bytes: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let mut whole = state.build_hasher();
        whole.write(&bytes);
        let mut bytewise = state.build_hasher();
        bytes.iter().for_each(|&b| bytewise.write_u8(b));
        let mut mixed = state.build_hasher();
        mixed.write(&bytes[..100]);
        bytes[100..103].iter().for_each(|&b| mixed.write_u8(b));
        mixed.write(&bytes[103..]);
        assert_eq!(whole.finish(), bytewise.finish());
        assert_eq!(whole.finish(), mixed.finish());
        // Another map, another key.
        let other = NameHashState::default();
        assert_ne!(state.hash_one(&www), other.hash_one(&www));
    }
}
