//! `lastgood`: thin CLI over the library. Parses flags, loads and checks
//! the configuration, runs; every error becomes a message and exit code 1.
//! Lints (no unwrap/expect/panic/indexing, `unsafe_code` forbidden) come
//! from Cargo.toml's `[lints]`, which covers every target; the attribute
//! below says it here too.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use lastgood_resolver::app::{App, AppOptions, Overrides};
use lastgood_resolver::clock::{SharedClock, SystemClock};
use lastgood_resolver::config::{Config, DEFAULT_CONFIG_FILE, LogFormat, LogLevel};
use lastgood_resolver::service::{Notifier, drop_privileges};

#[derive(Parser, Debug)]
#[command(
    name = "lastgood",
    version,
    about = "A validating, caching, recursive DNS resolver that serves the last answer that validated"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The offline demo: lab hierarchy + resolver, a broken TLD rollover, the ladder.
    Demo(lastgood_lab::demo::DemoArgs),
    /// Run the resolver.
    Serve(ServeArgs),
    /// Run the testbed authoritative servers (signed root, lab., example.lab.).
    Lab(lastgood_lab::LabArgs),
    /// The scaled incident lab (issue 21): de-lab. with thousands of
    /// children on three instances, and the 2026 .de break as a timeline.
    LabIncident(lastgood_lab::scale::IncidentArgs),
    /// The incident replay's client load: Zipf-distributed queries at a
    /// fixed rate until the lab's timeline ends; one CSV row per query.
    IncidentClient(lastgood_lab::incident_client::ClientArgs),
    /// Send one control line to a running `lastgood lab --control ADDR`.
    LabCtl(lastgood_lab::cli::LabCtlArgs),
    /// Ask a resolver one question and print the answer like dig.
    Query(QueryArgs),
    /// Negative trust anchors: add, remove, list (via the control API: the
    /// local socket unless --control says otherwise).
    Nta(lastgood_resolver::cli::NtaArgs),
    /// Flush cache entries, or only what failed validation (--bogus)
    /// (via the control API).
    Cache(lastgood_resolver::cli::CacheArgs),
    /// Failing zones: `zone retry ZONE` probes one now (via the control API).
    Zone(lastgood_resolver::cli::ZoneArgs),
    /// Ask the running resolver to reload its configuration.
    Reload(lastgood_resolver::cli::ControlOpts),
    /// Show the running resolver's status (a table; --json for all of it).
    Status(lastgood_resolver::cli::StatusArgs),
    /// What the cache and the last-good store hold for NAME [TYPE]: tier,
    /// TTL left, validation state, failure window, NTA (like
    /// `unbound-control lookup`; never asks upstream).
    Lookup(lastgood_resolver::cli::LookupArgs),
    /// Check a configuration file (and the files it names) without starting.
    CheckConfig {
        /// The TOML configuration file [default: /etc/lastgood/lastgood.toml].
        file: Option<PathBuf>,
    },
    /// Write the manual pages (roff) generated from these definitions:
    /// lastgood.1 to stdout, or every page into --dir (packaging).
    #[command(hide = true)]
    Man {
        /// Write lastgood.1 and one lastgood-SUBCOMMAND.1 per subcommand here.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// TOML configuration file; flags override it [default:
    /// /etc/lastgood/lastgood.toml if it exists, else built-in defaults].
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to listen on (UDP and TCP); repeatable.
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Root hints file (named.root format) instead of the built-in IANA set.
    #[arg(long)]
    root_hints: Option<PathBuf>,
    /// Trust anchor file (DS or DNSKEY records) instead of the built-in root KSKs.
    #[arg(long)]
    trust_anchor: Option<PathBuf>,
    /// Send every upstream query to this port (testbeds).
    #[arg(long)]
    upstream_port: Option<u16>,
    /// Turn DNSSEC validation off.
    #[arg(long)]
    no_dnssec: bool,
    /// Log format: text or json [default: log-format of the config, else text].
    #[arg(long)]
    log_format: Option<String>,
    /// Least severe level logged: error, warn, info, debug or trace
    /// [default: log-level of the config, else info]. RUST_LOG, when set,
    /// wins over both (it takes per-module directives).
    #[arg(long, value_parser = parse_log_level)]
    log_level: Option<LogLevel>,
}

fn parse_log_level(s: &str) -> Result<LogLevel, String> {
    LogLevel::parse(s).ok_or_else(|| format!("expected {}", LogLevel::ALLOWED))
}

/// `given`, else the default configuration file if there is one: without
/// it every subcommand behaves as with no configuration at all.
fn config_or_default(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        let path = PathBuf::from(DEFAULT_CONFIG_FILE);
        path.exists().then_some(path)
    })
}

