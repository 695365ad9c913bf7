//! The resolver: answers client questions from the cache, or by iterating
//! from the root and validating what comes back.
//!
//! - [`classify`]: pure reading of one authority response.
//! - [`iterate`]: the iterative engine (delegations, NS selection, QNAME
//!   minimisation, retries) for one resolution step.
//! - [`keys`]: the chain of trust: DS and DNSKEY fetches per zone.
//! - [`transport`]: the boundary every upstream question goes through;
//!   [`upstream`]: its socket implementation, the only code that talks to
//!   authorities.
//! - this file: the client-facing answer, built from cached steps.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use crate::cache::{self, Cache, CacheKey, Entry, Freshness, MemoryBudget, StepKind, View};
use crate::clock::{SharedClock, Timestamp};
use crate::dnssec::{AlgorithmPolicy, KeyEntry, Security, TrustAnchors, VerifiedSignatures};
use crate::ede::Ede;
use crate::limits::{self, Limit};
use crate::metrics::Metrics;
use crate::nta::NtaStore;
use crate::query::{Answer, CacheState, ClientQuery, QueryHandler, Tier};

pub mod classify;
pub mod coalesce;
pub mod cut;
pub mod error;
pub mod health;
pub mod inspect;
pub mod iterate;
pub mod keys;
pub mod ladder;
mod local;
pub mod nta;
pub mod outcome;
pub mod private;
pub(crate) mod rung;
pub mod servers;
pub mod settings;
mod shared;
pub mod transport;
pub(crate) mod trust;
pub mod upstream;
pub(crate) mod zone_query;
mod zonelog;

pub use error::ResolveError;
pub use iterate::TtlLimits;
pub use servers::{Delegation, HintsError};
pub use settings::StaleConfig;

use coalesce::Coalescer;
use rung::{Failure, Rung};
use servers::ServerStats;

/// Everything the resolver needs to know, already validated.
#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// The root's name servers (built-in IANA hints or `--root-hints`).
    pub root_hints: Delegation,
    pub anchors: TrustAnchors,
    /// Port for every upstream query (53; testbeds override it).
    pub upstream_port: u16,
    /// Validate DNSSEC (off: everything is Insecure, AD never set).
    pub dnssec: bool,
    /// RFC 9156 QNAME minimisation, relaxed.
    pub qname_minimisation: bool,
    /// Ask name servers over IPv6 too (`do-ip6`; off: IPv6 addresses of
    /// name servers are ignored, configured forwarders included).
    pub do_ip6: bool,
    pub cache_bytes: u64,
    /// How long past its TTL an entry is kept for the stale tier (RFC 8767).
    pub max_stale: Duration,
    /// The stale tier's switch and timers.
    pub stale: StaleConfig,
    /// `[[forward-zone]]` and `[[stub-zone]]`: where iteration starts for
    /// private names (longest suffix wins over the root).
    pub private_zones: private::PrivateZones,
    /// `private-address`: DNS rebinding protection (empty: off).
    pub private_addresses: private::PrivateAddresses,
    /// `sha1-algorithms`: which DNSSEC algorithms are validated.
    pub algorithms: AlgorithmPolicy,
    /// `cache-min-ttl`, `cache-max-ttl`, `cache-max-negative-ttl`.
    pub ttl: TtlLimits,
    /// Where upstream questions go: sockets (the default), or a transport
    /// given by the embedder (the replay harness). Read once, when the
    /// resolver is built; a reload keeps the transport it has.
    pub transport: transport::TransportChoice,
}

impl ResolverConfig {
    /// Defaults for the real internet: built-in hints and root anchors.
    pub fn internet() -> Result<Self, HintsError> {
        Ok(Self {
            root_hints: servers::parse_hints(servers::BUILTIN_ROOT_HINTS, "built-in root hints")?,
            anchors: TrustAnchors::builtin_root(),
            upstream_port: settings::DEFAULT_UPSTREAM_PORT,
            dnssec: true,
            qname_minimisation: true,
            do_ip6: true,
            cache_bytes: limits::DEFAULT_CACHE_BYTES,
            max_stale: settings::DEFAULT_MAX_STALE,
            stale: StaleConfig::default(),
            private_zones: private::PrivateZones::default(),
            private_addresses: private::PrivateAddresses::default(),
            algorithms: AlgorithmPolicy::default(),
            ttl: TtlLimits::default(),
            transport: transport::TransportChoice::Sockets,
        })
    }
}

