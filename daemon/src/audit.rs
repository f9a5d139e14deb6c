//! The audit log: one JSON line per control action (index, reindex, stop, backup, restore,
//! check, compact, configuration changes) in `<log dir>/audit.log`, with who asked (the
//! peer's uid on the local socket, the token's name in remote mode). Lines are appended
//! with `O_APPEND`, so the daemon and a `codesage` command acting without it (a restore)
//! can share the file. Secrets are masked in every field.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

/// Name of the audit log file in the log directory.
pub const AUDIT_FILE_NAME: &str = "audit.log";

static AUDIT_FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// One audited action.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    /// ms since the Unix epoch.
    ts_ms: u64,
    action: &'a str,
    detail: &'a str,
    /// Who asked: `uid:1000`, `token:ci`, or `local` for a command acting without the
    /// daemon.
    actor: &'a str,
    /// The process that wrote the line.
    pid: u32,
}

/// Starts the daemon's audit log in `log_dir` (or none when `enabled` is false).
pub fn init(log_dir: &Path, enabled: bool) {
    let _ = AUDIT_FILE.set(enabled.then(|| log_dir.join(AUDIT_FILE_NAME)));
}

/// Records an action of the daemon's; `actor` says who asked.
pub fn record(action: &str, detail: &str, actor: &str) {
    if let Some(Some(file)) = AUDIT_FILE.get() {
        append(file, action, detail, actor);
    }
}

/// Records an action a `codesage` command took without the daemon (e.g. a restore), in the
/// log directory of the data directory `data_dir` (`None`: the default one).
pub fn record_local(data_dir: Option<&Path>, action: &str, detail: &str) {
    let Ok(data) = codesage_shared::paths::data_dir(data_dir) else {
        return;
    };
    let log_dir = codesage_shared::paths::log_dir(None, &data);
    if std::fs::create_dir_all(&log_dir).is_ok() {
        let actor = local_actor();
        append(&log_dir.join(AUDIT_FILE_NAME), action, detail, &actor);
    }
}

fn local_actor() -> String {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        format!("uid:{}", unsafe { libc::getuid() })
    }
    #[cfg(not(unix))]
    {
        "local".to_string()
    }
}

fn append(file: &Path, action: &str, detail: &str, actor: &str) {
    let detail = crate::logging::mask_secrets(detail);
    let entry = Entry {
        ts_ms: crate::clock::now_ms(),
        action,
        detail: &detail,
        actor,
        pid: std::process::id(),
    };
    let Ok(mut line) = serde_json::to_vec(&entry) else {
        return;
    };
    line.push(b'\n');
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut handle| handle.write_all(&line));
    if let Err(err) = written {
        tracing::warn!(file = %file.display(), error = %err, "cannot write the audit log");
    }
}
