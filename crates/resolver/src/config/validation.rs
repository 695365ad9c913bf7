//! Validator algorithms and cache TTL bounds (issue 15): `sha1-algorithms`,
//! `cache-min-ttl`, `cache-max-ttl`, `cache-max-negative-ttl`.

use super::*;

/// Largest `cache-min-ttl` (BIND caps `min-cache-ttl` at 90 s; Unbound
/// has no cap; an hour keeps a typo from pinning data for days).
pub const MAX_CACHE_MIN_TTL: u32 = 3600;
/// Largest `cache-max-negative-ttl` (a day; RFC 2308 §5 suggests 1-3 h).
pub const MAX_CACHE_MAX_NEGATIVE_TTL: u32 = 86_400;

/// A TTL as written: seconds (`300`, Unbound's form) or a duration (`"5m"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawTtl {
    Seconds(i64),
    Text(String),
}

/// The keys of this block as written.
pub(super) struct RawValidation {
    pub(super) sha1_algorithms: Option<toml::Spanned<String>>,
    pub(super) cache_min_ttl: Option<toml::Spanned<RawTtl>>,
    pub(super) cache_max_ttl: Option<toml::Spanned<RawTtl>>,
    pub(super) cache_max_negative_ttl: Option<toml::Spanned<RawTtl>>,
}

impl RawValidation {
    pub(super) fn check(
        self,
        text: &str,
        source_name: &str,
    ) -> Result<(AlgorithmPolicy, TtlLimits), ConfigError> {
        let at = (text, source_name);
        let mut policy = AlgorithmPolicy::default();
        if let Some(v) = self.sha1_algorithms {
            let span = v.span();
            policy.sha1 = match v.into_inner().as_str() {
                "insecure" => false,
                "validate" => true,
                other => {
                    return Err(entry_error(
                        at,
                        "sha1-algorithms",
                        span,
                        other,
                        "\"insecure\" (the default) or \"validate\"".into(),
                    ));
                }
            };
        }
        let ttl = |key: &'static str, value: Option<toml::Spanned<RawTtl>>, range: (u32, u32)| {
            let Some(v) = value else { return Ok(None) };
            let span = v.span();
            let (secs, shown) = match v.into_inner() {
                RawTtl::Seconds(n) => (u32::try_from(n).ok(), n.to_string()),
                RawTtl::Text(s) => (
                    parse_duration(&s).and_then(|d| u32::try_from(d.as_secs()).ok()),
                    s,
                ),
            };
            match secs {
                Some(n) if (range.0..=range.1).contains(&n) => Ok(Some(n)),
                _ => Err(entry_error(
                    at,
                    key,
                    span,
                    &shown,
                    format!(
                        "seconds or a duration such as 5m, from {} to {} seconds",
                        range.0, range.1
                    ),
                )),
            }
        };
        let mut limits = TtlLimits::default();
        if let Some(n) = ttl("cache-min-ttl", self.cache_min_ttl, (0, MAX_CACHE_MIN_TTL))? {
            limits.min = n;
        }
        let max_span = self.cache_max_ttl.as_ref().map(toml::Spanned::span);
        if let Some(n) = ttl("cache-max-ttl", self.cache_max_ttl, (1, limits::MAX_TTL))? {
            limits.max = n;
        }
        if let Some(n) = ttl(
            "cache-max-negative-ttl",
            self.cache_max_negative_ttl,
            (1, MAX_CACHE_MAX_NEGATIVE_TTL),
        )? {
            limits.max_negative = n;
        }
        if limits.min > limits.max {
            return Err(entry_error(
                at,
                "cache-max-ttl",
                max_span.unwrap_or(0..0),
                &limits.max.to_string(),
                format!("at least cache-min-ttl ({})", limits.min),
            ));
        }
        Ok((policy, limits))
    }
}

#[cfg(test)]
mod validation_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn sha1_algorithms_and_ttl_knobs_parse() {
        let c = Config::parse("", "x.toml").unwrap();
        assert!(!c.algorithms.sha1);
        assert_eq!(c.ttl, TtlLimits::default());
        let c = Config::parse(
            "sha1-algorithms = \"validate\"\ncache-min-ttl = 60\ncache-max-ttl = \"1d\"\ncache-max-negative-ttl = \"5m\"\n",
            "x.toml",
        )
        .unwrap();
        assert!(c.algorithms.sha1);
        assert_eq!(
            c.ttl,
            TtlLimits {
                min: 60,
                max: 86_400,
                max_negative: 300
            }
        );
    }

    #[test]
    fn ttl_knob_errors_name_key_line_and_range() {
        let cases = [
            (
                "dnssec = true\nsha1-algorithms = \"maybe\"",
                "x.toml:2: key `sha1-algorithms`: value \"maybe\"",
            ),
            (
                "cache-min-ttl = 7200",
                "x.toml:1: key `cache-min-ttl`: value \"7200\" is invalid: seconds or a duration such as 5m, from 0 to 3600 seconds",
            ),
            ("\ncache-max-ttl = 0", "x.toml:2: key `cache-max-ttl`"),
            (
                "cache-max-ttl = \"8d\"",
                "key `cache-max-ttl`: value \"8d\"",
            ),
            (
                "cache-max-negative-ttl = -1",
                "key `cache-max-negative-ttl`: value \"-1\"",
            ),
            ("cache-max-negative-ttl = \"soon\"", "value \"soon\""),
            (
                "cache-min-ttl = 600\n\ncache-max-ttl = 300",
                "x.toml:3: key `cache-max-ttl`: value \"300\" is invalid: at least cache-min-ttl (600)",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "x.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
