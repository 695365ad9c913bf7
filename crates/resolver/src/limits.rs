//! Every numeric bound in lastgood, with its reason. Hitting one produces an
//! error variant naming the constant, a metric and a debug log, never a
//! panic. Bounds an operator may tune are config keys whose defaults and
//! ranges live here too.

use std::time::Duration;

/// EDNS0 UDP payload we advertise and accept (DNS Flag Day 2020; RFC 9715
/// recommends 1232 to avoid IP fragmentation).
pub const EDNS_UDP_PAYLOAD: u16 = 1232;

/// Largest DNS message (RFC 1035 §4.2.2 TCP length prefix is 16 bits).
pub const MAX_MESSAGE_SIZE: usize = 65_535;

/// UDP payload for clients that send no OPT record (RFC 1035 §2.3.4).
pub const CLASSIC_UDP_PAYLOAD: u16 = 512;

/// CNAME hops followed for one client query (Unbound `max-query-restarts`
/// defaults to 11; BIND stops at 17 — we use 11).
pub const MAX_CNAME_CHAIN: usize = 11;

/// Referrals followed from the root for one resolution (BIND
/// `max-recursion-depth` 7 counts only glueless; Unbound's
/// `max-referral-depth`... 30 delegation levels is far past real trees).
pub const MAX_REFERRAL_DEPTH: usize = 30;

/// Upstream queries one client query may cause, in total, including NS
/// address lookups, DS/DNSKEY fetches and retries (BIND
/// `max-recursion-queries` defaults to 100; Unbound bounds the same with
/// `target-fetch-policy` and `max-sent-count` 32 per fetch).
pub const MAX_UPSTREAM_QUERIES_PER_CLIENT_QUERY: u32 = 100;

/// Name server names without glue resolved per referral (NXNS attack,
/// CVE-2020-12662; Unbound limits to 5 here too).
pub const MAX_GLUELESS_NS_PER_REFERRAL: usize = 5;

/// Nesting of glueless NS lookups (a lookup needed to find a server's
/// address, which needs another...). BIND `max-recursion-depth` is 7.
pub const MAX_GLUELESS_DEPTH: usize = 7;

/// Retries of one upstream question across servers of the zone before the
/// attempt fails (bounded retries; Unbound `outbound-msg-retry` = 5).
pub const MAX_UPSTREAM_TRIES: usize = 5;

/// Other servers of a zone asked again when an answer does not validate,
/// before the verdict stands (one bad server fails that server, not the
/// zone: during the .de 2026 break some instances still served older,
/// valid signatures). Unbound re-fetches from other servers too
/// (`val-bogus` handling); two keeps a wholly broken zone cheap.
pub const MAX_BOGUS_REFETCHES: usize = 2;

/// How long a server whose answer for a zone did not validate is asked
/// after the zone's other servers (server selection by validation outcome).
pub const BOGUS_SERVER_HOLD: Duration = Duration::from_secs(BOGUS_TTL_SECS as u64);

/// (zone, server) pairs remembered for `BOGUS_SERVER_HOLD` at once.
pub const MAX_BOGUS_SERVER_MARKS: usize = 10_000;

/// How long a zone's last good chain of trust (keys that validated, past
/// their TTL) is used again before the parent is asked for the DS once
/// more, while the parent cannot prove it (as `BOGUS_TTL_SECS`: one DS
/// question per zone per minute at most during a parent's break).
pub const LAST_GOOD_KEYS_RECHECK: Duration = Duration::from_secs(BOGUS_TTL_SECS as u64);

/// Wait before retransmitting a question to the next server. Starts from
/// the server's smoothed RTT estimate (x3), doubles with each try of the
/// same question and is clamped to this range (Unbound's RTO starts at
/// 376 ms and caps at 120 s; we cap lower because a client waits for us,
/// and the stale tier answers it after `client-response-timer` anyway).
/// Answers from servers asked earlier are still accepted until the last
/// try's wait ends, so a slow but live authority can still answer.
pub const UPSTREAM_TIMEOUT_MIN: Duration = Duration::from_millis(100);
pub const UPSTREAM_TIMEOUT_MAX: Duration = Duration::from_millis(3000);
/// Longest time spent on one question to one zone's servers, all tries
/// together. A client waits for us: past this the step fails (and the
/// stale tier or a SERVFAIL answers), while a 3 s-slow server still makes
/// it. dig's default per-try timeout is 5 s.
pub const UPSTREAM_QUESTION_DEADLINE: Duration = Duration::from_millis(4000);
/// RTT assumed for a server never measured (Unbound UNKNOWN_SERVER_NICENESS 376 ms).
pub const UPSTREAM_RTT_UNKNOWN: Duration = Duration::from_millis(376);

