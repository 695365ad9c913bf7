//! Prometheus metrics: one explicit registry, every name a const here,
//! enum-valued labels only (never a qname or an address) but for the
//! bounded per-zone series of failing zones ([`zones`]).
//!
//! Every label set of tier, rcode and outcome exists from the start at 0
//! (so `rate()` and alerts work from the first scrape after a restart);
//! EDE codes and limit names appear when first counted.

pub mod history;
pub mod zones;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::clock::Timestamp;
use crate::dnssec::Security;
use crate::ede::{Ede, EdeCode};
use crate::query::Tier;
use crate::resolve::health::{FailureClass, Window};
use crate::resolve::outcome::UpstreamOutcome;
use history::AnswerHistory;
use zones::CauseClass;

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
pub const BOGUS_REFETCHES_TOTAL: &str = "lastgood_bogus_refetches_total";
pub const LAST_GOOD_KEYS_TOTAL: &str = "lastgood_last_good_keys_total";
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
pub const STORE_COMPACTIONS_TOTAL: &str = "lastgood_store_compactions_total";
pub const ANSWERS_TOTAL: &str = "lastgood_answers_total";
pub const CACHE_STALE_HITS_TOTAL: &str = "lastgood_cache_stale_hits_total";
pub const ZONES_FAILING: &str = "lastgood_zones_failing";
pub const FAILING_ZONE_INFO: &str = "lastgood_failing_zone_info";
pub const FAILING_ZONE_SECONDS: &str = "lastgood_failing_zone_seconds";
pub const BUILD_INFO: &str = "lastgood_build_info";
pub const NTA_REMAINING_SECONDS: &str = "lastgood_nta_remaining_seconds";

/// NTAs given their own `lastgood_nta_remaining_seconds` series: the ones
/// that expire first.
pub const MAX_NTA_SERIES: usize = 10;

/// Response codes pre-initialised in `lastgood_queries_total` (the labels
/// of `server::wire::rcode_label`).
pub const RCODES: [&str; 8] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "OTHER",
];

/// Outcomes of `lastgood_validation_total`. `nta`: a verdict for a name
/// under a negative trust anchor (not validated for the client, so not
/// counted as Bogus even if the zone still fails).
pub const VALIDATION_OUTCOMES: [&str; 5] = ["secure", "insecure", "bogus", "indeterminate", "nta"];

/// Classes of `lastgood_zone_failures_total`.
const FAILURE_CLASSES: [FailureClass; 2] = [FailureClass::Outage, FailureClass::Validation];

/// Results of `lastgood_failure_probes_total`.
const PROBE_RESULTS: [&str; 2] = ["recovered", "failing"];

