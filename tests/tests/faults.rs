//! Faults around the daemon: the store's file refusing to grow in the middle of commits
//! (a full disk, as a file size limit on the real daemon), the socket file removed while it
//! runs, clients that connect and say nothing or leave mid-answer, many daemons started at
//! once, a store that cannot be written. Each time the daemon stays up, says what is wrong in status, loses nothing, and
//! recovers by itself once the cause is gone.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::time::{Duration, Instant};

use codesage_e2e::{McpClient, TestEnv, age_tree, wait_for, write};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(60);

async fn search(client: &McpClient, root: &Path, pattern: &str) -> Value {
    client
        .ok(
            "search_codebase",
            json!({"codebase_path": root.display().to_string(), "pattern": pattern,
                   "max_results": 0}),
        )
        .await
}

/// Registers and indexes `root` through the client, returning the tool's answer.
async fn index(client: &McpClient, root: &Path) -> Value {
    client
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await
}

/// Searches `pattern` in `root` until it has `expected` matches (`what` names the wait in
/// the failure), within [`DEADLINE`].
async fn until_found(client: &McpClient, root: &Path, pattern: &str, expected: u64, what: &str) {
    let started = Instant::now();
    loop {
        let found = search(client, root, pattern).await;
        if found["total_matches"] == expected {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: {found}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sets the soft file size limit (RLIMIT_FSIZE) of process `pid`, in bytes (`None`: none).
fn set_file_size_limit(pid: u32, bytes: Option<u64>) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads the current limits of `pid` into `old`.
    let read = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(read, 0, "prlimit read: {}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY),
        rlim_max: old.rlim_max,
    };
    // SAFETY: sets the soft limit of `pid`; the hard limit is kept.
    let set = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(set, 0, "prlimit set: {}", std::io::Error::last_os_error());
}

/// Text that does not compress away, so that the store has to grow to hold it.
fn incompressible_lines(seed: u64, lines: usize) -> String {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut text = String::new();
    for _ in 0..lines {
        text.push_str("// ");
        for _ in 0..12 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            text.push_str(&format!("{:016x}", state >> 1));
        }
        text.push('\n');
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_cannot_grow_loses_nothing_and_recovers_when_space_returns() {
    let env = TestEnv::new();
    let root = env.workspace("full");
    write(
        &root,
        "src/kept.rs",
        "fn kept_before_the_disk_filled() {}\n",
    );
    age_tree(&root);
    let client = env.mcp().await.expect("connect");
    index(&client, &root).await;
    let pid = env.daemon_pid().expect("daemon pid");
    let store = env.data_dir.join(codesage_shared::paths::STORE_FILE_NAME);
    let store_size = std::fs::metadata(&store).expect("store file").len();

    // The disk is "full": no file of the daemon may grow past the store's current size.
    set_file_size_limit(pid, Some(store_size));
    let added = 40;
    for i in 0..added {
        write(
            &root,
            &format!("src/added{i}.rs"),
            &format!(
                "fn added_while_full_{i}() {{}}\n{}",
                incompressible_lines(i, 400)
            ),
        );
    }

    // The failure shows in status, with what to do; the daemon keeps answering from the last
    // saved index.
    let started = Instant::now();
    let status = loop {
        let status = env.status();
        if status["store_problem"].is_string() {
            break status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no store problem reported: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let problem = status["store_problem"].as_str().unwrap_or_default();
    assert!(problem.contains("free disk space"), "{problem}");
    assert_eq!(status["health"], "unhealthy", "{status}");
    assert!(
        status["health_reasons"]
            .as_array()
            .is_some_and(|reasons| reasons.iter().any(|reason| reason == problem)),
        "{status}"
    );
    let kept = search(&client, &root, "kept_before_the_disk_filled").await;
    assert_eq!(kept["total_matches"], 1, "{kept}");
    assert!(
        std::fs::metadata(&store).expect("store file").len() <= store_size,
        "the store grew past the limit"
    );
    assert_eq!(env.daemon_pid(), Some(pid), "the daemon is still the same");

    // Space returns: every change made meanwhile arrives, with no command from anyone.
    set_file_size_limit(pid, None);
    until_found(
        &client,
        &root,
        "fn added_while_full_\\d+",
        added,
        "changes made while the disk was full never arrived",
    )
    .await;
    wait_for(DEADLINE, "the store problem to clear", || {
        env.status()["store_problem"].is_null().then_some(())
    });
    client.close().await;

    // Nothing is damaged: the store passes its check, and a restarted daemon answers the same.
    env.stop();
    let check = env.codesage(&["check"]);
    assert!(
        check.status.success(),
        "check failed: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let client = env.mcp().await.expect("reconnect");
    let found = search(&client, &root, "fn added_while_full_\\d+").await;
    assert_eq!(found["total_matches"], added, "{found}");
    let kept = search(&client, &root, "kept_before_the_disk_filled").await;
    assert_eq!(kept["total_matches"], 1, "{kept}");
    client.close().await;
}

#[test]
fn a_socket_file_removed_while_running_is_recreated() {
    let env = TestEnv::new();
    let mut daemon = env.start_daemon();
    let pid = env.daemon_pid().expect("daemon pid");
    std::fs::remove_file(&env.socket).expect("remove the socket");
    assert!(!env.ping());
    // The same daemon listens again; no second one is started.
    wait_for(Duration::from_secs(15), "the socket to come back", || {
        env.ping().then_some(())
    });
    assert_eq!(env.status()["pid"], pid, "the same daemon answers");
    env.stop();
    assert!(daemon.wait().success());
    assert!(
        !env.socket.exists(),
        "the recreated socket is removed on shutdown"
    );
}

#[test]
fn many_daemons_started_at_once_leave_exactly_one() {
    let env = TestEnv::new();
    let starts: Vec<std::process::Child> = (0..6)
        .map(|_| {
            env.command(&codesage_e2e::codesaged_bin())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn codesaged")
        })
        .collect();
    env.wait_until_listening();
    let mut running = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for mut child in starts {
        loop {
            match child.try_wait().expect("poll child") {
                Some(status) => {
                    assert!(status.success(), "a daemon that lost the race exits 0");
                    let mut stderr = String::new();
                    use std::io::Read;
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = pipe.read_to_string(&mut stderr);
                    }
                    assert!(stderr.contains("already running"), "{stderr}");
                    break;
                }
                None if Instant::now() > deadline => {
                    running.push(child);
                    break;
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    assert_eq!(running.len(), 1, "exactly one daemon keeps running");
    assert_eq!(
        env.daemon_pid(),
        Some(running[0].id()),
        "the lock names the survivor"
    );
    assert_eq!(env.status()["pid"], running[0].id());
    env.stop();
    assert!(running[0].wait().expect("wait").success());
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_that_say_nothing_or_leave_mid_answer_cost_nothing() {
    use std::io::{BufRead, BufReader};
    let env = TestEnv::new();
    let root = env.workspace("big");
    // Enough matches that the answer is still being written when its reader leaves.
    for dir in 0..4 {
        for file in 0..10 {
            let body: String = (0..200)
                .map(|line| format!("let leaving_token_{line} = {file};\n"))
                .collect();
            write(&root, &format!("d{dir}/f{file}.rs"), &body);
        }
    }
    let client = env.mcp().await.expect("connect");
    index(&client, &root).await;
    let baseline = env.status()["connections_active"].as_u64().unwrap_or(0);

    // Connections that never send their hello do not hold anything up, and are closed.
    let silent: Vec<std::os::unix::net::UnixStream> = (0..20)
        .map(|_| std::os::unix::net::UnixStream::connect(&env.socket).expect("connect"))
        .collect();
    let found = search(&client, &root, "leaving_token_7\\b").await;
    assert_eq!(found["total_matches"], 40, "{found}");
    for stream in &silent {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut line = String::new();
        // The daemon closes it (or says why first): never a hang.
        let read = BufReader::new(stream).read_line(&mut line);
        assert!(read.is_ok(), "a silent connection was not closed: {read:?}");
    }
    drop(silent);

    // Shims killed while their answer is on its way.
    for _ in 0..5 {
        let mut shim = env.raw_shim();
        shim.initialize("2025-06-18");
        shim.send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "search_codebase", "arguments": {
                "codebase_path": root.display().to_string(),
                "pattern": "leaving_token_\\d+", "max_results": 0}}}));
        shim.kill();
    }
    // Nothing is left behind: connections and requests in flight go back to where they were,
    // and the daemon answers the next client in full.
    wait_for(Duration::from_secs(30), "connections to close", || {
        let status = env.status();
        (status["connections_active"].as_u64() == Some(baseline)
            && status["mcp_requests_in_flight"] == 0)
            .then_some(())
    });
    let found = search(&client, &root, "leaving_token_19\\d\\b").await;
    assert_eq!(found["total_matches"], 40 * 10, "{}", found["notes"]);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn modification_times_from_a_clock_that_jumped_do_not_hide_changes() {
    let env = TestEnv::new();
    let root = env.workspace("clock");
    write(&root, "past.rs", "fn past_before() {}\n");
    write(&root, "future.rs", "fn future_before() {}\n");
    age_tree(&root);
    let future = std::time::SystemTime::now() + Duration::from_secs(365 * 24 * 3600);
    let set_mtime = |path: &Path, when: std::time::SystemTime| {
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|file| file.set_modified(when))
            .expect("set mtime");
    };
    set_mtime(&root.join("future.rs"), future);
    let client = env.mcp().await.expect("connect");
    index(&client, &root).await;
    client.close().await;
    env.stop();

    // While the daemon is down, both change with the same size, and their times go back:
    // one to a day before what the index recorded (the clock was set back), the other stays
    // in the future (the clock that wrote it was ahead).
    let past_mtime = std::fs::metadata(root.join("past.rs"))
        .and_then(|meta| meta.modified())
        .expect("mtime");
    write(&root, "past.rs", "fn past_change() {}\n");
    set_mtime(
        &root.join("past.rs"),
        past_mtime - Duration::from_secs(24 * 3600),
    );
    write(&root, "future.rs", "fn future_change() {}\n");
    set_mtime(&root.join("future.rs"), future);

    let client = env.mcp().await.expect("reconnect");
    let started = Instant::now();
    loop {
        let changed = search(&client, &root, "fn (past_change|future_change)\\b").await;
        let before = search(&client, &root, "fn (past|future)_before\\b").await;
        if changed["total_matches"] == 2 && before["total_matches"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "changes hidden by their times: {changed} {before}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_that_vanishes_and_comes_back_is_watched_again() {
    let env = TestEnv::new();
    let root = env.workspace("mounted");
    write(&root, "src/a.rs", "fn before_the_unmount() {}\n");
    age_tree(&root);
    let client = env.mcp().await.expect("connect");
    index(&client, &root).await;
    let wait_mode = |mode: &'static str| {
        wait_for(DEADLINE, mode, || {
            let status = env.status();
            (status["roots"][0]["watch"]["mode"] == mode).then_some(status)
        })
    };
    wait_mode("watching");

    // Unmounted: the root disappears; the daemon says so and keeps the last index.
    let away = env.dir.path().join("unmounted");
    std::fs::rename(&root, &away).expect("move the root away");
    let status = wait_mode("stopped");
    let error = status["roots"][0]["watch"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains("no longer exists"), "{status}");
    let stale = search(&client, &root, "before_the_unmount").await;
    assert_eq!(stale["total_matches"], 1, "{stale}");

    // Mounted again, with a change made elsewhere meanwhile: watched again, the change found.
    write(&away, "src/a.rs", "fn after_the_remount() {}\n");
    std::fs::rename(&away, &root).expect("bring the root back");
    let status = wait_mode("watching");
    assert!(status["roots"][0]["watch"]["error"].is_null(), "{status}");
    let started = Instant::now();
    loop {
        let found = search(&client, &root, "fn (before_the_unmount|after_the_remount)").await;
        let lines: Vec<&str> = found["results"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|file| file["matches"].as_array().into_iter().flatten())
            .filter_map(|line| line["line_content"].as_str())
            .collect();
        if lines == ["fn after_the_remount() {}"] {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{found}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And live changes arrive through the new watches.
    write(&root, "src/b.rs", "fn written_after_the_remount() {}\n");
    let started = Instant::now();
    loop {
        let found = search(&client, &root, "written_after_the_remount").await;
        if found["total_matches"] == 1 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{found}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.close().await;
}

/// A daemon that file permissions apply to: as root, one started without the capabilities
/// that bypass them (through `setpriv`); as anyone else, the plain daemon.
fn env_bound_by_permissions() -> TestEnv {
    let env = TestEnv::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return env;
    }
    let wrapper = env.dir.path().join("codesaged-without-capabilities");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec setpriv --inh-caps=-all --bounding-set=-all -- {} \"$@\"\n",
            codesage_e2e::codesaged_bin().display()
        ),
    )
    .expect("write the wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = wrapper.display().to_string();
    env.with_env("CODESAGE_DAEMON_BIN", &path)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_that_cannot_be_read_is_reported_and_the_rest_indexed() {
    use std::os::unix::fs::PermissionsExt;
    let env = env_bound_by_permissions();
    let root = env.workspace("perms");
    write(&root, "src/open.rs", "fn readable_code() {}\n");
    write(&root, "locked/inside.rs", "fn behind_the_lock() {}\n");
    age_tree(&root);
    let locked = root.join("locked");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");

    let client = env.mcp().await.expect("connect");
    let indexed = index(&client, &root).await;
    let found = search(&client, &root, "readable_code").await;
    assert_eq!(found["total_matches"], 1, "{found} {indexed}");
    let status = wait_for(DEADLINE, "the run's summary", || {
        let status = env.status();
        (!status["roots"][0]["last_run"].is_null()).then_some(status)
    });
    let run = &status["roots"][0]["last_run"];
    assert_eq!(run["unreadable"], 1, "{status}");
    let named = run["unreadable_paths"][0].as_str().unwrap_or_default();
    assert!(named.contains("locked"), "{status}");
    assert_ne!(status["health"], "healthy", "{status}");
    assert!(
        status["health_reasons"]
            .as_array()
            .is_some_and(|reasons| reasons.iter().any(|reason| reason
                .as_str()
                .is_some_and(|r| r.contains("could not be read") && r.contains("locked")))),
        "{status}"
    );

    // Readable again: a reindex brings its files in and the complaint goes.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let output = env.codesage(&["reindex", &root.display().to_string()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let started = Instant::now();
    loop {
        let found = search(&client, &root, "behind_the_lock").await;
        let status = env.status();
        if found["total_matches"] == 1 && status["roots"][0]["last_run"]["unreadable"] == 0 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{found} {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_cannot_be_written_is_served_from_memory_and_left_as_it_is() {
    use std::os::unix::fs::PermissionsExt;
    let env = env_bound_by_permissions();
    let root = env.workspace("readonly");
    write(&root, "src/saved.rs", "fn saved_before_the_lock() {}\n");
    age_tree(&root);
    let client = env.mcp().await.expect("connect");
    index(&client, &root).await;
    client.close().await;
    env.stop();

    // The store and its directory become read-only (as on a read-only mount).
    let store = env.data_dir.join(codesage_shared::paths::STORE_FILE_NAME);
    let before = std::fs::read(&store).expect("store file");
    let mode = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    mode(&store, 0o400);
    mode(&env.data_dir, 0o500);

    // The daemon starts anyway, says what is wrong and what to do, and answers from a copy
    // of the store, kept fresh as usual.
    let client = env
        .mcp()
        .await
        .expect("connect to a daemon on a read-only store");
    let status = env.status();
    assert_eq!(status["health"], "degraded", "{status}");
    let reasons = status["health_reasons"].to_string();
    assert!(
        reasons.contains("cannot be written") && reasons.contains(&store.display().to_string()),
        "{status}"
    );
    assert!(reasons.contains("writable"), "{status}");
    let saved = search(&client, &root, "saved_before_the_lock").await;
    assert_eq!(saved["total_matches"], 1, "{saved}");
    write(&root, "src/later.rs", "fn written_while_read_only() {}\n");
    until_found(
        &client,
        &root,
        "written_while_read_only",
        1,
        "the edit never arrived",
    )
    .await;
    client.close().await;
    env.stop();
    assert_eq!(
        std::fs::read(&store).expect("store file"),
        before,
        "the read-only store was changed"
    );

    // Writable again: the next daemon uses the file (which catches up with the edit made
    // meanwhile), and is healthy.
    mode(&env.data_dir, 0o700);
    mode(&store, 0o600);
    let client = env.mcp().await.expect("reconnect");
    until_found(
        &client,
        &root,
        "written_while_read_only",
        1,
        "the edit was not caught up",
    )
    .await;
    assert_ne!(
        std::fs::read(&store).expect("store file"),
        before,
        "the writable store was not updated"
    );
    let status = wait_for(DEADLINE, "a healthy daemon", || {
        let status = env.status();
        (status["health"] == "healthy").then_some(status)
    });
    assert!(
        !status["health_reasons"]
            .to_string()
            .contains("cannot be written")
    );
    client.close().await;
}
