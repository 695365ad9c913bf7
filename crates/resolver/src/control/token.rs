//! The bearer token of TCP control: read from `control-token-file`, or
//! generated at first start into `state-dir` (as `rndc-confgen -a` writes
//! BIND's key). A token file readable or writable by group or others is
//! refused, naming the file.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::rand::SecureRandom;

use super::ControlError;
use super::settings::CONTROL_TOKEN_FILE_NAME;

/// Random bytes in a generated token (256 bits, hex-encoded).
const TOKEN_BYTES: usize = 32;

/// Whether `token` is usable: non-empty visible ASCII.
pub(super) fn valid_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Read a token file: the token is its content, trimmed; it must be
/// non-empty visible ASCII, and the file must be a regular file that
/// neither group nor others can read or write.
pub fn load_token(path: &Path) -> Result<String, ControlError> {
    let io = |source| ControlError::TokenFile {
        path: path.to_owned(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ControlError::TokenFileTooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let token = text.trim();
    if !valid_token(token) {
        return Err(ControlError::TokenFileInvalid {
            path: path.to_owned(),
        });
    }
    Ok(token.to_owned())
}

/// The token file kept in `state_dir`.
pub fn state_dir_token(state_dir: &Path) -> PathBuf {
    state_dir.join(CONTROL_TOKEN_FILE_NAME)
}

/// The token in `state_dir`, generated (mode 0600) if there is none yet.
/// Returns the token and whether it was generated now.
pub fn ensure_token(state_dir: &Path) -> Result<(String, bool), ControlError> {
    let path = state_dir_token(state_dir);
    if path.exists() {
        return load_token(&path).map(|t| (t, false));
    }
    let mut raw = [0u8; TOKEN_BYTES];
    ring::rand::SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| ControlError::TokenGenerate {
            path: path.clone(),
            source: std::io::Error::other("no system randomness"),
        })?;
    let token = data_encoding::HEXLOWER.encode(&raw);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(token.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    write().map_err(|source| ControlError::TokenGenerate {
        path: path.clone(),
        source,
    })?;
    Ok((token, true))
}

/// Whether a token can be kept in `state_dir` without writing anything
/// (`check-config`): an existing file must load; otherwise the directory
/// must be a writable directory.
pub fn check_token_dir(state_dir: &Path) -> Result<(), ControlError> {
    let path = state_dir_token(state_dir);
    if path.exists() {
        return load_token(&path).map(|_| ());
    }
    dir_writable(state_dir).map_err(|source| ControlError::TokenGenerate { path, source })
}

/// Whether `dir` is a directory this process can create files in (a probe
/// file is created and removed).
pub fn dir_writable(dir: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        ));
    }
    let probe = dir.join(format!(".lastgood-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)?;
    std::fs::remove_file(&probe)
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

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "lastgood-token-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn token_file_is_trimmed_and_checked() {
        let dir = temp_dir("load");
        let file = dir.join("token");
        write(&file, "  s3cret-Token\n", 0o600);
        assert_eq!(load_token(&file).unwrap(), "s3cret-Token");
        for bad in ["", " \n", "two words"] {
            write(&file, bad, 0o600);
            let err = load_token(&file).unwrap_err().to_string();
            assert!(err.contains(&file.display().to_string()), "{err}");
        }
        let missing = dir.join("missing");
        let err = load_token(&missing).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Issue 16: a token file readable by group or others is refused,
    /// naming the file.
    #[test]
    fn open_token_file_is_refused() {
        let dir = temp_dir("open");
        let file = dir.join("token");
        for mode in [0o644, 0o640, 0o604, 0o620] {
            write(&file, "tok", mode);
            let err = load_token(&file).unwrap_err().to_string();
            assert!(err.contains(&file.display().to_string()), "{err}");
            assert!(err.contains(&format!("{mode:04o}")), "{err}");
            assert!(err.contains("chmod 600"), "{err}");
        }
        write(&file, "tok", 0o400);
        assert_eq!(load_token(&file).unwrap(), "tok");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn generated_once_with_mode_0600() {
        let dir = temp_dir("gen");
        check_token_dir(&dir).unwrap();
        let (token, new) = ensure_token(&dir).unwrap();
        assert!(new);
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        let mode = std::fs::metadata(state_dir_token(&dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ensure_token(&dir).unwrap(), (token, false));
        check_token_dir(&dir).unwrap();
        let err = check_token_dir(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing/control.token"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
