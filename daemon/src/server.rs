//! The daemon's life: take the single-instance lock, open the store, listen on the socket,
//! accept connections (one task each, bounded by a semaphore), reconcile registered roots with
//! the disk, and on SIGTERM/SIGINT or `codesage stop` shut down gracefully: stop accepting,
//! let in-flight requests finish, stop indexing, close the store, remove the socket.
//!
//! The socket's folder must be private (or sticky, like `/tmp`), and only a socket of this
//! user's is ever replaced: a file, a directory, a link or another user's socket found at the
//! socket path stops the start with a message saying what to do.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use codesage_shared::config::Config;
use codesage_shared::{ipc, paths};
use interprocess::local_socket::ListenerOptions;
use interprocess::local_socket::traits::tokio::Listener as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection;
use crate::engine::Engine;
use crate::shutdown::{Signals, StopWaiters};
use crate::store::Store;

/// How long a connection over the limit waits for a free slot before it is refused.
const PERMIT_WAIT: Duration = Duration::from_secs(1);

/// How often the daemon checks that its socket file is still there.
const SOCKET_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Listens on `socket` (a path free of any other file), private to this user.
fn bind(socket: &Path) -> Result<interprocess::local_socket::tokio::Listener> {
    let name = ipc::socket_name(socket)
        .with_context(|| format!("invalid socket path {}", socket.display()))?;
    // The daemon removes its socket file itself at shutdown, and only if it is still its
    // own: the listener of a socket that was removed and bound again must not take the new
    // file with it.
    let listener = ListenerOptions::new()
        .name(name)
        .reclaim_name(false)
        .create_tokio()
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600));
    }
    Ok(listener)
}

/// The socket file this daemon made, removed when dropped (at shutdown, or when the start
/// fails after listening) if it is still that file.
struct OwnSocket {
    path: PathBuf,
    file: Option<SocketFile>,
}

