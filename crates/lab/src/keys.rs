//! Lab keys kept on disk, so that labs in separate processes (one container
//! per zone server) sign with the same keys and every parent publishes the
//! DS of its children.
//!
//! `lastgood lab --keygen DIR` writes [`KEYS_FILE`] (every signed zone's KSK
//! and ZSK) and [`TRUST_ANCHOR_FILE`] (the root's DS); `lastgood lab --keys
//! DIR` loads them. The key file is text, one key per line:
//!
//! ```text
//! ; comment
//! example.lab. ksk ecdsa-p256 MIGHAgEAMBMGByqGSM49...   (base64 PKCS#8)
//! ```
//!
//! These are testbed keys: the file is a secret only as much as the lab is.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;

use super::sign::{self, KSK_FLAGS, ZSK_FLAGS, ZoneKey, ZoneKeys};
use super::{LabAlgorithm, LabError, ZONES};

/// Name of the key file inside a key directory.
pub const KEYS_FILE: &str = "lab.keys";

/// Name of the trust-anchor file (the root's DS) inside a key directory.
pub const TRUST_ANCHOR_FILE: &str = "root.key";

/// Largest key file read (a few lines of base64; guards a wrong path).
pub const MAX_KEYS_FILE_BYTES: u64 = 64 * 1024;

/// What can be wrong with a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("reading key file {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {file} is larger than MAX_KEYS_FILE_BYTES ({MAX_KEYS_FILE_BYTES} bytes)")]
    TooLarge { file: PathBuf },
    #[error("key file {file} line {line}: expected `ZONE ksk|zsk ALGORITHM BASE64`")]
    Syntax { file: PathBuf, line: usize },
    #[error("key file {file} line {line}: bad zone name {zone:?}")]
    BadZone {
        file: PathBuf,
        line: usize,
        zone: String,
    },
    #[error("key file {file} line {line}: key role {role:?} is neither ksk nor zsk")]
    BadRole {
        file: PathBuf,
        line: usize,
        role: String,
    },
    #[error(
        "key file {file} line {line}: algorithm {algorithm:?} is neither ecdsa-p256 nor ed25519"
    )]
    BadAlgorithm {
        file: PathBuf,
        line: usize,
        algorithm: String,
    },
    #[error("key file {file} line {line}: algorithm {found} differs from {expected} above")]
    MixedAlgorithms {
        file: PathBuf,
        line: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error("key file {file} line {line}: key {zone} {role} is not valid base64")]
    BadBase64 {
        file: PathBuf,
        line: usize,
        zone: String,
        role: &'static str,
    },
    #[error("key file {file} line {line}: key {zone} {role} appears twice")]
    Duplicate {
        file: PathBuf,
        line: usize,
        zone: String,
        role: &'static str,
    },
    #[error("key file {file}: zone {zone} has no {role} key")]
    Missing {
        file: PathBuf,
        zone: String,
        role: &'static str,
    },
    #[error("key file {file}: key {zone} {role} does not load: {source}")]
    BadKey {
        file: PathBuf,
        zone: String,
        role: &'static str,
        #[source]
        source: Box<LabError>,
    },
    #[error("key file {file} holds no keys")]
    Empty { file: PathBuf },
}

/// The private halves (PKCS#8) of one zone's KSK and ZSK.
#[derive(Clone, PartialEq, Eq)]
struct ZonePkcs8 {
    ksk: Vec<u8>,
    zsk: Vec<u8>,
}

/// KSK and ZSK of one zone as far as a key file has been read.
type FoundPair = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Keys of every signed lab zone, one algorithm for all.
#[derive(Clone, PartialEq, Eq)]
pub struct LabKeys {
    algorithm: LabAlgorithm,
    zones: BTreeMap<Name, ZonePkcs8>,
}

impl fmt::Debug for LabKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabKeys")
            .field("algorithm", &self.algorithm)
            .field("zones", &self.zones.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn algorithm_name(algorithm: LabAlgorithm) -> &'static str {
    match algorithm {
        LabAlgorithm::EcdsaP256 => "ecdsa-p256",
        LabAlgorithm::Ed25519 => "ed25519",
    }
}

impl LabKeys {
    /// Fresh keys for every signed zone of the lab.
    pub fn generate(algorithm: LabAlgorithm) -> Result<Self, LabError> {
        let mut zones = BTreeMap::new();
        for spec in ZONES.iter().filter(|s| s.denial.is_some()) {
            let origin = Name::from_ascii(spec.origin).map_err(|source| LabError::Sign {
                zone: spec.origin.to_owned(),
                name: spec.origin.to_owned(),
                source,
            })?;
            let pair = ZonePkcs8 {
                ksk: sign::generate_pkcs8(algorithm, &origin)?,
                zsk: sign::generate_pkcs8(algorithm, &origin)?,
            };
            zones.insert(origin, pair);
        }
        Ok(LabKeys { algorithm, zones })
    }

