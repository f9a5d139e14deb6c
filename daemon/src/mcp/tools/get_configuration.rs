//! `get_configuration()`: the effective configuration and where things live, with every
//! secret masked.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolResult, describe};

/// `get_configuration` takes no parameters.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "get_configuration",
        "Show CodeSage's effective configuration (profile, indexing, search and server \
         settings, file locations). API keys are masked.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, _params: Params) -> ToolResult {
    let engine = &ctx.engine;
    let mut object = match engine.config().to_masked_json() {
        serde_json::Value::Object(object) => object,
        _ => serde_json::Map::new(),
    };
    let status = engine.status();
    object.insert("version".into(), status.version.into());
    object.insert("socket".into(), status.socket.display().to_string().into());
    object.insert(
        "store_path".into(),
        status.store_path.display().to_string().into(),
    );
    Ok(object)
}
