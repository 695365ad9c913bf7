//! The machine driven by hand: fake answers, fake times, no runtime.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::{MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS};
use hickory_proto::rr::{RData, Record};

use super::*;

const A1: &str = "192.0.2.1:53";
const A2: &str = "192.0.2.2:53";
const A3: &str = "192.0.2.3:53";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn n(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn question() -> ZoneQuestion {
    ZoneQuestion {
        name: n("www.example.lab."),
        qtype: RecordType::A,
        zone: n("example.lab."),
    }
}

fn response(rcode: ResponseCode, aa: bool) -> Message {
    let mut m = Message::new(7, MessageType::Response, OpCode::Query);
    m.metadata.response_code = rcode;
    m.metadata.authoritative = aa;
    m
}

/// An authoritative answer to [`question`].
fn answer() -> Message {
    let mut m = response(ResponseCode::NoError, true);
    m.answers.push(Record::from_rdata(
        n("www.example.lab."),
        60,
        RData::A(A(Ipv4Addr::new(198, 51, 100, 1))),
    ));
    m
}

/// A referral to `sub.example.lab.` with glue.
fn referral() -> Message {
    let mut m = response(ResponseCode::NoError, false);
    m.authorities.push(Record::from_rdata(
        n("www.example.lab."),
        60,
        RData::NS(NS(n("ns.www.example.lab."))),
    ));
    m.additionals.push(Record::from_rdata(
        n("ns.www.example.lab."),
        60,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 9))),
    ));
    m
}

fn from(server: &str, message: Message) -> Input {
    Input::Answer {
        from: addr(server),
        message,
    }
}

/// The infrastructure cache as the driver keeps it: failures make a
/// server failing, an answer makes it healthy again.
struct Infra {
    failing: HashSet<IpAddr>,
    /// Probe slots held by other questions.
    probed_elsewhere: HashSet<IpAddr>,
    probes: Vec<IpAddr>,
    timeout: Duration,
}

impl Infra {
    fn new(timeout: Duration) -> Self {
        Self {
            failing: HashSet::new(),
            probed_elsewhere: HashSet::new(),
            probes: Vec::new(),
            timeout,
        }
    }
}

impl ServerInfo for Infra {
    fn is_failing(&self, server: IpAddr) -> bool {
        self.failing.contains(&server)
    }

    fn timeout(&self, _server: IpAddr) -> Duration {
        self.timeout
    }

    fn try_probe(&mut self, server: IpAddr) -> bool {
        if self.probed_elsewhere.contains(&server) || self.probes.contains(&server) {
            return false;
        }
        self.probes.push(server);
        true
    }
}

/// A test's driver: one question, an infrastructure cache, a clock that
/// moves only when the test says so.
struct Run {
    zq: ZoneQuery,
    infra: Infra,
    start: Instant,
    now: Instant,
    counted: Vec<UpstreamOutcome>,
    limits: Vec<Limit>,
    rtts: Vec<(IpAddr, Duration)>,
    end: Option<Event>,
}

impl Run {
    fn new(servers: &[&str], timeout: Duration) -> Self {
        let start = Instant::now();
        Self {
            zq: ZoneQuery::new(question(), servers.iter().map(|s| addr(s)).collect(), start),
            infra: Infra::new(timeout),
            start,
            now: start,
            counted: Vec::new(),
            limits: Vec::new(),
            rtts: Vec::new(),
            end: None,
        }
    }

    fn at(&mut self, since_start: Duration) {
        self.now = self.start + since_start;
    }

    /// Apply what the machine asked for, as the driver does.
    fn drain(&mut self) {
        while let Some(event) = self.zq.poll_event() {
            match event {
                Event::Counted(o) => self.counted.push(o),
                Event::ServerFailed(ip) => {
                    self.infra.failing.insert(ip);
                }
                Event::Rtt(ip, rtt) => {
                    self.infra.failing.remove(&ip);
                    self.rtts.push((ip, rtt));
                }
                Event::Limit(l) => self.limits.push(l),
                end @ (Event::Done(_) | Event::Failed { .. }) => {
                    assert!(self.end.is_none(), "two ends");
                    self.end = Some(end);
                }
            }
        }
    }

