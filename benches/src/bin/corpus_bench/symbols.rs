//! The `symbols` benchmark: tree-sitter parse + symbol extraction throughput per core, full
//! indexing with symbols on vs off, and `find_symbol` / `find_references` latency through
//! the daemon next to `rg -w NAME` on the same corpus; plus the universal-ctags comparison
//! table when `benches/run.sh` produced one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;
use codesaged::indexer::language;
use codesaged::symbols::{self, grammars};
use serde_json::{Value, json};

use super::{
    Args, Env, RG_SAME_FILES, Session, all_files, corpus_size, fresh_index, machine, mib, ms,
    percentile, timed,
};

/// Files over this size are indexed without symbols by default (`index.symbols_max_file_size`).
const SYMBOLS_MAX_FILE: u64 = 1 << 20;

/// Names looked up: definitions and references, rare to very common, across languages.
const NAMES: &[&str] = &[
    "spawn_blocking",
    "deserialize_any",
    "Serialize",
    "QuerySet",
    "sympify",
    "parseExpression",
    "useState",
    "Symbol",
];

/// Where the ctags comparison table is left by `benches/run.sh`.
pub fn ctags_report_path() -> PathBuf {
    super::repo_root().join("benches/.cache/ctags-recall.md")
}

/// Per language: files, bytes, time spent in parse + extraction, symbols found.
#[derive(Default)]
struct Throughput {
    files: u64,
    bytes: u64,
    time: Duration,
    symbols: u64,
}

fn parse_throughput(corpus: &Path) -> BTreeMap<&'static str, Throughput> {
    // Grammars and queries load on first use; that one-time cost is not throughput.
    for language in grammars::supported() {
        symbols::extract(language, b"");
    }
    let mut by_language: BTreeMap<&'static str, Throughput> = BTreeMap::new();
    for path in all_files(corpus) {
        let Ok(content) = std::fs::read(&path) else {
            continue;
        };
        if content.is_empty() || content.len() as u64 > SYMBOLS_MAX_FILE {
            continue;
        }
        let head = &content[..content.len().min(1024)];
        if head.contains(&0) {
            continue;
        }
        let name = path.to_string_lossy();
        let detected = language::detect(&name, head).name;
        if !grammars::has_grammar(detected) {
            continue;
        }
        let started = Instant::now();
        let Some(found) = symbols::extract(detected, &content) else {
            continue;
        };
        let spent = started.elapsed();
        let entry = by_language.entry(detected).or_default();
        entry.files += 1;
        entry.bytes += content.len() as u64;
        entry.time += spent;
        entry.symbols += found.symbols.len() as u64;
    }
    by_language
}

