//! The daemon's HTTP listeners, both off by default: the monitoring endpoint
//! (`metrics.listen`: `/metrics`, `/healthz`, `/readyz`, no authentication, loopback only
//! unless allowed) and remote mode (`remote.listen` / `codesaged --listen`: MCP over
//! Streamable HTTP at `/mcp` behind bearer tokens, see [`remote`], plus the same
//! monitoring paths, `/metrics` behind a token). One connection task each, HTTP/1.1,
//! graceful shutdown with the daemon.

pub mod remote;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

/// A response body.
pub type Body = BoxBody<Bytes, Infallible>;

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Parses a listen address: `HOST:PORT` or `http://HOST:PORT` (TLS is for a reverse proxy
/// in front).
pub fn parse_listen(listen: &str, setting: &str) -> Result<SocketAddr> {
    let trimmed = listen.trim().trim_end_matches('/');
    if trimmed.starts_with("https://") {
        bail!(
            "{setting} = {listen:?}: codesaged serves plain HTTP; terminate TLS in a reverse \
             proxy in front of it (see the README's remote mode section) and give an http:// \
             address here"
        );
    }
    let address = trimmed.strip_prefix("http://").unwrap_or(trimmed);
    let address = address.strip_suffix("/mcp").unwrap_or(address);
    address.parse().with_context(|| {
        format!(
            "{setting} = {listen:?} is not an address like 127.0.0.1:8765 or http://0.0.0.0:8765"
        )
    })
}

/// `/healthz`: the process answers (liveness), with its health verdict.
pub fn healthz(engine: &Engine) -> Response<Body> {
    let report = engine.status();
    let mut body = format!("ok\nhealth: {}\n", report.health);
    for reason in &report.health_reasons {
        body.push_str(&format!("- {reason}\n"));
    }
    text(StatusCode::OK, body)
}

/// `/readyz`: the store answers and no root's watcher has stopped (503 with the reasons
/// otherwise).
pub fn readyz(engine: &Engine) -> Response<Body> {
    let mut problems = Vec::new();
    if let Err(err) = engine.store().roots() {
        problems.push(format!("the store does not answer: {err}"));
    }
    if engine.shutting_down() {
        problems.push("the daemon is shutting down".to_string());
    }
    for root in engine.roots() {
        if let Some(watcher) = root.watcher() {
            let report = watcher.report();
            if report.mode == "stopped" {
                problems.push(format!(
                    "the watcher of {} stopped{}",
                    root.path.display(),
                    report
                        .error
                        .map(|error| format!(": {error}"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    if problems.is_empty() {
        text(StatusCode::OK, "ready\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready\n- {}\n", problems.join("\n- ")),
        )
    }
}

/// `/metrics`: the Prometheus exposition.
pub fn metrics(engine: &Engine) -> Response<Body> {
    let mut response = text(StatusCode::OK, engine.metrics_exposition());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        ),
    );
    response
}

/// Binds `address`, saying what to do when it is taken.
pub async fn bind(address: SocketAddr, setting: &str) -> Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| {
        format!("cannot listen on {address} ({setting}); is another program using the port?")
    })
}

/// Serves HTTP/1.1 connections on `listener` with `handle` until `shutdown`, then lets open
/// connections finish for a few seconds.
pub async fn serve<F, Fut>(listener: TcpListener, shutdown: CancellationToken, handle: F)
where
    F: Fn(http::Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let builder = hyper::server::conn::http1::Builder::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(error = %err, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handle = handle.clone();
        let service = hyper::service::service_fn(move |request| {
            let handle = handle.clone();
            async move { Ok::<_, Infallible>(handle(request, peer).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("some HTTP connections were still open at shutdown");
    }
}

/// Starts the monitoring endpoint of `metrics.listen`.
pub async fn start_monitoring(
    engine: Arc<Engine>,
    shutdown: CancellationToken,
) -> Result<Option<SocketAddr>> {
    let config = &engine.config().metrics;
    if config.listen.trim().is_empty() {
        return Ok(None);
    }
    let address = parse_listen(&config.listen, "metrics.listen")?;
    if !address.ip().is_loopback() && !config.allow_remote {
        bail!(
            "metrics.listen = {:?} is not a loopback address and the endpoint has no \
             authentication; use 127.0.0.1, or set metrics.allow_remote = true behind a firewall",
            config.listen
        );
    }
    let listener = bind(address, "metrics.listen").await?;
    let bound = listener
        .local_addr()
        .context("cannot read the bound address")?;
    tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
    tokio::spawn(serve(listener, shutdown, move |request, _peer| {
        let engine = Arc::clone(&engine);
        async move {
            let engine = engine.as_ref();
            match (request.method(), request.uri().path()) {
                (&http::Method::GET, "/metrics") => metrics(engine),
                (&http::Method::GET, "/healthz") => healthz(engine),
                (&http::Method::GET, "/readyz") => readyz(engine),
                (_, "/metrics" | "/healthz" | "/readyz") => {
                    text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n")
                }
                _ => text(
                    StatusCode::NOT_FOUND,
                    "not found: this endpoint serves /metrics, /healthz and /readyz\n",
                ),
            }
        }
    }));
    Ok(Some(bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_parse_with_or_without_scheme() {
        assert_eq!(
            parse_listen("http://127.0.0.1:9464", "x").unwrap(),
            "127.0.0.1:9464".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_listen("0.0.0.0:8765/mcp", "x").unwrap(),
            "0.0.0.0:8765".parse::<SocketAddr>().unwrap()
        );
        let err = parse_listen("https://0.0.0.0:443", "remote.listen").unwrap_err();
        assert!(err.to_string().contains("reverse proxy"), "{err}");
        assert!(parse_listen("localhost", "x").is_err());
    }
}
