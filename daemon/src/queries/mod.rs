//! The query layer: every question a client can ask, one file each, answered the same way
//! whichever front end asks (an MCP tool in `crate::mcp::tools`, a `codesage` command over
//! the control channel).
//!
//! A query file holds the question's `Params` (its JSON arguments; their schema is the MCP
//! tool's input schema), its `Output` (the payload of the answer), its [`Limits`] and an
//! async `run`. Everything a query needs is here: resolving roots and files from arguments
//! ([`scope`]), running blocking work with progress, cancellation and a deadline ([`work`]),
//! and wrapping the payload in the one answer envelope every tool returns, bounded in results
//! and tokens, with a cursor for the next page ([`answer`], [`page`]).
//!
//! Adding a question: write `queries/<name>.rs` with `Params`, `Output`, `limits` and `run`,
//! and list it in [`queries!`] below; to offer it to MCP clients, add a tool file in
//! `mcp/tools/` and list it in that module's `tools!`. See ARCHITECTURE.md for an example.

pub mod answer;
pub mod assist;
pub mod page;
pub mod scope;
pub mod work;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use codesage_shared::words::{Explain, Words};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
pub use answer::{Answer, Truncated};
pub use page::{Limits, PageArgs};
pub use work::{ProgressUpdate, Work};

/// Who is asking, which decides defaults, limits and wording.
#[derive(Debug, Clone)]
pub struct Caller {
    /// How messages name tools and arguments.
    pub words: Words,
    /// The roots a request without `codebase_path` is about (an MCP client's workspace
    /// roots, the command line's current directory); empty for "every indexed root".
    pub default_roots: Vec<PathBuf>,
    /// Relative paths in arguments are resolved against this directory (the first client
    /// root, the command line's current directory).
    pub base_dir: Option<PathBuf>,
    /// Answers must fit an agent: default result and token budgets apply, results are capped
    /// at each tool's maximum, and long calls answer before a deadline. The command line
    /// lifts these (its `0` means "everything").
    pub bounded: bool,
    /// A remote-mode client may only reach paths inside these directories (all registered
    /// roots when empty) and never register others; `None` for local clients.
    pub allowed: Option<Arc<[PathBuf]>>,
}

impl Caller {
    /// An MCP client with these workspace roots.
    pub fn mcp(client_roots: Vec<PathBuf>) -> Caller {
        Caller {
            words: Words::Mcp,
            base_dir: client_roots.first().cloned(),
            default_roots: client_roots,
            bounded: true,
            allowed: None,
        }
    }

    /// A remote-mode MCP client, limited to `allowed` (see [`Caller::allowed`]); relative
    /// paths resolve against the only allowed directory when there is exactly one.
    pub fn remote(allowed: Arc<[PathBuf]>) -> Caller {
        Caller {
            words: Words::Mcp,
            base_dir: match allowed.as_ref() {
                [only] => Some(only.clone()),
                _ => None,
            },
            default_roots: Vec::new(),
            bounded: true,
            allowed: Some(allowed),
        }
    }
}

/// Where a request's progress goes. Cheap to clone, callable from any thread, and free of
/// cost until something is reported (most requests end before their first report).
#[derive(Clone)]
pub struct ProgressSink(Arc<dyn Fn(ProgressUpdate) + Send + Sync>);

impl ProgressSink {
    /// A sink that hands each update to `deliver`.
    pub fn new(deliver: impl Fn(ProgressUpdate) + Send + Sync + 'static) -> ProgressSink {
        ProgressSink(Arc::new(deliver))
    }

    /// A sink that sends each update into `sender`.
    pub fn channel(sender: mpsc::UnboundedSender<ProgressUpdate>) -> ProgressSink {
        ProgressSink::new(move |update| {
            let _ = sender.send(update);
        })
    }

    /// Reports `update`.
    pub fn send(&self, update: ProgressUpdate) {
        (self.0)(update)
    }
}

/// How a front end wants the answer: as JSON text (the control channel passes it through) or
/// as a JSON value (MCP's `structuredContent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The answer's JSON text.
    Text,
    /// The answer as a JSON value.
    Value,
}

/// An answer, encoded as the front end asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Encoded {
    /// The answer's JSON text (an object).
    Text(String),
    /// The answer as a JSON object.
    Value(Value),
}

/// One request as a front end hands it to the query layer.
pub struct Request {
    /// How the answer is wanted.
    pub encoding: Encoding,
    /// The daemon.
    pub engine: Arc<Engine>,
    /// Who asks.
    pub caller: Caller,
    /// Where progress goes, if the client wants it.
    pub progress: Option<ProgressSink>,
    /// Cancelled when the client withdraws the request.
    pub cancel: CancellationToken,
    /// The client's model, when it lends one (MCP sampling).
    pub sampler: Option<Arc<dyn crate::llm::Sampler>>,
}

/// What a running query sees.
pub struct Ctx {
    /// The daemon.
    pub engine: Arc<Engine>,
    /// Who asks.
    pub caller: Caller,
    /// The query's name (the MCP tool's).
    pub name: &'static str,
    /// Hash of the arguments that define the answer (everything but paging), so a cursor is
    /// only accepted by the query that issued it.
    pub fingerprint: u64,
    progress: Option<ProgressSink>,
    /// Cancelled when the client withdraws the request.
    pub cancel: CancellationToken,
    /// When a long call must answer with what it has (`None`: no deadline).
    pub deadline: Option<Instant>,
    /// The client's model, when it lends one (MCP sampling).
    pub sampler: Option<Arc<dyn crate::llm::Sampler>>,
}

