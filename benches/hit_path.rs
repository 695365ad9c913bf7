//! The cache-hit answer path, in-process: client query bytes ->
//! `server::wire::parse_request` -> `Resolver::resolve` answering from a
//! warm cache -> `server::wire::encode_response` (`one_name`, `rotate_N`),
//! and the reuse of an encoded answer that the server tries first
//! (`template_*`: `wire::plain_query`, no full parse -> `TemplateKey` ->
//! `AnswerTemplates::reply`).
//! No sockets: what a UDP worker pays per cached answer besides
//! `recv_from`/`send_to`, the ACL, the query span and the server's metrics.
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

use lastgood_resolver::limits;
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::query::QueryHandler;
use lastgood_resolver::resolve::Resolver;
use lastgood_resolver::server::templates::{AnswerTemplates, TemplateKey};
use lastgood_resolver::server::wire::{self, Parsed, PlainQuery, RequestInfo};

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

/// The template key the server uses for a UDP request.
fn template_key(bytes: &[u8], info: &RequestInfo) -> TemplateKey {
    plain_key(
        bytes,
        PlainQuery {
            recursion_desired: info.recursion_desired,
            checking_disabled: info.checking_disabled,
            edns: info.edns,
        },
    )
}

/// The same from the shortcut read of a plain query.
fn plain_key(bytes: &[u8], query: PlainQuery) -> TemplateKey {
    TemplateKey::new(
        bytes,
        query.recursion_desired,
        query.checking_disabled,
        query.edns.map(|e| e.dnssec_ok),
        wire::udp_limit_for(query.edns),
    )
    .unwrap()
}

/// Answer through the resolver and keep the encoded reply as a template,
/// as the server does on a template miss.
async fn remember(bytes: &[u8], resolver: &Arc<Resolver>, metrics: &Metrics, t: &AnswerTemplates) {
    let Parsed::Query(query, info) = wire::parse_request(bytes, metrics) else {
        panic!("not a query");
    };
    let state = resolver.cache_state().unwrap();
    let answer = resolver.resolve(&query).await;
    let reply = wire::encode_response(&info, &answer, wire::udp_limit(&info));
    t.insert(&template_key(bytes, &info), &reply, &answer, state);
}

/// One query answered from a template, as the server's fast path does
/// (the query read in place by `plain_query`, never fully parsed).
fn reuse(bytes: &[u8], resolver: &Arc<Resolver>, t: &AnswerTemplates) -> Vec<u8> {
    let query = wire::plain_query(bytes).unwrap();
    let state = resolver.cache_state().unwrap();
    let (reply, _rcode) = t.reply(&plain_key(bytes, query), bytes, state).unwrap();
    reply
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

    // The server's fast path: an encoded answer reused, ID and TTLs patched.
    let templates = AnswerTemplates::new(limits::ANSWER_TEMPLATE_BYTES);
    rt.block_on(async {
        for bytes in std::iter::once(&one).chain(&rotated) {
            remember(bytes, resolver, metrics, &templates).await;
        }
    });
    assert_eq!(
        Message::from_vec(&reuse(&one, resolver, &templates))
            .unwrap()
            .metadata
            .id,
        0x1234
    );
    g.bench_function("template_one_name", |b| {
        b.iter(|| reuse(&one, resolver, &templates));
    });
    g.bench_function(format!("template_rotate_{rotation}"), |b| {
        let mut i = 0;
        b.iter(|| {
            let bytes = &rotated[i % rotated.len()];
            i += 1;
            reuse(bytes, resolver, &templates)
        });
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
