//! Fuzzing: every place where the daemon reads bytes it did not write itself, fed
//! structure-aware generated inputs and damaged real inputs, with no panic, no hang, no
//! absurd allocation and, where one exists, an invariant checked on every input.
//!
//! The targets ([`targets`]) take bytes and call the daemon's own functions: a whole
//! connection through `connection::handle` on a real socket (hello, then MCP or control);
//! MCP sessions through the framing layer and rmcp; control requests; every query by name
//! with generated arguments (`queries::dispatch`, as both front ends call it), following and
//! damaging cursors; regex → trigram query analysis against the real line matcher and the
//! line prefilter; the tree-sitter extractors, fingerprints, metrics, chunks and manifest
//! reading on damaged source; decoding of stored symbols, trigram segments and vectors;
//! every table of a real store damaged and read back, also by an engine answering every
//! reading tool; backups, including forged ones with valid checksums; configuration files.
//! The generators ([`generators`]) make inputs that pass the first checks most of the time
//! (sessions with a handshake and schema-driven tool arguments, a regex grammar, real source
//! and real records with targeted damage) so that the code behind them is reached.
//!
//! `cargo test -p codesaged --test fuzz` is the short run (a few dozen to a few hundred cases
//! per target; about half a minute in a debug build). `benches/fuzz.sh` is the long run: the
//! same targets for a time budget each (`CODESAGE_FUZZ_SECONDS`) or a case count
//! (`PROPTEST_CASES`), with the daemon optimised and overflow checks on, printing executions
//! per target; it can also run the coverage-guided libFuzzer harness in `daemon/fuzz/`,
//! which calls these same targets. Each crash found is fixed and its input kept as a named
//! test in [`regressions`].
//!
//! A failing case is shrunk, and its input written to `<target>/tmp/codesage-fuzz/failures/`
//! (and printed as a byte string) so that it can become a regression test.

mod alloc_guard;
mod fixture;
mod generators;
mod regressions;
mod targets;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config as ProptestConfig, TestError, TestRunner};

#[global_allocator]
static ALLOCATOR: alloc_guard::Guard = alloc_guard::Guard;

/// Cases per run: `PROPTEST_CASES`, else the target's default.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// The time budget per target, when `CODESAGE_FUZZ_SECONDS` is set (the long run).
fn budget() -> Option<Duration> {
    std::env::var("CODESAGE_FUZZ_SECONDS")
        .ok()
        .and_then(|seconds| seconds.parse().ok())
        .map(Duration::from_secs)
}

