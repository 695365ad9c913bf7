//! One question to one zone's servers as a state machine without IO, in
//! the style of quinn-proto's connection: the driver
//! (`iterate.rs::query_zone`) owns the transport and the clock and moves
//! bytes and time in and out; this module decides everything else.
//!
//! - **What to ask whom**: the zone's servers in the order given (best
//!   smoothed RTT first), cycled, at most [`limits::MAX_UPSTREAM_TRIES`]
//!   sends of one question; a server that answered unusably is not asked
//!   again; a failing server is retried only with its probe slot (one
//!   question at a time, the retry amplification brake).
//! - **When**: each try waits twice the last try's wait, at least the
//!   server's own timeout, at most [`limits::UPSTREAM_TIMEOUT_MAX`], and
//!   never past [`limits::UPSTREAM_QUESTION_DEADLINE`] after the question
//!   opened; a late answer from any server already asked still counts.
//! - **What came back**, classified once ([`classify::classify`]): a usable
//!   answer or referral ends the question; SERVFAIL, REFUSED, lame,
//!   garbage or a failed send fails that server; a truncated or oversized
//!   UDP answer asks for a TCP refetch ([`Transmit::Tcp`]) within the
//!   question's deadline.
//!
//! Inputs: [`ZoneQuery::poll_transmit`] (what to send next), then
//! [`ZoneQuery::handle_sent`]; [`ZoneQuery::handle`] for what arrived;
//! [`ZoneQuery::handle_timeout`] once [`ZoneQuery::poll_timeout`] passed.
//! Outputs: [`ZoneQuery::poll_event`]: what to count and what to tell the
//! infrastructure cache (applied by the driver before it polls again),
//! and at last [`Event::Done`] or [`Event::Failed`]. The infrastructure
//! cache (which servers are failing, their timeouts, probe slots) is read
//! through [`ServerInfo`]. Nothing here reads a clock, opens a socket or
//! awaits: `now` is a parameter.
//!
//! # Limitations
//!
//! The machine is one question to one zone. Following referrals, QNAME
//! minimisation and the IPv6 fallback are still async code in
//! `iterate.rs`; the chain of trust is asked for explicitly
//! (`trust.rs`) but fetched by awaiting the resolver (`keys.rs`).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

use crate::clock::Timestamp;
use crate::limits::{self, Limit};
use crate::resolve::classify::{self, Classified};
use crate::resolve::outcome::UpstreamOutcome;

/// A usable answer and the server that sent it.
pub(crate) type Answered = (Message, Classified, SocketAddr);

/// What the machine reads of the infrastructure cache (server RTTs,
/// failures, probe slots; `servers::ServerStats` in the resolver).
pub(crate) trait ServerInfo {
    /// Whether `server` failed more recently than it answered.
    fn is_failing(&self, server: IpAddr) -> bool;
    /// The shortest wait for an answer from `server`.
    fn timeout(&self, server: IpAddr) -> Duration;
    /// Take the probe slot of a failing server for this question; `false`
    /// when another question holds it.
    fn try_probe(&mut self, server: IpAddr) -> bool;
}

/// What the driver sends next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transmit {
    /// Send (or resend) the question over UDP to `server`; report with
    /// [`ZoneQuery::handle_sent`].
    Udp { server: SocketAddr },
    /// Fetch the answer of `server` again over TCP, giving up at `until`;
    /// report what came back with [`ZoneQuery::handle`].
    Tcp { server: SocketAddr, until: Instant },
}

/// What arrived for the question (the transport has checked source, ID
/// and question: `upstream::read_datagram`).
#[derive(Debug)]
pub(crate) enum Input {
    /// A parsed answer from `from`.
    Answer { from: SocketAddr, message: Message },
    /// `from` answered unusably (garbage for our ID, a failed TCP refetch).
    Failed {
        from: SocketAddr,
        outcome: UpstreamOutcome,
    },
    /// `from` answered, but the answer is to be fetched over TCP:
    /// truncated, or (`oversized`) larger than the payload we advertised.
    Truncated { from: SocketAddr, oversized: bool },
}

/// What the driver does for the machine, in order.
#[derive(Debug)]
pub(crate) enum Event {
    /// Count one outcome (`lastgood_upstream_queries_total`).
    Counted(UpstreamOutcome),
    /// `server` failed a try: its RTT estimate backs off.
    ServerFailed(IpAddr),
    /// `server` answered after `rtt`.
    Rtt(IpAddr, Duration),
    /// A limit cut the question short (`lastgood_limit_hits_total`).
    Limit(Limit),
    /// A usable answer or referral: the question is over.
    Done(Box<Answered>),
    /// No server answered usably: the question is over. `zone_down`: every
    /// server failed this question or is known to be failing (zone-level
    /// evidence, `ResolveError::ZoneDown`).
    Failed {
        zone_down: bool,
        tries: Vec<(SocketAddr, UpstreamOutcome)>,
    },
}

