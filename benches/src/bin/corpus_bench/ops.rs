//! The `ops` benchmark: what operating CodeSage costs on the whole corpus — backup and
//! restore time and size next to the store, the integrity check, a metrics scrape, the
//! metrics' overhead on searches, remote mode (Streamable HTTP) next to the local socket for
//! the same calls, and the caches' hit rates on the search workload against the production
//! checklist's 70%.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::{Args, Env, SEARCH_CASES, Session, machine, mib, ms, percentile};

const TOKEN: &str = "bench-remote-token-0123456789abcdef0123";

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// An MCP session over remote mode's Streamable HTTP.
struct Remote {
    url: String,
    session: String,
    next_id: u64,
}

impl Remote {
    fn post(&self, session: Option<&str>, body: &Value) -> Result<(Option<String>, Vec<Value>)> {
        let mut request = ureq::post(&self.url)
            .header("authorization", &format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-06-18");
        }
        let mut response = request.send(body.to_string())?;
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        let text = response.body_mut().read_to_string()?;
        let messages = text
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect();
        Ok((session, messages))
    }

    fn open(port: u16) -> Result<Remote> {
        let mut remote = Remote {
            url: format!("http://127.0.0.1:{port}/mcp"),
            session: String::new(),
            next_id: 2,
        };
        let (session, _) = remote.post(
            None,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"}}}),
        )?;
        remote.session = session.context("no session id")?;
        remote.post(
            Some(&remote.session.clone()),
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )?;
        Ok(remote)
    }

    fn call(&mut self, tool: &str, arguments: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let session = self.session.clone();
        let (_, messages) = self.post(
            Some(&session),
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": tool, "arguments": arguments}}),
        )?;
        let response = messages
            .into_iter()
            .find(|message| message["id"] == id)
            .context("no response")?;
        if response["result"]["isError"] == true {
            bail!(
                "{tool} failed: {}",
                response["result"]["content"][0]["text"]
            );
        }
        Ok(response["result"]["structuredContent"].clone())
    }
}

