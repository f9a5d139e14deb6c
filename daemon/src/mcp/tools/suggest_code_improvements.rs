//! The MCP tool `suggest_code_improvements`: its description; the question itself is
//! [`crate::queries::suggest_code_improvements`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Suggest improvements to a section of code (function_name, a \
     start_line/end_line range, or the whole file): measured findings (complexity, length, \
     nesting, parameter count, missing docs, duplicated code, TODO markers) with their values \
     and thresholds, merged with an LLM's suggestions when a model is configured (the offline \
     findings alone otherwise, with the reason).";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
