//! Control API tests: the HTTP server on real sockets (TCP, TLS and the
//! local Unix socket) with a fake [`Control`] target (a real `NtaStore` on
//! a manual clock), the operator CLI functions against it, and the issue 16
//! checks: an unprivileged user refused on the socket and on TCP without
//! the token, cross-origin and foreign-Host requests refused, idle
//! connections unable to stall `/metrics`.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::Name;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use lastgood_resolver::cli::{
    self, CacheArgs, CacheCommand, CliError, ControlOpts, FlushArgs, NtaArgs,
};
use lastgood_resolver::clock::{Clock, ManualClock};
use lastgood_resolver::control::{
    self, Control, ControlConfig, ControlError, ControlHandle, Flush,
};
use lastgood_resolver::metrics::Metrics;
use lastgood_resolver::nta::{NtaSource, NtaStore, NtaView};

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
        force: bool,
    ) -> Result<NtaView, ControlError> {
        let now = self.clock.now();
        let nta = self
            .store
            .add_with(zone, lifetime, reason, NtaSource::Api, force, now)?;
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

    fn flush(&self, what: Flush, _drop_stale: bool) -> Result<(), ControlError> {
        self.flushes.lock().unwrap().push(what);
        Ok(())
    }

    /// Says what it was asked: the route's parsing is under test.
    fn lookup(
        &self,
        name: &Name,
        qtype: hickory_proto::rr::RecordType,
    ) -> Result<serde_json::Value, ControlError> {
        Ok(serde_json::json!({ "name": name.to_string(), "type": qtype.to_string() }))
    }

    fn flush_bogus(&self) -> Result<serde_json::Value, ControlError> {
        self.flushes.lock().unwrap().push(Flush::All);
        Ok(serde_json::json!({ "flushed": "bogus", "cache_entries": 2 }))
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
    if let Some(tcp) = &mut config.tcp {
        tcp.token = token.map(str::to_owned);
    }
    config.metrics = Some(metrics);
    start_config(fake, config).await
}

fn fake() -> Arc<Fake> {
    Arc::new(Fake {
        store: NtaStore::new(None),
        clock: ManualClock::new(),
        flushes: Mutex::new(Vec::new()),
        reload_ok: AtomicBool::new(true),
        metrics: Metrics::new().unwrap(),
    })
}

async fn start_config(fake: Arc<Fake>, config: ControlConfig) -> Api {
    let target: Arc<dyn Control> = fake.clone();
    let handle = control::serve(config, target).await.unwrap();
    let addr = handle
        .local_addr()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 1)));
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
    // As the CLI sends them: JSON on every state-changing request.
    let json = if method == "GET" {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    http_with(
        addr,
        method,
        path,
        token,
        &format!("Host: {addr}\r\n{json}"),
        body,
    )
    .await
}

/// One raw HTTP/1.1 exchange with exactly the `extra` header lines.
async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &str,
    body: &str,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    exchange(stream, &request(method, path, token, extra, body)).await
}

fn request(method: &str, path: &str, token: Option<&str>, extra: &str, body: &str) -> String {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\n{extra}Connection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    req
}

async fn exchange<S>(mut stream: S, req: &str) -> Answer
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
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
        serde_json::json!({"flushed": "zone", "target": "lab.", "drop_stale": false})
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
    // Issue 16: without a token a TCP listener serves /metrics and
    // nothing else, whatever the client sends.
    let open = start(None).await;
    for (method, path, body) in requests {
        for token in [None, Some(TOKEN)] {
            let a = http(open.addr, method, path, token, body).await;
            assert_eq!(a.status, 401, "{method} {path}: {}", a.body);
            assert!(a.error().contains("local control socket"), "{}", a.body);
        }
    }
    assert_eq!(
        http(open.addr, "GET", "/metrics", None, "").await.status,
        200
    );
    assert!(open.fake.store.list(open.fake.clock.now()).is_empty());
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
    config.tcp.as_mut().unwrap().token = Some(" ".into());
    let err = control::serve(config, fake).await.unwrap_err();
    assert!(matches!(err, ControlError::InvalidToken), "{err}");
}

