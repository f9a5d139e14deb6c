//! Which daemon a command talks to (socket and data directory), and reaching it: connect, or
//! start `codesaged` detached and wait for it to listen.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use codesage_shared::ipc::{self, ConnectError, Connection};
use codesage_shared::paths;
use codesage_shared::protocol::Channel;

/// How long to wait for a freshly started daemon to listen, unless
/// `CODESAGE_START_TIMEOUT_MS` says otherwise.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times one command starts a daemon before giving up.
const MAX_STARTS: u32 = 5;
/// Environment variable naming the daemon executable to start.
pub const ENV_DAEMON_BIN: &str = "CODESAGE_DAEMON_BIN";
/// Name of the log file that captures a started daemon's stderr, beside the socket.
const START_LOG_NAME: &str = "codesaged.start.log";

/// The daemon a command addresses.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its socket.
    pub socket: PathBuf,
    /// Data directory to pass on when starting it (if given explicitly).
    pub data_dir: Option<PathBuf>,
    /// The data directory in effect (explicit, `$CODESAGE_DATA_DIR` or the default), absolute.
    pub store_dir: PathBuf,
}

impl Target {
    /// Resolves the socket from `--socket`, `$CODESAGE_SOCKET` or the default for the data
    /// directory (`--data-dir`, `$CODESAGE_DATA_DIR` or the per-user default), exactly as the
    /// daemon does, so both sides agree whatever the environment.
    pub fn resolve(socket: Option<&Path>, data_dir: Option<&Path>) -> Result<Target> {
        let store_dir = std::path::absolute(paths::data_dir(data_dir)?)
            .context("cannot resolve the data directory")?;
        let socket = std::path::absolute(paths::socket_path(socket, &store_dir))
            .context("cannot resolve the socket path")?;
        Ok(Target {
            socket,
            data_dir: data_dir.map(Path::to_path_buf),
            store_dir,
        })
    }

    /// Connects without starting anything.
    pub fn connect(&self, channel: Channel) -> Result<Connection, ConnectError> {
        ipc::connect(&self.socket, channel)
    }

    /// Connects, starting the daemon first if none is listening.
    pub fn connect_or_start(&self, channel: Channel) -> Result<Connection> {
        match self.connect(channel) {
            Ok(connection) => return Ok(connection),
            Err(ConnectError::NotRunning { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        let timeout = std::env::var("CODESAGE_START_TIMEOUT_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(DEFAULT_START_TIMEOUT, Duration::from_millis);
        let deadline = Instant::now() + timeout;
        let mut child = self.start_daemon()?;
        let mut starts = 1;
        let mut delay = Duration::from_millis(2);
        loop {
            match self.connect(channel) {
                Ok(connection) => return Ok(connection),
                Err(ConnectError::NotRunning { .. }) => {}
                Err(err) => return Err(err.into()),
            }
            if let Ok(Some(status)) = child.try_wait() {
                if !status.success() {
                    bail!(
                        "codesaged exited ({status}) before listening on {}{}",
                        self.socket.display(),
                        self.start_log_excerpt()
                    );
                }
                // It exits 0 when another daemon held the socket's lock: one that won a start
                // race (and will listen soon) or one that was just stopping. If nobody listens
                // by now, start another.
                if starts < MAX_STARTS {
                    child = self.start_daemon()?;
                    starts += 1;
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "codesaged did not start listening on {} within {:.1} s{}",
                    self.socket.display(),
                    timeout.as_secs_f64(),
                    self.start_log_excerpt()
                );
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    fn start_log(&self) -> PathBuf {
        self.socket.with_file_name(START_LOG_NAME)
    }

    fn start_log_excerpt(&self) -> String {
        let text = std::fs::read_to_string(self.start_log()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        if tail.is_empty() {
            return String::new();
        }
        let lines: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "\n{} says:\n  {}",
            self.start_log().display(),
            lines.join("\n  ")
        )
    }

    /// Starts `codesaged` detached from this process (its own process group, no terminal),
    /// so it outlives us. Its stderr goes to a start log beside the socket.
    fn start_daemon(&self) -> Result<Child> {
        paths::ensure_socket_dir(&self.socket)?;
        let (program, leading_args) = daemon_program()?;
        let folder = self
            .socket
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .map_or_else(std::env::temp_dir, Path::to_path_buf);
        let log = std::fs::File::create(self.start_log())
            .with_context(|| format!("cannot create {}", self.start_log().display()))?;
        let mut command = Command::new(&program);
        command
            .args(leading_args)
            .arg("--socket")
            .arg(&self.socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // A daemon should not keep a project directory busy.
            .current_dir(folder);
        if let Some(data_dir) = &self.data_dir {
            command.arg("--data-dir").arg(data_dir);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            // Its own process group: a Ctrl-C in the editor's terminal does not reach it.
            command.process_group(0);
        }
        command
            .spawn()
            .with_context(|| format!("cannot start the daemon {}", program.display()))
    }
}

/// The daemon executable: `$CODESAGE_DAEMON_BIN`, else `codesaged` beside this executable,
/// else this executable itself running its embedded daemon (`codesage daemon`).
fn daemon_program() -> Result<(PathBuf, Vec<&'static str>)> {
    if let Some(explicit) = std::env::var_os(ENV_DAEMON_BIN).filter(|v| !v.is_empty()) {
        return Ok((PathBuf::from(explicit), Vec::new()));
    }
    let current = std::env::current_exe().context("cannot locate the codesage executable")?;
    let sibling = current.with_file_name(format!("codesaged{}", std::env::consts::EXE_SUFFIX));
    if sibling.is_file() {
        return Ok((sibling, Vec::new()));
    }
    Ok((current, vec!["daemon"]))
}

/// Describes a failed connection with what to do about it.
pub fn explain(err: ConnectError) -> anyhow::Error {
    match err {
        ConnectError::NotRunning { socket } => anyhow!(
            "codesaged is not running (no daemon on {socket}); `codesage index PATH` or \
             `codesage mcp` start it"
        ),
        other => other.into(),
    }
}
