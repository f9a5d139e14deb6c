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
use codesage_benches::{all_files, write_section};
use serde_json::Value;

mod answers;
mod health;
mod llm;
mod ops;
mod symbols;

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
    let benchmark = args.next().context(
        "usage: corpus-bench <foundation|freshness|search|symbols|answers|health|lizard|llm|ops> [--corpus DIR] [--out FILE] [--rg PATH]",
    )?;
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

/// Bytes of the store file taken by one table (data, partly used pages and structure).
fn table_bytes(status: &Value, name: &str) -> u64 {
    status["store_space"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|table| table["name"] == name)
        .map(|table| {
            ["stored_bytes", "fragmented_bytes", "metadata_bytes"]
                .iter()
                .map(|field| table[field].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum()
}

/// Where the store file's bytes go, from `codesage status`.
fn store_space_table(status: &Value, source: u64) -> String {
    let mut out = String::from(
        "\n### Store file by table\n\n| table | entries | data MiB | unused page space MiB | \
         B-tree structure MiB | total / source |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for table in status["store_space"].as_array().into_iter().flatten() {
        let field = |name: &str| table[name].as_u64().unwrap_or(0);
        let total = field("stored_bytes") + field("fragmented_bytes") + field("metadata_bytes");
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.3} |\n",
            table["name"].as_str().unwrap_or("?"),
            field("entries"),
            mib(field("stored_bytes")),
            mib(field("fragmented_bytes")),
            mib(field("metadata_bytes")),
            total as f64 / source as f64
        ));
    }
    out
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
    /// Extra environment variables for every process started.
    extra: Vec<(String, String)>,
}

impl Env {
    fn new() -> Result<Env> {
        let dir = tempfile::Builder::new().prefix("csb").tempdir_in("/tmp")?;
        Ok(Env {
            socket: dir.path().join("s.sock"),
            data_dir: dir.path().join("data"),
            dir,
            extra: Vec::new(),
        })
    }

    /// Adds an environment variable for every process this environment starts.
    fn with_env(mut self, key: &str, value: &str) -> Env {
        self.extra.push((key.to_string(), value.to_string()));
        self
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
        for (key, value) in &self.extra {
            command.env(key, value);
        }
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

    /// Waits until background segment merges and store compaction are done, then returns
    /// the status.
    fn settled_status(&self) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        // Quiet on two polls further apart than the daemon's idle-before-compaction delay, so
        // that a compaction requested just after a quiet poll is not missed.
        let mut quiet_polls = 0;
        loop {
            let status = self.status()?;
            quiet_polls = if status["maintenance_pending"] == true {
                0
            } else {
                quiet_polls + 1
            };
            if quiet_polls == 2 || Instant::now() > deadline {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(1500));
        }
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
    let files = all_files(root);
    let bytes = files
        .iter()
        .map(|file| std::fs::metadata(file).map_or(0, |meta| meta.len()))
        .sum();
    (files.len() as u64, bytes)
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
    let status = env.settled_status()?;
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
    let text_seconds = summary["text_ms"]
        .as_f64()
        .map_or(seconds, |text_ms| text_ms / 1000.0);
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
        (
            "all text searchable (first pass: read, store, trigram index), s",
            format!("{text_seconds:.2}"),
        ),
        (
            "first pass throughput, files/s",
            format!("{:.0}", (files as f64) / text_seconds),
        ),
        (
            "first pass throughput, MiB/s",
            format!("{:.1}", bytes as f64 / (1024.0 * 1024.0) / text_seconds),
        ),
        (
            "wall time including the symbols pass (tree-sitter parse), s",
            format!("{seconds:.2}"),
        ),
        (
            "throughput including symbols, MiB/s",
            format!("{:.1}", bytes as f64 / (1024.0 * 1024.0) / seconds),
        ),
        (
            "store size after background merges and compaction, MiB",
            mib(store),
        ),
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

/// An MCP session through `codesage mcp`, line by line.
struct Session {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    next_id: u64,
}

impl Session {
    fn open(env: &Env) -> Result<Session> {
        let mut child = env
            .command(&binary("codesage"))
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let mut session = Session {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        writeln!(session.stdin, "{INITIALIZE}")?;
        session.read_response(1)?;
        writeln!(
            session.stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )?;
        session.next_id = 2;
        Ok(session)
    }

    fn read_response(&mut self, id: u64) -> Result<Value> {
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line)? == 0 {
                bail!("the shim closed its output");
            }
            let message: Value = serde_json::from_str(&line)?;
            if message["id"] == id {
                return Ok(message);
            }
        }
    }

    /// Calls a tool and returns its structured result.
    fn call(&mut self, tool: &str, arguments: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let request = serde_json::json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}
        });
        writeln!(self.stdin, "{request}")?;
        self.stdin.flush()?;
        let response = self.read_response(id)?;
        if response["result"]["isError"] == true {
            bail!(
                "{tool} failed: {}",
                response["result"]["content"][0]["text"]
            );
        }
        Ok(response["result"]["structuredContent"].clone())
    }

    fn close(mut self) -> Result<()> {
        drop(self.stdin);
        self.child.wait()?;
        Ok(())
    }
}

