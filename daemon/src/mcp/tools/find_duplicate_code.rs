//! The MCP tool `find_duplicate_code`: its description; the question itself is
//! [`crate::queries::find_duplicate_code`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Find copied code in a codebase: clone classes (one per piece of code, \
     with every place it was copied to, same-file copies included), largest (lines × copies) \
     first. Each class has its kind (exact; renamed: identifiers or literals differ; near: a \
     few lines inserted or changed), similarity, line count, every copy as path:start-end and \
     a snippet. min_similarity (0-1, default 0.8) and min_lines (default 10) set the bar; \
     file_types, exclude_patterns and path (only clones touching a file or directory) narrow \
     it. Generated, minified and vendored files are left out unless include_generated is set.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
