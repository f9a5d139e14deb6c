//! `get_performance_metrics()`: requests per tool with errors and latency percentiles,
//! uptime, memory, store size and connections.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolResult, describe};

/// `get_performance_metrics` takes no parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "get_performance_metrics",
        "Show CodeSage's performance: requests and errors per tool with latency percentiles \
         (ms), uptime, memory use, index size and connections.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, _params: Params) -> ToolResult {
    let engine = &ctx.engine;
    let status = engine.status();
    let (requests, errors) = engine.metrics().totals();
    let json = serde_json::json!({
        "uptime_secs": status.uptime_secs,
        "requests_total": requests,
        "errors_total": errors,
        "error_rate": if requests == 0 { 0.0 } else { errors as f64 / requests as f64 },
        "requests": engine.metrics().requests(),
        "memory": { "rss_bytes": status.rss_bytes },
        "store": {
            "path": status.store_path.display().to_string(),
            "bytes": status.store_bytes,
        },
        "roots": status.roots.len(),
        "indexed_files": status.roots.iter().map(|root| root.files).sum::<u64>(),
        "content_cache": status.content_cache,
        "connections": {
            "active": engine.metrics().connections_active(),
            "total": engine.metrics().connections_total(),
        },
    });
    Ok(match json {
        serde_json::Value::Object(object) => object,
        _ => serde_json::Map::new(),
    })
}
