//! The structure tools (tree-sitter symbols) through the real shim and daemon: outlines,
//! undocumented functions, dependencies, callees, definitions, references and the call graph
//! on a small real project, their bad inputs (unknown language, binary file, syntax errors,
//! paths outside the roots), symbols following file edits, and `codesage symbols` / `def`.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codesage_e2e::{McpClient, TestEnv, age_tree, write};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(15);

const STORE_PY: &str = r#""""Storage for the app."""
import os
import json
import requests
from app.util import normalize


class Store:
    """A key-value store."""

    def get(self, key):
        """Get one value."""
        if key:
            return normalize(key)
        return os.getenv(key)

    def put(self, key, value):
        self.get(key)
        return json.dumps(value)


def helper():
    return Store().get("x")
"#;

const UTIL_PY: &str = "def normalize(value):\n    \"\"\"Strip it.\"\"\"\n    return value.strip()\n\n\ndef unused_helper():\n    pass\n";

fn project(root: &Path) {
    write(
        root,
        "pyproject.toml",
        "[project]\nname = \"app\"\ndependencies = [\"requests>=2\"]\n",
    );
    write(root, "app/__init__.py", "");
    write(root, "app/store.py", STORE_PY);
    write(root, "app/util.py", UTIL_PY);
    write(
        root,
        "app/broken.py",
        "def before():\n    return 1\n\ndef broken(:\n    pass\n\nclass After:\n    def method(self):\n        return 2\n",
    );
    write(root, "notes.txt", "normalize these notes\n");
    std::fs::write(root.join("blob.py"), [0u8, 1, 2, 3, 0, 159]).expect("binary file");
}

async fn setup(env: &TestEnv) -> (McpClient, PathBuf) {
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
    (client, root)
}

