//! Which instance answered: CHAOS-class TXT questions (`id.server.`,
//! `hostname.bind.`, `version.server.`, `version.bind.`) and the NSID the
//! server puts in the OPT of an answer to a query that carries an empty
//! NSID option (RFC 5001). Pure: a question and the settings in, an
//! [`Answer`] out.
//!
//! As Unbound does with `hide-identity`/`hide-version`: a hidden (or
//! unset) value is answered REFUSED, as is every other CHAOS question. The
//! version is hidden unless configured.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::query::{Answer, ClientQuery, Tier};

/// What the server says about itself (`identity`, `hide-identity`,
/// `version`, `nsid`). The default says nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerIdentity {
    /// Answered to `id.server.` and `hostname.bind.`; `None`: REFUSED.
    pub identity: Option<String>,
    /// Answered to `version.server.` and `version.bind.`; `None`: REFUSED.
    pub version: Option<String>,
    /// Returned in the OPT of answers to queries carrying an NSID option.
    pub nsid: Option<Vec<u8>>,
}

/// The answer to a CHAOS-class question.
pub fn answer(query: &ClientQuery, identity: &ServerIdentity) -> Answer {
    let name = query.name.to_lowercase();
    let is = |s: &str| Name::from_ascii(s).is_ok_and(|n| n == name);
    let text = if is("id.server.") || is("hostname.bind.") {
        identity.identity.as_deref()
    } else if is("version.server.") || is("version.bind.") {
        identity.version.as_deref()
    } else {
        None
    };
    let asks_txt = matches!(query.qtype, RecordType::TXT | RecordType::ANY);
    match text {
        Some(text) if asks_txt => {
            let mut record = Record::from_rdata(
                query.name.clone(),
                0,
                RData::TXT(TXT::new(vec![text.to_owned()])),
            );
            record.dns_class = DNSClass::CH;
            Answer {
                answers: vec![record],
                ..Answer::error(ResponseCode::NoError, Tier::Local, Vec::new())
            }
        }
        _ => Answer::error(ResponseCode::Refused, Tier::Local, Vec::new()),
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

    fn q(name: &str, qtype: RecordType) -> ClientQuery {
        ClientQuery {
            name: Name::from_ascii(name).unwrap(),
            qtype,
            qclass: DNSClass::CH,
            dnssec_ok: false,
            checking_disabled: false,
            recursion_desired: true,
        }
    }

    #[test]
    fn chaos_questions() {
        let id = ServerIdentity {
            identity: Some("ns7".into()),
            version: None,
            nsid: None,
        };
        for (name, qtype, want) in [
            ("id.server.", RecordType::TXT, Some("ns7")),
            ("ID.Server.", RecordType::TXT, Some("ns7")),
            ("hostname.bind.", RecordType::ANY, Some("ns7")),
            ("id.server.", RecordType::A, None),
            ("version.bind.", RecordType::TXT, None),
            ("version.server.", RecordType::TXT, None),
            ("authors.bind.", RecordType::TXT, None),
        ] {
            let a = answer(&q(name, qtype), &id);
            match want {
                Some(text) => {
                    assert_eq!(a.rcode, ResponseCode::NoError, "{name}");
                    let r = &a.answers[0];
                    assert_eq!(r.dns_class, DNSClass::CH);
                    assert_eq!(r.name.to_string(), name, "case kept");
                    let RData::TXT(txt) = &r.data else {
                        panic!("{r:?}")
                    };
                    assert_eq!(txt.to_string(), text);
                }
                None => assert_eq!(a.rcode, ResponseCode::Refused, "{name} {qtype}"),
            }
        }
        let hidden = ServerIdentity::default();
        let a = answer(&q("id.server.", RecordType::TXT), &hidden);
        assert_eq!(a.rcode, ResponseCode::Refused);
        let with_version = ServerIdentity {
            version: Some("lastgood 1".into()),
            ..hidden
        };
        let a = answer(&q("version.bind.", RecordType::TXT), &with_version);
        assert_eq!(a.rcode, ResponseCode::NoError);
    }
}
