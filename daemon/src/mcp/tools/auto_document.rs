//! The MCP tool `auto_document`: its description; the question itself is
//! [`crate::queries::auto_document`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Draft doc comments in the language's convention (docstrings, \
     ///, JSDoc, Javadoc, Go comments …) for the undocumented functions of a file, or for one \
     function_name, returned as a unified diff to apply (nothing is written). An LLM writes \
     the descriptions from the file's context; without one, stubs from the signatures with \
     TODOs where descriptions go.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
