//! What is spoken on a connection to the daemon.
//!
//! Every connection opens with a one-line hello from the client naming the channel that follows:
//!
//! ```text
//! client: CODESAGE/1 mcp\n          (or: CODESAGE/1 control\n)
//! daemon: OK codesaged 0.1.0\n      (or: ERR <reason>\n, then the daemon closes)
//! ```
//!
//! After `mcp` the connection carries newline-delimited MCP JSON-RPC, byte for byte what the
//! editor wrote to the shim's stdin. After `control` the client writes one JSON
//! [`ControlRequest`] line and the daemon answers with JSON [`ControlEvent`] lines, the last of
//! which is final (see [`ControlEvent::is_final`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::words::Words;

/// Version of the hello/control protocol. Bumped on incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest hello line either side accepts, in bytes.
pub const MAX_HELLO_LEN: usize = 256;

/// Longest control request line the daemon accepts, in bytes.
pub const MAX_CONTROL_REQUEST_LEN: usize = 1024 * 1024;

/// What follows the hello on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// MCP JSON-RPC, newline-delimited (the shim).
    Mcp,
    /// One [`ControlRequest`] and its [`ControlEvent`]s (the control commands).
    Control,
}

impl Channel {
    fn keyword(self) -> &'static str {
        match self {
            Channel::Mcp => "mcp",
            Channel::Control => "control",
        }
    }

    /// The hello line a client sends to open this channel, newline included.
    pub fn hello(self) -> String {
        format!("CODESAGE/{PROTOCOL_VERSION} {}\n", self.keyword())
    }

    /// Parses a client's hello line (without its newline).
    pub fn parse_hello(line: &str) -> Result<Channel, String> {
        let line = line.trim_end_matches('\r');
        let Some(rest) = line.strip_prefix("CODESAGE/") else {
            return Err(format!(
                "expected a hello line like `CODESAGE/{PROTOCOL_VERSION} mcp`, got {:?}; \
                 connect with `codesage mcp` rather than writing to the socket directly",
                truncate_for_message(line)
            ));
        };
        let (version, keyword) = rest.split_once(' ').unwrap_or((rest, ""));
        if version != PROTOCOL_VERSION.to_string() {
            return Err(format!(
                "client speaks protocol version {version:?}, this daemon speaks {PROTOCOL_VERSION}; \
                 run `codesage stop` and use matching versions of codesage and codesaged"
            ));
        }
        match keyword {
            "mcp" => Ok(Channel::Mcp),
            "control" => Ok(Channel::Control),
            other => Err(format!(
                "unknown channel {:?} in hello; expected `mcp` or `control`",
                truncate_for_message(other)
            )),
        }
    }
}

fn truncate_for_message(text: &str) -> String {
    text.chars().take(60).collect()
}

/// The daemon's reply to an accepted hello, newline included.
pub fn hello_ok(version: &str) -> String {
    format!("OK codesaged {version}\n")
}

/// The daemon's reply to a refused hello, newline included. Newlines in `reason` are flattened.
pub fn hello_err(reason: &str) -> String {
    format!("ERR {}\n", reason.replace(['\n', '\r'], " "))
}

/// Parses the daemon's hello reply (without its newline): the daemon's version, or its reason
/// for refusing.
pub fn parse_hello_reply(line: &str) -> Result<String, String> {
    let line = line.trim_end_matches('\r');
    if let Some(version) = line.strip_prefix("OK codesaged ") {
        Ok(version.to_string())
    } else if let Some(reason) = line.strip_prefix("ERR ") {
        Err(reason.to_string())
    } else {
        Err(format!(
            "unexpected reply from the daemon: {:?}",
            truncate_for_message(line)
        ))
    }
}

