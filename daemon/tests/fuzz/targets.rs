//! The fuzz targets. Each takes arbitrary bytes, hands them to the daemon's own code for
//! untrusted input, and panics on a panic, a hang or a broken invariant; nothing else counts
//! as a failure (refusing bad input with an error is the point). The same functions run
//! under proptest in the test suite (`tests/fuzz/main.rs`, with structure-aware generators
//! that produce these byte formats) and under libFuzzer in `daemon/fuzz/` (coverage-guided).
//!
//! Byte formats, so that generators, corpora and crash files mean the same thing everywhere:
//!
//! | target | input |
//! |---|---|
//! | `hello` | what a client writes on a fresh connection (hello line, then its channel) |
//! | `mcp` | what an MCP client writes after its hello (JSON-RPC lines) |
//! | `control` | what a control client writes after its hello (one request line) |
//! | `tool_call` | options byte, tool name, `\n`, JSON arguments (see [`tool_call`]) |
//! | `regex` | flags byte, pattern, `\0`, haystack (see [`regex`]) |
//! | `extract` | file name, `\n`, content |
//! | `symbols_decode` | mode byte, then a stored symbols value or its raw postcard |
//! | `segment_decode` | mode byte, then segment bytes or a list of documents |
//! | `vector_decode` | stored vectors (a scale and 4 components each) |
//! | `store_records` | mutations of the records of a real store (see [`store_records`]) |
//! | `backup` | mode byte, then a backup file or a store copy to wrap in one |
//! | `config` | a `config.toml` |
//!
//! Requests that would reach outside the fixture (`index_codebase` of a path outside the
//! scratch directory, a control `backup` to an arbitrary path, a control query's working
//! directory) are pointed back inside it before the daemon sees them; everything else is
//! passed through untouched.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use codesage_shared::config::LoadedConfig;
use codesage_shared::protocol::{
    Channel, ControlEvent, ControlRequest, MAX_HELLO_LEN, SearchParams, parse_event,
    parse_hello_reply,
};
use codesaged::indexer::language;
use codesaged::queries::{self, Caller, Encoded, Encoding, ProgressSink, QueryError, Request};
use codesaged::search::{Query, matcher, prefilter::LinePrefilter};
use codesaged::semantic::vectors::Quantized;
use codesaged::shutdown::{Signals, StopWaiters};
use codesaged::symbols::{self, FileSymbols, grammars, ids};
use codesaged::trigram::{Segment, TrigramQuery};
use regex_syntax::hir::{Class, Hir, HirKind};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::fixture::{self, MAX_MESSAGE_BYTES, bounded, fixture};

/// A target: a name and the function that takes its bytes.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name.
pub const TARGETS: &[Target] = &[
    ("hello", hello),
    ("mcp", mcp),
    ("control", control),
    ("tool_call", tool_call),
    ("regex", regex),
    ("extract", extract),
    ("symbols_decode", symbols_decode),
    ("segment_decode", segment_decode),
    ("vector_decode", vector_decode),
    ("store_records", store_records),
    ("backup", backup),
    ("config", config),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .map(|(_, run)| *run)
}

/// How often each outcome of each target happened (`"<target>: <outcome>"`), to see that
/// the inputs get past the first checks.
static OUTCOMES: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Counts one `outcome` (`"<target>: <what happened>"`).
pub fn note(outcome: &'static str) {
    if let Ok(mut outcomes) = OUTCOMES.lock() {
        *outcomes.entry(outcome).or_default() += 1;
    }
}

/// The outcomes of `target` so far.
pub fn outcomes(target: &str) -> Vec<(&'static str, u64)> {
    let prefix = format!("{target}: ");
    OUTCOMES
        .lock()
        .map(|outcomes| {
            outcomes
                .iter()
                .filter(|(outcome, _)| outcome.starts_with(&prefix))
                .map(|(outcome, count)| (*outcome, *count))
                .collect()
        })
        .unwrap_or_default()
}

/// Panics in the daemon's own code (`daemon/src`, `shared/src`) so far, and the last one.
/// The MCP handler turns a tool's panic into an error result, so a panic inside a tool call
/// never reaches a target: this is how the targets that go through it see one.
static DAEMON_PANICS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static LAST_DAEMON_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Whether a panic at `file` is in the daemon's own code.
pub fn in_daemon_code(file: &str) -> bool {
    file.contains("daemon/src/") || file.contains("shared/src/") || file.starts_with("src/")
}

/// Installs the panic hook that counts panics in the daemon's code (once per process),
/// keeping the previous hook's output.
pub fn watch_panics() {
    static WATCHING: std::sync::Once = std::sync::Once::new();
    WATCHING.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(location) = info.location()
                && in_daemon_code(location.file())
            {
                DAEMON_PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if let Ok(mut last) = LAST_DAEMON_PANIC.lock() {
                    *last = info.to_string();
                }
            }
            previous(info);
        }));
    });
}

/// Panics in the daemon's code so far.
fn daemon_panics() -> u64 {
    DAEMON_PANICS.load(std::sync::atomic::Ordering::SeqCst)
}

/// Fails if the daemon's code panicked since `before` (even where the panic was caught).
fn assert_no_daemon_panic(before: u64, what: &str) {
    if daemon_panics() != before {
        let last = LAST_DAEMON_PANIC
            .lock()
            .map(|last| last.clone())
            .unwrap_or_default();
        panic!("the daemon's code panicked during {what} (and the panic was caught): {last}");
    }
}

// ---------------------------------------------------------------------------------------
// Keeping requests inside the fixture

/// Paths a registration may be asked for although they are outside the scratch directory:
/// each is refused (the filesystem root, virtual filesystems) or does not exist.
const REFUSED_ROOTS: &[&str] = &[
    "/",
    "/proc",
    "/proc/self",
    "/sys",
    "/dev",
    "",
    " ",
    "nowhere",
    "a\0b",
    "~",
];

/// `path` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Points a registration (`index_codebase`, `reindex`) that would reach outside the scratch
/// directory at the fixture's second codebase; `base` resolves relative paths (`None`: they
/// are not allowed).
pub fn confine(name: &str, arguments: &mut Map<String, Value>, base: Option<&Path>) {
    if !matches!(name, "index_codebase" | "reindex") {
        return;
    }
    let fixture = fixture();
    for key in ["path", "codebase_path"] {
        let Some(Value::String(text)) = arguments.get(key) else {
            continue;
        };
        let path = Path::new(text.as_str());
        let resolved = if path.is_absolute() {
            Some(normalize(path))
        } else {
            base.map(|base| normalize(&base.join(path)))
        };
        let inside = resolved.is_some_and(|path| path.starts_with(&fixture.scratch));
        if !inside && !REFUSED_ROOTS.contains(&text.as_str()) {
            arguments.insert(
                key.into(),
                Value::String(fixture.other.display().to_string()),
            );
        }
    }
}

/// Confines every `tools/call` line of an MCP stream (see [`confine`]); other lines are kept
/// byte for byte.
fn confine_mcp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for (index, line) in data.split(|&byte| byte == b'\n').enumerate() {
        if index > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(&confine_mcp_line(line).unwrap_or_else(|| line.to_vec()));
    }
    out
}

fn confine_mcp_message(message: &mut Value) -> bool {
    match message {
        Value::Array(batch) => {
            let mut changed = false;
            for message in batch {
                changed |= confine_mcp_message(message);
            }
            changed
        }
        Value::Object(object) => {
            let Some(params) = object.get_mut("params").and_then(Value::as_object_mut) else {
                return false;
            };
            let Some(name) = params
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                return false;
            };
            let Some(arguments) = params.get_mut("arguments").and_then(Value::as_object_mut) else {
                return false;
            };
            let before = arguments.clone();
            confine(&name, arguments, None);
            *arguments != before
        }
        _ => false,
    }
}

fn confine_mcp_line(line: &[u8]) -> Option<Vec<u8>> {
    let mut message: Value = serde_json::from_slice(line).ok()?;
    confine_mcp_message(&mut message).then(|| serde_json::to_vec(&message).unwrap_or_default())
}

/// The control request line made safe: a backup goes to one scratch file (replaced each
/// time), a query runs in the workspace with confined arguments. `None` when the line is kept as it is.
fn confine_control_line(line: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line).ok()?;
    let request: ControlRequest = serde_json::from_str(text.trim()).ok()?;
    let fixture = fixture();
    let safe = match request {
        ControlRequest::Backup { .. } => ControlRequest::Backup {
            path: fixture.scratch.join("control.backup"),
        },
        ControlRequest::Query {
            name,
            mut arguments,
            words,
            bounded,
            ..
        } => {
            confine(&name, &mut arguments, Some(&fixture.workspace));
            ControlRequest::Query {
                name,
                arguments,
                cwd: Some(fixture.workspace.clone()),
                words,
                bounded,
            }
        }
        _ => return None,
    };
    let mut line = serde_json::to_vec(&safe).unwrap_or_default();
    line.push(b'\n');
    Some(line)
}

