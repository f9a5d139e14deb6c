//! CodeSage's configuration: defaults per profile, a TOML file, `CODESAGE_*` environment
//! variables and a `.env` file, merged in that order (later wins).
//!
//! Nested keys are addressed in the environment with a double underscore:
//! `CODESAGE_INDEX__MAX_FILE_SIZE=1048576`, `CODESAGE_SEARCH__DEFAULT_MAX_RESULTS=50`.
//! The profile is chosen with `profile = "..."` in the file or `CODESAGE_PROFILE`.
//!
//! Secrets (LLM API keys) are deliberately *not* configuration: they are read only from the
//! environment (which a `.env` file feeds), are never deserialized from the TOML file, and
//! print and serialize masked.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize, Serializer};

/// A named set of defaults tuned for one kind of machine or use.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Verbose logs, few connections: for working on CodeSage itself.
    Development,
    /// Balanced defaults for everyday use.
    #[default]
    Production,
    /// Faster compression, more threads and larger answers, for big machines.
    HighPerformance,
    /// One indexing thread, stronger compression, smaller files and answers.
    MemoryConstrained,
}

impl Profile {
    /// All profiles, for help texts.
    pub const ALL: [Profile; 4] = [
        Profile::Development,
        Profile::Production,
        Profile::HighPerformance,
        Profile::MemoryConstrained,
    ];
}

/// How files are found and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Files larger than this many bytes are skipped.
    pub max_file_size: u64,
    /// Index hidden files and directories (names starting with `.`); `.git` is never indexed.
    pub include_hidden: bool,
    /// Follow symbolic links while walking (loops are detected).
    pub follow_symlinks: bool,
    /// Honour `.gitignore`, `.ignore` and git's global excludes, in git repositories or not.
    pub respect_gitignore: bool,
    /// Directory names never descended into, wherever they appear.
    pub exclude_dirs: Vec<String>,
    /// Globs (matched against the path relative to the root) of files never indexed.
    pub exclude_globs: Vec<String>,
    /// Worker threads for indexing; 0 means one per CPU.
    pub threads: usize,
    /// zstd level for stored contents (1 = fastest, 19 = smallest; 3 by default: level 7
    /// stores about 9% less and decompresses faster, but makes a tree's first index pass
    /// about a third slower).
    pub compression_level: i32,
    /// zstd level stored contents are compressed to again in the background once the store
    /// has had no commit for 10 s after indexing (7 by default; 0 = never), with a zstd
    /// dictionary trained on the store's own contents once they are 8 MiB or more
    /// compressed (benchmark corpus: contents 20% smaller than at level 3 without one). Only
    /// a level above `compression_level` does anything, and a content is rewritten only when
    /// that makes it smaller.
    pub settled_compression_level: i32,
    /// Files written to the store per transaction during a full index.
    pub commit_batch_files: usize,
    /// Register and index the roots an MCP client declares (its workspace folders).
    pub auto_index_client_roots: bool,
    /// Keep a trigram index so exact searches read only candidate files (about a sixth of
    /// the source size, held in memory). Off: every search scans all stored contents.
    pub trigram_index: bool,
    /// Parse files with tree-sitter and keep their symbols, imports and calls (the structure
    /// tools need it). Off: indexing is several times faster, structure tools answer that
    /// symbols are off.
    pub symbols: bool,
    /// Files larger than this many bytes are indexed for search but not parsed (generated
    /// or minified code rarely has useful structure and parses slowly).
    pub symbols_max_file_size: u64,
}

/// How searches answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// Matching lines returned when the caller does not say.
    pub default_max_results: usize,
    /// Upper bound on matching lines in one answer, whatever the caller asks.
    pub max_results_limit: usize,
    /// Upper bound on context lines around a match.
    pub max_context_lines: usize,
    /// Lines longer than this many characters are shortened in answers.
    pub max_line_chars: usize,
}

/// How registered roots are kept fresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Watch roots with filesystem notifications (otherwise poll them).
    pub enabled: bool,
    /// A batch of changes is applied once no new event arrived for this long (ms).
    pub settle_ms: u64,
    /// ...or once its oldest change has waited this long, even if events keep coming (ms).
    pub max_delay_ms: u64,
    /// Most directories watched per root; beyond it the root is polled instead.
    pub max_watches: usize,
    /// Events buffered per root; an overflow triggers a rescan of the root.
    pub event_queue: usize,
    /// Distinct changed paths held per batch; beyond it the root is rescanned instead.
    pub max_batch_paths: usize,
    /// How often a root that cannot be watched is rescanned (ms).
    pub poll_interval_ms: u64,
    /// How long a query waits for its freshness cookie before rescanning (ms).
    pub cookie_timeout_ms: u64,
}

/// How the daemon serves connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Connections served at once; further ones are told to retry.
    pub max_connections: usize,
    /// Longest MCP message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Seconds in-flight requests get to finish when the daemon stops.
    pub shutdown_grace_secs: u64,
    /// Seconds a long MCP call (indexing, a whole-codebase report) works before it answers
    /// with what it has (`partial`; indexing continues in the background), so that clients
    /// with a 60-second tool timeout get an answer.
    pub answer_deadline_secs: u64,
    /// Token budget of an MCP answer when the call gives no `max_tokens` (tokens estimated
    /// from the answer's length).
    pub answer_tokens: usize,
    /// Largest `max_tokens` an MCP call may ask for (`max_tokens: 0` asks for this).
    pub answer_tokens_limit: usize,
}

/// Semantic search: chunks, the lexical retriever, the local embedding model and fusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SemanticConfig {
    /// Use the neural retriever when a model is installed (otherwise lexical only).
    pub neural: bool,
    /// Directory of the embedding model (Hugging Face layout); empty means
    /// `<data dir>/models/all-MiniLM-L6-v2`, where `codesage model install` puts it.
    pub model_dir: String,
    /// Threads the background embedder may use (0: half the cores, at least one). It runs
    /// at low priority; queries embed their question on their own threads.
    pub threads: usize,
    /// Tokens of a chunk the model reads (signature, doc and the head of the body come
    /// first); more costs time roughly in proportion.
    pub max_tokens: usize,
    /// Chunks embedded per background batch (the worker checks for edits between batches).
    pub batch_chunks: usize,
    /// A query embeds up to this many changed chunks itself, so an edit is searchable at
    /// once; beyond it the background worker catches up and answers say they are partial.
    pub inline_embed_max: usize,
    /// Without an embedding model, a root's semantic index (chunks and the lexical index)
    /// is built when a semantic search first asks for it and dropped after this many
    /// seconds without one, so memory goes to what is used (0: keep every root's index built
    /// at all times). With a model, every root is chunked and embedded in the background.
    pub idle_release_secs: u64,
    /// Above this many vectors in a root, an HNSW graph (built in the background) serves
    /// the search, with the vectors added since searched exactly.
    pub hnsw_threshold: usize,
    /// Weight of the lexical (BM25F) retriever in the fused score.
    pub weight_lexical: f32,
    /// Weight of the neural retriever in the fused score.
    pub weight_neural: f32,
    /// Weight of symbol-name matches (the question's words in the name) in the fused score.
    pub weight_name: f32,
    /// Weight of the similarity of the question to a definition's name as words (a second,
    /// short vector per named chunk) in the fused score.
    pub weight_name_neural: f32,
}

