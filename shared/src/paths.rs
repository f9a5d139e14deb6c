//! Where CodeSage keeps its socket, its store, its logs and its configuration.
//!
//! Every location can be overridden, first by an explicit command-line value, then by an
//! environment variable (`CODESAGE_SOCKET`, `CODESAGE_DATA_DIR`, `CODESAGE_LOG_DIR`,
//! `CODESAGE_CONFIG`), and otherwise comes from the platform's per-user directories:
//!
//! | what | Linux default |
//! |---|---|
//! | store | `~/.local/share/codesage/` (the data directory) |
//! | socket | `<data dir>/run/codesaged.sock` |
//! | logs | `<data dir>/logs/` |
//! | config | `~/.config/codesage/config.toml` |
//!
//! The default socket is derived from the data directory, never from variables such as
//! `$XDG_RUNTIME_DIR`: one store is served by one daemon, so every process that means the same
//! store must find the same socket, whatever environment its parent gave it (MCP hosts often
//! start servers with only `HOME`, `PATH` and a few others). When that path would not fit in a
//! Unix socket address, the socket goes to `/tmp/codesage-<uid>/<hash of the data dir>.sock`.
//!
//! The folder holding the socket is created with mode 0700, so only its owner can connect; an
//! existing folder that belongs to another user, or that others can enter, is refused.

use std::path::{Path, PathBuf};

use directories::ProjectDirs;

/// Environment variable naming the daemon's socket (a filesystem path; on Windows a pipe name).
pub const ENV_SOCKET: &str = "CODESAGE_SOCKET";
/// Environment variable naming the directory that holds the store.
pub const ENV_DATA_DIR: &str = "CODESAGE_DATA_DIR";
/// Environment variable naming the directory for the daemon's log files.
pub const ENV_LOG_DIR: &str = "CODESAGE_LOG_DIR";
/// Environment variable naming the configuration file.
pub const ENV_CONFIG: &str = "CODESAGE_CONFIG";

/// File name of the daemon's socket inside its folder.
pub const SOCKET_FILE_NAME: &str = "codesaged.sock";
/// File name of the store inside the data directory.
pub const STORE_FILE_NAME: &str = "codesage.redb";

/// Longest socket path a Unix domain socket address can hold (`sun_path` minus its NUL) on the
/// most restrictive supported platform (macOS: 104 bytes).
pub const MAX_SOCKET_PATH_LEN: usize = 103;

/// Failure to work out or prepare one of CodeSage's directories.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    /// The platform reported no home directory, so no default location exists.
    #[error(
        "cannot determine a home directory for default locations; set {ENV_SOCKET} and {ENV_DATA_DIR}"
    )]
    NoHome,
    /// A socket path longer than the operating system accepts.
    #[error(
        "socket path {path} is {len} bytes, longer than the {MAX_SOCKET_PATH_LEN} a Unix socket allows; \
         choose a shorter path with --socket or {ENV_SOCKET}"
    )]
    SocketPathTooLong {
        /// The rejected path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// An existing socket folder others could use to impersonate the daemon.
    #[error(
        "{path} {problem}; a socket folder must belong to you and be private (mode 0700): \
         fix it (chmod 700, or remove it) or choose another socket with --socket or {ENV_SOCKET}"
    )]
    UnsafeDir {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A directory could not be created or secured.
    #[error("cannot prepare directory {path}: {source}")]
    Prepare {
        /// The directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

fn project_dirs() -> Result<ProjectDirs, PathError> {
    ProjectDirs::from("", "", "codesage").ok_or(PathError::NoHome)
}

fn from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The socket path: `explicit` if given, else `$CODESAGE_SOCKET`, else the default for the
/// store in `data_dir` (see [`default_socket_path`]).
pub fn socket_path(explicit: Option<&Path>, data_dir: &Path) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| from_env(ENV_SOCKET))
        .unwrap_or_else(|| default_socket_path(data_dir))
}

/// Name of the folder inside the data directory that holds the default socket.
pub const SOCKET_DIR_NAME: &str = "run";

/// The socket of the daemon serving the store in `data_dir` (an absolute path):
/// `<data_dir>/run/codesaged.sock`, or, when that is too long for a socket address,
/// `/tmp/codesage-<uid>/<hash of data_dir>.sock`. Depends on nothing but `data_dir`, so every
/// process meaning the same store finds the same daemon.
pub fn default_socket_path(data_dir: &Path) -> PathBuf {
    let beside_store = data_dir.join(SOCKET_DIR_NAME).join(SOCKET_FILE_NAME);
    if !cfg!(unix) || beside_store.as_os_str().len() <= MAX_SOCKET_PATH_LEN {
        return beside_store;
    }
    shared_socket_dir().join(format!(
        "{:016x}.sock",
        fnv1a(data_dir.as_os_str().as_encoded_bytes())
    ))
}

/// The per-user folder in `/tmp` for sockets whose path beside the store would be too long.
fn shared_socket_dir() -> PathBuf {
    PathBuf::from(format!("/tmp/codesage-{}", current_uid()))
}

