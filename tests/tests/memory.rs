//! Memory as `codesage status` reports it: the resident set broken down per component (heap
//! counted by the allocator, each index part, every cache against its share of
//! `memory.budget_mb`), and a root's semantic index built on demand and dropped when unused.
#![cfg(unix)]

use std::time::Duration;

use codesage_e2e::{TestEnv, age_tree, sample_project, wait_for};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;

fn part(status: &Value, name: &str) -> Value {
    status["memory"]["parts"]
        .as_array()
        .expect("memory parts")
        .iter()
        .find(|part| part["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no memory part {name:?} in {}", status["memory"]))
}

/// The sample project, aged and indexed through the daemon; its root as text.
fn indexed_project(env: &TestEnv) -> String {
    let root = env.workspace("project");
    sample_project(&root);
    age_tree(&root);
    let root_text = root.display().to_string();
    assert!(env.codesage(&["index", &root_text]).status.success());
    root_text
}

/// Resident pages of the daemon's own files, as `status` reports them.
fn program_pages(status: &Value) -> u64 {
    part(status, "program code and tables (file pages)")["bytes"]
        .as_u64()
        .expect("file pages")
}

#[test]
fn status_breaks_resident_memory_down_per_component() {
    let env = TestEnv::new().with_env("CODESAGE_MEMORY__BUDGET_MB", "8");
    let root = env.workspace("project");
    sample_project(&root);
    age_tree(&root);
    let root_text = root.display().to_string();
    let indexed = env.codesage(&["index", &root_text]);
    assert!(indexed.status.success());
    let searched = env.codesage(&["search", "hello", "--root", &root_text]);
    assert!(searched.status.success());

    let status = env.status();
    let memory = &status["memory"];
    let rss = status["rss_bytes"].as_u64().expect("rss");
    let heap = memory["heap_bytes"]
        .as_u64()
        .expect("the daemon counts its heap (it runs on the counting allocator)");
    assert!(heap > 0 && heap < rss, "heap {heap} within rss {rss}");
    assert_eq!(memory["cache_budget_bytes"], 8 * MIB);
    // Every cache is bounded by its share of the budget.
    assert_eq!(part(&status, "content cache")["limit_bytes"], 8 * MIB / 3);
    assert_eq!(part(&status, "clone sources cache")["limit_bytes"], 2 * MIB);
    assert_eq!(part(&status, "health facts cache")["limit_bytes"], MIB);
    assert!(part(&status, "content cache")["bytes"].as_u64() > Some(0));
    // The index parts of this project exist and are measured.
    for name in [
        "trigram segments",
        "documents (paths, languages)",
        "definitions (symbol summaries)",
    ] {
        assert!(part(&status, name)["bytes"].as_u64() > Some(0), "{name}");
    }
    // What tree-sitter and zstd hold through the C library's malloc is told apart from
    // the allocator's reserve; the indexing run's parsers are gone, so it is small.
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        let c_heap = part(&status, "C libraries' heap in use (tree-sitter, zstd)")["bytes"]
            .as_u64()
            .expect("C heap bytes");
        assert!(c_heap > 0 && c_heap < 16 * MIB, "C heap in use: {c_heap}");
    }
    if cfg!(target_os = "linux") {
        let file_pages = part(&status, "program code and tables (file pages)")["bytes"]
            .as_u64()
            .expect("file pages");
        assert!(
            file_pages > MIB,
            "the daemon's code is resident: {file_pages}"
        );
    }
    // The parts account for the whole resident set: what the heap holds besides the
    // itemised parts, and what the process holds besides its heap.
    let sum: u64 = memory["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| part["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, rss, "{memory}");
    let sizes: Vec<u64> = memory["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| part["bytes"].as_u64().unwrap())
        .collect();
    assert!(
        sizes.windows(2).all(|pair| pair[0] >= pair[1]),
        "largest first"
    );

    let text = env.codesage(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("on the heap"), "{text}");
    assert!(text.contains("memory.budget_mb"), "{text}");
    assert!(text.contains("trigram segments"), "{text}");
}

