//! What a step needs of the chain of trust, as explicit requests: the
//! decisions of how an answer's zone is found and which keys validating
//! it takes are made here, without IO; the driver (`iterate.rs`:
//! `answer_zone`, `validate_response`) satisfies each request from the
//! key cache or by a sub-resolution (`keys.rs::keys_for`, a DS lookup)
//! and hands the result back.
//!
//! - [`ZoneWalk`]: the zone an answer from a delegation's servers belongs
//!   to. Usually the delegation's zone; but a forwarder answers for every
//!   zone below its own, and an authority may also serve a child zone
//!   (then an unsigned child answer carries no signer to tell). Then the
//!   DS chain is walked down from the delegation's zone, as Unbound's
//!   validator does, one [`Need`] at a time.
//! - [`KeyNeeds`] and [`key_map`]: the zones whose keys validating an
//!   answer takes, and the key map the validator gets from what was
//!   fetched.
//!
//! # Limitations
//!
//! The driver still awaits each request in turn through the resolver
//! (`keys_for`, `lookup`), which may itself iterate; the requests are
//! explicit, the sub-resolutions are not yet a queue of their own.

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, RecordType};

use crate::cache::{Entry, StepKind};
use crate::dnssec::validate;
use crate::dnssec::{BogusKind, BogusReason, KeyEntry, KeyMap, Security};
use crate::ede::EdeCode;
use crate::limits;
use crate::resolve::cut;

/// A request to the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// The zone's keys (DNSKEY authenticated by the chain above it).
    Keys(Name),
    /// The name's DS set, validated (a step of the parent zone).
    Ds(Name),
}

/// Where a [`ZoneWalk`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WalkStep {
    /// Satisfy this, then [`ZoneWalk::handle_keys`] or [`ZoneWalk::handle_ds`].
    Need(Need),
    /// The answer belongs to this zone.
    Done(Name),
}

/// The walk down the DS chain that finds the zone an answer belongs to.
/// A secure DS makes the name the zone so far, a NODATA DS whose proof
/// shows a delegation ends the walk at an insecure cut
/// ([`cut::delegation_shown`]), any other NODATA is no cut. The walk
/// ends at the signer of a signed answer, at the SOA owner of an
/// unsigned negative one, else at the name the data lives at.
#[derive(Debug)]
pub(crate) struct ZoneWalk {
    zone: Name,
    /// The deepest name the data can belong to.
    bound: Name,
    /// The deepest secure delegation found so far.
    found: Name,
    /// Labels of the next name whose DS is asked.
    labels: u16,
    step: WalkStep,
}

impl ZoneWalk {
    /// The walk for an answer `resp` (`kind`) to (`qname`, `qtype`) from
    /// the servers of `zone` (`forward`: forwarders of a forward zone).
    pub(crate) fn start(
        resp: &Message,
        kind: &StepKind,
        qname: &Name,
        qtype: RecordType,
        zone: &Name,
        forward: bool,
    ) -> Self {
        let zone = zone.to_lowercase();
        let mut walk = Self {
            bound: deepest_owner(resp, kind, qname, qtype, &zone),
            found: zone.clone(),
            labels: u16::from(zone.num_labels()).saturating_add(1),
            step: WalkStep::Done(zone.clone()),
            zone,
        };
        let signer = validate::signer_names(&resp.answers, &resp.authorities)
            .into_iter()
            .filter(|s| s.zone_of(&walk.bound) && walk.zone.zone_of(s))
            .max_by_key(Name::num_labels);
        match signer {
            // A signed answer from an authority: its signer is checked
            // against the zone by the validator.
            Some(_) if !forward => return walk,
            Some(signer) => walk.bound = signer,
            // Unsigned, from the zone's own servers, for the zone itself.
            None if !forward && walk.bound == walk.zone => return walk,
            None => {}
        }
        if forward {
            walk.next_ds();
        } else {
            walk.step = WalkStep::Need(Need::Keys(walk.zone.clone()));
        }
        walk
    }

    /// What the walk needs next, or its result.
    pub(crate) fn step(&self) -> &WalkStep {
        &self.step
    }

    /// The keys of the delegation's zone: below an insecure zone
    /// everything is insecure, no walk.
    pub(crate) fn handle_keys(&mut self, keys: &KeyEntry) {
        if self.step != WalkStep::Need(Need::Keys(self.zone.clone())) {
            return;
        }
        if matches!(keys, KeyEntry::Secure(_)) {
            self.next_ds();
        } else {
            self.step = WalkStep::Done(self.zone.clone());
        }
    }

