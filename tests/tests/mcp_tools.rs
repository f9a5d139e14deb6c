//! Every MCP tool through the real shim and daemon, with an rmcp client: happy paths and the
//! bad inputs a model sends (outside-root paths, missing files, invalid regexes, unknown
//! tools, wrong argument types).
#![cfg(unix)]

use codesage_e2e::{TestEnv, age_tree, sample_project, write};
use serde_json::{Value, json};

async fn indexed_env() -> (TestEnv, std::path::PathBuf) {
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);
    age_tree(&root);
    (env, root)
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_list_has_valid_schemas_for_every_tool() {
    let env = TestEnv::new();
    let client = env.mcp().await.expect("connect");
    let info = client.service.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|s| s.name.as_str()),
        Some("codesage")
    );
    assert!(info.capabilities.tools.is_some());

    let tools = client.service.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    for expected in [
        "index_codebase",
        "search_codebase",
        "read_code_file",
        "count_lines_of_code",
        "get_configuration",
        "get_performance_metrics",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for tool in &tools {
        let schema = Value::Object(tool.input_schema.as_ref().clone());
        assert!(
            jsonschema::meta::is_valid(&schema),
            "{} has an invalid JSON Schema: {schema}",
            tool.name
        );
        assert_eq!(schema["type"], "object", "{}", tool.name);
        assert!(tool.description.as_ref().is_some_and(|d| d.len() > 20));
    }
    // Parameter names of the original CodeSage.
    let search = tools.iter().find(|t| t.name == "search_codebase").unwrap();
    let properties = &search.input_schema["properties"];
    for parameter in [
        "codebase_path",
        "pattern",
        "file_types",
        "exclude_patterns",
        "search_mode",
        "context_depth",
    ] {
        assert!(
            properties.get(parameter).is_some(),
            "search_codebase lacks {parameter}"
        );
    }
    assert_eq!(search.input_schema["required"], json!(["pattern"]));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn index_codebase_counts_files_and_refuses_bad_paths() {
    let (env, root) = indexed_env().await;
    let client = env.mcp().await.expect("connect");
    let summary = client
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await;
    // main.rs, util.rs, service.py, test_service.py, README.md, .gitignore is hidden,
    // build/ and *.log are ignored, image.bin is binary.
    assert_eq!(summary["files"], 5, "{summary}");
    assert_eq!(summary["skipped_binary"], 1, "{summary}");
    assert_eq!(summary["languages"]["Rust"], 2);
    assert_eq!(summary["languages"]["Python"], 2);
    assert_eq!(summary["languages"]["Markdown"], 1);
    assert!(
        summary["message"]
            .as_str()
            .unwrap()
            .contains("Indexed 5 files")
    );

    // Indexing again returns at once: the watcher keeps the index fresh.
    let again = client
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await;
    assert_eq!(again["files_read"], 0, "{again}");
    assert_eq!(again["files"], 5, "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already indexed"),
        "{again}"
    );

    let missing = client
        .err(
            "index_codebase",
            json!({"path": root.join("nope").display().to_string()}),
        )
        .await;
    assert!(missing.contains("does not exist"), "{missing}");
    let file = client
        .err(
            "index_codebase",
            json!({"path": root.join("src/main.rs").display().to_string()}),
        )
        .await;
    assert!(file.contains("not a directory"), "{file}");
    let slash = client.err("index_codebase", json!({"path": "/"})).await;
    assert!(slash.contains("refusing"), "{slash}");
    let relative = client
        .err("index_codebase", json!({"path": "project"}))
        .await;
    assert!(relative.contains("absolute path"), "{relative}");
    let wrong_type = client.err("index_codebase", json!({"path": 42})).await;
    assert!(wrong_type.contains("invalid arguments"), "{wrong_type}");
    let missing_arg = client.err("index_codebase", json!({})).await;
    assert!(
        missing_arg.contains("missing field `path`"),
        "{missing_arg}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn search_codebase_filters_excludes_context_and_truncation() {
    let (env, root) = indexed_env().await;
    let client = env.mcp().await.expect("connect");
    let root_text = root.display().to_string();
    client
        .ok("index_codebase", json!({"path": root_text}))
        .await;

    let found = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "hello world"}),
        )
        .await;
    let files: Vec<&str> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["file_path"].as_str().unwrap())
        .collect();
    // Ignored (build/, *.log) and binary files are not searched; order is by path.
    assert_eq!(files, ["docs/README.md", "src/main.rs"], "{found}");
    assert_eq!(found["results"][1]["matches"][0]["line_number"], 3);
    assert_eq!(
        found["results"][1]["matches"][0]["line_content"],
        "    let greeting = \"hello world\";"
    );
    assert_eq!(found["total_matches"], 2);
    // Nothing left out: the envelope's `truncated` is null.
    assert!(found["truncated"].is_null(), "{found}");

    let only_rust = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "hello", "file_types": ["rs"]}),
        )
        .await;
    assert_eq!(
        only_rust["results"].as_array().unwrap().len(),
        1,
        "{only_rust}"
    );

    let by_language = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "def ", "file_types": ["python"],
                   "exclude_patterns": ["tests"]}),
        )
        .await;
    assert_eq!(
        by_language["results"].as_array().unwrap().len(),
        1,
        "{by_language}"
    );
    assert_eq!(by_language["results"][0]["file_path"], "app/service.py");

    let context = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "a \\+ b", "context_depth": 1}),
        )
        .await;
    let hit = &context["results"][0]["matches"][0];
    assert_eq!(hit["line_number"], 3, "{context}");
    assert_eq!(
        hit["context_before"],
        json!(["pub fn add(a: i32, b: i32) -> i32 {"])
    );
    assert_eq!(hit["context_after"], json!(["}"]));

    let truncated = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "\\w", "max_results": 3}),
        )
        .await;
    assert_eq!(truncated["total_matches"], 3, "{truncated}");
    // Something left out: `truncated` says what was shown (and a cursor continues).
    assert_eq!(truncated["truncated"]["shown"], 3, "{truncated}");
    assert!(truncated["cursor"].is_string(), "{truncated}");
    assert!(
        truncated["notes"][0]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{truncated}"
    );

    let insensitive = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "HELLO WORLD", "case_sensitive": false}),
        )
        .await;
    assert_eq!(insensitive["total_matches"], 2);
    let literal = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "a + b", "fixed_strings": true}),
        )
        .await;
    assert_eq!(literal["total_matches"], 1);

    let subdir = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root.join("src").display().to_string(), "pattern": "hello"}),
        )
        .await;
    assert_eq!(
        subdir["total_matches"], 1,
        "a directory inside the root narrows the search"
    );

    let invalid = client
        .err(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "fn ("}),
        )
        .await;
    assert!(invalid.contains("invalid regular expression"), "{invalid}");
    let outside = client
        .err(
            "search_codebase",
            json!({"codebase_path": "/usr", "pattern": "x"}),
        )
        .await;
    assert!(
        outside.contains("outside the indexed codebases"),
        "{outside}"
    );
    // Semantic mode answers (lexically here: this environment has no model) and says so.
    let semantic = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "x", "search_mode": "semantic"}),
        )
        .await;
    assert_eq!(semantic["search_mode"], "semantic");
    assert_eq!(semantic["strategy"], "lexical", "{semantic}");
    let unknown = client
        .err(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "x", "search_mode": "fuzzy"}),
        )
        .await;
    assert!(unknown.contains("\"semantic\""), "{unknown}");
    let bad_glob = client
        .err(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "x", "exclude_patterns": ["a["]}),
        )
        .await;
    assert!(bad_glob.contains("invalid exclude pattern"), "{bad_glob}");
    let empty = client
        .err(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": ""}),
        )
        .await;
    assert!(empty.contains("empty"), "{empty}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_code_file_numbers_lines_and_refuses_what_it_must() {
    let (env, root) = indexed_env().await;
    let outside = env.workspace("elsewhere");
    write(&outside, "secret.txt", "top secret\n");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link.txt")).unwrap();
    std::fs::write(root.join("huge.txt"), vec![b'x'; 3 * 1024 * 1024]).unwrap();
    let client = env.mcp().await.expect("connect");
    let root_text = root.display().to_string();
    client
        .ok("index_codebase", json!({"path": root_text}))
        .await;

    let whole = client
        .ok(
            "read_code_file",
            json!({"file_path": root.join("src/util.rs").display().to_string()}),
        )
        .await;
    assert_eq!(whole["total_lines"], 8);
    assert_eq!(whole["language"], "Rust");
    assert!(
        whole["content"]
            .as_str()
            .unwrap()
            .starts_with("1 | /// Adds two numbers.\n2 | pub fn add"),
        "{whole}"
    );
    let part = client
        .ok(
            "read_code_file",
            json!({"file_path": "src/util.rs", "start_line": 2, "end_line": 3}),
        )
        .await;
    assert_eq!(
        part["content"],
        "2 | pub fn add(a: i32, b: i32) -> i32 {\n3 |     a + b\n"
    );
    assert_eq!(part["file_path"], "src/util.rs");

    let cases = [
        (
            json!({"file_path": "/etc/passwd"}),
            "outside the indexed codebases",
        ),
        (
            json!({"file_path": "src/../../etc/passwd"}),
            "outside the indexed codebases",
        ),
        (
            json!({"file_path": root.join("src/missing.rs").display().to_string()}),
            "file not found",
        ),
        (
            json!({"file_path": root.join("src").display().to_string()}),
            "is a directory",
        ),
        (
            json!({"file_path": root.join("image.bin").display().to_string()}),
            "binary",
        ),
        (
            json!({"file_path": root.join("huge.txt").display().to_string()}),
            "over the",
        ),
        (
            json!({"file_path": root.join("link.txt").display().to_string()}),
            "outside the indexed codebases",
        ),
        (
            json!({"file_path": "src/util.rs", "start_line": 50}),
            "past the end",
        ),
        (
            json!({"file_path": "src/util.rs", "start_line": 5, "end_line": 2}),
            "before start_line",
        ),
        (json!({"file_path": root_text}), "codebase root"),
        (json!({"file_path": ""}), "empty"),
    ];
    for (arguments, expected) in cases {
        let message = client.err("read_code_file", arguments.clone()).await;
        assert!(message.contains(expected), "{arguments}: {message}");
        assert!(!message.contains("top secret"), "{message}");
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn count_lines_configuration_and_metrics() {
    let (env, root) = indexed_env().await;
    let env = env.with_env("GROQ_API_KEY", "gsk_test_secret_value_123");
    let client = env.mcp().await.expect("connect");
    let root_text = root.display().to_string();
    client
        .ok("index_codebase", json!({"path": root_text}))
        .await;

    let counts = client
        .ok("count_lines_of_code", json!({"codebase_path": root_text}))
        .await;
    let rust = counts["languages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|language| language["language"] == "Rust")
        .expect("Rust counted");
    // main.rs: 1 comment + 4 code; util.rs: 1 doc comment, 4 code, 1 blank, 2 block comment.
    assert_eq!(rust["files"], 2, "{counts}");
    assert_eq!(rust["code"], 8, "{counts}");
    assert_eq!(rust["comment"], 4, "{counts}");
    assert_eq!(rust["blank"], 1, "{counts}");
    assert_eq!(counts["total"]["files"], 5);
    let bad = client
        .err(
            "count_lines_of_code",
            json!({"codebase_path": "/nonexistent/place"}),
        )
        .await;
    assert!(bad.contains("outside the indexed codebases"), "{bad}");

    let config = client.ok("get_configuration", json!({})).await;
    assert_eq!(config["index"]["max_file_size"], 2 * 1024 * 1024);
    assert_eq!(config["profile"], "production");
    let text = config.to_string();
    assert!(
        !text.contains("gsk_test_secret_value_123"),
        "secret leaked: {text}"
    );
    // Masked as its first and last four characters, as the original's checklist asks.
    assert_eq!(config["secrets"]["groq_api_key"], "gsk_…_123");
    assert!(config["secrets"]["openai_api_key"].is_null());

    client
        .err("read_code_file", json!({"file_path": "/etc/passwd"}))
        .await;
    let metrics = client.ok("get_performance_metrics", json!({})).await;
    assert_eq!(
        metrics["requests"]["index_codebase"]["calls"], 1,
        "{metrics}"
    );
    assert_eq!(
        metrics["requests"]["read_code_file"]["errors"], 1,
        "{metrics}"
    );
    assert!(
        metrics["requests"]["count_lines_of_code"]["p95_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(metrics["memory"]["rss_bytes"].as_u64().unwrap() > 1_000_000);
    assert!(metrics["store"]["bytes"].as_u64().unwrap() > 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tool_is_a_protocol_error() {
    let env = TestEnv::new();
    let client = env.mcp().await.expect("connect");
    let err = client
        .call("no_such_tool", json!({}))
        .await
        .expect_err("unknown tool must be a JSON-RPC error");
    let text = format!("{err:#}");
    assert!(text.contains("unknown tool"), "{text}");
    // The session survives.
    client.ok("get_configuration", json!({})).await;
    client.close().await;
}
