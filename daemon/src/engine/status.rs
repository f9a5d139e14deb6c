//! Daemon health for `codesage status` and the metrics tools: the process, the store, and
//! every root's index, watcher and last run.

use std::sync::atomic::Ordering;

use codesage_shared::protocol::{MemoryPart, MemoryReport, RootStatus, StatusReport};

use super::jobs::RootSummary;
use super::{Engine, Root};
use crate::metrics;
use crate::watch::Freshness;

/// How old the store's space figures in a status report may be.
const SPACE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);

impl Engine {
    /// Daemon health for `codesage status`.
    pub fn status(&self) -> StatusReport {
        let (requests_served, request_errors) = self.metrics.totals();
        let mut report = StatusReport {
            health: String::new(),
            health_reasons: Vec::new(),
            version: codesage_shared::VERSION.to_string(),
            pid: std::process::id(),
            uptime_secs: self.uptime().as_secs(),
            socket: self.socket.clone(),
            store_path: self.store.path().to_path_buf(),
            store_bytes: self.store.file_size(),
            store_problem: self.store.write_problem(),
            // Walking the tables' pages takes a while on a large store; figures a few
            // seconds old serve status reports and scrapes alike.
            store_space: self
                .store
                .space_recent(SPACE_MAX_AGE)
                .unwrap_or_else(|err| {
                    tracing::warn!("cannot read the store's space figures: {err}");
                    Vec::new()
                }),
            rss_bytes: metrics::rss_bytes(),
            memory: Default::default(),
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
                        // The segments are the store's, shared by every root.
                        status.trigram_index_bytes = view.index.segment_bytes();
                        status.trigram_segments = view.index.segments.len() as u64;
                        status.clone_reports = self.health.warm().status(
                            &root.path,
                            view.index.generation,
                            self.health.kept_detections(),
                        );
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
        };
        report.memory = self.memory(report.rss_bytes);
        let (state, reasons) = self.condition(&report);
        report.health = state.to_string();
        report.health_reasons = reasons;
        report
    }