/// `input` as a Rust byte string literal.
pub fn byte_literal(input: &[u8]) -> String {
    let mut out = String::from("b\"");
    for &byte in input {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('"');
    out
}

/// Runs target `name` on inputs from `strategy`: `default_cases` of them, `PROPTEST_CASES`
/// of them, or as many as fit `CODESAGE_FUZZ_SECONDS`; prints the executions; on a failure,
/// saves the shrunk input and fails the test with it.
fn fuzz<S>(name: &str, default_cases: u32, strategy: S)
where
    S: Strategy<Value = Vec<u8>>,
{
    let target = targets::target(name).expect("a target of that name");
    let failures = fixture::fixture()
        .scratch
        .parent()
        .expect("base")
        .join("failures");
    let _ = std::fs::create_dir_all(&failures);
    let recorder = alloc_guard::Recorder::new(&failures.join(format!("{name}-aborted.bin")));
    let budget = budget();
    let started = Instant::now();
    let executions = AtomicU64::new(0);
    loop {
        let config = ProptestConfig {
            cases: if budget.is_some() {
                64
            } else {
                cases(default_cases)
            },
            failure_persistence: None,
            max_shrink_time: 120_000,
            ..ProptestConfig::default()
        };
        let mut runner = TestRunner::new(config);
        let result = runner.run(&strategy, |input| {
            executions.fetch_add(1, Ordering::Relaxed);
            let _running = recorder.running(&input);
            target(&input);
            Ok(())
        });
        if let Err(err) = result {
            let input = match &err {
                TestError::Fail(_, input) => Some(input.clone()),
                TestError::Abort(_) => None,
            };
            let saved = input.as_ref().map(|input| {
                let path = failures.join(format!("{name}-{}.bin", blake3::hash(input).to_hex()));
                let _ = std::fs::write(&path, input);
                format!(
                    "saved to {}\ninput: {}",
                    path.display(),
                    byte_literal(input)
                )
            });
            panic!(
                "fuzz target {name} failed: {}\n{}",
                match &err {
                    TestError::Fail(reason, _) => reason.to_string(),
                    TestError::Abort(reason) => reason.to_string(),
                },
                saved.unwrap_or_default()
            );
        }
        match budget {
            Some(budget) if started.elapsed() < budget => continue,
            _ => break,
        }
    }
    let outcomes: Vec<String> = targets::outcomes(name)
        .into_iter()
        .map(|(outcome, count)| format!("{}: {count}", &outcome[name.len() + 2..]))
        .collect();
    eprintln!(
        "fuzz {name}: {} executions in {:.1} s, no failure ({})",
        executions.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        outcomes.join(", ")
    );
}

#[test]
fn fuzz_hello() {
    fuzz("hello", 40, generators::connection());
}

#[test]
fn fuzz_mcp() {
    fuzz("mcp", 24, generators::mcp_stream());
}

#[test]
fn fuzz_control() {
    fuzz("control", 32, generators::control_stream());
}

#[test]
fn fuzz_tool_call() {
    fuzz("tool_call", 96, generators::tool_call());
}

#[test]
fn fuzz_regex() {
    fuzz("regex", 256, generators::regex_input());
}

#[test]
fn fuzz_extract() {
    fuzz("extract", 128, generators::extract_input());
}

#[test]
fn fuzz_symbols_decode() {
    fuzz("symbols_decode", 128, generators::symbols_input());
}

#[test]
fn fuzz_segment_decode() {
    fuzz("segment_decode", 256, generators::segment_input());
}

#[test]
fn fuzz_vector_decode() {
    fuzz("vector_decode", 128, generators::vector_input());
}

#[test]
fn fuzz_store_records() {
    fuzz("store_records", 24, generators::store_input());
}

#[test]
fn fuzz_backup() {
    fuzz("backup", 24, generators::backup_input());
}

#[test]
fn fuzz_config() {
    fuzz("config", 96, generators::config_input());
}

/// Writes 64 inputs of every generator into `$CODESAGE_FUZZ_SEEDS/<target>/`, the starting
/// corpus of the libFuzzer harness (`benches/fuzz.sh libfuzzer` runs it with the variable
/// set). Not a check but a tool of that script, hence ignored in the suite.
#[test]
#[ignore = "a tool of benches/fuzz.sh (writes libFuzzer seeds), not a check"]
fn write_seeds() {
    let dir = std::env::var_os("CODESAGE_FUZZ_SEEDS")
        .expect("CODESAGE_FUZZ_SEEDS names the directory to write the seeds into");
    let dir = std::path::PathBuf::from(dir);
    fn seeds<S: Strategy<Value = Vec<u8>>>(dir: &std::path::Path, name: &str, strategy: S) {
        let target = dir.join(name);
        std::fs::create_dir_all(&target).expect("seed directory");
        let mut runner = TestRunner::deterministic();
        for _ in 0..64 {
            let input = strategy.new_tree(&mut runner).expect("an input").current();
            let path = target.join(blake3::hash(&input).to_hex().as_str());
            std::fs::write(path, &input).expect("write a seed");
        }
    }
    seeds(&dir, "hello", generators::connection());
    seeds(&dir, "mcp", generators::mcp_stream());
    seeds(&dir, "control", generators::control_stream());
    seeds(&dir, "tool_call", generators::tool_call());
    seeds(&dir, "regex", generators::regex_input());
    seeds(&dir, "extract", generators::extract_input());
    seeds(&dir, "symbols_decode", generators::symbols_input());
    seeds(&dir, "segment_decode", generators::segment_input());
    seeds(&dir, "vector_decode", generators::vector_input());
    seeds(&dir, "store_records", generators::store_input());
    seeds(&dir, "backup", generators::backup_input());
    seeds(&dir, "config", generators::config_input());
}