#[tokio::test]
async fn bad_requests_are_400_naming_the_field() {
    let api = start(Some(TOKEN)).await;
    let t = Some(TOKEN);
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
        let a = http(api.addr, method, path, t, body).await;
        assert_eq!(a.status, status, "{method} {path} {body}: {}", a.body);
        assert!(
            a.error().contains(want),
            "{method} {path} {body}: {}",
            a.body
        );
    }
    let big = format!(r#"{{"zone": "lab.", "reason": "{}"}}"#, "x".repeat(70_000));
    let a = http(api.addr, "POST", "/nta", t, &big).await;
    assert_eq!(a.status, 413, "{}", a.body);
    assert!(a.error().contains("MAX_CONTROL_BODY_BYTES"));
    // Garbage instead of HTTP: the connection is dropped, the server lives on.
    let mut s = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    s.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await;
    assert_eq!(http(api.addr, "GET", "/status", t, "").await.status, 200);
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
    let api = start(Some(TOKEN)).await;
    let addr = api.addr;
    assert_eq!(
        http(addr, "GET", "/status", Some(TOKEN), "").await.status,
        200
    );
    api.handle.shutdown().await;
    // Nothing of ours answers there any more. (Under a loaded parallel
    // test run another test may have been given the freed port: then it
    // must not be this API answering.)
    if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
        let req = request(
            "GET",
            "/status",
            Some(TOKEN),
            &format!("Host: {addr}\r\n"),
            "",
        );
        let _ = s.write_all(req.as_bytes()).await;
        let mut raw = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut raw)).await;
        let text = String::from_utf8_lossy(&raw);
        assert!(
            !text.contains("\"version\":\"test\""),
            "still answering: {text}"
        );
    }
}

fn token_file() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "lastgood-it-token-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn opts(api: &Api, token_file: Option<PathBuf>) -> ControlOpts {
    ControlOpts {
        control: Some(format!("http://{}", api.addr)),
        token_file,
        ..ControlOpts::default()
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
        force: false,
    }))
    .await
    .unwrap();
    assert_eq!(
        out,
        "negative trust anchor for lab. added; expires in 2h 0m\n"
    );
    let out = cli::nta(&nta(cli::NtaCommand::Add {
        zone: "example.org.".into(),
        lifetime: None,
        reason: None,
        force: true,
    }))
    .await
    .unwrap();
    assert!(
        out.ends_with("(forced: the recheck does not lift it)\n"),
        "{out}"
    );
    api.fake.clock.advance(Duration::from_secs(61));
    let out = cli::nta(&nta(cli::NtaCommand::List)).await.unwrap();
    let want = "\
ZONE          REMAINING  SOURCE  FORCE  REASON
lab.          1h 58m     api     no     KSK roll gone wrong
example.org.  58m 59s    api     yes
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
        force: false,
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
            drop_stale: false,
            fleet: false,
            bogus: false,
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
            "control-socket = \"\"\ncontrol-listen = \"{}\"\ncontrol-token-file = \"{}\"\n",
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
    let first = start_with_store(Some(TOKEN), NtaStore::new(Some(state.clone()))).await;
    let now = first.fake.clock.now();
    let a = http(
        first.addr,
        "POST",
        "/nta",
        Some(TOKEN),
        r#"{"zone": "lab.", "reason": "r"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    first.handle.shutdown().await;

    let store = NtaStore::restore(state.clone(), now).unwrap();
    let second = start_with_store(Some(TOKEN), store).await;
    let a = http(second.addr, "GET", "/nta", Some(TOKEN), "").await;
    assert_eq!(a.json()["ntas"][0]["zone"], "lab.");
    assert_eq!(a.json()["ntas"][0]["reason"], "r");
    std::fs::remove_dir_all(dir).unwrap();
}

// --- issue 16: only the operator can use the control plane -------------

/// A directory others can traverse, so only the socket's own mode guards
/// it.
fn open_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "lastgood-it-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// The socket and a TCP listener with the token, over a fresh fake.
async fn start_both(tag: &str) -> (Api, PathBuf) {
    let sock = open_dir(tag).join("control.sock");
    let mut config = ControlConfig::new("127.0.0.1:0".parse().unwrap());
    config.tcp.as_mut().unwrap().token = Some(TOKEN.to_owned());
    config.socket = ControlConfig::socket(sock.clone()).socket;
    let fake = fake();
    config.metrics = Some(fake.metrics.clone());
    let api = start_config(fake, config).await;
    (api, sock)
}

