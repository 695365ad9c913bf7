//! Logs an operator can use (issue 19): the lab. rollover breaks and is
//! fixed; the log says so once each way, with the zone, the cause and
//! what was served meanwhile.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use lastgood_lab::Fault;
use lastgood_resolver::limits;

use crate::harness::{Testbed, ede_codes, name};

/// Just past the lab's data TTL (3600 s).
const EXPIRE: Duration = Duration::from_secs(3601);

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

async fn until_failing(tb: &Testbed, failing: bool) {
    for _ in 0..200 {
        if tb.resolver.failing_zones().is_empty() != failing {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("failing zones: {:?}", tb.resolver.failing_zones());
}

/// Issue 19 item 2: one WARN when example.lab. enters its failure window (zone,
/// EDE, cause, first failing question) and one INFO when it recovers
/// (duration, stale answers served), however many clients asked between.
/// The test runs on one thread, so every task logs to its subscriber.
#[tokio::test]
async fn issue19_rollover_logs_one_warn_and_one_info() {
    let log = Captured::default();
    let sink = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let tb = Testbed::start().await;
    for i in 1..=3 {
        tb.query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
    }
    tb.lab
        .set_fault(&name("lab."), Fault::UnpublishedZsk)
        .unwrap();
    tb.advance(EXPIRE);
    for i in 1..=3 {
        tb.query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
    }
    until_failing(&tb, true).await;
    // Clients keep asking during the break: stale from the window, no
    // further WARN.
    for _ in 0..3 {
        for i in 1..=3 {
            let r = tb
                .query(&format!("host{i}.example.lab."), RecordType::A)
                .await;
            assert_eq!(ede_codes(&r).first(), Some(&3), "stale: {r:?}");
        }
    }
    // The operators fix the rollover; the next probe closes the window.
    tb.lab.set_fault(&name("lab."), Fault::None).unwrap();
    tb.advance(limits::FAILURE_PROBE_FIRST);
    tb.query("host1.example.lab.", RecordType::A).await;
    until_failing(&tb, false).await;

    let lines = log.lines();
    let warns: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" WARN ") && l.contains("zone failing"))
        .collect();
    let infos: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" INFO ") && l.contains("zone failure window closed"))
        .collect();
    for l in warns.iter().chain(&infos) {
        eprintln!("{l}");
    }
    assert_eq!(warns.len(), 1, "one WARN: {lines:#?}");
    assert_eq!(infos.len(), 1, "one INFO: {lines:#?}");
    let warn = warns[0];
    // The window is example.lab.'s (its DS no longer validates); the
    // fault is in lab.
    assert!(warn.contains(" zone=example.lab. "), "{warn}");
    assert!(warn.contains("fault_zone=lab. "), "{warn}");
    assert!(warn.contains("ede=") && warn.contains("cause="), "{warn}");
    assert!(warn.contains("question=host"), "{warn}");
    let info = infos[0];
    assert!(info.contains(" zone=example.lab. "), "{info}");
    assert!(
        info.contains("closed_by=\"probe: the zone answers again\""),
        "{info}"
    );
    assert!(info.contains("failing_for_s="), "{info}");
    // The 9 questions asked during the break (at least) were answered
    // stale from the window.
    let stale: u64 = info
        .split_whitespace()
        .find_map(|f| f.strip_prefix("stale_answers="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(stale >= 9, "{info}");
    assert!(
        !lines.iter().any(|l| l.contains('\u{1b}')),
        "no ANSI escapes"
    );
}
