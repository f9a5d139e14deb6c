//! Structure-aware generators for the targets' byte formats (`targets.rs`): inputs that are
//! mostly valid, so that the code behind the first checks is reached, mixed with arbitrary
//! bytes and with real inputs damaged by byte-level edits ([`mutated`]), the way a mutating
//! fuzzer damages its corpus.
//!
//! * connections: valid hellos and sessions (handshake, every tool called with arguments
//!   generated from its published input schema, batches, cancellations, responses) mixed
//!   with malformed, oversized, deeply nested and non-UTF-8 lines;
//! * tool arguments: per property of each tool's schema, a value of the right type chosen
//!   by the property's name (paths inside and outside the roots, symbol names and ids,
//!   patterns, numbers at every edge) or a value of the wrong type, plus unknown keys;
//! * regexes: a grammar of regex syntax (Unicode classes, case folding, flags, anchors, word
//!   boundaries, counted and lazy repetitions, empty alternatives, nesting);
//! * source: the symbol fixtures truncated, damaged, spliced, given to the wrong language,
//!   deeply nested, and token soup;
//! * records: real encodings damaged at the byte level, and well-encoded records whose
//!   contents are wrong (parents out of range or in cycles, lines reversed or past the end).

use std::sync::OnceLock;

use codesage_shared::config::{Config, Profile};
use codesaged::symbols::FileSymbols;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use crate::fixture::{self, MAX_MESSAGE_BYTES, fixture};
use crate::targets::{self, Damage};

// ---------------------------------------------------------------------------------------
// Byte-level edits

/// One byte-level edit; positions are taken modulo the input's length.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Cut the input at a position.
    Truncate(u32),
    /// XOR one byte.
    Flip(u32, u8),
    /// Set one byte to an interesting value.
    Set(u32, u8),
    /// Insert bytes.
    Insert(u32, Vec<u8>),
    /// Remove a range.
    Delete(u32, u16),
    /// Repeat a range.
    Duplicate(u32, u16),
}

/// Bytes that parsers treat specially.
const INTERESTING: &[u8] = &[
    0x00, 0xff, 0x7f, 0x80, 0x01, b'\n', b'\r', b'"', b'\\', b'{', b'}', b'[', b']', b',', b':',
    b'.', b'#', b'/', b'*', b'(', b')', b' ', 0xc3, 0xe2, 0xf0,
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<u32>().prop_map(Edit::Truncate),
        (any::<u32>(), 1..=255u8).prop_map(|(at, mask)| Edit::Flip(at, mask)),
        (any::<u32>(), select(INTERESTING)).prop_map(|(at, byte)| Edit::Set(at, byte)),
        (any::<u32>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<u32>(), any::<u16>()).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<u32>(), 1..512u16).prop_map(|(at, len)| Edit::Duplicate(at, len)),
    ]
}

/// A few edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 1..5)
}

/// `input` with `edits` applied in order.
pub fn mutate(input: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = input.to_vec();
    for edit in edits {
        let at = |position: u32, len: usize| position as usize % (len + 1);
        match edit {
            Edit::Truncate(position) => {
                let cut = at(*position, out.len());
                out.truncate(cut);
            }
            Edit::Flip(position, mask) if !out.is_empty() => {
                let index = *position as usize % out.len();
                out[index] ^= mask;
            }
            Edit::Set(position, byte) if !out.is_empty() => {
                let index = *position as usize % out.len();
                out[index] = *byte;
            }
            Edit::Insert(position, bytes) => {
                let index = at(*position, out.len());
                out.splice(index..index, bytes.iter().copied());
            }
            Edit::Delete(position, len) => {
                let start = at(*position, out.len());
                let end = (start + usize::from(*len) % 64 + 1).min(out.len());
                out.drain(start..end);
            }
            Edit::Duplicate(position, len) => {
                let start = at(*position, out.len());
                let end = (start + usize::from(*len)).min(out.len());
                let copy = out[start..end].to_vec();
                out.splice(end..end, copy);
            }
            _ => {}
        }
    }
    out
}

/// One of `seeds`, damaged by a few edits.
pub fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (select(seeds), edits()).prop_map(|(seed, edits)| mutate(&seed, &edits))
}

/// Arbitrary bytes.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

// ---------------------------------------------------------------------------------------
// Strings by what they stand for

/// Paths: inside the workspace (absolute and relative), the other codebase, outside every
/// root, virtual filesystems and devices, climbing out, malformed.
pub fn path_text() -> impl Strategy<Value = String> {
    let fixture = fixture();
    let workspace = fixture.workspace.display().to_string();
    let mut known: Vec<String> = vec![
        workspace.clone(),
        format!("{workspace}/"),
        format!("{workspace}/src"),
        format!("{workspace}/src/../src"),
        fixture.other.display().to_string(),
        "src".into(),
        "src/ledger.rs".into(),
        "./src/inventory.py".into(),
        "src/../src/server.go".into(),
        ".".into(),
        "..".into(),
        "../..".into(),
        "/".into(),
        "/nonexistent/file.rs".into(),
        "/proc/self/status".into(),
        "/dev/null".into(),
        "/dev/zero".into(),
        "".into(),
        " ".into(),
        "src/ledger.rs\0".into(),
        "src/ledger.rs:10".into(),
        "file:///etc/passwd".into(),
        "~/x".into(),
        "src/ünïcödé.rs".into(),
        "a/".repeat(300),
        "C:\\src\\x.rs".into(),
    ];
    for (name, _) in &fixture.files {
        known.push(format!("{workspace}/{name}"));
        known.push(name.clone());
    }
    prop_oneof![
        9 => select(known),
        1 => "[a-z./]{0,24}",
    ]
}

