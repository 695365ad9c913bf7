//! Stored bytes (a last-good store entry, a dump frame, a Redis value),
//! arbitrary, through the store's entry codec and re-verification
//! (src/store/entry.rs).
//!
//! Invariants (a failure is a crash): nothing panics; bytes that decode
//! encode again to bytes that decode to the same entry; nothing proves
//! against the IANA root anchors (no input carries the root's signature).

#![no_main]

use lastgood::clock::Timestamp;
use lastgood::dnssec::{AlgorithmPolicy, TrustAnchors};
use lastgood::resolve::private::PrivateZones;
use lastgood::store::entry::{self, Trust};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let trust = Trust {
        anchors: TrustAnchors::builtin_root(),
        algorithms: AlgorithmPolicy::default(),
        dnssec: true,
        private_zones: PrivateZones::default(),
        memo: None,
    };
    let now = Timestamp::from_secs(1_750_000_000);
    if let Ok(decoded) = entry::decode(data) {
        if let Ok(again) = entry::encode(&decoded.key, &decoded.entry, &decoded.chain) {
            let twice = entry::decode(&again).expect("re-encoded entry decodes");
            assert_eq!(twice, decoded, "round trip changed the entry");
        }
        if let Ok((_, e)) = entry::verify(decoded, &trust, now) {
            // Only an Insecure-by-configuration name (outside the root's
            // anchor: none) or a forged root signature could get here.
            assert!(!e.security.is_secure(), "a fuzzed entry proved Secure");
        }
    }
});