/// Run the `lastgood` binary as `nobody` (uid and gid 65534, no
/// supplementary groups); (exit status success, stderr).
async fn as_nobody(args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_lastgood"))
        .args(args)
        .uid(65534)
        .gid(65534)
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const STATE_CHANGING: [&[&str]; 5] = [
    &["nta", "add", "lab.", "--lifetime", "7d"],
    &["nta", "remove", "lab."],
    &["cache", "flush", "--all"],
    &["cache", "flush", "--zone", "lab."],
    &["reload"],
];

#[tokio::test]
async fn issue16_unprivileged_user_is_refused_on_the_socket_and_tcp() {
    // Runs lastgood as nobody, which needs root (as CI runs).
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: switching to uid 65534 needs root");
        return;
    }
    let (api, sock) = start_both("nobody").await;
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 0);
    let unix = format!("unix:{}", sock.display());
    let tcp = api.addr.to_string();
    for command in STATE_CHANGING {
        let on = |control: &str| {
            let mut args = command.to_vec();
            args.extend(["--control", control]);
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        };
        let args = on(&unix);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, err) = as_nobody(&args).await;
        assert!(!ok, "{args:?} succeeded as nobody");
        assert!(err.contains("Permission denied"), "{args:?}: {err}");
        let args = on(&tcp);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, err) = as_nobody(&args).await;
        assert!(!ok, "{args:?} succeeded as nobody");
        assert!(err.contains("401 Unauthorized"), "{args:?}: {err}");
    }
    let now = api.fake.clock.now();
    assert!(api.fake.store.list(now).is_empty(), "nothing added");
    assert!(
        api.fake.flushes.lock().unwrap().is_empty(),
        "nothing flushed"
    );

    // A loosened socket mode does not let another uid in either.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (ok, err) = as_nobody(&["nta", "add", "lab.", "--control", &unix]).await;
    assert!(!ok);
    assert!(
        err.contains("403 Forbidden: uid 65534 may not use the control socket"),
        "{err}"
    );
    assert!(api.fake.store.list(now).is_empty());

    // The operator (root here) uses the socket with no flag but the path.
    let out = cli::nta(&NtaArgs {
        control: ControlOpts {
            control: Some(unix.clone()),
            ..ControlOpts::default()
        },
        command: cli::NtaCommand::Add {
            zone: "lab.".into(),
            lifetime: None,
            reason: None,
            force: false,
        },
    })
    .await
    .unwrap();
    assert!(
        out.starts_with("negative trust anchor for lab. added"),
        "{out}"
    );
    api.handle.shutdown().await;
    assert!(!sock.exists(), "the socket is removed at shutdown");
    let _ = std::fs::remove_dir_all(sock.parent().unwrap());
}

