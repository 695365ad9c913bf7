//! The replay network: scripted authorities keyed by server address,
//! reached through the resolver's `Transport` boundary without a socket,
//! on tokio's paused clock. Every exchange is logged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use lastgood_lab::Lab;
use lastgood_resolver::resolve::transport::{BoxFuture, Question, QuestionSpec, Transport};
use lastgood_resolver::resolve::upstream::{self, Arrival, Datagram, UpstreamError};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How one scripted server answers.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // test-only; one Resolver variant per scenario
pub enum Authority {
    /// The in-process lab's server at this address (its faults apply);
    /// nothing where no lab serves.
    Lab,
    /// Authoritative answers from a table: (name, type) -> records;
    /// NXDOMAIN for a name not in it, NODATA for another type.
    Table(Arc<Table>),
    /// Never answers.
    Nothing,
    /// Answers every query with this rcode.
    Rcode(ResponseCode),
    /// Answers with bytes that start with the query's ID and do not parse.
    Garbage,
    /// Answers as the inner authority, after this much (virtual) time.
    Late(Duration, Box<Authority>),
    /// Another resolver, answering as its server would (a forwarder).
    Resolver(
        Arc<lastgood_resolver::resolve::Resolver>,
        lastgood_resolver::metrics::Metrics,
    ),
}

/// A small authoritative table.
#[derive(Debug, Default)]
pub struct Table {
    records: HashMap<(Name, RecordType), Vec<Record>>,
}

impl Table {
    pub fn with(mut self, record: Record) -> Self {
        self.records
            .entry((record.name.to_lowercase(), record.record_type()))
            .or_default()
            .push(record);
        self
    }

    fn answer(&self, query: &Message) -> Message {
        let mut resp = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        resp.metadata.authoritative = true;
        resp.metadata.recursion_desired = query.metadata.recursion_desired;
        resp.metadata.checking_disabled = query.metadata.checking_disabled;
        let Some(q) = query.queries.first() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return resp;
        };
        resp.add_query(q.clone());
        let name = q.name().to_lowercase();
        match self.records.get(&(name.clone(), q.query_type())) {
            Some(records) => {
                for r in records {
                    resp.add_answer(r.clone());
                }
            }
            None if self.records.keys().any(|(n, _)| *n == name) => {}
            None => resp.metadata.response_code = ResponseCode::NXDomain,
        }
        resp
    }
}

/// One exchange as the harness saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Virtual time since the harness started.
    pub at: Duration,
    pub server: SocketAddr,
    pub qname: Name,
    pub qtype: RecordType,
    pub rd: bool,
    /// Over TCP (a refetch after TC or an oversized UDP answer).
    pub tcp: bool,
}

/// The network: authorities, the exchange log, seeded query IDs.
pub struct Net {
    start: Instant,
    lab: Option<Arc<Lab>>,
    /// More labs (standalone zones) answering at their own addresses.
    more_labs: Mutex<Vec<Arc<Lab>>>,
    authorities: Mutex<HashMap<SocketAddr, Authority>>,
    log: Mutex<Vec<Exchange>>,
    /// xorshift state for query IDs (seeded: runs repeat exactly).
    rng: Mutex<u64>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("lab", &self.lab.is_some())
            .field("authorities", &self.authorities)
            .finish()
    }
}

impl Net {
    /// A network where every address the lab serves answers as the lab
    /// (if given), and scripted authorities override addresses.
    pub fn new(lab: Option<Arc<Lab>>, seed: u64) -> Arc<Net> {
        Arc::new(Net {
            start: Instant::now(),
            lab,
            more_labs: Mutex::new(Vec::new()),
            authorities: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            rng: Mutex::new(seed | 1),
        })
    }

    /// Let `lab` answer at its addresses too.
    pub fn add_lab(&self, lab: Arc<Lab>) {
        self.more_labs.lock().unwrap().push(lab);
    }

    /// The lab serving `addr`, if any.
    fn lab_at(&self, addr: SocketAddr) -> Option<Arc<Lab>> {
        let more = self.more_labs.lock().unwrap();
        self.lab
            .iter()
            .chain(more.iter())
            .find(|lab| lab.addresses().contains(&addr))
            .cloned()
    }

    /// Script the server at `addr`.
    pub fn set(&self, addr: SocketAddr, authority: Authority) {
        self.authorities.lock().unwrap().insert(addr, authority);
    }

    /// Every exchange so far.
    pub fn log(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }

