//! `find_duplicate_code(codebase_path, min_similarity=0.8, min_lines=10)`: copied code in a
//! codebase as clone classes (one class per piece of code, with every place it was copied
//! to), largest first, each with its kind (`exact`, `renamed`, `near`), similarity, line
//! count, exact ranges and a snippet. Built from the fingerprints stored with every parsed
//! file, so it answers from the index and follows edits; `similar` classes are definitions
//! alike by their embedding vectors (when the semantic index has them) that no token-based
//! class covers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryError, QueryResult};
use crate::health::detect::MIN_TOKENS;
use crate::health::fingerprint::GUARANTEED_TOKENS;
use crate::health::clones::{self, Options, ReportedClass, SimilarOutcome, SimilarSource};
use crate::health::warm::Question;
use crate::search::FileFilter;

/// Pages of classes measured in the background after each page answered.
const PAGES_MEASURED_AHEAD: usize = 2;

/// `min_lines` when not given (the original's default).
pub const DEFAULT_MIN_LINES: i64 = 10;
/// `min_similarity` when not given (the original's default).
pub const DEFAULT_MIN_SIMILARITY: f64 = 0.8;
/// The longest `min_lines` taken; larger values are clamped.
pub const MAX_MIN_LINES: i64 = 10_000;

/// Parameters of `find_duplicate_code` (the original CodeSage's names, plus filters).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one: only clones with a copy there). Defaults
    /// to the client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Least similarity of the copies, 0 to 1 (default 0.8); 1 keeps exact and renamed
    /// copies only. `similar` classes need their vectors' cosine at least this and at least
    /// `health.similar_threshold`.
    #[serde(default, deserialize_with = "super::page::lenient_number")]
    pub min_similarity: Option<f64>,
    /// Shortest clone, in lines (default 10).
    #[serde(default, deserialize_with = "super::page::lenient_integer")]
    pub min_lines: Option<i64>,
    /// Only files with these extensions (e.g. ["py", ".rs"]) or language names take part.
    #[serde(default)]
    pub file_types: Option<Vec<String>>,
    /// Files whose path relative to the root matches one of these globs take no part.
    #[serde(default)]
    pub exclude_patterns: Option<Vec<String>>,
    /// Only clones with a copy in this file or directory.
    #[serde(default)]
    pub path: Option<String>,
    /// Compare generated, minified and vendored files too (left out by default).
    #[serde(default)]
    pub include_generated: Option<bool>,
    /// Copies listed per class at most (default 50; 0 lists every copy); the rest are
    /// counted in `unlisted_copies`.
    #[serde(default, deserialize_with = "super::page::lenient_integer")]
    pub max_copies: Option<i64>,
    /// Paging: `max_results` counts clone classes.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The clone classes found.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase searched.
    pub root: String,
    /// The shortest clone counted, in lines.
    pub min_lines: u32,
    /// The least similarity counted.
    pub min_similarity: f32,
    /// Clone classes, largest (lines × copies) first.
    pub clone_classes: Vec<ReportedClass>,
    /// Classes found in all (at least this many when the notes say some are not measured
    /// yet).
    pub total_classes: usize,
    /// Files compared.
    pub files_compared: usize,
    /// Generated, minified or vendored files left out.
    pub skipped_files: usize,
    /// Clones shorter than this many tokens are not detected.
    pub min_tokens: usize,
}

