//! The control commands as a person runs them: `codesage index`, `search`, `status`, `stop`,
//! with their output formats, exit codes and error messages.
#![cfg(unix)]

use codesage_e2e::{TestEnv, age_tree, sample_project};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn index_search_status_stop() {
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);
    age_tree(&root);
    let root_text = root.display().to_string();

    // `index` starts the daemon itself.
    let indexed = env.codesage(&["index", &root_text]);
    assert!(indexed.status.success(), "{}", stderr(&indexed));
    let summary = stdout(&indexed);
    assert!(
        summary.contains(&format!("Indexed {root_text}")),
        "{summary}"
    );
    assert!(summary.contains("files      5 (6 read"), "{summary}");
    assert!(summary.contains("Rust 2"), "{summary}");
    assert!(summary.contains("1 binary"), "{summary}");

    let json = env.codesage(&["index", &root_text, "--json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON summary");
    assert_eq!(
        parsed["files_read"], 0,
        "unchanged files are not read again"
    );

    // rg-style rows, paths relative to the root, ordered by path.
    let found = env.codesage(&["search", "hello world", "--root", &root_text]);
    assert!(found.status.success(), "{}", stderr(&found));
    assert_eq!(
        stdout(&found),
        "docs/README.md:3:hello world from the docs\nsrc/main.rs:3:    let greeting = \"hello world\";\n"
    );
    let context = env.codesage(&["search", "a \\+ b", "-C", "1", "--root", &root_text]);
    assert_eq!(
        stdout(&context),
        "src/util.rs-2-pub fn add(a: i32, b: i32) -> i32 {\nsrc/util.rs:3:    a + b\nsrc/util.rs-4-}\n"
    );
    let typed = env.codesage(&["search", "-i", "HELLO", "-t", "md", "--root", &root_text]);
    assert_eq!(
        stdout(&typed),
        "docs/README.md:3:hello world from the docs\n"
    );

    // Run from inside the root, no --root needed.
    let here = env
        .command(&codesage_e2e::codesage_bin())
        .args(["search", "-F", "a + b"])
        .current_dir(root.join("src"))
        .output()
        .unwrap();
    assert_eq!(
        stdout(&here),
        "src/util.rs:3:    a + b\n",
        "{}",
        stderr(&here)
    );

    let nothing = env.codesage(&["search", "no_such_text_anywhere", "--root", &root_text]);
    assert_eq!(
        nothing.status.code(),
        Some(1),
        "no match is exit code 1, like rg"
    );
    assert!(stdout(&nothing).is_empty());
    let invalid = env.codesage(&["search", "(", "--root", &root_text]);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        stderr(&invalid).contains("invalid regular expression"),
        "{}",
        stderr(&invalid)
    );
    let outside = env.codesage(&["search", "x", "--root", "/usr"]);
    assert_eq!(outside.status.code(), Some(2));
    assert!(stderr(&outside).contains("outside the indexed codebases"));

    let status = env.codesage(&["status"]);
    let text = stdout(&status);
    assert!(text.contains("codesaged "), "{text}");
    assert!(
        text.contains(&format!("{root_text} — ready, 5 files")),
        "{text}"
    );
    let report = env.status();
    assert!(report["requests_served"].as_u64().unwrap() >= 6, "{report}");
    let store_bytes = report["store_bytes"].as_u64().unwrap();
    assert!(store_bytes > 0);
    // Where the store's bytes go: every indexed file here has its own content.
    let space = report["store_space"].as_array().expect("store_space");
    let contents = space
        .iter()
        .find(|table| table["name"] == "contents")
        .expect("a contents table");
    assert_eq!(contents["entries"], 5, "{report}");
    let accounted: u64 = space
        .iter()
        .flat_map(|table| ["stored_bytes", "fragmented_bytes", "metadata_bytes"].map(|f| &table[f]))
        .map(|bytes| bytes.as_u64().unwrap())
        .sum();
    assert!(accounted > 0 && accounted <= store_bytes, "{report}");
    assert!(text.contains("contents "), "{text}");

    let missing = env.codesage(&["index", "/definitely/not/here"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot index"),
        "{}",
        stderr(&missing)
    );

    let stopped = env.codesage(&["stop"]);
    assert!(stdout(&stopped).contains("codesaged stopped"));
    let after = env.codesage(&["status"]);
    assert_eq!(after.status.code(), Some(2));
    assert!(stderr(&after).contains("not running"), "{}", stderr(&after));
}