/// Indexed source files of the corpus spread over its directories, for edit benchmarks.
fn sample_files(corpus: &Path, count: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![corpus.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if [".rs", ".py", ".js", ".ts"]
                .iter()
                .any(|ext| name.ends_with(ext))
                && entry.metadata().is_ok_and(|meta| meta.len() < 64 * 1024)
            {
                files.push(path);
            }
        }
    }
    let step = (files.len() / count.max(1)).max(1);
    files.into_iter().step_by(step).take(count).collect()
}

/// Restores files edited by a benchmark, even when it fails half-way.
struct Restore(Vec<(PathBuf, Vec<u8>)>);

impl Restore {
    fn edit(&mut self, path: &Path, extra: &str) -> Result<()> {
        if !self.0.iter().any(|(saved, _)| saved == path) {
            self.0.push((path.to_path_buf(), std::fs::read(path)?));
        }
        let original = &self
            .0
            .iter()
            .find(|(saved, _)| saved == path)
            .context("saved")?
            .1;
        let mut content = original.clone();
        content.extend_from_slice(extra.as_bytes());
        std::fs::write(path, content)?;
        Ok(())
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        for (path, content) in &self.0 {
            let _ = std::fs::write(path, content);
        }
    }
}

fn freshness(args: &Args) -> Result<String> {
    let (corpus_files, corpus_bytes) = corpus_size(&args.corpus);
    let corpus = args.corpus.display().to_string();
    let mut report = format!(
        "Measured {}. Corpus: {} files, {} MiB. Default settings (settle window 20 ms).\n\n",
        machine(),
        corpus_files,
        mib(corpus_bytes)
    );

    let env = Env::new()?;
    let mut daemon = env.start_daemon()?;
    let started = Instant::now();
    env.codesage(&["index", &corpus, "--json"])?;
    let full_index = started.elapsed();
    let mut session = Session::open(&env)?;
    let files = sample_files(&args.corpus, 50);
    let mut restore = Restore(Vec::new());

    // Write → visible through search_codebase (scoped to the file's directory, so the figure
    // is freshness rather than scan time; the trigram issue makes whole-root scans cheap).
    let writes = 200;
    let mut scoped = Vec::with_capacity(writes);
    let mut apply_ms = Vec::with_capacity(writes);
    for round in 0..writes {
        let file = &files[round % files.len()];
        let token = format!("cs_fresh_{round}_{}", std::process::id());
        restore.edit(file, &format!("\n// {token}\n"))?;
        let written = Instant::now();
        let found = session.call(
            "search_codebase",
            serde_json::json!({
                "codebase_path": file.parent().context("parent")?.display().to_string(),
                "pattern": token,
            }),
        )?;
        let latency = written.elapsed();
        if found["total_matches"] != 1 {
            bail!("write {round} not visible: {found}");
        }
        scoped.push(latency);
        let status = env.status()?;
        if let Some(ms) = status["roots"][0]["watch"]["last_apply_ms"].as_f64() {
            apply_ms.push(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    // The same through a search of the whole root (includes a full scan of stored contents).
    let mut whole = Vec::new();
    for round in 0..30 {
        let file = &files[round % files.len()];
        let token = format!("cs_whole_{round}_{}", std::process::id());
        restore.edit(file, &format!("\n// {token}\n"))?;
        let written = Instant::now();
        let found = session.call(
            "search_codebase",
            serde_json::json!({"codebase_path": corpus, "pattern": token}),
        )?;
        let latency = written.elapsed();
        if found["total_matches"] != 1 {
            bail!("whole-root write {round} not visible: {found}");
        }
        whole.push(latency);
    }
    let watch = env.status()?["roots"][0]["watch"].clone();
    session.close()?;
    drop(restore);

    // A forced full rebuild, for the cost ratio.
    let started = Instant::now();
    env.codesage(&["reindex", "--json"])?;
    let rebuild = started.elapsed();

    // Restart reconciliation with 1% of the files changed while the daemon was down.
    env.stop()?;
    daemon.wait()?;
    let changed_count = (corpus_files as usize / 100).max(1);
    let changed = sample_files(&args.corpus, changed_count);
    let mut restore = Restore(Vec::new());
    for file in &changed {
        restore.edit(file, "\n// changed while the daemon was down\n")?;
    }
    let started = Instant::now();
    let mut daemon = env.start_daemon()?;
    let run = loop {
        let status = env.status()?;
        let run = status["roots"][0]["last_run"].clone();
        if !run.is_null() {
            break run;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("no reconciliation after restart");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let reconcile_wall = started.elapsed();
    env.stop()?;
    daemon.wait()?;
    drop(restore);

    report.push_str(
        "### Write → visible in `search_codebase` (read-your-writes, through the shim)\n\n",
    );
    report.push_str("| case | writes | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|---:|\n");
    for (name, samples) in [
        ("search scoped to the edited file's directory", &scoped),
        ("search of the whole corpus root", &whole),
    ] {
        report.push_str(&format!(
            "| {name} | {} | {} | {} | {} |\n",
            samples.len(),
            ms(percentile(samples, 0.5)),
            ms(percentile(samples, 0.95)),
            ms(percentile(samples, 1.0)),
        ));
    }
    report.push_str(&format!(
        "\nDaemon-side write-to-searchable latency over all batches (first event → commit; a \
         query's freshness cookie applies a pending batch without waiting for the settle \
         window): p50 {:.1} ms, p95 {:.1} ms.\n\n",
        watch["latency_p50_ms"].as_f64().unwrap_or(f64::NAN),
        watch["latency_p95_ms"].as_f64().unwrap_or(f64::NAN),
    ));
    let one_file = percentile(&apply_ms, 0.5);
    report
        .push_str("### Cost of keeping fresh vs re-indexing\n\n| measure | value |\n|---|---:|\n");
    let rows = [
        (
            "apply one changed file (batch cost, median of 200), ms".to_string(),
            ms(one_file),
        ),
        (
            "full index of the corpus (fresh store), s".to_string(),
            format!("{:.2}", full_index.as_secs_f64()),
        ),
        (
            "forced full rebuild (`codesage reindex`), s".to_string(),
            format!("{:.2}", rebuild.as_secs_f64()),
        ),
        (
            "full rebuild / one-file change".to_string(),
            format!(
                "{:.0}×",
                rebuild.as_secs_f64() / one_file.as_secs_f64().max(1e-6)
            ),
        ),
        (
            format!(
                "restart with {} files (1%) changed: reconciliation, s",
                changed.len()
            ),
            format!(
                "{:.2}",
                run["elapsed_ms"].as_u64().unwrap_or(0) as f64 / 1000.0
            ),
        ),
        (
            "  … files read by it".to_string(),
            run["files_read"].to_string(),
        ),
        (
            "  … daemon start to reconciled, s".to_string(),
            format!("{:.2}", reconcile_wall.as_secs_f64()),
        ),
        (
            "full index from scratch / restart reconciliation".to_string(),
            format!(
                "{:.1}×",
                full_index.as_secs_f64()
                    / (run["elapsed_ms"].as_u64().unwrap_or(1).max(1) as f64 / 1000.0)
            ),
        ),
        (
            "forced full rebuild / restart reconciliation".to_string(),
            format!(
                "{:.1}×",
                rebuild.as_secs_f64()
                    / (run["elapsed_ms"].as_u64().unwrap_or(1).max(1) as f64 / 1000.0)
            ),
        ),
    ];
    for (name, value) in rows {
        report.push_str(&format!("| {name} | {value} |\n"));
    }
    Ok(report)
}

/// ripgrep flags that select the same files CodeSage indexes by default (gitignore rules
/// outside git repositories too, the size limit, excluded directories and globs).
const RG_SAME_FILES: &[&str] = &[
    "--no-require-git",
    "--max-filesize",
    "2M",
    "-g",
    "!**/node_modules/**",
    "-g",
    "!**/__pycache__/**",
    "-g",
    "!**/venv/**",
    "-g",
    "!**/target/**",
    "-g",
    "!*.min.js",
    "-g",
    "!*.min.css",
    "-g",
    "!*.map",
];

/// One benchmark query.
struct SearchCase {
    name: &'static str,
    pattern: &'static str,
    ignore_case: bool,
}

const SEARCH_CASES: &[SearchCase] = &[
    SearchCase {
        name: "rare literal",
        pattern: "poll_read_buf",
        ignore_case: false,
    },
    SearchCase {
        name: "rare literal",
        pattern: "Levenshtein",
        ignore_case: false,
    },
    SearchCase {
        name: "literal",
        pattern: "spawn_blocking",
        ignore_case: false,
    },
    SearchCase {
        name: "common literal",
        pattern: "return",
        ignore_case: false,
    },
    SearchCase {
        name: "identifier regex",
        pattern: r"fn \w+_unchecked\(",
        ignore_case: false,
    },
    SearchCase {
        name: "identifier regex",
        pattern: r"impl<T> \w+ for",
        ignore_case: false,
    },
    SearchCase {
        name: "Python regex",
        pattern: r"class \w+\(models\.Model\)",
        ignore_case: false,
    },
    // Shapes whose required literals are everywhere (issue 15): the trigram AND leaves most
    // files of the language as candidates, so they are the slow case of the index.
    SearchCase {
        name: "common-literal regex",
        pattern: r"class \w+Error\b",
        ignore_case: false,
    },
    SearchCase {
        name: "common-literal regex",
        pattern: r"def test_\w+\(self\)",
        ignore_case: false,
    },
    SearchCase {
        name: "common-literal regex",
        pattern: r"pub fn \w+\(&self\) -> bool",
        ignore_case: false,
    },
    SearchCase {
        name: "case-insensitive",
        pattern: "content-type",
        ignore_case: true,
    },
    SearchCase {
        name: "alternation",
        pattern: "TODO|FIXME|XXX",
        ignore_case: false,
    },
    SearchCase {
        name: "no usable trigram",
        pattern: r"\d{4}-\d{2}-\d{2}",
        ignore_case: false,
    },
    SearchCase {
        name: "no usable trigram",
        pattern: r"\bx\b",
        ignore_case: false,
    },
];

/// (path, line) pairs of `path:line:text` output.
fn hits(output: &[u8]) -> std::collections::BTreeSet<(String, u64)> {
    String::from_utf8_lossy(output)
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let path = parts.next()?.to_string();
            let number = parts.next()?.parse().ok()?;
            Some((path, number))
        })
        .collect()
}

fn timed(
    runs: usize,
    mut run: impl FnMut() -> Result<Vec<u8>>,
) -> Result<(Vec<Duration>, Vec<u8>)> {
    let mut samples = Vec::with_capacity(runs);
    let mut last = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        last = run()?;
        samples.push(started.elapsed());
    }
    Ok((samples, last))
}

fn search(args: &Args) -> Result<String> {
    let (corpus_files, corpus_bytes) = corpus_size(&args.corpus);
    let corpus = args.corpus.display().to_string();
    let mut report = format!(
        "Measured {}. Corpus: {} files, {} MiB. Warm page cache; every query runs once before \
         timing. `search_codebase` goes through `codesage mcp` to the daemon with its default \
         answer (at most 200 matching lines within 8000 tokens, with the enclosing symbol of \
         each); `codesage search --max-results 0` and `rg` print \
         every match (rg with flags that select the files CodeSage indexes, see \
         `RG_SAME_FILES` in the driver). \"same lines\" compares the (path, line) pairs of those \
         two.\n\n",
        machine(),
        corpus_files,
        mib(corpus_bytes)
    );

    // Indexing with and without the trigram index, side by side.
    let mut index_times = Vec::new();
    for trigram_index in [false, true] {
        let (wall, summary, status) = fresh_index(
            &corpus,
            "CODESAGE_INDEX__TRIGRAM_INDEX",
            &trigram_index.to_string(),
        )?;
        index_times.push((trigram_index, wall, summary, status));
    }

    let env = Env::new()?;
    let mut daemon = env.start_daemon()?;
    env.codesage(&["index", &corpus, "--json"])?;
    let status = env.settled_status()?;
    let mut session = Session::open(&env)?;

    report.push_str("### Query latency: CodeSage vs ripgrep on the same corpus\n\n");
    report.push_str(
        "| query | pattern | matches | `search_codebase` first run ms | `search_codebase` p50 / p95 ms | strategy | `codesage search` (all) p50 / p95 ms | `rg` p50 / p95 ms | rg ÷ search_codebase (p50) | rg ÷ codesage search (p50) | same lines |\n\
         |---|---|---:|---:|---:|---|---:|---:|---:|---:|---|\n",
    );
    for case in SEARCH_CASES {
        let arguments = serde_json::json!({
            "codebase_path": corpus,
            "pattern": case.pattern,
            "case_sensitive": !case.ignore_case,
        });
        // The first run finds the candidates' contents not yet decompressed in the cache.
        let started = Instant::now();
        session.call("search_codebase", arguments.clone())?;
        let first = started.elapsed();
        let mut strategy = String::new();
        let (mcp, _) = timed(20, || {
            let result = session.call("search_codebase", arguments.clone())?;
            strategy = result["strategy"].as_str().unwrap_or_default().to_string();
            Ok(Vec::new())
        })?;
        let cli_args = |extra: &[&str]| {
            let mut all: Vec<String> = vec!["search".into(), "--max-results".into(), "0".into()];
            all.extend(["--root".into(), corpus.clone()]);
            if case.ignore_case {
                all.push("-i".into());
            }
            all.extend(extra.iter().map(|s| s.to_string()));
            all.extend(["--".into(), case.pattern.to_string()]);
            all
        };
        let run_cli = || -> Result<Vec<u8>> {
            let args = cli_args(&[]);
            let output = env
                .command(&binary("codesage"))
                .args(&args)
                .stdin(Stdio::null())
                .output()?;
            if output.status.code() == Some(2) {
                bail!(
                    "codesage search failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Ok(output.stdout)
        };
        run_cli()?;
        let (cli, ours) = timed(10, run_cli)?;
        let run_rg = || -> Result<Vec<u8>> {
            let mut command = Command::new(&args.rg);
            command
                .args(["-n", "--no-heading", "--color", "never"])
                .args(RG_SAME_FILES)
                .current_dir(&args.corpus);
            if case.ignore_case {
                command.arg("-i");
            }
            let output = command
                .arg("--")
                .arg(case.pattern)
                .stdin(Stdio::null())
                .output()?;
            Ok(output.stdout)
        };
        run_rg()?;
        let (rg, theirs) = timed(10, run_rg)?;
        let ours = hits(&ours);
        let theirs = hits(&theirs);
        let differing = ours.symmetric_difference(&theirs).count();
        let same = if differing == 0 {
            "yes".to_string()
        } else {
            format!(
                "no ({differing} of {} differ)",
                ours.len().max(theirs.len())
            )
        };
        let p50 = |samples: &[Duration]| percentile(samples, 0.5).as_secs_f64();
        report.push_str(&format!(
            "| {} | `{}`{} | {} | {} | {} / {} | {} | {} / {} | {} / {} | {:.0}× | {:.1}× | {} |\n",
            case.name,
            case.pattern.replace('|', "\\|"),
            if case.ignore_case { " (-i)" } else { "" },
            theirs.len(),
            ms(first),
            ms(percentile(&mcp, 0.5)),
            ms(percentile(&mcp, 0.95)),
            strategy,
            ms(percentile(&cli, 0.5)),
            ms(percentile(&cli, 0.95)),
            ms(percentile(&rg, 0.5)),
            ms(percentile(&rg, 0.95)),
            p50(&rg) / p50(&mcp),
            p50(&rg) / p50(&cli),
            same
        ));
    }
    session.close()?;
    let after = env.status()?;
    let rss = after["rss_bytes"].as_u64().unwrap_or(0);
    let cache = after["content_cache"].clone();
    env.stop()?;
    daemon.wait()?;

    let root = &status["roots"][0];
    let source = root["bytes"].as_u64().unwrap_or(1).max(1);
    let trigram_bytes = root["trigram_index_bytes"].as_u64().unwrap_or(0);
    let store = status["store_bytes"].as_u64().unwrap_or(0);
    report.push_str("\n### Index size and memory\n\n| measure | value |\n|---|---:|\n");
    let rows = [
        ("source indexed, MiB", mib(source)),
        (
            "trigram index (segments, in memory), MiB",
            mib(trigram_bytes),
        ),
        (
            "trigram index / source",
            format!("{:.3}", trigram_bytes as f64 / source as f64),
        ),
        (
            "segments after background merges",
            root["trigram_segments"].to_string(),
        ),
        ("store file, MiB", mib(store)),
        (
            "store file / source",
            format!("{:.3}", store as f64 / source as f64),
        ),
        (
            "store file without the symbols table (contents + records + segments) / source",
            format!(
                "{:.3}",
                store.saturating_sub(table_bytes(&status, "symbols")) as f64 / source as f64
            ),
        ),
        ("daemon RSS after the queries, MiB", mib(rss)),
        (
            "daemon RSS / source",
            format!("{:.3}", rss as f64 / source as f64),
        ),
        (
            "content cache: held / capacity, MiB",
            format!(
                "{} / {}",
                mib(cache["bytes"].as_u64().unwrap_or(0)),
                mib(cache["capacity"].as_u64().unwrap_or(0))
            ),
        ),
        (
            "content cache hit rate over the run",
            format!("{:.0}%", cache["hit_rate"].as_f64().unwrap_or(0.0) * 100.0),
        ),
    ];
    for (name, value) in rows {
        report.push_str(&format!("| {name} | {value} |\n"));
    }
    report.push_str(&store_space_table(&status, source));

    report.push_str("\n### Indexing throughput with and without the trigram index (same run)\n\n");
    report.push_str(
        "| trigram index | first pass (all text searchable) s | files/s | MiB/s | wall incl. symbols pass s | store MiB (settled) |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for (trigram_index, wall, summary, status) in &index_times {
        let files = summary["files"].as_u64().unwrap_or(0) as f64;
        let bytes = summary["bytes"].as_u64().unwrap_or(0) as f64;
        let text_seconds = summary["text_ms"]
            .as_f64()
            .map_or(wall.as_secs_f64(), |text_ms| text_ms / 1000.0);
        report.push_str(&format!(
            "| {} | {:.2} | {:.0} | {:.1} | {:.2} | {} |\n",
            if *trigram_index {
                "on"
            } else {
                "off (foundation)"
            },
            text_seconds,
            files / text_seconds,
            bytes / (1024.0 * 1024.0) / text_seconds,
            wall.as_secs_f64(),
            mib(status["store_bytes"].as_u64().unwrap_or(0)),
        ));
    }
    Ok(report)
}

/// Indexes `corpus` with a fresh daemon and store, one setting overridden through the
/// environment: the wall time, the index summary and the settled status.
fn fresh_index(corpus: &str, setting: &str, value: &str) -> Result<(Duration, Value, Value)> {
    let env = Env::new()?;
    let mut daemon = env
        .command(&binary("codesaged"))
        .env(setting, value)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    while !env.socket.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let output = env.codesage(&["index", corpus, "--json"])?;
    let wall = started.elapsed();
    let summary: Value = serde_json::from_slice(&output.stdout)?;
    let status = env.settled_status()?;
    env.stop()?;
    daemon.wait()?;
    Ok((wall, summary, status))
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
        "freshness" => {
            let body = freshness(&args)?;
            print!("{body}");
            write_section(
                &args.out,
                "freshness",
                "Live index: freshness and incremental cost",
                &body,
            )?;
        }
        "search" => {
            let body = search(&args)?;
            print!("{body}");
            write_section(
                &args.out,
                "search",
                "Indexed exact search vs ripgrep",
                &body,
            )?;
        }
        "health" => {
            let body = health::run(&args)?;
            print!("{body}");
            write_section(
                &args.out,
                "health",
                "Code health: clones, complexity, line counts",
                &body,
            )?;
        }
        "lizard" => print!("{}", health::lizard_section(&args)?),
        "symbols" => {
            let body = symbols::run(&args)?;
            print!("{body}");
            write_section(
                &args.out,
                "symbols",
                "Code structure: parsing, symbols, definitions and references",
                &body,
            )?;
        }
        "answers" => {
            let body = answers::run(&args)?;
            print!("{body}");
            write_section(
                &args.out,
                "answers",
                "Answer sizes: every tool's default answer on the corpus, in real tokens",
                &body,
            )?;
        }
        "llm" => {
            let body = llm::run(&args)?;
            print!("{body}");
            write_section(
                &args.out,
                "llm",
                "LLM tools: context assembly, reply cache, failures, context size",
                &body,
            )?;
        }
        "ops" => {
            let body = ops::run(&args)?;
            print!("{body}");
            write_section(
                &args.out,
                "ops",
                "Operations: backup and restore, metrics, remote mode, cache hit rates",
                &body,
            )?;
        }
        other => {
            bail!(
                "unknown benchmark {other:?}; known: foundation, freshness, search, symbols, answers, health, lizard, llm, ops"
            )
        }
    }
    Ok(())
}
