//! Daemon health for `codesage status` and the metrics tools: the process, the store, and
//! every root's index, watcher and last run.

use std::sync::atomic::Ordering;

use codesage_shared::protocol::{RootStatus, StatusReport};

use super::jobs::RootSummary;
use super::{Engine, Root};
use crate::metrics;
use crate::watch::Freshness;

impl Engine {
    /// Daemon health for `codesage status`.
    pub fn status(&self) -> StatusReport {
        let (requests_served, request_errors) = self.metrics.totals();
        StatusReport {
            version: codesage_shared::VERSION.to_string(),
            pid: std::process::id(),
            uptime_secs: self.uptime().as_secs(),
            socket: self.socket.clone(),
            store_path: self.store.path().to_path_buf(),
            store_bytes: self.store.file_size(),
            store_space: self.store.space().unwrap_or_else(|err| {
                tracing::warn!("cannot read the store's space figures: {err}");
                Vec::new()
            }),
            rss_bytes: metrics::rss_bytes(),
            requests_served,
            request_errors,
            connections_active: self.metrics.connections_active(),
            mcp_requests_received: self.mcp_requests.received.load(Ordering::Relaxed),
            mcp_requests_in_flight: self.mcp_requests.in_flight.load(Ordering::Relaxed),
            content_cache: self.store.cache_stats(),
            llm: self.llm().stats(),
            maintenance_pending: self.store.maintenance_pending(),
            embedding_model: match self.semantic.model_state() {
                crate::semantic::ModelState::Loaded(_) => "loaded".into(),
                crate::semantic::ModelState::Disabled => "off (semantic.neural = false)".into(),
                crate::semantic::ModelState::Unchecked => "not loaded yet".into(),
                crate::semantic::ModelState::Unavailable(why, _) => why,
            },
            chunks_embedded: self.semantic.embedded_by_model.load(Ordering::Relaxed),
            vectors_reused: self.semantic.reused_from_store.load(Ordering::Relaxed),
            roots: self
                .roots()
                .iter()
                .map(|root| {
                    let mut status = root_status(root, &self.root_summary(root));
                    if let Ok(view) = self.store.view(root.id) {
                        status.trigram_index_bytes = view.index.segment_bytes();
                        status.trigram_segments = view.index.segments.len() as u64;
                    }
                    status.semantic = self.semantic.progress(root.id).map(|progress| {
                        codesage_shared::protocol::SemanticStatus {
                            chunks: progress.total,
                            embedded: progress.done,
                        }
                    });
                    status
                })
                .collect(),
        }
    }
}

/// What an answer must say about a root that is not known to be fresh.
pub fn freshness_note(root: &Root, freshness: &Freshness) -> Option<String> {
    match freshness.watch {
        "watching" | "polling" if freshness.confirmed => None,
        "watching" | "polling" | "rescanning" => Some(format!(
            "could not confirm that the index of {} has caught up with the latest changes; a \
             rescan was started",
            root.path.display()
        )),
        "starting" => None,
        _ => Some(format!(
            "the index of {} is not being kept fresh (its watcher is stopped); results reflect \
             the last indexing run",
            root.path.display()
        )),
    }
}

fn root_status(root: &Root, summary: &RootSummary) -> RootStatus {
    let state = root.state.lock();
    let running = state.job.as_ref().is_some_and(|job| job.result().is_none());
    let (label, error) = match (&state.last_error, running) {
        (_, true) => ("indexing", None),
        (Some(error), false) => ("failed", Some(error.clone())),
        (None, false) if state.last_indexed_ms == 0 => ("not indexed", None),
        (None, false) => ("ready", None),
    };
    RootStatus {
        path: root.path.clone(),
        state: label.to_string(),
        files: summary.files,
        bytes: summary.bytes,
        last_indexed_ms: state.last_indexed_ms,
        error,
        last_run: state.last_run.clone(),
        watch: root.watcher().map(|watcher| watcher.report()),
        trigram_index_bytes: 0,
        trigram_segments: 0,
        semantic: None,
    }
}