/// Symbol names, qualified names and ids.
pub fn symbol_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec![
            "Ledger", "add", "Ledger.add", "Inventory", "Inventory::add_item", "Cart.total",
            "main", "Shape", "area", "*", "", " ", "a.b.c.d.e", "::", ".", "~", "#",
            "src/ledger.rs#Ledger.add", "src/ledger.rs#Ledger~2", "src/ledger.rs#", "#x",
            "src/x.rs#y~0", "src/x.rs#y~99999999999999999999", "add.*", "ÄÖÜ", "日本",
        ])
        .prop_map(String::from),
        1 => "[A-Za-z_.:#~]{0,16}",
    ]
}

/// Search patterns: the regex grammar, or simple and pathological ones.
pub fn pattern_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => regex_pattern(),
        1 => select(vec![
            "fn ", "\\w+", "(", "[", "a{1000000}", "(?i)TODO", "\\p{Greek}+", "", "^$", ".*",
            "(a*)*b", "\\bLedger\\b", "[[:alpha:]]{3}", "x{2,}?", "\\x{10FFFF}", "(?-u:\\xff)",
        ])
        .prop_map(String::from),
    ]
}

/// Integers at every edge, numbers, and numbers written as strings.
pub fn integer_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => (0i64..6).prop_map(Value::from),
        2 => select(vec![
            -1i64, -2, 7, 10, 50, 100, 999, 1000, 1 << 31, 1 << 53, i64::MAX, i64::MIN,
        ])
        .prop_map(Value::from),
        1 => Just(Value::from(u64::MAX)),
        1 => select(vec![0.5f64, 1.0, -0.0, 1e300, 2.5e-308]).prop_map(|f| json!(f)),
        1 => select(vec!["12", "0", "-3", "1e3", "", "x", " 5 "]).prop_map(|s| json!(s)),
    ]
}

/// A JSON value of any type (small).
pub fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        integer_value(),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A value for the property `name` whose schema says `kind`.
fn typed_value(name: &str, kind: &str) -> BoxedStrategy<Value> {
    match kind {
        "integer" | "number" => integer_value().boxed(),
        "boolean" => any::<bool>().prop_map(Value::from).boxed(),
        "array" => prop::collection::vec(
            prop_oneof![
                select(vec![
                    "rs", ".py", "Rust", "python", "*.md", "src/**", "", "[", "go"
                ])
                .prop_map(String::from),
                path_text(),
            ],
            0..4,
        )
        .prop_map(|items| json!(items))
        .boxed(),
        _ if name.contains("path") || name == "directory" => {
            path_text().prop_map(Value::from).boxed()
        }
        _ if name.contains("pattern") || name == "query" || name == "regex" => {
            pattern_text().prop_map(Value::from).boxed()
        }
        _ if name.contains("name") || name.contains("symbol") || name == "function" => {
            symbol_text().prop_map(Value::from).boxed()
        }
        _ if name.ends_with("kind") || name.ends_with("mode") || name == "language" => {
            select(vec![
                "regex",
                "graph",
                "semantic",
                "function",
                "method",
                "class",
                "struct",
                "enum",
                "trait",
                "interface",
                "constant",
                "module",
                "type",
                "macro",
                "impl",
                "python",
                "rust",
                "x",
                "",
            ])
            .prop_map(Value::from)
            .boxed()
        }
        _ if name == "cursor" => prop_oneof![
            select(vec![
                "",
                "x",
                "a.b.c.d.e",
                "search_codebase.0.0.-.0",
                "....",
                "a.f.f.1.99999999999999999999"
            ])
            .prop_map(String::from),
            "[a-z_]{1,12}\\.[0-9a-f]{1,16}\\.[0-9a-f]{1,16}\\.(-|[0-9]{1,20})\\.[0-9]{1,20}",
        ]
        .prop_map(Value::from)
        .boxed(),
        _ => prop_oneof![
            3 => select(vec![
                "rust", "python", "pytest", "google", "numpy", "all", "exact", "near", "auto",
                "offline", "function", "class", "TODO", "FIXME", "", "x".repeat(3000).leak(),
            ])
            .prop_map(|text: &str| Value::from(text)),
            1 => ".{0,16}".prop_map(Value::from),
            1 => path_text().prop_map(Value::from),
        ]
        .boxed(),
    }
}

/// One property of a tool's input schema.
#[derive(Debug, Clone)]
pub struct Property {
    /// Its name.
    pub name: String,
    /// The first non-null type it allows (`""` when the schema does not say).
    pub kind: String,
    /// Whether the schema requires it.
    pub required: bool,
}

/// Properties of every tool's input schema, plus queries that are not MCP tools with the
/// arguments they take.
pub fn tool_schemas() -> &'static [(String, Vec<Property>)] {
    static SCHEMAS: OnceLock<Vec<(String, Vec<Property>)>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let config = Config::default();
        let mut schemas: Vec<(String, Vec<Property>)> = codesaged::mcp::tools::all(&config)
            .into_iter()
            .map(|tool| {
                let schema = Value::Object((*tool.input_schema).clone());
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|names| names.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let properties = schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|properties| {
                        properties
                            .iter()
                            .map(|(name, property)| Property {
                                name: name.clone(),
                                kind: property_type(property),
                                required: required.contains(&name.as_str()),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (tool.name.to_string(), properties)
            })
            .collect();
        for name in codesaged::queries::NAMES {
            if !schemas.iter().any(|(tool, _)| tool == name) {
                let property = |name: &str, kind: &str| Property {
                    name: name.into(),
                    kind: kind.into(),
                    required: false,
                };
                schemas.push((
                    name.to_string(),
                    vec![
                        property("codebase_path", "string"),
                        property("path", "string"),
                        property("max_results", "integer"),
                    ],
                ));
            }
        }
        schemas
    })
}

