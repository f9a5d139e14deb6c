//! The MCP tool `affected_callers`: its description; the question itself is
//! [`crate::queries::affected_callers`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Find who a change affects: the callers, across the codebase, \
     of every symbol the change (working tree or staged, against HEAD or since a revision) \
     modified or removed, to depth levels, ranked — calls of removed symbols and of changed \
     signatures first — with the imports and other references of removed or re-signed \
     symbols outside the change. Calls are resolved by name; names several definitions \
     share are listed in ambiguous_names.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