/// A control stream with its request line confined (the rest is never read).
fn confine_control(data: &[u8]) -> Vec<u8> {
    let end = memchr::memchr(b'\n', data).map_or(data.len(), |newline| newline + 1);
    match confine_control_line(&data[..end]) {
        Some(mut line) => {
            line.extend_from_slice(&data[end..]);
            line
        }
        None => data.to_vec(),
    }
}

// ---------------------------------------------------------------------------------------
// Connections

/// The hello line the daemon reads from `data`: up to the first newline within
/// [`MAX_HELLO_LEN`] bytes (newline removed), if it is UTF-8.
fn hello_line(data: &[u8]) -> Option<&str> {
    let head = &data[..data.len().min(MAX_HELLO_LEN)];
    let line = match memchr::memchr(b'\n', head) {
        Some(newline) => &head[..newline],
        None => head,
    };
    std::str::from_utf8(line).ok()
}

/// Output lines, each checked to be complete (newline-terminated) UTF-8.
fn output_lines(output: &[u8], what: &str) -> Vec<String> {
    if output.is_empty() {
        return Vec::new();
    }
    assert!(
        output.ends_with(b"\n"),
        "{what}: output does not end with a newline: {:?}",
        String::from_utf8_lossy(&output[output.len().saturating_sub(200)..])
    );
    output[..output.len() - 1]
        .split(|&byte| byte == b'\n')
        .map(|line| {
            String::from_utf8(line.to_vec())
                .unwrap_or_else(|_| panic!("{what}: an output line is not UTF-8: {line:?}"))
        })
        .collect()
}

/// A whole connection: the hello line, then the MCP or control channel, through the
/// daemon's connection handler on a real local socket.
///
/// Checks: the reply is `OK codesaged <version>` exactly when the hello is valid and `ERR
/// <reason>` (one line, then the connection closes) otherwise; nothing at all for an empty
/// connection; after `OK`, the channel's own output rules ([`check_mcp_output`],
/// [`check_control_output`]).
pub fn hello(data: &[u8]) {
    let fixture = fixture();
    let channel = hello_line(data).and_then(|line| Channel::parse_hello(line).ok());
    let data = match channel {
        Some(Channel::Control) => {
            let end = memchr::memchr(b'\n', data).map_or(data.len(), |newline| newline + 1);
            let mut safe = data[..end].to_vec();
            safe.extend_from_slice(&confine_control(&data[end..]));
            safe
        }
        Some(Channel::Mcp) => confine_mcp(data),
        None => data.to_vec(),
    };
    let panics = daemon_panics();
    let output = fixture.runtime.block_on(async {
        use interprocess::local_socket::traits::tokio::Listener as _;
        // The client side as a plain Unix socket: its shutdown half-closes the connection,
        // as the shim does when its input ends.
        let (accepted, connected) = tokio::join!(
            fixture.listener.accept(),
            tokio::net::UnixStream::connect(&fixture.socket)
        );
        let server_side = accepted.expect("accept");
        let client_side = connected.expect("connect");
        let signals = Signals {
            shutdown: CancellationToken::new(),
            stop: CancellationToken::new(),
            stop_waiters: StopWaiters::default(),
        };
        let handler = tokio::spawn(codesaged::connection::handle(
            Arc::clone(&fixture.engine),
            server_side,
            signals,
        ));
        let (mut reader, mut writer) = tokio::io::split(client_side);
        let write = async {
            let _ = writer.write_all(&data).await;
            let _ = writer.shutdown().await;
        };
        let read = async {
            let mut output = Vec::new();
            let _ = reader.read_to_end(&mut output).await;
            output
        };
        let ((), output) = bounded(60, "a connection", async { tokio::join!(write, read) }).await;
        bounded(60, "the connection handler", handler)
            .await
            .expect("the connection handler panicked");
        output
    });
    assert_no_daemon_panic(panics, "a connection");
    if data.is_empty() {
        assert!(
            output.is_empty(),
            "an empty connection got a reply: {:?}",
            String::from_utf8_lossy(&output)
        );
        note("hello: silent");
        return;
    }
    let lines = output_lines(&output, "hello");
    let first = lines.first().expect("a hello reply");
    // What the client side makes of the reply.
    let reply = parse_hello_reply(first);
    match channel {
        Some(channel) => {
            note(match channel {
                Channel::Mcp => "hello: accepted, mcp",
                Channel::Control => "hello: accepted, control",
            });
            assert!(
                reply.is_ok(),
                "a valid hello {:?} was refused: {first}",
                hello_line(&data)
            );
            let rest = &output[first.len() + 1..];
            let end = memchr::memchr(b'\n', &data).map_or(data.len(), |newline| newline + 1);
            match channel {
                Channel::Mcp => check_mcp_output(&data[end..], rest),
                Channel::Control => check_control_output(&data[end..], rest),
            }
        }
        None => {
            note("hello: refused");
            assert!(
                first.starts_with("ERR "),
                "an invalid hello was accepted: {first}"
            );
            assert_eq!(
                lines.len(),
                1,
                "more than the refusal after an invalid hello"
            );
            assert!(first.len() < 1024, "refusal of {} bytes", first.len());
        }
    }
}

/// One MCP session on an in-memory stream through the framing layer and rmcp, with the
/// fixture engine answering tool calls.
pub fn mcp(data: &[u8]) {
    let fixture = fixture();
    let data = confine_mcp(data);
    let panics = daemon_panics();
    let output = fixture.runtime.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (server_reader, server_writer) = tokio::io::split(server);
        let session = tokio::spawn(codesaged::mcp::serve(
            Arc::clone(&fixture.engine),
            BufReader::new(server_reader),
            server_writer,
            CancellationToken::new(),
        ));
        let (mut reader, mut writer) = tokio::io::split(client);
        let write = async {
            let _ = writer.write_all(&data).await;
            let _ = writer.shutdown().await;
        };
        let read = async {
            let mut output = Vec::new();
            let _ = reader.read_to_end(&mut output).await;
            output
        };
        let ((), output) = bounded(90, "an MCP session", async { tokio::join!(write, read) }).await;
        bounded(30, "the end of an MCP session", session)
            .await
            .expect("the MCP session panicked");
        output
    });
    assert_no_daemon_panic(panics, "an MCP session");
    check_mcp_output(&data, &output);
}

/// What the framing layer must do with one input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Not JSON at all: answered with `-32700`.
    Malformed,
    /// JSON by the grammar but not a value (invalid UTF-8 in a string, a lone surrogate
    /// escape, nesting past serde's limit): answered with `-32700`, or passed to rmcp.
    Doubtful,
    /// Over the message limit: answered with `-32600`.
    Oversized,
    /// A JSON value: passed to rmcp.
    Forwarded,
}

/// How the framing layer treats each line of `input` (blank lines are skipped).
fn framing(input: &[u8]) -> Vec<Framing> {
    let mut lines: Vec<&[u8]> = input.split(|&byte| byte == b'\n').collect();
    if input.ends_with(b"\n") || input.is_empty() {
        lines.pop();
    }
    lines
        .into_iter()
        .filter_map(|line| {
            if line.len() > MAX_MESSAGE_BYTES {
                return Some(Framing::Oversized);
            }
            let message = line.trim_ascii();
            if message.is_empty() {
                None
            } else if serde_json::from_slice::<serde::de::IgnoredAny>(message).is_err() {
                Some(Framing::Malformed)
            } else if serde_json::from_slice::<Value>(message).is_err() {
                Some(Framing::Doubtful)
            } else {
                Some(Framing::Forwarded)
            }
        })
        .collect()
}

