//! Issue 18 measurement: what a background verification pass over a
//! whole last-good store would cost at start (the alternative to proving
//! entries lazily on first use, which lastgood does).
//!
//! ```sh
//! cargo run --release --example store_scan -- STATE_DIR/cache.redb ROOT.KEY
//! ```
//!
//! Opens the store, proves every entry again (as `Store::get` does, with
//! a shared signature memo) and prints entries, accepted, rejected by
//! reason, seconds, entries per second and the process's peak RSS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lastgood::clock::{Clock, SystemClock};
use lastgood::dnssec::{AlgorithmPolicy, TrustAnchors, VerifiedSignatures};
use lastgood::metrics::Metrics;
use lastgood::resolve::private::PrivateZones;
use lastgood::store::{Store, Trust};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(file), Some(anchor)) = (args.next(), args.next()) else {
        return Err("usage: store_scan STORE_FILE TRUST_ANCHOR_FILE".into());
    };
    let trust = Trust {
        anchors: TrustAnchors::from_file(&PathBuf::from(anchor))?,
        algorithms: AlgorithmPolicy::default(),
        dnssec: true,
        private_zones: PrivateZones::default(),
        memo: Some(VerifiedSignatures::new(8192)),
    };
    let metrics = Metrics::new()?;
    let opened = Instant::now();
    let store = Store::open(
        &PathBuf::from(file),
        u64::MAX,
        Duration::from_secs(86_400),
        trust,
        Arc::new(SystemClock),
        metrics.store.clone(),
    )?;
    let open_secs = opened.elapsed().as_secs_f64();
    let now = SystemClock.now();
    let started = Instant::now();
    let (mut entries, mut ok, mut bytes) = (0u64, 0u64, 0u64);
    let mut rejected: BTreeMap<&'static str, u64> = BTreeMap::new();
    store.each_entry(|b| {
        entries += 1;
        bytes += b.len() as u64;
        match store.prove(b, now) {
            Ok(_) => ok += 1,
            Err(e) => *rejected.entry(e.reason()).or_default() += 1,
        }
        true
    })?;
    let secs = started.elapsed().as_secs_f64();
    let hwm = std::fs::read_to_string("/proc/self/status")?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        .unwrap_or_default();
    println!(
        "open {open_secs:.3} s; {entries} entries ({:.1} MiB encoded) proven in {secs:.2} s \
         ({:.0}/s): {ok} accepted, rejected {rejected:?}; VmHWM {hwm} kB",
        bytes as f64 / 1_048_576.0,
        entries as f64 / secs.max(1e-9),
    );
    Ok(())
}
