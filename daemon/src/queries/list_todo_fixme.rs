//! `list_todo_fixme(codebase_path, file_path?)`: every TODO, FIXME, HACK and XXX marker in the
//! comments of a codebase (or one file), with its line, text and the symbol holding it, from
//! the markers stored at parse time (string literals never count).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::scope::RootScope;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::health::todos::{self, TodoItem};

/// Parameters of `list_todo_fixme`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one). Defaults to the client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Only this file (absolute, or relative to codebase_path / the indexed root).
    #[serde(default)]
    pub file_path: Option<String>,
    /// Paging: `max_results` counts markers (the totals count all).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The markers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase, directory or file listed.
    pub root: String,
    /// Markers, by path then line.
    pub markers: Vec<TodoItem>,
    /// Markers in all.
    pub total: usize,
    /// Markers per kind (`TODO`, `FIXME`, `HACK`, `XXX`).
    pub by_marker: BTreeMap<String, u64>,
    /// Files holding at least one.
    pub files_with_markers: usize,
}

/// Markers per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "markers",
        default: 100,
        max: 5000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let file_path = params
        .file_path
        .as_deref()
        .filter(|path| !path.trim().is_empty());
    let (scope, file) = match file_path {
        Some(file_path) => {
            let (root, relative) = ctx.file_scope(params.codebase_path.as_deref(), file_path)?;
            (RootScope::whole(root), Some(relative))
        }
        None => (ctx.root_scope(params.codebase_path.as_deref())?, None),
    };
    let engine = std::sync::Arc::clone(&ctx.engine);
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            todos::list(scope, engine.health(), file.as_deref())
        })
        .await?;
    let listing = on.value;
    let mut notes = on.notes;
    if listing.pending > 0 {
        notes.push(format!(
            "{} code files have no parsed structure (still being parsed, or larger than index.symbols_max_file_size); their markers are not listed",
            listing.pending
        ));
    }
    let mut base = Answer::new(()).with_notes(notes).at_generation(on.generation);
    base.partial = on.stopped.is_some();
    let total = listing.items.len();
    let root = match file_path {
        Some(path) => path.to_string(),
        None => scope.display(),
    };
    pager.answer(base, listing.items, Extent::Counted(total), |page| Output {
        root: root.clone(),
        markers: page,
        total,
        by_marker: listing.by_marker.clone(),
        files_with_markers: listing.files,
    })
}
