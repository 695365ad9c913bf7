//! Faults a lab zone can be switched into at runtime.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How a zone misbehaves. Applies to every query answered from that zone.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// Normal, correctly signed service.
    #[default]
    None,
    /// No answer at all (the client times out).
    Drop,
    /// Answer SERVFAIL.
    ServFail,
    /// Answer REFUSED.
    Refused,
    /// Random bytes of a plausible length, starting with the query ID.
    Garbage,
    /// A correct answer, sent after this delay.
    Slow(Duration),
    /// Data signed by a new ZSK that the DNSKEY set does not publish (the
    /// .de incident of 2026-05-05).
    UnpublishedZsk,
    /// A new KSK replaces the old one in the DNSKEY set and signs it; the
    /// parent's DS still names the old KSK.
    KskWithoutDs,
    /// Every signature of the zone expired yesterday.
    ExpiredRrsigs,
    /// Every data signature has a flipped byte (DNSKEY set still valid).
    BadSignatures,
    // --- Attack zones (issue 7). Each is answered correctly enough to
    // reach the resolver's limits; see ARCHITECTURE.md, "Attack zones".
    /// KeyTrap (CVE-2023-50387): the DNSKEY set also publishes
    /// [`KEYTRAP_FAKE_KEYS`] crafted keys whose key tags collide with the
    /// real KSK's and ZSK's, and every RRset carries [`KEYTRAP_FAKE_SIGS`]
    /// RRSIGs naming the colliding tag that verify under no key, before
    /// its real one.
    KeyTrap,
    /// The zone is re-signed with NSEC3 (whatever its usual denial) using
    /// this many extra iterations (CVE-2023-50868; RFC 9276 says 0).
    Nsec3Iterations(u16),
    /// NXNS (CVE-2020-12662): a name below the zone that does not exist
    /// (and is not under `nxns.ZONE`) gets a referral to a child at its
    /// first label below the apex, served by this many NS names without
    /// glue, `nsI.LABEL.nxns.ZONE`, each of which needs its own lookup
    /// (and answers NXDOMAIN).
    FanOut(u16),
    /// Like [`Fault::FanOut`], but the NS names lie inside the child,
    /// `nsI.LABEL.ZONE`, and come without glue: each lookup of one meets
    /// the same referral again, a tree of nested glueless lookups.
    GluelessLoop(u16),
    /// A name below the zone that does not exist gets a referral to
    /// itself, served by `ns.NAME` with glue pointing back at this server:
    /// a resolver that minimises QNAMEs (RFC 9156) is led one label deeper
    /// per referral, as far as the name goes.
    DeepReferral,
    /// The zone also holds `loop-a CNAME loop-b` and `loop-b CNAME loop-a`.
    CnameLoop,
    /// The zone also holds `chain-0 CNAME chain-1` ... `chain-N-1 CNAME
    /// chain-N`, and `chain-N A 192.0.2.77`: N hops.
    CnameChain(u16),
    /// The zone also holds `big TXT` with [`OVERSIZE_TXT_RECORDS`] records
    /// of 255 bytes (close to 64 KiB with its RRSIG), and UDP answers
    /// ignore the payload size the client advertised (no TC).
    Oversize,
    /// Before each UDP answer, a forged one with a poisoned A record and
    /// the wrong message ID.
    SpoofId,
    /// Before each UDP answer, a forged one with the right ID but another
    /// question (a name one label longer).
    SpoofQuestion,
    /// Before each UDP answer, a forged one with the right ID and question
    /// from another source port of the same address.
    SpoofSource,
    /// Every answer also carries out-of-bailiwick records: an A record of
    /// [`POISON_NAME`] in the answer and additional sections, and an NS of
    /// its zone pointing to `ns.evil.` with glue in the authority and
    /// additional sections.
    Poison,
    // --- Odd authorities (issue 15).
    /// A question whose correct answer is NODATA (an empty non-terminal
    /// included) is answered the broken way given: the middlebox and
    /// load-balancer breakage QNAME minimisation meets (RFC 9156 §2.3).
    /// Every other answer is correct.
    BrokenNodata(NodataFault),
    /// DNAME answers come without the synthesised CNAME (RFC 6672 §3.1
    /// lets the resolver synthesise it).
    DnameWithoutCname,
}

/// How [`Fault::BrokenNodata`] answers a NODATA question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodataFault {
    ServFail,
    Refused,
    FormErr,
    NotImp,
    /// No answer at all.
    Drop,
    /// An empty answer without AA and without SOA (a lame server).
    Lame,
}