    fn transmit(&mut self) -> Option<Transmit> {
        self.drain();
        let t = self.zq.poll_transmit(self.now, &mut self.infra);
        self.drain();
        t
    }

    /// The next transmit must be UDP to `server`; it leaves.
    fn send(&mut self, server: &str) {
        assert_eq!(
            self.transmit(),
            Some(Transmit::Udp {
                server: addr(server)
            })
        );
        self.zq.handle_sent(self.now, Ok(()));
        self.drain();
    }

    fn arrive(&mut self, input: Input) {
        self.zq
            .handle(input, self.now, Timestamp::from_secs(1_000_000));
        self.drain();
    }

    /// The try in flight times out at its end.
    fn time_out(&mut self) -> Duration {
        let ends = self.zq.poll_timeout().expect("a try in flight");
        self.now = ends;
        self.zq.handle_timeout(ends);
        self.drain();
        ends - self.start
    }

    fn done_from(&self) -> SocketAddr {
        match &self.end {
            Some(Event::Done(done)) => done.2,
            other => panic!("not answered: {other:?}"),
        }
    }

    fn failed(&self) -> (bool, Vec<(SocketAddr, UpstreamOutcome)>) {
        match &self.end {
            Some(Event::Failed { zone_down, tries }) => (*zone_down, tries.clone()),
            other => panic!("not failed: {other:?}"),
        }
    }
}

#[test]
fn the_first_server_answers() {
    let mut run = Run::new(&[A1, A2], ms(400));
    run.send(A1);
    assert_eq!(run.zq.poll_timeout(), Some(run.start + ms(400)));
    run.at(ms(30));
    run.arrive(from(A1, answer()));
    assert_eq!(run.done_from(), addr(A1));
    assert!(matches!(&run.end, Some(Event::Done(d)) if matches!(d.1, Classified::Answer(_))));
    assert_eq!(run.counted, vec![UpstreamOutcome::Answer]);
    assert_eq!(run.rtts, vec![(addr(A1).ip(), ms(30))]);
    assert_eq!(run.transmit(), None);
    assert_eq!(run.zq.poll_timeout(), None);
}

#[test]
fn a_referral_ends_the_question_too() {
    let mut run = Run::new(&[A1], ms(400));
    run.send(A1);
    run.arrive(from(A1, referral()));
    match &run.end {
        Some(Event::Done(done)) => match &done.1 {
            Classified::Referral(d) => assert_eq!(d.zone, n("www.example.lab.")),
            other => panic!("not a referral: {other:?}"),
        },
        other => panic!("not a referral: {other:?}"),
    }
}

/// Each try waits twice the last one (at least the server's timeout):
/// a silent server sends the question on to the next one.
#[test]
fn timeouts_move_on_with_growing_waits() {
    let mut run = Run::new(&[A1, A2, A3], ms(400));
    run.send(A1);
    assert_eq!(run.time_out(), ms(400));
    run.send(A2);
    assert_eq!(run.time_out(), ms(400 + 800));
    run.send(A3);
    run.at(ms(1300));
    run.arrive(from(A3, answer()));
    assert_eq!(run.done_from(), addr(A3));
    assert_eq!(
        run.counted,
        vec![
            UpstreamOutcome::Timeout,
            UpstreamOutcome::Timeout,
            UpstreamOutcome::Answer
        ]
    );
    assert_eq!(run.rtts, vec![(addr(A3).ip(), ms(100))]);
}

/// A late answer from a server asked before still counts, and its RTT
/// is measured from its own send.
#[test]
fn a_late_answer_from_an_earlier_server_counts() {
    let mut run = Run::new(&[A1, A2], ms(400));
    run.send(A1);
    run.time_out();
    run.send(A2);
    run.at(ms(500));
    run.arrive(from(A1, answer()));
    assert_eq!(run.done_from(), addr(A1));
    assert_eq!(run.rtts, vec![(addr(A1).ip(), ms(500))]);
}