/// Checks an MCP session's output against its input: every line is a JSON-RPC 2.0 object;
/// the framing layer's own errors (`-32700` for malformed lines, `-32600` for oversized
/// ones) answer the input's malformed and oversized lines in order, one each, until rmcp
/// ends the session (all of them when nothing reached rmcp), and nothing else.
fn check_mcp_output(input: &[u8], output: &[u8]) {
    let mut framing_errors = Vec::new();
    for line in output_lines(output, "MCP") {
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|err| panic!("MCP output line is not JSON ({err}): {line}"));
        assert_eq!(
            message.get("jsonrpc"),
            Some(&Value::String("2.0".into())),
            "MCP output line is not JSON-RPC 2.0: {line}"
        );
        if message.pointer("/result/structuredContent").is_some() {
            note("mcp: tool answers");
        } else if message.pointer("/result/isError") == Some(&Value::Bool(true)) {
            note("mcp: tool errors");
        } else if message.pointer("/result/tools").is_some() {
            note("mcp: tool lists");
        }
        let error_message = message
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        let code = message.pointer("/error/code").and_then(Value::as_i64);
        if error_message.starts_with("Parse error: the message is not valid JSON") {
            assert_eq!(code, Some(codesaged::mcp::PARSE_ERROR), "{line}");
            note("mcp: parse errors");
            framing_errors.push(Framing::Malformed);
        } else if error_message.starts_with("Invalid Request: message of ") {
            assert_eq!(code, Some(codesaged::mcp::INVALID_REQUEST), "{line}");
            note("mcp: oversized");
            framing_errors.push(Framing::Oversized);
        }
    }
    let lines = framing(input);
    let reached_rmcp = lines
        .iter()
        .any(|kind| matches!(kind, Framing::Forwarded | Framing::Doubtful));
    let mut errors = framing_errors.iter().copied().peekable();
    for kind in lines {
        match (kind, errors.peek().copied()) {
            (Framing::Forwarded, _) => {}
            (Framing::Doubtful, Some(Framing::Malformed)) => {
                errors.next();
            }
            (Framing::Doubtful, _) => {}
            (expected, Some(found)) if expected == found => {
                errors.next();
            }
            (expected, None) => {
                assert!(
                    reached_rmcp,
                    "no framing error for a {expected:?} line, and nothing reached rmcp \
                     (framing errors: {framing_errors:?})"
                );
                break;
            }
            (expected, Some(found)) => panic!(
                "a {expected:?} line was answered as {found:?} (framing errors: \
                 {framing_errors:?})"
            ),
        }
    }
    assert!(
        errors.next().is_none(),
        "framing errors {framing_errors:?} for lines {:?}",
        framing(input)
    );
}

/// One control request through the daemon's control handler (on an in-memory stream).
///
/// Checks: the output is events, exactly the last one final (see [`check_control_output`]).
pub fn control(data: &[u8]) {
    let data = confine_control(data);
    let fixture = fixture();
    let output = fixture.runtime.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (_, server_writer) = tokio::io::split(server);
        let waiters = StopWaiters::default();
        let served = codesaged::control::serve(
            Arc::clone(&fixture.engine),
            BufReader::new(data.as_slice()),
            server_writer,
            CancellationToken::new(),
            waiters.clone(),
            "fuzz".into(),
        );
        let (mut reader, _writer) = tokio::io::split(client);
        let read = async {
            let mut output = Vec::new();
            let _ = reader.read_to_end(&mut output).await;
            output
        };
        let serve_then_release = async {
            let _ = served.await;
            // A stop request leaves the connection with the waiters; let it go.
            drop(waiters);
        };
        let ((), output) = bounded(90, "a control request", async {
            tokio::join!(serve_then_release, read)
        })
        .await;
        output
    });
    check_control_output(&data, &output);
}

