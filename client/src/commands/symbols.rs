//! `codesage symbols FILE`: a file's outline — its definitions nested as in the code, with
//! line ranges — and `codesage def NAME`: where a name is defined, one `path:line:` row per
//! definition so editors and terminals can jump to it. Both ask the daemon, which answers
//! from the symbol index exactly as the MCP tools `get_file_structure` and `find_symbol` do.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::control::{self, Query};
use crate::target::Target;

/// What `codesage def` was asked.
pub struct DefArgs {
    /// The name.
    pub name: String,
    /// Only this kind.
    pub kind: Option<String>,
    /// Root (or directory) to search.
    pub root: Option<PathBuf>,
    /// Most definitions to print.
    pub max_results: usize,
    /// Print JSON.
    pub json: bool,
}

/// Runs `codesage symbols`; returns whether the file has any symbol.
pub fn outline(target: &Target, file: &Path, json: bool) -> Result<bool> {
    let path =
        std::path::absolute(file).with_context(|| format!("cannot resolve {}", file.display()))?;
    let answer = ask(
        target,
        "get_file_structure",
        json!({ "file_path": path, "max_results": 0 }),
    )?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        write_outline(&mut out, &answer)?;
        out.flush()?;
    }
    print_notes(&answer);
    Ok(answer["symbols"]
        .as_array()
        .is_some_and(|list| !list.is_empty()))
}

/// Runs `codesage def`; returns whether anything was found.
pub fn definitions(target: &Target, args: DefArgs) -> Result<bool> {
    let root = super::canonical_root(args.root)?;
    let cwd = std::env::current_dir().ok();
    let answer = ask(
        target,
        "find_symbol",
        json!({
            "name": args.name,
            "kind": args.kind,
            "codebase_path": root,
            "max_results": args.max_results.max(1),
        }),
    )?;
    let symbols = answer["symbols"].as_array().cloned().unwrap_or_default();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for symbol in &symbols {
            let absolute = Path::new(text(&symbol["root"])).join(text(&symbol["file_path"]));
            let shown = cwd
                .as_deref()
                .and_then(|cwd| absolute.strip_prefix(cwd).ok())
                .unwrap_or(&absolute);
            writeln!(
                out,
                "{}:{}: {} {}  {}",
                shown.display(),
                symbol["start_line"],
                text(&symbol["kind"]),
                text(&symbol["qualified_name"]),
                text(&symbol["signature"]),
            )?;
        }
        out.flush()?;
        let total = answer["total_matches"].as_u64().unwrap_or(0);
        if total > symbols.len() as u64 {
            eprintln!(
                "codesage: {} of {total} matches shown; use --max-results for more",
                symbols.len()
            );
        }
    }
    print_notes(&answer);
    Ok(!symbols.is_empty())
}

fn ask(target: &Target, name: &str, arguments: Value) -> Result<Value> {
    control::query(
        target,
        Query {
            name,
            arguments,
            command_line: true,
        },
        true,
        |_| {},
    )
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn print_notes(answer: &Value) {
    control::print_notes(answer);
}

/// Prints an outline answer: a header, the imports, then one row per symbol, indented two
/// spaces per nesting level.
fn write_outline(out: &mut impl Write, answer: &Value) -> Result<()> {
    writeln!(
        out,
        "{} ({}{})",
        text(&answer["file_path"]),
        text(&answer["language"]),
        if answer["has_syntax_errors"] == Value::Bool(true) {
            ", has syntax errors: partial outline"
        } else {
            ""
        }
    )?;
    for import in answer["imports"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  import {}  (line {})",
            text(&import["module"]),
            import["line"]
        )?;
    }
    fn rows(out: &mut impl Write, nodes: &Value, depth: usize) -> Result<()> {
        for node in nodes.as_array().into_iter().flatten() {
            writeln!(
                out,
                "{}{} {}  {}-{}{}",
                "  ".repeat(depth + 1),
                text(&node["kind"]),
                text(&node["name"]),
                node["start_line"],
                node["end_line"],
                if node["documented"] == Value::Bool(true) {
                    ""
                } else {
                    "  undocumented"
                }
            )?;
            rows(out, &node["children"], depth + 1)?;
        }
        Ok(())
    }
    rows(out, &answer["symbols"], 0)
}
