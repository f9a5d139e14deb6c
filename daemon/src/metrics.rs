//! The daemon's metrics: requests by tool and outcome, latency per tool, errors by kind,
//! connections — recorded here once — and the Prometheus exposition that adds the engine's
//! figures (index sizes per root, watchers, caches, memory, store, LLM providers) read at
//! scrape time. `codesage metrics`, the HTTP `/metrics` endpoint, `get_performance_metrics`,
//! `get_cache_statistics` and `codesage status` all read these same figures.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use codesage_shared::protocol::StatusReport;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{self, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;

/// Labels of one series: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// A latency histogram: 100 µs to about 7 minutes, doubling.
type LatencyFamily = Family<Labels, histogram::Histogram, fn() -> histogram::Histogram>;

fn latency_histogram() -> histogram::Histogram {
    histogram::Histogram::new(exponential_buckets(0.0001, 2.0, 22))
}

/// Latency per tool, kept for the exposition's histograms (the percentiles shown to agents
/// come from the finer `hdrhistogram`s).
struct Durations(LatencyFamily);

impl Default for Durations {
    fn default() -> Self {
        Durations(Family::new_with_constructor(latency_histogram as fn() -> _))
    }
}

/// Latencies are recorded in microseconds, up to an hour, with 3 significant figures.
const MAX_LATENCY_US: u64 = 3_600_000_000;

struct Stat {
    calls: u64,
    errors: u64,
    latency_us: Histogram<u64>,
}

impl Stat {
    fn new() -> Stat {
        Stat {
            calls: 0,
            errors: 0,
            // The bounds are constants that hdrhistogram accepts; a failure would be a bug.
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
        }
    }
}

/// Daemon-wide counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<String, Stat>>,
    connections_total: AtomicU64,
    connections_active: AtomicU64,
    durations: Durations,
    errors: Mutex<BTreeMap<String, u64>>,
    /// Calls and errors per minute over the last [`RECENT_MINUTES`] minutes.
    recent: Mutex<std::collections::VecDeque<(u64, u64, u64)>>,
    /// When the last question (a tool call or a `codesage` query; not status, metrics or
    /// other housekeeping) ended (ms since the Unix epoch; 0: none yet).
    last_question_ms: AtomicU64,
}

/// Minutes the recent error rate looks back.
pub const RECENT_MINUTES: u64 = 5;

/// One request kind's figures.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct RequestStats {
    /// Requests served.
    pub calls: u64,
    /// Requests that ended in an error.
    pub errors: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
}