/// The first non-null type a property schema allows.
fn property_type(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(kind)) => return kind.clone(),
        Some(Value::Array(kinds)) => {
            if let Some(kind) = kinds
                .iter()
                .filter_map(Value::as_str)
                .find(|kind| *kind != "null")
            {
                return kind.to_string();
            }
        }
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            for option in options {
                let kind = property_type(option);
                if kind != "null" && !kind.is_empty() {
                    return kind;
                }
            }
        }
    }
    String::new()
}

/// How likely `property` is present in generated arguments: required ones almost always,
/// paging rarely (a cursor the server did not issue is refused at once).
fn presence(property: &Property) -> f64 {
    match property.name.as_str() {
        "cursor" => 0.05,
        "max_results" | "max_tokens" => 0.3,
        _ if property.required => 0.95,
        _ => 0.45,
    }
}

/// Arguments for `properties`: each present or not, of its type (in a fifth of the objects,
/// some of the wrong type), plus an unknown key now and then.
fn arguments_for(properties: &[Property]) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<(String, Value, Value)>>> = properties
        .iter()
        .map(|property| {
            let name = property.name.clone();
            prop::option::weighted(
                presence(property),
                (typed_value(&name, &property.kind), any_value()),
            )
            .prop_map(move |value| value.map(|(typed, wrong)| (name.clone(), typed, wrong)))
            .boxed()
        })
        .collect();
    (
        fields,
        prop::option::weighted(0.2, prop::collection::vec(any::<bool>(), 8)),
        prop::option::weighted(0.05, ("[a-z_]{1,10}", any_value())),
    )
        .prop_map(|(fields, wrong, extra)| {
            let mut object = serde_json::Map::new();
            for (index, (name, typed, other)) in fields.into_iter().flatten().enumerate() {
                let use_wrong = wrong
                    .as_ref()
                    .is_some_and(|wrong| wrong[index % wrong.len()]);
                object.insert(name, if use_wrong { other } else { typed });
            }
            if let Some((key, value)) = extra {
                object.insert(key, value);
            }
            Value::Object(object)
        })
        .boxed()
}

/// A query name and arguments for it (sometimes an unknown name).
pub fn tool_and_arguments() -> impl Strategy<Value = (String, Value)> {
    let schemas = tool_schemas();
    let known = (0..schemas.len()).prop_flat_map(move |index| {
        let (name, properties) = &schemas[index];
        (Just(name.clone()), arguments_for(properties))
    });
    prop_oneof![
        12 => known,
        1 => (select(vec!["nonexistent", "", "search_codebase ", "SEARCH_CODEBASE", "tools/call"]), any_value())
            .prop_map(|(name, arguments)| (name.to_string(), arguments)),
    ]
}

/// A tool_call input.
pub fn tool_call() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), tool_and_arguments()).prop_map(|(options, (name, arguments))| {
        targets::tool_call_input(options, &name, &arguments)
    })
}

// ---------------------------------------------------------------------------------------
// Connections

fn request_id() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (0i64..1000).prop_map(Value::from),
        2 => "[a-z0-9-]{0,8}".prop_map(Value::from),
        1 => Just(Value::Null),
        1 => select(vec![json!(-1), json!(1.5), json!(u64::MAX), json!({"a": 1}), json!([1])]),
    ]
}

fn initialize(id: Value, version: &str, capabilities: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": capabilities,
            "clientInfo": {"name": "fuzz", "version": "1"}
        }
    })
}

/// One JSON-RPC message an MCP client could send.
fn mcp_message() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (request_id(), tool_and_arguments(), prop::option::of(request_id())).prop_map(
            |(id, (name, arguments), token)| {
                let mut params = json!({"name": name, "arguments": arguments});
                if let Some(token) = token {
                    params["_meta"] = json!({"progressToken": token});
                }
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
            }
        ),
        1 => request_id().prop_map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})),
        1 => request_id().prop_map(|id| json!({"jsonrpc": "2.0", "id": id, "method": "ping"})),
        1 => request_id().prop_map(|id| json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": id, "reason": "fuzz"}
        })),
        1 => Just(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})),
        1 => (request_id(), select(vec!["2024-11-05", "2025-03-26", "2025-06-18", "1999-01-01", ""]))
            .prop_map(|(id, version)| initialize(id, version, json!({}))),
        1 => (request_id(), any_value()).prop_map(|(id, result)| json!({"jsonrpc": "2.0", "id": id, "result": result})),
        1 => (request_id(), "[a-z/]{0,20}", any_value()).prop_map(|(id, method, params)| {
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
        }),
        1 => any_value(),
    ]
}