    pub fn algorithm(&self) -> LabAlgorithm {
        self.algorithm
    }

    /// The zones that have keys here.
    pub fn zones(&self) -> impl Iterator<Item = &Name> {
        self.zones.keys()
    }

    /// The usable keys of `zone` (`None` if this set has none for it).
    pub fn zone_keys(&self, zone: &Name) -> Result<Option<ZoneKeys>, LabError> {
        let Some(pair) = self.zones.get(zone) else {
            return Ok(None);
        };
        Ok(Some(ZoneKeys {
            ksk: ZoneKey::from_pkcs8(self.algorithm, KSK_FLAGS, zone, &pair.ksk)?,
            zsk: ZoneKey::from_pkcs8(self.algorithm, ZSK_FLAGS, zone, &pair.zsk)?,
        }))
    }

    /// The root's DS in zone-file syntax (the trust anchor of a lab signed
    /// with these keys); empty if the set has no root keys.
    pub fn trust_anchor(&self) -> Result<String, LabError> {
        let root = Name::root();
        Ok(match self.zone_keys(&root)? {
            Some(keys) => format!(". 3600 IN DS {}\n", keys.ksk.ds(&root)?),
            None => String::new(),
        })
    }

    /// The key file's text.
    pub fn to_text(&self) -> String {
        let alg = algorithm_name(self.algorithm);
        let b64 = &data_encoding::BASE64;
        let mut out = String::from(
            "; lastgood lab keys (testbed only): ZONE ksk|zsk ALGORITHM BASE64-PKCS8\n",
        );
        for (zone, pair) in &self.zones {
            for (role, der) in [("ksk", &pair.ksk), ("zsk", &pair.zsk)] {
                out.push_str(&format!("{zone} {role} {alg} {}\n", b64.encode(der)));
            }
        }
        out
    }

    /// Read and check a key file (every key is loaded once to prove it works).
    pub fn load(file: &Path) -> Result<Self, KeyFileError> {
        let read_err = |source| KeyFileError::Read {
            file: file.to_owned(),
            source,
        };
        let size = std::fs::metadata(file).map_err(read_err)?.len();
        if size > MAX_KEYS_FILE_BYTES {
            return Err(KeyFileError::TooLarge {
                file: file.to_owned(),
            });
        }
        let text = std::fs::read_to_string(file).map_err(read_err)?;
        Self::parse(&text, file)
    }

