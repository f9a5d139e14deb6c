//! The MCP tool `analyze_function_dependencies`: its description; the question itself is
//! [`crate::queries::analyze_function_dependencies`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "What a function calls: its callees split into same-file, same-project (with where \
     they are defined) and external (standard library, dependencies, built-ins), plus its \
     length, number of branches and cyclomatic complexity. Without function_name, every \
     function and method of the file is analysed.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
