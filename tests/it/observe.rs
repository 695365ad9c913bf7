//! Issue 19: metrics that answer "which zone, why" during an incident,
//! against the lab on real sockets: stale answers are stale cache hits
//! (not misses), questions answered from a validation window count as
//! Bogus verdicts, verdicts under an NTA do not, and the failing zone
//! appears by cause class and by name.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use lastgood_lab::Fault;
use lastgood_resolver::clock::Clock;
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::nta::NtaSource;

use crate::harness::{Testbed, ede_codes, name};

/// Just past the lab's data TTL (3600 s).
const EXPIRE: Duration = Duration::from_secs(3601);

fn bogus_total(m: &Metrics) -> u64 {
    validation_total(m, "bogus")
}

fn validation_total(m: &Metrics, outcome: &str) -> u64 {
    let text = m.render();
    text.lines()
        .filter(|l| {
            l.starts_with("lastgood_validation_total{")
                && l.contains(&format!("outcome=\"{outcome}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn until_failing(tb: &Testbed) {
    for _ in 0..100 {
        if !tb.resolver.failing_zones().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no failure window opened");
}

#[tokio::test]
async fn issue19_incident_metrics_name_the_zone_and_count_stale_as_hits() {
    let tb = Testbed::start().await;
    let n = lastgood_resolver::limits::ZONE_EVIDENCE_RRSETS;
    for i in 1..=n {
        let r = tb
            .query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
        assert!(r.metadata.authentic_data);
    }
    tb.lab
        .set_fault(&name("example.lab."), Fault::UnpublishedZsk)
        .unwrap();
    tb.advance(EXPIRE);
    for i in 1..=n {
        tb.query(&format!("host{i}.example.lab."), RecordType::A)
            .await;
    }
    until_failing(&tb).await;

    // A stale answer from the window: a stale hit, not a miss.
    let m = &tb.metrics;
    let (misses, stale_hits, bogus) = (
        m.cache_misses.get(),
        m.cache_stale_hits.get(),
        bogus_total(m),
    );
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(ede_codes(&r).first(), Some(&3), "{r:?}");
    assert_eq!(m.cache_stale_hits.get(), stale_hits + 1);
    assert_eq!(m.cache_misses.get(), misses, "a stale answer is no miss");
    assert_eq!(
        bogus_total(m),
        bogus + 1,
        "a question answered from a validation window is a Bogus verdict"
    );
    assert!(m.validation.with_label_values(&["bogus", "9"]).get() > 0);

    // Never cached: SERVFAIL from the window, a miss and a Bogus verdict.
    let r = tb.query("host250.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.cache_misses.get(), misses + 1);
    assert_eq!(bogus_total(m), bogus + 2);
    assert_eq!(m.answers.with_label_values(&["servfail", "9"]).get(), 1);
    assert!(m.answers.with_label_values(&["stale", "9"]).get() >= 1);

    // The failing zone by cause class and by name.
    m.set_failing_zones(&tb.resolver.failure_windows(), tb.clock.now());
    let text = m.render();
    assert!(
        text.contains("lastgood_zones_failing{cause=\"bogus-key\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("lastgood_zones_failing{cause=\"unreachable\"} 0\n"));
    let info = text
        .lines()
        .find(|l| l.starts_with("lastgood_failing_zone_info{"))
        .unwrap_or_default();
    for part in ["zone=\"example.lab.\"", "cause=\"bogus-key\"", "ede=\"9\""] {
        assert!(info.contains(part), "{part} in {info}");
    }

    // Under an NTA the zone is resolved again, unvalidated: not Bogus.
    tb.resolver
        .ntas()
        .add(
            &name("example.lab."),
            None,
            "rollover",
            NtaSource::Api,
            tb.clock.now(),
        )
        .unwrap();
    let bogus = bogus_total(m);
    let nta = validation_total(m, "nta");
    let r = tb.query("host251.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(bogus_total(m), bogus, "no Bogus verdict under an NTA");
    assert_eq!(validation_total(m, "nta"), nta + 1, "counted as nta");

    // Recovered zones leave no per-zone series behind.
    m.set_failing_zones(&[], tb.clock.now());
    let text = m.render();
    assert!(!text.contains("lastgood_failing_zone_info{"));
    assert!(text.contains("lastgood_zones_failing{cause=\"bogus-key\"} 0\n"));
}