/// RRSIG verifications attempted for one response (KeyTrap,
/// CVE-2023-50387; BIND limits to 8 per RRset, Unbound 8 key-tag collisions).
pub const MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE: u32 = 16;

/// DNSKEYs tried for one RRSIG whose key tag matches several keys (KeyTrap).
pub const MAX_KEYS_PER_KEY_TAG: usize = 4;

/// NSEC3 iterations above which a zone is treated as insecure, with EDE 27
/// (RFC 9276 §3.2; BIND and Unbound use 150 since 2024, CVE-2023-50868).
pub const NSEC3_MAX_ITERATIONS: u16 = 150;

/// Successful signature verifications remembered (`dnssec::memo`), so an
/// identical RRset and RRSIG seen again (a wildcard's NSEC proof, a
/// DNSKEY set refetched) is not verified again. Our own bound: a digest
/// and its moka node take ~200 bytes, so ~2 MiB; the ones asked often
/// stay (moka's TinyLFU admission).
pub const MAX_VERIFIED_SIGNATURES_CACHED: u64 = 8192;

/// NSEC3 hash computations for one response (CVE-2023-50868).
pub const MAX_NSEC3_HASHES_PER_RESPONSE: u32 = 64;

/// Zone cuts whose keys are fetched for one response (bounds DS/DNSKEY
/// chains: a signer per RRset of the answer and authority sections).
pub const MAX_SIGNERS_PER_RESPONSE: usize = 8;

/// Longest TTL we keep data for (Unbound `cache-max-ttl` is 1 day, BIND
/// `max-cache-ttl` 7 days; the design says 7 days).
pub const MAX_TTL: u32 = 7 * 24 * 3600;

/// Longest TTL for negative answers (RFC 2308 §5 suggests 1-3 hours; BIND
/// `max-ncache-ttl` default 3 h).
pub const MAX_NEGATIVE_TTL: u32 = 3 * 3600;

/// How long a Bogus verdict is remembered (Unbound `val-bogus-ttl` 60 s).
pub const BOGUS_TTL_SECS: u32 = 60;

/// Default cache size in bytes (config `cache-size`).
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// A cache of at most this many entries is swept of stale entries on the
/// inserting thread; a larger one on a thread of its own (`cache`). Our
/// own bound: the walk costs ~1 µs per entry (14,300 entries took 13-15
/// ms, issue 20), so inline it stays under ~0.5 ms, and its result is
/// there before the next insert (a small cache fills in a few inserts).
pub const CACHE_SWEEP_INLINE_ENTRIES: u64 = 512;

/// Client queries being resolved at once; past it new misses get SERVFAIL
/// with EDE 14 (Unbound `num-queries-per-thread` 1024 per thread).
pub const MAX_IN_FLIGHT_CLIENT_QUERIES: usize = 2048;

/// Bytes of encoded answers the server keeps for reuse on cache hits
/// (`server::templates`), on top of `cache-size`. Our own bound: a
/// template weighs ~400-900 bytes with its bookkeeping, so 4 MiB holds
/// the hot set of a busy resolver (thousands of questions); an answer
/// not templated is still answered from the cache, only slower.
pub const ANSWER_TEMPLATE_BYTES: u64 = 4 * 1024 * 1024;

/// Datagrams read (`recvmmsg`) and replies sent (`sendmmsg`) per system
/// call in a UDP receive loop (`server::batch`). Our own bound: 32 keeps
/// a batch's replies flowing within microseconds while cutting the
/// syscalls per query up to 32-fold under load.
pub const UDP_BATCH: usize = 32;

/// Datagrams a quiet socket's `recvmmsg` asks for; each call asks for
/// twice what the last one got, up to `UDP_BATCH`. Our own bound: at
/// moderate load a call finds one datagram, and every slot asked for
/// costs header set-up whether it is filled or not.
pub const UDP_BATCH_MIN: usize = 4;

/// Longest UDP query read whole; longer ones are cut to this and answered
/// FORMERR (a query is a header, one question and an OPT: well under 1 KiB;
/// RFC 6891 padding rarely pads queries past 468 bytes, RFC 8467).
pub const MAX_UDP_QUERY_SIZE: usize = 4096;

