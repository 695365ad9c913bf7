//! Trust anchors: the DS and DNSKEY records a chain of trust starts from.
//!
//! Built in: the IANA root KSKs 20326 and 38696 as DS records. For
//! testbeds, `--trust-anchor FILE` loads DS and/or DNSKEY records in zone
//! file syntax (`$ORIGIN` defaults to the root; relative names, `@`,
//! parentheses, comments, optional TTL and class IN are accepted).
//!
//! hickory's zone parser cannot read DNSKEY records and its trust-anchor
//! parser cannot read DS records, and neither reports line numbers, so the
//! few lines of grammar needed are parsed here; every error names the file
//! and the line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf};
use hickory_proto::rr::{Name, RecordType};

use crate::limits;

/// Trust anchors by zone (names lowercased).
#[derive(Debug, Default, Clone)]
pub struct TrustAnchors {
    zones: HashMap<Name, (Vec<DS>, Vec<DNSKEY>)>,
}

/// Errors loading trust anchors; each names the source and, for content,
/// the line.
#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error("{}: cannot read trust anchors: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{source_name}: {size} bytes is more than MAX_TRUST_ANCHOR_FILE_BYTES ({max})")]
    TooLarge {
        source_name: String,
        size: u64,
        max: u64,
    },
    #[error("{source_name}:{line}: {message}")]
    Parse {
        source_name: String,
        line: usize,
        message: String,
    },
    #[error(
        "{source_name}:{line}: {name} {rtype}: only DS and DNSKEY records can be trust anchors"
    )]
    UnsupportedType {
        source_name: String,
        line: usize,
        name: Name,
        rtype: RecordType,
    },
    #[error("{source_name}: no DS or DNSKEY trust anchors (revoked keys are ignored)")]
    NoAnchors { source_name: String },
}

/// IANA root KSK-2017 (20326) and KSK-2024 (38696), RSASHA256, SHA-256
/// digests (https://data.iana.org/root-anchors/root-anchors.xml).
const ROOT_DS: [(u16, [u8; 32]); 2] = [
    (
        20326,
        [
            0xe0, 0x6d, 0x44, 0xb8, 0x0b, 0x8f, 0x1d, 0x39, 0xa9, 0x5c, 0x0b, 0x0d, 0x7c, 0x65,
            0xd0, 0x84, 0x58, 0xe8, 0x80, 0x40, 0x9b, 0xbc, 0x68, 0x34, 0x57, 0x10, 0x42, 0x37,
            0xc7, 0xf8, 0xec, 0x8d,
        ],
    ),
    (
        38696,
        [
            0x68, 0x3d, 0x2d, 0x0a, 0xcb, 0x8c, 0x9b, 0x71, 0x2a, 0x19, 0x48, 0xb2, 0x7f, 0x74,
            0x12, 0x19, 0x29, 0x8d, 0x0a, 0x45, 0x0d, 0x61, 0x2c, 0x48, 0x3a, 0xf4, 0x44, 0xa4,
            0xc0, 0xfb, 0x2b, 0x16,
        ],
    ),
];

impl TrustAnchors {
    /// The IANA root KSKs as DS records.
    pub fn builtin_root() -> Self {
        let ds = ROOT_DS
            .iter()
            .map(|(tag, digest)| {
                DS::new(
                    *tag,
                    Algorithm::RSASHA256,
                    DigestType::SHA256,
                    digest.to_vec(),
                )
            })
            .collect();
        let mut zones = HashMap::new();
        zones.insert(Name::root(), (ds, Vec::new()));
        Self { zones }
    }

