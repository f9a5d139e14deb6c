//! The answer envelope of every tool, through the real shim: pages fetched with `cursor`
//! concatenate to the unbounded answer, no page exceeds `max_tokens`, `max_results` 0 / 1 /
//! huge / negative behave as documented, and a cursor from before an edit is refused with a
//! clear message.
#![cfg(unix)]

use std::path::Path;

use codesage_e2e::{McpClient, TestEnv, age_tree, write};
use serde_json::{Map, Value, json};

/// The server's token estimate of an answer's JSON text (its budget measure, checked against
/// real tokenizers by the answers benchmark).
fn tokens(answer: &Value) -> usize {
    codesaged::queries::page::estimate_tokens(serde_json::to_string(answer).unwrap().as_bytes())
}

/// A project with enough of everything for several pages of every tool.
fn project(root: &Path) {
    write(
        root,
        "pyproject.toml",
        "[project]\nname = \"shop\"\ndependencies = [\"requests\", \"numpy\"]\n",
    );
    for i in 0..12 {
        let mut text = format!(
            "import os\nimport json\nimport requests\nimport numpy\nfrom shop import mod_{next}\n\n\n",
            next = (i + 1) % 12
        );
        text.push_str(&format!(
            "class Service{i}:\n    \"\"\"Service number {i}.\"\"\"\n\n    def start(self):\n        \
             return helper({i})\n\n    def stop(self):\n        helper(-{i})\n        return None\n\n    \
             def status(self):\n        \"\"\"Report.\"\"\"\n        if self.stop():\n            \
             return 1\n        return 0\n\n\n"
        ));
        for f in 0..3 {
            text.push_str(&format!(
                "def task_{i}_{f}(value):\n    return helper(value) + json.dumps(value)\n\n\n"
            ));
        }
        text.push_str("def helper(value):\n    return os.path.join(str(value))\n");
        write(root, &format!("shop/mod_{i}.py"), &text);
    }
    for i in 0..4 {
        write(
            root,
            &format!("src/lib_{i}.rs"),
            &format!(
                "use std::collections::HashMap;\n\n/// Adds.\npub fn add_{i}(a: u32) -> u32 {{\n    helper(a)\n}}\n\npub fn helper(a: u32) -> u32 {{\n    // TODO: check for overflow {i}\n    a + {i} // FIXME: wraps\n}}\n"
            ),
        );
    }
    // One long file: many lines, and a class with many methods (an outline page may start
    // inside it).
    let mut big = String::from("import os\n\n\nclass Registry:\n    \"\"\"Holds things.\"\"\"\n\n");
    for m in 0..40 {
        big.push_str(&format!(
            "    def method_{m}(self, value):\n        if value > {m}:\n            return helper(value)\n        return os.sep\n\n"
        ));
    }
    big.push_str("\ndef helper(value):\n    return value\n");
    for line in 0..150 {
        big.push_str(&format!("# filler line {line} with some words in it\n"));
    }
    write(root, "shop/big.py", &big);
    write(
        root,
        "README.md",
        "# Shop\n\nA shop with services and a helper.\n",
    );
}

/// One tool and what its results are.
struct Case {
    tool: &'static str,
    arguments: Value,
    /// The results of one answer, as comparable values, in order.
    items: fn(&Value) -> Vec<Value>,
}

fn array(value: &Value) -> Vec<Value> {
    value.as_array().cloned().unwrap_or_default()
}

