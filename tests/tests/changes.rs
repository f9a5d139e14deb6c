//! The change tools through the real shim and daemon on real git repositories built here
//! (commits, a branch, a rename, untracked files, a second worktree, a merge):
//! `changed_symbols` gives the exact added/modified/removed symbols, `affected_callers` the
//! callers of what changed ranked by change, `review_changes` the pre-commit findings, and
//! `codesage review` an exit status for hooks; bad revisions and codebases outside git get
//! clear errors and run nothing.
#![cfg(unix)]

use std::path::Path;
use std::process::Command;

use codesage_e2e::{McpClient, TestEnv, write};
use serde_json::{Value, json};

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const STORE_PY: &str = r#""""Storage."""
from app.util import normalize


class Store:
    """A key-value store."""

    def __init__(self):
        self.items = {}

    def get(self, key):
        """Get one value."""
        return self.items.get(normalize(key))

    def put(self, key, value):
        """Put one value."""
        self.items[normalize(key)] = value


def helper():
    """Make a store."""
    return Store()
"#;

const UTIL_PY: &str = "\"\"\"Text helpers.\"\"\"\n\n\ndef normalize(value):\n    \"\"\"Strip and lower a key.\"\"\"\n    return value.strip().lower()\n";

const SUMMARIZE_BODY: &str = r#"    totals = {}
    for record in records:
        category = record.get("category", "other")
        amount = float(record.get("amount", 0))
        if amount < 0:
            amount = -amount
        totals[category] = totals.get(category, 0.0) + amount
    ordered = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    lines = []
    for category, amount in ordered:
        lines.append(f"{category:<20} {amount:>12.2f}")
    return "\n".join(lines)
"#;

fn base_project(root: &Path) {
    git(root, &["init", "-q"]);
    write(root, "app/__init__.py", "");
    write(root, "app/store.py", STORE_PY);
    write(root, "app/util.py", UTIL_PY);
    write(
        root,
        "app/report.py",
        &format!(
            "\"\"\"Reports.\"\"\"\n\n\ndef summarize(records):\n    \"\"\"Totals per category, largest first.\"\"\"\n{SUMMARIZE_BODY}"
        ),
    );
    write(
        root,
        "app/legacy.py",
        "def legacy_total(values):\n    \"\"\"Sum them.\"\"\"\n    total = 0\n    for value in values:\n        total += value\n    return total\n",
    );
    write(
        root,
        "app/main.py",
        "from app.store import helper\n\n\ndef main():\n    \"\"\"Entry point.\"\"\"\n    return helper()\n",
    );
    write(
        root,
        "tests/test_store.py",
        "from app.store import Store\n\n\ndef test_get_returns_what_put_stored():\n    store = Store()\n    store.put(\"A\", 1)\n    assert store.get(\"a\") == 1\n",
    );
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
}

/// On branch `feature`: a committed signature change, then uncommitted edits — a modified
/// method, a removed function, a renamed and edited file, an untracked file with a new
/// complex undocumented function holding a TODO and a copy of `summarize`.
fn feature_change(root: &Path) {
    git(root, &["checkout", "-q", "-b", "feature"]);
    write(
        root,
        "app/util.py",
        &UTIL_PY.replace(
            "def normalize(value):\n    \"\"\"Strip and lower a key.\"\"\"\n    return value.strip().lower()",
            "def normalize(value, lower=True):\n    \"\"\"Strip a key, and lower it.\"\"\"\n    value = value.strip()\n    return value.lower() if lower else value",
        ),
    );
    git(
        root,
        &["commit", "-q", "-am", "normalize: optional lowering"],
    );

    let store = STORE_PY
        .replace(
            "return self.items.get(normalize(key))",
            "return self.items.get(normalize(key), None)",
        )
        .replace(
            "\n\ndef helper():\n    \"\"\"Make a store.\"\"\"\n    return Store()\n",
            "",
        );
    write(root, "app/store.py", &store);
    git(root, &["mv", "app/legacy.py", "app/old_legacy.py"]);
    write(
        root,
        "app/old_legacy.py",
        "def legacy_total(values):\n    \"\"\"Sum them.\"\"\"\n    total = 0\n    for value in values:\n        total += abs(value)\n    return total\n",
    );
    write(
        root,
        "app/export.py",
        &format!(
            "def export_all(rows, mode, strict):\n    # TODO: stream large exports\n    out = []\n    for row in rows:\n        if row is None:\n            continue\n        if mode == \"csv\":\n            out.append(\",\".join(row))\n        elif mode == \"tsv\":\n            out.append(\"\\t\".join(row))\n        elif strict:\n            raise ValueError(mode)\n        if len(out) > 1000 and strict:\n            break\n    return out\n\n\ndef summarize_copy(records):\n    \"\"\"Totals per category, largest first.\"\"\"\n{SUMMARIZE_BODY}"
        ),
    );
}

