//! The `answers` benchmark: how large every tool's default answer is on the corpus (what an
//! agent receives when it sets neither `max_results` nor `max_tokens`), in bytes, in the
//! server's token estimate, and in real tokens (cl100k and o200k through the `gpt-tokenizer`
//! npm package, and Anthropic's published tokenizer, `@anthropic-ai/tokenizer`): the check
//! that the estimate the budgets use never counts fewer tokens than the tokenizers do.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{Args, Env, Session, all_files, corpus_size, machine, mib};

/// The default answer budget the table checks against.
const BUDGET_TOKENS: u64 = 8000;

/// The node script that counts tokens of JSON lines on stdin.
const TOKENIZE: &str = r#"
import { encode as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { countTokens as claude } from '@anthropic-ai/tokenizer';
import { createInterface } from 'node:readline';
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line) continue;
  const text = JSON.parse(line);
  console.log(JSON.stringify([cl100k(text).length, o200k(text).length, claude(text)]));
}
"#;

/// Where `benches/run.sh` installs the tokenizers.
fn node_dir() -> PathBuf {
    super::repo_root().join("benches/.cache/node")
}

/// Real token counts (cl100k, o200k, Anthropic) of each text.
fn token_counts(texts: &[String]) -> Result<Vec<[u64; 3]>> {
    let dir = node_dir();
    if !dir.join("node_modules/gpt-tokenizer").is_dir() {
        bail!(
            "the tokenizers are not installed in {}; benches/run.sh installs them \
             (npm install gpt-tokenizer @anthropic-ai/tokenizer)",
            dir.display()
        );
    }
    let script = dir.join("count-tokens.mjs");
    std::fs::write(&script, TOKENIZE)?;
    let mut child = Command::new("node")
        .arg(&script)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("run node for the tokenizers")?;
    {
        let mut stdin = child.stdin.take().context("node stdin")?;
        for text in texts {
            writeln!(stdin, "{}", serde_json::to_string(text)?)?;
        }
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("the tokenizer script failed");
    }
    let counts: Vec<[u64; 3]> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    if counts.len() != texts.len() {
        bail!(
            "the tokenizer counted {} of {} texts",
            counts.len(),
            texts.len()
        );
    }
    Ok(counts)
}

/// The file under `corpus` that is largest among those with the given extension.
fn largest(files: &[PathBuf], extension: &str, limit: u64) -> Option<PathBuf> {
    files
        .iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .filter_map(|path| Some((std::fs::metadata(path).ok()?.len(), path)))
        .filter(|(size, _)| *size <= limit)
        .max_by_key(|(size, _)| *size)
        .map(|(_, path)| path.clone())
}

fn results_shown(answer: &Value) -> String {
    match &answer["truncated"] {
        Value::Null => "all".to_string(),
        truncated => format!(
            "{} of {}",
            truncated["shown"],
            truncated["total"]
                .as_u64()
                .map_or_else(|| "more".to_string(), |total| total.to_string())
        ),
    }
}

