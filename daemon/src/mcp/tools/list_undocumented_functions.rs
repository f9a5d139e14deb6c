//! `list_undocumented_functions(file_path? | codebase_path?)`: functions and methods without
//! a docstring or doc comment, in one file or across a codebase, with per-language totals.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    ToolContext, ToolError, ToolResult, describe, locate_file, optional_codebase, structure_answer,
};
use crate::structure::undocumented;

/// Listed by default; the totals always count everything.
const DEFAULT_MAX_RESULTS: u32 = 200;

/// Parameters of `list_undocumented_functions`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// One file to check (absolute, or relative to codebase_path / the indexed root).
    #[serde(default)]
    pub file_path: Option<String>,
    /// A codebase (or a directory inside one) to check as a whole when no file_path is
    /// given; defaults to the client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Most functions to list (default 200); totals count all of them.
    #[serde(default)]
    pub max_results: Option<u32>,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "list_undocumented_functions",
        "List functions and methods that have no docstring or doc comment, in one file \
         (file_path) or across a whole codebase (codebase_path), with how many are documented \
         per language.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let limit = match params.max_results.unwrap_or(DEFAULT_MAX_RESULTS) {
        0 => usize::MAX,
        n => n as usize,
    };
    let file_path = params
        .file_path
        .as_deref()
        .filter(|path| !path.trim().is_empty());
    if let Some(file_path) = file_path {
        let (root, relative) = locate_file(ctx, params.codebase_path.as_deref(), file_path)?;
        return structure_answer(ctx, &root, String::new(), move |scope| {
            undocumented::in_file(scope, &relative, limit)
        })
        .await;
    }
    let explicit = optional_codebase(ctx, params.codebase_path.as_deref())?;
    let (root, prefix) = ctx
        .engine
        .scope(explicit.as_deref(), &ctx.client_roots)
        .map_err(|err| {
            ToolError::Failed(format!("{err} (or give file_path to check a single file)"))
        })?;
    structure_answer(ctx, &root, prefix, move |scope| {
        undocumented::in_scope(scope, limit)
    })
    .await
}
