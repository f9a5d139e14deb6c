//! Where CodeSage keeps its socket, its store, its logs and its configuration.
//!
//! Every location can be overridden, first by an explicit command-line value, then by an
//! environment variable (`CODESAGE_SOCKET`, `CODESAGE_DATA_DIR`, `CODESAGE_LOG_DIR`,
//! `CODESAGE_CONFIG`), and otherwise comes from the platform's per-user directories:
//!
//! | what | Linux default |
//! |---|---|
//! | socket | `$XDG_RUNTIME_DIR/codesage/codesaged.sock` (else `~/.local/state/codesage/run/…`) |
//! | store | `~/.local/share/codesage/` |
//! | logs | `<data dir>/logs/` |
//! | config | `~/.config/codesage/config.toml` |
//!
//! The folder holding the socket is created with mode 0700, so only its owner can connect.

use std::path::{Path, PathBuf};

use directories::{BaseDirs, ProjectDirs};

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

/// The socket path: `explicit` if given, else `$CODESAGE_SOCKET`, else the per-user default.
pub fn socket_path(explicit: Option<&Path>) -> Result<PathBuf, PathError> {
    if let Some(path) = explicit
        .map(Path::to_path_buf)
        .or_else(|| from_env(ENV_SOCKET))
    {
        return Ok(path);
    }
    default_socket_path()
}

fn default_socket_path() -> Result<PathBuf, PathError> {
    let base = BaseDirs::new().ok_or(PathError::NoHome)?;
    let folder = match base.runtime_dir() {
        Some(runtime) => runtime.join("codesage"),
        None => {
            let project = project_dirs()?;
            project
                .state_dir()
                .unwrap_or_else(|| project.data_local_dir())
                .join("run")
        }
    };
    Ok(folder.join(SOCKET_FILE_NAME))
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

/// Creates the folder that will hold `socket`, privately (see [`ensure_private_dir`]).
pub fn ensure_socket_dir(socket: &Path) -> Result<(), PathError> {
    check_socket_path(socket)?;
    match socket.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => ensure_private_dir(parent),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_paths_win() {
        let explicit = Path::new("/tmp/x/codesaged.sock");
        assert_eq!(socket_path(Some(explicit)).unwrap(), explicit);
        let data = Path::new("/tmp/data");
        assert_eq!(data_dir(Some(data)).unwrap(), data);
        assert_eq!(
            log_dir(Some(Path::new("/tmp/logs")), data),
            Path::new("/tmp/logs")
        );
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
