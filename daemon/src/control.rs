//! Control requests (`codesage status|stop|index|search|…`): one JSON request line in, JSON
//! event lines out, the last one final. Queries go to the query layer exactly as MCP tool
//! calls do; their progress is streamed as events while they run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use codesage_shared::protocol::{
    AnswerText, ControlEvent, ControlRequest, MAX_CONTROL_REQUEST_LEN, answer_event_line,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::queries::{self, Caller, Encoded, Encoding, ProgressSink, Request};
use crate::shutdown::StopWaiters;

/// How long a client gets to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

async fn send<W: AsyncWrite + Unpin>(writer: &mut W, event: &ControlEvent) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(event).map_err(|err| {
        tracing::error!(error = %err, "cannot encode a control event (a bug)");
        std::io::Error::other(err)
    })?;
    line.push(b'\n');
    writer.write_all(&line).await?;
    writer.flush().await
}

/// Serves one control request on `reader`/`writer`. A stop request cancels `stop` and leaves
/// the connection with `stop_waiters`, to be closed once the daemon has stopped.
pub async fn serve<R, W>(
    engine: Arc<Engine>,
    mut reader: BufReader<R>,
    mut writer: W,
    stop: CancellationToken,
    stop_waiters: StopWaiters,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut line = String::new();
    let read = tokio::time::timeout(
        REQUEST_TIMEOUT,
        (&mut reader)
            .take(MAX_CONTROL_REQUEST_LEN as u64)
            .read_line(&mut line),
    )
    .await;
    let request = match read {
        Err(_) => {
            let message = "no request received in time".to_string();
            return send(&mut writer, &ControlEvent::Error { message }).await;
        }
        Ok(Err(err)) => {
            let message = format!("cannot read the request: {err}");
            return send(&mut writer, &ControlEvent::Error { message }).await;
        }
        // The client connected and left without asking anything (e.g. a liveness probe).
        Ok(Ok(0)) => return Ok(()),
        Ok(Ok(_)) => match serde_json::from_str::<ControlRequest>(line.trim()) {
            Ok(request) => request,
            Err(err) => {
                engine
                    .metrics()
                    .record("control.invalid", Duration::ZERO, false);
                let message = format!(
                    "invalid control request ({err}); use a matching version of the codesage command"
                );
                return send(&mut writer, &ControlEvent::Error { message }).await;
            }
        },
    };

    let started = Instant::now();
    let (kind, event) = match request {
        ControlRequest::Ping => (
            "control.ping".to_string(),
            ControlEvent::Pong {
                version: codesage_shared::VERSION.to_string(),
                pid: std::process::id(),
            },
        ),
        ControlRequest::Status => (
            "control.status".to_string(),
            ControlEvent::Status(Box::new(engine.status())),
        ),
        ControlRequest::Stop => {
            tracing::info!("stop requested over the control socket");
            send(&mut writer, &ControlEvent::Stopping).await?;
            engine
                .metrics()
                .record("control.stop", started.elapsed(), true);
            stop_waiters.hold(writer);
            stop.cancel();
            return Ok(());
        }
        ControlRequest::Query {
            name,
            arguments,
            cwd,
            words,
            bounded,
        } => {
            let event = query(
                &engine,
                &mut writer,
                name.clone(),
                arguments,
                cwd,
                words,
                bounded,
            )
            .await?;
            (format!("control.{name}"), event)
        }
    };
    let ok = !matches!(event, ControlEvent::Error { .. });
    engine.metrics().record(&kind, started.elapsed(), ok);
    if let ControlEvent::Answer { answer } = &event {
        // Written as it is: an answer of 100k matches is not encoded a second time.
        writer
            .write_all(answer_event_line(&answer.0).as_bytes())
            .await?;
        return writer.flush().await;
    }
    send(&mut writer, &event).await
}

/// Runs one query, streaming its progress to the client; returns the final event. A client
/// that goes away does not stop the query (an index run goes on in the background).
async fn query<W: AsyncWrite + Unpin>(
    engine: &Arc<Engine>,
    writer: &mut W,
    name: String,
    arguments: serde_json::Map<String, serde_json::Value>,
    cwd: Option<std::path::PathBuf>,
    words: codesage_shared::words::Words,
    bounded: bool,
) -> std::io::Result<ControlEvent> {
    let (progress, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let request = Request {
        encoding: Encoding::Text,
        engine: Arc::clone(engine),
        caller: Caller {
            words,
            default_roots: cwd.iter().cloned().collect(),
            base_dir: cwd,
            bounded,
        },
        progress: Some(ProgressSink::channel(progress)),
        cancel: CancellationToken::new(),
        sampler: None,
    };
    let answer = queries::dispatch(&name, arguments, request);
    tokio::pin!(answer);
    let mut client_gone = false;
    let outcome = loop {
        tokio::select! {
            outcome = &mut answer => break outcome,
            Some(update) = updates.recv() => {
                if !client_gone && send(writer, &ControlEvent::Progress(update)).await.is_err() {
                    client_gone = true;
                }
            }
        }
    };
    Ok(match outcome {
        None => ControlEvent::Error {
            message: format!(
                "unknown query {name:?}; use a matching version of the codesage command (known: {})",
                queries::NAMES.join(", ")
            ),
        },
        Some(Ok(Encoded::Text(answer))) => ControlEvent::Answer {
            answer: AnswerText(answer),
        },
        Some(Ok(Encoded::Value(answer))) => ControlEvent::Answer {
            answer: AnswerText(answer.to_string()),
        },
        Some(Err(err)) => ControlEvent::Error {
            message: err.to_string(),
        },
    })
}
