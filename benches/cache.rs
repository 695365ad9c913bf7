//! `Cache::insert` and `Cache::get` of a typical entry: a Secure positive
//! step, one A record and its RRSIG (ECDSA P-256, 64-byte signature), as
//! the resolver stores for `hostN.example.lab. A`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hickory_proto::dnssec::Algorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, RRSIG, SigInput};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use lastgood_resolver::cache::{Cache, CacheKey, Entry, StepKind, View};
use lastgood_resolver::clock::Timestamp;
use lastgood_resolver::dnssec::Security;
use lastgood_resolver::limits;

/// Distinct keys the benches cycle through (`cargo bench`).
const KEYS: usize = 100_000;
/// The same under `cargo test`.
const KEYS_TEST: usize = 100;
/// Stored-at time of every entry, and "now" for `get` (fresh).
const STORED_AT_MS: u64 = 1_750_000_000_000;

fn entry(name: &Name) -> Entry {
    let a = Record::from_rdata(name.clone(), 3600, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))));
    let input = SigInput {
        type_covered: RecordType::A,
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: name.num_labels(),
        original_ttl: 3600,
        sig_expiration: SerialNumber::new(1_760_000_000),
        sig_inception: SerialNumber::new(1_740_000_000),
        key_tag: 12345,
        signer_name: name.base_name(),
    };
    let sig = Record::from_rdata(
        name.clone(),
        3600,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, vec![0xa5; 64]))),
    );
    Entry {
        kind: StepKind::Positive,
        rcode: ResponseCode::NoError,
        answers: vec![a, sig],
        authorities: Vec::new(),
        security: Security::Secure,
        zone: name.base_name(),
        stored_at: Timestamp::from_millis(STORED_AT_MS),
        ttl: 3600,
    }
}

fn key(name: &Name) -> CacheKey {
    CacheKey::new(name, RecordType::A, DNSClass::IN, View::Validated)
}

fn cache(c: &mut Criterion) {
    let count = if std::env::args().any(|a| a == "--bench") {
        KEYS
    } else {
        KEYS_TEST
    };
    let names: Vec<Name> = (0..count)
        .map(|i| Name::from_str(&format!("host{i}.example.lab.")).unwrap())
        .collect();
    let items: Vec<(CacheKey, Entry)> = names.iter().map(|n| (key(n), entry(n))).collect();
    let max_stale = Duration::from_secs(86_400);
    let now = Timestamp::from_millis(STORED_AT_MS + 1_000);

    let mut g = c.benchmark_group("cache");
    g.throughput(Throughput::Elements(1));
    // Inserting over `count` keys: the first round adds, later rounds
    // replace. The key and entry clones are made outside the timing.
    let store = Cache::new(limits::DEFAULT_CACHE_BYTES, max_stale);
    let mut i = 0;
    g.bench_function("insert", |b| {
        b.iter_batched(
            || {
                let item = items[i % items.len()].clone();
                i += 1;
                item
            },
            |(k, e)| store.insert(k, e),
            BatchSize::SmallInput,
        );
    });

    let store = Cache::new(limits::DEFAULT_CACHE_BYTES, max_stale);
    for (k, e) in &items {
        store.insert(k.clone(), e.clone());
    }
    let mut i = 0;
    g.bench_function("get", |b| {
        b.iter(|| {
            let hit = store.get(&items[i % items.len()].0, now);
            i += 1;
            assert!(hit.is_some());
            hit
        });
    });
    // What `Resolver::fresh` does per step: build the key (lowercasing
    // the name) and look it up.
    let mut i = 0;
    g.bench_function("key_new_and_get", |b| {
        b.iter(|| {
            let hit = store.get(&key(&names[i % names.len()]), now);
            i += 1;
            hit
        });
    });
    g.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
