//! The inotify limit reached: this user's inotify instances are all taken (by this test, as
//! editors and other watchers take them in real life) when the daemon starts watching a root.
//! The daemon must stay up, poll the root instead, find changes, and say why in status with
//! what to do. Its own test binary: the limit is per user, so nothing else may run beside it.
#![cfg(target_os = "linux")]

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use codesage_e2e::{TestEnv, age_tree, write};
use serde_json::json;

/// Takes inotify instances until the kernel refuses one (the per-user limit); `None` if the
/// process's own descriptor limit came first, which would not test the daemon.
fn take_every_inotify_instance() -> Option<Vec<OwnedFd>> {
    // Room for as many instances as the kernel may allow: the soft descriptor limit up to
    // the hard one.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads, then sets, this process's descriptor limit.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
    }
    let mut taken = Vec::new();
    loop {
        // SAFETY: inotify_init1 takes flags only; a descriptor it returns is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
            // EMFILE is also the process's descriptor limit: tell them apart.
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: reads this process's descriptor limit into `limit`.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
            return (taken.len() as u64 + 64 < limit.rlim_cur).then_some(taken);
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        taken.push(unsafe { OwnedFd::from_raw_fd(fd) });
        assert!(taken.len() < 1_000_000, "no inotify limit in sight");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_root_watched_without_inotify_instances_is_polled_and_says_why() {
    let env = TestEnv::new().with_env("CODESAGE_WATCH__POLL_INTERVAL_MS", "300");
    let root = env.workspace("nowatch");
    write(&root, "src/a.rs", "fn present_from_the_start() {}\n");
    age_tree(&root);
    let client = env.mcp().await.expect("connect");

    let Some(taken) = take_every_inotify_instance() else {
        panic!("the descriptor limit of the test process is below the inotify instance limit");
    };
    client
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await;
    let status = codesage_e2e::wait_for(Duration::from_secs(30), "the root's watch mode", || {
        let status = env.status();
        let mode = status["roots"][0]["watch"]["mode"].as_str()?.to_string();
        (mode != "starting").then_some(status)
    });
    let watch = &status["roots"][0]["watch"];
    assert_eq!(watch["mode"], "polling", "{status}");
    let error = watch["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("inotify instances are used up")
            && error.contains("fs.inotify.max_user_instances"),
        "{status}"
    );
    assert_ne!(status["health"], "healthy", "{status}");
    assert!(
        status["health_reasons"]
            .as_array()
            .is_some_and(|reasons| reasons
                .iter()
                .any(|reason| reason.as_str().is_some_and(|r| r.contains("polled")))),
        "{status}"
    );

    // Changes are still found, by polling.
    write(&root, "src/b.rs", "fn found_without_inotify() {}\n");
    let started = Instant::now();
    loop {
        let found = client
            .ok(
                "search_codebase",
                json!({"codebase_path": root.display().to_string(),
                       "pattern": "found_without_inotify"}),
            )
            .await;
        if found["total_matches"] == 1 {
            assert_eq!(found["watch"], "polling", "{found}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{found}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(taken);
    client.close().await;
}
