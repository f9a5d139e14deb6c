//! A stand-in for the paid LLM APIs: a small HTTP/1.1 server on 127.0.0.1 that speaks the
//! OpenAI-compatible chat completions and Gemini `generateContent` wire formats, with
//! scripted faults (429 with `Retry-After`, 5xx, a hung connection, a slow body, malformed
//! JSON, an empty choice list, a refused key) and a record of every request it received.
//!
//! This is the one kind of stand-in the tests allow: an external paid API, replaced by a
//! server that speaks its wire format. Everything of CodeSage's under test is real.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Answers with this text in the wire format of the request's path.
    Reply(String),
    /// Answers with this text after a delay.
    SlowReply(Duration, String),
    /// Answers with an HTTP error, an optional `Retry-After` (seconds) and an error message.
    Status(u16, Option<u64>, String),
    /// Reads the request and never answers.
    Hang,
    /// Sends the headers, then the body a byte per 500 ms.
    SlowBody,
    /// Answers 200 with a body that is not JSON.
    Malformed,
    /// Answers 200 with no choices (no candidates).
    Empty,
    /// After a delay, fails (500) or answers with the text at random, failing with this
    /// probability.
    Flaky(f64, Duration, String),
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, parsed (Null when it was not JSON).
    pub body: Value,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every text of the prompt (system and user), joined.
    pub fn prompt(&self) -> String {
        let mut texts = Vec::new();
        collect_strings(&self.body, &mut texts);
        texts.join("\n")
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, out)),
        _ => {}
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Behaviour>,
    default: Option<Behaviour>,
    received: Vec<Received>,
}

/// The running server (stops when dropped).
pub struct FakeLlm {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeLlm {
    /// Starts a server on an ephemeral port of 127.0.0.1 that answers "ok" by default. It
    /// runs on its own thread and runtime, so sync and async tests can use it alike.
    pub fn start() -> FakeLlm {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fake LLM server");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("fake LLM address");
        let state = Arc::new(Mutex::new(State {
            default: Some(Behaviour::Reply("ok".into())),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake LLM runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("fake LLM listener");
                let accept = async {
                    while let Ok((stream, _)) = listener.accept().await {
                        let state = Arc::clone(&shared);
                        tokio::spawn(async move {
                            let _ = serve(stream, state).await;
                        });
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    _ = accept => {}
                }
            });
            runtime.shutdown_background();
        });
        FakeLlm {
            addr,
            state,
            stop: Some(stop),
        }
    }

    /// The OpenAI-compatible base URL (`…/v1`).
    pub fn openai_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The Gemini base URL (`…/v1beta`).
    pub fn gemini_url(&self) -> String {
        format!("http://{}/v1beta", self.addr)
    }

    /// The provider name CodeSage gives this server (its `host:port`).
    pub fn label(&self) -> String {
        self.addr.to_string()
    }

    /// Behaviours for the next requests, one each, in order (then the default again).
    pub fn script(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        let mut state = self.state.lock().expect("fake LLM state");
        state.script = behaviours.into_iter().collect();
    }

    /// What every request gets once the script is used up.
    pub fn set_default(&self, behaviour: Behaviour) {
        self.state.lock().expect("fake LLM state").default = Some(behaviour);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("fake LLM state").received.clone()
    }

    /// How many requests were received so far.
    pub fn count(&self) -> usize {
        self.state.lock().expect("fake LLM state").received.len()
    }
}

/// Reads one HTTP/1.1 request (headers and a Content-Length body).
async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split_whitespace().nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(key, _)| key == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let body =
        serde_json::from_slice(&buffer[header_end..header_end + length]).unwrap_or(Value::Null);
    Some(Received {
        path,
        headers,
        body,
    })
}

fn reply_body(path: &str, text: &str) -> Value {
    if path.contains(":generateContent") {
        json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30, "totalTokenCount": 150},
            "modelVersion": "gemini-fake"
        })
    } else {
        json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
        })
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    extra: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await else {
        return Ok(());
    };
    let path = request.path.clone();
    let behaviour = {
        let mut state = state.lock().expect("fake LLM state");
        state.received.push(request);
        state
            .script
            .pop_front()
            .or_else(|| state.default.clone())
            .unwrap_or(Behaviour::Reply("ok".into()))
    };
    let behaviour = match behaviour {
        Behaviour::Flaky(rate, delay, text) => {
            tokio::time::sleep(delay).await;
            if fastrand_f64() < rate {
                Behaviour::Status(500, None, "flaky".into())
            } else {
                Behaviour::Reply(text)
            }
        }
        other => other,
    };
    match behaviour {
        Behaviour::Reply(text) => {
            let body = reply_body(&path, &text).to_string();
            respond(&mut stream, 200, "", body.as_bytes()).await
        }
        Behaviour::SlowReply(delay, text) => {
            tokio::time::sleep(delay).await;
            let body = reply_body(&path, &text).to_string();
            respond(&mut stream, 200, "", body.as_bytes()).await
        }
        Behaviour::Status(code, retry_after, message) => {
            let extra = retry_after
                .map(|secs| format!("retry-after: {secs}\r\n"))
                .unwrap_or_default();
            let body =
                json!({"error": {"message": message, "type": "fake", "code": code}}).to_string();
            respond(&mut stream, code, &extra, body.as_bytes()).await
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            Ok(())
        }
        Behaviour::SlowBody => {
            let body = reply_body(&path, "too slow").to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            for byte in body.as_bytes() {
                stream.write_all(&[*byte]).await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(())
        }
        Behaviour::Malformed => {
            respond(&mut stream, 200, "", b"{\"choices\": [ this is not json").await
        }
        Behaviour::Empty => {
            let body = if path.contains(":generateContent") {
                json!({"candidates": []})
            } else {
                json!({"id": "x", "choices": []})
            };
            respond(&mut stream, 200, "", body.to_string().as_bytes()).await
        }
        Behaviour::Flaky(..) => Ok(()),
    }
}

/// A uniform number in [0, 1) from the clock and a counter (no extra dependency).
fn fastrand_f64() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut x = COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}
