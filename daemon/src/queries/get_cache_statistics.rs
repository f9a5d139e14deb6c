//! `get_cache_statistics()`: the daemon's caches and how well they work: decompressed
//! contents, LLM replies (hit rate, entries, TTL), per-file code-health facts, and the
//! stored embedding vectors reused instead of recomputed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::llm::ReplyCacheStats;
use codesage_shared::protocol::CacheStatus;

/// `get_cache_statistics` takes only paging arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
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

/// The caches.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
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
    let output = Output {
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