/// FNV-1a: a hash that never changes between builds, so that a client and a daemon of
/// different versions still agree on a derived socket name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The real user id of this process (0 where the platform has none).
pub fn current_uid() -> u32 {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// The data directory: `explicit` if given, else `$CODESAGE_DATA_DIR`, else the per-user default.
pub fn data_dir(explicit: Option<&Path>) -> Result<PathBuf, PathError> {
    if let Some(path) = explicit
        .map(Path::to_path_buf)
        .or_else(|| from_env(ENV_DATA_DIR))
    {
        return Ok(path);
    }
    Ok(project_dirs()?.data_local_dir().to_path_buf())
}

/// The log directory: `explicit`, else `$CODESAGE_LOG_DIR`, else `logs/` inside `data_dir`.
pub fn log_dir(explicit: Option<&Path>, data_dir: &Path) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| from_env(ENV_LOG_DIR))
        .unwrap_or_else(|| data_dir.join("logs"))
}

/// The configuration file: `explicit`, else `$CODESAGE_CONFIG`, else `config.toml` in the
/// per-user config directory. `None` when there is no home directory and nothing was given.
pub fn config_file(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| from_env(ENV_CONFIG))
        .or_else(|| {
            project_dirs()
                .ok()
                .map(|dirs| dirs.config_dir().join("config.toml"))
        })
}

/// The per-user configuration directory, where a `.env` file may also live.
pub fn config_dir() -> Option<PathBuf> {
    project_dirs()
        .ok()
        .map(|dirs| dirs.config_dir().to_path_buf())
}

/// Checks that `socket` fits in a Unix socket address.
pub fn check_socket_path(socket: &Path) -> Result<(), PathError> {
    let len = socket.as_os_str().len();
    if cfg!(unix) && len > MAX_SOCKET_PATH_LEN {
        return Err(PathError::SocketPathTooLong {
            path: socket.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// Creates `dir` (and its parents) if needed. A folder this call creates gets mode 0700, so
/// that only the current user can enter it; an existing folder is left as it is.
pub fn ensure_private_dir(dir: &Path) -> Result<(), PathError> {
    let prepare = |source| PathError::Prepare {
        path: dir.to_path_buf(),
        source,
    };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(prepare)?;
    #[cfg(unix)]
    {
        // DirBuilder's mode is filtered through the umask; set it exactly.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(prepare)?;
    }
    Ok(())
}

/// Creates the folder that will hold `socket`, privately (see [`ensure_private_dir`]). The
/// shared fallback folder in `/tmp` must also, when it exists already, belong to this user and
/// be closed to others: otherwise someone else could have made it to impersonate the daemon.
pub fn ensure_socket_dir(socket: &Path) -> Result<(), PathError> {
    check_socket_path(socket)?;
    match socket.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            ensure_private_dir(parent)?;
            if parent == shared_socket_dir() {
                check_private_dir(parent)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Refuses a folder owned by another user or writable by others.
pub fn check_private_dir(dir: &Path) -> Result<(), PathError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dir).map_err(|source| PathError::Prepare {
            path: dir.to_path_buf(),
            source,
        })?;
        let unsafe_dir = |problem: String| PathError::UnsafeDir {
            path: dir.to_path_buf(),
            problem,
        };
        if meta.uid() != current_uid() {
            return Err(unsafe_dir(format!(
                "belongs to user id {}, not to you ({})",
                meta.uid(),
                current_uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(unsafe_dir(format!(
                "can be written by others (mode {:o})",
                meta.mode() & 0o777
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_paths_win() {
        let explicit = Path::new("/tmp/x/codesaged.sock");
        assert_eq!(socket_path(Some(explicit), Path::new("/d")), explicit);
        let data = Path::new("/tmp/data");
        assert_eq!(data_dir(Some(data)).unwrap(), data);
        assert_eq!(
            log_dir(Some(Path::new("/tmp/logs")), data),
            Path::new("/tmp/logs")
        );
    }

    #[test]
    fn the_default_socket_depends_only_on_the_data_dir() {
        let data = Path::new("/home/me/.local/share/codesage");
        assert_eq!(
            default_socket_path(data),
            Path::new("/home/me/.local/share/codesage/run/codesaged.sock")
        );
        // Too long for a socket address: a short, stable name in a per-user folder.
        let deep = PathBuf::from(format!("/home/me/{}/codesage", "d".repeat(120)));
        let fallback = default_socket_path(&deep);
        assert!(
            check_socket_path(&fallback).is_ok(),
            "{}",
            fallback.display()
        );
        assert_eq!(fallback, default_socket_path(&deep));
        assert_ne!(fallback, default_socket_path(&deep.join("other")));
        if cfg!(unix) {
            assert!(
                fallback.starts_with(format!("/tmp/codesage-{}", current_uid())),
                "{}",
                fallback.display()
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_socket_folder_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_private_dir(&open).unwrap_err();
        assert!(matches!(err, PathError::UnsafeDir { .. }), "{err}");
        assert!(err.to_string().contains("chmod 700"), "{err}");
    }

    #[test]
    fn overlong_socket_path_is_rejected() {
        let long = PathBuf::from(format!("/tmp/{}/s.sock", "a".repeat(200)));
        let err = check_socket_path(&long).unwrap_err();
        assert!(err.to_string().contains("--socket"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn created_socket_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("a/b/codesaged.sock");
        ensure_socket_dir(&socket).unwrap();
        let mode = std::fs::metadata(tmp.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