impl Ctx {
    /// The vocabulary of the front end.
    pub fn words(&self) -> Words {
        self.caller.words
    }

    /// Reports progress, if the client asked for it.
    pub fn progress(&self, update: ProgressUpdate) {
        if let Some(sink) = &self.progress {
            sink.send(update);
        }
    }

    /// Whether the client wants progress.
    pub fn wants_progress(&self) -> bool {
        self.progress.is_some()
    }

    /// A failure explained in the caller's words.
    pub fn fail(&self, err: impl Explain) -> QueryError {
        QueryError::Failed(err.explain(self.words()))
    }
}

/// Why a query failed. The message goes to the person or model that asked, so it says what
/// was wrong and what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The arguments do not fit the query's parameters.
    #[error("invalid arguments for {query}: {message}")]
    InvalidArguments {
        /// The query.
        query: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The request was understood but cannot be served.
    #[error("{0}")]
    Failed(String),
    /// The client withdrew the request.
    #[error("the request was cancelled")]
    Cancelled,
    /// Something that should not happen happened; the daemon keeps running.
    #[error(
        "internal error in {query} (a bug in CodeSage; details are in the daemon log): \
         {detail}. The daemon is still running; try again"
    )]
    Internal {
        /// The query.
        query: &'static str,
        /// What failed.
        detail: String,
    },
}

/// Result of a query.
pub type QueryResult<T> = Result<Answer<T>, QueryError>;

/// The note of an answer that shows `lines` lines with secrets withheld.
pub fn redaction_note(lines: u64) -> String {
    format!(
        "{lines} line(s) are shown with {} in place of secrets (values in .env files, strings \
         shaped like API keys or tokens); set security.serve_secrets = true to see them",
        crate::redact::MARKER
    )
}

/// Declares the query modules once: their `mod` lines, their names, their limits and the
/// dispatch by name that both front ends use.
macro_rules! queries {
    ($($query:ident),* $(,)?) => {
        $(pub mod $query;)*

        /// Every query's name.
        pub const NAMES: &[&str] = &[$(stringify!($query)),*];

        /// Runs query `name` with JSON `arguments`; `None` if there is no such query. The
        /// answer is the envelope (an object), encoded as the request asks.
        pub async fn dispatch(
            name: &str,
            arguments: Map<String, Value>,
            request: Request,
        ) -> Option<Result<Encoded, QueryError>> {
            match name {
                $(stringify!($query) => Some(
                    run_query(stringify!($query), arguments, request, $query::run).await
                ),)*
                _ => None,
            }
        }

        /// The limits of query `name` under `config`.
        pub fn limits(name: &str, config: &codesage_shared::config::Config) -> Option<Limits> {
            match name {
                $(stringify!($query) => Some($query::limits(config)),)*
                _ => None,
            }
        }
    };
}

queries!(
    index_codebase,
    reindex,
    forget_codebase,
    search_codebase,
    semantic_search_codebase,
    read_code_file,
    count_lines_of_code,
    get_file_structure,
    find_symbol,
    find_references,
    list_undocumented_functions,
    find_duplicate_code,
    analyze_codebase_improvements,
    list_todo_fixme,
    changed_symbols,
    affected_callers,
    review_changes,
    analyze_function_dependencies,
    get_dependencies_overview,
    summarize_code_section,
    suggest_code_improvements,
    generate_unit_tests,
    auto_document,
    resolve_todo_fixme,
    get_configuration,
    get_cache_statistics,
    get_performance_metrics,
);

/// Parses the arguments, runs the query with its context, and turns the answer into the
/// envelope's JSON object.
async fn run_query<P, T, F, Fut>(
    name: &'static str,
    arguments: Map<String, Value>,
    request: Request,
    run: F,
) -> Result<Encoded, QueryError>
where
    P: serde::de::DeserializeOwned,
    T: serde::Serialize,
    F: FnOnce(Ctx, P) -> Fut,
    Fut: std::future::Future<Output = QueryResult<T>>,
{
    let fingerprint = page::fingerprint(name, &arguments);
    let params: P = serde_json::from_value(Value::Object(arguments)).map_err(|err| {
        QueryError::InvalidArguments {
            query: name,
            message: err.to_string(),
        }
    })?;
    let deadline = request.caller.bounded.then(|| {
        let seconds = request.engine.config().server.answer_deadline_secs;
        Instant::now() + Duration::from_secs(seconds)
    });
    let encoding = request.encoding;
    let ctx = Ctx {
        engine: request.engine,
        caller: request.caller,
        name,
        fingerprint,
        progress: request.progress,
        cancel: request.cancel,
        deadline,
        sampler: request.sampler,
    };
    let answer = run(ctx, params).await?;
    let encoded = match encoding {
        Encoding::Text => answer.into_text().map(Encoded::Text),
        Encoding::Value => serde_json::to_value(&answer).map(Encoded::Value),
    };
    encoded.map_err(|err| QueryError::Internal {
        query: name,
        detail: format!("cannot encode the answer: {err}"),
    })
}
