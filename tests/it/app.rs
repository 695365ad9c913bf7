//! The whole app as an operator runs it: config file, DNS, control API,
//! `/metrics`, the `lastgood nta` CLI path, reload that keeps the running
//! configuration when the new one is broken, and the token rules.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use lastgood_lab::{Fault, Lab};
use lastgood_resolver::app::{App, AppOptions, Overrides};
use lastgood_resolver::cli::{ControlOpts, NtaArgs, NtaCommand};
use lastgood_resolver::clock::{Clock, ManualClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Flags, ede_codes, name, query, served_lab, temp_dir};

struct Running {
    lab: Lab,
    app: App,
    clock: ManualClock,
    dir: PathBuf,
    config: PathBuf,
}

fn base_config(dir: &Path, lab: &Lab) -> String {
    format!(
        r#"listen = ["127.0.0.1:0"]
root-hints = "{hints}"
trust-anchor = "{anchor}"
upstream-port = {port}
control-listen = "127.0.0.1:0"
control-socket = "{socket}"
nta-state-file = "{state}"
"#,
        socket = dir.join("control.sock").display(),
        hints = dir.join("root.hints").display(),
        anchor = dir.join("root.key").display(),
        port = lab.port(),
        state = dir.join("nta.json").display(),
    )
}

/// A lab hierarchy and a directory holding its root hints and trust anchor.
async fn lab_dir(tag: &str) -> (Lab, PathBuf) {
    let lab = served_lab().await;
    let dir = temp_dir(tag);
    std::fs::write(dir.join("root.hints"), lab.root_hints()).unwrap();
    std::fs::write(dir.join("root.key"), lab.trust_anchor()).unwrap();
    (lab, dir)
}

async fn start(tag: &str, extra: &str) -> Running {
    start_with(tag, |base| format!("{base}{extra}"), |_| {}).await
}

/// Start with the configuration `edit(base)` after `prepare(dir)`.
async fn start_with(
    tag: &str,
    edit: impl FnOnce(String) -> String,
    prepare: impl FnOnce(&Path),
) -> Running {
    let (lab, dir) = lab_dir(tag).await;
    let config = dir.join("lastgood.toml");
    std::fs::write(&config, edit(base_config(&dir, &lab))).unwrap();
    prepare(&dir);
    let clock = ManualClock::new();
    let options = AppOptions {
        config_path: Some(config.clone()),
        overrides: Overrides::default(),
    };
    let app = App::start(options, Arc::new(clock.clone())).await.unwrap();
    Running {
        lab,
        app,
        clock,
        dir,
        config,
    }
}

/// One HTTP/1.1 request; returns (status, body).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    exchange(s, &addr.to_string(), method, path, token, body).await
}

/// One HTTP/1.1 request over the local control socket.
async fn http_unix(socket: &Path, method: &str, path: &str, body: &str) -> (u16, String) {
    let s = tokio::net::UnixStream::connect(socket).await.unwrap();
    exchange(s, "localhost", method, path, None, body).await
}

async fn exchange<S>(
    mut s: S,
    host: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Value of one sample line `name{labels} value` in Prometheus text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

fn assert_prometheus_text(text: &str) {
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            assert!(
                rest.starts_with("HELP ") || rest.starts_with("TYPE "),
                "bad comment: {line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(
            value.parse::<f64>().is_ok() || value == "+Inf",
            "bad value: {line}"
        );
        let metric = series.split('{').next().unwrap();
        assert!(
            !metric.is_empty()
                && metric
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line}"
        );
        assert!(
            series.contains('{') == series.ends_with('}'),
            "bad labels: {line}"
        );
    }
}

