//! The running resolver as an operator sees it: built from a config file
//! plus command-line overrides, serving DNS and the control API, rechecking
//! NTAs, and reloading its configuration without ever dropping a working
//! one (fail stale for our own inputs: a config, trust-anchor or token file
//! that does not check is refused and the running one kept).
//!
//! [`load`] is the one check shared by `serve`, reload and `check-config`:
//! what it refuses, all three refuse with the same message; what it warns
//! about (an open or empty `allow`, a DS anchor whose digest length does not
//! fit its type, an unusable state directory, a damaged NTA state file) is
//! logged by `serve` and printed by `check-config`. Optional state never
//! stops the resolver: a bad NTA state file is moved aside and its good
//! entries kept, an unwritable state directory means NTAs in memory only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;

use crate::clock::SharedClock;
use crate::config::{Config, ConfigError, RefusedClients};
use crate::control::{
    self, BoxFuture, Control, ControlConfig, ControlError, ControlHandle, Flush, Purpose,
};
use crate::dnssec::{AnchorError, TrustAnchors};
use crate::metrics::{Metrics, MetricsError};
use crate::nta::{NtaError, NtaSource, NtaStore, NtaView};
use crate::resolve::private::{PrivateAddresses, PrivateZone, PrivateZones};
use crate::resolve::{HintsError, Resolver, ResolverConfig, servers};

mod checks;
use crate::server::{Acl, Server, ServerConfig, ServerError, ServerHandle};

/// Why the app could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    // The wrapped errors already name their file; no prefix, or a cause
    // chain printed with `{:#}` would say it twice.
    #[error(transparent)]
    Hints(#[from] HintsError),
    #[error(transparent)]
    Anchor(#[from] AnchorError),
    #[error(transparent)]
    Nta(#[from] NtaError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetError),
    #[error(
        "{}: trust anchor for {anchor} is outside the private zone {zone} it is configured for",
        path.display()
    )]
    AnchorOutsideZone {
        path: PathBuf,
        anchor: String,
        zone: String,
    },
}

/// Command-line flags that override the file (reapplied on every reload).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Vec<SocketAddr>,
    pub root_hints: Option<PathBuf>,
    pub trust_anchor: Option<PathBuf>,
    pub upstream_port: Option<u16>,
    pub no_dnssec: bool,
}

/// Where the configuration comes from.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    pub config_path: Option<PathBuf>,
    pub overrides: Overrides,
}

/// A checked configuration and everything made from it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub resolver: ResolverConfig,
    /// The control listeners (token read, or generated at start).
    pub control: ControlConfig,
    /// Problems reported but not refused, one line each.
    pub warnings: Vec<String>,
}

/// Read and check everything a configuration names: the file, the hints,
/// the trust anchors, the control token and TLS files, the state
/// directory and NTA state file. With [`Purpose::Check`] nothing is
/// written; with [`Purpose::Start`] the control token is generated in
/// `state-dir` if needed (the NTA state file is opened by [`App::start`]).
pub fn load(
    options: &AppOptions,
    clock: &SharedClock,
    purpose: Purpose,
) -> Result<Loaded, AppError> {
    let mut config = match &options.config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let o = &options.overrides;
    if !o.listen.is_empty() {
        config.listen = o.listen.clone();
    }
    if o.root_hints.is_some() {
        config.root_hints = o.root_hints.clone();
    }
    if o.trust_anchor.is_some() {
        config.trust_anchor = o.trust_anchor.clone();
    }
    if let Some(port) = o.upstream_port {
        config.upstream_port = port;
    }
    if o.no_dnssec {
        config.dnssec = false;
    }
    let rc = resolver_config(&config)?;
    if let Some(fleet) = &config.fleet {
        // The URL again, the password and TLS files: refused like the
        // other files (at a reload, the running configuration stays).
        fleet.client()?;
    }
    let (control, mut warnings) =
        ControlConfig::from_settings(&config.control, config.state_dir.as_deref(), None, purpose)?;
    warnings.extend(checks::warnings(options, &config));
    if let Some(dir) = &config.state_dir
        && let Err(e) = control::dir_writable(dir)
    {
        warnings.push(format!(
            "state-dir {}: {e}: optional state (NTAs) is kept in memory only",
            dir.display()
        ));
    }
    if purpose == Purpose::Check
        && let Some(path) = &config.nta.state_file
    {
        let report = crate::nta::check_state_file(path, clock.now());
        if !report.is_clean() {
            warnings.push(format!(
                "{report} (serve keeps the good entries and moves the file aside)"
            ));
        }
    }
    Ok(Loaded {
        config,
        resolver: rc,
        control,
        warnings,
    })
}

