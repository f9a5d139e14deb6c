//! Code health through the real shim and daemon: clone detection on a project with a known
//! exact copy, a renamed copy, a near-miss copy (one line inserted), a look-alike that is not
//! a copy and a snippet copied five times, each with its exact line ranges; an edit that
//! breaks a copy removes its class; the improvements report and the TODO listing; bad
//! arguments; `codesage dups`.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use codesage_e2e::{McpClient, TestEnv, age_tree, wait_for, write};
use serde_json::{Value, json};

/// `compute_invoice_total` (lines 4-18 of `billing/invoice.py`), copied verbatim.
const INVOICE: &str = "def compute_invoice_total(items, tax_rate, discount):
    subtotal = 0
    for item in items:
        price = item.unit_price * item.quantity
        if item.taxable:
            price = price * (1 + tax_rate)
        subtotal += price
    if discount > 0:
        subtotal = subtotal - subtotal * discount
    rounded = round(subtotal, 2)
    if rounded < 0:
        raise ValueError(\"negative invoice total\")
    log_total(rounded, len(items))
    audit_invoice(items, rounded)
    return rounded
";

/// `parse_config_lines`, to be copied with other names and literals.
const PARSE: &str = "def parse_config_lines(text, defaults):
    settings = dict(defaults)
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith(\"#\"):
            continue
        key, _, value = line.partition(\"=\")
        key = key.strip().lower()
        if key in settings and isinstance(settings[key], int):
            settings[key] = int(value)
        else:
            settings[key] = value.strip()
    validate_settings(settings)
    return settings
";

/// The same function renamed: other identifiers and literals, same structure.
const PARSE_RENAMED: &str = "def read_options(blob, fallback):
    options = dict(fallback)
    for entry in blob.splitlines():
        row = entry.strip()
        if not row or row.startswith(\";\"):
            continue
        name, _, val = row.partition(\":\")
        name = name.strip().lower()
        if name in options and isinstance(options[name], int):
            options[name] = int(val)
        else:
            options[name] = val.strip()
    check_options(options)
    return options
";

/// `merge_user_records`, to be copied with one line inserted.
const MERGE: &str = "def merge_user_records(primary, secondary, keep_empty):
    merged = {}
    for field in sorted(set(primary) | set(secondary)):
        first = primary.get(field)
        second = secondary.get(field)
        if first is None and second is None:
            if keep_empty:
                merged[field] = None
            continue
        if first is None:
            merged[field] = second
        elif second is None or first == second:
            merged[field] = first
        else:
            merged[field] = resolve_conflict(field, first, second)
    return merged
";

/// The copy with one statement inserted after `second = ...` (line 6 of the copy).
fn merge_near() -> String {
    MERGE.replace(
        "        second = secondary.get(field)\n",
        "        second = secondary.get(field)\n        record_field_seen(field, first, second)\n",
    )
}

/// Same name and purpose as `compute_invoice_total`, different code: not a copy.
const INVOICE_LOOKALIKE: &str = "def compute_invoice_total(items, tax_rate, discount):
    total = sum(i.unit_price * i.quantity for i in items)
    taxed = sum(i.unit_price * i.quantity * tax_rate for i in items if i.taxable)
    total = (total + taxed) * (1 - discount)
    return max(round(total, 2), 0)
";

/// Copied into five files.
const NORMALIZE: &str = "def normalize_record(record):
    cleaned = {}
    for key, value in record.items():
        name = key.strip().lower().replace(\" \", \"_\")
        if isinstance(value, str):
            value = value.strip()
            if value == \"\":
                value = None
        elif isinstance(value, float) and value != value:
            value = None
        cleaned[name] = value
    return cleaned
";

fn lines(text: &str) -> u32 {
    text.lines().count() as u32
}

/// `header` lines, then `body` starting on the next line: (file text, first line of body).
fn file_with(header: &str, body: &str, footer: &str) -> (String, u32) {
    let start = lines(header) + 1;
    (format!("{header}{body}{footer}"), start)
}

struct Project {
    root: PathBuf,
    /// (path, first line, last line) of each placed function.
    invoice: Vec<(String, u32, u32)>,
    parse: Vec<(String, u32, u32)>,
    merge: Vec<(String, u32, u32)>,
    normalize: Vec<(String, u32, u32)>,
}

fn place(root: &Path, path: &str, header: &str, body: &str, footer: &str) -> (String, u32, u32) {
    let (text, start) = file_with(header, body, footer);
    write(root, path, &text);
    (path.to_string(), start, start + lines(body) - 1)
}

fn project(root: &Path) -> Project {
    let invoice = vec![
        place(
            root,
            "billing/invoice.py",
            "import logging\n\nLOG = logging.getLogger(__name__)\n",
            INVOICE,
            "\n\ndef log_total(total, count):\n    LOG.info(\"%s over %d\", total, count)\n",
        ),
        place(
            root,
            "legacy/old_billing.py",
            "\"\"\"Old billing code kept for the v1 API.\"\"\"\nfrom legacy.audit import audit_invoice\nfrom legacy.logs import log_total\n\nVERSION = 1\n\n",
            INVOICE,
            "\n\nclass Invoice:\n    pass\n",
        ),
    ];
    let parse = vec![
        place(
            root,
            "config/loader.py",
            "import os\n\n",
            PARSE,
            "\n\ndef validate_settings(settings):\n    assert settings\n",
        ),
        place(
            root,
            "plugins/options.py",
            "# Plugin options.\nPLUGIN_NAME = \"options\"\n\n\n",
            PARSE_RENAMED,
            "\n\ndef check_options(options):\n    return bool(options)\n",
        ),
    ];
    let merge = vec![
        place(
            root,
            "users/merge.py",
            "from users.conflicts import resolve_conflict\n\n",
            MERGE,
            "",
        ),
        place(
            root,
            "users/sync.py",
            "from users.conflicts import resolve_conflict\nfrom users.audit import record_field_seen\n\nBATCH = 50\n\n",
            &merge_near(),
            "\n\ndef sync_all(pairs):\n    return [merge_user_records(a, b, False) for a, b in pairs]\n",
        ),
    ];
    write(
        root,
        "billing/estimate.py",
        &format!("\"\"\"Estimates.\"\"\"\n\n{INVOICE_LOOKALIKE}"),
    );
    // Around each copy, code of a different shape, so each copy is exactly the function.
    let headers = [
        "SOURCE = 1\n\n",
        "import csv\n\n",
        "from io import StringIO\n\n",
        "print(\"loading importers\")\n\n",
        "assert True, \"importers\"\n\n",
    ];
    let footers = [
        "\n\nclass Reader:\n    pass\n",
        "\n\nROWS = []\n",
        "\n\nif __name__ == \"__main__\":\n    main()\n",
        "\n\ntry:\n    import ujson\nexcept ImportError:\n    ujson = None\n",
        "",
    ];
    let normalize = (0..5)
        .map(|n| {
            place(
                root,
                &format!("importers/source_{n}.py"),
                headers[n],
                NORMALIZE,
                footers[n],
            )
        })
        .collect();
    write(
        root,
        "app/tasks.py",
        "def schedule(job, when):\n    # TODO: retry failed jobs\n    message = \"TODO: this string is not a marker\"\n    return (job, when, message)  # FIXME(ana): timezone\n",
    );
    write(root, "app/__init__.py", "");
    std::fs::write(root.join("app/blob.py"), [0u8, 159, 0, 1, 2, 3]).expect("binary file");
    Project {
        root: root.to_path_buf(),
        invoice,
        parse,
        merge,
        normalize,
    }
}

async fn setup(env: &TestEnv) -> (McpClient, Project) {
    let root = env.workspace("shop");
    let project = project(&root);
    age_tree(&root);
    let client = env.mcp().await.expect("connect");
    client
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await;
    (client, project)
}

/// One copy of a clone: (path, start line, end line).
type Place = (String, u32, u32);

/// (path, start, end) of every copy of every class, with the class's kind.
fn classes(answer: &Value) -> Vec<(String, Vec<Place>)> {
    answer["clone_classes"]
        .as_array()
        .expect("clone_classes")
        .iter()
        .map(|class| {
            let mut places: Vec<Place> = class["locations"]
                .as_array()
                .expect("locations")
                .iter()
                .map(|at| {
                    (
                        at["file_path"].as_str().unwrap_or_default().to_string(),
                        at["start_line"].as_u64().unwrap_or(0) as u32,
                        at["end_line"].as_u64().unwrap_or(0) as u32,
                    )
                })
                .collect();
            places.sort();
            (
                class["kind"].as_str().unwrap_or_default().to_string(),
                places,
            )
        })
        .collect()
}

fn sorted(mut places: Vec<(String, u32, u32)>) -> Vec<(String, u32, u32)> {
    places.sort();
    places
}

#[tokio::test(flavor = "multi_thread")]
async fn clones_are_found_with_their_exact_ranges_and_kinds() {
    let env = TestEnv::new();
    let (client, project) = setup(&env).await;
    let root = project.root.display().to_string();
    let answer = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "max_results": 0}),
        )
        .await;
    let found = classes(&answer);
    let class_of = |places: &[(String, u32, u32)]| {
        found
            .iter()
            .find(|(_, copies)| copies.iter().any(|copy| copy.0 == places[0].0))
            .cloned()
            .unwrap_or_else(|| panic!("no class holds {}: {found:#?}", places[0].0))
    };
    // Exact copy, renamed copy, one line inserted: each its own class, kind and ranges.
    assert_eq!(
        class_of(&project.invoice),
        ("exact".to_string(), sorted(project.invoice.clone()))
    );
    assert_eq!(
        class_of(&project.parse),
        ("renamed".to_string(), sorted(project.parse.clone()))
    );
    let (kind, merge) = class_of(&project.merge);
    assert_eq!(kind, "near");
    assert_eq!(merge, sorted(project.merge.clone()));
    // Five copies: one class of five.
    let (kind, normalize) = class_of(&project.normalize);
    assert_eq!(kind, "exact");
    assert_eq!(normalize, sorted(project.normalize.clone()));
    // The look-alike is in no class.
    assert!(
        found
            .iter()
            .all(|(_, copies)| copies.iter().all(|copy| copy.0 != "billing/estimate.py")),
        "{found:#?}"
    );
    assert_eq!(found.len(), 4, "{found:#?}");
    assert_eq!(answer["total_classes"], 4);
    // Largest first: the five copies of 12 lines lead.
    assert_eq!(found[0].1.len(), 5);
    let first = &answer["clone_classes"][0];
    assert_eq!(first["copies"], 5);
    assert!(
        first["snippet"]
            .as_str()
            .unwrap_or("")
            .starts_with("def normalize_record(record):")
    );
    assert!(
        first["occurrences"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("importers/source_0.py:3-")
    );
    assert!(first.get("unlisted_copies").is_none(), "{first}");
    // `max_copies` lists fewer copies and counts the rest; the class is the same.
    let two = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "max_copies": 2}),
        )
        .await;
    let listed = &two["clone_classes"][0];
    assert_eq!(listed["copies"], 5);
    assert_eq!(listed["unlisted_copies"], 3);
    assert_eq!(listed["locations"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        listed["occurrences"],
        json!(first["occurrences"].as_array().map(|all| all[..2].to_vec()))
    );

    let strict = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "min_similarity": 1}),
        )
        .await;
    // min_similarity 1 keeps exact and renamed copies only: the near copy is no class as a
    // whole; only an exact stretch of it long enough on its own (the lines before the
    // inserted one) may be.
    let strict = classes(&strict);
    assert!(strict.iter().all(|(kind, _)| kind != "near"), "{strict:?}");
    for places in [&project.invoice, &project.parse, &project.normalize] {
        assert!(
            strict
                .iter()
                .any(|(_, copies)| *copies == sorted(places.clone())),
            "{strict:?}"
        );
    }
    let inside = |copy: &(String, u32, u32)| {
        project
            .merge
            .iter()
            .any(|m| m.0 == copy.0 && m.1 <= copy.1 && copy.2 <= m.2)
    };
    for (kind, copies) in &strict {
        let known = [&project.invoice, &project.parse, &project.normalize]
            .iter()
            .any(|places| *copies == sorted((*places).clone()));
        assert!(
            known || (kind == "exact" && copies.iter().all(inside) && copies.len() == 2),
            "{strict:?}"
        );
    }
    assert!(strict.len() <= 4, "{strict:?}");
    // A longer minimum than any copy: nothing, and the answer says so.
    let long = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "min_lines": 40}),
        )
        .await;
    assert_eq!(long["total_classes"], 0);
    assert!(long["notes"].to_string().contains("no clone of 40 lines"));
    // No embedding model here: no `similar` kind, and the answer says why.
    assert!(
        long["notes"].to_string().contains("no `similar` clones"),
        "{long:#}"
    );
    // `path`: only the classes touching it.
    let touching = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "path": "users"}),
        )
        .await;
    let found = classes(&touching);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].1.iter().all(|copy| copy.0.starts_with("users/")));
    // file_types / exclude_patterns: excluded files take no part.
    let excluded = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "exclude_patterns": ["legacy/**"]}),
        )
        .await;
    assert!(
        classes(&excluded)
            .iter()
            .all(|(_, copies)| copies.iter().all(|c| !c.0.starts_with("legacy/")))
    );
    assert_eq!(excluded["total_classes"], 3);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_through_a_report_gives_the_classes_of_one_answer() {
    let env = TestEnv::new();
    let (client, project) = setup(&env).await;
    let root = project.root.display().to_string();
    // From a cold detection, one class per page: each page's answer starts measuring the
    // next page in the background, and the next request takes what it measured.
    let mut paged = Vec::new();
    let mut cursors = Vec::new();
    let mut totals = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let mut arguments = json!({"codebase_path": root, "max_results": 1});
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let page = client.ok("find_duplicate_code", arguments).await;
        paged.extend(classes(&page));
        totals.push(page["total_classes"].as_u64());
        cursor = page["cursor"].as_str().map(str::to_string);
        match &cursor {
            Some(next) => cursors.push(next.clone()),
            None => break,
        }
    }
    assert!(cursor.is_none(), "still paging after 20 pages: {paged:#?}");
    let whole_answer = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "max_results": 0}),
        )
        .await;
    let whole = classes(&whole_answer);
    assert!(whole.len() >= 4, "{whole:#?}");
    assert_eq!(paged, whole);
    // Every page knows the total once the classes after it surely count or were measured;
    // the last one at least knows them all.
    assert_eq!(
        totals.last().copied().flatten(),
        Some(whole.len() as u64),
        "{totals:?}"
    );
    assert_eq!(whole_answer["total_classes"], whole.len());
    // Pages asked again, last first (every class measured now, the walks resume where the
    // judged classes end): the same class on each.
    for (at, cursor) in cursors.iter().enumerate().rev() {
        let page = client
            .ok(
                "find_duplicate_code",
                json!({"codebase_path": root, "max_results": 1, "cursor": cursor}),
            )
            .await;
        assert_eq!(classes(&page), whole[at + 1..at + 2], "page {}", at + 2);
        assert_eq!(page["total_classes"], whole.len(), "page {}", at + 2);
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_that_breaks_a_copy_removes_its_class() {
    let env = TestEnv::new();
    let (client, project) = setup(&env).await;
    let root = project.root.display().to_string();
    let before = classes(
        &client
            .ok("find_duplicate_code", json!({"codebase_path": root}))
            .await,
    );
    assert!(
        before
            .iter()
            .any(|(_, copies)| copies.iter().any(|c| c.0 == "legacy/old_billing.py"))
    );
    // Rewrite the copy: the class of the invoice function is gone at the next question.
    write(
        &project.root,
        "legacy/old_billing.py",
        "\"\"\"Old billing code.\"\"\"\n\ndef total(items):\n    return sum(items)\n",
    );
    let after = classes(
        &client
            .ok("find_duplicate_code", json!({"codebase_path": root}))
            .await,
    );
    assert!(
        after.iter().all(|(_, copies)| copies
            .iter()
            .all(|c| c.0 != "legacy/old_billing.py" && c.0 != "billing/invoice.py")),
        "{after:#?}"
    );
    assert_eq!(after.len(), before.len() - 1);
    // A new copy appears as fast.
    write(
        &project.root,
        "billing/again.py",
        &format!("X = 1\n\n{INVOICE}"),
    );
    let again = classes(
        &client
            .ok(
                "find_duplicate_code",
                json!({"codebase_path": root, "path": "billing/again.py"}),
            )
            .await,
    );
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(
        again[0].1,
        vec![
            ("billing/again.py".to_string(), 3, 2 + lines(INVOICE)),
            ("billing/invoice.py".to_string(), 4, 3 + lines(INVOICE)),
        ]
    );
    client.close().await;
}

/// The clone reports the daemon keeps warm for `root`: (question, warm, generation answered).
fn warm_reports(env: &TestEnv, root: &str) -> Vec<(String, bool, u64)> {
    let status = env.status();
    status["roots"]
        .as_array()
        .expect("roots")
        .iter()
        .filter(|entry| entry["path"].as_str() == Some(root))
        .flat_map(|entry| {
            entry["clone_reports"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|report| {
            (
                report["question"].as_str().unwrap_or_default().to_string(),
                report["warm"].as_bool().unwrap_or(false),
                report["answered_generation"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Waits until both questions asked of `root` are answered in the background for its current
/// index; returns the generations they were answered at.
fn wait_until_warm(env: &TestEnv, root: &str, after: u64) -> Vec<u64> {
    wait_for(Duration::from_secs(60), "both clone reports warm", || {
        let reports = warm_reports(env, root);
        (reports.len() == 2 && reports.iter().all(|(_, warm, at)| *warm && *at >= after))
            .then(|| reports.iter().map(|(_, _, at)| *at).collect())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_reports_asked_are_kept_warm_across_restarts_and_edits() {
    let env = TestEnv::new();
    // Two detections held per root (one by default), so both questions below stay warm.
    std::fs::write(
        env.dir.path().join("config.toml"),
        "[health]\nkept_detections = 2\n",
    )
    .expect("config");
    let (client, project) = setup(&env).await;
    let root = project.root.display().to_string();
    let default_question = json!({"codebase_path": root, "max_results": 0});
    let python_only = json!({"codebase_path": root, "max_results": 0, "file_types": ["py"],
                             "min_lines": 6});
    let before = classes(
        &client
            .ok("find_duplicate_code", default_question.clone())
            .await,
    );
    let before_python = classes(&client.ok("find_duplicate_code", python_only.clone()).await);
    assert!(!before.is_empty() && !before_python.is_empty());
    // Both questions are remembered, most recent first, and answered in the background.
    let questions: Vec<String> = warm_reports(&env, &root)
        .into_iter()
        .map(|(question, _, _)| question)
        .collect();
    assert_eq!(
        questions,
        vec![
            "min_lines=6 min_similarity=0.8 include_generated=false file_types=[\"py\"]"
                .to_string(),
            "min_lines=10 min_similarity=0.8 include_generated=false".to_string(),
        ]
    );
    wait_until_warm(&env, &root, 0);
    client.close().await;
    env.stop();
    let remembered = std::fs::read_to_string(env.data_dir.join("clone-questions.json"))
        .expect("the questions are written beside the store");
    assert!(remembered.contains("\"min_lines\": 6"), "{remembered}");

    // After a restart nobody asks, yet both are answered again for the index as it is.
    let _daemon = env.start_daemon();
    let answered = wait_until_warm(&env, &root, 0);
    let client = env.mcp().await.expect("connect");
    assert_eq!(
        classes(
            &client
                .ok("find_duplicate_code", default_question.clone())
                .await
        ),
        before
    );
    assert_eq!(
        classes(&client.ok("find_duplicate_code", python_only.clone()).await),
        before_python
    );

    // An edit that breaks a copy: the reports are brought up to date in the background, and
    // the next answer (from memory) no longer has the class.
    write(
        &project.root,
        "legacy/old_billing.py",
        "\"\"\"Old billing code.\"\"\"\n\ndef total(items):\n    return sum(items)\n",
    );
    let after_edit = answered.iter().max().copied().unwrap_or(0) + 1;
    wait_until_warm(&env, &root, after_edit);
    let after = classes(&client.ok("find_duplicate_code", default_question).await);
    assert_eq!(after.len(), before.len() - 1, "{after:#?}");
    assert!(
        after
            .iter()
            .all(|(_, copies)| copies.iter().all(|c| c.0 != "legacy/old_billing.py"))
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn improvements_and_markers_from_the_index() {
    let env = TestEnv::new()
        .with_env("CODESAGE_HEALTH__MAX_COMPLEXITY", "3")
        .with_env("CODESAGE_HEALTH__MAX_FILE_LINES", "15");
    let (client, project) = setup(&env).await;
    let root = project.root.display().to_string();
    let report = client
        .ok(
            "analyze_codebase_improvements",
            json!({"codebase_path": root, "max_results": 0}),
        )
        .await;
    let findings = report["findings"].as_array().expect("findings");
    let find = |category: &str, location: &str| {
        findings
            .iter()
            .find(|f| {
                f["category"] == category
                    && f["location"].as_str().unwrap_or("").starts_with(location)
            })
            .unwrap_or_else(|| panic!("no {category} finding at {location}: {findings:#?}"))
            .clone()
    };
    // compute_invoice_total: for, if, if, if → complexity 5 over the threshold of 3.
    let complex = find("complexity", "billing/invoice.py:4-18");
    assert_eq!(complex["value"], 5.0);
    assert_eq!(complex["threshold"], 3.0);
    assert_eq!(complex["subject"], "compute_invoice_total");
    assert!(
        complex["why"]
            .as_str()
            .unwrap_or("")
            .contains("complexity 5")
    );
    find("duplication", "importers/source_0.py");
    find("undocumented", "billing/invoice.py");
    find("file_length", "users/sync.py");
    // Ranked by impact, totals per category.
    let impacts: Vec<f64> = findings
        .iter()
        .map(|f| f["impact"].as_f64().unwrap_or(0.0))
        .collect();
    assert!(
        impacts.windows(2).all(|pair| pair[0] >= pair[1]),
        "{impacts:?}"
    );
    assert_eq!(
        report["total_findings"].as_u64(),
        Some(findings.len() as u64)
    );
    assert_eq!(report["thresholds"]["max_complexity"], 3.0);

    // TODO/FIXME in comments, with their symbol; the one in a string is not listed.
    let markers = client
        .ok("list_todo_fixme", json!({"codebase_path": root}))
        .await;
    let listed: Vec<(String, u64, String, String)> = markers["markers"]
        .as_array()
        .expect("markers")
        .iter()
        .map(|m| {
            (
                m["file_path"].as_str().unwrap_or_default().to_string(),
                m["line"].as_u64().unwrap_or(0),
                m["marker"].as_str().unwrap_or_default().to_string(),
                m["symbol"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "app/tasks.py".into(),
                2,
                "TODO".into(),
                "app/tasks.py#schedule".into()
            ),
            (
                "app/tasks.py".into(),
                4,
                "FIXME".into(),
                "app/tasks.py#schedule".into()
            ),
        ]
    );
    assert_eq!(markers["by_marker"]["TODO"], 1);
    // One file only.
    let one = client
        .ok(
            "list_todo_fixme",
            json!({"codebase_path": root, "file_path": "billing/invoice.py"}),
        )
        .await;
    assert_eq!(one["total"], 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_arguments_are_refused_or_clamped_and_the_daemon_stays_up() {
    let env = TestEnv::new();
    let (client, project) = setup(&env).await;
    let root = project.root.display().to_string();
    for (arguments, expected) in [
        (
            json!({"codebase_path": root, "min_lines": 0}),
            "min_lines must be at least 1",
        ),
        (
            json!({"codebase_path": root, "min_similarity": 1.5}),
            "min_similarity must be between 0 and 1",
        ),
        (
            json!({"codebase_path": root, "min_similarity": -1}),
            "min_similarity must be between 0 and 1",
        ),
        (
            json!({"codebase_path": "/nowhere/at/all"}),
            "/nowhere/at/all",
        ),
        (json!({"codebase_path": root, "path": "/etc"}), "/etc"),
        (
            json!({"codebase_path": root, "max_copies": -1}),
            "max_copies must be 0 (every copy) or more",
        ),
    ] {
        let message = client.err("find_duplicate_code", arguments.clone()).await;
        assert!(message.contains(expected), "{arguments}: {message}");
    }
    let clamped = client
        .ok(
            "find_duplicate_code",
            json!({"codebase_path": root, "min_lines": 100000}),
        )
        .await;
    assert_eq!(clamped["min_lines"], 10000);
    assert!(clamped["notes"].to_string().contains("over the maximum"));
    // The binary file is not compared and nothing broke.
    let answer = client
        .ok("find_duplicate_code", json!({"codebase_path": root}))
        .await;
    assert!(
        answer["clone_classes"]
            .to_string()
            .contains("normalize_record")
    );
    assert!(!answer.to_string().contains("blob.py"));
    let message = client
        .err(
            "analyze_codebase_improvements",
            json!({"codebase_path": "/nowhere"}),
        )
        .await;
    assert!(message.contains("/nowhere"), "{message}");
    client.close().await;
}

#[test]
fn the_dups_command_prints_classes_for_people() {
    let env = TestEnv::new();
    let root = env.workspace("shop");
    project(&root);
    age_tree(&root);
    let indexed = env.codesage(&["index", root.to_str().expect("utf-8")]);
    assert!(
        indexed.status.success(),
        "{}",
        String::from_utf8_lossy(&indexed.stderr)
    );
    let output = wait_for(Duration::from_secs(15), "dups", || {
        let output = env.codesage(&[
            "dups",
            "--root",
            root.to_str().expect("utf-8"),
            "--min-lines",
            "12",
        ]);
        output.status.success().then_some(output)
    });
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("exact  12 lines × 5 copies"), "{text}");
    assert!(text.contains("  importers/source_3.py:3-14"), "{text}");
    // Nothing that long: exit status 1, like grep.
    let none = env.codesage(&[
        "dups",
        "--root",
        root.to_str().expect("utf-8"),
        "--min-lines",
        "500",
    ]);
    assert_eq!(none.status.code(), Some(1));
}
