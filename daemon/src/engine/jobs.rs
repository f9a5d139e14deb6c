//! Indexing jobs: at most one run per root at a time, on a blocking thread, shared by every
//! caller that asks while it runs. A run started for a request can be cancelled by it (MCP
//! `notifications/cancelled`) as long as nobody else depends on it; the batches it committed
//! stay (each is one transaction), and the next run reads only what is still missing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use codesage_shared::protocol::{IndexProgress, IndexSummary};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Engine, Root};
use crate::clock::now_ms;
use crate::indexer::{self, Progress, RunStats};
use crate::store::{FileRecord, RootRecord};

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

/// Who depends on a job: requests that may still cancel it, and whether anyone else (a
/// background start, or a request already told "it continues in the background") needs it
/// to finish.
#[derive(Debug, Default)]
struct Holders {
    requests: usize,
    pinned: bool,
}

/// An indexing run in progress (or just finished).
pub struct IndexJob {
    /// Live counters.
    pub progress: Progress,
    root_path: std::path::PathBuf,
    done: watch::Sender<Option<JobResult>>,
    cancel: CancellationToken,
    holders: Mutex<Holders>,
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

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// A request's hold on an indexing job. [`JobTicket::cancel`] stops the run if no one else
/// depends on it; dropping the ticket (the request answered) leaves the run going.
pub struct JobTicket {
    job: Arc<IndexJob>,
    released: bool,
}

impl JobTicket {
    /// The job.
    pub fn job(&self) -> &Arc<IndexJob> {
        &self.job
    }

    /// The request was cancelled: stop the run unless another caller depends on it.
    pub fn cancel(mut self) {
        self.released = true;
        let mut holders = self.job.holders.lock();
        holders.requests = holders.requests.saturating_sub(1);
        if holders.requests == 0 && !holders.pinned {
            tracing::info!(root = %self.job.root_path.display(), "indexing cancelled by its client");
            self.job.cancel.cancel();
        }
    }
}

impl Drop for JobTicket {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let mut holders = self.job.holders.lock();
        holders.requests = holders.requests.saturating_sub(1);
        // The request answered while the run goes on ("continues in the background"): from
        // now on the run must finish.
        if self.job.result().is_none() {
            holders.pinned = true;
        }
    }
}

/// What the engine remembers about a root's runs.
#[derive(Default)]
pub struct RootState {
    pub(super) job: Option<Arc<IndexJob>>,
    pub(super) last_indexed_ms: u64,
    pub(super) last_error: Option<String>,
    pub(super) last_run: Option<IndexSummary>,
}

impl RootState {
    pub(super) fn indexed_at(last_indexed_ms: u64) -> RootState {
        RootState {
            last_indexed_ms,
            ..RootState::default()
        }
    }
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
}

impl Engine {
    /// Starts bringing `root`'s index up to date, or returns the run already going. The run
    /// finishes whatever happens to the caller.
    pub fn start_index(self: &Arc<Self>, root: &Arc<Root>) -> Arc<IndexJob> {
        let job = self.start_index_with(root, false);
        job.holders.lock().pinned = true;
        job
    }

    /// Starts a full rebuild of `root`'s index that trusts nothing stored (every file is read
    /// and hashed again), or returns the run already going. It finishes whatever happens to
    /// the caller.
    pub fn start_reindex(self: &Arc<Self>, root: &Arc<Root>) -> Arc<IndexJob> {
        let job = self.start_index_with(root, true);
        job.holders.lock().pinned = true;
        job
    }

    /// Like [`Engine::start_index`] (or, with `force`, [`Engine::start_reindex`]) for a
    /// request that may be cancelled: the ticket can stop the run if nobody else needs it.
    pub fn start_index_for_request(self: &Arc<Self>, root: &Arc<Root>, force: bool) -> JobTicket {
        let job = self.start_index_with(root, force);
        job.holders.lock().requests += 1;
        JobTicket {
            job,
            released: false,
        }
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
            cancel: self.shutdown.child_token(),
            holders: Mutex::new(Holders::default()),
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
                &job.cancel,
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
        let summary =
            RootSummary::from_records(&self.store.files(root.id).map_err(|err| err.to_string())?);
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
        if self.config.memory.release_after_bursts {
            // A run that read nothing (the reconciliation at start-up of an unchanged tree)
            // still walked the tree and listed every record: 20-30 MiB on the corpus, kept
            // by the allocator unless handed back.
            if stats.files_read > 0 {
                self.store.repack_indexes();
            }
            crate::allocator::release_free_memory();
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
            cancelled = stats.cancelled,
            elapsed_ms,
            "indexing finished"
        );
        Ok(result)
    }

    /// Totals of a root's index as it stands (read from the store: the watcher changes the
    /// index between indexing runs).
    pub fn root_summary(&self, root: &Root) -> RootSummary {
        // Every commit bumps the root's generation, so totals counted at the current one
        // are exact.
        let generation = self
            .store
            .view(root.id)
            .ok()
            .map(|view| view.index.generation);
        if let Some(generation) = generation
            && let Some((counted, summary)) = self.summaries.lock().get(&root.id)
            && *counted == generation
        {
            return summary.clone();
        }
        let summary = self
            .store
            .files(root.id)
            .map(|records| RootSummary::from_records(&records))
            .unwrap_or_default();
        if let Some(generation) = generation {
            self.summaries
                .lock()
                .insert(root.id, (generation, summary.clone()));
        }
        summary
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

    /// The summary of a root as it is now (for answers while a run continues; they say they
    /// are partial).
    pub fn partial_summary(&self, root: &Root, job: &IndexJob) -> IndexSummary {
        let progress = job.snapshot();
        let mut summary = index_summary(
            &root.path,
            &self.root_summary(root),
            &RunStats::default(),
            progress.elapsed_ms,
        );
        summary.files_read = progress.files_done;
        summary
    }
}

pub(super) fn index_summary(
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
        unreadable: stats.unreadable.0,
        unreadable_paths: stats.unreadable.1.clone(),
        languages: summary.languages.clone(),
        elapsed_ms,
        files_parsed: stats.files_parsed,
        text_ms: stats.text_ms,
    }
}
