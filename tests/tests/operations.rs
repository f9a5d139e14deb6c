//! Operating CodeSage: the metrics (over the control socket and the HTTP endpoint, checked by
//! Prometheus' own `promtool`), backup while serving and restore into a fresh data
//! directory, damaged backups refused, configuration checks, service files, secret masking
//! on every log sink, remote mode (bearer tokens, sessions, allowed roots, the official MCP
//! conformance suite) and the container's entry point, all with the real daemon, shim,
//! sockets and files.
//!
//! `promtool` comes from Debian's `prometheus` package and the conformance suite from npm
//! (`@modelcontextprotocol/conformance`); `.ci/run` installs both (the suite is also
//! installed by the test into `target/` when missing).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use codesage_e2e::fake_llm::{Behaviour, FakeLlm};
use codesage_e2e::{
    TestEnv, bin_dir, codesage_bin, codesaged_bin, process_alive, repo_root, sample_project,
    wait_for, write,
};
use serde_json::{Value, json};

/// A TCP port free right now on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// `GET http://127.0.0.1:PORT/PATH`: status and body.
async fn get(port: u16, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .expect("HTTP GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// One Prometheus sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the Prometheus text format (what the tests need of it: samples with labels).
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let mut labels = BTreeMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").expect("label");
                    let mut end = 0;
                    let bytes = after.as_bytes();
                    while bytes[end] != b'"' {
                        end += if bytes[end] == b'\\' { 2 } else { 1 };
                    }
                    labels.insert(key.to_string(), after[..end].replace("\\\\", "\\"));
                    rest = after[end + 1..].trim_start_matches(',');
                }
                (name.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        samples.push((name, labels, value));
    }
    samples
}

fn sample<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|(found, found_labels, _)| {
        found == name
            && labels
                .iter()
                .all(|(key, value)| found_labels.get(*key).map(String::as_str) == Some(*value))
    })
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(samples, name, labels)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in the exposition"))
        .2
}

