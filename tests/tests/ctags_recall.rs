//! Definitions found by CodeSage's tree-sitter extraction, compared with universal-ctags on
//! real code from the package registries: function, method and class-like definitions
//! (name, file, line) of Python, Rust, JavaScript and C. Recall (share of ctags' definitions
//! CodeSage also finds) must be at least 95% per language; precision (share of CodeSage's
//! that ctags also finds) is reported and held above a floor per language.
//!
//! The corpus is what the test set-up already fetched from the registries, sampled by a hash
//! of each path up to a byte budget per language: the crates.io sources of the workspace's
//! dependencies (Rust, and C from crates that vendor a C library), the PyPI packages in
//! `.venv` (the MCP SDK and its dependencies), and the npm registry packages bundled with
//! npm. `CODESAGE_CTAGS_CORPUS=dir[:dir…]` compares on other directories instead (the
//! benchmark runs it on the full benchmark corpus), `CODESAGE_CTAGS_MAX_BYTES` sets the
//! budget (0: everything) and `CODESAGE_CTAGS_REPORT=file` writes the table as markdown.
//!
//! universal-ctags comes from the OS packages (`apt-get install universal-ctags`); `.ci/run`
//! installs it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use codesage_e2e::{python_with_sdk, repo_root};
use codesaged::indexer::language;
use codesaged::symbols;
use serde_json::Value;

/// Languages compared, and the ctags and CodeSage kinds that are "definitions" in each.
/// The last figure is the precision floor: JavaScript's is lower because ctags does not count
/// functions it cannot classify (it files `const f = ({ a }) => …` under `class`, and
/// `{ key: () => … }` under `property`), which CodeSage does find.
const LANGUAGES: &[(&str, &[&str], &[&str], f64)] = &[
    (
        "Python",
        &["class", "function", "member"],
        &["class", "function", "method"],
        0.95,
    ),
    (
        "Rust",
        &["function", "method", "struct", "enum", "interface"],
        &["function", "method", "struct", "enum", "trait"],
        0.95,
    ),
    (
        "JavaScript",
        &[
            "function",
            "class",
            "method",
            "generator",
            "getter",
            "setter",
        ],
        &["function", "class", "method"],
        0.75,
    ),
    (
        "C",
        &["function", "struct", "union", "enum"],
        &["function", "struct", "enum"],
        0.95,
    ),
];

/// Bytes of source per language by default: enough for thousands of definitions, small
/// enough for a debug-build test run.
const DEFAULT_BUDGET: u64 = 3 << 20;
/// Larger files are left out (generated code; also CodeSage's default symbol size limit).
const MAX_FILE: u64 = 1 << 20;

const RECALL_FLOOR: f64 = 0.95;

type Key = (String, String, u32);

fn ctags_available() -> bool {
    Command::new("ctags")
        .arg("--version")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("Universal Ctags"))
}

