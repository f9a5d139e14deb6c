//! The daemon's life seen from outside: auto-start by the shim, sharing, single instance,
//! graceful stop, crash recovery with a stale socket, restart without re-reading unchanged
//! files, and the failures a shim must report instead of hanging.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use codesage_e2e::{
    TestEnv, age_tree, codesage_bin, codesaged_bin, process_alive, sample_project, wait_for,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn shim_starts_the_daemon_and_two_shims_share_it() {
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);
    assert!(!env.ping(), "no daemon yet");

    // Two shims at once: one of them starts the daemon, both end up on the same one.
    let (first, second) = tokio::join!(env.mcp(), env.mcp());
    let (first, second) = (first.expect("first shim"), second.expect("second shim"));
    let pid = env.daemon_pid().expect("a daemon took the lock");
    assert!(process_alive(pid));

    first
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await;
    let found = second
        .ok(
            "search_codebase",
            json!({"codebase_path": root.display().to_string(), "pattern": "handle_request"}),
        )
        .await;
    assert_eq!(
        found["total_matches"], 4,
        "the second shim sees the first one's index"
    );
    let status = env.status();
    assert_eq!(status["pid"], pid, "one daemon serves both");
    assert!(
        status["connections_active"].as_u64().unwrap() >= 2,
        "{status}"
    );

    // The daemon outlives its shims.
    first.close().await;
    second.close().await;
    std::thread::sleep(Duration::from_millis(100));
    assert!(process_alive(pid), "the daemon must outlive the shims");
    assert!(env.ping());
}

#[test]
fn a_second_daemon_for_the_same_socket_exits_cleanly() {
    let env = TestEnv::new();
    let mut first = env.start_daemon();
    let output = env
        .command(&codesaged_bin())
        .stdin(Stdio::null())
        .output()
        .expect("run second daemon");
    assert!(output.status.success(), "second daemon must exit 0");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("already running"), "{stderr}");
    assert!(env.ping(), "the first daemon is unaffected");
    env.stop();
    let status = first.wait();
    assert!(status.success());
}

