//! `codesage dups`: the clone classes of a codebase for people, largest first: one header
//! line per class (`kind  lines × copies  similarity`) and one `path:start-end` line per
//! copy, as `find_duplicate_code` finds them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;

use crate::control::{self, Query};
use crate::target::Target;

/// What `codesage dups` was asked.
pub struct DupsArgs {
    /// Root (or directory inside one).
    pub root: Option<PathBuf>,
    /// Shortest clone, in lines.
    pub min_lines: Option<u32>,
    /// Least similarity.
    pub min_similarity: Option<f64>,
    /// Only files of these types.
    pub types: Vec<String>,
    /// Leave out files matching these globs.
    pub globs: Vec<String>,
    /// Compare generated, minified and vendored files too.
    pub include_generated: bool,
    /// Most classes to print (0: all).
    pub max_results: Option<usize>,
    /// Most copies listed per class (0: all).
    pub max_copies: Option<usize>,
    /// Print JSON.
    pub json: bool,
}

/// Runs the command; returns whether any clone was found.
pub fn run(target: &Target, args: DupsArgs) -> Result<bool> {
    let root = super::canonical_root(args.root)?;
    let answer = control::query(
        target,
        Query {
            name: "find_duplicate_code",
            arguments: json!({
                "codebase_path": root,
                "min_lines": args.min_lines,
                "min_similarity": args.min_similarity,
                "file_types": (!args.types.is_empty()).then_some(&args.types),
                "exclude_patterns": (!args.globs.is_empty()).then_some(&args.globs),
                "include_generated": args.include_generated,
                "max_results": args.max_results,
                "max_copies": args.max_copies,
            }),
            command_line: true,
        },
        true,
        |_| {},
    )?;
    let classes = answer["clone_classes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for (number, class) in classes.iter().enumerate() {
            if number > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "{}  {} lines × {} copies  similarity {}",
                class["kind"].as_str().unwrap_or(""),
                class["lines"],
                class["copies"],
                class["similarity"],
            )?;
            for place in class["occurrences"].as_array().into_iter().flatten() {
                writeln!(out, "  {}", place.as_str().unwrap_or(""))?;
            }
            if let Some(unlisted) = class["unlisted_copies"].as_u64() {
                writeln!(
                    out,
                    "  … and {unlisted} more (--max-copies 0 lists them, or narrow with --root DIR)"
                )?;
            }
        }
        out.flush()?;
    }
    control::print_notes(&answer);
    Ok(!classes.is_empty())
}