/// Per client query work budget, shared by every nested lookup it causes.
#[derive(Debug, Default)]
pub struct Ctx {
    upstream_queries: AtomicU32,
    /// Lookups in progress on this query's behalf (loop detection).
    stack: Mutex<Vec<(Name, RecordType)>>,
    /// Glueless NS address lookups open at once (`MAX_GLUELESS_DEPTH`).
    glueless_depth: AtomicUsize,
    /// Limits this query reached, each counted once in the metrics when
    /// the query is answered (a limit hit in a nested lookup whose error
    /// is absorbed still counts).
    limits_hit: Mutex<Vec<Limit>>,
    /// Validations cut short by a per-response work budget
    /// (`MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE`,
    /// `MAX_NSEC3_HASHES_PER_RESPONSE`).
    budget_cuts: AtomicU32,
    /// A failing zone's background probe: failure windows do not stop it.
    pub(crate) probe: bool,
    /// Every forwarder of a `forward-first` zone failed for this query:
    /// its nested lookups iterate at once (issue 15).
    forwarders_failed: std::sync::atomic::AtomicBool,
}

impl Ctx {
    /// The context of a failing zone's background probe.
    pub(crate) fn probe() -> Self {
        Self {
            probe: true,
            ..Self::default()
        }
    }

    /// The error for reaching `limit` (its value `value`), remembered for
    /// the metrics.
    pub(crate) fn limit(&self, limit: Limit, value: u64) -> ResolveError {
        self.note_limit(limit);
        ResolveError::Limit { limit, value }
    }

    /// Remember that `limit` cut work short for this query.
    pub(crate) fn note_limit(&self, limit: Limit) {
        let mut hit = self.limits_hit.lock().unwrap_or_else(|e| e.into_inner());
        if !hit.contains(&limit) {
            hit.push(limit);
        }
    }

    /// Note the limits a validation's work budget reached.
    pub(crate) fn note_budget(&self, budget: &crate::dnssec::validate::Budget) {
        if budget.signatures_gone() || budget.hashes_gone() {
            self.budget_cuts.fetch_add(1, Ordering::Relaxed);
        }
        for limit in budget.limits_reached() {
            self.note_limit(limit);
        }
    }

    /// The limits this query reached so far.
    pub fn limits_hit(&self) -> Vec<Limit> {
        self.limits_hit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Count one upstream query against `MAX_UPSTREAM_QUERIES_PER_CLIENT_QUERY`.
    fn spend_upstream(&self) -> Result<(), ResolveError> {
        let n = self.upstream_queries.fetch_add(1, Ordering::Relaxed) + 1;
        if n > limits::MAX_UPSTREAM_QUERIES_PER_CLIENT_QUERY {
            return Err(self.limit(
                Limit::MaxUpstreamQueriesPerClientQuery,
                u64::from(limits::MAX_UPSTREAM_QUERIES_PER_CLIENT_QUERY),
            ));
        }
        Ok(())
    }

    /// Enter a glueless NS address lookup; past `MAX_GLUELESS_DEPTH` open
    /// at once (a server's address needs a lookup that needs another
    /// server's address...) the referral fails.
    fn enter_glueless(&self) -> Result<GluelessGuard<'_>, ResolveError> {
        let depth = self.glueless_depth.fetch_add(1, Ordering::Relaxed) + 1;
        let guard = GluelessGuard(self);
        if depth > limits::MAX_GLUELESS_DEPTH {
            return Err(self.limit(Limit::MaxGluelessDepth, limits::MAX_GLUELESS_DEPTH as u64));
        }
        Ok(guard)
    }

    pub fn upstream_queries(&self) -> u32 {
        self.upstream_queries.load(Ordering::Relaxed)
    }

    fn stack(&self) -> std::sync::MutexGuard<'_, Vec<(Name, RecordType)>> {
        self.stack.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enter a nested lookup; fails on a loop or past `MAX_NESTED_LOOKUPS`.
    fn enter(&self, name: &Name, qtype: RecordType) -> Result<(), ResolveError> {
        let mut stack = self.stack();
        if stack.iter().any(|(n, t)| n == name && *t == qtype) {
            return Err(ResolveError::DependencyLoop { name: name.clone() });
        }
        if stack.len() >= limits::MAX_NESTED_LOOKUPS {
            drop(stack);
            return Err(self.limit(Limit::MaxNestedLookups, limits::MAX_NESTED_LOOKUPS as u64));
        }
        stack.push((name.clone(), qtype));
        Ok(())
    }