/// Code health: clone detection and the thresholds of `analyze_codebase_improvements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Leave generated, minified and vendored files out of clone detection unless a request
    /// asks for them.
    pub skip_generated: bool,
    /// Cosine similarity above which two chunks' vectors make a `similar` clone.
    pub similar_threshold: f32,
    /// Roots with more embedded chunks than this skip `similar` clones (each chunk's
    /// neighbours are searched).
    pub similar_max_chunks: usize,
    /// Cyclomatic complexity above which a function is reported.
    pub max_complexity: u32,
    /// Lines above which a function is reported.
    pub max_function_lines: u32,
    /// Nesting depth above which a function is reported.
    pub max_nesting: u32,
    /// Parameters above which a function is reported.
    pub max_parameters: u32,
    /// Lines above which a file is reported.
    pub max_file_lines: u32,
    /// TODO/FIXME/HACK/XXX markers per 1000 lines above which a file is reported.
    pub max_todo_density: f32,
    /// Shortest clone the report counts, in lines.
    pub min_clone_lines: u32,
    /// Keep the clone reports asked of each root (in the last week) answered in the
    /// background: after a restart and once a root's changes settle, so the next question
    /// is answered from memory instead of detecting clones over every file again.
    pub warm_clone_reports: bool,
    /// Clone detections held per root (1 to 8), most recently asked first: each is a few
    /// hundred MiB on a codebase of 25,000 files, and another question (other filters, bar
    /// or similarity) evicts the oldest. The default question is shared by
    /// `find_duplicate_code` and `analyze_codebase_improvements`.
    pub kept_detections: usize,
}

/// Which model answers the LLM tools.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LlmProvider {
    /// The first that is available: an OpenAI-compatible endpoint when one of its keys (or
    /// `llm.base_url`) is set, else Gemini when `GOOGLE_API_KEY` is set, else the MCP
    /// client's own model when it offers sampling, else none.
    #[default]
    Auto,
    /// An OpenAI-compatible `/chat/completions` endpoint (OpenAI, Groq, OpenRouter,
    /// Together, Ollama, llama.cpp, vLLM, …).
    Openai,
    /// Google Gemini's `generateContent` API.
    Gemini,
    /// The connected MCP client's model, through `sampling/createMessage`.
    Sampling,
    /// No model: the tools give their offline analysis.
    None,
}

impl LlmProvider {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            LlmProvider::Auto => "auto",
            LlmProvider::Openai => "openai",
            LlmProvider::Gemini => "gemini",
            LlmProvider::Sampling => "sampling",
            LlmProvider::None => "none",
        }
    }
}

/// One LLM tool's own choice of provider, endpoint or model (`[llm.tools.<tool>]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LlmToolOverride {
    /// Provider for this tool.
    pub provider: Option<LlmProvider>,
    /// Endpoint for this tool.
    pub base_url: Option<String>,
    /// Model for this tool.
    pub model: Option<String>,
}

/// The LLM-assisted tools: which model, and how hard to try before giving the offline
/// analysis instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    /// `auto`, `openai`, `gemini`, `sampling` or `none`.
    pub provider: LlmProvider,
    /// Endpoint; empty for the provider's public one (for `openai`, chosen by which key is
    /// set: OpenAI, Groq or OpenRouter). E.g. `http://127.0.0.1:11434/v1` for Ollama.
    pub base_url: String,
    /// Model name; empty for the provider's default.
    pub model: String,
    /// Connecting to the provider may take this long.
    pub connect_timeout_ms: u64,
    /// One attempt (request sent to the whole body read) may take this long.
    pub request_timeout_ms: u64,
    /// One call, every retry and wait included, may take this long (also bounded by
    /// `server.answer_deadline_secs`).
    pub total_timeout_ms: u64,
    /// Retries after a 429, a 5xx, a timeout or a connection error.
    pub max_retries: u32,
    /// First backoff; it doubles per retry (with jitter) up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    /// Longest backoff, and the longest `Retry-After` honoured.
    pub backoff_max_ms: u64,
    /// Client-side limit of requests per minute per provider (0: none).
    pub requests_per_minute: u32,
    /// Client-side limit of tokens (prompt + reply) per minute per provider (0: none).
    pub tokens_per_minute: u32,
    /// Consecutive failed calls that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before letting one through to test the
    /// provider (half-open).
    pub breaker_cooldown_ms: u64,
    /// How long a cached answer stays valid (0: no caching).
    pub cache_ttl_secs: u64,
    /// Cached answers kept at most (the oldest go first).
    pub cache_max_entries: u64,
    /// Tokens of context (code, signatures, outline) sent at most.
    pub context_tokens: usize,
    /// Tokens the model may answer with, unless a call asks for fewer (`max_tokens`).
    pub max_output_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// Per-tool overrides, by tool name (`summarize_code_section`, …).
    pub tools: std::collections::BTreeMap<String, LlmToolOverride>,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `codesaged=debug`. `RUST_LOG` overrides it.
    pub level: String,
    /// Daily log files kept at most.
    pub keep_files: usize,
    /// Log files older than this many days are deleted at start and at each rotation (0:
    /// only `keep_files` applies).
    pub max_age_days: u64,
    /// Write the log files as JSON lines (one object per event) instead of text.
    pub json: bool,
    /// Keep an audit log (`audit.log`, JSON lines) of control actions: index, reindex,
    /// stop, backup, restore, check, compact, configuration changes, with the peer's uid.
    pub audit: bool,
}