/// Every output line of a control exchange is an event; exactly the last one is final; an
/// empty request line gets nothing.
fn check_control_output(input: &[u8], output: &[u8]) {
    let lines = output_lines(output, "control");
    if input.is_empty() {
        assert!(lines.is_empty(), "a silent control client got {lines:?}");
        return;
    }
    assert!(!lines.is_empty(), "a control request got no answer");
    for (index, line) in lines.iter().enumerate() {
        let event =
            parse_event(line).unwrap_or_else(|err| panic!("not a control event ({err}): {line}"));
        let last = index + 1 == lines.len();
        if last {
            note(match &event {
                ControlEvent::Answer { .. } => "control: answer",
                ControlEvent::Error { .. } => "control: error",
                ControlEvent::Stopping => "control: stopping",
                _ => "control: report",
            });
        }
        assert_eq!(
            event.is_final(),
            last,
            "event {index} of {}: {line}",
            lines.len()
        );
        if let ControlEvent::Answer { answer } = &event {
            let value: Value = serde_json::from_str(&answer.0)
                .unwrap_or_else(|err| panic!("an answer that is not JSON ({err})"));
            assert!(value.is_object(), "an answer that is not an object");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tool calls

/// Options of a [`tool_call`] (its first byte).
#[derive(Debug, Clone, Copy)]
pub struct CallOptions(pub u8);

impl CallOptions {
    /// 0: an MCP client with the workspace as its root; 1: a remote client allowed the
    /// workspace; 2: the command line in the workspace; 3: an MCP client without roots.
    fn caller(self) -> Caller {
        let workspace = fixture().workspace.clone();
        match self.0 & 3 {
            0 => Caller::mcp(vec![workspace]),
            1 => Caller::remote(Arc::from(vec![workspace])),
            2 => fixture::cli_caller(&workspace),
            _ => Caller::mcp(Vec::new()),
        }
    }

    fn base(self) -> Option<PathBuf> {
        match self.0 & 3 {
            3 => None,
            _ => Some(fixture().workspace.clone()),
        }
    }

    fn encoding(self) -> Encoding {
        if self.0 & 4 == 0 {
            Encoding::Value
        } else {
            Encoding::Text
        }
    }

    fn progress(self) -> bool {
        self.0 & 8 != 0
    }

    fn cancelled(self) -> bool {
        self.0 & 16 != 0
    }
}

/// The bytes of a [`tool_call`] input.
pub fn tool_call_input(options: u8, name: &str, arguments: &Value) -> Vec<u8> {
    let mut data = vec![options];
    data.extend_from_slice(name.as_bytes());
    data.push(b'\n');
    data.extend_from_slice(&serde_json::to_vec(arguments).unwrap_or_default());
    data
}

async fn call(
    options: CallOptions,
    name: &str,
    arguments: Map<String, Value>,
) -> Option<Result<Encoded, QueryError>> {
    let fixture = fixture();
    let cancel = CancellationToken::new();
    if options.cancelled() {
        cancel.cancel();
    }
    let request = Request {
        encoding: options.encoding(),
        engine: Arc::clone(&fixture.engine),
        caller: options.caller(),
        progress: options.progress().then(|| ProgressSink::new(|_| {})),
        cancel,
        sampler: None,
    };
    bounded(90, name, queries::dispatch(name, arguments, request)).await
}

fn answer_text(encoded: &Encoded) -> String {
    match encoded {
        Encoded::Text(text) => text.clone(),
        Encoded::Value(value) => serde_json::to_string(value).unwrap_or_default(),
    }
}

/// A query by name with JSON arguments, as both front ends run it (`queries::dispatch`).
///
/// Input: an options byte ([`CallOptions`]: caller, encoding, progress, cancelled before it
/// starts), the query name, `\n`, the JSON arguments (not an object: the input is skipped;
/// the MCP target covers malformed messages). Checks: a known name is dispatched; an answer
/// is a JSON object; a bounded caller's answer fits its token budget; no internal error;
/// an answer's `cursor` is accepted by the same call (unless the index moved meanwhile)
/// and a damaged one is refused or served, never a panic.
pub fn tool_call(data: &[u8]) {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let options = CallOptions(options);
    let newline = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let name = String::from_utf8_lossy(&rest[..newline]).into_owned();
    let Ok(Value::Object(mut arguments)) =
        serde_json::from_slice::<Value>(rest.get(newline + 1..).unwrap_or_default())
    else {
        return;
    };
    confine(&name, &mut arguments, options.base().as_deref());
    let fixture = fixture();
    fixture.runtime.block_on(async {
        let result = call(options, &name, arguments.clone()).await;
        let known = queries::NAMES.contains(&name.as_str());
        let Some(result) = result else {
            assert!(!known, "{name} is a query but was not dispatched");
            note("tool_call: unknown query");
            return;
        };
        assert!(known, "{name} is not a query but was dispatched");
        let encoded = match result {
            Ok(encoded) => encoded,
            Err(QueryError::Internal { detail, .. }) => {
                panic!("{name} failed internally: {detail}")
            }
            Err(err) => {
                assert!(!err.to_string().trim().is_empty(), "an empty error");
                note("tool_call: refused");
                if std::env::var_os("FUZZ_TRACE").is_some() {
                    eprintln!(
                        "{name}: {}",
                        err.to_string().chars().take(160).collect::<String>()
                    );
                }
                return;
            }
        };
        note("tool_call: answered");
        let text = answer_text(&encoded);
        let answer: Value = serde_json::from_str(&text).expect("the answer is JSON");
        assert!(answer.is_object(), "{name}: the answer is not an object");
        let caller = options.caller();
        if caller.bounded {
            let server = &fixture.engine.config().server;
            let budget =
                if arguments.contains_key("max_tokens") || arguments.contains_key("max_results") {
                    server.answer_tokens_limit
                } else {
                    server.answer_tokens
                };
            let tokens = codesaged::queries::page::estimate_tokens(text.as_bytes());
            assert!(
                tokens <= budget,
                "{name}: an answer of {tokens} tokens exceeds the budget of {budget}"
            );
        }
        let Some(cursor) = answer.get("cursor").and_then(Value::as_str) else {
            return;
        };
        let mut next = arguments.clone();
        next.insert("cursor".into(), Value::String(cursor.to_string()));
        match call(options, &name, next.clone()).await {
            Some(Ok(_)) => note("tool_call: next page"),
            // The moved index, and a next page whose first result alone exceeds the token
            // budget, are refused with what to do; anything else is a broken cursor.
            Some(Err(QueryError::Failed(message)))
                if message.contains("index changed") || message.contains("too small") => {}
            Some(Err(QueryError::Cancelled)) if options.cancelled() => {}
            other => panic!("{name}: its own cursor {cursor:?} was refused: {other:?}"),
        }
        // A damaged cursor: every one-character change of it.
        let seed = data
            .iter()
            .fold(0usize, |hash, &byte| hash.wrapping_mul(31) + byte as usize);
        let mut damaged: Vec<char> = cursor.chars().collect();
        if !damaged.is_empty() {
            let at = seed % damaged.len();
            damaged[at] = ['.', '-', '9', 'f', 'z', '\u{e9}', ' '][seed % 7];
        }
        next.insert(
            "cursor".into(),
            Value::String(damaged.into_iter().collect()),
        );
        if let Some(Err(QueryError::Internal { detail, .. })) = call(options, &name, next).await {
            panic!("{name}: a damaged cursor failed internally: {detail}");
        }
    });
}

// ---------------------------------------------------------------------------------------
// Regex → trigram query

/// Whether a document with these (sorted) trigrams satisfies `query`.
fn satisfies(query: &TrigramQuery, trigrams: &[u32]) -> bool {
    match query {
        TrigramQuery::All => true,
        TrigramQuery::None => false,
        TrigramQuery::Trigram(trigram) => trigrams.binary_search(trigram).is_ok(),
        TrigramQuery::And(parts) => parts.iter().all(|part| satisfies(part, trigrams)),
        TrigramQuery::Or(parts) => parts.iter().any(|part| satisfies(part, trigrams)),
    }
}

fn query_size(query: &TrigramQuery) -> usize {
    match query {
        TrigramQuery::And(parts) | TrigramQuery::Or(parts) => {
            1 + parts.iter().map(query_size).sum::<usize>()
        }
        _ => 1,
    }
}

/// Longest string [`sample`] builds.
const MAX_SAMPLE: usize = 2048;

/// Appends a string `hir` may match (look-arounds are ignored, so it may not), choosing with
/// `rng`.
pub fn sample(hir: &Hir, rng: &mut fastrand::Rng, out: &mut Vec<u8>) {
    if out.len() > MAX_SAMPLE {
        return;
    }
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => {}
        HirKind::Literal(literal) => out.extend_from_slice(&literal.0),
        HirKind::Class(Class::Unicode(class)) => {
            let ranges = class.ranges();
            if ranges.is_empty() {
                return;
            }
            let range = ranges[rng.usize(..ranges.len())];
            let (start, end) = (range.start() as u32, range.end() as u32);
            let code = match rng.u8(..4) {
                0 => start,
                1 => end,
                _ => rng.u32(start..=end),
            };
            let character = char::from_u32(code).unwrap_or(range.start());
            let mut buffer = [0u8; 4];
            out.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
        }
        HirKind::Class(Class::Bytes(class)) => {
            let ranges = class.ranges();
            if ranges.is_empty() {
                return;
            }
            let range = ranges[rng.usize(..ranges.len())];
            out.push(rng.u8(range.start()..=range.end()));
        }
        HirKind::Repetition(repetition) => {
            let most = repetition
                .max
                .unwrap_or(repetition.min.saturating_add(3))
                .min(repetition.min.saturating_add(3));
            let times = rng.u32(repetition.min.min(most)..=most);
            for _ in 0..times {
                if out.len() > MAX_SAMPLE {
                    return;
                }
                sample(&repetition.sub, rng, out);
            }
        }
        HirKind::Capture(capture) => sample(&capture.sub, rng, out),
        HirKind::Concat(parts) => {
            for part in parts {
                sample(part, rng, out);
            }
        }
        HirKind::Alternation(parts) => sample(&parts[rng.usize(..parts.len())], rng, out),
    }
}

/// The regex input: flags (bit 0 case-insensitive, bit 1 fixed string), pattern, `\0`,
/// haystack.
pub fn regex_input(flags: u8, pattern: &str, haystack: &[u8]) -> Vec<u8> {
    let mut data = vec![flags];
    data.extend_from_slice(pattern.as_bytes());
    data.push(0);
    data.extend_from_slice(haystack);
    data
}

/// A search pattern compiled as `search_codebase` compiles it, and its trigram query.
///
/// Checks: compiling never panics; the trigram query stays small; every document in which
/// the real line matcher finds a match satisfies the query (the exactness invariant) —
/// documents are the haystack, strings sampled from the pattern itself (so that matches
/// actually happen, for any syntax and with case folding), and both combined; where the
/// inner-literal line prefilter applies, it finds exactly the matcher's lines.
pub fn regex(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let zero = memchr::memchr(0, rest).unwrap_or(rest.len());
    let pattern = String::from_utf8_lossy(&rest[..zero]).into_owned();
    let haystack = rest.get(zero + 1..).unwrap_or_default();
    let case_insensitive = flags & 1 != 0;
    let fixed_strings = flags & 2 != 0;
    let params = SearchParams {
        pattern: pattern.clone(),
        case_sensitive: !case_insensitive,
        fixed_strings,
        ..SearchParams::default()
    };
    let config = fixture::config(Path::new("/nonexistent"));
    let Ok(query) = Query::compile(&params, None, &config.search) else {
        note("regex: refused");
        return;
    };
    note("regex: compiled");
    let effective = if fixed_strings {
        ::regex::escape(&pattern)
    } else {
        pattern.clone()
    };
    let trigram_query =
        TrigramQuery::from_regex(&effective, case_insensitive).unwrap_or(TrigramQuery::All);
    let size = query_size(&trigram_query);
    assert!(
        size <= 1 << 16,
        "a trigram query of {size} nodes for {pattern:?}"
    );

    let mut documents: Vec<Vec<u8>> = vec![haystack.to_vec()];
    if let Ok(hir) = regex_syntax::ParserBuilder::new()
        .multi_line(true)
        .case_insensitive(case_insensitive)
        .build()
        .parse(&effective)
    {
        let seed = blake3::hash(data);
        let mut rng = fastrand::Rng::with_seed(u64::from_le_bytes(
            seed.as_bytes()[..8].try_into().expect("8 bytes"),
        ));
        let mut combined = haystack.to_vec();
        for _ in 0..4 {
            let mut sampled = Vec::new();
            sample(&hir, &mut rng, &mut sampled);
            let at = if combined.is_empty() {
                0
            } else {
                rng.usize(..=combined.len())
            };
            combined.splice(at..at, sampled.iter().copied());
            documents.push(sampled);
        }
        documents.push(combined);
    }
    let prefilter = LinePrefilter::new(&effective, case_insensitive);
    for document in &documents {
        let mut lines = Vec::new();
        matcher::for_each_matching_line(query.regex(), document, |line| {
            lines.push(line.number);
            true
        });
        if !lines.is_empty() {
            note("regex: documents matched");
            let trigrams = codesaged::trigram::trigrams(document);
            assert!(
                satisfies(&trigram_query, &trigrams),
                "pattern {pattern:?} (case-insensitive: {case_insensitive}, fixed: \
                 {fixed_strings}) matches {:?} but its trigram query {trigram_query:?} \
                 rejects it",
                String::from_utf8_lossy(document)
            );
        }
        if let Some(prefilter) = &prefilter {
            note("regex: documents prefiltered");
            let mut filtered = Vec::new();
            prefilter.for_each_matching_line(query.regex(), document, |line| {
                filtered.push(line.number);
                true
            });
            assert_eq!(
                filtered, lines,
                "the line prefilter of {pattern:?} disagrees with the matcher"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parsing source

/// The extract input: a file name, `\n`, the content.
pub fn extract_input(name: &str, content: &[u8]) -> Vec<u8> {
    let mut data = name.as_bytes().to_vec();
    data.push(b'\n');
    data.extend_from_slice(content);
    data
}

/// Lines of `content` as the symbol extractor numbers them (1-based; the last may be empty).
fn line_count(content: &[u8]) -> u32 {
    memchr::memchr_iter(b'\n', content).count() as u32 + 1
}

/// Uses a file's structure the way the daemon's readers do (in-memory definitions and symbol
/// ids, health facts, semantic chunks, lookups by position), checking nothing but that none
/// of them panics on it: decoded data is not trusted to be well formed.
fn consume(
    symbols: &FileSymbols,
    content: &[u8],
    language: &'static language::Language,
    path: &str,
) {
    let lines = line_count(content);
    if let Some(definitions) = symbols.definitions() {
        let names = ids::definition_names(&definitions);
        assert_eq!(names.len(), definitions.len());
        for index in 0..definitions.len().min(64) {
            let _ = ids::definition_id(path, &definitions, index);
        }
        for line in [0, 1, lines / 2, lines, lines + 1, u32::MAX] {
            let _ = ids::enclosing(path, &definitions, line);
        }
    }
    let qualified = ids::qualified_names(symbols);
    let assigned = ids::assign(path, &qualified);
    assert_eq!(assigned.len(), symbols.symbols.len());
    for id in assigned.iter().take(16) {
        let _ = ids::SymbolId::parse(id);
    }
    for index in 0..symbols.symbols.len().min(256) {
        let _ = symbols.container_path(index);
        let _ = symbols.calls_of(index).count();
    }
    for line in [0, 1, lines / 2, lines, lines + 1, u32::MAX] {
        let _ = symbols.fingerprints.line(line);
        let _ = symbols.import_at(line);
        let _ = symbols.definition_at(line, 0);
        let _ = symbols.call_at(line, 0);
    }
    let facts = codesaged::health::FileFacts::of(symbols.clone(), language.name);
    for function in &facts.functions {
        let _ = function.lines();
    }
    let _ = codesaged::chunks::split(content, language, Some(symbols));
}

/// Structural facts every extracted file must have: lines in range and ordered, parents
/// before their children and holding them, callers that are symbols.
fn check_extracted(symbols: &FileSymbols, content: &[u8], name: &str) {
    let lines = line_count(content);
    for (index, symbol) in symbols.symbols.iter().enumerate() {
        assert!(
            1 <= symbol.start_line
                && symbol.start_line <= symbol.end_line
                && symbol.end_line <= lines,
            "{name}: symbol {index} {:?} spans lines {}-{} of {lines}",
            symbol.name,
            symbol.start_line,
            symbol.end_line
        );
        if let Some(parent) = symbol.parent {
            assert!(
                (parent as usize) < index,
                "{name}: symbol {index} {:?} has parent {parent}",
                symbol.name
            );
            let holder = &symbols.symbols[parent as usize];
            assert!(
                holder.start_line <= symbol.start_line && symbol.end_line <= holder.end_line,
                "{name}: symbol {index} {:?} ({}-{}) is outside its parent {:?} ({}-{})",
                symbol.name,
                symbol.start_line,
                symbol.end_line,
                holder.name,
                holder.start_line,
                holder.end_line
            );
        }
    }
    for call in &symbols.calls {
        assert!(
            call.caller
                .is_none_or(|caller| (caller as usize) < symbols.symbols.len()),
            "{name}: call {:?} has caller {:?}",
            call.name,
            call.caller
        );
        assert!(
            1 <= call.line && call.line <= lines,
            "{name}: call on line {}",
            call.line
        );
    }
    for import in &symbols.imports {
        assert!(
            1 <= import.start_line
                && import.start_line <= import.end_line
                && import.end_line <= lines,
            "{name}: import {:?} spans {}-{}",
            import.module,
            import.start_line,
            import.end_line
        );
    }
    for todo in &symbols.todos {
        assert!(
            1 <= todo.line && todo.line <= lines,
            "{name}: TODO on line {}",
            todo.line
        );
    }
}

/// The symbol extractor, and everything that runs on its tree or its result, on any content
/// under any file name (the name picks the language as indexing does: name, extension,
/// shebang).
///
/// Checks: a language with a grammar always gives a structure; that structure is well formed
/// ([`check_extracted`]); it survives its storage encoding unchanged; the clone fingerprints
/// computed again from a second parse are the same; and its readers ([`consume`]), line
/// counting and manifest reading do not panic.
pub fn extract(data: &[u8]) {
    let newline = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let name = String::from_utf8_lossy(&data[..newline]).into_owned();
    let content = data.get(newline + 1..).unwrap_or_default();
    let language = language::detect(&name, &content[..content.len().min(1024)]);
    let _ = codesaged::indexer::lines::count(content, language);
    let file_name = name.rsplit('/').next().unwrap_or(&name);
    if symbols::deps::Manifests::is_manifest(file_name) {
        let mut manifests = symbols::deps::Manifests::default();
        manifests.add(&name, &String::from_utf8_lossy(content));
        let _ = manifests.declares("serde");
    }
    let Some(extracted) = symbols::extract(language.name, content) else {
        note("extract: no grammar");
        assert!(
            !grammars::has_grammar(language.name),
            "{name}: {} has a grammar but gave no structure",
            language.name
        );
        return;
    };
    note(if extracted.has_errors {
        "extract: parsed with errors"
    } else {
        "extract: parsed"
    });
    if !extracted.symbols.is_empty() {
        note("extract: with symbols");
    }
    check_extracted(&extracted, content, &name);
    assert_eq!(
        FileSymbols::decode(&extracted.encode()).as_ref(),
        Some(&extracted),
        "{name}: the structure does not survive its encoding"
    );
    let tree = symbols::parse(language.name, content).expect("a grammar parses");
    let tokens = codesaged::health::fingerprint::tokens(tree.root_node(), content, |_| {});
    assert_eq!(
        codesaged::health::fingerprint::fingerprints(&tokens),
        extracted.fingerprints,
        "{name}: fingerprints differ between two parses"
    );
    let mut cursor = tree.walk();
    let mut measured = 0;
    'walk: loop {
        let node = cursor.node();
        if measured < 200 && node.is_named() && node.kind().contains("function") {
            measured += 1;
            let _ = symbols::metrics::parameter_count(node, content);
            let _ = symbols::metrics::nesting_depth(node);
        }
        if cursor.goto_first_child() || cursor.goto_next_sibling() {
            continue;
        }
        loop {
            if !cursor.goto_parent() {
                break 'walk;
            }
            if cursor.goto_next_sibling() {
                break;
            }
        }
    }
    consume(&extracted, content, language, &name);
}

// ---------------------------------------------------------------------------------------
// Decoding stored records

/// A stored symbols value: mode byte 0 means the rest is the raw postcard inside (compressed
/// here, as a damaged value that still decompresses), anything else the stored bytes
/// themselves. Checks: decoding returns a structure or nothing, and a decoded structure —
/// whatever its indexes and lines say — is safe for every reader ([`consume`]).
pub fn symbols_decode(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let stored = if mode == 0 {
        zstd::bulk::compress(rest, 1).expect("compress")
    } else {
        rest.to_vec()
    };
    // Reading past the calls accepts and gives the same as reading them, less the calls.
    let without_calls = FileSymbols::decode_without_calls(&stored);
    let Some(decoded) = FileSymbols::decode(&stored) else {
        assert_eq!(without_calls, None);
        note("symbols_decode: refused");
        return;
    };
    note("symbols_decode: decoded");
    assert_eq!(
        without_calls,
        Some(FileSymbols {
            calls: Vec::new(),
            ..decoded.clone()
        })
    );
    let fixture = fixture();
    let (path, content) = &fixture.files[usize::from(mode) % fixture.files.len()];
    let language = language::detect(path, content);
    consume(&decoded, content, language, path);
    assert_eq!(
        FileSymbols::decode(&decoded.encode()).as_ref(),
        Some(&decoded)
    );
}

/// Documents and their sorted, distinct trigrams read from `bytes`: per document a 2-byte
/// id and a count byte, then that many 3-byte trigrams.
fn documents_from(bytes: &[u8]) -> Vec<(u32, Vec<u32>)> {
    let mut documents: Vec<(u32, Vec<u32>)> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut at = 0;
    while at + 3 <= bytes.len() {
        let id = u32::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]));
        let count = usize::from(bytes[at + 2] % 16);
        at += 3;
        let mut trigrams = BTreeSet::new();
        for _ in 0..count {
            if at + 3 > bytes.len() {
                break;
            }
            trigrams.insert(codesaged::trigram::extract::pack(
                bytes[at],
                bytes[at + 1],
                bytes[at + 2],
            ));
            at += 3;
        }
        if seen.insert(id) {
            documents.push((id, trigrams.into_iter().collect()));
        }
    }
    documents
}

/// Trigram segments. Mode byte 0: the rest is a segment's bytes (as stored, decompressed);
/// anything else: the rest is a list of documents ([`documents_from`]) to build a segment
/// from. Checks: a decoded segment of any bytes answers lookups and merges without panicking
/// or allocating what its counts claim; a built segment decodes to exactly its documents'
/// postings, and a merge keeps exactly the live ones.
pub fn segment_decode(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        let Ok(segment) = Segment::from_bytes(rest.to_vec()) else {
            note("segment_decode: refused");
            return;
        };
        note("segment_decode: decoded");
        let mut probes: Vec<u32> = rest
            .chunks(3)
            .take(64)
            .map(|chunk| {
                let byte = |index: usize| chunk.get(index).copied().unwrap_or(0);
                codesaged::trigram::extract::pack(byte(0), byte(1), byte(2))
            })
            .collect();
        // The trigrams the table says it holds.
        for index in 0..segment.trigram_count().min(64) {
            let at = 24 + index * 12;
            if let Some(bytes) = rest.get(at..at + 4) {
                probes.push(u32::from_le_bytes(bytes.try_into().expect("4 bytes")));
            }
        }
        let mut postings = Vec::new();
        for trigram in probes {
            let _ = segment.count(trigram);
            postings.clear();
            segment.postings_into(trigram, &mut postings);
        }
        let merged = Segment::merge(&[&segment, &segment], &|doc| doc % 3 != 0);
        Segment::from_bytes(merged.bytes().to_vec()).expect("a merged segment decodes");
        return;
    }
    let documents = documents_from(rest);
    note("segment_decode: built");
    let built = Segment::build(&documents);
    let decoded = Segment::from_bytes(built.bytes().to_vec()).expect("a built segment decodes");
    let live = |doc: u32| doc.is_multiple_of(2);
    let merged = Segment::merge(&[&decoded], &live);
    let mut expected: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for (doc, trigrams) in &documents {
        for trigram in trigrams {
            expected.entry(*trigram).or_default().push(*doc);
        }
    }
    assert_eq!(decoded.trigram_count(), expected.len());
    assert_eq!(decoded.docs() as usize, documents.len());
    let mut postings = Vec::new();
    for (trigram, docs) in &mut expected {
        docs.sort_unstable();
        postings.clear();
        decoded.postings_into(*trigram, &mut postings);
        assert_eq!(&postings, docs, "postings of trigram {trigram:#x}");
        assert_eq!(decoded.count(*trigram) as usize, docs.len());
        postings.clear();
        merged.postings_into(*trigram, &mut postings);
        let live_docs: Vec<u32> = docs.iter().copied().filter(|doc| live(*doc)).collect();
        assert_eq!(
            postings, live_docs,
            "merged postings of trigram {trigram:#x}"
        );
    }
}

/// Stored vectors. Checks: decoding at any dimension gives a vector of that dimension whose
/// encoding is the input, or nothing; vectors decoded from 8-byte pieces of the input (4
/// components each) go through a root's vector set — exact search, an HNSW base built over
/// them, search through the base — without panicking, whatever their scales.
pub fn vector_decode(data: &[u8]) {
    for dimension in [0, 4, 384, data.len().saturating_sub(4)] {
        if let Some(vector) = Quantized::decode(data, dimension) {
            assert_eq!(vector.values.len(), dimension);
            assert_eq!(vector.encode(), data);
            let _ = vector.similarity(&vector);
        }
    }
    let vectors: Vec<Arc<Quantized>> = data
        .chunks_exact(8)
        .take(256)
        .filter_map(|piece| Quantized::decode(piece, 4).map(Arc::new))
        .collect();
    let Some(query) = vectors.first().cloned() else {
        return;
    };
    note("vector_decode: searched");
    let mut set = codesaged::semantic::vectors::VectorSet::default();
    for (slot, vector) in vectors.iter().enumerate() {
        set.insert(slot as u32, Arc::clone(vector));
    }
    let _ = set.search(&query, 5, |_| true);
    if vectors.len() >= 2 {
        let built = codesaged::semantic::vectors::build_base(set.snapshot());
        set.install_base(built);
        let _ = set.search(&query, 5, |slot| slot % 2 == 0);
        set.remove(0);
        let _ = set.search(&query, 3, |_| true);
    }
}

// ---------------------------------------------------------------------------------------
// The store

mod tables {
    //! The store's tables as the store declares them (`store/schema.rs`), to corrupt them.
    use redb::TableDefinition;

    pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
    pub const ROOTS: TableDefinition<u32, &[u8]> = TableDefinition::new("roots");
    pub const FILES: TableDefinition<(u32, &str), &[u8]> = TableDefinition::new("files");
    pub const BLOBS: TableDefinition<(u32, u32), &[u8]> = TableDefinition::new("contents");
    pub const BLOB_REFS: TableDefinition<&[u8], u32> = TableDefinition::new("blob_refs");
    pub const SEGMENTS: TableDefinition<(u32, u64, u32), &[u8]> = TableDefinition::new("segments");
    pub const COUNTERS: TableDefinition<(u32, &str), u64> = TableDefinition::new("counters");
    pub const SYMBOLS: TableDefinition<(u32, u32), &[u8]> = TableDefinition::new("content_symbols");
    pub const CONTENT_IDS: TableDefinition<&[u8], u32> = TableDefinition::new("content_ids");
    pub const VECTORS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("vectors");
    pub const LLM_CACHE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("llm_cache");
}

/// Names of the tables [`store_records`] damages, by selector.
pub const STORE_TABLES: &[&str] = &[
    "meta",
    "roots",
    "files",
    "contents",
    "blob_refs",
    "segments",
    "counters",
    "content_symbols",
    "vectors",
    "llm_cache",
    "content_ids",
];

/// One damage to one record: `table` and `entry` select it (modulo the counts), `mode` says
/// what happens to its value, `payload` with what.
#[derive(Debug, Clone)]
pub struct Damage {
    /// Index into [`STORE_TABLES`] (modulo).
    pub table: u8,
    /// Which entry of the table (modulo its length).
    pub entry: u8,
    /// 0 replace, 1 xor at an offset, 2 truncate, 3 append, 4 delete, 5 xor inside the zstd
    /// frame, 6 truncate inside the zstd frame, 7 set one byte, 8 set one field of the decoded
    /// record (file, root, symbols, LLM reply) and encode it again ([`damaged_field`]).
    pub mode: u8,
    /// The bytes used.
    pub payload: Vec<u8>,
}

/// The store_records input: an options byte (bit 0: also serve queries from the damaged
/// store), then per damage `table entry mode length payload`.
pub fn store_input(options: u8, damages: &[Damage]) -> Vec<u8> {
    let mut data = vec![options];
    for damage in damages {
        let payload = &damage.payload[..damage.payload.len().min(255)];
        data.extend_from_slice(&[damage.table, damage.entry, damage.mode, payload.len() as u8]);
        data.extend_from_slice(payload);
    }
    data
}

fn parse_damages(mut data: &[u8]) -> Vec<Damage> {
    let mut damages = Vec::new();
    while let [table, entry, mode, length, rest @ ..] = data {
        let length = usize::from(*length).min(rest.len());
        damages.push(Damage {
            table: *table,
            entry: *entry,
            mode: *mode,
            payload: rest[..length].to_vec(),
        });
        data = &rest[length..];
    }
    damages
}

/// A number from up to 8 payload bytes.
fn number(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    for (slot, byte) in array.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    u64::from_le_bytes(array)
}

/// Text chosen by a payload byte: empty, odd, long, or naming paths outside every root.
fn odd_text(selector: u8) -> String {
    match selector % 8 {
        0 => String::new(),
        1 => "/".into(),
        2 => "relative/path".into(),
        3 => "Nonexistent".into(),
        4 => "x".repeat(100_000),
        5 => "日本\u{0}\u{202e}".into(),
        6 => "C++".into(),
        _ => "Rust".into(),
    }
}

/// A record of `table` decoded, one field set from `payload`, encoded again: well-formed
/// bytes saying something wrong (a document id near 2^32, a parent that is not a symbol, a
/// root path of `/`). `None` when the value does not decode as its table's record.
fn damaged_field(table: &str, value: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
    use codesaged::store::{CachedReply, FileRecord, LineCounts, RootRecord, SkipReason};
    let field = payload.first().copied().unwrap_or(0);
    let rest = payload.get(1..).unwrap_or_default();
    let n = number(rest);
    match table {
        "files" => {
            let mut record: FileRecord = postcard::from_bytes(value).ok()?;
            match field % 8 {
                0 => record.size = n,
                1 => record.mtime_ns = n as i64,
                2 => record.hash = *blake3::hash(rest).as_bytes(),
                3 => record.language = odd_text(rest.first().copied().unwrap_or(0)),
                4 => {
                    record.lines = LineCounts {
                        total: n as u32,
                        code: (n >> 32) as u32,
                        comment: u32::MAX,
                        blank: 0,
                    }
                }
                5 => {
                    record.skipped = match n % 3 {
                        0 => None,
                        1 => Some(SkipReason::Binary),
                        _ => Some(SkipReason::TooLarge),
                    }
                }
                6 => record.indexed_ns = n as i64,
                _ => record.doc_id = (!n.is_multiple_of(5)).then_some(n as u32),
            }
            postcard::to_stdvec(&record).ok()
        }
        "roots" => {
            let mut record: RootRecord = postcard::from_bytes(value).ok()?;
            match field % 3 {
                0 => record.path = odd_text(rest.first().copied().unwrap_or(0)),
                1 => record.added_ms = n,
                _ => record.last_indexed_ms = n,
            }
            postcard::to_stdvec(&record).ok()
        }
        "llm_cache" => {
            let mut reply: CachedReply = postcard::from_bytes(value).ok()?;
            match field % 4 {
                0 => reply.created_ms = n,
                1 => reply.text = odd_text(rest.first().copied().unwrap_or(0)),
                2 => reply.tokens_in = n,
                _ => reply.provider = odd_text(rest.first().copied().unwrap_or(0)),
            }
            postcard::to_stdvec(&reply).ok()
        }
        "content_symbols" => {
            let mut symbols = FileSymbols::decode(value)?;
            let pick = |len: usize| (len > 0).then(|| usize::from(field / 8) % len);
            let value32 = n as u32;
            match field % 8 {
                0 | 1 => {
                    if let Some(at) = pick(symbols.symbols.len()) {
                        symbols.symbols[at].parent = (field % 8 == 0).then_some(value32);
                    }
                }
                2 => {
                    if let Some(at) = pick(symbols.symbols.len()) {
                        symbols.symbols[at].start_line = value32;
                    }
                }
                3 => {
                    if let Some(at) = pick(symbols.symbols.len()) {
                        symbols.symbols[at].end_line = value32;
                    }
                }
                4 => {
                    if let Some(at) = pick(symbols.calls.len()) {
                        symbols.calls[at].caller = Some(value32);
                    }
                }
                5 => {
                    if let Some(at) = pick(symbols.symbols.len()) {
                        symbols.symbols[at].branches = value32;
                        symbols.symbols[at].nesting = value32;
                    }
                }
                6 => {
                    if let Some(at) = pick(symbols.symbols.len()) {
                        symbols.symbols[at].name = odd_text(rest.first().copied().unwrap_or(0));
                    }
                }
                _ => {
                    if let Some(at) = pick(symbols.fingerprints.prints.len()) {
                        symbols.fingerprints.prints[at].start_line = value32;
                        symbols.fingerprints.prints[at].token = value32;
                    }
                }
            }
            Some(symbols.encode())
        }
        _ => None,
    }
}

/// `value` of `table` damaged as `mode` and `payload` say; `None` deletes it.
fn damaged(table: &str, value: &[u8], mode: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let first = usize::from(payload.first().copied().unwrap_or(0));
    let xor_at = |value: &mut Vec<u8>| {
        if value.is_empty() {
            return;
        }
        let start = first * value.len() / 256;
        for (offset, byte) in payload.iter().skip(1).enumerate() {
            let len = value.len();
            value[(start + offset) % len] ^= byte;
        }
    };
    let inside = |change: &dyn Fn(&mut Vec<u8>)| -> Option<Vec<u8>> {
        let mut raw = zstd::stream::decode_all(value).ok()?;
        change(&mut raw);
        zstd::bulk::compress(&raw, 1).ok()
    };
    if mode % 9 == 8
        && let Some(changed) = damaged_field(table, value, payload)
    {
        return Some(changed);
    }
    let mut value = value.to_vec();
    match mode % 9 {
        0 => value = payload.to_vec(),
        1 => xor_at(&mut value),
        2 => value.truncate(first * value.len() / 256),
        3 => value.extend_from_slice(payload),
        4 => return None,
        5 => {
            if let Some(changed) = inside(&|raw| xor_at(raw)) {
                value = changed;
            } else {
                xor_at(&mut value);
            }
        }
        6 => {
            if let Some(changed) = inside(&|raw| raw.truncate(first * raw.len() / 256)) {
                value = changed;
            }
        }
        _ => {
            if !value.is_empty() {
                let len = value.len();
                value[first * len / 256] = payload.get(1).copied().unwrap_or(0xff);
            }
        }
    }
    Some(value)
}

/// Damages entry `entry` of a table with byte-string values.
fn damage_bytes<K: redb::Key + 'static>(
    txn: &redb::WriteTransaction,
    definition: redb::TableDefinition<K, &'static [u8]>,
    damage: &Damage,
) -> Result<(), redb::Error> {
    use redb::{ReadableTable, ReadableTableMetadata, TableHandle};
    let mut table = txn.open_table(definition)?;
    let count = table.len()?;
    if count == 0 {
        return Ok(());
    }
    let index = usize::from(damage.entry) % count as usize;
    let (key, value) = {
        let (key, value) = table.iter()?.nth(index).expect("an entry")?;
        (
            K::as_bytes(&key.value()).as_ref().to_vec(),
            value.value().to_vec(),
        )
    };
    match damaged(definition.name(), &value, damage.mode, &damage.payload) {
        Some(value) => {
            table.insert(K::from_bytes(&key), value.as_slice())?;
        }
        None => {
            table.remove(K::from_bytes(&key))?;
        }
    }
    Ok(())
}