#[test]
fn logs_show_the_daemon_log_without_secrets() {
    let env = TestEnv::new().with_env("OPENAI_API_KEY", "sk-test-must-not-be-logged");
    let root = env.workspace("project");
    sample_project(&root);
    assert!(
        env.codesage(&["index", &root.display().to_string()])
            .status
            .success()
    );
    env.stop();
    let logs = env.codesage(&["logs", "-n", "100"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    let text = stdout(&logs);
    assert!(text.contains("codesaged listening"), "{text}");
    assert!(text.contains("indexing finished"), "{text}");
    assert!(!text.contains("sk-test-must-not-be-logged"));
    for entry in std::fs::read_dir(env.data_dir.join("logs")).unwrap() {
        let content = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!content.contains("sk-test-must-not-be-logged"));
    }
}

/// The command line speaks command-line: errors name commands and flags, not MCP tools and
/// arguments; `read`, `refs` and `tool` reach the same queries as the MCP tools.
#[test]
fn errors_speak_the_command_line_and_read_refs_tool_work() {
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);
    age_tree(&root);
    let root_text = root.display().to_string();

    // Nothing indexed yet: the command to run, not the tool to call.
    let empty = env.workspace("empty");
    let nothing = env
        .command(&codesage_e2e::codesage_bin())
        .args(["def", "helper"])
        .current_dir(&empty)
        .output()
        .unwrap();
    assert_eq!(nothing.status.code(), Some(2), "{}", stderr(&nothing));
    let message = stderr(&nothing);
    assert!(message.contains("codesage index DIR"), "{message}");
    assert!(!message.contains("index_codebase"), "{message}");

    assert!(env.codesage(&["index", &root_text]).status.success());
    let outside = env.codesage(&["refs", "x", "--root", "/usr"]);
    assert_eq!(outside.status.code(), Some(2));
    let message = stderr(&outside);
    assert!(
        message.contains("outside the indexed codebases"),
        "{message}"
    );
    assert!(message.contains("codesage index"), "{message}");
    assert!(!message.contains("index_codebase"), "{message}");
    let invalid = env.codesage(&["search", "(", "--root", &root_text]);
    assert!(stderr(&invalid).contains("-F"), "{}", stderr(&invalid));
    assert!(
        !stderr(&invalid).contains("fixed_strings"),
        "{}",
        stderr(&invalid)
    );
    let negative = env.codesage(&[
        "tool",
        "find_symbol",
        r#"{"name": "add", "max_results": -1}"#,
    ]);
    assert_eq!(negative.status.code(), Some(2));
    assert!(
        stderr(&negative).contains("max_results must be 0"),
        "`codesage tool` takes tool arguments, so it speaks them: {}",
        stderr(&negative)
    );

    // `read` prints numbered lines of a symbol; `refs` one row per occurrence.
    let read = env.codesage(&[
        "read",
        root.join("src/util.rs").to_str().unwrap(),
        "--symbol",
        "add",
    ]);
    assert!(read.status.success(), "{}", stderr(&read));
    assert_eq!(
        stdout(&read),
        "2 | pub fn add(a: i32, b: i32) -> i32 {\n3 |     a + b\n4 | }\n"
    );
    let refs = env.codesage(&["refs", "handle_request", "--root", &root_text]);
    assert!(refs.status.success(), "{}", stderr(&refs));
    let rows = stdout(&refs);
    assert!(rows.contains("app/service.py:5:5: definition"), "{rows}");
    assert!(
        rows.contains("app/tests/test_service.py:4:12: call in test_handle_request"),
        "{rows}"
    );
    let tool = env.codesage(&[
        "tool",
        "find_symbol",
        &format!(r#"{{"name": "add", "codebase_path": "{root_text}"}}"#),
    ]);
    assert!(tool.status.success(), "{}", stderr(&tool));
    let answer: serde_json::Value = serde_json::from_slice(&tool.stdout).unwrap();
    assert_eq!(
        answer["symbols"][0]["symbol_id"], "src/util.rs#add",
        "{answer}"
    );
    assert!(
        answer["notes"].is_array() && answer.get("cursor").is_some(),
        "{answer}"
    );
    let unknown = env.codesage(&["tool", "no_such_tool", "{}"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown).contains("unknown query"),
        "{}",
        stderr(&unknown)
    );
    let not_json = env.codesage(&["tool", "find_symbol", "{name: add"]);
    assert_eq!(not_json.status.code(), Some(2));
    assert!(
        stderr(&not_json).contains("JSON object"),
        "{}",
        stderr(&not_json)
    );
    let by_id = env.codesage(&["read", "--symbol", "src/util.rs#add"]);
    // A symbol id names its file; without --root the id's path is found in the indexed root.
    assert!(by_id.status.success(), "{}", stderr(&by_id));
    assert!(
        stdout(&by_id).starts_with("2 | pub fn add"),
        "{}",
        stdout(&by_id)
    );
}