/// Memory: one budget that every cache shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// MiB that every cache together may hold, split in fixed shares: database pages (a
    /// twelfth: the B-trees' upper levels and recent leaves; redb never gives them back, and
    /// the file's pages stay in the system's page cache anyway), decompressed contents that
    /// searches read through (a third; emptied after a quiet minute), file sources quoted by
    /// clone reports (a quarter), chunks prepared for semantic search (an eighth) and
    /// per-file code-health facts (an eighth). Each cache evicts its least recently used
    /// entries to stay within its share. 0: no caches (slower searches and reports, least
    /// memory).
    pub budget_mb: usize,
    /// Give the memory freed after a burst (an indexing run, a root's semantic index built,
    /// a clone report, and questions once clients have been quiet for 5 s) back to the
    /// system at once instead of keeping it for reuse.
    pub release_after_bursts: bool,
    /// Seconds without a question after which the caches that are quick to refill (the
    /// decompressed contents searches read through, the file sources clone reports quote) are
    /// emptied, and the memory they held given back, with the pages of the daemon's own code
    /// and grammar tables that parsing paged in (read again from the page cache on the next
    /// parse): an idle daemon keeps its indexes, not copies of files it may not read again.
    /// Database pages, per-file health facts and the clone reports kept warm stay. 0: never.
    pub idle_release_secs: u64,
    /// At that same quiet, also hand back the resident pages of the daemon's own code and
    /// read-only tables (Linux; 10–25 MiB after parsing many languages). The first question
    /// after the quiet reads the pages it needs back from the page cache, a few milliseconds;
    /// `false` keeps them resident.
    pub release_program_pages: bool,
}

/// One cache that draws on [`MemoryConfig::budget_mb`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheShare {
    /// The store's database pages.
    StorePages,
    /// Decompressed contents for searches.
    Contents,
    /// File sources quoted in clone reports.
    HealthSources,
    /// Chunks prepared for semantic search.
    SemanticChunks,
    /// Code-health facts per content.
    HealthFacts,
}

impl MemoryConfig {
    /// Bytes `cache` may hold.
    pub fn share(&self, cache: CacheShare) -> u64 {
        let budget = self.budget_mb as u64 * 1024 * 1024;
        match cache {
            CacheShare::StorePages => budget / 12,
            CacheShare::Contents => budget / 3,
            CacheShare::HealthSources => budget / 4,
            CacheShare::SemanticChunks | CacheShare::HealthFacts => budget / 8,
        }
    }

    /// The whole budget, in bytes.
    pub fn budget_bytes(&self) -> u64 {
        self.budget_mb as u64 * 1024 * 1024
    }
}

/// Thresholds of `codesage status`'s healthy / degraded / unhealthy verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// The store may grow to this many MiB (0: no budget). Over 90% of it: degraded; over
    /// it: unhealthy.
    pub store_budget_mb: u64,
    /// Less free space than this on the store's filesystem (MiB): unhealthy.
    pub min_free_disk_mb: u64,
    /// Resident memory over this many MiB: degraded (0: no budget).
    pub memory_budget_mb: u64,
    /// Share of failed requests over the last five minutes above which the daemon is
    /// degraded.
    pub max_error_rate: f64,
    /// Requests the last five minutes must hold before the error rate counts.
    pub error_rate_min_requests: u64,
}

/// The optional loopback HTTP endpoint for monitoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address serving `/metrics`, `/healthz` and `/readyz`, e.g. `127.0.0.1:9464`; empty:
    /// off. Only loopback addresses are accepted unless `allow_remote` is set (the
    /// endpoint has no authentication).
    pub listen: String,
    /// Accept a non-loopback `listen` address (behind a firewall or in a container).
    pub allow_remote: bool,
}

/// Remote mode: MCP over Streamable HTTP for a team server or a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// `http://ADDR:PORT` to serve MCP at `/mcp` (also `codesaged --listen`); empty: off.
    pub listen: String,
    /// File of bearer tokens, one per line (`name:token` or just `token`; `#` comments),
    /// besides `CODESAGE_REMOTE_TOKEN`. Without any token remote mode refuses to start.
    pub tokens_file: String,
    /// Directories remote clients may index and query (each with everything below it);
    /// empty: only the roots already registered.
    pub allowed_roots: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: usize,
    /// Requests per minute per token (0: no limit).
    pub requests_per_minute: u32,
    /// `Host` header values accepted besides the listen address itself (DNS-rebinding
    /// protection), e.g. `codesage.example.com`; `*` accepts any.
    pub allowed_hosts: Vec<String>,
}

/// What answers may show of the files in indexed roots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Show secrets in file contents as they are. Off: `read_code_file`, search results and
    /// references show `«secret»` instead of the values in `.env` files (`.env`, `.env.*`,
    /// `*.env`: every `KEY=value` line) and of strings shaped like API keys and tokens in any
    /// file (`sk-…`, `gsk_…`, `AIza…`, `ghp_…`, `xox?-…`, `Bearer …`), and say so in their
    /// notes; a search matches those lines as they are shown.
    pub serve_secrets: bool,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Profile the defaults came from.
    pub profile: Profile,
    /// Indexing.
    pub index: IndexConfig,
    /// Searching.
    pub search: SearchConfig,
    /// Serving.
    pub server: ServerConfig,
    /// Keeping roots fresh.
    pub watch: WatchConfig,
    /// Semantic search.
    pub semantic: SemanticConfig,
    /// Code health.
    pub health: HealthConfig,
    /// The LLM-assisted tools.
    pub llm: LlmConfig,
    /// Logging.
    pub log: LogConfig,
    /// The memory budget of the caches.
    pub memory: MemoryConfig,
    /// Health thresholds.
    pub alerts: AlertsConfig,
    /// The monitoring endpoint.
    pub metrics: MetricsConfig,
    /// Remote mode.
    pub remote: RemoteConfig,
    /// What answers may show of file contents.
    pub security: SecurityConfig,
    /// API keys, from the environment only.
    #[serde(skip)]
    #[schemars(skip)]
    pub secrets: Secrets,
}

impl Default for Config {
    fn default() -> Self {
        Config::for_profile(Profile::default())
    }
}

