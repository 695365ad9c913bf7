//! Issue 17: bounded descriptors and work: the upstream socket pool and
//! TCP pipelining with out-of-order answers, against the lab.

use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use lastgood_lab::Fault;
use lastgood_resolver::clock::ManualClock;
use lastgood_resolver::dnssec::TrustAnchors;
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::nta::NtaStore;
use lastgood_resolver::query::ClientQuery;
use lastgood_resolver::resolve::upstream::Pool;
use lastgood_resolver::resolve::{Resolver, ResolverConfig, servers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Testbed, name, served_lab};

fn tcp_query(id: u16, qname: &str) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name(qname), RecordType::A));
    let bytes = msg.to_vec().unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    framed
}

async fn tcp_reply(stream: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

/// How late the slow zone answers: a cached answer takes well under a
/// millisecond, so a few hundred are margin enough on a loaded machine,
/// and the test waits that long only once.
const SLOW: std::time::Duration = std::time::Duration::from_millis(300);

/// RFC 7766 §6.2.1.1: a cached answer asked second on a connection is
/// sent before the answer to an uncached question asked first, whose
/// zone is slow.
#[tokio::test]
async fn issue17_tcp_pipelined_cached_answer_overtakes_a_slow_one() {
    let tb = Testbed::start().await;
    let warm = tb.query("host1.example.lab.", RecordType::A).await;
    assert_eq!(warm.metadata.response_code, ResponseCode::NoError);
    tb.lab
        .set_fault(&name("example.lab."), Fault::Slow(SLOW))
        .unwrap();

    let mut stream = TcpStream::connect(tb.addr).await.unwrap();
    let mut both = tcp_query(1, "host2.example.lab.");
    both.extend_from_slice(&tcp_query(2, "host1.example.lab."));
    stream.write_all(&both).await.unwrap();

    let first = tcp_reply(&mut stream).await;
    let second = tcp_reply(&mut stream).await;
    assert_eq!(first.metadata.id, 2, "the cached answer comes first");
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        second.metadata.id, 1,
        "the slow one follows on the same connection"
    );
}

/// A question that finds the upstream socket pool empty fails at once
/// with the pool's limit (SERVFAIL, counted); once a socket is free
/// again the same question resolves.
#[tokio::test]
async fn issue17_exhausted_upstream_pool_is_a_counted_limit() {
    let lab = served_lab().await;
    let mut config = ResolverConfig::internet().unwrap();
    config.root_hints = servers::parse_hints(&lab.root_hints(), "lab hints").unwrap();
    config.anchors = TrustAnchors::parse(&lab.trust_anchor(), "lab anchor").unwrap();
    config.upstream_port = lab.port();
    let metrics = Metrics::new().unwrap();
    let pool = Pool::new(1);
    let resolver = Resolver::with_pool(
        config,
        Arc::new(ManualClock::new()),
        metrics.clone(),
        Arc::new(NtaStore::new(None)),
        Arc::clone(&pool),
    );
    let query = ClientQuery {
        name: name("host1.example.lab."),
        qtype: RecordType::A,
        qclass: DNSClass::IN,
        dnssec_ok: true,
        checking_disabled: false,
        recursion_desired: true,
    };
    // Someone else holds the only socket.
    let held = pool
        .exchange(&name("elsewhere.example."), RecordType::A, false)
        .await
        .unwrap();
    let answer = resolver.resolve(&query).await;
    assert_eq!(answer.rcode, ResponseCode::ServFail);
    let hits = metrics
        .limit_hits
        .with_label_values(&["MAX_UPSTREAM_SOCKETS"]);
    assert_eq!(hits.get(), 1);

    drop(held);
    let answer = resolver.resolve(&query).await;
    assert_eq!(answer.rcode, ResponseCode::NoError);
    assert!(answer.authentic_data);
    assert_eq!(pool.in_use(), 0, "every socket went back to the pool");
}
