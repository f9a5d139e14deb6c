//! `find_symbol(name, kind?, codebase_path?, max_results?)`: where a symbol is defined —
//! exact, case-insensitive, prefix, substring and fuzzy matches of definition names, ranked,
//! across one codebase or every one the client works in.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    ToolContext, ToolError, ToolResult, describe, list_limit, optional_codebase, to_object,
};
use crate::structure::lookup::{KindFilter, NameQuery};

/// Definitions listed by default.
const DEFAULT_MAX_RESULTS: u32 = 20;
/// Definitions listed at most.
const MAX_RESULTS: u32 = 1000;

/// Parameters of `find_symbol`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Name to look for: `parse_config`, `Store.get` / `Store::get` for a member, or part of
    /// a name (prefix, substring and fuzzy matches rank after exact ones).
    pub name: String,
    /// Only this kind: function (includes methods), method, class, struct, enum, trait,
    /// interface, constant, module, type, macro.
    #[serde(default)]
    pub kind: Option<String>,
    /// Indexed codebase (or directory) to search; defaults to the client's workspace roots
    /// (or every indexed codebase).
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Most definitions to return (default 20; 0 for the server's limit, 1000).
    #[serde(default)]
    pub max_results: Option<u32>,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "find_symbol",
        "Find where a function, method, class, struct, constant or other symbol is defined. \
         Exact name matches come first, then case-insensitive, prefix, substring and fuzzy \
         (typo-tolerant) ones. Returns file, line range, signature and kind for each.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let query = NameQuery::parse(&params.name).map_err(|err| ToolError::Failed(err.to_string()))?;
    let kinds = KindFilter::parse(params.kind.as_deref())
        .map_err(|err| ToolError::Failed(err.to_string()))?;
    let limit = list_limit(params.max_results, DEFAULT_MAX_RESULTS, MAX_RESULTS);
    let explicit = optional_codebase(ctx, params.codebase_path.as_deref())?;
    let found = ctx
        .engine
        .find_symbol(&query, kinds, explicit.as_deref(), &ctx.client_roots, limit)
        .await?;
    let mut object = serde_json::Map::new();
    object.insert("name".into(), params.name.into());
    object.insert("total_matches".into(), found.total.into());
    object.insert(
        "truncated".into(),
        (found.total > found.symbols.len()).into(),
    );
    if found.symbols.is_empty() {
        object.insert(
            "hint".into(),
            "no definition matches; try a shorter part of the name, or find_references / \
             search_codebase for uses in text"
                .into(),
        );
    }
    object.extend(to_object(&serde_json::json!({ "symbols": found.symbols }))?);
    if !found.notes.is_empty() {
        object.insert("notes".into(), found.notes.into());
    }
    Ok(object)
}