impl Config {
    /// The defaults of `profile`.
    pub fn for_profile(profile: Profile) -> Config {
        let mut config = Config {
            profile,
            index: IndexConfig {
                max_file_size: 2 * 1024 * 1024,
                include_hidden: false,
                follow_symlinks: false,
                respect_gitignore: true,
                exclude_dirs: [
                    ".git",
                    ".hg",
                    ".svn",
                    "node_modules",
                    "__pycache__",
                    ".venv",
                    "venv",
                    "target",
                ]
                .map(String::from)
                .to_vec(),
                exclude_globs: ["*.min.js", "*.min.css", "*.map"]
                    .map(String::from)
                    .to_vec(),
                threads: 0,
                compression_level: 3,
                settled_compression_level: 7,
                commit_batch_files: 2000,
                auto_index_client_roots: true,
                trigram_index: true,
                symbols: true,
                symbols_max_file_size: 1024 * 1024,
            },
            search: SearchConfig {
                default_max_results: 200,
                max_results_limit: 10_000,
                max_context_lines: 20,
                max_line_chars: 400,
            },
            watch: WatchConfig {
                enabled: true,
                settle_ms: 20,
                max_delay_ms: 200,
                max_watches: 100_000,
                event_queue: 65_536,
                max_batch_paths: 100_000,
                poll_interval_ms: 2_000,
                cookie_timeout_ms: 1_000,
            },
            server: ServerConfig {
                max_connections: 64,
                max_message_bytes: 8 * 1024 * 1024,
                shutdown_grace_secs: 10,
                answer_deadline_secs: 50,
                answer_tokens: 8000,
                answer_tokens_limit: 250_000,
            },
            semantic: SemanticConfig {
                neural: true,
                model_dir: String::new(),
                threads: 0,
                max_tokens: 128,
                batch_chunks: 64,
                inline_embed_max: 64,
                idle_release_secs: 900,
                hnsw_threshold: 50_000,
                weight_lexical: 0.14,
                weight_neural: 0.46,
                weight_name: 0.14,
                weight_name_neural: 0.26,
            },
            health: HealthConfig {
                skip_generated: true,
                similar_threshold: 0.95,
                similar_max_chunks: 20_000,
                max_complexity: 10,
                max_function_lines: 60,
                max_nesting: 4,
                max_parameters: 5,
                max_file_lines: 1000,
                max_todo_density: 5.0,
                min_clone_lines: 10,
                warm_clone_reports: true,
                kept_detections: 1,
            },
            llm: LlmConfig {
                provider: LlmProvider::Auto,
                base_url: String::new(),
                model: String::new(),
                connect_timeout_ms: 5_000,
                request_timeout_ms: 60_000,
                total_timeout_ms: 120_000,
                max_retries: 2,
                backoff_initial_ms: 500,
                backoff_max_ms: 10_000,
                requests_per_minute: 60,
                tokens_per_minute: 200_000,
                breaker_failures: 5,
                breaker_cooldown_ms: 30_000,
                cache_ttl_secs: 7 * 24 * 3600,
                cache_max_entries: 10_000,
                context_tokens: 3_000,
                max_output_tokens: 1_024,
                temperature: 0.2,
                tools: std::collections::BTreeMap::new(),
            },
            log: LogConfig {
                level: "info".into(),
                keep_files: 7,
                max_age_days: 30,
                json: false,
                audit: true,
            },
            memory: MemoryConfig {
                budget_mb: 96,
                release_after_bursts: true,
                idle_release_secs: 60,
                release_program_pages: true,
            },
            alerts: AlertsConfig {
                store_budget_mb: 0,
                min_free_disk_mb: 512,
                memory_budget_mb: 4096,
                max_error_rate: 0.2,
                error_rate_min_requests: 20,
            },
            metrics: MetricsConfig {
                listen: String::new(),
                allow_remote: false,
            },
            remote: RemoteConfig {
                listen: String::new(),
                tokens_file: String::new(),
                allowed_roots: Vec::new(),
                max_request_bytes: 4 * 1024 * 1024,
                requests_per_minute: 600,
                allowed_hosts: Vec::new(),
            },
            security: SecurityConfig {
                serve_secrets: false,
            },
            secrets: Secrets::default(),
        };
        match profile {
            Profile::Production => {}
            Profile::Development => {
                config.log.level = "debug".into();
                config.memory.budget_mb = 64;
                config.server.max_connections = 16;
            }
            Profile::HighPerformance => {
                config.index.compression_level = 1;
                config.index.commit_batch_files = 5000;
                config.memory.budget_mb = 2048;
                // Searches served from memory: the caches are not emptied when clients pause.
                config.memory.idle_release_secs = 0;
                config.search.default_max_results = 500;
                config.server.max_connections = 256;
                config.log.level = "warn".into();
            }
            Profile::MemoryConstrained => {
                config.index.threads = 1;
                config.semantic.threads = 1;
                config.index.compression_level = 9;
                config.index.max_file_size = 1024 * 1024;
                config.index.commit_batch_files = 500;
                config.memory.budget_mb = 24;
                config.memory.idle_release_secs = 15;
                config.search.default_max_results = 100;
                config.search.max_results_limit = 2000;
                config.server.max_connections = 16;
            }
        }
        config
    }