/// A request on a control connection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum ControlRequest {
    /// Liveness check; answered with [`ControlEvent::Pong`].
    Ping,
    /// Daemon and index health; answered with [`ControlEvent::Status`].
    Status,
    /// One query of the daemon's query layer (the MCP tools' questions, plus `reindex`),
    /// with its JSON arguments; answered with [`ControlEvent::Answer`] after any number of
    /// [`ControlEvent::Progress`] events.
    Query {
        /// The query's name (`search_codebase`, `index_codebase`, `reindex`, …).
        name: String,
        /// Its arguments, as the MCP tool takes them.
        #[serde(default)]
        arguments: serde_json::Map<String, serde_json::Value>,
        /// The client's working directory: relative paths are resolved against it, and a
        /// request without `codebase_path` is about the indexed root holding it (else every
        /// root).
        #[serde(default)]
        cwd: Option<PathBuf>,
        /// How messages should name what to do next.
        #[serde(default)]
        words: Words,
        /// Apply the limits an agent gets (default sizes, maxima, a deadline). Off, `0` means
        /// "everything" and long calls run to the end.
        #[serde(default)]
        bounded: bool,
    },
    /// Shut the daemon down gracefully; answered with [`ControlEvent::Stopping`].
    Stop,
    /// The metrics in the Prometheus text format; answered with [`ControlEvent::Metrics`].
    Metrics,
    /// Write a backup of the store to `path` (absolute) while serving; answered with
    /// [`ControlEvent::Backup`].
    Backup {
        /// The backup file to write (replaced atomically if it exists).
        path: PathBuf,
    },
    /// Check the store's integrity; answered with [`ControlEvent::Check`].
    Check,
    /// Give the store's free pages back to the filesystem; answered with
    /// [`ControlEvent::Compact`].
    Compact,
}

/// An answer on a control connection, externally tagged (`{"answer": {...}}`) so that an
/// answer's text passes through untouched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ControlEvent {
    /// Answer to [`ControlRequest::Ping`].
    Pong {
        /// Daemon version.
        version: String,
        /// Daemon process id.
        pid: u32,
    },
    /// Progress of a query (not final).
    Progress(ProgressUpdate),
    /// Answer to [`ControlRequest::Status`].
    Status(Box<StatusReport>),
    /// Answer to [`ControlRequest::Query`]: the same JSON object the MCP tool returns,
    /// passed through as text (large answers are never built as a JSON tree on either side;
    /// see [`answer_event_line`] and [`parse_event`]).
    Answer {
        /// The answer envelope.
        answer: AnswerText,
    },
    /// The daemon accepted [`ControlRequest::Stop`] and is shutting down.
    Stopping,
    /// Answer to [`ControlRequest::Metrics`]: the Prometheus text exposition.
    Metrics {
        /// The exposition (format 0.0.4).
        text: String,
    },
    /// Answer to [`ControlRequest::Backup`]: the manifest of the file written.
    Backup(Box<crate::ops::BackupManifest>),
    /// Answer to [`ControlRequest::Check`].
    Check(Box<crate::ops::CheckReport>),
    /// Answer to [`ControlRequest::Compact`].
    Compact(crate::ops::CompactReport),
    /// The request failed; `message` says why and what to do.
    Error {
        /// Human-readable explanation.
        message: String,
    },
}

impl ControlEvent {
    /// Whether this event ends the exchange (everything but progress does).
    pub fn is_final(&self) -> bool {
        !matches!(self, ControlEvent::Progress(_))
    }
}

/// An answer's JSON text (an object), carried by [`ControlEvent::Answer`] as JSON, not as a
/// string.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerText(pub String);

impl Serialize for AnswerText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.0.clone())
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for AnswerText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Ok(AnswerText(raw.get().to_string()))
    }
}

/// How an answer event starts on the wire (the serialization of [`ControlEvent::Answer`]).
const ANSWER_EVENT_PREFIX: &str = r#"{"answer":{"answer":"#;

/// The event line (newline included) carrying answer `text`, written without re-encoding it:
/// exactly what serializing [`ControlEvent::Answer`] gives. `text` must be the JSON text of
/// an object on one line (serde_json's compact output).
pub fn answer_event_line(text: &str) -> String {
    format!("{ANSWER_EVENT_PREFIX}{text}}}}}\n")
}

/// Parses one event line; an answer's text is taken as it is, without parsing it twice.
pub fn parse_event(line: &str) -> Result<ControlEvent, serde_json::Error> {
    if let Some(text) = line
        .strip_prefix(ANSWER_EVENT_PREFIX)
        .and_then(|rest| rest.strip_suffix("}}"))
    {
        return Ok(ControlEvent::Answer {
            answer: AnswerText(text.to_string()),
        });
    }
    serde_json::from_str(line)
}

