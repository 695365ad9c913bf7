//! Forward and stub zones (issue 8): a private zone `corp.internal.`,
//! served standalone by the lab on its own 127.54.0.x addresses and not
//! delegated from the lab root, reached through `[[forward-zone]]` /
//! `[[stub-zone]]`: answers, failover between the listed servers, the
//! stale ladder when all of them fail, validation with a configured
//! anchor (AD) and without one (Insecure, never Bogus), and the
//! `private-address` rebinding filter. Failover and the stale ladder run
//! on the replay harness (the zone in-process, virtual time); the rest on
//! sockets.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use lastgood_lab::sign::Denial;
use lastgood_lab::{Fault, Lab, LabAlgorithm, StandaloneZone, default_zones_dir};
use lastgood_resolver::dnssec::TrustAnchors;
use lastgood_resolver::resolve::ResolverConfig;
use lastgood_resolver::resolve::private::{
    DEFAULT_PRIVATE_NETS, PrivateAddresses, PrivateZone, PrivateZones, ZoneMode,
};

use crate::harness::{Testbed, a_data, ede_codes, name, served_lab};
use crate::replay::Replay;

pub(crate) const ZONE: &str = "corp.internal.";
/// Just past the zone's TTL (300 s).
const EXPIRE: Duration = Duration::from_secs(301);

pub(crate) fn corp_servers() -> [IpAddr; 2] {
    ["127.54.0.1".parse().unwrap(), "127.54.0.2".parse().unwrap()]
}

/// The internal authority: `corp.internal.` on two addresses.
pub(crate) async fn corp_lab(signed: bool) -> Lab {
    Lab::start_standalone(StandaloneZone {
        origin: name(ZONE),
        file: default_zones_dir().join("corp.internal.zone"),
        servers: corp_servers().to_vec(),
        denial: signed.then_some(Denial::Nsec),
        algorithm: LabAlgorithm::EcdsaP256,
        port: 0,
    })
    .await
    .unwrap()
}

/// The anchor an operator would configure: the zone's DS.
pub(crate) fn corp_anchor(corp: &Lab) -> TrustAnchors {
    let text: String = corp
        .ds_records(&name(ZONE))
        .iter()
        .map(|ds| format!("{ZONE} 3600 IN DS {ds}\n"))
        .collect();
    TrustAnchors::parse(&text, "corp anchor").unwrap()
}

/// A testbed whose resolver sends `corp.internal.` to `corp` in `mode`;
/// with `anchor`, the zone validates from it.
pub(crate) async fn testbed(corp: &Lab, mode: ZoneMode, anchor: Option<TrustAnchors>) -> Testbed {
    Testbed::start_with(corp_zone(corp, mode, anchor)).await
}

/// The configuration of `corp.internal.` as a zone of `mode`.
fn corp_zone(
    corp: &Lab,
    mode: ZoneMode,
    anchor: Option<TrustAnchors>,
) -> impl FnOnce(&mut ResolverConfig) + use<> {
    let servers: Vec<SocketAddr> = corp_servers()
        .iter()
        .map(|ip| SocketAddr::new(*ip, corp.port()))
        .collect();
    move |c: &mut ResolverConfig| {
        let secure = anchor.is_some();
        if let Some(anchor) = anchor {
            c.anchors.extend(anchor);
        }
        c.private_zones = PrivateZones::new(vec![PrivateZone {
            name: name(ZONE),
            mode,
            servers,
            secure,
            forward_first: false,
        }]);
    }
}

/// `corp.internal.` in-process, and the replay testbed in front of it
/// and the lab.
async fn replayed(mode: ZoneMode) -> (Arc<Lab>, Replay) {
    let corp = Arc::new(
        Lab::standalone_in_process(StandaloneZone {
            origin: name(ZONE),
            file: default_zones_dir().join("corp.internal.zone"),
            servers: corp_servers().to_vec(),
            denial: None,
            algorithm: LabAlgorithm::EcdsaP256,
            port: 0,
        })
        .await
        .unwrap(),
    );
    let tb = Replay::start_with(corp_zone(&corp, mode, None)).await;
    tb.net.add_lab(Arc::clone(&corp));
    (corp, tb)
}

fn www() -> Vec<RData> {
    vec![RData::A("10.1.2.3".parse().unwrap())]
}