    /// Loads the configuration: profile defaults, then `file` (if it exists), then
    /// `CODESAGE_*` variables; secrets from the environment. Call [`load_dotenv`] first so a
    /// `.env` file feeds the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        LoadedConfig::load(file).map(|loaded| loaded.config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::invalid(message));
        if !(0..=22).contains(&self.index.settled_compression_level) {
            return invalid(format!(
                "index.settled_compression_level must be 0 (never) or between 1 and 22, not {}",
                self.index.settled_compression_level
            ));
        }
        if !(1..=22).contains(&self.index.compression_level) {
            return invalid(format!(
                "index.compression_level must be between 1 and 22, not {}",
                self.index.compression_level
            ));
        }
        if self.server.max_connections == 0 {
            return invalid("server.max_connections must be at least 1".into());
        }
        if self.server.max_message_bytes < 1024 {
            return invalid("server.max_message_bytes must be at least 1024".into());
        }
        if self.index.commit_batch_files == 0 {
            return invalid("index.commit_batch_files must be at least 1".into());
        }
        if self.watch.event_queue == 0 || self.watch.max_batch_paths == 0 {
            return invalid(
                "watch.event_queue and watch.max_batch_paths must be at least 1".into(),
            );
        }
        if self.watch.poll_interval_ms == 0 {
            return invalid("watch.poll_interval_ms must be at least 1".into());
        }
        if self.search.default_max_results == 0 || self.search.max_results_limit == 0 {
            return invalid(
                "search.default_max_results and search.max_results_limit must be at least 1".into(),
            );
        }
        if self.server.answer_tokens < 1000 || self.server.answer_tokens_limit < 1000 {
            return invalid(
                "server.answer_tokens and server.answer_tokens_limit must be at least 1000".into(),
            );
        }
        if self.server.answer_deadline_secs == 0 {
            return invalid("server.answer_deadline_secs must be at least 1".into());
        }
        let semantic = &self.semantic;
        if !(16..=512).contains(&semantic.max_tokens) {
            return invalid(format!(
                "semantic.max_tokens must be between 16 and 512, not {}",
                semantic.max_tokens
            ));
        }
        if semantic.batch_chunks == 0 {
            return invalid("semantic.batch_chunks must be at least 1".into());
        }
        let weights = [
            semantic.weight_lexical,
            semantic.weight_neural,
            semantic.weight_name,
            semantic.weight_name_neural,
        ];
        if weights
            .iter()
            .any(|weight| !weight.is_finite() || *weight < 0.0)
            || weights.iter().sum::<f32>() <= 0.0
        {
            return invalid(
                "semantic.weight_lexical, weight_neural, weight_name and weight_name_neural \
                 must be non-negative numbers, not all zero"
                    .into(),
            );
        }
        let health = &self.health;
        if !(0.0..=1.0).contains(&health.similar_threshold) {
            return invalid(format!(
                "health.similar_threshold must be between 0 and 1, not {}",
                health.similar_threshold
            ));
        }
        if !health.max_todo_density.is_finite() || health.max_todo_density < 0.0 {
            return invalid("health.max_todo_density must be a non-negative number".into());
        }
        if !(1..=8).contains(&health.kept_detections) {
            return invalid(format!(
                "health.kept_detections must be 1 to 8 (it is {})",
                health.kept_detections
            ));
        }
        if health.min_clone_lines == 0 {
            return invalid("health.min_clone_lines must be at least 1".into());
        }
        let llm = &self.llm;
        if llm.connect_timeout_ms == 0 || llm.request_timeout_ms == 0 || llm.total_timeout_ms == 0 {
            return invalid(
                "llm.connect_timeout_ms, llm.request_timeout_ms and llm.total_timeout_ms must be \
                 at least 1"
                    .into(),
            );
        }
        if llm.max_retries > 10 {
            return invalid(format!(
                "llm.max_retries must be at most 10, not {}",
                llm.max_retries
            ));
        }
        if llm.breaker_failures == 0 {
            return invalid("llm.breaker_failures must be at least 1".into());
        }
        if !(0.0..=2.0).contains(&llm.temperature) {
            return invalid(format!(
                "llm.temperature must be between 0 and 2, not {}",
                llm.temperature
            ));
        }
        if !(256..=200_000).contains(&llm.context_tokens) {
            return invalid(format!(
                "llm.context_tokens must be between 256 and 200000, not {}",
                llm.context_tokens
            ));
        }
        if !(16..=32_768).contains(&llm.max_output_tokens) {
            return invalid(format!(
                "llm.max_output_tokens must be between 16 and 32768, not {}",
                llm.max_output_tokens
            ));
        }
        if !(0.0..=1.0).contains(&self.alerts.max_error_rate) {
            return invalid(format!(
                "alerts.max_error_rate must be between 0 and 1, not {}",
                self.alerts.max_error_rate
            ));
        }
        if self.log.keep_files == 0 {
            return invalid("log.keep_files must be at least 1".into());
        }
        if self.remote.max_request_bytes < 1024 {
            return invalid("remote.max_request_bytes must be at least 1024".into());
        }
        for (key, listen) in [
            ("metrics.listen", &self.metrics.listen),
            ("remote.listen", &self.remote.listen),
        ] {
            if !listen.trim().is_empty() && !is_listen_address(listen) {
                return invalid(format!(
                    "{key} must be an address like 127.0.0.1:9464 or http://0.0.0.0:8765 (TLS \
                     belongs to a reverse proxy), not {listen:?}"
                ));
            }
        }
        for url in std::iter::once(&llm.base_url)
            .chain(llm.tools.values().filter_map(|tool| tool.base_url.as_ref()))
        {
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(format!(
                    "llm.base_url must start with http:// or https://, not {url:?}"
                ));
            }
        }
        Ok(())
    }

    /// The configuration as JSON with every secret masked, for `get_configuration`.
    pub fn to_masked_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut value {
            map.insert(
                "secrets".into(),
                serde_json::to_value(&self.secrets).unwrap_or(serde_json::Value::Null),
            );
        }
        value
    }
}

/// A commented configuration file for `profile`: every key with its description, set to
/// the profile's value and commented out (uncomment to change one), `profile` itself set.
pub fn template(profile: Profile) -> String {
    let schema = schemars::schema_for!(Config);
    let root = schema.as_value();
    let values = serde_json::to_value(Config::for_profile(profile)).unwrap_or_default();
    let profile_name = values["profile"]
        .as_str()
        .unwrap_or("production")
        .to_string();
    let resolve = |schema: &serde_json::Value| -> serde_json::Value {
        match schema.get("$ref").and_then(|reference| reference.as_str()) {
            Some(reference) => root
                .pointer(reference.trim_start_matches('#'))
                .cloned()
                .unwrap_or_default(),
            None => schema.clone(),
        }
    };
    let comment = |text: &str, out: &mut String| {
        for line in text.lines() {
            out.push_str(&format!("# {line}\n"));
        }
    };
    let mut out = String::new();
    out.push_str(&format!(
        "# CodeSage configuration, written by `codesage config init --profile {profile_name}`.\n\
         # Every key is optional: a commented line shows the value the profile gives it.\n\
         # Precedence: profile defaults < this file < CODESAGE_* variables (e.g.\n\
         # CODESAGE_INDEX__MAX_FILE_SIZE=1048576) < a .env file's CODESAGE_* variables\n\
         # only where the environment does not set them. API keys never belong here: set\n\
         # GROQ_API_KEY, OPENAI_API_KEY, GOOGLE_API_KEY, … in the environment or a .env file.\n\
         # Check a change with `codesage config check`; see the effective values with\n\
         # `codesage config show`.\n\n\
         profile = \"{profile_name}\"\n"
    ));
    let Some(sections) = root.get("properties").and_then(|value| value.as_object()) else {
        return out;
    };
    for (section, section_schema) in sections {
        if section == "profile" {
            continue;
        }
        out.push('\n');
        if let Some(description) = section_schema.get("description").and_then(|d| d.as_str()) {
            comment(description, &mut out);
        }
        out.push_str(&format!("[{section}]\n"));
        let resolved = resolve(section_schema);
        let Some(keys) = resolved
            .get("properties")
            .and_then(|value| value.as_object())
        else {
            continue;
        };
        for (key, key_schema) in keys {
            if let Some(description) = key_schema.get("description").and_then(|d| d.as_str()) {
                comment(description, &mut out);
            }
            let value = &values[section.as_str()][key.as_str()];
            let shown = toml::Value::try_from(value)
                .map(|value| value.to_string())
                .unwrap_or_else(|_| value.to_string());
            out.push_str(&format!("# {key} = {shown}\n"));
        }
    }
    out
}