    fn leave(&self, name: &Name, qtype: RecordType) {
        let mut stack = self.stack();
        if let Some(pos) = stack.iter().rposition(|(n, t)| n == name && *t == qtype) {
            stack.remove(pos);
        }
    }
}

/// One open glueless lookup of a [`Ctx`]; closes it on drop.
struct GluelessGuard<'a>(&'a Ctx);

impl Drop for GluelessGuard<'_> {
    fn drop(&mut self) {
        self.0.glueless_depth.fetch_sub(1, Ordering::Relaxed);
    }
}

type StepResult = Result<Arc<Entry>, ResolveError>;

/// A boxed, sendable future: the recursion points (lookup, keys_for) need
/// a nameable type.
pub(crate) type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The resolver. Cheap to share behind an `Arc`.
pub struct Resolver {
    /// Swapped whole on reload; readers take a snapshot.
    config: std::sync::RwLock<Arc<ResolverConfig>>,
    cache: Cache,
    clock: SharedClock,
    metrics: Metrics,
    stats: ServerStats,
    /// Where upstream questions go: by default sockets and receive
    /// buffers from a pool sized from the descriptor limit (see
    /// `upstream`, `transport`).
    upstream: Arc<dyn transport::Transport>,
    /// Delegations by zone, bounded by their share of `cache-size`
    /// ([`MemoryBudget`]), like `inside_zone` and `keys`.
    delegations: cache::SideCache<Name, Arc<Delegation>>,
    /// Names a minimised query found inside a zone (no cut there): the
    /// zone and until when (QNAME minimisation asks them once per zone,
    /// not once per name below them).
    inside_zone: cache::SideCache<Name, (Name, crate::clock::Timestamp)>,
    keys: cache::SideCache<Name, keys::KeySlot>,
    /// Signatures verified before (skips repeated crypto; see `dnssec::memo`).
    verified: VerifiedSignatures,
    steps_inflight: Coalescer<(Name, RecordType), StepResult>,
    keys_inflight: Coalescer<Name, KeyEntry>,
    /// Failure-recheck windows per zone and the evidence that opens them
    /// (the ladder's retry-storm brake; see `health`).
    health: health::ZoneHealth,
    /// The WARN/INFO lines of failing zones, rate-limited (`zonelog.rs`).
    zone_log: zonelog::ZoneLog,
    /// Zones one of whose refreshes outlived the client-response timer,
    /// until when: their other expired names are answered stale without a
    /// refresh of their own.
    slow_zones: std::sync::Mutex<std::collections::HashMap<Name, (Timestamp, Ede)>>,
    /// Stale refreshes in flight per zone.
    refreshing: ladder::Refreshing,
    /// Negative trust anchors: a serving policy, consulted per answer, so
    /// adding one needs no cache flush (cached verdicts stay truthful).
    ntas: Arc<NtaStore>,
    /// Counts reconfigurations (part of [`Resolver::cache_state`]).
    config_generation: AtomicU64,
    /// The fleet tier (Redis), set once at start if configured (`shared.rs`).
    fleet: std::sync::OnceLock<Arc<crate::fleet::Fleet>>,
    /// The last-good store (issue 18), if `state-dir` has one.
    store: std::sync::OnceLock<Arc<crate::store::Store>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("cache", &self.cache)
            .finish()
    }
}

impl Resolver {
    pub fn new(config: ResolverConfig, clock: SharedClock, metrics: Metrics) -> Arc<Self> {
        Self::with_ntas(config, clock, metrics, Arc::new(NtaStore::new(None)))
    }

    /// A resolver that honours the negative trust anchors in `ntas`.
    pub fn with_ntas(
        config: ResolverConfig,
        clock: SharedClock,
        metrics: Metrics,
        ntas: Arc<NtaStore>,
    ) -> Arc<Self> {
        Self::with_pool(
            config,
            clock,
            metrics,
            ntas,
            upstream::Pool::from_descriptor_limit(),
        )
    }

