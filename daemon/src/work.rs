//! Cooperative stopping and progress for blocking work (a whole-root report, an indexing
//! pass): the work reports how far it got ([`Work::set_total`], [`Work::advance`]) and asks
//! [`Work::should_stop`] between units of work; it stops at once when its request is
//! cancelled and, at the caller's deadline, returns what it has.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Why work stopped before it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The caller's deadline passed.
    Deadline,
    /// The client withdrew the request.
    Cancelled,
}

/// Hears how far work got: (units done, units in all; 0 while unknown).
pub type Reporter = Box<dyn Fn(u64, u64) + Send + Sync>;

/// How often work reports its progress, at most.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(500);

/// The running state of one piece of blocking work.
pub struct Work {
    cancel: CancellationToken,
    deadline: Option<Instant>,
    done: AtomicU64,
    total: AtomicU64,
    /// 0: running; 1: deadline; 2: cancelled.
    stopped: AtomicU8,
    started: Instant,
    /// Milliseconds after `started` of the last report.
    reported_ms: AtomicU64,
    reporter: Option<Reporter>,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("done", &self.done)
            .field("total", &self.total)
            .field("stopped", &self.stopped())
            .finish_non_exhaustive()
    }
}

impl Work {
    /// Work that stops when `cancel` fires or `deadline` passes.
    pub fn new(cancel: CancellationToken, deadline: Option<Instant>) -> Work {
        Work {
            cancel,
            deadline,
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            stopped: AtomicU8::new(0),
            started: Instant::now(),
            reported_ms: AtomicU64::new(0),
            reporter: None,
        }
    }

    /// With `reporter` told how far the work got, at most every [`REPORT_INTERVAL`] (the
    /// work reports itself as it advances: no timer runs beside it).
    pub fn reporting(mut self, reporter: Reporter) -> Work {
        self.reporter = Some(reporter);
        self
    }

    /// Work that never stops early (tests, benchmarks, internal callers).
    pub fn unbounded() -> Work {
        Work::new(CancellationToken::new(), None)
    }

    /// Whether to stop now; once it says yes it keeps saying so.
    pub fn should_stop(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) != 0 {
            return true;
        }
        let reason = if self.cancel.is_cancelled() {
            2
        } else if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            1
        } else {
            return false;
        };
        self.stopped.store(reason, Ordering::Relaxed);
        true
    }

    /// Why the work stopped early, if it did.
    pub fn stopped(&self) -> Option<Stopped> {
        match self.stopped.load(Ordering::Relaxed) {
            1 => Some(Stopped::Deadline),
            2 => Some(Stopped::Cancelled),
            _ => None,
        }
    }

    /// Sets how many units the work has in all.
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Counts `units` more as done (and reports progress when it is time to).
    pub fn advance(&self, units: u64) {
        let done = self.done.fetch_add(units, Ordering::Relaxed) + units;
        let Some(reporter) = &self.reporter else {
            return;
        };
        let now_ms = self.started.elapsed().as_millis() as u64;
        let last = self.reported_ms.load(Ordering::Relaxed);
        let interval = REPORT_INTERVAL.as_millis() as u64;
        // One thread wins each interval; the others carry on.
        if now_ms >= last + interval
            && self
                .reported_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            reporter(done, self.total.load(Ordering::Relaxed));
        }
    }

    /// (done, total) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_stops_at_the_deadline_or_on_cancel_and_says_why() {
        let work = Work::unbounded();
        assert!(!work.should_stop());
        assert_eq!(work.stopped(), None);

        let past = Work::new(CancellationToken::new(), Some(Instant::now()));
        assert!(past.should_stop());
        assert_eq!(past.stopped(), Some(Stopped::Deadline));

        let cancel = CancellationToken::new();
        let cancelled = Work::new(cancel.clone(), None);
        cancel.cancel();
        assert!(cancelled.should_stop());
        assert!(cancelled.should_stop(), "stays stopped");
        assert_eq!(cancelled.stopped(), Some(Stopped::Cancelled));

        work.set_total(10);
        work.advance(3);
        work.advance(2);
        assert_eq!(work.counts(), (5, 10));

        // Reports come as the work advances, at most once per interval.
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&heard);
        let reported = Work::unbounded().reporting(Box::new(move |done, total| {
            sink.lock().unwrap().push((done, total));
        }));
        reported.set_total(4);
        reported.advance(1);
        assert!(
            heard.lock().unwrap().is_empty(),
            "not before the first interval"
        );
        std::thread::sleep(REPORT_INTERVAL + Duration::from_millis(20));
        reported.advance(1);
        reported.advance(1);
        assert_eq!(*heard.lock().unwrap(), [(2, 4)]);
    }
}