#[tokio::test]
async fn issue16_cross_origin_and_foreign_host_requests_are_refused() {
    let (api, sock) = start_both("origin").await;
    let addr = api.addr;
    let body = r#"{"zone": "lab.", "lifetime": "7d"}"#;
    let json = "Content-Type: application/json\r\n";
    let cases = [
        // A page on another site posting with fetch() or a form.
        (
            format!("Host: {addr}\r\nOrigin: http://evil.example\r\n{json}"),
            403,
            "Origin \"http://evil.example\"",
        ),
        (
            format!("Host: {addr}\r\nOrigin: null\r\nContent-Type: text/plain\r\n"),
            415,
            "application/json",
        ),
        (
            format!("Host: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n"),
            415,
            "application/json",
        ),
        (format!("Host: {addr}\r\n"), 415, "application/json"),
        // DNS rebinding: the page's own name resolving to 127.0.0.1.
        (
            format!("Host: rebind.evil.example:{}\r\n{json}", addr.port()),
            403,
            "Host \"rebind.evil.example",
        ),
        (json.to_owned(), 403, "Host \"\""),
    ];
    for (extra, status, want) in &cases {
        let a = http_with(addr, "POST", "/nta", Some(TOKEN), extra, body).await;
        assert_eq!(a.status, *status, "{extra:?}: {}", a.body);
        assert!(a.error().contains(want), "{extra:?}: {}", a.body);
        let a = http_with(addr, "POST", "/reload", Some(TOKEN), extra, "").await;
        assert_eq!(a.status, *status, "{extra:?}: {}", a.body);
    }
    // The same on the local socket (no Host check there: no browser
    // reaches it, but the content type and Origin rules hold).
    for (extra, status) in [
        (
            "Host: localhost\r\nOrigin: http://evil.example\r\nContent-Type: application/json\r\n",
            403,
        ),
        ("Host: localhost\r\nContent-Type: text/plain\r\n", 415),
    ] {
        let s = tokio::net::UnixStream::connect(&sock).await.unwrap();
        let a = exchange(s, &request("POST", "/nta", None, extra, body)).await;
        assert_eq!(a.status, status, "{extra:?}: {}", a.body);
    }
    let now = api.fake.clock.now();
    assert!(api.fake.store.list(now).is_empty(), "nothing added");
    // The right request works, by address and by `localhost`.
    for host in [addr.to_string(), format!("localhost:{}", addr.port())] {
        let extra = format!("Host: {host}\r\n{json}");
        let a = http_with(addr, "POST", "/nta", Some(TOKEN), &extra, body).await;
        assert_eq!(a.status, 200, "{host}: {}", a.body);
    }
    // /metrics stays a plain GET for scrapers, whatever the Host.
    let a = http_with(
        addr,
        "GET",
        "/metrics",
        None,
        "Host: prometheus:9090\r\n",
        "",
    )
    .await;
    assert_eq!(a.status, 200);

    // An explicitly allowed origin may post.
    let mut config = ControlConfig::new("127.0.0.1:0".parse().unwrap());
    config.tcp.as_mut().unwrap().token = Some(TOKEN.to_owned());
    config.allow_origins = vec!["https://ops.example".into()];
    let ops = start_config(fake(), config).await;
    let extra = format!(
        "Host: {}\r\nOrigin: https://ops.example\r\n{json}",
        ops.addr
    );
    let a = http_with(ops.addr, "POST", "/nta", Some(TOKEN), &extra, body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let _ = std::fs::remove_dir_all(sock.parent().unwrap());
}

/// Issue 16: 100 idle connections cannot stall the API: each past the
/// per-peer cap closes the oldest idle one, so `/metrics` is answered at
/// once. The latency is printed (run with --nocapture), not asserted.
#[tokio::test]
async fn issue16_idle_connections_do_not_stall_metrics() {
    let (api, sock) = start_both("idle").await;
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(tokio::net::TcpStream::connect(api.addr).await.unwrap());
    }
    let started = std::time::Instant::now();
    let a = http(api.addr, "GET", "/metrics", None, "").await;
    let tcp_took = started.elapsed();
    assert_eq!(a.status, 200);
    assert!(
        a.body
            .contains("lastgood_limit_hits_total{limit=\"MAX_CONTROL_CONNECTIONS_PER_PEER\"}"),
        "{}",
        a.body
    );
    let a = http(api.addr, "GET", "/status", Some(TOKEN), "").await;
    assert_eq!(a.status, 200);

    let mut idle_unix = Vec::new();
    for _ in 0..100 {
        idle_unix.push(tokio::net::UnixStream::connect(&sock).await.unwrap());
    }
    let started = std::time::Instant::now();
    let s = tokio::net::UnixStream::connect(&sock).await.unwrap();
    let a = exchange(
        s,
        &request("GET", "/metrics", None, "Host: localhost\r\n", ""),
    )
    .await;
    let unix_took = started.elapsed();
    assert_eq!(a.status, 200);
    eprintln!(
        "issue16: GET /metrics with 100 idle control connections open: \
         TCP {tcp_took:?}, Unix socket {unix_took:?}"
    );
    drop((idle, idle_unix));
    let _ = std::fs::remove_dir_all(sock.parent().unwrap());
}

