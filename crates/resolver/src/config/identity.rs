//! Which instance answered (issue 19): `identity`, `hide-identity`,
//! `version` and `nsid`, as Unbound names them. CHAOS TXT `id.server.` /
//! `hostname.bind.` answer the identity (the host name unless set; hidden
//! with `hide-identity = true`); `version.server.` / `version.bind.`
//! answer `version`, off by default (REFUSED); `nsid` (RFC 5001) is off
//! by default: `"ascii_NAME"` for text, else hex digits.

use super::{ConfigError, entry_error};
use crate::limits::{MAX_CHAOS_TXT_BYTES, MAX_NSID_BYTES};

/// The checked keys; [`IdentityConfig::server_identity`] fills in the
/// host name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityConfig {
    /// `identity`: `None` means the host name.
    pub identity: Option<String>,
    /// `hide-identity`: CHAOS identity questions are REFUSED.
    pub hide_identity: bool,
    /// `version`: `None` (the default) means REFUSED.
    pub version: Option<String>,
    /// `nsid`: the bytes returned in the NSID option.
    pub nsid: Option<Vec<u8>>,
}

impl IdentityConfig {
    /// What the DNS server answers, the host name read now when
    /// `identity` is unset (an unreadable host name: hidden).
    pub fn server_identity(&self) -> crate::server::ServerIdentity {
        let identity = match (&self.identity, self.hide_identity) {
            (_, true) => None,
            (Some(id), false) => Some(id.clone()),
            (None, false) => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .filter(|h| !h.is_empty() && h.len() <= MAX_CHAOS_TXT_BYTES),
        };
        crate::server::ServerIdentity {
            identity,
            version: self.version.clone(),
            nsid: self.nsid.clone(),
        }
    }
}

/// `version = true` (this build's version), `false`, or a string.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub(super) enum RawVersion {
    Flag(bool),
    Text(String),
}

/// The raw keys of this block.
pub(super) struct RawIdentity {
    pub identity: Option<toml::Spanned<String>>,
    pub hide_identity: Option<bool>,
    pub version: Option<toml::Spanned<RawVersion>>,
    pub nsid: Option<toml::Spanned<String>>,
}

/// A CHAOS TXT string: printable, at most one character-string.
fn txt(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_CHAOS_TXT_BYTES && !s.chars().any(char::is_control)
}

/// `ascii_TEXT` or hex digits (Unbound's `nsid:` syntax).
pub fn parse_nsid(s: &str) -> Option<Vec<u8>> {
    let bytes = match s.strip_prefix("ascii_") {
        Some(text) => text.as_bytes().to_vec(),
        None => {
            let digits = s.trim();
            if !digits.len().is_multiple_of(2) {
                return None;
            }
            (0..digits.len())
                .step_by(2)
                .map(|i| {
                    digits
                        .get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>()?
        }
    };
    (!bytes.is_empty() && bytes.len() <= MAX_NSID_BYTES).then_some(bytes)
}

impl RawIdentity {
    pub(super) fn check(
        self,
        text: &str,
        source_name: &str,
    ) -> Result<IdentityConfig, ConfigError> {
        let at = |key, span, value: &str, allowed: String| {
            entry_error((text, source_name), key, span, value, allowed)
        };
        let txt_allowed = || {
            format!(
                "printable text of 1 to {MAX_CHAOS_TXT_BYTES} bytes (the limit \
                 MAX_CHAOS_TXT_BYTES)"
            )
        };
        let identity = match self.identity {
            None => None,
            Some(id) if txt(id.get_ref()) => Some(id.into_inner()),
            Some(id) => return Err(at("identity", id.span(), id.get_ref(), txt_allowed())),
        };
        let version = match self.version {
            None => None,
            Some(v) => {
                let span = v.span();
                match v.into_inner() {
                    RawVersion::Flag(false) => None,
                    RawVersion::Flag(true) => {
                        Some(format!("lastgood {}", env!("CARGO_PKG_VERSION")))
                    }
                    RawVersion::Text(t) if txt(&t) => Some(t),
                    RawVersion::Text(t) => {
                        return Err(at(
                            "version",
                            span,
                            &t,
                            format!("true, false, or {}", txt_allowed()),
                        ));
                    }
                }
            }
        };
        let nsid = match self.nsid {
            None => None,
            Some(n) => Some(parse_nsid(n.get_ref()).ok_or_else(|| {
                at(
                    "nsid",
                    n.span(),
                    n.get_ref(),
                    format!(
                        "\"ascii_TEXT\" or an even number of hex digits, 1 to {MAX_NSID_BYTES} \
                         bytes (the limit MAX_NSID_BYTES)"
                    ),
                )
            })?),
        };
        Ok(IdentityConfig {
            identity,
            hide_identity: self.hide_identity.unwrap_or(false),
            version,
            nsid,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::super::Config;
    use super::*;

    #[test]
    fn identity_keys_parse() {
        let c = Config::parse("", "x.toml").unwrap();
        assert_eq!(c.identity, IdentityConfig::default());
        let id = c.identity.server_identity();
        assert_eq!(id.version, None, "version off by default");
        assert_eq!(id.nsid, None, "nsid off by default");
        let c = Config::parse(
            "identity = \"ns1.example\"\nversion = true\nnsid = \"ascii_ns1\"\n",
            "x.toml",
        )
        .unwrap();
        let id = c.identity.server_identity();
        assert_eq!(id.identity.as_deref(), Some("ns1.example"));
        assert_eq!(
            id.version,
            Some(format!("lastgood {}", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(id.nsid.as_deref(), Some(&b"ns1"[..]));
        let c = Config::parse(
            "hide-identity = true\nversion = \"v\"\nnsid = \"6c67\"",
            "x.toml",
        )
        .unwrap();
        let id = c.identity.server_identity();
        assert_eq!(id.identity, None);
        assert_eq!(id.version.as_deref(), Some("v"));
        assert_eq!(id.nsid.as_deref(), Some(&b"lg"[..]));
        assert_eq!(parse_nsid("0A0b"), Some(vec![10, 11]));
        for bad in ["", "abc", "zz", "ascii_", &"aa".repeat(MAX_NSID_BYTES + 1)] {
            assert_eq!(parse_nsid(bad), None, "{bad}");
        }
    }

    #[test]
    fn identity_errors_name_key_and_line() {
        let long = "x".repeat(MAX_CHAOS_TXT_BYTES + 1);
        let cases = [
            (
                "\n\nnsid = \"xyz\"".to_owned(),
                "x.toml:3: key `nsid`: value \"xyz\" is invalid: \"ascii_TEXT\"",
            ),
            (format!("identity = \"{long}\""), "x.toml:1: key `identity`"),
            (
                "\nversion = \"\"".to_owned(),
                "x.toml:2: key `version`: value \"\" is invalid: true, false",
            ),
            ("version = 3".to_owned(), "x.toml:1"),
        ];
        for (text, want) in cases {
            let err = Config::parse(&text, "x.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
