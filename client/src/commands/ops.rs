//! The operator's store commands: `codesage metrics`, `backup`, `restore`, `check` and
//! `compact`. With the daemon running they go through it (it keeps serving; a restore stops
//! it briefly); without it, backup, check and compact open the store in this process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codesage_shared::ipc::ConnectError;
use codesage_shared::ops::{BackupManifest, CheckReport, CompactReport};
use codesage_shared::paths;
use codesage_shared::protocol::{Channel, ControlEvent, ControlRequest};
use codesaged::backup;
use codesaged::store::Store;

use super::human_bytes;
use crate::control;
use crate::target::Target;

/// How long a restore waits for the stopped daemon to let go of the store.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a daemon answers on the target's socket.
fn daemon_running(target: &Target) -> Result<bool> {
    match target.connect(Channel::Control) {
        Ok(_) => Ok(true),
        Err(ConnectError::NotRunning { .. }) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Sends one maintenance request to the running daemon.
fn ask(target: &Target, request: &ControlRequest) -> Result<ControlEvent> {
    match control::request(target, request, false, |_| {})? {
        ControlEvent::Error { message } => bail!(message),
        event => Ok(event),
    }
}

/// Opens the store in this process (the daemon is not running).
fn open_store(target: &Target) -> Result<Store> {
    let dir = &target.store_dir;
    let store_file = dir.join(paths::STORE_FILE_NAME);
    if !store_file.exists() {
        bail!(
            "no store at {} (nothing was indexed with this data directory yet)",
            store_file.display()
        );
    }
    Store::open(dir, 64 * 1024 * 1024).context("cannot open the store")
}

/// `codesage metrics`: the Prometheus exposition.
pub fn metrics(target: &Target) -> Result<()> {
    match ask(target, &ControlRequest::Metrics)? {
        ControlEvent::Metrics { text } => {
            out!("{text}");
            Ok(())
        }
        other => bail!("unexpected answer from the daemon: {other:?}"),
    }
}

fn print_manifest(manifest: &BackupManifest, file: &Path) {
    outln!(
        "{}: CodeSage {} backup (format {}, schema {}), {} roots",
        file.display(),
        manifest.codesage_version,
        manifest.format,
        manifest.schema_version,
        manifest.roots.len()
    );
    for root in &manifest.roots {
        outln!("  {}", root.display());
    }
    outln!(
        "  {} compressed, {} store copy (live store {})",
        human_bytes(manifest.payload_bytes),
        human_bytes(manifest.store_bytes),
        human_bytes(manifest.live_store_bytes)
    );
}

/// `codesage backup FILE`.
pub fn backup(target: &Target, file: &Path, json: bool) -> Result<()> {
    let file = std::path::absolute(file).context("cannot resolve the backup path")?;
    let manifest = if daemon_running(target)? {
        match ask(target, &ControlRequest::Backup { path: file.clone() })? {
            ControlEvent::Backup(manifest) => *manifest,
            other => bail!("unexpected answer from the daemon: {other:?}"),
        }
    } else {
        let store = open_store(target)?;
        let work = target.store_dir.join("tmp");
        let manifest = backup::write(&store, &work, &file)?;
        codesaged::audit::record_local(
            target.data_dir.as_deref(),
            "backup",
            &file.display().to_string(),
        );
        manifest
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&manifest)?);
    } else {
        print_manifest(&manifest, &file);
    }
    Ok(())
}

