//! Issue 15: what real authorities send. One test (or more) per
//! behaviour of the iterator: relaxed QNAME minimisation, lame and odd
//! authorities, CNAME chains, DNAME, forwarding everything, IPv6-only
//! name servers.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use lastgood::lab::{Fault, NodataFault};

use crate::harness::{Flags, Testbed, answers_of, name};

/// Upstream queries the resolver sent so far (every outcome).
fn upstream_queries(tb: &Testbed) -> u64 {
    tb.lab.total_queries()
}

fn patient() -> Flags {
    Flags {
        timeout: Duration::from_secs(20),
        ..Flags::default()
    }
}

fn assert_wildcard_answer(r: &Message) {
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(answers_of(r, RecordType::A), 1, "{r:?}");
    assert!(r.metadata.authentic_data, "{r:?}");
}

// --- 1. Relaxed QNAME minimisation (RFC 9156 §2.3) ---

/// `x.wild.example.lab.` is asked minimised as `wild.example.lab. A`, an
/// empty non-terminal: a server that breaks on NODATA answers that
/// question with an error, silence or a lame reply. Relaxed mode asks
/// the full name of the same zone and gets the wildcard answer.
async fn relaxed_case(kind: NodataFault) {
    let tb = Testbed::start().await;
    tb.lab
        .set_fault(&name("example.lab."), Fault::BrokenNodata(kind))
        .unwrap();
    let r = tb
        .query_with("x.wild.example.lab.", RecordType::A, patient())
        .await;
    assert_wildcard_answer(&r);
}

#[tokio::test]
async fn relaxed_minimisation_after_servfail() {
    relaxed_case(NodataFault::ServFail).await;
}

#[tokio::test]
async fn relaxed_minimisation_after_refused() {
    relaxed_case(NodataFault::Refused).await;
}

#[tokio::test]
async fn relaxed_minimisation_after_formerr() {
    relaxed_case(NodataFault::FormErr).await;
}

#[tokio::test]
async fn relaxed_minimisation_after_notimp() {
    relaxed_case(NodataFault::NotImp).await;
}

#[tokio::test]
async fn relaxed_minimisation_after_lame_empty_answer() {
    relaxed_case(NodataFault::Lame).await;
}

#[tokio::test]
async fn relaxed_minimisation_after_timeouts() {
    relaxed_case(NodataFault::Drop).await;
}

/// Without the fault, the same name costs no fallback query: the
/// minimised ENT question is answered NODATA and remembered.
#[tokio::test]
async fn relaxed_minimisation_costs_nothing_when_servers_behave() {
    let tb = Testbed::start().await;
    let r = tb.query("x.wild.example.lab.", RecordType::A).await;
    assert_wildcard_answer(&r);
    let before = upstream_queries(&tb);
    let r = tb.query("y.wild.example.lab.", RecordType::A).await;
    assert_wildcard_answer(&r);
    assert_eq!(
        upstream_queries(&tb) - before,
        1,
        "a second name below the ENT costs one query"
    );
}
