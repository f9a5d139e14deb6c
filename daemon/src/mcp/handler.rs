//! The MCP server for one connection (rmcp `ServerHandler`): lists and calls tools, learns
//! the client's workspace roots and indexes them, records metrics, and turns tool failures and
//! panics into error results the model can act on.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeRequestParams, InitializeResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ProgressToken, ServerCapabilities, ServerConfig,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;
use tokio::sync::watch;

use super::tools;
use crate::engine::Engine;
use crate::llm::resilience::Failure;
use crate::llm::{Prompt, Reply, Sampler};
use crate::queries::{Caller, Encoding, ProgressSink, ProgressUpdate, Request};
use futures::future::BoxFuture;

/// How long a tool call waits for the client's roots to arrive before answering without them.
const ROOTS_WAIT: Duration = Duration::from_secs(3);
/// How long the client gets to answer `roots/list`.
const ROOTS_TIMEOUT: Duration = Duration::from_secs(5);

const INSTRUCTIONS: &str = "CodeSage indexes codebases and answers questions about them fast. \
Call index_codebase once for a project directory (workspace folders the client declares are \
indexed automatically), then use search_codebase for exact regex search, find_symbol and \
find_references for definitions and uses, get_file_structure for a file's outline, and \
read_code_file to read a file, a line range or one symbol (symbol ids like \
src/app.py#Service.handle come with outlines and search results). Indexes stay fresh on their \
own; paths in answers are relative to the codebase root. Answers are bounded (max_results, \
max_tokens); when `truncated` is set, pass `cursor` back to get the next page.";

#[derive(Debug, Clone, Default)]
struct ClientRoots {
    /// A `roots/list` exchange is in flight.
    pending: bool,
    /// Canonical paths of the client's roots.
    paths: Vec<PathBuf>,
}

/// The MCP service of one client connection.
#[derive(Clone)]
pub struct CodeSageServer {
    engine: Arc<Engine>,
    client_roots: Arc<watch::Sender<ClientRoots>>,
    /// Remote mode: the directories this session may reach (its client's roots are paths
    /// on another machine, so they are neither used nor indexed).
    remote: Option<Arc<[PathBuf]>>,
}

impl CodeSageServer {
    /// A server for one connection.
    pub fn new(engine: Arc<Engine>) -> CodeSageServer {
        CodeSageServer {
            engine,
            client_roots: Arc::new(watch::channel(ClientRoots::default()).0),
            remote: None,
        }
    }

    /// A server for one remote-mode session, limited to `allowed` (see
    /// [`Caller::remote`]).
    pub fn remote(engine: Arc<Engine>, allowed: Arc<[PathBuf]>) -> CodeSageServer {
        CodeSageServer {
            remote: Some(allowed),
            ..CodeSageServer::new(engine)
        }
    }

    async fn current_client_roots(&self) -> Vec<PathBuf> {
        let mut receiver = self.client_roots.subscribe();
        let ready = tokio::time::timeout(ROOTS_WAIT, receiver.wait_for(|roots| !roots.pending));
        match ready.await {
            Ok(Ok(roots)) => roots.paths.clone(),
            _ => self.client_roots.borrow().paths.clone(),
        }
    }

    /// Asks the client for its roots (if it has any) and registers and indexes them.
    // Roots are deprecated by SEP-2577 in the newest protocol revision, but Gemini CLI and
    // other current clients declare their workspace through them.
    #[allow(deprecated)]
    fn refresh_client_roots(&self, peer: Peer<RoleServer>) {
        let declares_roots = self.remote.is_none()
            && peer
                .peer_info()
                .is_some_and(|info| info.capabilities.roots.is_some());
        if !declares_roots {
            self.client_roots.send_modify(|roots| roots.pending = false);
            return;
        }
        self.client_roots.send_modify(|roots| roots.pending = true);
        let server = self.clone();
        tokio::spawn(async move {
            let listed = tokio::time::timeout(ROOTS_TIMEOUT, peer.list_roots()).await;
            let uris: Vec<String> = match listed {
                Ok(Ok(result)) => result.roots.into_iter().map(|root| root.uri).collect(),
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "client failed to list its roots");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!("client did not answer roots/list in time");
                    Vec::new()
                }
            };
            let mut paths = Vec::new();
            for uri in uris {
                let Some(path) = file_uri_to_path(&uri) else {
                    tracing::warn!(%uri, "ignoring client root that is not a local file URI");
                    continue;
                };
                let path = path.canonicalize().unwrap_or(path);
                if server.engine.config().index.auto_index_client_roots {
                    match server.engine.register_root(&path, true) {
                        Ok(root) => {
                            server.engine.start_index(&root);
                        }
                        Err(err) => {
                            tracing::warn!(root = %path.display(), error = %err, "not indexing client root");
                        }
                    }
                }
                paths.push(path);
            }
            server.client_roots.send_modify(|roots| {
                roots.pending = false;
                roots.paths = paths;
            });
        });
    }
}

