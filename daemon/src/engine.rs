//! The daemon's shared state: configuration, the store, the registered roots with their
//! indexing jobs, and metrics. MCP tools and control requests both go through it, so the two
//! always agree. The engine owns the rules about roots (which paths may be roots, which root
//! a path belongs to) and runs indexing on blocking threads; it knows nothing of the wire.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use codesage_shared::config::Config;
use codesage_shared::protocol::{
    IndexProgress, IndexSummary, RootStatus, SearchParams, SearchReport, StatusReport,
};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::indexer::{self, IndexError, Progress, RunStats};
use crate::metrics::{self, Metrics};
use crate::search::{Query, SearchError};
use crate::store::{FileRecord, RootId, RootRecord, Store, StoreError};
use crate::structure::lookup::{self, KindFilter, NameQuery, SymbolMatch};
use crate::structure::{Scope, StructureError};
use crate::watch::{Context as WatchContext, Freshness, RootWatcher};

/// Definitions found by name across roots.
#[derive(Debug, Default)]
pub struct SymbolSearch {
    /// The best matches, ranked.
    pub symbols: Vec<SymbolMatch>,
    /// Matches found (listed or not).
    pub total: usize,
    /// What the caller should know about the freshness of the roots searched.
    pub notes: Vec<String>,
}

/// A request the engine cannot serve, with a message that says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The path does not exist.
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    /// The path exists but is not a directory.
    #[error("{0} is not a directory; give the directory of the codebase")]
    NotADirectory(PathBuf),
    /// The path may not be registered as a root.
    #[error("refusing to index {path}: {reason}")]
    RootRefused {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The path is outside every registered root.
    #[error(
        "{path} is outside the indexed codebases ({roots}); index its codebase first with index_codebase"
    )]
    OutsideRoots {
        /// The path.
        path: PathBuf,
        /// The registered roots, listed.
        roots: String,
    },
    /// No root was given and none could be chosen.
    #[error("{0}")]
    NoRoot(String),
    /// The search could not be compiled.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Indexing failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A structural question could not be answered.
    #[error(transparent)]
    Structure(#[from] StructureError),
    /// A filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The daemon is shutting down.
    #[error("the daemon is shutting down; retry in a moment")]
    ShuttingDown,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// Totals of a root's index, recomputed after each run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RootSummary {
    /// Files whose content is indexed.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Files per language.
    pub languages: BTreeMap<String, u64>,
}

impl RootSummary {
    fn from_records(records: &[(String, FileRecord)]) -> RootSummary {
        let mut summary = RootSummary::default();
        for (_, record) in records.iter().filter(|(_, r)| r.skipped.is_none()) {
            summary.files += 1;
            summary.bytes += record.size;
            *summary
                .languages
                .entry(record.language.clone())
                .or_default() += 1;
        }
        summary
    }
}

/// Final result of an indexing job, shared with everyone waiting on it.
pub type JobResult = Result<IndexSummary, String>;

/// An indexing run in progress (or just finished).
pub struct IndexJob {
    /// Live counters.
    pub progress: Progress,
    root_path: PathBuf,
    done: watch::Sender<Option<JobResult>>,
}

impl IndexJob {
    /// Progress so far.
    pub fn snapshot(&self) -> IndexProgress {
        self.progress.snapshot(&self.root_path)
    }

