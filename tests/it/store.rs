//! Issue 18: the last good answers survive restarts. A resolver with a
//! `state-dir` keeps its validated entries in `state-dir/cache.redb`; a
//! new resolver on the same directory answers from it during an outage,
//! and whatever it reads back is proven again first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use lastgood_lab::{Fault, Lab};
use lastgood_resolver::app::{App, AppOptions, Overrides};
use lastgood_resolver::clock::{Clock, ManualClock};

use crate::harness::{Flags, ede_codes, name, query, served_lab, temp_dir};

/// Names of every kind the stale tier serves: signed A/AAAA/TXT, a CNAME
/// chain, a wildcard, NODATA, NXDOMAIN, an insecure zone, MX.
fn names() -> Vec<(String, RecordType)> {
    let mut v: Vec<(String, RecordType)> = (1..=40)
        .map(|i| (format!("host{i}.example.lab."), RecordType::A))
        .collect();
    for (n, t) in [
        ("host1.example.lab.", RecordType::AAAA),
        ("host2.example.lab.", RecordType::TXT),
        ("alias.example.lab.", RecordType::A),
        ("chain1.example.lab.", RecordType::A),
        ("anything.wild.example.lab.", RecordType::A),
        ("nodata.example.lab.", RecordType::A),
        ("nosuchname.example.lab.", RecordType::A),
        ("example.lab.", RecordType::MX),
        ("www.insecure.lab.", RecordType::A),
        ("www.other.lab.", RecordType::A),
    ] {
        v.push((n.to_owned(), t));
    }
    v
}

/// A lab and a config file with `state-dir` (so the store is on).
async fn lab_and_config(tag: &str, extra: &str) -> (Lab, PathBuf, PathBuf) {
    let lab = served_lab().await;
    let dir = temp_dir(tag);
    std::fs::write(dir.join("root.hints"), lab.root_hints()).unwrap();
    std::fs::write(dir.join("root.key"), lab.trust_anchor()).unwrap();
    let config = dir.join("lastgood.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = ["127.0.0.1:0"]
root-hints = "{hints}"
trust-anchor = "{anchor}"
upstream-port = {port}
control-listen = ""
control-socket = "{socket}"
state-dir = "{state}"
client-response-timer = "100ms"
{extra}
"#,
            hints = dir.join("root.hints").display(),
            anchor = dir.join("root.key").display(),
            port = lab.port(),
            socket = dir.join("control.sock").display(),
            state = dir.display(),
        ),
    )
    .unwrap();
    (lab, dir, config)
}

async fn start(config: &Path, clock: &ManualClock) -> App {
    let options = AppOptions {
        config_path: Some(config.to_path_buf()),
        overrides: Overrides::default(),
    };
    App::start(options, Arc::new(clock.clone())).await.unwrap()
}

/// The answer data a client sees, for comparing before and after.
fn data(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m
        .answers
        .iter()
        .filter(|r| r.record_type() != RecordType::RRSIG)
        .map(|r| format!("{} {}", r.name.to_lowercase(), r.data))
        .collect();
    v.sort();
    v
}

fn break_the_lab(lab: &Lab, fault: Fault) {
    for zone in [".", "lab.", "example.lab.", "insecure.lab.", "other.lab."] {
        lab.set_fault(&name(zone), fault.clone()).unwrap();
    }
}

