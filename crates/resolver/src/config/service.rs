//! Running as a service (issue 19): `log-level`, and `user`/`group`, the
//! account `serve` switches to after binding its sockets when started as
//! root without systemd (under systemd the unit's `User=` and
//! `AmbientCapabilities=CAP_NET_BIND_SERVICE` do it instead).

use super::{ConfigError, entry_error};

/// The configuration file `serve`, `check-config` and every operator
/// subcommand read when `-c/--config` is not given, if it exists (the
/// Debian package installs a commented sample there).
pub const DEFAULT_CONFIG_FILE: &str = "/etc/lastgood/lastgood.toml";

/// `log-level`: the least severe level logged (`RUST_LOG`, when set,
/// wins over it and over `--log-level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// What `log-level` and `--log-level` accept.
    pub const ALLOWED: &'static str = "\"error\", \"warn\", \"info\", \"debug\" or \"trace\"";

    pub fn parse(s: &str) -> Option<LogLevel> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `user` (and `group`): who `serve` runs as once its sockets are bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub uid: u32,
    /// `group`'s gid, else the user's primary group.
    pub gid: u32,
}

/// The raw keys of this block.
pub(super) struct RawService {
    pub log_level: Option<toml::Spanned<String>>,
    pub user: Option<toml::Spanned<String>>,
    pub group: Option<toml::Spanned<String>>,
}

impl RawService {
    pub(super) fn check(
        self,
        text: &str,
        source_name: &str,
    ) -> Result<(LogLevel, Option<RunAs>), ConfigError> {
        let at = |key, span, value: &str, allowed: &str| {
            entry_error((text, source_name), key, span, value, allowed.to_owned())
        };
        let level = match self.log_level {
            None => LogLevel::default(),
            Some(l) => LogLevel::parse(l.get_ref())
                .ok_or_else(|| at("log-level", l.span(), l.get_ref(), LogLevel::ALLOWED))?,
        };
        let run_as = match (self.user, self.group) {
            (None, None) => None,
            (None, Some(g)) => {
                return Err(at(
                    "group",
                    g.span(),
                    g.get_ref(),
                    "only together with `user`",
                ));
            }
            (Some(u), group) => {
                let user = nix::unistd::User::from_name(u.get_ref())
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        at(
                            "user",
                            u.span(),
                            u.get_ref(),
                            "a user name known to this host (e.g. created by the package)",
                        )
                    })?;
                let gid = match group {
                    None => user.gid.as_raw(),
                    Some(g) => super::group_id(g.get_ref()).ok_or_else(|| {
                        at(
                            "group",
                            g.span(),
                            g.get_ref(),
                            "a group name or number known to this host",
                        )
                    })?,
                };
                Some(RunAs {
                    user: user.name,
                    uid: user.uid.as_raw(),
                    gid,
                })
            }
        };
        Ok((level, run_as))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::super::Config;
    use super::*;

    #[test]
    fn log_level_and_user_parse() {
        let c = Config::parse("", "x.toml").unwrap();
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.run_as, None);
        let c = Config::parse("log-level = \"debug\"\nuser = \"root\"\n", "x.toml").unwrap();
        assert_eq!(c.log_level, LogLevel::Debug);
        let run_as = c.run_as.unwrap();
        assert_eq!((run_as.uid, run_as.gid), (0, 0));
        let c = Config::parse("user = \"root\"\ngroup = \"0\"\n", "x.toml").unwrap();
        assert_eq!(c.run_as.unwrap().gid, 0);
    }

    #[test]
    fn service_errors_name_key_and_line() {
        let cases = [
            (
                "\nlog-level = \"loud\"",
                "x.toml:2: key `log-level`: value \"loud\" is invalid: \"error\"",
            ),
            (
                "user = \"no-such-user-here\"",
                "x.toml:1: key `user`: value \"no-such-user-here\"",
            ),
            (
                "group = \"root\"",
                "key `group`: value \"root\" is invalid: only together",
            ),
            (
                "user = \"root\"\ngroup = \"no-such-group-here\"",
                "x.toml:2: key `group`",
            ),
        ];
        for (text, want) in cases {
            let err = Config::parse(text, "x.toml").unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
