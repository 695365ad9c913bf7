//! The iterator's IO boundary: every question the iterator asks an
//! authority goes through a [`Transport`], and every answer comes back as
//! an [`Arrival`] from it. The resolver holds one transport, chosen in
//! [`super::ResolverConfig::transport`]: [`Sockets`] (the default, UDP with
//! a TCP refetch, from [`upstream::Pool`]) or one given by the embedder,
//! such as the in-process replay harness of the integration tests, whose
//! scripted authorities answer on tokio's paused clock.
//!
//! The unit is one outstanding question, not one datagram: a question has
//! one ID (and, over sockets, one source port); it is sent to the zone's
//! servers in turn, and an answer from any server already asked is
//! accepted, so a late answer still counts ([`Question::recv_until`]).
//! Deadlines are `tokio::time::Instant`s taken from the resolver's clock
//! ([`crate::clock::Clock::monotonic`]), so a paused tokio clock drives
//! them.
//!
//! The transport only moves messages: what to ask whom, when a try ends
//! and when to fetch an answer again over TCP are decided by the sans-IO
//! `zone_query::ZoneQuery`, which `iterate.rs::query_zone`
//! drives over a [`Question`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};
use tokio::time::Instant;

use super::upstream::{self, Arrival, UpstreamError};

/// The futures a transport returns (boxed: the trait is used as `dyn`).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One question as the iterator asks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestionSpec {
    pub name: Name,
    pub qtype: RecordType,
    /// The servers to ask are IPv6 (one socket per question, one family).
    pub ipv6: bool,
    /// RD set (questions to a `forward-zone`'s recursive servers).
    pub recursion_desired: bool,
}

/// Where upstream questions go. Implementations decide the query ID
/// (random over sockets, seeded in tests) and build the message with
/// [`upstream::build_query`].
pub trait Transport: Send + Sync + fmt::Debug {
    /// Open one outstanding question; fails at once (and cheaply) when no
    /// resource for it is free ([`UpstreamError::Exhausted`]).
    fn open<'a>(
        &'a self,
        question: &'a QuestionSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Question>, UpstreamError>>;
}

/// One outstanding question: an ID, the servers asked so far.
pub trait Question: Send {
    /// Send (or retransmit) the question to `server`.
    fn send(&mut self, server: SocketAddr) -> BoxFuture<'_, Result<(), UpstreamError>>;

    /// Wait until `deadline` for an answer from any server asked. What
    /// comes from elsewhere, or with another ID or question, is ignored
    /// and reported through `spoof_ignored`.
    fn recv_until<'a>(
        &'a mut self,
        deadline: Instant,
        spoof_ignored: &'a (dyn Fn() + Sync),
    ) -> BoxFuture<'a, Arrival>;

    /// Fetch the answer of `server` again over TCP (after
    /// [`Arrival::Truncated`]), giving up at `until`.
    fn refetch(&mut self, server: SocketAddr, until: Instant) -> BoxFuture<'_, Arrival>;
}

/// The real transport: UDP sockets and TCP connections from a [`upstream::Pool`].
#[derive(Debug, Clone)]
pub struct Sockets(pub Arc<upstream::Pool>);

impl Transport for Sockets {
    fn open<'a>(
        &'a self,
        question: &'a QuestionSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Question>, UpstreamError>> {
        Box::pin(async move {
            let exchange = self
                .0
                .exchange_with_recursion(
                    &question.name,
                    question.qtype,
                    question.ipv6,
                    question.recursion_desired,
                )
                .await?;
            Ok(Box::new(exchange) as Box<dyn Question>)
        })
    }
}

impl Question for upstream::Exchange {
    fn send(&mut self, server: SocketAddr) -> BoxFuture<'_, Result<(), UpstreamError>> {
        Box::pin(upstream::Exchange::send(self, server))
    }

    fn recv_until<'a>(
        &'a mut self,
        deadline: Instant,
        spoof_ignored: &'a (dyn Fn() + Sync),
    ) -> BoxFuture<'a, Arrival> {
        Box::pin(upstream::Exchange::recv_until(
            self,
            deadline,
            spoof_ignored,
        ))
    }

    fn refetch(&mut self, server: SocketAddr, until: Instant) -> BoxFuture<'_, Arrival> {
        Box::pin(upstream::Exchange::refetch(self, server, until))
    }
}

/// Which transport a resolver uses.
#[derive(Clone, Debug, Default)]
pub enum TransportChoice {
    /// UDP and TCP sockets from the resolver's pool.
    #[default]
    Sockets,
    /// Another transport (the in-process replay harness).
    Given(Arc<dyn Transport>),
}