/// Damages entry `entry` of a table with integer values (set to the payload, or deleted).
fn damage_number<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::WriteTransaction,
    definition: redb::TableDefinition<K, V>,
    damage: &Damage,
    number: impl Fn(u64) -> V::SelfType<'static>,
) -> Result<(), redb::Error> {
    use redb::{ReadableTable, ReadableTableMetadata};
    let mut table = txn.open_table(definition)?;
    let count = table.len()?;
    if count == 0 {
        return Ok(());
    }
    let index = usize::from(damage.entry) % count as usize;
    let key = {
        let (key, _) = table.iter()?.nth(index).expect("an entry")?;
        K::as_bytes(&key.value()).as_ref().to_vec()
    };
    if damage.mode % 9 == 4 {
        table.remove(K::from_bytes(&key))?;
    } else {
        let mut bytes = [0u8; 8];
        for (slot, byte) in bytes.iter_mut().zip(&damage.payload) {
            *slot = *byte;
        }
        table.insert(K::from_bytes(&key), number(u64::from_le_bytes(bytes)))?;
    }
    Ok(())
}

fn apply_damage(database: &redb::Database, damage: &Damage) -> Result<(), redb::Error> {
    let txn = database.begin_write()?;
    match damage.table as usize % STORE_TABLES.len() {
        0 => damage_bytes(&txn, tables::META, damage)?,
        1 => damage_bytes(&txn, tables::ROOTS, damage)?,
        2 => damage_bytes(&txn, tables::FILES, damage)?,
        3 => damage_bytes(&txn, tables::BLOBS, damage)?,
        4 => damage_number(&txn, tables::BLOB_REFS, damage, |n| n as u32)?,
        5 => damage_bytes(&txn, tables::SEGMENTS, damage)?,
        6 => damage_number(&txn, tables::COUNTERS, damage, |n| n)?,
        7 => damage_bytes(&txn, tables::SYMBOLS, damage)?,
        8 => damage_bytes(&txn, tables::VECTORS, damage)?,
        9 => damage_bytes(&txn, tables::LLM_CACHE, damage)?,
        _ => damage_number(&txn, tables::CONTENT_IDS, damage, |n| n as u32)?,
    }
    txn.commit()?;
    Ok(())
}

