//! Answers decided without (more) recursion: questions with RD=0, answered
//! from the cache only, and the RFC 8509 root key sentinel.
//!
//! - **RD=0** (RFC 1034 §4.3.1, as Unbound and BIND do): the cached answer
//!   (fresh entries of the validated view, following cached CNAMEs), else a
//!   referral to the deepest fresh cached delegation (NS in AUTHORITY, their
//!   addresses in ADDITIONAL), else to the root from the hints. Never an
//!   upstream query, never stale data, never AD on a referral.
//! - **Sentinel** (RFC 8509 §3.2, as Unbound, BIND and Knot Resolver): for an
//!   A/AAAA question whose first label is `root-key-sentinel-is-ta-NNNNN` or
//!   `root-key-sentinel-not-ta-NNNNN`, from a client with CD=0, once the
//!   answer validated as Secure: SERVFAIL when `is-ta` names a key tag that
//!   is not among the root trust anchor's keys, or `not-ta` one that is;
//!   otherwise the answer as resolved.

use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, NS};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::cache::{CacheKey, Entry, Freshness, StepKind, View};
use crate::ede::{Ede, EdeCode};
use crate::limits;
use crate::query::{Answer, ClientQuery, Tier};
use crate::resolve::Resolver;
use crate::resolve::servers::Delegation;

/// A sentinel label of the question (RFC 8509 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sentinel {
    /// `root-key-sentinel-is-ta-NNNNN`: answer only if the key is trusted.
    IsTa(u16),
    /// `root-key-sentinel-not-ta-NNNNN`: answer only if it is not.
    NotTa(u16),
}

impl Sentinel {
    /// The sentinel named by the first label of `name`, if any (the key
    /// tag is exactly five decimal digits, RFC 8509 §2).
    pub(crate) fn of(name: &Name) -> Option<Self> {
        let label = name.iter().next()?;
        let label = std::str::from_utf8(label).ok()?.to_ascii_lowercase();
        let (is_ta, digits) = if let Some(d) = label.strip_prefix("root-key-sentinel-is-ta-") {
            (true, d)
        } else {
            (false, label.strip_prefix("root-key-sentinel-not-ta-")?)
        };
        if digits.len() != 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let tag: u16 = digits.parse().ok()?;
        Some(if is_ta {
            Self::IsTa(tag)
        } else {
            Self::NotTa(tag)
        })
    }
}

impl Resolver {
    /// RFC 8509: the answer to give instead of `answer` (resolved
    /// normally) when the question carries a sentinel label.
    pub(crate) fn apply_sentinel(&self, query: &ClientQuery, answer: Answer) -> Answer {
        let applies = matches!(query.qtype, RecordType::A | RecordType::AAAA)
            && !query.checking_disabled
            && answer.authentic_data
            && self.config().dnssec;
        let Some(sentinel) = Sentinel::of(&query.name).filter(|_| applies) else {
            return answer;
        };
        let trusted = self.root_key_tags();
        let fail = match sentinel {
            Sentinel::IsTa(tag) => !trusted.contains(&tag),
            Sentinel::NotTa(tag) => trusted.contains(&tag),
        };
        if fail {
            Answer::error(ResponseCode::ServFail, Tier::Local, Vec::new())
        } else {
            answer
        }
    }

    /// Key tags of the root trust anchor (DS and DNSKEY anchors).
    fn root_key_tags(&self) -> Vec<u16> {
        let config = self.config();
        let Some((ds, keys)) = config.anchors.get(&Name::root()) else {
            return Vec::new();
        };
        ds.iter()
            .map(|d| d.key_tag())
            .chain(keys.iter().filter_map(|k| k.calculate_key_tag().ok()))
            .collect()
    }