/// Progress of a long request (as an MCP progress notification carries it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ProgressUpdate {
    /// Work done so far (grows with every update).
    pub progress: f64,
    /// Work in all, once known.
    #[serde(default)]
    pub total: Option<f64>,
    /// What is being done, for people.
    pub message: String,
    /// The indexing run's counters, when the request indexes.
    #[serde(default)]
    pub index: Option<IndexProgress>,
}

/// Snapshot of an indexing run in progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct IndexProgress {
    /// Root being indexed.
    pub root: PathBuf,
    /// Files found by the walk so far.
    pub files_seen: u64,
    /// Files processed (read, or found unchanged) so far.
    pub files_done: u64,
    /// Whether the walk has finished, so `files_seen` is the final total.
    pub walk_done: bool,
    /// Source bytes read so far.
    pub bytes_read: u64,
    /// Milliseconds since the run started.
    pub elapsed_ms: u64,
    /// Contents the run's second pass parses for symbols (known once the text pass is done).
    #[serde(default)]
    pub symbols_total: u64,
    /// Of which parsed so far.
    #[serde(default)]
    pub symbols_done: u64,
}

/// Outcome of an indexing run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct IndexSummary {
    /// The root.
    pub root: PathBuf,
    /// Files in the root's index after the run.
    pub files: u64,
    /// Total size of those files' sources, in bytes.
    pub bytes: u64,
    /// Files read from disk during this run (new or changed).
    pub files_read: u64,
    /// Files whose size and modification time matched the index, so were not read.
    pub files_unchanged: u64,
    /// Files removed from the index because they no longer exist (or are now ignored).
    pub files_removed: u64,
    /// Files skipped because they look binary.
    pub skipped_binary: u64,
    /// Files skipped because they exceed the size limit.
    pub skipped_too_large: u64,
    /// Files that could not be read (permissions, vanished, ...).
    pub errors: u64,
    /// Directories or files the walk could not read (permission denied, I/O errors): what
    /// is under them is not in the index.
    #[serde(default)]
    pub unreadable: u64,
    /// The first few of those, each with its error.
    #[serde(default)]
    pub unreadable_paths: Vec<String>,
    /// Files per language in the root after the run.
    pub languages: BTreeMap<String, u64>,
    /// Wall-clock duration of the run, in milliseconds.
    pub elapsed_ms: u64,
    /// Contents parsed for symbols by the run's second pass.
    #[serde(default)]
    pub files_parsed: u64,
    /// Milliseconds until the text pass finished: from then on the whole root was
    /// searchable, while symbols were still being parsed.
    #[serde(default)]
    pub text_ms: u64,
}

/// Daemon health, for `codesage status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StatusReport {
    /// `healthy`, `degraded` or `unhealthy` (thresholds in `[alerts]`).
    #[serde(default)]
    pub health: String,
    /// Why the daemon is not healthy, with what to do, one line each.
    #[serde(default)]
    pub health_reasons: Vec<String>,
    /// Daemon version.
    pub version: String,
    /// Daemon process id.
    pub pid: u32,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// Socket the daemon listens on.
    pub socket: PathBuf,
    /// Path of the store file.
    pub store_path: PathBuf,
    /// Size of the store file in bytes.
    pub store_bytes: u64,
    /// A write to the store that failed on the file (disk full, I/O error) and has not
    /// succeeded since, with what to do; answers meanwhile come from the last saved index.
    #[serde(default)]
    pub store_problem: Option<String>,
    /// What the store file's bytes hold, per kind of data; the rest of the file is free
    /// pages (given back by the next compaction) and allocator state.
    #[serde(default)]
    pub store_space: Vec<StoreSpace>,
    /// Resident memory of the daemon, in bytes (0 if unknown).
    pub rss_bytes: u64,
    /// Where the resident memory goes, per component.
    #[serde(default)]
    pub memory: MemoryReport,
    /// Requests served since start (MCP tool calls and control requests).
    pub requests_served: u64,
    /// Requests that ended in an error.
    pub request_errors: u64,
    /// Open connections right now.
    pub connections_active: u64,
    /// MCP requests received since start.
    pub mcp_requests_received: u64,
    /// MCP requests received and not yet answered.
    pub mcp_requests_in_flight: u64,
    /// Registered roots.
    pub roots: Vec<RootStatus>,
    /// The cache of decompressed contents searches read through (absent when disabled).
    #[serde(default)]
    pub content_cache: Option<CacheStatus>,
    /// The LLM providers (calls, failures, tokens, breakers) and the reply cache.
    #[serde(default)]
    pub llm: LlmStatus,
    /// Segment merges or a store compaction are still to come (the store may still shrink).
    #[serde(default)]
    pub maintenance_pending: bool,
    /// The embedding model: `loaded`, `off`, or why there is none.
    #[serde(default)]
    pub embedding_model: String,
    /// Chunks embedded by the model since start, and vectors reused from the store instead.
    #[serde(default)]
    pub chunks_embedded: u64,
    /// Vectors found in the store instead of being computed since start.
    #[serde(default)]
    pub vectors_reused: u64,
}