/// A server that answers badly fails for this question: the next server
/// is asked at once, and the bad one never again.
#[test]
fn bad_answers_fail_their_server_only() {
    let mut run = Run::new(&[A1, A2], ms(400));
    run.send(A1);
    run.arrive(from(A1, response(ResponseCode::ServFail, false)));
    assert_eq!(run.zq.poll_timeout(), None, "the try is over");
    run.send(A2);
    run.arrive(from(A2, response(ResponseCode::Refused, false)));
    assert_eq!(run.transmit(), None);
    let (zone_down, tries) = run.failed();
    assert!(zone_down, "every server failed: zone-level evidence");
    assert_eq!(
        tries,
        vec![
            (addr(A1), UpstreamOutcome::ServFail),
            (addr(A2), UpstreamOutcome::Refused)
        ]
    );
    assert!(run.infra.failing.contains(&addr(A1).ip()));
}

/// Garbage from one server while another is still asked does not end
/// the try: the other may still answer.
#[test]
fn garbage_waits_for_the_others_asked() {
    let mut run = Run::new(&[A1, A2], ms(400));
    run.send(A1);
    run.time_out();
    run.send(A2);
    let ends = run.zq.poll_timeout();
    run.arrive(Input::Failed {
        from: addr(A1),
        outcome: UpstreamOutcome::Malformed,
    });
    assert_eq!(run.zq.poll_timeout(), ends, "still waiting for A2");
    run.arrive(from(A2, answer()));
    assert_eq!(run.done_from(), addr(A2));
}

/// An answer at the name without the type asked is lame: next server.
#[test]
fn lame_answers_are_classified_once() {
    let mut run = Run::new(&[A1, A2], ms(400));
    run.send(A1);
    let mut lame = response(ResponseCode::NoError, true);
    lame.answers.push(Record::from_rdata(
        n("www.example.lab."),
        60,
        RData::NS(NS(n("ns.example.lab."))),
    ));
    run.arrive(from(A1, lame));
    run.send(A2);
    run.arrive(from(A2, answer()));
    assert_eq!(
        run.counted,
        vec![UpstreamOutcome::Lame, UpstreamOutcome::Answer]
    );
}

/// A truncated answer is fetched again over TCP from the same server,
/// within the question's deadline rather than the try's wait.
#[test]
fn truncation_asks_for_tcp() {
    let mut run = Run::new(&[A1, A2], ms(400));
    run.send(A1);
    run.at(ms(20));
    run.arrive(Input::Truncated {
        from: addr(A1),
        oversized: false,
    });
    assert_eq!(run.zq.poll_timeout(), None, "no UDP wait during TCP");
    assert_eq!(
        run.transmit(),
        Some(Transmit::Tcp {
            server: addr(A1),
            until: run.start + limits::UPSTREAM_QUESTION_DEADLINE
        })
    );
    assert_eq!(run.transmit(), None, "one refetch");
    run.at(ms(60));
    run.arrive(from(A1, answer()));
    assert_eq!(run.done_from(), addr(A1));
    assert_eq!(run.counted, vec![UpstreamOutcome::Answer]);
    assert!(run.limits.is_empty());
}

/// An oversized UDP answer is counted (and the payload limit noted)
/// once its TCP refetch answered.
#[test]
fn oversized_answers_are_counted_after_tcp() {
    let mut run = Run::new(&[A1], ms(400));
    run.send(A1);
    run.arrive(Input::Truncated {
        from: addr(A1),
        oversized: true,
    });
    assert!(matches!(run.transmit(), Some(Transmit::Tcp { .. })));
    run.arrive(from(A1, answer()));
    assert_eq!(
        run.counted,
        vec![UpstreamOutcome::OversizedUdp, UpstreamOutcome::Answer]
    );
    assert_eq!(run.limits, vec![Limit::EdnsUdpPayload]);
}

/// A failed TCP refetch fails the server; the question goes on.
#[test]
fn a_failed_refetch_fails_the_server() {
    let mut run = Run::new(&[A1, A2], ms(400));
    run.send(A1);
    run.arrive(Input::Truncated {
        from: addr(A1),
        oversized: true,
    });
    assert!(matches!(run.transmit(), Some(Transmit::Tcp { .. })));
    run.arrive(Input::Failed {
        from: addr(A1),
        outcome: UpstreamOutcome::NetworkError,
    });
    run.send(A2);
    assert_eq!(run.counted, vec![UpstreamOutcome::NetworkError]);
}

