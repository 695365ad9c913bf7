//! The iterative engine for one step: start at the closest known
//! delegation, follow referrals (QNAME minimisation, relaxed, RFC 9156),
//! pick servers by smoothed RTT, retry within bounds, validate the answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::cache::{Entry, StepKind, View};
use crate::clock::Timestamp;
use crate::dnssec::Security;
use crate::dnssec::{canon, validate};
use crate::limits;
use crate::resolve::classify::{self, Classified};
use crate::resolve::outcome::UpstreamOutcome;
use crate::resolve::servers::Delegation;
use crate::resolve::trust::{self, KeyNeeds, Need, WalkStep, ZoneWalk};
use crate::resolve::zone_query::{
    Answered, Event, Input, ServerInfo, Transmit, ZoneQuery, ZoneQuestion,
};
use crate::resolve::{Ctx, ResolveError, Resolver};
use crate::resolve::{transport, upstream};

/// The type asked for a minimised name (RFC 9156 §3 recommends A: some
/// middleboxes mishandle NS questions; measured in issue 15, both send
/// the same number of queries on the lab).
const MINIMISED_QTYPE: RecordType = RecordType::A;

/// Whether a failed minimised question should be asked again with the
/// full name (relaxed mode): every upstream failure, but not a limit of
/// the client query's budget nor a failure remembered for the zone.
fn relaxes_minimisation(e: &ResolveError) -> bool {
    matches!(
        e,
        ResolveError::NoReachableAuthority { .. }
            | ResolveError::NetworkError { .. }
            | ResolveError::ZoneDown { .. }
            | ResolveError::ServersFailed { .. }
    )
}

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
        let _probe;
        if deleg.forward && self.forward_first(&deleg.zone) {
            // forward-first while the forwarders are down: iterate at once,
            // except for one question at a time that tries them again.
            let addrs = deleg.addresses();
            let down = addrs.iter().all(|a| self.stats.is_failing(*a));
            _probe = if down {
                addrs.first().and_then(|a| self.stats.probe(*a))
            } else {
                None
            };
            if ctx.forwarders_failed.load(Ordering::Relaxed) || (down && _probe.is_none()) {
                deleg = self.closest_delegation_via(qname, qtype, false);
            }
        }
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
                (canon::trim_to(qname, ask_labels), MINIMISED_QTYPE)
            };
            let asked = match self.ask_zone(&deleg, &ask_name, ask_type, ctx).await {
                // A forwarder that refers instead of recursing is broken.
                Ok((_, Classified::Referral(_), _)) if deleg.forward => {
                    Err(ResolveError::NetworkError {
                        zone: deleg.zone.clone(),
                        detail: "forwarder answered with a referral".into(),
                    })
                }
                other => other,
            };
            let (resp, classified, from) = match asked {
                Ok(answered) => answered,
                Err(e)
                    if deleg.forward
                        && self.forward_first(&deleg.zone)
                        && relaxes_minimisation(&e) =>
                {
                    // `forward-first`: every forwarder failed; resolve by
                    // iteration from the closest delegation outside the
                    // forward zones (Unbound's forward-first).
                    tracing::debug!(zone = %deleg.zone, error = %e, "forwarders failed; iterating (forward-first)");
                    ctx.forwarders_failed.store(true, Ordering::Relaxed);
                    deleg = self.closest_delegation_via(qname, qtype, false);
                    minimise = self.config().qname_minimisation;
                    ask_labels = usize::from(deleg.zone.num_labels()) + 1;
                    continue;
                }
                Err(e) if !full && relaxes_minimisation(&e) => {
                    // RFC 9156 §2.3, relaxed (as Unbound): whatever broke
                    // the minimised question (SERVFAIL, REFUSED, FORMERR,
                    // NOTIMP, lame or empty non-AA answers, silence from
                    // every server), the full name is asked of this zone.
                    tracing::debug!(%ask_name, zone = %deleg.zone, error = %e, "minimised query failed; asking the full name");
                    minimise = false;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match classified {
                Classified::Referral(mut next) => {
                    next.retain_addresses(self.address_policy());
                    let next = self.with_addresses(next, ctx).await?;
                    if validate {
                        self.remember_referral_ds(&resp, &deleg, &next.zone, ctx)
                            .await;
                    }
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
                    let step = self
                        .finish_step(&resp, kind, qname, qtype, &deleg, ctx, validate)
                        .await;
                    return self
                        .ask_others_if_bogus(step, from, &deleg, qname, qtype, ctx, validate)
                        .await;
                }
                Classified::Failed(_) if !full => minimise = false,
                Classified::Failed(_) => {
                    return Err(ResolveError::Internal("query_zone returned a failure"));
                }
            }
        }
        Err(ctx.limit(
            crate::limits::Limit::MaxReferralDepth,
            limits::MAX_REFERRAL_DEPTH as u64,
        ))
    }

    /// One bad server fails that server, not the zone: an answer that did
    /// not validate is asked again of the zone's other servers (an anycast
    /// instance or signer still serving older, valid signatures), at most
    /// `MAX_BOGUS_REFETCHES` more servers; the first verdict stands when
    /// none of them answers with data that validates.
    #[allow(clippy::too_many_arguments)]
    async fn ask_others_if_bogus(
        self: &Arc<Self>,
        step: Result<Entry, ResolveError>,
        from: SocketAddr,
        deleg: &Delegation,
        qname: &Name,
        qtype: RecordType,
        ctx: &Arc<Ctx>,
        validate: bool,
    ) -> Result<Entry, ResolveError> {
        let Ok(first) = &step else { return step };
        self.note_server_verdict(deleg, from, qname, qtype, first);
        if !first.security.is_bogus() {
            return step;
        }
        let mut bogus_from = vec![from.ip()];
        while bogus_from.len() <= limits::MAX_BOGUS_REFETCHES {
            let mut others = deleg.clone();
            others.retain_addresses(|a| !bogus_from.contains(&a));
            if others.addresses().is_empty() {
                break;
            }
            tracing::debug!(%qname, %qtype, zone = %deleg.zone, servers = ?bogus_from, "answer did not validate; asking another server");
            self.metrics.bogus_refetches.inc();
            match self.ask_zone(&others, qname, qtype, ctx).await {
                Ok((resp, Classified::Answer(kind), again_from)) => {
                    let again = self
                        .finish_step(&resp, kind, qname, qtype, &others, ctx, validate)
                        .await;
                    let Ok(e) = again else { break };
                    self.note_server_verdict(deleg, again_from, qname, qtype, &e);
                    if !e.security.is_bogus() {
                        return Ok(e);
                    }
                    bogus_from.push(again_from.ip());
                }
                _ => break,
            }
        }
        step
    }

    /// A signed referral carries the child's DS set (RFC 4035 §3.1.4):
    /// validated with the parent's keys and cached as the answer to
    /// (child, DS), it saves the DS question the chain of trust would ask
    /// next (Unbound and BIND take it from the referral too). Only a DS
    /// set that validates is kept; anything else is left to that question
    /// (and its refetch from the zone's other servers).
    async fn remember_referral_ds(
        self: &Arc<Self>,
        resp: &Message,
        deleg: &Delegation,
        child: &Name,
        ctx: &Arc<Ctx>,
    ) {
        if deleg.forward
            || !self.config().dnssec
            || self.fresh(child, RecordType::DS, View::Validated).is_some()
        {
            return;
        }
        let ds: Vec<Record> = resp
            .authorities
            .iter()
            .filter(|r| r.name == *child && covers(r, RecordType::DS))
            .cloned()
            .collect();
        if !ds.iter().any(|r| r.record_type() == RecordType::DS) {
            return;
        }
        let mut answer = resp.clone();
        answer.answers = ds;
        answer.authorities.clear();
        answer.additionals.clear();
        let step = self
            .finish_step(
                &answer,
                StepKind::Positive,
                child,
                RecordType::DS,
                deleg,
                ctx,
                true,
            )
            .await;
        if let Ok(entry) = step
            && matches!(entry.security, crate::dnssec::Security::Secure)
        {
            tracing::debug!(zone = %child, "DS set from the referral validated");
            let key = crate::cache::CacheKey::new(
                child,
                RecordType::DS,
                hickory_proto::rr::DNSClass::IN,
                View::Validated,
            );
            self.cache.insert(key, entry);
        }
    }

    /// What `from`'s answer for `deleg`'s zone says about that server: data
    /// that validated clears its Bogus mark, data that did not sets one.
    fn note_server_verdict(
        &self,
        deleg: &Delegation,
        from: SocketAddr,
        qname: &Name,
        qtype: RecordType,
        entry: &Entry,
    ) {
        if entry.security.is_bogus() {
            self.server_sent_bogus(deleg, from, qname, qtype, entry);
        } else if entry.security.is_validated() {
            self.stats.clear_bogus(&deleg.zone, from.ip());
        }
    }

    /// `from` answered `deleg`'s zone with data that did not validate:
    /// asked after the zone's other servers for a while, and counted as
    /// evidence that the zone's data is breaking (the zone becomes a
    /// suspect, see `health`), whatever the other servers say.
    fn server_sent_bogus(
        &self,
        deleg: &Delegation,
        from: SocketAddr,
        qname: &Name,
        qtype: RecordType,
        entry: &Entry,
    ) {
        let now = self.clock.now();
        self.stats.mark_bogus(&deleg.zone, from.ip(), now);
        if let crate::dnssec::Security::Bogus(reason) = &entry.security
            && !crate::resolve::is_meta_type(qtype)
        {
            let cause = crate::resolve::health::CauseKey {
                kind: reason.kind,
                key_tag: reason.key_tag,
            };
            if self
                .health
                .server_bogus(&entry.zone, cause, (qname, qtype), now)
            {
                tracing::info!(zone = %entry.zone, server = %from, reason = %reason, "zone data failing validation at some servers: last good chains of its children are used");
            }
        }
    }

    /// The deepest proper ancestor of `qname` below `zone` that a
    /// minimised query found inside `zone` (no zone cut there), if any.
    /// Skipping the minimised queries above it is always safe: were a cut
    /// added since, the zone's servers answer the deeper name with a
    /// referral, which is followed as usual (RFC 9156 §3 only asks not to
    /// show more labels than needed).
    fn known_inside(&self, qname: &Name, zone: &Name) -> Option<Name> {
        let now = self.clock.now();
        let mut name = canon::parent(qname);
        while name.num_labels() > zone.num_labels() {
            if let Some((z, until)) = self.inside_zone.get(&name)
                && &z == zone
                && now < until
            {
                return Some(name);
            }
            name = canon::parent(&name);
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

    /// Which learned name server addresses may be asked
    /// ([`crate::resolve::servers::usable_server`]): loopback only when
    /// the root hints are loopback, IPv6 only with `do-ip6`.
    fn address_policy(&self) -> impl Fn(IpAddr) -> bool + use<> {
        let config = self.config();
        let loopback = config
            .root_hints
            .addresses()
            .iter()
            .any(IpAddr::is_loopback);
        let ipv6 = config.do_ip6;
        move |ip| crate::resolve::servers::usable_server(ip, loopback, ipv6)
    }

    /// Ask the zone's servers; when every IPv4 server failed and the
    /// zone also has IPv6 servers (glue, or an AAAA lookup now for names
    /// known only by IPv4), ask those (`do-ip6`).
    async fn ask_zone(
        self: &Arc<Self>,
        deleg: &Delegation,
        name: &Name,
        qtype: RecordType,
        ctx: &Arc<Ctx>,
    ) -> Result<Answered, ResolveError> {
        let first = self.query_zone(deleg, name, qtype, ctx).await;
        // Only unreachable IPv4 servers (timeouts, network errors) send
        // us to IPv6: a server that answered badly is no routing problem.
        let e = match &first {
            Err(e) if e.is_unreachable() => e,
            _ => return first,
        };
        if !self.config().do_ip6 || !deleg.has_family(false) {
            return first;
        }
        let mut v6 = deleg.clone();
        v6.retain_addresses(|a| a.is_ipv6());
        if !v6.has_family(true) && !deleg.forward {
            let keep = self.address_policy();
            let mut looked_up = 0;
            for ns in v6.servers.iter_mut() {
                if deleg.zone.zone_of(&ns.name) || looked_up == limits::MAX_GLUELESS_NS_PER_REFERRAL
                {
                    continue;
                }
                looked_up += 1;
                if let Ok(entry) = self.lookup(&ns.name, RecordType::AAAA, ctx).await
                    && (!entry.security.is_bogus() || self.nta_for(&ns.name).is_some())
                {
                    ns.addrs = addresses_of(&entry.answers, &ns.name);
                    ns.addrs.retain(|a| a.is_ipv6() && keep(*a));
                }
                if !ns.addrs.is_empty() {
                    break;
                }
            }
        }
        if !v6.has_family(true) {
            return first;
        }
        tracing::debug!(zone = %deleg.zone, error = %e, "IPv4 servers failed; asking over IPv6");
        self.query_zone(&v6, name, qtype, ctx).await
    }

    /// Whether `zone` is a forward zone with `forward-first`.
    fn forward_first(&self, zone: &Name) -> bool {
        self.config()
            .private_zones
            .get(zone)
            .is_some_and(|z| z.forward_first)
    }

    /// The deepest cached delegation at or above `qname` (for DS: strictly
    /// above, because DS lives in the parent), else the root hints. A
    /// configured forward zone covering the name wins over everything
    /// (longest suffix among private zones decides: a deeper stub zone
    /// wins over it); a stub zone wins over any cached delegation at its
    /// own name or above.
    pub(crate) fn closest_delegation(&self, qname: &Name, qtype: RecordType) -> Delegation {
        self.closest_delegation_via(qname, qtype, true)
    }

    /// As [`Self::closest_delegation`]; without `forwarders`, forward
    /// zones are passed over (`forward-first` fallback to iteration).
    fn closest_delegation_via(
        &self,
        qname: &Name,
        qtype: RecordType,
        forwarders: bool,
    ) -> Delegation {
        self.closest_delegation_checked(qname, qtype, forwarders).0
    }

    /// As [`Self::closest_delegation_via`], and the zone in a validation
    /// window that was passed over, if any: below a zone whose data does
    /// not validate (a TLD's break), the deepest expired delegation
    /// (within `max-stale-ttl`) of a zone whose last chain of trust
    /// validated is used instead (fail stale for the chain, issue 21): the
    /// child's own servers answer, and their answer must validate against
    /// the child's last good keys. A delegation whose chain never
    /// validated is never used past its TTL.
    pub(crate) fn closest_delegation_checked(
        &self,
        qname: &Name,
        qtype: RecordType,
        forwarders: bool,
    ) -> (Delegation, Option<Name>) {
        use crate::resolve::private::ZoneMode;
        let now = self.clock.now();
        let config = self.config();
        let mut name = if qtype == RecordType::DS && !qname.is_root() {
            canon::parent(qname)
        } else {
            qname.to_lowercase()
        };
        if forwarders
            && let Some(private) = config.private_zones.covering(&name)
            && private.mode == ZoneMode::Forward
        {
            // Delegations cached below a forward zone (learned while
            // iterating under forward-first) never bypass its forwarders.
            return (private.delegation(), None);
        }
        let max_stale = self.cache.max_stale();
        let mut last_good: Option<Delegation> = None;
        loop {
            if let Some(private) = config.private_zones.get(&name)
                && private.mode == ZoneMode::Stub
            {
                return (private.delegation(), None);
            }
            if let Some(below) = &last_good
                && self.health.validation_failing(&name, now)
            {
                return (below.clone(), Some(name));
            }
            if let Some(d) = self.delegations.get(&name) {
                match crate::cache::freshness(d.stored_at, d.ttl, now, max_stale) {
                    crate::cache::Freshness::Fresh { .. } => return (Delegation::clone(&d), None),
                    crate::cache::Freshness::Stale { .. }
                        if last_good.is_none() && self.chain_validated(&name) =>
                    {
                        last_good = Some(Delegation::clone(&d));
                    }
                    _ => {}
                }
            }
            if name.is_root() {
                return (config.root_hints.clone(), None);
            }
            name = canon::parent(&name);
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
        let keep = self.address_policy();
        let ipv6 = self.config().do_ip6;
        let families: &[RecordType] = if ipv6 {
            &[RecordType::A, RecordType::AAAA]
        } else {
            &[RecordType::A]
        };
        for ns in deleg.servers.iter_mut() {
            if zone.zone_of(&ns.name) {
                // A name at or below the cut, without glue: only the
                // child's own servers could say where it is, and we have
                // none (RFC 9471: such glue is required). Asking would
                // meet the same referral again (glueless-loop); a cached
                // address still serves.
                for &family in families {
                    if let Some((entry, _)) = self.fresh(&ns.name, family, View::Validated) {
                        ns.addrs.extend(addresses_of(&entry.answers, &ns.name));
                    }
                }
            } else {
                if looked_up == limits::MAX_GLUELESS_NS_PER_REFERRAL {
                    cut_short = true;
                    break;
                }
                looked_up += 1;
                // IPv4 first; AAAA only for a name without a usable IPv4
                // address (issue 15: zones served only over IPv6).
                for &family in families {
                    // Only a name that exists is asked for AAAA.
                    let mut exists = false;
                    match self.lookup(&ns.name, family, ctx).await {
                        // Bogus addresses are not used, unless an NTA covers them.
                        Ok(entry)
                            if !entry.security.is_bogus() || self.nta_for(&ns.name).is_some() =>
                        {
                            ns.addrs = addresses_of(&entry.answers, &ns.name);
                            exists = matches!(entry.kind, StepKind::Positive | StepKind::NoData);
                        }
                        Ok(_) => {}
                        Err(e) => last_err = Some(e),
                    }
                    ns.addrs.retain(|a| keep(*a));
                    if !ns.addrs.is_empty() || !exists {
                        break;
                    }
                }
            }
            ns.addrs.retain(|a| keep(*a));
            if !ns.addrs.is_empty() {
                break;
            }
        }
        if deleg.addresses().is_empty() {
            if cut_short {
                // The names left untried may have worked; say which bound
                // stopped us rather than blame the ones tried.
                return Err(ctx.limit(
                    crate::limits::Limit::MaxGluelessNsPerReferral,
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
    /// answer or referral. What to ask whom, the tries, their waits and
    /// what an answer is are decided by the [`ZoneQuery`] state machine
    /// (`zone_query.rs`: at most `MAX_UPSTREAM_TRIES` sends of one
    /// question, a late answer from any server already asked still counts,
    /// a server that answers badly sends the question to the next one,
    /// [`ResolveError::ZoneDown`] only when every server failed). This is
    /// its driver: it owns the [`transport::Question`] and the clock, sends
    /// what the machine asks, waits until the machine's timeout or an
    /// arrival and feeds it back, and applies what the machine asks of the
    /// metrics, the server stats and the client query's budget. A zone in
    /// an outage window is not asked at all (except by its probe).
    async fn query_zone(
        &self,
        deleg: &Delegation,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<Answered, ResolveError> {
        self.refuse_in_outage(deleg, ctx)?;
        let (addrs, ipv6) = self.servers_to_ask(deleg);
        let spec = transport::QuestionSpec {
            name: name.clone(),
            qtype,
            ipv6,
            recursion_desired: deleg.forward,
        };
        let mut question = self.open_question(&spec, &deleg.zone, ctx).await?;
        let asked = ZoneQuestion {
            name: name.clone(),
            qtype,
            zone: deleg.zone.clone(),
        };
        let mut machine = ZoneQuery::new(asked, addrs, self.clock.monotonic().into_std());
        let mut infra = Infra {
            stats: &self.stats,
            probes: Vec::new(),
        };
        let spoof = || self.count_upstream(UpstreamOutcome::MismatchIgnored);
        loop {
            while let Some(event) = machine.poll_event() {
                match event {
                    Event::Counted(outcome) => self.count_upstream(outcome),
                    Event::ServerFailed(ip) => self.stats.record_failure(ip),
                    Event::Rtt(ip, rtt) => self.stats.record_rtt(ip, rtt),
                    Event::Limit(limit) => ctx.note_limit(limit),
                    Event::Done(answered) => return Ok(*answered),
                    Event::Failed { zone_down, tries } => {
                        let zone = deleg.zone.clone();
                        return Err(if zone_down {
                            ResolveError::ZoneDown { zone, tries }
                        } else {
                            ResolveError::ServersFailed { zone, tries }
                        });
                    }
                }
            }
            let now = self.clock.monotonic().into_std();
            if let Some(transmit) = machine.poll_transmit(now, &mut infra) {
                match transmit {
                    Transmit::Udp { server } => {
                        ctx.spend_upstream()?;
                        tracing::debug!(%server, %name, %qtype, "upstream query");
                        let sent = question.send(server).await.map_err(|e| e.outcome());
                        machine.handle_sent(self.clock.monotonic().into_std(), sent);
                    }
                    Transmit::Tcp { server, until } => {
                        let until = tokio::time::Instant::from_std(until);
                        let arrival = question.refetch(server, until).await;
                        self.feed(&mut machine, arrival);
                    }
                }
            } else if let Some(until) = machine.poll_timeout() {
                let until = tokio::time::Instant::from_std(until);
                let arrival = question.recv_until(until, &spoof).await;
                self.feed(&mut machine, arrival);
            } else if !machine.is_finished() {
                return Err(ResolveError::Internal("zone query neither sends nor waits"));
            }
        }
    }

    /// Hand what the transport delivered to the machine, with the time.
    fn feed(&self, machine: &mut ZoneQuery, arrival: upstream::Arrival) {
        let now = self.clock.monotonic().into_std();
        let input = match arrival {
            upstream::Arrival::Answer { from, message } => Input::Answer { from, message },
            upstream::Arrival::Truncated { from, oversized } => {
                Input::Truncated { from, oversized }
            }
            upstream::Arrival::Failed { from, error } => {
                tracing::debug!(%from, %error, "upstream answer unusable");
                Input::Failed {
                    from,
                    outcome: error.outcome(),
                }
            }
            upstream::Arrival::Timeout => return machine.handle_timeout(now),
        };
        machine.handle(input, now, self.clock.now());
    }

    /// A zone in an outage window is answered from the window, unasked
    /// (its probe asks it).
    fn refuse_in_outage(&self, deleg: &Delegation, ctx: &Ctx) -> Result<(), ResolveError> {
        if ctx.probe {
            return Ok(());
        }
        match self.health.outage(&deleg.zone.to_lowercase()) {
            Some(window) => Err(ResolveError::KnownFailure {
                ede: window.ede(self.clock.now()),
                zone: deleg.zone.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The zone's server addresses, best first, and whether they are IPv6:
    /// one socket per question, so IPv4 only when the zone has both.
    fn servers_to_ask(&self, deleg: &Delegation) -> (Vec<SocketAddr>, bool) {
        let all = self
            .stats
            .order_sockets(deleg.socket_addrs(self.config().upstream_port));
        let all = self
            .stats
            .validated_first(&deleg.zone, all, self.clock.now());
        let v4: Vec<SocketAddr> = all.iter().copied().filter(SocketAddr::is_ipv4).collect();
        if v4.is_empty() {
            (all, true)
        } else {
            (v4, false)
        }
    }

    /// Open the question on the transport; a full pool is the client
    /// query's limit.
    async fn open_question(
        &self,
        spec: &transport::QuestionSpec,
        zone: &Name,
        ctx: &Ctx,
    ) -> Result<Box<dyn transport::Question>, ResolveError> {
        match self.upstream.open(spec).await {
            Ok(question) => Ok(question),
            Err(upstream::UpstreamError::Exhausted { limit, value }) => {
                Err(ctx.limit(limit, value))
            }
            Err(e) => Err(ResolveError::NetworkError {
                zone: zone.clone(),
                detail: e.to_string(),
            }),
        }
    }

    fn count_upstream(&self, outcome: UpstreamOutcome) {
        self.metrics
            .upstream
            .with_label_values(&[outcome.as_str()])
            .inc();
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
        deleg: &Delegation,
        ctx: &Arc<Ctx>,
        validate: bool,
    ) -> Result<Entry, ResolveError> {
        let mut zone = deleg.zone.clone();
        let now = self.clock.now();
        let redirected = with_dname_cname(resp, &kind, qname);
        let resp = redirected.as_ref().unwrap_or(resp);
        let (security, ttl_cap) = if !validate {
            (
                Security::Indeterminate(crate::ede::Ede::new(
                    crate::ede::EdeCode::DnssecIndeterminate,
                    "not validated",
                )),
                None,
            )
        } else if !self.config().dnssec || !self.private_zone_secure(&zone) {
            (Security::INSECURE, None)
        } else if qtype == RecordType::RRSIG {
            // RRSIGs are answered as the authority sends them: no signature
            // covers them, so they can neither validate nor be Bogus (issue
            // 13: asking for one made the zone fail). Never AD.
            (Security::INSECURE, None)
        } else {
            zone = self
                .answer_zone(resp, &kind, qname, qtype, deleg, ctx)
                .await?;
            let verdict = self.validate_response(resp, qname, qtype, &zone, ctx).await;
            // `cache-min-ttl` may keep signed data past the RRSIG's
            // original TTL (as Unbound does), never past its expiration.
            let min = self.config().ttl.min;
            let cap = match (verdict.ttl_cap, verdict.expires_in) {
                (Some(cap), Some(expiry)) => Some(cap.max(min.min(expiry))),
                (cap, _) => cap,
            };
            (verdict.security, cap)
        };
        Ok(step_entry(
            resp,
            kind,
            qname,
            qtype,
            &zone,
            security,
            ttl_cap,
            &self.config().ttl,
            now,
        ))
    }

    /// The zone an answer from `deleg`'s servers belongs to: the driver
    /// of [`ZoneWalk`] (`trust.rs`), which asks for the zone's keys and
    /// DS steps down to the answer; each is fetched through the key cache
    /// or a lookup.
    async fn answer_zone(
        self: &Arc<Self>,
        resp: &Message,
        kind: &StepKind,
        qname: &Name,
        qtype: RecordType,
        deleg: &Delegation,
        ctx: &Arc<Ctx>,
    ) -> Result<Name, ResolveError> {
        let mut walk = ZoneWalk::start(resp, kind, qname, qtype, &deleg.zone, deleg.forward);
        loop {
            match walk.step().clone() {
                WalkStep::Done(zone) => return Ok(zone),
                WalkStep::Need(Need::Keys(zone)) => {
                    let keys = self.keys_for(&zone, ctx).await;
                    walk.handle_keys(&keys);
                }
                WalkStep::Need(Need::Ds(name)) => {
                    let ds = self.lookup(&name, RecordType::DS, ctx).await?;
                    walk.handle_ds(&ds);
                }
            }
        }
    }

    async fn validate_response(
        self: &Arc<Self>,
        resp: &Message,
        qname: &Name,
        qtype: RecordType,
        zone: &Name,
        ctx: &Arc<Ctx>,
    ) -> validate::Verdict {
        // The keys this answer needs (`trust.rs`), fetched in order.
        let zone_keys = self.keys_for(zone, ctx).await;
        let needs = KeyNeeds::of(resp, zone);
        if needs.over_limit {
            ctx.note_limit(crate::limits::Limit::MaxSignersPerResponse);
        }
        let mut signer_keys = Vec::with_capacity(needs.signers.len());
        for signer in needs.signers {
            let entry = self.keys_for(&signer, ctx).await;
            signer_keys.push((signer, entry));
        }
        let keys = trust::key_map(zone, zone_keys, signer_keys);
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
            ctx.note_limit(crate::limits::Limit::Nsec3MaxIterations);
        }
        verdict
    }
}

/// The infrastructure cache as a [`ZoneQuery`] reads it, and the probe
/// slots of failing servers its question took (released when the
/// question ends).
struct Infra<'a> {
    stats: &'a crate::resolve::servers::ServerStats,
    probes: Vec<crate::resolve::servers::Probe<'a>>,
}

impl ServerInfo for Infra<'_> {
    fn is_failing(&self, server: IpAddr) -> bool {
        self.stats.is_failing(server)
    }

    fn timeout(&self, server: IpAddr) -> Duration {
        self.stats.timeout(server)
    }

    fn try_probe(&mut self, server: IpAddr) -> bool {
        match self.stats.probe(server) {
            Some(probe) => {
                self.probes.push(probe);
                true
            }
            None => false,
        }
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
    limits: &TtlLimits,
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
    let mut answers: Vec<Record> = match owner {
        Some(owner) => {
            // A DNAME that redirected qname comes first (RFC 6672 §3.1).
            let dname = match &kind {
                StepKind::Cname { target } => classify::dname_redirect(&resp.answers, owner)
                    .filter(|(_, t)| t == target)
                    .map(|(d, _)| d.name.clone()),
                _ => None,
            };
            let dname = resp
                .answers
                .iter()
                .filter(|r| dname.as_ref() == Some(&r.name) && covers(r, RecordType::DNAME));
            let own = resp
                .answers
                .iter()
                .filter(|r| r.name == *owner && covers(r, answer_type));
            dname.chain(own).cloned().collect()
        }
        None => Vec::new(),
    };
    // Authority records are kept for negative answers (SOA, NSEC/NSEC3
    // and their RRSIGs) and, for an answer expanded from a wildcard, the
    // NSEC/NSEC3 proving no closer match (RFC 4035 §3.1.3.3): exactly the
    // records the validator checked, so DO clients can check them too.
    let wildcard = owner.is_some_and(|o| expanded_from_wildcard(&answers, o));
    let proof_type = |t: RecordType| match t {
        RecordType::SOA => owner.is_none(),
        RecordType::NSEC | RecordType::NSEC3 => owner.is_none() || wildcard,
        _ => false,
    };
    let authorities: Vec<Record> = resp
        .authorities
        .iter()
        .filter(|r| zone.zone_of(&r.name))
        .filter(|r| match &r.data {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
                proof_type(sig.input().type_covered)
            }
            _ => proof_type(r.record_type()),
        })
        .cloned()
        .collect();
    let ttl = entry_ttl(&kind, &answers, &authorities, ttl_cap, &security, limits);
    if ttl > 0 && matches!(kind, StepKind::Positive | StepKind::Cname { .. }) {
        // Records shorter than a raised TTL (`cache-min-ttl`) show the
        // entry's TTL, as Unbound does; shown TTLs still count down.
        for r in &mut answers {
            r.ttl = r.ttl.max(ttl);
        }
    }
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

/// Whether an RRSIG among `answers` at `owner` has fewer labels than the
/// owner: the RRset was synthesised from a wildcard (RFC 4035 §5.3.4).
fn expanded_from_wildcard(answers: &[Record], owner: &Name) -> bool {
    answers.iter().any(|r| match &r.data {
        RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
            r.name == *owner && sig.input().num_labels < owner.num_labels()
        }
        _ => false,
    })
}

/// For a CNAME step redirected by a DNAME: the response with the CNAME
/// the DNAME implies (TTL of the DNAME, RFC 6672 §3.1), in place of the
/// server's own synthesis or where the server sent none; `None` when no
/// DNAME applies or the server's CNAME points elsewhere (the validator
/// then judges the mismatch).
fn with_dname_cname(resp: &Message, kind: &StepKind, qname: &Name) -> Option<Message> {
    let StepKind::Cname { target } = kind else {
        return None;
    };
    let (dname, implied) = classify::dname_redirect(&resp.answers, qname)?;
    if implied != *target {
        return None;
    }
    let cname = classify::synthesised_cname(dname, qname, &implied);
    let mut out = resp.clone();
    out.answers
        .retain(|r| !(r.name == *qname && r.record_type() == RecordType::CNAME));
    out.answers.push(cname);
    Some(out)
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

/// The operator's TTL bounds for what is cached (`cache-min-ttl`,
/// `cache-max-ttl`, `cache-max-negative-ttl`; Unbound's names). Applied
/// when an answer is cached, never to a stale answer's TTL
/// (`stale-answer-ttl`), and never past the RRSIG validity cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlLimits {
    /// Positive answers (RRsets, CNAMEs) are kept at least this long.
    pub min: u32,
    /// Positive answers are kept at most this long (at most `MAX_TTL`).
    pub max: u32,
    /// NXDOMAIN and NODATA are kept at most this long (RFC 2308 §5).
    pub max_negative: u32,
}

impl Default for TtlLimits {
    fn default() -> Self {
        Self {
            min: 0,
            max: limits::MAX_TTL,
            max_negative: limits::MAX_NEGATIVE_TTL,
        }
    }
}

/// Entry TTL: the smallest record TTL (negative: min of SOA TTL and
/// MINIMUM, RFC 2308 §5) raised to `cache-min-ttl` (positive only) and
/// lowered to `cache-max-ttl`/`cache-max-negative-ttl` (never past
/// `MAX_TTL`), then capped by the RRSIG validity (RFC 4035 §5.3.3) and
/// `BOGUS_TTL_SECS` for failed validation.
fn entry_ttl(
    kind: &StepKind,
    answers: &[Record],
    authorities: &[Record],
    cap: Option<u32>,
    security: &Security,
    bounds: &TtlLimits,
) -> u32 {
    let ttl = match kind {
        StepKind::Positive | StepKind::Cname { .. } => answers
            .iter()
            .map(|r| r.ttl)
            .min()
            .unwrap_or(0)
            .max(bounds.min)
            .min(bounds.max)
            .min(limits::MAX_TTL),
        StepKind::NxDomain | StepKind::NoData => authorities
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })
            .unwrap_or(0)
            .min(bounds.max_negative)
            .min(limits::MAX_TTL),
    };
    let ttl = cap.map_or(ttl, |c| ttl.min(c));
    if security.is_validated() {
        ttl
    } else {
        ttl.min(limits::BOGUS_TTL_SECS)
    }
}