    /// Parse key-file text (`file` only names it in errors).
    pub fn parse(text: &str, file: &Path) -> Result<Self, KeyFileError> {
        let mut algorithm: Option<LabAlgorithm> = None;
        let mut found: BTreeMap<Name, FoundPair> = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split(';').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            let words: Vec<&str> = content.split_whitespace().collect();
            let [zone_text, role_text, alg_text, key_text] = words.as_slice() else {
                return Err(KeyFileError::Syntax {
                    file: file.to_owned(),
                    line,
                });
            };
            let zone = Name::from_ascii(zone_text)
                .ok()
                .filter(Name::is_fqdn)
                .ok_or_else(|| KeyFileError::BadZone {
                    file: file.to_owned(),
                    line,
                    zone: (*zone_text).to_owned(),
                })?;
            let role: &'static str = match role_text.to_ascii_lowercase().as_str() {
                "ksk" => "ksk",
                "zsk" => "zsk",
                _ => {
                    return Err(KeyFileError::BadRole {
                        file: file.to_owned(),
                        line,
                        role: (*role_text).to_owned(),
                    });
                }
            };
            let alg = match alg_text.to_ascii_lowercase().as_str() {
                "ecdsa-p256" => LabAlgorithm::EcdsaP256,
                "ed25519" => LabAlgorithm::Ed25519,
                _ => {
                    return Err(KeyFileError::BadAlgorithm {
                        file: file.to_owned(),
                        line,
                        algorithm: (*alg_text).to_owned(),
                    });
                }
            };
            match algorithm {
                Some(expected) if expected != alg => {
                    return Err(KeyFileError::MixedAlgorithms {
                        file: file.to_owned(),
                        line,
                        expected: algorithm_name(expected),
                        found: algorithm_name(alg),
                    });
                }
                _ => algorithm = Some(alg),
            }
            let der = data_encoding::BASE64
                .decode(key_text.as_bytes())
                .map_err(|_| KeyFileError::BadBase64 {
                    file: file.to_owned(),
                    line,
                    zone: zone.to_string(),
                    role,
                })?;
            let entry = found.entry(zone.clone()).or_default();
            let slot = if role == "ksk" {
                &mut entry.0
            } else {
                &mut entry.1
            };
            if slot.is_some() {
                return Err(KeyFileError::Duplicate {
                    file: file.to_owned(),
                    line,
                    zone: zone.to_string(),
                    role,
                });
            }
            *slot = Some(der);
        }
        let Some(algorithm) = algorithm else {
            return Err(KeyFileError::Empty {
                file: file.to_owned(),
            });
        };
        let mut zones = BTreeMap::new();
        for (zone, (ksk, zsk)) in found {
            let missing = |role| KeyFileError::Missing {
                file: file.to_owned(),
                zone: zone.to_string(),
                role,
            };
            let ksk = ksk.ok_or_else(|| missing("ksk"))?;
            let zsk = zsk.ok_or_else(|| missing("zsk"))?;
            for (role, flags, der) in [("ksk", KSK_FLAGS, &ksk), ("zsk", ZSK_FLAGS, &zsk)] {
                ZoneKey::from_pkcs8(algorithm, flags, &zone, der).map_err(|source| {
                    KeyFileError::BadKey {
                        file: file.to_owned(),
                        zone: zone.to_string(),
                        role,
                        source: Box::new(source),
                    }
                })?;
            }
            zones.insert(zone, ZonePkcs8 { ksk, zsk });
        }
        Ok(LabKeys { algorithm, zones })
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

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn round_trip_keeps_keys_and_ds() {
        for alg in [LabAlgorithm::EcdsaP256, LabAlgorithm::Ed25519] {
            let keys = LabKeys::generate(alg).unwrap();
            let zones: Vec<String> = keys.zones().map(Name::to_string).collect();
            assert_eq!(zones.len(), 4, "{zones:?}");
            assert!(!zones.iter().any(|z| z == "insecure.lab."));
            let text = keys.to_text();
            let back = LabKeys::parse(&text, Path::new("k")).unwrap();
            assert_eq!(back, keys);
            assert_eq!(back.algorithm(), alg);
            assert_eq!(back.trust_anchor().unwrap(), keys.trust_anchor().unwrap());
            assert!(keys.trust_anchor().unwrap().starts_with(". 3600 IN DS "));
            let zone = name("lab.");
            let a = keys.zone_keys(&zone).unwrap().unwrap();
            let b = back.zone_keys(&zone).unwrap().unwrap();
            assert_eq!(a.ksk.tag, b.ksk.tag);
            assert_eq!(a.zsk.dnskey, b.zsk.dnskey);
            assert_eq!(a.ksk.ds(&zone).unwrap(), b.ksk.ds(&zone).unwrap());
            assert!(keys.zone_keys(&name("insecure.lab.")).unwrap().is_none());
        }
    }

    #[test]
    fn errors_name_file_and_line() {
        let keys = LabKeys::generate(LabAlgorithm::EcdsaP256).unwrap();
        let good = keys.to_text();
        let file = Path::new("lab.keys");
        let ksk_line = good.lines().nth(1).unwrap();
        type Check = fn(&KeyFileError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            ("lab. ksk\n".into(), |e| {
                matches!(e, KeyFileError::Syntax { line: 1, .. })
            }),
            ("lab ksk ed25519 AAAA\n".into(), |e| {
                matches!(e, KeyFileError::BadZone { .. })
            }),
            ("lab. csk ed25519 AAAA\n".into(), |e| {
                matches!(e, KeyFileError::BadRole { .. })
            }),
            ("lab. ksk rsa AAAA\n".into(), |e| {
                matches!(e, KeyFileError::BadAlgorithm { .. })
            }),
            ("lab. ksk ed25519 !!\n".into(), |e| {
                matches!(e, KeyFileError::BadBase64 { .. })
            }),
            ("; nothing\n\n".into(), |e| {
                matches!(e, KeyFileError::Empty { .. })
            }),
            (format!("{ksk_line}\n"), |e| {
                matches!(e, KeyFileError::Missing { role: "zsk", .. })
            }),
            (format!("{ksk_line}\n{ksk_line}\n"), |e| {
                matches!(e, KeyFileError::Duplicate { line: 2, .. })
            }),
            (
                format!(
                    "{ksk_line}\n{}\n",
                    ksk_line.replace("ecdsa-p256", "ed25519")
                ),
                |e| matches!(e, KeyFileError::MixedAlgorithms { line: 2, .. }),
            ),
            (
                "lab. ksk ed25519 AAAA\nlab. zsk ed25519 AAAA\n".into(),
                |e| matches!(e, KeyFileError::BadKey { .. }),
            ),
        ];
        for (text, check) in cases {
            let err = LabKeys::parse(&text, file).unwrap_err();
            assert!(check(&err), "{text:?}: {err:?}");
            assert!(err.to_string().contains("lab.keys"), "{err}");
        }
        let err = LabKeys::load(Path::new("/nonexistent/lab.keys")).unwrap_err();
        assert!(matches!(err, KeyFileError::Read { .. }), "{err}");
    }
}
