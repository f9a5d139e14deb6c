//! The `codesaged` command line: resolve locations and configuration, start logging and the
//! runtime, run the server, and turn failures into a message and an exit code.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use codesage_shared::config::{Config, load_dotenv};
use codesage_shared::paths;

use crate::server::{self, DaemonOptions, Exit};

/// The CodeSage daemon. Normally started on demand by `codesage`; run it directly to keep it
/// in the foreground (e.g. from a service manager).
#[derive(Debug, Parser)]
#[command(name = "codesaged", version, about, long_about = None)]
pub struct Args {
    /// Socket to listen on [env: CODESAGE_SOCKET] [default: <data dir>/run/codesaged.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Directory holding the index store [env: CODESAGE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file [env: CODESAGE_CONFIG] [default: ~/.config/codesage/config.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for log files [env: CODESAGE_LOG_DIR] [default: <data dir>/logs].
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Also log to stderr (the default when stderr is a terminal).
    #[arg(long)]
    pub log_stderr: bool,
    /// Serve MCP over Streamable HTTP at `/mcp` on this address (remote mode, e.g.
    /// `http://0.0.0.0:8765`); needs a bearer token in CODESAGE_REMOTE_TOKEN or
    /// remote.tokens_file. Same as `remote.listen`.
    #[arg(long, value_name = "URL")]
    pub listen: Option<String>,
}

/// Runs the daemon with the process's arguments.
pub fn main() -> ExitCode {
    run_with_args(std::env::args_os())
}

/// Runs the daemon with `args` (the first is the program name). Used by `codesage` to run the
/// daemon from its own binary when no `codesaged` executable is installed beside it.
pub fn run_with_args<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    ignore_file_size_signal();
    match run(args) {
        Ok(Exit::Stopped(_)) => ExitCode::SUCCESS,
        Ok(Exit::AlreadyRunning) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("codesaged: error: {err:#}");
            tracing::error!("fatal: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A write past the file size limit (`ulimit -f`) is an error to report, like a full disk,
/// not a reason to die: without this, SIGXFSZ would kill the daemon in the middle of a commit.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: installing SIG_IGN for one signal, before any thread is started; no handler
    // code runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// `path` made absolute the way the `codesage` client does it, so both derive the same
/// default socket from the same data directory.
fn absolute(path: PathBuf) -> Result<PathBuf> {
    std::path::absolute(&path).with_context(|| format!("cannot resolve {}", path.display()))
}

fn run(args: Args) -> Result<Exit> {
    // Before any thread exists: .env files feed the environment (secrets, CODESAGE_*).
    load_dotenv(paths::config_dir().as_deref());
    crate::semantic::embed::settle_compute_threads();
    let data_dir = absolute(paths::data_dir(args.data_dir.as_deref())?)?;
    let socket = absolute(paths::socket_path(args.socket.as_deref(), &data_dir))?;
    let log_dir = absolute(paths::log_dir(args.log_dir.as_deref(), &data_dir))?;
    let config_file = paths::config_file(args.config.as_deref());
    let mut config = Config::load(config_file.as_deref())?;
    if let Some(listen) = args.listen {
        config.remote.listen = listen;
    }
    let _log_guard = crate::logging::init(&config.log, &log_dir, args.log_stderr)?;
    if config.memory.release_after_bursts {
        crate::allocator::configure_c_allocator();
    }
    crate::audit::init(&log_dir, config.log.audit);
    tracing::info!(
        profile = ?config.profile,
        config = ?config_file,
        log_dir = %log_dir.display(),
        "starting codesaged {}",
        codesage_shared::VERSION
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("codesaged")
        .build()
        .context("cannot start the async runtime")?;
    let exit = runtime.block_on(server::run(DaemonOptions {
        socket: socket.clone(),
        data_dir,
        config,
    }))?;
    if matches!(exit, Exit::AlreadyRunning) {
        let message = format!(
            "codesaged is already running for {}; nothing to do",
            socket.display()
        );
        tracing::info!("{message}");
        eprintln!("{message}");
    }
    // Indexing threads may still be unwinding from cancellation; do not wait on them forever.
    // Dropping the runtime's remaining tasks releases the last references to the store.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Exit::Stopped(waiters) = &exit {
        waiters.close_at_exit();
    }
    Ok(exit)
}
