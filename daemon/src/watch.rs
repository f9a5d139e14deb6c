//! Keeping one root's index fresh: filesystem notifications (`notify`), debounced into
//! batches that are applied incrementally, plus the fallbacks that keep the index honest when
//! notifications cannot be trusted (queue overflow → rescan, watch limit → polling).
//!
//! Each watched root has one applier thread. Events only mark paths *dirty*; a batch then
//! looks at the disk for each dirty path (exists? file or directory? still eligible under
//! the ignore rules?) and updates the store, so rename pairing, event kinds and platform
//! differences do not matter for correctness. A batch costs work proportional to the paths
//! it touches: single files are checked against the ignore rules by a one-level walk of their
//! directory, restricted to their names; only new directories, moved-in directories and
//! directories whose ignore files changed are walked in full.
//!
//! On Linux (inotify) every indexed directory gets its own non-recursive watch, so ignored
//! trees (`.git`, `target`, `node_modules`, ...) cost no watches; new directories are walked
//! when they appear, catching files created before their watch existed. Elsewhere one
//! recursive watch covers the root.
//!
//! Queries ask for read-your-writes with [`RootWatcher::sync`]: a cookie file is written into
//! the root and the query waits until the applier has seen its event (so every earlier event
//! has been read too) and applied the pending batch, as watchman does.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use codesage_shared::config::Config;
use codesage_shared::protocol::WatchStatus;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use hdrhistogram::Histogram;
use notify::{EventKind, RecursiveMode, Watcher};
use parking_lot::Mutex;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::indexer::walk::{self, COOKIE_PREFIX, Found, IGNORE_FILES, Walker};
use crate::indexer::{self, Progress, mtime_ns};
use crate::store::{FileChange, FileRecord, RootRecord, Store};

/// How the root is being kept fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchMode {
    /// Setting up watches.
    Starting,
    /// Filesystem notifications are live.
    Watching,
    /// Notifications are unavailable; the root is rescanned periodically.
    Polling,
    /// Events were lost; the root is being rescanned.
    Rescanning,
    /// The watcher has stopped (daemon shutting down, or the root is gone).
    Stopped,
}

impl WatchMode {
    /// Lower-case name, as shown in status and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchMode::Starting => "starting",
            WatchMode::Watching => "watching",
            WatchMode::Polling => "polling",
            WatchMode::Rescanning => "rescanning",
            WatchMode::Stopped => "stopped",
        }
    }
}

/// How fresh an answer is.
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// Index generation of the root (grows with every applied change).
    pub index_generation: u64,
    /// The index reflected every change made before this moment (ms since the Unix epoch).
    pub fresh_as_of_ms: u64,
    /// How the root is kept fresh (`watching`, `polling`, ...).
    pub watch: &'static str,
    /// Whether read-your-writes was confirmed for this query.
    pub confirmed: bool,
}

enum Message {
    Event(notify::Result<notify::Event>),
    Sync(SyncRequest),
    Reconciled(Vec<String>),
    Stop,
}

struct SyncRequest {
    /// The cookie file to wait for, or `None` to just apply what is pending (polling mode, or
    /// when the root is not writable).
    cookie: Option<PathBuf>,
    reply: tokio::sync::oneshot::Sender<()>,
}

struct Shared {
    mode: Mutex<WatchMode>,
    report: Mutex<WatchStatus>,
    latency_us: Mutex<Histogram<u64>>,
    generation: AtomicU64,
    fresh_as_of_ms: AtomicU64,
    /// Set when the event queue overflowed; the applier rescans.
    overflowed: AtomicBool,
}

/// The watcher of one root.
pub struct RootWatcher {
    root: PathBuf,
    sender: Sender<Message>,
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    cookie_counter: AtomicU64,
    cookie_timeout: Duration,
}

/// What the applier needs from the daemon.
pub struct Context {
    /// The store.
    pub store: Arc<Store>,
    /// The root.
    pub root: RootRecord,
    /// Configuration.
    pub config: Arc<Config>,
    /// Held while writing this root's records (shared with full indexing runs).
    pub write_lock: Arc<Mutex<()>>,
    /// Cancelled when the daemon shuts down.
    pub cancel: CancellationToken,
}

