//! `search_codebase`: exact regex (or literal) search over an indexed codebase, with
//! file-type filters, exclude globs and context lines (`regex` mode), or the definitions
//! whose names match with their callers and callees (`graph` mode). Results are in path and
//! line order; pages continue exactly where the previous one stopped. Lines are shown with
//! their secrets withheld unless `security.serve_secrets` is set.

use std::time::Instant;

use codesage_shared::protocol::{FileMatches, LineMatch, SearchParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryError, QueryResult};
use crate::search::Query;
use super::semantic_search_codebase::SemanticResult;
use crate::structure::graph::{self as call_graph, GraphNode};

/// Graph mode: symbols listed by default.
const GRAPH_DEFAULT_RESULTS: usize = 10;
/// Graph mode: symbols listed at most.
const GRAPH_MAX_RESULTS: usize = 100;
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
    /// with their callers and callees to context_depth levels. "semantic": pattern is a
    /// question in plain words, answered with the chunks of code that fit it best (as
    /// semantic_search_codebase; max_results counts them, default 5).
    #[serde(default)]
    pub search_mode: Option<String>,
    /// Regex mode: lines of context before and after each matching line (default 0).
    /// Graph mode: levels of callers and callees to follow (default 1, at most 3).
    #[serde(default)]
    pub context_depth: Option<u32>,
    /// Match case exactly (default true).
    #[serde(default)]
    pub case_sensitive: Option<bool>,
    /// Treat pattern as literal text rather than a regular expression (default false).
    #[serde(default)]
    pub fixed_strings: Option<bool>,
    /// Paging: `max_results` counts matching lines (graph mode: symbols, default 10, at
    /// most 100).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The results of either mode.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Results {
    /// Regex mode: matching lines grouped by file, files in path order.
    Lines(Vec<FileMatches>),
    /// Graph mode: matched symbols with their callers and callees.
    Symbols(Vec<GraphNode>),
    /// Semantic mode: the chunks that fit the question, best first.
    Chunks(Vec<SemanticResult>),
}

/// What a search found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase searched.
    pub root: String,
    /// The pattern.
    pub pattern: String,
    /// `regex` or `graph`.
    pub search_mode: String,
    /// The matches.
    pub results: Results,
    /// Regex mode: matching lines in this answer. Graph mode: definitions whose name
    /// matched, in all.
    pub total_matches: u64,
    /// Regex mode: files whose contents were examined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_searched: Option<u64>,
    /// Regex mode: `trigram` when the index chose the files to verify, `scan` when the
    /// pattern has no usable trigram and every file was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Graph mode: levels followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// Milliseconds the search took inside the daemon.
    pub elapsed_ms: f64,
    /// The index reflected every change made to the root before this moment (ms since the
    /// Unix epoch).
    pub fresh_as_of_ms: u64,
    /// How the root is kept fresh (`watching`, `polling`, `stopped`, …).
    pub watch: String,
}

/// Matching lines per answer (regex mode).
pub fn limits(config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "matching lines",
        default: config.search.default_max_results,
        max: config.search.max_results_limit,
    }
}

/// One matching line with its file: the unit results are paged in. The path is shared by
/// the file's matches (a search may return 100k of them).
#[derive(Debug, Clone)]
struct Hit {
    file_path: std::sync::Arc<str>,
    found: LineMatch,
}

impl Serialize for Hit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            file_path: &'a str,
            #[serde(flatten)]
            found: &'a LineMatch,
        }
        Shown {
            file_path: &self.file_path,
            found: &self.found,
        }
        .serialize(serializer)
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let mode = params
        .search_mode
        .as_deref()
        .map(str::trim)
        .filter(|mode| !mode.is_empty())
        .unwrap_or("regex")
        .to_ascii_lowercase();
    // Semantic questions have their own, smaller limit.
    if mode != "semantic" {
        crate::search::check_pattern_length(&params.pattern).map_err(|err| ctx.fail(err))?;
    }
    match mode.as_str() {
        "regex" => regex(ctx, params).await,
        "graph" => graph(ctx, params).await,
        "semantic" => semantic(ctx, params).await,
        other => Err(QueryError::Failed(format!(
            "unknown search_mode \"{other}\"; use \"regex\", \"graph\" or \"semantic\""
        ))),
    }
}

async fn regex(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let started = Instant::now();
    let pager = ctx
        .pager(&params.page, limits(ctx.engine.config()))?
        .hint("narrow the pattern, or filter by file type or exclude globs");
    let scope = ctx.root_scope(params.codebase_path.as_deref())?;
    let search = SearchParams {
        root: None,
        pattern: params.pattern.clone(),
        case_sensitive: params.case_sensitive.unwrap_or(true),
        fixed_strings: params.fixed_strings.unwrap_or(false),
        file_types: params.file_types.unwrap_or_default(),
        exclude_patterns: params.exclude_patterns.unwrap_or_default(),
        context_lines: params.context_depth.unwrap_or(0) as usize,
        // The page's end (and one more, to know whether more follow); the pager clamps.
        max_results: Some(pager.needed().saturating_sub(1)),
        unbounded: true,
    };
    let mut query = Query::compile(&search, Some(scope.prefix.clone()), &ctx.engine.config().search)
        .map_err(|err| ctx.fail(err))?;
    // Agents get the enclosing symbol of each match; the command line's rows do not show it.
    if ctx.caller.bounded {
        query = query.with_symbols();
    }
    if !ctx.engine.config().security.serve_secrets {
        query = query.with_redaction();
    }
    let on = ctx
        .on_root(&scope, "files", move |scope| Ok(query.run(scope.view)?))
        .await?;
    let freshness = on.freshness;
    let outcome = on.value;
    let extent = if outcome.truncated {
        Extent::More
    } else {
        Extent::Complete
    };
    let hits: Vec<Hit> = outcome
        .files
        .into_iter()
        .flat_map(|file| {
            let path: std::sync::Arc<str> = file.file_path.into();
            file.matches.into_iter().map(move |found| Hit {
                file_path: std::sync::Arc::clone(&path),
                found,
            })
        })
        .collect();
    let mut base = Answer::new(()).with_notes(on.notes).at_generation(on.generation);
    if outcome.redacted_lines > 0 {
        base.notes.push(super::redaction_note(outcome.redacted_lines));
    }
    let root = scope.display();
    let pattern = params.pattern;
    let files_searched = outcome.files_searched;
    let strategy = outcome.strategy.to_string();
    pager.answer(base, hits, extent, |page| Output {
        root: root.clone(),
        pattern: pattern.clone(),
        search_mode: "regex".into(),
        total_matches: page.len() as u64,
        results: Results::Lines(group_by_file(page)),
        files_searched: Some(files_searched),
        strategy: Some(strategy.clone()),
        depth: None,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        fresh_as_of_ms: freshness.fresh_as_of_ms,
        watch: freshness.watch.to_string(),
    })
}

