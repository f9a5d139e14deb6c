//! `get_configuration()`: the effective configuration and where things live, with every
//! secret masked. Pages hold configuration sections.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};

/// `get_configuration` takes only paging arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Paging: `max_results` counts configuration sections.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The effective configuration.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// CodeSage's version.
    pub version: String,
    /// The daemon's socket.
    pub socket: String,
    /// The store file.
    pub store_path: String,
    /// Configuration sections (`profile`, `index`, `search`, `server`, `watch`, `semantic`,
    /// `health`, `log`, `secrets`), API keys masked.
    #[serde(flatten)]
    pub sections: BTreeMap<String, Value>,
}

/// Sections per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "sections",
        default: 100,
        max: 100,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let engine = &ctx.engine;
    let sections: Vec<(String, Value)> = match engine.config().to_masked_json() {
        Value::Object(object) => object.into_iter().collect(),
        _ => Vec::new(),
    };
    let status = engine.status();
    let socket = status.socket.display().to_string();
    let store_path = status.store_path.display().to_string();
    pager.answer(Answer::new(()), sections, Extent::Complete, |page| Output {
        version: status.version.clone(),
        socket: socket.clone(),
        store_path: store_path.clone(),
        sections: page.into_iter().collect(),
    })
}