impl NodataFault {
    const ALL: [(NodataFault, &'static str); 6] = [
        (NodataFault::ServFail, "servfail"),
        (NodataFault::Refused, "refused"),
        (NodataFault::FormErr, "formerr"),
        (NodataFault::NotImp, "notimp"),
        (NodataFault::Drop, "drop"),
        (NodataFault::Lame, "lame"),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("servfail", |(_, n)| n)
    }
}

/// Crafted DNSKEYs published under [`Fault::KeyTrap`] (half collide with
/// the KSK's tag, half with the ZSK's).
pub const KEYTRAP_FAKE_KEYS: usize = 16;
/// Unverifiable RRSIGs added to each RRset under [`Fault::KeyTrap`].
pub const KEYTRAP_FAKE_SIGS: usize = 16;
/// 255-byte TXT strings at `big.ZONE` under [`Fault::Oversize`]: 230 of
/// them make a message of about 62 KiB, under the 64 KiB TCP limit.
pub const OVERSIZE_TXT_RECORDS: usize = 230;
/// The address every forged or poisoned A record carries.
pub const POISON_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(192, 0, 2, 66);
/// The name [`Fault::Poison`] injects records for (a name of another zone,
/// for any faulted zone other than `example.lab.` and its parents).
pub const POISON_NAME: &str = "host1.example.lab.";

impl Fault {
    /// Whether the zone must be signed differently under this fault.
    pub fn needs_resigning(&self) -> bool {
        matches!(
            self,
            Fault::UnpublishedZsk
                | Fault::KskWithoutDs
                | Fault::ExpiredRrsigs
                | Fault::BadSignatures
                | Fault::KeyTrap
                | Fault::Nsec3Iterations(_)
                | Fault::CnameLoop
                | Fault::CnameChain(_)
                | Fault::Oversize
        )
    }
}

/// Every fault name, for `--help` and parse errors.
pub const FAULT_NAMES: &str = "none, drop, servfail, refused, garbage, slow:MS, unpublished-zsk, \
    ksk-without-ds, expired-rrsigs, bad-signatures, keytrap, nsec3-iterations:N, fan-out:N, \
    glueless-loop:N, deep-referral, cname-loop, cname-chain:N, oversize, spoof-id, spoof-question, spoof-source, poison, \
    dname-without-cname, nodata-servfail, nodata-refused, nodata-formerr, nodata-notimp, nodata-drop, nodata-lame";

/// Builds a fault that takes a count (`fan-out:N` and the like).
type CountedFault = fn(u16) -> Fault;

/// A fault name that [`Fault::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultParseError {
    #[error("unknown fault {0:?} ({FAULT_NAMES})")]
    Unknown(String),
    #[error("bad delay in {text:?}: expected slow:MILLISECONDS")]
    BadDelay { text: String },
    #[error("bad count in {text:?}: expected {fault}:N with N from 0 to 65535")]
    BadCount { text: String, fault: &'static str },
}

impl FromStr for Fault {
    type Err = FaultParseError;

