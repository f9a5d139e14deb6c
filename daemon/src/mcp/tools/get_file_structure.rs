//! The MCP tool `get_file_structure`: its description; the question itself is
//! [`crate::queries::get_file_structure`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Outline of a source file: its classes, functions, methods, constants and other \
     definitions as a nested tree with line ranges, signature lines, symbol ids and whether \
     each is documented, plus the file's imports. Parsed with tree-sitter; files with syntax \
     errors still give what parsed.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