    /// As [`Resolver::with_ntas`], with the upstream socket pool given
    /// (tests give a small one).
    pub fn with_pool(
        config: ResolverConfig,
        clock: SharedClock,
        metrics: Metrics,
        ntas: Arc<NtaStore>,
        upstream: Arc<upstream::Pool>,
    ) -> Arc<Self> {
        let budget = MemoryBudget::split(config.cache_bytes);
        let upstream: Arc<dyn transport::Transport> = match &config.transport {
            transport::TransportChoice::Sockets => Arc::new(transport::Sockets(upstream)),
            transport::TransportChoice::Given(given) => Arc::clone(given),
        };
        Arc::new(Self {
            ntas,
            cache: Cache::new(budget.answers, config.max_stale),
            config: std::sync::RwLock::new(Arc::new(config)),
            clock,
            metrics,
            stats: ServerStats::default(),
            upstream,
            delegations: cache::side_cache(budget.delegations, |zone, d| {
                cache::name_weight(zone) + delegation_weight(d)
            }),
            inside_zone: cache::side_cache(budget.inside_zone, |name, (zone, _)| {
                cache::name_weight(name) + cache::name_weight(zone)
            }),
            keys: cache::side_cache(budget.keys, |zone, slot| {
                cache::name_weight(zone) + key_entry_weight(&slot.entry)
            }),
            verified: VerifiedSignatures::new(limits::MAX_VERIFIED_SIGNATURES_CACHED),
            steps_inflight: Coalescer::default(),
            keys_inflight: Coalescer::default(),
            health: health::ZoneHealth::default(),
            zone_log: zonelog::ZoneLog::default(),
            slow_zones: std::sync::Mutex::default(),
            refreshing: ladder::Refreshing::default(),
            config_generation: AtomicU64::new(0),
            fleet: std::sync::OnceLock::new(),
            store: std::sync::OnceLock::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<ResolverConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Apply a new, already validated configuration. Cache size and
    /// max-stale-ttl keep their start-up values (the cache is not rebuilt);
    /// key verdicts and failure windows are dropped, since hints or trust
    /// anchors may have changed what validates.
    pub fn reconfigure(&self, config: ResolverConfig) {
        let old = self.config();
        if old.cache_bytes != config.cache_bytes || old.max_stale != config.max_stale {
            tracing::warn!("cache-size and max-stale-ttl changes take effect at restart");
        }
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        self.config_generation.fetch_add(1, Ordering::AcqRel);
        self.keys.invalidate_all();
        self.close_windows_under(&Name::root(), zonelog::Recovery::Reload);
        self.delegations.invalidate_all();
        self.inside_zone.invalidate_all();
        if let Some(store) = self.store.get() {
            store.set_trust(self.trust());
        }
    }

    /// Keep validated entries in `store` and read it on a cache miss
    /// (once; a second store is ignored).
    pub fn attach_store(&self, store: Arc<crate::store::Store>) {
        store.set_trust(self.trust());
        let _ = self.store.set(store);
    }

    pub fn store(&self) -> Option<&Arc<crate::store::Store>> {
        self.store.get()
    }

    /// What entries read back from a store are proven against.
    pub fn trust(&self) -> crate::store::Trust {
        crate::store::Trust::from_config(&self.config(), Some(self.verified.clone()))
    }

    /// A work budget for validating one response, with the memo of
    /// verified signatures.
    pub(crate) fn budget(&self) -> crate::dnssec::validate::Budget {
        crate::dnssec::validate::Budget::with_memo(self.verified.clone())
            .with_policy(self.config().algorithms)
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn ntas(&self) -> &Arc<NtaStore> {
        &self.ntas
    }

    /// The active NTA covering `name`, if any.
    pub(crate) fn nta_for(&self, name: &Name) -> Option<Name> {
        self.ntas.covering(name, self.clock.now())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether names in `zone` can validate: false under a private zone
    /// without a trust anchor or with `validate = false` (Insecure).
    pub(crate) fn private_zone_secure(&self, zone: &Name) -> bool {
        self.config()
            .private_zones
            .covering(zone)
            .is_none_or(|z| z.secure)
    }

    /// Answer one client question.
    /// (The server measures client latency, `Metrics::latency`.)
    pub async fn resolve(self: &Arc<Self>, query: &ClientQuery) -> Answer {
        if query.qclass != DNSClass::IN {
            Answer::error(ResponseCode::Refused, Tier::Local, Vec::new())
        } else if !query.recursion_desired {
            // RD=0: the cache or a referral, never recursion (local.rs).
            self.answer_from_cache(query)
        } else {
            let ctx = Arc::new(Ctx::default());
            let answered = if query.qtype == RecordType::ANY {
                self.answer_any(query, &ctx).await
            } else {
                self.answer_chain(query, &ctx).await
            };
            let answer = match answered {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(name = %query.name, qtype = %query.qtype, error = %e, "resolution failed");
                    if let ResolveError::Limit { limit, .. } = &e {
                        ctx.note_limit(*limit);
                    }
                    Failure::Error(e).answer()
                }
            };
            for limit in ctx.limits_hit() {
                tracing::debug!(name = %query.name, qtype = %query.qtype, %limit, "limit reached");
                self.metrics.limit_hit(limit);
            }
            self.apply_sentinel(query, answer)
        }
    }

    /// Follow the CNAME chain from the question, one step at a time, each
    /// through the ladder.
    async fn answer_chain(
        self: &Arc<Self>,
        query: &ClientQuery,
        ctx: &Arc<Ctx>,
    ) -> Result<Answer, ResolveError> {
        let cd = query.checking_disabled;
        let mut name = query.name.to_lowercase();
        let mut seen = HashSet::new();
        let mut security = Security::Secure;
        let mut answers: Vec<Record> = Vec::new();
        let mut proofs: Vec<Record> = Vec::new();
        // The steps' rungs, folded into the answer's tier and EDEs.
        let mut chain = rung::Chain::default();
        // The first expiry among the steps (for reuse of the answer).
        let mut fresh_until: Option<Timestamp> = None;
        for _ in 0..=limits::MAX_CNAME_CHAIN {
            if !seen.insert(name.clone()) {
                return Err(ResolveError::CnameLoop { name });
            }
            let step = match self.step_for_client(&name, query.qtype, ctx, cd).await {
                Rung::ServFail(Failure::Error(e)) => return Err(e),
                Rung::ServFail(failure) => return Ok(failure.answer()),
                step => step,
            };
            let Some(entry) = step.served().map(|s| &s.entry) else {
                return Err(ResolveError::Internal("the ladder ended on a request"));
            };
            chain.add(&step);
            security = security.combine(entry.security.clone());
            let until = entry
                .stored_at
                .saturating_add(Duration::from_secs(u64::from(entry.ttl)));
            fresh_until = Some(fresh_until.map_or(until, |t| t.min(until)));
            // No record twice (a DNAME met again further down the chain),
            // and each step's proofs (wildcard, NXDOMAIN, NODATA) go to
            // AUTHORITY.
            extend_unique(&mut answers, step.records(&entry.answers));
            extend_unique(&mut proofs, step.records(&entry.authorities));
            let (rcode, authorities) = match &entry.kind {
                StepKind::Cname { target } if query.qtype != RecordType::CNAME => {
                    name = target.to_lowercase();
                    continue;
                }
                StepKind::Positive | StepKind::Cname { .. } | StepKind::NoData => {
                    (ResponseCode::NoError, proofs)
                }
                StepKind::NxDomain => (ResponseCode::NXDomain, proofs),
            };
            // Under a negative trust anchor (RFC 7646) the answer is given
            // as if the zone were unsigned: AD is never set.
            if chain.under_nta() {
                security = Security::INSECURE;
            }
            let kind = entry.kind.clone();
            let mut answer = self.finish(query, rcode, answers, authorities, security);
            answer.tier = chain.tier();
            answer.ede = chain.edes(&kind, std::mem::take(&mut answer.ede));
            // Reusable while every step stays fresh: only fresh answers from
            // the validated view, never under an NTA (a policy that may end
            // any time) nor for CD (whose view may change under it).
            if answer.tier == Tier::Fresh && !cd {
                answer.fresh_until = fresh_until;
            }
            return Ok(answer);
        }
        Err(ctx.limit(Limit::MaxCnameChain, limits::MAX_CNAME_CHAIN as u64))
    }

    /// ANY (RFC 8482): never resolved or validated as one RRset. Answered
    /// with the RRsets the validated cache holds fresh for the name; else
    /// with the name's A RRset through the ladder (a subset, §4.1); a name
    /// that exists without A gets a synthesised HINFO (§4.2), never AD.
    async fn answer_any(
        self: &Arc<Self>,
        query: &ClientQuery,
        ctx: &Arc<Ctx>,
    ) -> Result<Answer, ResolveError> {
        let name = query.name.to_lowercase();
        let mut answers: Vec<Record> = Vec::new();
        let mut security = Security::Secure;
        for t in ANY_TYPES {
            if let Some((entry, remaining)) = self.fresh(&name, t, View::Validated)
                && entry.kind == StepKind::Positive
            {
                answers.extend(Entry::records_with_ttl(&entry.answers, remaining));
                security = security.combine(entry.security.clone());
            }
        }
        if !answers.is_empty() {
            if self.nta_for(&name).is_some() {
                security = Security::INSECURE;
            }
            return Ok(self.finish(query, ResponseCode::NoError, answers, Vec::new(), security));
        }
        let a = ClientQuery {
            qtype: RecordType::A,
            ..query.clone()
        };
        let mut answer = self.answer_chain(&a, ctx).await?;
        answer.fresh_until = None;
        let nodata = answer.rcode == ResponseCode::NoError && answer.answers.is_empty();
        if nodata && answer.tier != Tier::ServFail {
            answer.answers.push(Record::from_rdata(
                query.name.clone(),
                limits::RFC8482_HINFO_TTL,
                hickory_proto::rr::RData::HINFO(hickory_proto::rr::rdata::HINFO::new(
                    "RFC8482".to_owned(),
                    String::new(),
                )),
            ));
            answer.authorities.clear();
            answer.authentic_data = false;
        }
        Ok(answer)
    }

    fn finish(
        &self,
        query: &ClientQuery,
        rcode: ResponseCode,
        mut answers: Vec<Record>,
        mut authorities: Vec<Record>,
        security: Security,
    ) -> Answer {
        if !query.dnssec_ok {
            answers.retain(|r| !is_dnssec_type(r.record_type()) || r.record_type() == query.qtype);
            authorities.retain(|r| !is_dnssec_type(r.record_type()));
        }
        let mut ede: Vec<Ede> = Vec::new();
        if let Security::Insecure { note: Some(note) } = &security {
            ede.push(note.clone());
        }
        // Rebinding protection is a serving policy: the cache keeps the
        // truth, each answer is filtered (like an NTA, no flush needed).
        let config = self.config();
        let stripped = config
            .private_addresses
            .strip(&mut answers, &config.private_zones);
        if stripped {
            ede.push(Ede::new(
                crate::ede::EdeCode::Blocked,
                "private-address: private addresses removed (DNS rebinding protection)",
            ));
        }
        Answer {
            rcode,
            answers,
            authorities,
            additionals: Vec::new(),
            authentic_data: security.is_secure() && !query.checking_disabled && !stripped,
            ede,
            tier: Tier::Fresh,
            fresh_until: None,
        }
    }

    fn fresh(&self, name: &Name, qtype: RecordType, view: View) -> Option<(Arc<Entry>, u32)> {
        let key = CacheKey::new(name, qtype, DNSClass::IN, view);
        match self.cache.get(&key, self.clock.now())? {
            (entry, Freshness::Fresh { remaining }) => Some((entry, remaining)),
            _ => None,
        }
    }

    /// Resolve one step (cache first), coalescing identical concurrent
    /// lookups, and store the result in the view its security allows.
    pub(crate) fn lookup<'a>(
        self: &'a Arc<Self>,
        name: &'a Name,
        qtype: RecordType,
        ctx: &'a Arc<Ctx>,
    ) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            if let Some((entry, _)) = self.fresh(name, qtype, View::Validated) {
                return Ok(entry);
            }
            ctx.enter(name, qtype)?;
            let key = (name.to_lowercase(), qtype);
            let this = Arc::clone(self);
            let (n, c) = (key.0.clone(), Arc::clone(ctx));
            let result = self
                .steps_inflight
                .run(key, async move { this.resolve_step(&n, qtype, &c).await })
                .await
                .unwrap_or(Err(ResolveError::Internal(
                    "resolution task ended without a result",
                )));
            ctx.leave(name, qtype);
            result
        })
    }

