//! Arbitrary text through the config parser and validator that
//! `check-config` and reloads use (`Config::parse`: TOML, then every key's
//! range and cross-key checks), and through the value parsers it shares
//! with the CLI (durations, server addresses, NTA zone names). No file is
//! read: `Config::parse` takes the text.

#![no_main]

use lastgood_resolver::config::{Config, parse_duration, parse_server_addr};
use lastgood_resolver::nta;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The error must render (it is what check-config prints).
    match Config::parse(text, "fuzz.toml") {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // Single values, as flags and config values are given.
    let line = text.lines().next().unwrap_or("");
    let _ = parse_duration(line);
    let _ = parse_server_addr(line);
    if let Err(e) = nta::parse_zone(line) {
        let _ = e.to_string();
    }
});