/// `codesage restore FILE`: verify, stop the daemon, swap the store, start it again.
pub fn restore(target: &Target, file: &Path, json: bool) -> Result<()> {
    let file = std::path::absolute(file).context("cannot resolve the backup path")?;
    let running = daemon_running(target)?;
    // The daemon knows where its store is; without one, the data directory says.
    let live = if running {
        match ask(target, &ControlRequest::Status)? {
            ControlEvent::Status(report) => report.store_path,
            other => bail!("unexpected answer from the daemon: {other:?}"),
        }
    } else {
        target.store_dir.join(paths::STORE_FILE_NAME)
    };
    let dir = live
        .parent()
        .context("the store has no parent directory")?
        .to_path_buf();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let mut restoring = live.as_os_str().to_os_string();
    restoring.push(".restoring");
    let restoring = PathBuf::from(restoring);
    // Everything is verified before anything live is touched.
    let manifest = backup::extract(&file, &restoring)?;
    if running {
        super::stop::run(target)?;
    }
    // Hold the daemon's single-instance lock while swapping, so that no daemon started
    // meanwhile (by an editor's shim) opens either file.
    paths::ensure_socket_dir(&target.socket)?;
    let lock_path = codesaged::server::lock_path(&target.socket);
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    let started = Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < RELEASE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => {
                let _ = std::fs::remove_file(&restoring);
                bail!(
                    "the daemon did not let go of the store within {} s; nothing was restored",
                    RELEASE_TIMEOUT.as_secs()
                );
            }
        }
    }
    let swapped = backup::swap_into_place(&restoring, &live);
    drop(lock);
    let rollback = match swapped {
        Ok(rollback) => rollback,
        Err(err) => {
            let _ = std::fs::remove_file(&restoring);
            return Err(err.into());
        }
    };
    codesaged::audit::record_local(
        target.data_dir.as_deref(),
        "restore",
        &file.display().to_string(),
    );
    // Starting the daemon reconciles every root with the disk.
    control::request(target, &ControlRequest::Ping, true, |_| {})
        .context("the store was restored, but the daemon did not start again")?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "restored": manifest,
                "store": live,
                "rollback": rollback,
            }))?
        );
    } else {
        print_manifest(&manifest, &file);
        outln!("restored into {}", live.display());
        if let Some(rollback) = rollback {
            outln!("previous store kept as {}", rollback.display());
        }
        outln!("the daemon is bringing the restored roots up to date with the disk");
    }
    Ok(())
}

/// `codesage check`: exit 0 when the store is sound, 1 when not.
pub fn check(target: &Target, json: bool) -> Result<bool> {
    let report: CheckReport = if daemon_running(target)? {
        match ask(target, &ControlRequest::Check)? {
            ControlEvent::Check(report) => *report,
            other => bail!("unexpected answer from the daemon: {other:?}"),
        }
    } else {
        open_store(target)?.check()?
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(report.ok());
    }
    outln!(
        "checked {} file records, {} contents, {} trigram segments",
        report.files,
        report.contents,
        report.segments
    );
    match &report.redb_skipped {
        Some(why) => outln!("redb page check skipped: {why}"),
        None if report.redb_ok => outln!("redb page check: ok"),
        None => outln!("redb page check: FAILED"),
    }
    for problem in &report.problems {
        outln!("problem: {problem}");
    }
    if report.ok() {
        outln!("the store is sound");
    } else {
        outln!(
            "the store has problems: `codesage restore` a backup, or move the store away and \
             `codesage reindex` to rebuild it"
        );
    }
    Ok(report.ok())
}

/// `codesage compact`.
pub fn compact(target: &Target, json: bool) -> Result<()> {
    let report: CompactReport = if daemon_running(target)? {
        match ask(target, &ControlRequest::Compact)? {
            ControlEvent::Compact(report) => report,
            other => bail!("unexpected answer from the daemon: {other:?}"),
        }
    } else {
        let store = open_store(target)?;
        let before_bytes = store.file_size();
        let outcome = store.compact()?;
        codesaged::audit::record_local(target.data_dir.as_deref(), "compact", "");
        CompactReport {
            before_bytes,
            after_bytes: store.file_size(),
            outcome: outcome.as_str().into(),
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        outln!(
            "{}: {} → {}",
            report.outcome,
            human_bytes(report.before_bytes),
            human_bytes(report.after_bytes)
        );
    }
    Ok(())
}
