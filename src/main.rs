//! `lastgood`: thin CLI over the library. Parses flags, loads and checks
//! the configuration, runs; every error becomes a message and exit code 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use lastgood::clock::SystemClock;
use lastgood::config::{Config, LogFormat};
use lastgood::dnssec::TrustAnchors;
use lastgood::metrics::Metrics;
use lastgood::resolve::{Resolver, ResolverConfig, servers};
use lastgood::server::{Acl, Server, ServerConfig};

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
    /// Run the resolver.
    Serve(ServeArgs),
    /// Run the testbed authoritative servers (signed root, lab., example.lab.).
    Lab(lastgood::lab::LabArgs),
    /// Ask a resolver one question and print the answer like dig.
    Query(QueryArgs),
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
    let flags = lastgood::client::Flags {
        dnssec_ok: !args.no_dnssec,
        checking_disabled: args.cd,
        tcp: args.tcp,
        ..lastgood::client::Flags::default()
    };
    let resp = runtime()?.block_on(lastgood::client::query(args.server, &name, qtype, flags))?;
    print!("{}", lastgood::client::render(&resp));
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
        Command::Lab(args) => {
            init_logging(LogFormat::Text);
            runtime()?.block_on(lastgood::lab::run(args)).context("lab")
        }
        Command::Query(args) => query(args),
        Command::CheckConfig { file } => {
            let config = Config::load(&file)?;
            resolver_config(&config)?;
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

/// Load the files the configuration names into a resolver configuration.
fn resolver_config(config: &Config) -> anyhow::Result<ResolverConfig> {
    let mut rc = ResolverConfig::internet()?;
    if let Some(path) = &config.root_hints {
        rc.root_hints = servers::load_hints(path)?;
    }
    if let Some(path) = &config.trust_anchor {
        rc.anchors = TrustAnchors::from_file(path)?;
    }
    rc.upstream_port = config.upstream_port;
    rc.dnssec = config.dnssec;
    rc.qname_minimisation = config.qname_minimisation;
    rc.cache_bytes = config.cache_bytes;
    rc.max_stale = config.max_stale;
    rc.stale = config.stale;
    Ok(rc)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if !args.listen.is_empty() {
        config.listen = args.listen.clone();
    }
    if args.root_hints.is_some() {
        config.root_hints = args.root_hints.clone();
    }
    if args.trust_anchor.is_some() {
        config.trust_anchor = args.trust_anchor.clone();
    }
    if let Some(port) = args.upstream_port {
        config.upstream_port = port;
    }
    if args.no_dnssec {
        config.dnssec = false;
    }
    if let Some(f) = &args.log_format {
        config.log_format = match f.as_str() {
            "json" => LogFormat::Json,
            "text" => LogFormat::Text,
            other => anyhow::bail!("--log-format {other:?}: expected text or json"),
        };
    }
    init_logging(config.log_format);
    let rc = resolver_config(&config)?;
    runtime()?.block_on(async move {
        let metrics = Metrics::new()?;
        let resolver = Resolver::new(rc, Arc::new(SystemClock), metrics.clone());
        let mut sc = ServerConfig::new(config.listen.clone());
        if let Some(nets) = &config.allow {
            sc.acl = Acl::new(nets.clone());
        }
        let server = Server::bind(sc, Arc::new(resolver), metrics).await?;
        let handle = server.start();
        for addr in handle.local_addrs() {
            tracing::info!(%addr, "serving");
        }
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        tracing::info!("shutting down");
        handle.shutdown().await;
        anyhow::Ok(())
    })
}
