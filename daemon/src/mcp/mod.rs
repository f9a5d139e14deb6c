//! Serving MCP on one connection: a framing layer checks every incoming line before rmcp sees
//! it, answering malformed JSON (also invalid UTF-8 inside strings, lone surrogate escapes and
//! nesting deeper than 128 levels) with a JSON-RPC parse error, oversized messages with an
//! invalid-request error, and a `tools/call` whose params are not `{name, arguments}` with an
//! invalid-params error (rmcp alone would drop the first ones silently, leaving the client
//! waiting forever, and answer the last with "method not found"), then hands valid messages
//! to the rmcp service ([`handler::CodeSageServer`]) and copies its answers back.
//!
//! The framing layer also tracks which requests are still unanswered (by JSON-RPC id), so a
//! shutdown stops reading new requests but lets every received one finish before the session
//! closes.

pub mod handler;
pub mod tools;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Notify;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

/// How long a closing connection waits for rmcp to finish writing its last answers.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// JSON-RPC "Parse error".
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC "Invalid Request".
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC "Invalid params".
pub const INVALID_PARAMS: i64 = -32602;

/// A JSON-RPC error response with a null id, as a line.
fn error_line(code: i64, message: &str) -> Vec<u8> {
    error_response(&Value::Null, code, message)
}

/// A JSON-RPC error response to request `id`, as a line.
fn error_response(id: &Value, code: i64, message: &str) -> Vec<u8> {
    let mut line = serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    }))
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// What JSON calls `value`, for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The id and the reason, when `message` is a `tools/call` request whose params rmcp cannot
/// read (it would answer "method not found: tools/call", which sends a client looking for
/// the wrong mistake).
fn malformed_call(message: &Value) -> Option<(Value, String)> {
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return None;
    }
    let id = message.get("id")?.clone();
    let problem = match message.get("params") {
        None | Some(Value::Null) => {
            "tools/call needs params: {\"name\": <tool>, \"arguments\": {…}}".to_string()
        }
        Some(Value::Object(params)) => match (params.get("name"), params.get("arguments")) {
            (Some(Value::String(_)), None | Some(Value::Null) | Some(Value::Object(_))) => {
                return None;
            }
            (Some(Value::String(_)), Some(other)) => format!(
                "params.arguments must be an object of the tool's arguments, not {}",
                json_kind(other)
            ),
            (None, _) => "params.name (the tool to call) is missing".to_string(),
            (Some(other), _) => format!(
                "params.name must be the tool's name as a string, not {}",
                json_kind(other)
            ),
        },
        Some(other) => format!("params must be an object, not {}", json_kind(other)),
    };
    Some((id, format!("Invalid params: {problem}")))
}

/// The parts of a JSON-RPC message that tell requests, responses and cancellations apart.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<CancelParams>,
}

#[derive(Deserialize)]
struct CancelParams {
    #[serde(default, rename = "requestId")]
    request_id: Option<Value>,
}

/// Requests of one connection that have been received and not yet answered.
struct Pending {
    engine: Arc<Engine>,
    ids: Mutex<HashSet<String>>,
    changed: Notify,
}

impl Pending {
    fn new(engine: Arc<Engine>) -> Pending {
        Pending {
            engine,
            ids: Mutex::new(HashSet::new()),
            changed: Notify::new(),
        }
    }

    /// Notes what an incoming message means for the set of open requests.
    fn incoming(&self, message: &Value) {
        let Ok(envelope) = Envelope::deserialize(message) else {
            return;
        };
        match (envelope.id, envelope.method.as_deref()) {
            (Some(id), Some(_)) => {
                let counts = self.engine.mcp_requests();
                counts.received.fetch_add(1, Ordering::Relaxed);
                if self.ids.lock().insert(id.to_string()) {
                    counts.in_flight.fetch_add(1, Ordering::Relaxed);
                }
            }
            // A cancelled request may never be answered; stop waiting for it.
            (None, Some("notifications/cancelled")) => {
                if let Some(id) = envelope.params.and_then(|params| params.request_id) {
                    self.answered(&id);
                }
            }
            _ => {}
        }
    }

    /// Notes an outgoing message; responses close their request.
    fn outgoing(&self, message: &[u8]) {
        if let Ok(Envelope {
            id: Some(id),
            method: None,
            ..
        }) = serde_json::from_slice::<Envelope>(message)
        {
            self.answered(&id);
        }
    }

