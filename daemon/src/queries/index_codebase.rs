//! `index_codebase(path)`: register a directory as a root and bring its index up to date
//! (never the daemon's own data directory, nor the home directory on an agent's request).
//! Waits for the run, reporting progress, until the caller's deadline; then answers that the
//! run continues in the background (`partial`). A cancelled request stops the run unless
//! someone else needs it; whatever it committed stays, and the next call finishes the work.

use codesage_shared::protocol::{IndexSummary, ProgressUpdate};
use codesage_shared::words::Words;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Answer, Ctx, Limits, PageArgs, QueryError, QueryResult};
use crate::engine::{IndexJob, Root};
use crate::watch::WatchMode;

/// Parameters of `index_codebase`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Directory of the codebase to index (absolute, or relative to the workspace root).
    pub path: String,
    /// Paging arguments (the answer is one summary; accepted for uniformity).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// What indexing did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// The run's summary (or the index as it stands when nothing had to be done).
    #[serde(flatten)]
    pub summary: IndexSummary,
    /// One sentence saying what happened.
    pub message: String,
}

/// One summary per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "summaries",
        default: 1,
        max: 1,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    // One summary: paging arguments are checked (and their clamps noted), nothing is cut.
    let clamps = ctx
        .pager(&params.page, limits(ctx.engine.config()))?
        .take_notes();
    let result = index(&ctx, &params).await;
    result.map(|answer| answer.with_notes(clamps))
}

async fn index(ctx: &Ctx, params: &Params) -> QueryResult<Output> {
    let path = ctx.resolve_path(&params.path, "path")?;
    refuse_reserved(ctx, &path)?;
    let root = ctx
        .engine
        .register_root(&path, false)
        .map_err(|err| ctx.fail(err))?;
    if let Some(summary) = up_to_date(ctx, &root).await {
        let message = format!(
            "{} is already indexed ({} files) and kept fresh by its watcher; nothing to do.",
            root.path.display(),
            summary.files
        );
        return Ok(answer(ctx, &root, Output { summary, message }));
    }
    let ticket = ctx.engine.start_index_for_request(&root, false);
    let job = std::sync::Arc::clone(ticket.job());
    let outcome = follow(ctx, &job).await;
    match outcome {
        Followed::Finished(result) => {
            let summary = result.map_err(QueryError::Failed)?;
            let cancelled = job.is_cancelled();
            let message = format!(
                "Indexed {} files ({} read, {} unchanged, {} removed) in {} ms.",
                summary.files,
                summary.files_read,
                summary.files_unchanged,
                summary.files_removed,
                summary.elapsed_ms
            );
            let mut answer = answer(ctx, &root, Output { summary, message });
            // Stopped by the daemon's shutdown: what was committed stays.
            answer.partial = cancelled;
            Ok(answer)
        }
        Followed::Cancelled => {
            ticket.cancel();
            // The run stops at its next file; it commits whole batches only.
            let _ = job.wait(std::time::Duration::from_secs(10)).await;
            Err(QueryError::Cancelled)
        }
        Followed::Deadline => {
            let summary = ctx.engine.partial_summary(&root, &job);
            let message = format!(
                "Indexing of {} continues in the background ({} files processed so far); \
                 searches answer from what is indexed and say so until it is done.",
                root.path.display(),
                summary.files_read
            );
            let mut answer = answer(ctx, &root, Output { summary, message });
            answer.partial = true;
            Ok(answer)
        }
    }
}

/// Refuses directories that hold no codebase of the caller's whatever the engine's rules
/// allow: the daemon's own data directory (its store, logs and socket; indexing it would
/// also make every log line a change to index), and, on an agent's request, the home
/// directory, which holds far more than one codebase (a person may still index it with
/// `codesage index ~`).
fn refuse_reserved(ctx: &Ctx, path: &std::path::Path) -> Result<(), QueryError> {
    // A path that does not resolve is left to `register_root`, which says why.
    let Ok(canonical) = path.canonicalize() else {
        return Ok(());
    };
    let data_dir = ctx
        .engine
        .store()
        .path()
        .parent()
        .and_then(|dir| dir.canonicalize().ok());
    if data_dir.is_some_and(|dir| canonical.starts_with(dir)) {
        return Err(QueryError::Failed(format!(
            "refusing to index {}: it is CodeSage's own data directory (its store, logs and \
             socket), not a codebase; index a project directory",
            canonical.display()
        )));
    }
    if ctx.words() == Words::Mcp
        && crate::engine::paths::home_dir().is_some_and(|home| home == canonical)
    {
        return Err(QueryError::Failed(format!(
            "refusing to index {}: the home directory is not indexed on an agent's request \
             (it holds far more than one codebase); index a project directory, or run \
             `codesage index {}` yourself",
            canonical.display(),
            canonical.display()
        )));
    }
    Ok(())
}

pub(super) enum Followed {
    Finished(crate::engine::JobResult),
    Cancelled,
    Deadline,
}

/// Waits for `job`, sending progress, until it finishes, the request is cancelled or the
/// deadline passes.
pub(super) async fn follow(ctx: &Ctx, job: &IndexJob) -> Followed {
    let mut last_reported = 0.0;
    loop {
        tokio::select! {
            result = job.wait(super::work::PROGRESS_INTERVAL) => {
                if let Some(result) = result {
                    return Followed::Finished(result);
                }
            }
            _ = ctx.cancel.cancelled() => return Followed::Cancelled,
        }
        if ctx.deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
            return Followed::Deadline;
        }
        let snapshot = job.snapshot();
        // Progress counts files read, then files parsed: it only ever grows.
        let done = snapshot.files_done + snapshot.symbols_done;
        let total = snapshot
            .walk_done
            .then_some(snapshot.files_seen + snapshot.symbols_total);
        let progress = done as f64;
        if progress > last_reported {
            last_reported = progress;
            let message = if snapshot.symbols_total > 0 {
                format!(
                    "parsing symbols: {} of {} files",
                    snapshot.symbols_done, snapshot.symbols_total
                )
            } else {
                format!(
                    "{} of {}{} files",
                    snapshot.files_done,
                    snapshot.files_seen,
                    if snapshot.walk_done { "" } else { "+" }
                )
            };
            ctx.progress(ProgressUpdate {
                progress,
                total: total.map(|total| total as f64),
                message,
                index: Some(snapshot),
            });
        }
    }
}

fn answer(ctx: &Ctx, root: &Root, output: Output) -> Answer<Output> {
    let generation = ctx
        .engine
        .store()
        .view(root.id)
        .map(|view| view.index.generation)
        .unwrap_or(0);
    Answer::new(output).at_generation(generation)
}

/// The root's summary if it is already indexed and kept fresh, after catching up with any
/// change made before this call: then there is nothing to index.
async fn up_to_date(ctx: &Ctx, root: &Root) -> Option<IndexSummary> {
    if !root.ever_indexed() || root.running_job().is_some() {
        return None;
    }
    let watcher = root.watcher()?;
    if !matches!(watcher.mode(), WatchMode::Watching | WatchMode::Polling) {
        return None;
    }
    if !ctx.engine.sync_root(root).await.confirmed {
        return None;
    }
    Some(ctx.engine.current_summary(root))
}