/// Marks a connection as open until dropped.
pub struct ConnectionGuard<'a>(&'a Metrics);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections_active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Records one request of kind `name`.
    pub fn record(&self, name: &str, elapsed: Duration, ok: bool) {
        self.durations
            .0
            .get_or_create(&vec![("tool", name.to_string())])
            .observe(elapsed.as_secs_f64());
        {
            let minute = crate::clock::now_ms() / 60_000;
            let mut recent = self.recent.lock();
            match recent.back_mut() {
                Some((at, calls, errors)) if *at == minute => {
                    *calls += 1;
                    *errors += u64::from(!ok);
                }
                _ => recent.push_back((minute, 1, u64::from(!ok))),
            }
            while recent
                .front()
                .is_some_and(|(at, _, _)| at + RECENT_MINUTES <= minute)
            {
                recent.pop_front();
            }
        }
        let mut requests = self.requests.lock();
        let stat = requests.entry(name.to_string()).or_insert_with(Stat::new);
        stat.calls += 1;
        if !ok {
            stat.errors += 1;
        }
        let micros = (elapsed.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        // Clamped into the histogram's range, so recording cannot fail.
        let _ = stat.latency_us.record(micros);
    }

    /// Counts one error of `kind` (`tool_error`, `panic`, `parse_error`, `oversized`,
    /// `unknown_tool`, `invalid_control`, `busy`, `unauthorized`, `rate_limited`, …).
    pub fn error(&self, kind: &str) {
        *self.errors.lock().entry(kind.to_string()).or_default() += 1;
    }

    /// Notes that a question (a tool call, a `codesage` query) just ended.
    pub fn question_ended(&self) {
        self.last_question_ms
            .store(crate::clock::now_ms(), Ordering::Relaxed);
    }

    /// When the last question ended, in milliseconds since the epoch (`None`: none yet).
    pub fn last_question_ms(&self) -> Option<u64> {
        match self.last_question_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }

    /// Time since the last question ended (`None`: none yet), so background work can wait
    /// for a pause between a client's calls.
    pub fn since_last_question(&self) -> Option<Duration> {
        match self.last_question_ms.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_millis(
                crate::clock::now_ms().saturating_sub(at),
            )),
        }
    }

    /// Requests and failed requests over the last [`RECENT_MINUTES`] minutes.
    pub fn recent(&self) -> (u64, u64) {
        let since = (crate::clock::now_ms() / 60_000).saturating_sub(RECENT_MINUTES - 1);
        self.recent
            .lock()
            .iter()
            .filter(|(at, _, _)| *at >= since)
            .fold((0, 0), |(calls, errors), (_, c, e)| (calls + c, errors + e))
    }

    /// Errors counted per kind.
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().clone()
    }

    /// Counts a new connection; it stays active until the guard is dropped.
    pub fn connection_opened(&self) -> ConnectionGuard<'_> {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_active.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self)
    }

    /// Connections open now.
    pub fn connections_active(&self) -> u64 {
        self.connections_active.load(Ordering::Relaxed)
    }

    /// Connections accepted since start.
    pub fn connections_total(&self) -> u64 {
        self.connections_total.load(Ordering::Relaxed)
    }

    /// Figures per request kind.
    pub fn requests(&self) -> BTreeMap<String, RequestStats> {
        let to_ms = |micros: u64| micros as f64 / 1000.0;
        self.requests
            .lock()
            .iter()
            .map(|(name, stat)| {
                let latency = &stat.latency_us;
                (
                    name.clone(),
                    RequestStats {
                        calls: stat.calls,
                        errors: stat.errors,
                        p50_ms: to_ms(latency.value_at_quantile(0.50)),
                        p95_ms: to_ms(latency.value_at_quantile(0.95)),
                        p99_ms: to_ms(latency.value_at_quantile(0.99)),
                        max_ms: to_ms(latency.max()),
                        mean_ms: latency.mean() / 1000.0,
                    },
                )
            })
            .collect()
    }

    /// Total requests and errors across all kinds.
    pub fn totals(&self) -> (u64, u64) {
        self.requests
            .lock()
            .values()
            .fold((0, 0), |(calls, errors), stat| {
                (calls + stat.calls, errors + stat.errors)
            })
    }
}

/// One cache's figures, as `get_cache_statistics` and the exposition show them.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct CacheFigures {
    /// Which cache: `content`, `llm_replies`, `health_facts`, `vectors`.
    pub name: String,
    /// What it holds.
    pub holds: String,
    /// Entries held.
    pub entries: u64,
    /// Bytes held, where measured.
    pub bytes: Option<u64>,
    /// Most bytes it may hold, where bounded by bytes.
    pub capacity_bytes: Option<u64>,
    /// Lookups answered from it since start.
    pub hits: u64,
    /// Lookups it could not answer since start.
    pub misses: u64,
    /// Entries evicted to stay within its bound, where counted.
    pub evictions: Option<u64>,
    /// hits / (hits + misses); `None` before the first lookup.
    pub hit_rate: Option<f64>,
}

impl CacheFigures {
    /// Figures with the hit rate worked out.
    pub fn new(name: &str, holds: &str, entries: u64, hits: u64, misses: u64) -> CacheFigures {
        CacheFigures {
            name: name.to_string(),
            holds: holds.to_string(),
            entries,
            hits,
            misses,
            hit_rate: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
            ..CacheFigures::default()
        }
    }
}

/// Builds one exposition: each call adds a family with all its series.
struct Exposition(Registry);