    /// The answer to a question with RD=0: from the cache only.
    pub(crate) fn answer_from_cache(self: &Arc<Self>, query: &ClientQuery) -> Answer {
        let mut name = query.name.to_lowercase();
        let mut answers: Vec<Record> = Vec::new();
        let mut proofs: Vec<Record> = Vec::new();
        let mut security = crate::dnssec::Security::Secure;
        for _ in 0..=limits::MAX_CNAME_CHAIN {
            let Some((entry, remaining)) = self.cached_fresh(&name, query.qtype) else {
                if answers.is_empty() {
                    return self.referral(&name);
                }
                // A cached CNAME whose target is not cached: what we have.
                return self.finish(query, ResponseCode::NoError, answers, proofs, security);
            };
            if self.nta_for(&name).is_some() {
                security = crate::dnssec::Security::INSECURE;
            }
            security = security.combine(entry.security.clone());
            answers.extend(Entry::records_with_ttl(&entry.answers, remaining));
            super::extend_unique(
                &mut proofs,
                Entry::records_with_ttl(&entry.authorities, remaining),
            );
            let rcode = match &entry.kind {
                StepKind::Cname { target } if query.qtype != RecordType::CNAME => {
                    name = target.to_lowercase();
                    continue;
                }
                StepKind::NxDomain => ResponseCode::NXDomain,
                StepKind::Positive | StepKind::Cname { .. } | StepKind::NoData => {
                    ResponseCode::NoError
                }
            };
            return self.finish(query, rcode, answers, proofs, security);
        }
        Answer::servfail(vec![Ede::new(
            EdeCode::Other,
            "MAX_CNAME_CHAIN reached in the cache",
        )])
    }

    /// A fresh entry of the validated view (data that validated, or is
    /// provably insecure); never stale, never Bogus.
    fn cached_fresh(&self, name: &Name, qtype: RecordType) -> Option<(Arc<Entry>, u32)> {
        let key = CacheKey::new(name, qtype, DNSClass::IN, View::Validated);
        match self.cache.get(&key, self.clock.now())? {
            (entry, Freshness::Fresh { remaining }) => Some((entry, remaining)),
            _ => None,
        }
    }

    /// A referral to the deepest fresh cached delegation at or above
    /// `name` (the root hints when none is cached).
    fn referral(&self, name: &Name) -> Answer {
        let now = self.clock.now();
        let mut at = name.clone();
        let deleg = loop {
            let cached = self.delegations.get(&at).and_then(|d| {
                match crate::cache::freshness(d.stored_at, d.ttl, now, std::time::Duration::ZERO) {
                    Freshness::Fresh { remaining } => Some((Delegation::clone(&d), remaining)),
                    _ => None,
                }
            });
            if let Some(found) = cached {
                break found;
            }
            if at.is_root() {
                let hints = self.config().root_hints.clone();
                let ttl = hints.ttl;
                break (hints, ttl);
            }
            at = at.base_name();
        };
        let (deleg, ttl) = deleg;
        let mut authorities = Vec::new();
        let mut additionals = Vec::new();
        for ns in &deleg.servers {
            authorities.push(Record::from_rdata(
                deleg.zone.clone(),
                ttl,
                RData::NS(NS(ns.name.clone())),
            ));
            for addr in &ns.addrs {
                let data = match addr {
                    std::net::IpAddr::V4(a) => RData::A(A(*a)),
                    std::net::IpAddr::V6(a) => RData::AAAA(AAAA(*a)),
                };
                additionals.push(Record::from_rdata(ns.name.clone(), ttl, data));
            }
        }
        Answer {
            rcode: ResponseCode::NoError,
            answers: Vec::new(),
            authorities,
            additionals,
            authentic_data: false,
            ede: Vec::new(),
            tier: Tier::Local,
            fresh_until: None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::str::FromStr;

    use super::*;

    #[test]
    fn sentinel_labels_as_rfc_8509_spells_them() {
        let of = |s: &str| Sentinel::of(&Name::from_str(s).unwrap());
        assert_eq!(
            of("root-key-sentinel-is-ta-20326.example."),
            Some(Sentinel::IsTa(20326))
        );
        assert_eq!(
            of("ROOT-KEY-SENTINEL-NOT-TA-00042.example."),
            Some(Sentinel::NotTa(42))
        );
        for s in [
            "root-key-sentinel-is-ta-2032.example.",
            "root-key-sentinel-is-ta-203260.example.",
            "root-key-sentinel-is-ta-99999.example.",
            "root-key-sentinel-is-ta-2032x.example.",
            "www.root-key-sentinel-is-ta-20326.example.",
            "_is-ta-4f66.example.",
            ".",
        ] {
            assert_eq!(of(s), None, "{s}");
        }
    }
}
