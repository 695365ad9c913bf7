#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::atomic::AtomicU32;

use super::*;

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn at(secs: u64) -> Timestamp {
    T0.saturating_add(Duration::from_secs(secs))
}

/// A fresh, empty directory under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lastgood-nta-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn api(store: &NtaStore, zone: &str, lifetime: Option<u64>, now: Timestamp) -> Nta {
    store
        .add(
            &name(zone),
            lifetime.map(Duration::from_secs),
            "test",
            NtaSource::Api,
            now,
        )
        .unwrap()
}

#[test]
fn add_normalises_and_defaults_lifetime() {
    let store = NtaStore::new(None);
    let nta = api(&store, "LAB", None, T0);
    assert_eq!(nta.zone.to_string(), "lab.");
    assert!(nta.zone.is_fqdn());
    assert_eq!(nta.expires_at, T0.saturating_add(DEFAULT_NTA_LIFETIME));
    let list = store.list(at(60));
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].remaining,
        DEFAULT_NTA_LIFETIME - Duration::from_secs(60)
    );
    assert_eq!(list[0].source, NtaSource::Api);
    assert_eq!(list[0].reason, "test");
}

#[test]
fn add_checks_lifetime_reason_and_zone() {
    let store = NtaStore::new(None);
    let add = |zone: &str, secs: u64, reason: &str| {
        store.add(
            &name(zone),
            Some(Duration::from_secs(secs)),
            reason,
            NtaSource::Api,
            T0,
        )
    };
    let too_long = add("lab.", 7 * 86_400 + 1, "x").unwrap_err();
    assert!(
        matches!(too_long, NtaError::LifetimeTooLong { .. }),
        "{too_long}"
    );
    assert!(too_long.to_string().contains("MAX_NTA_LIFETIME"));
    assert!(add("lab.", 7 * 86_400, "x").is_ok());
    assert!(matches!(
        add("lab.", 0, "x").unwrap_err(),
        NtaError::ZeroLifetime
    ));
    let long_reason = "r".repeat(MAX_NTA_REASON_BYTES + 1);
    assert!(matches!(
        add("lab.", 60, &long_reason).unwrap_err(),
        NtaError::ReasonTooLong { .. }
    ));
    assert!(matches!(add(".", 60, "x").unwrap_err(), NtaError::RootZone));
    assert!(matches!(
        add("*.lab.", 60, "x").unwrap_err(),
        NtaError::WildcardZone { .. }
    ));
    assert!(parse_zone("").is_err());
    assert!(parse_zone("a..b").is_err());
    assert_eq!(parse_zone(" Example.LAB ").unwrap(), name("example.lab."));
}

#[test]
fn add_replaces_and_remove_reports() {
    let store = NtaStore::new(None);
    api(&store, "lab.", Some(60), T0);
    api(&store, "LAB.", Some(600), T0);
    let list = store.list(T0);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].remaining, Duration::from_secs(600));
    assert!(store.remove(&name("Lab")).unwrap());
    assert!(!store.remove(&name("lab.")).unwrap());
    assert!(store.list(T0).is_empty());
    assert_eq!(store.covering(&name("lab."), T0), None);
}

#[test]
fn covering_is_zone_and_below_not_siblings() {
    let store = NtaStore::new(None);
    assert_eq!(store.covering(&name("a.lab."), T0), None);
    api(&store, "lab.", None, T0);
    api(&store, "deep.example.lab.", None, T0);
    let cases = [
        ("lab.", Some("lab.")),
        ("LAB.", Some("lab.")),
        ("www.lab.", Some("lab.")),
        ("a.b.c.lab.", Some("lab.")),
        ("x.deep.example.lab.", Some("deep.example.lab.")),
        ("deep.example.lab.", Some("deep.example.lab.")),
        ("example.lab.", Some("lab.")),
        ("notlab.", None),
        ("alab.", None),
        ("lab.com.", None),
        (".", None),
        ("com.", None),
    ];
    for (qname, want) in cases {
        assert_eq!(store.covering(&name(qname), T0), want.map(name), "{qname}");
    }
}

