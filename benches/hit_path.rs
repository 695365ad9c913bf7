//! The cache-hit answer path, in-process: client query bytes ->
//! `server::wire::parse_request` -> `Resolver::resolve` answering from a
//! warm cache -> `server::wire::encode_response`. No sockets: what a UDP
//! worker pays per cached answer besides `recv_from`/`send_to`, the task
//! spawn, the query span and the server's metrics (`src/server/udp.rs`).
//!
//! The cache is warmed against the lab; every answer is Secure
//! (`*.wild.example.lab.`, NSEC-signed). The group checks that the lab
//! received no query while it measured, so every iteration is a real hit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use lastgood::metrics::Metrics;
use lastgood::resolve::Resolver;
use lastgood::server::wire::{self, Parsed};

use common::{Bed, client_query, query_bytes, wild};

/// Warmed names the rotation cycles through (`cargo bench`).
const ROTATION: u64 = 1_000;
/// The same under `cargo test` (one iteration each, setup kept short).
const ROTATION_TEST: u64 = 20;

/// One query through the whole in-process hit path.
async fn answer(bytes: &[u8], resolver: &Arc<Resolver>, metrics: &Metrics) -> Vec<u8> {
    let Parsed::Query(query, info) = wire::parse_request(bytes, metrics) else {
        panic!("not a query");
    };
    let answer = resolver.resolve(&query).await;
    wire::encode_response(&info, &answer, wire::udp_limit(&info))
}

fn hit_path(c: &mut Criterion) {
    let rt = common::runtime();
    let rotation = if common::is_bench() {
        ROTATION
    } else {
        ROTATION_TEST
    };
    let names: Vec<_> = (0..rotation).map(wild).collect();
    let bed = rt.block_on(async {
        let bed = Bed::start().await;
        bed.warm(&names).await;
        bed
    });
    let (resolver, metrics) = (&bed.resolver, &bed.metrics);
    let one = query_bytes(&names[0], 0x1234, false);
    let one_do = query_bytes(&names[0], 0x1234, true);
    let rotated: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| query_bytes(n, i as u16, false))
        .collect();

    for (bytes, want_sigs) in [(&one, false), (&one_do, true)] {
        let reply = rt.block_on(answer(bytes, resolver, metrics));
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authentic_data);
        let sigs = reply
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::RRSIG)
            .count();
        assert_eq!(sigs > 0, want_sigs, "{reply:?}");
    }
    let upstream_before = bed.lab.total_queries();

    let mut g = c.benchmark_group("hit_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_name", |b| {
        b.to_async(&rt).iter(|| answer(&one, resolver, metrics));
    });
    g.bench_function("one_name_do", |b| {
        b.to_async(&rt).iter(|| answer(&one_do, resolver, metrics));
    });
    g.bench_function(format!("rotate_{rotation}"), |b| {
        let mut i = 0;
        b.to_async(&rt).iter(|| {
            let bytes = &rotated[i % rotated.len()];
            i += 1;
            answer(bytes, resolver, metrics)
        });
    });

    // The three stages alone, for one name (DO clear).
    let Parsed::Query(query, info) = wire::parse_request(&one, metrics) else {
        panic!("not a query");
    };
    let cached = rt.block_on(resolver.resolve(&client_query(names[0].clone(), false)));
    g.bench_function("stage_parse", |b| {
        b.iter(|| wire::parse_request(&one, metrics));
    });
    g.bench_function("stage_resolve", |b| {
        b.to_async(&rt).iter(|| resolver.resolve(&query));
    });
    g.bench_function("stage_encode", |b| {
        b.iter(|| wire::encode_response(&info, &cached, wire::udp_limit(&info)));
    });
    g.finish();

    assert_eq!(
        bed.lab.total_queries(),
        upstream_before,
        "the lab was queried: not every iteration was a cache hit"
    );
}

criterion_group!(benches, hit_path);
criterion_main!(benches);
