//! `codesage read FILE [--start N] [--end N] [--symbol S]`: a file from an indexed codebase,
//! or the lines of one range or symbol, numbered (`read_code_file`).

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use crate::control::{self, Query};
use crate::target::Target;

/// What `codesage read` was asked.
pub struct ReadArgs<'a> {
    /// The file (or, with a symbol id, nothing).
    pub file: Option<&'a Path>,
    /// First line.
    pub start: Option<u32>,
    /// Last line.
    pub end: Option<u32>,
    /// A symbol name in the file, or a symbol id.
    pub symbol: Option<String>,
    /// Print the answer as JSON.
    pub json: bool,
}

/// Runs the command.
pub fn run(target: &Target, args: ReadArgs<'_>) -> Result<()> {
    let file = args
        .file
        .map(|file| {
            std::path::absolute(file).with_context(|| format!("cannot resolve {}", file.display()))
        })
        .transpose()?;
    let answer = control::query(
        target,
        Query {
            name: "read_code_file",
            arguments: json!({
                "file_path": file,
                "start_line": args.start,
                "end_line": args.end,
                "symbol": args.symbol,
                "max_results": 0,
            }),
            command_line: true,
        },
        true,
        |_| {},
    )?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        out!("{}", answer["content"].as_str().unwrap_or_default());
    }
    control::print_notes(&answer);
    Ok(())
}
