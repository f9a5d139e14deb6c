//! `reindex(path?)`: rebuild the index of the root containing `path`, or of every root,
//! from the disk, trusting nothing stored (every file is read and hashed again). The
//! command line's `codesage reindex`; not an MCP tool (the watcher keeps indexes fresh).

use codesage_shared::protocol::IndexSummary;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::index_codebase::{Followed, follow};
use super::{Answer, Ctx, Limits, PageArgs, QueryError, QueryResult};

/// Parameters of `reindex`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// A path inside the root to rebuild; every root when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// Paging arguments.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// What the rebuilds did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// One summary per rebuilt root.
    pub roots: Vec<IndexSummary>,
}

/// One summary per root.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "roots",
        default: usize::MAX,
        max: usize::MAX,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let roots = match params.path.as_deref().filter(|path| !path.trim().is_empty()) {
        Some(path) => {
            let path = ctx.resolve_path(path, "path")?;
            vec![ctx.engine.locate(&path).map_err(|err| ctx.fail(err))?.0]
        }
        None => ctx.engine.roots(),
    };
    if roots.is_empty() {
        return Err(QueryError::Failed(format!(
            "no codebase is indexed yet; {}",
            ctx.words().index_first()
        )));
    }
    let mut summaries = Vec::new();
    for root in roots {
        let ticket = ctx.engine.start_index_for_request(&root, true);
        let job = std::sync::Arc::clone(ticket.job());
        match follow(&ctx, &job).await {
            Followed::Finished(Ok(summary)) => summaries.push(summary),
            Followed::Finished(Err(message)) => {
                return Err(QueryError::Failed(format!(
                    "{}: {message}",
                    root.path.display()
                )));
            }
            Followed::Cancelled => {
                ticket.cancel();
                return Err(QueryError::Cancelled);
            }
            Followed::Deadline => {
                summaries.push(ctx.engine.partial_summary(&root, &job));
                let mut answer = Answer::new(Output { roots: summaries });
                answer.partial = true;
                answer.notes.push(format!(
                    "the rebuild of {} continues in the background",
                    root.path.display()
                ));
                return Ok(answer);
            }
        }
    }
    Ok(Answer::new(Output { roots: summaries }))
}
