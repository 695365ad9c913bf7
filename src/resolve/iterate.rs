//! The iterative engine for one step: start at the closest known
//! delegation, follow referrals (QNAME minimisation, relaxed, RFC 9156),
//! pick servers by smoothed RTT, retry within bounds, validate the answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::cache::{Entry, StepKind, View};
use crate::clock::Timestamp;
use crate::dnssec::validate;
use crate::dnssec::{KeyEntry, KeyMap, Security};
use crate::limits;
use crate::resolve::classify::{Classified, classify};
use crate::resolve::servers::Delegation;
use crate::resolve::upstream;
use crate::resolve::{Ctx, ResolveError, Resolver};

impl Resolver {
    /// Resolve (`qname`, `qtype`) from the closest known delegation.
    /// With `validate`, the answer's security is decided; without it
    /// (DNSKEY fetches, which the key code authenticates itself) the entry
    /// is marked Indeterminate and never cached.
    pub(crate) async fn iterate(
        self: &Arc<Self>,
        qname: &Name,
        qtype: RecordType,
        ctx: &Arc<Ctx>,
        validate: bool,
    ) -> Result<Entry, ResolveError> {
        let mut deleg = self.closest_delegation(qname, qtype);
        // A forwarder is asked the full question: it recurses for us.
        let mut minimise = self.config().qname_minimisation && !deleg.forward;
        // Labels of the name asked when minimising: one below the zone,
        // or below the deepest name already known to lie inside it.
        let mut ask_labels = usize::from(deleg.zone.num_labels()) + 1;
        if minimise && let Some(inside) = self.known_inside(qname, &deleg.zone) {
            ask_labels = usize::from(inside.num_labels()) + 1;
        }
        for _ in 0..limits::MAX_REFERRAL_DEPTH {
            let full = !minimise || ask_labels >= usize::from(qname.num_labels());
            let (ask_name, ask_type) = if full {
                (qname.clone(), qtype)
            } else {
                (qname.trim_to(ask_labels), RecordType::A)
            };
            let (resp, classified) = self.query_zone(&deleg, &ask_name, ask_type, ctx).await?;
            match classified {
                Classified::Referral(_) if deleg.forward => {
                    // A forwarder that refers instead of recursing is broken.
                    return Err(ResolveError::NetworkError {
                        zone: deleg.zone.clone(),
                        detail: "forwarder answered with a referral".into(),
                    });
                }
                Classified::Referral(next) => {
                    let next = self.with_addresses(next, ctx).await?;
                    self.delegations
                        .insert(next.zone.clone(), Arc::new(next.clone()));
                    ask_labels = usize::from(next.zone.num_labels()) + 1;
                    deleg = next;
                }
                Classified::Answer(kind) if !full => {
                    // The minimised name exists (or not) inside this zone.
                    if kind == StepKind::NxDomain {
                        // Relaxed mode: some servers say NXDOMAIN for empty
                        // non-terminals; ask the full name instead.
                        minimise = false;
                    } else {
                        self.remember_inside(&ask_name, &deleg);
                        ask_labels += 1;
                    }
                }
                Classified::Answer(kind) => {
                    return self
                        .finish_step(&resp, kind, qname, qtype, &deleg.zone, ctx, validate)
                        .await;
                }
                Classified::Failed(_) => {
                    return Err(ResolveError::Internal("query_zone returned a failure"));
                }
            }
        }
        Err(ctx.limit("MAX_REFERRAL_DEPTH", limits::MAX_REFERRAL_DEPTH as u64))
    }

    /// The deepest proper ancestor of `qname` below `zone` that a
    /// minimised query found inside `zone` (no zone cut there), if any.
    /// Skipping the minimised queries above it is always safe: were a cut
    /// added since, the zone's servers answer the deeper name with a
    /// referral, which is followed as usual (RFC 9156 §3 only asks not to
    /// show more labels than needed).
    fn known_inside(&self, qname: &Name, zone: &Name) -> Option<Name> {
        let now = self.clock.now();
        let mut name = qname.base_name();
        while name.num_labels() > zone.num_labels() {
            if let Some((z, until)) = self.inside_zone.get(&name)
                && &z == zone
                && now < until
            {
                return Some(name);
            }
            name = name.base_name();
        }
        None
    }

