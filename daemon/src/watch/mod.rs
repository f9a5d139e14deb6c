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

mod batch;
mod events;
mod placement;

use events::may_change;

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
    /// A rescan failed (the store could not be written, say the disk is full): when to try
    /// again, and the delay after that (doubling up to [`MAX_RETRY_DELAY`]).
    retry: Option<(Instant, Duration)>,
}

/// First delay before a failed rescan is tried again.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(500);
/// Longest delay between attempts of a failed rescan.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(15);

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
            retry: None,
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
        if let Some((at, _)) = self.retry {
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
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
}
