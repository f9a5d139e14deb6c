//! The MCP tool `resolve_todo_fixme`: its description; the question itself is
//! [`crate::queries::resolve_todo_fixme`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Propose a resolution for a TODO, FIXME, HACK or XXX comment \
     (the one at or near `line` in file_path, or the file's first): an LLM is given the \
     function holding it with that function's context from the index. Without a model, the \
     marker with its function's structural summary and the other markers around it.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
