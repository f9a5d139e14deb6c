//! The security catalogue: hostile inputs sent through the real shim to a real daemon over
//! real files, each with the clear error it must get and no side effect.
//!
//! Every entry of [`tool_catalogue`] and [`wire_catalogue`] names one hostile input and what
//! must come back; after each one the test checks that nothing changed (no root registered,
//! no file of the indexed root gained or lost, nothing outside the root opened — watched with
//! inotify —, nothing from outside the root served, the daemon still answering). The socket
//! entries (planted files, open folders, another user's connection) need daemons of their
//! own and have their own tests, as does the redaction of secrets in `.env` files.
//!
//! Decisions the catalogue pins down:
//! * A symlink inside a root that leads out of it is never followed when serving: the path is
//!   resolved first and refused as outside the codebases (also `/dev/zero` behind a link).
//! * A hard link inside a root *is* inside the root: it is the same inode under a name the
//!   root holds, indistinguishable from a file written there, and only someone who can write
//!   to the root can make one. So it is indexed and served like any other file.
//! * Relative paths may not climb out of the workspace with `..`; absolute paths may name
//!   anything, but only what resolves into a registered root is served.
//! * The home directory is not indexed on an MCP client's request (an agent's call is not the
//!   user typing `codesage index ~`); `/`, virtual filesystems and the daemon's own data
//!   directory never are.
#![cfg(target_os = "linux")]
// MCP roots are deprecated in the newest protocol revision (SEP-2577), but current clients
// declare their workspace through them; the catalogue's client does, to resolve relative paths.
#![allow(deprecated)]

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use codesage_e2e::{
    McpClient, TestEnv, age_tree, codesage_bin, codesaged_bin, sample_project, text_of, write,
};
use rmcp::model::{ClientCapabilities, ClientConfig, ListRootsResult, Root};
use rmcp::service::RequestContext;
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::{Value, json};

/// Bound for every call: a hostile input that stalls the daemon shows up as a failure.
const PROMPT: Duration = Duration::from_secs(20);
/// The daemon's message limit in these tests (small, so an oversized message is cheap).
const MAX_MESSAGE: usize = 1024 * 1024;
/// What the file outside the root holds; it must never appear in any answer.
const OUTSIDE_SECRET: &str = "TOP-SECRET-OUTSIDE-4f1d9";
/// An error meant for a model must be short enough to read: no echo of a megabyte argument.
const MAX_ERROR_CHARS: usize = 2048;

/// A client that declares the project as its workspace, so relative paths resolve against it.
#[derive(Clone)]
struct WorkspaceClient {
    roots: Vec<String>,
}

impl ClientHandler for WorkspaceClient {
    fn get_info(&self) -> ClientConfig {
        let capabilities = ClientCapabilities::builder().enable_roots().build();
        ClientConfig::new(
            capabilities,
            rmcp::model::Implementation::new("security-test", "1"),
        )
    }

    async fn list_roots(
        &self,
        _context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        Ok(ListRootsResult::new(
            self.roots
                .iter()
                .map(|uri| Root::new(uri.clone()))
                .collect(),
        ))
    }
}

/// What a catalogue entry must get back.
enum Expect {
    /// A tool error (`isError: true`) whose text contains one of these.
    Refused(&'static [&'static str]),
    /// A JSON-RPC error whose message contains this.
    Protocol(&'static str),
    /// A successful answer that passes this check.
    Answers(fn(&Value) -> Result<(), String>),
}

/// One hostile tool call.
struct Case {
    what: &'static str,
    tool: &'static str,
    arguments: Value,
    expect: Expect,
}

fn case(what: &'static str, tool: &'static str, arguments: Value, expect: Expect) -> Case {
    Case {
        what,
        tool,
        arguments,
        expect,
    }
}

/// The files of one catalogue run.
struct Fixture {
    root: PathBuf,
    outside: PathBuf,
    home: PathBuf,
    data_dir: PathBuf,
}

const OUTSIDE: &[&str] = &["outside the indexed codebases"];
const NUL: &[&str] = &["NUL byte"];
const TOO_LONG: &[&str] = &["bytes long", "longer than"];
const INVALID: &[&str] = &["invalid arguments"];
const BAD_REGEX: &[&str] = &["invalid regular expression"];

fn no_matches(answer: &Value) -> Result<(), String> {
    (answer["total_matches"] == 0)
        .then_some(())
        .ok_or_else(|| format!("expected no match: {answer}"))
}

fn hard_link_served(answer: &Value) -> Result<(), String> {
    let content = answer["content"].as_str().unwrap_or_default();
    (answer["file_path"] == "src/shared.rs" && content.contains("fn hard_linked_marker"))
        .then_some(())
        .ok_or_else(|| format!("the hard-linked file is served from the root: {answer}"))
}

fn hard_link_indexed(answer: &Value) -> Result<(), String> {
    (answer["total_matches"] == 1 && answer["results"][0]["file_path"] == "src/shared.rs")
        .then_some(())
        .ok_or_else(|| format!("the hard-linked file is indexed: {answer}"))
}