fn metric(app: &App, series: &str) -> f64 {
    app.metrics()
        .render()
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

/// Resolve every name, stop, break the whole lab, start a new resolver on
/// the same state-dir two hours later: every name is still answered,
/// stale (EDE 3, or 19 for NXDOMAIN), with the data it had.
#[tokio::test]
async fn issue18_restart_during_an_outage_keeps_answering() {
    let (lab, dir, config) = lab_and_config("store-restart", "").await;
    let clock = ManualClock::new();
    let app = start(&config, &clock).await;
    let dns = app.dns_addrs()[0];
    let mut before = Vec::new();
    for (n, t) in names() {
        let m = query(dns, &n, t, Flags::default()).await;
        assert!(
            matches!(
                m.metadata.response_code,
                ResponseCode::NoError | ResponseCode::NXDomain
            ),
            "{n} {t}: {m:?}"
        );
        before.push((n, t, m.metadata.response_code, data(&m)));
    }
    app.resolver().store().unwrap().sync().await;
    assert!(metric(&app, "lastgood_store_writes_total") >= before.len() as f64);
    app.shutdown().await;
    assert!(dir.join("cache.redb").exists());

    break_the_lab(&lab, Fault::Drop);
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(2 * 3600));
    let app = start(&config, &clock).await;
    let dns = app.dns_addrs()[0];
    let mut answered = 0;
    let mut missed = Vec::new();
    for (n, t, rcode, want) in &before {
        let m = query(dns, n, *t, Flags::default()).await;
        let stale = if *rcode == ResponseCode::NXDomain {
            19
        } else {
            3
        };
        if m.metadata.response_code == *rcode
            && data(&m) == *want
            && ede_codes(&m).first() == Some(&stale)
        {
            answered += 1;
        } else {
            missed.push(format!("{n} {t}: {m:?}"));
        }
    }
    println!(
        "issue 18 restart share: {answered} of {} names answered stale after a restart during an outage",
        before.len()
    );
    assert_eq!(answered, before.len(), "missed: {missed:#?}");
    assert!(metric(&app, "lastgood_store_reads_total{result=\"hit\"}") >= 1.0);
    assert_eq!(metric(&app, "lastgood_store_rejected_total"), 0.0);
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

const ENTRIES: redb::TableDefinition<&[u8], (u64, &[u8])> = redb::TableDefinition::new("entries");

/// An A record's address changed straight in the redb file, its RRSIG
/// kept: the new resolver rejects it, counts it, deletes it, and never
/// serves it (SERVFAIL during the outage instead).
#[tokio::test]
async fn issue18_forged_entry_in_the_store_is_rejected() {
    let (lab, dir, config) = lab_and_config("store-forged", "").await;
    let clock = ManualClock::new();
    let app = start(&config, &clock).await;
    let dns = app.dns_addrs()[0];
    for host in ["host1", "host2"] {
        let m = query(
            dns,
            &format!("{host}.example.lab."),
            RecordType::A,
            Flags::default(),
        )
        .await;
        assert!(m.metadata.authentic_data, "{m:?}");
    }
    app.resolver().store().unwrap().sync().await;
    app.shutdown().await;

    // Forge host1: same RRSIG, another address.
    let path = dir.join("cache.redb");
    {
        use redb::ReadableTable;
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(ENTRIES).unwrap();
            let key = b"host1.example.lab. A".as_slice();
            let (expiry, bytes) = {
                let g = table.get(key).unwrap().expect("host1 was stored");
                (g.value().0, g.value().1.to_vec())
            };
            let mut d = lastgood_resolver::store::entry::decode(&bytes).unwrap();
            let mut changed = 0;
            for r in &mut d.entry.answers {
                if r.record_type() == RecordType::A {
                    r.data = RData::A(hickory_proto::rr::rdata::A::new(6, 6, 6, 6));
                    changed += 1;
                }
            }
            assert_eq!(changed, 1);
            assert!(
                d.entry
                    .answers
                    .iter()
                    .any(|r| r.record_type() == RecordType::RRSIG)
            );
            let forged =
                lastgood_resolver::store::entry::encode(&d.key, &d.entry, &d.chain).unwrap();
            table.insert(key, (expiry, forged.as_slice())).unwrap();
        }
        txn.commit().unwrap();
    }

    // SERVFAIL from every authority: a name with nothing usable is
    // answered SERVFAIL at once.
    break_the_lab(&lab, Fault::ServFail);
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(2 * 3600));
    let app = start(&config, &clock).await;
    let dns = app.dns_addrs()[0];
    let forged = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(
        forged.metadata.response_code,
        ResponseCode::ServFail,
        "{forged:?}"
    );
    assert!(!format!("{forged:?}").contains("6.6.6.6"));
    assert_eq!(
        metric(&app, "lastgood_store_rejected_total{reason=\"signature\"}"),
        1.0
    );
    // The untouched neighbour is served stale as usual.
    let good = query(dns, "host2.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(
        good.metadata.response_code,
        ResponseCode::NoError,
        "{good:?}"
    );
    assert_eq!(ede_codes(&good).first(), Some(&3));
    // The forged entry was deleted: asked again, it is a plain miss.
    app.resolver().store().unwrap().sync().await;
    let again = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(again.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        metric(&app, "lastgood_store_rejected_total{reason=\"signature\"}"),
        1.0
    );
    let _ = clock.now();
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cache dump` then `cache load` into a resolver with an empty store
/// during an outage: the loaded names are answered stale; a forged entry
/// in a dump is rejected by the load, counted, never served.
#[tokio::test]
async fn issue18_cache_dump_and_load_round_trip() {
    use lastgood_resolver::cli::{CacheArgs, CacheCommand, ControlOpts};
    let (lab, dir, config) = lab_and_config("store-dump", "").await;
    let control = |app: &App| ControlOpts {
        control: Some(format!("unix:{}", app.control_socket().unwrap().display())),
        ..ControlOpts::default()
    };
    let cache = |control: ControlOpts, command: CacheCommand| async move {
        lastgood_resolver::cli::cache(&CacheArgs { control, command })
            .await
            .unwrap()
    };
    let clock = ManualClock::new();
    let app = start(&config, &clock).await;
    let dns = app.dns_addrs()[0];
    let hosts: Vec<String> = (1..=5).map(|i| format!("host{i}.example.lab.")).collect();
    let mut before = Vec::new();
    for h in &hosts {
        before.push(data(&query(dns, h, RecordType::A, Flags::default()).await));
    }
    let dump = dir.join("dump.bin");
    // status shows the store (and a place for the Redis tier).
    let status = lastgood_resolver::cli::status(&control(&app))
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    app.resolver().store().unwrap().sync().await;
    let status_after = lastgood_resolver::cli::status(&control(&app))
        .await
        .unwrap();
    let status_after: serde_json::Value = serde_json::from_str(&status_after).unwrap();
    assert!(status.get("redis").is_some(), "{status}");
    assert!(status_after["store"]["entries"].as_u64().unwrap() >= hosts.len() as u64);
    assert!(status_after["store"]["bytes"].as_u64().unwrap() > 0);
    assert!(status_after["store"]["last_write_ms"].as_u64().is_some());
    assert!(
        status_after["store"]["path"]
            .as_str()
            .unwrap()
            .ends_with("cache.redb")
    );
    let said = cache(control(&app), CacheCommand::Dump { file: dump.clone() }).await;
    let said: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert!(
        said["entries"].as_u64().unwrap() >= hosts.len() as u64,
        "{said}"
    );
    app.shutdown().await;

    // A forged copy of the dump: one entry's address changed.
    let forged = dir.join("forged.bin");
    {
        let mut entries = Vec::new();
        lastgood_resolver::store::dump::read(&dump, |e| entries.push(e.to_vec())).unwrap();
        let mut w = lastgood_resolver::store::dump::DumpWriter::create(&forged).unwrap();
        let mut n = 0;
        for e in entries {
            let mut d = lastgood_resolver::store::entry::decode(&e).unwrap();
            if d.key.name.to_string() != "host3.example.lab." || d.key.qtype != RecordType::A {
                continue;
            }
            for r in &mut d.entry.answers {
                if r.record_type() == RecordType::A {
                    r.data = RData::A(hickory_proto::rr::rdata::A::new(6, 6, 6, 6));
                }
            }
            w.write(&lastgood_resolver::store::entry::encode(&d.key, &d.entry, &d.chain).unwrap())
                .unwrap();
            n += 1;
        }
        assert_eq!(n, 1);
        w.finish().unwrap();
    }

    // A new resolver with an empty store, the lab down, two hours later.
    std::fs::remove_file(dir.join("cache.redb")).unwrap();
    break_the_lab(&lab, Fault::ServFail);
    let clock = ManualClock::new();
    clock.advance(Duration::from_secs(2 * 3600));
    let app = start(&config, &clock).await;
    let dns = app.dns_addrs()[0];
    let said = cache(control(&app), CacheCommand::Load { file: forged }).await;
    let said: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(said["loaded"], 0, "{said}");
    assert_eq!(said["rejected"]["signature"], 1, "{said}");
    let m = query(dns, "host3.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{m:?}");

    let said = cache(control(&app), CacheCommand::Load { file: dump }).await;
    let said: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert!(
        said["loaded"].as_u64().unwrap() >= hosts.len() as u64,
        "{said}"
    );
    for (h, want) in hosts.iter().zip(&before) {
        let m = query(dns, h, RecordType::A, Flags::default()).await;
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::NoError,
            "{h}: {m:?}"
        );
        assert_eq!(data(&m), *want, "{h}");
        assert_eq!(ede_codes(&m).first(), Some(&3), "{h}");
    }
    // Loaded entries went into the new store too.
    app.resolver().store().unwrap().sync().await;
    assert!(app.resolver().store().unwrap().status().entries >= hosts.len() as u64);
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
