//! The MCP tool `summarize_code_section`: its description; the question itself is
//! [`crate::queries::summarize_code_section`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Summarise a section of code (a function_name, a class_name, a \
     start_line/end_line range, or the whole file) with an LLM that is given the section's \
     context from the index: the enclosing symbol, what it calls and who calls it, the file \
     outline and the project's languages. Without a configured or reachable model it returns \
     a structural summary (signature, doc, calls, callers, complexity, side effects) and says \
     why in `llm_unavailable`.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
