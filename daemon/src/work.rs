//! Cooperative stopping and progress for blocking work (a whole-root report, an indexing
//! pass): the work reports how far it got ([`Work::set_total`], [`Work::advance`]) and asks
//! [`Work::should_stop`] between units of work; it stops at once when its request is
//! cancelled and, at the caller's deadline, returns what it has.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

/// Why work stopped before it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The caller's deadline passed.
    Deadline,
    /// The client withdrew the request.
    Cancelled,
}

/// The running state of one piece of blocking work.
#[derive(Debug)]
pub struct Work {
    cancel: CancellationToken,
    deadline: Option<Instant>,
    done: AtomicU64,
    total: AtomicU64,
    /// 0: running; 1: deadline; 2: cancelled.
    stopped: AtomicU8,
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
        }
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

    /// Counts `units` more as done.
    pub fn advance(&self, units: u64) {
        self.done.fetch_add(units, Ordering::Relaxed);
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
    }
}