    /// `none`, `drop`, `servfail`, `refused`, `garbage`, `slow:250` (ms),
    /// `unpublished-zsk`, `ksk-without-ds`, `expired-rrsigs`, and the
    /// attack zones (see [`FAULT_NAMES`]).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        if let Some(ms) = lower.strip_prefix("slow:") {
            let ms: u64 = ms.parse().map_err(|_| FaultParseError::BadDelay {
                text: text.to_owned(),
            })?;
            return Ok(Fault::Slow(Duration::from_millis(ms)));
        }
        let counted: [(&'static str, CountedFault); 4] = [
            ("nsec3-iterations", Fault::Nsec3Iterations),
            ("fan-out", Fault::FanOut),
            ("glueless-loop", Fault::GluelessLoop),
            ("cname-chain", Fault::CnameChain),
        ];
        for (fault, make) in counted {
            if let Some(n) = lower
                .strip_prefix(fault)
                .and_then(|rest| rest.strip_prefix(':'))
            {
                let n: u16 = n.parse().map_err(|_| FaultParseError::BadCount {
                    text: text.to_owned(),
                    fault,
                })?;
                return Ok(make(n));
            }
        }
        if let Some(kind) = lower.strip_prefix("nodata-") {
            return NodataFault::ALL
                .iter()
                .find(|(_, n)| *n == kind)
                .map(|(f, _)| Fault::BrokenNodata(*f))
                .ok_or_else(|| FaultParseError::Unknown(text.to_owned()));
        }
        Ok(match lower.as_str() {
            "none" => Fault::None,
            "drop" => Fault::Drop,
            "servfail" => Fault::ServFail,
            "refused" => Fault::Refused,
            "garbage" => Fault::Garbage,
            "unpublished-zsk" => Fault::UnpublishedZsk,
            "ksk-without-ds" => Fault::KskWithoutDs,
            "expired-rrsigs" => Fault::ExpiredRrsigs,
            "bad-signatures" => Fault::BadSignatures,
            "keytrap" => Fault::KeyTrap,
            "deep-referral" => Fault::DeepReferral,
            "cname-loop" => Fault::CnameLoop,
            "oversize" => Fault::Oversize,
            "spoof-id" => Fault::SpoofId,
            "spoof-question" => Fault::SpoofQuestion,
            "spoof-source" => Fault::SpoofSource,
            "poison" => Fault::Poison,
            "dname-without-cname" => Fault::DnameWithoutCname,
            _ => return Err(FaultParseError::Unknown(text.to_owned())),
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::None => f.write_str("none"),
            Fault::Drop => f.write_str("drop"),
            Fault::ServFail => f.write_str("servfail"),
            Fault::Refused => f.write_str("refused"),
            Fault::Garbage => f.write_str("garbage"),
            Fault::Slow(d) => write!(f, "slow:{}", d.as_millis()),
            Fault::UnpublishedZsk => f.write_str("unpublished-zsk"),
            Fault::KskWithoutDs => f.write_str("ksk-without-ds"),
            Fault::ExpiredRrsigs => f.write_str("expired-rrsigs"),
            Fault::BadSignatures => f.write_str("bad-signatures"),
            Fault::KeyTrap => f.write_str("keytrap"),
            Fault::Nsec3Iterations(n) => write!(f, "nsec3-iterations:{n}"),
            Fault::FanOut(n) => write!(f, "fan-out:{n}"),
            Fault::GluelessLoop(n) => write!(f, "glueless-loop:{n}"),
            Fault::DeepReferral => f.write_str("deep-referral"),
            Fault::CnameLoop => f.write_str("cname-loop"),
            Fault::CnameChain(n) => write!(f, "cname-chain:{n}"),
            Fault::Oversize => f.write_str("oversize"),
            Fault::SpoofId => f.write_str("spoof-id"),
            Fault::SpoofQuestion => f.write_str("spoof-question"),
            Fault::SpoofSource => f.write_str("spoof-source"),
            Fault::Poison => f.write_str("poison"),
            Fault::BrokenNodata(kind) => write!(f, "nodata-{}", kind.name()),
            Fault::DnameWithoutCname => f.write_str("dname-without-cname"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;

    #[test]
    fn parse_display_round_trip() {
        for fault in [
            Fault::None,
            Fault::Drop,
            Fault::ServFail,
            Fault::Refused,
            Fault::Garbage,
            Fault::Slow(Duration::from_millis(250)),
            Fault::UnpublishedZsk,
            Fault::KskWithoutDs,
            Fault::ExpiredRrsigs,
            Fault::BadSignatures,
            Fault::KeyTrap,
            Fault::Nsec3Iterations(500),
            Fault::FanOut(20),
            Fault::GluelessLoop(5),
            Fault::DeepReferral,
            Fault::CnameLoop,
            Fault::CnameChain(15),
            Fault::Oversize,
            Fault::SpoofId,
            Fault::SpoofQuestion,
            Fault::SpoofSource,
            Fault::Poison,
            Fault::BrokenNodata(NodataFault::ServFail),
            Fault::BrokenNodata(NodataFault::Refused),
            Fault::BrokenNodata(NodataFault::FormErr),
            Fault::BrokenNodata(NodataFault::NotImp),
            Fault::BrokenNodata(NodataFault::Drop),
            Fault::BrokenNodata(NodataFault::Lame),
            Fault::DnameWithoutCname,
        ] {
            assert_eq!(fault.to_string().parse::<Fault>().unwrap(), fault);
        }
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            "bogus".parse::<Fault>(),
            Err(FaultParseError::Unknown(_))
        ));
        assert!(matches!(
            "slow:x".parse::<Fault>(),
            Err(FaultParseError::BadDelay { .. })
        ));
        assert!(matches!(
            "fan-out:lots".parse::<Fault>(),
            Err(FaultParseError::BadCount { .. })
        ));
        assert!(matches!(
            "nsec3-iterations:70000".parse::<Fault>(),
            Err(FaultParseError::BadCount { .. })
        ));
    }
}