/// `promtool check metrics` on `text`: must pass without a single complaint.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool (Prometheus' linter) is needed: `.ci/run` installs it from Debian's \
             prometheus package",
        );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{said}"
    );
    assert!(said.trim().is_empty(), "promtool complained:\n{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_cover_every_family_and_pass_promtool() {
    let fake = FakeLlm::start();
    fake.set_default(Behaviour::Reply("A short summary.".into()));
    let port = free_port();
    let env = TestEnv::new()
        .with_env("CODESAGE_METRICS__LISTEN", &format!("127.0.0.1:{port}"))
        .with_env("CODESAGE_LLM__PROVIDER", "openai")
        .with_env("CODESAGE_LLM__BASE_URL", &fake.openai_url())
        .with_env("CODESAGE_LLM__MODEL", "test-model")
        .with_env("CODESAGE_LLM_API_KEY", "sk-test-metrics-0123456789abcdef");
    let root = env.workspace("project");
    sample_project(&root);
    let root_text = root.display().to_string();
    let client = env.mcp().await.expect("connect");
    client
        .ok("index_codebase", json!({"path": root_text}))
        .await;
    for _ in 0..3 {
        client
            .ok(
                "search_codebase",
                json!({"codebase_path": root_text, "pattern": "hello"}),
            )
            .await;
    }
    client
        .err(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "(unclosed"}),
        )
        .await;
    // Semantic search builds the root's chunks (reported per root once they exist).
    client
        .ok(
            "semantic_search_codebase",
            json!({"codebase_path": root_text, "query": "add two numbers"}),
        )
        .await;
    client
        .ok(
            "summarize_code_section",
            json!({"file_path": format!("{root_text}/src/util.rs"), "start_line": 1, "end_line": 4}),
        )
        .await;
    // A change made searchable by the watcher gives a write-to-searchable figure.
    write(&root, "src/fresh.rs", "fn freshly_written() {}\n");
    wait_for(
        Duration::from_secs(20),
        "the new file to be searchable",
        || {
            let output = env.codesage(&["search", "--root", &root_text, "freshly_written"]);
            output.status.success().then_some(())
        },
    );

    let (status, body) = get(port, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    promtool_check(&body);
    let samples = parse_exposition(&body);
    assert!(
        value(
            &samples,
            "codesage_requests_total",
            &[("tool", "search_codebase"), ("outcome", "ok")]
        ) >= 3.0
    );
    assert_eq!(
        value(
            &samples,
            "codesage_requests_total",
            &[("tool", "search_codebase"), ("outcome", "error")]
        ),
        1.0
    );
    assert!(
        value(
            &samples,
            "codesage_request_duration_seconds_count",
            &[("tool", "search_codebase")]
        ) >= 4.0
    );
    assert!(
        sample(
            &samples,
            "codesage_request_duration_seconds_bucket",
            &[("tool", "search_codebase"), ("le", "+Inf")]
        )
        .is_some()
    );
    assert_eq!(
        value(&samples, "codesage_errors_total", &[("kind", "tool_error")]),
        1.0
    );
    let root_label = [("root", root_text.as_str())];
    let files = env.status()["roots"][0]["files"].as_f64().expect("files");
    assert_eq!(value(&samples, "codesage_root_files", &root_label), files);
    assert!(value(&samples, "codesage_root_source_bytes", &root_label) > 0.0);
    assert!(value(&samples, "codesage_root_trigram_index_bytes", &root_label) > 0.0);
    assert!(value(&samples, "codesage_root_chunks", &root_label) > 0.0);
    assert!(sample(&samples, "codesage_root_vectors", &root_label).is_some());
    assert_eq!(
        value(
            &samples,
            "codesage_watcher_mode",
            &[("root", &root_text), ("mode", "watching")]
        ),
        1.0
    );
    assert!(sample(&samples, "codesage_watcher_queue_depth", &root_label).is_some());
    assert!(
        value(
            &samples,
            "codesage_watcher_changes_applied_total",
            &root_label
        ) >= 1.0
    );
    let latency = value(
        &samples,
        "codesage_write_to_searchable_seconds",
        &[("root", &root_text), ("stat", "p50")],
    );
    assert!(latency > 0.0 && latency < 20.0, "{latency}");
    for cache in ["content", "llm_replies", "vectors", "health_facts"] {
        assert!(
            sample(&samples, "codesage_cache_hits_total", &[("cache", cache)]).is_some(),
            "{cache}"
        );
        assert!(sample(&samples, "codesage_cache_misses_total", &[("cache", cache)]).is_some());
        assert!(sample(&samples, "codesage_cache_entries", &[("cache", cache)]).is_some());
    }
    assert!(
        sample(
            &samples,
            "codesage_cache_evictions_total",
            &[("cache", "content")]
        )
        .is_some()
    );
    assert!(
        value(
            &samples,
            "codesage_cache_hits_total",
            &[("cache", "content")]
        ) >= 1.0
    );
    assert!(value(&samples, "codesage_memory_rss_bytes", &[]) > 1e6);
    assert!(value(&samples, "codesage_store_file_bytes", &[]) > 0.0);
    assert!(
        value(
            &samples,
            "codesage_store_table_bytes",
            &[("table", "contents")]
        ) > 0.0
    );
    let provider = fake.label();
    assert_eq!(
        value(
            &samples,
            "codesage_llm_calls_total",
            &[("provider", &provider)]
        ),
        1.0,
        "{body}"
    );
    assert_eq!(
        value(
            &samples,
            "codesage_llm_failures_total",
            &[("provider", &provider)]
        ),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            "codesage_llm_breaker_state",
            &[("provider", &provider), ("state", "closed")]
        ),
        1.0
    );
    assert_eq!(
        value(&samples, "codesage_health", &[("state", "healthy")]),
        1.0
    );
    assert!(value(&samples, "codesage_connections_active", &[]) >= 1.0);

    // The control socket serves the same families; the tools read the same figures.
    let output = env.codesage(&["metrics"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    promtool_check(&text);
    let names = |samples: &[Sample]| -> BTreeSet<String> {
        samples.iter().map(|(name, _, _)| name.clone()).collect()
    };
    assert_eq!(names(&parse_exposition(&text)), names(&samples));
    let caches = client
        .ok("get_cache_statistics", json!({"codebase_path": root_text}))
        .await;
    let listed: BTreeSet<&str> = caches["caches"]
        .as_array()
        .expect("caches")
        .iter()
        .filter_map(|cache| cache["name"].as_str())
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from(["content", "llm_replies", "vectors", "health_facts"])
    );
    assert_eq!(caches["hit_rate_target"], 0.7);
    assert_eq!(caches["root"]["files"].as_f64(), Some(files));
    let performance = client.ok("get_performance_metrics", json!({})).await;
    assert_eq!(performance["errors_by_kind"]["tool_error"], 1);
    assert_eq!(performance["health"], "healthy");

    let (status, body) = get(port, "/healthz").await;
    assert_eq!(status, 200);
    assert!(body.contains("health: healthy"), "{body}");
    let (status, body) = get(port, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    let (status, _) = get(port, "/elsewhere").await;
    assert_eq!(status, 404);
    client.close().await;
}

/// A project big enough for backups to take a while: `files` Python modules.
fn generated_project(root: &Path, files: usize) {
    for index in 0..files {
        write(
            root,
            &format!("pkg/module_{index:03}.py"),
            &format!(
                "\"\"\"Module {index}.\"\"\"\n\n\ndef compute_{index}(value):\n    \
                 \"\"\"Compute {index}.\"\"\"\n    total = value * {index}\n    return total + \
                 helper_{index}(value)\n\n\ndef helper_{index}(value):\n    return value - 1\n\n\n\
                 class Widget{index}:\n    def render(self):\n        return compute_{index}(2)\n"
            ),
        );
    }
}

/// The answers a set of questions gets, without what differs between two daemons (index
/// generations, timings, cursors).
fn answers(env: &TestEnv, root: &str) -> Vec<Value> {
    let questions = [
        (
            "search_codebase",
            json!({"codebase_path": root, "pattern": "def compute_1\\d"}),
        ),
        (
            "search_codebase",
            json!({"codebase_path": root, "pattern": "edited"}),
        ),
        (
            "find_symbol",
            json!({"codebase_path": root, "name": "render"}),
        ),
        (
            "get_file_structure",
            json!({"codebase_path": root, "file_path": "pkg/module_007.py"}),
        ),
        ("count_lines_of_code", json!({"codebase_path": root})),
        (
            "find_references",
            json!({"codebase_path": root, "symbol": "helper_42"}),
        ),
    ];
    questions
        .iter()
        .map(|(name, arguments)| {
            let output = env.codesage(&["tool", name, &arguments.to_string()]);
            assert!(
                output.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let mut answer: Value = serde_json::from_slice(&output.stdout).expect("answer JSON");
            strip_volatile(&mut answer);
            answer
        })
        .collect()
}

/// Where two JSON values first differ, as a path with both sides.
fn first_difference(left: &Value, right: &Value, path: String) -> Option<String> {
    match (left, right) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|key| {
                first_difference(
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    format!("{path}.{key}"),
                )
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(index, (a, b))| first_difference(a, b, format!("{path}[{index}]"))),
        _ if left == right => None,
        _ => Some(format!(
            "{path}: {} vs {}",
            left.to_string().chars().take(300).collect::<String>(),
            right.to_string().chars().take(300).collect::<String>()
        )),
    }
}

fn strip_volatile(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in [
                "index_generation",
                "fresh_as_of_ms",
                "elapsed_ms",
                "cursor",
                "took_ms",
                "notes",
            ] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_volatile);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

/// Waits until every root of `env` has finished indexing and the watcher is idle.
fn settled(env: &TestEnv) {
    wait_for(Duration::from_secs(60), "the roots to be indexed", || {
        let status = env.status();
        let roots = status["roots"].as_array()?;
        let ready = !roots.is_empty()
            && roots.iter().all(|root| {
                root["state"] == "ready"
                    && root["watch"]["pending"].as_u64().unwrap_or(0) == 0
                    && root["watch"]["mode"] == "watching"
            });
        ready.then_some(())
    });
}

#[test]
fn a_backup_taken_under_load_restores_into_a_fresh_data_dir_with_the_same_answers() {
    let env = TestEnv::new();
    let root = env.workspace("project");
    generated_project(&root, 300);
    let root_text = root.display().to_string();
    let output = env.codesage(&["index", &root_text]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // 8 clients querying and one file changed every 10 ms while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for client in 0..8 {
        let stop = Arc::clone(&stop);
        let mut command = env.command(&codesage_bin());
        command.args(["search", "--root", &root_text, &format!("compute_{client}")]);
        workers.push(std::thread::spawn(move || {
            let mut served = 0;
            while !stop.load(Ordering::Relaxed) {
                let output = Command::new(command.get_program())
                    .args(command.get_args())
                    .envs(
                        command
                            .get_envs()
                            .filter_map(|(key, value)| Some((key, value?))),
                    )
                    .output()
                    .expect("run codesage search");
                assert!(output.status.success(), "a query failed during the backup");
                served += 1;
            }
            served
        }));
    }
    let writer = {
        let stop = Arc::clone(&stop);
        let root = root.clone();
        std::thread::spawn(move || {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let index = round % 50;
                write(
                    &root,
                    &format!("pkg/module_{index:03}.py"),
                    &format!(
                        "\"\"\"Module {index}, edited {round}.\"\"\"\n\n\ndef compute_{index}(value):\n    return value\n\n\ndef helper_{index}(value):\n    return value - 1\n"
                    ),
                );
                round += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            round
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let backup = env.dir.path().join("index.backup");
    let output = env.codesage(&["backup", backup.to_str().expect("path"), "--json"]);
    stop.store(true, Ordering::Relaxed);
    let edits = writer.join().expect("writer");
    let queries: usize = workers
        .into_iter()
        .map(|worker| worker.join().expect("client"))
        .sum();
    assert!(
        output.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        edits > 10 && queries > 8,
        "load during the backup: {edits} edits, {queries} queries"
    );
    let manifest: Value = serde_json::from_slice(&output.stdout).expect("manifest JSON");
    assert_eq!(manifest["roots"], json!([root_text]));
    assert!(manifest["payload_bytes"].as_u64().expect("payload") > 0);

    settled(&env);
    let before = answers(&env, &root_text);
    let check = env.codesage(&["check", "--json"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // Restored into a fresh data directory, the roots are reconciled with the disk and every
    // question gets the same answer.
    let fresh = TestEnv::new();
    let output = fresh.codesage(&["restore", backup.to_str().expect("path")]);
    assert!(
        output.status.success(),
        "restore failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    settled(&fresh);
    let after = answers(&fresh, &root_text);
    if let Some(difference) = first_difference(&json!(before), &json!(after), String::new()) {
        panic!("the restored daemon answers differently: {difference}");
    }
    let check = fresh.codesage(&["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("the store is sound"));
    fresh.stop();

    // Damaged backups are refused and the live store is left alone.
    let pid = env.daemon_pid().expect("pid");
    let bytes = std::fs::read(&backup).expect("backup bytes");
    let truncated = env.dir.path().join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).expect("write");
    let mut flipped_bytes = bytes.clone();
    let middle = flipped_bytes.len() / 2;
    flipped_bytes[middle] ^= 0x01;
    let flipped = env.dir.path().join("flipped.backup");
    std::fs::write(&flipped, &flipped_bytes).expect("write");
    for damaged in [&truncated, &flipped] {
        let output = env.codesage(&["restore", damaged.to_str().expect("path")]);
        assert!(!output.status.success(), "a damaged backup was restored");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(
            said.contains("is damaged") && said.contains("nothing was restored"),
            "{said}"
        );
    }
    assert_eq!(env.daemon_pid(), Some(pid));
    assert!(process_alive(pid), "the daemon kept serving");
    assert!(!env.data_dir.join("codesage.redb.rollback").exists());
    let again = answers(&env, &root_text);
    if let Some(difference) = first_difference(&json!(before), &json!(again), String::new()) {
        panic!("the live daemon answers differently after refused restores: {difference}");
    }
    let audit = std::fs::read_to_string(env.data_dir.join("logs/audit.log")).expect("audit log");
    assert!(audit.contains("\"action\":\"backup\""), "{audit}");
    assert!(audit.contains("\"action\":\"check\""), "{audit}");
}

#[test]
fn restore_keeps_the_previous_store_for_rollback() {
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);
    let root_text = root.display().to_string();
    assert!(env.codesage(&["index", &root_text]).status.success());
    let backup = env.dir.path().join("one.backup");
    assert!(
        env.codesage(&["backup", backup.to_str().expect("path")])
            .status
            .success()
    );
    let other = env.workspace("other");
    write(&other, "lib.rs", "pub fn only_in_other() {}\n");
    assert!(
        env.codesage(&["index", &other.display().to_string()])
            .status
            .success()
    );
    let old_pid = env.daemon_pid().expect("pid");
    let output = env.codesage(&["restore", backup.to_str().expect("path")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("previous store kept as"));
    assert!(env.data_dir.join("codesage.redb.rollback").is_file());
    let roots: Vec<String> = env.status()["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .map(|root| root["path"].as_str().expect("path").to_string())
        .collect();
    assert_eq!(roots, vec![root_text], "the backup had one root");
    assert_ne!(env.daemon_pid(), Some(old_pid), "the daemon was restarted");
    let compact = env.codesage(&["compact", "--json"]);
    assert!(compact.status.success());
    let report: Value = serde_json::from_slice(&compact.stdout).expect("JSON");
    assert!(["compacted", "nothing to do"].contains(&report["outcome"].as_str().expect("outcome")));
}

#[test]
fn config_check_names_each_bad_value_with_its_key_and_line() {
    let env = TestEnv::new();
    let file = env.dir.path().join("config.toml");
    let cases = [
        ("[index]\nmax_file_sise = 10\n", "index.max_file_sise", 2),
        ("[indexing]\nthreads = 2\n", "indexing", 1),
        (
            "[index]\ncompression_level = 99\n",
            "index.compression_level",
            2,
        ),
        (
            "[search]\n\ndefault_max_results = \"lots\"\n",
            "search.default_max_results",
            3,
        ),
        ("[llm]\nprovider = \"skynet\"\n", "llm.provider", 2),
        ("[llm]\ntemperature = 9.0\n", "llm.temperature", 2),
        (
            "[alerts]\nmax_error_rate = 2.5\n",
            "alerts.max_error_rate",
            2,
        ),
        (
            "[remote]\nlisten = \"https://0.0.0.0:443\"\n",
            "remote.listen",
            2,
        ),
        ("[metrics]\nlisten = \"everywhere\"\n", "metrics.listen", 2),
        ("[log]\nkeep_files = 0\n", "log.keep_files", 2),
        ("profile = \"turbo\"\n", "profile", 1),
    ];
    for (text, key, line) in cases {
        std::fs::write(&file, text).expect("write config");
        let output = env.codesage(&["config", "check", "--file", file.to_str().expect("path")]);
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{text:?} passed: {said}");
        assert!(said.contains(key), "{text:?}: {said}");
        assert!(said.contains(&format!("line {line}")), "{text:?}: {said}");
    }
    // The daemon refuses to start on the same file with the same message.
    std::fs::write(&file, "[index]\ncompression_level = 99\n").expect("write");
    let output = env
        .command(&codesaged_bin())
        .stdin(Stdio::null())
        .output()
        .expect("run codesaged");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("index.compression_level") && said.contains("line 2"),
        "{said}"
    );

    // A good file passes; show tells where each value came from, secrets masked.
    let init = env.codesage(&["config", "init", "--profile", "high-performance", "--force"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("template");
    assert!(text.contains("profile = \"high-performance\""));
    assert!(text.contains("\n# settle_ms = 20\n"), "{text}");
    let text = text.replace("\n# settle_ms = 20\n", "\nsettle_ms = 35\n");
    std::fs::write(&file, text).expect("write");
    std::fs::write(
        env.dir.path().join("test.env"),
        "GROQ_API_KEY=gsk_dotenvsecret0123456789abcdef\nCODESAGE_SEARCH__MAX_LINE_CHARS=333\n",
    )
    .expect("write .env");
    let output = env
        .command(&codesage_bin())
        .args(["config", "show", "--json"])
        .env("CODESAGE_INDEX__THREADS", "3")
        .output()
        .expect("config show");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        !shown.contains("dotenvsecret"),
        "a secret was shown: {shown}"
    );
    let values: Vec<Value> = serde_json::from_str(&shown).expect("JSON");
    let source = |key: &str| -> String {
        values
            .iter()
            .find(|value| value["key"] == key)
            .unwrap_or_else(|| panic!("{key} not shown"))["source"]
            .as_str()
            .expect("source")
            .to_string()
    };
    assert!(
        source("watch.settle_ms").starts_with("file ")
            && source("watch.settle_ms").contains("line ")
    );
    assert_eq!(source("index.threads"), "env CODESAGE_INDEX__THREADS");
    assert!(
        source("search.max_line_chars").starts_with(".env "),
        "{}",
        source("search.max_line_chars")
    );
    assert_eq!(
        source("index.compression_level"),
        "profile high-performance"
    );
    assert_eq!(source("index.include_hidden"), "default");
    assert!(source("secrets.groq_api_key").starts_with(".env "));
    let check = env.codesage(&["config", "check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn service_files_are_generated_valid_and_installed_idempotently() {
    let env = TestEnv::new();
    let home = env.workspace("home");
    let fake_bin = env.workspace("fakebin");
    let calls = env.dir.path().join("systemctl.calls");
    // A stand-in for the OS's service manager, recording what it was asked.
    write(
        &fake_bin,
        "systemctl",
        &format!("#!/bin/sh\necho \"$@\" >> {}\nexit 0\n", calls.display()),
    );
    Command::new("chmod")
        .args(["+x", fake_bin.join("systemctl").to_str().expect("path")])
        .status()
        .expect("chmod");
    let path = format!(
        "{}:{}",
        fake_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| {
        env.command(&codesage_bin())
            .args(args)
            .env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .env("PATH", &path)
            .output()
            .expect("codesage service")
    };

    let unit = run(&["service", "install", "--dry-run", "--platform", "systemd"]);
    assert!(unit.status.success());
    let unit_text = String::from_utf8_lossy(&unit.stdout).to_string();
    assert!(
        unit_text.contains(&format!("ExecStart={}", codesaged_bin().display())),
        "{unit_text}"
    );
    assert!(unit_text.contains(&format!("CODESAGE_DATA_DIR={}", env.data_dir.display())));
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        let unit_file = env.dir.path().join("codesaged.service");
        std::fs::write(&unit_file, &unit_text).expect("write unit");
        let runtime = env.workspace("xdg-runtime");
        let verify = Command::new("systemd-analyze")
            .args(["verify", "--user", unit_file.to_str().expect("path")])
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .expect("systemd-analyze");
        let said = String::from_utf8_lossy(&verify.stderr);
        assert!(
            verify.status.success() && said.trim().is_empty(),
            "systemd-analyze: {said}"
        );
    }
    let plist = run(&["service", "install", "--dry-run", "--platform", "launchd"]);
    assert!(plist.status.success());
    let plist_file = env.dir.path().join("agent.plist");
    std::fs::write(&plist_file, &plist.stdout).expect("write plist");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import plistlib,sys,json; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))",
            plist_file.to_str().expect("path"),
        ])
        .output()
        .expect("python3 plistlib");
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let agent: Value = serde_json::from_slice(&parsed.stdout).expect("plist as JSON");
    assert_eq!(agent["Label"], "dev.codesage.codesaged");
    assert_eq!(
        agent["ProgramArguments"][0],
        codesaged_bin().display().to_string()
    );
    assert_eq!(
        agent["EnvironmentVariables"]["CODESAGE_DATA_DIR"],
        env.data_dir.display().to_string()
    );

    // Installing twice writes the same unit once and asks systemd to enable it each time.
    let unit_path = home.join(".config/systemd/user/codesaged.service");
    for _ in 0..2 {
        let install = run(&["service", "install", "--platform", "systemd"]);
        assert!(
            install.status.success(),
            "{}",
            String::from_utf8_lossy(&install.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(&unit_path).expect("unit"),
            unit_text
        );
    }
    let asked = std::fs::read_to_string(&calls).expect("systemctl calls");
    assert_eq!(
        asked
            .matches("--user enable --now codesaged.service")
            .count(),
        2,
        "{asked}"
    );
    let status = run(&["service", "status", "--platform", "systemd"]);
    assert!(String::from_utf8_lossy(&status.stdout).contains("installed at"));
    let uninstall = run(&["service", "uninstall", "--platform", "systemd"]);
    assert!(uninstall.status.success());
    assert!(!unit_path.exists());
    assert!(
        std::fs::read_to_string(&calls)
            .expect("calls")
            .contains("--user disable --now codesaged.service")
    );
}

#[test]
fn no_log_sink_ever_holds_a_secret() {
    let groq = "gsk_canaryKEY0123456789abcdefXYZ";
    let shaped = "sk-proj-ShapedButUnknown0123456789abcdef";
    let env = TestEnv::new()
        .with_env("GROQ_API_KEY", groq)
        .with_env("RUST_LOG", "codesaged=debug,info")
        .with_env("CODESAGE_LOG__JSON", "true");
    let stderr_file = env.dir.path().join("daemon.stderr");
    let stderr = std::fs::File::create(&stderr_file).expect("stderr file");
    let mut daemon = env
        .command(&codesaged_bin())
        .arg("--log-stderr")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn codesaged");
    env.wait_until_listening();
    let root = env.workspace(&format!("project-{shaped}"));
    sample_project(&root);
    let root_text = root.display().to_string();
    assert!(env.codesage(&["index", &root_text]).status.success());
    for pattern in [groq, shaped] {
        // The request (with its pattern) is logged at debug level: masked.
        let _ = env.codesage(&["search", "--root", &root_text, pattern]);
    }
    env.stop();
    let _ = daemon.wait();

    let mut sinks: Vec<PathBuf> = std::fs::read_dir(env.data_dir.join("logs"))
        .expect("log dir")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    sinks.push(stderr_file);
    assert!(
        sinks.iter().any(|sink| sink.ends_with("audit.log")),
        "{sinks:?}"
    );
    let mut masked_lines = 0;
    for sink in &sinks {
        let text = std::fs::read_to_string(sink).expect("read sink");
        for secret in [groq, shaped, "canaryKEY", "ShapedButUnknown"] {
            assert!(!text.contains(secret), "{} holds {secret}", sink.display());
        }
        masked_lines += text.matches("«secret»").count();
    }
    assert!(
        masked_lines >= 3,
        "the secrets were never logged at all ({masked_lines})"
    );
    let log = sinks
        .iter()
        .find(|sink| {
            sink.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("codesaged."))
        })
        .expect("daemon log file");
    let first = std::fs::read_to_string(log).expect("log");
    let line = first.lines().next().expect("a line");
    let parsed: Value = serde_json::from_str(line).expect("log.json writes JSON lines");
    assert!(parsed["level"].is_string());
}

// ---------------------------------------------------------------------------------------
// Remote mode.

const TOKEN: &str = "remote-token-0123456789abcdef0123";
const OTHER_TOKEN: &str = "second-token-fedcba9876543210fedc";

/// A POST to `/mcp`: status, the session header, and the JSON-RPC messages of the body (JSON
/// or server-sent events).
async fn post(
    port: u16,
    token: Option<&str>,
    session: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, Vec<Value>) {
    post_raw(port, token, session, body.to_string(), None).await
}

async fn post_raw(
    port: u16,
    token: Option<&str>,
    session: Option<&str>,
    body: String,
    host: Option<&str>,
) -> (u16, Option<String>, Vec<Value>) {
    let mut request = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.expect("POST /mcp");
    let status = response.status().as_u16();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.unwrap_or_default();
    let messages = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .chain(text.trim_start().starts_with('{').then_some(text.as_str()))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect();
    (status, session, messages)
}

async fn open_session(port: u16, token: &str) -> String {
    let (status, session, messages) = post(
        port,
        Some(token),
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "1"}}}),
    )
    .await;
    assert_eq!(status, 200, "{messages:?}");
    assert_eq!(
        messages[0]["result"]["serverInfo"]["name"]
            .as_str()
            .map(|_| ()),
        Some(())
    );
    let session = session.expect("a session id");
    let (status, _, _) = post(
        port,
        Some(token),
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202);
    session
}

async fn call(
    port: u16,
    token: &str,
    session: &str,
    id: u64,
    tool: &str,
    arguments: Value,
) -> (u16, Vec<Value>) {
    let (status, _, messages) = post(
        port,
        Some(token),
        Some(session),
        &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments}}),
    )
    .await;
    (status, messages)
}

