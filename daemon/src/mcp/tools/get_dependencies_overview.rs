//! The MCP tool `get_dependencies_overview`: its description; the question itself is
//! [`crate::queries::get_dependencies_overview`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Overview of what a codebase imports: per language, import statements classified as \
     internal, standard library or third-party (using Cargo.toml, pyproject.toml, \
     requirements*.txt, package.json, go.mod, pom.xml where present), the most imported \
     modules, and the third-party packages with whether a manifest declares them.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
