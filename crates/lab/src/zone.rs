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
    if let Some(line) = include_line(text) {
        return Err(LabError::Include {
            file: file.to_owned(),
            line,
        });
    }
    let (text, dnames) = take_dnames(text, origin, file)?;
    let parser = Parser::new(&text, Some(file.to_owned()), Some(origin.clone()));
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
    for (owner, set_ttl, target) in dnames {
        if !origin.zone_of(&owner) {
            return Err(LabError::OutOfZone {
                file: file.to_owned(),
                name: owner.to_string(),
                origin: origin.to_string(),
            });
        }
        let mut rrset = RrSet::new(owner.clone(), RecordType::DNAME, ttl.unwrap_or(set_ttl));
        rrset.push(dname_rdata(&target));
        nodes
            .entry(owner)
            .or_default()
            .insert(RecordType::DNAME, rrset);
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

/// DNAME RDATA as hickory carries it (it has no DNAME type): the
/// target's uncompressed wire form (RFC 6672 §2.5).
pub fn dname_rdata(target: &Name) -> RData {
    use hickory_proto::serialize::binary::BinEncodable;
    let bytes = target.to_lowercase().to_bytes().unwrap_or_default();
    RData::Unknown {
        code: RecordType::DNAME,
        rdata: hickory_proto::rr::rdata::NULL::with(bytes),
    }
}

/// hickory's zone parser refuses DNAME: take the lines
/// `OWNER [TTL] IN DNAME TARGET` (one line each, owner `@`, relative or
/// absolute) out of `text` (blank lines keep the line numbers) and
/// return them as (owner, TTL, target); the TTL defaults to `$TTL`.
#[allow(clippy::type_complexity)]
fn take_dnames(
    text: &str,
    origin: &Name,
    file: &Path,
) -> Result<(String, Vec<(Name, u32, Name)>), LabError> {
    let mut out = String::with_capacity(text.len());
    let mut dnames = Vec::new();
    let mut default_ttl = 3600;
    let bad = |line: &str| LabError::Dname {
        file: file.to_owned(),
        line: line.to_owned(),
    };
    let name = |s: &str| -> Option<Name> {
        if s == "@" {
            return Some(origin.clone());
        }
        let n = Name::from_ascii(s).ok()?;
        if n.is_fqdn() {
            Some(n)
        } else {
            n.append_domain(origin).ok()
        }
    };
    for line in text.lines() {
        let code = line.split(';').next().unwrap_or_default();
        let words: Vec<&str> = code.split_whitespace().collect();
        if let ["$TTL", t] = words.as_slice() {
            default_ttl = t.parse().unwrap_or(default_ttl);
        }
        // The type is never the first word (that is the owner).
        let Some(pos) = words
            .iter()
            .skip(1)
            .position(|w| w.eq_ignore_ascii_case("DNAME"))
            .map(|p| p + 1)
        else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let (owner, ttl) = match words.get(..pos) {
            Some([owner, "IN"]) => (*owner, default_ttl),
            Some([owner, ttl, "IN"]) => (*owner, ttl.parse().map_err(|_| bad(line))?),
            _ => return Err(bad(line)),
        };
        let target = match words.get(pos + 1..) {
            Some([target]) => name(target).ok_or_else(|| bad(line))?,
            _ => return Err(bad(line)),
        };
        dnames.push((name(owner).ok_or_else(|| bad(line))?, ttl, target));
        out.push('\n');
    }
    Ok((out, dnames))
}

/// The 1-based line of the first `$INCLUDE` (the lab loads one file per
/// zone and refuses includes, like the resolver's hints parser).
fn include_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.contains("$INCLUDE"))
        .map(|i| i.saturating_add(1))
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
    use crate::default_zones_dir;

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