#[test]
fn an_unused_semantic_index_is_built_on_demand_and_released() {
    // No model: the semantic index is the lexical one, built when asked.
    let env = TestEnv::new()
        .with_env("CODESAGE_SEMANTIC__NEURAL", "false")
        .with_env("CODESAGE_SEMANTIC__IDLE_RELEASE_SECS", "3");
    let root_text = indexed_project(&env);

    // Nobody asked: nothing is built, however long the worker has had.
    std::thread::sleep(Duration::from_secs(2));
    let status = env.status();
    assert!(status["roots"][0]["semantic"].is_null(), "{status}");
    assert_eq!(part(&status, "semantic lexical index")["bytes"], 0);

    let ask = || {
        let output = env.codesage(&[
            "tool",
            "semantic_search_codebase",
            &serde_json::json!({"codebase_path": root_text, "query": "handle a request"})
                .to_string(),
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let answer: Value = serde_json::from_slice(&output.stdout).expect("answer JSON");
        answer["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|hit| hit["file_path"].as_str() == Some("app/service.py"))
    };
    assert!(
        ask(),
        "the first question builds the index and finds the function"
    );
    let status = env.status();
    assert!(
        status["roots"][0]["semantic"]["chunks"].as_u64() > Some(0),
        "{status}"
    );
    assert!(part(&status, "semantic lexical index")["bytes"].as_u64() > Some(0));

    // Unused for longer than semantic.idle_release_secs: dropped.
    wait_for(
        Duration::from_secs(30),
        "the unused semantic index to be released",
        || {
            let status = env.status();
            (status["roots"][0]["semantic"].is_null()
                && part(&status, "semantic lexical index")["bytes"] == 0)
                .then_some(())
        },
    );
    // And built again when asked again.
    assert!(ask(), "asked again after the release");
}

#[test]
fn caches_quick_to_refill_are_emptied_after_a_quiet_spell_and_refill_when_asked() {
    let env = TestEnv::new().with_env("CODESAGE_MEMORY__IDLE_RELEASE_SECS", "3");
    let root_text = indexed_project(&env);
    let search = || {
        let output = env.codesage(&["search", "def ", "--root", &root_text]);
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let first = search();
    assert!(first.contains("app/service.py"), "{first}");
    let paged_in = program_pages(&env.status());
    let linux = cfg!(target_os = "linux");
    if linux {
        assert!(paged_in > MIB, "the daemon's code is resident: {paged_in}");
    }

    // Quiet for longer than memory.idle_release_secs: the content cache is emptied, though
    // searches read through it (misses counted), and the program's pages that indexing and
    // answering paged in are handed back.
    wait_for(
        Duration::from_secs(30),
        "the content cache to be emptied and the program's pages handed back",
        || {
            let status = env.status();
            let emptied = part(&status, "content cache")["bytes"] == 0;
            // Answering the status requests maps some code back at once: a clear drop, not
            // all of it (about 13 of 38 MiB stay in a debug build).
            let paged_out = !linux || program_pages(&status) + 4 * MIB < paged_in;
            (emptied && paged_out).then_some(status)
        },
    );
    let status = env.status();
    assert!(
        status["content_cache"]["misses"].as_u64() > Some(0),
        "{}",
        status["content_cache"]
    );
    assert_eq!(status["content_cache"]["entries"], 0);

    // The same question gets the same answer, and fills the cache again.
    assert_eq!(search(), first);
    let status = env.status();
    assert!(
        part(&status, "content cache")["bytes"].as_u64() > Some(0),
        "{}",
        status["memory"]
    );
}

#[test]
fn the_programs_pages_stay_when_configured_to() {
    let env = TestEnv::new()
        .with_env("CODESAGE_MEMORY__IDLE_RELEASE_SECS", "3")
        .with_env("CODESAGE_MEMORY__RELEASE_PROGRAM_PAGES", "false");
    let root_text = indexed_project(&env);
    let output = env.codesage(&["search", "def ", "--root", &root_text]);
    assert!(output.status.success());
    let before = env.status();
    let paged_in = program_pages(&before);
    assert!(
        part(&before, "content cache")["bytes"].as_u64() > Some(0),
        "{}",
        before["memory"]
    );

    // The same quiet spell empties the content cache, but leaves the program's pages.
    let status = wait_for(
        Duration::from_secs(30),
        "the content cache to be emptied",
        || {
            let status = env.status();
            (part(&status, "content cache")["bytes"] == 0).then_some(status)
        },
    );
    let kept = program_pages(&status);
    assert!(
        kept + 4 * MIB >= paged_in,
        "file pages {kept} after the quiet spell against {paged_in} before"
    );
}