/// Whether `listen` is `HOST:PORT` or `http://HOST:PORT` with an IP address.
fn is_listen_address(listen: &str) -> bool {
    let trimmed = listen.trim().trim_end_matches('/');
    let address = trimmed.strip_prefix("http://").unwrap_or(trimmed);
    let address = address.strip_suffix("/mcp").unwrap_or(address);
    address.parse::<std::net::SocketAddr>().is_ok()
}

/// A configuration that could not be loaded: what is wrong, with the key and where its
/// value came from (file and line, environment variable, `.env`).
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {message}{}", origin.as_ref().map(|origin| format!(" (at {origin})")).unwrap_or_default())]
pub struct ConfigError {
    /// The offending key (`index.compression_level`), when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Where the value came from: `config.toml line 3`, `environment variable CODESAGE_…`.
    pub origin: Option<String>,
}

impl ConfigError {
    /// An out-of-range value; the key is the message's first word (`index.x must …`).
    fn invalid(message: String) -> ConfigError {
        let key = message
            .split_whitespace()
            .next()
            .map(|word| word.trim_end_matches([',', ':']))
            .filter(|word| word.contains('.'))
            .map(str::to_string);
        ConfigError {
            key,
            message,
            origin: None,
        }
    }
}

/// Variables of this process that a `.env` file set (not the environment itself).
static DOTENV_KEYS: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());

/// The `CODESAGE_*` variables that configure (sections and `profile`), as opposed to the
/// locations and secrets that also start with `CODESAGE_`.
fn is_config_variable(key: &str) -> bool {
    const SECTIONS: [&str; 14] = [
        "index", "search", "server", "watch", "semantic", "health", "llm", "log", "memory",
        "alerts", "metrics", "remote", "security", "profile",
    ];
    let key = key.to_ascii_lowercase();
    key == "profile"
        || SECTIONS
            .iter()
            .any(|section| key.starts_with(&format!("{section}__")))
}

/// The configuration with what it was loaded from, to tell each value's source.
pub struct LoadedConfig {
    /// The effective configuration.
    pub config: Config,
    figment: Figment,
    file: Option<PathBuf>,
    file_text: Option<String>,
}

/// One value of the effective configuration and where it came from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConfigValue {
    /// Dotted key (`index.max_file_size`).
    pub key: String,
    /// The value (secrets masked).
    pub value: serde_json::Value,
    /// `default`, `profile <name>`, `file <path> line <n>`, `env CODESAGE_…`, `.env <path>`.
    pub source: String,
}

impl LoadedConfig {
    /// Loads like [`Config::load`], keeping the sources.
    pub fn load(file: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
        let file = file.filter(|file| file.exists());
        let file_text = file.and_then(|file| std::fs::read_to_string(file).ok());
        let file_provider = || file.map(Toml::file).into_iter();
        let env = || {
            Env::prefixed("CODESAGE_")
                .filter(|key| is_config_variable(key.as_str()))
                .split("__")
        };
        let located = |err: figment::Error| locate_error(err, file, file_text.as_deref());

        // The profile decides the defaults, so find it before merging everything else.
        let mut profile_figment = Figment::new();
        for provider in file_provider() {
            profile_figment = profile_figment.merge(provider);
        }
        let profile_figment = profile_figment.merge(env().only(&["profile"]));
        let profile: Profile = if profile_figment.contains("profile") {
            profile_figment.extract_inner("profile").map_err(located)?
        } else {
            Profile::default()
        };

        let mut figment = Figment::from(Serialized::defaults(Config::for_profile(profile)));
        for provider in file_provider() {
            figment = figment.merge(provider);
        }
        let figment = figment.merge(env());
        let mut config: Config = figment.extract().map_err(located)?;
        config.secrets = Secrets::from_env();
        let loaded = LoadedConfig {
            config,
            figment,
            file: file.map(Path::to_path_buf),
            file_text,
        };
        if let Err(mut err) = loaded.config.validate() {
            err.origin = err.key.as_deref().map(|key| loaded.source_of(key));
            return Err(err);
        }
        Ok(loaded)
    }

    /// Where the value of `key` came from.
    pub fn source_of(&self, key: &str) -> String {
        let Some(metadata) = self.figment.find_metadata(key) else {
            return "default".to_string();
        };
        match &metadata.source {
            Some(figment::Source::File(path)) => {
                let path_segments: Vec<String> = key.split('.').map(str::to_string).collect();
                match self
                    .file_text
                    .as_deref()
                    .and_then(|text| line_of(text, &path_segments))
                {
                    Some(line) => format!("file {} line {line}", path.display()),
                    None => format!("file {}", path.display()),
                }
            }
            _ if metadata.name.to_lowercase().contains("environment") => {
                let variable = format!("CODESAGE_{}", key.replace('.', "__").to_uppercase());
                let from_dotenv = DOTENV_KEYS.lock().ok().and_then(|keys| {
                    keys.iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(&variable))
                        .map(|(_, file)| file.clone())
                });
                match from_dotenv {
                    Some(file) => format!(".env {} ({variable})", file.display()),
                    None => format!("env {variable}"),
                }
            }
            _ => {
                let production = serde_json::to_value(Config::for_profile(Profile::Production))
                    .unwrap_or_default();
                let ours = serde_json::to_value(&self.config).unwrap_or_default();
                let pointer = format!("/{}", key.replace('.', "/"));
                if self.config.profile != Profile::Production
                    && production.pointer(&pointer) != ours.pointer(&pointer)
                {
                    format!(
                        "profile {}",
                        serde_json::to_value(self.config.profile)
                            .ok()
                            .and_then(|value| value.as_str().map(str::to_string))
                            .unwrap_or_default()
                    )
                } else {
                    "default".to_string()
                }
            }
        }
    }

    /// Every value of the effective configuration with its source, secrets masked with the
    /// variable they came from.
    pub fn values(&self) -> Vec<ConfigValue> {
        let mut values = Vec::new();
        let tree = serde_json::to_value(&self.config).unwrap_or_default();
        flatten(&tree, String::new(), &mut |key, value| {
            let source = self.source_of(&key);
            values.push(ConfigValue { key, value, source });
        });
        for (variable, secret) in self.config.secrets.named() {
            if let Some(secret) = secret {
                let from_dotenv = DOTENV_KEYS.lock().ok().and_then(|keys| {
                    keys.iter()
                        .find(|(name, _)| name == variable)
                        .map(|(_, file)| file.clone())
                });
                values.push(ConfigValue {
                    key: format!("secrets.{}", variable.to_lowercase()),
                    value: serde_json::Value::String(secret.masked()),
                    source: match from_dotenv {
                        Some(file) => format!(".env {} ({variable})", file.display()),
                        None => format!("env {variable}"),
                    },
                });
            }
        }
        values
    }

    /// The file the configuration was read from, if one exists.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