/// The question as asked of the zone's servers.
#[derive(Clone, Debug)]
pub(crate) struct ZoneQuestion {
    pub(crate) name: Name,
    pub(crate) qtype: RecordType,
    /// The zone whose servers are asked (bailiwick of what comes back).
    pub(crate) zone: Name,
}

/// Where the machine is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Choosing the next try.
    Next,
    /// [`Transmit::Udp`] to `server` handed out, the send not reported yet;
    /// `timeout` is the server's own.
    Sending {
        server: SocketAddr,
        timeout: Duration,
    },
    /// Waiting for an answer; the try in flight went to `server`.
    Waiting { server: SocketAddr },
    /// An answer of `from` is to be fetched over TCP (`asked`: the
    /// transmit was handed out) during the try sent to `server`.
    Refetching {
        server: SocketAddr,
        from: SocketAddr,
        oversized: bool,
        asked: bool,
    },
    /// [`Event::Done`] or [`Event::Failed`] queued.
    Finished,
}

/// One question to one zone's servers (Unbound's per-query state, for
/// one question to one zone). See the module doc.
#[derive(Debug)]
pub(crate) struct ZoneQuery {
    question: ZoneQuestion,
    servers: Vec<SocketAddr>,
    /// Tries chosen so far (sent, skipped or failed to send).
    turns: usize,
    /// What each server did, in order.
    log: Vec<(SocketAddr, UpstreamOutcome)>,
    /// Servers that answered unusably: never asked again.
    failed: Vec<SocketAddr>,
    /// When each try left, for its round-trip time.
    sent_at: Vec<(SocketAddr, Instant)>,
    /// Failing servers whose probe slot this question holds.
    probing: Vec<IpAddr>,
    /// The wait of the last try; each try waits longer.
    wait: Duration,
    /// `UPSTREAM_QUESTION_DEADLINE` after the question opened.
    deadline: Instant,
    /// When the try in flight ends.
    try_ends: Instant,
    state: State,
    events: VecDeque<Event>,
}

impl ZoneQuery {
    /// A question opened at `now`, to ask of `servers` (best first).
    pub(crate) fn new(question: ZoneQuestion, servers: Vec<SocketAddr>, now: Instant) -> Self {
        let deadline = now + limits::UPSTREAM_QUESTION_DEADLINE;
        Self {
            question,
            servers,
            turns: 0,
            log: Vec::new(),
            failed: Vec::new(),
            sent_at: Vec::new(),
            probing: Vec::new(),
            wait: Duration::ZERO,
            deadline,
            try_ends: deadline,
            state: State::Next,
            events: VecDeque::new(),
        }
    }