    /// Load DS and/or DNSKEY records from a zone-format file.
    pub fn from_file(path: &Path) -> Result<Self, AnchorError> {
        let io = |source| AnchorError::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > limits::MAX_TRUST_ANCHOR_FILE_BYTES {
            return Err(AnchorError::TooLarge {
                source_name: path.display().to_string(),
                size,
                max: limits::MAX_TRUST_ANCHOR_FILE_BYTES,
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse anchors from text; `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, AnchorError> {
        let mut parser = Parser {
            source,
            origin: Name::root(),
            last_owner: None,
        };
        let mut anchors = Self::default();
        for entry in logical_records(text, source)? {
            if let Some((zone, anchor)) = parser.record(&entry)? {
                let slot = anchors.zones.entry(zone.to_lowercase()).or_default();
                match anchor {
                    Anchor::Ds(ds) => slot.0.push(ds),
                    Anchor::Key(k) => slot.1.push(k),
                }
            }
        }
        if anchors.zones.is_empty() {
            return Err(AnchorError::NoAnchors {
                source_name: source.to_owned(),
            });
        }
        Ok(anchors)
    }

    /// The DS and DNSKEY anchors for exactly `zone`.
    pub fn get(&self, zone: &Name) -> Option<(&[DS], &[DNSKEY])> {
        self.zones
            .get(&zone.to_lowercase())
            .map(|(ds, keys)| (ds.as_slice(), keys.as_slice()))
    }

    /// The anchored zone that is the closest ancestor-or-self of `name`.
    pub fn closest(&self, name: &Name) -> Option<&Name> {
        let mut cur = name.to_lowercase();
        loop {
            if let Some((zone, _)) = self.zones.get_key_value(&cur) {
                return Some(zone);
            }
            if cur.is_root() {
                return None;
            }
            cur = cur.base_name();
        }
    }

    /// Add the anchors of `other` (a private zone's `trust-anchor`);
    /// records for a zone already anchored are added to its set.
    pub fn extend(&mut self, other: TrustAnchors) {
        for (zone, (ds, keys)) in other.zones {
            let slot = self.zones.entry(zone).or_default();
            slot.0.extend(ds);
            slot.1.extend(keys);
        }
    }

    /// Every anchored zone.
    pub fn zones(&self) -> impl Iterator<Item = &Name> {
        self.zones.keys()
    }
}

enum Anchor {
    Ds(DS),
    Key(DNSKEY),
}

/// One record (or directive) after joining parenthesised lines.
struct Logical {
    line: usize,
    /// The line started with blank space: the owner is the previous one.
    blank_owner: bool,
    tokens: Vec<String>,
}

/// Split text into logical records: `;` comments dropped, `( ... )` joins
/// lines, blank lines skipped.
fn logical_records(text: &str, source: &str) -> Result<Vec<Logical>, AnchorError> {
    let mut out = Vec::new();
    let mut current: Option<Logical> = None;
    let mut depth = 0usize;
    let mut open_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let content = raw.split(';').next().unwrap_or_default();
        if depth == 0
            && let Some(done) = current.take()
        {
            out.push(done);
        }
        let mut tokens = Vec::new();
        let mut word = String::new();
        for ch in content.chars() {
            match ch {
                '(' | ')' => {
                    if !word.is_empty() {
                        tokens.push(std::mem::take(&mut word));
                    }
                    if ch == '(' {
                        depth += 1;
                        open_line = line_no;
                    } else {
                        depth = depth.checked_sub(1).ok_or_else(|| AnchorError::Parse {
                            source_name: source.to_owned(),
                            line: line_no,
                            message: "')' without '('".to_owned(),
                        })?;
                    }
                }
                c if c.is_whitespace() => {
                    if !word.is_empty() {
                        tokens.push(std::mem::take(&mut word));
                    }
                }
                c => word.push(c),
            }
        }
        if !word.is_empty() {
            tokens.push(word);
        }
        match current.as_mut() {
            Some(cur) => cur.tokens.extend(tokens),
            None if !tokens.is_empty() => {
                current = Some(Logical {
                    line: line_no,
                    blank_owner: raw.starts_with(char::is_whitespace),
                    tokens,
                });
            }
            None => {}
        }
    }
    if depth > 0 {
        return Err(AnchorError::Parse {
            source_name: source.to_owned(),
            line: open_line,
            message: "'(' is never closed".to_owned(),
        });
    }
    out.extend(current);
    Ok(out)
}

struct Parser<'s> {
    source: &'s str,
    origin: Name,
    last_owner: Option<Name>,
}

impl Parser<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> AnchorError {
        AnchorError::Parse {
            source_name: self.source.to_owned(),
            line,
            message: message.into(),
        }
    }

    fn name(&self, line: usize, text: &str) -> Result<Name, AnchorError> {
        if text == "@" {
            return Ok(self.origin.clone());
        }
        Name::parse(text, Some(&self.origin))
            .map_err(|e| self.err(line, format!("bad name {text:?}: {e}")))
    }

    /// A directive (`None`), or a DS/DNSKEY anchor with its zone. Revoked
    /// DNSKEYs are skipped (RFC 5011 §2.1).
    fn record(&mut self, rec: &Logical) -> Result<Option<(Name, Anchor)>, AnchorError> {
        let line = rec.line;
        let mut toks = rec.tokens.iter().map(String::as_str).peekable();
        if !rec.blank_owner {
            let Some(first) = toks.next() else {
                return Ok(None);
            };
            match first.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let arg = toks
                        .next()
                        .ok_or_else(|| self.err(line, "$ORIGIN needs a name"))?;
                    self.origin = self.name(line, arg)?;
                    return Ok(None);
                }
                "$TTL" => return Ok(None),
                d if d.starts_with('$') => {
                    return Err(self.err(line, format!("unsupported directive {first}")));
                }
                _ => self.last_owner = Some(self.name(line, first)?),
            }
        }
        let owner = self
            .last_owner
            .clone()
            .ok_or_else(|| self.err(line, "record without an owner name"))?;
        // [TTL] [class] type, in either order of TTL and class.
        let rtype = loop {
            let tok = toks
                .next()
                .ok_or_else(|| self.err(line, "missing record type"))?;
            if tok.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            match tok.to_ascii_uppercase().as_str() {
                "IN" => continue,
                "CH" | "HS" | "CS" | "ANY" => {
                    return Err(
                        self.err(line, format!("class {tok}: trust anchors must be class IN"))
                    );
                }
                t => {
                    break RecordType::from_str(t)
                        .map_err(|_| self.err(line, format!("unknown record type {tok}")))?;
                }
            }
        };
        let rest: Vec<&str> = toks.collect();
        let anchor = match rtype {
            RecordType::DS => Anchor::Ds(self.ds(line, &rest)?),
            RecordType::DNSKEY => {
                let key = self.dnskey(line, &rest)?;
                if key.revoke() {
                    return Ok(None);
                }
                Anchor::Key(key)
            }
            other => {
                return Err(AnchorError::UnsupportedType {
                    source_name: self.source.to_owned(),
                    line,
                    name: owner,
                    rtype: other,
                });
            }
        };
        Ok(Some((owner, anchor)))
    }

    fn number<T: FromStr>(
        &self,
        line: usize,
        what: &str,
        tok: Option<&&str>,
    ) -> Result<T, AnchorError> {
        let tok = tok.ok_or_else(|| self.err(line, format!("missing {what}")))?;
        tok.parse()
            .map_err(|_| self.err(line, format!("bad {what} {tok:?}")))
    }

    fn algorithm(&self, line: usize, tok: Option<&&str>) -> Result<Algorithm, AnchorError> {
        let tok = tok.ok_or_else(|| self.err(line, "missing algorithm"))?;
        let n = match tok.to_ascii_uppercase().as_str() {
            "RSASHA1" => 5,
            "RSASHA1-NSEC3-SHA1" => 7,
            "RSASHA256" => 8,
            "RSASHA512" => 10,
            "ECDSAP256SHA256" => 13,
            "ECDSAP384SHA384" => 14,
            "ED25519" => 15,
            "ED448" => 16,
            _ => tok
                .parse()
                .map_err(|_| self.err(line, format!("bad algorithm {tok:?}")))?,
        };
        Ok(Algorithm::from_u8(n))
    }

    /// `key-tag algorithm digest-type digest-hex...` (RFC 4034 §5.3).
    fn ds(&self, line: usize, t: &[&str]) -> Result<DS, AnchorError> {
        let tag: u16 = self.number(line, "key tag", t.first())?;
        let alg = self.algorithm(line, t.get(1))?;
        let digest_type: u8 = self.number(line, "digest type", t.get(2))?;
        let hex: String = t.get(3..).unwrap_or_default().concat();
        if hex.is_empty() {
            return Err(self.err(line, "missing DS digest"));
        }
        let digest = data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|e| self.err(line, format!("bad DS digest: {e}")))?;
        Ok(DS::new(tag, alg, DigestType::from(digest_type), digest))
    }

    /// `flags protocol algorithm public-key-base64...` (RFC 4034 §2.2).
    fn dnskey(&self, line: usize, t: &[&str]) -> Result<DNSKEY, AnchorError> {
        let flags: u16 = self.number(line, "DNSKEY flags", t.first())?;
        let protocol: u8 = self.number(line, "DNSKEY protocol", t.get(1))?;
        if protocol != 3 {
            return Err(self.err(line, format!("DNSKEY protocol {protocol}, must be 3")));
        }
        let alg = self.algorithm(line, t.get(2))?;
        let b64: String = t.get(3..).unwrap_or_default().concat();
        if b64.is_empty() {
            return Err(self.err(line, "missing DNSKEY public key"));
        }
        let key = data_encoding::BASE64
            .decode(b64.as_bytes())
            .map_err(|e| self.err(line, format!("bad DNSKEY public key: {e}")))?;
        let key = DNSKEY::with_flags(flags, PublicKeyBuf::new(key, alg));
        if !key.zone_key() {
            return Err(self.err(
                line,
                format!("DNSKEY flags {flags} lack the Zone Key bit (256)"),
            ));
        }
        Ok(key)
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

    use hickory_proto::dnssec::PublicKey;

    use super::*;
    use crate::dnssec::testutil::{Zone, n};

    #[test]
    fn builtin_root_has_both_ksks() {
        let t = TrustAnchors::builtin_root();
        let (ds, keys) = t.get(&Name::root()).unwrap();
        assert!(keys.is_empty());
        let tags: Vec<u16> = ds.iter().map(DS::key_tag).collect();
        assert_eq!(tags, vec![20326, 38696]);
        assert_eq!(ds[0].digest()[..2], [0xe0, 0x6d]);
        assert_eq!(t.closest(&n("www.example.com.")), Some(&Name::root()));
        assert_eq!(t.zones().count(), 1);
    }

    #[test]
    fn parses_ds_and_dnskey_with_relative_names() {
        let z = Zone::p256("lab.");
        let key = data_encoding::BASE64.encode(z.ksk.dnskey.public_key().public_bytes());
        let text = format!(
            "; testbed anchors\n\
             . IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n\
             $ORIGIN lab.\n\
             @ 3600 IN DNSKEY 257 3 13 (\n  {}\n  {} ) ; ksk\n\
             example DS 1234 ECDSAP256SHA256 2 ( 00ff\n 00FF )\n\
             \x20      IN DNSKEY 385 3 13 {key}\n",
            &key[..20],
            &key[20..],
        );
        let t = TrustAnchors::parse(&text, "anchors.txt").unwrap();
        let (ds, keys) = t.get(&n("LAB.")).unwrap();
        assert!(ds.is_empty());
        assert_eq!(keys, std::slice::from_ref(&z.ksk.dnskey));
        let (ds, keys) = t.get(&n("example.lab.")).unwrap();
        assert_eq!(ds[0].key_tag(), 1234);
        assert_eq!(ds[0].digest(), &[0, 255, 0, 255]);
        // The revoked key (flags 385 = 256 + 128 + 1) was ignored.
        assert!(keys.is_empty());
        assert_eq!(t.closest(&n("www.example.lab.")), Some(&n("example.lab.")));
        assert_eq!(t.closest(&n("other.lab.")), Some(&n("lab.")));
        assert_eq!(t.zones().count(), 3);
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                ". IN DS 20326 8 2 E06D\n. IN DS x 8 2 00\n",
                "a.txt:2: bad key tag",
            ),
            (
                "\n\nlab. IN DNSKEY 256 3 13 !!!!\n",
                "a.txt:3: bad DNSKEY public key",
            ),
            (
                "lab. IN DNSKEY 1 3 13 AAAA\n",
                "a.txt:1: DNSKEY flags 1 lack the Zone Key bit",
            ),
            (
                "; c\nlab. IN A 192.0.2.1\n",
                "a.txt:2: lab. A: only DS and DNSKEY",
            ),
            ("lab. CH DS 1 8 2 00\n", "a.txt:1: class CH"),
            ("lab. IN DS 1 8 2 (\n00\n", "a.txt:1: '(' is never closed"),
            ("$INCLUDE /etc/passwd\n", "a.txt:1: unsupported directive"),
            (
                "; only comments\n\n",
                "a.txt: no DS or DNSKEY trust anchors",
            ),
            ("lab. IN DNSKEY 385 3 13 AAAA\n", "a.txt: no DS or DNSKEY"),
            ("lab. IN FOO 1\n", "a.txt:1: unknown record type FOO"),
        ];
        for (text, want) in cases {
            let e = TrustAnchors::parse(text, "a.txt").unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: got {e:?}, want {want:?}");
        }
    }

    #[test]
    fn from_file_reads_and_reports_missing_file() {
        let dir = std::env::temp_dir().join(format!("lastgood-anchors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("root.key");
        std::fs::write(
            &path,
            ". DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16\n",
        )
        .unwrap();
        let t = TrustAnchors::from_file(&path).unwrap();
        assert_eq!(
            t.get(&Name::root()).unwrap().0,
            TrustAnchors::builtin_root().get(&Name::root()).unwrap().0[1..].to_vec()
        );
        let missing = dir.join("nope.key");
        let e = TrustAnchors::from_file(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.key"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
