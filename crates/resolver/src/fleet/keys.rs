//! What the fleet keeps in Redis and says on its channel: key names, the
//! NTA records and the event messages. Pure: strings and bytes in and out.
//!
//! # Layout (version 1)
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `lastgood:1:e:<name>\|<qtype>` | string, `EX` = TTL + `max-stale-ttl` left | one Validated-view entry in the store's entry format (`store::entry`), chain included |
//! | `lastgood:1:ntas` | hash, field = zone | one API-added NTA: `{"reason", "added_at_ms", "expires_at_ms", "force"?}` |
//! | `lastgood:1:events` | pub/sub channel | `{"from", "event": "nta"}` or `{"from", "event": "flush", "all"/"zone"/"name", "drop_stale"}` |
//!
//! `<name>` is the lowercased presentation form with its final dot,
//! `<qtype>` the type's number. Nothing here is trusted: an entry is
//! proven again before use, an NTA record or event that does not parse
//! is ignored and counted.

use hickory_proto::rr::{Name, RecordType};
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::control::Flush;

use super::limits::MAX_EVENT_BYTES;

/// Every key and channel starts with this (format version 1).
pub const PREFIX: &str = "lastgood:1:";
/// The hash of fleet-wide NTAs.
pub const NTA_HASH: &str = "lastgood:1:ntas";
/// The pub/sub channel of fleet events.
pub const EVENTS_CHANNEL: &str = "lastgood:1:events";

/// The key of the Validated-view entry for (`name`, `qtype`).
pub fn entry_key(name: &Name, qtype: RecordType) -> String {
    let mut name = name.to_lowercase();
    name.set_fqdn(true);
    format!("{PREFIX}e:{name}|{}", u16::from(qtype))
}

/// One NTA as held in [`NTA_HASH`] (the zone is the field).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtaRecord {
    pub reason: String,
    pub added_at_ms: u64,
    pub expires_at_ms: u64,
    /// `nta add --force`: no instance's recheck lifts it. Written only
    /// when set, so records of unforced NTAs read as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

impl NtaRecord {
    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from_millis(self.expires_at_ms)
    }
}

/// Something one instance tells the others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The NTA hash changed: read it again.
    NtaChanged,
    /// Flush as `lastgood cache flush` does.
    Flush { what: Flush, drop_stale: bool },
}

/// An event on the wire, with the instance that sent it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    from: String,
    event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    drop_stale: Option<bool>,
}

/// Why a message on the channel was ignored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("fleet event of {len} bytes is over MAX_EVENT_BYTES ({MAX_EVENT_BYTES})")]
    TooLong { len: usize },
    #[error("fleet event does not parse: {0}")]
    Parse(String),
    #[error("fleet event names a bad domain name: {0}")]
    Name(String),
}

/// Encode `event` as sent by instance `from`.
pub fn encode_event(from: &str, event: &Event) -> String {
    let mut w = Wire {
        from: from.to_owned(),
        ..Wire::default()
    };
    match event {
        Event::NtaChanged => w.event = "nta".to_owned(),
        Event::Flush { what, drop_stale } => {
            w.event = "flush".to_owned();
            w.drop_stale = Some(*drop_stale);
            match what {
                Flush::All => w.all = Some(true),
                Flush::Zone(z) => w.zone = Some(z.to_string()),
                Flush::Name(n) => w.name = Some(n.to_string()),
            }
        }
    }
    serde_json::to_string(&w).unwrap_or_default()
}

/// Decode a message: the sender and the event.
pub fn decode_event(bytes: &[u8]) -> Result<(String, Event), EventError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLong { len: bytes.len() });
    }
    let w: Wire = serde_json::from_slice(bytes).map_err(|e| EventError::Parse(e.to_string()))?;
    let name = |s: &str| {
        Name::from_ascii(s)
            .map(|n| n.to_lowercase())
            .map_err(|e| EventError::Name(e.to_string()))
    };
    let event = match (w.event.as_str(), w.all, w.zone, w.name) {
        ("nta", None, None, None) => Event::NtaChanged,
        ("flush", Some(true), None, None) => flush(Flush::All, w.drop_stale),
        ("flush", None, Some(z), None) => flush(Flush::Zone(name(&z)?), w.drop_stale),
        ("flush", None, None, Some(n)) => flush(Flush::Name(name(&n)?), w.drop_stale),
        (other, ..) => return Err(EventError::Parse(format!("unknown event {other:?}"))),
    };
    Ok((w.from, event))
}

fn flush(what: Flush, drop_stale: Option<bool>) -> Event {
    Event::Flush {
        what,
        drop_stale: drop_stale.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn entry_keys_are_lowercase_and_typed() {
        assert_eq!(
            entry_key(&n("WWW.Lab."), RecordType::A),
            "lastgood:1:e:www.lab.|1"
        );
        assert_eq!(
            entry_key(&n("www.lab"), RecordType::AAAA),
            "lastgood:1:e:www.lab.|28"
        );
    }

    #[test]
    fn events_round_trip() {
        let cases = [
            Event::NtaChanged,
            Event::Flush {
                what: Flush::All,
                drop_stale: false,
            },
            Event::Flush {
                what: Flush::Zone(n("lab.")),
                drop_stale: true,
            },
            Event::Flush {
                what: Flush::Name(n("www.lab.")),
                drop_stale: false,
            },
        ];
        for event in cases {
            let text = encode_event("a1", &event);
            let (from, back) = decode_event(text.as_bytes()).unwrap();
            assert_eq!(from, "a1");
            assert_eq!(back, event, "{text}");
        }
    }

    /// A forced NTA says so; an unforced one is written as before the
    /// field existed, and such records read as unforced.
    #[test]
    fn nta_records_carry_force() {
        let record = |force| NtaRecord {
            reason: "r".into(),
            added_at_ms: 1,
            expires_at_ms: 2,
            force,
        };
        let plain = serde_json::to_string(&record(false)).unwrap();
        assert_eq!(plain, r#"{"reason":"r","added_at_ms":1,"expires_at_ms":2}"#);
        let forced = serde_json::to_string(&record(true)).unwrap();
        assert!(forced.ends_with(r#","force":true}"#), "{forced}");
        let back: NtaRecord = serde_json::from_str(&forced).unwrap();
        assert!(back.force);
        let old: NtaRecord = serde_json::from_str(&plain).unwrap();
        assert!(!old.force);
    }

    #[test]
    fn bad_events_are_errors() {
        let long = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(matches!(
            decode_event(&long),
            Err(EventError::TooLong { .. })
        ));
        for bad in [
            &b"not json"[..],
            br#"{"from":"a","event":"reboot"}"#,
            br#"{"from":"a","event":"flush"}"#,
            br#"{"from":"a","event":"flush","all":true,"zone":"lab."}"#,
            br#"{"from":"a","event":"nta","extra":1}"#,
            br#"{"from":"a","event":"flush","zone":"a..b"}"#,
        ] {
            assert!(
                decode_event(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
