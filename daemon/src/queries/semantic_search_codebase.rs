//! `semantic_search_codebase(codebase_path, query, top_k=5)`: code found by what it does — a
//! question in plain words answered with the functions, classes and sections that fit it
//! best, from the lexical retriever, the local embedding model and symbol names fused. Only
//! the requested codebase is searched. `search_codebase` with `search_mode: "semantic"` is
//! the same question with its filters. Snippets are shown with their secrets withheld unless
//! `security.serve_secrets` is set.

use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryError, QueryResult};
use crate::search::FileFilter;
use crate::structure::StructureError;

/// Longest question, in characters: a question, not a document.
pub const MAX_QUERY_CHARS: usize = 2_000;
/// Results when `top_k` is not given.
pub const DEFAULT_TOP_K: usize = 5;
/// Results at most.
pub const MAX_TOP_K: usize = 100;
/// Lines of a result's snippet at most.
const SNIPPET_LINES: usize = 12;
/// Characters of a snippet line at most.
const SNIPPET_LINE_CHARS: usize = 160;

/// Parameters of `semantic_search_codebase` (the original CodeSage's names, plus filters
/// and paging).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one) to search. Defaults to the client's
    /// workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// What the code does, in plain words ("where do we retry failed HTTP requests?"), or
    /// identifiers.
    pub query: String,
    /// How many results (default 5, at most 100).
    #[serde(default, deserialize_with = "super::page::lenient_integer")]
    pub top_k: Option<i64>,
    /// Only files with these extensions (e.g. ["py", ".rs"]) or language names.
    #[serde(default)]
    pub file_types: Option<Vec<String>>,
    /// Skip files whose path relative to the root matches one of these globs.
    #[serde(default)]
    pub exclude_patterns: Option<Vec<String>>,
    /// Paging: `max_results` counts results (`top_k` sets it when it is not given).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// One result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SemanticResult {
    /// Path relative to the codebase root.
    pub file_path: String,
    /// First line (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
    /// The definition (`Class.method`), if the chunk is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// `function`, `method`, `class`, …, or `lines` for a window of a file.
    pub kind: String,
    /// Fused score, 0 to 1; higher is better.
    pub score: f32,
    /// Which retrievers found it: `lexical`, `neural`, `name`.
    pub retrievers: Vec<String>,
    /// The first lines of the chunk.
    pub snippet: String,
}

/// What a semantic search found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase searched.
    pub root: String,
    /// The question.
    pub query: String,
    /// `hybrid` (lexical, neural and names fused) or `lexical` (no model).
    pub mode: String,
    /// Best first.
    pub results: Vec<SemanticResult>,
    /// `embedded: x of y chunks`: how much of the codebase the neural retriever covers.
    pub embedded: String,
    /// Chunks with a vector.
    pub embedded_chunks: u64,
    /// Chunks in the codebase.
    pub total_chunks: u64,
    /// Milliseconds the search took inside the daemon (question embedding included).
    pub elapsed_ms: f64,
    /// The index reflected every change made to the root before this moment (ms since the
    /// Unix epoch).
    pub fresh_as_of_ms: u64,
    /// How the root is kept fresh (`watching`, `polling`, `stopped`, …).
    pub watch: String,
}

/// Results per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "results",
        default: DEFAULT_TOP_K,
        max: MAX_TOP_K,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    search(
        ctx,
        params.codebase_path,
        params.query,
        params.top_k,
        params.file_types.unwrap_or_default(),
        params.exclude_patterns.unwrap_or_default(),
        params.page,
    )
    .await
}