/// Reads everything a daemon reads from `store`: roots, every file record, contents and
/// symbols, views (segments and definitions are decoded when the store opens), segment
/// merges, vectors, LLM replies, `codesage check`, the space figures.
fn read_everything(store: &codesaged::store::Store) {
    if let Ok(roots) = store.roots() {
        for root in roots.iter().take(4) {
            if let Ok(files) = store.files(root.id)
                && let Ok(snapshot) = store.snapshot()
            {
                for (_, record) in files.iter().take(64) {
                    let _ = snapshot.symbols(&record.hash);
                    let _ = snapshot.content(&record.hash);
                    let _ = snapshot.symbols_len(&record.hash);
                }
                if let Ok(view) = store.view(root.id) {
                    for (_, record) in files.iter().take(16) {
                        let _ = view.content(&record.hash);
                    }
                }
            }
            let _ = store.merge_once();
        }
    }
    let keys = [
        codesaged::store::vector_key(7, &[1; 16]),
        codesaged::store::vector_key(7, &[2; 16]),
    ];
    if let Ok(vectors) = store.vectors(&keys) {
        for vector in vectors.into_iter().flatten() {
            let _ = Quantized::decode(&vector, 4);
        }
    }
    let _ = store.llm_reply(&[9; 32]);
    let _ = store.llm_reply_count();
    let _ = store.vector_count();
    let _ = store.check();
    let _ = store.space();
    write_something(store);
}

