//! A stub client: one question to a resolver, and a dig-like rendering of
//! the answer with its EDEs. Used by `lastgood query`, the demo, the
//! container scenario (scratch images have no dig) and the tests.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::ede::{EDE_OPTION_CODE, Ede};
use crate::limits;

/// Query flags a client sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
    /// Use TCP from the start (UDP falls back to TCP on TC anyway).
    pub tcp: bool,
    pub timeout: Duration,
    /// Ask for the server's NSID (an empty NSID option, RFC 5001).
    pub nsid: bool,
    /// The question's class: IN, or CH for `id.server.` and the like.
    pub qclass: DNSClass,
}

impl Default for Flags {
    fn default() -> Self {
        Self {
            dnssec_ok: true,
            checking_disabled: false,
            tcp: false,
            timeout: Duration::from_secs(5),
            nsid: false,
            qclass: DNSClass::IN,
        }
    }
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no answer from {server} within {timeout:?}")]
    Timeout {
        server: SocketAddr,
        timeout: Duration,
    },
    #[error("{server}: {source}")]
    Io {
        server: SocketAddr,
        source: std::io::Error,
    },
    #[error("{server}: answer does not parse: {message}")]
    Malformed { server: SocketAddr, message: String },
    #[error("encoding the query: {0}")]
    Encode(String),
}

/// Ask `server` one question.
pub async fn query(
    server: SocketAddr,
    name: &Name,
    qtype: RecordType,
    flags: Flags,
) -> Result<Message, ClientError> {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.metadata.checking_disabled = flags.checking_disabled;
    let mut question = Query::query(name.clone(), qtype);
    question.set_query_class(flags.qclass);
    msg.add_query(question);
    let mut edns = Edns::new();
    edns.set_max_payload(limits::EDNS_UDP_PAYLOAD);
    edns.set_dnssec_ok(flags.dnssec_ok);
    if flags.nsid {
        edns.options_mut().insert(EdnsOption::Unknown(
            crate::server::wire::NSID_OPTION_CODE,
            Vec::new(),
        ));
    }
    msg.set_edns(edns);
    let bytes = msg
        .to_vec()
        .map_err(|e| ClientError::Encode(e.to_string()))?;
    let io = |source| ClientError::Io { server, source };
    let exchange = async {
        if !flags.tcp {
            let bind = if server.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = UdpSocket::bind(bind).await.map_err(io)?;
            sock.connect(server).await.map_err(io)?;
            sock.send(&bytes).await.map_err(io)?;
            let mut buf = vec![0u8; limits::MAX_MESSAGE_SIZE];
            loop {
                let n = sock.recv(&mut buf).await.map_err(io)?;
                let data = buf.get(..n).unwrap_or_default();
                let resp = Message::from_vec(data).map_err(|e| ClientError::Malformed {
                    server,
                    message: e.to_string(),
                })?;
                if resp.metadata.id != msg.metadata.id {
                    continue;
                }
                if !resp.metadata.truncation {
                    return Ok(resp);
                }
                break;
            }
        }
        let mut stream = TcpStream::connect(server).await.map_err(io)?;
        let len =
            u16::try_from(bytes.len()).map_err(|_| ClientError::Encode("query too long".into()))?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed).await.map_err(io)?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.map_err(io)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.map_err(io)?;
        Message::from_vec(&buf).map_err(|e| ClientError::Malformed {
            server,
            message: e.to_string(),
        })
    };
    tokio::time::timeout(flags.timeout, exchange)
        .await
        .map_err(|_| ClientError::Timeout {
            server,
            timeout: flags.timeout,
        })?
}

/// EDE (code, text) pairs carried by a response.
pub fn edes(msg: &Message) -> Vec<(u16, String)> {
    let Some(edns) = &msg.edns else {
        return Vec::new();
    };
    edns.options()
        .options
        .iter()
        .filter_map(|(_, opt)| match opt {
            EdnsOption::Unknown(code, data) if *code == EDE_OPTION_CODE => Ede::decode(data),
            _ => None,
        })
        .collect()
}

/// The NSID a response carries (RFC 5001), if any.
pub fn nsid(msg: &Message) -> Option<Vec<u8>> {
    msg.edns
        .as_ref()?
        .options()
        .options
        .iter()
        .find_map(|(_, opt)| match opt {
            EdnsOption::NSID(payload) => Some(payload.as_ref().to_vec()),
            EdnsOption::Unknown(code, data) if *code == crate::server::wire::NSID_OPTION_CODE => {
                Some(data.clone())
            }
            _ => None,
        })
}

/// A dig-like rendering: header flags, EDEs, NSID, then the sections.
pub fn render(msg: &Message) -> String {
    let m = &msg.metadata;
    let mut out = String::new();
    let mut flags = vec!["qr"];
    for (set, name) in [
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
        (m.authentic_data, "ad"),
        (m.checking_disabled, "cd"),
    ] {
        if set {
            flags.push(name);
        }
    }
    let status = crate::server::wire::rcode_label(m.response_code);
    let _ = writeln!(
        out,
        ";; status: {status}, id: {}, flags: {}",
        m.id,
        flags.join(" ")
    );
    for (code, text) in edes(msg) {
        let _ = writeln!(out, ";; EDE: {code}: {text}");
    }
    if let Some(id) = nsid(msg) {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(
            out,
            ";; NSID: {hex} (\"{}\")",
            String::from_utf8_lossy(&id).escape_default()
        );
    }
    for (title, records) in [
        ("ANSWER", &msg.answers),
        ("AUTHORITY", &msg.authorities),
        ("ADDITIONAL", &msg.additionals),
    ] {
        if records.is_empty() {
            continue;
        }
        let _ = writeln!(out, ";; {title} SECTION:");
        for r in records {
            let _ = writeln!(out, "{r}");
        }
    }
    out
}
