//! Typed outcomes of one upstream exchange: what a server did with one
//! question. They label the `lastgood_upstream_queries_total` metric and
//! decide whether a failed question is evidence against the whole zone.

/// What happened to one try of one question at one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpstreamOutcome {
    /// A usable answer or referral.
    Answer,
    /// No answer within the try's wait.
    Timeout,
    /// The send or the TCP refetch failed (unreachable, reset, too long).
    NetworkError,
    /// A failing server another question is probing: not asked by this one.
    ProbeBusy,
    ServFail,
    Refused,
    /// An rcode other than NOERROR, NXDOMAIN, SERVFAIL or REFUSED.
    BadRcode,
    /// Not authoritative and not a usable referral (upward or sideways
    /// referral, empty non-authoritative answer).
    Lame,
    /// Did not parse, or a TCP answer to another question.
    Malformed,
    /// A datagram for another ID, question or from a server not asked.
    MismatchIgnored,
    /// A UDP answer larger than the payload we advertised (refetched over TCP).
    OversizedUdp,
    /// No upstream socket was free (`MAX_UPSTREAM_SOCKETS`): never sent.
    PoolExhausted,
}

impl UpstreamOutcome {
    pub const ALL: [UpstreamOutcome; 12] = [
        UpstreamOutcome::Answer,
        UpstreamOutcome::Timeout,
        UpstreamOutcome::NetworkError,
        UpstreamOutcome::ProbeBusy,
        UpstreamOutcome::ServFail,
        UpstreamOutcome::Refused,
        UpstreamOutcome::BadRcode,
        UpstreamOutcome::Lame,
        UpstreamOutcome::Malformed,
        UpstreamOutcome::MismatchIgnored,
        UpstreamOutcome::OversizedUdp,
        UpstreamOutcome::PoolExhausted,
    ];

    /// The metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            UpstreamOutcome::Answer => "answer",
            UpstreamOutcome::Timeout => "timeout",
            UpstreamOutcome::NetworkError => "network_error",
            UpstreamOutcome::ProbeBusy => "probe_busy",
            UpstreamOutcome::ServFail => "servfail",
            UpstreamOutcome::Refused => "refused",
            UpstreamOutcome::BadRcode => "bad_rcode",
            UpstreamOutcome::Lame => "lame",
            UpstreamOutcome::Malformed => "malformed",
            UpstreamOutcome::MismatchIgnored => "mismatch_ignored",
            UpstreamOutcome::OversizedUdp => "oversized_udp",
            UpstreamOutcome::PoolExhausted => "pool_exhausted",
        }
    }

    /// The server could not be reached at all (as opposed to answering
    /// badly): a question whose every try ended so is "no reachable
    /// authority" (EDE 22), otherwise "network error" (EDE 23).
    pub const fn is_unreachable(self) -> bool {
        matches!(
            self,
            UpstreamOutcome::Timeout
                | UpstreamOutcome::NetworkError
                | UpstreamOutcome::Refused
                | UpstreamOutcome::ProbeBusy
        )
    }
}

impl std::fmt::Display for UpstreamOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct() {
        let mut labels: Vec<&str> = UpstreamOutcome::ALL.iter().map(|o| o.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), UpstreamOutcome::ALL.len());
    }
}