/// The resolver's view of a checked configuration (files loaded).
pub fn resolver_config(config: &Config) -> Result<ResolverConfig, AppError> {
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
    rc.do_ip6 = config.do_ip6;
    rc.cache_bytes = config.cache_bytes;
    rc.max_stale = config.max_stale;
    rc.stale = config.stale;
    rc.algorithms = config.algorithms;
    rc.ttl = config.ttl;
    let mut zones = Vec::with_capacity(config.private_zones.len());
    for z in &config.private_zones {
        let anchors = match &z.trust_anchor {
            Some(path) => {
                let anchors = TrustAnchors::from_file(path)?;
                if let Some(anchor) = anchors.zones().find(|a| !z.name.zone_of(a)) {
                    return Err(AppError::AnchorOutsideZone {
                        path: path.clone(),
                        anchor: anchor.to_string(),
                        zone: z.name.to_string(),
                    });
                }
                Some(anchors)
            }
            None => None,
        };
        // Forwarding the root validates from the resolver's own anchors.
        let secure = z.validate && (anchors.is_some() || z.name.is_root());
        if secure && let Some(anchors) = anchors {
            rc.anchors.extend(anchors);
        }
        zones.push(PrivateZone {
            name: z.name.clone(),
            mode: z.mode,
            servers: z.servers.clone(),
            secure,
            forward_first: z.forward_first,
        });
    }
    rc.private_zones = PrivateZones::new(zones);
    rc.private_addresses = PrivateAddresses {
        nets: config.private_address.clone(),
    };
    Ok(rc)
}

/// What the control API acts on.
struct Core {
    options: AppOptions,
    clock: SharedClock,
    metrics: Metrics,
    resolver: Arc<Resolver>,
    config: Mutex<Config>,
    started: Instant,
}