    /// Remember that `name` answered inside `deleg`'s zone, while the
    /// delegation is fresh and at most `MAX_NEGATIVE_TTL`.
    fn remember_inside(&self, name: &Name, deleg: &Delegation) {
        // stored_at is never later than now, so this is also at most
        // MAX_NEGATIVE_TTL from now.
        let ttl = deleg.ttl.min(limits::MAX_NEGATIVE_TTL);
        let until = deleg
            .stored_at
            .saturating_add(Duration::from_secs(u64::from(ttl)));
        self.inside_zone
            .insert(name.to_lowercase(), (deleg.zone.clone(), until));
    }

    /// The deepest cached delegation at or above `qname` (for DS: strictly
    /// above, because DS lives in the parent), else the root hints. A
    /// configured forward/stub zone on the way up wins over any cached
    /// delegation at its own name or above (longest suffix decides); below
    /// a forward zone nothing is cached, so its forwarders are always used.
    fn closest_delegation(&self, qname: &Name, qtype: RecordType) -> Delegation {
        let now = self.clock.now();
        let config = self.config();
        let mut name = if qtype == RecordType::DS && !qname.is_root() {
            qname.base_name()
        } else {
            qname.to_lowercase()
        };
        loop {
            if let Some(private) = config.private_zones.get(&name) {
                return private.delegation();
            }
            if let Some(d) = self.delegations.get(&name) {
                let fresh = matches!(
                    crate::cache::freshness(d.stored_at, d.ttl, now, Duration::ZERO),
                    crate::cache::Freshness::Fresh { .. }
                );
                if fresh {
                    return Delegation::clone(&d);
                }
            }
            if name.is_root() {
                return config.root_hints.clone();
            }
            name = name.base_name();
        }
    }

    /// Fill in addresses for a delegation without glue, resolving at most
    /// `MAX_GLUELESS_NS_PER_REFERRAL` NS names (NXNS, CVE-2020-12662).
    async fn with_addresses(
        self: &Arc<Self>,
        mut deleg: Delegation,
        ctx: &Arc<Ctx>,
    ) -> Result<Delegation, ResolveError> {
        if !deleg.addresses().is_empty() {
            return Ok(deleg);
        }
        let _glueless = ctx.enter_glueless()?;
        let zone = deleg.zone.clone();
        let mut last_err = None;
        let mut looked_up = 0;
        let mut cut_short = false;
        for ns in deleg.servers.iter_mut() {
            if zone.zone_of(&ns.name) {
                // A name at or below the cut, without glue: only the
                // child's own servers could say where it is, and we have
                // none (RFC 9471: such glue is required). Asking would
                // meet the same referral again (glueless-loop); a cached
                // address still serves.
                if let Some((entry, _)) = self.fresh(&ns.name, RecordType::A, View::Validated) {
                    ns.addrs = addresses_of(&entry.answers, &ns.name);
                }
            } else {
                if looked_up == limits::MAX_GLUELESS_NS_PER_REFERRAL {
                    cut_short = true;
                    break;
                }
                looked_up += 1;
                match self.lookup(&ns.name, RecordType::A, ctx).await {
                    // Bogus addresses are not used, unless an NTA covers them.
                    Ok(entry) if !entry.security.is_bogus() || self.nta_for(&ns.name).is_some() => {
                        ns.addrs = addresses_of(&entry.answers, &ns.name);
                    }
                    Ok(_) => {}
                    Err(e) => last_err = Some(e),
                }
            }
            if !ns.addrs.is_empty() {
                break;
            }
        }
        if deleg.addresses().is_empty() {
            if cut_short {
                // The names left untried may have worked; say which bound
                // stopped us rather than blame the ones tried.
                return Err(ctx.limit(
                    "MAX_GLUELESS_NS_PER_REFERRAL",
                    limits::MAX_GLUELESS_NS_PER_REFERRAL as u64,
                ));
            }
            let detail = if looked_up == 0 {
                "only name servers inside the zone, without glue"
            } else {
                "no address for any name server"
            };
            return Err(last_err.unwrap_or(ResolveError::NoReachableAuthority {
                zone: deleg.zone.clone(),
                detail: detail.into(),
            }));
        }
        Ok(deleg)
    }

