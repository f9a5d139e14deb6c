//! `codesage review`: the pre-commit review of a change for people (and hooks): one line per
//! finding (`path:line: severity category  why`, related places indented below), a summary,
//! and an exit status a git hook can use — 1 when the review has a warning (or, with
//! `--fail-on info`, any finding), 0 otherwise, 2 on errors.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;

use crate::control::{self, Query};
use crate::target::Target;

/// Which findings fail the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Any warning (the default).
    Warning,
    /// Any finding at all.
    Info,
    /// Nothing: always exit 0 when the review ran.
    Never,
}

/// What `codesage review` was asked.
pub struct ReviewArgs {
    /// Root (or directory inside one).
    pub root: Option<PathBuf>,
    /// Revision compared with.
    pub since: Option<String>,
    /// Review the staged side.
    pub staged: bool,
    /// Which findings fail the review.
    pub fail_on: FailOn,
    /// Print JSON.
    pub json: bool,
}

/// Runs the command; returns whether the review passed.
pub fn run(target: &Target, args: ReviewArgs) -> Result<bool> {
    let root = super::canonical_root(args.root)?;
    let answer = control::query(
        target,
        Query {
            name: "review_changes",
            arguments: json!({
                "codebase_path": root,
                "since": args.since,
                "staged": args.staged,
                "max_results": 0,
            }),
            command_line: true,
        },
        true,
        |_| {},
    )?;
    let findings = answer["findings"].as_array().cloned().unwrap_or_default();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for finding in &findings {
            writeln!(
                out,
                "{}:{}: {} {}  {}",
                finding["file_path"].as_str().unwrap_or(""),
                finding["line"],
                finding["severity"].as_str().unwrap_or(""),
                finding["category"].as_str().unwrap_or(""),
                finding["why"].as_str().unwrap_or(""),
            )?;
            for related in finding["related"].as_array().into_iter().flatten() {
                writeln!(out, "    {}", related.as_str().unwrap_or(""))?;
            }
        }
        let count = |key: &str| answer["symbols"][key].as_u64().unwrap_or(0);
        let severity = |key: &str| answer["by_severity"][key].as_u64().unwrap_or(0);
        writeln!(
            out,
            "{} since {}: {} files, {} symbols added, {} modified, {} removed; {} warnings, {} notes",
            answer["verdict"].as_str().unwrap_or(""),
            answer["base"]["since"].as_str().unwrap_or("HEAD"),
            answer["files"].as_array().map_or(0, Vec::len),
            count("added"),
            count("modified"),
            count("removed"),
            severity("warning"),
            severity("info"),
        )?;
        out.flush()?;
    }
    control::print_notes(&answer);
    let failing = |finding: &serde_json::Value| match args.fail_on {
        FailOn::Warning => finding["severity"] == "warning",
        FailOn::Info => true,
        FailOn::Never => false,
    };
    Ok(!findings.iter().any(failing))
}