/// Sends a request's progress updates to the client as MCP progress notifications under
/// `token`, in order, each with a larger progress value than the one before (as MCP asks).
/// The forwarding task starts with the first update, so a quick request costs nothing.
fn forward_progress(peer: Peer<RoleServer>, token: ProgressToken) -> ProgressSink {
    let runtime = tokio::runtime::Handle::current();
    let forwarder: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<ProgressUpdate>> =
        std::sync::OnceLock::new();
    ProgressSink::new(move |update| {
        let sender = forwarder.get_or_init(|| {
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<ProgressUpdate>();
            let (peer, token) = (peer.clone(), token.clone());
            runtime.spawn(async move {
                let mut last = f64::NEG_INFINITY;
                while let Some(update) = receiver.recv().await {
                    if update.progress <= last {
                        continue;
                    }
                    last = update.progress;
                    let mut notification =
                        ProgressNotificationParam::new(token.clone(), update.progress)
                            .with_message(update.message);
                    if let Some(total) = update.total {
                        notification = notification.with_total(total);
                    }
                    // A client that went away does not stop the request.
                    let _ = peer.notify_progress(notification).await;
                }
            });
            sender
        });
        let _ = sender.send(update);
    })
}

/// The client's model, lent through `sampling/createMessage`, when the client declares the
/// sampling capability.
struct ClientSampler {
    peer: Peer<RoleServer>,
}

#[allow(deprecated)]
fn client_sampler(peer: &Peer<RoleServer>) -> Option<Arc<dyn Sampler>> {
    let samples = peer
        .peer_info()
        .is_some_and(|info| info.capabilities.sampling.is_some());
    samples.then(|| Arc::new(ClientSampler { peer: peer.clone() }) as Arc<dyn Sampler>)
}