    fn answered(&self, id: &Value) {
        if self.ids.lock().remove(&id.to_string()) {
            self.engine
                .mcp_requests()
                .in_flight
                .fetch_sub(1, Ordering::Relaxed);
            self.changed.notify_waiters();
        }
    }

    /// Waits until every open request is answered, or `timeout` passes.
    async fn drained(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            let open = self.ids.lock().len();
            if open == 0 {
                return;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(open, "closing a session with unanswered requests");
                    return;
                }
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let open = self.ids.lock().len() as u64;
        self.engine
            .mcp_requests()
            .in_flight
            .fetch_sub(open, Ordering::Relaxed);
    }
}

/// What [`read_message`] found.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    /// A complete line is in the buffer (newline removed).
    Line,
    /// A line longer than the limit was skipped entirely; its length so far.
    Oversized(usize),
    /// The client closed its side.
    Eof,
}

/// Reads one newline-terminated message into `buf`, never holding more than `max` bytes: a
/// longer message is consumed and discarded. A final line without newline counts as a line.
async fn read_message<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Read> {
    let mut discarded = 0usize;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (discarded, buf.is_empty()) {
                (0, true) => Read::Eof,
                (0, false) => Read::Line,
                (n, _) => Read::Oversized(n),
            });
        }
        let (chunk, complete) = match memchr::memchr(b'\n', available) {
            Some(newline) => (&available[..newline], Some(newline + 1)),
            None => (available, None),
        };
        if discarded == 0 && buf.len() + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        } else {
            discarded += buf.len() + chunk.len();
            buf.clear();
        }
        let consumed = complete.unwrap_or(available.len());
        reader.consume(consumed);
        if complete.is_some() {
            return Ok(if discarded > 0 {
                Read::Oversized(discarded)
            } else {
                Read::Line
            });
        }
    }
}

