//! Full warm resolution in-process: a resolver whose delegations and keys
//! are warm resolves a name it has not cached. Every iteration asks for a
//! new name under `*.wild.example.lab.`, so each is a real miss: iteration
//! from the cached delegation, upstream query over loopback UDP to the lab,
//! validation (RRSIG plus the NSEC wildcard proof) and cache insert.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use lastgood_resolver::query::Tier;

use common::{Bed, client_query, wild};

/// Names resolved before measuring: fills the delegation, key and
/// wildcard-parent caches.
const WARM_NAMES: u64 = 10;

fn resolve(c: &mut Criterion) {
    let rt = common::runtime();
    let warm: Vec<_> = (0..WARM_NAMES).map(wild).collect();
    let bed = rt.block_on(async {
        let bed = Bed::start().await;
        bed.warm(&warm).await;
        bed
    });
    let resolver = &bed.resolver;
    let upstream_before = bed.lab.total_queries();
    let mut next = WARM_NAMES;

    let mut g = c.benchmark_group("resolve");
    g.throughput(Throughput::Elements(1));
    g.bench_function("warm_miss_wildcard", |b| {
        b.to_async(&rt).iter(|| {
            let q = client_query(wild(next), false);
            next += 1;
            async move {
                let answer = resolver.resolve(&q).await;
                assert_eq!(answer.tier, Tier::Fresh);
                assert!(answer.authentic_data, "{answer:?}");
                answer
            }
        });
    });
    g.finish();

    let misses = next - WARM_NAMES;
    let upstream = bed.lab.total_queries() - upstream_before;
    assert!(
        upstream >= misses,
        "{upstream} lab queries for {misses} misses"
    );
    println!(
        "resolve: {misses} misses, {upstream} lab queries ({:.2} per miss)",
        upstream as f64 / misses as f64
    );
}

criterion_group!(benches, resolve);
criterion_main!(benches);