impl Sampler for ClientSampler {
    // Sampling is deprecated by SEP-2577 in the newest protocol revision, but current
    // clients (Claude Code, VS Code) still offer it.
    #[allow(deprecated)]
    fn sample<'a>(
        &'a self,
        prompt: &'a Prompt,
        model_hint: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Reply, Failure>> {
        use rmcp::model::{
            CreateMessageRequestParams, ModelHint, ModelPreferences, Role, SamplingContent,
            SamplingMessage, SamplingMessageContentBlock,
        };
        Box::pin(async move {
            let mut params = CreateMessageRequestParams::new(
                vec![SamplingMessage::user_text(prompt.user.clone())],
                prompt.max_tokens,
            );
            params.system_prompt = Some(prompt.system.clone());
            if !model_hint.is_empty() {
                let mut preferences = ModelPreferences::default();
                preferences.hints = Some(vec![ModelHint::new(model_hint.to_string())]);
                params.model_preferences = Some(preferences);
            }
            let answer = tokio::time::timeout(timeout, self.peer.create_message(params))
                .await
                .map_err(|_| Failure::Timeout(timeout))?
                .map_err(|err| Failure::Declined(err.to_string()))?;
            if answer.message.role != Role::Assistant {
                return Err(Failure::Malformed(
                    "the reply is not the assistant's".into(),
                ));
            }
            let blocks: Vec<&SamplingMessageContentBlock> = match &answer.message.content {
                SamplingContent::Single(block) => vec![block],
                SamplingContent::Multiple(blocks) => blocks.iter().collect(),
            };
            let text: String = blocks
                .into_iter()
                .filter_map(|block| match block {
                    SamplingMessageContentBlock::Text(text) => Some(text.text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n");
            if text.trim().is_empty() {
                return Err(Failure::Empty);
            }
            Ok(Reply {
                text,
                model: answer.model,
                tokens_in: 0,
                tokens_out: 0,
            })
        })
    }
}

/// The local path of a `file://` URI.
fn file_uri_to_path(uri: &str) -> Option<PathBuf> {
    url::Url::parse(uri).ok()?.to_file_path().ok()
}

/// Most characters of a call's arguments kept in the audit log: enough to see what was
/// asked, never the megabytes of a hostile argument.
const AUDIT_DETAIL_CHARS: usize = 512;

/// `arguments` as the audit log keeps them: whole when short, else their start and length.
fn audit_detail(arguments: &str) -> String {
    if arguments.chars().count() <= AUDIT_DETAIL_CHARS {
        return arguments.to_string();
    }
    let start: String = arguments.chars().take(AUDIT_DETAIL_CHARS).collect();
    format!("{start}… ({} bytes in all)", arguments.len())
}

/// Replaces every configured secret in `value`'s strings, so no answer can carry one.
fn scrub_secrets(value: &mut Value, secrets: &[&str]) {
    match value {
        Value::String(text) => {
            for secret in secrets {
                if text.contains(secret) {
                    *text = text.replace(secret, "********");
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| scrub_secrets(item, secrets)),
        Value::Object(object) => object
            .values_mut()
            .for_each(|item| scrub_secrets(item, secrets)),
        _ => {}
    }
}

impl ServerHandler for CodeSageServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("codesage", codesage_shared::VERSION))
            .with_instructions(INSTRUCTIONS)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        // Tool calls may arrive before the `initialized` notification is handled; mark the
        // roots as pending now so that they wait for the client's answer to `roots/list`.
        #[allow(deprecated)]
        if request.capabilities.roots.is_some() {
            self.client_roots.send_modify(|roots| roots.pending = true);
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::all(
            self.engine.config(),
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = Instant::now();
        let name = request.name.to_string();
        if !tools::TOOL_NAMES.contains(&name.as_str()) {
            self.engine
                .metrics()
                .record("unknown_tool", started.elapsed(), false);
            self.engine.metrics().error("unknown_tool");
            return Err(McpError::invalid_params(
                format!(
                    "unknown tool {name:?}; available tools: {}",
                    tools::TOOL_NAMES.join(", ")
                ),
                None,
            ));
        }
        let progress_token = context.meta.get_progress_token().or_else(|| {
            request
                .meta
                .as_ref()
                .and_then(|meta| meta.get_progress_token())
        });
        let progress = progress_token.map(|token| forward_progress(context.peer.clone(), token));
        let caller = match &self.remote {
            Some(allowed) => Caller::remote(Arc::clone(allowed)),
            None => Caller::mcp(self.current_client_roots().await),
        };
        if name == "index_codebase" {
            let actor = context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| {
                    parts
                        .extensions
                        .get::<crate::http::remote::RemoteIdentity>()
                })
                .map_or_else(
                    || "mcp".to_string(),
                    |identity| format!("token:{}", identity.0),
                );
            let detail = request
                .arguments
                .as_ref()
                .map(|arguments| Value::Object(arguments.clone()).to_string())
                .unwrap_or_default();
            crate::audit::record("index_codebase", &audit_detail(&detail), &actor);
        }
        let query = Request {
            encoding: Encoding::Value,
            engine: Arc::clone(&self.engine),
            caller,
            progress,
            cancel: context.ct.clone(),
            sampler: client_sampler(&context.peer),
        };
        let call = AssertUnwindSafe(tools::call(&name, request.arguments, query)).catch_unwind();
        let outcome = call.await;
        let mut panicked = false;
        let result = match outcome {
            Ok(Some(Ok(mut value))) => {
                let secrets: Vec<&str> = self.engine.config().secrets.values().collect();
                if !secrets.is_empty() {
                    scrub_secrets(&mut value, &secrets);
                }
                CallToolResult::structured(value)
            }
            Ok(Some(Err(err))) => {
                let mut message = Value::String(format!("Error: {err}"));
                let secrets: Vec<&str> = self.engine.config().secrets.values().collect();
                scrub_secrets(&mut message, &secrets);
                let text = message.as_str().unwrap_or_default().to_string();
                CallToolResult::error(vec![ContentBlock::text(text)])
            }
            // Names were checked above, so the dispatcher knows every name that gets here.
            Ok(None) => CallToolResult::error(vec![ContentBlock::text(format!(
                "Error: tool {name} is not implemented"
            ))]),
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown".into());
                tracing::error!(tool = %name, %reason, "tool panicked");
                panicked = true;
                CallToolResult::error(vec![ContentBlock::text(format!(
                    "Error: internal error in {name} (a bug in CodeSage; details are in the \
                     daemon log). The daemon is still running; try again or rephrase."
                ))])
            }
        };
        let ok = result.is_error != Some(true);
        if !ok {
            self.engine
                .metrics()
                .error(if panicked { "panic" } else { "tool_error" });
        }
        self.engine.metrics().record(&name, started.elapsed(), ok);
        self.engine.metrics().question_ended();
        Ok(result.into())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.refresh_client_roots(context.peer);
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        self.refresh_client_roots(context.peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(
            file_uri_to_path("file:///home/me/my%20project"),
            Some(PathBuf::from("/home/me/my project"))
        );
        assert_eq!(file_uri_to_path("https://example.com/x"), None);
        assert_eq!(file_uri_to_path("not a uri"), None);
    }

    #[test]
    fn audit_details_are_bounded() {
        assert_eq!(audit_detail("{\"path\":\"/x\"}"), "{\"path\":\"/x\"}");
        let long = format!("{{\"path\":\"{}\"}}", "a".repeat(10_000));
        let kept = audit_detail(&long);
        assert!(kept.len() < 1024, "{kept}");
        assert!(
            kept.ends_with(&format!("({} bytes in all)", long.len())),
            "{kept}"
        );
    }

    #[test]
    fn secrets_are_scrubbed_everywhere() {
        let mut value = serde_json::json!({"a": ["key=sk-123 here"], "b": {"c": "sk-123"}});
        scrub_secrets(&mut value, &["sk-123"]);
        assert!(!value.to_string().contains("sk-123"), "{value}");
    }
}