/// Runs the benchmark and returns its BENCHMARKS.md section.
pub fn run(args: &Args) -> Result<String> {
    let (corpus_files, corpus_bytes) = corpus_size(&args.corpus);
    let corpus = args.corpus.display().to_string();
    let files = all_files(&args.corpus);
    // Large files of the main languages (under the 1 MiB symbols limit), for the per-file
    // tools.
    let python = largest(&files, "py", 1 << 20).context("a Python file")?;
    let rust = largest(&files, "rs", 1 << 20).context("a Rust file")?;
    let typescript = largest(&files, "ts", 1 << 20).context("a TypeScript file")?;
    let shown = |path: &Path| {
        path.strip_prefix(&args.corpus)
            .unwrap_or(path)
            .display()
            .to_string()
    };

    let env = Env::new()?;
    let mut daemon = env.start_daemon()?;
    env.codesage(&["index", &corpus, "--json"])?;
    env.settled_status()?;
    let mut session = Session::open(&env)?;

    let cases: Vec<(&str, String, Value)> = vec![
        (
            "index_codebase",
            "already indexed".into(),
            json!({"path": corpus}),
        ),
        (
            "search_codebase",
            "`return` (123k matches)".into(),
            json!({"codebase_path": corpus, "pattern": "return"}),
        ),
        (
            "search_codebase",
            "`fn \\w+` with 2 lines of context".into(),
            json!({"codebase_path": corpus, "pattern": "fn \\w+", "context_depth": 2}),
        ),
        (
            "search_codebase",
            "graph mode, `parse` depth 2".into(),
            json!({"codebase_path": corpus, "pattern": "parse", "search_mode": "graph", "context_depth": 2}),
        ),
        (
            "read_code_file",
            format!("{} (largest .py)", shown(&python)),
            json!({"file_path": python}),
        ),
        (
            "read_code_file",
            format!("{} (largest .ts)", shown(&typescript)),
            json!({"file_path": typescript}),
        ),
        (
            "count_lines_of_code",
            "the corpus".into(),
            json!({"codebase_path": corpus}),
        ),
        (
            "get_file_structure",
            shown(&typescript),
            json!({"file_path": typescript}),
        ),
        (
            "get_file_structure",
            shown(&rust),
            json!({"file_path": rust}),
        ),
        (
            "find_symbol",
            "`new`".into(),
            json!({"name": "new", "codebase_path": corpus}),
        ),
        (
            "find_references",
            "`Symbol` (common)".into(),
            json!({"symbol": "Symbol", "codebase_path": corpus}),
        ),
        (
            "list_undocumented_functions",
            "the corpus".into(),
            json!({"codebase_path": corpus}),
        ),
        (
            "analyze_function_dependencies",
            shown(&python),
            json!({"file_path": python}),
        ),
        (
            "get_dependencies_overview",
            "the corpus".into(),
            json!({"codebase_path": corpus}),
        ),
        ("get_configuration", String::new(), json!({})),
        ("get_performance_metrics", String::new(), json!({})),
    ];
    let mut texts = Vec::new();
    let mut answers = Vec::new();
    for (tool, _, arguments) in &cases {
        let answer = session.call(tool, arguments.clone())?;
        texts.push(serde_json::to_string(&answer)?);
        answers.push(answer);
    }
    let counts = token_counts(&texts)?;
    // Kept for calibrating the estimate without re-running the daemon.
    let mut kept = String::new();
    for text in &texts {
        kept.push_str(&serde_json::to_string(text)?);
        kept.push('\n');
    }
    std::fs::write(node_dir().join("answers.jsonl"), kept)?;

    let mut report = format!(
        "Measured {}. Corpus: {} files, {} MiB. Every call sets neither `max_results` nor \
         `max_tokens`: what an agent gets by default. Answer bytes are the JSON text of \
         `structuredContent`; \"estimated\" is the server's budget measure \
         (`queries::page::estimate_tokens`: one token per 5 letters, per digit, per mark, per \
         non-ASCII byte, per 8 spaces); the real counts come from the cl100k and o200k tokenizers \
         (`gpt-tokenizer`) and Anthropic's published tokenizer (`@anthropic-ai/tokenizer`). \
         Target: no default answer over {BUDGET_TOKENS} tokens by any count.\n\n",
        machine(),
        corpus_files,
        mib(corpus_bytes),
    );
    report.push_str(
        "| tool | arguments | results shown | answer bytes | estimated tokens | cl100k | o200k | Anthropic | real ÷ estimated (largest) | within 8k |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut ratios: Vec<f64> = Vec::new();
    let mut over = 0;
    for (((tool, description, _), answer), (text, count)) in
        cases.iter().zip(&answers).zip(texts.iter().zip(&counts))
    {
        let bytes = text.len();
        let estimated = codesaged::queries::page::estimate_tokens(text.as_bytes()) as u64;
        let real = count.iter().copied().max().unwrap_or(0);
        let ratio = real as f64 / estimated.max(1) as f64;
        ratios.push(ratio);
        let largest = real.max(estimated);
        if largest > BUDGET_TOKENS {
            over += 1;
        }
        report.push_str(&format!(
            "| `{tool}` | {description} | {} | {bytes} | {estimated} | {} | {} | {} | {ratio:.2} | {} |\n",
            results_shown(answer),
            count[0],
            count[1],
            count[2],
            if largest <= BUDGET_TOKENS { "yes" } else { "**no**" }
        ));
    }
    ratios.sort_by(f64::total_cmp);
    let highest = ratios.last().copied().unwrap_or(0.0);
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
    report.push_str(&format!(
        "\nReal tokens (the largest of the three counts) ÷ estimated tokens over these \
         answers: median {median:.2}, highest {highest:.2}{}. Default answers over \
         {BUDGET_TOKENS} tokens by any count: {over}.\n",
        if highest <= 1.0 {
            " — the estimate never counted fewer tokens than a tokenizer, so a page within \
             `max_tokens` by the estimate is within it for these models too"
        } else {
            " — **the estimate counted fewer tokens than a tokenizer for some answer**"
        }
    ));
    session.close()?;
    env.stop()?;
    let _ = daemon.wait();
    Ok(report)
}