/// Where the daemon's resident memory goes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct MemoryReport {
    /// Bytes the program holds on the heap, counted by the allocator (absent when the
    /// daemon runs on another allocator).
    pub heap_bytes: Option<u64>,
    /// The budget caches share (`memory.budget_mb`), in bytes.
    pub cache_budget_bytes: u64,
    /// The parts, largest first: estimates from each structure's sizes, then what the heap
    /// holds besides them and what the process holds besides its heap.
    pub parts: Vec<MemoryPart>,
}

/// One part of the daemon's memory.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct MemoryPart {
    /// What it is: `trigram segments`, `definitions`, `content cache`, ….
    pub name: String,
    /// Bytes (an estimate for the itemised parts).
    pub bytes: u64,
    /// A cache's bound, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
}

/// Where the bytes of the store file go: one kind of data (a redb table).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StoreSpace {
    /// What the table holds: `contents`, `symbols`, `trigram segments`, `file records`, ….
    pub name: String,
    /// Entries in the table.
    pub entries: u64,
    /// Bytes of keys and values.
    pub stored_bytes: u64,
    /// Bytes of the table's pages that hold neither data nor metadata: partly filled pages
    /// and the rounding of large values up to a power-of-two number of pages.
    pub fragmented_bytes: u64,
    /// Bytes of B-tree structure (branch pages, per-entry offsets).
    pub metadata_bytes: u64,
}

/// Figures of a cache.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CacheStatus {
    /// Bytes held.
    pub bytes: u64,
    /// Most bytes it may hold.
    pub capacity: u64,
    /// Entries held.
    pub entries: u64,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// Entries evicted to stay within the capacity.
    #[serde(default)]
    pub evictions: u64,
    /// hits / (hits + misses), 0 when unused.
    pub hit_rate: f64,
}

/// One provider's figures since the daemon started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LlmProviderStatus {
    /// Calls made (a call may take several attempts).
    pub calls: u64,
    /// Calls answered.
    pub succeeded: u64,
    /// Calls that ended without an answer (after their retries).
    pub failures: u64,
    /// HTTP attempts (or sampling requests) in all.
    pub attempts: u64,
    /// Retries among them.
    pub retries: u64,
    /// Prompt tokens sent.
    pub tokens_in: u64,
    /// Reply tokens received.
    pub tokens_out: u64,
    /// Calls refused by the open breaker.
    pub breaker_refusals: u64,
    /// Calls that waited for the client-side rate limit.
    pub rate_limited: u64,
    /// `closed`, `open` or `half-open`.
    pub breaker: String,
    /// Failed calls in a row.
    pub consecutive_failures: u32,
    /// The last failure's reason.
    pub last_error: Option<String>,
}

/// The reply cache's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LlmCacheStatus {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// hits / (hits + misses).
    pub hit_rate: f64,
    /// Replies stored.
    pub entries: u64,
    /// How long a reply stays valid, seconds (0: caching off).
    pub ttl_secs: u64,
}

