//! The `llm` benchmark: the LLM tools against a stand-in provider (`codesage_e2e::fake_llm`,
//! the OpenAI-compatible wire format on 127.0.0.1 with a fixed latency), on functions of a
//! real package from the corpus: what context assembly adds to a call, how fast a cached
//! reply comes back, what a provider failing half the time does to 1,000 calls, and how many
//! tokens the assembled context takes next to the whole file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use codesage_e2e::fake_llm::{Behaviour, FakeLlm};
use serde_json::{Value, json};

use super::{Args, Env, Session, machine, ms, percentile};

/// The provider's fixed latency.
const LATENCY: Duration = Duration::from_millis(50);
/// Functions asked about.
const SAMPLE: usize = 200;
/// Calls under failures.
const FAILING_CALLS: usize = 1000;
/// The package the functions come from.
const PACKAGE: &str = "python/sqlalchemy-2.1.9";

/// `(file, function)` pairs: a fixed, spread-out sample of the package's functions.
fn functions(root: &Path) -> Result<Vec<(PathBuf, String, u32)>> {
    let mut files: Vec<PathBuf> = super::all_files(root)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "py"))
        .filter(|path| !path.to_string_lossy().contains("/test"))
        .collect();
    files.sort();
    let mut all = Vec::new();
    for file in &files {
        let Ok(content) = std::fs::read(file) else {
            continue;
        };
        let Some(symbols) = codesaged::symbols::extract("Python", &content) else {
            continue;
        };
        for symbol in &symbols.symbols {
            // Unique names only, so `function_name` picks this one.
            if symbol.kind.is_callable()
                && symbol.end_line - symbol.start_line >= 4
                && symbols
                    .symbols
                    .iter()
                    .filter(|other| other.name == symbol.name)
                    .count()
                    == 1
            {
                all.push((file.clone(), symbol.name.clone(), symbol.start_line));
            }
        }
    }
    if all.len() < SAMPLE {
        bail!("only {} functions in {}", all.len(), root.display());
    }
    let step = all.len() / SAMPLE;
    Ok(all.into_iter().step_by(step).take(SAMPLE).collect())
}

fn summarize(
    session: &mut Session,
    file: &Path,
    function: &str,
    extra: Value,
) -> Result<(Value, Duration)> {
    let mut arguments = json!({"file_path": file.display().to_string(), "function_name": function});
    if let (Some(arguments), Value::Object(extra)) = (arguments.as_object_mut(), extra) {
        arguments.extend(extra);
    }
    let started = Instant::now();
    let answer = session.call("summarize_code_section", arguments)?;
    Ok((answer, started.elapsed()))
}

fn env_for(fake: &FakeLlm, extra: &[(&str, &str)]) -> Result<Env> {
    let mut env = Env::new()?
        .with_env("CODESAGE_LLM__PROVIDER", "openai")
        .with_env("CODESAGE_LLM__BASE_URL", &fake.openai_url())
        .with_env("CODESAGE_LLM__MODEL", "bench-model")
        .with_env("CODESAGE_LLM_API_KEY", "sk-bench-0123456789abcdef")
        .with_env("CODESAGE_LLM__REQUESTS_PER_MINUTE", "0")
        .with_env("CODESAGE_LLM__TOKENS_PER_MINUTE", "0");
    for (key, value) in extra {
        env = env.with_env(key, value);
    }
    Ok(env)
}