#[test]
fn sigterm_and_stop_shut_down_gracefully_and_remove_the_socket() {
    let env = TestEnv::new();
    let mut daemon = env.start_daemon();
    assert!(env.socket.exists());
    env.signal_daemon("TERM");
    let status = daemon.wait();
    assert!(status.success(), "SIGTERM is a clean exit: {status}");
    assert!(!env.socket.exists(), "socket removed on shutdown");

    let mut daemon = env.start_daemon();
    let output = env.codesage(&["stop"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("stopped"));
    assert!(daemon.wait().success());
    assert!(!env.socket.exists());
    let again = env.codesage(&["stop"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("not running"));
}

/// Index, then restart the daemon (gracefully, then by SIGKILL): the index is still there
/// and the start-up reconciliation reads no unchanged file.
#[tokio::test(flavor = "multi_thread")]
async fn index_survives_restarts_without_rereading_unchanged_files() {
    let env = TestEnv::new();
    let root = env.workspace("project");
    sample_project(&root);
    age_tree(&root);
    let root_text = root.display().to_string();
    let client = env.mcp().await.expect("connect");
    let first = client
        .ok("index_codebase", json!({"path": root_text}))
        .await;
    assert_eq!(first["files_read"], 6, "{first}");
    client.close().await;

    for how in ["stop", "KILL"] {
        let old_pid = env.daemon_pid().expect("pid");
        if how == "stop" {
            env.stop();
        } else {
            env.signal_daemon("KILL");
            assert!(env.socket.exists(), "SIGKILL leaves a stale socket behind");
        }
        // `stop` returns when the daemon's sockets close at process exit; the kernel may
        // still be tearing the process down for a moment.
        wait_for(Duration::from_secs(5), "the old daemon to be gone", || {
            (!process_alive(old_pid)).then_some(())
        });

        // The next shim starts a new daemon, replacing any stale socket.
        let client = env.mcp().await.expect("reconnect after {how}");
        let new_pid = env.daemon_pid().expect("pid");
        assert_ne!(new_pid, old_pid);
        let found = client
            .ok(
                "search_codebase",
                json!({"codebase_path": root_text, "pattern": "hello world"}),
            )
            .await;
        assert_eq!(found["total_matches"], 2, "index kept after {how}: {found}");

        let status = wait_for(Duration::from_secs(20), "start-up reconciliation", || {
            let status = env.status();
            let run = status["roots"][0]["last_run"].clone();
            (!run.is_null()).then_some(run)
        });
        assert_eq!(status["files_read"], 0, "after {how}: {status}");
        assert_eq!(status["files_unchanged"], 6, "after {how}: {status}");
        client.close().await;
    }
}

#[test]
fn shim_reports_a_daemon_it_cannot_start_instead_of_hanging() {
    let env = TestEnv::new().with_env("CODESAGE_DAEMON_BIN", "/nonexistent/codesaged");
    let started = Instant::now();
    let output = env
        .command(&codesage_bin())
        .env("CODESAGE_DAEMON_BIN", "/nonexistent/codesaged")
        .arg("mcp")
        .stdin(Stdio::null())
        .output()
        .expect("run shim");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot start the daemon"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A daemon that starts but fails (its data directory is a file): the shim relays why.
    let env = TestEnv::new();
    std::fs::create_dir_all(env.data_dir.parent().unwrap()).unwrap();
    std::fs::write(&env.data_dir, "not a directory").unwrap();
    let output = env
        .command(&codesage_bin())
        .arg("mcp")
        .stdin(Stdio::null())
        .output()
        .expect("run shim");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exited"), "{stderr}");
    assert!(stderr.contains("Not a directory"), "{stderr}");
}

#[test]
fn shim_exits_with_a_message_when_the_daemon_vanishes() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon();
    let mut shim = env.raw_shim();
    shim.initialize("2025-06-18");
    env.signal_daemon("KILL");
    let status = wait_for(Duration::from_secs(10), "the shim to exit", || {
        shim.child.try_wait().expect("poll shim")
    });
    assert!(
        !status.success(),
        "a vanished daemon is an error for the shim"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(shim.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("closed the connection"), "{stderr}");
}

#[test]
fn bad_hellos_and_connection_limit_are_refused_with_a_reason() {
    let env = TestEnv::new().with_env("CODESAGE_SERVER__MAX_CONNECTIONS", "2");
    let _daemon = env.start_daemon();

    let mut raw = UnixStream::connect(&env.socket).expect("connect");
    raw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}\n")
        .unwrap();
    let mut reply = String::new();
    BufReader::new(&raw).read_line(&mut reply).unwrap();
    assert!(reply.starts_with("ERR "), "{reply}");
    assert!(reply.contains("codesage mcp"), "{reply}");

    // Two idle connections fill the limit; the third waits a moment for a slot, then is told
    // why it is refused.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = UnixStream::connect(&env.socket).unwrap();
        stream.write_all(b"CODESAGE/1 control\n").unwrap();
        let mut ok = String::new();
        BufReader::new(&stream).read_line(&mut ok).unwrap();
        assert!(ok.starts_with("OK codesaged"), "{ok}");
        held.push(stream);
    }
    let mut third = UnixStream::connect(&env.socket).unwrap();
    // The daemon may refuse before the hello is written; the refusal is still readable.
    let _ = third.write_all(b"CODESAGE/1 control\n");
    let mut refused = String::new();
    BufReader::new(&third).read_line(&mut refused).unwrap();
    assert!(refused.contains("maximum of 2 connections"), "{refused}");
    drop(held);
    wait_for(Duration::from_secs(35), "a free connection slot", || {
        env.ping().then_some(())
    });
}

