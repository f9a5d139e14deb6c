//! The MCP tool `analyze_codebase_improvements`: its description; the question itself is
//! [`crate::queries::analyze_codebase_improvements`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "What to improve in a codebase, ranked by impact: complex, long or deeply \
     nested functions, long parameter lists, the largest clone classes, undocumented public \
     functions, TODO/FIXME density, very large files, and dependencies declared but never \
     imported or declared twice. Each finding has its location, the measured value, the \
     threshold it crossed and why it matters; totals per category.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