/// A running lastgood.
pub struct App {
    core: Arc<Core>,
    dns: ServerHandle,
    control: ControlHandle,
    recheck: tokio::task::JoinHandle<()>,
    /// The fleet tier's link, writer and listener (empty without Redis).
    fleet_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl App {
    /// Load, check and start everything; any error is returned before a
    /// socket is bound.
    pub async fn start(options: AppOptions, clock: SharedClock) -> Result<App, AppError> {
        let Loaded {
            config,
            resolver: rc,
            control: mut control_config,
            warnings,
        } = load(&options, &clock, Purpose::Start)?;
        for w in &warnings {
            tracing::warn!("{w}");
        }
        let metrics = Metrics::new()?;
        let now = clock.now();
        let store = match &config.nta.state_file {
            Some(path) => {
                let errors = metrics.state_file_errors.with_label_values(&["nta"]);
                let (store, report) = NtaStore::open(path.clone(), now, Some(errors));
                if !report.is_clean() {
                    tracing::warn!("{report}");
                }
                store
            }
            None => NtaStore::new(None),
        };
        store.set_config_ntas(&config.nta.entries, now)?;
        let resolver =
            Resolver::with_ntas(rc, Arc::clone(&clock), metrics.clone(), Arc::new(store));
        resolver.update_nta_gauge();
        open_store(&config, &resolver, &clock, &metrics);
        control_config.metrics = Some(metrics.clone());
        let mut sc = ServerConfig::new(config.listen.clone());
        if let Some(nets) = &config.allow {
            sc.acl = Acl::new(nets.clone());
        }
        sc.acl = sc
            .acl
            .drop_refused(config.refused_clients == RefusedClients::Drop);
        sc.identity = config.identity.server_identity();
        let dns = Server::bind(sc, Arc::new(Arc::clone(&resolver)), metrics.clone())
            .await?
            .start()?;
        let recheck_every = config.nta.recheck_interval;
        let fleet_tasks = match &config.fleet {
            Some(settings) => start_fleet(settings, &metrics, &resolver)?,
            None => Vec::new(),
        };
        let core = Arc::new(Core {
            options,
            clock,
            metrics,
            resolver: Arc::clone(&resolver),
            config: Mutex::new(config),
            started: Instant::now(),
        });
        let control = control::serve(control_config, Arc::clone(&core) as Arc<dyn Control>).await?;
        let recheck = tokio::spawn(recheck_loop(resolver, recheck_every));
        Ok(App {
            core,
            dns,
            control,
            recheck,
            fleet_tasks,
        })
    }

    pub fn dns_addrs(&self) -> Vec<SocketAddr> {
        self.dns.local_addrs()
    }

    /// The TCP control address, if TCP control is on.
    pub fn control_addr(&self) -> Option<SocketAddr> {
        self.control.local_addr()
    }

    /// The local control socket, if it is served.
    pub fn control_socket(&self) -> Option<&std::path::Path> {
        self.control.socket_path()
    }

    pub fn resolver(&self) -> &Arc<Resolver> {
        &self.core.resolver
    }

    pub fn metrics(&self) -> &Metrics {
        &self.core.metrics
    }

    /// Reload the configuration (SIGHUP); the running one stays on error.
    pub fn reload(&self) -> Result<(), AppError> {
        self.core.reload()
    }

    pub async fn shutdown(self) {
        self.recheck.abort();
        for task in &self.fleet_tasks {
            task.abort();
        }
        self.control.shutdown().await;
        self.dns.shutdown().await;
        if let Some(store) = self.core.resolver.store() {
            store.close().await;
        }
    }
}

/// Open the last-good store in `state-dir` (issue 18) and attach it to
/// the resolver. Optional state: a store that cannot be opened is logged
/// and counted, and the resolver runs from memory.
fn open_store(config: &Config, resolver: &Arc<Resolver>, clock: &SharedClock, metrics: &Metrics) {
    let Some(dir) = config.state_dir.as_ref().filter(|_| config.store.enabled) else {
        return;
    };
    let path = dir.join(crate::store::STORE_FILE_NAME);
    let started = Instant::now();
    match crate::store::Store::open(
        &path,
        config.store.max_bytes,
        config.max_stale,
        resolver.trust(),
        Arc::clone(clock),
        metrics.store.clone(),
    ) {
        Ok(store) => {
            store.start();
            let status = store.status();
            tracing::info!(
                path = %path.display(),
                entries = status.entries,
                bytes = status.bytes,
                open_ms = started.elapsed().as_millis(),
                "last-good store opened"
            );
            resolver.attach_store(store);
        }
        Err(e) => {
            metrics
                .state_file_errors
                .with_label_values(&["store"])
                .inc();
            tracing::warn!("{e}: answers are not kept across restarts");
        }
    }
}

/// Attach the fleet tier (`redis-url`) to `resolver` and start its tasks.
fn start_fleet(
    settings: &crate::fleet::FleetSettings,
    metrics: &Metrics,
    resolver: &Arc<Resolver>,
) -> Result<Vec<tokio::task::JoinHandle<()>>, AppError> {
    let fleet = crate::fleet::Fleet::new(settings, &metrics.registry)?;
    resolver.set_fleet(Arc::clone(&fleet));
    tracing::info!(url = %crate::fleet::redact(&settings.url), "fleet tier on");
    Ok(vec![
        tokio::spawn(Arc::clone(&fleet).run_link()),
        tokio::spawn(Arc::clone(&fleet).run_writer(Arc::clone(resolver))),
        tokio::spawn(crate::fleet::sync::run_listener(
            fleet,
            Arc::clone(resolver),
        )),
    ])
}

/// Run `job` with the fleet tier off the caller's path (control calls
/// are synchronous); nothing without one.
fn with_fleet<F, Fut>(resolver: &Arc<Resolver>, job: F)
where
    F: FnOnce(Arc<crate::fleet::Fleet>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if let Some(fleet) = resolver.fleet()
        && let Ok(rt) = tokio::runtime::Handle::try_current()
    {
        rt.spawn(job(Arc::clone(fleet)));
    }
}

async fn recheck_loop(resolver: Arc<Resolver>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        let lifted = resolver.recheck_ntas().await;
        if !lifted.is_empty() {
            tracing::info!(?lifted, "NTAs lifted by recheck");
            // Lifted everywhere, or the next reconcile would bring them back.
            let now = resolver.now();
            with_fleet(&resolver, |fleet| async move {
                for zone in lifted {
                    fleet.remove_nta(&zone, now).await;
                }
            });
        }
    }
}