fn search_lines(answer: &Value) -> Vec<Value> {
    array(&answer["results"])
        .iter()
        .flat_map(|file| {
            array(&file["matches"])
                .into_iter()
                .map(|hit| json!([file["file_path"], hit["line_number"], hit["line_content"]]))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn graph_symbols(answer: &Value) -> Vec<Value> {
    array(&answer["results"])
        .iter()
        .map(|node| {
            json!([
                node["symbol"]["file_path"],
                node["symbol"]["qualified_name"]
            ])
        })
        .collect()
}

fn outline_ids(answer: &Value) -> Vec<Value> {
    fn walk(nodes: &Value, out: &mut Vec<Value>) {
        for node in array(nodes) {
            if node["continued"] != true {
                out.push(node["symbol_id"].clone());
            }
            walk(&node["children"], out);
        }
    }
    let mut out = Vec::new();
    walk(&answer["symbols"], &mut out);
    out
}

fn content_lines(answer: &Value) -> Vec<Value> {
    answer["content"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .map(|line| json!(line))
        .collect()
}

fn keys_of(object: &Value) -> Vec<Value> {
    object
        .as_object()
        .map(|map| map.keys().map(|key| json!(key)).collect())
        .unwrap_or_default()
}

fn cases(root: &Path) -> Vec<Case> {
    let root_text = root.display().to_string();
    let big = root.join("shop/big.py").display().to_string();
    vec![
        Case {
            tool: "search_codebase",
            arguments: json!({"codebase_path": root_text, "pattern": "def |fn ", "context_depth": 1}),
            items: search_lines,
        },
        Case {
            tool: "search_codebase",
            arguments: json!({"codebase_path": root_text, "pattern": "^status$", "search_mode": "graph"}),
            items: graph_symbols,
        },
        Case {
            tool: "semantic_search_codebase",
            arguments: json!({"codebase_path": root_text, "query": "report the status of a service", "top_k": 100}),
            items: |answer| {
                array(&answer["results"])
                    .iter()
                    .map(|hit| json!([hit["file_path"], hit["start_line"], hit["end_line"]]))
                    .collect()
            },
        },
        Case {
            tool: "read_code_file",
            arguments: json!({"file_path": big}),
            items: content_lines,
        },
        Case {
            tool: "count_lines_of_code",
            arguments: json!({"codebase_path": root_text}),
            items: |answer| {
                array(&answer["languages"])
                    .iter()
                    .map(|language| language["language"].clone())
                    .collect()
            },
        },
        Case {
            tool: "get_file_structure",
            arguments: json!({"file_path": big}),
            items: outline_ids,
        },
        Case {
            tool: "find_symbol",
            arguments: json!({"name": "task", "codebase_path": root_text}),
            items: |answer| {
                array(&answer["symbols"])
                    .iter()
                    .map(|symbol| symbol["symbol_id"].clone())
                    .collect()
            },
        },
        Case {
            tool: "find_references",
            arguments: json!({"symbol": "helper", "codebase_path": root_text}),
            items: |answer| {
                array(&answer["references"])
                    .iter()
                    .map(|found| json!([found["file_path"], found["line"], found["column"]]))
                    .collect()
            },
        },
        Case {
            tool: "list_undocumented_functions",
            arguments: json!({"codebase_path": root_text}),
            items: |answer| {
                array(&answer["undocumented_functions"])
                    .iter()
                    .map(|function| function["symbol_id"].clone())
                    .collect()
            },
        },
        Case {
            tool: "find_duplicate_code",
            arguments: json!({"codebase_path": root_text, "min_lines": 3}),
            items: |answer| {
                array(&answer["clone_classes"])
                    .iter()
                    .map(|class| class["occurrences"].clone())
                    .collect()
            },
        },
        Case {
            tool: "analyze_codebase_improvements",
            arguments: json!({"codebase_path": root_text}),
            items: |answer| {
                array(&answer["findings"])
                    .iter()
                    .map(|finding| json!([finding["category"], finding["location"]]))
                    .collect()
            },
        },
        Case {
            tool: "list_todo_fixme",
            arguments: json!({"codebase_path": root_text}),
            items: |answer| {
                array(&answer["markers"])
                    .iter()
                    .map(|marker| json!([marker["file_path"], marker["line"]]))
                    .collect()
            },
        },
        Case {
            tool: "analyze_function_dependencies",
            arguments: json!({"file_path": big}),
            items: |answer| {
                array(&answer["functions"])
                    .iter()
                    .map(|function| function["qualified_name"].clone())
                    .collect()
            },
        },
        Case {
            tool: "get_dependencies_overview",
            arguments: json!({"codebase_path": root_text}),
            items: |answer| {
                let mut items = keys_of(&answer["by_language"]);
                items.extend(
                    array(&answer["third_party_packages"])
                        .iter()
                        .map(|package| package["name"].clone()),
                );
                items
            },
        },
        Case {
            tool: "get_configuration",
            arguments: json!({}),
            // Sections, in the order the answer lists them (by name).
            items: |answer| {
                const SECTIONS: [&str; 13] = [
                    "profile", "index", "search", "server", "watch", "semantic", "health", "llm",
                    "log", "alerts", "metrics", "remote", "secrets",
                ];
                keys_of(answer)
                    .into_iter()
                    .filter(|key| SECTIONS.contains(&key.as_str().unwrap_or_default()))
                    .collect()
            },
        },
        Case {
            tool: "get_performance_metrics",
            arguments: json!({}),
            items: |answer| keys_of(&answer["requests"]),
        },
        Case {
            tool: "index_codebase",
            arguments: json!({"path": root_text}),
            items: |answer| vec![answer["root"].clone()],
        },
    ]
}

fn with(arguments: &Value, extra: Value) -> Value {
    let mut merged: Map<String, Value> = arguments.as_object().cloned().unwrap_or_default();
    if let Value::Object(extra) = extra {
        merged.extend(extra);
    }
    Value::Object(merged)
}

/// Every tool's outputSchema, compiled.
async fn output_validators(
    client: &McpClient,
) -> std::collections::HashMap<String, jsonschema::Validator> {
    let tools = client.service.list_all_tools().await.expect("tools/list");
    tools
        .into_iter()
        .map(|tool| {
            let schema = Value::Object(
                tool.output_schema
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| panic!("{} has no outputSchema", tool.name)),
            );
            let validator = jsonschema::validator_for(&schema)
                .unwrap_or_else(|err| panic!("{}: invalid outputSchema: {err}", tool.name));
            (tool.name.to_string(), validator)
        })
        .collect()
}

/// Follows cursors from a first call with `paging` until the last page; returns every page.
async fn pages(client: &McpClient, case: &Case, paging: Value) -> Vec<Value> {
    let first = with(&case.arguments, paging.clone());
    let mut answer = client.ok(case.tool, first).await;
    let mut all = vec![answer.clone()];
    while let Some(cursor) = answer["cursor"].as_str().map(String::from) {
        assert!(
            all.len() < 500,
            "{}: the cursor never ends: {answer}",
            case.tool
        );
        let next = with(&case.arguments, with(&paging, json!({ "cursor": cursor })));
        answer = client.ok(case.tool, next).await;
        all.push(answer.clone());
    }
    all
}

fn envelope_is_complete(tool: &str, answer: &Value) {
    for key in [
        "notes",
        "truncated",
        "cursor",
        "index_generation",
        "partial",
    ] {
        assert!(
            answer.get(key).is_some(),
            "{tool}: envelope field {key} missing: {answer}"
        );
    }
    assert_eq!(
        answer["truncated"].is_null(),
        answer["cursor"].is_null(),
        "{tool}: a cursor exactly when something was left out: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tool_pages_within_its_budget_and_pages_concatenate_to_the_whole() {
    let env = TestEnv::new();
    let root = env.workspace("shop");
    project(&root);
    age_tree(&root);
    let client = env.mcp().await.expect("connect");
    client
        .ok(
            "index_codebase",
            json!({"path": root.display().to_string()}),
        )
        .await;
    // The metrics must already list the tool itself, so its request kinds do not change
    // between pages.
    client.ok("get_performance_metrics", json!({})).await;
    let validators = output_validators(&client).await;
    let validate = |tool: &str, answer: &Value| {
        let validator = &validators[tool];
        let errors: Vec<String> = validator
            .iter_errors(answer)
            .map(|err| err.to_string())
            .collect();
        assert!(errors.is_empty(), "{tool}: {errors:?} in {answer}");
    };

    for case in cases(&root) {
        let tool = case.tool;
        let unbounded = client
            .ok(
                tool,
                with(&case.arguments, json!({"max_results": 0, "max_tokens": 0})),
            )
            .await;
        envelope_is_complete(tool, &unbounded);
        validate(tool, &unbounded);
        assert!(
            unbounded["truncated"].is_null(),
            "{tool}: the fixture fits one unbounded answer: {unbounded}"
        );
        let whole = (case.items)(&unbounded);
        assert!(!whole.is_empty(), "{tool}: no results: {unbounded}");

        // Pages by count.
        let by_count = pages(&client, &case, json!({"max_results": 2})).await;
        let mut joined = Vec::new();
        for page in &by_count {
            envelope_is_complete(tool, page);
            validate(tool, page);
            let items = (case.items)(page);
            assert!(
                items.len() <= 2,
                "{tool}: {} results on a page of 2",
                items.len()
            );
            if !page["truncated"].is_null() {
                assert!(
                    page["truncated"]["shown"].as_u64().unwrap() <= 2,
                    "{tool}: {page}"
                );
            }
            joined.extend(items);
        }
        assert_eq!(
            joined, whole,
            "{tool}: pages of 2 concatenate to the whole answer"
        );
        if whole.len() > 2 {
            assert!(by_count.len() > 1, "{tool}: more than one page");
        }

        // Pages by token budget. The fixture's largest clone class (12 copies, each listed
        // as text and as a location) fills nearly all of a 1,500-token page on its own, and
        // a page also holds the envelope's notes, which vary with timing (a freshness note
        // when a loaded machine cannot confirm the watcher caught up; one CI run was refused
        // for 3 tokens): its budget leaves room for them.
        let max_tokens = if tool == "find_duplicate_code" {
            2000
        } else {
            1500
        };
        let by_budget = pages(&client, &case, json!({"max_tokens": max_tokens})).await;
        let mut joined = Vec::new();
        for page in &by_budget {
            envelope_is_complete(tool, page);
            validate(tool, page);
            let used = tokens(page);
            assert!(
                used <= max_tokens,
                "{tool}: a page of {used} tokens exceeds max_tokens {max_tokens}"
            );
            joined.extend((case.items)(page));
        }
        assert_eq!(
            joined, whole,
            "{tool}: budgeted pages concatenate to the whole answer"
        );
        if [
            "search_codebase",
            "read_code_file",
            "get_file_structure",
            "find_references",
        ]
        .contains(&tool)
        {
            assert!(
                by_budget.len() > 1,
                "{tool}: the budget, not the count, cut these pages"
            );
        }

        // max_results: 0 is the maximum, 1 is one, huge is clamped, negative is an error.
        let zero = client
            .ok(tool, with(&case.arguments, json!({"max_results": 0})))
            .await;
        assert_eq!((case.items)(&zero), whole, "{tool}: 0 asks for the maximum");
        let one = client
            .ok(tool, with(&case.arguments, json!({"max_results": 1})))
            .await;
        assert_eq!((case.items)(&one).len(), 1, "{tool}: {one}");
        assert_eq!(
            one["cursor"].is_string(),
            whole.len() > 1,
            "{tool}: a cursor when more than one result exists: {one}"
        );
        let huge = client
            .ok(
                tool,
                with(&case.arguments, json!({"max_results": 1_000_000_000u64})),
            )
            .await;
        assert_eq!(
            (case.items)(&huge),
            whole,
            "{tool}: huge is clamped, not refused"
        );
        assert!(
            huge["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|note| note.as_str().unwrap().contains("maximum")),
            "{tool}: the clamp is stated: {huge}"
        );
        let negative = client
            .err(tool, with(&case.arguments, json!({"max_results": -1})))
            .await;
        assert!(negative.contains("max_results"), "{tool}: {negative}");
        let garbage = client
            .err(
                tool,
                with(&case.arguments, json!({"cursor": "not-a-cursor"})),
            )
            .await;
        assert!(garbage.contains("cursor"), "{tool}: {garbage}");
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cursor_from_before_an_edit_is_refused_and_one_for_other_arguments_too() {
    let env = TestEnv::new();
    let root = env.workspace("shop");
    project(&root);
    age_tree(&root);
    let root_text = root.display().to_string();
    let client = env.mcp().await.expect("connect");
    client
        .ok("index_codebase", json!({"path": root_text}))
        .await;

    let arguments = json!({"codebase_path": root_text, "pattern": "helper", "max_results": 3});
    let first = client.ok("search_codebase", arguments.clone()).await;
    let cursor = first["cursor"].as_str().expect("a cursor").to_string();
    // The cursor works while nothing changes...
    let second = client
        .ok(
            "search_codebase",
            with(&arguments, json!({"cursor": cursor})),
        )
        .await;
    assert_eq!(second["index_generation"], first["index_generation"]);
    // ...is refused for other arguments or another tool...
    let other = client
        .err(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "other", "cursor": cursor}),
        )
        .await;
    assert!(other.contains("different arguments"), "{other}");
    let elsewhere = client
        .err(
            "find_references",
            json!({"symbol": "helper", "codebase_path": root_text, "cursor": cursor}),
        )
        .await;
    assert!(
        elsewhere.contains("belongs to search_codebase"),
        "{elsewhere}"
    );
    // ...and once the index has moved on.
    write(&root, "shop/new.py", "def helper():\n    return 1\n");
    let stale = client
        .err(
            "search_codebase",
            with(&arguments, json!({"cursor": cursor})),
        )
        .await;
    assert!(stale.contains("index changed"), "{stale}");
    assert!(stale.contains("without cursor"), "{stale}");
    let fresh = client.ok("search_codebase", arguments).await;
    assert_ne!(fresh["index_generation"], first["index_generation"]);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn symbol_ids_from_outlines_and_searches_read_and_find_exactly_that_symbol() {
    let env = TestEnv::new();
    let root = env.workspace("shop");
    project(&root);
    age_tree(&root);
    let root_text = root.display().to_string();
    let client = env.mcp().await.expect("connect");
    client
        .ok("index_codebase", json!({"path": root_text}))
        .await;

    // An outline names each symbol by id; the id reads exactly its lines.
    let outline = client
        .ok(
            "get_file_structure",
            json!({"file_path": root.join("shop/mod_3.py").display().to_string()}),
        )
        .await;
    let class = &outline["symbols"][0];
    assert_eq!(class["symbol_id"], "shop/mod_3.py#Service3", "{outline}");
    let stop = class["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|child| child["name"] == "stop")
        .expect("Service3.stop");
    assert_eq!(stop["symbol_id"], "shop/mod_3.py#Service3.stop");
    let read = client
        .ok(
            "read_code_file",
            json!({"symbol": "shop/mod_3.py#Service3.stop"}),
        )
        .await;
    assert_eq!(read["start_line"], stop["start_line"], "{read}");
    assert_eq!(read["end_line"], stop["end_line"], "{read}");
    assert!(
        read["content"]
            .as_str()
            .unwrap()
            .contains("def stop(self):"),
        "{read}"
    );
    assert_eq!(read["symbol"]["qualified_name"], "Service3.stop");
    // A plain name in a given file works too.
    let by_name = client
        .ok(
            "read_code_file",
            json!({"file_path": root.join("shop/mod_3.py").display().to_string(), "symbol": "Service3.stop"}),
        )
        .await;
    assert_eq!(by_name["content"], read["content"]);

    // A regex match names the symbol it is in; find_references takes the id.
    let found = client
        .ok(
            "search_codebase",
            json!({"codebase_path": root_text, "pattern": "helper\\(-3\\)"}),
        )
        .await;
    let hit = &found["results"][0]["matches"][0];
    assert_eq!(hit["symbol"], "shop/mod_3.py#Service3.stop", "{found}");
    let references = client
        .ok(
            "find_references",
            json!({"symbol": "shop/mod_3.py#helper", "codebase_path": root_text}),
        )
        .await;
    assert_eq!(references["symbol"], "helper");
    assert_eq!(references["symbol_id"], "shop/mod_3.py#helper");
    assert!(references["total"].as_u64().unwrap() > 12, "{references}");

    // Ids that name nothing are refused with what to do.
    let missing = client
        .err(
            "read_code_file",
            json!({"symbol": "shop/mod_3.py#Service3.gone"}),
        )
        .await;
    assert!(missing.contains("no symbol"), "{missing}");
    assert!(missing.contains("get_file_structure"), "{missing}");
    let unknown = client
        .err(
            "find_references",
            json!({"symbol": "shop/mod_3.py#nothing_here", "codebase_path": root_text}),
        )
        .await;
    assert!(unknown.contains("no symbol has the id"), "{unknown}");
    let both = client
        .err(
            "read_code_file",
            json!({"symbol": "shop/mod_3.py#helper", "start_line": 3}),
        )
        .await;
    assert!(both.contains("either symbol or start_line"), "{both}");
    client.close().await;
}
