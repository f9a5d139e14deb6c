//! Things in a filesystem that are not source files: named pipes, sockets and devices inside a
//! root, and virtual filesystems (procfs, sysfs, devtmpfs) offered as roots. Each is refused
//! with a clear error, and none may stall the daemon for other clients.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::time::Duration;

use codesage_e2e::{TestEnv, age_tree, sample_project};
use serde_json::json;

/// Generous bound for calls that must answer at once; a stall shows up as a failure, not a
/// hung test run.
const PROMPT: Duration = Duration::from_secs(20);

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_pipe_is_refused_everywhere_and_never_blocks_the_daemon() {
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);
    mkfifo(&root.join("pipe.py"));
    mkfifo(&root.join("src/stream.rs"));
    age_tree(&root);
    let root_text = root.display().to_string();
    let client = env.mcp().await.expect("connect");
    let indexed = tokio::time::timeout(
        PROMPT,
        client.ok("index_codebase", json!({"path": root_text})),
    )
    .await
    .expect("indexing a root holding FIFOs finishes");
    assert_eq!(indexed["files"], 5, "FIFOs are not indexed: {indexed}");

    for (tool, arguments) in [
        ("read_code_file", json!({"file_path": root.join("pipe.py")})),
        ("read_code_file", json!({"file_path": "src/stream.rs"})),
        (
            "get_file_structure",
            json!({"file_path": root.join("pipe.py")}),
        ),
        (
            "analyze_function_dependencies",
            json!({"file_path": root.join("src/stream.rs")}),
        ),
        (
            "list_undocumented_functions",
            json!({"file_path": root.join("pipe.py")}),
        ),
    ] {
        let message = tokio::time::timeout(PROMPT, client.err(tool, arguments.clone()))
            .await
            .unwrap_or_else(|_| panic!("{tool}({arguments}) hung on a FIFO"));
        assert!(
            message.contains("named pipe") || message.contains("not a regular file"),
            "{tool}({arguments}): {message}"
        );
    }

    // A FIFO appearing in a watched root is not picked up, and the daemon keeps answering
    // everyone while it exists.
    mkfifo(&root.join("late.py"));
    let found = tokio::time::timeout(
        PROMPT,
        client.ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "handle_request"}),
        ),
    )
    .await
    .expect("search answers");
    assert_eq!(found["total_matches"], 4, "{found}");
    let other = env.mcp().await.expect("a second client connects");
    let status = tokio::task::spawn_blocking({
        let socket = env.socket.clone();
        move || codesage_shared::ipc::connect(&socket, codesage_shared::protocol::Channel::Control)
    });
    assert!(
        tokio::time::timeout(PROMPT, status)
            .await
            .expect("the daemon accepts connections")
            .expect("join")
            .is_ok()
    );
    assert_eq!(
        env.status()["roots"][0]["files"],
        5,
        "FIFOs never enter the index"
    );
    other.close().await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn virtual_filesystems_are_refused_as_roots() {
    let env = TestEnv::new();
    let client = env.mcp().await.expect("connect");
    for path in [
        "/proc",
        "/proc/self",
        "/sys",
        "/sys/fs/cgroup",
        "/dev",
        "/dev/shm",
    ] {
        if !Path::new(path).exists() {
            continue;
        }
        let message =
            tokio::time::timeout(PROMPT, client.err("index_codebase", json!({"path": path})))
                .await
                .unwrap_or_else(|_| panic!("index_codebase({path}) did not answer"));
        assert!(message.contains("virtual filesystem"), "{path}: {message}");
    }
    assert_eq!(
        env.status()["roots"].as_array().map(Vec::len),
        Some(0),
        "nothing was registered"
    );
    let output = env.codesage(&["index", "/proc"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("virtual filesystem (proc)"), "{stderr}");
    assert_eq!(env.status()["roots"].as_array().map(Vec::len), Some(0));
    client.close().await;
}