impl Core {
    fn reload(&self) -> Result<(), AppError> {
        let result = self.try_reload();
        self.metrics.config_reloaded(result.is_ok());
        match &result {
            Ok(()) => tracing::info!("configuration reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "configuration reload refused; the running configuration stays")
            }
        }
        result
    }

    fn try_reload(&self) -> Result<(), AppError> {
        let Loaded {
            config: new,
            resolver: rc,
            warnings,
            ..
        } = load(&self.options, &self.clock, Purpose::Check)?;
        for w in &warnings {
            tracing::warn!("{w}");
        }
        // NTAs from the file are checked before anything is applied.
        self.resolver
            .ntas()
            .set_config_ntas(&new.nta.entries, self.clock.now())?;
        let mut current = self.config.lock().unwrap_or_else(|e| e.into_inner());
        if current.listen != new.listen
            || current.control != new.control
            || current.allow != new.allow
            || current.refused_clients != new.refused_clients
            || current.state_dir != new.state_dir
            || current.identity != new.identity
            || current.fleet != new.fleet
        {
            tracing::warn!(
                "listen, allow, refused-clients, state-dir, identity, version, nsid, redis-* \
                 and control-* changes take effect at restart"
            );
        }
        self.resolver.reconfigure(rc);
        self.resolver.update_nta_gauge();
        *current = new;
        Ok(())
    }
}

impl Core {
    /// Each failure window for `status`: zone, class, cause, since when,
    /// when the next probe is due.
    fn failure_windows(&self) -> Vec<serde_json::Value> {
        let now = self.clock.now();
        self.resolver
            .failure_windows()
            .iter()
            .map(|w| {
                serde_json::json!({
                    "zone": w.zone.to_string(),
                    "fault_zone": w.fault_zone.to_string(),
                    "class": w.class.as_str(),
                    "ede": w.cause.code.code(),
                    "cause": w.cause.text,
                    "failing_for_s": now.saturating_since(w.since).as_secs(),
                    "next_probe_in_s": w.next_probe.saturating_since(now).as_secs(),
                    "probing": w.probing,
                    "question": format!("{} {}", w.question.0, w.question.1),
                    "answered_from_window": w.hits,
                })
            })
            .collect()
    }
}

impl Control for Core {
    fn nta_add(
        &self,
        zone: &Name,
        lifetime: Option<Duration>,
        reason: &str,
        force: bool,
    ) -> Result<NtaView, ControlError> {
        let now = self.clock.now();
        let nta =
            self.resolver
                .ntas()
                .add_with(zone, lifetime, reason, NtaSource::Api, force, now)?;
        self.resolver.update_nta_gauge();
        tracing::info!(zone = %nta.zone, reason, force, "NTA added");
        let record = crate::fleet::keys::NtaRecord {
            reason: nta.reason.clone(),
            added_at_ms: nta.added_at.as_millis(),
            expires_at_ms: nta.expires_at.as_millis(),
            force: nta.force,
        };
        let zone = nta.zone.clone();
        with_fleet(&self.resolver, |fleet| async move {
            if !fleet.put_nta(&zone, &record).await {
                tracing::warn!(%zone, "redis down: NTA added here, shared once redis is back");
            }
        });
        Ok(nta.view(now))
    }

    fn nta_remove(&self, zone: &Name) -> Result<bool, ControlError> {
        let removed = self.resolver.ntas().remove(zone)?;
        self.resolver.update_nta_gauge();
        if removed {
            tracing::info!(%zone, "NTA removed");
        }
        let shared = zone.clone();
        let now = self.clock.now();
        with_fleet(&self.resolver, |fleet| async move {
            if !fleet.remove_nta(&shared, now).await {
                tracing::warn!(zone = %shared, "redis down: NTA removed here, shared once redis is back");
            }
        });
        Ok(removed)
    }