/// The default corpus: registry sources the test set-up already has.
fn default_corpus() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let metadata = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(repo_root())
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo metadata");
    assert!(metadata.status.success(), "cargo metadata failed");
    let metadata: Value = serde_json::from_slice(&metadata.stdout).expect("cargo metadata JSON");
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let from_registry = package["source"]
            .as_str()
            .is_some_and(|source| source.starts_with("registry+"));
        // Generated code: Windows API bindings and tree-sitter grammar tables.
        let generated = name.starts_with("windows")
            || name.starts_with("winapi")
            || name.starts_with("tree-sitter-");
        if from_registry
            && !generated
            && let Some(dir) = package["manifest_path"]
                .as_str()
                .and_then(|p| Path::new(p).parent())
        {
            dirs.push(dir.to_path_buf());
        }
    }
    let python = python_with_sdk();
    let venv = python
        .parent()
        .and_then(Path::parent)
        .expect("venv directory");
    for lib in std::fs::read_dir(venv.join("lib"))
        .expect("venv lib")
        .flatten()
    {
        dirs.push(lib.path().join("site-packages"));
    }
    let npm_root = Command::new("npm")
        .args(["root", "-g"])
        .stderr(Stdio::null())
        .output()
        .expect("npm is needed for this test (it is on every CI machine)");
    let npm_root = String::from_utf8_lossy(&npm_root.stdout).trim().to_string();
    dirs.push(Path::new(&npm_root).join("npm/node_modules"));
    dirs
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            walk(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// Files per language, sampled by path hash up to `budget` bytes each (0: all).
fn sample(dirs: &[PathBuf], budget: u64) -> BTreeMap<&'static str, Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in dirs {
        walk(dir, &mut files);
    }
    let mut keyed: Vec<([u8; 32], PathBuf, &'static str, u64)> = Vec::new();
    for path in files {
        let name = path.to_string_lossy().to_string();
        if name.ends_with(".min.js") {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.len() == 0 || meta.len() > MAX_FILE {
            continue;
        }
        let Ok(content) = std::fs::read(&path) else {
            continue;
        };
        let detected = language::detect(&name, &content[..content.len().min(1024)]).name;
        let wanted = LANGUAGES.iter().any(|(language, _, _, _)| *language == detected)
            // C headers are C or C++; compare C on .c files only.
            && (detected != "C" || name.ends_with(".c"));
        if !wanted {
            continue;
        }
        // The hash of the path below its package directory keeps the sample stable.
        let tail: Vec<&str> = name.rsplit('/').take(4).collect();
        keyed.push((
            *blake3::hash(tail.join("/").as_bytes()).as_bytes(),
            path,
            detected,
            meta.len(),
        ));
    }
    keyed.sort();
    let mut chosen: BTreeMap<&'static str, Vec<PathBuf>> = BTreeMap::new();
    let mut used: HashMap<&'static str, u64> = HashMap::new();
    for (_, path, language, size) in keyed {
        let spent = used.entry(language).or_insert(0);
        if budget > 0 && *spent >= budget {
            continue;
        }
        *spent += size;
        chosen.entry(language).or_default().push(path);
    }
    chosen
}

/// Whether a JavaScript tag of ctags is a function or class definition. ctags' JavaScript
/// kinds do not say it alone: it files `const f = () => …` under `constant`, and an object
/// literal assigned to a name under `class`. The tag's source line settles it.
fn javascript_definition(kind: &str, pattern: &str) -> bool {
    let function_value = regex_lite_match(pattern);
    match kind {
        "function" | "method" | "generator" | "getter" | "setter" => true,
        "class" => pattern.contains("class "),
        "constant" | "variable" => function_value,
        _ => false,
    }
}

/// `= function`, `= async function`, `= (…) =>` or `= x =>` on the tag's line.
fn regex_lite_match(pattern: &str) -> bool {
    let Some((_, value)) = pattern.split_once('=') else {
        return false;
    };
    let value = value.trim_start();
    let value = value.strip_prefix("async").map_or(value, str::trim_start);
    if value.starts_with("function") {
        return true;
    }
    if value.starts_with('(') {
        return value.contains("=>");
    }
    let ident: String = value
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
        .collect();
    !ident.is_empty() && value[ident.len()..].trim_start().starts_with("=>")
}

fn ctags_definitions(language: &str, files: &[PathBuf], kinds: &[&str]) -> BTreeSet<Key> {
    let mut list = tempfile::NamedTempFile::new().expect("file list");
    for file in files {
        writeln!(list, "{}", file.display()).expect("write file list");
    }
    let output = Command::new("ctags")
        .args(["--output-format=json", "--fields=+nK", "-f", "-", "-L"])
        .arg(list.path())
        .stderr(Stdio::null())
        .output()
        .expect("run ctags");
    assert!(output.status.success(), "ctags failed");
    let mut found = BTreeSet::new();
    for line in output.stdout.split(|&byte| byte == b'\n') {
        let Ok(tag) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let kind = tag["kind"].as_str().unwrap_or_default();
        let name = tag["name"].as_str().unwrap_or_default();
        let pattern = tag["pattern"].as_str().unwrap_or_default();
        // ctags names anonymous definitions itself; they have no name to look up.
        if name.starts_with("__anon") || name.starts_with("Anonymous") {
            continue;
        }
        let definition = if language == "JavaScript" {
            javascript_definition(kind, pattern)
        } else {
            kinds.contains(&kind)
        };
        if !definition {
            continue;
        }
        found.insert((
            tag["path"].as_str().unwrap_or_default().to_string(),
            name.to_string(),
            tag["line"].as_u64().unwrap_or(0) as u32,
        ));
    }
    found
}

fn codesage_definitions(
    language: &'static str,
    files: &[PathBuf],
    kinds: &[&str],
) -> BTreeSet<Key> {
    let mut found = BTreeSet::new();
    for file in files {
        let content = std::fs::read(file).expect("read corpus file");
        let Some(symbols) = symbols::extract(language, &content) else {
            continue;
        };
        for symbol in &symbols.symbols {
            if kinds.contains(&symbol.kind.as_str()) {
                // ctags drops the `#` of JavaScript private names.
                let name = symbol.name.strip_prefix('#').unwrap_or(&symbol.name);
                found.insert((
                    file.display().to_string(),
                    name.to_string(),
                    symbol.name_line,
                ));
            }
        }
    }
    found
}

#[test]
fn definitions_match_universal_ctags_on_registry_code() {
    assert!(
        ctags_available(),
        "universal-ctags is needed for this test: apt-get install universal-ctags (.ci/run \
         installs it)"
    );
    let dirs: Vec<PathBuf> = match std::env::var("CODESAGE_CTAGS_CORPUS") {
        Ok(dirs) => dirs.split(':').map(PathBuf::from).collect(),
        Err(_) => default_corpus(),
    };
    let budget = std::env::var("CODESAGE_CTAGS_MAX_BYTES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_BUDGET);
    let corpus = sample(&dirs, budget);

    let mut table = String::from(
        "| language | files | MiB | ctags definitions | CodeSage definitions | both | recall | precision |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut failures = Vec::new();
    for (language, ctags_kinds, our_kinds, precision_floor) in LANGUAGES {
        let files = corpus.get(language).cloned().unwrap_or_default();
        let bytes: u64 = files
            .iter()
            .filter_map(|file| std::fs::metadata(file).ok())
            .map(|meta| meta.len())
            .sum();
        let theirs = ctags_definitions(language, &files, ctags_kinds);
        let ours = codesage_definitions(language, &files, our_kinds);
        let both = theirs.intersection(&ours).count();
        let recall = both as f64 / theirs.len().max(1) as f64;
        let precision = both as f64 / ours.len().max(1) as f64;
        writeln!(
            table,
            "| {language} | {} | {:.1} | {} | {} | {both} | {:.1}% | {:.1}% |",
            files.len(),
            bytes as f64 / (1 << 20) as f64,
            theirs.len(),
            ours.len(),
            recall * 100.0,
            precision * 100.0
        )
        .expect("format");
        // `CODESAGE_CTAGS_SHOW=N` lists more differences when investigating.
        let show = std::env::var("CODESAGE_CTAGS_SHOW")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(8);
        let missed: Vec<&Key> = theirs.difference(&ours).take(show).collect();
        let extra: Vec<&Key> = ours.difference(&theirs).take(show).collect();
        eprintln!("{language}: missed e.g. {missed:#?}\nnot in ctags e.g. {extra:#?}");
        if theirs.len() < 200 {
            failures.push(format!(
                "{language}: only {} ctags definitions in the corpus; the comparison needs \
                 more code",
                theirs.len()
            ));
        }
        if recall < RECALL_FLOOR {
            failures.push(format!("{language}: recall {:.1}% < 95%", recall * 100.0));
        }
        if precision < *precision_floor {
            failures.push(format!(
                "{language}: precision {:.1}% < {:.0}%",
                precision * 100.0,
                precision_floor * 100.0
            ));
        }
    }
    println!("{table}");
    if let Ok(report) = std::env::var("CODESAGE_CTAGS_REPORT") {
        std::fs::write(&report, &table).expect("write the report");
    }
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}
