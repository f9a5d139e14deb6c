//! `codesage search PATTERN`: exact search through the daemon, printed like
//! `rg -n --no-heading` (`path:line:text`, context lines as `path-line-text`, `--` between
//! separate groups) so the output can be compared with ripgrep's line for line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use codesage_shared::protocol::FileMatches;
use serde_json::json;

use crate::control::{self, Query};
use crate::target::Target;

/// What `codesage search` was asked.
pub struct SearchArgs {
    /// Pattern.
    pub pattern: String,
    /// Root or directory inside one.
    pub root: Option<PathBuf>,
    /// Case-insensitive.
    pub ignore_case: bool,
    /// Literal pattern.
    pub fixed_strings: bool,
    /// Extensions or languages.
    pub file_types: Vec<String>,
    /// Exclude globs.
    pub excludes: Vec<String>,
    /// Context lines.
    pub context: usize,
    /// Result cap (0 = all).
    pub max_results: Option<usize>,
    /// Token budget of the answer.
    pub max_tokens: Option<usize>,
    /// Where to continue.
    pub cursor: Option<String>,
    /// Print JSON.
    pub json: bool,
}

/// Runs the command; returns whether anything matched.
pub fn run(target: &Target, args: SearchArgs) -> Result<bool> {
    let root = super::canonical_root(args.root)?;
    let answer = control::query_text(
        target,
        Query {
            name: "search_codebase",
            arguments: json!({
                "codebase_path": root,
                "pattern": args.pattern,
                "case_sensitive": !args.ignore_case,
                "fixed_strings": args.fixed_strings,
                "file_types": args.file_types,
                "exclude_patterns": args.excludes,
                "context_depth": args.context,
                "max_results": args.max_results,
                "max_tokens": args.max_tokens,
                "cursor": args.cursor,
            }),
            command_line: true,
        },
        true,
        |_| {},
    )?;
    if args.json {
        let value: serde_json::Value =
            serde_json::from_str(&answer).context("unexpected answer from the daemon")?;
        outln!("{}", serde_json::to_string_pretty(&value)?);
    }
    let found: Found =
        serde_json::from_str(&answer).context("unexpected answer from the daemon")?;
    if !args.json {
        print_rows(&found.results)?;
    }
    for note in &found.notes {
        eprintln!("codesage: {note}");
    }
    if let Some(cursor) = &found.cursor {
        eprintln!("codesage: more results: add --cursor {cursor}");
    }
    Ok(found.results.iter().any(|file| !file.matches.is_empty()))
}

/// The parts of a search answer the rows need.
#[derive(serde::Deserialize)]
struct Found {
    results: Vec<FileMatches>,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    cursor: Option<String>,
}

fn print_rows(files: &[FileMatches]) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut first_group = true;
    // Groups are separated by `--` only when context was asked for, as ripgrep does.
    let separate_groups = has_context(files);
    for file in files {
        // Line number → (text, is a match), merging overlapping context.
        let mut lines: BTreeMap<u64, (&str, bool)> = BTreeMap::new();
        for found in &file.matches {
            let number = found.line_number;
            for (offset, text) in found.context_before.iter().rev().enumerate() {
                let line = number - 1 - offset as u64;
                lines.entry(line).or_insert((text, false));
            }
            lines.insert(number, (&found.line_content, true));
            for (offset, text) in found.context_after.iter().enumerate() {
                lines
                    .entry(number + 1 + offset as u64)
                    .or_insert((text, false));
            }
        }
        let mut previous: Option<u64> = None;
        for (number, (text, is_match)) in lines {
            let gap = previous.is_none_or(|previous| number > previous + 1);
            if gap && !first_group && separate_groups {
                writeln!(out, "--")?;
            }
            first_group = false;
            let separator = if is_match { ':' } else { '-' };
            writeln!(
                out,
                "{}{separator}{number}{separator}{text}",
                file.file_path
            )?;
            previous = Some(number);
        }
    }
    out.flush()?;
    Ok(())
}

fn has_context(files: &[FileMatches]) -> bool {
    files.iter().any(|file| {
        file.matches
            .iter()
            .any(|found| !found.context_before.is_empty() || !found.context_after.is_empty())
    })
}
