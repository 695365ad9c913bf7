//! Durations as operators write them: `90`, `90s`, `15m`, `2h`, `1d`
//! (config keys, NTA lifetimes over the control API).

use std::time::Duration;

/// `"30s"`, `"5m"`, `"1h"`, `"1d"`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (s.get(..i)?, s.get(i..)?),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}
