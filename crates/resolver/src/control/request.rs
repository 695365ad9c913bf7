//! Control API requests: routes, authorization, bodies and their fields.
//! Pure functions over what hyper hands us; every malformed input is a
//! [`ControlError`] naming the field, never a panic.

use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request};
use serde_json::{Map, Value};

use super::{ControlError, Flush};
use crate::duration::parse_duration;
use crate::limits::{CONTROL_READ_TIMEOUT, MAX_CONTROL_BODY_BYTES};
use crate::nta::{NtaError, parse_zone};

/// A recognised endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Metrics,
    Status,
    /// `GET /status` from a browser (`Accept: text/html`): the status page.
    StatusPage,
    /// `GET /status.json`: what the status page shows.
    StatusJson,
    NtaList,
    NtaAdd,
    /// `DELETE /nta/{zone}`, the zone as written in the path.
    NtaRemove(String),
    CacheFlush,
    /// `POST /cache/dump`, `POST /cache/load`: `{"file": "/abs/path"}` on
    /// the resolver's host.
    CacheDump,
    CacheLoad,
    /// `POST /zone/retry`: end a zone's failure window by probing it now.
    ZoneRetry,
    Reload,
    /// `GET /lookup?name=NAME&type=TYPE`: what the resolver holds for a
    /// question (read-only, no upstream query).
    Lookup,
}

