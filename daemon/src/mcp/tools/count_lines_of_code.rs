//! The MCP tool `count_lines_of_code`: its description; the question itself is
//! [`crate::queries::count_lines_of_code`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Count files and lines of code, comments and blank lines per language in an indexed \
     codebase.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