/// Serves one MCP session on `reader`/`writer` until the client leaves or `shutdown` fires.
pub async fn serve<R, W>(
    engine: Arc<Engine>,
    mut reader: BufReader<R>,
    mut writer: W,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let max_message = engine.config().server.max_message_bytes;
    let grace = Duration::from_secs(engine.config().server.shutdown_grace_secs);
    let (rmcp_side, our_side) = tokio::io::duplex(256 * 1024);
    let (from_rmcp, mut to_rmcp) = tokio::io::split(our_side);
    let (error_sender, mut errors) = mpsc::channel::<Vec<u8>>(16);
    let pending = Arc::new(Pending::new(Arc::clone(&engine)));

    let server = handler::CodeSageServer::new(Arc::clone(&engine));
    let service_cancel = CancellationToken::new();
    let service_cancel_for_task = service_cancel.clone();
    let service = tokio::spawn(async move {
        match rmcp::service::serve_server_with_ct(server, rmcp_side, service_cancel_for_task).await
        {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(err) => tracing::debug!(error = %err, "MCP session ended during initialization"),
        }
    });

    // Answers from rmcp and our own error lines, interleaved only at line boundaries.
    let answered = Arc::clone(&pending);
    let outbound = tokio::spawn(async move {
        let mut answers = BufReader::new(from_rmcp);
        let mut line = Vec::new();
        loop {
            tokio::select! {
                read = answers.read_until(b'\n', &mut line) => {
                    match read {
                        Ok(0) | Err(_) => {
                            // rmcp's end can win the race with an error queued for the last
                            // lines read (a malformed message, then the client's end): those
                            // still go out.
                            while let Ok(error) = errors.try_recv() {
                                if writer.write_all(&error).await.is_err() {
                                    break;
                                }
                            }
                            let _ = writer.flush().await;
                            break;
                        }
                        Ok(_) => {
                            let written = writer.write_all(&line).await.is_ok()
                                && writer.flush().await.is_ok();
                            answered.outgoing(&line);
                            if !written {
                                break;
                            }
                            line.clear();
                        }
                    }
                }
                Some(error) = errors.recv() => {
                    if writer.write_all(&error).await.is_err() || writer.flush().await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = writer.shutdown().await;
    });

    let mut buf = Vec::new();
    let mut draining = false;
    loop {
        buf.clear();
        let read = tokio::select! {
            read = read_message(&mut reader, &mut buf, max_message) => read,
            _ = shutdown.cancelled() => { draining = true; break; }
        };
        match read {
            Ok(Read::Eof) | Err(_) => break,
            Ok(Read::Oversized(length)) => {
                engine.metrics().error("oversized");
                tracing::warn!(
                    length,
                    limit = max_message,
                    "discarded oversized MCP message"
                );
                let message = format!(
                    "Invalid Request: message of {length}+ bytes exceeds the {max_message}-byte limit \
                     and was discarded"
                );
                if error_sender
                    .send(error_line(INVALID_REQUEST, &message))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Ok(Read::Line) => {
                let message = buf.trim_ascii();
                if message.is_empty() {
                    continue;
                }
                // Parsed into a tree, not skimmed: skimming accepts invalid UTF-8 inside
                // strings, lone surrogates and any nesting depth, all of which rmcp then
                // fails to read and drops without an answer.
                let parsed = match serde_json::from_slice::<Value>(message) {
                    Ok(parsed) => parsed,
                    Err(err) => {
                        engine.metrics().error("parse_error");
                        let text = format!("Parse error: the message is not valid JSON ({err})");
                        if error_sender
                            .send(error_line(PARSE_ERROR, &text))
                            .await
                            .is_err()
                        {
                            break;
                        }
                        continue;
                    }
                };
                if let Some((id, text)) = malformed_call(&parsed) {
                    engine.metrics().error("invalid_params");
                    if error_sender
                        .send(error_response(&id, INVALID_PARAMS, &text))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
                pending.incoming(&parsed);
                let forwarded = async {
                    to_rmcp.write_all(message).await?;
                    to_rmcp.write_all(b"\n").await?;
                    to_rmcp.flush().await
                };
                if forwarded.await.is_err() {
                    // rmcp ended the session (e.g. the first message was not `initialize`).
                    break;
                }
            }
        }
    }

    if draining {
        // Let requests already received finish before the session is closed.
        pending.drained(grace).await;
    }
    // Dropping one half of a split duplex does not close it; shut it down so rmcp sees the
    // end of its input and ends the session.
    let _ = to_rmcp.shutdown().await;
    drop(to_rmcp);
    drop(error_sender);
    if tokio::time::timeout(CLOSE_TIMEOUT, service).await.is_err() {
        service_cancel.cancel();
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, outbound).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn read_all(input: &[u8], max: usize) -> Vec<(Read, Vec<u8>)> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            let read = read_message(&mut reader, &mut buf, max).await.unwrap();
            if read == Read::Eof {
                return out;
            }
            out.push((read, buf));
        }
    }

    #[tokio::test]
    async fn oversized_lines_are_discarded_and_reading_recovers() {
        let got = read_all(b"{\"a\":1}\n0123456789abcdef\n{}\nlast", 10).await;
        assert_eq!(
            got,
            vec![
                (Read::Line, b"{\"a\":1}".to_vec()),
                (Read::Oversized(16), Vec::new()),
                (Read::Line, b"{}".to_vec()),
                (Read::Line, b"last".to_vec()),
            ]
        );
    }

    #[test]
    fn calls_rmcp_cannot_read_are_named() {
        let call = |params: Value| json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params});
        assert_eq!(
            malformed_call(&call(json!({"name": "x", "arguments": {}}))),
            None
        );
        assert_eq!(malformed_call(&call(json!({"name": "x"}))), None);
        let (id, text) = malformed_call(&call(json!({"name": "x", "arguments": [1]}))).unwrap();
        assert_eq!(id, json!(7));
        assert!(text.contains("not an array"), "{text}");
        let (_, text) = malformed_call(&call(json!({"name": 3}))).unwrap();
        assert!(text.contains("not a number"), "{text}");
        let (_, text) = malformed_call(&call(json!("x"))).unwrap();
        assert!(text.contains("params must be an object"), "{text}");
        let (_, text) =
            malformed_call(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call"})).unwrap();
        assert!(text.contains("needs params"), "{text}");
        let other = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": []});
        assert_eq!(malformed_call(&other), None, "only tools/call is checked");
    }

    #[test]
    fn error_lines_are_jsonrpc() {
        let line = error_line(PARSE_ERROR, "bad");
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["error"]["code"], -32700);
        assert!(value["id"].is_null());
        assert!(line.ends_with(b"\n"));
    }
}