/// One line of an MCP stream (without its newline).
fn mcp_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        10 => mcp_message().prop_map(|message| serde_json::to_vec(&message).unwrap_or_default()),
        2 => prop::collection::vec(mcp_message(), 1..4)
            .prop_map(|batch| serde_json::to_vec(&batch).unwrap_or_default()),
        2 => (mcp_message(), any::<u32>()).prop_map(|(message, cut)| {
            let mut line = serde_json::to_vec(&message).unwrap_or_default();
            line.truncate(cut as usize % line.len().max(1));
            line
        }),
        1 => (MAX_MESSAGE_BYTES - 64..MAX_MESSAGE_BYTES + 64).prop_map(|len| {
            let mut line = br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""#.to_vec();
            line.resize(len.saturating_sub(3), b'x');
            line.extend_from_slice(b"\"}}");
            line
        }),
        1 => (1usize..20_000).prop_map(|depth| {
            let mut line = vec![b'['; depth];
            line.extend(std::iter::repeat_n(b']', depth));
            line
        }),
        1 => Just(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe\"}".to_vec()),
        1 => select(vec!["", "   ", "\r", "\t"]).prop_map(|text| text.as_bytes().to_vec()),
        1 => bytes(64),
    ]
}

/// An MCP stream: usually a proper handshake, then lines; `\n` or `\r\n` separated, with or
/// without a final newline.
pub fn mcp_stream() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::option::weighted(
            0.8,
            select(vec![
                json!({}),
                json!({"roots": {"listChanged": true}}),
                json!({"sampling": {}}),
            ]),
        ),
        prop::collection::vec(mcp_line(), 0..8),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(handshake, lines, crlf, final_newline)| {
            let mut all: Vec<Vec<u8>> = Vec::new();
            if let Some(capabilities) = handshake {
                all.push(
                    serde_json::to_vec(&initialize(json!(0), "2025-06-18", capabilities))
                        .unwrap_or_default(),
                );
                all.push(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec());
            }
            all.extend(lines);
            let separator: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut stream = all.join(separator);
            if final_newline && !stream.is_empty() {
                stream.extend_from_slice(separator);
            }
            stream
        })
}

/// A control request line (newline included, or not).
pub fn control_stream() -> impl Strategy<Value = Vec<u8>> {
    let request = prop_oneof![
        select(vec![
            json!({"request": "ping"}),
            json!({"request": "status"}),
            json!({"request": "metrics"}),
            json!({"request": "check"}),
            json!({"request": "stop"}),
            json!({"request": "backup", "path": "/tmp/x"}),
            json!({"request": "compact"}),
            json!({"request": "unknown"}),
            json!({"ping": null}),
            json!([]),
        ]),
        (
            tool_and_arguments(),
            any::<bool>(),
            select(vec!["mcp", "cli", "other"])
        )
            .prop_map(|((name, arguments), bounded, words)| json!({
                "request": "query", "name": name, "arguments": arguments,
                "cwd": "/", "words": words, "bounded": bounded
            })),
    ];
    prop_oneof![
        6 => (request, any::<bool>()).prop_map(|(request, newline)| {
            let mut line = serde_json::to_vec(&request).unwrap_or_default();
            if newline {
                line.push(b'\n');
            }
            line
        }),
        2 => mutated(vec![
            b"{\"request\":\"ping\"}\n".to_vec(),
            b"{\"request\":\"query\",\"name\":\"find_symbol\",\"arguments\":{\"name\":\"add\"}}\n".to_vec(),
        ]),
        1 => bytes(64),
    ]
}

/// What a client writes on a fresh connection.
pub fn connection() -> impl Strategy<Value = Vec<u8>> {
    let mcp_hello = Channel::Mcp.hello().into_bytes();
    let control_hello = Channel::Control.hello().into_bytes();
    let hellos = vec![
        mcp_hello.clone(),
        control_hello.clone(),
        b"CODESAGE/1 mcp\r\n".to_vec(),
        b"CODESAGE/2 mcp\n".to_vec(),
        b"CODESAGE/1 telnet\n".to_vec(),
        b"codesage/1 mcp\n".to_vec(),
        b"CODESAGE/ mcp\n".to_vec(),
        b"CODESAGE/1  mcp\n".to_vec(),
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}\n".to_vec(),
        vec![b'A'; 300],
        b"CODESAGE/1 mcp".to_vec(),
    ];
    prop_oneof![
        3 => (Just(mcp_hello), mcp_stream()).prop_map(|(hello, rest)| [hello, rest].concat()),
        2 => (Just(control_hello), control_stream()).prop_map(|(hello, rest)| [hello, rest].concat()),
        3 => mutated(hellos),
        1 => bytes(300),
        1 => Just(Vec::new()),
    ]
}

use codesage_shared::protocol::Channel;

// ---------------------------------------------------------------------------------------
// Regexes

/// A regex from a grammar of the syntax the search accepts.
pub fn regex_pattern() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => select(vec![
            "a", "b", "ab", "fn", "Ledger", "_", " ", "1", "é", "É", "ß", "ẞ", "K", "\u{212a}",
            "ſ", "s", "İ", "ı", "σ", "ς", "Σ", "😀", "日本", "\\(", "\\.", "\\\\", "\\n", "\\t",
            "\\x41", "\\u{e9}", "-", "\\{", "\u{0}",
        ])
        .prop_map(String::from),
        3 => select(vec![
            ".", "[ab]", "[^a]", "[a-z]", "[^\\n]", "\\w", "\\W", "\\s", "\\S", "\\d", "\\D",
            "\\pL", "\\p{Greek}", "\\P{L}", "[[:alpha:]]", "[[:^space:]]", "[a-c&&b-d]",
            "[\\x00-\\x7f]", "(?s:.)", "[éÉ]", "[ſs]", "[\\w--\\d]", "[a-zA-Z0-9_]", "(?-u:\\w)",
            "(?-u:.)",
        ])
        .prop_map(String::from),
        2 => select(vec![
            "^", "$", "\\A", "\\z", "\\b", "\\B", "\\b{start}", "\\b{end}", "\\<", "\\>", "",
        ])
        .prop_map(String::from),
    ];
    leaf.prop_recursive(5, 32, 4, |inner| {
        prop_oneof![
            3 => prop::collection::vec(inner.clone(), 2..4).prop_map(|parts| parts.concat()),
            2 => prop::collection::vec(inner.clone(), 2..4).prop_map(|parts| format!("(?:{})", parts.join("|"))),
            1 => inner.clone().prop_map(|a| format!("(?:{a}|)")),
            2 => (inner.clone(), select(vec!["*", "+", "?", "*?", "+?", "??", "{2}", "{0,3}", "{1,}", "{3,5}?", "{0}", "{20}"]))
                .prop_map(|(a, repeat)| format!("(?:{a}){repeat}")),
            1 => (inner.clone(), select(vec!["(?i)", "(?-i)", "(?s)", "(?m)", "(?U)", "(?x)", "(?i:", "(?P<n>", "("]))
                .prop_map(|(a, flag)| if flag.ends_with(':') || flag.ends_with('>') || flag == "(" {
                    format!("{flag}{a})")
                } else {
                    format!("{flag}{a}")
                }),
        ]
    })
}

