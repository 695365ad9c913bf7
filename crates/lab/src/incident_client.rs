//! `lastgood incident-client`: the client load of the incident replay
//! (issue 21). Several clients, each sending at a fixed rate (open loop:
//! a slow answer does not slow the stream), ask `www.CHILD.de-lab. A` for
//! children drawn from a Zipf distribution (rank r has weight 1/r^s over a
//! seeded permutation of all children), and with probability `new_share`
//! a name never asked before (`nN-K.CHILD.de-lab.`, which does not exist:
//! the correct answer is NXDOMAIN). The streams depend only on the seed,
//! so every resolver gets the same one.
//!
//! One CSV row per query: `unix_ms,client,qname,kind,seen,rcode,ad,ede,
//! latency_ms,outcome` where `seen` says whether the name had been asked
//! before the break (from the lab's `timeline.txt`), `ede` lists EDE codes
//! (`;`-separated) and `outcome` is `ok` (correct data), `stale` (correct
//! data with EDE 3 or 19), `servfail`, `timeout` or `wrong` (any other
//! rcode, or data that is not the child's).

use std::collections::HashSet;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use lastgood_resolver::client::{self, ClientError, Flags};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::scale::{child_address, child_name, parse_child_label};

/// EDE codes of a stale answer (RFC 8914: 3 Stale Answer, 19 Stale NXDOMAIN Answer).
pub const STALE_EDES: [u16; 2] = [3, 19];
/// Most clients.
pub const MAX_CLIENTS: usize = 256;
/// Most queries per second (all clients).
pub const MAX_RATE: u32 = 100_000;

/// Arguments of `lastgood incident-client`.
#[derive(Clone, Debug, clap::Args)]
pub struct ClientArgs {
    /// The resolver under test.
    #[arg(long)]
    pub server: SocketAddr,
    /// The incident lab's timeline.txt (the run ends at its `end`).
    #[arg(long)]
    pub timeline: PathBuf,
    /// Write the per-query CSV here.
    #[arg(long)]
    pub out: PathBuf,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Offered queries per second, all clients together.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Zipf exponent s (rank r has weight 1/r^s).
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    /// Share of queries for never-seen names.
    #[arg(long, default_value_t = 0.05)]
    pub new_share: f64,
    /// Signed children in the lab.
    #[arg(long, default_value_t = 2000)]
    pub signed: usize,
    /// Unsigned children in the lab.
    #[arg(long, default_value_t = 500)]
    pub unsigned: usize,
    /// Seed of the streams.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Per-query timeout (ms); a query without answer by then is `timeout`.
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
}

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum IncidentClientError {
    #[error("reading {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timeline {file} has no `{phase}` line")]
    Timeline { file: PathBuf, phase: &'static str },
    #[error("writing {file}: {source}")]
    Write {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("clients must be 1..={MAX_CLIENTS} (MAX_CLIENTS), rate 1..={MAX_RATE} (MAX_RATE)")]
    Bounds,
    #[error("no children to ask")]
    NoChildren,
}

/// The phase times of a timeline file (unix ms).
pub fn timeline_phase(text: &str, phase: &str) -> Option<u128> {
    text.lines().find_map(|line| {
        let (name, ms) = line.split_once(' ')?;
        (name == phase).then(|| ms.trim().parse().ok())?
    })
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The Zipf CDF over `n` ranks with exponent `s`.
pub fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|r| {
            acc += 1.0 / (r as f64).powf(s);
            acc
        })
        .collect();
    if acc > 0.0 {
        for c in &mut cdf {
            *c /= acc;
        }
    }
    cdf
}

/// The rank (0-based) whose CDF interval holds `u` in [0, 1).
pub fn zipf_rank(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c <= u)
        .min(cdf.len().saturating_sub(1))
}

/// What one answer means for a question.
pub fn classify(
    qname: &Name,
    new_name: bool,
    resp: &Result<hickory_proto::op::Message, ClientError>,
) -> &'static str {
    let msg = match resp {
        Ok(msg) => msg,
        Err(ClientError::Timeout { .. }) => return "timeout",
        Err(_) => return "wrong",
    };
    let rcode = msg.metadata.response_code;
    if rcode == ResponseCode::ServFail {
        return "servfail";
    }
    let stale = client::edes(msg)
        .iter()
        .any(|(code, _)| STALE_EDES.contains(code));
    let correct = if new_name {
        rcode == ResponseCode::NXDomain
    } else {
        let want = qname
            .iter()
            .nth(1)
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(parse_child_label)
            .map(|(signed, i)| child_address(signed, i));
        rcode == ResponseCode::NoError
            && want.is_some_and(|want| {
                msg.answers.iter().any(|r| {
                    r.record_type() == RecordType::A
                        && matches!(&r.data, RData::A(a) if IpAddr::V4(a.0) == IpAddr::V4(want))
                })
            })
    };
    match (correct, stale) {
        (true, true) => "stale",
        (true, false) => "ok",
        (false, _) => "wrong",
    }
}

