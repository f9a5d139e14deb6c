//! `codesaged`: the CodeSage daemon.
//!
//! It owns the per-user index of every registered codebase, keeps it in a redb store, and
//! serves it over a local socket to `codesage mcp` shims (MCP) and to `codesage` control
//! commands. See `ARCHITECTURE.md` at the repository root for the codemap.

pub mod allocator;
pub mod audit;
pub mod backup;
pub mod changes;
pub mod chunks;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod connection;
pub mod control;
pub mod engine;
pub mod files;
pub mod hash;
pub mod health;
pub mod http;
pub mod indexer;
pub mod llm;
pub mod logging;
pub mod mcp;
pub mod metrics;
pub mod mounts;
pub mod queries;
pub mod quiet;
pub mod redact;
pub mod search;
pub mod semantic;
pub mod server;
pub mod shutdown;
pub mod snippet;
pub mod store;
pub mod structure;
pub mod symbols;
pub mod system;
pub mod trigram;
pub mod watch;
pub mod work;
