//! Work that can take long: run off the async threads, watched so the client hears progress,
//! can cancel, and gets an answer before its own timeout.
//!
//! A query hands the heavy part to [`Ctx::blocking`] as a closure over a [`Work`]
//! (`crate::work`), which reports progress and is told to stop on cancellation or at the
//! caller's deadline. A cancelled query fails with [`QueryError::Cancelled`] (nothing is
//! committed: queries do not write); at the deadline it returns what it has, marked
//! `partial`.

use std::sync::Arc;
use std::time::Duration;

pub use codesage_shared::protocol::ProgressUpdate;

use super::{Ctx, QueryError};
pub use crate::work::{Stopped, Work};

/// How often progress is reported while blocking work runs.
pub const PROGRESS_INTERVAL: Duration = crate::work::REPORT_INTERVAL;

impl Ctx {
    /// Runs `job` on a blocking thread; as it advances, its progress is reported every
    /// [`PROGRESS_INTERVAL`] (described by `what`, e.g. "files") when the client listens.
    /// Returns the job's result and why it stopped early, if it did; a cancelled request
    /// fails with [`QueryError::Cancelled`].
    pub async fn blocking<T, F>(
        &self,
        what: &'static str,
        job: F,
    ) -> Result<(T, Option<Stopped>), QueryError>
    where
        T: Send + 'static,
        F: FnOnce(&Work) -> T + Send + 'static,
    {
        let mut work = Work::new(self.cancel.clone(), self.deadline);
        if let Some(sink) = self.progress.clone() {
            work = work.reporting(Box::new(move |done, total| {
                sink.send(ProgressUpdate {
                    progress: done as f64,
                    total: (total > 0).then_some(total as f64),
                    message: if total > 0 {
                        format!("{done} of {total} {what}")
                    } else {
                        format!("{done} {what}")
                    },
                    index: None,
                })
            }));
        }
        let work = Arc::new(work);
        let running = Arc::clone(&work);
        let outcome = tokio::task::spawn_blocking(move || job(&running)).await;
        let value = outcome.map_err(|err| {
            tracing::error!(query = self.name, error = %err, "blocking work failed");
            QueryError::Internal {
                query: self.name,
                detail: if err.is_panic() {
                    "the work panicked".to_string()
                } else {
                    format!("the work was aborted: {err}")
                },
            }
        })?;
        match work.stopped() {
            Some(Stopped::Cancelled) => Err(QueryError::Cancelled),
            stopped => Ok((value, stopped)),
        }
    }
}
