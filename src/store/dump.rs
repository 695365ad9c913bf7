//! `lastgood cache dump FILE` / `cache load FILE` files: the store's
//! entries, each in the entry format of `entry.rs` (chain included), so
//! a load proves every entry again exactly as a store read does.
//!
//! ```text
//! "LGDUMP" version:u8 { len:u32 entry }*
//! ```
//!
//! Written to a new file (never over an existing one), mode 0600. Read
//! frame by frame: a frame over [`MAX_ENTRY_BYTES`] or a truncated one
//! ends the read with an error after the frames before it.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::limits::MAX_ENTRY_BYTES;

const MAGIC: &[u8; 6] = b"LGDUMP";
/// The dump format version written; readers refuse any other.
pub const DUMP_VERSION: u8 = 1;

/// Why a dump could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a lastgood cache dump (version {DUMP_VERSION})", path.display())]
    NotADump { path: PathBuf },
    #[error("{}: entry {index}: {len} bytes is over MAX_ENTRY_BYTES ({MAX_ENTRY_BYTES})", path.display())]
    TooLarge {
        path: PathBuf,
        index: u64,
        len: usize,
    },
    #[error("{}: truncated in entry {index}", path.display())]
    Truncated { path: PathBuf, index: u64 },
}

/// Writes a dump frame by frame.
pub struct DumpWriter {
    out: BufWriter<File>,
    path: PathBuf,
    pub entries: u64,
}

impl DumpWriter {
    /// Create `path` (it must not exist), mode 0600.
    pub fn create(path: &Path) -> Result<Self, DumpError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| DumpError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let mut out = BufWriter::new(file);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&[DUMP_VERSION]).map_err(io)?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            entries: 0,
        })
    }

    pub fn write(&mut self, entry: &[u8]) -> Result<(), DumpError> {
        let len = u32::try_from(entry.len())
            .ok()
            .filter(|_| entry.len() <= MAX_ENTRY_BYTES)
            .ok_or(DumpError::TooLarge {
                path: self.path.clone(),
                index: self.entries,
                len: entry.len(),
            })?;
        let io = |source| DumpError::Io {
            path: self.path.clone(),
            source,
        };
        self.out.write_all(&len.to_be_bytes()).map_err(io)?;
        self.out.write_all(entry).map_err(io)?;
        self.entries += 1;
        Ok(())
    }

    /// Flush and sync; returns the entries written.
    pub fn finish(self) -> Result<u64, DumpError> {
        let path = self.path.clone();
        let io = |source| DumpError::Io {
            path: path.clone(),
            source,
        };
        let file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(self.entries)
    }
}

/// Call `each` with every entry of the dump at `path`, in order; returns
/// how many there were.
pub fn read(path: &Path, mut each: impl FnMut(&[u8])) -> Result<u64, DumpError> {
    let io = |source| DumpError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut input = BufReader::new(File::open(path).map_err(io)?);
    let mut head = [0u8; 7];
    if input.read_exact(&mut head).is_err() || head[..6] != MAGIC[..] || head[6] != DUMP_VERSION {
        return Err(DumpError::NotADump {
            path: path.to_path_buf(),
        });
    }
    let mut index = 0u64;
    let mut buf = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match read_full(&mut input, &mut len).map_err(io)? {
            0 => return Ok(index),
            4 => {}
            _ => {
                return Err(DumpError::Truncated {
                    path: path.to_path_buf(),
                    index,
                });
            }
        }
        let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
        if len > MAX_ENTRY_BYTES {
            return Err(DumpError::TooLarge {
                path: path.to_path_buf(),
                index,
                len,
            });
        }
        buf.resize(len, 0);
        if read_full(&mut input, &mut buf).map_err(io)? != len {
            return Err(DumpError::Truncated {
                path: path.to_path_buf(),
                index,
            });
        }
        each(&buf);
        index += 1;
    }
}

/// Read until `buf` is full or the input ends; the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..) {
        if rest.is_empty() {
            break;
        }
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = std::env::temp_dir().join(format!("lastgood-dump-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d");
        let mut w = DumpWriter::create(&path).unwrap();
        for e in [&b"one"[..], b"", b"three"] {
            w.write(e).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 3);
        assert!(DumpWriter::create(&path).is_err(), "never overwrites");
        let mut got = Vec::new();
        assert_eq!(read(&path, |e| got.push(e.to_vec())).unwrap(), 3);
        assert_eq!(got, vec![b"one".to_vec(), vec![], b"three".to_vec()]);
        let bytes = std::fs::read(&path).unwrap();
        for cut in 0..bytes.len() {
            std::fs::write(dir.join("cut"), &bytes[..cut]).unwrap();
            let mut n = 0;
            let r = read(&dir.join("cut"), |_| n += 1);
            assert!(r.is_err() || n < 3 || cut == bytes.len(), "cut {cut}");
        }
        std::fs::write(
            dir.join("big"),
            [&MAGIC[..], &[1, 0xff, 0xff, 0xff, 0xff]].concat(),
        )
        .unwrap();
        assert!(matches!(
            read(&dir.join("big"), |_| {}),
            Err(DumpError::TooLarge { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