/// Classes per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "clone classes",
        default: 20,
        max: 500,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let mut notes = Vec::new();
    let min_similarity = params.min_similarity.unwrap_or(DEFAULT_MIN_SIMILARITY);
    if !(0.0..=1.0).contains(&min_similarity) {
        return Err(QueryError::Failed(format!(
            "{} must be between 0 and 1 (it is {min_similarity}); 1 keeps exact and renamed \
             copies only, 0.8 is the default",
            ctx.words().param("min_similarity")
        )));
    }
    let min_lines = params.min_lines.unwrap_or(DEFAULT_MIN_LINES);
    if min_lines < 1 {
        return Err(QueryError::Failed(format!(
            "{} must be at least 1 (it is {min_lines}); it is the shortest clone counted, in \
             lines (default {DEFAULT_MIN_LINES})",
            ctx.words().param("min_lines")
        )));
    }
    if min_lines > MAX_MIN_LINES {
        notes.push(format!(
            "{} {min_lines} is over the maximum; {MAX_MIN_LINES} was used",
            ctx.words().param("min_lines")
        ));
    }
    let min_lines = min_lines.min(MAX_MIN_LINES) as u32;
    let max_copies = params.max_copies.unwrap_or(clones::MAX_LISTED_COPIES as i64);
    if max_copies < 0 {
        return Err(QueryError::Failed(format!(
            "{} must be 0 (every copy) or more (it is {max_copies}); it is how many copies \
             of each class are listed (default {})",
            ctx.words().param("max_copies"),
            clones::MAX_LISTED_COPIES
        )));
    }
    let max_copies = usize::try_from(max_copies).unwrap_or(usize::MAX);
    let scope = ctx.root_scope(params.codebase_path.as_deref())?;
    let touching = match params.path.as_deref().filter(|path| !path.trim().is_empty()) {
        Some(path) => {
            let (root, relative) = ctx.file_scope(params.codebase_path.as_deref(), path)?;
            if root.id != scope.root.id {
                return Err(QueryError::Failed(format!(
                    "{path} is not in {}; give a {} inside it",
                    scope.display(),
                    ctx.words().param("path")
                )));
            }
            Some(relative)
        }
        None => (!scope.prefix.is_empty()).then(|| scope.prefix.clone()),
    };
    let file_types = params.file_types.unwrap_or_default();
    let exclude_patterns = params.exclude_patterns.unwrap_or_default();
    let filter = FileFilter::new("", &file_types, &exclude_patterns).map_err(|err| ctx.fail(err))?;
    let filter_key = clones::filter_key(&file_types, &exclude_patterns);
    let skip_generated = !params
        .include_generated
        .unwrap_or(!ctx.engine.config().health.skip_generated);
    let engine = std::sync::Arc::clone(&ctx.engine);
    // `similar` clones need the root's chunk vectors: keep its semantic index built, unless
    // no model can make them (building it would only hold the root's chunks in memory).
    if !matches!(
        engine.semantic().model_state(),
        crate::semantic::ModelState::Disabled | crate::semantic::ModelState::Unavailable(..)
    ) {
        engine.semantic().demand(scope.root.id);
    }
    let semantic_index = engine.semantic().root_index(scope.root.id);
    let health_config = &engine.config().health;
    let (similar_threshold, similar_max_chunks) = (
        health_config.similar_threshold,
        health_config.similar_max_chunks,
    );
    let (offset, needed) = (pager.offset(), pager.needed());
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            let found = clones::find(
                scope,
                engine.health(),
                &Options {
                    min_lines,
                    min_similarity: min_similarity as f32,
                    filter: &filter,
                    filter_key: &filter_key,
                    skip_generated,
                    touching: touching.as_deref(),
                    similar: Some(SimilarSource {
                        index: &semantic_index,
                        threshold: similar_threshold,
                        max_chunks: similar_max_chunks,
                    }),
                },
            )?;
            let page = found.page(scope, engine.health(), offset, needed - offset)?;
            // The next two pages: while the client reads this one, the first is usually
            // measured before this page is even sent.
            if page.total > needed || !page.complete {
                found.clone().measure_in_background(
                    std::sync::Arc::clone(&engine),
                    scope.root_id,
                    scope.root_path.to_path_buf(),
                    scope.view.index.generation,
                    (needed, needed + PAGES_MEASURED_AHEAD * (needed - offset)),
                );
            }
            Ok((found, page))
        })
        .await?;
    let (found, mut page) = on.value;
    ctx.engine.health().warm().remember(Question {
        root: scope.root.path.clone(),
        min_lines,
        min_similarity: min_similarity as f32,
        file_types,
        exclude_patterns,
        skip_generated,
        asked_ms: 0,
    });
    for class in &mut page.shown {
        class.limit_copies(max_copies);
    }
    notes.extend(on.notes);
    if found.skipped_generated > 0 {
        notes.push(format!(
            "{} generated, minified or vendored files were left out (e.g. {}); set {} to \
             compare them too",
            found.skipped_generated,
            found.skipped_examples.join(", "),
            ctx.words().param("include_generated")
        ));
    }
    if found.pending > 0 {
        notes.push(format!(
            "{} code files have no parsed structure (still being parsed, or larger than index.symbols_max_file_size) and are not compared",
            found.pending
        ));
    }
    match found.similar_outcome {
        SimilarOutcome::NoVectors => notes.push(
            "no `similar` clones (alike by meaning, not by tokens): the codebase has no chunk \
             vectors (the embedding model is not installed — `codesage model install` — or \
             embedding has not started)"
                .to_string(),
        ),
        SimilarOutcome::TooMany { eligible, limit } => notes.push(format!(
            "no `similar` clones: {eligible} definitions of {min_lines} lines or more is over \
             health.similar_max_chunks ({limit}); every pair would be compared"
        )),
        SimilarOutcome::Compared { embedded, total } if embedded < total => notes.push(format!(
            "`similar` clones from the {embedded} of {total} chunks embedded so far"
        )),
        SimilarOutcome::Compared { .. } | SimilarOutcome::Off => {}
    }
    if page.total == 0 && page.complete {
        notes.push(format!(
            "no clone of {min_lines} lines or more found among {} files (copies shorter than \
             {} tokens are not detected)",
            found.files_compared,
            GUARANTEED_TOKENS.max(MIN_TOKENS as usize)
        ));
    }
    let total = page.total;
    let extent = if page.complete {
        Extent::Counted(total)
    } else {
        notes.push(format!(
            "at least {total} clone classes; candidates a line or two short of {min_lines} \
             lines are measured only when a page reaches them"
        ));
        Extent::More
    };
    let mut base = Answer::new(()).with_notes(notes).at_generation(on.generation);
    base.partial = on.stopped.is_some();
    let root = scope.display();
    pager.answer_from(base, offset, page.shown, extent, |page| Output {
        root: root.clone(),
        min_lines,
        min_similarity: min_similarity as f32,
        clone_classes: page,
        total_classes: total,
        files_compared: found.files_compared,
        skipped_files: found.skipped_generated,
        min_tokens: GUARANTEED_TOKENS.max(MIN_TOKENS as usize),
    })
}
