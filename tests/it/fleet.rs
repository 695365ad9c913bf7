//! The fleet tier (issue 18 part B) end to end: two lastgood apps sharing
//! one real `redis-server` (started here on a Unix socket in a temp dir)
//! in front of one lab. NTAs and flushes reach the other instance; Redis
//! stopped or hung under load fails no client query.
//!
//! Needs `redis-server` on PATH (`.ci/run` installs it); without it each
//! test says so loudly and passes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use lastgood_lab::{Fault, Lab};
use lastgood_resolver::app::{App, AppOptions, Overrides};
use lastgood_resolver::cli::{
    CacheArgs, CacheCommand, ControlOpts, FlushArgs, NtaArgs, NtaCommand,
};
use lastgood_resolver::clock::{Clock, ManualClock};

use crate::harness::{Flags, a_data, ede_codes, name, query, served_lab, temp_dir};

/// A `redis-server` of our own, killed on drop.
pub struct RedisServer {
    child: Child,
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// The TLS port, for one started by [`RedisServer::start_tls`].
    pub tls_port: Option<u16>,
    args: Vec<std::ffi::OsString>,
}

impl RedisServer {
    /// Start one on a Unix socket, or None (with a loud message) if the
    /// binary is missing.
    pub fn start(tag: &str) -> Option<RedisServer> {
        let dir = temp_dir(&format!("redis-{tag}"));
        let socket = dir.join("redis.sock");
        let args = vec![
            "--port".into(),
            "0".into(),
            "--unixsocket".into(),
            socket.clone().into_os_string(),
            "--unixsocketperm".into(),
            "700".into(),
        ];
        Self::spawn(dir, socket, None, args)
    }

    /// Start one serving TLS only on an ephemeral port, with `tls`'s
    /// server certificate, checking client certificates against its CA
    /// when `auth_clients`.
    pub fn start_tls(tag: &str, tls: &TlsFiles, auth_clients: bool) -> Option<RedisServer> {
        let dir = temp_dir(&format!("redis-{tag}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args = vec![
            "--port".into(),
            "0".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--tls-port".into(),
            port.to_string().into(),
            "--tls-cert-file".into(),
            tls.server_cert.clone().into_os_string(),
            "--tls-key-file".into(),
            tls.server_key.clone().into_os_string(),
            "--tls-ca-cert-file".into(),
            tls.ca.clone().into_os_string(),
            "--tls-auth-clients".into(),
            if auth_clients { "yes" } else { "no" }.into(),
        ];
        let socket = dir.join("unused.sock");
        Self::spawn(dir, socket, Some(port), args)
    }

    fn spawn(
        dir: PathBuf,
        socket: PathBuf,
        tls_port: Option<u16>,
        mut args: Vec<std::ffi::OsString>,
    ) -> Option<RedisServer> {
        args.extend(["--save", "", "--appendonly", "no", "--dir"].map(Into::into));
        args.push(dir.clone().into_os_string());
        let child = Self::run(&args)?;
        let server = RedisServer {
            child,
            dir,
            socket,
            tls_port,
            args,
        };
        server.wait_ready();
        Some(server)
    }

    fn run(args: &[std::ffi::OsString]) -> Option<Child> {
        match Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!(
                    "\n*** SKIPPED: redis-server not runnable ({e}); .ci/run installs it \
                     (apt-get install -y redis-server) ***\n"
                );
                None
            }
        }
    }

    fn wait_ready(&self) {
        for _ in 0..200 {
            let ready = match self.tls_port {
                Some(port) => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
                None => self.socket.exists(),
            };
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server ({:?}) never became ready", self.args);
    }

    /// Start it again after [`RedisServer::kill`], on the same socket or
    /// port, empty (it saves nothing).
    pub fn restart(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        self.child = Self::run(&self.args).expect("redis-server ran before");
        self.wait_ready();
    }

    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    /// A client of our own (to look at or forge what is stored).
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Hang it (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Stop it for good.
    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A lab and the directory holding its hints and anchor.
pub async fn lab_dir(tag: &str) -> (Lab, PathBuf) {
    let lab = served_lab().await;
    let dir = temp_dir(tag);
    std::fs::write(dir.join("root.hints"), lab.root_hints()).unwrap();
    std::fs::write(dir.join("root.key"), lab.trust_anchor()).unwrap();
    (lab, dir)
}

/// One instance of the fleet: its own control socket and NTA file, the
/// lab's hints and anchor in `lab_dir`, `redis-url`.
pub async fn instance(lab: &Lab, lab_dir: &Path, tag: &str, redis_url: &str) -> (App, ManualClock) {
    instance_with(lab, lab_dir, tag, &format!("redis-url = \"{redis_url}\"\n")).await
}

/// [`instance`] with `fleet_keys` (`redis-url` and the others) as given.
pub async fn instance_with(
    lab: &Lab,
    lab_dir: &Path,
    tag: &str,
    fleet_keys: &str,
) -> (App, ManualClock) {
    let dir = lab_dir.join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("lastgood.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = ["127.0.0.1:0"]
root-hints = "{hints}"
trust-anchor = "{anchor}"
upstream-port = {port}
control-listen = "127.0.0.1:0"
control-socket = "{socket}"
nta-state-file = "{state}"
{fleet_keys}"#,
            hints = lab_dir.join("root.hints").display(),
            anchor = lab_dir.join("root.key").display(),
            port = lab.port(),
            socket = dir.join("control.sock").display(),
            state = dir.join("nta.json").display(),
        ),
    )
    .unwrap();
    let clock = ManualClock::new();
    let options = AppOptions {
        config_path: Some(config),
        overrides: Overrides::default(),
    };
    let app = App::start(options, Arc::new(clock.clone())).await.unwrap();
    (app, clock)
}

/// Wait (bounded) until `cond` holds; false if it never did.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cond()
}

