//! Prometheus metrics: one explicit registry, every name a const here,
//! enum-valued labels only (never a qname or an address).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::query::Tier;

pub const QUERIES_TOTAL: &str = "lastgood_queries_total";
pub const MALFORMED_QUERIES_TOTAL: &str = "lastgood_malformed_queries_total";
pub const REFUSED_QUERIES_TOTAL: &str = "lastgood_refused_queries_total";
pub const CACHE_HITS_TOTAL: &str = "lastgood_cache_hits_total";
pub const CACHE_MISSES_TOTAL: &str = "lastgood_cache_misses_total";
pub const CACHE_ENTRIES: &str = "lastgood_cache_entries";
pub const CACHE_BYTES: &str = "lastgood_cache_bytes";
pub const UPSTREAM_QUERIES_TOTAL: &str = "lastgood_upstream_queries_total";
pub const VALIDATION_TOTAL: &str = "lastgood_validation_total";
pub const LIMIT_HITS_TOTAL: &str = "lastgood_limit_hits_total";
pub const QUERY_DURATION_SECONDS: &str = "lastgood_query_duration_seconds";
pub const NTAS_ACTIVE: &str = "lastgood_ntas_active";
pub const CONFIG_RELOADS_TOTAL: &str = "lastgood_config_reloads_total";
pub const CONFIG_RELOAD_FAILURES_TOTAL: &str = "lastgood_config_reload_failures_total";
pub const CONTROL_REQUESTS_TOTAL: &str = "lastgood_control_requests_total";
pub const SIGNATURE_VERIFICATIONS_TOTAL: &str = "lastgood_signature_verifications_total";
pub const ZONE_FAILURES_TOTAL: &str = "lastgood_zone_failures_total";
pub const FAILURE_PROBES_TOTAL: &str = "lastgood_failure_probes_total";
pub const STATE_FILE_ERRORS_TOTAL: &str = "lastgood_state_file_errors_total";
// The last-good store (issue 18).
pub const STORE_WRITES_TOTAL: &str = "lastgood_store_writes_total";
pub const STORE_WRITE_DROPPED_TOTAL: &str = "lastgood_store_write_dropped_total";
pub const STORE_WRITE_ERRORS_TOTAL: &str = "lastgood_store_write_errors_total";
pub const STORE_READS_TOTAL: &str = "lastgood_store_reads_total";
pub const STORE_REJECTED_TOTAL: &str = "lastgood_store_rejected_total";
pub const STORE_EVICTED_TOTAL: &str = "lastgood_store_evicted_total";
pub const STORE_ENTRIES: &str = "lastgood_store_entries";
pub const STORE_BYTES: &str = "lastgood_store_bytes";

/// Errors registering metrics (a programming error surfaced at start-up).
#[derive(Debug, thiserror::Error)]
#[error("registering metric: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// All metrics of one resolver instance.
#[derive(Clone, Debug)]
pub struct Metrics {
    pub registry: Registry,
    /// Answers by rcode and ladder tier.
    pub queries: IntCounterVec,
    /// Client messages dropped or answered FORMERR, by reason.
    pub malformed: IntCounterVec,
    /// Clients refused by the ACL.
    pub refused: IntCounter,
    pub cache_hits: IntCounter,
    pub cache_misses: IntCounter,
    pub cache_entries: IntGauge,
    pub cache_bytes: IntGauge,
    /// Upstream queries by outcome (answer, timeout, network_error, servfail, refused, malformed, truncated).
    pub upstream: IntCounterVec,
    /// Validation results by outcome (secure, insecure, bogus, indeterminate) and EDE code ("none" if no EDE).
    pub validation: IntCounterVec,
    /// Limits (constants of `limits.rs`) reached, by constant name.
    pub limit_hits: IntCounterVec,
    /// Client query latency by tier.
    pub latency: HistogramVec,
    /// Negative trust anchors in force.
    pub ntas_active: IntGauge,
    /// Configuration reloads applied.
    pub config_reloads: IntCounter,
    /// Configuration reloads refused (the running config stays).
    pub config_reload_failures: IntCounter,
    /// Control API requests by endpoint (a fixed route name) and HTTP status.
    pub control_requests: IntCounterVec,
    /// RRSIG verifications attempted (each spent from a response's
    /// `MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE` budget).
    pub signature_verifications: IntCounter,
    /// Failure windows opened, by class (outage, validation).
    pub zone_failures: IntCounterVec,
    /// Background probes of failing zones, by result (recovered, failing).
    pub failure_probes: IntCounterVec,
    /// Problems with optional state files, by file (`nta`): bad entries
    /// at start, failed writes (state kept in memory only).
    pub state_file_errors: IntCounterVec,
    /// The last-good store (`store/`).
    pub store: StoreMetrics,
}