fn names(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| node["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn strings(values: &Value, key: &str) -> Vec<String> {
    values
        .as_array()
        .into_iter()
        .flatten()
        .map(|value| value[key].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn structure_tools_are_listed_with_the_original_parameters() {
    let env = TestEnv::new();
    let client = env.mcp().await.expect("connect");
    let tools = client.service.list_all_tools().await.expect("tools/list");
    let expect = [
        (
            "get_file_structure",
            &["codebase_path", "file_path"][..],
            &["file_path"][..],
        ),
        (
            "list_undocumented_functions",
            &["file_path", "codebase_path"],
            &[],
        ),
        ("get_dependencies_overview", &["codebase_path"], &[]),
        (
            "analyze_function_dependencies",
            &["file_path", "function_name"],
            &["file_path"],
        ),
        ("find_symbol", &["name", "kind", "codebase_path"], &["name"]),
        ("find_references", &["symbol", "codebase_path"], &["symbol"]),
    ];
    for (name, parameters, required) in expect {
        let tool = tools
            .iter()
            .find(|tool| tool.name == name)
            .unwrap_or_else(|| panic!("{name} is not listed"));
        for parameter in parameters {
            assert!(
                tool.input_schema["properties"].get(*parameter).is_some(),
                "{name} lacks {parameter}"
            );
        }
        let listed: Vec<&str> = tool
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(listed, required, "{name}");
        assert_eq!(
            tool.annotations.as_ref().and_then(|a| a.read_only_hint),
            Some(true)
        );
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_file_structure_gives_the_nested_outline_and_refuses_what_it_cannot_parse() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    let outline = client
        .ok(
            "get_file_structure",
            json!({"codebase_path": root.display().to_string(), "file_path": "app/store.py"}),
        )
        .await;
    assert_eq!(outline["language"], "Python");
    assert_eq!(outline["file_path"], "app/store.py");
    assert_eq!(names(&outline["symbols"]), ["Store", "helper"]);
    let store = &outline["symbols"][0];
    assert_eq!(
        (
            store["kind"].as_str(),
            store["start_line"].as_u64(),
            store["end_line"].as_u64()
        ),
        (Some("class"), Some(8), Some(19))
    );
    assert_eq!(store["documented"], true);
    assert_eq!(names(&store["children"]), ["get", "put"]);
    let get = &store["children"][0];
    assert_eq!(get["kind"], "method");
    assert_eq!(get["signature"], "def get(self, key):");
    assert_eq!(
        (get["start_line"].as_u64(), get["end_line"].as_u64()),
        (Some(11), Some(15))
    );
    assert_eq!(get["documented"], true);
    assert_eq!(store["children"][1]["documented"], false);
    assert_eq!(
        strings(&outline["imports"], "module"),
        ["os", "json", "requests", "app.util"]
    );
    assert_eq!(outline["has_syntax_errors"], false);

    // An absolute path needs no codebase_path.
    let absolute = client
        .ok(
            "get_file_structure",
            json!({"file_path": root.join("app/util.py").display().to_string()}),
        )
        .await;
    assert_eq!(names(&absolute["symbols"]), ["normalize", "unused_helper"]);

    // Syntax errors: what parsed is still there.
    let broken = client
        .ok(
            "get_file_structure",
            json!({"file_path": root.join("app/broken.py").display().to_string()}),
        )
        .await;
    assert_eq!(broken["has_syntax_errors"], true);
    let found = names(&broken["symbols"]);
    assert!(found.contains(&"before".to_string()), "{found:?}");
    assert!(found.contains(&"After".to_string()), "{found:?}");

    let file = |path: PathBuf| json!({"file_path": path.display().to_string()});
    let unknown = client
        .err("get_file_structure", file(root.join("notes.txt")))
        .await;
    assert!(unknown.contains("cannot parse"), "{unknown}");
    assert!(unknown.contains("Python"), "{unknown}");
    let binary = client
        .err("get_file_structure", file(root.join("blob.py")))
        .await;
    assert!(binary.contains("binary"), "{binary}");
    let missing = client
        .err("get_file_structure", file(root.join("app/nope.py")))
        .await;
    assert!(missing.contains("not found"), "{missing}");
    let directory = client
        .err("get_file_structure", file(root.join("app")))
        .await;
    assert!(directory.contains("directory"), "{directory}");
    let outside_dir = env.workspace("elsewhere");
    let outside = write(&outside_dir, "secret.py", "def secret():\n    pass\n");
    let refused = client.err("get_file_structure", file(outside)).await;
    assert!(
        refused.contains("outside the indexed codebases"),
        "{refused}"
    );
    assert!(!refused.contains("secret()"), "{refused}");
    let escape = client
        .err(
            "get_file_structure",
            json!({"codebase_path": root.display().to_string(),
                   "file_path": "../elsewhere/secret.py"}),
        )
        .await;
    assert!(escape.contains("outside the indexed codebases"), "{escape}");
    let empty = client
        .err("get_file_structure", json!({"file_path": " "}))
        .await;
    assert!(empty.contains("empty"), "{empty}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undocumented_dependencies_and_callees() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    let codebase = root.display().to_string();

    let in_file = client
        .ok(
            "list_undocumented_functions",
            json!({"file_path": root.join("app/store.py").display().to_string()}),
        )
        .await;
    assert_eq!(
        strings(&in_file["undocumented_functions"], "name"),
        ["put", "helper"]
    );
    assert_eq!(in_file["total_functions"], 3);
    let whole = client
        .ok(
            "list_undocumented_functions",
            json!({"codebase_path": codebase}),
        )
        .await;
    // store.py: get (documented), put, helper; util.py: normalize (documented),
    // unused_helper; broken.py: before, method (and whatever else parsed).
    let python = &whole["by_language"]["Python"];
    assert_eq!(python["documented"], 2, "{whole}");
    assert_eq!(
        python["functions"].as_u64().unwrap(),
        python["documented"].as_u64().unwrap() + python["undocumented"].as_u64().unwrap()
    );
    let listed = strings(&whole["undocumented_functions"], "name");
    for name in ["put", "helper", "unused_helper", "before"] {
        assert!(
            listed.contains(&name.to_string()),
            "{name} not in {listed:?}"
        );
    }
    let not_text = client
        .err(
            "list_undocumented_functions",
            json!({"file_path": root.join("notes.txt").display().to_string()}),
        )
        .await;
    assert!(not_text.contains("cannot parse"), "{not_text}");

    let deps = client
        .ok(
            "get_dependencies_overview",
            json!({"codebase_path": codebase}),
        )
        .await;
    assert_eq!(deps["manifests"], json!(["pyproject.toml"]));
    let python = &deps["by_language"]["Python"];
    assert_eq!(python["imports"], 4, "{deps}");
    assert_eq!(python["standard_library"], 2, "{deps}");
    assert_eq!(python["third_party"], 1, "{deps}");
    assert_eq!(python["internal"], 1, "{deps}");
    let packages = &deps["third_party_packages"];
    assert_eq!(strings(packages, "name"), ["requests"]);
    assert_eq!(packages[0]["declared"], true);

    let callees = client
        .ok(
            "analyze_function_dependencies",
            json!({"file_path": root.join("app/store.py").display().to_string(),
                   "function_name": "Store.get"}),
        )
        .await;
    let get = &callees["functions"][0];
    assert_eq!(callees["functions"].as_array().map(Vec::len), Some(1));
    assert_eq!(get["qualified_name"], "Store.get");
    assert_eq!(get["branches"], 1);
    assert_eq!(get["cyclomatic_complexity"], 2);
    assert_eq!(get["length"], 5);
    assert_eq!(
        strings(&get["calls"]["same_project"], "name"),
        ["normalize"]
    );
    assert_eq!(
        get["calls"]["same_project"][0]["defined_at"][0]["file_path"],
        "app/util.py"
    );
    assert_eq!(strings(&get["calls"]["external"], "name"), ["getenv"]);
    assert!(get["calls"]["same_file"].as_array().unwrap().is_empty());
    let all = client
        .ok(
            "analyze_function_dependencies",
            json!({"codebase_path": codebase, "file_path": "app/store.py"}),
        )
        .await;
    let put = all["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "put")
        .expect("put analysed");
    assert_eq!(strings(&put["calls"]["same_file"], "name"), ["get"]);
    assert_eq!(strings(&put["calls"]["external"], "name"), ["dumps"]);
    let unknown = client
        .err(
            "analyze_function_dependencies",
            json!({"codebase_path": codebase, "file_path": "app/store.py",
                   "function_name": "nope"}),
        )
        .await;
    assert!(unknown.contains("no function named"), "{unknown}");
    assert!(unknown.contains("Store.get"), "{unknown}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn find_symbol_references_and_the_call_graph() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    let codebase = root.display().to_string();

    let exact = client.ok("find_symbol", json!({"name": "Store"})).await;
    let first = &exact["symbols"][0];
    assert_eq!(
        (
            first["name"].as_str(),
            first["kind"].as_str(),
            first["match"].as_str()
        ),
        (Some("Store"), Some("class"), Some("exact"))
    );
    assert_eq!(first["file_path"], "app/store.py");
    assert_eq!(first["start_line"], 8);
    let qualified = client.ok("find_symbol", json!({"name": "Store.get"})).await;
    assert_eq!(
        strings(&qualified["symbols"], "qualified_name"),
        ["Store.get"]
    );
    let prefix = client.ok("find_symbol", json!({"name": "normal"})).await;
    assert_eq!(prefix["symbols"][0]["name"], "normalize");
    assert_eq!(prefix["symbols"][0]["match"], "prefix");
    let typo = client.ok("find_symbol", json!({"name": "nromalize"})).await;
    assert_eq!(typo["symbols"][0]["name"], "normalize");
    assert_eq!(typo["symbols"][0]["match"], "fuzzy");
    let classes = client
        .ok("find_symbol", json!({"name": "get", "kind": "class"}))
        .await;
    assert!(
        strings(&classes["symbols"], "kind")
            .iter()
            .all(|kind| kind == "class"),
        "{classes}"
    );
    let bad_kind = client
        .err("find_symbol", json!({"name": "get", "kind": "gizmo"}))
        .await;
    assert!(bad_kind.contains("unknown symbol kind"), "{bad_kind}");
    let none = client
        .ok(
            "find_symbol",
            json!({"name": "zzqqxx_nothing", "codebase_path": codebase}),
        )
        .await;
    assert_eq!(none["symbols"], json!([]));
    assert!(none["hint"].is_string());

    let references = client
        .ok(
            "find_references",
            json!({"symbol": "normalize", "codebase_path": codebase}),
        )
        .await;
    let found: Vec<(String, u64, String)> = references["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file_path"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("app/store.py".to_string(), 5, "import".to_string()),
            ("app/store.py".into(), 14, "call".into()),
            ("app/util.py".into(), 1, "definition".into()),
            ("notes.txt".into(), 1, "other".into()),
        ]
    );
    assert_eq!(references["references"][1]["enclosing"], "Store.get");
    assert_eq!(references["total"], 4);
    assert_eq!(references["by_kind"]["call"], 1);
    let empty = client.err("find_references", json!({"symbol": ""})).await;
    assert!(empty.contains("empty") || empty.contains("give"), "{empty}");

    let graph = client
        .ok(
            "search_codebase",
            json!({"codebase_path": codebase, "pattern": "^get$", "search_mode": "graph"}),
        )
        .await;
    assert_eq!(graph["search_mode"], "graph");
    let node = &graph["results"][0];
    assert_eq!(node["symbol"]["qualified_name"], "Store.get");
    let callers: Vec<String> = node["callers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| {
            edge["caller"]["qualified_name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(callers, ["Store.put", "helper"]);
    let callees = strings(&node["callees"], "name");
    assert_eq!(callees, ["normalize", "getenv"]);
    assert_eq!(
        node["callees"][0]["definitions"][0]["file_path"],
        "app/util.py"
    );
    assert!(
        node["callees"][1]["definitions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let deeper = client
        .ok(
            "search_codebase",
            json!({"codebase_path": codebase, "pattern": "^helper$", "search_mode": "graph",
                   "context_depth": 2}),
        )
        .await;
    let depths: Vec<u64> = deeper["results"][0]["callees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["depth"].as_u64().unwrap())
        .collect();
    assert!(depths.contains(&2), "{deeper}");
    let invalid = client
        .err(
            "search_codebase",
            json!({"codebase_path": codebase, "pattern": "(", "search_mode": "graph"}),
        )
        .await;
    assert!(invalid.contains("invalid regular expression"), "{invalid}");
    let too_deep = client
        .err(
            "search_codebase",
            json!({"codebase_path": codebase, "pattern": "get", "search_mode": "graph",
                   "context_depth": 9}),
        )
        .await;
    assert!(too_deep.contains("context_depth"), "{too_deep}");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn symbols_follow_file_edits() {
    let env = TestEnv::new();
    let (client, root) = setup(&env).await;
    let codebase = root.display().to_string();
    let find = |name: &'static str| {
        let client = &client;
        let codebase = codebase.clone();
        async move {
            let found = client
                .ok(
                    "find_symbol",
                    json!({"name": name, "codebase_path": codebase}),
                )
                .await;
            found["symbols"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|symbol| symbol["match"] == "exact")
                .map(|symbol| symbol["file_path"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        }
    };
    async fn eventually<F, Fut>(what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !check().await {
            assert!(
                started.elapsed() < DEADLINE,
                "{what} not seen within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    write(
        &root,
        "app/util.py",
        &format!("{UTIL_PY}\n\ndef freshly_added(value):\n    return value\n"),
    );
    eventually("a new function", || async {
        find("freshly_added").await == ["app/util.py"]
    })
    .await;
    let outline = client
        .ok(
            "get_file_structure",
            json!({"codebase_path": codebase, "file_path": "app/util.py"}),
        )
        .await;
    assert_eq!(
        names(&outline["symbols"]),
        ["normalize", "unused_helper", "freshly_added"]
    );

    std::fs::rename(root.join("app/util.py"), root.join("app/helpers.py")).expect("rename");
    eventually("a renamed file", || async {
        find("freshly_added").await == ["app/helpers.py"]
    })
    .await;
    std::fs::remove_file(root.join("app/helpers.py")).expect("remove");
    eventually("a removed file", || async {
        find("freshly_added").await.is_empty()
    })
    .await;
    client.close().await;
}

#[test]
fn codesage_symbols_and_def_print_for_people() {
    let env = TestEnv::new();
    let root = env.workspace("shop");
    project(&root);
    age_tree(&root);
    let indexed = env.codesage(&["index", root.to_str().unwrap()]);
    assert!(indexed.status.success(), "{indexed:?}");

    let outline = env.codesage(&["symbols", root.join("app/store.py").to_str().unwrap()]);
    assert!(outline.status.success(), "{outline:?}");
    let text = String::from_utf8_lossy(&outline.stdout);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows,
        [
            "app/store.py (Python)",
            "  import os  (line 2)",
            "  import json  (line 3)",
            "  import requests  (line 4)",
            "  import app.util  (line 5)",
            "  class Store  8-19",
            "    method get  11-15",
            "    method put  17-19  undocumented",
            "  function helper  22-23  undocumented",
        ],
        "{text}"
    );
    let def = env.codesage(&["def", "normalize", "--root", root.to_str().unwrap()]);
    assert!(def.status.success(), "{def:?}");
    let text = String::from_utf8_lossy(&def.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.ends_with("app/util.py:1: function normalize  def normalize(value):"),
        "{text}"
    );
    let nothing = env.codesage(&["def", "zzqqxx_nothing", "--root", root.to_str().unwrap()]);
    assert_eq!(nothing.status.code(), Some(1), "{nothing:?}");
    let unparsable = env.codesage(&["symbols", root.join("notes.txt").to_str().unwrap()]);
    assert_eq!(unparsable.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unparsable.stderr).contains("cannot parse"));
    let outside = write(
        &env.workspace("elsewhere"),
        "secret.py",
        "def secret():\n    pass\n",
    );
    let refused = env.codesage(&["symbols", outside.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("outside the indexed codebases"));
    let bad_kind = env.codesage(&[
        "def",
        "helper",
        "--kind",
        "gizmo",
        "--root",
        root.to_str().unwrap(),
    ]);
    assert_eq!(bad_kind.status.code(), Some(2), "{bad_kind:?}");
    assert!(String::from_utf8_lossy(&bad_kind.stderr).contains("unknown symbol kind"));
    let bad_name = env.codesage(&["def", "two words", "--root", root.to_str().unwrap()]);
    assert_eq!(bad_name.status.code(), Some(2), "{bad_name:?}");
    assert!(String::from_utf8_lossy(&bad_name.stderr).contains("not a symbol name"));
}