/// Longest TCP query read; a longer length prefix closes the connection
/// (counted). Same reasoning as `MAX_UDP_QUERY_SIZE`; it also bounds what
/// the `MAX_TCP_QUERIES_PER_CONNECTION` queries of a connection hold.
pub const MAX_TCP_QUERY_SIZE: usize = 4096;

/// UDP sockets bound to one listen address with SO_REUSEPORT, one per
/// worker thread up to this many: the kernel spreads clients over them
/// so every core answers cache hits (Unbound `so-reuseport`, one socket
/// per thread). Our own bound: more sockets than cores only add wakeups.
pub const MAX_UDP_SOCKETS_PER_LISTEN_ADDRESS: usize = 16;

/// Longest a UDP receive thread (`server::udp`) sleeps in `recvmmsg` with
/// nothing to read before it looks at its stop flag again. A shutdown
/// wakes it at once (the socket is shut down for reading, which Linux
/// also honours before a receive starts); this only bounds the wait
/// should that wake-up be lost. Our own bound: an idle socket costs one
/// wakeup per period (about 1,200 instructions, callgrind).
pub const UDP_RECEIVE_WAKE: Duration = Duration::from_secs(2);

/// Longest a UDP receive thread waits for room in the socket's send
/// buffer before it drops the replies of its batch (a client that cannot
/// take them retries; the thread goes back to reading). Our own bound:
/// a UDP send on a healthy host never waits this long.
pub const UDP_SEND_TIMEOUT: Duration = Duration::from_millis(100);

/// Tries of a resolved UDP reply (sent from its task, never blocking the
/// runtime) while the socket's send buffer is full, `UDP_SEND_RETRY`
/// apart; then it is dropped like a lost datagram.
pub const UDP_SEND_ATTEMPTS: u32 = 5;

/// Pause between two `UDP_SEND_ATTEMPTS`.
pub const UDP_SEND_RETRY: Duration = Duration::from_millis(2);

