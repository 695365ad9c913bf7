//! Control API tests: the HTTP server on a real socket with a fake
//! [`Control`] target (a real `NtaStore` on a manual clock), and the
//! operator CLI functions against it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use lastgood::cli::{self, CacheArgs, CacheCommand, CliError, ControlOpts, FlushArgs, NtaArgs};
use lastgood::clock::{Clock, ManualClock};
use lastgood::control::{self, Control, ControlConfig, ControlError, ControlHandle, Flush};
use lastgood::metrics::Metrics;
use lastgood::nta::{NtaSource, NtaStore, NtaView};

use crate::harness::name;

const TOKEN: &str = "t0ken-for-tests";

/// The app side, faked: NTAs in a real store, flushes recorded, reload
/// succeeding or failing on demand, metrics from a real registry.
struct Fake {
    store: NtaStore,
    clock: ManualClock,
    flushes: Mutex<Vec<Flush>>,
    reload_ok: AtomicBool,
    metrics: Metrics,
}

impl Control for Fake {
    fn nta_add(
        &self,
        zone: &Name,
        lifetime: Option<Duration>,
        reason: &str,
    ) -> Result<NtaView, ControlError> {
        let now = self.clock.now();
        let nta = self
            .store
            .add(zone, lifetime, reason, NtaSource::Api, now)?;
        self.metrics.set_ntas_active(self.store.active_count(now));
        Ok(nta.view(now))
    }

    fn nta_remove(&self, zone: &Name) -> Result<bool, ControlError> {
        let removed = self.store.remove(zone)?;
        self.metrics
            .set_ntas_active(self.store.active_count(self.clock.now()));
        Ok(removed)
    }

    fn nta_list(&self) -> Vec<NtaView> {
        self.store.list(self.clock.now())
    }

    fn flush(&self, what: Flush) -> Result<(), ControlError> {
        self.flushes.lock().unwrap().push(what);
        Ok(())
    }

    fn status(&self) -> serde_json::Value {
        serde_json::json!({ "version": "test", "ntas_active": self.store.active_count(self.clock.now()) })
    }

    fn reload(&self) -> Result<(), ControlError> {
        let ok = self.reload_ok.load(Ordering::SeqCst);
        self.metrics.config_reloaded(ok);
        if ok {
            Ok(())
        } else {
            Err(ControlError::Reload(
                "x.toml:3: key `cache-size`: value \"5\" is invalid".into(),
            ))
        }
    }

    fn metrics_text(&self) -> String {
        self.metrics.render()
    }
}

struct Api {
    fake: Arc<Fake>,
    handle: ControlHandle,
    addr: SocketAddr,
}

async fn start(token: Option<&str>) -> Api {
    start_with_store(token, NtaStore::new(None)).await
}

async fn start_with_store(token: Option<&str>, store: NtaStore) -> Api {
    let metrics = Metrics::new().unwrap();
    let fake = Arc::new(Fake {
        store,
        clock: ManualClock::new(),
        flushes: Mutex::new(Vec::new()),
        reload_ok: AtomicBool::new(true),
        metrics: metrics.clone(),
    });
    let mut config = ControlConfig::new("127.0.0.1:0".parse().unwrap());
    config.token = token.map(str::to_owned);
    config.metrics = Some(metrics);
    let target: Arc<dyn Control> = fake.clone();
    let handle = control::serve(config, target).await.unwrap();
    let addr = handle.local_addr();
    Api { fake, handle, addr }
}

/// An HTTP answer: status, headers (lowercase names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