/// Metrics of the last-good store.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    /// Entries written.
    pub writes: IntCounter,
    /// Entries not written, by reason (queue_full, no_chain, encode).
    pub write_dropped: IntCounterVec,
    /// Write transactions that failed (the entries are lost, no client
    /// query is).
    pub write_errors: IntCounter,
    /// Reads on a cache miss or a failed refresh, by result (hit, miss,
    /// gone, error).
    pub reads: IntCounterVec,
    /// Entries read back that did not prove again, by reason
    /// (`StoreError::reason`).
    pub rejected: IntCounterVec,
    /// Entries evicted, by reason (size, gone).
    pub evicted: IntCounterVec,
    pub entries: IntGauge,
    /// Live bytes of encoded entries.
    pub bytes: IntGauge,
}

impl StoreMetrics {
    fn register(registry: &Registry) -> Result<Self, MetricsError> {
        let counter_vec = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label])?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, MetricsError>(c)
        };
        let writes = IntCounter::new(
            STORE_WRITES_TOTAL,
            "Entries written to the last-good store.",
        )?;
        registry.register(Box::new(writes.clone()))?;
        let write_errors = IntCounter::new(
            STORE_WRITE_ERRORS_TOTAL,
            "Last-good store write transactions that failed.",
        )?;
        registry.register(Box::new(write_errors.clone()))?;
        let entries = IntGauge::new(STORE_ENTRIES, "Entries in the last-good store.")?;
        registry.register(Box::new(entries.clone()))?;
        let bytes = IntGauge::new(STORE_BYTES, "Live bytes of entries in the last-good store.")?;
        registry.register(Box::new(bytes.clone()))?;
        Ok(Self {
            writes,
            write_dropped: counter_vec(
                STORE_WRITE_DROPPED_TOTAL,
                "Entries not written to the last-good store, by reason.",
                "reason",
            )?,
            write_errors,
            reads: counter_vec(
                STORE_READS_TOTAL,
                "Last-good store reads, by result.",
                "result",
            )?,
            rejected: counter_vec(
                STORE_REJECTED_TOTAL,
                "Stored entries that did not prove again, by reason.",
                "reason",
            )?,
            evicted: counter_vec(
                STORE_EVICTED_TOTAL,
                "Entries evicted from the last-good store, by reason.",
                "reason",
            )?,
            entries,
            bytes,
        })
    }
}