impl Exposition {
    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>, series: Vec<(Labels, f64)>) {
        let family = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        for (labels, value) in series {
            family.get_or_create(&labels).set(value);
        }
        match unit {
            Some(unit) => self.0.register_with_unit(name, help, unit, family),
            None => self.0.register(name, help, family),
        }
    }

    fn counter(&mut self, name: &str, help: &str, unit: Option<Unit>, series: Vec<(Labels, u64)>) {
        let family = Family::<Labels, Counter>::default();
        for (labels, value) in series {
            family.get_or_create(&labels).inc_by(value);
        }
        match unit {
            Some(unit) => self.0.register_with_unit(name, help, unit, family),
            None => self.0.register(name, help, family),
        }
    }
}

/// One series per root for which `value` has a figure, labelled with the root's path.
fn per_root<T>(
    status: &StatusReport,
    value: impl Fn(&codesage_shared::protocol::RootStatus) -> Option<T>,
) -> Vec<(Labels, T)> {
    status
        .roots
        .iter()
        .filter_map(|root| {
            value(root).map(|value| (label("root", root.path.display().to_string()), value))
        })
        .collect()
}

fn label(name: &'static str, value: impl Into<String>) -> Labels {
    vec![(name, value.into())]
}

impl Metrics {
    /// The Prometheus text exposition (format 0.0.4, which `promtool check metrics`
    /// accepts): what this registry recorded plus the engine's figures in `status`, the
    /// daemon's `health` and its `caches`.
    pub fn exposition(
        &self,
        status: &StatusReport,
        health: (&str, usize),
        caches: &[CacheFigures],
    ) -> String {
        let mut out = Exposition(Registry::with_prefix("codesage"));
        let requests = self.requests.lock();
        out.counter(
            "requests",
            "MCP tool calls and control requests served, by tool and outcome",
            None,
            requests
                .iter()
                .flat_map(|(tool, stat)| {
                    [(stat.calls - stat.errors, "ok"), (stat.errors, "error")]
                        .into_iter()
                        .map(|(count, outcome)| {
                            (
                                vec![("tool", tool.clone()), ("outcome", outcome.to_string())],
                                count,
                            )
                        })
                })
                .collect(),
        );
        drop(requests);
        out.0.register_with_unit(
            "request_duration",
            "Time to answer a request, by tool",
            Unit::Seconds,
            self.durations.0.clone(),
        );
        out.counter(
            "errors",
            "Errors by kind (tool errors, panics, malformed or oversized messages, refused \
             connections, failed authentication, rate limits)",
            None,
            self.errors()
                .into_iter()
                .map(|(kind, count)| (label("kind", kind), count))
                .collect(),
        );
        out.counter(
            "connections_accepted",
            "Connections accepted since start",
            None,
            vec![(vec![], self.connections_total())],
        );
        out.gauge(
            "connections_active",
            "Connections open now",
            None,
            vec![(vec![], self.connections_active() as f64)],
        );
        out.gauge(
            "mcp_requests_in_flight",
            "MCP requests received and not yet answered",
            None,
            vec![(vec![], status.mcp_requests_in_flight as f64)],
        );
        out.gauge(
            "build_info",
            "The running version (always 1)",
            None,
            vec![(label("version", status.version.clone()), 1.0)],
        );
        out.gauge(
            "uptime",
            "Time since the daemon started",
            Some(Unit::Seconds),
            vec![(vec![], status.uptime_secs as f64)],
        );
        out.gauge(
            "health",
            "Overall health: 1 for the current state (healthy, degraded or unhealthy)",
            None,
            ["healthy", "degraded", "unhealthy"]
                .into_iter()
                .map(|state| {
                    (
                        label("state", state),
                        f64::from(u8::from(state == health.0)),
                    )
                })
                .collect(),
        );
        out.gauge(
            "health_problems",
            "Problems behind a degraded or unhealthy state",
            None,
            vec![(vec![], health.1 as f64)],
        );
        out.gauge(
            "memory_rss",
            "Resident memory of the daemon",
            Some(Unit::Bytes),
            vec![(vec![], status.rss_bytes as f64)],
        );
        out.gauge(
            "store_file",
            "Size of the store file on disk",
            Some(Unit::Bytes),
            vec![(vec![], status.store_bytes as f64)],
        );
        out.gauge(
            "store_table",
            "Bytes of keys and values per kind of stored data",
            Some(Unit::Bytes),
            status
                .store_space
                .iter()
                .map(|table| {
                    (
                        label("table", table.name.clone()),
                        table.stored_bytes as f64,
                    )
                })
                .collect(),
        );
        out.gauge(
            "store_table_entries",
            "Entries per kind of stored data",
            None,
            status
                .store_space
                .iter()
                .map(|table| (label("table", table.name.clone()), table.entries as f64))
                .collect(),
        );
        out.gauge(
            "root_files",
            "Files in each root's index",
            None,
            per_root(status, |root| Some(root.files as f64)),
        );
        out.gauge(
            "root_source",
            "Source bytes in each root's index",
            Some(Unit::Bytes),
            per_root(status, |root| Some(root.bytes as f64)),
        );
        out.gauge(
            "root_trigram_index",
            "Size of each root's trigram index in memory",
            Some(Unit::Bytes),
            per_root(status, |root| Some(root.trigram_index_bytes as f64)),
        );
        out.gauge(
            "root_chunks",
            "Semantic-search chunks of each root",
            None,
            per_root(status, |root| {
                root.semantic
                    .as_ref()
                    .map(|semantic| semantic.chunks as f64)
            }),
        );
        out.gauge(
            "root_vectors",
            "Chunks of each root with an embedding vector",
            None,
            per_root(status, |root| {
                root.semantic
                    .as_ref()
                    .map(|semantic| semantic.embedded as f64)
            }),
        );
        out.gauge(
            "root_state",
            "Each root's indexing state (1 for the current one)",
            None,
            status
                .roots
                .iter()
                .map(|root| {
                    (
                        vec![
                            ("root", root.path.display().to_string()),
                            ("state", root.state.clone()),
                        ],
                        1.0,
                    )
                })
                .collect(),
        );
        out.gauge(
            "watcher_mode",
            "How each root is kept fresh (1 for the current mode: watching, polling, \
             rescanning, starting, stopped)",
            None,
            status
                .roots
                .iter()
                .filter_map(|root| {
                    root.watch.as_ref().map(|watch| {
                        (
                            vec![
                                ("root", root.path.display().to_string()),
                                ("mode", watch.mode.clone()),
                            ],
                            1.0,
                        )
                    })
                })
                .collect(),
        );
        out.gauge(
            "watcher_queue_depth",
            "Changed paths waiting in each root's current batch",
            None,
            per_root(status, |root| {
                root.watch.as_ref().map(|watch| watch.pending as f64)
            }),
        );
        out.gauge(
            "watcher_watched_dirs",
            "Directories with a filesystem watch, per root",
            None,
            per_root(status, |root| {
                root.watch.as_ref().map(|watch| watch.watched_dirs as f64)
            }),
        );
        out.counter(
            "watcher_changes_applied",
            "Changed paths applied to each root's index since start",
            None,
            per_root(status, |root| {
                root.watch.as_ref().map(|watch| watch.events_applied)
            }),
        );
        out.counter(
            "watcher_rescans",
            "Full rescans of each root (lost events, polling, watcher errors) since start",
            None,
            per_root(status, |root| {
                root.watch.as_ref().map(|watch| watch.rescans)
            }),
        );
        out.gauge(
            "write_to_searchable",
            "Time from a file change to its being searchable, per root: the median (p50), \
             95th percentile (p95) over all batches, and the last batch",
            Some(Unit::Seconds),
            status
                .roots
                .iter()
                .flat_map(|root| {
                    let watch = root.watch.as_ref();
                    [
                        ("p50", watch.and_then(|watch| watch.latency_p50_ms)),
                        ("p95", watch.and_then(|watch| watch.latency_p95_ms)),
                        ("last", watch.and_then(|watch| watch.last_latency_ms)),
                    ]
                    .into_iter()
                    .filter_map(|(stat, ms)| {
                        ms.map(|ms| {
                            (
                                vec![
                                    ("root", root.path.display().to_string()),
                                    ("stat", stat.to_string()),
                                ],
                                ms / 1000.0,
                            )
                        })
                    })
                    .collect::<Vec<_>>()
                })
                .collect(),
        );
        let by_cache = |value: &dyn Fn(&CacheFigures) -> Option<u64>| {
            caches
                .iter()
                .filter_map(|cache| {
                    value(cache).map(|value| (label("cache", cache.name.clone()), value))
                })
                .collect::<Vec<_>>()
        };
        out.counter(
            "cache_hits",
            "Lookups answered from each cache",
            None,
            by_cache(&|c| Some(c.hits)),
        );
        out.counter(
            "cache_misses",
            "Lookups each cache could not answer",
            None,
            by_cache(&|c| Some(c.misses)),
        );
        out.counter(
            "cache_evictions",
            "Entries evicted from each bounded cache",
            None,
            by_cache(&|c| c.evictions),
        );
        let as_gauge = |series: Vec<(Labels, u64)>| {
            series
                .into_iter()
                .map(|(labels, value)| (labels, value as f64))
                .collect::<Vec<_>>()
        };
        out.gauge(
            "cache_entries",
            "Entries held by each cache",
            None,
            as_gauge(by_cache(&|c| Some(c.entries))),
        );
        out.gauge(
            "cache_size",
            "Bytes held by each cache",
            Some(Unit::Bytes),
            as_gauge(by_cache(&|c| c.bytes)),
        );
        out.gauge(
            "cache_capacity",
            "Most bytes each cache may hold",
            Some(Unit::Bytes),
            as_gauge(by_cache(&|c| c.capacity_bytes)),
        );
        let providers = &status.llm.providers;
        let by_provider = |value: &dyn Fn(&codesage_shared::protocol::LlmProviderStatus) -> u64| {
            providers
                .iter()
                .map(|(name, provider)| (label("provider", name.clone()), value(provider)))
                .collect::<Vec<_>>()
        };
        out.counter(
            "llm_calls",
            "Calls to each LLM provider",
            None,
            by_provider(&|p| p.calls),
        );
        out.counter(
            "llm_failures",
            "LLM calls that ended without an answer after their retries",
            None,
            by_provider(&|p| p.failures),
        );
        out.counter(
            "llm_retries",
            "Retried LLM attempts",
            None,
            by_provider(&|p| p.retries),
        );
        out.counter(
            "llm_breaker_refusals",
            "LLM calls refused by an open circuit breaker",
            None,
            by_provider(&|p| p.breaker_refusals),
        );
        out.counter(
            "llm_tokens",
            "Tokens sent to (prompt) and received from (reply) each LLM provider",
            None,
            providers
                .iter()
                .flat_map(|(name, provider)| {
                    [
                        ("prompt", provider.tokens_in),
                        ("reply", provider.tokens_out),
                    ]
                    .into_iter()
                    .map(|(direction, tokens)| {
                        (
                            vec![
                                ("provider", name.clone()),
                                ("direction", direction.to_string()),
                            ],
                            tokens,
                        )
                    })
                })
                .collect(),
        );
        out.gauge(
            "llm_breaker_state",
            "Each LLM provider's circuit breaker (1 for the current state: closed, open, \
             half-open)",
            None,
            providers
                .iter()
                .map(|(name, provider)| {
                    (
                        vec![
                            ("provider", name.clone()),
                            ("state", provider.breaker.clone()),
                        ],
                        1.0,
                    )
                })
                .collect(),
        );
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &out.0);
        text
    }
}

/// Resident memory of this process in bytes, 0 if the platform does not say.
pub fn rss_bytes() -> u64 {
    memory_stats::memory_stats().map_or(0, |stats| stats.physical_mem as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_calls_errors_and_percentiles() {
        let metrics = Metrics::default();
        for ms in 1..=100 {
            metrics.record("search_codebase", Duration::from_millis(ms), ms != 50);
        }
        let stats = &metrics.requests()["search_codebase"];
        assert_eq!(stats.calls, 100);
        assert_eq!(stats.errors, 1);
        assert!((49.0..=51.0).contains(&stats.p50_ms), "{stats:?}");
        assert!((94.0..=96.0).contains(&stats.p95_ms), "{stats:?}");
        assert_eq!(metrics.totals(), (100, 1));
        {
            let _guard = metrics.connection_opened();
            assert_eq!(metrics.connections_active(), 1);
        }
        assert_eq!(metrics.connections_active(), 0);
        assert_eq!(metrics.connections_total(), 1);
    }
}
