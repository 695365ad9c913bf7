//! Arbitrary text through the file parsers an operator or the testbed
//! feeds the resolver: the lab zone-file loader (src/lab/zone.rs), the
//! trust-anchor parser (src/dnssec/anchors.rs), the root-hints parser
//! (src/resolve/servers.rs) and the NTA state-file parser (src/nta.rs),
//! each from memory. The first byte picks the parser; the rest is the text
//! (bytes for the NTA state file, which is JSON read as bytes).
//!
//! Invariants (a failure is a crash): accepted hints have an address;
//! accepted anchors name at least one zone; a restored NTA store holds at
//! most `MAX_NTAS` NTAs.

#![no_main]

use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;
use lastgood_resolver::clock::Timestamp;
use lastgood_resolver::dnssec::TrustAnchors;
use lastgood_lab::zone;
use lastgood_resolver::limits;
use lastgood_resolver::nta::NtaStore;
use lastgood_resolver::resolve::servers::parse_hints;
use libfuzzer_sys::fuzz_target;

/// "Now": 2025-06-15.
const NOW_MS: u64 = 1_750_000_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let now = Timestamp::from_millis(NOW_MS);
    if pick % 4 == 3 {
        match NtaStore::restore_from_bytes(bytes, PathBuf::from("/nonexistent/nta.json"), now) {
            Ok(store) => assert!(store.list(now).len() <= limits::MAX_NTAS),
            Err(e) => {
                let _ = e.to_string();
            }
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    match pick % 4 {
        0 => {
            let origin = Name::from_ascii("example.lab.").expect("origin");
            let ttl = (pick & 0x80 != 0).then_some(60);
            match zone::parse(text, Path::new("fuzz.zone"), &origin, ttl) {
                Ok(data) => assert!(data.nodes.keys().all(|n| origin.zone_of(n))),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
        1 => match TrustAnchors::parse(text, "fuzz.anchors") {
            Ok(anchors) => assert!(anchors.zones().next().is_some()),
            Err(e) => {
                let _ = e.to_string();
            }
        },
        _ => match parse_hints(text, "fuzz.hints") {
            Ok(deleg) => assert!(!deleg.addresses().is_empty()),
            Err(e) => {
                let _ = e.to_string();
            }
        },
    }
});
