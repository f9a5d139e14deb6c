//! Long calls through the real shim with a real MCP client (rmcp): progress notifications for
//! a request's `progressToken`, cancellation with `notifications/cancelled` (the work stops,
//! the store stays consistent, the next call finishes the job), and partial answers before
//! the configured deadline.
#![cfg(unix)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codesage_e2e::{TestEnv, age_tree, wait_for, write};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ClientRequest,
    ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, PeerRequestOptions};
use rmcp::{ClientHandler, RoleClient};
use serde_json::{Value, json};

/// Progress notifications a client received (progress, total, message), in order.
#[derive(Default)]
struct Notes(std::sync::Mutex<Vec<(f64, Option<f64>, String)>>);

impl Notes {
    fn push(&self, note: (f64, Option<f64>, String)) {
        self.0
            .lock()
            .unwrap_or_else(|err| err.into_inner())
            .push(note);
    }

    fn all(&self) -> Vec<(f64, Option<f64>, String)> {
        self.0.lock().unwrap_or_else(|err| err.into_inner()).clone()
    }
}

#[derive(Clone, Default)]
struct ProgressClient {
    seen: Arc<Notes>,
}

impl ClientHandler for ProgressClient {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            rmcp::model::Implementation::new("progress-test", "1"),
        )
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.seen.push((
            params.progress,
            params.total,
            params.message.unwrap_or_default(),
        ));
    }
}

/// A tree large enough that indexing it takes seconds: `files` Python files with a few
/// functions each, every one holding the word `needle_in_every_file`.
fn large_tree(root: &Path, files: usize) {
    for index in 0..files {
        let mut text = format!("# needle_in_every_file {index}\n");
        for function in 0..8 {
            text.push_str(&format!(
                "def f_{index}_{function}(value):\n    if value > {function}:\n        return value * {index}\n    return None\n\n"
            ));
        }
        write(root, &format!("d{}/m{index}.py", index % 64), &text);
    }
    age_tree(root);
}

/// Lines matching the word every file holds, all of them (`codesage search --max-results 0`
/// has no answer budget).
fn matching_lines(env: &TestEnv, root: &str) -> u64 {
    let output = env.codesage(&[
        "search",
        "needle_in_every_file",
        "--root",
        root,
        "--max-results",
        "0",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).lines().count() as u64
}

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    CallToolRequestParams::new(name.to_string()).with_arguments(arguments)
}

#[tokio::test(flavor = "multi_thread")]
async fn indexing_reports_increasing_progress_to_the_request_token() {
    let env = TestEnv::new();
    let root = env.workspace("large");
    large_tree(&root, 6000);
    let handler = ProgressClient::default();
    let seen = Arc::clone(&handler.seen);
    let client = env.mcp_with(handler).await.expect("connect");
    let result = client
        .service
        .call_tool(call(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        ))
        .await
        .expect("index_codebase");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let answer = result.structured_content.expect("structured content");
    assert_eq!(answer["files"], 6000, "{answer}");
    let notes = seen.all();
    assert!(
        notes.len() >= 2,
        "progress was reported while indexing: {notes:?}"
    );
    for pair in notes.windows(2) {
        assert!(pair[1].0 > pair[0].0, "progress only grows: {notes:?}");
    }
    let (last, total, message) = notes.last().cloned().unwrap();
    if let Some(total) = total {
        assert!(last <= total, "{notes:?}");
    }
    assert!(message.contains("files"), "{message}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_index_stops_keeps_the_store_consistent_and_the_next_call_finishes() {
    const FILES: usize = 12000;
    let env = TestEnv::new();
    let root = env.workspace("large");
    large_tree(&root, FILES);
    let root_text = root.display().to_string();
    let handler = ProgressClient::default();
    let seen = Arc::clone(&handler.seen);
    let client = env.mcp_with(handler).await.expect("connect");

    let request = ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(call(
        "index_codebase",
        json!({"path": root_text}),
    )));
    let handle = client
        .service
        .peer()
        .send_cancellable_request(request, PeerRequestOptions::default())
        .await
        .expect("send index_codebase");
    wait_for(Duration::from_secs(60), "the first progress report", || {
        (!seen.all().is_empty()).then_some(())
    });
    handle
        .cancel(Some("test cancels".into()))
        .await
        .expect("send notifications/cancelled");

    // The run stops before the end: in its text pass (not every file read) or in its
    // symbols pass (not every file parsed).
    let status = wait_for(Duration::from_secs(30), "the run to stop", || {
        std::thread::sleep(Duration::from_millis(100));
        let status = env.status();
        (status["roots"][0]["state"] != "indexing").then_some(status)
    });
    let indexed = status["roots"][0]["files"].as_u64().unwrap();
    let parsed = status["roots"][0]["last_run"]["files_parsed"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        indexed < FILES as u64 || parsed < FILES as u64,
        "cancelled before the end: {indexed} files indexed, {parsed} parsed of {FILES}"
    );
    // Consistent: the index holds whole files, each searchable, nothing half-written.
    let status_after = env.status();
    assert_eq!(
        matching_lines(&env, &root_text),
        status_after["roots"][0]["files"].as_u64().unwrap(),
        "every indexed file is searchable: {status_after}"
    );

    // The next call finishes the work.
    let started = Instant::now();
    let finished = client
        .ok("index_codebase", json!({"path": root_text}))
        .await;
    assert_eq!(finished["files"], FILES, "{finished}");
    assert_eq!(finished["partial"], false, "{finished}");
    // What the cancelled run committed is kept: only the rest is read or parsed.
    let read = finished["files_read"].as_u64().unwrap();
    let parsed_now = finished["files_parsed"].as_u64().unwrap();
    assert_eq!(read, FILES as u64 - indexed, "{finished}");
    assert_eq!(parsed_now + parsed, FILES as u64, "{finished}");
    assert!(started.elapsed() < Duration::from_secs(300));
    assert_eq!(matching_lines(&env, &root_text), FILES as u64);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_index_answers_partial_at_the_deadline_and_goes_on_in_the_background() {
    let env = TestEnv::new().with_env("CODESAGE_SERVER__ANSWER_DEADLINE_SECS", "1");
    let root = env.workspace("large");
    large_tree(&root, 12000);
    let root_text = root.display().to_string();
    let client = env.mcp().await.expect("connect");
    let started = Instant::now();
    let early = client
        .ok("index_codebase", json!({"path": root_text}))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered near the deadline"
    );
    assert_eq!(early["partial"], true, "{early}");
    assert!(
        early["message"]
            .as_str()
            .unwrap()
            .contains("continues in the background"),
        "{early}"
    );
    // The client went away with its answer; the run goes on and completes.
    client.close().await;
    wait_for(
        Duration::from_secs(300),
        "the background run to finish",
        || {
            std::thread::sleep(Duration::from_millis(200));
            let status = env.status();
            (status["roots"][0]["state"] == "ready" && status["roots"][0]["files"] == 12000)
                .then_some(())
        },
    );
}
