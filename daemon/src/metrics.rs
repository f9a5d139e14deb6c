//! Request counters and latency histograms, per MCP tool and per control request, plus
//! connection counts. Read by `get_performance_metrics` and `codesage status`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

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
}

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
