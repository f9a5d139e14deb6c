//! The MCP tool `semantic_search_codebase`: its description; the question itself is
//! [`crate::queries::semantic_search_codebase`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Find code by what it does: a question in plain words (\"where are \
     failed HTTP requests retried?\") answered with the functions, methods, classes and file \
     sections that fit it best, best first, each with its file, line range, symbol, kind, score \
     (0-1, higher is better), a short snippet and which retrievers found it. Fuses a lexical \
     index over identifiers, a local embedding model (nothing leaves the machine) and symbol \
     names; searches only the given codebase. Use search_codebase for exact text or regexes.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