/// The hostile tool calls, each with what it must get.
fn tool_catalogue(fx: &Fixture) -> Vec<Case> {
    use Expect::*;
    let root = fx.root.display().to_string();
    let outside = fx.outside.display().to_string();
    let secret = fx.outside.join("secret.txt").display().to_string();
    let long_path = format!("{}x.rs", "a/".repeat(3000));
    let long_name = format!("{}.rs", "x".repeat(300));
    let deep_group = format!("{}a{}", "(".repeat(1000), ")".repeat(1000));
    let big = "a".repeat(600 * 1024);
    vec![
        // `..`, relative and absolute, in file_path and codebase_path of many tools.
        case(
            "relative ../ file",
            "read_code_file",
            json!({"file_path": "../elsewhere/secret.txt"}),
            Refused(OUTSIDE),
        ),
        case(
            "../ inside a relative file path",
            "read_code_file",
            json!({"file_path": "src/../../elsewhere/secret.txt"}),
            Refused(OUTSIDE),
        ),
        case(
            "absolute root/../",
            "read_code_file",
            json!({"file_path": format!("{root}/../elsewhere/secret.txt")}),
            Refused(OUTSIDE),
        ),
        case(
            "../ file under codebase_path",
            "read_code_file",
            json!({"codebase_path": root, "file_path": "../elsewhere/secret.txt"}),
            Refused(OUTSIDE),
        ),
        case(
            "../ in a symbol id",
            "read_code_file",
            json!({"symbol": "../elsewhere/secret.txt#x"}),
            Refused(OUTSIDE),
        ),
        case(
            "../ outline",
            "get_file_structure",
            json!({"file_path": format!("{root}/src/../../elsewhere/secret.txt")}),
            Refused(OUTSIDE),
        ),
        case(
            "root/.. as codebase",
            "search_codebase",
            json!({"codebase_path": format!("{root}/.."), "pattern": "SECRET"}),
            Refused(OUTSIDE),
        ),
        case(
            "relative ../ codebase",
            "search_codebase",
            json!({"codebase_path": "../elsewhere", "pattern": "SECRET"}),
            Refused(&["climbs out of the workspace root"]),
        ),
        case(
            "../ codebase for symbols",
            "find_symbol",
            json!({"codebase_path": format!("{root}/../elsewhere"), "name": "main"}),
            Refused(OUTSIDE),
        ),
        case(
            "../ codebase for references",
            "find_references",
            json!({"codebase_path": format!("{root}/.."), "symbol": "main"}),
            Refused(OUTSIDE),
        ),
        case(
            "../ codebase for line counts",
            "count_lines_of_code",
            json!({"codebase_path": format!("{root}/src/../../elsewhere")}),
            Refused(OUTSIDE),
        ),
        case(
            "../ codebase for TODOs",
            "list_todo_fixme",
            json!({"codebase_path": format!("{root}/../elsewhere")}),
            Refused(OUTSIDE),
        ),
        case(
            "deep ../ file for TODOs",
            "list_todo_fixme",
            json!({"file_path": "../../../../../../../../etc/passwd"}),
            Refused(OUTSIDE),
        ),
        case(
            "../ file for undocumented functions",
            "list_undocumented_functions",
            json!({"file_path": format!("{root}/../elsewhere/secret.txt")}),
            Refused(OUTSIDE),
        ),
        case(
            "../ file for dependencies",
            "analyze_function_dependencies",
            json!({"file_path": "../elsewhere/secret.txt"}),
            Refused(OUTSIDE),
        ),
        case(
            "../ codebase for the dependency overview",
            "get_dependencies_overview",
            json!({"codebase_path": format!("{root}/..")}),
            Refused(OUTSIDE),
        ),
        case(
            "relative ../ root to index",
            "index_codebase",
            json!({"path": "../elsewhere"}),
            Refused(&["climbs out"]),
        ),
        case(
            "../ up to / to index",
            "index_codebase",
            json!({"path": format!("{root}/../../../../../../../../..")}),
            Refused(&["refusing to index /"]),
        ),
        case(
            "../ file for duplicates",
            "find_duplicate_code",
            json!({"path": "src/../../elsewhere/secret.txt"}),
            Refused(OUTSIDE),
        ),
        case(
            "../ codebase for improvements",
            "analyze_codebase_improvements",
            json!({"codebase_path": format!("{root}/../elsewhere")}),
            Refused(OUTSIDE),
        ),
        // Absolute paths outside every root.
        case(
            "/etc/passwd",
            "read_code_file",
            json!({"file_path": "/etc/passwd"}),
            Refused(OUTSIDE),
        ),
        case(
            "absolute file outside",
            "get_file_structure",
            json!({"file_path": secret}),
            Refused(OUTSIDE),
        ),
        case(
            "absolute codebase outside",
            "search_codebase",
            json!({"codebase_path": outside, "pattern": "SECRET"}),
            Refused(OUTSIDE),
        ),
        case(
            "/ as codebase",
            "count_lines_of_code",
            json!({"codebase_path": "/"}),
            Refused(OUTSIDE),
        ),
        // Links leading out of the root, and one that does not.
        case(
            "symlink to a file outside",
            "read_code_file",
            json!({"file_path": "link.txt"}),
            Refused(OUTSIDE),
        ),
        case(
            "symlinked directory outside",
            "read_code_file",
            json!({"file_path": "outdir/secret.txt"}),
            Refused(OUTSIDE),
        ),
        case(
            "symlinked directory as codebase",
            "search_codebase",
            json!({"codebase_path": format!("{root}/outdir"), "pattern": "SECRET"}),
            Refused(OUTSIDE),
        ),
        case(
            "symlink outline",
            "get_file_structure",
            json!({"file_path": format!("{root}/link.txt")}),
            Refused(OUTSIDE),
        ),
        case(
            "hard link into the root is served",
            "read_code_file",
            json!({"file_path": "src/shared.rs"}),
            Answers(hard_link_served),
        ),
        case(
            "hard link into the root is indexed",
            "search_codebase",
            json!({"pattern": "hard_linked_marker"}),
            Answers(hard_link_indexed),
        ),
        // NUL bytes.
        case(
            "NUL in file_path",
            "read_code_file",
            json!({"file_path": "src/main.rs\u{0}../../../etc/passwd"}),
            Refused(NUL),
        ),
        case(
            "NUL in codebase_path",
            "search_codebase",
            json!({"codebase_path": format!("{root}\u{0}/etc"), "pattern": "x"}),
            Refused(NUL),
        ),
        case(
            "NUL in a root to index",
            "index_codebase",
            json!({"path": format!("{root}\u{0}")}),
            Refused(NUL),
        ),
        case(
            "NUL in a pattern (a valid regex)",
            "search_codebase",
            json!({"pattern": "hello\u{0}world"}),
            Answers(no_matches),
        ),
        // Overlong paths and arguments.
        case(
            "path over PATH_MAX",
            "read_code_file",
            json!({"file_path": long_path}),
            Refused(TOO_LONG),
        ),
        case(
            "file name over NAME_MAX",
            "read_code_file",
            json!({"file_path": long_name}),
            Refused(TOO_LONG),
        ),
        case(
            "root over PATH_MAX",
            "index_codebase",
            json!({"path": format!("/{long_path}")}),
            Refused(TOO_LONG),
        ),
        case(
            "600 KiB pattern",
            "search_codebase",
            json!({"pattern": big, "fixed_strings": true}),
            Refused(TOO_LONG),
        ),
        case(
            "600 KiB symbol name",
            "find_symbol",
            json!({"name": big}),
            Refused(&["at most 256 bytes"]),
        ),
        case(
            "600 KiB cursor",
            "search_codebase",
            json!({"pattern": "x", "cursor": big}),
            Refused(&["not one this server issued"]),
        ),
        // Special files in the root.
        case(
            "symlink to /dev/zero",
            "read_code_file",
            json!({"file_path": "zero.txt"}),
            Refused(OUTSIDE),
        ),
        case(
            "FIFO",
            "read_code_file",
            json!({"file_path": "pipe.rs"}),
            Refused(&["named pipe"]),
        ),
        case(
            "FIFO outline",
            "get_file_structure",
            json!({"file_path": "pipe.rs"}),
            Refused(&["named pipe"]),
        ),
        case(
            "Unix socket",
            "read_code_file",
            json!({"file_path": "sock.py"}),
            Refused(&["a socket, not a regular file"]),
        ),
        // Roots nobody should index.
        case(
            "/ as a root",
            "index_codebase",
            json!({"path": "/"}),
            Refused(&["refusing to index /"]),
        ),
        case(
            "$HOME as a root",
            "index_codebase",
            json!({"path": fx.home.display().to_string()}),
            Refused(&["home directory"]),
        ),
        case(
            "/proc as a root",
            "index_codebase",
            json!({"path": "/proc"}),
            Refused(&["virtual filesystem"]),
        ),
        case(
            "/dev as a root",
            "index_codebase",
            json!({"path": "/dev"}),
            Refused(&["virtual filesystem"]),
        ),
        case(
            "the daemon's data directory as a root",
            "index_codebase",
            json!({"path": fx.data_dir.display().to_string()}),
            Refused(&["data directory"]),
        ),
        case(
            "a file as a root",
            "index_codebase",
            json!({"path": format!("{root}/src/main.rs")}),
            Refused(&["not a directory"]),
        ),
        // Regexes built to blow up compilation.
        case(
            "nested repetition",
            "search_codebase",
            json!({"pattern": "(a{1000}){1000}"}),
            Refused(BAD_REGEX),
        ),
        case(
            "huge Unicode class repetition",
            "search_codebase",
            json!({"pattern": "\\w{50000}"}),
            Refused(BAD_REGEX),
        ),
        case(
            "1000 nested groups",
            "search_codebase",
            json!({"pattern": deep_group}),
            Refused(BAD_REGEX),
        ),
        case(
            "repetition past u32",
            "search_codebase",
            json!({"pattern": "a{4294967296}"}),
            Refused(BAD_REGEX),
        ),
        case(
            "nested repetition in graph mode",
            "search_codebase",
            json!({"pattern": "(a{1000}){1000}", "search_mode": "graph"}),
            Refused(BAD_REGEX),
        ),
        // Wrong argument types and values.
        case(
            "number for a string",
            "index_codebase",
            json!({"path": 42}),
            Refused(INVALID),
        ),
        case(
            "array for a string",
            "search_codebase",
            json!({"pattern": ["x"]}),
            Refused(INVALID),
        ),
        case(
            "string for an array",
            "search_codebase",
            json!({"pattern": "x", "file_types": "rs"}),
            Refused(INVALID),
        ),
        case(
            "negative max_results",
            "search_codebase",
            json!({"pattern": "x", "max_results": -1}),
            Refused(&["must be 0"]),
        ),
        case(
            "text max_results",
            "search_codebase",
            json!({"pattern": "x", "max_results": "ten"}),
            Refused(INVALID),
        ),
        case(
            "negative line number",
            "read_code_file",
            json!({"file_path": "src/main.rs", "start_line": -5}),
            Refused(INVALID),
        ),
        case(
            "u32 overflow",
            "search_codebase",
            json!({"pattern": "x", "context_depth": 4_294_967_296u64}),
            Refused(INVALID),
        ),
        case(
            "object for a bool",
            "search_codebase",
            json!({"pattern": "x", "case_sensitive": {"a": 1}}),
            Refused(INVALID),
        ),
        case(
            "forged cursor",
            "search_codebase",
            json!({"pattern": "x", "cursor": "../../etc/passwd"}),
            Refused(&["not one this server issued"]),
        ),
        // Unknown tools.
        case(
            "unknown tool",
            "no_such_tool",
            json!({}),
            Protocol("unknown tool"),
        ),
        case(
            "path-like tool name",
            "../index_codebase",
            json!({"path": "/"}),
            Protocol("unknown tool"),
        ),
    ]
}

