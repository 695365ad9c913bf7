//! The pieces of the chain of trust the resolver saw, kept so that an
//! entry written to the store carries everything needed to prove it again
//! ([`super::entry::Link`]): each zone's authenticated DNSKEY RRset with
//! its RRSIGs, and each zone's DS step (the DS set, or the signed proof
//! that there is none) as its parent answered it.
//!
//! The resolver notes them as it authenticates keys (`resolve/keys.rs`);
//! the store's writer builds a chain per entry from them. Pure: no IO, no
//! clock. Bounded by [`MAX_CHAIN_ZONES`] zones per kind.

use std::collections::HashSet;
use std::sync::Arc;

use hickory_proto::rr::{Name, Record};

use super::entry::{Link, Trust};
use super::limits::{MAX_CHAIN_LINKS, MAX_CHAIN_ZONES};
use crate::cache::{Entry, StepKind};
use crate::dnssec::Security;
use crate::dnssec::validate::signer_names;

/// Why no chain could be built for an entry (the entry is not written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("no DNSKEY set noted for {0}")]
    NoDnskey(Name),
    #[error("no DS step noted for {0}")]
    NoDs(Name),
    /// (child, parent)
    #[error("DS step for {} answered by {}, not an ancestor", .0.0, .0.1)]
    NotAncestor(Box<(Name, Name)>),
    #[error("DS step for {0} is neither a validated DS set nor a proof of none")]
    Unusable(Name),
    #[error("chain longer than MAX_CHAIN_LINKS ({MAX_CHAIN_LINKS})")]
    TooLong,
}

/// DNSKEY sets and DS steps by zone (lowercased), most recent wins.
#[derive(Clone)]
pub struct ChainLinks {
    dnskeys: moka::sync::Cache<Name, Arc<Vec<Record>>>,
    ds: moka::sync::Cache<Name, Arc<Entry>>,
}

impl std::fmt::Debug for ChainLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainLinks")
            .field("dnskeys", &self.dnskeys.entry_count())
            .field("ds", &self.ds.entry_count())
            .finish()
    }
}

impl Default for ChainLinks {
    fn default() -> Self {
        Self {
            dnskeys: moka::sync::Cache::new(MAX_CHAIN_ZONES),
            ds: moka::sync::Cache::new(MAX_CHAIN_ZONES),
        }
    }
}

impl ChainLinks {
    /// `zone`'s DNSKEY RRset (with RRSIGs) authenticated just now.
    pub fn note_dnskey(&self, zone: &Name, records: &[Record]) {
        self.dnskeys
            .insert(zone.to_lowercase(), Arc::new(records.to_vec()));
    }

    /// The DS step that decided `zone`'s keys.
    pub fn note_ds(&self, zone: &Name, step: &Arc<Entry>) {
        self.ds.insert(zone.to_lowercase(), Arc::clone(step));
    }

    /// The links proving `entry` (its zone and every signer of its
    /// records), top-down from the anchors.
    pub fn chain_for(&self, entry: &Entry, trust: &Trust) -> Result<Vec<Link>, ChainError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut zones = vec![entry.zone.to_lowercase()];
        zones.extend(signer_names(&entry.answers, &entry.authorities));
        for zone in zones {
            self.add_zone(&zone, trust, &mut out, &mut seen)?;
        }
        Ok(out)
    }

    fn add_zone(
        &self,
        zone: &Name,
        trust: &Trust,
        out: &mut Vec<Link>,
        seen: &mut HashSet<Name>,
    ) -> Result<(), ChainError> {
        if seen.contains(zone) {
            return Ok(());
        }
        if out.len() > MAX_CHAIN_LINKS {
            return Err(ChainError::TooLong);
        }
        if trust.anchors.get(zone).is_some() {
            out.push(self.dnskey_link(zone)?);
            seen.insert(zone.clone());
            return Ok(());
        }
        if trust.insecure_by_config(zone) {
            seen.insert(zone.clone());
            return Ok(());
        }
        let ds = self
            .ds
            .get(zone)
            .ok_or_else(|| ChainError::NoDs(zone.clone()))?;
        let parent = ds.zone.to_lowercase();
        if parent == *zone || !parent.zone_of(zone) {
            return Err(ChainError::NotAncestor(Box::new((zone.clone(), parent))));
        }
        self.add_zone(&parent, trust, out, seen)?;
        out.push(Link::Ds {
            child: zone.clone(),
            parent,
            rcode: ds.rcode,
            answers: ds.answers.clone(),
            authorities: ds.authorities.clone(),
        });
        match (&ds.security, &ds.kind) {
            (Security::Secure, StepKind::Positive) => out.push(self.dnskey_link(zone)?),
            (Security::Secure, StepKind::NoData) | (Security::Insecure { .. }, _) => {}
            _ => return Err(ChainError::Unusable(zone.clone())),
        }
        seen.insert(zone.clone());
        Ok(())
    }

    fn dnskey_link(&self, zone: &Name) -> Result<Link, ChainError> {
        let records = self
            .dnskeys
            .get(zone)
            .ok_or_else(|| ChainError::NoDnskey(zone.clone()))?;
        Ok(Link::Dnskey {
            zone: zone.clone(),
            records: records.to_vec(),
        })
    }
}
