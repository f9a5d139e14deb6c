//! `codesage refs NAME`: every whole-word occurrence of a name (or of the symbol an id
//! names), one `path:line:column: kind  text` row each, classified as `find_references`
//! does.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::{Value, json};

use crate::control::{self, Query};
use crate::target::Target;

/// What `codesage refs` was asked.
pub struct RefsArgs {
    /// The name or symbol id.
    pub name: String,
    /// Root (or directory) to search.
    pub root: Option<PathBuf>,
    /// Most occurrences to print (0: all).
    pub max_results: Option<usize>,
    /// Print JSON.
    pub json: bool,
}

/// Runs the command; returns whether anything was found.
pub fn run(target: &Target, args: RefsArgs) -> Result<bool> {
    let root = super::canonical_root(args.root)?;
    let answer = control::query(
        target,
        Query {
            name: "find_references",
            arguments: json!({
                "symbol": args.name,
                "codebase_path": root,
                "max_results": args.max_results,
            }),
            command_line: true,
        },
        true,
        |_| {},
    )?;
    let references = answer["references"].as_array().cloned().unwrap_or_default();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let cwd = std::env::current_dir().ok();
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        for reference in &references {
            let absolute = Path::new(&text(&reference["root"])).join(text(&reference["file_path"]));
            let shown = cwd
                .as_deref()
                .and_then(|cwd| absolute.strip_prefix(cwd).ok())
                .unwrap_or(&absolute);
            let inside = reference["enclosing"]
                .as_str()
                .map_or_else(String::new, |name| format!(" in {name}"));
            writeln!(
                out,
                "{}:{}:{}: {}{inside}  {}",
                shown.display(),
                reference["line"],
                reference["column"],
                text(&reference["kind"]),
                text(&reference["line_content"]),
            )?;
        }
        out.flush()?;
    }
    control::print_notes(&answer);
    Ok(!references.is_empty())
}