/// Semantic mode: the question in `pattern`, answered as `semantic_search_codebase` does.
async fn semantic(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let answer = super::semantic_search_codebase::search(
        ctx,
        params.codebase_path,
        params.pattern.clone(),
        None,
        params.file_types.unwrap_or_default(),
        params.exclude_patterns.unwrap_or_default(),
        params.page,
    )
    .await?;
    let found = answer.body;
    Ok(Answer {
        body: Output {
            root: found.root,
            pattern: params.pattern,
            search_mode: "semantic".into(),
            total_matches: found.results.len() as u64,
            results: Results::Chunks(found.results),
            files_searched: None,
            strategy: Some(found.mode),
            depth: None,
            elapsed_ms: found.elapsed_ms,
            fresh_as_of_ms: found.fresh_as_of_ms,
            watch: found.watch,
        },
        notes: answer.notes,
        truncated: answer.truncated,
        cursor: answer.cursor,
        index_generation: answer.index_generation,
        partial: answer.partial,
    })
}

/// Regroups a page of matching lines (in path order) by file.
fn group_by_file(hits: Vec<Hit>) -> Vec<FileMatches> {
    let mut files: Vec<FileMatches> = Vec::new();
    for hit in hits {
        match files.last_mut() {
            Some(file) if *file.file_path == *hit.file_path => file.matches.push(hit.found),
            _ => files.push(FileMatches {
                file_path: hit.file_path.to_string(),
                matches: vec![hit.found],
            }),
        }
    }
    files
}

/// Graph mode: the definitions whose names match the pattern, with callers and callees.
async fn graph(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let started = Instant::now();
    let depth = params.context_depth.unwrap_or(1);
    if depth > GRAPH_MAX_DEPTH {
        return Err(QueryError::Failed(format!(
            "context_depth {depth} is out of range for graph mode; use 1 to {GRAPH_MAX_DEPTH}"
        )));
    }
    let pager = ctx.pager(
        &params.page,
        Limits {
            unit: "symbols",
            default: GRAPH_DEFAULT_RESULTS,
            max: GRAPH_MAX_RESULTS,
        },
    )?;
    let scope = ctx.root_scope(params.codebase_path.as_deref())?;
    let case_sensitive = params.case_sensitive.unwrap_or(true);
    let pattern = params.pattern.clone();
    let range = pager.offset()..pager.needed();
    let on = ctx
        .on_root(&scope, "symbols", move |scope| {
            call_graph::graph(scope, &pattern, case_sensitive, depth as usize, range)
        })
        .await?;
    let freshness = on.freshness;
    let mut report = on.value;
    let mut base = Answer::new(())
        .with_notes(on.notes)
        .at_generation(on.generation);
    // A symbol with hundreds of callers would not fit a page on its own: its edge lists are
    // cut (the node says `truncated`) rather than the answer refused.
    if let Some(max_tokens) = pager.item_budget() {
        let mut cut = 0;
        for node in &mut report.results {
            let shrunk = super::page::shrink_to(node, max_tokens, |node| {
                node.truncated = true;
                let longer = if node.callers.len() >= node.callees.len() {
                    node.callers.len()
                } else {
                    node.callees.len()
                };
                if longer == 0 {
                    return false;
                }
                // Halve the longer list, so a huge node shrinks in a few steps.
                let keep = longer / 2;
                if node.callers.len() >= node.callees.len() {
                    node.callers.truncate(keep);
                } else {
                    node.callees.truncate(keep);
                }
                true
            });
            cut += usize::from(shrunk);
        }
        if cut > 0 {
            base.notes.push(format!(
                "the callers and callees of {cut} symbol(s) were cut to fit max_tokens (their \
                 `truncated` is true); raise max_tokens or lower context_depth for all of them"
            ));
        }
    }
    let root = scope.display();
    let pattern = params.pattern;
    let total = report.total_matches;
    let depth = report.depth;
    pager.answer_from(
        base,
        report.first,
        report.results,
        Extent::Counted(total),
        |page| Output {
            root: root.clone(),
            pattern: pattern.clone(),
            search_mode: "graph".into(),
            results: Results::Symbols(page),
            total_matches: total as u64,
            files_searched: None,
            strategy: None,
            depth: Some(depth),
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            fresh_as_of_ms: freshness.fresh_as_of_ms,
            watch: freshness.watch.to_string(),
        },
    )
}