/// Runs the benchmark and returns its markdown section.
pub fn run(args: &Args) -> Result<String> {
    let (corpus_files_count, corpus_bytes) = corpus_size(&args.corpus);
    let corpus = args.corpus.display().to_string();
    let mut report = format!(
        "Measured {}. Corpus: {} files, {} MiB. Release build; warm page cache.\n\n",
        machine(),
        corpus_files_count,
        mib(corpus_bytes)
    );

    report.push_str(
        "### Parse + symbol extraction throughput, one core\n\n\
         Every file CodeSage parses (a grammar for its language, at most 1 MiB, not binary), \
         parsed with tree-sitter and run through the language's symbol query on one thread \
         (what each indexing worker does per file).\n\n\
         | language | files | MiB | seconds | MB/s per core | symbols |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    let throughput = parse_throughput(&args.corpus);
    let mut total = Throughput::default();
    let mut rows: Vec<(&str, &Throughput)> = throughput.iter().map(|(l, t)| (*l, t)).collect();
    rows.sort_by_key(|(_, figures)| std::cmp::Reverse(figures.bytes));
    for (language, figures) in rows {
        total.files += figures.files;
        total.bytes += figures.bytes;
        total.time += figures.time;
        total.symbols += figures.symbols;
        report.push_str(&throughput_row(language, figures));
    }
    report.push_str(&throughput_row("**all**", &total));

    report.push_str(
        "\n### Full index with symbols on vs off (same run)\n\n\
         `codesage index` of the corpus on a fresh daemon and store, `index.symbols` set \
         through `CODESAGE_INDEX__SYMBOLS`. Indexing runs in two passes: text (contents, \
         records, trigrams) and then symbols, parsed from the stored contents; \"text \
         searchable\" is when the first pass had committed the whole root.\n\n\
         | symbols | wall s | all text searchable after s | files parsed | files/s | MiB/s | store MiB | daemon RSS MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut walls = Vec::new();
    for symbols_on in [false, true] {
        let (wall, summary, status) =
            fresh_index(&corpus, "CODESAGE_INDEX__SYMBOLS", &symbols_on.to_string())?;
        let files = summary["files"].as_u64().unwrap_or(0) as f64;
        let bytes = summary["bytes"].as_u64().unwrap_or(0) as f64;
        report.push_str(&format!(
            "| {} | {:.2} | {:.2} | {} | {:.0} | {:.1} | {} | {} |\n",
            if symbols_on { "on" } else { "off" },
            wall.as_secs_f64(),
            summary["text_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
            summary["files_parsed"],
            files / wall.as_secs_f64(),
            bytes / (1024.0 * 1024.0) / wall.as_secs_f64(),
            mib(status["store_bytes"].as_u64().unwrap_or(0)),
            mib(status["rss_bytes"].as_u64().unwrap_or(0)),
        ));
        walls.push(wall.as_secs_f64());
    }
    if let [off, on] = walls[..] {
        report.push_str(&format!(
            "\nSymbols cost {:.2}× the indexing time without them.\n",
            on / off
        ));
    }

    let env = Env::new()?;
    let mut daemon = env.start_daemon()?;
    env.codesage(&["index", &corpus, "--json"])?;
    env.settled_status()?;
    let mut session = Session::open(&env)?;
    report.push_str(
        "\n### `find_symbol` and `find_references` vs `rg -w NAME`\n\n\
         Through `codesage mcp` to the daemon, 20 timed runs after one warm-up. `find_symbol` \
         ranks exact, prefix, substring and fuzzy matches of every definition name in the \
         corpus (20 listed). `find_references` finds the candidate files through the trigram \
         index, finds every whole-word occurrence and classifies each with the file's parse \
         (200 listed, all counted); `rg -w -o NAME` (10 runs, same files as CodeSage indexes) \
         only finds them. Occurrence counts should agree.\n\n\
         | name | definitions (exact) | `find_symbol` p50 / p95 ms | occurrences: CodeSage / rg | by kind | `find_references` p50 / p95 ms | `rg -w` p50 / p95 ms | rg ÷ find_references (p50) |\n\
         |---|---:|---:|---:|---|---:|---:|---:|\n",
    );
    for name in NAMES {
        let symbol_args = json!({"name": name, "codebase_path": corpus});
        session.call("find_symbol", symbol_args.clone())?;
        let mut found = Value::Null;
        let (symbol_times, _) = timed(20, || {
            found = session.call("find_symbol", symbol_args.clone())?;
            Ok(Vec::new())
        })?;
        let exact = found["symbols"].as_array().map_or(0, |list| {
            list.iter().filter(|s| s["match"] == "exact").count()
        });
        let exact_text = if found["total_matches"].as_u64().unwrap_or(0) > 20 && exact == 20 {
            "20+".to_string()
        } else {
            exact.to_string()
        };

        let reference_args = json!({"symbol": name, "codebase_path": corpus});
        session.call("find_references", reference_args.clone())?;
        let mut references = Value::Null;
        let (reference_times, _) = timed(20, || {
            references = session.call("find_references", reference_args.clone())?;
            Ok(Vec::new())
        })?;
        let run_rg = || -> Result<Vec<u8>> {
            let output = Command::new(&args.rg)
                .args(["-w", "-o", "--no-heading", "--color", "never"])
                .args(RG_SAME_FILES)
                .arg("--")
                .arg(name)
                .current_dir(&args.corpus)
                .stdin(Stdio::null())
                .output()?;
            Ok(output.stdout)
        };
        run_rg()?;
        let (rg_times, rg_output) = timed(10, run_rg)?;
        let rg_count = rg_output
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        let by_kind = references["by_kind"]
            .as_object()
            .map(|kinds| {
                kinds
                    .iter()
                    .map(|(kind, count)| format!("{kind} {count}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let p50 = |samples: &[Duration]| percentile(samples, 0.5).as_secs_f64();
        report.push_str(&format!(
            "| `{name}` | {exact_text} | {} / {} | {} / {rg_count} | {by_kind} | {} / {} | {} / {} | {:.1}× |\n",
            ms(percentile(&symbol_times, 0.5)),
            ms(percentile(&symbol_times, 0.95)),
            references["total"],
            ms(percentile(&reference_times, 0.5)),
            ms(percentile(&reference_times, 0.95)),
            ms(percentile(&rg_times, 0.5)),
            ms(percentile(&rg_times, 0.95)),
            p50(&rg_times) / p50(&reference_times),
        ));
    }

    report.push_str(
        "\n### The other structure tools on the whole corpus\n\n\
         Same daemon and session; 10 timed runs after one warm-up.\n\n\
         | call | answer | p50 / p95 ms |\n|---|---|---:|\n",
    );
    let largest_python = largest_file(&args.corpus, ".py");
    let other_calls: Vec<(String, &str, Value)> = vec![
        (
            format!(
                "`get_file_structure` of the largest .py ({})",
                relative(&args.corpus, &largest_python)
            ),
            "get_file_structure",
            json!({"file_path": largest_python.display().to_string()}),
        ),
        (
            "`analyze_function_dependencies` of every function in that file".to_string(),
            "analyze_function_dependencies",
            json!({"file_path": largest_python.display().to_string()}),
        ),
        (
            "`list_undocumented_functions` of the whole corpus".to_string(),
            "list_undocumented_functions",
            json!({"codebase_path": corpus}),
        ),
        (
            "`get_dependencies_overview` of the whole corpus".to_string(),
            "get_dependencies_overview",
            json!({"codebase_path": corpus}),
        ),
        (
            "`find_symbol` of a qualified name, `Foo::new` (every `new` checked for its \
             container)"
                .to_string(),
            "find_symbol",
            json!({"name": "Foo::new", "codebase_path": corpus}),
        ),
        (
            "`find_symbol` of a one-letter name, `a` (most names match as substrings)".to_string(),
            "find_symbol",
            json!({"name": "a", "codebase_path": corpus}),
        ),
        (
            "`search_codebase` graph mode, `^spawn_blocking$`, depth 2".to_string(),
            "search_codebase",
            json!({"codebase_path": corpus, "pattern": "^spawn_blocking$",
                   "search_mode": "graph", "context_depth": 2}),
        ),
    ];
    for (label, tool, arguments) in other_calls {
        let mut answer = session.call(tool, arguments.clone())?;
        let (times, _) = timed(10, || {
            answer = session.call(tool, arguments.clone())?;
            Ok(Vec::new())
        })?;
        report.push_str(&format!(
            "| {label} | {} | {} / {} |\n",
            summarize(tool, &answer),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
        ));
    }
    session.close()?;
    env.stop()?;
    daemon.wait()?;

    let ctags = ctags_report_path();
    if let Ok(table) = std::fs::read_to_string(&ctags) {
        report.push_str(
            "\n### Definitions vs universal-ctags on the whole corpus\n\n\
             `tests/tests/ctags_recall.rs` run on this corpus (`CODESAGE_CTAGS_CORPUS`, no byte \
             budget): function, method and class-like definitions keyed by (file, name, line). \
             Recall = share of ctags' definitions CodeSage finds; precision = share of \
             CodeSage's that ctags finds (JavaScript: ctags files arrow functions with \
             destructured parameters under `class` and object-literal functions under \
             `property`; the test maps its kinds by the tag's source line).\n\n",
        );
        report.push_str(&table);
    }
    Ok(report)
}

/// The largest file with this extension (at most 1 MiB, so it has symbols).
fn largest_file(corpus: &Path, extension: &str) -> PathBuf {
    all_files(corpus)
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(extension))
        .filter_map(|path| Some((std::fs::metadata(&path).ok()?.len(), path)))
        .filter(|(size, _)| *size <= SYMBOLS_MAX_FILE)
        .max()
        .map(|(_, path)| path)
        .unwrap_or_default()
}

fn relative(corpus: &Path, path: &Path) -> String {
    path.strip_prefix(corpus)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A few figures of a structure answer, for the table.
fn summarize(tool: &str, answer: &Value) -> String {
    let count = |key: &str| answer[key].as_array().map_or(0, Vec::len);
    match tool {
        "get_file_structure" => format!(
            "{} top-level symbols, {} imports",
            count("symbols"),
            count("imports")
        ),
        "analyze_function_dependencies" => format!("{} functions", count("functions")),
        "find_symbol" => format!(
            "{} matches, {} listed",
            answer["total_matches"],
            count("symbols")
        ),
        "list_undocumented_functions" => format!(
            "{} of {} functions undocumented",
            answer["total_undocumented"], answer["total_functions"]
        ),
        "get_dependencies_overview" => format!(
            "{} imports in {} files, {} third-party packages",
            answer["total_imports"], answer["files"], answer["third_party_package_count"]
        ),
        _ => format!(
            "{} matches, {} callers and {} callees for the first",
            answer["total_matches"],
            answer["results"][0]["callers"]
                .as_array()
                .map_or(0, Vec::len),
            answer["results"][0]["callees"]
                .as_array()
                .map_or(0, Vec::len)
        ),
    }
}

fn throughput_row(language: &str, figures: &Throughput) -> String {
    let seconds = figures.time.as_secs_f64().max(1e-9);
    format!(
        "| {language} | {} | {} | {:.2} | {:.1} | {} |\n",
        figures.files,
        mib(figures.bytes),
        seconds,
        figures.bytes as f64 / 1e6 / seconds,
        figures.symbols
    )
}
