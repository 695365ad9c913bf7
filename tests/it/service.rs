//! `lastgood serve` as a system service (issue 19): systemd's notify
//! protocol on a socket the test binds, `user =` dropping root after the
//! listeners are bound, and error messages that say each cause once.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use tokio::net::UnixDatagram;

use crate::harness::{Flags, query, served_lab};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lastgood-svc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The next datagram on `sock`, as text (bounded wait: a missing message
/// fails the test instead of hanging it).
async fn next_message(sock: &UnixDatagram) -> String {
    let mut buf = vec![0u8; 4096];
    let len = tokio::time::timeout(Duration::from_secs(30), sock.recv(&mut buf))
        .await
        .expect("no notify message within 30 s")
        .unwrap();
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

fn sigterm(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid}");
}

/// `Uid:` of /proc/PID/status: real, effective, saved, filesystem.
fn uids(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Issue 19 item 1: `READY=1` arrives once the DNS listener answers (a
/// validated answer right after it), `WATCHDOG=1` follows when
/// `WATCHDOG_USEC` is set, `STOPPING=1` at SIGTERM; started as root with
/// `user = "nobody"`, the running resolver has dropped every uid.
#[tokio::test]
async fn issue19_serve_notifies_systemd_and_drops_root() {
    let lab = served_lab().await;
    let dir = temp_dir("notify");
    std::fs::write(dir.join("root.hints"), lab.root_hints()).unwrap();
    std::fs::write(dir.join("root.key"), lab.trust_anchor()).unwrap();
    let notify_path = dir.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    // As systemd's own socket: the resolver sends after leaving root.
    std::fs::set_permissions(&notify_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let root = nix::unistd::geteuid().is_root();
    let config = dir.join("lastgood.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\nroot-hints = \"{}\"\ntrust-anchor = \"{}\"\n\
             upstream-port = {}\ncontrol-listen = \"\"\ncontrol-socket = \"{}\"\n{}",
            dir.join("root.hints").display(),
            dir.join("root.key").display(),
            lab.port(),
            dir.join("control.sock").display(),
            if root { "user = \"nobody\"\n" } else { "" },
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_lastgood"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();

    let ready = next_message(&notify).await;
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    // Ready means answering: the listener is bound and the anchors loaded.
    let dns: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let a = query(dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert!(a.metadata.authentic_data, "validated: {a:?}");
    assert_eq!(next_message(&notify).await, "WATCHDOG=1");
    if root {
        assert_eq!(uids(pid), "65534 65534 65534 65534", "root dropped");
    }

    sigterm(pid);
    let mut stopping = false;
    for _ in 0..100 {
        if next_message(&notify).await == "STOPPING=1" {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 at SIGTERM");
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    // The one start-up line, without colour codes (stderr is a pipe).
    let started: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("lastgood started"))
        .collect();
    assert_eq!(started.len(), 1, "{log}");
    let line = started[0];
    eprintln!("{line}");
    assert!(line.contains(&format!("listen=127.0.0.1:{port}")), "{line}");
    assert!(
        line.contains(&format!("config={}", config.display())),
        "{line}"
    );
    assert!(line.contains("trust_anchors=. DS "), "{line}");
    assert!(line.contains("ntas_restored=0"), "{line}");
    assert!(!log.contains('\u{1b}'), "no ANSI escapes: {log}");
    if root {
        assert!(log.contains("switched user user=nobody"), "{log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `log-level = "warn"` in the file silences the start-up INFO line;
/// `--log-level info` brings it back (the flag wins over the file).
#[tokio::test]
async fn issue19_log_level_key_and_flag() {
    let dir = temp_dir("level");
    let config = dir.join("lastgood.toml");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\ncontrol-listen = \"\"\ncontrol-socket = \"{}\"\n\
             log-level = \"warn\"\n",
            dir.join("control.sock").display()
        ),
    )
    .unwrap();
    for (flag, logged) in [(None, false), (Some("info"), true)] {
        let notify_path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&notify_path);
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_lastgood"));
        cmd.args(["serve", "--config"]).arg(&config);
        if let Some(level) = flag {
            cmd.args(["--log-level", level]);
        }
        let child = cmd
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        assert!(next_message(&notify).await.contains("READY=1"));
        let pid = child.id().unwrap();
        sigterm(pid);
        let out = child.wait_with_output().await.unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(log.contains("lastgood started"), logged, "{flag:?}: {log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19 item 2: an error whose message already names its cause (a
/// file and the OS error) says it once.
#[tokio::test]
async fn issue19_errors_name_each_cause_once() {
    let dir = temp_dir("missing");
    let missing = dir.join("nothing-here.toml");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_lastgood"))
        .arg("check-config")
        .arg(&missing)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nothing-here.toml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