#[derive(Args, Debug)]
struct QueryArgs {
    /// The resolver to ask.
    #[arg(long, short, default_value = "127.0.0.1:53")]
    server: SocketAddr,
    /// The name to look up.
    name: String,
    /// Record type (A, AAAA, TXT, MX, DS, DNSKEY, ...).
    #[arg(default_value = "A")]
    qtype: String,
    /// Set CD (checking disabled).
    #[arg(long)]
    cd: bool,
    /// Clear DO (no RRSIGs or proofs in the answer).
    #[arg(long)]
    no_dnssec: bool,
    /// Use TCP.
    #[arg(long)]
    tcp: bool,
    /// Ask for the server's NSID (RFC 5001), like dig +nsid.
    #[arg(long)]
    nsid: bool,
    /// Question class: IN, or CH (e.g. `lastgood query id.server TXT --class CH`).
    #[arg(long, default_value = "IN")]
    class: String,
}

fn query(args: QueryArgs) -> anyhow::Result<()> {
    let name = hickory_proto::rr::Name::from_str(&args.name)
        .with_context(|| format!("name {:?}", args.name))?;
    let qtype = hickory_proto::rr::RecordType::from_str(&args.qtype.to_uppercase())
        .with_context(|| format!("record type {:?}", args.qtype))?;
    let qclass = match args.class.to_ascii_uppercase().as_str() {
        "IN" => hickory_proto::rr::DNSClass::IN,
        "CH" | "CHAOS" => hickory_proto::rr::DNSClass::CH,
        other => anyhow::bail!("--class {other:?}: expected IN or CH"),
    };
    let flags = lastgood_resolver::client::Flags {
        dnssec_ok: !args.no_dnssec,
        checking_disabled: args.cd,
        tcp: args.tcp,
        nsid: args.nsid,
        qclass,
        ..lastgood_resolver::client::Flags::default()
    };
    let resp = runtime()?.block_on(lastgood_resolver::client::query(
        args.server,
        &name,
        qtype,
        flags,
    ))?;
    print!("{}", lastgood_resolver::client::render(&resp));
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lastgood: error: {}", error_text(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: many of our
/// errors already include their cause's text in their own message (a
/// path and the OS error, say), and `{:#}` would repeat it.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Demo(args) => {
            // The operator's view of the story on stderr: the zone failure
            // WARN and recovery INFO lines (issue 19), other warnings.
            init_logging(
                LogFormat::Text,
                "warn,lastgood_resolver::resolve::zonelog=info",
            );
            let ok = runtime()?.block_on(lastgood_lab::demo::run(args))?;
            anyhow::ensure!(ok, "demo: some steps did not behave as expected");
            Ok(())
        }
        Command::Lab(args) => {
            init_logging(LogFormat::Text, LogLevel::Info.as_str());
            runtime()?.block_on(lastgood_lab::run(args)).context("lab")
        }
        Command::LabIncident(args) => runtime()?
            .block_on(lastgood_lab::scale::run_incident(args))
            .context("lab-incident"),
        Command::IncidentClient(args) => runtime()?
            .block_on(lastgood_lab::incident_client::run(args))
            .context("incident-client"),
        Command::LabCtl(args) => Ok(runtime()?.block_on(lastgood_lab::cli::lab_ctl(args))?),
        Command::Query(args) => query(args),
        Command::Nta(mut args) => {
            args.control.config = config_or_default(args.control.config);
            Ok(lastgood_resolver::cli::run_nta(args)?)
        }
        Command::Cache(mut args) => {
            args.control.config = config_or_default(args.control.config);
            Ok(lastgood_resolver::cli::run_cache(args)?)
        }
        Command::Zone(mut args) => {
            args.control.config = config_or_default(args.control.config);
            Ok(lastgood_resolver::cli::run_zone(args)?)
        }
        Command::Reload(mut opts) => {
            opts.config = config_or_default(opts.config);
            Ok(lastgood_resolver::cli::run_reload(opts)?)
        }
        Command::Status(mut args) => {
            args.control.config = config_or_default(args.control.config);
            Ok(lastgood_resolver::cli::run_status(args)?)
        }
        Command::Lookup(mut args) => {
            args.control.config = config_or_default(args.control.config);
            Ok(lastgood_resolver::cli::run_lookup(args)?)
        }
        Command::Man { dir } => man(dir),
        Command::CheckConfig { file } => {
            let file = file.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
            let options = AppOptions {
                config_path: Some(file.clone()),
                overrides: Overrides::default(),
            };
            let clock: SharedClock = Arc::new(SystemClock);
            // The very check `serve` and reload make, writing nothing.
            let loaded = lastgood_resolver::app::load(
                &options,
                &clock,
                lastgood_resolver::control::Purpose::Check,
            )?;
            for w in &loaded.warnings {
                eprintln!("lastgood: warning: {w}");
            }
            println!("{}: ok", file.display());
            Ok(())
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// `lastgood man`: the manual pages from the clap definitions.
fn man(dir: Option<PathBuf>) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing manual pages to {}", dir.display()))
        }
        None => clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .context("writing the manual page"),
    }
}