#[tokio::test]
async fn issue16_tls_control_and_the_cli_over_https() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/control-tls");
    let (cert, key) = (fixtures.join("cert.pem"), fixtures.join("key.pem"));
    let mut config = ControlConfig::new("127.0.0.1:0".parse().unwrap());
    let tcp = config.tcp.as_mut().unwrap();
    tcp.token = Some(TOKEN.to_owned());
    tcp.tls = Some(control::tls::server_config(&cert, &key).unwrap());
    let api = start_config(fake(), config).await;
    let file = token_file();
    let opts = ControlOpts {
        control: Some(format!("https://{}", api.addr)),
        token_file: Some(file.clone()),
        tls_ca: Some(cert.clone()),
        config: None,
    };
    let nta = |command| NtaArgs {
        control: opts.clone(),
        command,
    };
    let out = cli::nta(&nta(cli::NtaCommand::Add {
        zone: "lab.".into(),
        lifetime: None,
        reason: Some("over TLS".into()),
        force: false,
    }))
    .await
    .unwrap();
    assert!(
        out.starts_with("negative trust anchor for lab. added"),
        "{out}"
    );
    assert!(
        cli::nta(&nta(cli::NtaCommand::List))
            .await
            .unwrap()
            .contains("over TLS")
    );
    // https:// needs a CA (or the server's certificate) to trust.
    let err = cli::status(&ControlOpts {
        tls_ca: None,
        ..opts.clone()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, CliError::NoTlsCa { .. }), "{err}");
    // Plain HTTP to the TLS port gets no answer.
    let err = cli::status(&ControlOpts {
        control: Some(format!("http://{}", api.addr)),
        ..opts.clone()
    })
    .await
    .unwrap_err();
    assert!(!matches!(err, CliError::Api { .. }), "{err}");
    // By name: `localhost` is in the certificate and names the listener.
    let out = cli::status(&ControlOpts {
        control: Some(format!("https://localhost:{}", api.addr.port())),
        ..opts.clone()
    })
    .await;
    assert!(out.is_ok(), "{out:?}");
    std::fs::remove_file(file).unwrap();
}

/// Issue 19: `GET /lookup?name=&type=` (read-only, but the token is
/// needed: it shows what clients asked) and `{"bogus": true}` flushes,
/// with their bad requests.
#[tokio::test]
async fn issue19_lookup_and_flush_bogus_routes() {
    let api = start(Some(TOKEN)).await;
    let t = Some(TOKEN);
    let a = http(api.addr, "GET", "/lookup?name=WWW.Lab&type=aaaa", t, "").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        serde_json::json!({"name": "www.lab.", "type": "AAAA"})
    );
    let a = http(api.addr, "GET", "/lookup?name=a%2Eb.", t, "").await;
    assert_eq!(a.json()["type"], "A", "default type");
    assert_eq!(a.json()["name"], "a.b.");
    assert_eq!(
        http(api.addr, "GET", "/lookup?name=a.", None, "")
            .await
            .status,
        401
    );
    for (path, status, want) in [
        ("/lookup", 400, "field `name` is required"),
        ("/lookup?name=a.&type=NOPE", 400, "field `type`: \"NOPE\""),
        ("/lookup?name=a..b", 400, "field `name`"),
        ("/lookup?name=a.&class=CH", 400, "field `class` is unknown"),
        ("/lookup?name=%zz", 400, "bad percent-encoding"),
    ] {
        let a = http(api.addr, "GET", path, t, "").await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert!(a.error().contains(want), "{path}: {}", a.error());
    }
    assert_eq!(
        http(api.addr, "POST", "/lookup?name=a.", t, "{}")
            .await
            .status,
        405
    );

    let a = http(api.addr, "POST", "/cache/flush", t, r#"{"bogus": true}"#).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["flushed"], "bogus");
    assert_eq!(api.fake.flushes.lock().unwrap().len(), 1);
    for body in [
        r#"{"bogus": true, "all": true}"#,
        r#"{"bogus": true, "drop_stale": true}"#,
        r#"{"bogus": true, "fleet": true}"#,
    ] {
        let a = http(api.addr, "POST", "/cache/flush", t, body).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert!(a.error().contains("`\"bogus\": true`"), "{}", a.error());
    }
    let a = http(
        api.addr,
        "POST",
        "/cache/flush",
        t,
        r#"{"bogus": false, "all": true}"#,
    )
    .await;
    assert_eq!(a.status, 200, "bogus false is a plain flush: {}", a.body);
    assert_eq!(api.fake.flushes.lock().unwrap().len(), 2);
}