impl RootWatcher {
    /// Starts watching `context.root`: walks its directories, places the watches and starts
    /// the applier thread. Falls back to polling when watching is impossible.
    pub fn start(context: Context) -> Arc<RootWatcher> {
        let queue = context.config.watch.event_queue;
        let (sender, receiver) = crossbeam_channel::bounded(queue);
        let shared = Arc::new(Shared {
            mode: Mutex::new(WatchMode::Starting),
            report: Mutex::new(WatchStatus {
                mode: WatchMode::Starting.as_str().to_string(),
                ..WatchStatus::default()
            }),
            // Constant bounds that hdrhistogram accepts.
            latency_us: Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            ),
            generation: AtomicU64::new(0),
            fresh_as_of_ms: AtomicU64::new(0),
            overflowed: AtomicBool::new(false),
        });
        let root = PathBuf::from(&context.root.path);
        let cookie_timeout = Duration::from_millis(context.config.watch.cookie_timeout_ms);
        let applier_sender = sender.clone();
        let applier_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("watch {}", context.root.id))
            .spawn(move || {
                let mut applier = Applier::new(context, applier_shared, applier_sender);
                applier.run(receiver);
            });
        let thread = match thread {
            Ok(thread) => Some(thread),
            Err(err) => {
                tracing::error!(error = %err, "cannot start the watcher thread");
                shared.set_mode(WatchMode::Stopped, Some(err.to_string()));
                None
            }
        };
        Arc::new(RootWatcher {
            root,
            sender,
            shared,
            thread: Mutex::new(thread),
            cookie_counter: AtomicU64::new(0),
            cookie_timeout,
        })
    }

    /// Current mode.
    pub fn mode(&self) -> WatchMode {
        *self.shared.mode.lock()
    }

    /// Freshness figures for status.
    pub fn report(&self) -> WatchStatus {
        let mut report = self.shared.report.lock().clone();
        report.mode = self.mode().as_str().to_string();
        report
    }

    /// The root's freshness without waiting for anything.
    pub fn freshness(&self, confirmed: bool) -> Freshness {
        Freshness {
            index_generation: self.shared.generation.load(Ordering::SeqCst),
            fresh_as_of_ms: self.shared.fresh_as_of_ms.load(Ordering::SeqCst),
            watch: self.mode().as_str(),
            confirmed,
        }
    }

    /// Tells the applier that a full indexing run covered these directories.
    pub fn reconciled(&self, dirs: Vec<String>) {
        // If the queue is full the applier is rescanning anyway.
        let _ = self.sender.try_send(Message::Reconciled(dirs));
    }

    /// Read-your-writes: returns once every change made to the root before this call is in
    /// the index (or after the cookie timeout, unconfirmed).
    pub async fn sync(&self) -> Freshness {
        let started_ms = now_ms();
        let cookie = match self.mode() {
            WatchMode::Watching => self.write_cookie(),
            WatchMode::Polling | WatchMode::Rescanning => None,
            WatchMode::Starting | WatchMode::Stopped => return self.freshness(false),
        };
        let (reply, answered) = tokio::sync::oneshot::channel();
        let request = SyncRequest {
            cookie: cookie.clone(),
            reply,
        };
        // A full queue means an overflow rescan is coming; wait for it like any other sync.
        let sent = match self.sender.try_send(Message::Sync(request)) {
            Ok(()) => true,
            Err(TrySendError::Full(Message::Sync(request))) => {
                let sender = self.sender.clone();
                tokio::task::spawn_blocking(move || sender.send(Message::Sync(request)).is_ok())
                    .await
                    .unwrap_or(false)
            }
            Err(_) => false,
        };
        let confirmed = sent
            && tokio::time::timeout(self.cookie_timeout, answered)
                .await
                .is_ok_and(|reply| reply.is_ok());
        if let Some(cookie) = cookie {
            let _ = std::fs::remove_file(cookie);
        }
        if !confirmed {
            tracing::warn!(root = %self.root.display(), "freshness not confirmed in time; rescanning");
            self.shared.overflowed.store(true, Ordering::SeqCst);
        }
        let mut freshness = self.freshness(confirmed);
        if confirmed {
            freshness.fresh_as_of_ms = freshness.fresh_as_of_ms.max(started_ms);
        }
        freshness
    }

    /// Writes a cookie file into the root; `None` if the root is not writable.
    fn write_cookie(&self) -> Option<PathBuf> {
        let number = self.cookie_counter.fetch_add(1, Ordering::Relaxed);
        let path = self
            .root
            .join(format!("{COOKIE_PREFIX}{}-{number}", std::process::id()));
        match std::fs::File::create_new(&path) {
            Ok(_) => Some(path),
            Err(err) => {
                tracing::debug!(error = %err, "cannot write a freshness cookie");
                None
            }
        }
    }

    /// Stops the applier and waits for it.
    pub fn stop(&self) {
        let _ = self.sender.send(Message::Stop);
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn set_mode(&self, mode: WatchMode, error: Option<String>) {
        *self.mode.lock() = mode;
        let mut report = self.report.lock();
        report.mode = mode.as_str().to_string();
        if error.is_some() {
            report.error = error;
        }
    }
}

