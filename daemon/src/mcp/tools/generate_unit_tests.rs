//! The MCP tool `generate_unit_tests`: its description; the question itself is
//! [`crate::queries::generate_unit_tests`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Write unit tests for one function (function_name in file_path) \
     in the project's own test framework, detected from its manifests (pytest, unittest, cargo \
     test, jest, vitest, go test, JUnit …), using the function's context from the index. \
     Returned as text with a suggested path; nothing is written to disk. Without a model, a \
     test skeleton from the signature.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