/// Pause of a UDP receive thread after an unexpected receive error
/// (never seen in practice), so that a lasting one cannot spin a core.
pub const UDP_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Concurrent TCP client connections (Unbound `incoming-num-tcp` 10/thread;
/// BIND `tcp-clients` 150).
pub const MAX_TCP_CLIENTS: usize = 256;

/// TCP client connections one client address may hold at once; past it
/// the new connection is closed at once (Unbound's `tcp-connection-limit`
/// per netblock, which has no default; ours: an eighth of
/// `MAX_TCP_CLIENTS`, so one client cannot hold the TCP service alone,
/// while a stub resolver or a proxy keeps room to pipeline).
pub const MAX_TCP_CLIENTS_PER_IP: usize = 32;

/// Queries of one TCP connection answered at once (RFC 7766 §6.2.1.1:
/// pipelined queries are processed concurrently and answered out of
/// order). Past it the connection is not read until an answer is sent.
/// Our own bound: Unbound answers a connection's queries one at a time
/// per worker; 16 lets a pipelining client fill a round trip with
/// questions, and one client address holds at most
/// `MAX_TCP_CLIENTS_PER_IP` x 16 = 512 queries in progress over TCP.
pub const MAX_TCP_QUERIES_PER_CONNECTION: usize = 16;

/// Idle timeout of a TCP connection while more than half of the TCP
/// connection slots are in use (Unbound: `TCP_QUERY_TIMEOUT_MINIMUM`
/// 200 ms once half of `incoming-num-tcp` is busy), so idle clients make
/// room for new ones.
pub const TCP_IDLE_TIMEOUT_UNDER_PRESSURE: Duration = Duration::from_millis(200);

/// Idle TCP client connection timeout (RFC 7766 §6.2.3: a few seconds;
/// Unbound `tcp-idle-timeout` 30 s).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Descriptors kept out of every pool: listeners (a UDP socket per core
/// and a TCP listener per address), the control API
/// (`MAX_CONTROL_CONNECTIONS`), state and zone files, the runtime's own
/// (epoll, eventfd, signal pipe), and the in-process lab in tests. The
/// rest of RLIMIT_NOFILE is shared out by `rlimit::split`.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// Upstream descriptors open at once: one UDP socket per outstanding
/// question (each on its own OS-random source port, RFC 5452 §9.2) plus
/// one per TCP refetch. Also bounded by the descriptor limit
/// (`rlimit::split`). Unbound's `outgoing-range` is 4096 with libevent;
/// past it a new question fails at once with this limit's error (a
/// SERVFAIL + EDE for the client, the stale tier where it has data).
pub const MAX_UPSTREAM_SOCKETS: usize = 4096;

/// Receive buffers kept for reuse by the upstream pool once their
/// question is done. Each is `EDNS_UDP_PAYLOAD` + 1 bytes (the answer we
/// asked for, and one byte to tell a larger one), so 1024 is ~1.2 MiB.
pub const UPSTREAM_BUFFERS_KEPT: usize = 1024;

/// Questions accepted in one query (RFC 9619: QDCOUNT must be 1).
pub const MAX_QUESTIONS: u16 = 1;

/// Longest `identity` or `version` string answered to CHAOS TXT
/// questions: one TXT character-string (RFC 1035 §3.3).
pub const MAX_CHAOS_TXT_BYTES: usize = 255;

/// Longest `nsid` (RFC 5001 sets no bound; ours keeps the OPT record of
/// every NSID answer small: an identifier, not a payload).
pub const MAX_NSID_BYTES: usize = 128;

/// Nested lookups (NS addresses, DS/DNSKEY chain) open at once for one
/// client query; deeper means a dependency loop or an attack.
pub const MAX_NESTED_LOOKUPS: usize = 16;

/// Attempts to find a port free for both UDP and TCP when a listen address
/// asks for port 0: UDP takes an OS-chosen port, TCP binds the same number
/// and may find it taken by another program (DNS serves both transports on
/// one port, RFC 7766 §5). Our own choice: a clash is rare, 16 tries bound
/// the start-up time.
pub const SERVER_BIND_ATTEMPTS: usize = 16;

/// Largest trust anchor file read (`--trust-anchor`); a real one holds a
/// handful of DS/DNSKEY records (the IANA root-anchors.xml is ~1.5 KiB).
pub const MAX_TRUST_ANCHOR_FILE_BYTES: u64 = 1024 * 1024;

// --- Negative trust anchors and the control API (issue 4) ---

/// Lifetime of an NTA added without one (BIND `nta-lifetime` default 1 h;
/// RFC 7646 §2: NTAs are temporary and expire on their own).
pub const DEFAULT_NTA_LIFETIME: Duration = Duration::from_secs(3600);

/// Longest NTA lifetime accepted (BIND caps `nta-lifetime` at one week;
/// RFC 7646 §2 expects NTAs to last hours or days, not forever).
pub const MAX_NTA_LIFETIME: Duration = Duration::from_secs(7 * 86_400);

/// NTAs held at once. Our own bound: an operator sets a handful; the cap
/// keeps the control API and the state file from growing without limit.
pub const MAX_NTAS: usize = 1024;

/// Longest NTA reason kept, in bytes (a free-text note for operators;
/// bounds the state file and the API answers).
pub const MAX_NTA_REASON_BYTES: usize = 1024;

/// Largest NTA state file read at start (MAX_NTAS entries of a few hundred
/// bytes each fit well within it).
pub const MAX_NTA_STATE_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Default interval between NTA rechecks (BIND `nta-recheck` default 5 m).
pub const DEFAULT_NTA_RECHECK_INTERVAL: Duration = Duration::from_secs(300);

/// Largest request body the control API reads; its JSON requests are a few
/// hundred bytes (an NTA with the longest reason fits easily).
pub const MAX_CONTROL_BODY_BYTES: usize = 64 * 1024;

/// Control API connections open at once, per listener (it serves
/// operators and a Prometheus scraper, not the public). A connection past
/// the cap closes the oldest one that has not sent its request yet, so
/// idle connections cannot stall the API; if every one is busy, the new
/// one is closed.
pub const MAX_CONTROL_CONNECTIONS: usize = 64;

/// Control API connections open at once from one peer (an IP address, or
/// a uid on the Unix socket); past it the peer's oldest idle connection is
/// closed (nginx `limit_conn`-style, per peer).
pub const MAX_CONTROL_CONNECTIONS_PER_PEER: usize = 16;

/// Time a control API client has to complete the TLS handshake and send a
/// request's headers (Apache `RequestReadTimeout header=20-40`, nginx
/// `client_header_timeout` 60 s; an operator's CLI needs milliseconds).
pub const CONTROL_HEADER_TIMEOUT: Duration = Duration::from_secs(3);

/// Time a control API client has to send a request's body once its
/// headers are in (slowloris bound).
pub const CONTROL_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the operator CLI waits for the control API's answer (a reload
/// reads and checks files; a few seconds at most in practice).
pub const CONTROL_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest control API answer the operator CLI reads (a list of MAX_NTAS
/// NTAs with long reasons is about 1.5 MiB).
pub const MAX_CONTROL_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Zones with an open failure-recheck window remembered at once; past it
/// the least recently asked-about window is dropped.
pub const MAX_FAILING_ZONES: usize = 10_000;

/// First interval of a failing zone's background probe; it doubles after
/// each failed probe up to `failure-recheck` (RFC 8767 §5 caps the rate at
/// one per 30 s; a short first interval heals a blip within seconds).
pub const FAILURE_PROBE_FIRST: Duration = Duration::from_secs(2);

/// Distinct RRsets of one zone failing validation with the same cause
/// (kind and key tag) that make the failure the zone's, not the RRsets'.
/// One is a bad RRset; two can be one name's A and AAAA signed together;
/// three different RRsets with one missing key tag are the signer (the
/// .de 2026 pattern), and no client can make a correctly signed zone
/// produce them.
pub const ZONE_EVIDENCE_RRSETS: usize = 3;

/// How long a Bogus RRset counts as evidence against its zone.
pub const ZONE_EVIDENCE_WINDOW: Duration = Duration::from_secs(60);

/// (zone, cause) pairs whose evidence is remembered at once.
pub const MAX_EVIDENCE_ENTRIES: usize = 10_000;

/// How long `lastgood zone retry` waits for the zone's probe before it
/// answers "not known yet" (the probe goes on): one question's deadline
/// and a margin for the chain of trust.
pub const ZONE_RETRY_WAIT: Duration = Duration::from_secs(10);

/// TTL of the HINFO synthesised for an ANY question about a name that
/// has no A RRset (RFC 8482 §4.2; Cloudflare sends 3789, we say an hour).
pub const RFC8482_HINFO_TTL: u32 = 3600;

/// How long a zone counts as slow after one of its refreshes outlived
/// `client-response-timer`: its other expired names are answered stale
/// without starting refreshes of their own (never-cached names still
/// resolve). The question deadline bounds the refresh that set it.
pub const SLOW_ZONE_HOLD: Duration = UPSTREAM_QUESTION_DEADLINE;

/// Refreshes of expired entries of one zone running at once; past it,
/// expired names are answered stale without a refresh (RFC 8767 §5: a
/// failing authority must not see client load turned into upstream load).
/// Normal refreshes take milliseconds, so 4 rarely binds outside outages.
pub const MAX_STALE_REFRESHES_PER_ZONE: usize = 4;

/// `[[forward-zone]]` plus `[[stub-zone]]` tables accepted. Our own bound:
/// zones are matched by a linear longest-suffix scan per lookup, and an
/// internal network has a handful (Unbound has no limit).
pub const MAX_PRIVATE_ZONES: usize = 256;

/// Addresses listed for one forward or stub zone. Our own bound: one
/// question tries at most MAX_UPSTREAM_TRIES of them anyway.
pub const MAX_PRIVATE_ZONE_SERVERS: usize = 16;

/// Networks in `private-address`. Our own bound: each answer record is
/// checked against every network.
pub const MAX_PRIVATE_ADDRESS_NETS: usize = 256;

/// A bound that cut work short, as counted in `lastgood_limit_hits_total`:
/// each variant names one constant of this file, and its label is that
/// constant's name (dashboards and tests rely on the exact strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    MaxCnameChain,
    MaxReferralDepth,
    MaxUpstreamQueriesPerClientQuery,
    MaxGluelessNsPerReferral,
    MaxGluelessDepth,
    MaxNestedLookups,
    UpstreamQuestionDeadline,
    EdnsUdpPayload,
    MaxSignatureValidationsPerResponse,
    MaxKeysPerKeyTag,
    MaxNsec3HashesPerResponse,
    Nsec3MaxIterations,
    MaxSignersPerResponse,
    MaxUpstreamSockets,
    MaxStaleRefreshesPerZone,
    MaxInFlightClientQueries,
    MaxTcpQuerySize,
    MaxTcpClients,
    MaxTcpClientsPerIp,
    TcpIdleTimeout,
    MaxControlConnections,
    MaxControlConnectionsPerPeer,
}

impl Limit {
    pub const ALL: [Limit; 22] = [
        Limit::MaxCnameChain,
        Limit::MaxReferralDepth,
        Limit::MaxUpstreamQueriesPerClientQuery,
        Limit::MaxGluelessNsPerReferral,
        Limit::MaxGluelessDepth,
        Limit::MaxNestedLookups,
        Limit::UpstreamQuestionDeadline,
        Limit::EdnsUdpPayload,
        Limit::MaxSignatureValidationsPerResponse,
        Limit::MaxKeysPerKeyTag,
        Limit::MaxNsec3HashesPerResponse,
        Limit::Nsec3MaxIterations,
        Limit::MaxSignersPerResponse,
        Limit::MaxUpstreamSockets,
        Limit::MaxStaleRefreshesPerZone,
        Limit::MaxInFlightClientQueries,
        Limit::MaxTcpQuerySize,
        Limit::MaxTcpClients,
        Limit::MaxTcpClientsPerIp,
        Limit::TcpIdleTimeout,
        Limit::MaxControlConnections,
        Limit::MaxControlConnectionsPerPeer,
    ];

    /// The constant's name: the metric label and the name in error texts.
    pub const fn as_str(self) -> &'static str {
        match self {
            Limit::MaxCnameChain => "MAX_CNAME_CHAIN",
            Limit::MaxReferralDepth => "MAX_REFERRAL_DEPTH",
            Limit::MaxUpstreamQueriesPerClientQuery => "MAX_UPSTREAM_QUERIES_PER_CLIENT_QUERY",
            Limit::MaxGluelessNsPerReferral => "MAX_GLUELESS_NS_PER_REFERRAL",
            Limit::MaxGluelessDepth => "MAX_GLUELESS_DEPTH",
            Limit::MaxNestedLookups => "MAX_NESTED_LOOKUPS",
            Limit::UpstreamQuestionDeadline => "UPSTREAM_QUESTION_DEADLINE",
            Limit::EdnsUdpPayload => "EDNS_UDP_PAYLOAD",
            Limit::MaxSignatureValidationsPerResponse => "MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE",
            Limit::MaxKeysPerKeyTag => "MAX_KEYS_PER_KEY_TAG",
            Limit::MaxNsec3HashesPerResponse => "MAX_NSEC3_HASHES_PER_RESPONSE",
            Limit::Nsec3MaxIterations => "NSEC3_MAX_ITERATIONS",
            Limit::MaxSignersPerResponse => "MAX_SIGNERS_PER_RESPONSE",
            Limit::MaxUpstreamSockets => "MAX_UPSTREAM_SOCKETS",
            Limit::MaxStaleRefreshesPerZone => "MAX_STALE_REFRESHES_PER_ZONE",
            Limit::MaxInFlightClientQueries => "MAX_IN_FLIGHT_CLIENT_QUERIES",
            Limit::MaxTcpQuerySize => "MAX_TCP_QUERY_SIZE",
            Limit::MaxTcpClients => "MAX_TCP_CLIENTS",
            Limit::MaxTcpClientsPerIp => "MAX_TCP_CLIENTS_PER_IP",
            Limit::TcpIdleTimeout => "TCP_IDLE_TIMEOUT",
            Limit::MaxControlConnections => "MAX_CONTROL_CONNECTIONS",
            Limit::MaxControlConnectionsPerPeer => "MAX_CONTROL_CONNECTIONS_PER_PEER",
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A limit equals its label (tests and logs compare with the constant's name).
impl PartialEq<&str> for Limit {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Per zone, at most one "zone failing" WARN (and its recovery INFO) in
/// this interval; the episodes in between are counted and reported with
/// the next WARN (issue 19: a flapping zone must not flood the log). Our
/// own choice, of the order of Unbound's and BIND's log rate limits.
pub const ZONE_LOG_INTERVAL: Duration = Duration::from_secs(600);

/// Zones whose last failure log line is remembered for the rate limit; past
/// it, entries older than `ZONE_LOG_INTERVAL` are dropped, and if that is
/// not enough the line is logged without being remembered.
pub const MAX_ZONE_LOG_ENTRIES: usize = MAX_FAILING_ZONES;

/// Bytes a map key's hash collects before they go to SipHash in one
/// call (`cache::hash`): a name of up to 255 octets arrives in two or
/// three calls rather than one per octet (issue 20).
pub const NAME_HASH_BUFFER: usize = 128;

#[cfg(test)]
mod limit_tests {
    use super::Limit;

    #[test]
    fn labels_are_distinct_constant_names() {
        let mut labels: Vec<&str> = Limit::ALL.iter().map(|l| l.as_str()).collect();
        let source = include_str!("limits.rs");
        for label in &labels {
            assert!(
                source.contains(&format!("pub const {label}:")),
                "{label} is not a constant of limits.rs"
            );
        }
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Limit::ALL.len());
    }
}