/// A regex input: flags, a pattern (from the grammar, damaged, or arbitrary), a haystack.
pub fn regex_input() -> impl Strategy<Value = Vec<u8>> {
    let haystack = prop_oneof![
        3 => prop::collection::vec(
            select(vec!["a", "b", "ab", "fn ", "Ledger", "é", "É", "ß", "σ", "Σ", "ς", "K", "\u{212a}",
                        "ſ", "s", "S", "\n", " ", "_", "1", "😀", "(", "."]),
            0..40,
        )
        .prop_map(|parts| parts.concat().into_bytes()),
        1 => bytes(64),
    ];
    let pattern = prop_oneof![
        6 => regex_pattern(),
        1 => (regex_pattern(), edits()).prop_map(|(pattern, edits)| {
            String::from_utf8_lossy(&mutate(pattern.as_bytes(), &edits)).into_owned()
        }),
        1 => ".{0,16}",
    ];
    (0u8..4, pattern, haystack)
        .prop_map(|(flags, pattern, haystack)| targets::regex_input(flags, &pattern, &haystack))
}

// ---------------------------------------------------------------------------------------
// Source files

/// Openers that nest in most grammars.
const NESTERS: &[&str] = &[
    "(",
    "[",
    "{",
    "if (x) {",
    "def f():\n ",
    "fn f() {",
    "<div>",
    "f(g(",
    "\"${",
    "/*",
    "class A {",
];

const TOKENS: &[&str] = &[
    "fn",
    "def",
    "class",
    "struct",
    "impl",
    "trait",
    "interface",
    "enum",
    "func",
    "function",
    "module",
    "namespace",
    "package",
    "import",
    "from",
    "use",
    "require",
    "include",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    ";",
    ",",
    ".",
    "::",
    "->",
    "=>",
    "=",
    "<",
    ">",
    "@",
    "$",
    "#",
    "\n",
    "    ",
    "\t",
    "/*",
    "*/",
    "//",
    "#",
    "\"",
    "'",
    "`",
    "\\",
    "x",
    "Foo",
    "self",
    "if",
    "else",
    "for",
    "while",
    "return",
    "end",
    "do",
    "begin",
    "<?php",
    "?>",
    "#!/bin/sh\n",
    "TODO: x",
    "FIXME(y)",
    "/// doc\n",
    "\"\"\"doc\"\"\"",
    "pub",
    "static",
    "async",
    "*",
    "&&",
    "||",
    "0x1F",
    "1e9",
    "template<",
    "operator+",
    "~A",
    "@decorator\n",
    "case",
    "=>",
];

/// (file name, content) of every fixture.
fn fixture_sources() -> Vec<(String, Vec<u8>)> {
    fixture()
        .files
        .iter()
        .filter(|(name, _)| name.starts_with("src/"))
        .map(|(name, content)| (name.clone(), content.clone()))
        .collect()
}