    /// Exchanges so far with the server at `addr`.
    pub fn sent_to(&self, addr: SocketAddr) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.server == addr)
            .count()
    }

    pub fn next_id(&self) -> u16 {
        let mut s = self.rng.lock().unwrap();
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s >> 16) as u16
    }

    fn authority(&self, addr: SocketAddr) -> Authority {
        match self.authorities.lock().unwrap().get(&addr) {
            Some(a) => a.clone(),
            None => Authority::Lab,
        }
    }

    fn record(&self, server: SocketAddr, query: &Message, tcp: bool) {
        let Some(q) = query.queries.first() else {
            return;
        };
        self.log.lock().unwrap().push(Exchange {
            at: Instant::now().saturating_duration_since(self.start),
            server,
            qname: q.name().clone(),
            qtype: q.query_type(),
            rd: query.metadata.recursion_desired,
            tcp,
        });
    }

    /// What `server` sends back for `bytes` (`None`: nothing).
    fn reply<'a>(
        self: &'a Arc<Self>,
        authority: Authority,
        server: SocketAddr,
        query: &'a Message,
        bytes: &'a [u8],
        udp: bool,
    ) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match authority {
                Authority::Lab => match self.lab_at(server) {
                    Some(lab) => lab.reply(server, bytes, udp).await,
                    None => None,
                },
                Authority::Table(table) => {
                    let resp = table.answer(query);
                    let bytes = resp.to_vec().ok()?;
                    let limit = usize::from(lastgood_resolver::limits::EDNS_UDP_PAYLOAD);
                    if udp && bytes.len() > limit {
                        return resp.truncate().to_vec().ok();
                    }
                    Some(bytes)
                }
                Authority::Nothing => None,
                Authority::Rcode(rcode) => {
                    let mut resp =
                        Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
                    if let Some(q) = query.queries.first() {
                        resp.add_query(q.clone());
                    }
                    resp.metadata.response_code = rcode;
                    resp.to_vec().ok()
                }
                Authority::Garbage => {
                    let mut bytes = query.metadata.id.to_be_bytes().to_vec();
                    bytes.extend_from_slice(&[0x84, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
                    Some(bytes)
                }
                Authority::Resolver(resolver, metrics) => {
                    use lastgood_resolver::query::QueryHandler;
                    use lastgood_resolver::server::wire::{self, Parsed};
                    match wire::parse_request(bytes, &metrics) {
                        Parsed::Query(query, info) => {
                            let answer = resolver.answer(query).await;
                            let limit = if udp {
                                wire::udp_limit(&info)
                            } else {
                                usize::from(u16::MAX)
                            };
                            Some(wire::encode_response(&info, &answer, limit))
                        }
                        Parsed::Reply(bytes) => Some(bytes),
                        Parsed::Drop(_) => None,
                    }
                }
                Authority::Late(delay, inner) => {
                    tokio::time::sleep(delay).await;
                    self.reply(*inner, server, query, bytes, udp).await
                }
            }
        })
    }
}

/// The resolver's transport on this network.
#[derive(Debug, Clone)]
pub struct Replayed(pub Arc<Net>);

impl Transport for Replayed {
    fn open<'a>(
        &'a self,
        question: &'a QuestionSpec,
    ) -> BoxFuture<'a, Result<Box<dyn Question>, UpstreamError>> {
        Box::pin(async move {
            let mut query = upstream::build_query(self.0.next_id(), &question.name, question.qtype);
            query.metadata.recursion_desired = question.recursion_desired;
            let bytes = query
                .to_vec()
                .map_err(|e| UpstreamError::Encode(e.to_string()))?;
            let (tx, rx) = mpsc::unbounded_channel();
            Ok(Box::new(ReplayQuestion {
                net: Arc::clone(&self.0),
                query,
                bytes,
                asked: Vec::new(),
                tx,
                rx,
            }) as Box<dyn Question>)
        })
    }
}

/// One outstanding question on the replay network.
struct ReplayQuestion {
    net: Arc<Net>,
    query: Message,
    bytes: Vec<u8>,
    asked: Vec<SocketAddr>,
    tx: mpsc::UnboundedSender<(SocketAddr, Vec<u8>)>,
    rx: mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
}

impl Question for ReplayQuestion {
    fn send(&mut self, server: SocketAddr) -> BoxFuture<'_, Result<(), UpstreamError>> {
        if !self.asked.contains(&server) {
            self.asked.push(server);
        }
        let net = Arc::clone(&self.net);
        let query = self.query.clone();
        let bytes = self.bytes.clone();
        let tx = self.tx.clone();
        net.record(server, &query, false);
        // The server answers in its own task: a late answer arrives while
        // the question waits for another server.
        tokio::spawn(async move {
            let authority = net.authority(server);
            let reply = net.reply(authority, server, &query, &bytes, true).await;
            if let Some(reply) = reply {
                let _ = tx.send((server, reply));
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn recv_until<'a>(
        &'a mut self,
        deadline: Instant,
        spoof_ignored: &'a (dyn Fn() + Sync),
    ) -> BoxFuture<'a, Arrival> {
        Box::pin(async move {
            loop {
                let Ok(Some((from, data))) =
                    tokio::time::timeout_at(deadline, self.rx.recv()).await
                else {
                    return Arrival::Timeout;
                };
                match upstream::read_datagram(&self.query, &self.asked, from, &data) {
                    Datagram::Answer(message) => return Arrival::Answer { from, message },
                    Datagram::Failed(error) => return Arrival::Failed { from, error },
                    Datagram::Ignored => spoof_ignored(),
                    Datagram::Refetch { oversized } => {
                        return Arrival::Truncated { from, oversized };
                    }
                }
            }
        })
    }

    fn refetch(&mut self, from: SocketAddr, until: Instant) -> BoxFuture<'_, Arrival> {
        Box::pin(self.fetch_tcp(from, until))
    }
}

impl ReplayQuestion {
    async fn fetch_tcp(&self, from: SocketAddr, until: Instant) -> Arrival {
        let authority = self.net.authority(from);
        self.net.record(from, &self.query, true);
        let reply = tokio::time::timeout_at(
            until,
            self.net
                .reply(authority, from, &self.query, &self.bytes, false),
        )
        .await;
        let bytes = match reply {
            Ok(Some(bytes)) => bytes,
            _ => {
                return Arrival::Failed {
                    from,
                    error: UpstreamError::Timeout(Duration::ZERO),
                };
            }
        };
        match Message::from_vec(&bytes) {
            Ok(message) if upstream::matches(&self.query, &message) => {
                Arrival::Answer { from, message }
            }
            Ok(_) => Arrival::Failed {
                from,
                error: UpstreamError::Malformed("TCP answer does not match the question".into()),
            },
            Err(e) => Arrival::Failed {
                from,
                error: UpstreamError::Malformed(e.to_string()),
            },
        }
    }
}