fn flatten(
    value: &serde_json::Value,
    prefix: String,
    visit: &mut dyn FnMut(String, serde_json::Value),
) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(child, key, visit);
            }
        }
        _ => visit(prefix, value.clone()),
    }
}

/// The 1-based line of `path` (`["index", "max_file_size"]`) in a TOML text: a key under
/// its table header, a dotted key, or the table header itself.
fn line_of(text: &str, path: &[String]) -> Option<usize> {
    let (key, table) = path.split_last()?;
    let mut current: Vec<String> = Vec::new();
    let mut header_line = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            current = trimmed
                .trim_matches(|c| c == '[' || c == ']')
                .split('.')
                .map(|part| part.trim().trim_matches('"').to_string())
                .collect();
            if current == path {
                header_line = Some(index + 1);
            }
            continue;
        }
        let Some((name, _)) = trimmed.split_once('=') else {
            continue;
        };
        let name: Vec<String> = name
            .trim()
            .split('.')
            .map(|part| part.trim().trim_matches('"').to_string())
            .collect();
        let full: Vec<String> = current.iter().chain(name.iter()).cloned().collect();
        if full == path || (current == table && name == [key.clone()]) {
            return Some(index + 1);
        }
    }
    header_line
}

/// A figment error as a [`ConfigError`] naming the key and where its value came from.
fn locate_error(err: figment::Error, file: Option<&Path>, text: Option<&str>) -> ConfigError {
    let mut path = err.path.clone();
    if let figment::error::Kind::UnknownField(field, _) = &err.kind
        && path.last() != Some(field)
    {
        path.push(field.clone());
    }
    let key = (!path.is_empty()).then(|| path.join("."));
    let origin = match err.metadata.as_ref().and_then(|meta| meta.source.as_ref()) {
        Some(figment::Source::File(source)) => {
            let line = text.and_then(|text| line_of(text, &path));
            Some(match line {
                Some(line) => format!("{} line {line}", source.display()),
                None => source.display().to_string(),
            })
        }
        _ => match (&err.metadata, &key, file) {
            (Some(meta), Some(key), _) if meta.name.to_lowercase().contains("environment") => {
                Some(format!(
                    "environment variable CODESAGE_{}",
                    key.replace('.', "__").to_uppercase()
                ))
            }
            // An unknown key has no metadata of its own: look for it in the file.
            (_, Some(_), Some(file)) => text
                .and_then(|text| line_of(text, &path))
                .map(|line| format!("{} line {line}", file.display())),
            _ => None,
        },
    };
    let message = match &err.kind {
        figment::error::Kind::UnknownField(field, expected) => format!(
            "unknown key {:?}{}",
            key.clone().unwrap_or_else(|| field.clone()),
            if expected.is_empty() {
                String::new()
            } else {
                format!(" (expected one of: {})", expected.join(", "))
            }
        ),
        kind => match &key {
            Some(key) => format!("{key}: {kind}"),
            None => kind.to_string(),
        },
    };
    ConfigError {
        key,
        message,
        origin,
    }
}

/// Loads `.env` files into the environment without overriding variables already set:
/// `$CODESAGE_ENV_FILE` if set, else the per-user config directory's `.env`, then `./.env`.
/// Returns the files that were read. Call before starting any thread.
pub fn load_dotenv(config_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(explicit) = std::env::var_os("CODESAGE_ENV_FILE") {
        candidates.push(PathBuf::from(explicit));
    } else {
        if let Some(dir) = config_dir {
            candidates.push(dir.join(".env"));
        }
        candidates.push(PathBuf::from(".env"));
    }
    let mut read = Vec::new();
    for path in candidates {
        if !path.is_file() {
            continue;
        }
        let before: std::collections::HashSet<std::ffi::OsString> =
            std::env::vars_os().map(|(key, _)| key).collect();
        if dotenvy::from_path(&path).is_ok() {
            if let Ok(mut keys) = DOTENV_KEYS.lock() {
                for (key, _) in std::env::vars_os() {
                    if !before.contains(&key) {
                        keys.push((key.to_string_lossy().into_owned(), path.clone()));
                    }
                }
            }
            read.push(path);
        }
    }
    read
}

/// A secret string: kept in memory, never printed or serialized in clear.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The clear value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form shown to people: its first four and last four characters
    /// (`gsk_…a1b2`), or nothing of it when it is too short to hide the middle (under 16
    /// characters).
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 16 {
            return "… (set)".to_string();
        }
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

/// LLM provider API keys, read from the environment only.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Secrets {
    /// `GROQ_API_KEY`.
    pub groq_api_key: Option<Secret>,
    /// `OPENROUTER_API_KEY`.
    pub openrouter_api_key: Option<Secret>,
    /// `GOOGLE_API_KEY`.
    pub google_api_key: Option<Secret>,
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Option<Secret>,
    /// `CODESAGE_LLM_API_KEY`: the key for whichever provider is configured, before the
    /// provider's own variable.
    pub codesage_llm_api_key: Option<Secret>,
}