impl Metrics {
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let queries = IntCounterVec::new(
            Opts::new(
                QUERIES_TOTAL,
                "Client queries answered, by rcode and ladder tier.",
            ),
            &["rcode", "tier"],
        )?;
        let malformed = IntCounterVec::new(
            Opts::new(
                MALFORMED_QUERIES_TOTAL,
                "Malformed client messages, by reason.",
            ),
            &["reason"],
        )?;
        let refused = IntCounter::new(REFUSED_QUERIES_TOTAL, "Client queries refused by the ACL.")?;
        let cache_hits = IntCounter::new(CACHE_HITS_TOTAL, "Answer cache hits.")?;
        let cache_misses = IntCounter::new(CACHE_MISSES_TOTAL, "Answer cache misses.")?;
        let cache_entries = IntGauge::new(CACHE_ENTRIES, "Entries in the answer cache.")?;
        let cache_bytes =
            IntGauge::new(CACHE_BYTES, "Approximate bytes held by the answer cache.")?;
        let upstream = IntCounterVec::new(
            Opts::new(UPSTREAM_QUERIES_TOTAL, "Upstream queries sent, by outcome."),
            &["outcome"],
        )?;
        let validation = IntCounterVec::new(
            Opts::new(
                VALIDATION_TOTAL,
                "DNSSEC validation results, by outcome and EDE code.",
            ),
            &["outcome", "ede"],
        )?;
        let limit_hits = IntCounterVec::new(
            Opts::new(
                LIMIT_HITS_TOTAL,
                "Limits reached, by the limit's constant name.",
            ),
            &["limit"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(QUERY_DURATION_SECONDS, "Client query latency, by tier.").buckets(
                vec![
                    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0,
                ],
            ),
            &["tier"],
        )?;
        let zone_failures = IntCounterVec::new(
            Opts::new(
                ZONE_FAILURES_TOTAL,
                "Zone failure windows opened on zone-level evidence, by class.",
            ),
            &["class"],
        )?;
        let failure_probes = IntCounterVec::new(
            Opts::new(
                FAILURE_PROBES_TOTAL,
                "Background probes of failing zones, by result.",
            ),
            &["result"],
        )?;
        registry.register(Box::new(zone_failures.clone()))?;
        registry.register(Box::new(failure_probes.clone()))?;
        registry.register(Box::new(queries.clone()))?;
        registry.register(Box::new(malformed.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(cache_hits.clone()))?;
        registry.register(Box::new(cache_misses.clone()))?;
        registry.register(Box::new(cache_entries.clone()))?;
        registry.register(Box::new(cache_bytes.clone()))?;
        registry.register(Box::new(upstream.clone()))?;
        registry.register(Box::new(validation.clone()))?;
        registry.register(Box::new(limit_hits.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        let ntas_active = IntGauge::new(NTAS_ACTIVE, "Negative trust anchors in force.")?;
        let config_reloads =
            IntCounter::new(CONFIG_RELOADS_TOTAL, "Configuration reloads applied.")?;
        let config_reload_failures = IntCounter::new(
            CONFIG_RELOAD_FAILURES_TOTAL,
            "Configuration reloads refused; the running configuration stays.",
        )?;
        let control_requests = IntCounterVec::new(
            Opts::new(
                CONTROL_REQUESTS_TOTAL,
                "Control API requests, by endpoint and HTTP status.",
            ),
            &["endpoint", "status"],
        )?;
        registry.register(Box::new(ntas_active.clone()))?;
        registry.register(Box::new(config_reloads.clone()))?;
        registry.register(Box::new(config_reload_failures.clone()))?;
        registry.register(Box::new(control_requests.clone()))?;
        let signature_verifications = IntCounter::new(
            SIGNATURE_VERIFICATIONS_TOTAL,
            "DNSSEC signature verifications attempted.",
        )?;
        registry.register(Box::new(signature_verifications.clone()))?;
        let state_file_errors = IntCounterVec::new(
            Opts::new(
                STATE_FILE_ERRORS_TOTAL,
                "Problems with optional state files (bad entries, failed writes), by file.",
            ),
            &["file"],
        )?;
        registry.register(Box::new(state_file_errors.clone()))?;
        let store = StoreMetrics::register(&registry)?;
        Ok(Self {
            registry,
            queries,
            malformed,
            refused,
            cache_hits,
            cache_misses,
            cache_entries,
            cache_bytes,
            upstream,
            validation,
            limit_hits,
            latency,
            ntas_active,
            config_reloads,
            config_reload_failures,
            control_requests,
            signature_verifications,
            zone_failures,
            failure_probes,
            state_file_errors,
            store,
        })
    }

    /// Count one hit of a named limit (the constant's name in `limits.rs`).
    pub fn limit_hit(&self, limit: &'static str) {
        self.limit_hits.with_label_values(&[limit]).inc();
    }

    pub fn answered(&self, rcode: &str, tier: Tier) {
        self.queries
            .with_label_values(&[rcode, tier.as_str()])
            .inc();
    }

    /// Count a configuration reload, applied (`ok`) or refused.
    pub fn config_reloaded(&self, ok: bool) {
        if ok {
            self.config_reloads.inc();
        } else {
            self.config_reload_failures.inc();
        }
    }

    /// Set the NTA gauge (from `NtaStore::active_count`).
    pub fn set_ntas_active(&self, count: usize) {
        self.ntas_active
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The registry in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