    /// The verdict of `codesage status` from a report's figures and the `[alerts]`
    /// thresholds: `healthy`, `degraded` (serving, something needs attention) or
    /// `unhealthy` (serving is at risk), with one reason per problem saying what to do.
    pub fn condition(&self, report: &StatusReport) -> (&'static str, Vec<String>) {
        let alerts = &self.config.alerts;
        let mut degraded = Vec::new();
        let mut unhealthy = Vec::new();
        const MIB: u64 = 1024 * 1024;
        if let Some(why) = self.store.in_memory_because() {
            degraded.push(format!(
                "{why}; until then the daemon works on a copy in memory (of the file, when it \
                 can be read) and saves nothing it indexes (restart it with `codesage stop` \
                 once the store is writable)"
            ));
        }
        for root in &report.roots {
            let path = root.path.display();
            if let Some(error) = &root.error {
                degraded.push(format!(
                    "indexing {path} failed ({error}); fix the cause, then run `codesage \
                     reindex {path}`"
                ));
            }
            if let Some(run) = root.last_run.as_ref().filter(|run| run.unreadable > 0) {
                degraded.push(format!(
                    "{} path(s) under {path} could not be read, so what is under them is not \
                     indexed ({}); fix their permissions, or exclude them (index.exclude_dirs, \
                     .codesageignore), then run `codesage reindex {path}`",
                    run.unreadable,
                    run.unreadable_paths.join("; ")
                ));
            }
            match root.watch.as_ref().map(|watch| watch.mode.as_str()) {
                Some("polling") => degraded.push(format!(
                    "{path} is polled every {} ms instead of watched{}; raise \
                     fs.inotify.max_user_watches (see `codesage doctor`) or exclude large \
                     directories",
                    self.config.watch.poll_interval_ms,
                    root.watch
                        .as_ref()
                        .and_then(|watch| watch.error.as_ref())
                        .map(|error| format!(" ({error})"))
                        .unwrap_or_default()
                )),
                Some("stopped") => degraded.push(format!(
                    "{path} is not kept fresh: its watcher stopped{}; run `codesage reindex \
                     {path}` or restart the daemon",
                    root.watch
                        .as_ref()
                        .and_then(|watch| watch.error.as_ref())
                        .map(|error| format!(" ({error})"))
                        .unwrap_or_default()
                )),
                _ => {}
            }
        }
        if alerts.store_budget_mb > 0 {
            let budget = alerts.store_budget_mb * MIB;
            let used = report.store_bytes;
            if used >= budget {
                unhealthy.push(format!(
                    "the store is {} MiB, over its budget of {} MiB (alerts.store_budget_mb); \
                     run `codesage compact`, remove roots, or raise the budget",
                    used / MIB,
                    alerts.store_budget_mb
                ));
            } else if used >= budget / 10 * 9 {
                degraded.push(format!(
                    "the store is {} MiB, near its budget of {} MiB (alerts.store_budget_mb); \
                     run `codesage compact` or raise the budget",
                    used / MIB,
                    alerts.store_budget_mb
                ));
            }
        }
        if let Some(problem) = &report.store_problem {
            unhealthy.push(problem.clone());
        }
        if let Some(free) = crate::system::disk_free_bytes(self.store.path())
            && free < alerts.min_free_disk_mb * MIB
        {
            unhealthy.push(format!(
                "only {} MiB free on the store's filesystem (alerts.min_free_disk_mb = {}); free \
                 space, or index changes may fail to commit",
                free / MIB,
                alerts.min_free_disk_mb
            ));
        }
        if alerts.memory_budget_mb > 0 && report.rss_bytes > alerts.memory_budget_mb * MIB {
            degraded.push(format!(
                "the daemon uses {} MiB of memory, over alerts.memory_budget_mb = {}; lower \
                 memory.budget_mb (the caches), look at `codesage status` for the largest part, \
                 or use the memory-constrained profile",
                report.rss_bytes / MIB,
                alerts.memory_budget_mb
            ));
        }
        for (provider, figures) in &report.llm.providers {
            if figures.breaker == "open" {
                degraded.push(format!(
                    "the circuit breaker of LLM provider {provider} is open after {} failures in \
                     a row ({}); LLM tools give their offline analysis until it recovers",
                    figures.consecutive_failures,
                    figures
                        .last_error
                        .as_deref()
                        .unwrap_or("no reason recorded")
                ));
            }
        }
        let (calls, errors) = self.metrics.recent();
        if calls >= alerts.error_rate_min_requests
            && errors as f64 > alerts.max_error_rate * calls as f64
        {
            degraded.push(format!(
                "{errors} of the last {calls} requests failed ({:.0}%, over alerts.max_error_rate \
                 = {:.0}%); see `codesage logs --level warn`",
                100.0 * errors as f64 / calls as f64,
                100.0 * alerts.max_error_rate
            ));
        }
        let state = if !unhealthy.is_empty() {
            "unhealthy"
        } else if !degraded.is_empty() {
            "degraded"
        } else {
            "healthy"
        };
        unhealthy.extend(degraded);
        (state, unhealthy)
    }

