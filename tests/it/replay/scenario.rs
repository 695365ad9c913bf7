//! A compact scenario format: what the servers do, the client queries,
//! the time steps, and what each answer and the upstream traffic must be.
//!
//! ```ignore
//! Scenario::new()
//!     .query("host1.example.lab.", A).rcode(NoError).ad(true)
//!     .fault("example.lab.", Fault::Drop)
//!     .advance(EXPIRE)
//!     .query("host1.example.lab.", A).edes(&[3, 22]).upstream(0)
//!     .run()
//!     .await;
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};
use lastgood_lab::Fault;
use lastgood_resolver::resolve::ResolverConfig;

use super::Replay;
use super::net::{Authority, Exchange};
use crate::harness::{Flags, answers_of, ede_codes, name};

/// What a client answer must show (unset: not checked).
#[derive(Debug, Default, Clone)]
pub struct Expect {
    pub rcode: Option<ResponseCode>,
    pub ad: Option<bool>,
    /// EDE codes, in order.
    pub edes: Option<Vec<u16>>,
    /// Records of this type in the answer section.
    pub answers: Option<(RecordType, usize)>,
    /// Upstream queries sent while this query was answered (background
    /// work started by it included, once everything waits).
    pub upstream: Option<Vec<(SocketAddr, Name, RecordType)>>,
    /// Only the count of upstream queries.
    pub upstream_count: Option<usize>,
}

#[derive(Debug, Clone)]
enum Step {
    Query {
        qname: String,
        qtype: RecordType,
        flags: Flags,
        expect: Expect,
    },
    Advance(Duration),
    Wait(Duration),
    Fault(String, Fault),
    Serve(SocketAddr, Box<Authority>),
}

type Adjust = Box<dyn FnOnce(&mut ResolverConfig)>;

/// A scenario against the in-process lab; scripted servers override the
/// lab's at their address.
#[derive(Default)]
pub struct Scenario {
    adjust: Option<Adjust>,
    steps: Vec<Step>,
}

impl Scenario {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adjust the resolver's configuration.
    pub fn config(mut self, adjust: impl FnOnce(&mut ResolverConfig) + 'static) -> Self {
        self.adjust = Some(Box::new(adjust));
        self
    }

    /// From now on the server at `addr` answers as `authority`.
    pub fn serve(mut self, addr: &str, authority: Authority) -> Self {
        self.steps
            .push(Step::Serve(addr.parse().unwrap(), Box::new(authority)));
        self
    }

    /// Let `d` of tokio time pass (timeouts of background work run out)
    /// without moving the resolver's wall clock, as a socket test waits.
    pub fn wait(mut self, d: Duration) -> Self {
        self.steps.push(Step::Wait(d));
        self
    }

    /// From now on the lab's `zone` has `fault`.
    pub fn fault(mut self, zone: &str, fault: Fault) -> Self {
        self.steps.push(Step::Fault(zone.to_owned(), fault));
        self
    }

    pub fn advance(mut self, d: Duration) -> Self {
        self.steps.push(Step::Advance(d));
        self
    }

    /// A client query with DO set; the expectations that follow apply to it.
    pub fn query(self, qname: &str, qtype: RecordType) -> Self {
        self.query_with(qname, qtype, Flags::default())
    }

    pub fn query_with(mut self, qname: &str, qtype: RecordType, flags: Flags) -> Self {
        self.steps.push(Step::Query {
            qname: qname.to_owned(),
            qtype,
            flags,
            expect: Expect::default(),
        });
        self
    }

    pub fn rcode(self, rcode: ResponseCode) -> Self {
        self.expect(|e| e.rcode = Some(rcode))
    }

    pub fn ad(self, ad: bool) -> Self {
        self.expect(|e| e.ad = Some(ad))
    }

    pub fn edes(self, codes: &[u16]) -> Self {
        let codes = codes.to_vec();
        self.expect(|e| e.edes = Some(codes))
    }

    pub fn answers(self, rtype: RecordType, n: usize) -> Self {
        self.expect(|e| e.answers = Some((rtype, n)))
    }

    /// The exact upstream queries (server, name, type) this query caused.
    pub fn upstream(self, sent: &[(&str, &str, RecordType)]) -> Self {
        let sent = sent
            .iter()
            .map(|(s, n, t)| (s.parse().unwrap(), name(n), *t))
            .collect();
        self.expect(|e| e.upstream = Some(sent))
    }

    pub fn upstream_count(self, n: usize) -> Self {
        self.expect(|e| e.upstream_count = Some(n))
    }

    fn expect(mut self, f: impl FnOnce(&mut Expect)) -> Self {
        match self.steps.last_mut() {
            Some(Step::Query { expect, .. }) => f(expect),
            other => panic!("an expectation must follow a query, not {other:?}"),
        }
        self
    }

    /// Run every step, checking each query's expectations; the harness is
    /// handed back for further checks.
    pub async fn run(self) -> Replay {
        let replay = match self.adjust {
            Some(adjust) => Replay::start_with(adjust).await,
            None => Replay::start().await,
        };
        for (i, step) in self.steps.into_iter().enumerate() {
            match step {
                Step::Advance(d) => replay.advance(d).await,
                Step::Wait(d) => tokio::time::sleep(d).await,
                Step::Fault(zone, fault) => replay.lab.set_fault(&name(&zone), fault).unwrap(),
                Step::Serve(addr, authority) => replay.net.set(addr, *authority),
                Step::Query {
                    qname,
                    qtype,
                    flags,
                    expect,
                } => {
                    let before = replay.net.log().len();
                    let r = replay.query_with(&qname, qtype, flags).await;
                    settle().await;
                    let sent: Vec<Exchange> = replay.net.log().split_off(before);
                    let what = format!("step {i}: {qname} {qtype}");
                    check(&what, &r, &expect, &sent);
                }
            }
        }
        replay
    }
}

/// Let background work (refreshes, probes) run until every task waits
/// on a timer or on nothing, without moving the clocks.
pub async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

fn check(what: &str, r: &hickory_proto::op::Message, e: &Expect, sent: &[Exchange]) {
    if let Some(rcode) = e.rcode {
        assert_eq!(r.metadata.response_code, rcode, "{what}: {r:?}");
    }
    if let Some(ad) = e.ad {
        assert_eq!(r.metadata.authentic_data, ad, "{what}: AD");
    }
    if let Some(edes) = &e.edes {
        assert_eq!(&ede_codes(r), edes, "{what}: EDEs");
    }
    if let Some((rtype, n)) = e.answers {
        assert_eq!(answers_of(r, rtype), n, "{what}: {rtype} records: {r:?}");
    }
    let got: Vec<(SocketAddr, Name, RecordType)> = sent
        .iter()
        .map(|x| (x.server, x.qname.clone(), x.qtype))
        .collect();
    if let Some(want) = &e.upstream {
        assert_eq!(&got, want, "{what}: upstream queries");
    }
    if let Some(n) = e.upstream_count {
        assert_eq!(got.len(), n, "{what}: upstream queries: {got:?}");
    }
}