    async fn resolve_step(
        self: &Arc<Self>,
        name: &Name,
        qtype: RecordType,
        ctx: &Arc<Ctx>,
    ) -> StepResult {
        let cuts = ctx.budget_cuts.load(Ordering::Relaxed);
        let iterated = Box::pin(self.iterate(name, qtype, ctx, true)).await;
        let entry = match iterated {
            Ok(entry) => entry,
            Err(e) => {
                // Only zone-level evidence (every server failed) opens a
                // window, and never for a meta question (ANY, RRSIG, ...).
                if let Some(zone) = e.failing_zone()
                    && !is_meta_type(qtype)
                {
                    self.open_window(health::Opening {
                        zone: zone.to_lowercase(),
                        fault_zone: zone.to_lowercase(),
                        class: health::FailureClass::Outage,
                        cause: e.ede(),
                        question: (name.to_lowercase(), qtype),
                    });
                }
                if let Some(zone) = e.failing_zone() {
                    self.not_slow(zone);
                }
                return Err(e);
            }
        };
        self.not_slow(&entry.zone);
        // A verdict cut short by a per-response budget says something about
        // this question (a very long name, many RRsets), not about the
        // zone: it must not let one client close the zone for everyone
        // with a failure-recheck window. Nor does a meta question (ANY,
        // RRSIG...). The name's own Bogus entry still remembers it for
        // BOGUS_TTL_SECS.
        let over_budget = ctx.budget_cuts.load(Ordering::Relaxed) != cuts;
        if let Security::Bogus(r) = &entry.security {
            if over_budget || is_meta_type(qtype) {
                tracing::debug!(%name, %qtype, reason = %r, "over the validation budget or meta question; no zone evidence");
            } else {
                self.bogus_evidence(name, qtype, &entry, r);
            }
        }
        let view = if entry.security.is_validated() {
            View::Validated
        } else {
            View::CheckingDisabled
        };
        self.metrics
            .validated(&entry.security, self.nta_for(name).is_some());
        let entry = Arc::new(entry);
        let key = CacheKey::new(name, qtype, DNSClass::IN, view);
        if let (View::Validated, Some(store)) = (view, self.store.get()) {
            store.offer(key.clone(), Arc::clone(&entry));
        }
        self.share(&key, &entry);
        self.cache.insert(key, Entry::clone(&entry));
        Ok(entry)
    }
}