impl Drop for OwnSocket {
    fn drop(&mut self) {
        if self.file.is_some() && SocketFile::of(&self.path) == self.file {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The identity of the socket file the daemon listens on (Unix; `None` elsewhere, where a
/// named pipe cannot be removed from under its server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SocketFile {
    device: u64,
    inode: u64,
    uid: u32,
}

impl SocketFile {
    /// The socket file at `path`, if there is one.
    fn of(path: &Path) -> Option<SocketFile> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let meta = std::fs::symlink_metadata(path).ok()?;
            meta.file_type().is_socket().then(|| SocketFile {
                device: meta.dev(),
                inode: meta.ino(),
                uid: meta.uid(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

/// Where the daemon lives and how it behaves.
pub struct DaemonOptions {
    /// Socket path.
    pub socket: PathBuf,
    /// Directory of the store.
    pub data_dir: PathBuf,
    /// Effective configuration.
    pub config: Config,
}

/// Remote mode's address, when configured (`remote.listen` or `codesaged --listen`).
fn remote_listen(config: &Config) -> Option<String> {
    let listen = config.remote.listen.trim();
    (!listen.is_empty()).then(|| listen.to_string())
}

/// How the daemon run ended.
pub enum Exit {
    /// It served and shut down cleanly. The connections that asked for the stop are still
    /// open; release them when the process is done with everything.
    Stopped(StopWaiters),
    /// Another daemon already serves this socket; nothing was started.
    AlreadyRunning,
}

/// Holds the per-socket lock file for the daemon's lifetime.
struct InstanceLock {
    _file: File,
}

/// The single-instance lock file of the daemon serving `socket`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the single-instance lock for `socket`; `None` if another daemon holds it.
fn take_instance_lock(socket: &Path) -> Result<Option<InstanceLock>> {
    let path = lock_path(socket);
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)?;
    writeln!(file, "{}", std::process::id())?;
    Ok(Some(InstanceLock { _file: file }))
}

/// How to end a refusal to use a socket path: what the user can do instead.
const CHOOSE_ANOTHER: &str = "choose another socket path with --socket or CODESAGE_SOCKET";

/// Refuses a socket folder others could use to replace the socket with their own: it must
/// belong to this user (or to root, like `/tmp`), and when others may write to it, the sticky
/// bit must keep them from removing or renaming what is not theirs.
fn check_socket_folder(socket: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Some(folder) = socket.parent().filter(|dir| !dir.as_os_str().is_empty()) else {
            return Ok(());
        };
        let meta = std::fs::metadata(folder)
            .with_context(|| format!("cannot inspect the socket folder {}", folder.display()))?;
        let ours = paths::current_uid();
        if meta.uid() != ours && meta.uid() != 0 {
            anyhow::bail!(
                "the socket folder {} belongs to user id {}, not to you ({ours}), who could \
                 replace the socket with theirs; {CHOOSE_ANOTHER}",
                folder.display(),
                meta.uid()
            );
        }
        let others_write = meta.mode() & 0o022 != 0;
        let sticky = meta.mode() & 0o1000 != 0;
        if others_write && !sticky {
            anyhow::bail!(
                "the socket folder {} can be written by others (mode {:o}), who could replace \
                 the socket with theirs; make it private (chmod 700 {}) or {CHOOSE_ANOTHER}",
                folder.display(),
                meta.mode() & 0o7777,
                folder.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = socket;
    Ok(())
}

/// Whether a socket of this user's exists at `socket` (then it is a daemon's, live or
/// stale). Refuses anything else there: a file, a directory or a link may be someone's data
/// or a trap, and a socket of another user's may have their program listening on it.
fn check_existing_socket(socket: &Path) -> Result<bool> {
    let meta = match std::fs::symlink_metadata(socket) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot inspect {}", socket.display()));
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        if !meta.file_type().is_socket() {
            anyhow::bail!(
                "{} exists and is {}, not a socket; CodeSage neither uses nor removes it: remove \
                 it yourself if nothing needs it, or {CHOOSE_ANOTHER}",
                socket.display(),
                crate::files::describe_kind(meta.file_type())
            );
        }
        let ours = paths::current_uid();
        if meta.uid() != ours {
            anyhow::bail!(
                "the socket {} belongs to user id {}, not to you ({ours}); another user's \
                 program may be listening on it, so CodeSage neither connects to it nor \
                 removes it; {CHOOSE_ANOTHER}",
                socket.display(),
                meta.uid()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(true)
}

/// Runs the daemon until it is told to stop.
pub async fn run(options: DaemonOptions) -> Result<Exit> {
    let DaemonOptions {
        socket,
        data_dir,
        config,
    } = options;
    paths::ensure_socket_dir(&socket)?;
    // Before anything is created in it (the lock file): a folder others may write to would
    // let them swap the socket for theirs.
    check_socket_folder(&socket)?;
    let Some(_lock) = take_instance_lock(&socket)? else {
        return Ok(Exit::AlreadyRunning);
    };
    // We hold the lock, so a socket file left behind is stale (its daemon died), unless a
    // daemon that predates the lock still answers on it. Anything else found there was not
    // left by a daemon of ours, and is neither used nor removed.
    if check_existing_socket(&socket)? {
        if ipc::connect_raw(&socket).is_ok() {
            return Ok(Exit::AlreadyRunning);
        }
        tracing::info!(socket = %socket.display(), "replacing stale socket");
        std::fs::remove_file(&socket)
            .with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
    }

    use codesage_shared::config::CacheShare;
    // redb wants some page cache even when the budget gives none.
    let page_cache = config.memory.share(CacheShare::StorePages).max(1 << 20);
    let page_cache = usize::try_from(page_cache).unwrap_or(usize::MAX);
    let layout = crate::store::Layout {
        trigram_index: config.index.trigram_index,
        symbols: config.index.symbols,
    };
    let store = match Store::open_with(&data_dir, page_cache, layout) {
        // A store that cannot be written (permissions, a read-only mount) does not stop the
        // daemon: it serves from an index in memory and says so in status.
        Err(err @ crate::store::StoreError::NotWritable { .. }) => {
            tracing::error!(error = %err, "keeping the index in memory only");
            Store::open_in_memory(&data_dir, page_cache, layout, err.to_string())?
        }
        opened => opened?,
    }
    .with_content_cache(config.memory.share(CacheShare::Contents));
    let mut listener = bind(&socket)?;
    let mut bound = OwnSocket {
        path: socket.clone(),
        file: SocketFile::of(&socket),
    };
    #[cfg(unix)]
    let our_uid = bound.file.map(|file| file.uid);
    #[cfg(not(unix))]
    let our_uid: Option<u32> = None;
    let mut socket_check = tokio::time::interval(SOCKET_CHECK_EVERY);
    socket_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let shutdown = CancellationToken::new();
    let stop = CancellationToken::new();
    let max_connections = config.server.max_connections;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let engine = Engine::new(config, store, socket.clone(), shutdown.clone())?;
    tracing::info!(
        socket = %socket.display(),
        store = %engine.store().path().display(),
        roots = engine.roots().len(),
        pid = std::process::id(),
        version = codesage_shared::VERSION,
        "codesaged listening"
    );
    // The optional HTTP listeners; a bad address or a taken port stops the start-up with a
    // message rather than leaving a daemon that silently lacks them.
    crate::http::start_monitoring(Arc::clone(&engine), shutdown.clone()).await?;
    if let Some(listen) = remote_listen(engine.config()) {
        crate::http::remote::start(Arc::clone(&engine), &listen, shutdown.clone()).await?;
    }
    crate::quiet::start(Arc::clone(&engine), shutdown.clone());
    // Bring every registered root up to date with changes made while the daemon was down;
    // unchanged files are recognised by size and modification time and not read.
    for root in engine.roots() {
        engine.start_index(&root);
    }

    let connections = TaskTracker::new();
    let permits = Arc::new(Semaphore::new(max_connections));
    let signals = Signals {
        shutdown: shutdown.clone(),
        stop: stop.clone(),
        stop_waiters: StopWaiters::default(),
    };
    let mut termination = Box::pin(termination_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok(stream) => stream,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        // Avoid a hot loop if accepting keeps failing (e.g. out of fds).
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if !connection::peer_is_same_user(&stream, our_uid) {
                    tracing::warn!("refused a connection from another user");
                    connections.spawn(connection::refuse_other_user(stream));
                    continue;
                }
                let engine = Arc::clone(&engine);
                let signals = signals.clone();
                let permits = Arc::clone(&permits);
                connections.spawn(async move {
                    // Over the limit, a connection waits briefly for a slot (absorbing
                    // bursts and clients that reconnect at once), then is told why it is
                    // refused.
                    let slot = tokio::time::timeout(PERMIT_WAIT, permits.acquire_owned()).await;
                    match slot {
                        Ok(Ok(permit)) => {
                            connection::handle(engine, stream, signals).await;
                            drop(permit);
                        }
                        _ => connection::refuse_busy(stream, max_connections).await,
                    }
                });
            }
            _ = socket_check.tick() => {
                // Removed (a clean-up script, a `rm -rf` of /tmp): listen again at the same
                // path, or no client could reach this daemon while it holds the lock that
                // keeps another from starting.
                if bound.file.is_some() && !std::fs::exists(&socket).unwrap_or(true) {
                    tracing::warn!(socket = %socket.display(), "the socket file was removed; listening again");
                    match bind(&socket) {
                        Ok(again) => {
                            listener = again;
                            bound.file = SocketFile::of(&socket);
                        }
                        Err(err) => tracing::error!("cannot listen again: {err:#}"),
                    }
                }
            }
            reason = &mut termination => {
                tracing::info!("{reason}: shutting down");
                break;
            }
            _ = stop.cancelled() => {
                tracing::info!("shutting down on request");
                break;
            }
        }
    }

    // Stop accepting and free the socket name first, so a new daemon can start at once;
    // only our own socket file is removed (one found there since is someone else's).
    drop(listener);
    drop(bound);
    shutdown.cancel();
    connections.close();
    if tokio::time::timeout(grace + Duration::from_secs(5), connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
    engine.shutdown(grace).await;
    if Arc::strong_count(&engine) > 1 {
        tracing::debug!("engine still referenced by finishing tasks; the store closes with them");
    }
    drop(engine);
    tracing::info!("codesaged stopped");
    Ok(Exit::Stopped(signals.stop_waiters))
}

/// Resolves when the process is asked to terminate, naming the signal.
async fn termination_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("cannot install signal handlers; stop the daemon with `codesage stop`");
            return std::future::pending().await;
        };
        loop {
            tokio::select! {
                _ = term.recv() => return "SIGTERM",
                _ = int.recv() => return "SIGINT",
                // The daemon is detached from any terminal; a hangup is not a reason to stop.
                _ = hup.recv() => tracing::info!("ignoring SIGHUP"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
