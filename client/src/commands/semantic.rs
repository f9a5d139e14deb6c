//! `codesage search --semantic "QUESTION"`: semantic search through the daemon, one hit per
//! line as `path:start-end  symbol  score`, best first.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use crate::control::{self, Query};
use crate::target::Target;

/// What `codesage search --semantic` was asked.
pub struct SemanticArgs {
    /// The question.
    pub query: String,
    /// Root or directory inside one.
    pub root: Option<PathBuf>,
    /// Extensions or languages.
    pub file_types: Vec<String>,
    /// Exclude globs.
    pub excludes: Vec<String>,
    /// How many hits.
    pub top_k: Option<usize>,
    /// Print JSON.
    pub json: bool,
}

/// Runs the command; returns whether anything was found.
pub fn run(target: &Target, args: SemanticArgs) -> Result<bool> {
    let root = super::canonical_root(args.root)?;
    let answer = control::query_text(
        target,
        Query {
            name: "semantic_search_codebase",
            arguments: json!({
                "codebase_path": root,
                "query": args.query,
                "top_k": args.top_k,
                "file_types": args.file_types,
                "exclude_patterns": args.excludes,
            }),
            command_line: true,
        },
        true,
        |_| {},
    )?;
    let value: serde_json::Value =
        serde_json::from_str(&answer).context("unexpected answer from the daemon")?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&value)?);
    }
    let found: Found =
        serde_json::from_value(value).context("unexpected answer from the daemon")?;
    if !args.json {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for hit in &found.results {
            writeln!(
                out,
                "{}:{}-{}  {}  {:.4}",
                hit.file_path,
                hit.start_line,
                hit.end_line,
                hit.symbol.as_deref().unwrap_or(&hit.kind),
                hit.score
            )?;
        }
        out.flush()?;
    }
    for note in &found.notes {
        eprintln!("codesage: {note}");
    }
    eprintln!(
        "codesage: {} search; embedded: {}",
        found.mode, found.embedded
    );
    Ok(!found.results.is_empty())
}

#[derive(serde::Deserialize)]
struct Found {
    results: Vec<Hit>,
    mode: String,
    embedded: String,
    #[serde(default)]
    notes: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Hit {
    file_path: String,
    start_line: u32,
    end_line: u32,
    #[serde(default)]
    symbol: Option<String>,
    kind: String,
    score: f64,
}