    /// Ask the zone's servers, best RTT first, until one gives a usable
    /// answer or referral: at most `MAX_UPSTREAM_TRIES` sends of one
    /// question (one socket, one ID), each wait longer than the last, and a
    /// late answer from any server already asked still counts.
    async fn query_zone(
        &self,
        deleg: &Delegation,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<(Message, Classified), ResolveError> {
        let zone = deleg.zone.clone();
        let all = self
            .stats
            .order_sockets(deleg.socket_addrs(self.config().upstream_port));
        // One socket per question: prefer IPv4 when the zone has both.
        let v4: Vec<SocketAddr> = all.iter().copied().filter(SocketAddr::is_ipv4).collect();
        let (addrs, ipv6) = if v4.is_empty() {
            (all, true)
        } else {
            (v4, false)
        };
        let spoof = || {
            self.metrics
                .upstream
                .with_label_values(&["mismatch_ignored"])
                .inc()
        };
        let mut failures: Vec<&'static str> = Vec::new();
        let mut exchange = match self
            .upstream
            .exchange_with_recursion(name, qtype, ipv6, deleg.forward)
            .await
        {
            Ok(ex) => ex,
            Err(upstream::UpstreamError::Exhausted { limit, value }) => {
                return Err(ctx.limit(limit, value));
            }
            Err(e) => {
                return Err(ResolveError::NetworkError {
                    zone,
                    detail: e.to_string(),
                });
            }
        };
        let mut failed: Vec<SocketAddr> = Vec::new();
        let mut probes = Vec::new();
        let mut sent_at: Vec<(SocketAddr, Instant)> = Vec::new();
        let mut wait = Duration::ZERO;
        let question_deadline = Instant::now() + limits::UPSTREAM_QUESTION_DEADLINE;
        exchange.set_tcp_deadline(question_deadline);
        let servers = addrs.iter().copied();
        'tries: for server in servers.cycle().take(limits::MAX_UPSTREAM_TRIES) {
            if failed.len() >= addrs.len() {
                break;
            }
            if failed.contains(&server) {
                continue;
            }
            if Instant::now() >= question_deadline {
                ctx.note_limit("UPSTREAM_QUESTION_DEADLINE");
                break;
            }
            // Retry amplification brake: a server that is failing is
            // retried by one question at a time; the others give up on it.
            if sent_at.iter().any(|(s, _)| *s == server) && self.stats.is_failing(server.ip()) {
                match self.stats.probe(server.ip()) {
                    Some(p) => probes.push(p),
                    None if probes.iter().all(|p| p.addr() != server.ip()) => {
                        failures.push("probe_busy");
                        self.metrics
                            .upstream
                            .with_label_values(&["probe_busy"])
                            .inc();
                        continue;
                    }
                    None => {}
                }
            }
            ctx.spend_upstream()?;
            tracing::debug!(%server, %name, %qtype, "upstream query");
            if let Err(e) = exchange.send(server).await {
                self.upstream_failed(server, e.outcome(), &mut failures, &mut failed);
                continue;
            }
            let now = Instant::now();
            sent_at.push((server, now));
            wait = (wait * 2)
                .max(self.stats.timeout(server.ip()))
                .min(limits::UPSTREAM_TIMEOUT_MAX);
            let deadline = (now + wait).min(question_deadline);
            loop {
                match exchange.recv_until(deadline, &spoof).await {
                    upstream::Arrival::Answer {
                        from,
                        message,
                        oversized,
                    } => {
                        if oversized {
                            self.metrics
                                .upstream
                                .with_label_values(&["oversized_udp"])
                                .inc();
                            ctx.note_limit("EDNS_UDP_PAYLOAD");
                        }
                        match classify(&message, name, qtype, &deleg.zone, self.clock.now()) {
                            Classified::Failed(outcome) => {
                                self.upstream_failed(from, outcome, &mut failures, &mut failed);
                                if failed.len() >= sent_at.len() {
                                    continue 'tries;
                                }
                            }
                            ok => {
                                self.metrics.upstream.with_label_values(&["answer"]).inc();
                                if let Some((_, t)) = sent_at.iter().rev().find(|(s, _)| *s == from)
                                {
                                    self.stats.record_rtt(from.ip(), t.elapsed());
                                }
                                return Ok((message, ok));
                            }
                        }
                    }
                    upstream::Arrival::Failed { from, error } => {
                        tracing::debug!(%from, %error, "upstream answer unusable");
                        self.upstream_failed(from, error.outcome(), &mut failures, &mut failed);
                        if failed.len() >= sent_at.len() {
                            continue 'tries;
                        }
                    }
                    upstream::Arrival::Timeout => {
                        self.metrics.upstream.with_label_values(&["timeout"]).inc();
                        self.stats.record_failure(server.ip());
                        failures.push("timeout");
                        continue 'tries;
                    }
                }
            }
        }
        let detail = format!("{} tries: {}", failures.len(), failures.join(", "));
        let unreachable = failures
            .iter()
            .all(|f| matches!(*f, "timeout" | "network_error" | "refused" | "probe_busy"));
        if unreachable {
            Err(ResolveError::NoReachableAuthority { zone, detail })
        } else {
            Err(ResolveError::NetworkError { zone, detail })
        }
    }

