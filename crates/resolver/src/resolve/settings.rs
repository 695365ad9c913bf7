//! The resolver's own settings and their defaults, written once: the
//! configuration file (`config`) fills them in, `ResolverConfig` carries
//! them; neither writes a default of its own.

use std::time::Duration;

/// Default `upstream-port`: where name servers are asked.
pub const DEFAULT_UPSTREAM_PORT: u16 = 53;

/// Default `max-stale-ttl`: how long past TTL an entry stays usable for
/// the stale tier (RFC 8767 §5 suggests 1 to 3 days).
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(86_400);

/// Serve-stale settings (RFC 8767 §5; names follow Unbound's where one exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleConfig {
    /// `serve-stale`: answer from expired entries when a refresh fails.
    pub enabled: bool,
    /// `stale-answer-ttl`: TTL on stale answers (RFC 8767 §4: 30 s).
    pub answer_ttl: Duration,
    /// `client-response-timer`: answer stale if a refresh takes longer
    /// (RFC 8767 §5: 1.8 s; Unbound `serve-expired-client-timeout`).
    pub client_response_timer: Duration,
    /// `failure-recheck`: after a refresh failed, serve stale straight from
    /// cache for this long before probing again (RFC 8767 §5: 30 s).
    pub failure_recheck: Duration,
}

impl Default for StaleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            answer_ttl: Duration::from_secs(30),
            client_response_timer: Duration::from_millis(1800),
            failure_recheck: Duration::from_secs(30),
        }
    }
}
