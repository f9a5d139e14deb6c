//! The corpus benchmark driver: runs the real `codesaged` and `codesage` (release builds) on
//! the corpus assembled by `benches/corpus.py`, side by side with the tools a user would
//! otherwise run, and writes the results as tables into `BENCHMARKS.md`.
//!
//! Usage (normally through `benches/run.sh`):
//!   corpus-bench foundation [--corpus DIR] [--out BENCHMARKS.md] [--rg PATH]
//!
//! Each benchmark owns one section of `BENCHMARKS.md`, between `<!-- BEGIN name -->` and
//! `<!-- END name -->`; running it rewrites only that section.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

struct Args {
    benchmark: String,
    corpus: PathBuf,
    out: PathBuf,
    rg: PathBuf,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf()
}

fn parse_args() -> Result<Args> {
    let mut args = std::env::args().skip(1);
    let benchmark = args
        .next()
        .context("usage: corpus-bench <foundation> [--corpus DIR] [--out FILE] [--rg PATH]")?;
    let mut parsed = Args {
        benchmark,
        corpus: repo_root().join("benches/.corpus"),
        out: repo_root().join("BENCHMARKS.md"),
        rg: repo_root().join("benches/.cache/bin/rg"),
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--corpus" => parsed.corpus = PathBuf::from(value),
            "--out" => parsed.out = PathBuf::from(value),
            "--rg" => parsed.rg = PathBuf::from(value),
            other => bail!("unknown option {other}"),
        }
    }
    if !parsed.corpus.is_dir() {
        bail!(
            "no corpus at {}; assemble it with `python3 benches/corpus.py`",
            parsed.corpus.display()
        );
    }
    parsed.corpus = parsed.corpus.canonicalize()?;
    Ok(parsed)
}

/// Release binaries beside this driver.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("driver path");
    exe.with_file_name(name)
}

/// An isolated daemon environment in a temporary directory.
struct Env {
    dir: tempfile::TempDir,
    socket: PathBuf,
    data_dir: PathBuf,
}

impl Env {
    fn new() -> Result<Env> {
        let dir = tempfile::Builder::new().prefix("csb").tempdir_in("/tmp")?;
        Ok(Env {
            socket: dir.path().join("s.sock"),
            data_dir: dir.path().join("data"),
            dir,
        })
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("CODESAGE_SOCKET", &self.socket)
            .env("CODESAGE_DATA_DIR", &self.data_dir)
            .env("CODESAGE_CONFIG", self.dir.path().join("none.toml"))
            .env("CODESAGE_ENV_FILE", self.dir.path().join("none.env"))
            .env("CODESAGE_DAEMON_BIN", binary("codesaged"))
            .env("RUST_LOG", "warn");
        command
    }

    fn codesage(&self, args: &[&str]) -> Result<std::process::Output> {
        let output = self
            .command(&binary("codesage"))
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() && args[0] != "stop" {
            bail!(
                "codesage {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(output)
    }

    fn start_daemon(&self) -> Result<Child> {
        let child = self
            .command(&binary("codesaged"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.socket.exists() {
            if Instant::now() > deadline {
                bail!("daemon did not start");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(child)
    }

    fn stop(&self) -> Result<()> {
        self.codesage(&["stop"])?;
        Ok(())
    }

    fn status(&self) -> Result<Value> {
        Ok(serde_json::from_slice(
            &self.codesage(&["status", "--json"])?.stdout,
        )?)
    }
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#;

/// Spawns `command`, writes the initialize line, and times until the first line comes back.
fn time_first_answer(mut command: Command) -> Result<Duration> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    writeln!(stdin, "{INITIALIZE}")?;
    stdin.flush()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let elapsed = started.elapsed();
    if !line.contains("\"id\":1") {
        bail!("unexpected first line: {line}");
    }
    drop(stdin);
    child.wait()?;
    Ok(elapsed)
}

fn percentile(samples: &[Duration], quantile: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
    sorted[index]
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{date}; {cores} cores ({cpu}); release build")
}

fn corpus_size(root: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files += 1;
                bytes += entry.metadata().map_or(0, |meta| meta.len());
            }
        }
    }
    (files, bytes)
}

/// Times `rg` scanning the whole corpus for a string that does not occur (a full read).
fn rg_full_scan(rg: &Path, corpus: &Path, runs: usize) -> Result<Duration> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let status = Command::new(rg)
            .args(["-c", "--no-messages", "zq_no_such_token_qz"])
            .arg(corpus)
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", rg.display()))?;
        // rg exits 1 when nothing matched, which is the point here.
        if status.code() != Some(1) {
            bail!("rg full scan exited with {status}");
        }
        samples.push(started.elapsed());
    }
    Ok(percentile(&samples, 0.5))
}

fn foundation(args: &Args) -> Result<String> {
    let (corpus_files, corpus_bytes) = corpus_size(&args.corpus);
    let mut report = String::new();
    report.push_str(&format!(
        "Measured {}. Corpus: `{}` — {} files, {} MiB (assembled by `benches/corpus.py`).\n\n",
        machine(),
        args.corpus.display(),
        corpus_files,
        mib(corpus_bytes)
    ));

    // --- Shim start-up -----------------------------------------------------------------
    let env = Env::new()?;
    let mut daemon = env.start_daemon()?;
    let runs = 200;
    let mut warm = Vec::with_capacity(runs);
    let mut floor = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut shim = env.command(&binary("codesage"));
        shim.arg("mcp");
        warm.push(time_first_answer(shim)?);
        // The floor: spawning `cat` and getting the same line echoed back.
        floor.push(time_first_answer(Command::new("cat"))?);
    }
    env.stop()?;
    daemon.wait()?;
    let mut cold = Vec::new();
    for _ in 0..10 {
        let mut shim = env.command(&binary("codesage"));
        shim.arg("mcp");
        cold.push(time_first_answer(shim)?);
        env.stop()?;
    }
    report.push_str("### Shim: process start to `initialize` response\n\n");
    report.push_str("| case | runs | p50 ms | p95 ms | min ms |\n|---|---:|---:|---:|---:|\n");
    for (name, samples) in [
        ("`codesage mcp`, daemon already up", &warm),
        ("`cat` echoing the line (process-spawn floor)", &floor),
        ("`codesage mcp`, daemon not running (auto-start)", &cold),
    ] {
        report.push_str(&format!(
            "| {name} | {} | {} | {} | {} |\n",
            samples.len(),
            ms(percentile(samples, 0.5)),
            ms(percentile(samples, 0.95)),
            ms(percentile(samples, 0.0)),
        ));
    }
    report.push_str(&format!(
        "\nWarm shim p50 is {:.1}× the bare process-spawn floor; a cold start (daemon spawn, \
         store open) is {:.1}× a warm one.\n\n",
        percentile(&warm, 0.5).as_secs_f64() / percentile(&floor, 0.5).as_secs_f64(),
        percentile(&cold, 0.5).as_secs_f64() / percentile(&warm, 0.5).as_secs_f64(),
    ));

