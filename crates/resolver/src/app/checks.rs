//! Warnings `serve` logs and `check-config` prints: configurations that
//! work but are probably not what the operator meant.

use std::path::Path;

use hickory_proto::dnssec::DigestType;

use super::AppOptions;
use crate::config::Config;
use crate::dnssec::TrustAnchors;

/// Every warning about `config` (read from `options.config_path`).
pub(super) fn warnings(options: &AppOptions, config: &Config) -> Vec<String> {
    let source = options
        .config_path
        .as_ref()
        .map_or_else(|| "(defaults)".to_owned(), |p| p.display().to_string());
    let mut out = Vec::new();
    if let Some(allow) = &config.allow {
        if allow.is_empty() {
            out.push(format!(
                "{source}: key `allow`: [] refuses every client (remove the key for the \
                 private default: loopback, RFC 1918, ULA)"
            ));
        }
        for net in allow.iter().filter(|n| n.prefix_len() == 0) {
            out.push(format!(
                "{source}: key `allow`: {net} lets the whole internet use this resolver \
                 (an open resolver, abused for amplification)"
            ));
        }
    }
    let anchor_files = config.trust_anchor.iter().chain(
        config
            .private_zones
            .iter()
            .filter_map(|z| z.trust_anchor.as_ref()),
    );
    for path in anchor_files {
        out.extend(ds_digest_lengths(path));
    }
    out
}

/// The digest length a DS digest type calls for (RFC 4034 §5.1.4,
/// RFC 4509, RFC 6605), `None` for types we do not know.
fn digest_len(t: DigestType) -> Option<usize> {
    match t {
        DigestType::SHA1 => Some(20),
        DigestType::SHA256 => Some(32),
        DigestType::SHA384 => Some(48),
        _ => None,
    }
}

/// A warning per DS anchor in `path` whose digest is not as long as its
/// digest type says (such an anchor can never match a key).
fn ds_digest_lengths(path: &Path) -> Vec<String> {
    // Load errors are reported by the loader itself.
    let Ok(anchors) = TrustAnchors::from_file(path) else {
        return Vec::new();
    };
    let mut zones: Vec<_> = anchors.zones().cloned().collect();
    zones.sort();
    let mut out = Vec::new();
    for zone in zones {
        let Some((ds, _)) = anchors.get(&zone) else {
            continue;
        };
        for d in ds {
            let Some(want) = digest_len(d.digest_type()) else {
                continue;
            };
            if d.digest().len() != want {
                out.push(format!(
                    "{}: DS anchor for {zone} key tag {}: digest is {} bytes, digest type \
                     {:?} has {want}; this anchor can never match a key",
                    path.display(),
                    d.key_tag(),
                    d.digest().len(),
                    d.digest_type(),
                ));
            }
        }
    }
    out
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
    fn warns_on_empty_and_open_allow_and_short_ds() {
        let dir = std::env::temp_dir().join(format!(
            "lastgood-checks-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let anchor = dir.join("a.key");
        std::fs::write(
            &anchor,
            ". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n\
             lab. 3600 IN DS 1 13 2 ABCD\n",
        )
        .unwrap();
        let config_path = dir.join("c.toml");
        let text = format!(
            "allow = [\"0.0.0.0/0\", \"::/0\", \"10.0.0.0/8\"]\ntrust-anchor = \"{}\"\n",
            anchor.display()
        );
        let config = Config::parse(&text, "c.toml").unwrap();
        let options = AppOptions {
            config_path: Some(config_path),
            ..AppOptions::default()
        };
        let w = warnings(&options, &config);
        assert_eq!(w.len(), 3, "{w:#?}");
        assert!(w[0].contains("0.0.0.0/0") && w[0].contains("open resolver"));
        assert!(w[1].contains("::/0"));
        assert!(
            w[2].contains("lab. key tag 1: digest is 2 bytes"),
            "{}",
            w[2]
        );
        let config = Config::parse("allow = []", "c.toml").unwrap();
        let w = warnings(&options, &config);
        assert!(w[0].contains("`allow`: [] refuses every client"), "{w:?}");
        assert!(warnings(&options, &Config::default()).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
