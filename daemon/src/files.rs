//! Reading files from codebases without ever blocking on something that is not a file.
//!
//! Opening a named pipe blocks until a writer appears, and a device may never end; a read of
//! either on a daemon thread would stall every client. So only regular files are read: the
//! type is checked before opening, the open itself never blocks (`O_NONBLOCK`, which a
//! regular file ignores), and the opened handle is checked again, so a path swapped for a FIFO
//! in between is refused too. Reads are bounded by a size limit.

use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::path::Path;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Nothing exists at the path.
    #[error("not found")]
    NotFound,
    /// The path names something that is not a regular file.
    #[error("{0}, not a regular file")]
    NotRegular(&'static str),
    /// The file is larger than the limit.
    #[error("{size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Its size (at least; it may have grown while being read).
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The operating system refused.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What kind of thing `kind` is, for messages ("a named pipe (FIFO)").
pub fn describe_kind(kind: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_file() {
        "a file"
    } else {
        "a special file"
    }
}

/// Metadata of `path` (symlinks followed), refusing anything but a regular file.
pub fn regular_metadata(path: &Path) -> Result<Metadata, ReadError> {
    let meta = std::fs::metadata(path).map_err(not_found_or_io)?;
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(ReadError::NotRegular(describe_kind(meta.file_type())))
    }
}

/// Opens `path` for reading if it is a regular file, without blocking on anything else.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), ReadError> {
    regular_metadata(path)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(not_found_or_io)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(describe_kind(meta.file_type())));
    }
    Ok((file, meta))
}

/// Reads the whole regular file at `path`, refusing one over `limit` bytes (also one that grew
/// past it while being read).
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            limit,
        });
    }
    let mut content = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut content)?;
    if content.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            size: content.len() as u64,
            limit,
        });
    }
    Ok(content)
}

fn not_found_or_io(err: std::io::Error) -> ReadError {
    if err.kind() == std::io::ErrorKind::NotFound {
        ReadError::NotFound
    } else {
        ReadError::Io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_regular(&path, 5).unwrap(), b"hello");
        assert!(matches!(
            read_regular(&path, 4),
            Err(ReadError::TooLarge { size: 5, limit: 4 })
        ));
        assert!(matches!(
            read_regular(&dir.path().join("missing"), 10),
            Err(ReadError::NotFound)
        ));
        let err = read_regular(dir.path(), 10).unwrap_err();
        assert_eq!(err.to_string(), "a directory, not a regular file");
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path and a plain mode.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        // Without a writer, a plain open() would block this test forever.
        let err = read_regular(&fifo, 10).unwrap_err();
        assert!(matches!(err, ReadError::NotRegular(_)), "{err}");
        assert!(err.to_string().contains("named pipe"), "{err}");
    }
}
