//! The LLM-assisted tools end to end: the real daemon and shim, a real MCP client, and a
//! stand-in for the paid providers (`codesage_e2e::fake_llm`, an HTTP server on 127.0.0.1
//! speaking the OpenAI-compatible and Gemini wire formats with scripted faults).
//!
//! What is checked: the prompt carries the context assembled from the index; both wire
//! formats; replies cached and invalidated by an edit; every fault ends in the offline
//! analysis with its reason, the right number of attempts and within the configured time;
//! the breaker opens and half-opens; the client-side rate limit; cancellation; MCP sampling
//! through a client that lends its model; the offline results themselves; bad input; and
//! that an API key never appears in an answer, a log, the status or the configuration.
#![cfg(unix)]
// MCP sampling is deprecated by SEP-2577 in the newest protocol revision, but current clients
// still lend their model through it, so it is tested.
#![allow(deprecated)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use codesage_e2e::fake_llm::{Behaviour, FakeLlm};
use codesage_e2e::{McpClient, TestEnv, age_tree, text_of, wait_for, write};
use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientRequest, CreateMessageRequestParams,
    CreateMessageResult, Role, SamplingMessage, SamplingMessageContentBlock,
};
use rmcp::service::{PeerRequestOptions, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::{Value, json};

const PRICING: &str = r#""""Pricing rules."""
import os

from app.util import round_money


def apply_discount(price, rate):
    if rate < 0 or rate > 1:
        raise ValueError("rate must be between 0 and 1")
    # TODO: support per-customer discount tiers
    return round_money(price * (1 - rate))


def checkout(items, rate):
    """Total of the items after the discount."""
    total = sum(item.price for item in items)
    region = os.environ.get("REGION", "eu")
    return apply_discount(total, rate), region


def shipping(weight, width, height, depth, zone, express):
    cost = weight * 2
    if express:
        cost = cost * 2
    return cost + zone
"#;

const UTIL: &str = "def round_money(value: float) -> float:\n    \"\"\"Round to cents.\"\"\"\n    return round(value, 2)\n";

/// The shop fixture: pricing rules calling a helper in another file, a caller, a TODO, a
/// function with many parameters, and a manifest naming pytest.
fn shop(root: &Path) {
    write(root, "app/__init__.py", "");
    write(root, "app/pricing.py", PRICING);
    write(root, "app/util.py", UTIL);
    write(
        root,
        "pyproject.toml",
        "[project]\nname = \"shop\"\n\n[project.optional-dependencies]\ntest = [\"pytest\"]\n",
    );
    write(root, "data.bin", "\u{0}\u{1}\u{2}binary");
    age_tree(root);
}

/// An environment whose daemon asks the fake server (OpenAI-compatible) with `key`.
fn openai_env(fake: &FakeLlm, key: &str, extra: &[(&str, &str)]) -> TestEnv {
    let mut env = TestEnv::new()
        .with_env("CODESAGE_LLM__PROVIDER", "openai")
        .with_env("CODESAGE_LLM__BASE_URL", &fake.openai_url())
        .with_env("CODESAGE_LLM__MODEL", "llama3-8b-8192")
        .with_env("CODESAGE_LLM_API_KEY", key);
    for (name, value) in extra {
        env = env.with_env(name, value);
    }
    env
}

async fn indexed(env: &TestEnv) -> (McpClient, String) {
    let root = env.workspace("shop");
    shop(&root);
    let client = env.mcp().await.expect("connect");
    let root_text = root.display().to_string();
    client
        .ok("index_codebase", json!({"path": root_text}))
        .await;
    (client, root_text)
}

fn file(root: &str, relative: &str) -> String {
    format!("{root}/{relative}")
}

fn kinds(answer: &Value) -> Vec<String> {
    answer["context"]["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .map(|part| part["kind"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prompt_carries_the_context_and_replies_are_cached_until_the_code_changes() {
    let fake = FakeLlm::start();
    let key = "sk-test-context-0123456789abcdef";
    let env = openai_env(&fake, key, &[]);
    let (client, root) = indexed(&env).await;
    let pricing = file(&root, "app/pricing.py");

    fake.script([Behaviour::Reply(
        "Applies a discount rate to a price.".into(),
    )]);
    let answer = client
        .ok(
            "summarize_code_section",
            json!({"file_path": pricing, "function_name": "apply_discount"}),
        )
        .await;
    assert_eq!(answer["source"], "llm", "{answer}");
    assert_eq!(answer["summary"], "Applies a discount rate to a price.");
    assert_eq!(answer["llm"]["provider"], fake.label());
    assert_eq!(answer["llm"]["cached"], false);
    assert_eq!(answer["llm"]["attempts"], 1);
    assert_eq!(answer["llm"]["tokens_in"], 120, "usage is read: {answer}");
    assert_eq!(answer["symbol"]["qualified_name"], "apply_discount");

    let sent = fake.received();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    assert_eq!(request.body["model"], "llama3-8b-8192");
    assert_eq!(request.body["messages"][0]["role"], "system");
    let prompt = request.prompt();
    for expected in [
        "def apply_discount(price, rate):",
        "raise ValueError",
        // The callee's signature, from another file.
        "def round_money(value: float) -> float:",
        "app/util.py",
        // The caller.
        "checkout",
        // The outline and the project.
        "Outline of app/pricing.py",
        "test framework: pytest",
    ] {
        assert!(
            prompt.contains(expected),
            "prompt lacks {expected:?}:\n{prompt}"
        );
    }
    // The section only: the other functions' bodies are not sent.
    assert!(!prompt.contains("cost = weight * 2"), "{prompt}");
    let parts = kinds(&answer);
    for kind in ["code", "symbol", "callees", "callers", "outline", "project"] {
        assert!(
            parts.contains(&kind.to_string()),
            "{kind} missing: {parts:?}"
        );
    }
    let context = &answer["context"];
    assert!(context["tokens"].as_u64().unwrap() <= context["budget"].as_u64().unwrap());
    assert!(context["file_tokens"].as_u64().unwrap() > 0);

    // The same question is answered from the cache, without a call.
    let again = client
        .ok(
            "summarize_code_section",
            json!({"file_path": pricing, "function_name": "apply_discount"}),
        )
        .await;
    assert_eq!(again["llm"]["cached"], true, "{again}");
    assert_eq!(again["summary"], "Applies a discount rate to a price.");
    assert_eq!(fake.count(), 1);
    let stats = client.ok("get_cache_statistics", json!({})).await;
    assert_eq!(stats["llm_reply_cache"]["hits"], 1, "{stats}");
    assert!(stats["llm_reply_cache"]["hit_rate"].as_f64().unwrap() > 0.0);
    assert!(stats["llm_reply_cache"]["entries"].as_u64().unwrap() >= 1);

    // An edit to the section invalidates its cached reply.
    std::fs::write(
        Path::new(&pricing),
        PRICING.replace("raise ValueError", "raise RuntimeError"),
    )
    .unwrap();
    fake.script([Behaviour::Reply("Edited.".into())]);
    let edited = client
        .ok(
            "summarize_code_section",
            json!({"file_path": pricing, "function_name": "apply_discount"}),
        )
        .await;
    assert_eq!(edited["llm"]["cached"], false, "{edited}");
    assert_eq!(edited["summary"], "Edited.");
    assert_eq!(fake.count(), 2);
    assert!(fake.received()[1].prompt().contains("raise RuntimeError"));

    // The other tools, answered by the model.
    fake.script([Behaviour::Reply(
        "Here you are:\n```python\nimport pytest\nfrom app.pricing import apply_discount\n\n\ndef test_half_price():\n    assert apply_discount(100, 0.5) == 50\n```\n"
            .into(),
    )]);
    let tests = client
        .ok(
            "generate_unit_tests",
            json!({"file_path": pricing, "function_name": "apply_discount"}),
        )
        .await;
    assert_eq!(tests["source"], "llm", "{tests}");
    assert_eq!(tests["framework"], "pytest");
    assert_eq!(tests["suggested_path"], "tests/test_pricing.py");
    assert!(
        tests["test_code"]
            .as_str()
            .unwrap()
            .starts_with("import pytest\n"),
        "{tests}"
    );
    assert!(!tests["test_code"].as_str().unwrap().contains("```"));
    assert!(fake.received()[2].prompt().contains("pytest"));

    fake.script([Behaviour::Reply(
        "- [line 8] Check that price is not negative.\n- [line 11] Use Decimal for money.\n".into(),
    )]);
    let suggested = client
        .ok(
            "suggest_code_improvements",
            json!({"file_path": pricing, "function_name": "apply_discount"}),
        )
        .await;
    let suggestions = suggested["suggestions"].as_array().unwrap();
    let model: Vec<&Value> = suggestions
        .iter()
        .filter(|s| s["kind"] == "model")
        .collect();
    assert_eq!(model.len(), 2, "{suggested}");
    assert_eq!(model[0]["location"], "app/pricing.py:8");
    assert_eq!(model[1]["message"], "Use Decimal for money.");
    assert!(
        suggestions
            .iter()
            .any(|s| s["kind"] == "todo" && s["location"] == "app/pricing.py:10"),
        "the measured findings are merged in: {suggested}"
    );

    fake.script([Behaviour::Reply(
        r#"{"functions": [{"name": "shipping", "summary": "Compute the shipping cost of a parcel", "params": {"weight": "Weight in kg.", "zone": "Zone surcharge."}, "returns": "The cost."}, {"name": "apply_discount", "summary": "Apply a discount rate to a price"}]}"#
            .into(),
    )]);
    let documented = client
        .ok("auto_document", json!({"file_path": pricing}))
        .await;
    assert_eq!(documented["source"], "llm", "{documented}");
    assert_eq!(documented["undocumented_total"], 2, "{documented}");
    let diff = documented["diff"].as_str().unwrap();
    assert!(
        diff.contains("+    \"\"\"Compute the shipping cost of a parcel."),
        "{diff}"
    );
    assert!(diff.contains("+        weight: Weight in kg."), "{diff}");
    assert!(
        diff.contains("+    \"\"\"Apply a discount rate to a price."),
        "{diff}"
    );
    assert!(documented["documented"][0]["from_model"].as_bool().unwrap());
    apply_and_parse(Path::new(&root), diff);

    fake.script([Behaviour::Reply(
        "Add a tiers table keyed by customer.".into(),
    )]);
    let resolved = client
        .ok(
            "resolve_todo_fixme",
            json!({"file_path": pricing, "line": 10}),
        )
        .await;
    assert_eq!(resolved["proposal"], "Add a tiers table keyed by customer.");
    assert_eq!(resolved["marker"]["marker"], "TODO");
    assert_eq!(resolved["symbol"]["qualified_name"], "apply_discount");
    assert!(
        fake.received()
            .last()
            .unwrap()
            .prompt()
            .contains("support per-customer discount tiers")
    );

    // Costs are visible.
    let status = env.status();
    let provider = &status["llm"]["providers"][fake.label()];
    assert_eq!(provider["calls"], 6, "{status}");
    assert_eq!(provider["succeeded"], 6);
    assert_eq!(provider["tokens_in"], 720);
    assert_eq!(provider["breaker"], "closed");
    let metrics = client.ok("get_performance_metrics", json!({})).await;
    assert_eq!(metrics["llm"]["providers"][fake.label()]["tokens_out"], 180);
    client.close().await;
}

/// Applies `diff` to a copy of `root` with `git apply` and checks the result still parses
/// as Python.
fn apply_and_parse(root: &Path, diff: &str) {
    let copy = tempfile::tempdir().unwrap();
    let target = copy.path().join("app");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::copy(root.join("app/pricing.py"), target.join("pricing.py")).unwrap();
    std::fs::write(copy.path().join("doc.diff"), diff).unwrap();
    let applied = std::process::Command::new("git")
        .args(["apply", "doc.diff"])
        .current_dir(copy.path())
        .output()
        .expect("run git apply");
    assert!(
        applied.status.success(),
        "the diff does not apply: {}\n{diff}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let parsed = std::process::Command::new("python3")
        .args(["-c", "import ast,sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(target.join("pricing.py"))
        .output()
        .expect("run python3");
    assert!(
        parsed.status.success(),
        "the documented file does not parse: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_is_spoken_natively_with_the_key_in_a_header() {
    let fake = FakeLlm::start();
    let key = "AIza-test-gemini-0123456789abcdef";
    let env = TestEnv::new()
        .with_env("CODESAGE_LLM__PROVIDER", "gemini")
        .with_env("CODESAGE_LLM__BASE_URL", &fake.gemini_url())
        .with_env("CODESAGE_LLM__MODEL", "gemini-test")
        .with_env("GOOGLE_API_KEY", key);
    let (client, root) = indexed(&env).await;
    fake.script([Behaviour::Reply("Rounds money.".into())]);
    let answer = client
        .ok(
            "summarize_code_section",
            json!({"file_path": file(&root, "app/util.py"), "function_name": "round_money"}),
        )
        .await;
    assert_eq!(answer["source"], "llm", "{answer}");
    assert_eq!(answer["summary"], "Rounds money.");
    assert_eq!(answer["llm"]["provider"], "gemini");
    assert_eq!(answer["llm"]["model"], "gemini-fake");
    assert_eq!(answer["llm"]["tokens_in"], 120);
    let request = &fake.received()[0];
    assert_eq!(request.path, "/v1beta/models/gemini-test:generateContent");
    assert_eq!(request.header("x-goog-api-key"), Some(key));
    assert!(!request.path.contains(key), "the key is not in the URL");
    assert!(
        request.body["systemInstruction"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("senior software engineer")
    );
    assert!(
        request.body["contents"][0]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("return round(value, 2)")
    );
    assert!(
        request.body["generationConfig"]["maxOutputTokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Gemini's faults end the same way: an empty candidate list gives the offline result.
    fake.set_default(Behaviour::Empty);
    let empty = client
        .ok(
            "summarize_code_section",
            json!({"file_path": file(&root, "app/util.py"), "start_line": 1, "end_line": 2}),
        )
        .await;
    assert_eq!(empty["source"], "offline", "{empty}");
    assert!(
        empty["llm_unavailable"]
            .as_str()
            .unwrap()
            .contains("empty reply")
    );
    client.close().await;
}

/// One call of `summarize_code_section` on lines 1..=`end` of pricing.py (each scenario
/// asks about a different range, so no reply is served from the cache): the answer, the
/// time it took and the requests the fake server received for it.
async fn summarize_range(
    client: &McpClient,
    fake: &FakeLlm,
    root: &str,
    end: u32,
) -> (Value, Duration, usize) {
    let before = fake.count();
    let started = Instant::now();
    let answer = client
        .ok(
            "summarize_code_section",
            json!({"file_path": file(root, "app/pricing.py"), "start_line": 1, "end_line": end}),
        )
        .await;
    (answer, started.elapsed(), fake.count() - before)
}

fn unavailable(answer: &Value) -> String {
    answer["llm_unavailable"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_offline(answer: &Value, reason: &str) {
    assert_eq!(answer["source"], "offline", "{answer}");
    let why = unavailable(answer);
    assert!(why.contains(reason), "{reason:?} not in {why:?}");
    assert!(
        answer["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|note| note.as_str().unwrap().starts_with("llm: unavailable — ")),
        "{answer}"
    );
    // The offline analysis is the answer.
    assert_eq!(
        answer["summary"], answer["structure"]["overview"],
        "{answer}"
    );
    assert!(!answer["summary"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_ends_in_the_offline_analysis_with_its_reason_in_time() {
    let fake = FakeLlm::start();
    let env = openai_env(
        &fake,
        "sk-test-faults-0123456789abcdef",
        &[
            ("CODESAGE_LLM__REQUEST_TIMEOUT_MS", "1000"),
            ("CODESAGE_LLM__TOTAL_TIMEOUT_MS", "4000"),
            ("CODESAGE_LLM__MAX_RETRIES", "2"),
            ("CODESAGE_LLM__BACKOFF_INITIAL_MS", "50"),
            ("CODESAGE_LLM__BACKOFF_MAX_MS", "3000"),
            ("CODESAGE_LLM__BREAKER_FAILURES", "100"),
        ],
    );
    let (client, root) = indexed(&env).await;

    // 429 with Retry-After: waited for, then answered.
    fake.script([
        Behaviour::Status(429, Some(1), "slow down".into()),
        Behaviour::Reply("after the wait".into()),
    ]);
    let (answer, took, attempts) = summarize_range(&client, &fake, &root, 3).await;
    assert_eq!(answer["source"], "llm", "{answer}");
    assert_eq!(answer["summary"], "after the wait");
    assert_eq!((attempts, answer["llm"]["attempts"].as_u64()), (2, Some(2)));
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After honoured: {took:?}"
    );

    // 500 then 503, then an answer: retried.
    fake.script([
        Behaviour::Status(500, None, "boom".into()),
        Behaviour::Status(503, None, "busy".into()),
        Behaviour::Reply("third time".into()),
    ]);
    let (answer, _, attempts) = summarize_range(&client, &fake, &root, 4).await;
    assert_eq!(answer["summary"], "third time", "{answer}");
    assert_eq!(attempts, 3);

    // Persistent faults: every retry spent, then the offline analysis.
    fake.set_default(Behaviour::Status(429, Some(0), "rate limited".into()));
    let (answer, _, attempts) = summarize_range(&client, &fake, &root, 5).await;
    assert_offline(&answer, "429");
    assert!(unavailable(&answer).contains("after 3 tries"), "{answer}");
    assert_eq!(attempts, 3);

    fake.set_default(Behaviour::Status(500, None, "internal".into()));
    let (answer, _, attempts) = summarize_range(&client, &fake, &root, 6).await;
    assert_offline(&answer, "500");
    assert_eq!(attempts, 3);

    // A hung connection and a slow body: bounded by the timeouts.
    for (end, behaviour) in [(7, Behaviour::Hang), (8, Behaviour::SlowBody)] {
        fake.set_default(behaviour.clone());
        let (answer, took, attempts) = summarize_range(&client, &fake, &root, end).await;
        assert_offline(&answer, "no answer within");
        assert!(
            took < Duration::from_millis(4000 + 2000),
            "{behaviour:?} took {took:?}, over llm.total_timeout_ms"
        );
        assert!(
            (1..=3).contains(&attempts),
            "{behaviour:?}: {attempts} attempts"
        );
    }

    // Faults a retry would not mend: one attempt.
    for (end, behaviour, reason) in [
        (9, Behaviour::Malformed, "malformed reply"),
        (10, Behaviour::Empty, "empty reply"),
        (
            11,
            Behaviour::Status(401, None, "Incorrect API key provided".into()),
            "401 (the API key was refused)",
        ),
    ] {
        fake.set_default(behaviour);
        let (answer, took, attempts) = summarize_range(&client, &fake, &root, end).await;
        assert_offline(&answer, reason);
        assert_eq!(attempts, 1, "{reason}: {answer}");
        assert!(took < Duration::from_secs(3), "{reason} took {took:?}");
    }

    let status = env.status();
    let provider = &status["llm"]["providers"][fake.label()];
    assert_eq!(provider["calls"], 9, "{status}");
    assert_eq!(provider["succeeded"], 2);
    assert_eq!(provider["failures"], 7);
    assert_eq!(provider["breaker"], "closed");
    assert!(provider["last_error"].as_str().unwrap().contains("401"));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_opens_after_repeated_failures_and_half_opens_later() {
    let fake = FakeLlm::start();
    let env = openai_env(
        &fake,
        "sk-test-breaker-0123456789abcdef",
        &[
            ("CODESAGE_LLM__MAX_RETRIES", "0"),
            ("CODESAGE_LLM__BREAKER_FAILURES", "2"),
            ("CODESAGE_LLM__BREAKER_COOLDOWN_MS", "4000"),
        ],
    );
    let (client, root) = indexed(&env).await;
    fake.set_default(Behaviour::Status(500, None, "down".into()));
    for end in [3, 4] {
        let (answer, _, attempts) = summarize_range(&client, &fake, &root, end).await;
        assert_offline(&answer, "500");
        assert_eq!(attempts, 1);
    }
    let status = env.status();
    assert_eq!(
        status["llm"]["providers"][fake.label()]["breaker"],
        "open",
        "{status}"
    );
    // Open: refused without a request.
    let (answer, _, attempts) = summarize_range(&client, &fake, &root, 5).await;
    assert_offline(&answer, "circuit breaker");
    assert_eq!(attempts, 0);
    // After the cooldown one call goes through; its success closes the breaker.
    std::thread::sleep(Duration::from_millis(4100));
    assert_eq!(
        env.status()["llm"]["providers"][fake.label()]["breaker"],
        "half-open"
    );
    fake.set_default(Behaviour::Reply("back".into()));
    let (answer, _, attempts) = summarize_range(&client, &fake, &root, 6).await;
    assert_eq!(answer["summary"], "back", "{answer}");
    assert_eq!(attempts, 1);
    let status = env.status();
    let provider = &status["llm"]["providers"][fake.label()];
    assert_eq!(provider["breaker"], "closed", "{status}");
    assert_eq!(provider["breaker_refusals"], 1);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_side_rate_limit_and_cancellation_stop_waiting() {
    let fake = FakeLlm::start();
    let env = openai_env(
        &fake,
        "sk-test-limits-0123456789abcdef",
        &[
            ("CODESAGE_LLM__REQUESTS_PER_MINUTE", "2"),
            ("CODESAGE_LLM__REQUEST_TIMEOUT_MS", "60000"),
            ("CODESAGE_LLM__TOTAL_TIMEOUT_MS", "60000"),
        ],
    );
    let (client, root) = indexed(&env).await;
    for end in [3, 4] {
        let (answer, _, _) = summarize_range(&client, &fake, &root, end).await;
        assert_eq!(answer["source"], "llm", "{answer}");
    }
    // The third call in a minute would wait past its deadline: offline at once.
    let env_limited = summarize_range(&client, &fake, &root, 5).await;
    let (answer, took, attempts) = env_limited;
    assert_offline(&answer, "rate limit");
    assert_eq!(attempts, 0);
    assert!(took < Duration::from_secs(5), "{took:?}");
    client.close().await;

    // Cancellation: a call waiting on a hung provider stops when the client cancels.
    let fake = FakeLlm::start();
    fake.set_default(Behaviour::Hang);
    let env = openai_env(
        &fake,
        "sk-test-cancel-0123456789abcdef",
        &[
            ("CODESAGE_LLM__REQUEST_TIMEOUT_MS", "60000"),
            ("CODESAGE_LLM__TOTAL_TIMEOUT_MS", "60000"),
        ],
    );
    let (client, root) = indexed(&env).await;
    let request = ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
        rmcp::model::CallToolRequestParams::new("summarize_code_section").with_arguments(
            json!({"file_path": file(&root, "app/util.py"), "function_name": "round_money"})
                .as_object()
                .cloned()
                .unwrap(),
        ),
    ));
    let handle = client
        .service
        .peer()
        .send_cancellable_request(request, PeerRequestOptions::default())
        .await
        .expect("send the call");
    wait_for(Duration::from_secs(20), "the provider to be asked", || {
        (fake.count() == 1).then_some(())
    });
    assert_eq!(env.status()["mcp_requests_in_flight"], 1);
    handle
        .cancel(Some("the user moved on".into()))
        .await
        .expect("send notifications/cancelled");
    wait_for(Duration::from_secs(5), "the call to stop", || {
        (env.status()["mcp_requests_in_flight"] == 0).then_some(())
    });
    let status = env.status();
    let provider = &status["llm"]["providers"][fake.label()];
    assert_eq!(
        provider["failures"], 0,
        "a cancelled call is not a failure: {status}"
    );
    assert_eq!(provider["breaker"], "closed");
    client.close().await;
}

/// A client that lends its model through MCP sampling and records what it was asked.
#[derive(Clone, Default)]
struct SamplingClient {
    asked: Arc<Mutex<Vec<CreateMessageRequestParams>>>,
}

#[allow(deprecated)]
impl ClientHandler for SamplingClient {
    fn get_info(&self) -> ClientConfig {
        let capabilities = ClientCapabilities::builder().enable_sampling().build();
        ClientConfig::new(
            capabilities,
            rmcp::model::Implementation::new("sampling-test", "1"),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.asked.lock().unwrap().push(params);
        Ok(CreateMessageResult::new(
            SamplingMessage::new(
                Role::Assistant,
                SamplingMessageContentBlock::text("From the client's own model."),
            ),
            "client-model-1".into(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_offers_sampling_lends_its_model() {
    let env = TestEnv::new();
    let root = env.workspace("shop");
    shop(&root);
    let root = root.display().to_string();
    let handler = SamplingClient::default();
    let asked = Arc::clone(&handler.asked);
    let client = env.mcp_with(handler).await.expect("connect");
    client.ok("index_codebase", json!({"path": root})).await;
    let answer = client
        .ok(
            "summarize_code_section",
            json!({"file_path": file(&root, "app/pricing.py"), "function_name": "checkout"}),
        )
        .await;
    assert_eq!(answer["source"], "llm", "{answer}");
    assert_eq!(answer["llm"]["provider"], "sampling");
    assert_eq!(answer["llm"]["model"], "client-model-1");
    assert_eq!(answer["summary"], "From the client's own model.");
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    let request = serde_json::to_value(&asked[0]).unwrap();
    let text = request.to_string();
    assert!(text.contains("def checkout(items, rate):"), "{text}");
    assert!(
        request["systemPrompt"]
            .as_str()
            .unwrap()
            .contains("senior software engineer")
    );
    assert!(request["maxTokens"].as_u64().unwrap() > 0);
    client.close().await;

    // A client without sampling, and no key: the offline analysis, saying why.
    let plain = env.mcp().await.expect("connect");
    let answer = plain
        .ok(
            "summarize_code_section",
            json!({"file_path": file(&root, "app/pricing.py"), "function_name": "checkout"}),
        )
        .await;
    assert_offline(&answer, "no LLM is configured");
    plain.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_results_are_useful_and_bad_input_is_refused() {
    let env = TestEnv::new();
    let (client, root) = indexed(&env).await;
    let pricing = file(&root, "app/pricing.py");

    let summary = client
        .ok(
            "summarize_code_section",
            json!({"file_path": pricing, "function_name": "checkout"}),
        )
        .await;
    assert_offline(&summary, "no LLM is configured");
    let effects = summary["structure"]["side_effects"].as_array().unwrap();
    assert!(
        effects
            .iter()
            .any(|effect| effect["kind"] == "environment" && effect["line"] == 17),
        "{summary}"
    );
    assert!(
        summary["structure"]["calls"]
            .as_array()
            .unwrap()
            .contains(&json!("apply_discount"))
    );
    assert!(
        summary["summary"]
            .as_str()
            .unwrap()
            .contains("Total of the items after the discount")
    );

    let tests = client
        .ok(
            "generate_unit_tests",
            json!({"file_path": pricing, "function_name": "apply_discount"}),
        )
        .await;
    assert_eq!(tests["source"], "offline");
    let code = tests["test_code"].as_str().unwrap();
    for expected in [
        "import pytest",
        "from app.pricing import apply_discount",
        "def test_apply_discount_returns_expected_result():",
        "apply_discount(price, rate)",
    ] {
        assert!(code.contains(expected), "{expected:?} not in\n{code}");
    }

    let documented = client
        .ok("auto_document", json!({"file_path": pricing}))
        .await;
    let diff = documented["diff"].as_str().unwrap();
    assert!(diff.contains("+    \"\"\"Apply discount."), "{diff}");
    assert!(
        diff.contains("+        price: TODO: describe price."),
        "{diff}"
    );
    assert_eq!(documented["undocumented_total"], 2);
    apply_and_parse(Path::new(&root), diff);

    let suggested = client
        .ok("suggest_code_improvements", json!({"file_path": pricing}))
        .await;
    let suggestions = suggested["suggestions"].as_array().unwrap();
    let parameters = suggestions
        .iter()
        .find(|s| s["kind"] == "parameters")
        .unwrap_or_else(|| panic!("no parameters finding: {suggested}"));
    assert_eq!(parameters["symbol"], "shipping");
    assert_eq!(parameters["value"], 6.0);
    assert_eq!(parameters["threshold"], 5.0);
    assert!(suggestions.iter().any(|s| s["kind"] == "todo"));

    let resolved = client
        .ok("resolve_todo_fixme", json!({"file_path": pricing}))
        .await;
    assert_eq!(resolved["marker"]["line"], 10);
    assert!(
        resolved["proposal"]
            .as_str()
            .unwrap()
            .contains("support per-customer discount tiers")
    );

    // Bad input: a clear error each.
    let util = file(&root, "app/util.py");
    for (tool, arguments, expected) in [
        (
            "summarize_code_section",
            json!({"file_path": file(&root, "app/missing.py")}),
            "not found",
        ),
        (
            "summarize_code_section",
            json!({"file_path": "/etc/hostname"}),
            "outside the indexed codebases",
        ),
        (
            "summarize_code_section",
            json!({"file_path": pricing, "function_name": "nope"}),
            "defines no function named \"nope\"",
        ),
        (
            "summarize_code_section",
            json!({"file_path": pricing, "start_line": 0}),
            "counts from 1",
        ),
        (
            "summarize_code_section",
            json!({"file_path": pricing, "start_line": 9, "end_line": 3}),
            "before start_line",
        ),
        (
            "summarize_code_section",
            json!({"file_path": pricing, "start_line": 900}),
            "past the end",
        ),
        (
            "summarize_code_section",
            json!({"file_path": file(&root, "data.bin")}),
            "binary",
        ),
        (
            "resolve_todo_fixme",
            json!({"file_path": util}),
            "has no TODO",
        ),
        (
            "resolve_todo_fixme",
            json!({"file_path": pricing, "line": 2}),
            "no marker at or near line 2",
        ),
        (
            "resolve_todo_fixme",
            json!({"file_path": pricing, "line": 0}),
            "counts from 1",
        ),
        (
            "generate_unit_tests",
            json!({"file_path": pricing, "function_name": " "}),
            "is empty",
        ),
        (
            "generate_unit_tests",
            json!({"file_path": pricing}),
            "function_name",
        ),
        (
            "auto_document",
            json!({"file_path": pricing, "max_results": -1}),
            "max_results",
        ),
    ] {
        let error = client.err(tool, arguments.clone()).await;
        assert!(error.contains(expected), "{tool}({arguments}): {error}");
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_never_appear_in_answers_logs_status_or_configuration() {
    let fake = FakeLlm::start();
    let key = "gsk_LEAKCANARY_0123456789abcdefWXYZ";
    let groq = "gsk_GROQCANARY_9876543210fedcbaQRST";
    // No reply cache: every round must reach the provider.
    let env = openai_env(
        &fake,
        key,
        &[
            ("GROQ_API_KEY", groq),
            ("CODESAGE_LLM__CACHE_TTL_SECS", "0"),
        ],
    );
    let (client, root) = indexed(&env).await;
    let pricing = file(&root, "app/pricing.py");
    let calls = [
        (
            "summarize_code_section",
            json!({"file_path": pricing, "function_name": "checkout"}),
        ),
        ("suggest_code_improvements", json!({"file_path": pricing})),
        (
            "generate_unit_tests",
            json!({"file_path": pricing, "function_name": "checkout"}),
        ),
        ("auto_document", json!({"file_path": pricing})),
        ("resolve_todo_fixme", json!({"file_path": pricing})),
    ];
    let mut seen = String::new();
    // Success (with a reply that quotes the key), a refused key quoting it, a server error
    // quoting it.
    let scenarios = [
        Behaviour::Reply(format!("Your key is {key}, and all is well.")),
        Behaviour::Status(401, None, format!("Incorrect API key provided: {key}")),
        Behaviour::Status(
            500,
            None,
            format!("upstream failed for key {key} and {groq}"),
        ),
    ];
    for behaviour in scenarios {
        fake.set_default(behaviour);
        for (tool, arguments) in &calls {
            let result = client.call(tool, arguments.clone()).await.expect("call");
            let text = text_of(&result);
            assert_ne!(result.is_error, Some(true), "{tool}: {text}");
            seen.push_str(&text);
            seen.push_str(&serde_json::to_string(&result.structured_content).unwrap());
        }
    }
    // The key was sent to the provider (so there was something to leak).
    assert!(
        fake.received()
            .iter()
            .all(|request| request.header("authorization") == Some(&format!("Bearer {key}")))
    );
    let configuration = client.ok("get_configuration", json!({})).await;
    let masked = configuration["secrets"]["groq_api_key"].as_str().unwrap();
    assert_eq!(masked, "gsk_…QRST", "{configuration}");
    seen.push_str(&configuration.to_string());
    seen.push_str(
        &client
            .ok("get_performance_metrics", json!({}))
            .await
            .to_string(),
    );
    seen.push_str(
        &client
            .ok("get_cache_statistics", json!({}))
            .await
            .to_string(),
    );
    seen.push_str(&env.status().to_string());
    let human = env.codesage(&["status"]);
    seen.push_str(&String::from_utf8_lossy(&human.stdout));
    seen.push_str(&String::from_utf8_lossy(&human.stderr));
    client.close().await;
    env.stop();
    let mut logs = Vec::new();
    for dir in [
        env.data_dir.join("logs"),
        env.socket.parent().unwrap().to_path_buf(),
    ] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    logs.push(entry.path());
                }
            }
        }
    }
    assert!(!logs.is_empty(), "no log files to check");
    for log in &logs {
        seen.push_str(&String::from_utf8_lossy(&std::fs::read(log).unwrap()));
    }
    assert!(
        seen.contains("llm: unavailable — 401"),
        "the failures were seen"
    );
    for secret in [key, groq] {
        assert!(
            !seen.contains(secret),
            "{secret} leaked: {}",
            &seen[seen.find(secret).unwrap().saturating_sub(200)..][..400.min(seen.len())]
        );
    }
}