impl Secrets {
    /// Reads every known key from the environment; empty values count as unset.
    pub fn from_env() -> Secrets {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .map(Secret::new)
        };
        Secrets {
            groq_api_key: read("GROQ_API_KEY"),
            openrouter_api_key: read("OPENROUTER_API_KEY"),
            google_api_key: read("GOOGLE_API_KEY"),
            openai_api_key: read("OPENAI_API_KEY"),
            codesage_llm_api_key: read("CODESAGE_LLM_API_KEY"),
        }
    }

    /// Each key with the variable it is read from.
    pub fn named(&self) -> [(&'static str, &Option<Secret>); 5] {
        [
            ("GROQ_API_KEY", &self.groq_api_key),
            ("OPENROUTER_API_KEY", &self.openrouter_api_key),
            ("GOOGLE_API_KEY", &self.google_api_key),
            ("OPENAI_API_KEY", &self.openai_api_key),
            ("CODESAGE_LLM_API_KEY", &self.codesage_llm_api_key),
        ]
    }

    /// Every secret value that is set, so that text can be scrubbed of them.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.named()
            .into_iter()
            .filter_map(|(_, secret)| secret.as_ref())
            .map(Secret::expose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_differ_where_documented() {
        let production = Config::for_profile(Profile::Production);
        let small = Config::for_profile(Profile::MemoryConstrained);
        assert_eq!(small.index.threads, 1);
        assert!(small.index.max_file_size < production.index.max_file_size);
        assert_eq!(Config::for_profile(Profile::Development).log.level, "debug");
    }

    #[test]
    fn file_overrides_defaults_and_profile_applies() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "profile = \"memory-constrained\"\n[search]\ndefault_max_results = 7\n",
        )
        .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.profile, Profile::MemoryConstrained);
        assert_eq!(config.search.default_max_results, 7);
        assert_eq!(config.index.threads, 1, "profile default kept");
    }

    #[test]
    fn missing_file_means_defaults() {
        let config = Config::load(Some(Path::new("/nonexistent/codesage.toml"))).unwrap();
        assert_eq!(config.index, Config::default().index);
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[index]\nmax_file_size = \"huge\"\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("max_file_size"), "{err}");

        std::fs::write(&file, "[index]\ncompression_level = 99\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("compression_level"), "{err}");
        for level in [-1, 23] {
            std::fs::write(
                &file,
                format!("[index]\nsettled_compression_level = {level}\n"),
            )
            .unwrap();
            let err = Config::load(Some(&file)).unwrap_err().to_string();
            assert!(err.contains("settled_compression_level"), "{err}");
        }
        std::fs::write(&file, "[index]\nsettled_compression_level = 0\n").unwrap();
        assert_eq!(
            Config::load(Some(&file))
                .unwrap()
                .index
                .settled_compression_level,
            0
        );
        for kept in [0, 9] {
            std::fs::write(&file, format!("[health]\nkept_detections = {kept}\n")).unwrap();
            let err = Config::load(Some(&file)).unwrap_err().to_string();
            assert!(
                err.contains("health.kept_detections must be 1 to 8"),
                "{err}"
            );
        }
        std::fs::write(&file, "[health]\nkept_detections = 2\n").unwrap();
        assert_eq!(Config::load(Some(&file)).unwrap().health.kept_detections, 2);
    }

    #[test]
    fn secrets_never_serialize_in_clear() {
        let mut config = Config::default();
        config.secrets.groq_api_key = Some(Secret::new("gsk_live_123456".into()));
        let json = config.to_masked_json().to_string();
        assert!(!json.contains("gsk_live_123456"), "{json}");
        assert!(json.contains("groq_api_key"), "{json}");
        assert!(!format!("{config:?}").contains("gsk_live_123456"));

        config.secrets.groq_api_key = Some(Secret::new("gsk_0123456789abcdefa1b2".into()));
        let json = config.to_masked_json().to_string();
        assert!(json.contains("gsk_…a1b2"), "{json}");
        assert!(!json.contains("0123456789abcdef"), "{json}");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[index]\nthreads = 2\nmax_fiel_size = 10\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("index.max_fiel_size"), "{err}");
        let text = err.to_string();
        assert!(text.contains("line 3"), "{text}");
        assert!(
            text.contains("max_file_size"),
            "suggests the known keys: {text}"
        );

        std::fs::write(&file, "[indx]\nthreads = 2\n").unwrap();
        let text = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(text.contains("indx") && text.contains("line 1"), "{text}");

        std::fs::write(&file, "# comment\n\n[llm]\ntemperature = 7.5\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("llm.temperature"));
        assert!(err.to_string().contains("line 4"), "{err}");

        std::fs::write(&file, "[search]\ndefault_max_results = \"many\"\n").unwrap();
        let text = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(
            text.contains("search.default_max_results") && text.contains("line 2"),
            "{text}"
        );
    }

    #[test]
    fn the_source_of_every_value_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "profile = \"memory-constrained\"\n\n[search]\ndefault_max_results = 7\n",
        )
        .unwrap();
        let loaded = LoadedConfig::load(Some(&file)).unwrap();
        let source = |key: &str| {
            loaded
                .values()
                .into_iter()
                .find(|value| value.key == key)
                .map(|value| value.source)
                .unwrap()
        };
        assert!(source("search.default_max_results").ends_with("line 4"));
        assert_eq!(source("index.threads"), "profile memory-constrained");
        assert_eq!(source("index.include_hidden"), "default");
    }

    #[test]
    fn the_template_of_each_profile_loads_back_to_that_profile() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        for profile in Profile::ALL {
            let text = template(profile);
            assert!(text.contains("# Files larger than this many bytes are skipped."));
            std::fs::write(&file, &text).unwrap();
            let config = Config::load(Some(&file)).unwrap();
            assert_eq!(config, Config::for_profile(profile));
            // Uncommenting every key gives the same configuration.
            let uncommented: String = text
                .lines()
                .map(|line| {
                    match line
                        .strip_prefix("# ")
                        .and_then(|rest| rest.split_once(" = "))
                    {
                        Some((key, _))
                            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') =>
                        {
                            line[2..].to_string()
                        }
                        _ => line.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            std::fs::write(&file, &uncommented).unwrap();
            let config =
                Config::load(Some(&file)).unwrap_or_else(|err| panic!("{err}\n{uncommented}"));
            assert_eq!(config, Config::for_profile(profile));
        }
    }

    #[test]
    fn llm_section_reads_the_environment_and_checks_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "[llm]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:8080/v1\"\n\
             [llm.tools.generate_unit_tests]\nmodel = \"big\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.llm.provider, LlmProvider::Openai);
        assert_eq!(config.llm.base_url, "http://127.0.0.1:8080/v1");
        assert_eq!(
            config.llm.tools["generate_unit_tests"].model.as_deref(),
            Some("big")
        );
        std::fs::write(&file, "[llm]\nprovider = \"skynet\"\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("provider"), "{err}");
        std::fs::write(&file, "[llm]\nbase_url = \"ftp://x\"\n").unwrap();
        let err = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("base_url"), "{err}");
    }
}