    /// What to send now, if anything. When no try is left, the question
    /// ends here ([`Event::Failed`]).
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        info: &mut dyn ServerInfo,
    ) -> Option<Transmit> {
        match self.state {
            State::Next => self.next_try(now, info),
            State::Refetching {
                server,
                from,
                oversized,
                asked: false,
            } => {
                self.state = State::Refetching {
                    server,
                    from,
                    oversized,
                    asked: true,
                };
                // TCP needs two round trips more than the UDP wait allowed
                // for, and the server is alive: the question's deadline,
                // at least `UPSTREAM_TIMEOUT_MIN`.
                let until = self.deadline.max(now + limits::UPSTREAM_TIMEOUT_MIN);
                Some(Transmit::Tcp {
                    server: from,
                    until,
                })
            }
            _ => None,
        }
    }

    /// The next try: not past the question's deadline, not to a server
    /// that answered unusably, and a failing server already asked by this
    /// question only with its probe slot.
    fn next_try(&mut self, now: Instant, info: &mut dyn ServerInfo) -> Option<Transmit> {
        while self.turns < limits::MAX_UPSTREAM_TRIES {
            let Some(&server) = self.servers.get(self.turns % self.servers.len().max(1)) else {
                break;
            };
            self.turns += 1;
            if self.failed.len() >= self.servers.len() {
                break;
            }
            if self.failed.contains(&server) {
                continue;
            }
            if now >= self.deadline {
                self.events
                    .push_back(Event::Limit(Limit::UpstreamQuestionDeadline));
                break;
            }
            let ip = server.ip();
            let asked = self.sent_at.iter().any(|(s, _)| *s == server);
            if asked && !self.probing.contains(&ip) && info.is_failing(ip) {
                if !info.try_probe(ip) {
                    self.events
                        .push_back(Event::Counted(UpstreamOutcome::ProbeBusy));
                    self.log.push((server, UpstreamOutcome::ProbeBusy));
                    continue;
                }
                self.probing.push(ip);
            }
            self.state = State::Sending {
                server,
                timeout: info.timeout(ip),
            };
            return Some(Transmit::Udp { server });
        }
        self.fail(info);
        None
    }

    /// The question ends with no usable answer. Zone-level evidence only
    /// when no server is left that might have answered: each failed for
    /// this question or is known to be failing.
    fn fail(&mut self, info: &dyn ServerInfo) {
        let zone_down = !self.log.is_empty()
            && self
                .servers
                .iter()
                .all(|a| self.failed.contains(a) || info.is_failing(a.ip()));
        self.state = State::Finished;
        self.events.push_back(Event::Failed {
            zone_down,
            tries: std::mem::take(&mut self.log),
        });
    }

    /// The [`Transmit::Udp`] handed out left at `now`, or failed to
    /// (`Err`: what it was). A try waits twice the last one, at least the
    /// server's own timeout, at most `UPSTREAM_TIMEOUT_MAX`, never past
    /// the question's deadline.
    pub(crate) fn handle_sent(&mut self, now: Instant, sent: Result<(), UpstreamOutcome>) {
        let State::Sending { server, timeout } = self.state else {
            return;
        };
        match sent {
            Ok(()) => {
                self.sent_at.push((server, now));
                self.wait = (self.wait * 2)
                    .max(timeout)
                    .min(limits::UPSTREAM_TIMEOUT_MAX);
                self.try_ends = (now + self.wait).min(self.deadline);
                self.state = State::Waiting { server };
            }
            Err(outcome) => {
                self.server_failed(server, outcome);
                self.state = State::Next;
            }
        }
    }

    /// When the try in flight ends, if one is waiting for answers.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Waiting { .. } => Some(self.try_ends),
            _ => None,
        }
    }

    /// The instant [`Self::poll_timeout`] gave has passed with nothing
    /// usable: the server of the try in flight timed out, the next try
    /// follows.
    pub(crate) fn handle_timeout(&mut self, _now: Instant) {
        let State::Waiting { server } = self.state else {
            return;
        };
        self.events
            .push_back(Event::Counted(UpstreamOutcome::Timeout));
        self.events.push_back(Event::ServerFailed(server.ip()));
        self.log.push((server, UpstreamOutcome::Timeout));
        self.state = State::Next;
    }

    /// Something arrived at `now` (wall time `wall`, for what a referral
    /// is stored at): a usable answer from any server asked ends the
    /// question; an unusable one fails its server, and ends the try once
    /// every server asked has failed.
    pub(crate) fn handle(&mut self, input: Input, now: Instant, wall: Timestamp) {
        let (server, oversized) = match self.state {
            State::Waiting { server } => (server, false),
            State::Refetching {
                server,
                oversized,
                asked: true,
                ..
            } => (server, oversized),
            _ => return,
        };
        let (from, outcome) = match input {
            Input::Answer { from, message } => {
                if oversized {
                    self.events
                        .push_back(Event::Counted(UpstreamOutcome::OversizedUdp));
                    self.events.push_back(Event::Limit(Limit::EdnsUdpPayload));
                }
                let q = &self.question;
                match classify::classify(&message, &q.name, q.qtype, &q.zone, wall) {
                    Classified::Failed(outcome) => (from, outcome),
                    usable => {
                        self.answered(from, now);
                        self.state = State::Finished;
                        self.events
                            .push_back(Event::Done(Box::new((message, usable, from))));
                        return;
                    }
                }
            }
            Input::Failed { from, outcome } => (from, outcome),
            Input::Truncated { from, oversized } => {
                self.state = State::Refetching {
                    server,
                    from,
                    oversized,
                    asked: false,
                };
                return;
            }
        };
        self.server_failed(from, outcome);
        self.state = if self.failed.len() >= self.sent_at.len() {
            State::Next
        } else {
            State::Waiting { server }
        };
    }

    /// Whether the question is over ([`Event::Done`] or [`Event::Failed`]
    /// queued).
    pub(crate) fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// What the driver does next, in order; [`Event::Done`] or
    /// [`Event::Failed`] comes last.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A usable answer from `from`: count it and its round-trip time.
    fn answered(&mut self, from: SocketAddr, now: Instant) {
        self.events
            .push_back(Event::Counted(UpstreamOutcome::Answer));
        if let Some((_, t)) = self.sent_at.iter().rev().find(|(s, _)| *s == from) {
            let rtt = now.saturating_duration_since(*t);
            self.events.push_back(Event::Rtt(from.ip(), rtt));
        }
    }

    /// `server` answered unusably (or could not be sent to): it is not
    /// asked again by this question.
    fn server_failed(&mut self, server: SocketAddr, outcome: UpstreamOutcome) {
        self.events.push_back(Event::Counted(outcome));
        self.events.push_back(Event::ServerFailed(server.ip()));
        self.log.push((server, outcome));
        if !self.failed.contains(&server) {
            self.failed.push(server);
        }
    }
}

#[cfg(test)]
mod tests;