/// The semantic search both tools run.
pub(super) async fn search(
    ctx: Ctx,
    codebase_path: Option<String>,
    query: String,
    top_k: Option<i64>,
    file_types: Vec<String>,
    exclude_patterns: Vec<String>,
    mut page: PageArgs,
) -> QueryResult<Output> {
    let started = Instant::now();
    let question = query.trim().to_string();
    if question.is_empty() {
        return Err(QueryError::Failed(format!(
            "{} is empty; say in plain words what the code does (\"where are failed requests \
             retried?\")",
            ctx.words().param("query")
        )));
    }
    let length = question.chars().count();
    if length > MAX_QUERY_CHARS {
        return Err(QueryError::Failed(format!(
            "{} is {length} characters long; at most {MAX_QUERY_CHARS} are accepted: ask a \
             question, or use {} for text",
            ctx.words().param("query"),
            ctx.words().tool("search_codebase")
        )));
    }
    let mut clamped = None;
    match top_k {
        Some(k) if k < 1 => {
            return Err(QueryError::Failed(format!(
                "{} must be at least 1 (it is {k}); it is how many results to return (default \
                 {DEFAULT_TOP_K}, at most {MAX_TOP_K})",
                ctx.words().param("top_k")
            )));
        }
        Some(k) if page.max_results.is_none() => {
            if k > MAX_TOP_K as i64 {
                clamped = Some(format!(
                    "{} {k} is over the maximum; the best {MAX_TOP_K} are shown",
                    ctx.words().param("top_k")
                ));
            }
            page.max_results = Some(k.min(MAX_TOP_K as i64));
        }
        _ => {}
    }
    let pager = ctx.pager(&page, limits(ctx.engine.config()))?;
    let scope = ctx.root_scope(codebase_path.as_deref())?;
    let filter = FileFilter::new(&scope.prefix, &file_types, &exclude_patterns)
        .map_err(|err| ctx.fail(err))?;
    let semantic = std::sync::Arc::clone(ctx.engine.semantic());
    let needed = pager.needed();
    let asked = question.clone();
    let on = ctx
        .on_root(&scope, "chunks", move |scope| {
            let accepts = |path: &str, language: &str| filter.accepts(path, language);
            let allowed: Option<crate::semantic::index::FileAllowed<'_>> =
                (!filter.accepts_all()).then_some(&accepts);
            let found = semantic
                .search(scope.root_id, scope.view, &asked, needed, allowed)
                .map_err(StructureError::Semantic)?;
            let mut results = Vec::with_capacity(found.hits.len());
            for hit in &found.hits {
                let snippet = scope
                    .view
                    .content(&hit.hash)?
                    .map(|content| {
                        crate::snippet::lines(
                            &content,
                            hit.chunk.start_line,
                            hit.chunk.end_line,
                            SNIPPET_LINES,
                            SNIPPET_LINE_CHARS,
                        )
                    })
                    .unwrap_or_default();
                let mut retrievers = Vec::new();
                if hit.lexical.is_some() {
                    retrievers.push("lexical".to_string());
                }
                if hit.neural.is_some() {
                    retrievers.push("neural".to_string());
                }
                if hit.name.is_some() {
                    retrievers.push("name".to_string());
                }
                results.push(SemanticResult {
                    file_path: hit.path.to_string(),
                    start_line: hit.chunk.start_line,
                    end_line: hit.chunk.end_line,
                    symbol: hit.chunk.name.clone(),
                    kind: hit.chunk.kind.as_str().to_string(),
                    score: (hit.score * 10_000.0).round() / 10_000.0,
                    retrievers,
                    snippet,
                });
            }
            Ok((found, results))
        })
        .await?;
    let (found, mut results) = on.value;
    let freshness = on.freshness;
    let mut notes = on.notes;
    notes.extend(clamped);
    let serve_secrets = ctx.engine.config().security.serve_secrets;
    let mut withheld = 0;
    for result in &mut results {
        let (shown, lines) =
            crate::redact::shown_text(&result.file_path, &result.snippet, serve_secrets);
        if let std::borrow::Cow::Owned(shown) = shown {
            result.snippet = shown;
        }
        withheld += lines;
    }
    if withheld > 0 {
        notes.push(super::redaction_note(withheld));
    }
    let embedded = found.embedded;
    let mode = match &found.lexical_only {
        Some(why) => {
            notes.push(format!("lexical search only: {why}"));
            "lexical"
        }
        None => "hybrid",
    };
    let mut partial = false;
    if found.lexical_only.is_none() && embedded.done < embedded.total {
        partial = true;
        notes.push(format!(
            "embedded: {} of {} chunks; the rest are being embedded in the background, so the \
             neural side of this answer is partial",
            embedded.done, embedded.total
        ));
    }
    if found.files_pending > 0 {
        partial = true;
        notes.push(format!(
            "{} files of this codebase are still being chunked; they are not in this answer yet",
            found.files_pending
        ));
    }
    if results.is_empty() {
        notes.push(format!(
            "nothing matched; try other words, or {} for exact text",
            ctx.words().tool("search_codebase")
        ));
    }
    let mut base = Answer::new(()).with_notes(notes).at_generation(on.generation);
    base.partial = partial;
    let root = scope.display();
    let total = results.len();
    let extent = if total < needed {
        Extent::Counted(total)
    } else {
        Extent::More
    };
    pager.answer(base, results, extent, |page| Output {
        root: root.clone(),
        query: question.clone(),
        mode: mode.to_string(),
        results: page,
        embedded: format!("{} of {} chunks", embedded.done, embedded.total),
        embedded_chunks: embedded.done,
        total_chunks: embedded.total,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        fresh_as_of_ms: freshness.fresh_as_of_ms,
        watch: freshness.watch.to_string(),
    })
}
