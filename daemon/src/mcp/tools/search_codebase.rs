//! The MCP tool `search_codebase`: its description; the question itself is
//! [`crate::queries::search_codebase`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Search an indexed codebase for a regular expression (or literal text), like ripgrep. \
     Returns matching lines grouped by file with line numbers, optionally with context \
     lines, each with the symbol id of the function or class it is in. Filter with \
     file_types and exclude_patterns. Paths are relative to the root. With search_mode \
     \"graph\", pattern matches symbol names instead and each matching function or class \
     comes with its callers and callees (max_results then counts symbols: default 10, at \
     most 100).";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