    /// The DS step asked for.
    pub(crate) fn handle_ds(&mut self, ds: &Entry) {
        let WalkStep::Need(Need::Ds(name)) = &self.step else {
            return;
        };
        let name = name.clone();
        match (&ds.security, &ds.kind) {
            (Security::Secure, StepKind::Positive) => self.found = name,
            (Security::Secure, StepKind::NoData) => {
                if cut::delegation_shown(&ds.authorities, &name) {
                    self.step = WalkStep::Done(name);
                    return;
                }
            }
            (Security::Secure, StepKind::NxDomain | StepKind::Cname { .. }) => {
                self.step = WalkStep::Done(self.found.clone());
                return;
            }
            // Insecure above, or a failed chain: the keys for this name
            // give the same verdict when the answer is validated.
            (Security::Insecure { .. } | Security::Bogus(_) | Security::Indeterminate(_), _) => {
                self.step = WalkStep::Done(name);
                return;
            }
        }
        self.labels = self.labels.saturating_add(1);
        self.next_ds();
    }

    /// Ask the DS of the next name down to the bound, or end.
    fn next_ds(&mut self) {
        self.step = if self.labels <= u16::from(self.bound.num_labels()) {
            WalkStep::Need(Need::Ds(self.bound.trim_to(usize::from(self.labels))))
        } else {
            WalkStep::Done(self.found.clone())
        };
    }
}

/// The deepest name the data of an answer from `zone` can belong to: the
/// name (for DS, its parent), or the SOA owner of a negative answer.
fn deepest_owner(
    resp: &Message,
    kind: &StepKind,
    qname: &Name,
    qtype: RecordType,
    zone: &Name,
) -> Name {
    let mut bound = if qtype == RecordType::DS && !qname.is_root() {
        qname.base_name()
    } else {
        qname.to_lowercase()
    };
    if matches!(kind, StepKind::NxDomain | StepKind::NoData) {
        let soa = resp.authorities.iter().find_map(|r| match r.data {
            RData::SOA(_) if r.name.zone_of(qname) && zone.zone_of(&r.name) => {
                Some(r.name.to_lowercase())
            }
            _ => None,
        });
        match soa {
            Some(owner) if owner.zone_of(&bound) => bound = owner,
            Some(_) => {}
            None if *kind == StepKind::NxDomain => bound = zone.clone(),
            None => {}
        }
    }
    bound
}

/// The keys validating an answer from `zone` takes besides the zone's
/// own: those of each other signer inside the zone, at most
/// `MAX_SIGNERS_PER_RESPONSE` signers looked at.
#[derive(Debug)]
pub(crate) struct KeyNeeds {
    pub(crate) signers: Vec<Name>,
    /// More signers than `MAX_SIGNERS_PER_RESPONSE`.
    pub(crate) over_limit: bool,
}

impl KeyNeeds {
    pub(crate) fn of(resp: &Message, zone: &Name) -> Self {
        let signers = validate::signer_names(&resp.answers, &resp.authorities);
        let over_limit = signers.len() > limits::MAX_SIGNERS_PER_RESPONSE;
        let own = zone.to_lowercase();
        let signers = signers
            .into_iter()
            .take(limits::MAX_SIGNERS_PER_RESPONSE)
            .filter(|s| *s != own && zone.zone_of(s))
            .collect();
        Self {
            signers,
            over_limit,
        }
    }
}

/// The validator's key map from the keys fetched for `zone` and for each
/// signer of [`KeyNeeds`]. Inside a secure zone, a signature by a name
/// with no secure delegation is a forgery, not a reason to downgrade. A
/// signed DS set of algorithms or digests we do not support is a real
/// delegation that is Insecure (RFC 4035 §5.2): the same server may serve
/// parent and child.
pub(crate) fn key_map(
    zone: &Name,
    zone_keys: KeyEntry,
    signer_keys: impl IntoIterator<Item = (Name, KeyEntry)>,
) -> KeyMap {
    let zone_secure = matches!(zone_keys, KeyEntry::Secure(_));
    let mut keys = KeyMap::new();
    keys.insert(zone.to_lowercase(), zone_keys);
    for (signer, mut entry) in signer_keys {
        if zone_secure && matches!(entry, KeyEntry::Insecure { .. }) && !unsupported_ds(&entry) {
            entry = KeyEntry::Bogus(BogusReason::new(
                BogusKind::DnskeyMissing,
                &signer,
                None,
                "signer is not a secure zone under the answering zone",
            ));
        }
        keys.insert(signer, entry);
    }
    keys
}

/// Keys proven Insecure by a validated DS set whose algorithms or digest
/// types are all unsupported (EDE 1, 2): a delegation exists.
fn unsupported_ds(entry: &KeyEntry) -> bool {
    matches!(entry, KeyEntry::Insecure { note: Some(e) }
        if matches!(e.code, EdeCode::UnsupportedDnskeyAlgorithm
            | EdeCode::UnsupportedDsDigestType))
}

#[cfg(test)]
mod tests;