fn changes_of(answer: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = answer["symbols"]
        .as_array()
        .expect("symbols")
        .iter()
        .map(|symbol| {
            (
                symbol["change"].as_str().unwrap_or("").to_string(),
                symbol["symbol_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    pairs.sort();
    pairs
}

async fn index(client: &McpClient, root: &Path) {
    client
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changes_symbols_callers_and_review_come_from_git_and_the_live_index() {
    let env = TestEnv::new().with_env("CODESAGE_HEALTH__MAX_COMPLEXITY", "5");
    let root = env.workspace("shop");
    base_project(&root);
    feature_change(&root);
    let client = env.mcp().await.expect("connect");
    index(&client, &root).await;
    let codebase = root.display().to_string();

    // The uncommitted change, against HEAD.
    let answer = client
        .ok("changed_symbols", json!({"codebase_path": codebase}))
        .await;
    assert_eq!(
        changes_of(&answer),
        pairs(&[
            ("added", "app/export.py#export_all"),
            ("added", "app/export.py#summarize_copy"),
            ("modified", "app/old_legacy.py#legacy_total"),
            ("modified", "app/store.py#Store.get"),
            ("removed", "app/store.py#helper"),
        ]),
        "{answer:#}"
    );
    let symbols = answer["symbols"].as_array().expect("symbols");
    let get = symbols
        .iter()
        .find(|s| s["symbol_id"] == "app/store.py#Store.get")
        .expect("Store.get");
    assert_eq!(
        (get["start_line"].as_u64(), get["end_line"].as_u64()),
        (Some(11), Some(13))
    );
    assert!(get.get("signature_changed").is_none(), "{get}");
    let legacy = symbols
        .iter()
        .find(|s| s["symbol_id"] == "app/old_legacy.py#legacy_total")
        .expect("legacy_total");
    assert_eq!(legacy["old_file_path"], "app/legacy.py");
    let statuses: Vec<(String, String)> = answer["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["file_path"].as_str().unwrap_or("").to_string(),
                f["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("app/export.py".to_string(), "added".to_string()),
            ("app/old_legacy.py".to_string(), "renamed".to_string()),
            ("app/store.py".to_string(), "modified".to_string()),
        ]
    );
    assert_eq!(answer["base"]["since"], "HEAD");

    // Since the base branch: the committed signature change too.
    let answer = client
        .ok(
            "changed_symbols",
            json!({"codebase_path": codebase, "since": "main"}),
        )
        .await;
    let normalize = answer["symbols"]
        .as_array()
        .expect("symbols")
        .iter()
        .find(|s| s["symbol_id"] == "app/util.py#normalize")
        .unwrap_or_else(|| panic!("normalize changed since main: {answer:#}"));
    assert_eq!(normalize["change"], "modified");
    assert_eq!(normalize["signature_changed"], true);
    assert_eq!(changes_of(&answer).len(), 6, "{answer:#}");

    // Who it affects: the caller of the removed helper first, then callers of the
    // re-signed normalize and of Store.get (a test).
    let answer = client
        .ok(
            "affected_callers",
            json!({"codebase_path": codebase, "since": "main"}),
        )
        .await;
    let callers = answer["callers"].as_array().expect("callers");
    let ids: Vec<&str> = callers
        .iter()
        .map(|c| c["caller"]["symbol_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids.first(), Some(&"app/main.py#main"), "{answer:#}");
    assert_eq!(callers[0]["reaches"][0]["symbol_id"], "app/store.py#helper");
    assert_eq!(callers[0]["reaches"][0]["change"], "removed");
    for expected in [
        "app/store.py#Store.get",
        "app/store.py#Store.put",
        "tests/test_store.py#test_get_returns_what_put_stored",
    ] {
        assert!(ids.contains(&expected), "{expected} in {ids:?}");
    }
    let put = callers
        .iter()
        .find(|c| c["caller"]["symbol_id"] == "app/store.py#Store.put")
        .expect("Store.put");
    assert_eq!(put["reaches"][0]["symbol_id"], "app/util.py#normalize");
    assert_eq!(put["reaches"][0]["signature_changed"], true);
    assert_eq!(put["in_change"], true);
    let test = callers
        .iter()
        .find(|c| c["caller"]["file_path"] == "tests/test_store.py")
        .expect("the test");
    assert_eq!(test["test"], true);
    let import = answer["references"]
        .as_array()
        .expect("references")
        .iter()
        .find(|r| r["file_path"] == "app/main.py" && r["kind"] == "import")
        .unwrap_or_else(|| panic!("the import of the removed helper: {answer:#}"));
    assert_eq!(import["symbol_id"], "app/store.py#helper");

    // The review of the uncommitted change.
    let answer = client
        .ok("review_changes", json!({"codebase_path": codebase}))
        .await;
    assert_eq!(answer["verdict"], "needs_attention", "{answer:#}");
    let findings = answer["findings"].as_array().expect("findings");
    let has = |category: &str, id: Option<&str>, severity: &str| {
        findings.iter().any(|f| {
            f["category"] == category
                && f["severity"] == severity
                && id.is_none_or(|id| f["symbol_id"] == id)
        })
    };
    assert!(
        has("complexity", Some("app/export.py#export_all"), "warning"),
        "{answer:#}"
    );
    assert!(
        has("undocumented", Some("app/export.py#export_all"), "warning"),
        "{answer:#}"
    );
    assert!(!has(
        "undocumented",
        Some("app/export.py#summarize_copy"),
        "warning"
    ));
    assert!(has("untested", Some("app/export.py#export_all"), "info"));
    assert!(
        has("tests_not_touched", Some("app/store.py#Store.get"), "info"),
        "{answer:#}"
    );
    let todo = findings
        .iter()
        .find(|f| f["category"] == "todo")
        .expect("the new TODO");
    assert_eq!(
        (todo["file_path"].as_str(), todo["line"].as_u64()),
        (Some("app/export.py"), Some(2))
    );
    let clone = findings
        .iter()
        .find(|f| f["category"] == "clone")
        .unwrap_or_else(|| panic!("the copied summarize: {answer:#}"));
    assert_eq!(clone["severity"], "warning");
    assert_eq!(clone["file_path"], "app/export.py");
    assert!(
        clone["related"][0]
            .as_str()
            .is_some_and(|r| r.starts_with("app/report.py:")),
        "{clone}"
    );
    let complexity = findings
        .iter()
        .find(|f| f["category"] == "complexity")
        .expect("complexity");
    assert_eq!(complexity["threshold"], 5);
    assert!(complexity["value"].as_u64().is_some_and(|v| v > 5));

    // The same review for people and hooks.
    let output = env.codesage(&["review", "--root", &codebase]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("app/export.py:"), "{printed}");
    assert!(printed.contains("needs_attention since HEAD"), "{printed}");
    let output = env.codesage(&["review", "--root", &codebase, "--fail-on", "never"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    // Committed, the working tree has no change left: clean.
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "feature"]);
    let answer = client
        .ok("review_changes", json!({"codebase_path": codebase}))
        .await;
    assert_eq!(answer["verdict"], "clean", "{answer:#}");
    assert_eq!(answer["total"], 0);
    let output = env.codesage(&["review", "--root", &codebase]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    // Staged only: a staged edit counts, an unstaged one does not.
    write(
        &root,
        "app/util.py",
        &format!("{UTIL_PY}\n\ndef staged_one():\n    return 1\n"),
    );
    git(&root, &["add", "app/util.py"]);
    write(
        &root,
        "app/report.py",
        "def unstaged_one():\n    return 2\n",
    );
    let answer = client
        .ok(
            "changed_symbols",
            json!({"codebase_path": codebase, "staged": true}),
        )
        .await;
    let staged = changes_of(&answer);
    assert!(
        staged.contains(&("added".into(), "app/util.py#staged_one".into())),
        "{staged:?}"
    );
    assert!(
        staged.iter().all(|(_, id)| !id.contains("unstaged_one")),
        "{staged:?}"
    );
    assert_eq!(answer["base"]["compared"], "staged");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_worktree_answers_from_its_own_files_and_a_merge_is_a_change() {
    let env = TestEnv::new();
    let root = env.workspace("main-tree");
    base_project(&root);
    let client = env.mcp().await.expect("connect");
    index(&client, &root).await;
    let second = env.dir.path().join("second-tree");
    git(
        &root,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "other",
            &second.display().to_string(),
        ],
    );
    let second = second.canonicalize().expect("worktree path");
    // The first worktree is edited while the second is indexed.
    let (indexing, ()) = tokio::join!(
        client.call(
            "index_codebase",
            json!({"path": second.display().to_string()})
        ),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            write(
                &root,
                "app/util.py",
                &format!("{UTIL_PY}\n\ndef only_in_main_tree():\n    return 1\n"),
            );
        }
    );
    let indexing = indexing.expect("index the second worktree");
    assert_ne!(indexing.is_error, Some(true));
    write(
        &second,
        "app/report.py",
        "\"\"\"Reports.\"\"\"\n\n\ndef only_in_second_tree():\n    return 2\n",
    );
    let first = client
        .ok(
            "changed_symbols",
            json!({"codebase_path": root.display().to_string()}),
        )
        .await;
    assert_eq!(
        changes_of(&first),
        pairs(&[("added", "app/util.py#only_in_main_tree")]),
        "{first:#}"
    );
    let other = client
        .ok(
            "changed_symbols",
            json!({"codebase_path": second.display().to_string()}),
        )
        .await;
    assert_eq!(
        changes_of(&other),
        pairs(&[
            ("added", "app/report.py#only_in_second_tree"),
            ("removed", "app/report.py#summarize"),
        ]),
        "{other:#}"
    );

    // A merge: the first tree's work committed on main, merged into `other`; since the
    // merge's first parent, the change is what the merge brought in.
    git(&root, &["commit", "-q", "-am", "main work"]);
    git(&second, &["commit", "-q", "-am", "other work"]);
    git(
        &second,
        &["merge", "-q", "--no-ff", "-m", "merge main", "main"],
    );
    let merged = client
        .ok(
            "changed_symbols",
            json!({"codebase_path": second.display().to_string(), "since": "HEAD^1"}),
        )
        .await;
    assert_eq!(
        changes_of(&merged),
        pairs(&[("added", "app/util.py#only_in_main_tree")]),
        "{merged:#}"
    );

    // Forgetting the second worktree frees only what the first does not use.
    let second_text = second.display().to_string();
    let output = env.codesage(&["forget", &second_text, "--json"]);
    assert!(output.status.success(), "{output:?}");
    let forgot: Value = serde_json::from_slice(&output.stdout).expect("forget JSON");
    let files = forgot["files_removed"].as_u64().expect("files_removed");
    let freed = forgot["contents_freed"].as_u64().expect("contents_freed");
    assert_eq!(files, 7, "{forgot}");
    // Its own report.py is freed; the merged util.py and the untouched files are shared.
    assert_eq!(freed, 1, "{forgot}");
    assert_eq!(forgot["roots_left"], 1);
    let message = client
        .err("changed_symbols", json!({"codebase_path": second_text}))
        .await;
    assert!(
        message.contains("outside the indexed codebases"),
        "{message}"
    );
    let first = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root.display().to_string(), "pattern": "only_in_main_tree"}),
        )
        .await;
    assert_eq!(first["total_matches"], 1, "{first:#}");
    let output = env.codesage(&["check"]);
    assert!(output.status.success(), "{output:?}");
    let output = env.codesage(&["forget", &second_text]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not an indexed codebase"));
    let inside = root.join("app").display().to_string();
    let output = env.codesage(&["forget", &inside]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is inside the indexed codebase"));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_revisions_and_codebases_outside_git_are_refused_clearly() {
    let env = TestEnv::new();
    let root = env.workspace("repo");
    base_project(&root);
    let plain = env.workspace("plain");
    write(&plain, "a.py", "def a():\n    return 1\n");
    let client = env.mcp().await.expect("connect");
    index(&client, &root).await;
    index(&client, &plain).await;
    let codebase = root.display().to_string();
    let planted = env.dir.path().join("planted");
    for tool in ["changed_symbols", "affected_callers", "review_changes"] {
        let message = client
            .err(
                tool,
                json!({"codebase_path": codebase, "since": format!("--output={}", planted.display())}),
            )
            .await;
        assert!(
            message.contains("is not a git revision"),
            "{tool}: {message}"
        );
        let message = client
            .err(
                tool,
                json!({"codebase_path": codebase, "since": "no-such-branch"}),
            )
            .await;
        assert!(
            message.contains("git knows no commit \"no-such-branch\""),
            "{tool}: {message}"
        );
        let message = client
            .err(tool, json!({"codebase_path": plain.display().to_string()}))
            .await;
        assert!(
            message.contains("is not inside a git repository"),
            "{tool}: {message}"
        );
    }
    assert!(
        !planted.exists(),
        "an option passed as a revision must not reach git"
    );
    let output = env.codesage(&["review", "--root", &plain.display().to_string()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("not inside a git repository"));

    // A directory of the root that is a repository of its own answers for itself.
    let nested = plain.join("nested");
    std::fs::create_dir_all(&nested).expect("nested dir");
    git(&nested, &["init", "-q"]);
    write(&nested, "kept.py", "def kept():\n    return 1\n");
    git(&nested, &["add", "-A"]);
    git(&nested, &["commit", "-q", "-m", "nested"]);
    write(&nested, "kept.py", "def kept():\n    return 2\n");
    write(&nested, "fresh.py", "def fresh():\n    return 3\n");
    let answer = client
        .ok(
            "changed_symbols",
            json!({"codebase_path": nested.display().to_string()}),
        )
        .await;
    assert_eq!(
        changes_of(&answer),
        pairs(&[
            ("added", "nested/fresh.py#fresh"),
            ("modified", "nested/kept.py#kept"),
        ]),
        "{answer:#}"
    );
    client.close().await;
}
