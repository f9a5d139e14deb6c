//! Logging: daily-rotated files in the log directory (at most `log.keep_files`, none older
//! than `log.max_age_days`), as text or JSON lines (`log.json`), plus stderr when asked for
//! or when stderr is a terminal. `RUST_LOG` overrides the configured level.
//!
//! Secrets never reach a sink: every writer goes through [`Masked`], which replaces the
//! values of the known key variables (and tokens registered with [`add_secret`]) and
//! common key shapes (`sk-…`, `gsk_…`, `AIza…`, bearer tokens, …) before the bytes are
//! written. Configuration types print their secrets masked too; this is the net below.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use codesage_shared::config::LogConfig;
use parking_lot::RwLock;
use regex::Regex;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Prefix of the daemon's log files (`codesaged.2026-11-24.log`).
pub const LOG_FILE_PREFIX: &str = "codesaged";

/// Shapes of well-known API keys and credentials, masked even when no variable names them.
static KEY_SHAPES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\b(?:sk-(?:proj-|or-v1-|ant-)?[A-Za-z0-9_\-]{20,}",
        r"|gsk_[A-Za-z0-9]{20,}",
        r"|AIza[0-9A-Za-z_\-]{30,}",
        r"|gh[pousr]_[A-Za-z0-9]{30,}",
        r"|xox[abprs]-[A-Za-z0-9\-]{10,})",
        r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{12,}=*",
    ))
    .expect("the key-shape pattern is valid")
});

/// Secret values known to this process: the LLM keys and the remote-mode token from the
/// environment, read at first use (after `.env` was loaded), plus any added since.
static KNOWN_SECRETS: LazyLock<RwLock<Vec<String>>> = LazyLock::new(|| {
    let keys = codesage_shared::config::Secrets::from_env();
    let remote_token = std::env::var(crate::http::remote::ENV_TOKEN).ok();
    RwLock::new(
        keys.values()
            .chain(remote_token.as_deref())
            .map(|value| value.trim().to_string())
            .filter(|value| value.len() >= 8)
            .collect(),
    )
});

/// Adds a secret (e.g. a remote-mode token from a tokens file) to mask in every sink.
pub fn add_secret(value: &str) {
    let value = value.trim();
    if value.len() >= 8 {
        let mut known = KNOWN_SECRETS.write();
        if !known.iter().any(|known| known == value) {
            known.push(value.to_string());
        }
    }
}

/// `text` with every known secret and key-shaped string masked.
pub fn mask_secrets(text: &str) -> Cow<'_, str> {
    let known = KNOWN_SECRETS.read();
    let mut masked = Cow::Borrowed(text);
    for secret in known.iter() {
        if masked.contains(secret.as_str()) {
            masked = Cow::Owned(masked.replace(secret.as_str(), "«secret»"));
        }
    }
    if KEY_SHAPES.is_match(&masked) {
        masked = Cow::Owned(KEY_SHAPES.replace_all(&masked, "«secret»").into_owned());
    }
    masked
}

/// A writer that masks secrets in what goes through it. `tracing`'s formatter writes one
/// whole event per `write` call, so a secret is never split between two calls.
pub struct Masked<W>(W);

impl<W: Write> Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        match mask_secrets(&text) {
            Cow::Borrowed(_) => self.0.write_all(buf)?,
            Cow::Owned(masked) => self.0.write_all(masked.as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Makes [`Masked`] writers around another `MakeWriter`.
pub struct MaskedWriters<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for MaskedWriters<M> {
    type Writer = Masked<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Masked(self.0.make_writer())
    }
}

/// Deletes the daemon's log files in `log_dir` older than `max_age_days` (0: none).
pub fn prune_old_logs(log_dir: &Path, max_age_days: u64) {
    if max_age_days == 0 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return;
    };
    let max_age = Duration::from_secs(max_age_days * 24 * 3600);
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(LOG_FILE_PREFIX) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > max_age);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Installs the global subscriber. Keep the returned guard alive until exit so buffered lines
/// are flushed.
pub fn init(config: &LogConfig, log_dir: &Path, force_stderr: bool) -> Result<WorkerGuard> {
    std::fs::create_dir_all(log_dir)
        .with_context(|| format!("cannot create the log directory {}", log_dir.display()))?;
    prune_old_logs(log_dir, config.max_age_days);
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
    let file_text = (!config.json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(MaskedWriters(file_writer.clone()))
            .with_ansi(false)
    });
    let file_json = config.json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(MaskedWriters(file_writer))
    });
    let stderr_layer = (force_stderr || std::io::stderr().is_terminal()).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(MaskedWriters(std::io::stderr))
            .with_target(false)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(file_text)
        .with(file_json)
        .with(stderr_layer)
        .try_init()
        .context("cannot install the logger")?;
    // Daily files past their age go once a day, not only at start.
    let (dir, days) = (log_dir.to_path_buf(), config.max_age_days);
    if days > 0 {
        let _ = std::thread::Builder::new()
            .name("log-pruner".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                    prune_old_logs(&dir, days);
                }
            });
    }
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_key_shapes_are_masked() {
        add_secret("my-remote-token-123456");
        let text = "token my-remote-token-123456 key gsk_abcdefghijklmnopqrstuvwx and \
                    sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 header Authorization: Bearer \
                    abcdef0123456789abcdef google AIzaSyA1234567890abcdefghijklmnopqrstu ok";
        let masked = mask_secrets(text);
        for secret in [
            "my-remote-token-123456",
            "gsk_abcdefghijklmnopqrstuvwx",
            "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
            "abcdef0123456789abcdef",
            "AIzaSyA1234567890abcdefghijklmnopqrstu",
        ] {
            assert!(!masked.contains(secret), "{secret} left in {masked}");
        }
        assert!(masked.ends_with(" ok"), "{masked}");
        assert!(matches!(
            mask_secrets("nothing secret here"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn old_log_files_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("codesaged.2020-01-01.log");
        let new = dir.path().join("codesaged.2099-01-01.log");
        let other = dir.path().join("notes.txt");
        for file in [&old, &new, &other] {
            std::fs::write(file, "x").unwrap();
        }
        let long_ago = SystemTime::now() - Duration::from_secs(40 * 24 * 3600);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        std::fs::File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        prune_old_logs(dir.path(), 30);
        assert!(!old.exists());
        assert!(new.exists());
        assert!(other.exists(), "only the daemon's log files are pruned");
    }
}