impl QueryHandler for Arc<Resolver> {
    fn answer(&self, query: ClientQuery) -> impl Future<Output = Answer> + Send {
        let this = Arc::clone(self);
        async move { this.resolve(&query).await }
    }

    fn cache_state(&self) -> Option<CacheState> {
        let generation = self
            .config_generation
            .load(Ordering::Acquire)
            .wrapping_add(self.cache.generation())
            .wrapping_add(self.ntas.generation());
        Some(CacheState {
            generation,
            now: self.clock.now(),
        })
    }
}

/// Types an ANY question is answered with from the cache (RFC 8482 §4.1).
const ANY_TYPES: [RecordType; 12] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::MX,
    RecordType::TXT,
    RecordType::NS,
    RecordType::SOA,
    RecordType::SRV,
    RecordType::CAA,
    RecordType::HTTPS,
    RecordType::SVCB,
    RecordType::PTR,
    RecordType::DNSKEY,
];

/// Question types that say nothing about a zone's health: meta queries
/// and types answered without a covering signature (issue 13).
pub(crate) fn is_meta_type(t: RecordType) -> bool {
    matches!(
        t,
        RecordType::ANY
            | RecordType::RRSIG
            | RecordType::NSEC
            | RecordType::NSEC3
            | RecordType::AXFR
            | RecordType::IXFR
            | RecordType::OPT
    ) || (128..=255).contains(&u16::from(t))
}