    // --- Indexing ----------------------------------------------------------------------
    let env = Env::new()?;
    let mut daemon = env.start_daemon()?;
    let corpus = args.corpus.display().to_string();
    let started = Instant::now();
    let output = env.codesage(&["index", &corpus, "--json"])?;
    let first_wall = started.elapsed();
    let summary: Value = serde_json::from_slice(&output.stdout)?;
    let status = env.status()?;
    let started = Instant::now();
    let output = env.codesage(&["index", &corpus, "--json"])?;
    let second_wall = started.elapsed();
    let again: Value = serde_json::from_slice(&output.stdout)?;
    let rss_after = env.status()?["rss_bytes"].as_u64().unwrap_or(0);
    env.stop()?;
    daemon.wait()?;
    let rg_scan = rg_full_scan(&args.rg, &args.corpus, 3)?;

    let files = summary["files"].as_u64().unwrap_or(0);
    let bytes = summary["bytes"].as_u64().unwrap_or(0);
    let store = status["store_bytes"].as_u64().unwrap_or(0);
    let seconds = first_wall.as_secs_f64();
    report.push_str("### `codesage index` on the corpus (fresh store, daemon running)\n\n");
    report.push_str("| measure | value |\n|---|---:|\n");
    let rows = [
        ("files indexed (text, ≤ size limit)", files.to_string()),
        ("source indexed, MiB", mib(bytes)),
        (
            "skipped: binary / too large",
            format!(
                "{} / {}",
                summary["skipped_binary"], summary["skipped_too_large"]
            ),
        ),
        ("wall time, s", format!("{seconds:.2}")),
        (
            "throughput, files/s",
            format!("{:.0}", (files as f64) / seconds),
        ),
        (
            "throughput, MiB/s",
            format!("{:.1}", bytes as f64 / (1024.0 * 1024.0) / seconds),
        ),
        ("store size, MiB", mib(store)),
        (
            "store size / source size",
            format!("{:.2}", store as f64 / bytes.max(1) as f64),
        ),
        ("daemon RSS after indexing, MiB", mib(rss_after)),
        (
            "re-index, nothing changed: wall time, s",
            format!("{:.2}", second_wall.as_secs_f64()),
        ),
        (
            "re-index, nothing changed: files read",
            again["files_read"].to_string(),
        ),
        (
            "one `rg` full scan of the corpus (warm), s",
            format!("{:.2}", rg_scan.as_secs_f64()),
        ),
        (
            "full index time / one rg full scan",
            format!("{:.1}×", seconds / rg_scan.as_secs_f64()),
        ),
        (
            "unchanged re-index / one rg full scan",
            format!("{:.2}×", second_wall.as_secs_f64() / rg_scan.as_secs_f64()),
        ),
    ];
    for (name, value) in rows {
        report.push_str(&format!("| {name} | {value} |\n"));
    }
    Ok(report)
}

/// Replaces (or appends) the section `name` of the markdown file at `path`.
fn write_section(path: &Path, name: &str, title: &str, body: &str) -> Result<()> {
    let begin = format!("<!-- BEGIN {name} -->");
    let end = format!("<!-- END {name} -->");
    let section = format!("{begin}\n## {title}\n\n{body}{end}");
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| {
        "# CodeSage benchmarks\n\nGenerated by `benches/run.sh`; each section is rewritten by \
         the benchmark that owns it. Absolute times on shared machines are noisy: compare the \
         ratios, which are measured side by side in one run.\n"
            .to_string()
    });
    let updated = match (existing.find(&begin), existing.find(&end)) {
        (Some(start), Some(stop)) if stop > start => format!(
            "{}{section}{}",
            &existing[..start],
            &existing[stop + end.len()..]
        ),
        _ => format!("{}\n{section}\n", existing.trim_end()),
    };
    std::fs::write(path, updated)?;
    Ok(())
}

fn main() -> Result<()> {
    let args = parse_args()?;
    match args.benchmark.as_str() {
        "foundation" => {
            let body = foundation(&args)?;
            print!("{body}");
            write_section(
                &args.out,
                "foundation",
                "Foundation: shim start-up and indexing",
                &body,
            )?;
        }
        other => bail!("unknown benchmark {other:?}; known: foundation"),
    }
    Ok(())
}
