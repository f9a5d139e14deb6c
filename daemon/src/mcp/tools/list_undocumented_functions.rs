//! The MCP tool `list_undocumented_functions`: its description; the question itself is
//! [`crate::queries::list_undocumented_functions`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "List functions and methods that have no docstring or doc comment, in one file \
     (file_path) or across a whole codebase (codebase_path), with how many are documented \
     per language.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
