//! Fail stale for the chain of trust (issue 21): while a parent zone's
//! data does not validate (the .de 2026 break: `lab.` signed by a ZSK it
//! does not publish), a new name below a child is asked of the child's
//! own servers on the child's last delegation and validated with the
//! child's last good keys; never with a chain that did not validate.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use lastgood_lab::Fault;

use super::Replay;
use super::net::Exchange;
use crate::harness::{ede_codes, name};

/// The lab's `lab.` server and `example.lab.`'s.
const TLD: &str = "127.53.0.2:53";
const LEAF: &str = "127.53.0.3:53";
/// Just past the lab's TTLs (3600 s): delegations, keys and data expired.
const EXPIRE: Duration = Duration::from_secs(3601);

/// Three names of `lab.` that do not validate (one cause, one key tag):
/// `lab.`'s validation window opens.
async fn open_tld_window(tb: &Replay, round: u32) {
    for i in 1..=3 {
        let r = tb
            .query(&format!("nope{round}-{i}.lab."), RecordType::A)
            .await;
        assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
    }
    assert!(
        tb.resolver.failing_zones().contains(&name("lab.")),
        "lab. failing: {:?}",
        tb.resolver.failing_zones()
    );
}

fn sent_since(tb: &Replay, before: usize) -> Vec<Exchange> {
    tb.net.log().split_off(before)
}

fn counter(tb: &Replay, metric: &str) -> f64 {
    tb.metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(metric).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(start_paused = true)]
async fn last_good_chain_answers_new_names_below_a_child() {
    let tb = Replay::start().await;
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    tb.lab
        .set_fault(&name("lab."), Fault::UnpublishedZsk)
        .unwrap();
    tb.advance(EXPIRE).await;
    open_tld_window(&tb, 1).await;

    // A name never asked, in the child: its servers answer, the answer
    // validates with example.lab.'s last good keys; lab. is not asked.
    for (qname, rcode) in [
        ("host250.example.lab.", ResponseCode::NoError),
        ("never-seen.example.lab.", ResponseCode::NXDomain),
    ] {
        let before = tb.net.log().len();
        let r = tb.query(qname, RecordType::A).await;
        assert_eq!(r.metadata.response_code, rcode, "{qname}: {r:?}");
        assert!(r.metadata.authentic_data, "{qname}: validated: {r:?}");
        assert!(!ede_codes(&r).contains(&3), "{qname}: not stale: {r:?}");
        let sent = sent_since(&tb, before);
        assert!(
            !sent.is_empty() && sent.iter().all(|x| x.server == LEAF.parse().unwrap()),
            "{qname}: only example.lab.'s server asked: {sent:?}"
        );
    }
    assert!(counter(&tb, "lastgood_last_good_keys_total") >= 1.0);
    // Names cached before the break still come from the cache (no
    // upstream), and lab. is still failing for names with no last good
    // chain: a child never asked gets SERVFAIL without an upstream query.
    let before = tb.net.log().len();
    let r = tb.query("www.other.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
    assert!(sent_since(&tb, before).is_empty());
}

#[tokio::test(start_paused = true)]
async fn never_a_chain_that_did_not_validate() {
    let tb = Replay::start().await;
    // Broken from the start: example.lab.'s DS never validated, so its
    // keys never did; only its delegation (unsigned NS) is known.
    tb.lab
        .set_fault(&name("lab."), Fault::UnpublishedZsk)
        .unwrap();
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
    tb.advance(EXPIRE).await;
    open_tld_window(&tb, 1).await;
    let before = tb.net.log().len();
    let r = tb.query("host250.example.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail, "{r:?}");
    let sent = sent_since(&tb, before);
    assert!(
        sent.iter().all(|x| x.server != LEAF.parse().unwrap()),
        "example.lab.'s servers not asked on a chain that never validated: {sent:?}"
    );
    assert_eq!(counter(&tb, "lastgood_last_good_keys_total"), 0.0);
}

/// Once `lab.` validates again, its window's probe closes it and the
/// child's delegation and keys are fetched again from `lab.`.
#[tokio::test(start_paused = true)]
async fn the_parent_is_asked_again_once_it_validates() {
    let tb = Replay::start().await;
    tb.query("host1.example.lab.", RecordType::A).await;
    tb.lab
        .set_fault(&name("lab."), Fault::UnpublishedZsk)
        .unwrap();
    tb.advance(EXPIRE).await;
    open_tld_window(&tb, 1).await;
    let r = tb.query("host250.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    tb.lab.set_fault(&name("lab."), Fault::None).unwrap();
    // The questions going below lab.'s window keep it probed: the probe
    // after FAILURE_PROBE_FIRST finds lab. validating and closes it.
    for _ in 0..20 {
        tb.advance(lastgood_resolver::limits::FAILURE_PROBE_FIRST)
            .await;
        tb.query("host251.example.lab.", RecordType::A).await;
        super::scenario::settle().await;
        if tb.resolver.failing_zones().is_empty() {
            break;
        }
    }
    assert!(tb.resolver.failing_zones().is_empty());
    tb.advance(lastgood_resolver::limits::LAST_GOOD_KEYS_RECHECK)
        .await;
    let before = tb.net.log().len();
    let r = tb.query("host252.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    let sent = sent_since(&tb, before);
    assert!(
        sent.iter().any(|x| x.server == TLD.parse().unwrap()),
        "lab. asked again: {sent:?}"
    );
}
