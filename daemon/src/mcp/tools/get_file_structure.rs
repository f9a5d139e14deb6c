//! `get_file_structure(codebase_path?, file_path)`: a file's outline — classes, functions,
//! methods and the rest as a nested tree with line ranges, signatures and documentation
//! flags — plus its imports, from the symbol index (or parsed on the spot for a file the index
//! leaves out).

use schemars::JsonSchema;
use serde::Deserialize;

use super::{ToolContext, ToolResult, describe, locate_file, structure_answer};
use crate::structure::outline;

/// Parameters of `get_file_structure` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase the file is in; a relative file_path is taken relative to it.
    /// Optional when file_path is absolute or the codebase is the client's workspace.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// The file: absolute, or relative to the codebase root.
    pub file_path: String,
}

/// The tool's description.
pub fn tool() -> rmcp::model::Tool {
    describe::<Params>(
        "get_file_structure",
        "Outline of a source file: its classes, functions, methods, constants and other \
         definitions as a nested tree with line ranges, signature lines and whether each is \
         documented, plus the file's imports. Parsed with tree-sitter; files with syntax \
         errors still give what parsed.",
        true,
    )
}

/// Runs the tool.
pub async fn call(ctx: &ToolContext, params: Params) -> ToolResult {
    let (root, relative) = locate_file(ctx, params.codebase_path.as_deref(), &params.file_path)?;
    structure_answer(ctx, &root, String::new(), move |scope| {
        outline::file_structure(scope, &relative)
    })
    .await
}