/// Append the records of `more` not already in `to`, whatever their TTL
/// (two CNAME steps from one zone may carry the same NSEC).
fn extend_unique(to: &mut Vec<Record>, more: Vec<Record>) {
    for r in more {
        if !to.iter().any(|a| same_record(a, &r)) {
            to.push(r);
        }
    }
}

/// The same record whatever its TTL (owner, type, class, data).
fn same_record(a: &Record, b: &Record) -> bool {
    a.name == b.name
        && a.record_type() == b.record_type()
        && a.dns_class == b.dns_class
        && a.data == b.data
}

/// Memory a delegation holds besides its zone name (the cache key).
fn delegation_weight(d: &Delegation) -> usize {
    let servers = d.servers.iter().map(|ns| {
        std::mem::size_of_val(ns)
            + cache::name_weight(&ns.name)
            + ns.addrs.len() * std::mem::size_of::<std::net::IpAddr>()
    });
    std::mem::size_of::<Delegation>() + cache::name_weight(&d.zone) + servers.sum::<usize>()
}

/// Memory a key verdict holds: the DNSKEYs with their public keys, or
/// the reason with its text.
fn key_entry_weight(entry: &KeyEntry) -> usize {
    let held = match entry {
        KeyEntry::Secure(keys) => keys
            .iter()
            .map(|k| {
                use hickory_proto::dnssec::PublicKey;
                std::mem::size_of_val(k) + k.public_key().public_bytes().len()
            })
            .sum(),
        KeyEntry::Insecure { note } => note.as_ref().map_or(0, |e| e.text.len()),
        KeyEntry::Bogus(r) => cache::name_weight(&r.zone) + r.detail.len(),
        KeyEntry::Indeterminate(e) => e.text.len(),
    };
    std::mem::size_of::<KeyEntry>() + held
}

