//! Remote mode: MCP over Streamable HTTP at `/mcp` (rmcp's server transport, one session per
//! client), for a team server or a container. Every `/mcp` request needs a bearer token
//! (`CODESAGE_REMOTE_TOKEN` or `remote.tokens_file`), compared in constant time; a session
//! belongs to the token that opened it; each token has its own request rate limit; bodies
//! over `remote.max_request_bytes` are refused before they are read; clients reach only
//! `remote.allowed_roots`. Failures answer 401 / 403 / 413 / 429 and no tool runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use codesage_shared::config::RemoteConfig;
use http::{HeaderValue, StatusCode, header};
use parking_lot::Mutex;
use rmcp::transport::StreamableHttpServerConfig;
use rmcp::transport::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use tokio_util::sync::CancellationToken;

use super::{Body, text};
use crate::engine::Engine;
use crate::mcp::handler::CodeSageServer;

/// Environment variable holding a bearer token (named `env` in logs and the audit log).
pub const ENV_TOKEN: &str = "CODESAGE_REMOTE_TOKEN";

/// Shortest token accepted: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// Sessions remembered with their token at most; older ones are forgotten first.
const MAX_SESSIONS: usize = 10_000;

const SESSION_HEADER: &str = "mcp-session-id";

/// Who a remote request comes from: the name of its token. Put in the HTTP request's
/// extensions, where the MCP handler finds it (for the audit log).
#[derive(Debug, Clone)]
pub struct RemoteIdentity(pub Arc<str>);

/// The accepted bearer tokens, kept as digests.
pub struct Tokens {
    entries: Vec<(Arc<str>, blake3::Hash)>,
}

impl Tokens {
    /// Reads `CODESAGE_REMOTE_TOKEN` and the tokens file (`name:token` or `token` per line,
    /// `#` comments). Each token is also registered for masking in the logs.
    pub fn load(config: &RemoteConfig) -> Result<Tokens> {
        let mut entries = Vec::new();
        let mut add = |name: String, token: &str, origin: &str| -> Result<()> {
            let token = token.trim();
            if token.len() < MIN_TOKEN_LEN {
                bail!(
                    "a remote token ({origin}, {name}) has {} characters; use at least \
                     {MIN_TOKEN_LEN} random ones (e.g. `openssl rand -hex 32`)",
                    token.len()
                );
            }
            crate::logging::add_secret(token);
            entries.push((Arc::from(name), blake3::hash(token.as_bytes())));
            Ok(())
        };
        if let Ok(token) = std::env::var(ENV_TOKEN)
            && !token.trim().is_empty()
        {
            add("env".to_string(), &token, ENV_TOKEN)?;
        }
        let file = config.tokens_file.trim();
        if !file.is_empty() {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read remote.tokens_file {file}"))?;
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (name, token) = match line.split_once(':') {
                    Some((name, token)) if !name.trim().is_empty() => {
                        (name.trim().to_string(), token)
                    }
                    _ => (format!("line{}", number + 1), line),
                };
                add(name, token, &format!("{file} line {}", number + 1))?;
            }
        }
        Ok(Tokens { entries })
    }

    /// Tokens accepted.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The name of the token `presented`, comparing digests in constant time against every
    /// token (no early exit), so timing says nothing about how close a guess was.
    pub fn identify(&self, presented: &str) -> Option<Arc<str>> {
        let digest = blake3::hash(presented.trim().as_bytes());
        let mut found = None;
        for (name, expected) in &self.entries {
            // blake3::Hash's equality is constant-time.
            if digest == *expected && found.is_none() {
                found = Some(Arc::clone(name));
            }
        }
        found
    }
}

/// Requests per minute per token, as token buckets.
struct RateLimits {
    per_minute: u32,
    buckets: Mutex<HashMap<Arc<str>, (f64, Instant)>>,
}

impl RateLimits {
    /// Takes one request from `who`'s bucket, or says how long to wait.
    fn check(&self, who: &Arc<str>) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let (tokens, last) = buckets.entry(Arc::clone(who)).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_second).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }
}

