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
    actor: String,
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
                engine.metrics().error("invalid_control");
                let message = format!(
                    "invalid control request ({err}); use a matching version of the codesage command"
                );
                return send(&mut writer, &ControlEvent::Error { message }).await;
            }
        },
    };

    tracing::debug!(request = %line.trim(), %actor, "control request");
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
            crate::audit::record("stop", "", &actor);
            send(&mut writer, &ControlEvent::Stopping).await?;
            engine
                .metrics()
                .record("control.stop", started.elapsed(), true);
            stop_waiters.hold(writer);
            stop.cancel();
            return Ok(());
        }
        ControlRequest::Metrics => (
            "control.metrics".to_string(),
            ControlEvent::Metrics {
                text: engine.metrics_exposition(),
            },
        ),
        ControlRequest::Backup { path } => {
            crate::audit::record("backup", &path.display().to_string(), &actor);
            ("control.backup".to_string(), backup(&engine, path).await)
        }
        ControlRequest::Check => {
            crate::audit::record("check", "", &actor);
            ("control.check".to_string(), check(&engine).await)
        }
        ControlRequest::Compact => {
            crate::audit::record("compact", "", &actor);
            ("control.compact".to_string(), compact(&engine).await)
        }
        ControlRequest::Query {
            name,
            arguments,
            cwd,
            words,
            bounded,
        } => {
            if matches!(name.as_str(), "index_codebase" | "reindex") {
                let detail = serde_json::Value::Object(arguments.clone()).to_string();
                crate::audit::record(&name, &detail, &actor);
            }
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
            engine.metrics().question_ended();
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
            allowed: None,
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

/// Runs blocking store maintenance off the async threads; a panic becomes an error event.
async fn blocking_event(work: impl FnOnce() -> ControlEvent + Send + 'static) -> ControlEvent {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|err| ControlEvent::Error {
            message: format!("the maintenance task failed: {err}"),
        })
}

async fn backup(engine: &Arc<Engine>, path: std::path::PathBuf) -> ControlEvent {
    if !path.is_absolute() {
        return ControlEvent::Error {
            message: format!("the backup path must be absolute, not {}", path.display()),
        };
    }
    if path == engine.store().path() {
        return ControlEvent::Error {
            message: "the backup cannot replace the live store; choose another file".into(),
        };
    }
    let engine = Arc::clone(engine);
    blocking_event(move || {
        let work_dir = engine
            .store()
            .path()
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("tmp");
        match crate::backup::write(engine.store(), &work_dir, &path) {
            Ok(manifest) => {
                tracing::info!(
                    path = %path.display(),
                    bytes = manifest.payload_bytes,
                    "wrote a backup of the store"
                );
                ControlEvent::Backup(Box::new(manifest))
            }
            Err(err) => ControlEvent::Error {
                message: format!("backup failed: {err}"),
            },
        }
    })
    .await
}

async fn check(engine: &Arc<Engine>) -> ControlEvent {
    let engine = Arc::clone(engine);
    blocking_event(move || match engine.store().check() {
        Ok(report) => ControlEvent::Check(Box::new(report)),
        Err(err) => ControlEvent::Error {
            message: format!("the check could not run: {err}"),
        },
    })
    .await
}

async fn compact(engine: &Arc<Engine>) -> ControlEvent {
    let engine = Arc::clone(engine);
    blocking_event(move || {
        let store = engine.store();
        let before_bytes = store.file_size();
        // Readers hold short transactions: a few tries find a moment without one.
        let mut outcome = Ok(crate::store::Compaction::Busy);
        for _ in 0..100 {
            outcome = store.compact();
            if !matches!(outcome, Ok(crate::store::Compaction::Busy)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        match outcome {
            Ok(done) => ControlEvent::Compact(codesage_shared::ops::CompactReport {
                before_bytes,
                after_bytes: store.file_size(),
                outcome: done.as_str().to_string(),
            }),
            Err(err) => ControlEvent::Error {
                message: format!("compaction failed: {err}"),
            },
        }
    })
    .await
}
