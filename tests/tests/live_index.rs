//! The live index: real file changes on disk, real filesystem events, the real daemon, seen
//! through `search_codebase` via the shim. Each change must show up within a bounded wait
//! (polled with a deadline, never a fixed sleep); read-your-writes must hold on the first try.
#![cfg(unix)]

use std::path::Path;
use std::time::{Duration, Instant};

use codesage_e2e::{McpClient, TestEnv, age_tree, write};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(15);

async fn search(client: &McpClient, root: &Path, pattern: &str) -> Value {
    client
        .ok(
            "search_codebase",
            json!({"codebase_path": root.display().to_string(), "pattern": pattern,
                   "max_results": 0}),
        )
        .await
}

fn paths(result: &Value) -> Vec<String> {
    result["results"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .map(|file| file["file_path"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `search` until the files matching `pattern` are exactly `expected`.
async fn eventually(client: &McpClient, root: &Path, pattern: &str, expected: &[&str]) -> Value {
    let started = Instant::now();
    loop {
        let result = search(client, root, pattern).await;
        if paths(&result) == expected {
            return result;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{pattern:?}: expected {expected:?}, still {:?} after {DEADLINE:?}",
            paths(&result)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `search` until `pattern` matches exactly `expected` lines.
async fn eventually_total(client: &McpClient, root: &Path, pattern: &str, expected: u64) {
    let started = Instant::now();
    loop {
        let found = search(client, root, pattern).await;
        if found["total_matches"] == expected {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{pattern:?}: only {} of {expected} matches after {DEADLINE:?}",
            found["total_matches"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn setup(env: &TestEnv) -> (McpClient, std::path::PathBuf) {
    let root = env.workspace("live");
    write(&root, "src/a.rs", "fn alpha() {}\n");
    write(&root, "src/b.rs", "fn beta() {}\n");
    write(&root, "docs/guide.md", "# guide\n");
    write(&root, ".gitignore", "*.log\n");
    age_tree(&root);
    let client = env.mcp().await.expect("connect");
    client
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await;
    (client, root)
}

#[tokio::test(flavor = "multi_thread")]
async fn file_changes_are_reflected() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;

    // create
    write(&root, "src/c.rs", "fn gamma_created() {}\n");
    eventually(&client, &root, "gamma_created", &["src/c.rs"]).await;
    // modify
    write(&root, "src/c.rs", "fn gamma_modified() {}\n");
    eventually(&client, &root, "gamma_modified", &["src/c.rs"]).await;
    eventually(&client, &root, "gamma_created", &[]).await;
    // delete
    std::fs::remove_file(root.join("src/c.rs")).unwrap();
    eventually(&client, &root, "gamma_modified", &[]).await;
    // file rename
    std::fs::rename(root.join("src/a.rs"), root.join("src/renamed.rs")).unwrap();
    eventually(&client, &root, "fn alpha", &["src/renamed.rs"]).await;
    // directory rename
    std::fs::rename(root.join("src"), root.join("lib")).unwrap();
    eventually(
        &client,
        &root,
        "fn (alpha|beta)",
        &["lib/b.rs", "lib/renamed.rs"],
    )
    .await;
    // a new directory with files created right away (before any watch could exist on it)
    std::fs::create_dir_all(root.join("new/deep/er")).unwrap();
    write(&root, "new/deep/er/x.rs", "fn in_new_dir() {}\n");
    eventually(&client, &root, "in_new_dir", &["new/deep/er/x.rs"]).await;
    // and a file created inside that new directory later
    write(&root, "new/deep/er/y.rs", "fn later_in_new_dir() {}\n");
    eventually(&client, &root, "later_in_new_dir", &["new/deep/er/y.rs"]).await;

    let status = env.status();
    let watch = &status["roots"][0]["watch"];
    assert_eq!(watch["mode"], "watching", "{status}");
    assert!(watch["events_applied"].as_u64().unwrap() > 0, "{status}");
    assert!(watch["last_latency_ms"].as_f64().is_some(), "{status}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn moves_in_and_out_of_the_root_and_atomic_saves() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    let outside = env.workspace("outside");
    write(&outside, "pkg/mod.rs", "fn moved_in() {}\n");

    // Move a directory out of the root: its files leave the index.
    std::fs::rename(root.join("src"), outside.join("src")).unwrap();
    eventually(&client, &root, "fn (alpha|beta)", &[]).await;
    // ... and further changes to it are not picked up.
    write(&outside, "src/a.rs", "fn alpha_outside() {}\n");
    // Move a directory in from outside: its files enter.
    std::fs::rename(outside.join("pkg"), root.join("pkg")).unwrap();
    eventually(&client, &root, "moved_in", &["pkg/mod.rs"]).await;
    assert!(paths(&search(&client, &root, "alpha_outside").await).is_empty());

    // An editor's atomic save: write a temporary file, rename it over the original.
    write(&root, "pkg/.mod.rs.swp", "fn saved_atomically() {}\n");
    std::fs::rename(root.join("pkg/.mod.rs.swp"), root.join("pkg/mod.rs")).unwrap();
    eventually(&client, &root, "saved_atomically", &["pkg/mod.rs"]).await;
    eventually(&client, &root, "moved_in", &[]).await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gitignore_edits_move_files_in_and_out() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    write(&root, "build/out.rs", "fn generated_code() {}\n");
    write(&root, "trace.log", "generated_code in a log\n");
    eventually(&client, &root, "generated_code", &["build/out.rs"]).await;

    // Newly ignored files leave the index...
    write(&root, ".gitignore", "*.log\nbuild/\n");
    eventually(&client, &root, "generated_code", &[]).await;
    // ... and changes inside the ignored tree are not indexed.
    write(&root, "build/more.rs", "fn generated_code_too() {}\n");
    // Un-ignored files enter.
    write(&root, ".gitignore", "build/\n");
    eventually(&client, &root, "generated_code", &["trace.log"]).await;
    write(&root, ".gitignore", "");
    eventually(
        &client,
        &root,
        "generated_code",
        &["build/more.rs", "build/out.rs", "trace.log"],
    )
    .await;
    // A nested .ignore file applies to its directory.
    write(&root, "build/.ignore", "more.rs\n");
    eventually(
        &client,
        &root,
        "generated_code",
        &["build/out.rs", "trace.log"],
    )
    .await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_two_thousand_files_is_batched() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    for dir in 0..20 {
        for file in 0..100 {
            write(
                &root,
                &format!("burst/d{dir}/f{file}.txt"),
                &format!("burst_token {dir} {file}\n"),
            );
        }
    }
    eventually_total(&client, &root, "burst_token", 2000).await;
    // The burst was applied in far fewer batches than files.
    let watch = env.status()["roots"][0]["watch"].clone();
    assert!(watch["batches"].as_u64().unwrap() < 500, "{watch}");
    // And removed as a whole.
    std::fs::remove_dir_all(root.join("burst")).unwrap();
    eventually(&client, &root, "burst_token", &[]).await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_your_writes_holds_on_the_first_query() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    let mut generation = 0;
    for round in 0..25 {
        let token = format!("ryw_token_{round}_");
        write(&root, "src/hot.rs", &format!("fn {token}() {{}}\n"));
        // No waiting at all: the query itself must catch up with the write.
        let found = search(&client, &root, &token).await;
        assert_eq!(paths(&found), ["src/hot.rs"], "round {round}: {found}");
        assert_eq!(found["watch"], "watching");
        let now_generation = found["index_generation"].as_u64().unwrap();
        assert!(now_generation > generation, "generation grows: {found}");
        generation = now_generation;
        assert!(found["fresh_as_of_ms"].as_u64().unwrap() > 0);
        assert!(found["notes"].as_array().unwrap().is_empty(), "{found}");
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn symlinks_are_not_followed_and_loops_do_not_hang() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    let outside = env.workspace("outside");
    write(&outside, "secret.rs", "fn outside_secret() {}\n");
    std::os::unix::fs::symlink(&outside, root.join("link_out")).unwrap();
    std::os::unix::fs::symlink(&root, root.join("src/loop")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.rs"), root.join("src/file_link.rs")).unwrap();
    write(&root, "src/marker.rs", "fn after_links() {}\n");
    eventually(&client, &root, "after_links", &["src/marker.rs"]).await;
    assert!(paths(&search(&client, &root, "outside_secret").await).is_empty());
    // A full rebuild walks the same tree without looping.
    let rebuilt = env.codesage(&["reindex", &root.display().to_string(), "--json"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert!(paths(&search(&client, &root, "outside_secret").await).is_empty());
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_while_the_daemon_was_down_are_reconciled_without_a_full_reindex() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    for i in 0..50 {
        write(
            &root,
            &format!("many/f{i}.rs"),
            &format!("fn many_{i}() {{}}\n"),
        );
    }
    // Old modification times, so the records can trust them (recent ones are re-checked).
    age_tree(&root);
    eventually(&client, &root, "fn many_49", &["many/f49.rs"]).await;
    // Wait until the aged times are what the index holds.
    let started = Instant::now();
    loop {
        let pending = env.status()["roots"][0]["watch"]["pending"].as_u64();
        let found = search(&client, &root, "fn many_").await;
        if pending == Some(0) && found["total_matches"] == 50 {
            break;
        }
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.close().await;
    env.stop();

    write(&root, "many/f1.rs", "fn changed_while_down() {}\n");
    write(&root, "many/f2.rs", "fn changed_while_down_too() {}\n");
    write(&root, "added_while_down.rs", "fn added_while_down() {}\n");
    std::fs::remove_file(root.join("many/f3.rs")).unwrap();

    let client = env.mcp().await.expect("reconnect");
    let status = codesage_e2e::wait_for(DEADLINE, "start-up reconciliation", || {
        let run = env.status()["roots"][0]["last_run"].clone();
        (!run.is_null()).then_some(run)
    });
    assert_eq!(
        status["files_read"], 3,
        "only the changed files are read: {status}"
    );
    assert_eq!(status["files_removed"], 1, "{status}");
    eventually(
        &client,
        &root,
        "changed_while_down",
        &["many/f1.rs", "many/f2.rs"],
    )
    .await;
    eventually(&client, &root, "added_while_down", &["added_while_down.rs"]).await;
    eventually(&client, &root, "fn many_3\\b", &[]).await;

    // A forced rebuild reads everything and changes nothing.
    let rebuilt = env.codesage(&["reindex", "--json"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let summaries: Value = serde_json::from_slice(&rebuilt.stdout).unwrap();
    assert_eq!(
        summaries[0]["files_read"], summaries[0]["files"],
        "{summaries}"
    );
    eventually(
        &client,
        &root,
        "changed_while_down",
        &["many/f1.rs", "many/f2.rs"],
    )
    .await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_events_trigger_a_rescan() {
    // More changed paths than one batch may hold is the same emergency as a lost event:
    // the batch is dropped and the root rescanned, and must end up correct.
    let env = TestEnv::new()
        .with_env("CODESAGE_WATCH__MAX_BATCH_PATHS", "10")
        .with_env("CODESAGE_WATCH__SETTLE_MS", "300")
        .with_env("CODESAGE_WATCH__MAX_DELAY_MS", "2000");
    let (client, root) = setup(&env).await;
    for i in 0..300 {
        write(
            &root,
            &format!("src/flood{i}.txt"),
            &format!("flood_token {i}\n"),
        );
    }
    eventually_total(&client, &root, "flood_token", 300).await;
    let watch = env.status()["roots"][0]["watch"].clone();
    assert!(watch["rescans"].as_u64().unwrap() >= 1, "{watch}");
    // Once the rescans are done the root is watched again.
    let started = Instant::now();
    while env.status()["roots"][0]["watch"]["mode"] != "watching" {
        assert!(started.elapsed() < DEADLINE, "never back to watching");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    write(&root, "after_flood.rs", "fn after_the_flood() {}\n");
    eventually(&client, &root, "after_the_flood", &["after_flood.rs"]).await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_that_cannot_be_watched_is_polled_and_says_so() {
    // Fewer allowed watches than the root has directories: fall back to polling.
    let env = TestEnv::new()
        .with_env("CODESAGE_WATCH__MAX_WATCHES", "2")
        .with_env("CODESAGE_WATCH__POLL_INTERVAL_MS", "200");
    let (client, root) = setup(&env).await;
    let status = env.status();
    let watch = &status["roots"][0]["watch"];
    assert_eq!(watch["mode"], "polling", "{status}");
    assert!(
        watch["error"].as_str().unwrap().contains("max_watches"),
        "{status}"
    );
    write(&root, "src/polled.rs", "fn found_by_polling() {}\n");
    let found = eventually(&client, &root, "found_by_polling", &["src/polled.rs"]).await;
    assert_eq!(found["watch"], "polling");

    // If the root itself disappears, answers say the index is no longer kept fresh.
    std::fs::rename(&root, env.dir.path().join("gone")).unwrap();
    let started = Instant::now();
    loop {
        let status = env.status();
        if status["roots"][0]["watch"]["mode"] == "stopped" {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stale = search(&client, &root, "fn beta").await;
    assert!(
        stale["notes"][0]
            .as_str()
            .unwrap()
            .contains("not being kept fresh"),
        "{stale}"
    );
    client.close().await;
}
