//! The NTA state file: its format (versioned JSON), the strict reader
//! ([`super::NtaStore::restore`]), the lenient one used at start that keeps
//! every entry that parses and reports the others by line
//! ([`super::NtaStore::open`], [`check_state_file`]), and atomic writes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{ConfigNta, Nta, NtaError, NtaSource, State, check_lifetime, check_reason, parse_zone};
use crate::clock::Timestamp;
use crate::limits::{MAX_NTA_STATE_FILE_BYTES, MAX_NTAS};

/// Version of the state file format.
pub(super) const STATE_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StateFile {
    version: u32,
    ntas: Vec<StateNta>,
    #[serde(default)]
    config_spent: Vec<StateSpent>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateNta {
    zone: String,
    reason: String,
    source: NtaSource,
    added_at_ms: u64,
    expires_at_ms: u64,
    /// `nta add --force`; absent in files written before the field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    force: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateSpent {
    zone: String,
    lifetime_ms: u64,
    reason: String,
}

impl StateFile {
    pub(super) fn from_state(state: &State) -> Self {
        Self {
            version: STATE_VERSION,
            ntas: state
                .ntas
                .iter()
                .map(|n| StateNta {
                    zone: n.zone.to_string(),
                    reason: n.reason.clone(),
                    source: n.source,
                    added_at_ms: n.added_at.as_millis(),
                    expires_at_ms: n.expires_at.as_millis(),
                    force: n.force,
                })
                .collect(),
            config_spent: state
                .spent
                .iter()
                .map(|s| StateSpent {
                    zone: s.zone.to_string(),
                    lifetime_ms: s.lifetime.as_millis().try_into().unwrap_or(u64::MAX),
                    reason: s.reason.clone(),
                })
                .collect(),
        }
    }
}

/// Read a state file, bounded by `MAX_NTA_STATE_FILE_BYTES`; `None` if
/// it does not exist.
pub(super) fn read_bytes(path: &Path) -> Result<Option<Vec<u8>>, NtaError> {
    let read = |source| NtaError::Read {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(read(source)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_NTA_STATE_FILE_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_NTA_STATE_FILE_BYTES {
        return Err(NtaError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(Some(bytes))
}

/// Read and check a state file; `None` if it does not exist.
pub(super) fn read_state(path: &Path, now: Timestamp) -> Result<Option<State>, NtaError> {
    match read_bytes(path)? {
        Some(bytes) => parse_state(&bytes, path, now).map(Some),
        None => Ok(None),
    }
}

/// One state-file entry, checked.
fn entry_nta(s: &StateNta) -> Result<Nta, NtaError> {
    let zone = parse_zone(&s.zone)?;
    let added_at = Timestamp::from_millis(s.added_at_ms);
    let expires_at = Timestamp::from_millis(s.expires_at_ms);
    check_lifetime(expires_at.saturating_since(added_at))?;
    check_reason(&s.reason)?;
    Ok(Nta {
        zone,
        reason: s.reason.clone(),
        added_at,
        expires_at,
        source: s.source,
        force: s.force,
    })
}

fn entry_spent(s: &StateSpent) -> Result<ConfigNta, NtaError> {
    Ok(ConfigNta {
        zone: parse_zone(&s.zone)?,
        lifetime: Duration::from_millis(s.lifetime_ms),
        reason: s.reason.clone(),
    })
}

/// Drop what expired while we were not running (Config ones become spent).
fn drop_expired(state: &mut State, now: Timestamp) {
    while let Some(i) = state.ntas.iter().position(|n| !n.active(now)) {
        state.take(i);
    }
}

/// Check the contents of a state file (`path` only names it in errors);
/// NTAs expired by `now` are dropped. Strict: the first problem is the
/// error ([`NtaStore::open`] is the lenient reader used at start).
pub(super) fn parse_state(bytes: &[u8], path: &Path, now: Timestamp) -> Result<State, NtaError> {
    let file: StateFile = serde_json::from_slice(bytes).map_err(|source| NtaError::Corrupt {
        path: path.to_owned(),
        source,
    })?;
    if file.version != STATE_VERSION {
        return Err(NtaError::Version {
            path: path.to_owned(),
            version: file.version,
        });
    }
    let bad = |index: usize, zone: &str, problem: NtaError| NtaError::BadEntry {
        path: path.to_owned(),
        index,
        zone: zone.to_owned(),
        problem: Box::new(problem),
    };
    let mut state = State::default();
    for (index, s) in file.config_spent.iter().enumerate() {
        state
            .spent
            .push(entry_spent(s).map_err(|e| bad(index, &s.zone, e))?);
    }
    for (index, s) in file.ntas.iter().enumerate() {
        let nta = entry_nta(s).map_err(|e| bad(index, &s.zone, e))?;
        if state.position(&nta.zone).is_some() {
            return Err(bad(index, &s.zone, NtaError::Duplicate { zone: nta.zone }));
        }
        state.ntas.push(nta);
    }
    if state.ntas.len() > MAX_NTAS {
        return Err(NtaError::TooMany {
            count: state.ntas.len(),
        });
    }
    drop_expired(&mut state, now);
    Ok(state)
}

/// What was wrong with a state file read at start ([`NtaStore::open`],
/// [`check_state_file`]). Displayed as one line: file, each problem with
/// its line, what was kept and where the file went.
#[derive(Debug, Default)]
pub struct StateReport {
    pub path: PathBuf,
    /// Each problem: its 1-based line (0 when no line applies) and what
    /// is wrong.
    pub problems: Vec<(usize, String)>,
    /// Entries kept (active NTAs).
    pub kept: usize,
    /// Where the file was moved (`Ok`) or why it could not be (`Err`);
    /// `None` when nothing was moved.
    pub moved_aside: Option<Result<PathBuf, String>>,
}

impl StateReport {
    /// No problem found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for StateReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NTA state file {}:", self.path.display())?;
        for (i, (line, problem)) in self.problems.iter().enumerate() {
            let sep = if i == 0 { " " } else { "; " };
            if *line > 0 {
                write!(f, "{sep}line {line}: {problem}")?;
            } else {
                write!(f, "{sep}{problem}")?;
            }
        }
        write!(f, "; {} NTA(s) kept", self.kept)?;
        match &self.moved_aside {
            Some(Ok(p)) => write!(f, "; the file was moved aside to {}", p.display()),
            Some(Err(e)) => write!(f, "; the file could not be moved aside: {e}"),
            None => Ok(()),
        }
    }
}

/// Check a state file as [`NtaStore::open`] does, without changing
/// anything (`check-config`).
pub fn check_state_file(path: &Path, now: Timestamp) -> StateReport {
    check_state(path, now).1
}

pub(super) fn check_state(path: &Path, now: Timestamp) -> (State, StateReport) {
    let mut report = StateReport {
        path: path.to_owned(),
        ..StateReport::default()
    };
    let state = match read_bytes(path) {
        Ok(None) => State::default(),
        Ok(Some(bytes)) => {
            let (state, problems) = parse_lenient(&bytes, now);
            report.problems = problems;
            state
        }
        Err(NtaError::Read { source, .. }) => {
            report
                .problems
                .push((0, format!("cannot be read: {source}")));
            State::default()
        }
        Err(e) => {
            report.problems.push((0, e.to_string()));
            State::default()
        }
    };
    report.kept = state.ntas.len();
    (state, report)
}

/// 1-based line of `part` (a slice of `text`) in `text`.
fn line_in(text: &str, part: &str) -> usize {
    // Both point into the same buffer; the difference is the offset.
    let at = (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    text.get(..at).map_or(0, |t| t.matches('\n').count()) + 1
}

/// A serde_json error as (line in `text`, message without its position),
/// for an error found while parsing `part` of `text`.
fn json_problem(text: &str, part: &str, e: &serde_json::Error) -> (usize, String) {
    let msg = e.to_string();
    let msg = msg
        .rsplit_once(" at line ")
        .map_or(msg.as_str(), |(m, _)| m)
        .to_owned();
    let line = line_in(text, part) + e.line().saturating_sub(1);
    (line, msg)
}

/// Parse a state file keeping every entry that checks; the others (and
/// anything else wrong) are returned as problems with their line.
fn parse_lenient(bytes: &[u8], now: Timestamp) -> (State, Vec<(usize, String)>) {
    let mut problems = Vec::new();
    let mut state = State::default();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes
                .get(..e.valid_up_to())
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
                + 1;
            problems.push((line, "not UTF-8 text (binary data?)".to_owned()));
            return (state, problems);
        }
    };
    let top: std::collections::BTreeMap<String, &RawValue> = match serde_json::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            problems.push(json_problem(text, text, &e));
            return (state, problems);
        }
    };
    match top
        .get("version")
        .map(|v| (v, serde_json::from_str::<u32>(v.get())))
    {
        Some((_, Ok(STATE_VERSION))) => {}
        Some((v, Ok(other))) => {
            problems.push((
                line_in(text, v.get()),
                format!("version {other} is not supported (expected {STATE_VERSION})"),
            ));
            return (state, problems);
        }
        Some((v, Err(e))) => {
            problems.push(json_problem(text, v.get(), &e));
            return (state, problems);
        }
        None => {
            problems.push((1, "missing field `version`".to_owned()));
            return (state, problems);
        }
    }
    for (key, value) in &top {
        if !matches!(key.as_str(), "version" | "ntas" | "config_spent") {
            problems.push((
                line_in(text, value.get()),
                format!("unknown field `{key}` ignored"),
            ));
        }
    }
    let entries = |key: &str, problems: &mut Vec<(usize, String)>| -> Vec<&RawValue> {
        let Some(list) = top.get(key) else {
            return Vec::new();
        };
        serde_json::from_str::<Vec<&RawValue>>(list.get()).unwrap_or_else(|e| {
            problems.push(json_problem(text, list.get(), &e));
            Vec::new()
        })
    };
    for raw in entries("config_spent", &mut problems) {
        match serde_json::from_str::<StateSpent>(raw.get()) {
            Ok(s) => match entry_spent(&s) {
                Ok(spent) => state.spent.push(spent),
                Err(e) => problems.push((line_in(text, raw.get()), e.to_string())),
            },
            Err(e) => problems.push(json_problem(text, raw.get(), &e)),
        }
    }
    for raw in entries("ntas", &mut problems) {
        let line = line_in(text, raw.get());
        let nta = match serde_json::from_str::<StateNta>(raw.get()) {
            Ok(s) => match entry_nta(&s) {
                Ok(nta) => nta,
                Err(e) => {
                    problems.push((line, format!("entry {:?}: {e}", s.zone)));
                    continue;
                }
            },
            Err(e) => {
                problems.push(json_problem(text, raw.get(), &e));
                continue;
            }
        };
        if state.position(&nta.zone).is_some() {
            problems.push((line, format!("zone {} is listed twice", nta.zone)));
        } else if state.ntas.len() >= MAX_NTAS {
            problems.push((
                line,
                format!("more than the limit MAX_NTAS ({MAX_NTAS}) entries"),
            ));
        } else {
            state.ntas.push(nta);
        }
    }
    drop_expired(&mut state, now);
    (state, problems)
}

/// Write `bytes` to `path` atomically: a temporary file in the same
/// directory, fsync, rename over `path`, then fsync the directory.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NtaError> {
    let err = |step: &'static str| {
        move |source: std::io::Error| NtaError::Write {
            path: path.to_owned(),
            step,
            source,
        }
    };
    let Some(file_name) = path.file_name() else {
        return Err(err("naming the temporary file")(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )));
    };
    let mut tmp_name = file_name.to_owned();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(err("creating the temporary file"))?;
        f.write_all(bytes)
            .map_err(err("writing the temporary file"))?;
        f.sync_all().map_err(err("syncing the temporary file"))?;
        std::fs::rename(&tmp, path).map_err(err("renaming the temporary file"))
    })();
    if written.is_err() {
        // Best effort: the error above is what matters.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // Make the rename durable. Some file systems refuse to sync a
    // directory; the data itself is already synced, so that is not fatal.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
