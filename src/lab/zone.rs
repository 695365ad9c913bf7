//! Unsigned zone data: loading a zone file into RRsets grouped by owner.

use std::collections::BTreeMap;
use std::path::Path;

use hickory_proto::dnssec::rdata::{DNSSECRData, DS};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

use super::LabError;

/// One RRset with the signatures over it (empty when unsigned).
#[derive(Clone, Debug)]
pub struct RrSet {
    pub name: Name,
    pub rtype: RecordType,
    pub ttl: u32,
    pub records: Vec<Record>,
    pub rrsigs: Vec<Record>,
}

impl RrSet {
    pub fn new(name: Name, rtype: RecordType, ttl: u32) -> Self {
        RrSet {
            name,
            rtype,
            ttl,
            records: Vec::new(),
            rrsigs: Vec::new(),
        }
    }

    /// Add one record of this set's type (its owner and TTL become the set's).
    pub fn push(&mut self, data: RData) {
        let mut record = Record::from_rdata(self.name.clone(), self.ttl, data);
        record.dns_class = DNSClass::IN;
        self.records.push(record);
    }

    /// The records, then (if `dnssec`) the signatures, with a fresh owner
    /// (for wildcard synthesis) and TTL if given.
    pub fn emit(
        &self,
        owner: Option<&Name>,
        ttl: Option<u32>,
        dnssec: bool,
        out: &mut Vec<Record>,
    ) {
        let sigs: &[Record] = if dnssec { &self.rrsigs } else { &[] };
        for record in self.records.iter().chain(sigs) {
            let mut record = record.clone();
            if let Some(owner) = owner {
                record.name = owner.clone();
            }
            if let Some(ttl) = ttl {
                record.ttl = ttl;
            }
            out.push(record);
        }
    }
}

/// RRsets at one owner name, by type.
pub type Node = BTreeMap<RecordType, RrSet>;

/// A zone as loaded: owner names (canonical order) -> RRsets.
#[derive(Clone, Debug)]
pub struct ZoneData {
    pub origin: Name,
    pub nodes: BTreeMap<Name, Node>,
    /// TTL of the SOA RRset (used for the apex DNSKEY set too).
    pub soa_ttl: u32,
    /// min(SOA TTL, SOA minimum): TTL of negative answers and NSEC(3) (RFC 9077).
    pub negative_ttl: u32,
}

impl ZoneData {
    /// Insert the DS set of a delegated child (computed from its KSK).
    pub fn add_ds(&mut self, child: &Name, ds: &[DS]) {
        let ttl = self.soa_ttl;
        let node = self.nodes.entry(child.clone()).or_default();
        let set = node
            .entry(RecordType::DS)
            .or_insert_with(|| RrSet::new(child.clone(), RecordType::DS, ttl));
        for d in ds {
            set.push(RData::DNSSEC(DNSSECRData::DS(d.clone())));
        }
    }
}

/// Load `file` as the zone `origin`, optionally overriding every TTL.
pub fn load(file: &Path, origin: &Name, ttl: Option<u32>) -> Result<ZoneData, LabError> {
    let text = std::fs::read_to_string(file).map_err(|source| LabError::ReadZone {
        file: file.to_owned(),
        source,
    })?;
    parse(&text, file, origin, ttl)
}