/// Logs go to stderr (the journal under systemd), coloured only when
/// stderr is a terminal and `NO_COLOR` is unset. `RUST_LOG`, when set,
/// wins over `default` (a level, or `EnvFilter` directives).
fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config_path = config_or_default(args.config.clone());
    let options = AppOptions {
        config_path: config_path.clone(),
        overrides: Overrides {
            listen: args.listen.clone(),
            root_hints: args.root_hints.clone(),
            trust_anchor: args.trust_anchor.clone(),
            upstream_port: args.upstream_port,
            no_dnssec: args.no_dnssec,
        },
    };
    let clock: SharedClock = Arc::new(SystemClock);
    // Logging is set up from the file's log-format and log-level before
    // anything else can log; the full check happens in App::start.
    let file = match &config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let log_format = match &args.log_format {
        Some(f) => match f.as_str() {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            other => anyhow::bail!("--log-format {other:?}: expected text or json"),
        },
        None => file.log_format,
    };
    init_logging(
        log_format,
        args.log_level.unwrap_or(file.log_level).as_str(),
    );
    runtime()?.block_on(async move {
        let app = App::start(options, clock).await?;
        // Sockets bound, state directory and control socket open: the
        // account of `user =` needs nothing more from root.
        if let Some(run_as) = &file.run_as
            && drop_privileges(run_as)?
        {
            tracing::info!(user = %run_as.user, uid = run_as.uid, gid = run_as.gid, "switched user");
        }
        log_started(&app, config_path.as_deref());
        let notifier = match Notifier::from_env() {
            Ok(n) => n.map(Arc::new),
            Err(e) => {
                tracing::warn!("{e}; not reporting readiness to the service manager");
                None
            }
        };
        if let Some(n) = &notifier {
            n.notify("READY=1\nSTATUS=answering")?;
        }
        let watchdog = notifier
            .as_ref()
            .and_then(|n| n.watchdog_interval().map(|every| (Arc::clone(n), every)))
            .map(|(n, every)| tokio::spawn(watchdog_loop(n, every)));
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("installing the SIGHUP handler")?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    // A refused reload is logged and counted; we keep serving.
                    let _ = app.reload();
                }
                _ = term.recv() => break,
                r = tokio::signal::ctrl_c() => {
                    r.context("waiting for Ctrl-C")?;
                    break;
                }
            }
        }
        tracing::info!("shutting down");
        if let Some(n) = &notifier
            && let Err(e) = n.notify("STOPPING=1")
        {
            tracing::warn!("{e}");
        }
        if let Some(w) = watchdog {
            w.abort();
        }
        app.shutdown().await;
        anyhow::Ok(())
    })
}

/// `WATCHDOG=1` every `every` from a task of the runtime: a stuck runtime
/// stops the pings and systemd restarts the service.
async fn watchdog_loop(notifier: Arc<Notifier>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if let Err(e) = notifier.notify("WATCHDOG=1") {
            tracing::warn!("{e}");
        }
    }
}

/// The one start-up line: version, configuration file, listeners, trust
/// anchors and the NTAs in force (restored from the state file or from
/// the configuration).
fn log_started(app: &App, config: Option<&std::path::Path>) {
    let resolver = app.resolver();
    let rc = resolver.config();
    let anchors: Vec<String> = rc
        .anchors
        .zones()
        .map(|zone| {
            let (ds, keys) = rc.anchors.get(zone).unwrap_or_default();
            let tags: Vec<String> = ds.iter().map(|d| d.key_tag().to_string()).collect();
            format!(
                "{zone} DS {} + {} DNSKEY",
                if tags.is_empty() {
                    "-".to_owned()
                } else {
                    tags.join(" ")
                },
                keys.len()
            )
        })
        .collect();
    let now = lastgood_resolver::clock::Clock::now(&SystemClock);
    let ntas = resolver.ntas().list(now);
    let restored = ntas
        .iter()
        .filter(|n| n.source == lastgood_resolver::nta::NtaSource::Api)
        .count();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config.map_or_else(|| "none (built-in defaults)".to_owned(), |p| p.display().to_string()),
        listen = %app.dns_addrs().iter().map(ToString::to_string).collect::<Vec<_>>().join(" "),
        control_socket = %app.control_socket().map_or_else(|| "off".to_owned(), |p| p.display().to_string()),
        control_tcp = %app.control_addr().map_or_else(|| "off".to_owned(), |a| a.to_string()),
        trust_anchors = %anchors.join(", "),
        dnssec = rc.dnssec,
        ntas_restored = restored,
        ntas_from_config = ntas.len().saturating_sub(restored),
        "lastgood started"
    );
}
