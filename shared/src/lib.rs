//! Types and helpers shared by the CodeSage daemon (`codesaged`) and its client (`codesage`).
//!
//! This crate owns everything both sides of the local socket must agree on: where the socket,
//! data and log directories live ([`paths`]), how a connection is opened and what is spoken on
//! it ([`protocol`], [`ipc`]), the configuration both read ([`config`]), operator reports ([`ops`]), and the words messages use for each front end
//! ([`words`]). It never does I/O
//! beyond resolving directories, reading configuration and opening a socket connection.

pub mod config;
pub mod ipc;
pub mod ops;
pub mod paths;
pub mod protocol;
pub mod words;

/// Version of the CodeSage release this crate belongs to; daemon and client compare it in the
/// connection handshake.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
