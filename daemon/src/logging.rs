//! Logging: daily-rotated files in the log directory (kept for `log.keep_files` days), plus
//! stderr when asked for or when stderr is a terminal. `RUST_LOG` overrides the configured
//! level. Secrets never reach the logs: configuration types print them masked.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use codesage_shared::config::LogConfig;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Prefix of the daemon's log files (`codesaged.2026-11-24.log`).
pub const LOG_FILE_PREFIX: &str = "codesaged";

/// Installs the global subscriber. Keep the returned guard alive until exit so buffered lines
/// are flushed.
pub fn init(config: &LogConfig, log_dir: &Path, force_stderr: bool) -> Result<WorkerGuard> {
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("cannot create the log directory {}", log_dir.display()))?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_FILE_PREFIX)
        .filename_suffix("log")
        .max_log_files(config.keep_files.max(1))
        .build(log_dir)
        .with_context(|| format!("cannot open a log file in {}", log_dir.display()))?;
    let (file_writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(file_writer)
        .with_ansi(false);
    let stderr_layer = (force_stderr || std::io::stderr().is_terminal()).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer)
        .try_init()
        .context("cannot install the logger")?;
    Ok(guard)
}