pub async fn fleet_up(app: &App) {
    let fleet = app.resolver().fleet().expect("redis-url set").clone();
    assert!(
        eventually(|| fleet.is_up() && fleet.is_subscribed()).await,
        "redis link never came up"
    );
}

fn control(app: &App) -> ControlOpts {
    ControlOpts {
        control: Some(format!("unix:{}", app.control_socket().unwrap().display())),
        ..ControlOpts::default()
    }
}

#[tokio::test]
async fn nta_added_on_a_applies_on_b_without_flush() {
    let Some(redis) = RedisServer::start("nta") else {
        return;
    };
    let (lab, dir) = lab_dir("fleet-nta").await;
    let (a, _) = instance(&lab, &dir, "a", &redis.url()).await;
    let (b, b_clock) = instance(&lab, &dir, "b", &redis.url()).await;
    fleet_up(&a).await;
    fleet_up(&b).await;
    let b_dns = b.dns_addrs()[0];
    // The .de 2026 break: lab.'s data signed by an unpublished ZSK.
    lab.set_fault(&name("lab."), Fault::UnpublishedZsk).unwrap();
    let r = query(
        b_dns,
        "host10.example.lab.",
        RecordType::A,
        Flags::default(),
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);

    // The NTA is added on A, through the operator's CLI path.
    let add = NtaArgs {
        control: control(&a),
        command: NtaCommand::Add {
            zone: "lab.".into(),
            lifetime: Some("2h".into()),
            reason: Some("lab. rollover broken".into()),
            force: true,
        },
    };
    lastgood_resolver::cli::nta(&add).await.unwrap();
    let b_ntas = Arc::clone(b.resolver().ntas());
    assert!(
        eventually(|| b_ntas.covering(&name("www.lab."), b_clock.now()).is_some()).await,
        "the NTA added on A never reached B"
    );
    // Same lifetime everywhere: B's copy ends when A's does.
    let a_nta = a.resolver().ntas().active(a.resolver().now());
    let b_nta = b.resolver().ntas().active(b_clock.now());
    assert_eq!(a_nta.len(), 1);
    assert_eq!(b_nta.len(), 1);
    assert_eq!(a_nta[0].expires_at, b_nta[0].expires_at);
    assert_eq!(b_nta[0].reason, "lab. rollover broken");
    assert!(b_nta[0].force, "forced on A, forced on B (issue 19)");
    // B answers at once: same cache (the Bogus verdict is still in it), no flush.
    let r = query(
        b_dns,
        "host10.example.lab.",
        RecordType::A,
        Flags::default(),
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert!(!r.metadata.authentic_data);

    // Removed on A: gone on B too.
    let remove = NtaArgs {
        control: control(&a),
        command: NtaCommand::Remove {
            zone: "lab.".into(),
        },
    };
    lastgood_resolver::cli::nta(&remove).await.unwrap();
    assert!(
        eventually(|| b_ntas.covering(&name("www.lab."), b_clock.now()).is_none()).await,
        "the NTA removed on A stayed on B"
    );
    let r = query(
        b_dns,
        "host11.example.lab.",
        RecordType::A,
        Flags::default(),
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);

    // An instance started later picks the fleet's NTAs up on connecting.
    lastgood_resolver::cli::nta(&add).await.unwrap();
    let (c, c_clock) = instance(&lab, &dir, "c", &redis.url()).await;
    let c_ntas = Arc::clone(c.resolver().ntas());
    assert!(
        eventually(|| c_ntas.covering(&name("www.lab."), c_clock.now()).is_some()).await,
        "a late instance did not get the fleet's NTA"
    );
    c.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn fleet_flush_reaches_the_other_instance() {
    let Some(redis) = RedisServer::start("flush") else {
        return;
    };
    let (lab, dir) = lab_dir("fleet-flush").await;
    let (a, _) = instance(&lab, &dir, "a", &redis.url()).await;
    let (b, _) = instance(&lab, &dir, "b", &redis.url()).await;
    fleet_up(&a).await;
    fleet_up(&b).await;
    let a_dns = a.dns_addrs()[0];
    let r = query(a_dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert!(r.metadata.authentic_data);
    // The authority fails; A still answers from its cache.
    lab.set_fault(&name("example.lab."), Fault::ServFail)
        .unwrap();
    let r = query(a_dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);

    // A flush with --drop-stale --fleet on B empties A's cache too.
    let flush = CacheArgs {
        control: control(&b),
        command: CacheCommand::Flush(FlushArgs {
            name: None,
            zone: Some("example.lab.".into()),
            all: false,
            drop_stale: true,
            fleet: true,
            bogus: false,
        }),
    };
    let said = lastgood_resolver::cli::cache(&flush).await.unwrap();
    assert!(said.contains("every instance"), "{said}");
    let events = a.resolver().fleet().unwrap().metrics().events.clone();
    assert!(
        eventually(|| events.with_label_values(&["flush"]).get() >= 1).await,
        "A never heard the flush"
    );
    let r = query(a_dns, "host1.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(
        r.metadata.response_code,
        ResponseCode::ServFail,
        "A still answered from a cache the fleet flushed: {r:?}"
    );
    b.shutdown().await;
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn redis_stopped_mid_load_fails_no_query() {
    let Some(mut redis) = RedisServer::start("outage") else {
        return;
    };
    let (lab, dir) = lab_dir("fleet-outage").await;
    let (a, _) = instance(&lab, &dir, "a", &redis.url()).await;
    fleet_up(&a).await;
    let dns = a.dns_addrs()[0];
    let fleet = a.resolver().fleet().unwrap().clone();
    // Load: cached names and names never asked (misses read Redis first).
    let load = |round: u32| async move {
        let mut tasks = Vec::new();
        for t in 0..4u32 {
            tasks.push(tokio::spawn(async move {
                let mut failed = Vec::new();
                for i in 0..25u32 {
                    let n = 1 + (round * 100 + t * 25 + i) % 300;
                    let q = format!("host{n}.example.lab.");
                    match lastgood_resolver::client::query(
                        dns,
                        &name(&q),
                        RecordType::A,
                        Flags::default(),
                    )
                    .await
                    {
                        Ok(r) if r.metadata.response_code == ResponseCode::NoError => {}
                        other => failed.push(format!("{q}: {other:?}")),
                    }
                }
                failed
            }));
        }
        let mut failed = Vec::new();
        for t in tasks {
            failed.extend(t.await.unwrap());
        }
        failed
    };
    assert_eq!(load(0).await, Vec::<String>::new(), "with Redis up");
    // Hung: connections open, nothing answered (each call times out).
    redis.pause();
    let hung = load(1).await;
    redis.resume();
    assert_eq!(hung, Vec::<String>::new(), "with Redis hung");
    // Stopped for good mid-load.
    let running = tokio::spawn(load(2));
    tokio::time::sleep(Duration::from_millis(20)).await;
    redis.kill();
    assert_eq!(running.await.unwrap(), Vec::<String>::new(), "Redis killed");
    assert_eq!(load(0).await, Vec::<String>::new(), "after Redis died");
    assert!(
        eventually(|| !fleet.is_up()).await,
        "a dead Redis still counts as up"
    );
    assert!(
        fleet.metrics().errors.with_label_values(&["read"]).get() >= 1
            || fleet.metrics().errors.with_label_values(&["ping"]).get() >= 1
    );
    let status = fleet.status();
    assert_eq!(status["up"], false);
    assert!(status["last_error"].is_string(), "{status}");
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Wait until Redis holds the entry for (`qname`, A); its bytes.
async fn stored(redis: &RedisServer, qname: &str) -> Vec<u8> {
    let mut conn = redis.client().await;
    let key = lastgood_resolver::fleet::keys::entry_key(&name(qname), RecordType::A);
    for _ in 0..200 {
        let got: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if let Some(bytes) = got {
            return bytes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{key} never reached Redis");
}

#[tokio::test]
async fn b_answers_stale_what_only_a_resolved() {
    let Some(redis) = RedisServer::start("stale") else {
        return;
    };
    let (lab, dir) = lab_dir("fleet-stale").await;
    let (a, _) = instance(&lab, &dir, "a", &redis.url()).await;
    let (b, b_clock) = instance(&lab, &dir, "b", &redis.url()).await;
    fleet_up(&a).await;
    fleet_up(&b).await;
    let (a_dns, b_dns) = (a.dns_addrs()[0], b.dns_addrs()[0]);
    // Only A resolves these.
    let mut truth = Vec::new();
    for q in ["host5.example.lab.", "host7.example.lab."] {
        let r = query(a_dns, q, RecordType::A, Flags::default()).await;
        assert!(r.metadata.authentic_data, "{q}");
        truth.push(a_data(&r));
        stored(&redis, q).await;
    }
    // Fresh from the fleet: B answers with AD, proven again.
    let r = query(b_dns, "host5.example.lab.", RecordType::A, Flags::default()).await;
    assert!(r.metadata.authentic_data, "{r:?}");
    assert_eq!(a_data(&r), truth[0]);
    // The authority goes down; an hour later B is asked a name it never saw.
    lab.set_fault(&name("example.lab."), Fault::ServFail)
        .unwrap();
    b_clock.advance(Duration::from_secs(3601));
    let r = query(b_dns, "host7.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(ede_codes(&r).first(), Some(&3), "stale, EDE 3: {r:?}");
    assert_eq!(a_data(&r), truth[1]);
    // Without the fleet, the same question on a third instance fails.
    let (c, c_clock) = instance(&lab, &dir, "c", &redis.url()).await;
    c_clock.advance(Duration::from_secs(3601));
    let r = query(
        c.dns_addrs()[0],
        "host9.example.lab.",
        RecordType::A,
        Flags::default(),
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    let reads = b.resolver().fleet().unwrap().metrics().reads.clone();
    assert!(reads.with_label_values(&["hit"]).get() >= 2);
    c.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn forged_redis_entries_are_rejected_and_counted() {
    let Some(redis) = RedisServer::start("forged") else {
        return;
    };
    let (lab, dir) = lab_dir("fleet-forged").await;
    let (a, _) = instance(&lab, &dir, "a", &redis.url()).await;
    fleet_up(&a).await;
    let r = query(
        a.dns_addrs()[0],
        "host8.example.lab.",
        RecordType::A,
        Flags::default(),
    )
    .await;
    let truth = a_data(&r);
    let bytes = stored(&redis, "host8.example.lab.").await;
    a.shutdown().await;

    // host8: same RRSIG and chain, another address.
    let mut d = lastgood_resolver::store::entry::decode(&bytes).unwrap();
    let mut changed = 0;
    for r in &mut d.entry.answers {
        if r.record_type() == RecordType::A {
            r.data = RData::A(hickory_proto::rr::rdata::A::new(6, 6, 6, 6));
            changed += 1;
        }
    }
    assert_eq!(changed, 1);
    let forged = lastgood_resolver::store::entry::encode(&d.key, &d.entry, &d.chain).unwrap();
    let mut conn = redis.client().await;
    let key = |q: &str| lastgood_resolver::fleet::keys::entry_key(&name(q), RecordType::A);
    let set = |k: String, v: Vec<u8>| {
        let mut cmd = redis::cmd("SET");
        cmd.arg(k).arg(v);
        cmd
    };
    let _: () = set(key("host8.example.lab."), forged)
        .query_async(&mut conn)
        .await
        .unwrap();
    // host9: host8's genuine entry under another name's key.
    let _: () = set(key("host9.example.lab."), bytes.clone())
        .query_async(&mut conn)
        .await
        .unwrap();
    // host10: garbage.
    let _: () = set(key("host10.example.lab."), b"LGS\x01garbage".to_vec())
        .query_async(&mut conn)
        .await
        .unwrap();

    // A new instance, authority down: nothing forged is ever served.
    lab.set_fault(&name("example.lab."), Fault::ServFail)
        .unwrap();
    let (b, _) = instance(&lab, &dir, "b", &redis.url()).await;
    fleet_up(&b).await;
    let b_dns = b.dns_addrs()[0];
    for q in [
        "host8.example.lab.",
        "host9.example.lab.",
        "host10.example.lab.",
    ] {
        let r = query(b_dns, q, RecordType::A, Flags::default()).await;
        assert_eq!(
            r.metadata.response_code,
            ResponseCode::ServFail,
            "{q}: {r:?}"
        );
        assert!(!format!("{r:?}").contains("6.6.6.6"), "{q}");
    }
    let rejected = &b.resolver().fleet().unwrap().metrics().rejected;
    assert!(rejected.with_label_values(&["signature"]).get() >= 1);
    assert_eq!(rejected.with_label_values(&["key"]).get(), 1);
    assert_eq!(rejected.with_label_values(&["malformed"]).get(), 1);
    // The authority back: the genuine answer, not the forged one.
    lab.set_fault(&name("example.lab."), Fault::None).unwrap();
    b.resolver().flush(None, true);
    let r = query(b_dns, "host8.example.lab.", RecordType::A, Flags::default()).await;
    assert_eq!(a_data(&r), truth);
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A private CA, a server certificate for `localhost` and 127.0.0.1 and a
/// client certificate, both issued by it (made with the `openssl` tool).
pub struct TlsFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// Make them in `dir`, or None (loudly) without `openssl`.
    pub fn make(dir: &Path) -> Option<TlsFiles> {
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output();
            match out {
                Ok(o) if o.status.success() => Some(()),
                Ok(o) => panic!("openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr)),
                Err(e) => {
                    eprintln!("\n*** SKIPPED: openssl not runnable ({e}) ***\n");
                    None
                }
            }
        };
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let ca = [
            &[
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                "/CN=lastgood test CA",
            ][..],
            &key,
        ]
        .concat();
        openssl(&[&ca[..], &["-keyout", "ca.key", "-out", "ca.pem"]].concat())?;
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for who in ["server", "client"] {
            let (k, csr, pem, ext) = (
                format!("{who}.key"),
                format!("{who}.csr"),
                format!("{who}.pem"),
                format!("{who}.ext"),
            );
            let subj = format!("/CN=lastgood test {who}");
            openssl(
                &[
                    &["req", "-subj", &subj, "-keyout", &k, "-out", &csr][..],
                    &key,
                ]
                .concat(),
            )?;
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ])?;
        }
        Some(TlsFiles {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        })
    }
}

/// `redis-url = "rediss://..."` and the given TLS keys.
fn tls_keys(port: u16, files: &[(&str, &Path)]) -> String {
    let mut keys = format!("redis-url = \"rediss://localhost:{port}/0\"\n");
    for (key, path) in files {
        keys.push_str(&format!("{key} = \"{}\"\n", path.display()));
    }
    keys
}

/// Until the fleet tier of `app` either counted a failed connect (true)
/// or came up (false).
async fn connect_refused(app: &App) -> bool {
    let fleet = app.resolver().fleet().unwrap().clone();
    let failed = || fleet.metrics().errors.with_label_values(&["connect"]).get() >= 1;
    assert!(
        eventually(|| failed() || fleet.is_up()).await,
        "the link neither came up nor failed"
    );
    failed() && !fleet.is_up()
}

#[tokio::test]
async fn redis_over_tls_with_a_private_ca() {
    let (lab, dir) = lab_dir("fleet-tls").await;
    let Some(tls) = TlsFiles::make(&dir) else {
        return;
    };
    let Some(redis) = RedisServer::start_tls("tls", &tls, false) else {
        return;
    };
    let port = redis.tls_port.unwrap();
    // The CA trusted through redis-ca-file: up, and entries are written.
    let keys = tls_keys(port, &[("redis-ca-file", &tls.ca)]);
    let (a, _) = instance_with(&lab, &dir, "a", &keys).await;
    fleet_up(&a).await;
    let r = query(
        a.dns_addrs()[0],
        "host3.example.lab.",
        RecordType::A,
        Flags::default(),
    )
    .await;
    assert!(r.metadata.authentic_data);
    let written = a.resolver().fleet().unwrap().metrics().written.clone();
    assert!(
        eventually(|| written.get() >= 1).await,
        "nothing was written over TLS"
    );
    // Without it the system roots do not know the private CA.
    let (b, _) = instance_with(&lab, &dir, "b", &tls_keys(port, &[])).await;
    assert!(connect_refused(&b).await, "an unknown CA was trusted");
    b.shutdown().await;

    // A broken CA file at a reload: refused, the running link stays.
    let ca_copy = dir.join("a-ca.pem");
    std::fs::copy(&tls.ca, &ca_copy).unwrap();
    a.shutdown().await;
    let keys = tls_keys(port, &[("redis-ca-file", &ca_copy)]);
    let (a, _) = instance_with(&lab, &dir, "a", &keys).await;
    fleet_up(&a).await;
    std::fs::write(&ca_copy, "not a certificate\n").unwrap();
    let err = a.reload().unwrap_err().to_string();
    assert!(err.contains("redis-ca-file"), "{err}");
    assert!(a.resolver().fleet().unwrap().is_up());
    std::fs::remove_file(&ca_copy).unwrap();
    let err = a.reload().unwrap_err().to_string();
    assert!(
        err.contains("redis-ca-file") && err.contains("a-ca.pem"),
        "{err}"
    );
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn redis_tls_client_certificate() {
    let (lab, dir) = lab_dir("fleet-mtls").await;
    let Some(tls) = TlsFiles::make(&dir) else {
        return;
    };
    let Some(redis) = RedisServer::start_tls("mtls", &tls, true) else {
        return;
    };
    let port = redis.tls_port.unwrap();
    // A server that checks client certificates refuses a client without one.
    let (a, _) = instance_with(
        &lab,
        &dir,
        "a",
        &tls_keys(port, &[("redis-ca-file", &tls.ca)]),
    )
    .await;
    assert!(connect_refused(&a).await, "no client certificate, still up");
    a.shutdown().await;
    let keys = tls_keys(
        port,
        &[
            ("redis-ca-file", &tls.ca),
            ("redis-cert-file", &tls.client_cert),
            ("redis-key-file", &tls.client_key),
        ],
    );
    let (b, _) = instance_with(&lab, &dir, "b", &keys).await;
    fleet_up(&b).await;
    b.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn ntas_changed_while_redis_is_down_reach_the_fleet_when_it_is_back() {
    let Some(mut redis) = RedisServer::start("nta-down") else {
        return;
    };
    let (lab, dir) = lab_dir("fleet-nta-down").await;
    let (a, _) = instance(&lab, &dir, "a", &redis.url()).await;
    let (b, b_clock) = instance(&lab, &dir, "b", &redis.url()).await;
    fleet_up(&a).await;
    fleet_up(&b).await;
    let a_fleet = a.resolver().fleet().unwrap().clone();
    let b_ntas = Arc::clone(b.resolver().ntas());
    let on_b = |zone: &str| {
        b_ntas
            .active(b_clock.now())
            .iter()
            .any(|n| n.zone == name(zone))
    };
    let nta = |zone: &str, add: bool| NtaArgs {
        control: control(&a),
        command: if add {
            NtaCommand::Add {
                zone: zone.into(),
                lifetime: Some("2h".into()),
                reason: Some("added while redis was down".into()),
                force: false,
            }
        } else {
            NtaCommand::Remove { zone: zone.into() }
        },
    };
    // One NTA shared while Redis is up, to be removed while it is down.
    lastgood_resolver::cli::nta(&nta("example.lab.", true))
        .await
        .unwrap();
    assert!(eventually(|| on_b("example.lab.")).await);

    redis.kill();
    assert!(
        eventually(|| !a_fleet.is_up()).await,
        "A never saw Redis go"
    );
    lastgood_resolver::cli::nta(&nta("lab.", true))
        .await
        .unwrap();
    lastgood_resolver::cli::nta(&nta("example.lab.", false))
        .await
        .unwrap();
    assert!(
        eventually(|| a_fleet.pending_nta_count() == 2).await,
        "{}",
        a_fleet.status()
    );
    assert!(!on_b("lab."), "reached B with Redis down?");

    redis.restart();
    assert!(
        eventually(|| on_b("lab.")).await,
        "the NTA added while Redis was down never reached B"
    );
    assert!(
        eventually(|| !on_b("example.lab.")).await,
        "the NTA removed while Redis was down stayed on B"
    );
    assert_eq!(a_fleet.pending_nta_count(), 0);
    let a_nta = a.resolver().ntas().active(a.resolver().now());
    let b_nta = b.resolver().ntas().active(b_clock.now());
    assert_eq!(a_nta.len(), 1);
    assert_eq!(b_nta.len(), 1);
    assert_eq!(a_nta[0].expires_at, b_nta[0].expires_at);
    assert_eq!(b_nta[0].reason, "added while redis was down");
    b.shutdown().await;
    a.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