/// A send that fails counts as that server's failure.
#[test]
fn a_failed_send_moves_on() {
    let mut run = Run::new(&[A1, A2], ms(400));
    assert!(matches!(run.transmit(), Some(Transmit::Udp { .. })));
    run.zq
        .handle_sent(run.now, Err(UpstreamOutcome::NetworkError));
    run.drain();
    assert_eq!(run.zq.poll_timeout(), None);
    run.send(A2);
    run.arrive(from(A2, answer()));
    assert_eq!(run.done_from(), addr(A2));
}

/// At most `MAX_UPSTREAM_TRIES` sends of one question.
#[test]
fn tries_are_bounded() {
    let mut run = Run::new(&[A1], limits::UPSTREAM_TIMEOUT_MIN);
    for _ in 0..limits::MAX_UPSTREAM_TRIES {
        run.send(A1);
        run.time_out();
    }
    assert!(run.now < run.start + limits::UPSTREAM_QUESTION_DEADLINE);
    assert_eq!(run.transmit(), None);
    let (zone_down, tries) = run.failed();
    assert!(zone_down, "the only server is failing");
    assert_eq!(tries.len(), limits::MAX_UPSTREAM_TRIES);
    assert!(run.limits.is_empty());
}

/// No try starts past the question's deadline, and the limit is noted;
/// a try never waits past it.
#[test]
fn the_question_deadline_bounds_every_try() {
    let mut run = Run::new(&[A1, A2], limits::UPSTREAM_TIMEOUT_MAX);
    run.send(A1);
    assert_eq!(run.time_out(), limits::UPSTREAM_TIMEOUT_MAX);
    run.send(A2);
    assert_eq!(run.time_out(), limits::UPSTREAM_QUESTION_DEADLINE);
    assert_eq!(run.transmit(), None);
    assert_eq!(run.limits, vec![Limit::UpstreamQuestionDeadline]);
    assert_eq!(run.counted.len(), 2);
}

/// A failing server already asked is retried only with its probe slot;
/// another question holding it means this one skips the server.
#[test]
fn failing_servers_are_retried_by_one_question() {
    let mut run = Run::new(&[A1, A2], ms(200));
    run.infra.probed_elsewhere.insert(addr(A1).ip());
    run.send(A1);
    run.time_out();
    run.send(A2);
    run.time_out();
    // A1 is failing now and its probe is held elsewhere: skipped, and A2
    // (failing too) is retried with its probe.
    run.send(A2);
    assert_eq!(run.infra.probes, vec![addr(A2).ip()]);
    assert!(run.counted.contains(&UpstreamOutcome::ProbeBusy));
    run.arrive(from(A2, answer()));
    assert_eq!(run.done_from(), addr(A2));
}

/// Timeouts alone, with a server not known to be failing, are no
/// zone-level evidence.
#[test]
fn silence_from_a_healthy_server_is_not_zone_down() {
    let mut run = Run::new(&[A1, A2], limits::UPSTREAM_TIMEOUT_MAX);
    run.send(A1);
    run.time_out();
    run.send(A2);
    run.time_out();
    run.infra.failing.clear();
    assert_eq!(run.transmit(), None);
    let (zone_down, _) = run.failed();
    assert!(!zone_down);
}

#[test]
fn no_servers_no_tries() {
    let mut run = Run::new(&[], ms(400));
    assert_eq!(run.transmit(), None);
    let (zone_down, tries) = run.failed();
    assert!(!zone_down);
    assert!(tries.is_empty());
}

/// What arrives with no try in flight is not used.
#[test]
fn nothing_is_taken_before_a_send() {
    let mut run = Run::new(&[A1], ms(400));
    run.arrive(from(A1, answer()));
    assert!(run.end.is_none());
    run.send(A1);
    run.arrive(from(A1, answer()));
    assert_eq!(run.done_from(), addr(A1));
}