fn remote_env(root: &Path, port: u16) -> TestEnv {
    let tokens = root.with_file_name("tokens");
    std::fs::write(&tokens, format!("# team\nsecond:{OTHER_TOKEN}\n")).expect("tokens file");
    TestEnv::new()
        .with_env("CODESAGE_REMOTE_TOKEN", TOKEN)
        .with_env(
            "CODESAGE_REMOTE__TOKENS_FILE",
            tokens.to_str().expect("path"),
        )
        .with_env(
            "CODESAGE_REMOTE__LISTEN",
            &format!("http://127.0.0.1:{port}"),
        )
        .with_env(
            "CODESAGE_REMOTE__ALLOWED_ROOTS",
            &format!("[\"{}\"]", root.display()),
        )
        .with_env("CODESAGE_REMOTE__MAX_REQUEST_BYTES", "65536")
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_mode_serves_mcp_only_to_token_holders_within_the_allowed_roots() {
    let port = free_port();
    let holder = tempfile::tempdir().expect("temp");
    let root = holder.path().join("shared");
    std::fs::create_dir_all(&root).expect("root");
    sample_project(&root);
    let root = root.canonicalize().expect("canonical");
    let env = remote_env(&root, port).with_env("CODESAGE_REMOTE__REQUESTS_PER_MINUTE", "60");
    let _daemon = env.start_daemon();
    let root_text = root.display().to_string();
    let search = json!({"codebase_path": root_text, "pattern": "hello"});

    // Without a token, or with a wrong one: 401 and no tool runs.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}});
    for token in [None, Some("remote-token-0123456789abcdef0124"), Some("")] {
        let (status, _, _) = post(port, token, None, &initialize).await;
        assert_eq!(status, 401);
    }
    let session = open_session(port, TOKEN).await;
    let call_body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "index_codebase", "arguments": {"path": root_text}}});
    let (status, _, _) = post(
        port,
        Some("wrong-token-0123456789abcdef"),
        Some(&session),
        &call_body,
    )
    .await;
    assert_eq!(status, 401);
    let metrics = String::from_utf8_lossy(&env.codesage(&["metrics"]).stdout).to_string();
    assert!(
        !metrics.contains("tool=\"index_codebase\""),
        "a tool ran without a token"
    );
    assert!(
        metrics.contains("codesage_errors_total{kind=\"unauthorized\"} 4"),
        "{metrics}"
    );

    // The token holder indexes and searches the shared directory.
    let (status, messages) = call(
        port,
        TOKEN,
        &session,
        2,
        "index_codebase",
        json!({"path": root_text}),
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(messages[0]["result"]["isError"], true, "{messages:?}");
    let (_, messages) = call(port, TOKEN, &session, 3, "search_codebase", search.clone()).await;
    let found = &messages[0]["result"]["structuredContent"];
    assert!(
        found["total_matches"]
            .as_u64()
            .is_some_and(|total| total >= 2),
        "{messages:?}"
    );

    // Nothing outside the allowed roots: neither indexing nor reading.
    let outside = holder.path().join("private");
    std::fs::create_dir_all(&outside).expect("dir");
    write(&outside, "secret.txt", "not for remote clients\n");
    for (tool, arguments) in [
        (
            "index_codebase",
            json!({"path": outside.display().to_string()}),
        ),
        (
            "read_code_file",
            json!({"file_path": outside.join("secret.txt").display().to_string()}),
        ),
        (
            "read_code_file",
            json!({"file_path": format!("{root_text}/../private/secret.txt")}),
        ),
        ("index_codebase", json!({"path": "/"})),
    ] {
        let (_, messages) = call(port, TOKEN, &session, 4, tool, arguments.clone()).await;
        let result = &messages[0]["result"];
        assert_eq!(
            result["isError"], true,
            "{tool}({arguments}) was allowed: {messages:?}"
        );
        let text = result["content"][0]["text"].as_str().unwrap_or_default();
        assert!(!text.contains("not for remote clients"));
    }

    // A session belongs to the token that opened it.
    let (status, _) = call(
        port,
        OTHER_TOKEN,
        &session,
        5,
        "search_codebase",
        search.clone(),
    )
    .await;
    assert_eq!(status, 403);
    let other_session = open_session(port, OTHER_TOKEN).await;
    let (status, messages) = call(
        port,
        OTHER_TOKEN,
        &other_session,
        6,
        "search_codebase",
        search.clone(),
    )
    .await;
    assert_eq!(status, 200, "{messages:?}");

    // Oversized bodies and foreign Host headers are refused before any tool runs.
    let big = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "search_codebase", "arguments": {"pattern": "x".repeat(100_000)}}});
    let (status, _, _) = post(port, Some(TOKEN), Some(&session), &big).await;
    assert_eq!(status, 413);
    let (status, _, _) = post_raw(
        port,
        Some(TOKEN),
        None,
        initialize.to_string(),
        Some("evil.example.com"),
    )
    .await;
    assert_eq!(status, 403);

    // Health endpoints need no token; metrics do.
    assert_eq!(get(port, "/healthz").await.0, 200);
    assert_eq!(get(port, "/readyz").await.0, 200);
    assert_eq!(get(port, "/metrics").await.0, 401);
    let audit = std::fs::read_to_string(env.data_dir.join("logs/audit.log")).expect("audit");
    assert!(audit.contains("\"actor\":\"token:env\""), "{audit}");

    // Past remote.requests_per_minute a token gets 429 with Retry-After; another token does
    // not share its budget.
    let client = reqwest::Client::new();
    let mut limited = None;
    for _ in 0..80 {
        let response = client
            .get(format!("http://127.0.0.1:{port}/metrics"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .send()
            .await
            .expect("GET /metrics");
        if response.status().as_u16() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("a 429 within 80 requests at 60 per minute");
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let other = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .header("authorization", format!("Bearer {OTHER_TOKEN}"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(other.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_mode_passes_the_mcp_conformance_suite() {
    let port = free_port();
    let holder = tempfile::tempdir().expect("temp");
    let root = holder.path().join("shared");
    std::fs::create_dir_all(&root).expect("root");
    sample_project(&root);
    let env = remote_env(&root.canonicalize().expect("canonical"), port);
    let _daemon = env.start_daemon();
    let suite = conformance_suite();
    let results = env.dir.path().join("conformance");
    let output = Command::new("node")
        .arg("--import")
        .arg(repo_root().join("tests/conformance/inject-auth.mjs"))
        .arg(&suite)
        .args([
            "server",
            "--url",
            &format!("http://127.0.0.1:{port}/mcp"),
            "--suite",
            "active",
        ])
        .arg("--expected-failures")
        .arg(repo_root().join("tests/conformance/expected-failures.yml"))
        .arg("-o")
        .arg(&results)
        .env("MCP_BEARER_TOKEN", TOKEN)
        .output()
        .expect("run the conformance suite (node)");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "conformance suite failed:\n{said}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The scenarios a tools-only server must pass did run and pass.
    for scenario in [
        "server-initialize",
        "ping",
        "tools-list",
        "server-sse-multiple-streams",
    ] {
        let line = said
            .lines()
            .find(|line| line.contains(&format!(" {scenario}:")))
            .unwrap_or_else(|| panic!("{scenario} did not run:\n{said}"));
        assert!(line.contains(" 0 failed"), "{line}");
    }
}

/// The conformance suite's entry point, installed into `target/conformance` when missing.
fn conformance_suite() -> PathBuf {
    let dir = repo_root().join("target/conformance");
    let entry = dir.join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    if !entry.is_file() {
        std::fs::create_dir_all(&dir).expect("conformance dir");
        let status = Command::new("npm")
            .args([
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                dir.to_str().expect("path"),
                // 0.1.13: later versions need Node.js 22.
                "@modelcontextprotocol/conformance@0.1.13",
            ])
            .status()
            .expect("npm");
        assert!(
            status.success(),
            "npm install of the conformance suite failed"
        );
    }
    entry
}

#[tokio::test(flavor = "multi_thread")]
async fn the_container_entry_point_serves_checks_health_and_stops_on_sigterm() {
    let port = free_port();
    let env = TestEnv::new();
    let code = env.workspace("code");
    sample_project(&code);
    let entrypoint = repo_root().join("docker/entrypoint.sh");
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let refused = env
        .command(&entrypoint)
        .arg("serve")
        .env("PATH", &path)
        .env_remove("CODESAGE_REMOTE_TOKEN")
        .output()
        .expect("entrypoint");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("CODESAGE_REMOTE_TOKEN"));

    let mut serving = env
        .command(&entrypoint)
        .arg("serve")
        .env("PATH", &path)
        .env("CODESAGE_REMOTE_TOKEN", TOKEN)
        .env("CODESAGE_CODE_DIR", &code)
        .env("CODESAGE_PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("entrypoint serve");
    let healthcheck = || {
        env.command(&entrypoint)
            .arg("healthcheck")
            .env("PATH", &path)
            .env("CODESAGE_PORT", port.to_string())
            .status()
            .expect("healthcheck")
            .success()
    };
    wait_for(Duration::from_secs(30), "the health check to pass", || {
        healthcheck().then_some(())
    });
    // The mounted code is indexed and served remotely.
    wait_for(Duration::from_secs(30), "the code to be indexed", || {
        let status = env.status();
        (status["roots"][0]["state"] == "ready").then_some(())
    });
    let session = open_session(port, TOKEN).await;
    let (status, messages) = call(
        port,
        TOKEN,
        &session,
        2,
        "search_codebase",
        json!({"codebase_path": code.display().to_string(), "pattern": "hello"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        messages[0]["result"]["structuredContent"]["total_matches"]
            .as_u64()
            .is_some_and(|total| total >= 2)
    );

    let pid = serving.id();
    let daemon = env.daemon_pid().expect("daemon pid");
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill")
            .success()
    );
    let status = serving.wait().expect("entrypoint exit");
    assert!(status.success(), "{status:?}");
    assert!(
        !process_alive(daemon),
        "the daemon stopped with the container"
    );
    assert!(!healthcheck(), "nothing serves after the stop");
}