/// Types that exist only to carry DNSSEC proofs; stripped when DO is clear.
fn is_dnssec_type(t: RecordType) -> bool {
    matches!(
        t,
        RecordType::RRSIG
            | RecordType::NSEC
            | RecordType::NSEC3
            | RecordType::DNSKEY
            | RecordType::DS
    )
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::str::FromStr;

    use super::*;

    fn limit_of(e: ResolveError) -> &'static str {
        match e {
            ResolveError::Limit { limit, .. } => limit.as_str(),
            other => panic!("not a limit: {other:?}"),
        }
    }

    #[test]
    fn upstream_budget_per_client_query() {
        let ctx = Ctx::default();
        for _ in 0..limits::MAX_UPSTREAM_QUERIES_PER_CLIENT_QUERY {
            ctx.spend_upstream().unwrap();
        }
        let e = ctx.spend_upstream().unwrap_err();
        assert_eq!(limit_of(e), "MAX_UPSTREAM_QUERIES_PER_CLIENT_QUERY");
        assert_eq!(
            ctx.limits_hit(),
            vec!["MAX_UPSTREAM_QUERIES_PER_CLIENT_QUERY"]
        );
        // Further refusals are the same limit, remembered once.
        assert!(ctx.spend_upstream().is_err());
        assert_eq!(ctx.limits_hit().len(), 1);
    }

    #[test]
    fn nested_lookups_and_loops() {
        let ctx = Ctx::default();
        let names: Vec<Name> = (0..=limits::MAX_NESTED_LOOKUPS)
            .map(|i| Name::from_str(&format!("n{i}.example.")).unwrap())
            .collect();
        for name in names.iter().take(limits::MAX_NESTED_LOOKUPS) {
            ctx.enter(name, RecordType::A).unwrap();
        }
        assert!(matches!(
            ctx.enter(&names[0], RecordType::A),
            Err(ResolveError::DependencyLoop { .. })
        ));
        let e = ctx
            .enter(&names[limits::MAX_NESTED_LOOKUPS], RecordType::A)
            .unwrap_err();
        assert_eq!(limit_of(e), "MAX_NESTED_LOOKUPS");
        ctx.leave(&names[1], RecordType::A);
        ctx.enter(&names[limits::MAX_NESTED_LOOKUPS], RecordType::A)
            .unwrap();
    }

    #[test]
    fn glueless_depth() {
        let ctx = Ctx::default();
        let open: Vec<_> = (0..limits::MAX_GLUELESS_DEPTH)
            .map(|_| ctx.enter_glueless().unwrap())
            .collect();
        let e = ctx.enter_glueless().err().unwrap();
        assert_eq!(limit_of(e), "MAX_GLUELESS_DEPTH");
        assert_eq!(ctx.limits_hit(), vec!["MAX_GLUELESS_DEPTH"]);
        drop(open);
        // Closed lookups free their depth again.
        let _again = ctx.enter_glueless().unwrap();
    }
}