/// A changed path and whether the change may have been structural (created, removed,
/// renamed) rather than a content edit.
type Dirty = HashMap<PathBuf, bool>;

struct Applier {
    context: Context,
    shared: Arc<Shared>,
    sender: Sender<Message>,
    root: PathBuf,
    watcher: Option<Box<dyn Watcher + Send>>,
    /// Indexed directories, relative (`""` is the root).
    known_dirs: HashSet<String>,
    dirty: Dirty,
    rescan: bool,
    first_event: Option<Instant>,
    last_event: Option<Instant>,
    cookies_seen: HashSet<PathBuf>,
    waiting: Vec<SyncRequest>,
    next_poll: Option<Instant>,
}

impl Applier {
    fn new(context: Context, shared: Arc<Shared>, sender: Sender<Message>) -> Applier {
        let root = PathBuf::from(&context.root.path);
        Applier {
            context,
            shared,
            sender,
            root,
            watcher: None,
            known_dirs: HashSet::new(),
            dirty: Dirty::new(),
            rescan: false,
            first_event: None,
            last_event: None,
            cookies_seen: HashSet::new(),
            waiting: Vec::new(),
            next_poll: None,
        }
    }

    fn config(&self) -> &codesage_shared::config::WatchConfig {
        &self.context.config.watch
    }