    fn nta_list(&self) -> Vec<NtaView> {
        self.resolver.ntas().list(self.clock.now())
    }

    fn flush(&self, what: Flush, drop_stale: bool) -> Result<(), ControlError> {
        // Zone and whole-cache flushes end failure windows and keep the
        // last validated answers for the stale tier (issue 13).
        let fleet = self.resolver.fleet().map(Arc::as_ref);
        crate::fleet::sync::apply_flush(fleet, &self.resolver, &what, drop_stale);
        Ok(())
    }

    fn flush_fleet(&self, what: Flush, drop_stale: bool) -> Result<(), ControlError> {
        if self.resolver.fleet().is_none() {
            return Err(ControlError::NotSupported {
                what: "fleet flush without redis-url",
            });
        }
        self.flush(what.clone(), drop_stale)?;
        let event = crate::fleet::keys::Event::Flush { what, drop_stale };
        with_fleet(&self.resolver, |fleet| async move {
            if !fleet.publish(&event).await {
                tracing::warn!(?event, "redis down: flush applied on this instance only");
            }
        });
        Ok(())
    }

    fn flush_bogus(&self) -> Result<serde_json::Value, ControlError> {
        let flushed = self.resolver.flush_bogus();
        let mut answer = serde_json::to_value(flushed).unwrap_or_default();
        if let Some(map) = answer.as_object_mut() {
            map.insert("flushed".into(), "bogus".into());
        }
        Ok(answer)
    }

    fn lookup(
        &self,
        name: &Name,
        qtype: hickory_proto::rr::RecordType,
    ) -> Result<serde_json::Value, ControlError> {
        Ok(serde_json::to_value(self.resolver.inspect(name, qtype)).unwrap_or_default())
    }

