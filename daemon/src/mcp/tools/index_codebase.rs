//! The MCP tool `index_codebase`: its description; the question itself is
//! [`crate::queries::index_codebase`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Index a codebase directory so it can be searched and analyzed. Respects .gitignore, \
     skips binary and very large files, and keeps the index fresh afterwards. Re-indexing \
     reads only files that changed. Returns file counts per language and the time taken.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = false;