/// Which token opened each session.
#[derive(Default)]
struct SessionOwners(Mutex<HashMap<String, (Arc<str>, Instant)>>);

impl SessionOwners {
    fn owner(&self, session: &str) -> Option<Arc<str>> {
        self.0
            .lock()
            .get(session)
            .map(|(owner, _)| Arc::clone(owner))
    }

    fn remember(&self, session: String, owner: Arc<str>) {
        let mut owners = self.0.lock();
        if owners.len() >= MAX_SESSIONS {
            let mut ages: Vec<Instant> = owners.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            owners.retain(|_, (_, at)| *at > cutoff);
        }
        owners.insert(session, (owner, Instant::now()));
    }

    fn forget(&self, session: &str) {
        self.0.lock().remove(session);
    }
}

/// What remote mode serves with.
struct Remote {
    engine: Arc<Engine>,
    tokens: Tokens,
    limits: RateLimits,
    owners: SessionOwners,
    max_request_bytes: usize,
    mcp: StreamableHttpService<CodeSageServer, LocalSessionManager>,
}

/// The directories remote clients may reach, made absolute (an empty list: the registered
/// roots).
fn allowed_roots(config: &RemoteConfig) -> Arc<[PathBuf]> {
    config
        .allowed_roots
        .iter()
        .map(|dir| {
            let path = PathBuf::from(dir.trim());
            let resolved = crate::engine::paths::resolve_absolute(&path);
            if !resolved.is_dir() {
                tracing::warn!(dir = %resolved.display(), "remote.allowed_roots names a missing directory");
            }
            resolved
        })
        .collect()
}

/// Starts remote mode on `listen`; returns the bound address.
pub async fn start(
    engine: Arc<Engine>,
    listen: &str,
    shutdown: CancellationToken,
) -> Result<SocketAddr> {
    let config = engine.config().remote.clone();
    let address = super::parse_listen(listen, "remote.listen")?;
    let tokens = Tokens::load(&config)?;
    if tokens.is_empty() {
        bail!(
            "remote mode needs at least one bearer token: set {ENV_TOKEN} (e.g. to the output \
             of `openssl rand -hex 32`) or remote.tokens_file"
        );
    }
    let allowed = allowed_roots(&config);
    let listener = super::bind(address, "remote.listen").await?;
    let bound = listener
        .local_addr()
        .context("cannot read the bound address")?;

    let mut http_config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_max_request_body_bytes(config.max_request_bytes);
    http_config = if config.allowed_hosts.iter().any(|host| host.trim() == "*") {
        http_config.disable_allowed_hosts()
    } else {
        let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .into_iter()
            .map(String::from)
            .collect();
        if !bound.ip().is_unspecified() {
            hosts.push(bound.ip().to_string());
        }
        hosts.extend(
            config
                .allowed_hosts
                .iter()
                .map(|host| host.trim().to_string()),
        );
        http_config.with_allowed_hosts(hosts)
    };
    let session_engine = Arc::clone(&engine);
    let session_allowed = Arc::clone(&allowed);
    let mcp = StreamableHttpService::new(
        move || {
            Ok(CodeSageServer::remote(
                Arc::clone(&session_engine),
                Arc::clone(&session_allowed),
            ))
        },
        Arc::new(LocalSessionManager::default()),
        http_config,
    );
    tracing::info!(
        address = %bound,
        tokens = tokens.len(),
        allowed_roots = ?allowed,
        "serving MCP over Streamable HTTP at /mcp (remote mode)"
    );
    let remote = Arc::new(Remote {
        engine,
        tokens,
        limits: RateLimits {
            per_minute: config.requests_per_minute,
            buckets: Mutex::new(HashMap::new()),
        },
        owners: SessionOwners::default(),
        max_request_bytes: config.max_request_bytes,
        mcp,
    });
    tokio::spawn(super::serve(listener, shutdown, move |request, peer| {
        let remote = Arc::clone(&remote);
        async move { remote.handle(request, peer).await }
    }));
    Ok(bound)
}