/// The `ede` label of an answer: the code of its cause, i.e. its first EDE
/// that is not the "stale answer" marker (3, 19), else the marker, else
/// `none`.
pub fn answer_ede_label(ede: &[Ede]) -> String {
    let marker = |e: &&Ede| matches!(e.code, EdeCode::StaleAnswer | EdeCode::StaleNxdomainAnswer);
    ede.iter()
        .find(|e| !marker(e))
        .or_else(|| ede.first())
        .map_or_else(|| "none".to_owned(), |e| e.code.code().to_string())
}

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
    /// Answers that did not validate asked again of another server of the
    /// zone (one bad server fails that server, not the zone).
    pub bogus_refetches: IntCounter,
    /// A zone's last chain of trust that validated, used again past its
    /// TTL because the parent could not prove the DS (fail stale).
    pub last_good_keys: IntCounter,
    /// Problems with optional state files, by file (`nta`): bad entries
    /// at start, failed writes (state kept in memory only).
    pub state_file_errors: IntCounterVec,
    /// Answers by tier and the EDE code of their cause (`none`).
    pub answers: IntCounterVec,
    /// Answers served stale from the cache (RFC 8767): hits, not misses.
    pub cache_stale_hits: IntCounter,
    /// Zones in a failure window now, by cause class (set at each scrape).
    pub zones_failing: IntGaugeVec,
    /// The top `MAX_FAILING_ZONE_SERIES` failing zones (set at each scrape).
    pub failing_zone_info: IntGaugeVec,
    pub failing_zone_seconds: IntGaugeVec,
    /// Lifetime left of the `MAX_NTA_SERIES` NTAs that expire first.
    pub nta_remaining: IntGaugeVec,
    /// Answers per minute by tier, the last hour (the status page's chart).
    pub history: std::sync::Arc<AnswerHistory>,
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
    /// Compactions of the store file, by result (done, error, time,
    /// dirty, closed).
    pub compactions: IntCounterVec,
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
            compactions: counter_vec(
                STORE_COMPACTIONS_TOTAL,
                "Compactions of the last-good store file, by result.",
                "result",
            )?,
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
        let bogus_refetches = IntCounter::new(
            BOGUS_REFETCHES_TOTAL,
            "Answers that did not validate, asked again of another server of the zone.",
        )?;
        registry.register(Box::new(bogus_refetches.clone()))?;
        let last_good_keys = IntCounter::new(
            LAST_GOOD_KEYS_TOTAL,
            "A zone's last validated chain of trust used again past its TTL while its parent could not prove the DS.",
        )?;
        registry.register(Box::new(last_good_keys.clone()))?;
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
        let answers = IntCounterVec::new(
            Opts::new(
                ANSWERS_TOTAL,
                "Client answers, by ladder tier and the EDE code of their cause.",
            ),
            &["tier", "ede"],
        )?;
        registry.register(Box::new(answers.clone()))?;
        let cache_stale_hits = IntCounter::new(
            CACHE_STALE_HITS_TOTAL,
            "Answers served stale from the cache (RFC 8767); not counted as misses.",
        )?;
        registry.register(Box::new(cache_stale_hits.clone()))?;
        let zones_failing = IntGaugeVec::new(
            Opts::new(
                ZONES_FAILING,
                "Zones in a failure window now, by cause class.",
            ),
            &["cause"],
        )?;
        registry.register(Box::new(zones_failing.clone()))?;
        let failing_zone_info = IntGaugeVec::new(
            Opts::new(
                FAILING_ZONE_INFO,
                "The failing zones with most clients (bounded), with cause class and EDE.",
            ),
            &["zone", "fault_zone", "class", "cause", "ede"],
        )?;
        registry.register(Box::new(failing_zone_info.clone()))?;
        let failing_zone_seconds = IntGaugeVec::new(
            Opts::new(
                FAILING_ZONE_SECONDS,
                "How long each of the failing zones with most clients (bounded) has been failing.",
            ),
            &["zone", "cause"],
        )?;
        registry.register(Box::new(failing_zone_seconds.clone()))?;
        let nta_remaining = IntGaugeVec::new(
            Opts::new(
                NTA_REMAINING_SECONDS,
                "Lifetime left of the negative trust anchors that expire first (bounded).",
            ),
            &["zone"],
        )?;
        registry.register(Box::new(nta_remaining.clone()))?;
        let build_info = IntGaugeVec::new(
            Opts::new(BUILD_INFO, "The running lastgood build; always 1."),
            &["version"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let metrics = Self {
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
            bogus_refetches,
            last_good_keys,
            state_file_errors,
            store,
            answers,
            cache_stale_hits,
            zones_failing,
            failing_zone_info,
            failing_zone_seconds,
            nta_remaining,
            history: std::sync::Arc::new(AnswerHistory::default()),
        };
        metrics.preinitialise();
        Ok(metrics)
    }

    /// Create every label set of tier, rcode and outcome at 0.
    fn preinitialise(&self) {
        for tier in Tier::ALL {
            let t = tier.as_str();
            for rcode in RCODES {
                self.queries.with_label_values(&[rcode, t]);
            }
            self.answers.with_label_values(&[t, "none"]);
            self.latency.with_label_values(&[t]);
        }
        for outcome in UpstreamOutcome::ALL {
            self.upstream.with_label_values(&[outcome.as_str()]);
        }
        for outcome in VALIDATION_OUTCOMES {
            self.validation.with_label_values(&[outcome, "none"]);
        }
        for class in FAILURE_CLASSES {
            self.zone_failures.with_label_values(&[class.as_str()]);
        }
        for result in PROBE_RESULTS {
            self.failure_probes.with_label_values(&[result]);
        }
        for cause in CauseClass::ALL {
            self.zones_failing.with_label_values(&[cause.as_str()]);
        }
        for limit in crate::limits::Limit::ALL {
            self.limit_hits.with_label_values(&[limit.as_str()]);
        }
        self.malformed.with_label_values(&["formerr"]);
        self.state_file_errors.with_label_values(&["nta"]);
    }

    /// Count one hit of a named limit (the constant's name in `limits.rs`).
    pub fn limit_hit(&self, limit: crate::limits::Limit) {
        self.limit_hits.with_label_values(&[limit.as_str()]).inc();
    }

    /// Count an answer without EDE.
    pub fn answered(&self, rcode: &str, tier: Tier) {
        self.answered_with_ede(rcode, tier, &[]);
    }

    /// Count an answer: by rcode and tier, by tier and the EDE of its
    /// cause, and in this minute of the history.
    pub fn answered_with_ede(&self, rcode: &str, tier: Tier, ede: &[Ede]) {
        self.queries
            .with_label_values(&[rcode, tier.as_str()])
            .inc();
        let code = answer_ede_label(ede);
        self.answers
            .with_label_values(&[tier.as_str(), code.as_str()])
            .inc();
        self.history.record(tier, history::unix_minute(), 1);
    }

    /// Count a validation verdict (each resolution, not each client).
    /// Under an NTA a failed verdict is outcome `nta`: nobody was refused
    /// an answer for it.
    pub fn validated(&self, security: &Security, under_nta: bool) {
        let code = |c: EdeCode| c.code().to_string();
        let (outcome, ede) = match security {
            Security::Secure => ("secure", "none".to_owned()),
            Security::Insecure { note } => (
                "insecure",
                note.as_ref().map_or("none".to_owned(), |e| code(e.code)),
            ),
            Security::Bogus(r) if under_nta => ("nta", code(r.kind.ede_code())),
            Security::Indeterminate(e) if under_nta => ("nta", code(e.code)),
            Security::Bogus(r) => ("bogus", code(r.kind.ede_code())),
            Security::Indeterminate(e) => ("indeterminate", code(e.code)),
        };
        self.validation
            .with_label_values(&[outcome, ede.as_str()])
            .inc();
    }

    /// A client question answered from a failure window without asking
    /// upstream: for a validation window that is a Bogus verdict too (the
    /// zone's data is still known to fail), counted with the window's EDE.
    pub fn answered_from_window(&self, window: &Window) {
        if window.class == FailureClass::Validation {
            self.validation
                .with_label_values(&["bogus", window.cause.code.code().to_string().as_str()])
                .inc();
        }
    }

    /// Set the NTA gauges from the active NTAs (at each scrape).
    pub fn set_ntas(&self, ntas: &[crate::nta::NtaView]) {
        self.set_ntas_active(ntas.len());
        let mut soonest: Vec<&crate::nta::NtaView> = ntas.iter().collect();
        soonest.sort_by_key(|n| n.remaining);
        self.nta_remaining.reset();
        for n in soonest.into_iter().take(MAX_NTA_SERIES) {
            self.nta_remaining
                .with_label_values(&[n.zone.to_string().as_str()])
                .set(i64::try_from(n.remaining.as_secs()).unwrap_or(i64::MAX));
        }
    }

    /// Set the failing-zone gauges from the open windows (at each scrape).
    pub fn set_failing_zones(&self, windows: &[Window], now: Timestamp) {
        for (cause, n) in zones::count_by_cause(windows) {
            self.zones_failing
                .with_label_values(&[cause.as_str()])
                .set(n);
        }
        self.failing_zone_info.reset();
        self.failing_zone_seconds.reset();
        for z in zones::top(windows, now) {
            let ede = z.ede.to_string();
            self.failing_zone_info
                .with_label_values(&[&z.zone, &z.fault_zone, z.class, z.cause.as_str(), &ede])
                .set(1);
            self.failing_zone_seconds
                .with_label_values(&[&z.zone, z.cause.as_str()])
                .set(i64::try_from(z.failing_for_secs).unwrap_or(i64::MAX));
        }
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

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use super::*;

    #[test]
    fn label_sets_exist_at_zero_from_the_start() {
        let text = Metrics::new().unwrap().render();
        for tier in Tier::ALL {
            for rcode in RCODES {
                let series = format!(
                    "{QUERIES_TOTAL}{{rcode=\"{rcode}\",tier=\"{}\"}} 0\n",
                    tier.as_str()
                );
                assert!(text.contains(&series), "{series}");
            }
            let series = format!(
                "{ANSWERS_TOTAL}{{ede=\"none\",tier=\"{}\"}} 0\n",
                tier.as_str()
            );
            assert!(text.contains(&series), "{series}");
        }
        for outcome in UpstreamOutcome::ALL {
            let series = format!(
                "{UPSTREAM_QUERIES_TOTAL}{{outcome=\"{}\"}} 0\n",
                outcome.as_str()
            );
            assert!(text.contains(&series), "{series}");
        }
        for outcome in VALIDATION_OUTCOMES {
            let series = format!("{VALIDATION_TOTAL}{{ede=\"none\",outcome=\"{outcome}\"}} 0\n");
            assert!(text.contains(&series), "{series}");
        }
        for cause in CauseClass::ALL {
            let series = format!("{ZONES_FAILING}{{cause=\"{}\"}} 0\n", cause.as_str());
            assert!(text.contains(&series), "{series}");
        }
        let build = format!(
            "{BUILD_INFO}{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&build), "{build}");
        #[cfg(target_os = "linux")]
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(&format!("\n{name} ")), "{name}");
        }
    }

    #[test]
    fn answers_are_labelled_with_their_cause() {
        let stale = Ede::new(EdeCode::StaleAnswer, "");
        let cause = Ede::new(EdeCode::DnskeyMissing, "x");
        let cases: [(&[Ede], &str); 4] = [
            (&[], "none"),
            (std::slice::from_ref(&stale), "3"),
            (&[stale.clone(), cause.clone()], "9"),
            (&[cause.clone(), stale.clone()], "9"),
        ];
        for (ede, want) in cases {
            assert_eq!(answer_ede_label(ede), want, "{ede:?}");
        }
        let m = Metrics::new().unwrap();
        m.answered_with_ede("NOERROR", Tier::Stale, &[stale, cause]);
        assert_eq!(m.answers.with_label_values(&["stale", "9"]).get(), 1);
        let now = history::unix_minute();
        let last = m.history.snapshot(now).pop().unwrap();
        // The minute may have turned between the count and the snapshot.
        let before = m.history.snapshot(now.saturating_sub(1)).pop().unwrap();
        assert_eq!(last.counts[1] + before.counts[1], 1);
    }

    #[test]
    fn verdicts_under_an_nta_are_not_bogus() {
        use crate::dnssec::{BogusKind, BogusReason};
        use hickory_proto::rr::Name;
        let m = Metrics::new().unwrap();
        let bogus = Security::Bogus(BogusReason::new(
            BogusKind::DnskeyMissing,
            &Name::root(),
            Some(7),
            "x",
        ));
        m.validated(&bogus, false);
        m.validated(&bogus, true);
        assert_eq!(m.validation.with_label_values(&["bogus", "9"]).get(), 1);
        assert_eq!(m.validation.with_label_values(&["nta", "9"]).get(), 1);
    }
}
