#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use super::*;

#[test]
fn defaults_and_full_file() {
    assert_eq!(Config::parse("", "empty").unwrap(), Config::default());
    let c = Config::parse(
        r#"
listen = ["127.0.0.1:5300", "[::1]:5300"]
allow = ["10.0.0.0/8"]
upstream-port = 5353
dnssec = true
cache-size = 2097152
max-stale-ttl = "2h"
serve-stale = false
stale-answer-ttl = "10s"
client-response-timer = "500ms"
failure-recheck = "1m"
log-format = "json"
"#,
        "x.toml",
    )
    .unwrap();
    assert_eq!(c.listen.len(), 2);
    assert_eq!(c.upstream_port, 5353);
    assert_eq!(c.max_stale, Duration::from_secs(7200));
    assert_eq!(c.log_format, LogFormat::Json);
    let want = StaleConfig {
        enabled: false,
        answer_ttl: Duration::from_secs(10),
        client_response_timer: Duration::from_millis(500),
        failure_recheck: Duration::from_secs(60),
    };
    assert_eq!(c.stale, want);
}

#[test]
fn store_keys_issue_18() {
    let c = Config::parse("", "x.toml").unwrap();
    assert!(c.store.enabled);
    assert_eq!(c.store.max_bytes, 256 * 1024 * 1024);
    let c = Config::parse("store = false\nstore-size = 2097152", "x.toml").unwrap();
    assert_eq!(
        c.store,
        StoreSettings {
            enabled: false,
            max_bytes: 2_097_152
        }
    );
    let e = Config::parse("store-size = 5", "x.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("key `store-size`: value \"5\""), "{e}");
}