/// A stop that arrives while requests are being served lets them finish: every request sent
/// before the stop gets its complete answer, then the daemon exits.
#[test]
fn stop_lets_in_flight_requests_finish() {
    let env = TestEnv::new();
    let root = env.workspace("big");
    // Enough content that a match-everything search takes a while.
    for dir in 0..20 {
        for file in 0..100 {
            let body: String = (0..60)
                .map(|line| format!("line {line} of file {file} in dir {dir} with some words\n"))
                .collect();
            codesage_e2e::write(&root, &format!("d{dir}/f{file}.txt"), &body);
        }
    }
    let mut daemon = env.start_daemon();
    assert!(
        env.codesage(&["index", &root.display().to_string()])
            .status
            .success()
    );

    let mut shim = env.raw_shim();
    shim.initialize("2025-11-25");
    for id in 1..=4 {
        shim.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "search_codebase",
            "arguments": {"codebase_path": root.display().to_string(),
                          "pattern": "file 7 in dir 1[0-9] with some w(o)rds?", "max_results": 0}}}));
    }
    // Once the daemon has received all of them (initialize + 4), stop it.
    wait_for(
        Duration::from_secs(20),
        "the requests to reach the daemon",
        || (env.status()["mcp_requests_received"].as_u64() >= Some(5)).then_some(()),
    );
    let mut stop = env.command(&codesage_bin());
    stop.arg("stop");
    let stopper = std::thread::spawn(move || stop.output());
    // Answers may come in any order.
    let mut answers = std::collections::BTreeMap::new();
    while answers.len() < 4 {
        let message = shim.recv();
        if let Some(id) = message["id"].as_u64() {
            answers.insert(id, message);
        }
    }
    for (id, answer) in answers {
        assert_eq!(answer["result"]["isError"], false, "{answer}");
        assert_eq!(
            answer["result"]["structuredContent"]["total_matches"], 600,
            "request {id} got a complete answer"
        );
    }
    let stopped = stopper.join().unwrap().expect("run codesage stop");
    assert!(stopped.status.success());
    assert!(daemon.wait().success());
    assert!(!env.socket.exists());
}

/// MCP hosts start servers with a minimal environment (the Python SDK passes only HOME,
/// LOGNAME, PATH, SHELL, TERM and USER). A shim started that way must reach the daemon that a
/// shell with `XDG_RUNTIME_DIR` (and everything else) started for the same store, instead of
/// starting a second daemon that fails on the store's lock.
#[test]
fn a_shim_with_a_minimal_environment_finds_the_daemon_the_shell_started() {
    let env = TestEnv::new();
    let home = env.workspace("home");
    let runtime = env.workspace("xdg-run");
    let project = env.workspace("p");
    std::fs::write(project.join("a.py"), "x = 1\nneedle_in_minimal_env = 2\n").unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let minimal = |extra: &[(&str, &std::path::Path)]| {
        let mut command = std::process::Command::new(codesage_bin());
        command.env_clear().env("PATH", &path).env("HOME", &home);
        for (key, value) in extra {
            command.env(key, value);
        }
        command
    };
    // Whatever happens below, stop the daemon this test started under its HOME.
    struct StopOnDrop<F: FnMut()>(F);
    impl<F: FnMut()> Drop for StopOnDrop<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _stop = StopOnDrop(|| {
        let _ = minimal(&[]).arg("stop").output();
    });

    let indexed = minimal(&[("XDG_RUNTIME_DIR", runtime.as_path())])
        .arg("index")
        .arg(&project)
        .output()
        .expect("run codesage index");
    assert!(
        indexed.status.success(),
        "index failed: {}",
        String::from_utf8_lossy(&indexed.stderr)
    );
    let mut shim_command = minimal(&[]);
    shim_command.arg("mcp");
    let mut shim = codesage_e2e::RawShim::spawn(shim_command);
    let init = shim.initialize("2025-06-18");
    assert!(init["result"]["serverInfo"]["name"] == "codesage", "{init}");
    shim.send(&json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "search_codebase", "arguments": {
            "codebase_path": project.display().to_string(),
            "pattern": "needle_in_minimal_env"
        }}
    }));
    let found = shim.recv_response(&json!(1));
    assert_eq!(
        found["result"]["structuredContent"]["total_matches"], 1,
        "the shim reached the daemon holding the index: {found}"
    );
    assert!(shim.finish().success());

    // One daemon: the status seen from a shell with XDG_RUNTIME_DIR names the same process
    // as the one seen from the minimal environment.
    let status = |command: &mut std::process::Command| -> serde_json::Value {
        let output = command.args(["status", "--json"]).output().expect("status");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("status JSON")
    };
    let from_shell = status(&mut minimal(&[("XDG_RUNTIME_DIR", runtime.as_path())]));
    let from_host = status(&mut minimal(&[]));
    assert_eq!(from_shell["pid"], from_host["pid"]);
    assert_eq!(from_shell["socket"], from_host["socket"]);
    assert!(
        from_host["socket"]
            .as_str()
            .is_some_and(|socket| socket.starts_with(home.to_str().unwrap())),
        "the default socket lives with the store under HOME: {from_host}"
    );
}
