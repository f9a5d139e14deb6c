//! `forget_codebase(path)`: stop indexing a codebase and remove it from the store — its file
//! records and every content (with its symbols and trigram postings) no other indexed
//! codebase uses. The command line's `codesage forget DIR`; not an MCP tool (an agent should not drop
//! a user's index).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Answer, Ctx, Limits, QueryError, QueryResult};

/// Parameters of `forget_codebase`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The indexed codebase's directory (exactly a registered root).
    pub path: String,
}

/// What forgetting did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase forgotten.
    pub root: String,
    /// File records removed.
    pub files_removed: u64,
    /// Contents freed (no other codebase had them).
    pub contents_freed: u64,
    /// Codebases still indexed.
    pub roots_left: usize,
}

/// One answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "roots",
        default: 1,
        max: 1,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let path = ctx.resolve_path(&params.path, "path")?;
    let path = path.canonicalize().unwrap_or(path);
    let roots = ctx.engine.roots();
    let Some(root) = roots.iter().find(|root| root.path == path).cloned() else {
        let listed: Vec<String> = roots.iter().map(|r| r.path.display().to_string()).collect();
        let message = match roots.iter().find(|root| path.starts_with(&root.path)) {
            Some(holder) => format!(
                "{} is inside the indexed codebase {}; only a whole codebase can be forgotten \
                 (codesage forget {})",
                path.display(),
                holder.path.display(),
                holder.path.display()
            ),
            None => format!(
                "{} is not an indexed codebase (indexed: {}); nothing was changed",
                path.display(),
                if listed.is_empty() {
                    "none".to_string()
                } else {
                    listed.join(", ")
                }
            ),
        };
        return Err(QueryError::Failed(message));
    };
    let engine = std::sync::Arc::clone(&ctx.engine);
    let forgotten = std::sync::Arc::clone(&root);
    let (files_removed, contents_freed) =
        tokio::task::spawn_blocking(move || engine.forget_root(&forgotten))
            .await
            .map_err(|err| QueryError::Internal {
                query: "forget_codebase",
                detail: err.to_string(),
            })?
            .map_err(|err| ctx.fail(err))?;
    Ok(Answer::new(Output {
        root: root.path.display().to_string(),
        files_removed,
        contents_freed,
        roots_left: ctx.engine.roots().len(),
    }))
}