/// Writes to `store` as an indexing run does, on top of whatever it holds: a new file
/// (a new document id from the root's counter, a new segment), a removed one, a merge.
fn write_something(store: &codesaged::store::Store) {
    use codesaged::store::{FileChange, FileRecord, LineCounts};
    let Ok(roots) = store.roots() else {
        return;
    };
    for root in roots.iter().take(2) {
        let content = b"fn written_by_the_fuzzer() {}\n";
        let mut changes = vec![FileChange::Upsert {
            path: "src/written_by_the_fuzzer.rs".into(),
            record: FileRecord {
                size: content.len() as u64,
                mtime_ns: 1,
                hash: *blake3::hash(content).as_bytes(),
                language: "Rust".into(),
                lines: LineCounts::default(),
                skipped: None,
                indexed_ns: 1,
                doc_id: None,
            },
            blob: zstd::bulk::compress(content, 1).ok(),
            raw: None,
            trigrams: Some(codesaged::trigram::trigrams(content)),
            symbols: symbols::extract("Rust", content)
                .map(|parsed| codesaged::store::ParsedSymbols::new(&parsed)),
        }];
        if let Ok(files) = store.files(root.id)
            && let Some((path, _)) = files.first()
        {
            changes.push(FileChange::Remove { path: path.clone() });
        }
        let _ = store.apply(root.id, changes);
        let _ = store.merge_once();
        let _ = store.view(root.id);
    }
}

