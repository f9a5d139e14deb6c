//! The MCP tool `find_symbol`: its description; the question itself is
//! [`crate::queries::find_symbol`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Find where a function, method, class, struct, constant or other symbol is defined. \
     Exact name matches come first, then case-insensitive, prefix, substring and fuzzy \
     (typo-tolerant) ones. Returns file, line range, signature, kind and symbol id for each.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
