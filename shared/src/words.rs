//! How messages name what the user can do next: in an MCP client's words (tool names and
//! their arguments, `index_codebase`, `codebase_path`) or in the command line's (`codesage
//! index DIR`, `--root`). Errors that suggest a next step implement [`Explain`], so the same
//! failure reads right wherever it is shown.

use std::fmt;

/// The vocabulary of the front end an answer goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Words {
    /// An MCP client (and `codesage tool`, which takes tool arguments as JSON).
    #[default]
    Mcp,
    /// The `codesage` commands.
    Cli,
}

impl Words {
    /// How to refer to tool `name`: the tool itself, or the command that asks the same.
    pub fn tool(self, name: &str) -> String {
        match self {
            Words::Mcp => name.to_string(),
            Words::Cli => {
                let command = match name {
                    "index_codebase" => "index DIR",
                    "search_codebase" => "search PATTERN",
                    "read_code_file" => "read FILE",
                    "get_file_structure" => "symbols FILE",
                    "find_symbol" => "def NAME",
                    "find_references" => "refs NAME",
                    other => return format!("`codesage tool {other}`"),
                };
                format!("`codesage {command}`")
            }
        }
    }

    /// How to refer to argument `name` (optionally with a value, as in `fixed_strings=true`).
    pub fn param(self, name: &str) -> String {
        match self {
            Words::Mcp => name.to_string(),
            Words::Cli => match name {
                "codebase_path" => "--root DIR",
                "file_types" => "-t TYPE",
                "exclude_patterns" => "-g GLOB",
                "max_results" => "--max-results",
                "max_tokens" => "--max-tokens",
                "cursor" => "--cursor",
                "fixed_strings" | "fixed_strings=true" => "-F",
                "case_sensitive" => "-i",
                "context_depth" => "-C",
                "file_path" => "FILE",
                "start_line" => "--start",
                "end_line" => "--end",
                "symbol" => "--symbol",
                "kind" => "--kind",
                other => other,
            }
            .to_string(),
        }
    }

    /// The next step when nothing is indexed yet, or a path is outside every indexed root.
    pub fn index_first(self) -> String {
        match self {
            Words::Mcp => "call index_codebase with the project directory first".to_string(),
            Words::Cli => "run `codesage index DIR` with the project directory first".to_string(),
        }
    }
}

/// An error whose message suggests a next step, worded for the front end that shows it.
pub trait Explain {
    /// The message in `words`.
    fn explain(&self, words: Words) -> String;
}

/// Writes `error` explained in MCP words, for `Display` impls and logs.
pub fn display(error: &impl Explain, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str(&error.explain(Words::Mcp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_front_end_gets_its_own_words() {
        assert_eq!(Words::Mcp.tool("index_codebase"), "index_codebase");
        assert_eq!(Words::Cli.tool("index_codebase"), "`codesage index DIR`");
        assert_eq!(
            Words::Cli.tool("get_dependencies_overview"),
            "`codesage tool get_dependencies_overview`"
        );
        assert_eq!(Words::Cli.param("codebase_path"), "--root DIR");
        assert_eq!(Words::Mcp.param("codebase_path"), "codebase_path");
        assert!(Words::Cli.index_first().contains("codesage index"));
        assert!(!Words::Cli.index_first().contains("index_codebase"));
    }
}