    fn upstream_failed(
        &self,
        server: SocketAddr,
        outcome: &'static str,
        failures: &mut Vec<&'static str>,
        failed: &mut Vec<SocketAddr>,
    ) {
        self.metrics.upstream.with_label_values(&[outcome]).inc();
        self.stats.record_failure(server.ip());
        failures.push(outcome);
        if !failed.contains(&server) {
            failed.push(server);
        }
    }

    /// Turn an authoritative answer into a cache entry: keep the records
    /// relevant to the question, validate, compute the TTL.
    #[allow(clippy::too_many_arguments)]
    async fn finish_step(
        self: &Arc<Self>,
        resp: &Message,
        kind: StepKind,
        qname: &Name,
        qtype: RecordType,
        zone: &Name,
        ctx: &Arc<Ctx>,
        validate: bool,
    ) -> Result<Entry, ResolveError> {
        let now = self.clock.now();
        let (security, ttl_cap) = if !validate {
            (
                Security::Indeterminate(crate::ede::Ede::new(
                    crate::ede::EdeCode::DnssecIndeterminate,
                    "not validated",
                )),
                None,
            )
        } else if !self.config().dnssec || !self.private_zone_secure(zone) {
            (Security::INSECURE, None)
        } else {
            let verdict = self.validate_response(resp, qname, qtype, zone, ctx).await;
            (verdict.security, verdict.ttl_cap)
        };
        Ok(step_entry(
            resp, kind, qname, qtype, zone, security, ttl_cap, now,
        ))
    }

    async fn validate_response(
        self: &Arc<Self>,
        resp: &Message,
        qname: &Name,
        qtype: RecordType,
        zone: &Name,
        ctx: &Arc<Ctx>,
    ) -> validate::Verdict {
        let mut keys = KeyMap::new();
        let zone_keys = self.keys_for(zone, ctx).await;
        let zone_secure = matches!(zone_keys, KeyEntry::Secure(_));
        keys.insert(zone.to_lowercase(), zone_keys);
        let signers = validate::signer_names(&resp.answers, &resp.authorities);
        if signers.len() > limits::MAX_SIGNERS_PER_RESPONSE {
            ctx.note_limit("MAX_SIGNERS_PER_RESPONSE");
        }
        for signer in signers.into_iter().take(limits::MAX_SIGNERS_PER_RESPONSE) {
            if keys.contains_key(&signer) || !zone.zone_of(&signer) {
                continue;
            }
            let mut entry = self.keys_for(&signer, ctx).await;
            if zone_secure && matches!(entry, KeyEntry::Insecure { .. }) {
                // Inside a secure zone, a signature by a name with no secure
                // delegation is a forgery, not a reason to downgrade.
                entry = KeyEntry::Bogus(crate::dnssec::BogusReason::new(
                    crate::dnssec::BogusKind::DnskeyMissing,
                    &signer,
                    None,
                    "signer is not a secure zone under the answering zone",
                ));
            }
            keys.insert(signer, entry);
        }
        let mut budget = self.budget();
        let verdict = validate::validate_answer(
            resp.metadata.response_code,
            &resp.answers,
            &resp.authorities,
            qname,
            qtype,
            zone,
            &keys,
            self.clock.now().unix_secs(),
            &mut budget,
        );
        self.metrics
            .signature_verifications
            .inc_by(u64::from(budget.signatures_used()));
        ctx.note_budget(&budget);
        if let Security::Insecure { note: Some(ede) } = &verdict.security
            && ede.code == crate::ede::EdeCode::UnsupportedNsec3Iterations
        {
            // RFC 9276 §3.2: answered Insecure with EDE 27, no hash computed.
            ctx.note_limit("NSEC3_MAX_ITERATIONS");
        }
        verdict
    }
}

