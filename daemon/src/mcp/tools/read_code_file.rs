//! The MCP tool `read_code_file`: its description; the question itself is
//! [`crate::queries::read_code_file`].

/// What the tool does, for the model.
pub const DESCRIPTION: &str = "Read a file from an indexed codebase with line numbers: all of it, a line range \
     (start_line/end_line), or just one function or class (symbol: a name in the file, or a \
     symbol id like src/app.py#Service.handle from get_file_structure, find_symbol or \
     search_codebase). Only files inside indexed codebases can be read.";

/// Whether the tool only reads.
pub const READ_ONLY: bool = true;