#[test]
fn expiry_follows_injected_time() {
    let store = NtaStore::new(None);
    api(&store, "short.", Some(60), T0);
    api(&store, "long.", Some(3600), T0);
    assert_eq!(store.active_count(at(59)), 2);
    // Inactive from its expiry instant, even before `expire` runs.
    assert_eq!(store.covering(&name("a.short."), at(60)), None);
    assert_eq!(store.active_count(at(60)), 1);
    assert_eq!(store.expire(at(59)), Vec::<Name>::new());
    assert_eq!(store.expire(at(61)), vec![name("short.")]);
    assert_eq!(store.expire(at(62)), Vec::<Name>::new());
    assert_eq!(store.list(at(61)).len(), 1);
    assert_eq!(store.expire(at(3600)), vec![name("long.")]);
    assert_eq!(store.active_count(at(3600)), 0);
    assert_eq!(store.covering(&name("long."), at(3600)), None);
}

#[test]
fn persist_restore_round_trip() {
    let dir = temp_dir("roundtrip");
    let file = dir.join("nta.json");
    let store = NtaStore::restore(file.clone(), T0).unwrap();
    assert!(store.list(T0).is_empty(), "missing file = empty store");
    api(&store, "lab.", Some(3600), T0);
    api(&store, "short.", Some(60), T0);
    store
        .set_config_ntas(
            &[ConfigNta {
                zone: name("cfg."),
                lifetime: Duration::from_secs(7200),
                reason: "from config".into(),
            }],
            T0,
        )
        .unwrap();
    let before = store.list(at(100));

    let again = NtaStore::restore(file.clone(), at(100)).unwrap();
    assert_eq!(again.list(at(100)), before);
    assert_eq!(before.len(), 2, "short. expired while down: {before:?}");
    assert_eq!(
        again.covering(&name("www.lab."), at(100)),
        Some(name("lab."))
    );
    let cfg = again.list(at(100));
    assert!(cfg.iter().any(|v| v.source == NtaSource::Config));

    // A removal is persisted too.
    again.remove(&name("lab.")).unwrap();
    let third = NtaStore::restore(file, at(100)).unwrap();
    assert_eq!(third.list(at(100)).len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn atomic_write_leaves_no_tmp_file() {
    let dir = temp_dir("atomic");
    let file = dir.join("nta.json");
    let store = NtaStore::new(Some(file.clone()));
    api(&store, "lab.", None, T0);
    api(&store, "other.", None, T0);
    store.remove(&name("other.")).unwrap();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["nta.json".to_owned()]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"zone\": \"lab.\""), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn failed_write_keeps_the_change_in_memory() {
    let dir = temp_dir("unwritable");
    // The state file's directory does not exist: creating the tmp file fails.
    let file = dir.join("missing").join("nta.json");
    let errors = prometheus::IntCounter::new("e", "e").unwrap();
    let store = NtaStore::new(Some(file.clone())).count_errors(errors.clone());
    store
        .add(&name("lab."), None, "", NtaSource::Api, T0)
        .unwrap();
    assert_eq!(store.list(T0).len(), 1, "the NTA holds in memory");
    assert!(!store.persisted());
    assert_eq!(errors.get(), 1);
    // Retried on each change: once the directory exists, it is written.
    std::fs::create_dir(dir.join("missing")).unwrap();
    api(&store, "other.", None, T0);
    assert!(store.persisted());
    let again = NtaStore::restore(file, T0).unwrap();
    assert_eq!(again.list(T0).len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

fn entry(zone: &str, extra: &str) -> String {
    format!(
        "    {{\"zone\": \"{zone}\", \"reason\": \"r\", \"source\": \"api\", \"added_at_ms\": 1700000000000, \"expires_at_ms\": 1700003600000{extra}}}"
    )
}

/// Issue 16: every bad state-file case opens a store, keeps what parses,
/// reports the rest by line and moves the file aside.
#[test]
fn open_fails_stale_on_every_bad_state_file() {
    let good = |zones: &[&str]| {
        let e: Vec<String> = zones.iter().map(|z| entry(z, "")).collect();
        format!(
            "{{\n  \"version\": 1,\n  \"ntas\": [\n{}\n  ]\n}}\n",
            e.join(",\n")
        )
    };
    let one_bad = format!(
        "{{\n  \"version\": 1,\n  \"ntas\": [\n{},\n{},\n{}\n  ]\n}}\n",
        entry("a.", ""),
        entry("b..c", ""),
        entry("d.", "")
    );
    let unknown_field = format!(
        "{{\n  \"version\": 1,\n  \"ntas\": [\n{},\n{}\n  ]\n}}\n",
        entry("a.", ""),
        entry("d.", ", \"colour\": 1")
    );
    let full = good(&["a.", "d."]);
    let truncated = full.get(..full.len() / 2).unwrap().to_owned();
    let cases: [(&str, Vec<u8>, &[&str], &str); 6] = [
        ("empty", Vec::new(), &[], "line 1: EOF while parsing"),
        (
            "truncated",
            truncated.into_bytes(),
            &[],
            "EOF while parsing",
        ),
        (
            "binary",
            vec![0xff, 0xfe, 0, 1, 2],
            &[],
            "line 1: not UTF-8",
        ),
        (
            "one bad entry",
            one_bad.into_bytes(),
            &["a.", "d."],
            "line 5: entry \"b..c\"",
        ),
        (
            "unknown field",
            unknown_field.into_bytes(),
            &["a."],
            "line 5: unknown field `colour`",
        ),
        (
            "top-level unknown field",
            b"{\"version\": 1,\n\"ntas\": [],\n\"extra\": 1}".to_vec(),
            &[],
            "line 3: unknown field `extra` ignored",
        ),
    ];
    for (what, bytes, kept, want) in cases {
        let dir = temp_dir("open");
        let file = dir.join("nta.json");
        std::fs::write(&file, &bytes).unwrap();
        let errors = prometheus::IntCounter::new("e", "e").unwrap();
        let (store, report) = NtaStore::open(file.clone(), T0, Some(errors.clone()));
        let text = report.to_string();
        assert!(!report.is_clean(), "{what}");
        assert!(text.contains(&file.display().to_string()), "{what}: {text}");
        assert!(text.contains(want), "{what}: {text}");
        assert!(errors.get() >= 1, "{what}");
        let zones: Vec<String> = store.list(T0).iter().map(|v| v.zone.to_string()).collect();
        assert_eq!(zones, kept, "{what}");
        let aside = file.with_file_name(format!("nta.json.bad-{}", T0.unix_secs()));
        assert_eq!(std::fs::read(&aside).unwrap(), bytes, "{what}: kept aside");
        assert!(text.contains("moved aside to"), "{what}: {text}");
        // The good entries were written back at once.
        let again = NtaStore::restore(file.clone(), T0).unwrap();
        assert_eq!(again.list(T0).len(), kept.len(), "{what}");
        // check_state_file says the same without moving anything.
        std::fs::write(&file, &bytes).unwrap();
        let checked = check_state_file(&file, T0);
        assert_eq!(checked.problems, report.problems, "{what}");
        assert!(file.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn open_on_a_missing_directory_keeps_ntas_in_memory() {
    let dir = temp_dir("open-missing");
    let file = dir.join("gone").join("nta.json");
    let errors = prometheus::IntCounter::new("e", "e").unwrap();
    let (store, report) = NtaStore::open(file, T0, Some(errors.clone()));
    assert!(report.is_clean(), "{report}");
    assert!(!store.persisted());
    assert_eq!(errors.get(), 1);
    api(&store, "lab.", None, T0);
    assert_eq!(store.list(T0).len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn corrupt_state_file_error_names_file_and_line() {
    let dir = temp_dir("corrupt");
    let file = dir.join("nta.json");
    let cases = [
        ("{\n  \"version\": 1,\n  \"ntas\": [ oops ]\n}\n", "line 3"),
        ("{\"version\": 9, \"ntas\": []}", "version 9"),
        (
            "{\"version\": 1, \"ntas\": [], \"extra\": 1}",
            "unknown field",
        ),
        (
            "{\"version\": 1, \"ntas\": [{\"zone\": \"a..b\", \"reason\": \"\", \"source\": \"api\", \"added_at_ms\": 0, \"expires_at_ms\": 1}]}",
            "entry 0",
        ),
        (
            "{\"version\": 1, \"ntas\": [{\"zone\": \"lab.\", \"reason\": \"\", \"source\": \"api\", \"added_at_ms\": 0, \"expires_at_ms\": 999999999999}]}",
            "MAX_NTA_LIFETIME",
        ),
        ("", "EOF"),
    ];
    for (text, want) in cases {
        std::fs::write(&file, text).unwrap();
        let err = NtaStore::restore(file.clone(), T0).unwrap_err().to_string();
        assert!(err.contains(&file.display().to_string()), "{err}");
        assert!(err.contains(want), "{text:?}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn cfg(zone: &str, secs: u64, reason: &str) -> ConfigNta {
    ConfigNta {
        zone: name(zone),
        lifetime: Duration::from_secs(secs),
        reason: reason.into(),
    }
}

#[test]
fn set_config_ntas_replaces_config_keeps_api() {
    let store = NtaStore::new(None);
    api(&store, "api.", None, T0);
    store
        .set_config_ntas(&[cfg("a.", 600, "x"), cfg("b.", 600, "y")], T0)
        .unwrap();
    assert_eq!(store.active_count(T0), 3);
    // Reload later: a. unchanged keeps its times, b. dropped, c. new.
    store
        .set_config_ntas(&[cfg("a.", 600, "x"), cfg("c.", 600, "z")], at(300))
        .unwrap();
    let list = store.list(at(300));
    let zones: Vec<String> = list.iter().map(|v| v.zone.to_string()).collect();
    assert_eq!(zones, ["a.", "api.", "c."]);
    assert_eq!(
        list[0].remaining,
        Duration::from_secs(300),
        "a. not renewed"
    );
    assert_eq!(list[2].remaining, Duration::from_secs(600), "c. is new");
    assert_eq!(list[1].source, NtaSource::Api);
    // An Api NTA for the same zone wins.
    store
        .set_config_ntas(&[cfg("api.", 60, "")], at(300))
        .unwrap();
    let list = store.list(at(300));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].source, NtaSource::Api);
    // Duplicates and bad lifetimes are refused without a change.
    let dup = store
        .set_config_ntas(&[cfg("d.", 60, ""), cfg("D.", 60, "")], T0)
        .unwrap_err();
    assert!(matches!(dup, NtaError::Duplicate { .. }), "{dup}");
    assert!(
        store
            .set_config_ntas(&[cfg("d.", 8 * 86_400, "")], T0)
            .is_err()
    );
    assert_eq!(store.active_count(at(300)), 1);
}

#[test]
fn spent_config_nta_is_not_rearmed() {
    let dir = temp_dir("spent");
    let file = dir.join("nta.json");
    let store = NtaStore::new(Some(file.clone()));
    let entries = [cfg("lab.", 60, "broken KSK roll")];
    store.set_config_ntas(&entries, T0).unwrap();
    assert_eq!(store.expire(at(61)), vec![name("lab.")]);
    // A reload with the same entry does not arm it again ...
    store.set_config_ntas(&entries, at(100)).unwrap();
    assert_eq!(store.active_count(at(100)), 0);
    // ... nor does a restart ...
    let restarted = NtaStore::restore(file.clone(), at(200)).unwrap();
    restarted.set_config_ntas(&entries, at(200)).unwrap();
    assert_eq!(restarted.active_count(at(200)), 0);
    // ... but a changed entry does.
    restarted
        .set_config_ntas(&[cfg("lab.", 120, "broken KSK roll")], at(200))
        .unwrap();
    assert_eq!(restarted.active_count(at(200)), 1);
    // Expired while down: also spent.
    let restarted = NtaStore::restore(file, at(1000)).unwrap();
    restarted
        .set_config_ntas(&[cfg("lab.", 120, "broken KSK roll")], at(1000))
        .unwrap();
    assert_eq!(restarted.active_count(at(1000)), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn too_many_ntas() {
    let store = NtaStore::new(None);
    for i in 0..MAX_NTAS {
        api(&store, &format!("z{i}."), None, T0);
    }
    let err = store
        .add(&name("one-more."), None, "", NtaSource::Api, T0)
        .unwrap_err();
    assert!(matches!(err, NtaError::TooMany { .. }), "{err}");
    // Replacing an existing one is fine.
    api(&store, "z0.", Some(60), T0);
}

#[test]
fn view_json_round_trip() {
    let v = NtaView {
        zone: name("lab."),
        reason: "r".into(),
        source: NtaSource::Config,
        remaining: Duration::from_millis(1500),
        expires_at: Timestamp::from_secs(1_800_000_000),
        force: false,
    };
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"zone": "lab.", "reason": "r", "source": "config",
            "remaining_secs": 2, "expires_at_unix": 1_800_000_000u64, "force": false})
    );
    let back: NtaView = serde_json::from_value(json).unwrap();
    assert_eq!(back.zone, v.zone);
    assert_eq!(back.remaining, Duration::from_secs(2));
    // From a resolver older than `force`.
    let old = serde_json::json!({"zone": "lab.", "reason": "r", "source": "api",
        "remaining_secs": 2, "expires_at_unix": 1_800_000_000u64});
    assert!(!serde_json::from_value::<NtaView>(old).unwrap().force);
}

/// Issue 19: `nta add --force` (BIND's `rndc nta -force`): the recheck
/// does not lift it, nor even probe the zone; its lifetime still ends it.
#[tokio::test]
async fn recheck_keeps_forced_ntas() {
    let store = NtaStore::new(None);
    store
        .add_with(
            &name("forced."),
            Some(Duration::from_secs(60)),
            "stale copy",
            NtaSource::Api,
            true,
            T0,
        )
        .unwrap();
    api(&store, "plain.", None, T0);
    let checked = std::sync::Mutex::new(Vec::new());
    let lifted = recheck_once(&store, at(20), |zone: Name| {
        checked.lock().unwrap().push(zone.to_string());
        async move { true }
    })
    .await;
    assert_eq!(lifted, vec![name("plain.")]);
    assert_eq!(checked.into_inner().unwrap(), ["plain."]);
    let list = store.list(at(20));
    assert_eq!(list.len(), 1);
    assert!(list[0].force && list[0].zone == name("forced."));
    // Its lifetime still ends it.
    let lifted = recheck_once(&store, at(61), |_zone: Name| async move { true }).await;
    assert!(lifted.is_empty());
    assert!(store.list(at(61)).is_empty());
}

/// `force` survives a restart; a state file written before the field
/// reads as not forced.
#[test]
fn force_persists_and_old_files_read() {
    let dir = temp_dir("force");
    let file = dir.join("ntas.json");
    let store = NtaStore::new(Some(file.clone()));
    store
        .add_with(&name("forced."), None, "", NtaSource::Api, true, T0)
        .unwrap();
    api(&store, "plain.", None, T0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.matches("\"force\"").count(), 1, "{text}");
    let back = NtaStore::restore(file.clone(), at(1)).unwrap();
    let forced: Vec<(String, bool)> = back
        .list(at(1))
        .into_iter()
        .map(|v| (v.zone.to_string(), v.force))
        .collect();
    assert_eq!(
        forced,
        [("forced.".to_owned(), true), ("plain.".to_owned(), false)]
    );
    let old = format!(
        r#"{{"version": 1, "ntas": [{{"zone": "lab.", "reason": "", "source": "api",
            "added_at_ms": {}, "expires_at_ms": {}}}]}}"#,
        T0.as_millis(),
        at(3600).as_millis()
    );
    let back = NtaStore::restore_from_bytes(old.as_bytes(), file, at(1)).unwrap();
    let list = back.list(at(1));
    assert_eq!(list.len(), 1);
    assert!(!list[0].force);
}

#[tokio::test]
async fn recheck_lifts_zones_that_validate_again() {
    let store = NtaStore::new(None);
    api(&store, "fixed.", None, T0);
    api(&store, "broken.", None, T0);
    api(&store, "gone.", Some(10), T0);
    let checked = std::sync::Mutex::new(Vec::new());
    let lifted = recheck_once(&store, at(20), |zone: Name| {
        checked.lock().unwrap().push(zone.to_string());
        let ok = zone == name("fixed.");
        async move { ok }
    })
    .await;
    assert_eq!(lifted, vec![name("fixed.")]);
    let mut checked = checked.into_inner().unwrap();
    checked.sort();
    assert_eq!(checked, ["broken.", "fixed."], "expired ones not checked");
    let zones: Vec<Name> = store.list(at(20)).into_iter().map(|v| v.zone).collect();
    assert_eq!(zones, vec![name("broken.")]);
}