/// Parse zone-file text (`file` only names it in errors).
pub fn parse(
    text: &str,
    file: &Path,
    origin: &Name,
    ttl: Option<u32>,
) -> Result<ZoneData, LabError> {
    if let Some(line) = crate::resolve::servers::include_line(text) {
        return Err(LabError::Include {
            file: file.to_owned(),
            line,
        });
    }
    let parser = Parser::new(text, Some(file.to_owned()), Some(origin.clone()));
    let (found, sets) = parser.parse().map_err(|source| LabError::ParseZone {
        file: file.to_owned(),
        source,
    })?;
    if &found != origin {
        return Err(LabError::OriginMismatch {
            file: file.to_owned(),
            expected: origin.to_string(),
            found: found.to_string(),
        });
    }
    let mut nodes: BTreeMap<Name, Node> = BTreeMap::new();
    for set in sets.into_values() {
        let name = set.name().clone();
        if !origin.zone_of(&name) {
            return Err(LabError::OutOfZone {
                file: file.to_owned(),
                name: name.to_string(),
                origin: origin.to_string(),
            });
        }
        let set_ttl = ttl.unwrap_or(set.ttl());
        let mut rrset = RrSet::new(name.clone(), set.record_type(), set_ttl);
        for record in set.records_without_rrsigs() {
            let mut data = record.data.clone();
            if let (RData::SOA(soa), Some(t)) = (&mut data, ttl) {
                soa.minimum = soa.minimum.min(t);
            }
            rrset.push(data);
        }
        nodes.entry(name).or_default().insert(rrset.rtype, rrset);
    }
    let (soa_ttl, minimum) = nodes
        .get(origin)
        .and_then(|node| node.get(&RecordType::SOA))
        .and_then(|set| match set.records.first().map(|r| &r.data) {
            Some(RData::SOA(soa)) => Some((set.ttl, soa.minimum)),
            _ => None,
        })
        .ok_or_else(|| LabError::NoSoa {
            file: file.to_owned(),
            origin: origin.to_string(),
        })?;
    Ok(ZoneData {
        origin: origin.clone(),
        nodes,
        soa_ttl,
        negative_ttl: soa_ttl.min(minimum),
    })
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
    use crate::lab::default_zones_dir;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn loads_example_zone() {
        let file = default_zones_dir().join("example.lab.zone");
        let zone = load(&file, &name("example.lab."), None).unwrap();
        assert_eq!(zone.negative_ttl, 300);
        assert_eq!(zone.soa_ttl, 3600);
        let host = &zone.nodes[&name("host300.example.lab.")];
        assert!(host.contains_key(&RecordType::A));
        assert!(host.contains_key(&RecordType::AAAA));
        assert!(host.contains_key(&RecordType::TXT));
        assert_eq!(host[&RecordType::A].ttl, 3600);
        assert!(zone.nodes.contains_key(&name("*.wild.example.lab.")));
    }

    #[test]
    fn ttl_override_caps_everything() {
        let file = default_zones_dir().join("root.zone");
        let zone = load(&file, &Name::root(), Some(5)).unwrap();
        assert_eq!(zone.negative_ttl, 5);
        assert!(
            zone.nodes
                .values()
                .flat_map(|n| n.values())
                .all(|s| s.ttl == 5)
        );
    }

    #[test]
    fn errors_name_the_file() {
        let file = Path::new("x.zone");
        let err = parse("$TTL 60\nwww IN A 192.0.2.1\n", file, &name("x."), None).unwrap_err();
        assert!(matches!(err, LabError::NoSoa { .. }), "{err}");
        assert!(err.to_string().contains("x.zone"));
        let err = parse(
            "$TTL 60\n@ IN SOA a. b. 1 2 3 4 5\nwww.y. IN A 192.0.2.1\n",
            file,
            &name("x."),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, LabError::OutOfZone { .. }), "{err}");
        let err = parse("@ IN SOA a. b. (\n", file, &name("x."), None).unwrap_err();
        assert!(matches!(err, LabError::ParseZone { .. }), "{err}");
        let err = load(Path::new("/nonexistent/z.zone"), &name("x."), None).unwrap_err();
        assert!(matches!(err, LabError::ReadZone { .. }), "{err}");
    }

    /// hickory's parser reads any file an `$INCLUDE` names (/dev/zero:
    /// without end); zone files are self-contained.
    #[test]
    fn include_is_refused() {
        let text = "@ IN SOA a. b. 1 2 3 4 5\n$INCLUDE /dev/zero\n";
        let err = parse(text, Path::new("x.zone"), &name("x."), None).unwrap_err();
        assert!(matches!(err, LabError::Include { line: 2, .. }), "{err}");
    }
}