    fn run(&mut self, receiver: Receiver<Message>) {
        self.start_watching();
        loop {
            let deadline = self.next_deadline();
            let message = match deadline {
                Some(deadline) => {
                    match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    {
                        Ok(message) => Some(message),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                None => match receiver.recv() {
                    Ok(message) => Some(message),
                    Err(_) => return,
                },
            };
            match message {
                Some(Message::Stop) => break,
                Some(Message::Event(event)) => self.on_event(event),
                Some(Message::Sync(request)) => self.on_sync(request),
                Some(Message::Reconciled(dirs)) => self.add_dirs(dirs, true),
                None => {}
            }
            // Drain whatever else is queued before deciding, so a burst becomes one batch.
            while let Ok(message) = receiver.try_recv() {
                match message {
                    Message::Stop => {
                        self.shutdown();
                        return;
                    }
                    Message::Event(event) => self.on_event(event),
                    Message::Sync(request) => self.on_sync(request),
                    Message::Reconciled(dirs) => self.add_dirs(dirs, true),
                }
            }
            if self.context.cancel.is_cancelled() {
                break;
            }
            self.maybe_apply();
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.watcher = None;
        self.shared.set_mode(WatchMode::Stopped, None);
        for request in self.waiting.drain(..) {
            let _ = request.reply.send(());
        }
    }

    /// When the loop must wake up even without a message.
    fn next_deadline(&self) -> Option<Instant> {
        let mut deadline = self.next_poll;
        if let (Some(first), Some(last)) = (self.first_event, self.last_event) {
            let settle = last + Duration::from_millis(self.config().settle_ms);
            let cap = first + Duration::from_millis(self.config().max_delay_ms);
            let due = settle.min(cap);
            deadline = Some(deadline.map_or(due, |d| d.min(due)));
        }
        if !self.waiting.is_empty() || self.rescan {
            // Re-check soon: a sync may be waiting for a cookie that is already queued.
            let soon = Instant::now() + Duration::from_millis(5);
            deadline = Some(deadline.map_or(soon, |d| d.min(soon)));
        }
        deadline
    }

    // ----- watches -------------------------------------------------------------------

    fn start_watching(&mut self) {
        let dirs = self.walk_dirs("");
        self.known_dirs = dirs.iter().cloned().collect();
        if !self.config().enabled {
            self.fall_back_to_polling("watching is disabled in the configuration (watch.enabled)");
            return;
        }
        if self.known_dirs.len() > self.config().max_watches {
            let message = format!(
                "the root has {} directories, more than watch.max_watches ({})",
                self.known_dirs.len(),
                self.config().max_watches
            );
            self.fall_back_to_polling(&message);
            return;
        }
        let sender = self.sender.clone();
        let shared = Arc::clone(&self.shared);
        let handler = move |event: notify::Result<notify::Event>| {
            // inotify reports every open; reading files (ours included) must not fill the
            // queue, so only events that can mean a change are queued.
            if event.as_ref().is_ok_and(|event| !may_change(&event.kind)) {
                return;
            }
            if let Err(TrySendError::Full(_)) = sender.try_send(Message::Event(event)) {
                shared.overflowed.store(true, Ordering::SeqCst);
            }
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(watcher) => watcher,
            Err(err) => {
                self.fall_back_to_polling(&format!("cannot create a watcher: {err}"));
                return;
            }
        };
        self.watcher = Some(Box::new(watcher));
        let mut all = vec![String::new()];
        if per_directory_watches() {
            all = dirs;
        }
        for dir in all {
            if let Err(message) = self.watch_dir(&dir) {
                self.fall_back_to_polling(&message);
                return;
            }
        }
        self.shared.set_mode(WatchMode::Watching, None);
        self.update_watched_count();
        tracing::info!(
            root = %self.root.display(),
            dirs = self.known_dirs.len(),
            "watching"
        );
    }

    /// Places the watch for one directory; an error message means watching is impossible.
    fn watch_dir(&mut self, dir: &str) -> Result<(), String> {
        let Some(watcher) = self.watcher.as_mut() else {
            return Ok(());
        };
        let mode = if per_directory_watches() {
            RecursiveMode::NonRecursive
        } else {
            RecursiveMode::Recursive
        };
        let path = self.root.join(dir);
        match watcher.watch(&path, mode) {
            Ok(()) => Ok(()),
            Err(err) => match err.kind {
                notify::ErrorKind::MaxFilesWatch => Err(format!(
                    "the system's limit on watches is exhausted (raise fs.inotify.max_user_watches): {err}"
                )),
                // The directory vanished between listing and watching; its removal event
                // follows.
                notify::ErrorKind::PathNotFound => Ok(()),
                notify::ErrorKind::Io(ref io) if io.kind() == std::io::ErrorKind::NotFound => {
                    Ok(())
                }
                _ => Err(format!("cannot watch {}: {err}", path.display())),
            },
        }
    }

    fn fall_back_to_polling(&mut self, reason: &str) {
        tracing::warn!(root = %self.root.display(), %reason, "falling back to polling");
        self.watcher = None;
        self.shared
            .set_mode(WatchMode::Polling, Some(reason.to_string()));
        self.next_poll =
            Some(Instant::now() + Duration::from_millis(self.config().poll_interval_ms));
        self.update_watched_count();
    }

    fn update_watched_count(&self) {
        let count = match (&self.watcher, per_directory_watches()) {
            (None, _) => 0,
            (Some(_), true) => self.known_dirs.len(),
            (Some(_), false) => 1,
        };
        self.shared.report.lock().watched_dirs = count as u64;
    }

    /// Records new indexed directories and watches them. With `rescan_new`, each directory
    /// that was not known yet is also marked changed: it was read before its watch existed,
    /// so files created in between would otherwise be missed. (Directories about to be read
    /// anyway pass `false`.)
    fn add_dirs(&mut self, dirs: Vec<String>, rescan_new: bool) {
        for dir in dirs {
            let new = self.known_dirs.insert(dir.clone());
            if new && rescan_new && !dir.is_empty() {
                let now = Instant::now();
                self.dirty.insert(self.root.join(&dir), true);
                self.first_event.get_or_insert(now);
                self.last_event = Some(now);
            }
            if new && per_directory_watches() && self.watcher.is_some() {
                if self.known_dirs.len() > self.config().max_watches {
                    let message = format!(
                        "the root grew past watch.max_watches ({}) directories",
                        self.config().max_watches
                    );
                    self.fall_back_to_polling(&message);
                    return;
                }
                if let Err(message) = self.watch_dir(&dir) {
                    self.fall_back_to_polling(&message);
                    return;
                }
            }
        }
        self.update_watched_count();
    }

    /// Forgets `dir` and every directory under it.
    fn remove_dirs_under(&mut self, dir: &str) {
        let prefix = format!("{dir}/");
        let gone: Vec<String> = self
            .known_dirs
            .iter()
            .filter(|known| *known == dir || known.starts_with(&prefix))
            .cloned()
            .collect();
        for known in gone {
            self.known_dirs.remove(&known);
            if per_directory_watches()
                && let Some(watcher) = self.watcher.as_mut()
            {
                // Deleted directories lose their watch by themselves; moved-out ones do not.
                let _ = watcher.unwatch(&self.root.join(&known));
            }
        }
        self.update_watched_count();
    }

    fn walk_dirs(&self, start: &str) -> Vec<String> {
        let Ok(walker) = Walker::subtree(&self.root, start, &self.context.config.index, None, None)
        else {
            return Vec::new();
        };
        let dirs = Mutex::new(Vec::new());
        walker.run(&self.context.cancel, |found| {
            if let Found::Dir { relative } = found {
                dirs.lock().push(relative);
            }
            true
        });
        dirs.into_inner()
    }

    // ----- events and syncs --------------------------------------------------------------

    fn on_event(&mut self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
                    self.fall_back_to_polling(&format!(
                        "the system's limit on watches is exhausted: {err}"
                    ));
                } else {
                    tracing::warn!(root = %self.root.display(), error = %err, "watcher error; rescanning");
                    self.shared.report.lock().error = Some(err.to_string());
                }
                self.rescan = true;
                return;
            }
        };
        if event.need_rescan() {
            tracing::warn!(root = %self.root.display(), "events were lost; rescanning");
            self.rescan = true;
            return;
        }
        if !may_change(&event.kind) {
            return;
        }
        let structural = !matches!(
            event.kind,
            EventKind::Access(_)
                | EventKind::Modify(notify::event::ModifyKind::Data(_))
                | EventKind::Modify(notify::event::ModifyKind::Metadata(_))
        );
        let now = Instant::now();
        for path in event.paths {
            if path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(COOKIE_PREFIX))
            {
                self.cookies_seen.insert(path);
                continue;
            }
            if !path.starts_with(&self.root) {
                continue;
            }
            let entry = self.dirty.entry(path).or_insert(false);
            *entry |= structural;
            self.first_event.get_or_insert(now);
            self.last_event = Some(now);
        }
        if self.dirty.len() > self.config().max_batch_paths {
            tracing::warn!(
                root = %self.root.display(),
                paths = self.dirty.len(),
                "too many changed paths for one batch; rescanning instead"
            );
            self.dirty.clear();
            self.rescan = true;
        }
        self.shared.report.lock().pending = self.dirty.len() as u64;
    }

    fn on_sync(&mut self, request: SyncRequest) {
        self.waiting.push(request);
    }

    /// Applies the pending batch if it has settled, a sync is satisfied, a rescan is due or
    /// the poll interval has passed.
    fn maybe_apply(&mut self) {
        if self.shared.overflowed.swap(false, Ordering::SeqCst) {
            self.rescan = true;
        }
        let polling = *self.shared.mode.lock() == WatchMode::Polling;
        let now = Instant::now();
        let poll_due = polling && self.next_poll.is_some_and(|at| now >= at);
        // A sync is ready when its cookie has been seen (every earlier event is queued before
        // it) or when there is no cookie to wait for.
        let ready_syncs: Vec<usize> = self
            .waiting
            .iter()
            .enumerate()
            .filter(|(_, request)| match &request.cookie {
                Some(cookie) => self.cookies_seen.contains(cookie),
                None => true,
            })
            .map(|(index, _)| index)
            .collect();
        let settled = match (self.first_event, self.last_event) {
            (Some(first), Some(last)) => {
                now >= last + Duration::from_millis(self.config().settle_ms)
                    || now >= first + Duration::from_millis(self.config().max_delay_ms)
            }
            _ => false,
        };
        // Syncs without a cookie in polling mode must see a fresh scan.
        let polling_sync = polling
            && ready_syncs
                .iter()
                .any(|&index| self.waiting[index].cookie.is_none());
        if self.rescan || poll_due || polling_sync {
            self.full_rescan(polling);
        } else if settled || (!ready_syncs.is_empty() && !self.dirty.is_empty()) {
            self.apply_batch();
        }
        if !ready_syncs.is_empty() {
            self.shared
                .fresh_as_of_ms
                .fetch_max(now_ms(), Ordering::SeqCst);
            for index in ready_syncs.into_iter().rev() {
                let request = self.waiting.swap_remove(index);
                if let Some(cookie) = &request.cookie {
                    self.cookies_seen.remove(cookie);
                }
                let _ = request.reply.send(());
            }
        }
        if self.waiting.is_empty() && self.cookies_seen.len() > 1024 {
            // Cookies of syncs that timed out; nobody waits for them any more.
            self.cookies_seen.clear();
        }
    }

    // ----- applying ------------------------------------------------------------------------

    fn full_rescan(&mut self, polling: bool) {
        let started = self.first_event.unwrap_or_else(Instant::now);
        let applying = Instant::now();
        if !polling {
            self.shared.set_mode(WatchMode::Rescanning, None);
        }
        self.dirty.clear();
        self.rescan = false;
        let stats = {
            let _writing = self.context.write_lock.lock();
            indexer::reconcile(
                &self.context.store,
                &self.context.root,
                &self.context.config.index,
                "",
                false,
                &Progress::default(),
                &self.context.cancel,
            )
        };
        match stats {
            Ok(stats) => {
                let changed = stats.files_read + stats.files_removed;
                let dirs = stats.dirs.clone();
                // Directories may have come and gone while events were lost.
                let current: HashSet<String> = dirs.iter().cloned().collect();
                let stale: Vec<String> = self
                    .known_dirs
                    .iter()
                    .filter(|dir| !current.contains(*dir))
                    .cloned()
                    .collect();
                for dir in stale {
                    self.remove_dirs_under(&dir);
                }
                self.add_dirs(dirs, true);
                self.finish_batch(started, applying, changed, true);
            }
            Err(err) => {
                tracing::warn!(root = %self.root.display(), error = %err, "rescan failed");
                self.shared.report.lock().error = Some(err.to_string());
                if !self.root.is_dir() {
                    self.shared.set_mode(
                        WatchMode::Stopped,
                        Some(format!("{} no longer exists", self.root.display())),
                    );
                    self.watcher = None;
                    self.next_poll = None;
                    return;
                }
            }
        }
        if polling {
            self.next_poll =
                Some(Instant::now() + Duration::from_millis(self.config().poll_interval_ms));
        } else if *self.shared.mode.lock() == WatchMode::Rescanning {
            self.shared.set_mode(WatchMode::Watching, None);
        }
    }

    fn apply_batch(&mut self) {
        let started = self.first_event.unwrap_or_else(Instant::now);
        let applying = Instant::now();
        let dirty = std::mem::take(&mut self.dirty);
        let count = dirty.len() as u64;
        let mut changes: Vec<FileChange> = Vec::new();
        // Parent directory → names of dirty entries in it.
        let mut by_parent: HashMap<String, HashSet<String>> = HashMap::new();
        let mut removed_prefixes: Vec<String> = Vec::new();
        let mut subtrees: Vec<String> = Vec::new();

        for (path, structural) in dirty {
            let Some(relative) = walk::relative_path(&self.root, &path) else {
                continue;
            };
            if relative.is_empty() {
                continue;
            }
            let (parent, name) = match relative.rsplit_once('/') {
                Some((parent, name)) => (parent.to_string(), name.to_string()),
                None => (String::new(), relative.clone()),
            };
            if IGNORE_FILES.contains(&name.as_str()) {
                // What is ignored below this directory may have changed.
                subtrees.push(parent.clone());
            }
            match std::fs::symlink_metadata(&path) {
                Err(_) => {
                    changes.push(FileChange::Remove {
                        path: relative.clone(),
                    });
                    removed_prefixes.push(relative);
                }
                Ok(meta) if meta.is_dir() => {
                    if structural || !self.known_dirs.contains(&relative) {
                        by_parent.entry(parent).or_default().insert(name);
                    }
                }
                Ok(_) => {
                    by_parent.entry(parent).or_default().insert(name);
                }
            }
        }

        let write_lock = Arc::clone(&self.context.write_lock);
        let _writing = write_lock.lock();
        let store = Arc::clone(&self.context.store);
        let store = store.as_ref();
        let root_id = self.context.root.id;
        let snapshot = store.snapshot();

        // Which dirty entries are still part of the index, decided by the same walk rules.
        for (parent, names) in by_parent {
            if !self.known_dirs.contains(&parent) {
                // Inside an excluded or ignored directory (or one not yet known, whose own
                // event brings it in).
                continue;
            }
            let eligible = self.eligible(&parent, &names);
            for name in names {
                let relative = if parent.is_empty() {
                    name.clone()
                } else {
                    format!("{parent}/{name}")
                };
                match eligible.get(&name) {
                    Some(Entry::Dir) => subtrees.push(relative),
                    Some(Entry::File(meta)) => {
                        let previous = snapshot
                            .as_ref()
                            .ok()
                            .and_then(|snapshot| snapshot.file(root_id, &relative).ok().flatten());
                        if let Some(change) = self.examine_file(&relative, meta, previous.as_ref())
                        {
                            changes.push(change);
                        }
                    }
                    None => {
                        // Ignored now, excluded, a symlink, or gone.
                        changes.push(FileChange::Remove {
                            path: relative.clone(),
                        });
                        removed_prefixes.push(relative);
                    }
                }
            }
        }
        drop(snapshot);

        // Everything under a directory that disappeared or became ignored goes too.
        for prefix in &removed_prefixes {
            if let Ok(records) = store.files_under(root_id, prefix) {
                changes.extend(
                    records
                        .into_iter()
                        .map(|(path, _)| FileChange::Remove { path }),
                );
            }
        }
        let mut changed = changes.len() as u64;
        if let Err(err) = store.apply(root_id, changes) {
            tracing::error!(root = %self.root.display(), error = %err, "cannot apply changes; rescanning");
            self.rescan = true;
            return;
        }
        for prefix in &removed_prefixes {
            if self.known_dirs.contains(prefix) {
                self.remove_dirs_under(prefix);
            }
        }
        // New, moved-in or re-ruled directories are reconciled as a whole.
        subtrees.sort();
        subtrees.dedup();
        let mut covered: Vec<String> = Vec::new();
        for subtree in subtrees {
            if covered.iter().any(|done| {
                done.is_empty() || subtree == *done || subtree.starts_with(&format!("{done}/"))
            }) {
                continue;
            }
            // Watch the new directories before reading them: a file created after its
            // directory's watch exists produces an event, one created before is seen by the
            // walk below; none falls between.
            let dirs = self.walk_dirs(&subtree);
            self.add_dirs(dirs, false);
            let root_record = self.context.root.clone();
            match indexer::reconcile(
                store,
                &root_record,
                &self.context.config.index,
                &subtree,
                false,
                &Progress::default(),
                &self.context.cancel,
            ) {
                Ok(stats) => {
                    changed += stats.files_read + stats.files_removed;
                    // Directories under it that are now ignored leave the watch list.
                    let current: HashSet<&String> = stats.dirs.iter().collect();
                    let prefix = format!("{subtree}/");
                    let stale: Vec<String> = self
                        .known_dirs
                        .iter()
                        .filter(|dir| dir.starts_with(&prefix) && !current.contains(dir))
                        .cloned()
                        .collect();
                    for dir in stale {
                        self.remove_dirs_under(&dir);
                    }
                    self.add_dirs(stats.dirs, true);
                }
                Err(err) => {
                    tracing::warn!(root = %self.root.display(), %subtree, error = %err, "cannot reconcile directory; rescanning");
                    self.rescan = true;
                }
            }
            covered.push(subtree);
        }
        drop(_writing);
        self.shared.report.lock().events_applied += count;
        self.finish_batch(started, applying, changed, false);
    }

    /// The entries among `names` in directory `parent` that belong in the index.
    fn eligible(&self, parent: &str, names: &HashSet<String>) -> HashMap<String, Entry> {
        let found = Mutex::new(HashMap::new());
        let Ok(walker) = Walker::subtree(
            &self.root,
            parent,
            &self.context.config.index,
            Some(1),
            Some(names.clone()),
        ) else {
            return HashMap::new();
        };
        walker.run(&self.context.cancel, |entry| {
            match entry {
                Found::Dir { relative } if relative != parent => {
                    let name = relative.rsplit('/').next().unwrap_or(&relative).to_string();
                    found.lock().insert(name, Entry::Dir);
                }
                Found::File { relative, meta, .. } => {
                    let name = relative.rsplit('/').next().unwrap_or(&relative).to_string();
                    found.lock().insert(name, Entry::File(meta.clone()));
                }
                Found::Dir { .. } => {}
            }
            true
        });
        found.into_inner()
    }

    /// The change for one eligible file, `None` if its record is current.
    fn examine_file(
        &self,
        relative: &str,
        meta: &std::fs::Metadata,
        previous: Option<&FileRecord>,
    ) -> Option<FileChange> {
        let size = meta.len();
        let mtime = mtime_ns(meta);
        if previous.is_some_and(|record| record.matches_stat(size, mtime)) {
            return None;
        }
        let absolute = self.root.join(relative);
        match indexer::analyze(
            relative,
            &absolute,
            size,
            mtime,
            previous,
            &self.context.config.index,
            true,
        ) {
            Ok(Some(analyzed)) => Some(analyzed.into_change(relative.to_string())),
            // Vanished since the event, or unreadable (e.g. permission denied): not served.
            Ok(None) | Err(_) => Some(FileChange::Remove {
                path: relative.to_string(),
            }),
        }
    }

    fn finish_batch(&mut self, started: Instant, applying: Instant, changed: u64, rescan: bool) {
        let latency = started.elapsed();
        let apply_ms = applying.elapsed().as_secs_f64() * 1000.0;
        self.first_event = None;
        self.last_event = None;
        if changed > 0 {
            self.shared.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.shared
            .fresh_as_of_ms
            .fetch_max(now_ms(), Ordering::SeqCst);
        let micros = (latency.as_micros() as u64).clamp(1, 3_600_000_000);
        let (p50, p95) = {
            let mut histogram = self.shared.latency_us.lock();
            // Clamped into range, so recording cannot fail.
            let _ = histogram.record(micros);
            (
                histogram.value_at_quantile(0.5) as f64 / 1000.0,
                histogram.value_at_quantile(0.95) as f64 / 1000.0,
            )
        };
        let mut report = self.shared.report.lock();
        report.batches += 1;
        if rescan {
            report.rescans += 1;
        }
        if changed > 0 {
            report.last_update_ms = now_ms();
        }
        report.pending = self.dirty.len() as u64;
        report.last_latency_ms = Some(latency.as_secs_f64() * 1000.0);
        report.last_apply_ms = Some(apply_ms);
        report.latency_p50_ms = Some(p50);
        report.latency_p95_ms = Some(p95);
    }
}

enum Entry {
    Dir,
    File(std::fs::Metadata),
}

/// Whether an event kind can mean that a file's content, name or existence changed (opens
/// and reads cannot; a close after writing can).
fn may_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write)) => {
            true
        }
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether each directory gets its own (non-recursive) watch. True where watches are cheap
/// per directory and recursive ones would cover ignored trees (inotify).
fn per_directory_watches() -> bool {
    cfg!(any(target_os = "linux", target_os = "android"))
}