/// Run the clients until the timeline's end; write the CSV.
pub async fn run(args: ClientArgs) -> Result<(), IncidentClientError> {
    if args.clients == 0 || args.clients > MAX_CLIENTS || args.rate == 0 || args.rate > MAX_RATE {
        return Err(IncidentClientError::Bounds);
    }
    let text =
        std::fs::read_to_string(&args.timeline).map_err(|source| IncidentClientError::Read {
            file: args.timeline.clone(),
            source,
        })?;
    let phase = |phase: &'static str| {
        timeline_phase(&text, phase).ok_or_else(|| IncidentClientError::Timeline {
            file: args.timeline.clone(),
            phase,
        })
    };
    let break_ms = phase("break")?;
    let end_ms = phase("end")?;
    let mut children: Vec<String> = (0..args.signed)
        .map(|i| child_name(true, i))
        .chain((0..args.unsigned).map(|i| child_name(false, i)))
        .collect();
    if children.is_empty() {
        return Err(IncidentClientError::NoChildren);
    }
    children.shuffle(&mut StdRng::seed_from_u64(args.seed));
    let children = Arc::new(children);
    let cdf = Arc::new(zipf_cdf(children.len(), args.zipf));
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let period = Duration::from_secs_f64(args.clients as f64 / f64::from(args.rate));
    let flags = Flags {
        timeout: Duration::from_millis(args.timeout_ms),
        ..Flags::default()
    };
    let stop = Instant::now()
        + Duration::from_millis(u64::try_from(end_ms.saturating_sub(unix_ms())).unwrap_or(0));
    let mut tasks = Vec::new();
    for id in 0..args.clients {
        let (children, cdf, seen, tx) = (
            Arc::clone(&children),
            Arc::clone(&cdf),
            Arc::clone(&seen),
            tx.clone(),
        );
        let server = args.server;
        let new_share = args.new_share;
        let mut rng = StdRng::seed_from_u64(args.seed.wrapping_add(1 + id as u64));
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            let mut seq = 0u64;
            let mut inflight = tokio::task::JoinSet::new();
            while Instant::now() < stop {
                tick.tick().await;
                while inflight.try_join_next().is_some() {}
                let rank = zipf_rank(&cdf, rng.random());
                let Some(child) = children.get(rank) else {
                    continue;
                };
                let new_name = rng.random::<f64>() < new_share;
                let qname = if new_name {
                    seq += 1;
                    format!("n{id}-{seq}.{child}")
                } else {
                    format!("www.{child}")
                };
                let sent = unix_ms();
                let was_seen = match seen.lock() {
                    Ok(mut set) => {
                        if sent < break_ms {
                            set.insert(qname.clone());
                            true
                        } else {
                            set.contains(&qname)
                        }
                    }
                    Err(_) => false,
                };
                let tx = tx.clone();
                inflight.spawn(async move {
                    let Ok(name) = Name::from_ascii(&qname) else {
                        return;
                    };
                    let started = Instant::now();
                    let resp = client::query(server, &name, RecordType::A, flags).await;
                    let latency = started.elapsed().as_secs_f64() * 1000.0;
                    let outcome = classify(&name, new_name, &resp);
                    let (rcode, ad, ede) = match &resp {
                        Ok(msg) => (
                            msg.metadata.response_code.to_string(),
                            u8::from(msg.metadata.authentic_data),
                            client::edes(msg)
                                .iter()
                                .map(|(c, _)| c.to_string())
                                .collect::<Vec<_>>()
                                .join(";"),
                        ),
                        Err(_) => ("-".to_owned(), 0, String::new()),
                    };
                    let kind = if new_name { "new" } else { "www" };
                    let _ = tx.send(format!(
                        "{sent},{id},{qname},{kind},{},{rcode},{ad},{ede},{latency:.3},{outcome}\n",
                        u8::from(was_seen)
                    ));
                });
            }
            while inflight.join_next().await.is_some() {}
        }));
    }
    drop(tx);
    let file = std::fs::File::create(&args.out).map_err(|source| IncidentClientError::Write {
        file: args.out.clone(),
        source,
    })?;
    let mut out = std::io::BufWriter::new(file);
    let write_err = |source| IncidentClientError::Write {
        file: args.out.clone(),
        source,
    };
    out.write_all(b"unix_ms,client,qname,kind,seen,rcode,ad,ede,latency_ms,outcome\n")
        .map_err(write_err)?;
    let mut rows = 0u64;
    while let Some(row) = rx.recv().await {
        out.write_all(row.as_bytes()).map_err(write_err)?;
        rows += 1;
    }
    for task in tasks {
        let _ = task.await;
    }
    out.flush().map_err(write_err)?;
    println!(
        "incident-client: {rows} queries to {} written to {}",
        args.server,
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn zipf_favours_low_ranks() {
        let cdf = zipf_cdf(2500, 1.0);
        assert!((cdf.last().unwrap() - 1.0).abs() < 1e-9);
        // H(2500) ~ 8.4: rank 1 has ~12 % of the mass.
        assert!(cdf[0] > 0.11 && cdf[0] < 0.13, "{}", cdf[0]);
        assert_eq!(zipf_rank(&cdf, 0.0), 0);
        assert_eq!(zipf_rank(&cdf, 0.999_999_999), 2499);
        let mut rng = StdRng::seed_from_u64(3);
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            let r = zipf_rank(&cdf, rng.random());
            if r < 3 {
                counts[r] += 1;
            }
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[2], "{counts:?}");
    }

    #[test]
    fn timeline_lines_parse() {
        let text = "start 10\nbreak 20\nend 30\n";
        assert_eq!(timeline_phase(text, "break"), Some(20));
        assert_eq!(timeline_phase(text, "nta"), None);
    }
}