/// An extract input: real source damaged in every way a file can be.
pub fn extract_input() -> impl Strategy<Value = Vec<u8>> {
    let sources = fixture_sources();
    let names: Vec<String> = sources.iter().map(|(name, _)| name.clone()).collect();
    let truncated = (select(sources.clone()), any::<u32>()).prop_map(|((name, content), cut)| {
        let cut = cut as usize % (content.len() + 1);
        targets::extract_input(&name, &content[..cut])
    });
    let damaged = (select(sources.clone()), edits()).prop_map(|((name, content), edits)| {
        targets::extract_input(&name, &mutate(&content, &edits))
    });
    let wrong_language = (select(sources.clone()), select(names.clone()), any::<u32>()).prop_map(
        |((_, content), name, cut)| {
            let cut = cut as usize % (content.len() + 1);
            targets::extract_input(&name, &content[..cut])
        },
    );
    let spliced = (
        select(sources.clone()),
        select(sources),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|((name, a), (_, b), x, y)| {
            let (x, y) = (x as usize % (a.len() + 1), y as usize % (b.len() + 1));
            targets::extract_input(&name, &[&a[..x], &b[y..]].concat())
        });
    let nested = (
        select(names.clone()),
        select(NESTERS),
        1usize..4000,
        any::<bool>(),
    )
        .prop_map(|(name, opener, depth, close)| {
            let mut content = opener.repeat(depth);
            if close {
                content.push_str(&"}".repeat(depth));
            }
            targets::extract_input(&name, content.as_bytes())
        });
    let soup = (
        select(names.clone()),
        prop::collection::vec(select(TOKENS), 0..300),
    )
        .prop_map(|(name, tokens)| targets::extract_input(&name, tokens.join(" ").as_bytes()));
    let shebang = (
        select(vec![
            "#!/usr/bin/env python3\n",
            "#!/bin/bash\n",
            "#!/usr/bin/ruby\n",
            "#!/usr/bin/env node\n",
            "#!/usr/bin/php\n",
        ]),
        prop::collection::vec(select(TOKENS), 0..80),
    )
        .prop_map(|(shebang, tokens)| {
            targets::extract_input(
                "script",
                format!("{shebang}{}", tokens.join(" ")).as_bytes(),
            )
        });
    let manifest = (
        select(vec!["Cargo.toml", "pyproject.toml", "package.json", "go.mod", "pom.xml", "requirements-dev.txt"]),
        prop_oneof![
            mutated(vec![
                b"[package]\nname = \"x\"\n[dependencies]\nserde = { version = \"1\", features = [\"derive\"] }\n[workspace]\nmembers = [\"a\"]\n".to_vec(),
                br#"{"name":"x","dependencies":{"a":"1"},"devDependencies":{"b":"2"},"workspaces":["p/*"]}"#.to_vec(),
                b"module example.com/x\n\ngo 1.22\n\nrequire (\n\tgithub.com/a/b v1.0.0\n)\n".to_vec(),
                b"<project><groupId>g</groupId><artifactId>a</artifactId><dependencies><dependency><artifactId>d</artifactId></dependency></dependencies></project>".to_vec(),
                b"[project]\nname = \"x\"\ndependencies = [\"requests>=2\", \"numpy\"]\n".to_vec(),
                b"requests==2.0\n-e .\n# comment\nnumpy[extra]>=1; python_version<'3'\n".to_vec(),
            ]),
            bytes(128),
        ],
    )
        .prop_map(|(name, content)| targets::extract_input(name, &content));
    prop_oneof![
        3 => truncated,
        3 => damaged,
        1 => wrong_language,
        1 => spliced,
        1 => nested,
        2 => soup,
        1 => shebang,
        1 => manifest,
        1 => (select(names), bytes(512)).prop_map(|(name, content)| targets::extract_input(&name, &content)),
    ]
}

// ---------------------------------------------------------------------------------------
// Stored records

/// The structure of every fixture, as extracted.
fn extracted() -> &'static [FileSymbols] {
    static EXTRACTED: OnceLock<Vec<FileSymbols>> = OnceLock::new();
    EXTRACTED.get_or_init(|| {
        fixture_sources()
            .iter()
            .filter_map(|(name, content)| {
                let language = codesaged::indexer::language::detect(name, content);
                codesaged::symbols::extract(language.name, content)
            })
            .collect()
    })
}

/// A change to a well-encoded structure that makes its contents wrong.
#[derive(Debug, Clone)]
pub enum Wrong {
    /// A symbol's parent set (out of range, itself, a later symbol: cycles).
    Parent(u16, Option<u32>),
    /// A symbol's lines set (zero, reversed, past the end, the maximum).
    Lines(u16, u32, u32),
    /// A call's caller set.
    Caller(u16, Option<u32>),
    /// A symbol's name and scope set.
    Names(u16, String, Option<String>),
    /// The per-line hashes dropped.
    NoLineHashes,
    /// A TODO's line set.
    Todo(u16, u32),
    /// A symbol's measures set (branches, parameters, nesting).
    Measures(u16, u32, u32, u32),
}

fn interesting_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..50,
        select(vec![0u32, 1, u32::MAX, u32::MAX - 1, 1 << 31, 65_535])
    ]
}

fn wrong() -> impl Strategy<Value = Wrong> {
    prop_oneof![
        (any::<u16>(), prop::option::of(interesting_u32()))
            .prop_map(|(at, p)| Wrong::Parent(at, p)),
        (any::<u16>(), interesting_u32(), interesting_u32())
            .prop_map(|(at, a, b)| Wrong::Lines(at, a, b)),
        (any::<u16>(), prop::option::of(interesting_u32()))
            .prop_map(|(at, c)| Wrong::Caller(at, c)),
        (
            any::<u16>(),
            select(vec!["", ".", "::", "a.b", "日本", "x~2", "#"]),
            prop::option::of(select(vec!["", "::", "A::", "..", "a.b::c"]))
        )
            .prop_map(|(at, name, scope)| Wrong::Names(
                at,
                name.into(),
                scope.map(String::from)
            )),
        Just(Wrong::NoLineHashes),
        (any::<u16>(), interesting_u32()).prop_map(|(at, line)| Wrong::Todo(at, line)),
        (
            any::<u16>(),
            interesting_u32(),
            interesting_u32(),
            interesting_u32()
        )
            .prop_map(|(at, branches, parameters, nesting)| Wrong::Measures(
                at, branches, parameters, nesting
            )),
    ]
}