    fn status(&self) -> serde_json::Value {
        let cache = self.resolver.cache();
        let config = self.config.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.started.elapsed().as_secs(),
            "config_file": self.options.config_path.as_ref().map(|p| p.display().to_string()),
            "listen": config.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "dnssec": config.dnssec,
            "serve_stale": config.stale.enabled,
            "cache": { "entries": cache.entry_count(), "bytes": cache.weighted_size() },
            "ntas_active": self.resolver.ntas().active_count(self.clock.now()),
            "ntas_persisted": self.resolver.ntas().persisted(),
            "ntas": self.resolver.ntas().list(self.clock.now()),
            "failing_zones": self.resolver.failing_zones().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "failure_windows": self.failure_windows(),
            "store": self.resolver.store().map(|s| s.status()),
            "redis": self.resolver.fleet().map(|f| f.status()),
        })
    }

    fn status_page(&self) -> Result<serde_json::Value, ControlError> {
        let now = self.clock.now();
        let cache = self.resolver.cache();
        let ntas = self.resolver.ntas();
        let m = &self.metrics;
        let page = crate::control::status_page::StatusPage {
            version: env!("CARGO_PKG_VERSION"),
            uptime_secs: self.started.elapsed().as_secs(),
            windows: self.resolver.failure_windows(),
            ntas: ntas.list(now),
            minutes: m.history.snapshot(crate::metrics::history::unix_minute()),
            cache_entries: cache.entry_count(),
            cache_bytes: cache.weighted_size(),
            cache_hits: m.cache_hits.get(),
            cache_stale_hits: m.cache_stale_hits.get(),
            cache_misses: m.cache_misses.get(),
            ntas_persisted: ntas.persisted(),
        };
        Ok(page.to_json(now))
    }

    fn zone_retry(&self, zone: Name) -> BoxFuture<Result<serde_json::Value, ControlError>> {
        let resolver = Arc::clone(&self.resolver);
        Box::pin(async move {
            let probed =
                tokio::time::timeout(crate::limits::ZONE_RETRY_WAIT, resolver.retry_zone(&zone))
                    .await;
            let (was_failing, recovered) = match probed {
                Ok(Some(ok)) => (true, Some(ok)),
                Ok(None) => (false, None),
                // The probe goes on in its task; say we do not know yet.
                Err(_) => (true, None),
            };
            tracing::info!(%zone, was_failing, ?recovered, "zone retry");
            Ok(serde_json::json!({
                "zone": zone.to_string(),
                "was_failing": was_failing,
                "recovered": recovered,
            }))
        })
    }

    fn reload(&self) -> Result<(), ControlError> {
        Core::reload(self).map_err(|e| ControlError::Reload(e.to_string()))
    }

    fn cache_dump(&self, file: PathBuf) -> BoxFuture<Result<serde_json::Value, ControlError>> {
        let store = self.resolver.store().cloned();
        Box::pin(async move {
            let store = store.ok_or(ControlError::NoStore)?;
            store.sync().await;
            let fail = |e: &dyn std::fmt::Display| ControlError::CacheFile {
                what: "dump",
                message: e.to_string(),
            };
            let path = file.clone();
            let written = tokio::task::spawn_blocking(move || {
                let mut out =
                    crate::store::dump::DumpWriter::create(&path).map_err(|e| fail(&e))?;
                let mut failed = None;
                store
                    .each_entry(|bytes| match out.write(bytes) {
                        Ok(()) => true,
                        Err(e) => {
                            failed = Some(e);
                            false
                        }
                    })
                    .map_err(|e| fail(&e))?;
                if let Some(e) = failed {
                    return Err(fail(&e));
                }
                out.finish().map_err(|e| fail(&e))
            })
            .await
            .map_err(|e| fail(&e))??;
            tracing::info!(file = %file.display(), entries = written, "cache dump written");
            Ok(serde_json::json!({ "file": file.display().to_string(), "entries": written }))
        })
    }

    fn cache_load(&self, file: PathBuf) -> BoxFuture<Result<serde_json::Value, ControlError>> {
        let resolver = Arc::clone(&self.resolver);
        let now = self.clock.now();
        let max_stale = resolver.cache().max_stale();
        Box::pin(async move {
            let fail = |e: &dyn std::fmt::Display| ControlError::CacheFile {
                what: "load",
                message: e.to_string(),
            };
            let path = file.clone();
            let counts = tokio::task::spawn_blocking(move || {
                let trust = resolver.trust();
                let store = resolver.store().cloned();
                let rejected = &resolver.metrics().store.rejected;
                let (mut loaded, mut gone) = (0u64, 0u64);
                let mut refused: std::collections::BTreeMap<&'static str, u64> =
                    std::collections::BTreeMap::new();
                let read = crate::store::dump::read(&path, |bytes| {
                    match crate::store::entry::decode_and_verify(bytes, &trust, now) {
                        Ok((key, entry)) if crate::store::entry::usable(&entry, now, max_stale) => {
                            if let Some(store) = &store {
                                store.put_encoded_blocking(&key, &entry, bytes.to_vec());
                            }
                            resolver.cache().insert(key, entry);
                            loaded += 1;
                        }
                        Ok(_) => gone += 1,
                        Err(e) => {
                            rejected.with_label_values(&[e.reason()]).inc();
                            *refused.entry(e.reason()).or_default() += 1;
                        }
                    }
                });
                (read, loaded, gone, refused)
            })
            .await
            .map_err(|e| fail(&e))?;
            let (read, loaded, gone, refused) = counts;
            let read = read.map_err(|e| fail(&e))?;
            tracing::info!(file = %file.display(), read, loaded, gone, ?refused, "cache dump loaded");
            Ok(serde_json::json!({
                "file": file.display().to_string(),
                "read": read,
                "loaded": loaded,
                "expired": gone,
                "rejected": refused,
            }))
        })
    }

    fn metrics_text(&self) -> String {
        let cache = self.resolver.cache();
        self.metrics
            .cache_entries
            .set(i64::try_from(cache.entry_count()).unwrap_or(i64::MAX));
        self.metrics
            .cache_bytes
            .set(i64::try_from(cache.weighted_size()).unwrap_or(i64::MAX));
        self.metrics
            .set_ntas(&self.resolver.ntas().list(self.clock.now()));
        self.metrics
            .set_failing_zones(&self.resolver.failure_windows(), self.clock.now());
        self.metrics.render()
    }
}
