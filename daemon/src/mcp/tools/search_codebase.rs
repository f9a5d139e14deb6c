//! `search_codebase`: exact regex (or literal) search over an indexed codebase, with file-type
//! filters, exclude globs, context lines and a bounded, deterministic answer.

use codesage_shared::protocol::SearchParams;
use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    ToolContext, ToolError, ToolResult, describe, optional_codebase, structure_answer, to_object,
};
use crate::structure::graph as call_graph;

/// Graph mode: symbols listed by default.
const GRAPH_DEFAULT_RESULTS: u32 = 10;
/// Graph mode: symbols listed at most.
const GRAPH_MAX_RESULTS: u32 = 100;
/// Graph mode: levels followed at most (each level multiplies the answer).
const GRAPH_MAX_DEPTH: u32 = 3;

/// Parameters of `search_codebase` (the original CodeSage's names, plus options).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one) to search. Defaults to the client's
    /// workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Regular expression (Rust regex syntax) to search for, matched line by line.
    pub pattern: String,
    /// Only search files with these extensions (e.g. ["py", ".rs"]) or language names.
    #[serde(default)]
    pub file_types: Option<Vec<String>>,
    /// Skip files whose path relative to the root matches one of these globs (e.g.
    /// ["tests/*", "*.md"]); a bare name such as "vendor" skips that directory anywhere.
    #[serde(default)]
    pub exclude_patterns: Option<Vec<String>>,
    /// "regex" (default): matching lines. "graph": the symbols whose names match pattern,
    /// with their callers and callees to context_depth levels. ("semantic" is not
    /// available yet.)
    #[serde(default)]
    pub search_mode: Option<String>,
    /// Regex mode: lines of context before and after each matching line (default 0).
    /// Graph mode: levels of callers and callees to follow (default 1, at most 3).
    #[serde(default)]
    pub context_depth: Option<u32>,
    /// Match case exactly (default true).
    #[serde(default)]
    pub case_sensitive: Option<bool>,
    /// Most matching lines to return (default 200; 0 for all, up to the server's limit).
    /// Graph mode: most symbols (default 10).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// Treat pattern as literal text rather than a regular expression (default false).
    #[serde(default)]
    pub fixed_strings: Option<bool>,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "search_codebase",
        "Search an indexed codebase for a regular expression (or literal text), like ripgrep. \
         Returns matching lines grouped by file with line numbers, optionally with context \
         lines. Filter with file_types and exclude_patterns. Paths are relative to the root. \
         With search_mode \"graph\", pattern matches symbol names instead and each matching \
         function or class comes with its callers and callees.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let mode = params
        .search_mode
        .as_deref()
        .map(str::trim)
        .filter(|mode| !mode.is_empty())
        .unwrap_or("regex")
        .to_ascii_lowercase();
    match mode.as_str() {
        "regex" => {}
        "graph" => return graph(ctx, params).await,
        "semantic" => {
            return Err(ToolError::Failed(format!(
                "search_mode \"{mode}\" is not available yet in this CodeSage version; use \
                 search_mode \"regex\""
            )));
        }
        other => {
            return Err(ToolError::Failed(format!(
                "unknown search_mode \"{other}\"; use \"regex\" or \"graph\""
            )));
        }
    }
    let root = optional_codebase(ctx, params.codebase_path.as_deref())?;
    let search = SearchParams {
        root,
        pattern: params.pattern,
        case_sensitive: params.case_sensitive.unwrap_or(true),
        fixed_strings: params.fixed_strings.unwrap_or(false),
        file_types: params.file_types.unwrap_or_default(),
        exclude_patterns: params.exclude_patterns.unwrap_or_default(),
        context_lines: params.context_depth.unwrap_or(0) as usize,
        max_results: params.max_results.map(|n| n as usize),
        unbounded: false,
    };
    let report = ctx.engine.search(&search, &ctx.client_roots).await?;
    let mut object = to_object(&report)?;
    // `results` is the original CodeSage's key for the matches.
    if let Some(files) = object.remove("files") {
        object.insert("results".into(), files);
    }
    object.insert("pattern".into(), search.pattern.into());
    object.insert("search_mode".into(), mode.into());
    Ok(object)
}

/// Graph mode: the definitions whose names match the pattern, with callers and callees.
async fn graph(ctx: &ToolContext, params: Params) -> ToolResult {
    let depth = params.context_depth.unwrap_or(1);
    if depth > GRAPH_MAX_DEPTH {
        return Err(ToolError::Failed(format!(
            "context_depth {depth} is out of range for graph mode; use 1 to {GRAPH_MAX_DEPTH}"
        )));
    }
    let limit = params
        .max_results
        .unwrap_or(GRAPH_DEFAULT_RESULTS)
        .clamp(1, GRAPH_MAX_RESULTS) as usize;
    let explicit = optional_codebase(ctx, params.codebase_path.as_deref())?;
    let (root, prefix) = ctx.engine.scope(explicit.as_deref(), &ctx.client_roots)?;
    let case_sensitive = params.case_sensitive.unwrap_or(true);
    let pattern = params.pattern.clone();
    let mut object = structure_answer(ctx, &root, prefix, move |scope| {
        call_graph::graph(scope, &pattern, case_sensitive, depth as usize, limit)
    })
    .await?;
    object.insert("pattern".into(), params.pattern.into());
    object.insert("search_mode".into(), "graph".into());
    object.insert("root".into(), root.path.display().to_string().into());
    Ok(object)
}