/// Questions asked of an engine over a damaged store: every tool that reads stored records
/// (structure, search, health, semantic, the LLM tools' offline answers).
fn damaged_store_questions(workspace: &Path) -> Vec<(&'static str, Value)> {
    let file = |name: &str| workspace.join("src").join(name).display().to_string();
    let root = workspace.display().to_string();
    vec![
        (
            "search_codebase",
            serde_json::json!({ "pattern": "fn |def |class " }),
        ),
        (
            "get_file_structure",
            serde_json::json!({ "file_path": file("ledger.rs") }),
        ),
        (
            "get_file_structure",
            serde_json::json!({ "file_path": file("inventory.py") }),
        ),
        ("find_symbol", serde_json::json!({ "name": "add" })),
        ("find_references", serde_json::json!({ "symbol": "Ledger" })),
        ("list_undocumented_functions", serde_json::json!({})),
        ("list_todo_fixme", serde_json::json!({})),
        ("find_duplicate_code", serde_json::json!({})),
        ("analyze_codebase_improvements", serde_json::json!({})),
        (
            "analyze_function_dependencies",
            serde_json::json!({ "file_path": file("server.go") }),
        ),
        ("get_dependencies_overview", serde_json::json!({})),
        (
            "count_lines_of_code",
            serde_json::json!({ "codebase_path": root }),
        ),
        (
            "semantic_search_codebase",
            serde_json::json!({ "query": "add an item to the ledger" }),
        ),
        (
            "read_code_file",
            serde_json::json!({ "file_path": file("cart.rb") }),
        ),
        (
            "summarize_code_section",
            serde_json::json!({ "file_path": file("geometry.cpp") }),
        ),
        ("get_cache_statistics", serde_json::json!({})),
    ]
}

/// The store's decoding of every record type from damaged bytes: a copy of a real store
/// (every table filled by indexing the workspace) has records damaged ([`Damage`]), then is
/// opened and read the way the daemon reads it ([`read_everything`]), and with option bit 0
/// served by an engine that answers every reading tool from it.
///
/// Checks: no panic, no hang; opening either fails with an error or gives a store whose
/// reads return values or errors.
pub fn store_records(data: &[u8]) {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let damages = parse_damages(rest);
    let fixture = fixture();
    let dir = fixture.case_dir();
    let file = dir.join(codesage_shared::paths::STORE_FILE_NAME);
    std::fs::copy(&fixture.store_template, &file).expect("copy the template store");
    {
        let database = redb::Database::open(&file).expect("open the copy");
        for damage in &damages {
            apply_damage(&database, damage).expect("damage a record");
        }
    }
    let config = fixture::config(&fixture.scratch);
    match fixture::open_store(&dir, &config) {
        Ok(store) => {
            note("store_records: opened");
            read_everything(&store);
            if options & 1 != 0 {
                note("store_records: served");
                serve_damaged(store, &dir);
            }
        }
        Err(err) => {
            note("store_records: refused");
            assert!(!err.to_string().is_empty());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn serve_damaged(store: codesaged::store::Store, dir: &Path) {
    let fixture = fixture();
    let config = fixture::config(&fixture.scratch);
    let Ok(engine) = codesaged::engine::Engine::new(
        config,
        store,
        dir.join("unused.sock"),
        CancellationToken::new(),
    ) else {
        return;
    };
    fixture.runtime.block_on(async {
        for (name, arguments) in damaged_store_questions(&fixture.workspace) {
            let request = fixture::request(
                &engine,
                Caller::mcp(vec![fixture.workspace.clone()]),
                Encoding::Value,
            );
            let _ = bounded(
                90,
                name,
                queries::dispatch(name, fixture::object(arguments), request),
            )
            .await;
        }
        engine.shutdown(std::time::Duration::from_secs(5)).await;
    });
    engine.store().stop_merger();
}

// ---------------------------------------------------------------------------------------
// Backups and configuration

/// The manifest of a backup file (`None` if it has none that parses).
fn manifest_of(backup: &[u8]) -> Option<(usize, codesage_shared::ops::BackupManifest)> {
    let length = u32::from_le_bytes(backup.get(16..20)?.try_into().ok()?) as usize;
    let manifest = serde_json::from_slice(backup.get(20..20 + length)?).ok()?;
    Some((20 + length, manifest))
}

/// A backup file holding `store` (any bytes), with a manifest that matches it exactly (sizes
/// and checksums), as a forger would make it.
pub fn wrap_store_copy(store: &[u8]) -> Vec<u8> {
    let (_, mut manifest) = manifest_of(&fixture().backup_template).expect("template manifest");
    let payload = zstd::bulk::compress(store, 1).expect("compress");
    manifest.store_bytes = store.len() as u64;
    manifest.store_blake3 = blake3::hash(store).to_hex().to_string();
    manifest.payload_bytes = payload.len() as u64;
    manifest.payload_blake3 = blake3::hash(&payload).to_hex().to_string();
    let json = serde_json::to_vec(&manifest).expect("manifest");
    let mut file = b"CODESAGE-BACKUP\n".to_vec();
    file.extend_from_slice(&(json.len() as u32).to_le_bytes());
    file.extend_from_slice(&json);
    file.extend_from_slice(&payload);
    file
}

/// Backup files, as `codesage restore` reads them. Mode byte 0: the rest is the file;
/// anything else: the rest is a store copy, wrapped in a consistent backup
/// ([`wrap_store_copy`]) so that the checks reach redb's own verification of the copy, and
/// also opened as it is, as a store file damaged on disk.
///
/// Checks: reading the manifest and extracting never panic; a refused backup leaves nothing
/// behind; an accepted one has the manifest its header shows, and the store it restores
/// opens (or is refused) and reads without panicking; a damaged store file is refused or
/// read without panicking.
pub fn backup(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode != 0 {
        let dir = fixture().case_dir();
        std::fs::write(dir.join(codesage_shared::paths::STORE_FILE_NAME), rest)
            .expect("write the store file");
        let config = fixture::config(&fixture().scratch);
        match fixture::open_store(&dir, &config) {
            // The daemon reads a store whose pages are damaged only as far as `codesage
            // check` goes; past a clean check, it reads everything.
            Ok(store) => match store.check() {
                Ok(report) if report.redb_ok && report.problems.is_empty() => {
                    note("backup: damaged store file opened, checked clean");
                    read_everything(&store);
                }
                _ => note("backup: damaged store file opened, check failed"),
            },
            Err(_) => note("backup: damaged store file refused"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    let bytes = if mode == 0 {
        rest.to_vec()
    } else {
        wrap_store_copy(rest)
    };
    let fixture = fixture();
    let dir = fixture.case_dir();
    let file = dir.join("input.backup");
    std::fs::write(&file, &bytes).expect("write the backup");
    let header = codesaged::backup::read_manifest(&file);
    let restored = dir.join("restored");
    std::fs::create_dir_all(&restored).expect("restore directory");
    let target = restored.join(codesage_shared::paths::STORE_FILE_NAME);
    match codesaged::backup::extract(&file, &target) {
        Ok(manifest) => {
            note("backup: restored");
            assert_eq!(
                header.ok().as_ref(),
                Some(&manifest),
                "manifest read twice differs"
            );
            let config = fixture::config(&fixture.scratch);
            if let Ok(store) = fixture::open_store(&restored, &config) {
                read_everything(&store);
            }
        }
        Err(err) => {
            note(match err {
                codesaged::backup::BackupError::NotABackup { .. } => "backup: refused, no header",
                codesaged::backup::BackupError::Newer { .. } => "backup: refused, newer",
                codesaged::backup::BackupError::Damaged { ref reason, .. }
                    if reason.contains("store inside") =>
                {
                    "backup: refused by the store check"
                }
                codesaged::backup::BackupError::Damaged { .. } => "backup: refused, damaged",
                _ => "backup: refused, other",
            });
            assert!(!err.to_string().is_empty());
            assert!(
                !target.exists(),
                "a refused backup left {}",
                target.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A configuration file, as the daemon and `codesage config check` load it. Checks: loading
/// gives a configuration (whose sources and masked JSON can be shown) or an error with a
/// message; never a panic.
pub fn config(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, data).expect("write the config");
    match LoadedConfig::load(Some(&path)) {
        Ok(loaded) => {
            note("config: loaded");
            for value in loaded.values().iter().take(16) {
                let _ = loaded.source_of(&value.key);
            }
            let _ = loaded.config.to_masked_json();
        }
        Err(err) => {
            note("config: refused");
            assert!(!err.to_string().trim().is_empty(), "an empty config error");
        }
    }
}
