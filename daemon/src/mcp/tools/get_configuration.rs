//! The MCP tool `get_configuration`: its description; the question itself is
//! [`crate::queries::get_configuration`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Show CodeSage's effective configuration (profile, indexing, search and server \
     settings, file locations). API keys are masked.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