fn time<T>(runs: usize, mut work: impl FnMut() -> Result<T>) -> Result<Vec<Duration>> {
    work()?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        work()?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

fn p50_p95(samples: &[Duration]) -> String {
    format!(
        "{} / {}",
        ms(percentile(samples, 0.5)),
        ms(percentile(samples, 0.95))
    )
}

/// The search workload: every search case of the search benchmark once cold, then 10 times.
fn search_workload(session: &mut Session, corpus: &str) -> Result<()> {
    for case in SEARCH_CASES {
        let arguments = json!({"codebase_path": corpus, "pattern": case.pattern,
                               "case_sensitive": !case.ignore_case});
        for _ in 0..11 {
            session.call("search_codebase", arguments.clone())?;
        }
    }
    Ok(())
}

/// Runs the benchmark and returns its BENCHMARKS.md section.
pub fn run(args: &Args) -> Result<String> {
    let corpus = args.corpus.display().to_string();
    let (corpus_files, corpus_bytes) = super::corpus_size(&args.corpus);
    let remote_port = free_port()?;
    let metrics_port = free_port()?;
    let env = Env::new()?
        .with_env(
            "CODESAGE_METRICS__LISTEN",
            &format!("127.0.0.1:{metrics_port}"),
        )
        .with_env(
            "CODESAGE_REMOTE__LISTEN",
            &format!("http://127.0.0.1:{remote_port}"),
        )
        .with_env("CODESAGE_REMOTE_TOKEN", TOKEN)
        .with_env("CODESAGE_REMOTE__ALLOWED_ROOTS", &format!("[\"{corpus}\"]"))
        .with_env("CODESAGE_REMOTE__REQUESTS_PER_MINUTE", "0");
    let mut daemon = env.start_daemon()?;
    env.codesage(&["index", &corpus, "--json"])?;
    let status = env.settled_status()?;
    let store_bytes = status["store_bytes"].as_u64().unwrap_or(0);
    let mut report = format!(
        "Measured {}. Corpus: {corpus_files} files, {} MiB; store {} MiB. `benches/run.sh ops`.\n\n",
        machine(),
        mib(corpus_bytes),
        mib(store_bytes)
    );

    let mut session = Session::open(&env)?;
    search_workload(&mut session, &corpus)?;
    let caches = session.call("get_cache_statistics", json!({"codebase_path": corpus}))?;

    // Local socket (through the shim) vs remote mode (HTTP), the same calls.
    let mut remote = Remote::open(remote_port)?;
    let sample_file = super::sample_files(&args.corpus, 1)
        .into_iter()
        .next()
        .context("a sample file")?
        .display()
        .to_string();
    let calls: Vec<(&str, &str, Value)> = vec![
        (
            "search_codebase",
            "rare literal",
            json!({"codebase_path": corpus, "pattern": "poll_read_buf"}),
        ),
        (
            "search_codebase",
            "identifier regex",
            json!({"codebase_path": corpus, "pattern": r"fn \w+_unchecked\("}),
        ),
        (
            "find_symbol",
            "`spawn_blocking`",
            json!({"codebase_path": corpus, "name": "spawn_blocking"}),
        ),
        (
            "get_file_structure",
            "one file",
            json!({"file_path": sample_file}),
        ),
        ("get_performance_metrics", "—", json!({})),
    ];
    report.push_str("### Remote mode (Streamable HTTP) vs the local socket\n\n");
    report.push_str(
        "The same calls, 30 timed runs each after one warm-up: through `codesage mcp` (stdio → \
         local socket) and through remote mode (HTTP POST to `/mcp` on 127.0.0.1 with a bearer \
         token, answer as server-sent events; ureq client).\n\n\
         | call | arguments | local p50 / p95 ms | remote p50 / p95 ms | remote ÷ local (p50) |\n\
         |---|---|---:|---:|---:|\n",
    );
    for (tool, what, arguments) in &calls {
        let local = time(30, || session.call(tool, arguments.clone()))?;
        let over_http = time(30, || remote.call(tool, arguments.clone()))?;
        report.push_str(&format!(
            "| `{tool}` | {what} | {} | {} | {:.2}× |\n",
            p50_p95(&local),
            p50_p95(&over_http),
            percentile(&over_http, 0.5).as_secs_f64() / percentile(&local, 0.5).as_secs_f64()
        ));
    }

    // Metrics: the scrape itself, the recording cost per request, and searches while scraped.
    let scrape_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut exposition = String::new();
    let scrapes = time(50, || {
        exposition = ureq::get(&scrape_url).call()?.body_mut().read_to_string()?;
        Ok(())
    })?;
    let cli_scrapes = time(10, || env.codesage(&["metrics"]))?;
    let series = exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .count();
    let recorder = codesaged::metrics::Metrics::default();
    let tools = [
        "search_codebase",
        "find_symbol",
        "read_code_file",
        "get_file_structure",
    ];
    let recordings = 1_000_000;
    let started = Instant::now();
    for index in 0..recordings {
        recorder.record(
            tools[index % tools.len()],
            Duration::from_micros(100 + (index % 5000) as u64),
            index % 50 != 0,
        );
    }
    let per_record = started.elapsed() / recordings as u32;
    let cheap = json!({"codebase_path": corpus, "pattern": "poll_read_buf"});
    let mut quiet = Vec::new();
    let mut scraped = Vec::new();
    for _ in 0..3 {
        quiet.extend(time(40, || session.call("search_codebase", cheap.clone()))?);
        let stop = Arc::new(AtomicBool::new(false));
        let scraper = {
            let stop = Arc::clone(&stop);
            let url = scrape_url.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = ureq::get(&url).call();
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        scraped.extend(time(40, || session.call("search_codebase", cheap.clone()))?);
        stop.store(true, Ordering::Relaxed);
        let _ = scraper.join();
    }
    let quiet_p50 = percentile(&quiet, 0.5);
    report.push_str("\n### Metrics\n\n");
    report.push_str(&format!(
        "| measure | value |\n|---|---:|\n\
         | `GET /metrics` p50 / p95 ms ({series} series, {} KiB) | {} |\n\
         | `codesage metrics` (process start + control socket) p50 / p95 ms | {} |\n\
         | recording one request (counter + two histograms), ns | {} |\n\
         | … as a share of the cheapest search's p50 ({} ms) | {:.4}% |\n\
         | `search_codebase` p50 ms, no scraper / scraped every 250 ms (3 alternating blocks of 40) | {} / {} |\n\
         | … overhead of scraping 4×/s on the search p50 | {:+.1}% |\n\n\
         Every figure `codesage status`, `get_performance_metrics` and `get_cache_statistics` \
         report comes from the same registry; the exposition passes `promtool check metrics` \
         (tested in `tests/tests/operations.rs`). A scrape builds one status report (per-root \
         totals cached by index generation, the store's table figures for 30 s); at Prometheus' \
         usual 15 s interval that is about 0.1% of one core, and even at 4 scrapes a second the \
         search p50 moves within noise.\n\n",
        exposition.len() / 1024,
        p50_p95(&scrapes),
        p50_p95(&cli_scrapes),
        per_record.as_nanos(),
        ms(quiet_p50),
        100.0 * per_record.as_secs_f64() / quiet_p50.as_secs_f64(),
        ms(quiet_p50),
        ms(percentile(&scraped, 0.5)),
        100.0 * (percentile(&scraped, 0.5).as_secs_f64() / quiet_p50.as_secs_f64() - 1.0),
    ));

    // Caches on the search workload, with the default content cache and the
    // high-performance profile's.
    session.close()?;
    let big_cache = Env::new()?.with_env("CODESAGE_MEMORY__BUDGET_MB", "4096");
    let mut big_daemon = big_cache.start_daemon()?;
    big_cache.codesage(&["index", &corpus, "--json"])?;
    let mut big_session = Session::open(&big_cache)?;
    search_workload(&mut big_session, &corpus)?;
    let big_caches = big_session.call("get_cache_statistics", json!({"codebase_path": corpus}))?;
    big_session.close()?;
    big_cache.stop()?;
    big_daemon.wait()?;
    report.push_str("### Cache hit rates on the search workload\n\n");
    report.push_str(
        "After the search benchmark's cases (each once cold, then 10 times) through the shim; \
         the production checklist asks for a hit rate over 70%. The content cache holds a \
         quarter of `memory.budget_mb`: 24 MiB by default (96 MiB budget), 1024 MiB with a \
         4096 MiB budget; the other caches are not used by searches.\n\n\
         | cache | content cache | holds | entries | hits | misses | evictions | hit rate | ≥ 70% |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---|\n",
    );
    let big_content = big_caches["caches"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|cache| cache["name"] == "content")
        .cloned();
    let rows = caches["caches"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|cache| ("24 MiB", cache.clone()))
        .chain(big_content.map(|cache| ("1024 MiB", cache)));
    for (cache_mb, cache) in rows {
        let rate = cache["hit_rate"].as_f64();
        report.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cache["name"].as_str().unwrap_or_default(),
            if cache["name"] == "content" {
                cache_mb.to_string()
            } else {
                "—".to_string()
            },
            cache["holds"].as_str().unwrap_or_default(),
            cache["entries"],
            cache["hits"],
            cache["misses"],
            cache["evictions"]
                .as_u64()
                .map_or("—".to_string(), |n| n.to_string()),
            rate.map_or("no lookups".to_string(), |rate| format!(
                "{:.1}%",
                rate * 100.0
            )),
            match rate {
                Some(rate) if rate >= 0.7 => "yes",
                Some(_) => "**no**",
                None => "—",
            }
        ));
    }

    // Backup while serving, check, restore into a fresh data directory.
    let backup = env.dir.path().join("corpus.backup");
    let started = Instant::now();
    let output = env.codesage(&["backup", backup.to_str().context("path")?, "--json"])?;
    let backup_time = started.elapsed();
    let manifest: Value = serde_json::from_slice(&output.stdout)?;
    let backup_bytes = std::fs::metadata(&backup)?.len();
    let started = Instant::now();
    env.codesage(&["check"])?;
    let check_time = started.elapsed();
    env.stop()?;
    daemon.wait()?;

    let fresh = Env::new()?;
    let started = Instant::now();
    fresh.codesage(&["restore", backup.to_str().context("path")?])?;
    let restore_time = started.elapsed();
    // Reconciling the restored roots with the disk (nothing changed: stat only).
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let status = fresh.status()?;
        let ready = status["roots"]
            .as_array()
            .is_some_and(|roots| roots.iter().all(|root| root["state"] == "ready"));
        if ready || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let reconciled = started.elapsed();
    let restored = fresh.status()?;
    let restored_files = restored["roots"][0]["files"].as_u64().unwrap_or(0);
    fresh.stop()?;

    report.push_str("\n### Backup and restore\n\n");
    report.push_str(&format!(
        "| measure | value |\n|---|---:|\n\
         | live store | {} MiB |\n\
         | store copy inside the backup | {} MiB |\n\
         | backup file (zstd) | {} MiB ({:.2}× the store, {:.2}× the source) |\n\
         | `codesage backup` while serving | {} s |\n\
         | `codesage check` (redb's check + every content hashed, every segment decoded) | {} s |\n\
         | `codesage restore` into a fresh data dir (verify, extract, swap, start) | {} s |\n\
         | … until every restored root was reconciled with the disk ({restored_files} files) | {} s |\n\n\
         The copy inside is compacted (no free or partly filled pages); the store's contents \
         are already zstd blobs, so compressing the copy mostly shrinks the B-tree pages and \
         the trigram segments. `codesage check` takes the database to itself for redb's page \
         check, so queries wait for that part.\n",
        mib(store_bytes),
        mib(manifest["store_bytes"].as_u64().unwrap_or(0)),
        mib(backup_bytes),
        backup_bytes as f64 / store_bytes.max(1) as f64,
        backup_bytes as f64 / corpus_bytes.max(1) as f64,
        format_args!("{:.2}", backup_time.as_secs_f64()),
        format_args!("{:.2}", check_time.as_secs_f64()),
        format_args!("{:.2}", restore_time.as_secs_f64()),
        format_args!("{:.2}", reconciled.as_secs_f64()),
    ));
    Ok(report)
}
