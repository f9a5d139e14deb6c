//! The MCP wire as real clients speak it, through the shim byte for byte: protocol version
//! negotiation for Gemini CLI (2025-06-18) and newer clients (2025-11-25), malformed and
//! oversized messages, and client-declared roots that are indexed automatically.
#![cfg(unix)]
// MCP roots are deprecated in the newest protocol revision (SEP-2577), but Gemini CLI and
// other current clients declare their workspace through them, so they are tested.
#![allow(deprecated)]

use std::time::Duration;

use codesage_e2e::{TestEnv, sample_project, wait_for};
use rmcp::model::{ClientCapabilities, ClientConfig, ListRootsResult, Root};
use rmcp::service::RequestContext;
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::{Value, json};

#[test]
fn gemini_and_newer_protocol_versions_both_work() {
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);
    for version in ["2025-06-18", "2025-11-25"] {
        let mut shim = env.raw_shim();
        let init = shim.initialize(version);
        assert_eq!(init["result"]["protocolVersion"], version, "{init}");
        assert_eq!(init["result"]["serverInfo"]["name"], "codesage");

        shim.send(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
        let tools = shim.recv_response(&json!(1));
        assert!(
            tools["result"]["tools"].as_array().unwrap().len() >= 6,
            "{tools}"
        );

        shim.send(
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "index_codebase", "arguments": {"path": root.display().to_string()}}}),
        );
        let indexed = shim.recv_response(&json!(2));
        assert_eq!(indexed["result"]["isError"], false, "{indexed}");

        shim.send(
            &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "search_codebase",
            "arguments": {"codebase_path": root.display().to_string(), "pattern": "fn add"}}}),
        );
        let found = shim.recv_response(&json!(3));
        // Gemini CLI runs JSON.parse on the first text block: it must be an object.
        let text = found["result"]["content"][0]["text"]
            .as_str()
            .expect("text block");
        let parsed: Value = serde_json::from_str(text).expect("text block is JSON");
        assert!(parsed.is_object(), "{text}");
        assert_eq!(parsed["results"][0]["file_path"], "src/util.rs");
        assert_eq!(found["result"]["structuredContent"], parsed);
        assert!(shim.finish().success());
    }
}

#[test]
fn malformed_and_oversized_messages_get_errors_and_the_session_continues() {
    let env = TestEnv::new().with_env("CODESAGE_SERVER__MAX_MESSAGE_BYTES", "65536");
    let mut shim = env.raw_shim();
    shim.initialize("2025-11-25");

    shim.write_raw(b"{this is not json\n");
    let parse_error = shim.recv();
    assert_eq!(parse_error["error"]["code"], -32700, "{parse_error}");
    assert!(parse_error["id"].is_null());

    shim.write_raw(b"\xff\xfe binary garbage\n");
    assert_eq!(shim.recv()["error"]["code"], -32700);

    let mut huge = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"search_codebase","arguments":{"pattern":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 200_000));
    huge.extend(b"\"}}}\n");
    shim.write_raw(&huge);
    let too_large = shim.recv();
    assert_eq!(too_large["error"]["code"], -32600, "{too_large}");
    assert!(
        too_large["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65536"),
        "{too_large}"
    );

    // Valid JSON that is not a JSON-RPC message.
    shim.write_raw(b"[1, 2, 3]\n");
    let invalid = shim.recv();
    assert!(invalid.get("error").is_some(), "{invalid}");

    // The session still works.
    shim.send(&json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
        "params": {"name": "get_configuration", "arguments": {}}}));
    let answer = shim.recv_response(&json!(10));
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert!(shim.finish().success());
}

/// A client that declares one workspace root, as Gemini CLI does.
#[derive(Clone)]
struct WorkspaceClient {
    roots: Vec<String>,
}

impl ClientHandler for WorkspaceClient {
    fn get_info(&self) -> ClientConfig {
        #[allow(deprecated)]
        let capabilities = ClientCapabilities::builder().enable_roots().build();
        ClientConfig::new(
            capabilities,
            rmcp::model::Implementation::new("workspace-test", "1"),
        )
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        Ok(ListRootsResult::new(
            self.roots
                .iter()
                .map(|uri| Root::new(uri.clone()))
                .collect(),
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_roots_are_indexed_and_become_the_default_codebase() {
    let env = TestEnv::new();
    let root = env.workspace("my project");
    sample_project(&root);
    let uri = url_for(&root);
    let client = env
        .mcp_with(WorkspaceClient { roots: vec![uri] })
        .await
        .expect("connect");

    // No index_codebase call and no codebase_path: the client's root is used.
    let found = wait_for(
        Duration::from_secs(20),
        "the client root to be indexed",
        || {
            let result = futures_block(client.call(
                "search_codebase",
                json!({"pattern": "handle_request\\(request\\)"}),
            ))
            .ok()?;
            let value = result.structured_content?;
            (value["total_matches"] == 1).then_some(value)
        },
    );
    assert_eq!(
        found["results"][0]["file_path"], "app/service.py",
        "{found}"
    );
    assert_eq!(found["root"], root.display().to_string());
    let counts = client.ok("count_lines_of_code", json!({})).await;
    assert_eq!(counts["total"]["files"], 5, "{counts}");
    client.close().await;

    // The home directory is never indexed automatically.
    let home = std::env::var("HOME").expect("HOME");
    let client = env
        .mcp_with(WorkspaceClient {
            roots: vec![url_for(std::path::Path::new(&home))],
        })
        .await
        .expect("connect");
    let refused = client.err("search_codebase", json!({"pattern": "x"})).await;
    assert!(
        refused.contains("outside the indexed codebases"),
        "{refused}"
    );
    let status = env.status();
    let roots: Vec<&str> = status["roots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(!roots.contains(&home.as_str()), "{roots:?}");
    client.close().await;
}

fn url_for(path: &std::path::Path) -> String {
    format!("file://{}", path.display().to_string().replace(' ', "%20"))
}

/// Runs a future to completion from synchronous polling code inside a multi-thread runtime.
fn futures_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}