/// One raw line for the wire, and what the JSON-RPC answer must say.
struct Wire {
    what: &'static str,
    line: Vec<u8>,
    /// The error code, or `None` for a tool result with `isError: true`.
    code: Option<i64>,
    /// Text the error message must contain.
    message: &'static str,
}

fn call_line(id: u64, name: &str, arguments: &str) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{name}","arguments":{arguments}}}}}"#
    )
    .into_bytes()
}

/// Hostile bytes on the wire (malformed, oversized, deeply nested, unknown methods).
fn wire_catalogue() -> Vec<Wire> {
    let mut invalid_utf8 = call_line(101, "read_code_file", r#"{"file_path":"src/\xff\xfe.rs"}"#);
    // `format!` cannot hold raw bytes: patch them in.
    let at = invalid_utf8
        .windows(8)
        .position(|window| window == br"\xff\xfe")
        .expect("placeholder");
    invalid_utf8.splice(at..at + 8, [0xff, 0xfe]);
    let mut overlong_utf8 = call_line(102, "read_code_file", r#"{"file_path":"src/..XX..XXetc"}"#);
    let at = overlong_utf8
        .windows(2)
        .position(|window| window == b"XX")
        .expect("placeholder");
    // `/` encoded in two bytes (an overlong form), twice.
    overlong_utf8.splice(at..at + 2, [0xc0, 0xaf]);
    let at = overlong_utf8
        .windows(2)
        .position(|window| window == b"XX")
        .expect("placeholder");
    overlong_utf8.splice(at..at + 2, [0xc0, 0xaf]);
    let mut oversized = call_line(105, "search_codebase", r#"{"pattern":"PAD"}"#);
    let at = oversized
        .windows(3)
        .position(|window| window == b"PAD")
        .expect("placeholder");
    oversized.splice(at..at + 3, std::iter::repeat_n(b'a', MAX_MESSAGE + 1024));
    let nested_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let nested_arguments = call_line(
        107,
        "search_codebase",
        &format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000)),
    );
    vec![
        Wire { what: "invalid UTF-8 bytes in a string", line: invalid_utf8, code: Some(-32700), message: "not valid JSON" },
        Wire { what: "overlong UTF-8 encoding of /", line: overlong_utf8, code: Some(-32700), message: "not valid JSON" },
        Wire { what: "lone high surrogate", line: call_line(103, "read_code_file", r#"{"file_path":"src/\ud800.rs"}"#), code: Some(-32700), message: "hex escape" },
        Wire { what: "lone low surrogate in a pattern", line: call_line(104, "search_codebase", r#"{"pattern":"\udc00x"}"#), code: Some(-32700), message: "surrogate" },
        Wire { what: "message over the size limit", line: oversized, code: Some(-32600), message: "exceeds the 1048576-byte limit" },
        Wire { what: "100000 nested arrays", line: nested_array, code: Some(-32700), message: "recursion limit" },
        Wire { what: "100000 nested objects in arguments", line: nested_arguments, code: Some(-32700), message: "recursion limit" },
        Wire { what: "unknown method", line: br#"{"jsonrpc":"2.0","id":108,"method":"tools/destroy","params":{}}"#.to_vec(), code: Some(-32601), message: "" },
        Wire { what: "method of a capability not offered", line: br#"{"jsonrpc":"2.0","id":109,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}"#.to_vec(), code: Some(-32601), message: "" },
        Wire { what: "arguments as an array", line: call_line(110, "search_codebase", r#"["x"]"#), code: Some(-32602), message: "" },
        Wire { what: "arguments as a string", line: call_line(111, "read_code_file", r#""/etc/passwd""#), code: Some(-32602), message: "" },
        Wire { what: "tool name as a number", line: br#"{"jsonrpc":"2.0","id":112,"method":"tools/call","params":{"name":7,"arguments":{}}}"#.to_vec(), code: Some(-32602), message: "" },
        Wire { what: "tools/call without params", line: br#"{"jsonrpc":"2.0","id":113,"method":"tools/call"}"#.to_vec(), code: Some(-32602), message: "" },
        Wire { what: "negative max_results", line: call_line(114, "search_codebase", r#"{"pattern":"x","max_results":-3}"#), code: None, message: "must be 0" },
    ]
}

/// `codesage mcp` read line by line on a thread, so a missing answer is a timeout, not a hang.
struct WireShim {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Vec<u8>>,
}

impl WireShim {
    fn spawn(env: &TestEnv) -> WireShim {
        let mut child = env
            .command(&codesage_bin())
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn codesage mcp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if sender.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut shim = WireShim {
            child,
            stdin,
            lines,
        };
        shim.send(
            &serde_json::to_vec(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "security-wire", "version": "1"}}
            }))
            .expect("encode"),
        );
        shim.response(&json!(0)).expect("initialize answered");
        shim.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        shim
    }

    /// Writes `line` and a newline.
    fn send(&mut self, line: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line).expect("write to the shim");
        stdin.write_all(b"\n").expect("write to the shim");
        stdin.flush().expect("flush the shim");
    }

    /// The next answer with `id` (`null` for errors about unreadable messages), skipping
    /// notifications; an error if none comes in time.
    fn response(&mut self, id: &Value) -> Result<Value, String> {
        let deadline = Instant::now() + PROMPT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|err| format!("no answer with id {id} ({err})"))?;
            let message: Value = serde_json::from_slice(&line).map_err(|err| {
                format!(
                    "the shim wrote a line that is not JSON ({err}): {}",
                    String::from_utf8_lossy(&line)
                )
            })?;
            if message.get("method").is_none() && message.get("id") == Some(id) {
                return Ok(message);
            }
        }
    }
}

impl Drop for WireShim {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Watches a directory (and one file in it) for opens and reads with inotify: the proof that
/// nothing outside the root was read, whatever path led there.
struct OpenWatch {
    fd: std::os::fd::OwnedFd,
}

impl OpenWatch {
    fn new(paths: &[&Path]) -> OpenWatch {
        use std::os::fd::FromRawFd;
        // SAFETY: plain syscall; the result is checked before use.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        assert!(
            raw >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `raw` is a new descriptor nobody else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        for path in paths {
            let name = CString::new(path.as_os_str().as_bytes()).expect("no NUL in fixture");
            // SAFETY: a valid descriptor and a NUL-terminated path.
            let watch = unsafe {
                libc::inotify_add_watch(raw, name.as_ptr(), libc::IN_OPEN | libc::IN_ACCESS)
            };
            assert!(
                watch >= 0,
                "inotify_add_watch {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        OpenWatch { fd }
    }

    /// How many open/read events arrived since the watch started.
    fn events(&self) -> usize {
        use std::os::fd::AsRawFd;
        let mut buffer = vec![0u8; 64 * 1024];
        let mut count = 0;
        loop {
            // SAFETY: reading into a buffer we own, of the length we pass.
            let read = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                )
            };
            if read <= 0 {
                return count;
            }
            let mut offset = 0usize;
            let header = std::mem::size_of::<libc::inotify_event>();
            while offset + header <= read as usize {
                // SAFETY: the kernel wrote whole events; the header may be unaligned.
                let event: libc::inotify_event =
                    unsafe { std::ptr::read_unaligned(buffer[offset..].as_ptr().cast()) };
                count += 1;
                offset += header + event.len as usize;
            }
        }
    }
}

/// What must not change: the registered roots and the files indexed in each, from the
/// daemon's status over the control socket (no process per check).
fn index_state(env: &TestEnv) -> Vec<(String, u64)> {
    use codesage_shared::protocol::{Channel, ControlEvent, ControlRequest};
    let mut connection =
        codesage_shared::ipc::connect(&env.socket, Channel::Control).expect("control connection");
    let mut line = serde_json::to_vec(&ControlRequest::Status).expect("encode");
    line.push(b'\n');
    connection
        .stream
        .get_mut()
        .write_all(&line)
        .expect("send the status request");
    let mut reply = String::new();
    connection
        .stream
        .read_line(&mut reply)
        .expect("read the status");
    let status = match serde_json::from_str::<ControlEvent>(&reply) {
        Ok(ControlEvent::Status(report)) => serde_json::to_value(&report).expect("status JSON"),
        other => panic!("expected a status report, got {other:?}"),
    };
    status["roots"]
        .as_array()
        .map(|roots| {
            roots
                .iter()
                .map(|root| {
                    (
                        root["path"].as_str().unwrap_or_default().to_string(),
                        root["files"].as_u64().unwrap_or(u64::MAX),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Text in an answer that would mean something from outside the root was served.
fn leaked(text: &str) -> Option<&'static str> {
    [OUTSIDE_SECRET, "root:x:0:0"]
        .into_iter()
        .find(|marker| text.contains(marker))
}

/// Runs one catalogue entry; `Err` says how the answer differed from what it must be.
async fn run_case(client: &McpClient<WorkspaceClient>, case: &Case) -> Result<(), String> {
    let called = tokio::time::timeout(PROMPT, client.call(case.tool, case.arguments.clone()))
        .await
        .map_err(|_| format!("no answer within {PROMPT:?}"))?;
    let text = match (called, &case.expect) {
        (Err(err), Expect::Protocol(expected)) => {
            let text = format!("{err:#}");
            if !text.contains(expected) {
                return Err(format!("JSON-RPC error without {expected:?}: {text}"));
            }
            text
        }
        (Err(err), _) => return Err(format!("unexpected JSON-RPC error: {err:#}")),
        (Ok(result), Expect::Protocol(_)) => {
            return Err(format!(
                "expected a JSON-RPC error, got {}",
                text_of(&result)
            ));
        }
        (Ok(result), Expect::Refused(expected)) => {
            let text = text_of(&result);
            if result.is_error != Some(true) {
                return Err(format!("expected a tool error, got {text}"));
            }
            if !expected.iter().any(|needle| text.contains(needle)) {
                return Err(format!("the error says none of {expected:?}: {text}"));
            }
            if text.chars().count() > MAX_ERROR_CHARS {
                return Err(format!(
                    "the error is {} characters long, not a clear message: {}…",
                    text.chars().count(),
                    text.chars().take(300).collect::<String>()
                ));
            }
            text
        }
        (Ok(result), Expect::Answers(check)) => {
            let text = text_of(&result);
            if result.is_error == Some(true) {
                return Err(format!("expected an answer, got the error {text}"));
            }
            check(result.structured_content.as_ref().unwrap_or(&Value::Null))?;
            text
        }
    };
    match leaked(&text) {
        Some(marker) => Err(format!("the answer carries {marker:?}: {text}")),
        None => Ok(()),
    }
}

fn mkfifo(path: &Path) {
    let name = CString::new(path.as_os_str().as_bytes()).expect("no NUL in fixture");
    // SAFETY: a NUL-terminated path and a plain mode.
    let made = unsafe { libc::mkfifo(name.as_ptr(), 0o644) };
    assert_eq!(
        made,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// The project, a directory beside it holding a secret, and the links between them.
fn fixture(env: &TestEnv) -> Fixture {
    let root = env.workspace("project");
    sample_project(&root);
    let outside = env.workspace("elsewhere");
    write(
        &outside,
        "secret.txt",
        &format!("{OUTSIDE_SECRET}\nfn secret_fn() {{}}\n"),
    );
    let linked = env.workspace("linked");
    write(&linked, "shared.rs", "fn hard_linked_marker() {}\n");
    std::fs::hard_link(linked.join("shared.rs"), root.join("src/shared.rs")).expect("hard link");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("link.txt")).expect("symlink");
    std::os::unix::fs::symlink(&outside, root.join("outdir")).expect("dir symlink");
    std::os::unix::fs::symlink("/dev/zero", root.join("zero.txt")).expect("symlink to /dev/zero");
    mkfifo(&root.join("pipe.rs"));
    // The listener may go: the socket file stays, and that is what the root holds.
    drop(UnixListener::bind(root.join("sock.py")).expect("bind a socket in the root"));
    age_tree(&root);
    let home = env.workspace("home");
    write(&home, "notes.txt", "my notes\n");
    Fixture {
        root,
        outside,
        home,
        data_dir: env.data_dir.clone(),
    }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_inputs_get_clear_errors_and_change_nothing() {
    let env = TestEnv::new();
    let home = env.dir.path().join("home");
    let env = env.with_env("HOME", &home.display().to_string()).with_env(
        "CODESAGE_SERVER__MAX_MESSAGE_BYTES",
        &MAX_MESSAGE.to_string(),
    );
    let fx = fixture(&env);
    let client = env
        .mcp_with(WorkspaceClient {
            roots: vec![file_url(&fx.root)],
        })
        .await
        .expect("connect");
    let indexed = client
        .ok(
            "index_codebase",
            json!({"path": fx.root.display().to_string()}),
        )
        .await;
    // main.rs, util.rs, shared.rs (the hard link), service.py, test_service.py, README.md:
    // links, the FIFO and the socket are not indexed.
    assert_eq!(indexed["files"], 6, "{indexed}");
    let before = index_state(&env);
    assert_eq!(before, [(fx.root.display().to_string(), 6)]);
    // From here on, nothing may open anything in the directory beside the root.
    let watch = OpenWatch::new(&[&fx.outside, &fx.outside.join("secret.txt")]);

    let mut failures = Vec::new();
    let cases = tool_catalogue(&fx);
    let wires = wire_catalogue();
    let total = cases.len() + wires.len();
    for case in &cases {
        if let Err(problem) = run_case(&client, case).await {
            failures.push(format!("{} ({}): {problem}", case.what, case.tool));
        }
        let after = index_state(&env);
        if after != before {
            failures.push(format!(
                "{} ({}): the index changed to {after:?}",
                case.what, case.tool
            ));
        }
    }

    let mut shim = WireShim::spawn(&env);
    for wire in &wires {
        shim.send(&wire.line);
        let id = serde_json::from_slice::<Value>(&wire.line)
            .ok()
            .and_then(|message| message.get("id").cloned())
            .filter(|_| wire.code != Some(-32700) && wire.code != Some(-32600))
            .unwrap_or(Value::Null);
        let checked = shim.response(&id).and_then(|answer| {
            let message = match wire.code {
                Some(code) => {
                    if answer["error"]["code"] != code {
                        return Err(format!("expected error {code}: {answer}"));
                    }
                    answer["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                }
                None => {
                    if answer["result"]["isError"] != true {
                        return Err(format!("expected a tool error: {answer}"));
                    }
                    answer["result"]["content"][0]["text"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string()
                }
            };
            if !message.contains(wire.message) {
                return Err(format!("the message lacks {:?}: {message}", wire.message));
            }
            if message.chars().count() > MAX_ERROR_CHARS {
                return Err(format!(
                    "the message is {} characters long",
                    message.chars().count()
                ));
            }
            Ok(())
        });
        if let Err(problem) = checked {
            failures.push(format!("wire: {}: {problem}", wire.what));
        }
        // The session goes on after every one of them.
        shim.send(&call_line(900, "count_lines_of_code", "{}"));
        match shim.response(&json!(900)) {
            Ok(answer) if answer["result"]["isError"] == false => {}
            Ok(answer) => failures.push(format!("wire: after {}: {answer}", wire.what)),
            Err(problem) => failures.push(format!("wire: after {}: {problem}", wire.what)),
        }
    }
    drop(shim);

    assert!(
        failures.is_empty(),
        "{} of {total} catalogue entries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total >= 40, "the catalogue holds {total} entries");
    assert_eq!(
        index_state(&env),
        before,
        "no root registered, no file added or lost"
    );
    assert_eq!(
        watch.events(),
        0,
        "something opened or read the directory outside the root"
    );
    // The watch does see reads (so the zero above means something): this test reads it.
    let secret = std::fs::read_to_string(fx.outside.join("secret.txt")).expect("read");
    assert!(secret.contains(OUTSIDE_SECRET));
    assert!(watch.events() > 0, "inotify reports the test's own read");
    // The daemon still answers, and answers right.
    let found = client
        .ok("search_codebase", json!({"pattern": "fn add"}))
        .await;
    assert_eq!(found["results"][0]["file_path"], "src/util.rs", "{found}");
    assert!(env.ping());
    // Overlong arguments do not bloat the audit log.
    let audit = std::fs::read_to_string(env.data_dir.join("logs/audit.log")).unwrap_or_default();
    let longest = audit.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4096, "an audit line of {longest} bytes");
    assert!(
        audit.contains("index_codebase"),
        "index calls are audited: {audit}"
    );
    client.close().await;
}

/// Runs `codesaged` in the foreground where something was planted; it must refuse to start.
/// Returns its exit status and what it printed, or why it did not stop.
fn refused_start(env: &TestEnv) -> Result<(std::process::ExitStatus, String), String> {
    let mut child = env
        .command(&codesaged_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn codesaged");
    let deadline = Instant::now() + PROMPT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for codesaged") {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            return Ok((status, stderr));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("codesaged started instead of refusing".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The user id planted things belong to when the test can change owners (root only).
const OTHER_UID: u32 = 65534;

/// Something found at (or around) the socket path before the daemon starts.
struct Plant {
    what: &'static str,
    /// Puts it in place.
    plant: fn(&TestEnv),
    /// What the refusal must say.
    says: &'static str,
    /// Whether what was planted is still there, untouched.
    intact: fn(&TestEnv) -> bool,
}

fn socket_folder(env: &TestEnv) -> PathBuf {
    env.socket.parent().expect("socket folder").to_path_buf()
}

fn private_folder(env: &TestEnv) {
    let folder = socket_folder(env);
    std::fs::create_dir_all(&folder).expect("socket folder");
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700)).expect("chmod");
}

fn plants() -> Vec<Plant> {
    let mut plants = vec![
        Plant {
            what: "a regular file at the socket path",
            plant: |env| {
                private_folder(env);
                std::fs::write(&env.socket, "precious data\n").expect("plant a file");
            },
            says: "is a file, not a socket",
            intact: |env| {
                std::fs::read_to_string(&env.socket).is_ok_and(|text| text == "precious data\n")
            },
        },
        Plant {
            what: "a directory open to all (0777) at the socket path",
            plant: |env| {
                private_folder(env);
                std::fs::create_dir(&env.socket).expect("plant a directory");
                std::fs::write(env.socket.join("inside.txt"), "kept\n").expect("plant");
                std::fs::set_permissions(&env.socket, std::fs::Permissions::from_mode(0o777))
                    .expect("chmod");
            },
            says: "is a directory, not a socket",
            intact: |env| env.socket.join("inside.txt").is_file(),
        },
        Plant {
            what: "a symlink at the socket path",
            plant: |env| {
                private_folder(env);
                let target = env.dir.path().join("target.txt");
                std::fs::write(&target, "kept\n").expect("plant");
                std::os::unix::fs::symlink(&target, &env.socket).expect("plant a symlink");
            },
            says: "is a symbolic link, not a socket",
            intact: |env| {
                std::fs::symlink_metadata(&env.socket).is_ok_and(|meta| meta.is_symlink())
                    && std::fs::read_to_string(env.dir.path().join("target.txt"))
                        .is_ok_and(|text| text == "kept\n")
            },
        },
        Plant {
            what: "a socket folder everyone may write to (0777)",
            plant: |env| {
                let folder = socket_folder(env);
                std::fs::create_dir_all(&folder).expect("socket folder");
                std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777))
                    .expect("chmod");
            },
            says: "can be written by others",
            // Refused before anything is created in it: not even the lock file.
            intact: |env| {
                std::fs::read_dir(socket_folder(env))
                    .is_ok_and(|mut entries| entries.next().is_none())
            },
        },
    ];
    if running_as_root() {
        plants.push(Plant {
            what: "a listening socket of another user at the socket path",
            plant: |env| {
                private_folder(env);
                let listener = UnixListener::bind(&env.socket).expect("bind the planted socket");
                listener.set_nonblocking(true).expect("nonblocking");
                std::os::unix::fs::chown(&env.socket, Some(OTHER_UID), Some(OTHER_UID))
                    .expect("chown");
                // Kept open for the whole test: the impostor is listening.
                std::mem::forget(listener);
            },
            says: "belongs to user id 65534",
            intact: |env| {
                use std::os::unix::fs::{FileTypeExt, MetadataExt};
                std::fs::symlink_metadata(&env.socket)
                    .is_ok_and(|meta| meta.file_type().is_socket() && meta.uid() == OTHER_UID)
            },
        });
        plants.push(Plant {
            what: "a socket folder of another user",
            plant: |env| {
                let folder = socket_folder(env);
                std::fs::create_dir_all(&folder).expect("socket folder");
                std::os::unix::fs::chown(&folder, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");
            },
            says: "belongs to user id 65534",
            intact: |env| {
                std::fs::read_dir(socket_folder(env))
                    .is_ok_and(|mut entries| entries.next().is_none())
            },
        });
    }
    plants
}

#[test]
fn planted_socket_paths_are_refused_and_left_alone() {
    let mut failures = Vec::new();
    let plants = plants();
    for plant in &plants {
        let env = TestEnv::new();
        (plant.plant)(&env);
        match refused_start(&env) {
            Err(problem) => failures.push(format!("{}: {problem}", plant.what)),
            Ok((status, stderr)) => {
                if status.success() {
                    failures.push(format!("{}: exited successfully: {stderr}", plant.what));
                }
                if !stderr.contains(plant.says) {
                    failures.push(format!(
                        "{}: the refusal lacks {:?}: {stderr}",
                        plant.what, plant.says
                    ));
                }
                if !stderr.contains("--socket") {
                    failures.push(format!(
                        "{}: the refusal says no way out: {stderr}",
                        plant.what
                    ));
                }
            }
        }
        if !(plant.intact)(&env) {
            failures.push(format!("{}: was changed or removed", plant.what));
        }
        assert!(!env.ping(), "{}: nothing answers on the socket", plant.what);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The same daemon starts where nothing was planted (so the refusals above are about the
    // plants, not about this environment).
    let env = TestEnv::new();
    let _daemon = env.start_daemon();
    assert!(env.ping());
    eprintln!("{} planted socket paths refused", plants.len());
}

/// The daemon's hello reply to a control connection made to `socket`.
fn hello_reply(socket: &Path) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    // A refusing daemon may close as soon as it answered: its reason is still there to read.
    let _ = stream.write_all(b"CODESAGE/1 control\n");
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply)?;
    Ok(reply)
}

/// [`hello_reply`] from a thread running as another user: its effective uid changed with a
/// raw syscall, which (unlike libc's `seteuid`) changes this thread only, and its filesystem
/// uid set back to root so that it may reach the private socket at all. The daemon's peer
/// check sees the effective uid.
fn hello_reply_as(uid: u32, socket: PathBuf) -> Result<String, String> {
    std::thread::spawn(move || {
        const UNCHANGED: libc::c_long = -1;
        // SAFETY: credential syscalls on this thread only, with plain integer arguments.
        let switched = unsafe {
            libc::syscall(
                libc::SYS_setresuid,
                UNCHANGED,
                libc::c_long::from(uid),
                UNCHANGED,
            )
        };
        if switched != 0 {
            return Err(format!("setresuid: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: as above; the real uid is still 0, so this is allowed.
        unsafe { libc::syscall(libc::SYS_setfsuid, 0 as libc::c_long) };
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::syscall(libc::SYS_geteuid) };
        let reply = hello_reply(&socket).map_err(|err| format!("connect: {err}"));
        // SAFETY: back to root (allowed: the real and saved uids are 0).
        unsafe { libc::syscall(libc::SYS_setresuid, UNCHANGED, 0 as libc::c_long, UNCHANGED) };
        if euid != libc::c_long::from(uid) {
            return Err(format!("the thread runs as {euid}, not {uid}"));
        }
        reply
    })
    .join()
    .map_err(|_| "the thread panicked".to_string())?
}

#[test]
fn connections_from_another_user_are_refused() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    let _daemon = env.start_daemon();
    let folder_mode = std::fs::metadata(socket_folder(&env))
        .expect("folder")
        .mode()
        & 0o7777;
    assert_eq!(
        folder_mode, 0o700,
        "only its owner may enter the socket folder"
    );
    let socket_mode = std::fs::metadata(&env.socket).expect("socket").mode() & 0o777;
    assert_eq!(
        socket_mode, 0o600,
        "only its owner may connect to the socket"
    );
    let own = hello_reply(&env.socket).expect("connect as the daemon's user");
    assert!(own.starts_with("OK codesaged"), "{own}");
    if !running_as_root() {
        // Without root no process can act as another user here: the folder and socket modes
        // above are what keeps others out, and they are checked.
        eprintln!("not root: the peer-uid check itself cannot be exercised");
        return;
    }
    let other = hello_reply_as(OTHER_UID, env.socket.clone()).expect("connect as another user");
    assert!(
        other.starts_with("ERR") && other.contains("other users are refused"),
        "another user's connection: {other:?}"
    );
    // The refusal costs the daemon nothing: its own user is still served.
    let again = hello_reply(&env.socket).expect("connect again");
    assert!(again.starts_with("OK codesaged"), "{again}");
}

/// Secret values of the redaction fixture; none may appear in any answer unless configured.
const ENV_SECRETS: [&str; 4] = [
    "correct-horse-battery-staple-42",
    "sk-proj-Zq4Lw9Xc2Vb7Nm1Kj5Hg3Fd8Sa6Pt0Ry",
    "rk_live_51HabcdefLiveKey",
    "ghp_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8",
];

fn secrets_fixture(root: &Path) {
    write(
        root,
        ".env",
        &format!(
            "# database settings\nDB_PASSWORD={}\nOPENAI_API_KEY={}\nDEBUG=\n",
            ENV_SECRETS[0], ENV_SECRETS[1]
        ),
    );
    write(
        root,
        "deploy/.env.production",
        &format!("export STRIPE_SECRET=\"{}\"\n", ENV_SECRETS[2]),
    );
    write(
        root,
        "config.py",
        &format!(
            "GITHUB_TOKEN = \"{}\"\nGREETING = \"hello\"\n",
            ENV_SECRETS[3]
        ),
    );
    age_tree(root);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_in_env_files_are_withheld_unless_configured() {
    for serve in [false, true] {
        let env = TestEnv::new()
            .with_env("CODESAGE_INDEX__INCLUDE_HIDDEN", "true")
            .with_env(
                "CODESAGE_SECURITY__SERVE_SECRETS",
                if serve { "true" } else { "false" },
            );
        let root = env.workspace("project");
        secrets_fixture(&root);
        let client = env.mcp().await.expect("connect");
        let indexed = client
            .ok(
                "index_codebase",
                json!({"path": root.display().to_string()}),
            )
            .await;
        assert_eq!(indexed["files"], 3, "{indexed}");
        let config = client.ok("get_configuration", json!({})).await;
        assert_eq!(config["security"]["serve_secrets"], serve, "{config}");

        let env_file = client
            .ok("read_code_file", json!({"file_path": ".env"}))
            .await;
        let production = client
            .ok(
                "read_code_file",
                json!({"file_path": "deploy/.env.production"}),
            )
            .await;
        let source = client
            .ok("read_code_file", json!({"file_path": "config.py"}))
            .await;
        let by_key = client
            .ok(
                "search_codebase",
                json!({"pattern": "DB_PASSWORD|GITHUB_TOKEN"}),
            )
            .await;
        let by_value = client
            .ok(
                "search_codebase",
                json!({"pattern": "correct-horse|ghp_|rk_live"}),
            )
            .await;
        let context = client
            .ok(
                "search_codebase",
                json!({"pattern": "database settings", "context_depth": 2}),
            )
            .await;
        let references = client
            .ok("find_references", json!({"symbol": "DB_PASSWORD"}))
            .await;
        let answers = [
            &env_file,
            &production,
            &source,
            &by_key,
            &by_value,
            &context,
            &references,
        ];
        let everything: String = answers.iter().map(|answer| answer.to_string()).collect();

        if serve {
            for secret in ENV_SECRETS {
                assert!(
                    everything.contains(secret),
                    "{secret} is served when configured"
                );
            }
            assert_eq!(by_value["total_matches"], 3, "{by_value}");
            assert!(
                !everything.contains("«secret»"),
                "nothing withheld: {everything}"
            );
            assert!(!everything.contains("serve_secrets"), "no redaction note");
        } else {
            for secret in ENV_SECRETS {
                assert!(
                    !everything.contains(secret),
                    "{secret} leaked: {everything}"
                );
            }
            let content = env_file["content"].as_str().unwrap_or_default();
            assert!(content.contains("1 | # database settings"), "{content}");
            assert!(content.contains("2 | DB_PASSWORD=«secret»"), "{content}");
            assert!(content.contains("3 | OPENAI_API_KEY=«secret»"), "{content}");
            assert!(content.contains("4 | DEBUG="), "{content}");
            assert!(
                production["content"]
                    .as_str()
                    .is_some_and(|text| text.contains("export STRIPE_SECRET=«secret»")),
                "{production}"
            );
            assert!(
                source["content"].as_str().is_some_and(|text| {
                    text.contains("GITHUB_TOKEN = \"«secret»\"")
                        && text.contains("GREETING = \"hello\"")
                }),
                "only the key is withheld: {source}"
            );
            for (answer, lines) in [(&env_file, 2), (&production, 1), (&source, 1)] {
                let note = format!("{lines} line(s) are shown with «secret»");
                assert!(
                    answer["notes"].to_string().contains(&note),
                    "{note}: {answer}"
                );
            }
            // The lines are found by what is shown, and shown withheld.
            assert_eq!(by_key["total_matches"], 2, "{by_key}");
            assert_eq!(
                by_key["results"][0]["matches"][0]["line_content"],
                "DB_PASSWORD=«secret»"
            );
            assert!(
                by_key["notes"].to_string().contains("serve_secrets"),
                "{by_key}"
            );
            // Values match nothing: a pattern cannot tell a withheld value.
            assert_eq!(by_value["total_matches"], 0, "{by_value}");
            assert_eq!(
                context["results"][0]["matches"][0]["context_after"],
                json!(["DB_PASSWORD=«secret»", "OPENAI_API_KEY=«secret»"]),
                "{context}"
            );
            assert!(
                references.to_string().contains("DB_PASSWORD=«secret»"),
                "{references}"
            );
        }
        client.close().await;
    }
}