fn make_wrong(symbols: &mut FileSymbols, wrong: &Wrong) {
    let pick = |at: u16, len: usize| (len > 0).then(|| usize::from(at) % len);
    match wrong {
        Wrong::Parent(at, parent) => {
            if let Some(index) = pick(*at, symbols.symbols.len()) {
                symbols.symbols[index].parent = *parent;
            }
        }
        Wrong::Lines(at, start, end) => {
            if let Some(index) = pick(*at, symbols.symbols.len()) {
                symbols.symbols[index].start_line = *start;
                symbols.symbols[index].end_line = *end;
            }
        }
        Wrong::Caller(at, caller) => {
            if let Some(index) = pick(*at, symbols.calls.len()) {
                symbols.calls[index].caller = *caller;
            }
        }
        Wrong::Names(at, name, scope) => {
            if let Some(index) = pick(*at, symbols.symbols.len()) {
                symbols.symbols[index].name = name.clone();
                symbols.symbols[index].scope = scope.clone();
            }
        }
        Wrong::NoLineHashes => symbols.fingerprints.lines.clear(),
        Wrong::Todo(at, line) => {
            if let Some(index) = pick(*at, symbols.todos.len()) {
                symbols.todos[index].line = *line;
            }
        }
        Wrong::Measures(at, branches, parameters, nesting) => {
            if let Some(index) = pick(*at, symbols.symbols.len()) {
                symbols.symbols[index].branches = *branches;
                symbols.symbols[index].parameters = *parameters;
                symbols.symbols[index].nesting = *nesting;
            }
        }
    }
}

/// A symbols_decode input: real encodings damaged, well-encoded wrong structures, bytes.
pub fn symbols_input() -> impl Strategy<Value = Vec<u8>> {
    let raw: Vec<Vec<u8>> = extracted()
        .iter()
        .map(|symbols| postcard::to_stdvec(symbols).expect("postcard"))
        .collect();
    let stored: Vec<Vec<u8>> = extracted().iter().map(FileSymbols::encode).collect();
    let count = extracted().len();
    prop_oneof![
        3 => mutated(raw).prop_map(|raw| [vec![0], raw].concat()),
        1 => mutated(stored).prop_map(|stored| [vec![1], stored].concat()),
        3 => (0..count, prop::collection::vec(wrong(), 1..6)).prop_map(|(index, wrongs)| {
            let mut symbols = extracted()[index].clone();
            for wrong in &wrongs {
                make_wrong(&mut symbols, wrong);
            }
            [vec![0], postcard::to_stdvec(&symbols).expect("postcard")].concat()
        }),
        1 => bytes(128).prop_map(|raw| [vec![0], raw].concat()),
    ]
}

/// Segments built from the fixtures' trigrams.
fn segments() -> Vec<Vec<u8>> {
    let sources = fixture_sources();
    let documents: Vec<(u32, Vec<u32>)> = sources
        .iter()
        .enumerate()
        .map(|(index, (_, content))| (index as u32 * 3, codesaged::trigram::trigrams(content)))
        .collect();
    vec![
        codesaged::trigram::Segment::build(&documents)
            .bytes()
            .to_vec(),
        codesaged::trigram::Segment::build(&documents[..1])
            .bytes()
            .to_vec(),
        codesaged::trigram::Segment::build(&[]).bytes().to_vec(),
    ]
}

/// A segment header with chosen counts, a table and postings of arbitrary bytes.
fn forged_segment() -> impl Strategy<Value = Vec<u8>> {
    let header = segments()[2][..24].to_vec();
    (
        interesting_u32(),
        interesting_u32(),
        prop::collection::vec((any::<u32>(), interesting_u32(), interesting_u32()), 0..6),
        bytes(32),
    )
        .prop_map(move |(trigrams, docs, table, postings)| {
            let mut out = header.clone();
            let trigram_count = if trigrams > 64 {
                table.len() as u32
            } else {
                trigrams
            };
            out[8..12].copy_from_slice(&trigram_count.to_le_bytes());
            out[12..16].copy_from_slice(&docs.to_le_bytes());
            for (trigram, offset, count) in table {
                out.extend_from_slice(&(trigram & 0xff_ffff).to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
            out.extend_from_slice(&postings);
            out
        })
}

/// A segment_decode input.
pub fn segment_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => mutated(segments()).prop_map(|bytes| [vec![0], bytes].concat()),
        3 => forged_segment().prop_map(|bytes| [vec![0], bytes].concat()),
        2 => bytes(256).prop_map(|bytes| [vec![1], bytes].concat()),
        1 => bytes(64).prop_map(|bytes| [vec![0], bytes].concat()),
    ]
}

/// A vector_decode input: vectors with scales at every edge of f32, and bytes.
pub fn vector_input() -> impl Strategy<Value = Vec<u8>> {
    let scale = prop_oneof![
        select(vec![
            0.0f32,
            -0.0,
            1.0,
            1.0 / 127.0,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1e-45,
            f32::NAN,
            f32::INFINITY,
            3e38,
            -1.0,
        ]),
        any::<f32>(),
    ];
    prop_oneof![
        3 => prop::collection::vec((scale, any::<[i8; 4]>()), 1..40).prop_map(|vectors| {
            let mut out = Vec::new();
            for (scale, values) in vectors {
                out.extend_from_slice(&scale.to_le_bytes());
                out.extend(values.iter().map(|&v| v as u8));
            }
            out
        }),
        1 => bytes(512),
    ]
}

/// A store_records input: one to four damages, sometimes served.
pub fn store_input() -> impl Strategy<Value = Vec<u8>> {
    let payload = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..12),
        1 => select(vec![vec![0xff; 8], vec![0x80; 6], vec![0; 8], vec![0x7f, 0xff, 0xff, 0xff, 0x0f], vec![1]]),
    ];
    let damage = (
        0u8..targets::STORE_TABLES.len() as u8,
        any::<u8>(),
        0u8..9,
        payload,
    )
        .prop_map(|(table, entry, mode, payload)| Damage {
            table,
            entry,
            mode,
            payload,
        });
    (any::<u8>(), prop::collection::vec(damage, 1..5))
        .prop_map(|(options, damages)| targets::store_input(options, &damages))
}

