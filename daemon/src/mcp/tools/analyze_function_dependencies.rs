//! `analyze_function_dependencies(file_path, function_name?)`: what a function (or every
//! function of a file) calls, split into same-file, same-project and external callees, with
//! its length, branch count and cyclomatic complexity.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolResult, describe, locate_file, structure_answer};
use crate::structure::callees;

/// Parameters of `analyze_function_dependencies` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The file: absolute, or relative to codebase_path / the indexed root.
    pub file_path: String,
    /// The function or method to analyse (`name`, or `Class.method`); every function of the
    /// file when omitted.
    #[serde(default)]
    pub function_name: Option<String>,
    /// Indexed codebase the file is in, when file_path is relative.
    #[serde(default)]
    pub codebase_path: Option<String>,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "analyze_function_dependencies",
        "What a function calls: its callees split into same-file, same-project (with where \
         they are defined) and external (standard library, dependencies, built-ins), plus its \
         length, number of branches and cyclomatic complexity. Without function_name, every \
         function and method of the file is analysed.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let (root, relative) = locate_file(ctx, params.codebase_path.as_deref(), &params.file_path)?;
    let function_name = params.function_name;
    structure_answer(ctx, &root, String::new(), move |scope| {
        callees::analyze(scope, &relative, function_name.as_deref())
    })
    .await
}
