//! `codesage search PATTERN`: exact search through the daemon, printed like
//! `rg -n --no-heading` (`path:line:text`, context lines as `path-line-text`, `--` between
//! separate groups) so the output can be compared with ripgrep's line for line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use codesage_shared::protocol::{ControlEvent, ControlRequest, SearchParams, SearchReport};

use crate::control;
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
    /// Print JSON.
    pub json: bool,
}

/// Runs the command; returns whether anything matched.
pub fn run(target: &Target, args: SearchArgs) -> Result<bool> {
    let root = match args.root {
        Some(root) => Some(
            root.canonicalize()
                .with_context(|| format!("cannot search {}", root.display()))?,
        ),
        None => Some(std::env::current_dir().context("cannot read the current directory")?),
    };
    let params = SearchParams {
        root,
        pattern: args.pattern,
        case_sensitive: !args.ignore_case,
        fixed_strings: args.fixed_strings,
        file_types: args.file_types,
        exclude_patterns: args.excludes,
        context_lines: args.context,
        max_results: args.max_results,
        unbounded: true,
    };
    let report = match control::request(target, &ControlRequest::Search(params), true, |_| {})? {
        ControlEvent::Search(report) => report,
        ControlEvent::Error { message } => bail!(message),
        other => bail!("unexpected answer from the daemon: {other:?}"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_rows(&report)?;
    }
    for note in &report.notes {
        eprintln!("codesage: {note}");
    }
    Ok(report.total_matches > 0)
}

fn print_rows(report: &SearchReport) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut first_group = true;
    // Groups are separated by `--` only when context was asked for, as ripgrep does.
    let separate_groups = has_context(report);
    for file in &report.files {
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

fn has_context(report: &SearchReport) -> bool {
    report.files.iter().any(|file| {
        file.matches
            .iter()
            .any(|found| !found.context_before.is_empty() || !found.context_after.is_empty())
    })
}
