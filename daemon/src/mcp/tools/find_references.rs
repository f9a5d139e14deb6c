//! The MCP tool `find_references`: its description; the question itself is
//! [`crate::queries::find_references`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Find every occurrence of a symbol name (or of the symbol a symbol id names) as a \
     whole word, each classified as definition, call, import or other, with the function or \
     class it appears in. Use it to see who calls a function or uses a type before changing \
     it.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
