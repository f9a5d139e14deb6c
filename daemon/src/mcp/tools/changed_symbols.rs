//! The MCP tool `changed_symbols`: its description; the question itself is
//! [`crate::queries::changed_symbols`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "List the symbols (functions, methods, classes, …) a change \
     added, modified or removed, with their line ranges: a symbol-level diff of the working \
     tree (untracked files included) or of the staged side (staged: true) against HEAD or any \
     revision (since: a branch, tag or commit). A symbol counts as modified only when its own \
     text changed, not when it merely moved.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
