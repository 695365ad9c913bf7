//! `lastgood`: thin CLI over the library. Parses flags, loads and checks
//! the configuration, runs; every error becomes a message and exit code 1.
//! Lints (no unwrap/expect/panic/indexing, `unsafe_code` forbidden) come
//! from Cargo.toml's `[lints]`, which covers every target; the attribute
//! below says it here too.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use lastgood_resolver::app::{App, AppOptions, Overrides};
use lastgood_resolver::clock::{SharedClock, SystemClock};
use lastgood_resolver::config::{Config, LogFormat};

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
    /// Flush cache entries (via the control API).
    Cache(lastgood_resolver::cli::CacheArgs),
    /// Failing zones: `zone retry ZONE` probes one now (via the control API).
    Zone(lastgood_resolver::cli::ZoneArgs),
    /// Ask the running resolver to reload its configuration.
    Reload(lastgood_resolver::cli::ControlOpts),
    /// Show the running resolver's status.
    Status(lastgood_resolver::cli::ControlOpts),
    /// Check a configuration file (and the files it names) without starting.
    CheckConfig {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// TOML configuration file; flags override it.
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
    /// Log format: text or json.
    #[arg(long)]
    log_format: Option<String>,
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
}

fn query(args: QueryArgs) -> anyhow::Result<()> {
    let name = hickory_proto::rr::Name::from_str(&args.name)
        .with_context(|| format!("name {:?}", args.name))?;
    let qtype = hickory_proto::rr::RecordType::from_str(&args.qtype.to_uppercase())
        .with_context(|| format!("record type {:?}", args.qtype))?;
    let flags = lastgood_resolver::client::Flags {
        dnssec_ok: !args.no_dnssec,
        checking_disabled: args.cd,
        tcp: args.tcp,
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
            // `{:#}` prints the whole cause chain on one line, no backtrace.
            eprintln!("lastgood: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Demo(args) => {
            let ok = runtime()?.block_on(lastgood_lab::demo::run(args))?;
            anyhow::ensure!(ok, "demo: some steps did not behave as expected");
            Ok(())
        }
        Command::Lab(args) => {
            init_logging(LogFormat::Text);
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
        Command::Nta(args) => Ok(lastgood_resolver::cli::run_nta(args)?),
        Command::Cache(args) => Ok(lastgood_resolver::cli::run_cache(args)?),
        Command::Zone(args) => Ok(lastgood_resolver::cli::run_zone(args)?),
        Command::Reload(args) => Ok(lastgood_resolver::cli::run_reload(args)?),
        Command::Status(args) => Ok(lastgood_resolver::cli::run_status(args)?),
        Command::CheckConfig { file } => {
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

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let options = AppOptions {
        config_path: args.config.clone(),
        overrides: Overrides {
            listen: args.listen.clone(),
            root_hints: args.root_hints.clone(),
            trust_anchor: args.trust_anchor.clone(),
            upstream_port: args.upstream_port,
            no_dnssec: args.no_dnssec,
        },
    };
    let clock: SharedClock = Arc::new(SystemClock);
    // Logging is set up from the file's log-format before anything else
    // can log; the full check happens in App::start.
    let log_format = match &args.log_format {
        Some(f) => match f.as_str() {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            other => anyhow::bail!("--log-format {other:?}: expected text or json"),
        },
        None => match &args.config {
            Some(path) => Config::load(path)?.log_format,
            None => LogFormat::Text,
        },
    };
    init_logging(log_format);
    runtime()?.block_on(async move {
        let app = App::start(options, clock).await?;
        for addr in app.dns_addrs() {
            tracing::info!(%addr, "serving DNS");
        }
        if let Some(addr) = app.control_addr() {
            tracing::info!(%addr, "control API (token) and /metrics over TCP");
        }
        if let Some(path) = app.control_socket() {
            tracing::info!(path = %path.display(), "control API on the local socket");
        }
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
        app.shutdown().await;
        anyhow::Ok(())
    })
}
