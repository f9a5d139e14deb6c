//! `get_cache_statistics(codebase_path?)`: the daemon's caches and how well they work —
//! decompressed contents, LLM replies, per-file code-health facts, stored embedding vectors —
//! each with hits, misses, evictions and hit rate against the 70% target (the same figures
//! as the `codesage_cache_*` metrics), plus, for a codebase, what its index holds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::llm::ReplyCacheStats;
use codesage_shared::protocol::CacheStatus;

/// `get_cache_statistics` takes an optional codebase and paging arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// A codebase (or directory in one) to also report the index of; absent: the caches
    /// only.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging (the answer is one object).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The vectors kept in the store.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VectorCache {
    /// Vectors stored (one per embedded text and model).
    pub stored: u64,
    /// Chunks embedded by the model since the daemon started.
    pub embedded_since_start: u64,
    /// Vectors reused from the store instead of embedding again, since start.
    pub reused_since_start: u64,
}

/// What one codebase's index holds in memory and in the store.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RootFigures {
    /// The root.
    pub root: String,
    /// Files indexed.
    pub files: u64,
    /// Source bytes indexed.
    pub source_bytes: u64,
    /// Its trigram index in memory, bytes.
    pub trigram_index_bytes: u64,
    /// Semantic-search chunks, and how many have a vector.
    pub chunks: u64,
    /// Chunks with an embedding vector.
    pub vectors: u64,
}

/// Hit rate the production checklist asks of a cache in use.
pub const HIT_RATE_TARGET: f64 = 0.7;

/// Lookups a cache needs before its hit rate is judged.
const JUDGED_AFTER: u64 = 100;

/// The caches.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Every cache with its figures (the `codesage_cache_*` metrics).
    pub caches: Vec<crate::metrics::CacheFigures>,
    /// The hit rate a cache in use should reach (the production checklist's 70%).
    pub hit_rate_target: f64,
    /// Caches with at least 100 lookups below the target.
    pub below_target: Vec<String>,
    /// The codebase asked about, when `codebase_path` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<RootFigures>,
    /// Decompressed file contents that searches read through (absent when disabled).
    pub content_cache: Option<CacheStatus>,
    /// LLM replies by (provider, model, prompt).
    pub llm_reply_cache: ReplyCacheStats,
    /// Per-content code-health facts (fingerprints, metrics, markers) held in memory.
    pub health_facts_cached: u64,
    /// Embedding vectors.
    pub vectors: VectorCache,
}

/// One answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "reports",
        default: 1,
        max: 1,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let _pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let engine = &ctx.engine;
    let semantic = engine.semantic();
    let root = match params.codebase_path.as_deref() {
        Some(path) if !path.trim().is_empty() => {
            let scope = ctx.root_scope(Some(path))?;
            let status = engine.status();
            status
                .roots
                .into_iter()
                .find(|root| root.path == scope.root.path)
                .map(|root| RootFigures {
                    root: root.path.display().to_string(),
                    files: root.files,
                    source_bytes: root.bytes,
                    trigram_index_bytes: root.trigram_index_bytes,
                    chunks: root.semantic.as_ref().map_or(0, |semantic| semantic.chunks),
                    vectors: root.semantic.as_ref().map_or(0, |semantic| semantic.embedded),
                })
        }
        _ => None,
    };
    let caches = engine.caches();
    let below_target = caches
        .iter()
        .filter(|cache| {
            cache.hits + cache.misses >= JUDGED_AFTER
                && cache.hit_rate.is_some_and(|rate| rate < HIT_RATE_TARGET)
        })
        .map(|cache| cache.name.clone())
        .collect();
    let output = Output {
        caches,
        hit_rate_target: HIT_RATE_TARGET,
        below_target,
        root,
        content_cache: engine.store().cache_stats(),
        llm_reply_cache: engine.llm().stats().cache,
        health_facts_cached: engine.health().cache().len() as u64,
        vectors: VectorCache {
            stored: engine.store().vector_count().unwrap_or(0),
            embedded_since_start: semantic
                .embedded_by_model
                .load(std::sync::atomic::Ordering::Relaxed),
            reused_since_start: semantic
                .reused_from_store
                .load(std::sync::atomic::Ordering::Relaxed),
        },
    };
    Ok(Answer::new(output))
}
