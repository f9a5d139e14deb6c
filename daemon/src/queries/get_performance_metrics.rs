//! `get_performance_metrics()`: requests per tool with errors and latency percentiles,
//! uptime, memory, store size and connections. Pages hold the per-tool figures.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::metrics::RequestStats;
use codesage_shared::protocol::CacheStatus;

/// `get_performance_metrics` takes only paging arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Paging: `max_results` counts request kinds.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// Memory use.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Memory {
    /// Resident memory of the daemon, bytes.
    pub rss_bytes: u64,
}

/// The store file.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StoreFigures {
    /// Its path.
    pub path: String,
    /// Its size, bytes.
    pub bytes: u64,
}

/// Connections.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Connections {
    /// Open now.
    pub active: u64,
    /// Since start.
    pub total: u64,
}

/// The daemon's performance.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// Requests served (MCP tool calls and control requests).
    pub requests_total: u64,
    /// Requests that ended in an error.
    pub errors_total: u64,
    /// errors / requests.
    pub error_rate: f64,
    /// Errors by kind (tool errors, panics, malformed or oversized messages, refused
    /// connections, failed authentication, rate limits).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// `healthy`, `degraded` or `unhealthy`, as `codesage status` says.
    pub health: String,
    /// Why it is not healthy, with what to do.
    pub health_reasons: Vec<String>,
    /// Figures per tool or request kind (this page's).
    pub requests: BTreeMap<String, RequestStats>,
    /// Memory use.
    pub memory: Memory,
    /// The store.
    pub store: StoreFigures,
    /// Registered roots.
    pub roots: usize,
    /// Files in their indexes.
    pub indexed_files: u64,
    /// The cache of decompressed contents (absent when disabled).
    pub content_cache: Option<CacheStatus>,
    /// Connections.
    pub connections: Connections,
    /// LLM providers (calls, failures, tokens in and out, breaker state) and the reply cache.
    pub llm: crate::llm::LlmStats,
}

/// Request kinds per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "request kinds",
        default: 100,
        max: 1000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let engine = &ctx.engine;
    let status = engine.status();
    let (requests_total, errors_total) = engine.metrics().totals();
    let requests: Vec<(String, RequestStats)> = engine.metrics().requests().into_iter().collect();
    let memory = Memory {
        rss_bytes: status.rss_bytes,
    };
    let store = StoreFigures {
        path: status.store_path.display().to_string(),
        bytes: status.store_bytes,
    };
    let connections = Connections {
        active: engine.metrics().connections_active(),
        total: engine.metrics().connections_total(),
    };
    let llm = engine.llm().stats();
    let errors_by_kind = engine.metrics().errors();
    pager.answer(Answer::new(()), requests, Extent::Complete, |page| Output {
        uptime_secs: status.uptime_secs,
        requests_total,
        errors_total,
        error_rate: if requests_total == 0 {
            0.0
        } else {
            errors_total as f64 / requests_total as f64
        },
        errors_by_kind: errors_by_kind.clone(),
        health: status.health.clone(),
        health_reasons: status.health_reasons.clone(),
        requests: page.into_iter().collect(),
        memory: memory.clone(),
        store: store.clone(),
        roots: status.roots.len(),
        indexed_files: status.roots.iter().map(|root| root.files).sum(),
        content_cache: status.content_cache.clone(),
        connections: connections.clone(),
        llm: llm.clone(),
    })
}