/// Runs the benchmark and returns its `BENCHMARKS.md` section.
pub fn run(args: &Args) -> Result<String> {
    let root = args.corpus.join(PACKAGE);
    if !root.is_dir() {
        bail!("no {} in the corpus", root.display());
    }
    let targets = functions(&root)?;
    let fake = FakeLlm::start();
    fake.set_default(Behaviour::SlowReply(
        LATENCY,
        "A summary of the function.".into(),
    ));

    // 1. Offline (context assembly and the structural summary, no model) and through the
    // provider with its fixed latency, cache off; then the same questions again, cached.
    let env = env_for(&fake, &[("CODESAGE_LLM__CACHE_TTL_SECS", "0")])?;
    let mut daemon = env.start_daemon()?;
    env.codesage(&["index", &root.display().to_string()])?;
    let mut session = Session::open(&env)?;
    let mut through_provider = Vec::new();
    let mut context_tokens = Vec::new();
    let mut file_tokens = Vec::new();
    for (file, function, _) in &targets {
        let (answer, took) = summarize(&mut session, file, function, json!({}))?;
        if answer["source"] != "llm" {
            bail!("{function}: no model answer: {answer}");
        }
        through_provider.push(took);
        context_tokens.push(answer["context"]["tokens"].as_u64().unwrap_or(0));
        file_tokens.push(answer["context"]["file_tokens"].as_u64().unwrap_or(0));
    }
    drop(session);
    env.stop()?;
    daemon.wait()?;

    let offline_env = Env::new()?.with_env("CODESAGE_LLM__PROVIDER", "none");
    let mut daemon = offline_env.start_daemon()?;
    offline_env.codesage(&["index", &root.display().to_string()])?;
    let mut session = Session::open(&offline_env)?;
    let mut offline = Vec::new();
    for (file, function, _) in &targets {
        let (answer, took) = summarize(&mut session, file, function, json!({}))?;
        if answer["source"] != "offline" {
            bail!("{function}: expected the offline answer: {answer}");
        }
        offline.push(took);
    }
    drop(session);
    offline_env.stop()?;
    daemon.wait()?;

    let cached_env = env_for(&fake, &[])?;
    let mut daemon = cached_env.start_daemon()?;
    cached_env.codesage(&["index", &root.display().to_string()])?;
    let mut session = Session::open(&cached_env)?;
    for (file, function, _) in &targets {
        summarize(&mut session, file, function, json!({}))?;
    }
    let mut cached_call = Vec::new();
    let mut cached_in_daemon = Vec::new();
    for (file, function, _) in &targets {
        let (answer, took) = summarize(&mut session, file, function, json!({}))?;
        if answer["llm"]["cached"] != true {
            bail!("{function}: not served from the cache: {answer}");
        }
        cached_call.push(took);
        cached_in_daemon.push(Duration::from_secs_f64(
            answer["llm"]["elapsed_ms"].as_f64().unwrap_or(0.0) / 1000.0,
        ));
    }
    let stats = session.call("get_cache_statistics", json!({}))?;
    drop(session);
    cached_env.stop()?;
    daemon.wait()?;

    // 2. A provider failing half the time (500s), 1,000 calls, retries on.
    let failing_env = env_for(
        &fake,
        &[
            ("CODESAGE_LLM__CACHE_TTL_SECS", "0"),
            ("CODESAGE_LLM__BACKOFF_INITIAL_MS", "20"),
            ("CODESAGE_LLM__BACKOFF_MAX_MS", "200"),
        ],
    )?;
    let mut daemon = failing_env.start_daemon()?;
    failing_env.codesage(&["index", &root.display().to_string()])?;
    let mut session = Session::open(&failing_env)?;
    fake.set_default(Behaviour::Flaky(
        0.5,
        LATENCY,
        "A summary of the function.".into(),
    ));
    let requests_before = fake.count();
    let mut answered = 0usize;
    let mut from_model = 0usize;
    let mut failing = Vec::new();
    for call in 0..FAILING_CALLS {
        let (file, function, _) = &targets[call % targets.len()];
        let (answer, took) = summarize(&mut session, file, function, json!({}))?;
        if answer["summary"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
        {
            answered += 1;
        }
        if answer["source"] == "llm" {
            from_model += 1;
        }
        failing.push(took);
    }
    let requests = fake.count() - requests_before;
    let status = failing_env.status()?;
    drop(session);
    failing_env.stop()?;
    daemon.wait()?;

    let p = |samples: &[Duration], q: f64| percentile(samples, q);
    let minus = |samples: &[Duration], latency: Duration| -> Vec<Duration> {
        samples
            .iter()
            .map(|took| took.saturating_sub(latency))
            .collect()
    };
    let overhead = minus(&through_provider, LATENCY);
    let ratio: Vec<f64> = context_tokens
        .iter()
        .zip(&file_tokens)
        .filter(|(_, file)| **file > 0)
        .map(|(context, file)| *context as f64 / *file as f64)
        .collect();
    let mut sorted_ratio = ratio.clone();
    sorted_ratio.sort_by(|a, b| a.total_cmp(b));
    let median_ratio = sorted_ratio
        .get(sorted_ratio.len() / 2)
        .copied()
        .unwrap_or(0.0);
    let context_sum: u64 = context_tokens.iter().sum();
    let file_sum: u64 = file_tokens.iter().sum();
    let median_u64 = |values: &[u64]| {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or(0)
    };
    let provider = status["llm"]["providers"]
        .as_object()
        .and_then(|providers| providers.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    let median_extra = p(&failing, 0.5).saturating_sub(p(&through_provider, 0.5));
    Ok(format!(
        "Measured {}. {SAMPLE} functions (4 lines or more, spread over the \
         package) of `{PACKAGE}` from the corpus, each asked `summarize_code_section` through \
         the shim. The provider is `fake_llm` (the test suite's stand-in for the paid APIs: the \
         OpenAI-compatible wire format on 127.0.0.1) answering after a fixed {} ms.\n\n\
         | measure | p50 | p95 |\n|---|---:|---:|\n\
         | offline answer (context assembly + structural summary, no model), whole call through the shim | {} ms | {} ms |\n\
         | model answer, whole call minus the provider's {} ms (context assembly, HTTP, parsing) | {} ms | {} ms |\n\
         | cached reply, whole call through the shim | {} ms | {} ms |\n\
         | **cached reply, inside the daemon** (lookup to answer: route, prompt digest, store read) | **{} ms** | **{} ms** |\n\n\
         Reply cache after the second round: {}.\n\n\
         **A provider failing half the time** (500 at random, 50%, after the same {} ms): \
         {FAILING_CALLS} calls, \
         `max_retries` 2, backoff 20–200 ms with jitter. Answers returned: **{answered} of \
         {FAILING_CALLS} ({:.1}%)**; from the model {from_model} ({:.1}%; the rest are the \
         offline analysis with the reason, as when all three tries fail: 0.5³ = 12.5% \
         expected); {requests} HTTP requests ({:.2} per call); median call {} ms against {} ms \
         with a healthy provider, so **{} ms median extra latency**; p95 {} ms. Breaker at the \
         end: {} ({} failed calls in a row).\n\n\
         **Context sent vs the whole file** (tokens, the server's estimate): median {} tokens \
         of context against {} tokens for the file it comes from; median ratio {:.2}, in all \
         {} against {} tokens ({:.1}% of pasting the files), budget `llm.context_tokens` = \
         3000. The context holds what a file does not: the callees' signatures from other \
         files and the callers.\n",
        machine(),
        LATENCY.as_millis(),
        ms(p(&offline, 0.5)),
        ms(p(&offline, 0.95)),
        LATENCY.as_millis(),
        ms(p(&overhead, 0.5)),
        ms(p(&overhead, 0.95)),
        ms(p(&cached_call, 0.5)),
        ms(p(&cached_call, 0.95)),
        micros(p(&cached_in_daemon, 0.5)),
        micros(p(&cached_in_daemon, 0.95)),
        stats["llm_reply_cache"],
        LATENCY.as_millis(),
        answered as f64 * 100.0 / FAILING_CALLS as f64,
        from_model as f64 * 100.0 / FAILING_CALLS as f64,
        requests as f64 / FAILING_CALLS as f64,
        ms(p(&failing, 0.5)),
        ms(p(&through_provider, 0.5)),
        ms(median_extra),
        ms(p(&failing, 0.95)),
        provider["breaker"].as_str().unwrap_or("?"),
        provider["consecutive_failures"],
        median_u64(&context_tokens),
        median_u64(&file_tokens),
        median_ratio,
        context_sum,
        file_sum,
        context_sum as f64 * 100.0 / file_sum.max(1) as f64,
    ))
}

/// Milliseconds to the microsecond.
fn micros(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1000.0)
}