/// One raw HTTP/1.1 exchange (Connection: close), so tests can send
/// anything, including malformed requests.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Answer {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("answer within 10 s")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn every_endpoint_with_the_token() {
    let api = start(Some(TOKEN)).await;
    let t = Some(TOKEN);

    let a = http(
        api.addr,
        "POST",
        "/nta",
        t,
        r#"{"zone": "Lab", "lifetime": "2h", "reason": "KSK roll"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("application/json"));
    let j = a.json();
    assert_eq!(j["zone"], "lab.");
    assert_eq!(j["remaining_secs"], 7200);
    assert_eq!(j["source"], "api");
    assert_eq!(j["reason"], "KSK roll");

    let a = http(api.addr, "POST", "/nta", t, r#"{"zone": "example.org."}"#).await;
    assert_eq!(a.json()["remaining_secs"], 3600, "default lifetime 1h");

    api.fake.clock.advance(Duration::from_secs(600));
    let a = http(api.addr, "GET", "/nta", t, "").await;
    assert_eq!(a.status, 200);
    let ntas = a.json()["ntas"].as_array().unwrap().clone();
    assert_eq!(ntas.len(), 2);
    // Canonical DNS order: by the rightmost label first.
    assert_eq!(ntas[0]["zone"], "lab.");
    assert_eq!(ntas[0]["remaining_secs"], 6600);
    assert_eq!(ntas[1]["zone"], "example.org.");

    let a = http(api.addr, "DELETE", "/nta/LAB.", t, "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        serde_json::json!({"zone": "lab.", "removed": true})
    );
    let a = http(api.addr, "DELETE", "/nta/lab.", t, "").await;
    assert_eq!(a.status, 404);
    assert!(
        a.error().contains("no negative trust anchor for lab."),
        "{}",
        a.body
    );
    assert_eq!(api.fake.store.active_count(api.fake.clock.now()), 1);

    for (body, want) in [
        (r#"{"name": "www.Lab."}"#, Flush::Name(name("www.lab."))),
        (r#"{"zone": "lab"}"#, Flush::Zone(name("lab."))),
        (r#"{"all": true}"#, Flush::All),
    ] {
        let a = http(api.addr, "POST", "/cache/flush", t, body).await;
        assert_eq!(a.status, 200, "{body}: {}", a.body);
        assert_eq!(api.fake.flushes.lock().unwrap().last(), Some(&want));
    }
    assert_eq!(
        http(api.addr, "POST", "/cache/flush", t, r#"{"zone": "lab."}"#)
            .await
            .json(),
        serde_json::json!({"flushed": "zone", "target": "lab."})
    );

    let a = http(api.addr, "GET", "/status", t, "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["ntas_active"], 1);

    let a = http(api.addr, "POST", "/reload", t, "").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json(), serde_json::json!({"reloaded": true}));
    api.fake.reload_ok.store(false, Ordering::SeqCst);
    let a = http(api.addr, "POST", "/reload", t, "").await;
    assert_eq!(a.status, 500);
    assert!(
        a.error().contains("x.toml:3: key `cache-size`"),
        "{}",
        a.body
    );

    let a = http(api.addr, "GET", "/metrics", t, "").await;
    assert_eq!(a.status, 200);
    assert!(
        a.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    assert!(
        a.body.contains("lastgood_config_reloads_total 1\n"),
        "{}",
        a.body
    );
    assert!(a.body.contains("lastgood_config_reload_failures_total 1\n"));
    assert!(a.body.contains("lastgood_ntas_active 1\n"));
    api.handle.shutdown().await;
}

#[tokio::test]
async fn token_required_and_checked() {
    let api = start(Some(TOKEN)).await;
    let requests = [
        ("GET", "/status", ""),
        ("GET", "/nta", ""),
        ("POST", "/nta", r#"{"zone": "lab."}"#),
        ("DELETE", "/nta/lab.", ""),
        ("POST", "/cache/flush", r#"{"all": true}"#),
        ("POST", "/reload", ""),
        ("GET", "/nowhere", ""),
    ];
    for (method, path, body) in requests {
        for token in [None, Some("wrong"), Some("t0ken-for-test"), Some("")] {
            let a = http(api.addr, method, path, token, body).await;
            assert_eq!(a.status, 401, "{method} {path} {token:?}: {}", a.body);
            assert!(a.error().contains("bearer token"), "{}", a.body);
            assert_eq!(
                a.header("www-authenticate"),
                Some("Bearer realm=\"lastgood\"")
            );
        }
    }
    assert!(
        api.fake.store.list(api.fake.clock.now()).is_empty(),
        "nothing added"
    );
    assert!(
        api.fake.flushes.lock().unwrap().is_empty(),
        "nothing flushed"
    );
    // /metrics is open to scrapers.
    assert_eq!(
        http(api.addr, "GET", "/metrics", None, "").await.status,
        200
    );
    // Without a configured token (loopback) no header is needed.
    let open = start(None).await;
    assert_eq!(
        http(open.addr, "GET", "/status", None, "").await.status,
        200
    );
}

#[tokio::test]
async fn non_loopback_without_token_refuses_to_start() {
    let fake = start(None).await.fake;
    let config = ControlConfig::new("0.0.0.0:0".parse().unwrap());
    let err = control::serve(config, fake.clone()).await.unwrap_err();
    assert!(matches!(err, ControlError::TokenRequired { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("0.0.0.0:0"), "{text}");
    assert!(text.contains("without a token"), "{text}");
    assert!(text.contains("control-token-file"), "{text}");
    let mut config = ControlConfig::new("[::]:0".parse().unwrap());
    assert!(control::serve(config.clone(), fake.clone()).await.is_err());
    config.token = Some(" ".into());
    let err = control::serve(config, fake).await.unwrap_err();
    assert!(matches!(err, ControlError::InvalidToken), "{err}");
}

#[tokio::test]
async fn bad_requests_are_400_naming_the_field() {
    let api = start(None).await;
    let cases = [
        ("POST", "/nta", "{", 400, "not valid JSON"),
        ("POST", "/nta", "[]", 400, "must be a JSON object"),
        ("POST", "/nta", "{}", 400, "field `zone` is required"),
        (
            "POST",
            "/nta",
            r#"{"zone": 1}"#,
            400,
            "field `zone`: expected a string",
        ),
        (
            "POST",
            "/nta",
            r#"{"zone": "a..b"}"#,
            400,
            "field `zone`: \"a..b\" is not a valid domain name",
        ),
        ("POST", "/nta", r#"{"zone": "."}"#, 400, "root zone"),
        (
            "POST",
            "/nta",
            r#"{"zone": "lab.", "lifetime": "8d"}"#,
            400,
            "MAX_NTA_LIFETIME",
        ),
        (
            "POST",
            "/nta",
            r#"{"zone": "lab.", "lifetime": "soon"}"#,
            400,
            "field `lifetime`",
        ),
        (
            "POST",
            "/nta",
            r#"{"zone": "lab.", "ttl": "1h"}"#,
            400,
            "field `ttl` is unknown",
        ),
        ("DELETE", "/nta/a..b", "", 400, "field `path`"),
        ("DELETE", "/nta/%zz", "", 400, "percent-encoding"),
        ("POST", "/cache/flush", "{}", 400, "exactly one of"),
        (
            "POST",
            "/cache/flush",
            r#"{"name": "a.", "all": true}"#,
            400,
            "exactly one of",
        ),
        (
            "POST",
            "/cache/flush",
            r#"{"all": 1}"#,
            400,
            "field `all`: expected true",
        ),
        ("GET", "/nope", "", 404, "no such endpoint: GET /nope"),
        ("PUT", "/nta", "", 405, "allowed: GET, POST"),
    ];
    for (method, path, body, status, want) in cases {
        let a = http(api.addr, method, path, None, body).await;
        assert_eq!(a.status, status, "{method} {path} {body}: {}", a.body);
        assert!(
            a.error().contains(want),
            "{method} {path} {body}: {}",
            a.body
        );
    }
    let big = format!(r#"{{"zone": "lab.", "reason": "{}"}}"#, "x".repeat(70_000));
    let a = http(api.addr, "POST", "/nta", None, &big).await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.error().contains("MAX_CONTROL_BODY_BYTES"));
    // Garbage instead of HTTP: the connection is dropped, the server lives on.
    let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    s.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
    assert_eq!(http(api.addr, "GET", "/status", None, "").await.status, 200);
    assert!(api.fake.store.list(api.fake.clock.now()).is_empty());
}

/// Check Prometheus text exposition: `# HELP name text`, `# TYPE name
/// kind`, `name{label="value",...} number`.
fn check_exposition(text: &str) -> Vec<(String, f64)> {
    let metric_name = |s: &str| {
        !s.is_empty()
            && s.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (n, _) = rest.split_once(' ').unwrap();
            assert!(metric_name(n), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (n, kind) = rest.split_once(' ').unwrap();
            assert!(metric_name(n), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
            };
            let n = match series.split_once('{') {
                Some((n, labels)) => {
                    let labels = labels.strip_suffix('}').unwrap();
                    for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                        let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("{line}"));
                        assert!(metric_name(k), "{line}");
                        assert!(!v.contains('\n'), "{line}");
                    }
                    n
                }
                None => series,
            };
            assert!(metric_name(n), "{line}");
            samples.push((series.to_owned(), value));
        }
    }
    samples
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_requests() {
    let api = start(Some(TOKEN)).await;
    http(api.addr, "GET", "/status", Some(TOKEN), "").await;
    http(api.addr, "GET", "/status", Some(TOKEN), "").await;
    http(api.addr, "GET", "/status", None, "").await;
    http(api.addr, "POST", "/nta", Some(TOKEN), "{").await;
    http(api.addr, "GET", "/elsewhere", Some(TOKEN), "").await;
    let a = http(api.addr, "GET", "/metrics", None, "").await;
    assert_eq!(a.status, 200);
    let samples = check_exposition(&a.body);
    let value = |series: &str| {
        samples
            .iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{series} missing in\n{}", a.body))
    };
    assert_eq!(
        value(r#"lastgood_control_requests_total{endpoint="status",status="200"}"#),
        2.0
    );
    assert_eq!(
        value(r#"lastgood_control_requests_total{endpoint="status",status="401"}"#),
        1.0
    );
    assert_eq!(
        value(r#"lastgood_control_requests_total{endpoint="nta_add",status="400"}"#),
        1.0
    );
    assert_eq!(
        value(r#"lastgood_control_requests_total{endpoint="unknown",status="404"}"#),
        1.0
    );
    assert_eq!(value("lastgood_ntas_active"), 0.0);
    assert_eq!(value("lastgood_config_reload_failures_total"), 0.0);
    assert!(
        a.body
            .contains("# TYPE lastgood_control_requests_total counter")
    );
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let api = start(None).await;
    let addr = api.addr;
    assert_eq!(http(addr, "GET", "/status", None, "").await.status, 200);
    api.handle.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

fn token_file() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "lastgood-it-token-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    path
}

fn opts(api: &Api, token_file: Option<PathBuf>) -> ControlOpts {
    ControlOpts {
        control: Some(format!("http://{}", api.addr)),
        token_file,
        config: None,
    }
}

#[tokio::test]
async fn cli_against_the_api() {
    let api = start(Some(TOKEN)).await;
    let file = token_file();
    let control = opts(&api, Some(file.clone()));
    let nta = |command| NtaArgs {
        control: control.clone(),
        command,
    };

    let out = cli::nta(&nta(cli::NtaCommand::Add {
        zone: "lab".into(),
        lifetime: Some("2h".into()),
        reason: Some("KSK roll gone wrong".into()),
    }))
    .await
    .unwrap();
    assert_eq!(
        out,
        "negative trust anchor for lab. added; expires in 2h 0m\n"
    );
    cli::nta(&nta(cli::NtaCommand::Add {
        zone: "example.org.".into(),
        lifetime: None,
        reason: None,
    }))
    .await
    .unwrap();
    api.fake.clock.advance(Duration::from_secs(61));
    let out = cli::nta(&nta(cli::NtaCommand::List)).await.unwrap();
    let want = "\
ZONE          REMAINING  SOURCE  REASON
lab.          1h 58m     api     KSK roll gone wrong
example.org.  58m 59s    api
";
    assert_eq!(out, want);

    let out = cli::nta(&nta(cli::NtaCommand::Remove {
        zone: "lab.".into(),
    }))
    .await
    .unwrap();
    assert_eq!(out, "negative trust anchor for lab. removed\n");
    let err = cli::nta(&nta(cli::NtaCommand::Remove {
        zone: "lab.".into(),
    }))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "control API answered 404 Not Found: no negative trust anchor for lab."
    );
    let err = cli::nta(&nta(cli::NtaCommand::Add {
        zone: "lab.".into(),
        lifetime: Some("30d".into()),
        reason: None,
    }))
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("control API answered 400 Bad Request: lifetime"),
        "{err}"
    );

    let flush = |name: Option<&str>, zone: Option<&str>, all: bool| CacheArgs {
        control: control.clone(),
        command: CacheCommand::Flush(FlushArgs {
            name: name.map(str::to_owned),
            zone: zone.map(str::to_owned),
            all,
        }),
    };
    assert_eq!(
        cli::cache(&flush(Some("www.lab."), None, false))
            .await
            .unwrap(),
        "cache flushed: name www.lab.\n"
    );
    assert_eq!(
        cli::cache(&flush(None, Some("lab."), false)).await.unwrap(),
        "cache flushed: zone lab. and below\n"
    );
    assert_eq!(
        cli::cache(&flush(None, None, true)).await.unwrap(),
        "cache flushed: everything\n"
    );
    assert_eq!(
        *api.fake.flushes.lock().unwrap(),
        [
            Flush::Name(name("www.lab.")),
            Flush::Zone(name("lab.")),
            Flush::All
        ]
    );

    assert_eq!(
        cli::reload(&control).await.unwrap(),
        "configuration reloaded\n"
    );
    api.fake.reload_ok.store(false, Ordering::SeqCst);
    let err = cli::reload(&control).await.unwrap_err().to_string();
    assert!(
        err.contains("500 Internal Server Error: reload failed: x.toml:3"),
        "{err}"
    );
    let out = cli::status(&control).await.unwrap();
    assert!(out.contains("\"ntas_active\": 1"), "{out}");

    // Without the token file: 401, said plainly.
    let err = cli::status(&opts(&api, None))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("control API answered 401 Unauthorized"),
        "{err}"
    );
    std::fs::remove_file(file).unwrap();
}

#[tokio::test]
async fn cli_connection_refused_is_clear() {
    // A port that was just free: nothing listens there.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let opts = ControlOpts {
        control: Some(addr.to_string()),
        ..ControlOpts::default()
    };
    let err = cli::status(&opts).await.unwrap_err();
    assert!(matches!(err, CliError::Connect { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot connect to the control API at {addr}")),
        "{text}"
    );
    assert!(text.contains("lastgood serve"), "{text}");
}

#[tokio::test]
async fn cli_reads_address_and_token_from_the_config() {
    let api = start(Some(TOKEN)).await;
    let file = token_file();
    let config = file.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "control-listen = \"{}\"\ncontrol-token-file = \"{}\"\n",
            api.addr,
            file.display()
        ),
    )
    .unwrap();
    let opts = ControlOpts {
        config: Some(config.clone()),
        ..ControlOpts::default()
    };
    let out = cli::nta(&NtaArgs {
        control: opts,
        command: cli::NtaCommand::List,
    })
    .await
    .unwrap();
    assert_eq!(out, "no negative trust anchors\n");
    std::fs::remove_file(file).unwrap();
    std::fs::remove_file(config).unwrap();
}

#[tokio::test]
async fn ntas_added_through_the_api_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("lastgood-it-nta-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("nta.json");
    let _ = std::fs::remove_file(&state);
    let first = start_with_store(None, NtaStore::new(Some(state.clone()))).await;
    let now = first.fake.clock.now();
    let a = http(
        first.addr,
        "POST",
        "/nta",
        None,
        r#"{"zone": "lab.", "reason": "r"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    first.handle.shutdown().await;

    let store = NtaStore::restore(state.clone(), now).unwrap();
    let second = start_with_store(None, store).await;
    let a = http(second.addr, "GET", "/nta", None, "").await;
    assert_eq!(a.json()["ntas"][0]["zone"], "lab.");
    assert_eq!(a.json()["ntas"][0]["reason"], "r");
    std::fs::remove_dir_all(dir).unwrap();
}
