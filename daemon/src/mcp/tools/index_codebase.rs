//! `index_codebase(path)`: register a directory as a root and bring its index up to date.
//! Waits for the run (sending progress notifications when the client asked for them) up to
//! the configured time, then answers that the run continues in the background.

use std::time::Duration;

use rmcp::model::ProgressNotificationParam;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolResult, describe, resolve_argument_path, to_object};

/// Parameters of `index_codebase`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Directory of the codebase to index (absolute, or relative to the workspace root).
    pub path: String,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "index_codebase",
        "Index a codebase directory so it can be searched and analyzed. Respects .gitignore, \
         skips binary and very large files, and keeps the index fresh afterwards. Re-indexing \
         reads only files that changed. Returns file counts per language and the time taken.",
        false,
    )
}

/// The root's summary if it is already indexed and kept fresh, after catching up with any
/// change made before this call: then there is nothing to index.
async fn up_to_date(
    ctx: &ToolContext,
    root: &crate::engine::Root,
) -> Option<codesage_shared::protocol::IndexSummary> {
    if !root.ever_indexed() || root.running_job().is_some() {
        return None;
    }
    let watcher = root.watcher()?;
    if !matches!(
        watcher.mode(),
        crate::watch::WatchMode::Watching | crate::watch::WatchMode::Polling
    ) {
        return None;
    }
    if !ctx.engine.sync_root(root).await.confirmed {
        return None;
    }
    Some(ctx.engine.current_summary(root))
}

/// How often progress notifications are sent while waiting.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let path = resolve_argument_path(ctx, &params.path)?;
    let root = ctx.engine.register_root(&path, false)?;
    if let Some(summary) = up_to_date(ctx, &root).await {
        let mut object = to_object(&summary)?;
        object.insert(
            "message".into(),
            format!(
                "{} is already indexed ({} files) and kept fresh by its watcher; nothing to do.",
                root.path.display(),
                summary.files
            )
            .into(),
        );
        return Ok(object);
    }
    let job = ctx.engine.start_index(&root);
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(ctx.engine.config().server.index_wait_secs);
    loop {
        if let Some(result) = job.wait(PROGRESS_INTERVAL).await {
            let summary = result.map_err(super::ToolError::Failed)?;
            let mut object = to_object(&summary)?;
            object.insert(
                "message".into(),
                format!(
                    "Indexed {} files ({} read, {} unchanged, {} removed) in {} ms.",
                    summary.files,
                    summary.files_read,
                    summary.files_unchanged,
                    summary.files_removed,
                    summary.elapsed_ms
                )
                .into(),
            );
            return Ok(object);
        }
        if let Some(token) = &ctx.progress_token {
            let progress = job.snapshot();
            let mut notification =
                ProgressNotificationParam::new(token.clone(), progress.files_done as f64);
            if progress.walk_done {
                notification = notification.with_total(progress.files_seen as f64);
            }
            let notification = notification.with_message(format!(
                "{} of {}{} files",
                progress.files_done,
                progress.files_seen,
                if progress.walk_done { "" } else { "+" }
            ));
            // A client that went away does not stop the run.
            let _ = ctx.peer.notify_progress(notification).await;
        }
        if tokio::time::Instant::now() >= deadline {
            let summary = ctx.engine.partial_summary(&root, &job);
            let mut object = to_object(&summary)?;
            object.insert(
                "message".into(),
                format!(
                    "Indexing of {} continues in the background ({} files processed so far); \
                     searches answer from what is indexed and say so until it is done.",
                    root.path.display(),
                    summary.files_read
                )
                .into(),
            );
            return Ok(object);
        }
    }
}