#[test]
fn errors_name_file_line_and_key() {
    let cases = [
        ("listen = [\"nonsense\"]", "x.toml:1: key `listen`"),
        ("\n\nbogus-key = 1", "x.toml:3:"),
        ("cache-size = 5", "key `cache-size`: value \"5\""),
        ("max-stale-ttl = \"8d\"", "at most 7d"),
        ("max-stale-ttl = \"soon\"", "key `max-stale-ttl`"),
        ("upstream-port = 0", "key `upstream-port`"),
        (
            "stale-answer-ttl = \"0s\"",
            "key `stale-answer-ttl`: value \"0s\"",
        ),
        ("client-response-timer = \"11s\"", "100ms to 10s"),
        ("failure-recheck = \"2h\"", "key `failure-recheck`"),
        ("serve-stale = \"yes\"", "x.toml:1:"),
        ("log-format = \"xml\"", "key `log-format`"),
        ("listen = [", "x.toml:1:"),
        // Issue 16: range errors name the line too.
        (
            "dnssec = true\ncache-size = 5",
            "x.toml:2: key `cache-size`",
        ),
        (
            "dnssec = true\n\nnta-recheck-interval = \"5s\"",
            "x.toml:3: key `nta-recheck-interval`",
        ),
    ];
    for (text, want) in cases {
        let err = Config::parse(text, "x.toml").unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
    assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
    assert_eq!(parse_duration("1y"), None);
    assert_eq!(parse_duration(""), None);
    assert_eq!(parse_duration("99999999999999999999d"), None);
}

// --- control API and NTA keys ---

#[test]
fn control_and_nta_keys() {
    let c = Config::parse("", "x.toml").unwrap();
    assert_eq!(c.control.listen, Some(DEFAULT_CONTROL_LISTEN));
    assert_eq!(c.control.socket, Some(default_control_socket()));
    assert!(c.state_dir.is_none() && c.nta.state_file.is_none());
    assert_eq!(c.refused_clients, RefusedClients::Refuse);
    assert_eq!(c.nta.recheck_interval, Duration::from_secs(300));
    assert!(c.nta.entries.is_empty());
    let c = Config::parse(
        r#"
control-listen = "0.0.0.0:9053"
control-token-file = "/etc/lastgood/token"
nta-state-file = "/var/lib/lastgood/nta.json"
nta-recheck-interval = "10s"

[[nta]]
zone = "Lab"
lifetime = "2h"
reason = "KSK roll gone wrong"

[[nta]]
zone = "example.org."
"#,
        "x.toml",
    )
    .unwrap();
    assert_eq!(c.control.listen, Some("0.0.0.0:9053".parse().unwrap()));
    assert_eq!(
        c.control.token_file.as_deref(),
        Some(Path::new("/etc/lastgood/token"))
    );
    assert_eq!(
        c.nta.state_file.as_deref(),
        Some(Path::new("/var/lib/lastgood/nta.json"))
    );
    assert_eq!(c.nta.recheck_interval, Duration::from_secs(10));
    let want = [
        ConfigNta {
            zone: hickory_proto::rr::Name::from_ascii("lab.").unwrap(),
            lifetime: Duration::from_secs(7200),
            reason: "KSK roll gone wrong".into(),
        },
        ConfigNta {
            zone: hickory_proto::rr::Name::from_ascii("example.org.").unwrap(),
            lifetime: limits::DEFAULT_NTA_LIFETIME,
            reason: String::new(),
        },
    ];
    assert_eq!(c.nta.entries, want);
    // Loopback without a token is fine, IPv6 too.
    let c = Config::parse("control-listen = \"[::1]:1\"", "x.toml").unwrap();
    assert!(c.control.token_file.is_none());
    // Issue 16: the socket, TLS, state-dir and refused-clients keys.
    let c = Config::parse(
        r#"
control-socket = "/run/x/ctl.sock"
control-socket-group = "0"
control-listen = "0.0.0.0:9053"
control-tls-cert = "/etc/c.pem"
control-tls-key = "/etc/k.pem"
control-allow-origin = ["https://ops.example"]
control-allow-host = ["resolver.example"]
state-dir = "/var/lib/lastgood"
refused-clients = "drop"
"#,
        "x.toml",
    )
    .unwrap();
    assert_eq!(
        c.control.socket.as_deref(),
        Some(Path::new("/run/x/ctl.sock"))
    );
    assert_eq!(c.control.socket_group, Some(0));
    assert!(c.control.tls.is_some());
    assert_eq!(c.control.allow_origins, ["https://ops.example"]);
    assert_eq!(c.control.allow_hosts, ["resolver.example"]);
    assert_eq!(
        c.nta.state_file.as_deref(),
        Some(Path::new("/var/lib/lastgood/nta.json"))
    );
    assert_eq!(c.refused_clients, RefusedClients::Drop);
    let off = Config::parse("control-socket = \"\"\ncontrol-listen = \"\"", "x.toml").unwrap();
    assert!(off.control.socket.is_none() && off.control.listen.is_none());
}

// --- forward/stub zones and private-address ---

#[test]
fn private_zone_keys() {
    use crate::resolve::private::ZoneMode;
    let c = Config::parse(
        r#"
private-address = ["10.0.0.0/8", "192.168.1.1", "fd00::/8"]

[[forward-zone]]
name = "Corp.Internal"
addrs = ["10.0.0.1", "10.0.0.2:5353", "[fd00::1]:53", "fd00::2"]

[[stub_zone]]
name = "lab.corp.internal."
addrs = ["10.0.0.9"]
validate = false
trust-anchor = "/etc/lastgood/lab.key"
"#,
        "x.toml",
    )
    .unwrap();
    assert_eq!(c.private_zones.len(), 2);
    let fwd = &c.private_zones[0];
    assert_eq!(fwd.name.to_string(), "corp.internal.");
    assert_eq!(fwd.mode, ZoneMode::Forward);
    assert!(fwd.validate && fwd.trust_anchor.is_none());
    let want: Vec<SocketAddr> = [
        "10.0.0.1:53",
        "10.0.0.2:5353",
        "[fd00::1]:53",
        "[fd00::2]:53",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    assert_eq!(fwd.servers, want);
    let stub = &c.private_zones[1];
    assert_eq!(stub.mode, ZoneMode::Stub);
    assert!(!stub.validate);
    assert_eq!(
        stub.trust_anchor.as_deref(),
        Some(Path::new("/etc/lastgood/lab.key"))
    );
    assert_eq!(c.private_address.len(), 3);
    assert_eq!(
        c.private_address[1],
        "192.168.1.1/32".parse::<IpNet>().unwrap()
    );
    let on = Config::parse("private-address = true", "x.toml").unwrap();
    assert_eq!(
        on.private_address.len(),
        crate::resolve::private::DEFAULT_PRIVATE_NETS.len()
    );
    let off = Config::parse("private-address = false", "x.toml").unwrap();
    assert!(off.private_address.is_empty());
}

/// Issue 15: `[[forward-zone]] name = "."` forwards everything;
/// `forward-first` falls back to iteration.
#[test]
fn forward_root_and_forward_first() {
    let c = Config::parse(
        "[[forward-zone]]\nname = \".\"\naddrs = [\"127.0.0.1:5353\"]\nforward-first = true\n",
        "x.toml",
    )
    .unwrap();
    let root = &c.private_zones[0];
    assert!(root.name.is_root());
    assert!(root.forward_first && root.validate);
    let c = Config::parse(
        "[[forward-zone]]\nname = \"corp.\"\naddrs = [\"10.0.0.1\"]\n",
        "x.toml",
    )
    .unwrap();
    assert!(
        !c.private_zones[0].forward_first,
        "forward-first defaults off"
    );
}

#[test]
fn private_zone_errors_name_key_and_line() {
    let fwd = |body: &str| format!("dnssec = true\n\n[[forward-zone]]\n{body}\n");
    let cases = [
        (
            fwd("name = \"a..b\"\naddrs = [\"10.0.0.1\"]"),
            "x.toml:4: key `forward-zone.name`: value \"a..b\"",
        ),
        (
            "[[stub-zone]]\nname = \".\"\naddrs = [\"10.0.0.1\"]".to_owned(),
            "x.toml:2: key `stub-zone.name`: value \".\" is invalid: the root cannot be a stub zone; use root-hints",
        ),
        (
            "[[stub-zone]]\nname = \"corp.\"\naddrs = [\"10.0.0.1\"]\nforward-first = true"
                .to_owned(),
            "x.toml:4: key `stub-zone.forward-first`: value \"true\" is invalid: only in a [[forward-zone]] table",
        ),
        (
            fwd("name = \"corp.\"\naddrs = [\"10.0.0.1:70000\"]"),
            "x.toml:5: key `forward-zone.addrs`: value \"10.0.0.1:70000\"",
        ),
        (
            fwd("name = \"corp.\"\naddrs = [\"ns1.corp\"]"),
            "key `forward-zone.addrs`: value \"ns1.corp\"",
        ),
        (
            fwd("name = \"corp.\"\naddrs = []"),
            "x.toml:5: key `forward-zone.addrs`: value \"[]\" is invalid: from 1 to MAX_PRIVATE_ZONE_SERVERS",
        ),
        (
            fwd("name = \"corp.\"\naddrs = [\"10.0.0.1\", \"10.0.0.1:53\"]"),
            "10.0.0.1:53 is listed twice",
        ),
        (
            fwd(
                "name = \"corp.\"\naddrs = [\"10.0.0.1\"]\n[[forward-zone]]\nname = \"CORP\"\naddrs = [\"10.0.0.2\"]",
            ),
            "x.toml:7: key `forward-zone.name`: value \"CORP\" is invalid: corp. is listed in another [[forward-zone]] table",
        ),
        (
            fwd(
                "name = \"corp.\"\naddrs = [\"10.0.0.1\"]\n[[stub-zone]]\nname = \"corp\"\naddrs = [\"10.0.0.2\"]",
            ),
            "x.toml:7: key `stub-zone.name`: value \"corp\" is invalid: corp. is already a [[forward-zone]]",
        ),
        (
            fwd("name = \"corp.\"\naddrs = [\"10.0.0.1\"]\nforwarders = 1"),
            "x.toml:6:",
        ),
        (fwd("addrs = [\"10.0.0.1\"]"), "missing field `name`"),
        (
            "\nprivate-address = [\"10.0.0.0/33\"]".to_owned(),
            "x.toml:2: key `private-address`: value \"10.0.0.0/33\"",
        ),
    ];
    for (text, want) in cases {
        let err = Config::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    // Nested zones are fine.
    let nested = fwd(
        "name = \"corp.\"\naddrs = [\"10.0.0.1\"]\n[[stub-zone]]\nname = \"a.corp\"\naddrs = [\"10.0.0.2\"]",
    );
    assert_eq!(
        Config::parse(&nested, "x.toml")
            .unwrap()
            .private_zones
            .len(),
        2
    );
}

#[test]
fn control_and_nta_errors_name_key_and_line() {
    let nta = |body: &str| format!("serve-stale = true\n\n[[nta]]\n{body}\n");
    let cases = [
        (
            "control-listen = \"0.0.0.0:8053\"".to_owned(),
            "x.toml: key `control-token-file`: value \"\" is invalid: required when control-listen is not a loopback",
        ),
        (
            "\nrefused-clients = \"ignore\"".to_owned(),
            "x.toml:2: key `refused-clients`: value \"ignore\"",
        ),
        (
            "\n\ncontrol-socket-group = \"no-such-group-here\"".to_owned(),
            "x.toml:3: key `control-socket-group`",
        ),
        (
            "control-tls-cert = \"/c.pem\"".to_owned(),
            "key `control-tls-key`: value \"\" is invalid: required with control-tls-cert",
        ),
        (
            "control-listen = \"localhost\"".to_owned(),
            "key `control-listen`",
        ),
        (
            "nta-recheck-interval = \"5s\"".to_owned(),
            "key `nta-recheck-interval`: value \"5s\" is invalid: a duration from 10s to 1d",
        ),
        ("nta-recheck-interval = \"2d\"".to_owned(), "10s to 1d"),
        (
            nta("zone = \"a..b\""),
            "x.toml:4: key `nta.zone`: value \"a..b\"",
        ),
        (nta("zone = \".\""), "x.toml:4: key `nta.zone`"),
        (
            nta("zone = \"lab.\"\nlifetime = \"8d\""),
            "x.toml:5: key `nta.lifetime`: value \"8d\" is invalid: a duration from 1s to 7d",
        ),
        (nta("zone = \"lab.\"\nlifetime = \"0s\""), "x.toml:5:"),
        (
            nta("zone = \"lab.\"\n[[nta]]\nzone = \"LAB\""),
            "x.toml:6: key `nta.zone`: value \"LAB\" is invalid: lab. is listed in another",
        ),
        (nta("zone = \"lab.\"\nzonee = 1"), "x.toml:5:"),
        (nta("lifetime = \"1h\""), "missing field `zone`"),
        (
            nta(&format!(
                "zone = \"lab.\"\nreason = \"{}\"",
                "r".repeat(2000)
            )),
            "key `nta.reason`",
        ),
    ];
    for (text, want) in cases {
        let err = Config::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
}