impl Remote {
    async fn handle(
        &self,
        mut request: http::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> http::Response<Body> {
        let path = request.uri().path().to_string();
        match path.as_str() {
            "/healthz" => return super::healthz(&self.engine),
            "/readyz" => return super::readyz(&self.engine),
            "/mcp" | "/metrics" => {}
            _ => {
                return text(
                    StatusCode::NOT_FOUND,
                    "not found: MCP is served at /mcp (plus /healthz, /readyz, /metrics)\n",
                );
            }
        }
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            });
        let Some(identity) = presented.and_then(|token| self.tokens.identify(token)) else {
            self.engine.metrics().error("unauthorized");
            tracing::warn!(%peer, path, "refused a remote request without a valid bearer token");
            let mut response = text(
                StatusCode::UNAUTHORIZED,
                "unauthorized: send `Authorization: Bearer <token>` with a token this server \
                 accepts\n",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        };
        if let Err(wait) = self.limits.check(&identity) {
            self.engine.metrics().error("rate_limited");
            let mut response = text(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "rate limited: token {identity} is over remote.requests_per_minute; retry \
                     in {} s\n",
                    wait.as_secs().max(1)
                ),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs().max(1)),
            );
            return response;
        }
        if path == "/metrics" {
            return super::metrics(&self.engine);
        }
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        if declared.is_some_and(|length| length > self.max_request_bytes) {
            self.engine.metrics().error("oversized");
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request is larger than remote.max_request_bytes ({} bytes)\n",
                    self.max_request_bytes
                ),
            );
        }
        let session = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        if let Some(session) = &session
            && let Some(owner) = self.owners.owner(session)
            && owner != identity
        {
            self.engine.metrics().error("unauthorized");
            tracing::warn!(%peer, token = %identity, "refused a request for another token's session");
            return text(
                StatusCode::FORBIDDEN,
                "forbidden: this session belongs to another token\n",
            );
        }
        let closing = request.method() == http::Method::DELETE;
        request
            .extensions_mut()
            .insert(RemoteIdentity(Arc::clone(&identity)));
        let response = self.mcp.handle(request).await;
        if response.status().as_u16() == 413 {
            self.engine.metrics().error("oversized");
        }
        match (&session, response.headers().get(SESSION_HEADER)) {
            (None, Some(opened)) => {
                if let Ok(opened) = opened.to_str() {
                    self.owners.remember(opened.to_string(), identity);
                }
            }
            (Some(session), _) if closing && response.status().is_success() => {
                self.owners.forget(session);
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_file_and_short_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        std::fs::write(
            &file,
            "# team tokens\nci:0123456789abcdef0123\n\nfedcba9876543210fedcba\n",
        )
        .unwrap();
        let config = RemoteConfig {
            listen: String::new(),
            tokens_file: file.display().to_string(),
            allowed_roots: Vec::new(),
            max_request_bytes: 1024,
            requests_per_minute: 0,
            allowed_hosts: Vec::new(),
        };
        let tokens = Tokens::load(&config).unwrap();
        assert_eq!(
            tokens.identify("0123456789abcdef0123").as_deref(),
            Some("ci")
        );
        assert_eq!(
            tokens.identify("fedcba9876543210fedcba").as_deref(),
            Some("line4")
        );
        assert!(tokens.identify("0123456789abcdef012").is_none());
        assert!(tokens.identify("").is_none());

        std::fs::write(&file, "short:abc\n").unwrap();
        let err = Tokens::load(&config).err().unwrap().to_string();
        assert!(err.contains("at least"), "{err}");
    }

    #[test]
    fn rate_limits_refill_per_token() {
        let limits = RateLimits {
            per_minute: 2,
            buckets: Mutex::new(HashMap::new()),
        };
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        assert!(limits.check(&a).is_ok());
        assert!(limits.check(&a).is_ok());
        let wait = limits.check(&a).unwrap_err();
        assert!(wait > Duration::from_secs(20), "{wait:?}");
        assert!(limits.check(&b).is_ok(), "buckets are per token");
    }
}