impl Route {
    /// Match a method and path.
    pub fn parse(method: &Method, path: &str) -> Result<Route, ControlError> {
        let only = |want: Method, route: Route, allowed: &'static str| {
            if *method == want {
                Ok(route)
            } else {
                Err(ControlError::MethodNotAllowed {
                    method: method.clone(),
                    path: path.to_owned(),
                    allowed,
                })
            }
        };
        match path {
            "/metrics" => only(Method::GET, Route::Metrics, "GET"),
            "/status" => only(Method::GET, Route::Status, "GET"),
            "/status.json" => only(Method::GET, Route::StatusJson, "GET"),
            "/nta" if *method == Method::POST => Ok(Route::NtaAdd),
            "/nta" => only(Method::GET, Route::NtaList, "GET, POST"),
            "/cache/flush" => only(Method::POST, Route::CacheFlush, "POST"),
            "/cache/dump" => only(Method::POST, Route::CacheDump, "POST"),
            "/cache/load" => only(Method::POST, Route::CacheLoad, "POST"),
            "/zone/retry" => only(Method::POST, Route::ZoneRetry, "POST"),
            "/reload" => only(Method::POST, Route::Reload, "POST"),
            "/lookup" => only(Method::GET, Route::Lookup, "GET"),
            _ => match path.strip_prefix("/nta/") {
                Some(zone) if !zone.is_empty() => {
                    only(Method::DELETE, Route::NtaRemove(zone.to_owned()), "DELETE")
                }
                _ => Err(ControlError::NotFound {
                    method: method.clone(),
                    path: path.to_owned(),
                }),
            },
        }
    }

    /// Whether the endpoint changes state. Such requests must be JSON
    /// (`Content-Type: application/json`, which a browser cannot send
    /// cross-origin without a preflight) with no foreign `Origin`, and are
    /// logged with the peer. New endpoints say it here.
    pub fn changes_state(&self) -> bool {
        match self {
            Route::NtaAdd
            | Route::NtaRemove(_)
            | Route::CacheFlush
            | Route::CacheDump
            | Route::CacheLoad
            | Route::ZoneRetry
            | Route::Reload => true,
            Route::Metrics
            | Route::Status
            | Route::StatusPage
            | Route::StatusJson
            | Route::NtaList
            | Route::Lookup => false,
        }
    }

    /// Served without the token and without the `Host` check, on both
    /// listeners (read-only): the metrics and the status page with its
    /// JSON.
    pub fn is_public(&self) -> bool {
        matches!(self, Route::Metrics | Route::StatusPage | Route::StatusJson)
    }

    /// `GET /status` asked by a browser (`Accept` lists `text/html`) is
    /// the status page; the CLI's `GET /status` stays the JSON status.
    pub fn negotiate(self, headers: &HeaderMap) -> Route {
        let html = headers
            .get_all(header::ACCEPT)
            .iter()
            .any(|v| String::from_utf8_lossy(v.as_bytes()).contains("text/html"));
        match self {
            Route::Status if html => Route::StatusPage,
            other => other,
        }
    }

    /// The `endpoint` label of `lastgood_control_requests_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Metrics => "metrics",
            Route::Status => "status",
            Route::StatusPage => "status_page",
            Route::StatusJson => "status_json",
            Route::NtaList => "nta_list",
            Route::NtaAdd => "nta_add",
            Route::NtaRemove(_) => "nta_remove",
            Route::CacheFlush => "cache_flush",
            Route::CacheDump => "cache_dump",
            Route::CacheLoad => "cache_load",
            Route::ZoneRetry => "zone_retry",
            Route::Reload => "reload",
            Route::Lookup => "lookup",
        }
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>`. The token
/// comparison does not stop at the first differing byte.
pub(super) fn authorized(token: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && same_bytes(given.trim().as_bytes(), token.as_bytes())
}

/// A state-changing request must say `Content-Type: application/json`
/// (parameters such as `charset` allowed).
pub(super) fn check_json(headers: &HeaderMap) -> Result<(), ControlError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let ok = given.as_deref().is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if ok {
        Ok(())
    } else {
        Err(ControlError::NotJson {
            content_type: given.unwrap_or_default(),
        })
    }
}

/// A state-changing request must carry no `Origin` (browsers send one on
/// cross-site requests; our CLI never does) or one of `allowed`.
pub(super) fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ControlError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    if allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(origin.trim()))
    {
        Ok(())
    } else {
        Err(ControlError::ForeignOrigin { origin })
    }
}

/// The names a TCP listener answers to in `Host` (DNS rebinding defence):
/// its listen and local addresses, `localhost` on loopback, and the
/// configured `control-allow-host` names; with the listener's port or none.
#[derive(Clone, Debug, Default)]
pub(super) struct HostNames {
    pub port: u16,
    pub ips: Vec<std::net::IpAddr>,
    pub names: Vec<String>,
}

impl HostNames {
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim();
        let (name, port) = if let Some(rest) = host.strip_prefix('[') {
            match rest.split_once(']') {
                Some((ip, tail)) => (ip, tail.strip_prefix(':')),
                None => return false,
            }
        } else {
            match host.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') => (n, Some(p)),
                Some(_) => return false,
                None => (host, None),
            }
        };
        if port.is_some_and(|p| p.parse::<u16>().ok() != Some(self.port)) {
            return false;
        }
        match name.parse::<std::net::IpAddr>() {
            Ok(ip) => self.ips.contains(&ip),
            Err(_) => self.names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }
}

/// A TCP request's `Host` must name the listener.
pub(super) fn check_host(headers: &HeaderMap, names: &HostNames) -> Result<(), ControlError> {
    let host = headers
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if names.allows(&host) {
        Ok(())
    } else {
        Err(ControlError::ForeignHost { host })
    }
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Read the whole body, bounded in size and time.
pub(super) async fn read_body(req: Request<Incoming>) -> Result<Bytes, ControlError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > u64::try_from(MAX_CONTROL_BODY_BYTES).unwrap_or(u64::MAX)) {
        return Err(ControlError::BodyTooLarge);
    }
    let body = Limited::new(req.into_body(), MAX_CONTROL_BODY_BYTES);
    match tokio::time::timeout(CONTROL_READ_TIMEOUT, body.collect()).await {
        Err(_) => Err(ControlError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ControlError::BodyTooLarge)
        }
        Ok(Err(source)) => Err(ControlError::BodyRead { source }),
    }
}

/// `{"file": "/abs/path"}` of `cache dump` and `cache load`.
pub fn parse_cache_file(body: &[u8]) -> Result<std::path::PathBuf, ControlError> {
    let map = object(body, &["file"])?;
    let file = match map.get("file") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ControlError::FieldType {
                field: "file",
                expected: "a string",
            });
        }
        None => return Err(ControlError::MissingField { field: "file" }),
    };
    let path = std::path::PathBuf::from(&file);
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(ControlError::RelativePath { path: file })
    }
}

/// The body as a JSON object whose keys are all in `allowed`; an empty
/// body is an empty object.
fn object(
    body: &[u8],
    allowed: &'static [&'static str],
) -> Result<Map<String, Value>, ControlError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|source| ControlError::Json { source })?;
    let Value::Object(map) = value else {
        return Err(ControlError::NotObject);
    };
    if let Some(field) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ControlError::UnknownField {
            field: field.clone(),
            allowed: allowed_list(allowed),
        });
    }
    Ok(map)
}

fn allowed_list(allowed: &'static [&'static str]) -> &'static str {
    match allowed {
        ["zone", "lifetime", "reason", "force"] => "zone, lifetime, reason, force",
        ["name", "zone", "all"] => "name, zone, all",
        ["file"] => "file",
        _ => "none",
    }
}

/// A string field; absent or null is `None`.
fn string(map: &Map<String, Value>, field: &'static str) -> Result<Option<String>, ControlError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ControlError::FieldType {
            field,
            expected: "a string",
        }),
    }
}

/// A `POST /nta` body.
#[derive(Debug, PartialEq)]
pub(super) struct NtaAdd {
    pub zone: Name,
    pub lifetime: Option<Duration>,
    pub reason: String,
    /// Kept until it expires, whatever the recheck finds.
    pub force: bool,
}

impl NtaAdd {
    pub fn parse(body: &[u8]) -> Result<NtaAdd, ControlError> {
        let map = object(body, &["zone", "lifetime", "reason", "force"])?;
        let zone = string(&map, "zone")?.ok_or(ControlError::MissingField { field: "zone" })?;
        let zone = parse_zone(&zone).map_err(|e| zone_error("zone", e))?;
        let lifetime = match map.get("lifetime") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                parse_duration(s).ok_or_else(|| ControlError::BadLifetime { value: s.clone() })?,
            ),
            Some(Value::Number(n)) => Some(Duration::from_secs(n.as_u64().ok_or_else(|| {
                ControlError::BadLifetime {
                    value: n.to_string(),
                }
            })?)),
            Some(_) => {
                return Err(ControlError::FieldType {
                    field: "lifetime",
                    expected: "a duration string such as \"1h\"",
                });
            }
        };
        Ok(NtaAdd {
            zone,
            lifetime,
            reason: string(&map, "reason")?.unwrap_or_default(),
            force: flag(&map, "force")?,
        })
    }
}

fn zone_error(field: &'static str, e: NtaError) -> ControlError {
    match e {
        NtaError::InvalidZone { zone, reason } => ControlError::BadName {
            field,
            value: zone,
            reason,
        },
        other => ControlError::Nta(other),
    }
}

/// `GET /lookup`'s query string: `name` (required) and `type` (default
/// A), percent-encoded; other parameters are refused.
pub(super) fn parse_lookup(query: Option<&str>) -> Result<(Name, RecordType), ControlError> {
    let (mut name, mut qtype) = (None, None);
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value =
            percent_decode(&value.replace('+', " ")).ok_or_else(|| ControlError::BadPath {
                path: format!("/lookup?{}", query.unwrap_or_default()),
            })?;
        match key {
            "name" => name = Some(value),
            "type" => qtype = Some(value),
            other => {
                return Err(ControlError::UnknownField {
                    field: other.to_owned(),
                    allowed: "name, type",
                });
            }
        }
    }
    let name = parse_name(
        "name",
        &name.ok_or(ControlError::MissingField { field: "name" })?,
    )?;
    let qtype = match qtype {
        None => RecordType::A,
        Some(t) => RecordType::from_str(&t.trim().to_uppercase())
            .ok()
            .filter(|t| !matches!(t, RecordType::Unknown(_) | RecordType::ZERO))
            .ok_or(ControlError::BadType { value: t })?,
    };
    Ok((name, qtype))
}

/// A `POST /cache/flush` body: exactly one of `name`, `zone`, `all: true`.
/// `POST /cache/flush`: what to flush, and whether stale copies go too
/// (`"drop_stale": true`; by default the last validated answers stay for
/// the stale tier).
pub(super) fn parse_flush(body: &[u8]) -> Result<(Flush, bool), ControlError> {
    let map = object(body, FLUSH_FIELDS)?;
    if flag(&map, "bogus")? {
        return Err(ControlError::FlushTarget);
    }
    let all = flag(&map, "all")?;
    let drop_stale = flag(&map, "drop_stale")?;
    let name = string(&map, "name")?;
    let zone = string(&map, "zone")?;
    let what = match (name, zone, all) {
        (Some(n), None, false) => Flush::Name(parse_name("name", &n)?),
        (None, Some(z), false) => Flush::Zone(parse_name("zone", &z)?),
        (None, None, true) => Flush::All,
        _ => return Err(ControlError::FlushTarget),
    };
    Ok((what, drop_stale))
}

/// The fields of `POST /cache/flush`.
const FLUSH_FIELDS: &[&str] = &["name", "zone", "all", "drop_stale", "fleet", "bogus"];

/// `POST /cache/flush` with `"bogus": true` (and nothing else): drop the
/// remembered validation failures (`cache flush --bogus`).
pub(super) fn flush_bogus(body: &[u8]) -> Result<bool, ControlError> {
    let map = object(body, FLUSH_FIELDS)?;
    if !flag(&map, "bogus")? {
        return Ok(false);
    }
    if map.keys().any(|k| k != "bogus") {
        return Err(ControlError::FlushTarget);
    }
    Ok(true)
}

/// `POST /cache/flush`'s `"fleet": true`: flush every instance sharing
/// the fleet's Redis.
pub(super) fn flush_fleet(body: &[u8]) -> Result<bool, ControlError> {
    flag(&object(body, FLUSH_FIELDS)?, "fleet")
}

/// An optional boolean field (absent, null: false).
fn flag(map: &Map<String, Value>, field: &'static str) -> Result<bool, ControlError> {
    match map.get(field) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        Some(_) => Err(ControlError::FieldType {
            field,
            expected: "true or false",
        }),
    }
}

/// `POST /zone/retry`: `{"zone"}`.
pub(super) fn parse_zone_retry(body: &[u8]) -> Result<Name, ControlError> {
    let map = object(body, &["zone"])?;
    match string(&map, "zone")? {
        Some(z) => parse_name("zone", &z),
        None => Err(ControlError::FieldType {
            field: "zone",
            expected: "a zone name",
        }),
    }
}

/// Any domain name, the root included: fully qualified, lowercase.
fn parse_name(field: &'static str, s: &str) -> Result<Name, ControlError> {
    let bad = |reason: String| ControlError::BadName {
        field,
        value: s.to_owned(),
        reason,
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(bad("empty name".to_owned()));
    }
    let mut name = Name::from_str(t).map_err(|e| bad(e.to_string()))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// The zone of `DELETE /nta/{zone}` (percent-decoded).
pub(super) fn zone_from_path(raw: &str) -> Result<Name, ControlError> {
    let decoded = percent_decode(raw).ok_or_else(|| ControlError::BadPath {
        path: format!("/nta/{raw}"),
    })?;
    parse_zone(&decoded).map_err(|e| zone_error("path", e))
}

/// Decode `%XX` escapes; `None` on a bad escape or non-UTF-8 result.
pub fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
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
        Name::from_str(s).unwrap()
    }

    #[test]
    fn routes() {
        let ok = [
            (Method::GET, "/metrics", Route::Metrics),
            (Method::GET, "/status", Route::Status),
            (Method::GET, "/nta", Route::NtaList),
            (Method::POST, "/nta", Route::NtaAdd),
            (Method::DELETE, "/nta/lab.", Route::NtaRemove("lab.".into())),
            (Method::POST, "/cache/flush", Route::CacheFlush),
            (Method::POST, "/reload", Route::Reload),
            (Method::GET, "/lookup", Route::Lookup),
        ];
        for (m, p, want) in ok {
            assert_eq!(Route::parse(&m, p).unwrap(), want, "{m} {p}");
        }
        let bad = [
            (Method::POST, "/metrics", 405),
            (Method::DELETE, "/nta", 405),
            (Method::GET, "/nta/lab.", 405),
            (Method::DELETE, "/nta/", 404),
            (Method::GET, "/", 404),
            (Method::GET, "/reload", 405),
            (Method::POST, "/lookup", 405),
        ];
        for (m, p, want) in bad {
            let e = Route::parse(&m, p).unwrap_err();
            assert_eq!(e.status().as_u16(), want, "{m} {p}: {e}");
        }
    }

    #[test]
    fn bearer_token() {
        let mut h = HeaderMap::new();
        assert!(!authorized("tok", &h));
        for (value, want) in [
            ("Bearer tok", true),
            ("bearer tok", true),
            ("Bearer  tok ", true),
            ("Bearer to", false),
            ("Bearer tokk", false),
            ("Basic tok", false),
            ("tok", false),
        ] {
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(authorized("tok", &h), want, "{value}");
        }
    }

    /// Issue 16: browser-proof checks for state-changing requests.
    #[test]
    fn browser_checks() {
        let mut h = HeaderMap::new();
        assert!(matches!(check_json(&h), Err(ControlError::NotJson { .. })));
        for (ct, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("multipart/form-data; boundary=x", false),
        ] {
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(check_json(&h).is_ok(), ok, "{ct}");
        }
        assert!(check_origin(&h, &[]).is_ok());
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(matches!(
            check_origin(&h, &[]),
            Err(ControlError::ForeignOrigin { .. })
        ));
        assert!(check_origin(&h, &["http://evil.example".to_owned()]).is_ok());

        let names = HostNames {
            port: 8053,
            ips: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            names: vec!["localhost".into()],
        };
        for (host, ok) in [
            ("127.0.0.1:8053", true),
            ("127.0.0.1", true),
            ("[::1]:8053", true),
            ("LOCALHOST:8053", true),
            ("127.0.0.1:80", false),
            ("evil.example:8053", false),
            ("evil.example", false),
            ("127.0.0.2:8053", false),
            ("", false),
            ("::1:8053", false),
        ] {
            assert_eq!(names.allows(host), ok, "{host}");
        }
    }

    #[test]
    fn nta_add_bodies() {
        let add = NtaAdd::parse(br#"{"zone": "Lab", "lifetime": "2h", "reason": "KSK"}"#).unwrap();
        assert_eq!(
            add,
            NtaAdd {
                zone: name("lab."),
                lifetime: Some(Duration::from_secs(7200)),
                reason: "KSK".into(),
                force: false,
            }
        );
        let add = NtaAdd::parse(br#"{"zone": "lab.", "force": true}"#).unwrap();
        assert!(add.force);
        let add = NtaAdd::parse(br#"{"zone": "lab.", "lifetime": 60}"#).unwrap();
        assert_eq!(add.lifetime, Some(Duration::from_secs(60)));
        assert_eq!(add.reason, "");
        let cases: [(&[u8], &str); 10] = [
            (b"", "field `zone` is required"),
            (b"{", "not valid JSON"),
            (b"[1]", "must be a JSON object"),
            (br#"{"zone": 5}"#, "field `zone`: expected a string"),
            (
                br#"{"zone": "a..b"}"#,
                "field `zone`: \"a..b\" is not a valid domain name",
            ),
            (br#"{"zone": "."}"#, "root zone"),
            (
                br#"{"zone": "lab.", "lifetime": "soon"}"#,
                "field `lifetime`: \"soon\"",
            ),
            (
                br#"{"zone": "lab.", "lifetime": true}"#,
                "field `lifetime`: expected",
            ),
            (
                br#"{"zone": "lab.", "reason": 1}"#,
                "field `reason`: expected a string",
            ),
            (
                br#"{"zone": "lab.", "zonee": 1}"#,
                "field `zonee` is unknown; allowed: zone, lifetime, reason, force",
            ),
        ];
        for (body, want) in cases {
            let e = NtaAdd::parse(body).unwrap_err();
            assert_eq!(e.status().as_u16(), 400, "{e}");
            assert!(
                e.to_string().contains(want),
                "{}: {e}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn flush_bodies() {
        assert_eq!(
            parse_flush(br#"{"name": "WWW.lab"}"#).unwrap(),
            (Flush::Name(name("www.lab.")), false)
        );
        assert_eq!(
            parse_flush(br#"{"zone": ".", "drop_stale": true}"#).unwrap(),
            (Flush::Zone(Name::root()), true)
        );
        assert_eq!(
            parse_flush(br#"{"all": true}"#).unwrap(),
            (Flush::All, false)
        );
        assert!(matches!(
            parse_flush(br#"{"all": true, "drop_stale": 1}"#),
            Err(ControlError::FieldType { .. })
        ));
        assert_eq!(
            parse_zone_retry(br#"{"zone": "Lab"}"#).unwrap(),
            name("lab.")
        );
        assert!(parse_zone_retry(br#"{}"#).is_err());
        for body in [
            &b""[..],
            br#"{"all": false}"#,
            br#"{"name": "a.", "zone": "b."}"#,
            br#"{"name": "a.", "all": true}"#,
        ] {
            assert!(matches!(parse_flush(body), Err(ControlError::FlushTarget)));
        }
        assert!(matches!(
            parse_flush(br#"{"all": "yes"}"#),
            Err(ControlError::FieldType { field: "all", .. })
        ));
        assert!(matches!(
            parse_flush(br#"{"name": ""}"#),
            Err(ControlError::BadName { field: "name", .. })
        ));
    }

    #[test]
    fn lookup_queries() {
        assert_eq!(
            parse_lookup(Some("name=Www.Lab&type=mx")).unwrap(),
            (name("www.lab."), RecordType::MX)
        );
        assert_eq!(
            parse_lookup(Some("type=A&name=a%2Eb")).unwrap(),
            (name("a.b."), RecordType::A)
        );
        assert_eq!(parse_lookup(Some("name=.")).unwrap().0, Name::root());
        for (q, want) in [
            (None, "field `name` is required"),
            (Some("name="), "empty name"),
            (Some("name=a.&type="), "field `type`"),
            (Some("name=a.&type=TYPE99999"), "field `type`"),
            (Some("name=a.&x=1"), "field `x` is unknown"),
            (Some("name=%"), "bad percent-encoding"),
        ] {
            let e = parse_lookup(q).unwrap_err();
            assert_eq!(e.status().as_u16(), 400, "{q:?}: {e}");
            assert!(e.to_string().contains(want), "{q:?}: {e}");
        }
        assert!(flush_bogus(br#"{"bogus": true}"#).unwrap());
        assert!(!flush_bogus(br#"{"all": true}"#).unwrap());
        assert!(matches!(
            flush_bogus(br#"{"bogus": true, "name": "a."}"#),
            Err(ControlError::FlushTarget)
        ));
        assert!(matches!(
            parse_flush(br#"{"bogus": true}"#),
            Err(ControlError::FlushTarget)
        ));
    }

    #[test]
    fn paths() {
        assert_eq!(percent_decode("lab%2E").unwrap(), "lab.");
        assert_eq!(percent_decode("a%2"), None);
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(zone_from_path("Lab.").unwrap(), name("lab."));
        assert!(matches!(
            zone_from_path("%"),
            Err(ControlError::BadPath { .. })
        ));
        assert!(matches!(
            zone_from_path("a..b"),
            Err(ControlError::BadName { field: "path", .. })
        ));
    }
}