/// The cache entry an authoritative answer from `zone`'s servers becomes
/// once its security is decided: the records relevant to the question
/// (answer records only at `qname`, proofs only from `zone`) and the TTL.
/// Pure; the engine's last step before caching, exposed for the fuzz
/// target that feeds it arbitrary upstream responses.
#[allow(clippy::too_many_arguments)]
pub fn step_entry(
    resp: &Message,
    kind: StepKind,
    qname: &Name,
    qtype: RecordType,
    zone: &Name,
    security: Security,
    ttl_cap: Option<u32>,
    now: Timestamp,
) -> Entry {
    let owner = match &kind {
        StepKind::Positive | StepKind::Cname { .. } => Some(qname),
        StepKind::NxDomain | StepKind::NoData => None,
    };
    let answer_type = match &kind {
        StepKind::Cname { .. } => RecordType::CNAME,
        _ => qtype,
    };
    let answers: Vec<Record> = match owner {
        Some(owner) => resp
            .answers
            .iter()
            .filter(|r| r.name == *owner && covers(r, answer_type))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    // Authority records are kept for negative answers and for the
    // proofs of wildcard expansions (NSEC/NSEC3 and their RRSIGs).
    let authorities: Vec<Record> = resp
        .authorities
        .iter()
        .filter(|r| zone.zone_of(&r.name))
        .filter(|r| match r.record_type() {
            RecordType::SOA => owner.is_none(),
            RecordType::NSEC | RecordType::NSEC3 | RecordType::RRSIG => true,
            _ => false,
        })
        .cloned()
        .collect();
    let ttl = entry_ttl(&kind, &answers, &authorities, ttl_cap, &security);
    Entry {
        kind,
        rcode: resp.metadata.response_code,
        answers,
        authorities,
        security,
        zone: zone.clone(),
        stored_at: now,
        ttl,
    }
}

/// Whether `r` is part of the `rtype` RRset (the records or their RRSIGs).
fn covers(r: &Record, rtype: RecordType) -> bool {
    if r.record_type() == rtype {
        return true;
    }
    match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
            sig.input().type_covered == rtype
        }
        _ => false,
    }
}

/// A, AAAA records of `name` from a step's answers.
fn addresses_of(records: &[Record], name: &Name) -> Vec<IpAddr> {
    records
        .iter()
        .filter(|r| r.name == *name)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// Entry TTL: the smallest record TTL (negative: min of SOA TTL and
/// MINIMUM, RFC 2308 §5), capped by the RRSIG validity (RFC 4035 §5.3.3),
/// `MAX_TTL`/`MAX_NEGATIVE_TTL`, and `BOGUS_TTL_SECS` for failed validation.
fn entry_ttl(
    kind: &StepKind,
    answers: &[Record],
    authorities: &[Record],
    cap: Option<u32>,
    security: &Security,
) -> u32 {
    let ttl = match kind {
        StepKind::Positive | StepKind::Cname { .. } => answers
            .iter()
            .map(|r| r.ttl)
            .min()
            .unwrap_or(0)
            .min(limits::MAX_TTL),
        StepKind::NxDomain | StepKind::NoData => authorities
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })
            .unwrap_or(0)
            .min(limits::MAX_NEGATIVE_TTL),
    };
    let ttl = cap.map_or(ttl, |c| ttl.min(c));
    match security {
        Security::Bogus(_) | Security::Indeterminate(_) => ttl.min(limits::BOGUS_TTL_SECS),
        Security::Secure | Security::Insecure { .. } => ttl,
    }
}
