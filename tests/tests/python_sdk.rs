//! A client nobody on the team wrote: the official Python MCP SDK (`mcp` from PyPI) drives
//! `codesage mcp` over stdio, lists the tools, gets the right line from `search_codebase`, and
//! calls every tool, validating each answer against the tool's `outputSchema`.
//!
//! The SDK lives in `.venv` at the repository root; `.ci/run` installs it, and this test
//! installs it itself when it is missing, so `cargo test --workspace` is enough anywhere
//! python3 and PyPI are available.
#![cfg(unix)]

use codesage_e2e::{TestEnv, codesage_bin, python_with_sdk, repo_root, sample_project};

#[test]
fn official_python_sdk_lists_tools_and_finds_the_line() {
    let python = python_with_sdk();
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);

    let output = env
        .command(&python)
        .arg(repo_root().join("tests/python/sdk_client.py"))
        .arg(codesage_bin())
        .arg(&root)
        .arg("return os\\.path\\.join")
        .output()
        .expect("run the Python SDK client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python client failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("client JSON");
    assert_eq!(seen["server_name"], "codesage");
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool.as_str().unwrap())
        .collect();
    assert!(tools.contains(&"search_codebase"), "{tools:?}");
    assert!(tools.contains(&"read_code_file"), "{tools:?}");
    assert_eq!(seen["indexed_files"], 5);
    assert_eq!(seen["search_is_error"], false);
    let hit = &seen["search"]["results"][0];
    assert_eq!(hit["file_path"], "app/service.py", "{seen}");
    assert_eq!(hit["matches"][0]["line_number"], 7);
    assert_eq!(
        hit["matches"][0]["line_content"],
        "    return os.path.join(\"a\", request)"
    );
    // Every tool declares an outputSchema, and every answer validates against it (the SDK
    // refuses structured content that does not).
    assert_eq!(seen["with_output_schema"], seen["tools"], "{seen}");
    assert_eq!(seen["validated"], seen["tools"], "{seen}");
    assert_eq!(seen["bad_is_error"], true);
    assert!(
        seen["bad_text"]
            .as_str()
            .unwrap()
            .contains("invalid regular expression")
    );
}