async fn answers_in(mode: ZoneMode) {
    let corp = corp_lab(false).await;
    let tb = testbed(&corp, mode, None).await;
    let r = tb.query("www.corp.internal.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(a_data(&r), www(), "{mode:?}");
    assert!(!r.metadata.authentic_data, "no anchor: Insecure");
    let r = tb.query("mail.corp.internal.", RecordType::A).await;
    assert_eq!(a_data(&r), www(), "{mode:?}: CNAME followed");
    let r = tb.query("nope.corp.internal.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{mode:?}");
    // The public hierarchy is untouched and still validates.
    let r = tb.query("host1.example.lab.", RecordType::A).await;
    assert!(r.metadata.authentic_data);
    assert!(corp.total_queries() > 0);
    assert_eq!(
        tb.lab
            .queries_received("127.53.0.1".parse().unwrap())
            .min(1),
        1,
        "the lab root saw the public query"
    );
}

#[tokio::test]
async fn forward_zone_answers() {
    answers_in(ZoneMode::Forward).await;
}

#[tokio::test]
async fn stub_zone_answers() {
    answers_in(ZoneMode::Stub).await;
}

#[tokio::test]
async fn private_names_never_reach_the_root() {
    let corp = corp_lab(false).await;
    let tb = testbed(&corp, ZoneMode::Forward, None).await;
    let r = tb.query("db.corp.internal.", RecordType::AAAA).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(tb.lab.total_queries(), 0, "nothing asked of the public lab");
}

/// On the replay harness: the dead server's timeouts pass in virtual time.
#[tokio::test(start_paused = true)]
async fn failover_to_the_second_server() {
    let (corp, tb) = replayed(ZoneMode::Forward).await;
    let [first, second] = corp_servers();
    corp.set_fault_at(&name(ZONE), first, Fault::Drop).unwrap();
    let t = Instant::now();
    let r = tb.query("www.corp.internal.", RecordType::A).await;
    eprintln!("failover: first answer after {:?}", t.elapsed());
    assert_eq!(a_data(&r), www());
    assert!(corp.queries_received(first) >= 1, "the first was tried");
    assert!(corp.queries_received(second) >= 1, "the second answered");
    // The dead server now sorts last: the next question goes straight to
    // the second one.
    let before = corp.queries_received(first);
    let t = Instant::now();
    let r = tb.query("db.corp.internal.", RecordType::AAAA).await;
    eprintln!("failover: next question after {:?}", t.elapsed());
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(corp.queries_received(first), before, "dead server skipped");
}

/// On the replay harness: the dead servers' timeouts pass in virtual time.
#[tokio::test(start_paused = true)]
async fn stale_when_every_server_is_down() {
    for mode in [ZoneMode::Forward, ZoneMode::Stub] {
        let (corp, tb) = replayed(mode).await;
        let fresh = tb.query("www.corp.internal.", RecordType::A).await;
        assert_eq!(a_data(&fresh), www());
        corp.set_fault_everywhere(&name(ZONE), &Fault::Drop)
            .unwrap();
        tb.advance(EXPIRE).await;
        let t = Instant::now();
        let r = tb.query("www.corp.internal.", RecordType::A).await;
        eprintln!("{mode:?}: first stale answer after {:?}", t.elapsed());
        assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
        assert_eq!(a_data(&r), www(), "{mode:?}: the last good answer");
        assert!(r.answers.iter().all(|rr| rr.ttl == 30), "stale TTL");
        assert_eq!(ede_codes(&r).first(), Some(&3), "{:?}", ede_codes(&r));
        // Once the refresh has failed, the failure window answers stale
        // with the cause and without asking the dead servers.
        for _ in 0..100 {
            if !tb.resolver.failing_zones().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(tb.resolver.failing_zones(), vec![name(ZONE)]);
        let before = corp.total_queries();
        let t = Instant::now();
        let r = tb.query("www.corp.internal.", RecordType::A).await;
        eprintln!(
            "{mode:?}: stale in the recheck window after {:?}",
            t.elapsed()
        );
        let codes = ede_codes(&r);
        assert!(codes.contains(&3) && codes.contains(&22), "{codes:?}");
        assert_eq!(corp.total_queries(), before, "{mode:?}: recheck window");
        // Never cached: SERVFAIL with the cause, not a hang.
        let r = tb.query("other.corp.internal.", RecordType::A).await;
        assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    }
}

#[tokio::test]
async fn signed_private_zone_validates_with_its_anchor() {
    let corp = corp_lab(true).await;
    let tb = testbed(&corp, ZoneMode::Forward, Some(corp_anchor(&corp))).await;
    let r = tb.query("www.corp.internal.", RecordType::A).await;
    assert_eq!(a_data(&r), www());
    assert!(
        r.metadata.authentic_data,
        "validated from the configured anchor"
    );
    let r = tb.query("nope.corp.internal.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authentic_data, "NSEC denial validated");

    // The same zone as a stub zone validates too.
    let tb = testbed(&corp, ZoneMode::Stub, Some(corp_anchor(&corp))).await;
    let r = tb.query("www.corp.internal.", RecordType::A).await;
    assert!(r.metadata.authentic_data);

    // Broken signatures under an anchor are Bogus: SERVFAIL.
    corp.set_fault_everywhere(&name(ZONE), &Fault::BadSignatures)
        .unwrap();
    let tb = testbed(&corp, ZoneMode::Forward, Some(corp_anchor(&corp))).await;
    let r = tb.query("www.corp.internal.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert!(ede_codes(&r).contains(&6), "{:?}", ede_codes(&r));
}

#[tokio::test]
async fn signed_private_zone_without_anchor_is_insecure() {
    let corp = corp_lab(true).await;
    let tb = testbed(&corp, ZoneMode::Forward, None).await;
    let r = tb.query("www.corp.internal.", RecordType::A).await;
    assert_eq!(a_data(&r), www());
    assert!(!r.metadata.authentic_data, "no anchor: no AD");
    // Never Bogus: even broken signatures are answered, without AD.
    corp.set_fault_everywhere(&name(ZONE), &Fault::BadSignatures)
        .unwrap();
    let r = tb.query("db.corp.internal.", RecordType::AAAA).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert!(!r.metadata.authentic_data);
}

#[tokio::test]
async fn private_address_strips_public_answers_only() {
    let corp = corp_lab(false).await;
    let servers: Vec<SocketAddr> = corp_servers()
        .iter()
        .map(|ip| SocketAddr::new(*ip, corp.port()))
        .collect();
    let tb = Testbed::start_with(move |c: &mut ResolverConfig| {
        c.private_zones = PrivateZones::new(vec![PrivateZone {
            name: name(ZONE),
            mode: ZoneMode::Forward,
            servers,
            secure: false,
            forward_first: false,
        }]);
        c.private_addresses = PrivateAddresses {
            nets: DEFAULT_PRIVATE_NETS
                .iter()
                .map(|n| n.parse().unwrap())
                .collect(),
        };
    })
    .await;
    // A public name whose address is loopback (the lab's own name
    // servers): stripped whole, NOERROR with an empty answer, EDE 15.
    let r = tb.query("ns1.insecure.lab.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert!(a_data(&r).is_empty(), "{r:?}");
    assert_eq!(ede_codes(&r), vec![15]);
    assert!(!r.metadata.authentic_data);
    // Resolution itself still uses those addresses (glue is not
    // filtered), and public addresses pass: 2001:db8::1 is not private.
    let r = tb.query("host1.example.lab.", RecordType::AAAA).await;
    assert_eq!(r.answers.len(), 2, "AAAA and its RRSIG: {r:?}");
    assert!(r.metadata.authentic_data && ede_codes(&r).is_empty());
    // Private zones are exempt.
    let r = tb.query("www.corp.internal.", RecordType::A).await;
    assert_eq!(a_data(&r), www());
    assert!(ede_codes(&r).is_empty());
}

/// The operator's path: `[[forward-zone]]` with a `trust-anchor` file in
/// the config, `check-config`'s checks on reload, and a broken forward
/// config refused while the running one keeps answering.
#[tokio::test]
async fn config_file_forward_zone_and_reload() {
    use lastgood_resolver::app::{App, AppOptions, Overrides};
    use lastgood_resolver::clock::ManualClock;
    use std::sync::Arc;

    let lab = served_lab().await;
    let corp = corp_lab(true).await;
    let dir = std::env::temp_dir().join(format!(
        "lastgood-forward-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("root.hints"), lab.root_hints()).unwrap();
    std::fs::write(dir.join("root.key"), lab.trust_anchor()).unwrap();
    let anchor: String = corp
        .ds_records(&name(ZONE))
        .iter()
        .map(|ds| format!("{ZONE} 3600 IN DS {ds}\n"))
        .collect();
    std::fs::write(dir.join("corp.key"), anchor).unwrap();
    let base = format!(
        r#"listen = ["127.0.0.1:0"]
root-hints = "{hints}"
trust-anchor = "{root_key}"
upstream-port = {port}
control-listen = "127.0.0.1:0"
"#,
        hints = dir.join("root.hints").display(),
        root_key = dir.join("root.key").display(),
        port = lab.port(),
    );
    // The issue's snake_case spelling is accepted too.
    let good = format!(
        r#"{base}
[[forward_zone]]
name = "Corp.Internal"
addrs = ["127.54.0.1:{p}", "127.54.0.2:{p}"]
trust_anchor = "{corp_key}"
"#,
        p = corp.port(),
        corp_key = dir.join("corp.key").display(),
    );
    let config = dir.join("lastgood.toml");
    std::fs::write(&config, &good).unwrap();
    let options = AppOptions {
        config_path: Some(config.clone()),
        overrides: Overrides::default(),
    };
    let app = App::start(options, Arc::new(ManualClock::new()))
        .await
        .unwrap();
    let dns = app.dns_addrs()[0];
    let ask = || {
        crate::harness::query(
            dns,
            "www.corp.internal.",
            RecordType::A,
            crate::harness::Flags::default(),
        )
    };
    let r = ask().await;
    assert_eq!(a_data(&r), www());
    assert!(r.metadata.authentic_data, "anchor from the config file");

    let cases = [
        (
            format!("{good}[[stub-zone]]\nname = \"corp.internal.\"\naddrs = [\"127.0.0.1\"]\n"),
            "key `stub-zone.name`: value \"corp.internal.\" is invalid: corp.internal. is already a [[forward-zone]]",
        ),
        (
            format!(
                "{base}[[forward-zone]]\nname = \"corp.internal.\"\naddrs = [\"10.0.0.1:0\"]\n"
            ),
            "key `forward-zone.addrs`: value \"10.0.0.1:0\"",
        ),
        (
            format!(
                "{base}[[forward-zone]]\nname = \"corp.internal.\"\naddrs = [\"10.0.0.1\"]\ntrust-anchor = \"{}\"\n",
                dir.join("root.key").display()
            ),
            "trust anchor for . is outside the private zone corp.internal.",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&config, &text).unwrap();
        let err = app.reload().unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
        assert!(
            err.contains("lastgood.toml") || err.contains("root.key"),
            "{err}"
        );
        let r = ask().await;
        assert!(r.metadata.authentic_data, "running config kept");
    }
    // A valid reload without the anchor applies: Insecure from now on.
    std::fs::write(
        &config,
        format!(
            "{base}[[stub-zone]]\nname = \"corp.internal\"\naddrs = [\"127.54.0.2:{}\"]\n",
            corp.port()
        ),
    )
    .unwrap();
    app.reload().unwrap();
    // (Entries cached before keep the verdict they were stored with until
    // their TTL, as with any trust anchor change; a new name shows it.)
    let r = crate::harness::query(
        dns,
        "db.corp.internal.",
        RecordType::AAAA,
        crate::harness::Flags::default(),
    )
    .await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.answers.len(), 2, "AAAA and RRSIG: {r:?}");
    assert!(!r.metadata.authentic_data, "no anchor now: Insecure");
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn stub_zone_follows_referrals_below_it() {
    let corp = corp_lab(false).await;
    let tb = testbed(&corp, ZoneMode::Stub, None).await;
    // The delegated child answers on the resolver's upstream port, as any
    // server learned from a referral does.
    let dev_ip: IpAddr = "127.54.0.3".parse().unwrap();
    let dev = Lab::start_standalone(StandaloneZone {
        origin: name("dev.corp.internal."),
        file: default_zones_dir().join("dev.corp.internal.zone"),
        servers: vec![dev_ip],
        denial: None,
        algorithm: LabAlgorithm::EcdsaP256,
        port: tb.lab.port(),
    })
    .await
    .unwrap();
    let r = tb.query("build.dev.corp.internal.", RecordType::A).await;
    assert_eq!(r.metadata.response_code, ResponseCode::NoError, "{r:?}");
    assert_eq!(a_data(&r), vec![RData::A("10.9.9.9".parse().unwrap())]);
    assert!(dev.queries_received(dev_ip) >= 1);
    assert_eq!(tb.lab.total_queries(), 0, "nothing asked of the public lab");
}
