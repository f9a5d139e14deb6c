//! `get_dependencies_overview(codebase_path?)`: what a codebase imports, per language,
//! classified internal / standard library / third-party using the project's manifests, with
//! counts and the most imported modules.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolResult, describe, optional_codebase, structure_answer};
use crate::structure::dependencies;

/// Parameters of `get_dependencies_overview` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one). Defaults to the client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "get_dependencies_overview",
        "Overview of what a codebase imports: per language, import statements classified as \
         internal, standard library or third-party (using Cargo.toml, pyproject.toml, \
         requirements*.txt, package.json, go.mod, pom.xml where present), the most imported \
         modules, and the third-party packages with whether a manifest declares them.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let explicit = optional_codebase(ctx, params.codebase_path.as_deref())?;
    let (root, prefix) = ctx.engine.scope(explicit.as_deref(), &ctx.client_roots)?;
    let root_text = root.path.display().to_string();
    let mut object = structure_answer(ctx, &root, prefix, dependencies::overview).await?;
    object.insert("root".into(), root_text.into());
    Ok(object)
}
