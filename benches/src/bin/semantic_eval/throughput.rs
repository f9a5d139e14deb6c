//! Embedding throughput: CodeSage's candle embedder and the numpy reference forward pass
//! (`benches/semantic_eval/reference_embed.py`) on the same texts, threads and token budget,
//! one after the other in one run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use codesaged::semantic::embed::{Embedder, Priority};

use crate::Args;

/// The venv the reference runs in (created on first use).
fn reference_python(repo: &Path) -> Result<std::path::PathBuf> {
    let venv = repo.join("benches/.cache/venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()?;
        if !status.success() {
            bail!("python3 -m venv failed");
        }
    }
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(repo.join("benches/semantic_eval/requirements.txt"))
        .status()?;
    if !status.success() {
        bail!("installing the reference's requirements failed");
    }
    Ok(python)
}

/// Runs both and returns the markdown table.
pub fn run(args: &Args, embedder: &Embedder, texts: &[&str], questions: &[&str]) -> Result<String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("repository root")?;
    let tokens: usize = texts.iter().map(|text| embedder.count_tokens(text)).sum();
    // Warm up (first call allocates), then time.
    embedder.embed(&texts[..texts.len().min(32)], Priority::Background)?;
    let started = Instant::now();
    embedder.embed(texts, Priority::Background)?;
    let ours = started.elapsed().as_secs_f64();

    let scratch = tempfile::tempdir()?;
    let input = scratch.path().join("texts.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    std::fs::write(&input, lines.join("\n") + "\n")?;
    let stats = scratch.path().join("stats.json");
    let python = reference_python(repo)?;
    let threads = args.threads.to_string();
    let status = Command::new(python)
        .arg(repo.join("benches/semantic_eval/reference_embed.py"))
        .arg("--model")
        .arg(&args.model)
        .arg("--texts")
        .arg(&input)
        .args(["--batch", "32", "--sort-by-length", "--max-tokens", "128"])
        .args(["--threads", &threads])
        .arg("--json-stats")
        .arg(&stats)
        .env("OMP_NUM_THREADS", &threads)
        .env("OPENBLAS_NUM_THREADS", &threads)
        .env("MKL_NUM_THREADS", &threads)
        .status()?;
    if !status.success() {
        bail!("the reference embedder failed");
    }
    let reference: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats)?)?;
    let reference_tps = reference["tokens_per_s"].as_f64().unwrap_or(0.0);
    let reference_tokens = reference["tokens"].as_u64().unwrap_or(0);
    let ours_tps = tokens as f64 / ours;
    // One question at a time, as a query embeds it.
    let mut single = Vec::with_capacity(questions.len());
    for question in questions {
        let started = Instant::now();
        embedder.embed(&[question], Priority::Foreground)?;
        single.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    single.sort_by(f64::total_cmp);
    let at = |quantile: f64| single[((single.len() - 1) as f64 * quantile).round() as usize];
    Ok(format!(
        "### Embedding throughput\n\n{} chunk texts from the eval pools ({} tokens by our count, \
         {} by the reference's), truncated to 128 tokens, batches of 32 sorted by length, {} \
         threads each, run one after the other.\n\n| embedder | seconds | tokens/s | ratio |\n|---|---|---|---|\n\
         | numpy reference forward pass (`reference_embed.py`, numpy {}) | {:.2} | {:.0} | 1.00× |\n\
         | CodeSage (candle, f32, CPU) | {:.2} | {:.0} | {:.2}× |\n\nTarget: ≥ 1.5× the reference. \
         One question embedded alone (as a query does, {} eval questions): p50 {:.1} ms, p95 \
         {:.1} ms.\n\n",
        texts.len(),
        tokens,
        reference_tokens,
        args.threads,
        reference["numpy"].as_str().unwrap_or("?"),
        reference["seconds"].as_f64().unwrap_or(0.0),
        reference_tps,
        ours,
        ours_tps,
        ours_tps / reference_tps.max(1e-9),
        single.len(),
        at(0.5),
        at(0.95),
    ))
}
