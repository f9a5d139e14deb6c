//! Control requests (`codesage status|index|search|stop`): one JSON request line in, JSON event
//! lines out, the last one final. Indexing streams progress every few hundred milliseconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codesage_shared::protocol::{ControlEvent, ControlRequest, MAX_CONTROL_REQUEST_LEN};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::connection::StopWaiters;
use crate::engine::Engine;
use crate::structure::lookup::{KindFilter, NameQuery};

/// How often progress events are sent during `index`.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);
/// How long a client gets to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Streams `job`'s progress to the client until it finishes. A client that goes away does
/// not stop the run.
async fn follow<W: AsyncWrite + Unpin>(
    job: &crate::engine::IndexJob,
    writer: &mut W,
) -> std::io::Result<crate::engine::JobResult> {
    loop {
        if let Some(result) = job.wait(PROGRESS_INTERVAL).await {
            return Ok(result);
        }
        send(writer, &ControlEvent::Progress(job.snapshot())).await?;
    }
}

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
    let kind = match &request {
        ControlRequest::Ping => "control.ping",
        ControlRequest::Status => "control.status",
        ControlRequest::Index { .. } => "control.index",
        ControlRequest::Search(_) => "control.search",
        ControlRequest::Reindex { .. } => "control.reindex",
        ControlRequest::Symbols { .. } => "control.symbols",
        ControlRequest::Definitions { .. } => "control.definitions",
        ControlRequest::Stop => "control.stop",
    };
    let event = match request {
        ControlRequest::Ping => ControlEvent::Pong {
            version: codesage_shared::VERSION.to_string(),
            pid: std::process::id(),
        },
        ControlRequest::Status => ControlEvent::Status(engine.status()),
        ControlRequest::Stop => {
            tracing::info!("stop requested over the control socket");
            send(&mut writer, &ControlEvent::Stopping).await?;
            engine.metrics().record(kind, started.elapsed(), true);
            stop_waiters.hold(writer);
            stop.cancel();
            return Ok(());
        }
        ControlRequest::Search(params) => match engine.search(&params, &[]).await {
            Ok(report) => ControlEvent::Search(report),
            Err(err) => ControlEvent::Error {
                message: err.to_string(),
            },
        },
        ControlRequest::Symbols { path } => answer(outline(&engine, &path).await),
        ControlRequest::Definitions {
            name,
            kind,
            root,
            cwd,
            max_results,
        } => answer(definitions(&engine, &name, kind, root, cwd, max_results).await),
        ControlRequest::Index { path } => match engine.register_root(&path, false) {
            Err(err) => ControlEvent::Error {
                message: err.to_string(),
            },
            Ok(root) => match follow(&engine.start_index(&root), &mut writer).await? {
                Ok(summary) => ControlEvent::Indexed(summary),
                Err(message) => ControlEvent::Error { message },
            },
        },
        ControlRequest::Reindex { path } => {
            let roots = match &path {
                Some(path) => engine.locate(path).map(|(root, _)| vec![root]),
                None => Ok(engine.roots()),
            };
            match roots {
                Err(err) => ControlEvent::Error {
                    message: err.to_string(),
                },
                Ok(roots) if roots.is_empty() => ControlEvent::Error {
                    message: "no codebase is indexed yet; run `codesage index PATH` first".into(),
                },
                Ok(roots) => {
                    let mut summaries = Vec::new();
                    let mut failure = None;
                    for root in roots {
                        match follow(&engine.start_reindex(&root), &mut writer).await? {
                            Ok(summary) => summaries.push(summary),
                            Err(message) => {
                                failure = Some(format!("{}: {message}", root.path.display()));
                                break;
                            }
                        }
                    }
                    match failure {
                        Some(message) => ControlEvent::Error { message },
                        None => ControlEvent::Reindexed { roots: summaries },
                    }
                }
            }
        }
    };
    let ok = !matches!(event, ControlEvent::Error { .. });
    engine.metrics().record(kind, started.elapsed(), ok);
    send(&mut writer, &event).await
}

/// Turns a structural answer into its event.
fn answer(result: Result<serde_json::Value, String>) -> ControlEvent {
    match result {
        Ok(answer) => ControlEvent::Structure { answer },
        Err(message) => ControlEvent::Error { message },
    }
}

/// `codesage symbols FILE`: the file's outline.
async fn outline(engine: &Arc<Engine>, path: &Path) -> Result<serde_json::Value, String> {
    let (root, relative) = engine.locate(path).map_err(|err| err.to_string())?;
    if relative.is_empty() {
        return Err(format!(
            "{} is the codebase root, not a file",
            root.path.display()
        ));
    }
    let (outline, notes) = engine
        .structure(&root, String::new(), move |scope| {
            crate::structure::outline::file_structure(scope, &relative)
        })
        .await
        .map_err(|err| err.to_string())?;
    let mut value = serde_json::to_value(outline).map_err(|err| err.to_string())?;
    value["root"] = root.path.display().to_string().into();
    value["notes"] = notes.into();
    Ok(value)
}

/// `codesage def NAME`: definitions by name.
async fn definitions(
    engine: &Arc<Engine>,
    name: &str,
    kind: Option<String>,
    root: Option<PathBuf>,
    cwd: Option<PathBuf>,
    max_results: usize,
) -> Result<serde_json::Value, String> {
    let query = NameQuery::parse(name).map_err(|err| err.to_string())?;
    let kinds = KindFilter::parse(kind.as_deref()).map_err(|err| err.to_string())?;
    let defaults: Vec<PathBuf> = cwd.into_iter().collect();
    let found = engine
        .find_symbol(
            &query,
            kinds,
            root.as_deref(),
            &defaults,
            max_results.max(1),
        )
        .await
        .map_err(|err| err.to_string())?;
    Ok(serde_json::json!({
        "name": name,
        "symbols": found.symbols,
        "total_matches": found.total,
        "notes": found.notes,
    }))
}
