//! The MCP tool `list_todo_fixme`: its description; the question itself is
//! [`crate::queries::list_todo_fixme`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "List every TODO, FIXME, HACK and XXX marker in the comments of a \
     codebase or of one file (file_path), with its line, text and the symbol that holds it; \
     markers inside string literals do not count.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