    /// Where resident memory `rss` goes: each component's heap bytes (estimates from its
    /// structures' sizes), what the heap holds besides them, and what the process holds
    /// besides its heap (allocator reserve, code, thread stacks).
    pub fn memory(&self, rss: u64) -> MemoryReport {
        use codesage_shared::config::CacheShare;
        let memory = &self.config.memory;
        let (_, segments) = self.store.segment_figures();
        let mut documents = 0;
        let mut definitions = 0;
        for root in self.roots().iter() {
            if let Ok(view) = self.store.view(root.id) {
                let (table, defined) = view.index.docs.heap_bytes();
                documents += table + view.index.contents.heap_bytes();
                definitions += defined;
            }
        }
        let semantic = self.semantic.memory();
        let (facts, sources, detection) = self.health().heap_bytes();
        let content = self.store.cache_stats().map_or(0, |stats| stats.bytes);
        let part = |name: &str, bytes: u64, limit: Option<u64>| MemoryPart {
            name: name.to_string(),
            bytes,
            limit_bytes: limit,
        };
        let page_limit = memory.share(CacheShare::StorePages).max(1 << 20);
        let mut parts = vec![
            part("trigram segments", segments, None),
            part("documents (paths, languages)", documents, None),
            part("definitions (symbol summaries)", definitions, None),
            part("semantic chunks", semantic.chunks, None),
            part("semantic lexical index", semantic.lexical, None),
            part("semantic vectors", semantic.vectors, None),
            part("clone detection (facts, pairs)", detection, None),
            part(
                "content cache",
                content,
                Some(memory.share(CacheShare::Contents)),
            ),
            part(
                "health facts cache",
                facts,
                Some(memory.share(CacheShare::HealthFacts)),
            ),
            part(
                "clone sources cache",
                sources,
                Some(memory.share(CacheShare::HealthSources)),
            ),
            // redb does not say how much of its cache it fills; the store file bounds it.
            part(
                "store page cache (at most)",
                page_limit.min(self.store.file_size()),
                Some(page_limit),
            ),
        ];
        let heap = crate::allocator::live_heap_bytes();
        if let Some(heap) = heap {
            let itemised: u64 = parts.iter().map(|part| part.bytes).sum();
            parts.push(part(
                "other heap (buffers, tables, connections)",
                heap.saturating_sub(itemised),
                None,
            ));
            let c_heap = crate::allocator::c_heap_in_use_bytes().unwrap_or(0);
            parts.push(part(
                "C libraries' heap in use (tree-sitter, zstd)",
                c_heap,
                None,
            ));
            // The program's code and tables, shared libraries: pages of files, which the
            // system can drop and read again (and the daemon drops after a quiet spell).
            let file_pages = crate::allocator::resident_file_bytes().unwrap_or(0);
            parts.push(part(
                "program code and tables (file pages)",
                file_pages,
                None,
            ));
            parts.push(part(
                "outside the heap (allocator reserve, stacks)",
                rss.saturating_sub(heap)
                    .saturating_sub(c_heap)
                    .saturating_sub(file_pages),
                None,
            ));
        }
        parts.sort_by_key(|part| std::cmp::Reverse(part.bytes));
        MemoryReport {
            heap_bytes: heap,
            cache_budget_bytes: memory.budget_bytes(),
            parts,
        }
    }

    /// Every cache's figures, for `get_cache_statistics` and the exposition.
    pub fn caches(&self) -> Vec<crate::metrics::CacheFigures> {
        use crate::metrics::CacheFigures;
        let mut caches = Vec::new();
        if let Some(content) = self.store.cache_stats() {
            caches.push(CacheFigures {
                bytes: Some(content.bytes),
                capacity_bytes: Some(content.capacity),
                evictions: Some(content.evictions),
                ..CacheFigures::new(
                    "content",
                    "decompressed file contents that searches read through",
                    content.entries,
                    content.hits,
                    content.misses,
                )
            });
        }
        let replies = self.llm().stats().cache;
        caches.push(CacheFigures::new(
            "llm_replies",
            "LLM replies by provider, model and prompt (in the store)",
            replies.entries,
            replies.hits,
            replies.misses,
        ));
        caches.push(CacheFigures::new(
            "vectors",
            "embedding vectors kept in the store: a hit is a vector reused instead of computed",
            self.store.vector_count().unwrap_or(0),
            self.semantic.reused_from_store.load(Ordering::Relaxed),
            self.semantic.embedded_by_model.load(Ordering::Relaxed),
        ));
        caches.push(CacheFigures::new(
            "health_facts",
            "per-content code-health facts (fingerprints, metrics, markers) held in memory",
            self.health().cache().len() as u64,
            0,
            0,
        ));
        caches
    }

    /// The Prometheus exposition of every metric.
    pub fn metrics_exposition(&self) -> String {
        let status = self.status();
        self.metrics.exposition(
            &status,
            (status.health.as_str(), status.health_reasons.len()),
            &self.caches(),
        )
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
        clone_reports: Vec::new(),
    }
}
