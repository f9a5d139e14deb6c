//! `find_references(symbol, codebase_path?, max_results?)`: every whole-word occurrence of a
//! name, found through the trigram index and classified with the parse as definition, call,
//! import or other, with the symbol each occurrence is inside.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolResult, describe, list_limit, optional_codebase, to_object};
use crate::structure::references;

/// Occurrences listed by default; the totals count all of them.
const DEFAULT_MAX_RESULTS: u32 = 200;
/// Occurrences listed at most.
const MAX_RESULTS: u32 = 5000;

/// Parameters of `find_references`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The name to find (`helper`, or `Store.get` — occurrences of `get` are listed).
    pub symbol: String,
    /// Indexed codebase (or directory) to search; defaults to the client's workspace roots
    /// (or every indexed codebase).
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Most occurrences to list (default 200; 0 for the server's limit, 5000); totals count
    /// all of them.
    #[serde(default)]
    pub max_results: Option<u32>,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "find_references",
        "Find every occurrence of a symbol name as a whole word, each classified as \
         definition, call, import or other, with the function or class it appears in. Use it \
         to see who calls a function or uses a type before changing it.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let limit = list_limit(params.max_results, DEFAULT_MAX_RESULTS, MAX_RESULTS);
    let explicit = optional_codebase(ctx, params.codebase_path.as_deref())?;
    let mut merged = references::ReferencesReport::default();
    let mut notes = Vec::new();
    for (root, prefix) in ctx.engine.scopes(explicit.as_deref(), &ctx.client_roots)? {
        let symbol = params.symbol.clone();
        let (report, root_notes) = ctx
            .engine
            .structure(&root, prefix, move |scope| {
                references::find(scope, &symbol, limit)
            })
            .await?;
        merged.symbol = report.symbol;
        merged.total += report.total;
        merged.files += report.files;
        merged.files_searched += report.files_searched;
        for (kind, count) in report.by_kind {
            *merged.by_kind.entry(kind).or_insert(0) += count;
        }
        let room = limit.saturating_sub(merged.references.len());
        merged
            .references
            .extend(report.references.into_iter().take(room));
        notes.extend(root_notes);
    }
    merged.truncated = merged.total as usize > merged.references.len();
    let mut object = to_object(&merged)?;
    if !notes.is_empty() {
        object.insert("notes".into(), notes.into());
    }
    Ok(object)
}