/// Everything `codesage status` and `get_performance_metrics` show about the LLM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LlmStatus {
    /// `llm.provider` as configured.
    pub provider: String,
    /// Per provider that was called.
    pub providers: std::collections::BTreeMap<String, LlmProviderStatus>,
    /// The reply cache.
    pub cache: LlmCacheStatus,
}

/// One registered root, for `codesage status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct RootStatus {
    /// Canonical path of the root.
    pub path: PathBuf,
    /// `ready`, `indexing` or `failed`.
    pub state: String,
    /// Files in the index.
    pub files: u64,
    /// Source bytes in the index.
    pub bytes: u64,
    /// When the last indexing run finished (milliseconds since the Unix epoch; 0 if never).
    pub last_indexed_ms: u64,
    /// What went wrong, when `state` is `failed`.
    pub error: Option<String>,
    /// What the last finished indexing run did (since the daemon started).
    pub last_run: Option<IndexSummary>,
    /// How the root is kept fresh.
    pub watch: Option<WatchStatus>,
    /// Size of the trigram index the root uses (the store's segments, shared by every root, as
    /// held in memory), in bytes.
    #[serde(default)]
    pub trigram_index_bytes: u64,
    /// Number of the store's trigram segments (merged in the background).
    #[serde(default)]
    pub trigram_segments: u64,
    /// Semantic search: chunks and how many have vectors (absent until first chunked).
    #[serde(default)]
    pub semantic: Option<SemanticStatus>,
    /// Clone reports the daemon keeps warm for this root (`health.warm_clone_reports`).
    #[serde(default)]
    pub clone_reports: Vec<CloneReportStatus>,
}

/// A clone question the daemon keeps answered for a root, for `codesage status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CloneReportStatus {
    /// The question, in `find_duplicate_code`'s argument names.
    pub question: String,
    /// Whether it is answered for the root's current index (the next ask is from memory).
    pub warm: bool,
    /// The index generation it was last answered at in the background (0: not yet).
    pub answered_generation: u64,
    /// How long that background answer took, in milliseconds.
    pub last_ms: u64,
}

/// Semantic indexing of a root, for `codesage status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SemanticStatus {
    /// Chunks (functions, classes, windows) in the root.
    pub chunks: u64,
    /// Chunks with a vector from the embedding model.
    pub embedded: u64,
}

/// How a root is kept fresh, for `codesage status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct WatchStatus {
    /// `starting`, `watching`, `polling`, `rescanning` or `stopped`.
    pub mode: String,
    /// Changed paths applied since the daemon started.
    pub events_applied: u64,
    /// Batches applied.
    pub batches: u64,
    /// When the index last changed (ms since the Unix epoch; 0 = not since start).
    pub last_update_ms: u64,
    /// Changed paths waiting in the current batch.
    pub pending: u64,
    /// Full rescans (lost events, polling, watcher errors).
    pub rescans: u64,
    /// Directories with a watch.
    pub watched_dirs: u64,
    /// Time from the first event of the last batch to its commit (write-to-searchable), ms.
    pub last_latency_ms: Option<f64>,
    /// Time spent applying the last batch (its cost, without the settle wait), ms.
    pub last_apply_ms: Option<f64>,
    /// Median of the write-to-searchable latency over all batches, ms.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile of that latency, ms.
    pub latency_p95_ms: Option<f64>,
    /// Why the root is not watched, or the last watcher error.
    pub error: Option<String>,
}

/// Parameters of an exact (regex) search, shared by `search_codebase` and `codesage search`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct SearchParams {
    /// Root (or a directory inside one) to search; `None` lets the daemon pick.
    pub root: Option<PathBuf>,
    /// Regular expression (Rust `regex` syntax), or a literal with `fixed_strings`.
    pub pattern: String,
    /// Match case exactly (default true).
    pub case_sensitive: bool,
    /// Treat `pattern` as a literal string.
    pub fixed_strings: bool,
    /// Only files with these extensions (`rs`, `.py`) or language names.
    pub file_types: Vec<String>,
    /// Skip files whose relative path matches one of these globs.
    pub exclude_patterns: Vec<String>,
    /// Lines of context before and after each match.
    pub context_lines: usize,
    /// Most matching lines to return; `None` uses the daemon's default, `Some(0)` as many as
    /// the daemon allows (`search.max_results_limit`).
    pub max_results: Option<usize>,
    /// Lift the daemon's limit entirely (the command line's `--max-results 0`, for output
    /// compared line for line with ripgrep). Never set for MCP requests.
    #[serde(default)]
    pub unbounded: bool,
}