#[tokio::test]
async fn metrics_move_for_every_tier_and_nta_cli_works() {
    let r = start("metrics", "").await;
    let dns = r.app.dns_addrs()[0];
    // fresh
    let a = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert!(a.metadata.authentic_data);
    // nta, through the CLI code path and the control API
    let args = NtaArgs {
        // The local socket, as an operator on the host uses it.
        control: ControlOpts {
            control: Some(format!(
                "unix:{}",
                r.app.control_socket().unwrap().display()
            )),
            ..ControlOpts::default()
        },
        command: NtaCommand::Add {
            zone: "insecure.lab.".into(),
            lifetime: Some("2h".into()),
            reason: Some("test".into()),
            force: false,
        },
    };
    lastgood_resolver::cli::nta(&args).await.unwrap();
    let list = NtaArgs {
        control: args.control.clone(),
        command: NtaCommand::List,
    };
    assert!(
        lastgood_resolver::cli::nta(&list)
            .await
            .unwrap()
            .contains("insecure.lab.")
    );
    let a = query(dns, "www.insecure.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    // stale, then servfail for a never-cached name in the failing zone
    r.lab
        .set_fault(&name("example.lab."), Fault::ServFail)
        .unwrap();
    r.clock.advance(Duration::from_secs(3601));
    let a = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(ede_codes(&a).first(), Some(&3));
    let a = query(dns, "host2.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(a.metadata.response_code, ResponseCode::ServFail);

    let (status, text) = http(r.app.control_addr().unwrap(), "GET", "/metrics", None, "").await;
    assert_eq!(status, 200);
    assert_prometheus_text(&text);
    for tier in ["fresh", "stale", "nta"] {
        let series = format!("lastgood_queries_total{{rcode=\"NOERROR\",tier=\"{tier}\"}}");
        assert!(
            sample(&text, &series) >= 1.0,
            "{series} did not move:\n{text}"
        );
    }
    assert!(
        sample(
            &text,
            "lastgood_queries_total{rcode=\"SERVFAIL\",tier=\"servfail\"}"
        ) >= 1.0
    );
    assert_eq!(sample(&text, "lastgood_ntas_active"), 1.0);
    assert!(sample(&text, "lastgood_cache_entries") >= 1.0);
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test]
async fn broken_reload_keeps_the_running_config() {
    let r = start("reload", "").await;
    let dns = r.app.dns_addrs()[0];
    let good = std::fs::read_to_string(&r.config).unwrap();
    std::fs::write(&r.config, format!("{good}serve-stale = \"perhaps\"\n")).unwrap();
    let err = r.app.reload().unwrap_err().to_string();
    assert!(err.contains("lastgood.toml:"), "names file and line: {err}");
    // Through the API too: refused with the message, counted.
    let socket = r.app.control_socket().unwrap();
    let (status, body) = http_unix(socket, "POST", "/reload", "").await;
    assert_eq!(status, 500, "{body}");
    let text = r.app.metrics().render();
    assert_eq!(sample(&text, "lastgood_config_reload_failures_total"), 2.0);
    // Still serving with the old configuration.
    let a = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert!(a.metadata.authentic_data);
    assert!(r.app.resolver().config().stale.enabled);
    // A broken trust anchor file is refused the same way.
    std::fs::write(&r.config, &good).unwrap();
    std::fs::write(r.dir.join("root.key"), ". IN DS 1 2 3 zz").unwrap();
    assert!(r.app.reload().is_err());
    std::fs::write(r.dir.join("root.key"), r.lab.trust_anchor()).unwrap();
    // A valid reload applies.
    std::fs::write(&r.config, format!("{good}serve-stale = false\n")).unwrap();
    r.app.reload().unwrap();
    assert!(!r.app.resolver().config().stale.enabled);
    assert_eq!(
        sample(&r.app.metrics().render(), "lastgood_config_reloads_total"),
        1.0
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test]
async fn control_api_needs_the_token() {
    let dir = temp_dir("token");
    std::fs::write(dir.join("token"), "s3cret\n").unwrap();
    std::fs::set_permissions(dir.join("token"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let extra = format!("control-token-file = \"{}\"\n", dir.join("token").display());
    let r = start("token", &extra).await;
    let addr = r.app.control_addr().unwrap();
    let (status, _) = http(addr, "GET", "/nta", None, "").await;
    assert_eq!(status, 401);
    let (status, _) = http(addr, "GET", "/nta", Some("wrong"), "").await;
    assert_eq!(status, 401);
    let (status, _) = http(addr, "GET", "/nta", Some("s3cret"), "").await;
    assert_eq!(status, 200);
    // Issue 16: a token file readable by others is refused at reload,
    // naming the file, and the running configuration stays.
    std::fs::set_permissions(dir.join("token"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = r.app.reload().unwrap_err().to_string();
    assert!(
        err.contains(&dir.join("token").display().to_string()),
        "{err}"
    );
    assert!(err.contains("mode 0644"), "{err}");
    let (status, _) = http(addr, "GET", "/nta", Some("s3cret"), "").await;
    assert_eq!(status, 200);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&r.dir);
}

#[tokio::test]
async fn non_loopback_control_without_token_refuses_to_start() {
    let (lab, dir) = lab_dir("open").await;
    let config = dir.join("lastgood.toml");
    let text = base_config(&dir, &lab).replace(
        "control-listen = \"127.0.0.1:0\"",
        "control-listen = \"0.0.0.0:0\"",
    );
    std::fs::write(&config, text).unwrap();
    let options = AppOptions {
        config_path: Some(config),
        overrides: Overrides::default(),
    };
    let err = match App::start(options, Arc::new(ManualClock::new())).await {
        Ok(_) => panic!("started without a token on 0.0.0.0"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("control-token-file"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

// --- issue 16: start-up fails stale on a bad NTA state file -------------

/// One state-file entry valid for an hour from now.
fn entry(zone: &str, extra: &str) -> String {
    let now = lastgood_resolver::clock::SystemClock.now().as_millis();
    format!(
        "    {{\"zone\": \"{zone}\", \"reason\": \"kept\", \"source\": \"api\", \"added_at_ms\": {}, \"expires_at_ms\": {}{extra}}}",
        now - 1000,
        now + 3_600_000
    )
}

fn state_file(entries: &[String]) -> String {
    format!(
        "{{\n  \"version\": 1,\n  \"ntas\": [\n{}\n  ]\n}}\n",
        entries.join(",\n")
    )
}

/// The bad state-file cases of issue 16: (name, contents, NTAs kept).
fn bad_state_files() -> Vec<(&'static str, Vec<u8>, Vec<&'static str>)> {
    let good = state_file(&[entry("insecure.lab.", ""), entry("other.example.", "")]);
    vec![
        ("empty", Vec::new(), vec![]),
        (
            "truncated",
            good.as_bytes()[..good.len() / 2].to_vec(),
            vec![],
        ),
        (
            "binary",
            vec![0x7f, b'E', b'L', b'F', 0xff, 0, 0, 1],
            vec![],
        ),
        (
            "one bad entry among good",
            state_file(&[
                entry("insecure.lab.", ""),
                entry("a..b", ""),
                entry("other.example.", ""),
            ])
            .into_bytes(),
            vec!["insecure.lab.", "other.example."],
        ),
        (
            "unknown field",
            state_file(&[
                entry("insecure.lab.", ""),
                entry("other.example.", ", \"colour\": \"red\""),
            ])
            .into_bytes(),
            vec!["insecure.lab."],
        ),
    ]
}

fn nta_zones(r: &Running) -> Vec<String> {
    let mut zones: Vec<String> = r
        .app
        .resolver()
        .ntas()
        .list(r.clock.now())
        .iter()
        .map(|v| v.zone.to_string())
        .collect();
    zones.sort();
    zones
}

#[tokio::test]
async fn issue16_bad_nta_state_file_starts_serves_and_keeps_good_ntas() {
    for (case, bytes, kept) in bad_state_files() {
        let contents = bytes.clone();
        let r = start_with(
            "badstate",
            |base| base,
            move |dir| std::fs::write(dir.join("nta.json"), &contents).unwrap(),
        )
        .await;
        // Serves, validated.
        let dns = r.app.dns_addrs()[0];
        let a = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
        assert_eq!(a.metadata.response_code, ResponseCode::NoError, "{case}");
        assert!(a.metadata.authentic_data, "{case}");
        // Keeps what parsed.
        let mut want: Vec<String> = kept.iter().map(|z| z.to_string()).collect();
        want.sort();
        assert_eq!(nta_zones(&r), want, "{case}");
        // The bad file is kept aside, byte for byte.
        let aside: Vec<PathBuf> = std::fs::read_dir(&r.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("nta.json.bad-"))
            .collect();
        assert_eq!(aside.len(), 1, "{case}: {aside:?}");
        assert_eq!(std::fs::read(&aside[0]).unwrap(), bytes, "{case}");
        // Counted.
        let text = r.app.metrics().render();
        assert!(
            sample(&text, "lastgood_state_file_errors_total{file=\"nta\"}") >= 1.0,
            "{case}"
        );
        // And the good entries were written back.
        let again =
            lastgood_resolver::nta::NtaStore::restore(r.dir.join("nta.json"), r.clock.now())
                .unwrap();
        assert_eq!(again.list(r.clock.now()).len(), kept.len(), "{case}");
        let _ = std::fs::remove_dir_all(&r.dir);
    }
}

#[tokio::test]
async fn issue16_missing_state_dir_keeps_ntas_in_memory() {
    let r = start_with(
        "nostate",
        |base| {
            let missing = base
                .lines()
                .find(|l| l.starts_with("nta-state-file"))
                .unwrap()
                .replace("nta.json", "missing/nta.json");
            base.lines()
                .filter(|l| !l.starts_with("nta-state-file"))
                .chain([missing.as_str()])
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        },
        |_| {},
    )
    .await;
    let dns = r.app.dns_addrs()[0];
    let a = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert!(a.metadata.authentic_data);
    let socket = r.app.control_socket().unwrap();
    let (status, body) = http_unix(
        socket,
        "POST",
        "/nta",
        r#"{"zone": "insecure.lab.", "reason": "r"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(nta_zones(&r), ["insecure.lab."]);
    let (_, status) = http_unix(socket, "GET", "/status", "").await;
    assert!(status.contains("\"ntas_persisted\":false"), "{status}");
    let text = r.app.metrics().render();
    assert!(sample(&text, "lastgood_state_file_errors_total{file=\"nta\"}") >= 1.0);
    // Retried on each change: once the directory exists, NTAs are written.
    std::fs::create_dir(r.dir.join("missing")).unwrap();
    let (status, _) = http_unix(socket, "DELETE", "/nta/insecure.lab.", "").await;
    assert_eq!(status, 200);
    assert!(r.dir.join("missing/nta.json").exists());
    let (_, status) = http_unix(socket, "GET", "/status", "").await;
    assert!(status.contains("\"ntas_persisted\":true"), "{status}");
    let _ = std::fs::remove_dir_all(&r.dir);
}

/// A read-only state directory (the resolver runs as `nobody`; the
/// directory is root's, mode 0555): the resolver starts and serves, keeps
/// the good NTAs in memory, and leaves the file where it is (it cannot be
/// moved aside, so nothing is lost).
#[tokio::test]
async fn issue16_read_only_state_dir_starts_and_serves() {
    // Runs lastgood as nobody, which needs root (as CI runs).
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: switching to uid 65534 needs root");
        return;
    }
    let (lab, dir) = lab_dir("rostate").await;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    let contents = state_file(&[entry("insecure.lab.", ""), entry("a..b", "")]);
    std::fs::write(state.join("nta.json"), &contents).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o555)).unwrap();
    let run = dir.join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = run.join("control.sock");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("lastgood.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\nroot-hints = \"{}\"\ntrust-anchor = \"{}\"\n\
             upstream-port = {}\ncontrol-listen = \"\"\ncontrol-socket = \"{}\"\nstate-dir = \"{}\"\n",
            dir.join("root.hints").display(),
            dir.join("root.key").display(),
            lab.port(),
            socket.display(),
            state.display(),
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lastgood"))
        .args(["serve", "--config"])
        .arg(&config)
        .uid(65534)
        .gid(65534)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Ready once the control socket answers (bounded poll).
    let mut ready = false;
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(&socket).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "lastgood serve did not come up");
    let dns: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let a = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert!(a.metadata.authentic_data);
    let (status, body) = http_unix(&socket, "GET", "/nta", "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("insecure.lab."), "{body}");
    assert!(!body.contains("a..b"), "{body}");
    // A change is accepted, in memory.
    let (status, body) = http_unix(&socket, "POST", "/nta", r#"{"zone": "other.example."}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        std::fs::read_to_string(state.join("nta.json")).unwrap(),
        contents,
        "the file is left as it was"
    );
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("line 5: entry \"a..b\""), "{log}");
    assert!(log.contains("could not be moved aside"), "{log}");
    assert!(log.contains("in memory only"), "{log}");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

// --- issue 16: check-config is the same check as start -----------------

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// `lastgood ARGS` in `dir`, killed after 30 s if still running;
/// (exit success, stderr).
async fn lastgood_in(dir: &Path, args: &[&str]) -> (bool, String) {
    let (ok, _, stderr) = lastgood_out_in(dir, args).await;
    (ok, stderr)
}

fn error_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("lastgood: error: "))
        .unwrap_or_else(|| panic!("no error line in:\n{stderr}"))
        .to_owned()
}

/// Every configuration in tests/bad-configs is refused by `serve` and by
/// `check-config` with the same message, naming what `NAME.err` says;
/// those in tests/bad-configs/warn pass `check-config` with a warning.
#[tokio::test]
async fn check_config_refuses_what_serve_refuses() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-configs");
    let dir = temp_dir("badconfigs");
    copy_dir(&src, &dir);
    let mode = |p: &str, m: u32| {
        std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode("empty.token", 0o600);
    mode("open.token", 0o644);
    mode("state/control.token", 0o664);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 15, "{names:?}");
    // Every run at once (each is a process of its own that reads its
    // file and exits), checked in order below.
    let runs: Vec<_> = names
        .iter()
        .map(|name| {
            let (dir, file) = (dir.clone(), format!("{name}.toml"));
            tokio::spawn(async move {
                let (check, serve) = (["check-config", &file], ["serve", "--config", &file]);
                tokio::join!(lastgood_in(&dir, &check), lastgood_in(&dir, &serve))
            })
        })
        .collect();
    for (name, run) in names.iter().zip(runs) {
        let file = format!("{name}.toml");
        let want = std::fs::read_to_string(dir.join(format!("{name}.err"))).unwrap();
        let want = want.trim();
        let ((ok, check), (serve_ok, serve)) = run.await.unwrap();
        assert!(!ok, "check-config accepted {file}");
        assert!(!serve_ok, "serve accepted {file}");
        let (check, serve) = (error_line(&check), error_line(&serve));
        assert_eq!(check, serve, "{file}: check-config and serve differ");
        assert!(check.contains(want), "{file}: {check}\nwant: {want}");
    }
    let warn = dir.join("warn");
    let mut names: Vec<String> = std::fs::read_dir(&warn)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".toml").map(str::to_owned)
        })
        .collect();
    names.sort();
    let runs: Vec<_> = names
        .iter()
        .map(|name| {
            let (warn, file) = (warn.clone(), format!("{name}.toml"));
            tokio::spawn(async move { lastgood_in(&warn, &["check-config", &file]).await })
        })
        .collect();
    for (name, run) in names.iter().zip(runs) {
        let file = format!("{name}.toml");
        let want = std::fs::read_to_string(warn.join(format!("{name}.warn"))).unwrap();
        let (ok, check) = run.await.unwrap();
        assert!(ok, "check-config refused {file}: {check}");
        assert!(
            check
                .lines()
                .any(|l| l.starts_with("lastgood: warning: ") && l.contains(want.trim())),
            "{file}: {check}\nwant: {want}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 16: `refused-clients = "drop"` sends nothing to a client the ACL
/// refuses (UDP and TCP), where the default answers REFUSED.
#[tokio::test]
async fn refused_clients_can_be_dropped() {
    let allow = "allow = [\"10.0.0.0/8\"]\n";
    let quick = |tcp| lastgood_resolver::client::Flags {
        timeout: Duration::from_millis(300),
        tcp,
        ..lastgood_resolver::client::Flags::default()
    };
    let refuse = start("refuse", allow).await;
    let dns = refuse.app.dns_addrs()[0];
    let a = lastgood_resolver::client::query(
        dns,
        &name("host1.example.lab."),
        RecordType::A,
        quick(false),
    )
    .await
    .unwrap();
    assert_eq!(a.metadata.response_code, ResponseCode::Refused);
    let _ = std::fs::remove_dir_all(&refuse.dir);

    let drop = start("drop", &format!("{allow}refused-clients = \"drop\"\n")).await;
    let dns = drop.app.dns_addrs()[0];
    for tcp in [false, true] {
        let r = lastgood_resolver::client::query(
            dns,
            &name("host1.example.lab."),
            RecordType::A,
            quick(tcp),
        )
        .await;
        assert!(r.is_err(), "tcp={tcp}: answered {r:?}");
    }
    let text = drop.app.metrics().render();
    assert!(
        sample(&text, "lastgood_refused_queries_total") >= 2.0,
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&drop.dir);
}

/// Issue 13, the operator's side: `status` lists the failing zone with its
/// cause and next probe, `zone retry` probes it now, `cache flush --zone`
/// ends the window and keeps stale answers, `--drop-stale` drops them.
/// The authority refuses (an outage with EDE 22, like silence) rather than
/// staying silent, so no step waits out real upstream timeouts; the
/// timeout path is covered on virtual time (`failsmall`, `stale`).
#[tokio::test]
async fn issue13_status_zone_retry_and_flush_keep_stale() {
    use lastgood_resolver::cli::{CacheArgs, CacheCommand, FlushArgs, ZoneArgs, ZoneCommand};
    let r = start("failing", "").await;
    let dns = r.app.dns_addrs()[0];
    let control = ControlOpts {
        control: Some(format!(
            "unix:{}",
            r.app.control_socket().unwrap().display()
        )),
        ..ControlOpts::default()
    };
    let retry = || ZoneArgs {
        control: control.clone(),
        command: ZoneCommand::Retry {
            zone: "example.lab.".into(),
        },
    };
    let flush = |drop_stale: bool| CacheArgs {
        control: control.clone(),
        command: CacheCommand::Flush(FlushArgs {
            name: None,
            zone: Some("example.lab.".into()),
            all: false,
            drop_stale,
            fleet: false,
            bogus: false,
        }),
    };
    let host1 = || query(dns, "host1.example.lab.", RecordType::A, Flags::default());
    assert!(host1().await.metadata.authentic_data);
    let said = lastgood_resolver::cli::zone(&retry()).await.unwrap();
    assert!(said.contains("was not failing"), "{said}");

    r.lab
        .set_fault(&name("example.lab."), Fault::Refused)
        .unwrap();
    r.clock.advance(Duration::from_secs(3601));
    assert_eq!(ede_codes(&host1().await).first(), Some(&3));
    let mut status = String::new();
    for _ in 0..200 {
        status = lastgood_resolver::cli::status(&control).await.unwrap();
        if status.contains("\"next_probe_in_s\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for want in [
        "\"zone\": \"example.lab.\"",
        "\"class\": \"outage\"",
        "\"ede\": 22",
    ] {
        assert!(status.contains(want), "{want} in {status}");
    }
    let said = lastgood_resolver::cli::zone(&retry()).await.unwrap();
    assert!(said.contains("still failing"), "{said}");

    let said = lastgood_resolver::cli::cache(&flush(false)).await.unwrap();
    assert!(said.contains("zone example.lab."), "{said}");
    let a = host1().await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError, "{a:?}");
    assert_eq!(
        ede_codes(&a).first(),
        Some(&3),
        "still stale after the flush"
    );

    r.lab.set_fault(&name("example.lab."), Fault::None).unwrap();
    // A probe the last question started may still be running: wait
    // (bounded) until none is, so it cannot race `zone retry` below. The
    // clock stands still, so no other probe falls due; if that one saw
    // the repaired zone the window is gone, else `zone retry` closes it
    // (either reply is accepted).
    for _ in 0..200 {
        let status = lastgood_resolver::cli::status(&control).await.unwrap();
        if !status.contains("\"next_probe_in_s\"") || status.contains("\"probing\": false") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let said = lastgood_resolver::cli::zone(&retry()).await.unwrap();
    assert!(
        said.contains("was not failing") || said.contains("answers again"),
        "{said}"
    );
    r.lab
        .set_fault(&name("example.lab."), Fault::Refused)
        .unwrap();
    lastgood_resolver::cli::cache(&flush(true)).await.unwrap();
    let a = host1().await;
    assert_eq!(
        a.metadata.response_code,
        ResponseCode::ServFail,
        "dropped: {a:?}"
    );
    let _ = std::fs::remove_dir_all(&r.dir);
}

/// host1..host{ZONE_EVIDENCE_RRSETS}.example.lab. A, answered fresh with AD.
async fn warm_example_lab(r: &Running) {
    let dns = r.app.dns_addrs()[0];
    for i in 1..=lastgood_resolver::limits::ZONE_EVIDENCE_RRSETS {
        let a = query(
            dns,
            &format!("host{i}.example.lab."),
            RecordType::A,
            Flags::default(),
        )
        .await;
        assert!(a.metadata.authentic_data);
    }
}

/// An hour after [`warm_example_lab`], example.lab.'s ZSK is no longer
/// published (the .de 2026 break): its names are answered stale and the
/// zone's validation failure window opens.
async fn break_example_lab(r: &Running) {
    let dns = r.app.dns_addrs()[0];
    r.lab
        .set_fault(&name("example.lab."), Fault::UnpublishedZsk)
        .unwrap();
    r.clock.advance(Duration::from_secs(3601));
    for i in 1..=lastgood_resolver::limits::ZONE_EVIDENCE_RRSETS {
        let a = query(
            dns,
            &format!("host{i}.example.lab."),
            RecordType::A,
            Flags::default(),
        )
        .await;
        assert_eq!(ede_codes(&a).first(), Some(&3), "stale");
    }
    for _ in 0..100 {
        if !r.app.resolver().failing_zones().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Issue 19: `GET /status.json` and the status page, without the token,
/// during a break with an NTA set: the failing zone with its cause, the
/// NTA with its reason and time left, answers per minute by tier.
#[tokio::test]
async fn issue19_status_json_shows_failing_zone_nta_and_tiers() {
    let r = start("status-page", "").await;
    let n = lastgood_resolver::limits::ZONE_EVIDENCE_RRSETS;
    warm_example_lab(&r).await;
    break_example_lab(&r).await;
    let socket = r.app.control_socket().unwrap();
    let (status, body) = http_unix(
        socket,
        "POST",
        "/nta",
        r#"{"zone": "other.lab.", "lifetime": "1h", "reason": "other.lab. rollover broken"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let control = r.app.control_addr().unwrap();
    let (status, body) = http(control, "GET", "/status.json", None, "").await;
    assert_eq!(status, 200, "no token needed: {body}");
    let j: serde_json::Value = serde_json::from_str(&body).unwrap();
    let zone = j["failing_zones"]
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["zone"] == "example.lab.")
        .unwrap_or_else(|| panic!("example.lab. failing in {j}"));
    assert_eq!(zone["cause"], "bogus-key", "{zone}");
    assert_eq!(zone["ede"], 9, "{zone}");
    assert!(zone["since_unix"].as_u64().unwrap() <= j["generated_at_unix"].as_u64().unwrap());
    let nta = &j["ntas"][0];
    assert_eq!(nta["zone"], "other.lab.", "{j}");
    assert_eq!(nta["reason"], "other.lab. rollover broken");
    assert_eq!(nta["remaining_secs"], 3600);
    assert_eq!(j["store"]["ntas_active"], 1);
    let tiers: Vec<&str> = j["answers"]["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let minutes = j["answers"]["minutes"].as_array().unwrap();
    assert_eq!(
        minutes.len(),
        lastgood_resolver::metrics::history::HISTORY_MINUTES
    );
    let total = |tier: &str| -> u64 {
        let i = tiers.iter().position(|t| *t == tier).unwrap();
        minutes
            .iter()
            .map(|m| m["counts"][i].as_u64().unwrap())
            .sum()
    };
    assert!(total("fresh") >= n as u64, "{j}");
    assert!(total("stale") >= n as u64, "{j}");
    assert!(j["cache"]["stale_hits"].as_u64().unwrap() >= n as u64);
    assert!(j["cache"]["entries"].as_u64().unwrap() >= 1);

    // The same incident in a scrape: which zone, why; the NTA's time left.
    let (_, text) = http(control, "GET", "/metrics", None, "").await;
    assert_prometheus_text(&text);
    assert_eq!(
        sample(&text, "lastgood_nta_remaining_seconds{zone=\"other.lab.\"}"),
        3600.0
    );
    assert!(sample(&text, "lastgood_zones_failing{cause=\"bogus-key\"}") >= 1.0);
    assert!(
        text.lines()
            .any(|l| l.starts_with("lastgood_failing_zone_info{")
                && l.contains("zone=\"example.lab.\"")
                && l.ends_with(" 1")),
        "{text}"
    );

    // The page itself, to a browser, without the token; the CLI's
    // /status still needs it.
    let mut s = tokio::net::TcpStream::connect(control).await.unwrap();
    let req = format!(
        "GET /status HTTP/1.1\r\nHost: {control}\r\nAccept: text/html,application/xhtml+xml\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("content-type: text/html"), "{page}");
    assert!(page.contains("content-security-policy: default-src 'none'"));
    assert!(page.contains("fetch(\"status.json\""));
    let (status, _) = http(control, "GET", "/status", None, "").await;
    assert_eq!(status, 401);
    let _ = std::fs::remove_dir_all(&r.dir);
}

/// `lastgood` (the binary) with `args`; returns (success, stdout, stderr).
async fn lastgood_out(args: &[&str]) -> (bool, String, String) {
    lastgood_out_in(Path::new("."), args).await
}

/// [`lastgood_out`] run in `dir`.
async fn lastgood_out_in(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lastgood"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("lastgood {args:?} still running after 30 s"))
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every upstream query the resolver has sent.
fn upstream_queries(r: &Running) -> f64 {
    r.app
        .metrics()
        .render()
        .lines()
        .filter(|l| l.starts_with("lastgood_upstream_queries_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Issue 19 item 6: `lastgood lookup` (the binary, table and JSON) shows
/// tier, TTL, validation state, the failure window and the NTA without
/// asking upstream; `cache flush --bogus` drops the remembered failures
/// and keeps the validated answers; `nta add --force` survives a recheck
/// that finds the zone validating; `status` prints a table, `--json` the
/// object.
#[tokio::test]
async fn issue19_lookup_flush_bogus_forced_nta_and_status_table() {
    use lastgood_resolver::cli::{CacheArgs, CacheCommand, FlushArgs};
    let r = start("lookup", "").await;
    let dns = r.app.dns_addrs()[0];
    let socket = format!("unix:{}", r.app.control_socket().unwrap().display());
    let control = ControlOpts {
        control: Some(socket.clone()),
        ..ControlOpts::default()
    };
    let lookup_json = |name: &str, qtype: &str| {
        let args = [
            "lookup".to_owned(),
            name.to_owned(),
            qtype.to_owned(),
            "--json".to_owned(),
            "--control".to_owned(),
            socket.clone(),
        ];
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (ok, out, err) = lastgood_out(&args).await;
            assert!(ok, "lookup failed: {err}");
            serde_json::from_str::<serde_json::Value>(&out).unwrap()
        }
    };
    warm_example_lab(&r).await;

    // Fresh and Secure; a name never asked holds nothing; no upstream query.
    let before = upstream_queries(&r);
    let l = lookup_json("HOST1.example.lab", "a").await;
    assert_eq!(l["name"], "host1.example.lab.", "{l}");
    assert_eq!(l["type"], "A");
    assert_eq!(l["tier"], "fresh", "{l}");
    let e = &l["entries"][0];
    assert_eq!(
        (&e["source"], &e["view"], &e["security"], &e["tier"]),
        (
            &"cache".into(),
            &"validated".into(),
            &"secure".into(),
            &"fresh".into()
        ),
        "{l}"
    );
    assert!(e["ttl_left_s"].as_u64().unwrap() > 0, "{l}");
    assert!(
        e["records"][0]
            .as_str()
            .unwrap()
            .contains("host1.example.lab.")
    );
    assert!(l["window"].is_null() && l["nta"].is_null(), "{l}");
    assert_eq!(l["keys"]["zone"], "example.lab.", "{l}");
    assert_eq!(l["keys"]["state"], "secure", "{l}");
    let l = lookup_json("never-asked.example.lab.", "AAAA").await;
    assert_eq!(l["tier"], "none", "{l}");
    assert_eq!(l["entries"].as_array().unwrap().len(), 0, "{l}");
    let (ok, out, err) =
        lastgood_out(&["lookup", "never-asked.example.lab.", "--control", &socket]).await;
    assert!(ok, "{err}");
    assert!(out.contains("nothing cached or stored"), "{out}");
    assert_eq!(upstream_queries(&r), before, "lookup asked upstream");

    // The zone's published ZSK goes: stale answers, a validation window;
    // a CD client's question leaves a Bogus entry in the CD view.
    break_example_lab(&r).await;
    let cd = Flags {
        checking_disabled: true,
        ..Flags::default()
    };
    let a = query(dns, "mail1.example.lab.", RecordType::A, cd).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError, "{a:?}");
    let before = upstream_queries(&r);
    let l = lookup_json("host1.example.lab.", "A").await;
    assert_eq!(l["tier"], "stale", "{l}");
    assert_eq!(l["entries"][0]["tier"], "stale", "{l}");
    assert!(
        l["entries"][0]["expired_for_s"].as_u64().unwrap() > 0,
        "{l}"
    );
    let w = &l["window"];
    assert_eq!(w["zone"], "example.lab.", "{l}");
    assert_eq!(w["class"], "validation", "{l}");
    assert_eq!(w["cause"]["code"], 9, "{l}");
    assert_eq!(w["stops_refresh"], true, "{l}");
    let l = lookup_json("mail1.example.lab.", "A").await;
    let bogus = l["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["view"] == "checking_disabled")
        .unwrap_or_else(|| panic!("a CD-view entry in {l}"));
    assert_eq!(bogus["security"], "bogus", "{l}");
    assert_eq!(bogus["ede"]["code"], 9, "{l}");
    assert_eq!(l["tier"], "none", "never validated: nothing for CD=0 {l}");
    let (ok, table, err) =
        lastgood_out(&["lookup", "host1.example.lab.", "--control", &socket]).await;
    assert!(ok, "{err}");
    for want in [
        "host1.example.lab. A: answered now from the cache, stale",
        "failure window: example.lab. (validation)",
        "EDE 9 ",
        "NTA: none",
    ] {
        assert!(table.contains(want), "{want:?} in\n{table}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("cache/validated ") && l.contains(" stale ")),
        "{table}"
    );
    assert_eq!(upstream_queries(&r), before, "lookup asked upstream");

    // flush --bogus: the CD-view entry and the window go, the validated
    // answers stay (still stale, not SERVFAIL).
    let flush = CacheArgs {
        control: control.clone(),
        command: CacheCommand::Flush(FlushArgs {
            name: None,
            zone: None,
            all: false,
            drop_stale: false,
            fleet: false,
            bogus: true,
        }),
    };
    let said = lastgood_resolver::cli::cache(&flush).await.unwrap();
    assert!(said.starts_with("cache flushed: bogus data: "), "{said}");
    assert!(!said.contains(": 0 answers"), "{said}");
    assert!(
        said.contains(" 1 validation failure windows closed"),
        "{said}"
    );
    let l = lookup_json("mail1.example.lab.", "A").await;
    assert!(
        l["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["view"] != "checking_disabled"),
        "{l}"
    );
    let l = lookup_json("host1.example.lab.", "A").await;
    assert!(l["window"].is_null(), "{l}");
    assert_eq!(l["entries"][0]["security"], "secure", "kept: {l}");
    assert!(r.app.resolver().failing_zones().is_empty());

    // A forced NTA stays after the recheck finds the zone fixed; a plain
    // one on a zone that validates is lifted.
    let (ok, out, err) = lastgood_out(&[
        "nta",
        "add",
        "example.lab.",
        "--force",
        "--reason",
        "stale signer copy",
        "--control",
        &socket,
    ])
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("forced"), "{out}");
    let (ok, _, err) = lastgood_out(&["nta", "add", "other.lab.", "--control", &socket]).await;
    assert!(ok, "{err}");
    r.lab.set_fault(&name("example.lab."), Fault::None).unwrap();
    let lifted = r.app.resolver().recheck_ntas().await;
    assert_eq!(lifted, vec![name("other.lab.")]);
    let (ok, list, err) = lastgood_out(&["nta", "list", "--control", &socket]).await;
    assert!(ok, "{err}");
    assert!(list.contains("FORCE"), "{list}");
    let row = list
        .lines()
        .find(|l| l.starts_with("example.lab."))
        .unwrap_or_else(|| panic!("example.lab. in\n{list}"));
    assert!(row.contains(" yes "), "{row}");
    assert!(!list.contains("other.lab."), "{list}");
    let state = std::fs::read_to_string(r.dir.join("nta.json")).unwrap();
    assert!(state.contains("\"force\": true"), "{state}");
    let a = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError, "{a:?}");
    assert!(!a.metadata.authentic_data, "under an NTA: {a:?}");
    let l = lookup_json("host1.example.lab.", "A").await;
    assert_eq!(l["nta"]["zone"], "example.lab.", "{l}");
    assert_eq!(l["nta"]["force"], true, "{l}");
    assert_eq!(l["tier"], "nta", "fresh, served without AD: {l}");

    // status: a table by default, the JSON object with --json.
    let (ok, table, err) = lastgood_out(&["status", "--control", &socket]).await;
    assert!(ok, "{err}");
    for want in [
        "version ",
        "NTAs           1 active",
        "example.lab.",
        "stale signer copy",
    ] {
        assert!(table.contains(want), "{want:?} in\n{table}");
    }
    assert!(serde_json::from_str::<serde_json::Value>(&table).is_err());
    let (ok, json, err) = lastgood_out(&["status", "--json", "--control", &socket]).await;
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "version",
        "uptime_seconds",
        "cache",
        "ntas_active",
        "failure_windows",
    ] {
        assert!(j.get(key).is_some(), "{key} in {j}");
    }
    assert_eq!(j["ntas"][0]["force"], true, "{j}");
    let _ = std::fs::remove_dir_all(&r.dir);
}

/// The TXT strings of a response's answers.
fn txt_answers(m: &hickory_proto::op::Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            hickory_proto::rr::RData::TXT(t) => Some(t.to_string()),
            _ => None,
        })
        .collect()
}

/// Issue 19 item 6: CHAOS `id.server`/`hostname.bind` answer `identity`
/// (the host name by default), `version.*` is REFUSED unless `version`
/// is set, and the NSID of `nsid` comes back to every query carrying the
/// option, over UDP and TCP, also when a template of the same question
/// exists (the cache-hit path), and never to a query without it.
#[tokio::test]
async fn issue19_chaos_identity_version_and_nsid() {
    use hickory_proto::rr::DNSClass;
    use lastgood_resolver::client::nsid;
    let r = start(
        "chaos",
        "identity = \"lab-ns1\"\nnsid = \"ascii_lab-ns1\"\n",
    )
    .await;
    let dns = r.app.dns_addrs()[0];
    let chaos = |tcp| Flags {
        qclass: DNSClass::CH,
        dnssec_ok: false,
        tcp,
        ..Flags::default()
    };
    for tcp in [false, true] {
        for name in ["id.server.", "hostname.bind.", "ID.SERVER."] {
            let a = query(dns, name, RecordType::TXT, chaos(tcp)).await;
            assert_eq!(a.metadata.response_code, ResponseCode::NoError, "{a:?}");
            assert_eq!(txt_answers(&a), ["lab-ns1"], "{name} tcp={tcp}");
            assert_eq!(a.answers[0].dns_class, DNSClass::CH);
        }
        for name in ["version.bind.", "version.server.", "authors.bind."] {
            let a = query(dns, name, RecordType::TXT, chaos(tcp)).await;
            assert_eq!(
                a.metadata.response_code,
                ResponseCode::Refused,
                "{name}: {a:?}"
            );
        }
    }
    let asks = |tcp| Flags {
        nsid: true,
        tcp,
        ..Flags::default()
    };
    let host1 = |flags| query(dns, "host1.example.lab.", RecordType::A, flags);
    // Plain questions first, so that a template of this question exists.
    for _ in 0..3 {
        let a = host1(Flags::default()).await;
        assert!(a.metadata.authentic_data);
        assert_eq!(nsid(&a), None, "not asked for");
    }
    for tcp in [false, true] {
        for _ in 0..3 {
            let a = host1(asks(tcp)).await;
            assert!(a.metadata.authentic_data, "{a:?}");
            assert_eq!(nsid(&a).as_deref(), Some(&b"lab-ns1"[..]), "tcp={tcp}");
        }
    }
    let a = host1(Flags::default()).await;
    assert_eq!(nsid(&a), None, "an NSID answer never serves a plain query");
    let a = query(
        dns,
        "id.server.",
        RecordType::TXT,
        Flags {
            nsid: true,
            ..chaos(false)
        },
    )
    .await;
    assert_eq!(nsid(&a).as_deref(), Some(&b"lab-ns1"[..]));

    // The binary's `query --nsid` shows it as dig does.
    let server = dns.to_string();
    let (ok, out, err) =
        lastgood_out(&["query", "-s", &server, "host1.example.lab.", "--nsid"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains(";; NSID: 6c61622d6e7331 (\"lab-ns1\")"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&r.dir);

    // Defaults: the host name, no version, no NSID.
    let d = start("chaos-default", "").await;
    let dns = d.app.dns_addrs()[0];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let a = query(dns, "id.server.", RecordType::TXT, chaos(false)).await;
    assert_eq!(txt_answers(&a), [host.trim()], "{a:?}");
    let a = query(dns, "version.bind.", RecordType::TXT, chaos(false)).await;
    assert_eq!(a.metadata.response_code, ResponseCode::Refused);
    let a = query(dns, "host1.example.lab.", RecordType::A, asks(false)).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert_eq!(nsid(&a), None, "nsid is off by default");
    let _ = std::fs::remove_dir_all(&d.dir);
}
