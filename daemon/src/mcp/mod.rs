//! Serving MCP on one connection: a framing layer checks every incoming line before rmcp sees
//! it, answering malformed JSON with a JSON-RPC parse error and oversized messages with an
//! invalid-request error (rmcp alone would drop both silently), then hands valid messages to
//! the rmcp service ([`handler::CodeSageServer`]) and copies its answers back.
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

/// A JSON-RPC error response with a null id, as a line.
fn error_line(code: i64, message: &str) -> Vec<u8> {
    let mut line = serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    }))
    .unwrap_or_default();
    line.push(b'\n');
    line
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
    fn incoming(&self, message: &[u8]) {
        let Ok(envelope) = serde_json::from_slice::<Envelope>(message) else {
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
                        Ok(0) | Err(_) => break,
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
                if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(message) {
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
                pending.incoming(message);
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
    fn error_lines_are_jsonrpc() {
        let line = error_line(PARSE_ERROR, "bad");
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["error"]["code"], -32700);
        assert!(value["id"].is_null());
        assert!(line.ends_with(b"\n"));
    }
}