/// The matches in one file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct FileMatches {
    /// Path relative to the root, `/`-separated.
    pub file_path: String,
    /// Matching lines, ascending.
    pub matches: Vec<LineMatch>,
}

/// One matching line, with optional context.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct LineMatch {
    /// 1-based line number.
    pub line_number: u64,
    /// The line's text (without its line ending; very long lines are shortened).
    pub line_content: String,
    /// Lines just before the match (oldest first), when context was asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_before: Vec<String>,
    /// Lines just after the match, when context was asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_after: Vec<String>,
    /// The innermost definition holding the line, as a symbol id (`path#Class.method`) that
    /// `read_code_file` and `find_references` accept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips() {
        for channel in [Channel::Mcp, Channel::Control] {
            let hello = channel.hello();
            assert_eq!(
                Channel::parse_hello(hello.trim_end_matches('\n')),
                Ok(channel)
            );
        }
    }

    #[test]
    fn bad_hellos_are_explained() {
        let err = Channel::parse_hello("{\"jsonrpc\":\"2.0\"}").unwrap_err();
        assert!(err.contains("codesage mcp"), "{err}");
        let err = Channel::parse_hello("CODESAGE/99 mcp").unwrap_err();
        assert!(err.contains("99"), "{err}");
        let err = Channel::parse_hello("CODESAGE/1 telnet").unwrap_err();
        assert!(err.contains("telnet"), "{err}");
    }

    #[test]
    fn hello_replies_parse() {
        assert_eq!(
            parse_hello_reply(hello_ok("1.2.3").trim_end()),
            Ok("1.2.3".into())
        );
        assert_eq!(
            parse_hello_reply(hello_err("too\nmany").trim_end()),
            Err("too many".into())
        );
    }

    #[test]
    fn control_messages_are_tagged_json() {
        let request = ControlRequest::Query {
            name: "index_codebase".into(),
            arguments: serde_json::json!({"path": "/src"})
                .as_object()
                .cloned()
                .unwrap(),
            cwd: None,
            words: Words::Cli,
            bounded: false,
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(
            json,
            r#"{"request":"query","name":"index_codebase","arguments":{"path":"/src"},"cwd":null,"words":"cli","bounded":false}"#
        );
        assert_eq!(
            serde_json::from_str::<ControlRequest>(&json).unwrap(),
            request
        );
        let event = ControlEvent::Error {
            message: "x".into(),
        };
        assert!(event.is_final());
        assert!(!ControlEvent::Progress(ProgressUpdate::default()).is_final());
        // Every event must survive a round trip (internally tagged enums cannot carry bare
        // sequences).
        let events = [
            ControlEvent::Progress(ProgressUpdate {
                index: Some(IndexProgress::default()),
                ..ProgressUpdate::default()
            }),
            ControlEvent::Status(Box::default()),
            ControlEvent::Answer {
                answer: AnswerText(r#"{"results":[],"notes":["a}}"]}"#.into()),
            },
            ControlEvent::Stopping,
        ];
        for event in events {
            let json = serde_json::to_string(&event).unwrap();
            let back = serde_json::from_str::<ControlEvent>(&json).unwrap();
            assert_eq!(back, event);
            assert_eq!(parse_event(&json).unwrap(), event);
        }
        // The answer line written by hand is exactly the serialized event.
        let text = r#"{"cursor":null,"notes":[]}"#;
        let event = ControlEvent::Answer {
            answer: AnswerText(text.into()),
        };
        assert_eq!(
            answer_event_line(text),
            format!("{}\n", serde_json::to_string(&event).unwrap())
        );
    }
}