/// A backup input: the real backup damaged (mostly in its header and manifest), its
/// manifest's fields changed, or a damaged store copy in a consistent backup.
pub fn backup_input() -> impl Strategy<Value = Vec<u8>> {
    let fixture = fixture();
    let template = fixture.backup_template.clone();
    let store = std::fs::read(&fixture.store_template).expect("template store");
    let header_end =
        20 + u32::from_le_bytes(template[16..20].try_into().expect("4 bytes")) as usize;
    let head_template = template.clone();
    let in_header = (edits(), any::<u32>()).prop_map(move |(edits, _)| {
        let (head, payload) = head_template.split_at(header_end);
        [mutate(head, &edits), payload.to_vec()].concat()
    });
    let manifest_template = template.clone();
    let fields = (
        select(vec![
            "format",
            "schema_version",
            "payload_bytes",
            "store_bytes",
            "payload_blake3",
            "store_blake3",
            "roots",
            "tables",
            "codesage_version",
        ]),
        prop_oneof![3 => integer_value(), 1 => any_value()],
    )
        .prop_map(move |(field, value)| {
            let (head, payload) = manifest_template.split_at(header_end);
            let mut manifest: Value = serde_json::from_slice(&head[20..]).expect("manifest");
            manifest[field] = value;
            let json = serde_json::to_vec(&manifest).expect("json");
            [
                b"CODESAGE-BACKUP\n".as_slice(),
                &(json.len() as u32).to_le_bytes(),
                &json,
                payload,
            ]
            .concat()
        });
    // Mostly in place: a store copy of another length is refused before redb reads a page.
    let in_place = prop::collection::vec(
        prop_oneof![
            (any::<u32>(), 1..=255u8).prop_map(|(at, mask)| Edit::Flip(at, mask)),
            (any::<u32>(), select(INTERESTING)).prop_map(|(at, byte)| Edit::Set(at, byte)),
        ],
        1..6,
    );
    let store_copy = prop_oneof![
        4 => in_place,
        1 => edits(),
    ]
    .prop_map(move |edits| mutate(&store, &edits));
    prop_oneof![
        2 => in_header.prop_map(|bytes| [vec![0], bytes].concat()),
        2 => fields.prop_map(|bytes| [vec![0], bytes].concat()),
        1 => mutated(vec![template]).prop_map(|bytes| [vec![0], bytes].concat()),
        2 => store_copy.prop_map(|bytes| [vec![1], bytes].concat()),
        1 => bytes(256).prop_map(|bytes| [vec![0], bytes].concat()),
    ]
}

// ---------------------------------------------------------------------------------------
// Configuration

fn toml_value() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        (-5i64..5).prop_map(toml::Value::Integer),
        select(vec![i64::MAX, i64::MIN, 1 << 40, 0, 1023, 1024, 23]).prop_map(toml::Value::Integer),
        select(vec![f64::NAN, f64::INFINITY, -0.5, 0.5, 1e300, 2.0]).prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
        select(vec![
            "",
            "auto",
            "openai",
            "debug",
            "127.0.0.1:9464",
            "http://x",
            "ftp://x",
            "production",
            "nonsense"
        ])
        .prop_map(|text| toml::Value::String(text.into())),
        Just(toml::Value::Array(vec![
            toml::Value::String("x".into()),
            toml::Value::Integer(1)
        ])),
        Just(toml::Value::Table(toml::map::Map::new())),
    ]
}

/// A configuration file: templates damaged as text, templates with values of wrong types
/// or at their limits, unknown keys, and bytes.
pub fn config_input() -> impl Strategy<Value = Vec<u8>> {
    let templates: Vec<Vec<u8>> = Profile::ALL
        .iter()
        .map(|profile| codesage_shared::config::template(*profile).into_bytes())
        .collect();
    let parsed: Vec<toml::Table> = templates
        .iter()
        .filter_map(|text| toml::from_str(std::str::from_utf8(text).ok()?).ok())
        .collect();
    let defaults: toml::Table = toml::Value::try_from(fixture::config(std::path::Path::new("/x")))
        .ok()
        .and_then(|value| value.as_table().cloned())
        .unwrap_or_default();
    let mut tables = parsed;
    tables.push(defaults);
    let structured = (
        select(tables),
        prop::collection::vec(
            (
                any::<u16>(),
                any::<u16>(),
                prop::option::weighted(0.85, toml_value()),
            ),
            1..5,
        ),
        prop::option::weighted(0.2, "[a-z_]{1,10}"),
    )
        .prop_map(|(mut table, changes, unknown)| {
            for (section, key, value) in changes {
                let sections: Vec<String> = table.keys().cloned().collect();
                if sections.is_empty() {
                    break;
                }
                let name = &sections[usize::from(section) % sections.len()];
                match table.get_mut(name) {
                    Some(toml::Value::Table(inner)) if !inner.is_empty() => {
                        let keys: Vec<String> = inner.keys().cloned().collect();
                        let key = &keys[usize::from(key) % keys.len()];
                        match value {
                            Some(value) => inner.insert(key.clone(), value),
                            None => inner.remove(key),
                        };
                    }
                    _ => {
                        if let Some(value) = value {
                            table.insert(name.clone(), value);
                        }
                    }
                }
            }
            if let Some(unknown) = unknown {
                table.insert(unknown, toml::Value::Integer(1));
            }
            toml::to_string(&table).unwrap_or_default().into_bytes()
        });
    prop_oneof![
        3 => structured,
        2 => mutated(templates),
        1 => bytes(256),
    ]
}