    /// Waits up to `timeout` for the job to finish; `None` if it is still running.
    pub async fn wait(&self, timeout: Duration) -> Option<JobResult> {
        let mut receiver = self.done.subscribe();
        let finished = tokio::time::timeout(timeout, receiver.wait_for(Option::is_some)).await;
        match finished {
            Ok(Ok(result)) => result.clone(),
            // The sender lives in the job itself, so it cannot be dropped while we hold `self`.
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// The result, if the job has finished.
    pub fn result(&self) -> Option<JobResult> {
        self.done.borrow().clone()
    }
}

#[derive(Default)]
struct RootState {
    job: Option<Arc<IndexJob>>,
    last_indexed_ms: u64,
    last_error: Option<String>,
    last_run: Option<IndexSummary>,
}

/// A registered root.
pub struct Root {
    /// Store key.
    pub id: RootId,
    /// Canonical path.
    pub path: PathBuf,
    added_ms: u64,
    state: Mutex<RootState>,
    /// Keeps the index fresh once the root is registered.
    watcher: Mutex<Option<Arc<RootWatcher>>>,
    /// Held while writing this root's records, so indexing runs and the watcher's batches
    /// never interleave.
    write_lock: Arc<Mutex<()>>,
}

impl Root {
    /// The indexing job, if one is running.
    pub fn running_job(&self) -> Option<Arc<IndexJob>> {
        self.state
            .lock()
            .job
            .clone()
            .filter(|job| job.result().is_none())
    }

    /// Whether a complete run has ever finished for this root.
    pub fn ever_indexed(&self) -> bool {
        self.state.lock().last_indexed_ms > 0
    }

    /// The root's watcher, if it has one.
    pub fn watcher(&self) -> Option<Arc<RootWatcher>> {
        self.watcher.lock().clone()
    }

    fn record(&self) -> RootRecord {
        RootRecord {
            id: self.id,
            path: self.path.to_string_lossy().into_owned(),
            added_ms: self.added_ms,
            last_indexed_ms: self.state.lock().last_indexed_ms,
        }
    }
}

/// The shared daemon state.
pub struct Engine {
    config: Arc<Config>,
    store: Arc<Store>,
    roots: RwLock<Vec<Arc<Root>>>,
    metrics: Metrics,
    started: Instant,
    socket: PathBuf,
    shutdown: CancellationToken,
    jobs: TaskTracker,
    mcp_requests: McpRequestCounts,
}

/// MCP requests as the framing layer sees them, across all connections.
#[derive(Debug, Default)]
pub struct McpRequestCounts {
    /// Requests received since start.
    pub received: std::sync::atomic::AtomicU64,
    /// Requests received and not yet answered.
    pub in_flight: std::sync::atomic::AtomicU64,
}

impl Engine {
    /// Builds the engine over an open store, loading its roots.
    pub fn new(
        config: Config,
        store: Store,
        socket: PathBuf,
        shutdown: CancellationToken,
    ) -> Result<Arc<Engine>, StoreError> {
        let mut roots = Vec::new();
        for record in store.roots()? {
            roots.push(Arc::new(Root {
                id: record.id,
                path: PathBuf::from(&record.path),
                added_ms: record.added_ms,
                state: Mutex::new(RootState {
                    last_indexed_ms: record.last_indexed_ms,
                    ..RootState::default()
                }),
                watcher: Mutex::new(None),
                write_lock: Arc::new(Mutex::new(())),
            }));
        }
        let store = Arc::new(store);
        store.start_merger();
        Ok(Arc::new(Engine {
            config: Arc::new(config),
            store,
            roots: RwLock::new(roots),
            metrics: Metrics::default(),
            started: Instant::now(),
            socket,
            shutdown,
            jobs: TaskTracker::new(),
            mcp_requests: McpRequestCounts::default(),
        }))
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Request metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// MCP request counters, kept by the framing layer.
    pub fn mcp_requests(&self) -> &McpRequestCounts {
        &self.mcp_requests
    }

    /// Time since the daemon started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Every registered root.
    pub fn roots(&self) -> Vec<Arc<Root>> {
        self.roots.read().clone()
    }

    /// Registers `path` as a root (idempotent). `strict` also refuses the home directory,
    /// for roots nobody typed (those an MCP client declares).
    pub fn register_root(&self, path: &Path, strict: bool) -> Result<Arc<Root>, EngineError> {
        if self.shutdown.is_cancelled() {
            return Err(EngineError::ShuttingDown);
        }
        let canonical = canonicalize_existing(path)?;
        if !canonical.is_dir() {
            return Err(EngineError::NotADirectory(canonical));
        }
        if canonical.parent().is_none() {
            return Err(EngineError::RootRefused {
                path: canonical,
                reason: "the filesystem root is not a codebase; index a project directory",
            });
        }
        if strict && home_dir().is_some_and(|home| home == canonical) {
            return Err(EngineError::RootRefused {
                path: canonical,
                reason: "the home directory is not indexed automatically; index a project directory",
            });
        }
        if let Some(root) = self.roots.read().iter().find(|root| root.path == canonical) {
            return Ok(Arc::clone(root));
        }
        let path_text = canonical.to_str().ok_or_else(|| EngineError::RootRefused {
            path: canonical.clone(),
            reason: "the path is not valid UTF-8",
        })?;
        let record = self.store.add_root(path_text, now_ms())?;
        let mut roots = self.roots.write();
        if let Some(root) = roots.iter().find(|root| root.id == record.id) {
            return Ok(Arc::clone(root));
        }
        let root = Arc::new(Root {
            id: record.id,
            path: canonical,
            added_ms: record.added_ms,
            state: Mutex::new(RootState::default()),
            watcher: Mutex::new(None),
            write_lock: Arc::new(Mutex::new(())),
        });
        roots.push(Arc::clone(&root));
        tracing::info!(root = %root.path.display(), "registered root");
        Ok(root)
    }

    /// Starts watching `root` for changes (once; later calls do nothing).
    pub fn start_watch(&self, root: &Arc<Root>) {
        let mut watcher = root.watcher.lock();
        if watcher.is_some() || self.shutdown.is_cancelled() {
            return;
        }
        *watcher = Some(RootWatcher::start(WatchContext {
            store: Arc::clone(&self.store),
            root: root.record(),
            config: Arc::clone(&self.config),
            write_lock: Arc::clone(&root.write_lock),
            cancel: self.shutdown.child_token(),
        }));
    }

    /// Waits until every change made to `root` before this call is in its index, and says how
    /// fresh the index is. Roots without a watcher answer at once, unconfirmed.
    pub async fn sync_root(&self, root: &Root) -> Freshness {
        match root.watcher() {
            Some(watcher) => watcher.sync().await,
            None => Freshness {
                index_generation: 0,
                fresh_as_of_ms: root.state.lock().last_indexed_ms,
                watch: "stopped",
                confirmed: false,
            },
        }
    }

    /// Starts bringing `root`'s index up to date, or returns the run already going.
    pub fn start_index(self: &Arc<Self>, root: &Arc<Root>) -> Arc<IndexJob> {
        self.start_index_with(root, false)
    }

    /// Starts a full rebuild of `root`'s index that trusts nothing stored (every file is read
    /// and hashed again), or returns the run already going.
    pub fn start_reindex(self: &Arc<Self>, root: &Arc<Root>) -> Arc<IndexJob> {
        self.start_index_with(root, true)
    }

    fn start_index_with(self: &Arc<Self>, root: &Arc<Root>, force: bool) -> Arc<IndexJob> {
        self.start_watch(root);
        let mut state = root.state.lock();
        if let Some(job) = state.job.as_ref().filter(|job| job.result().is_none()) {
            return Arc::clone(job);
        }
        let job = Arc::new(IndexJob {
            progress: Progress::default(),
            root_path: root.path.clone(),
            done: watch::channel(None).0,
        });
        state.job = Some(Arc::clone(&job));
        drop(state);

        let engine = Arc::clone(self);
        let root = Arc::clone(root);
        let job_for_task = Arc::clone(&job);
        self.jobs.spawn_blocking(move || {
            let result = engine.run_index(&root, &job_for_task, force);
            if let Err(err) = &result {
                tracing::warn!(root = %root.path.display(), error = %err, "indexing failed");
            }
            job_for_task.done.send_replace(Some(result));
        });
        job
    }

    fn run_index(&self, root: &Root, job: &IndexJob, force: bool) -> JobResult {
        let record = root.record();
        let outcome = {
            let _writing = root.write_lock.lock();
            indexer::reconcile(
                &self.store,
                &record,
                &self.config.index,
                "",
                force,
                &job.progress,
                &self.shutdown,
            )
        };
        let mut stats = match outcome {
            Ok(stats) => stats,
            Err(err) => {
                let message = err.to_string();
                root.state.lock().last_error = Some(message.clone());
                return Err(message);
            }
        };
        if let Some(watcher) = root.watcher() {
            watcher.reconciled(std::mem::take(&mut stats.dirs));
        }
        if stats.files_read + stats.files_removed > 0 {
            // Rewrites leave free pages behind; hand them back once the store is idle.
            self.store.request_compaction();
        }
        let records = self.store.files(root.id).map_err(|err| err.to_string())?;
        let summary = RootSummary::from_records(&records);
        let finished_ms = now_ms();
        if !stats.cancelled {
            let saved = RootRecord {
                last_indexed_ms: finished_ms,
                ..record
            };
            self.store
                .update_root(&saved)
                .map_err(|err| err.to_string())?;
        }
        {
            let mut state = root.state.lock();
            state.last_error = None;
            if !stats.cancelled {
                state.last_indexed_ms = finished_ms;
            }
        }
        let elapsed_ms = job.progress.snapshot(&root.path).elapsed_ms;
        let result = index_summary(&root.path, &summary, &stats, elapsed_ms);
        root.state.lock().last_run = Some(result.clone());
        tracing::info!(
            root = %root.path.display(),
            files = summary.files,
            read = stats.files_read,
            unchanged = stats.files_unchanged,
            removed = stats.files_removed,
            elapsed_ms,
            "indexing finished"
        );
        Ok(result)
    }

    /// Totals of a root's index as it stands (read from the store: the watcher changes the
    /// index between indexing runs).
    pub fn root_summary(&self, root: &Root) -> RootSummary {
        self.store
            .files(root.id)
            .map(|records| RootSummary::from_records(&records))
            .unwrap_or_default()
    }

    /// The summary of a root's index as it stands, for an answer that did no indexing.
    pub fn current_summary(&self, root: &Root) -> IndexSummary {
        index_summary(
            &root.path,
            &self.root_summary(root),
            &RunStats::default(),
            0,
        )
    }

    /// The summary of a root as it is now (for answers while a run continues).
    pub fn partial_summary(&self, root: &Root, job: &IndexJob) -> IndexSummary {
        let progress = job.snapshot();
        let mut summary = index_summary(
            &root.path,
            &self.root_summary(root),
            &RunStats::default(),
            progress.elapsed_ms,
        );
        summary.partial = true;
        summary.files_read = progress.files_done;
        summary
    }

    /// Finds the root containing `path` (absolute or relative to a root) and the path inside
    /// it (`""` for the root itself). The deepest root wins when roots nest.
    pub fn locate(&self, path: &Path) -> Result<(Arc<Root>, String), EngineError> {
        let roots = self.roots();
        if path.is_relative() {
            let relative = normalize_relative(path).ok_or_else(|| self.outside(path))?;
            // A relative path names a file in some root; prefer one where it exists.
            let mut fallback = None;
            for root in &roots {
                let candidate = root.path.join(&relative);
                if candidate.exists() {
                    return self.locate(&candidate);
                }
                fallback.get_or_insert(candidate);
            }
            return match fallback {
                Some(candidate) if roots.len() == 1 => self.locate(&candidate),
                _ => Err(self.outside(path)),
            };
        }
        let resolved = resolve_absolute(path);
        roots
            .iter()
            .filter_map(|root| {
                let inside = resolved.strip_prefix(&root.path).ok()?;
                Some((root, inside.to_str()?.replace('\\', "/")))
            })
            .max_by_key(|(root, _)| root.path.as_os_str().len())
            .map(|(root, inside)| (Arc::clone(root), inside))
            .ok_or_else(|| self.outside(path))
    }

    fn outside(&self, path: &Path) -> EngineError {
        let roots = self.roots();
        let listed = if roots.is_empty() {
            "none are indexed yet".to_string()
        } else {
            roots
                .iter()
                .map(|root| root.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        EngineError::OutsideRoots {
            path: path.to_path_buf(),
            roots: listed,
        }
    }

    /// Picks the root (and directory inside it) a request is about: `explicit` if given,
    /// else the single one of `defaults` (the client's roots) or of all registered roots.
    pub fn scope(
        &self,
        explicit: Option<&Path>,
        defaults: &[PathBuf],
    ) -> Result<(Arc<Root>, String), EngineError> {
        if let Some(path) = explicit {
            return self.locate(path);
        }
        let candidates: Vec<PathBuf> = if defaults.is_empty() {
            self.roots().iter().map(|root| root.path.clone()).collect()
        } else {
            defaults.to_vec()
        };
        match candidates.as_slice() {
            [only] => self.locate(only),
            [] => Err(EngineError::NoRoot(
                "no codebase is indexed yet; call index_codebase with the project directory first"
                    .into(),
            )),
            several => Err(EngineError::NoRoot(format!(
                "several codebases are indexed ({}); say which one with codebase_path",
                several
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The roots a request is about: `explicit` if given (with the directory inside it),
    /// else the client's roots (`defaults`), else every registered root.
    pub fn scopes(
        &self,
        explicit: Option<&Path>,
        defaults: &[PathBuf],
    ) -> Result<Vec<(Arc<Root>, String)>, EngineError> {
        if let Some(path) = explicit {
            return Ok(vec![self.locate(path)?]);
        }
        let mut scopes = Vec::new();
        for path in defaults {
            if let Ok(found) = self.locate(path)
                && !scopes.iter().any(|(root, prefix): &(Arc<Root>, String)| {
                    root.id == found.0.id && *prefix == found.1
                })
            {
                scopes.push(found);
            }
        }
        if scopes.is_empty() {
            scopes = self
                .roots()
                .into_iter()
                .map(|root| (root, String::new()))
                .collect();
        }
        if scopes.is_empty() {
            return Err(EngineError::NoRoot(
                "no codebase is indexed yet; call index_codebase with the project directory first"
                    .into(),
            ));
        }
        Ok(scopes)
    }

    /// Answers a structural question about `root` (or the directory `prefix` in it): waits
    /// until the root's pending changes are indexed, then runs `query` on a consistent view
    /// off the async threads. Returns the answer and what the caller should know about its
    /// freshness.
    pub async fn structure<T, F>(
        self: &Arc<Self>,
        root: &Arc<Root>,
        prefix: String,
        query: F,
    ) -> Result<(T, Vec<String>), EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&Scope<'_>) -> Result<T, StructureError> + Send + 'static,
    {
        let freshness = self.sync_root(root).await;
        let engine = Arc::clone(self);
        let task_root = Arc::clone(root);
        let answer = tokio::task::spawn_blocking(move || -> Result<T, EngineError> {
            let view = engine.store.view(task_root.id)?;
            let scope = Scope {
                view: &view,
                root_id: task_root.id,
                root_path: &task_root.path,
                prefix: &prefix,
                config: &engine.config.index,
            };
            Ok(query(&scope)?)
        })
        .await
        .map_err(|err| {
            EngineError::Store(StoreError::Corrupt(format!("structure task failed: {err}")))
        })??;
        let mut notes = Vec::new();
        if let Some(job) = root.running_job() {
            let progress = job.snapshot();
            if progress.symbols_total > 0 {
                notes.push(format!(
                    "symbols of {} are still being extracted ({} of {} files parsed): answers \
                     may be incomplete",
                    root.path.display(),
                    progress.symbols_done,
                    progress.symbols_total
                ));
            } else {
                notes.push(format!(
                    "the index of {} is still being built ({} of {}{} files done): answers \
                     may be incomplete",
                    root.path.display(),
                    progress.files_done,
                    progress.files_seen,
                    if progress.walk_done { "" } else { "+" }
                ));
            }
        }
        notes.extend(freshness_note(root, &freshness));
        Ok((answer, notes))
    }

    /// Definitions matching `query` in the roots [`Engine::scopes`] picks, best first, at
    /// most `limit`.
    pub async fn find_symbol(
        self: &Arc<Self>,
        query: &NameQuery,
        kinds: KindFilter,
        explicit: Option<&Path>,
        defaults: &[PathBuf],
        limit: usize,
    ) -> Result<SymbolSearch, EngineError> {
        let mut found = SymbolSearch::default();
        for (root, prefix) in self.scopes(explicit, defaults)? {
            let query = query.clone();
            let ((matches, total), notes) = self
                .structure(&root, prefix, move |scope| {
                    lookup::find(scope, &query, kinds, limit)
                })
                .await?;
            found.symbols.extend(matches);
            found.total += total;
            found.notes.extend(notes);
        }
        // Roots were searched one after the other; rank the union.
        found.symbols.sort_by(|a, b| {
            (a.matched, &a.root, &a.file_path, a.start_line).cmp(&(
                b.matched,
                &b.root,
                &b.file_path,
                b.start_line,
            ))
        });
        found.symbols.truncate(limit);
        Ok(found)
    }

    /// Runs an exact search.
    pub async fn search(
        self: &Arc<Self>,
        params: &SearchParams,
        defaults: &[PathBuf],
    ) -> Result<SearchReport, EngineError> {
        let started = Instant::now();
        let (root, prefix) = self.scope(params.root.as_deref(), defaults)?;
        let query = Query::compile(params, Some(prefix), &self.config.search)?;
        let freshness = self.sync_root(&root).await;
        let engine = Arc::clone(self);
        let root_id = root.id;
        let outcome = tokio::task::spawn_blocking(move || {
            let view = engine.store.view(root_id)?;
            query.run(&view)
        })
        .await
        .map_err(|err| {
            EngineError::Store(StoreError::Corrupt(format!("search task failed: {err}")))
        })??;

        let mut notes = Vec::new();
        if let Some(job) = root.running_job() {
            let progress = job.snapshot();
            notes.push(format!(
                "the index of {} is still being built ({} of {}{} files done): results may be incomplete",
                root.path.display(),
                progress.files_done,
                progress.files_seen,
                if progress.walk_done { "" } else { "+" }
            ));
        }
        notes.extend(freshness_note(&root, &freshness));
        if outcome.truncated {
            notes.push(format!(
                "results truncated to the first {} matching lines; narrow the pattern, add \
                 file_types/exclude_patterns, or raise max_results",
                outcome.total_matches
            ));
        }
        Ok(SearchReport {
            root: root.path.clone(),
            files: outcome.files,
            total_matches: outcome.total_matches,
            truncated: outcome.truncated,
            files_searched: outcome.files_searched,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            notes,
            index_generation: freshness.index_generation,
            fresh_as_of_ms: freshness.fresh_as_of_ms,
            watch: freshness.watch.to_string(),
            strategy: outcome.strategy.to_string(),
        })
    }

    /// Daemon health for `codesage status`.
    pub fn status(&self) -> StatusReport {
        let (requests_served, request_errors) = self.metrics.totals();
        StatusReport {
            version: codesage_shared::VERSION.to_string(),
            pid: std::process::id(),
            uptime_secs: self.uptime().as_secs(),
            socket: self.socket.clone(),
            store_path: self.store.path().to_path_buf(),
            store_bytes: self.store.file_size(),
            store_space: self.store.space().unwrap_or_else(|err| {
                tracing::warn!("cannot read the store's space figures: {err}");
                Vec::new()
            }),
            rss_bytes: metrics::rss_bytes(),
            requests_served,
            request_errors,
            connections_active: self.metrics.connections_active(),
            mcp_requests_received: self.mcp_requests.received.load(Ordering::Relaxed),
            mcp_requests_in_flight: self.mcp_requests.in_flight.load(Ordering::Relaxed),
            content_cache: self.store.cache_stats(),
            maintenance_pending: self.store.maintenance_pending(),
            roots: self
                .roots()
                .iter()
                .map(|root| {
                    let mut status = root_status(root, &self.root_summary(root));
                    if let Ok(view) = self.store.view(root.id) {
                        status.trigram_index_bytes = view.index.segment_bytes();
                        status.trigram_segments = view.index.segments.len() as u64;
                    }
                    status
                })
                .collect(),
        }
    }

    /// Stops watchers and indexing jobs and waits (up to `grace`) for them to end.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown.cancel();
        let watchers: Vec<Arc<RootWatcher>> = self
            .roots()
            .iter()
            .filter_map(|root| root.watcher())
            .collect();
        let stopped = tokio::task::spawn_blocking(move || {
            for watcher in watchers {
                watcher.stop();
            }
        });
        if tokio::time::timeout(grace, stopped).await.is_err() {
            tracing::warn!("watchers did not stop within {grace:?}");
        }
        let store = Arc::clone(&self.store);
        let _ = tokio::task::spawn_blocking(move || store.stop_merger()).await;
        self.jobs.close();
        if tokio::time::timeout(grace, self.jobs.wait()).await.is_err() {
            tracing::warn!("indexing jobs did not stop within {grace:?}");
        }
    }
}

/// What an answer must say about a root that is not known to be fresh.
pub fn freshness_note(root: &Root, freshness: &Freshness) -> Option<String> {
    match freshness.watch {
        "watching" | "polling" if freshness.confirmed => None,
        "watching" | "polling" | "rescanning" => Some(format!(
            "could not confirm that the index of {} has caught up with the latest changes; a \
             rescan was started",
            root.path.display()
        )),
        "starting" => None,
        _ => Some(format!(
            "the index of {} is not being kept fresh (its watcher is stopped); results reflect \
             the last indexing run",
            root.path.display()
        )),
    }
}

fn root_status(root: &Root, summary: &RootSummary) -> RootStatus {
    let state = root.state.lock();
    let running = state.job.as_ref().is_some_and(|job| job.result().is_none());
    let (label, error) = match (&state.last_error, running) {
        (_, true) => ("indexing", None),
        (Some(error), false) => ("failed", Some(error.clone())),
        (None, false) if state.last_indexed_ms == 0 => ("not indexed", None),
        (None, false) => ("ready", None),
    };
    RootStatus {
        path: root.path.clone(),
        state: label.to_string(),
        files: summary.files,
        bytes: summary.bytes,
        last_indexed_ms: state.last_indexed_ms,
        error,
        last_run: state.last_run.clone(),
        watch: root.watcher().map(|watcher| watcher.report()),
        trigram_index_bytes: 0,
        trigram_segments: 0,
    }
}

fn index_summary(
    root: &Path,
    summary: &RootSummary,
    stats: &RunStats,
    elapsed_ms: u64,
) -> IndexSummary {
    IndexSummary {
        root: root.to_path_buf(),
        files: summary.files,
        bytes: summary.bytes,
        files_read: stats.files_read,
        files_unchanged: stats.files_unchanged,
        files_removed: stats.files_removed,
        skipped_binary: stats.skipped_binary,
        skipped_too_large: stats.skipped_too_large,
        errors: stats.errors,
        languages: summary.languages.clone(),
        elapsed_ms,
        partial: stats.cancelled,
        files_parsed: stats.files_parsed,
        text_ms: stats.text_ms,
    }
}

fn home_dir() -> Option<PathBuf> {
    directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_path_buf())
        .and_then(|home| home.canonicalize().ok())
}

fn canonicalize_existing(path: &Path) -> Result<PathBuf, EngineError> {
    path.canonicalize().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            EngineError::NotFound(path.to_path_buf())
        } else {
            EngineError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Resolves symlinks where the path exists; otherwise resolves the longest existing parent
/// and normalizes the rest lexically (so a missing file still maps to its root).
fn resolve_absolute(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while let Some(name) = existing.file_name().map(|n| n.to_os_string()) {
        existing.pop();
        rest.push(name);
        if let Ok(canonical) = existing.canonicalize() {
            let mut resolved = canonical;
            for name in rest.iter().rev() {
                if name == ".." {
                    resolved.pop();
                } else if name != "." {
                    resolved.push(name);
                }
            }
            return resolved;
        }
    }
    path.to_path_buf()
}

/// A relative path with `.` removed, or `None` if it climbs out with `..`.
fn normalize_relative(path: &Path) -> Option<PathBuf> {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => normalized.push(name),
            Component::CurDir => {}
            Component::ParentDir => {
                if !normalized.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(normalized)
}
