//! Replay scenarios: scripted authorities (silence, SERVFAIL, REFUSED,
//! garbage, late answers, a table) in place of the lab's servers, on
//! virtual time, with the upstream queries each client query caused.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode::{NXDomain, NoError, ServFail};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};

use super::net::{Authority, Table};
use super::scenario::Scenario;
use crate::harness::name;
use lastgood_resolver::limits;

/// The lab's leaf server (example.lab., other.lab.) and root, port 53 in-process.
const LEAF: &str = "127.53.0.3:53";
const ROOT: &str = "127.53.0.1:53";
/// Just past the lab's data TTL (3600 s).
const EXPIRE: Duration = Duration::from_secs(3601);

fn dump(log: &[super::net::Exchange]) {
    for e in log {
        eprintln!(
            "{:>8?} {} {} {}{}",
            e.at,
            e.server,
            e.qname,
            e.qtype,
            if e.tcp { " tcp" } else { "" }
        );
    }
}

#[tokio::test(start_paused = true)]
async fn table_authority_answers_a_whole_resolution() {
    let table = Table::default().with(Record::from_rdata(
        name("www.example."),
        300,
        RData::A(A::new(192, 0, 2, 1)),
    ));
    let r = Scenario::new()
        .config(|c| {
            c.dnssec = false;
            c.qname_minimisation = false;
        })
        .serve(ROOT, Authority::Table(Arc::new(table)))
        .query("www.example.", RecordType::A)
        .rcode(NoError)
        .ad(false)
        .answers(RecordType::A, 1)
        .upstream(&[(ROOT, "www.example.", RecordType::A)])
        .query("nope.example.", RecordType::A)
        .rcode(NXDomain)
        .upstream(&[(ROOT, "nope.example.", RecordType::A)])
        .query("www.example.", RecordType::A)
        .answers(RecordType::A, 1)
        .upstream(&[])
        .run()
        .await;
    assert_eq!(r.net.log().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn silent_leaf_serves_stale() {
    let r = Scenario::new()
        .query("host1.example.lab.", RecordType::A)
        .rcode(NoError)
        .ad(true)
        .edes(&[])
        // The DS sets come with the referrals (validated there): no DS question.
        .upstream_count(6)
        .serve(LEAF, Authority::Nothing)
        .advance(EXPIRE)
        .query("host1.example.lab.", RecordType::A)
        .rcode(NoError)
        .ad(true)
        .edes(&[3, 22])
        // The refresh's tries time out in the background; the window opens.
        .wait(limits::UPSTREAM_QUESTION_DEADLINE)
        .query("host2.example.lab.", RecordType::A)
        .rcode(ServFail)
        .edes(&[22])
        .upstream(&[])
        .run()
        .await;
    dump(&r.net.log());
    assert_eq!(r.resolver.failing_zones(), vec![name("example.lab.")]);
}

#[tokio::test(start_paused = true)]
async fn late_answer_is_still_the_answer() {
    let r = Scenario::new()
        .query("host1.example.lab.", RecordType::A)
        .serve(
            LEAF,
            Authority::Late(Duration::from_millis(1500), Box::new(Authority::Lab)),
        )
        .query("host2.example.lab.", RecordType::A)
        .rcode(NoError)
        .ad(true)
        .answers(RecordType::A, 1)
        .edes(&[])
        // Three tries (waits grow); the first try's answer, 1.5 s late, ends it.
        .upstream(&[
            (LEAF, "host2.example.lab.", RecordType::A),
            (LEAF, "host2.example.lab.", RecordType::A),
            (LEAF, "host2.example.lab.", RecordType::A),
        ])
        .run()
        .await;
    dump(&r.net.log());
}

#[tokio::test(start_paused = true)]
async fn servfail_refused_garbage_leaf() {
    for (a, cause) in [
        (Authority::Rcode(ServFail), 23),
        (
            Authority::Rcode(hickory_proto::op::ResponseCode::Refused),
            22,
        ),
        (Authority::Garbage, 23),
    ] {
        let r = Scenario::new()
            .query("host1.example.lab.", RecordType::A)
            .serve(LEAF, a.clone())
            .advance(EXPIRE)
            .query("host1.example.lab.", RecordType::A)
            .rcode(NoError)
            .ad(true)
            .edes(&[3, cause])
            // Minimised from the root: one try at the only leaf server,
            // which fails the question. Each referral's DS set is
            // validated on the way, with the keys of the zone that sent
            // it (expired too: asked again).
            .upstream(&[
                (ROOT, "lab.", RecordType::A),
                (ROOT, ".", RecordType::DNSKEY),
                ("127.53.0.2:53", "example.lab.", RecordType::A),
                ("127.53.0.2:53", "lab.", RecordType::DNSKEY),
                (LEAF, "host1.example.lab.", RecordType::A),
            ])
            .query("host9.example.lab.", RecordType::A)
            .rcode(ServFail)
            .edes(&[cause])
            .upstream(&[])
            .run()
            .await;
        eprintln!("{a:?}");
        dump(&r.net.log());
    }
}

/// Same scenario, same exchanges at the same virtual times (seeded IDs,
/// RTT-ordered servers, virtual clock).
#[tokio::test(start_paused = true)]
async fn runs_repeat_exactly() {
    let scenario = || {
        Scenario::new()
            .query("host1.example.lab.", RecordType::A)
            .fault("example.lab.", lastgood_lab::Fault::Drop)
            .advance(EXPIRE)
            .query("host1.example.lab.", RecordType::A)
            .edes(&[3, 22])
            .wait(limits::UPSTREAM_QUESTION_DEADLINE)
    };
    let first = scenario().run().await;
    let second = scenario().run().await;
    assert!(first.net.sent_to(LEAF.parse().unwrap()) >= 3);
    let strip = |r: &super::Replay| -> Vec<_> {
        let log = r.net.log();
        let start = log.first().map(|e| e.at).unwrap_or_default();
        log.into_iter()
            .map(|mut e| {
                e.at -= start;
                e
            })
            .collect()
    };
    assert_eq!(strip(&first), strip(&second));
}
