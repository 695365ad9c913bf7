//! Tables for the operator subcommands: `status` and `lookup` as a
//! human reads them (`--json` prints the control API's object instead).
//! Pure: JSON in, text out. A field missing from the answer (an older
//! resolver) shows as `-`, never as an error.

use std::time::Duration;

use serde_json::Value;

use super::format_remaining;

/// Columns padded to their widest cell, two spaces apart, trailing
/// spaces trimmed.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let width = |col: usize| {
        rows.iter()
            .filter_map(|r| r.get(col))
            .map(|c| c.chars().count())
            .chain(header.get(col).map(|h| h.chars().count()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut row = String::new();
        for (cell, w) in cells.zip(&widths) {
            row.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(row.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

fn secs(v: &Value, key: &str) -> Option<Duration> {
    v.get(key).and_then(Value::as_u64).map(Duration::from_secs)
}

fn since(v: &Value, key: &str) -> String {
    secs(v, key).map_or_else(|| "-".to_owned(), format_remaining)
}

fn on_off(v: &Value, key: &str) -> &'static str {
    match v.get(key).and_then(Value::as_bool) {
        Some(true) => "on",
        Some(false) => "off",
        None => "-",
    }
}

/// An object's scalar fields as `key=value`, in the answer's order.
fn fields(v: &Value) -> String {
    match v {
        Value::Object(map) => map
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null => "off".to_owned(),
        other => other.to_string(),
    }
}

fn bytes(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// `lastgood status` without `--json`.
pub fn status_table(s: &Value) -> String {
    let cache = s.get("cache").cloned().unwrap_or(Value::Null);
    let listen = s
        .get("listen")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "-".to_owned());
    let mut rows: Vec<(&str, String)> = vec![
        ("version", text(s, "version")),
        ("uptime", since(s, "uptime_seconds")),
        ("config", text(s, "config_file")),
        ("listen", listen),
        ("dnssec", on_off(s, "dnssec").to_owned()),
        ("serve-stale", on_off(s, "serve_stale").to_owned()),
        (
            "cache",
            format!(
                "{} entries, {}",
                text(&cache, "entries"),
                cache
                    .get("bytes")
                    .and_then(Value::as_u64)
                    .map_or_else(|| "-".to_owned(), bytes)
            ),
        ),
        ("store", fields(s.get("store").unwrap_or(&Value::Null))),
        ("redis", fields(s.get("redis").unwrap_or(&Value::Null))),
        (
            "NTAs",
            format!(
                "{} active{}",
                text(s, "ntas_active"),
                match s.get("ntas_persisted").and_then(Value::as_bool) {
                    Some(false) => " (memory only: the state file cannot be written)",
                    _ => "",
                }
            ),
        ),
    ];
    let windows = s
        .get("failure_windows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    rows.push(("failing zones", windows.len().to_string()));
    let mut out = String::new();
    for (key, value) in &rows {
        out.push_str(format!("{key:<14} {value}").trim_end());
        out.push('\n');
    }
    if let Some(ntas) = s.get("ntas").and_then(Value::as_array)
        && !ntas.is_empty()
    {
        out.push('\n');
        let rows: Vec<Vec<String>> = ntas
            .iter()
            .map(|n| {
                vec![
                    text(n, "zone"),
                    since(n, "remaining_secs"),
                    text(n, "source"),
                    yes_no(n, "force"),
                    text(n, "reason"),
                ]
            })
            .collect();
        out.push_str(&table(
            &["NTA", "REMAINING", "SOURCE", "FORCE", "REASON"],
            &rows,
        ));
    }
    if !windows.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = windows
            .iter()
            .map(|w| {
                vec![
                    text(w, "zone"),
                    text(w, "class"),
                    text(w, "ede"),
                    since(w, "failing_for_s"),
                    since(w, "next_probe_in_s"),
                    text(w, "answered_from_window"),
                    text(w, "cause"),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "FAILING ZONE",
                "CLASS",
                "EDE",
                "SINCE",
                "NEXT PROBE",
                "ANSWERED",
                "CAUSE",
            ],
            &rows,
        ));
    }
    out
}

fn yes_no(v: &Value, key: &str) -> String {
    match v.get(key).and_then(Value::as_bool) {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
    .to_owned()
}

fn ede(v: Option<&Value>) -> String {
    match v {
        Some(e) if e.is_object() => format!("{} {}", text(e, "code"), text(e, "text")),
        _ => "-".to_owned(),
    }
}

/// `lastgood lookup` without `--json`.
pub fn lookup_table(l: &Value) -> String {
    let mut out = format!(
        "{} {}: answered now from {} (zone asked: {})\n",
        text(l, "name"),
        text(l, "type"),
        match l.get("tier").and_then(Value::as_str) {
            Some("fresh") => "the cache, fresh".to_owned(),
            Some("stale") =>
                "the cache, stale (if the refresh fails or a window applies)".to_owned(),
            Some("nta") => "the cache, fresh, under an NTA (without AD)".to_owned(),
            Some("none") => "nothing: a validating client's question goes upstream".to_owned(),
            _ => text(l, "tier"),
        },
        text(l, "zone"),
    );
    let entries = l
        .get("entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if entries.is_empty() {
        out.push_str("nothing cached or stored\n");
    } else {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                let ttl = match (secs(e, "ttl_left_s"), secs(e, "expired_for_s")) {
                    (Some(left), _) => format!("{} left", format_remaining(left)),
                    (None, Some(gone)) => format!("expired {} ago", format_remaining(gone)),
                    (None, None) => "-".to_owned(),
                };
                let kind = match e.get("target").and_then(Value::as_str) {
                    Some(t) => format!("cname -> {t}"),
                    None => text(e, "kind"),
                };
                vec![
                    format!("{}/{}", text(e, "source"), text(e, "view")),
                    text(e, "tier"),
                    ttl,
                    kind,
                    text(e, "security"),
                    ede(e.get("ede")),
                    text(e, "zone"),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "SOURCE/VIEW",
                "TIER",
                "TTL",
                "KIND",
                "SECURITY",
                "EDE",
                "ZONE",
            ],
            &rows,
        ));
        for e in &entries {
            let records = e.get("records").and_then(Value::as_array);
            for r in records.into_iter().flatten().filter_map(Value::as_str) {
                out.push_str(&format!(
                    "  {}/{}: {r}\n",
                    text(e, "source"),
                    text(e, "view")
                ));
            }
        }
    }
    match l.get("window") {
        Some(w) if w.is_object() => out.push_str(&format!(
            "failure window: {} ({}), fault in {}, EDE {}, failing for {}{}\n",
            text(w, "zone"),
            text(w, "class"),
            text(w, "fault_zone"),
            ede(w.get("cause")),
            since(w, "failing_for_s"),
            if w.get("stops_refresh").and_then(Value::as_bool) == Some(true) {
                "; no upstream query until its probe succeeds"
            } else {
                ""
            },
        )),
        _ => out.push_str("failure window: none\n"),
    }
    match l.get("nta") {
        Some(n) if n.is_object() => out.push_str(&format!(
            "NTA: {} ({} left, {}{}){}\n",
            text(n, "zone"),
            since(n, "remaining_secs"),
            text(n, "source"),
            if yes_no(n, "force") == "yes" {
                ", forced"
            } else {
                ""
            },
            match text(n, "reason").as_str() {
                "" | "-" => String::new(),
                r => format!(": {r}"),
            },
        )),
        _ => out.push_str("NTA: none\n"),
    }
    match l.get("keys") {
        Some(k) if k.is_object() => out.push_str(&format!(
            "keys of {}: {} ({} keys), EDE {}, refetched in {}\n",
            text(k, "zone"),
            text(k, "state"),
            text(k, "keys"),
            ede(k.get("ede")),
            since(k, "expires_in_s"),
        )),
        _ => out.push_str("keys: no verdict cached\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use serde_json::json;

    use super::*;

    #[test]
    fn tables() {
        let t = table(
            &["A", "LONGER"],
            &[vec!["xyz".into(), "1".into()], vec!["q".into(), "".into()]],
        );
        assert_eq!(t, "A    LONGER\nxyz  1\nq\n");
    }

    #[test]
    fn status_as_table() {
        let s = json!({
            "version": "0.1.0", "uptime_seconds": 3700, "config_file": null,
            "listen": ["127.0.0.1:53"], "dnssec": true, "serve_stale": false,
            "cache": {"entries": 12, "bytes": 3_145_728u64},
            "ntas_active": 1, "ntas_persisted": false,
            "ntas": [{"zone": "lab.", "reason": "KSK", "source": "api",
                      "remaining_secs": 60, "expires_at_unix": 1, "force": true}],
            "failing_zones": ["example.lab."],
            "failure_windows": [{"zone": "example.lab.", "class": "validation", "ede": 9,
                "cause": "no DNSKEY", "failing_for_s": 5, "next_probe_in_s": 2,
                "answered_from_window": 3}],
            "store": null, "redis": null,
        });
        let t = status_table(&s);
        for want in [
            "version        0.1.0\n",
            "uptime         1h 1m\n",
            "config         -\n",
            "serve-stale    off\n",
            "cache          12 entries, 3.0 MiB\n",
            "store          off\n",
            "NTAs           1 active (memory only",
            "failing zones  1\n",
            "lab.  1m 0s      api     yes    KSK\n",
            "example.lab.  validation  9    5s     2s          3         no DNSKEY\n",
        ] {
            assert!(t.contains(want), "{want:?} not in\n{t}");
        }
        // An older resolver's answer: no panic, dashes.
        assert!(status_table(&json!({})).contains("version        -\n"));
    }

    #[test]
    fn lookup_as_table() {
        let l = json!({
            "name": "www.lab.", "type": "A", "zone": "lab.", "tier": "stale",
            "entries": [{"source": "cache", "view": "validated", "kind": "positive",
                "target": null, "rcode": "No Error", "zone": "lab.", "security": "secure",
                "ede": null, "tier": "stale", "ttl_left_s": null, "expired_for_s": 90,
                "ttl": 300, "stored_at_unix": 1, "records": ["www.lab. 300 IN A 192.0.2.1"],
                "rrsigs": 1}],
            "window": {"zone": "lab.", "fault_zone": "lab.", "class": "validation",
                "cause": {"code": 9, "text": "DNSKEY missing"}, "since_unix": 1,
                "failing_for_s": 30, "stops_refresh": true},
            "nta": null, "keys": {"zone": "lab.", "state": "bogus", "keys": 0,
                "ede": {"code": 9, "text": "DNSKEY missing"}, "expires_in_s": 20},
        });
        let t = lookup_table(&l);
        for want in [
            "www.lab. A: answered now from the cache, stale",
            "cache/validated  stale  expired 1m 30s ago  positive  secure    -    lab.\n",
            "  cache/validated: www.lab. 300 IN A 192.0.2.1\n",
            "failure window: lab. (validation), fault in lab., EDE 9 DNSKEY missing, failing for 30s; no upstream",
            "NTA: none\n",
            "keys of lab.: bogus (0 keys), EDE 9 DNSKEY missing, refetched in 20s\n",
        ] {
            assert!(t.contains(want), "{want:?} not in\n{t}");
        }
        assert!(lookup_table(&json!({"entries": []})).contains("nothing cached or stored"));
    }
}
