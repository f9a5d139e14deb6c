//! What keeps a flaky provider from hanging or hammering: failure classification (what is
//! worth a retry), exponential backoff with jitter that honours `Retry-After`, a client-side
//! rate limit per provider (requests and tokens per minute) and a circuit breaker.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// Why one attempt at a provider failed. Its text never holds a secret (provider messages
/// are scrubbed before they get here).
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The provider answered with an HTTP error.
    Status {
        /// The HTTP status.
        code: u16,
        /// How long the provider asked us to wait (`Retry-After`, `retry-after-ms`).
        retry_after: Option<Duration>,
        /// The provider's own message, shortened.
        detail: String,
    },
    /// No complete answer within the attempt's time.
    Timeout(Duration),
    /// The connection could not be made or broke.
    Connection(String),
    /// The reply was not the wire format's JSON.
    Malformed(String),
    /// The reply held no text (no choices, no candidates, an empty message).
    Empty,
    /// The MCP client declined or failed the sampling request.
    Declined(String),
}

impl Failure {
    /// Whether another attempt may succeed: rate limits, server errors, timeouts and broken
    /// connections. A refused key, a bad request or a malformed reply will fail the same way
    /// again.
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Status { code, .. } => {
                *code == 408 || *code == 409 || *code == 429 || (500..600).contains(code)
            }
            Failure::Timeout(_) | Failure::Connection(_) => true,
            Failure::Malformed(_) | Failure::Empty | Failure::Declined(_) => false,
        }
    }

    /// The provider's requested wait, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Failure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status { code, detail, .. } => {
                write!(f, "{code}")?;
                match code {
                    401 | 403 => write!(f, " (the API key was refused)")?,
                    429 => write!(f, " (rate limited)")?,
                    _ => {}
                }
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
            Failure::Timeout(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Failure::Connection(why) => write!(f, "connection failed ({why})"),
            Failure::Malformed(why) => write!(f, "malformed reply ({why})"),
            Failure::Empty => write!(f, "empty reply (no text in it)"),
            Failure::Declined(why) => write!(f, "sampling declined ({why})"),
        }
    }
}

/// Parses `Retry-After` (seconds, possibly fractional) or `retry-after-ms`.
pub fn parse_retry_after(seconds: Option<&str>, millis: Option<&str>) -> Option<Duration> {
    if let Some(ms) = millis.and_then(|value| value.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let secs = seconds?.trim().parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The wait before retry number `retry` (1 for the first): `initial · 2^(retry-1)` capped at
/// `max`, with "equal jitter" (half fixed, half random) so that clients that failed together
/// do not retry together.
pub fn backoff(retry: u32, initial: Duration, max: Duration) -> Duration {
    let exponent = retry.saturating_sub(1).min(20);
    let full = initial.saturating_mul(1u32 << exponent).min(max);
    let half = full / 2;
    let jitter = Duration::from_nanos(fastrand::u64(0..=half.as_nanos() as u64));
    half + jitter
}

/// A client-side limit of requests and tokens per rolling minute.
#[derive(Debug)]
pub struct RateLimiter {
    requests_per_minute: u32,
    tokens_per_minute: u32,
    window: VecDeque<(Instant, u64)>,
}

const MINUTE: Duration = Duration::from_secs(60);

impl RateLimiter {
    /// A limiter; 0 turns a limit off.
    pub fn new(requests_per_minute: u32, tokens_per_minute: u32) -> RateLimiter {
        RateLimiter {
            requests_per_minute,
            tokens_per_minute,
            window: VecDeque::new(),
        }
    }

    /// Takes room for one request of about `tokens` tokens at `now`, or says how long to
    /// wait before asking again. A request larger than the whole token budget goes through
    /// once the window is empty, so it is slowed, never refused forever.
    pub fn try_acquire(&mut self, now: Instant, tokens: u64) -> Result<(), Duration> {
        while let Some(&(at, _)) = self.window.front() {
            if now.duration_since(at) >= MINUTE {
                self.window.pop_front();
            } else {
                break;
            }
        }
        let requests_full =
            self.requests_per_minute > 0 && self.window.len() >= self.requests_per_minute as usize;
        let used: u64 = self.window.iter().map(|(_, tokens)| tokens).sum();
        let tokens_full = self.tokens_per_minute > 0
            && !self.window.is_empty()
            && used + tokens > u64::from(self.tokens_per_minute);
        if requests_full || tokens_full {
            let oldest = self.window.front().map_or(now, |(at, _)| *at);
            return Err((oldest + MINUTE)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)));
        }
        self.window.push_back((now, tokens));
        Ok(())
    }
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused until the cooldown ends.
    Open,
    /// The cooldown ended: one call goes through to test the provider.
    HalfOpen,
}

impl BreakerState {
    /// Its name in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// A circuit breaker: opens after `threshold` consecutive failed calls, refuses calls for
/// `cooldown`, then lets one call through (half-open); its success closes the breaker, its
/// failure opens it again.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            consecutive_failures: 0,
            opened_at: None,
            probe_in_flight: false,
        }
    }

    /// Its state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.opened_at {
            None => BreakerState::Closed,
            Some(at) if now.duration_since(at) < self.cooldown => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Failed calls in a row.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Asks to make a call at `now`: `Err(wait)` while open (or while the half-open probe
    /// is out), with how long until the next probe may go.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        match self.state(now) {
            BreakerState::Closed => Ok(()),
            BreakerState::Open => {
                let at = self.opened_at.unwrap_or(now);
                Err((at + self.cooldown).saturating_duration_since(now))
            }
            BreakerState::HalfOpen if self.probe_in_flight => Err(Duration::from_millis(100)),
            BreakerState::HalfOpen => {
                self.probe_in_flight = true;
                Ok(())
            }
        }
    }

    /// A call succeeded.
    pub fn success(&mut self) {
        self.consecutive_failures = 0;
        self.opened_at = None;
        self.probe_in_flight = false;
    }

    /// A call failed at `now`.
    pub fn failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let probing = self.probe_in_flight;
        self.probe_in_flight = false;
        if probing || self.consecutive_failures >= self.threshold {
            self.opened_at = Some(now);
        }
    }

    /// A call was given up without an answer either way (cancelled): a probe slot is freed.
    pub fn abandoned(&mut self) {
        self.probe_in_flight = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |code| Failure::Status {
            code,
            retry_after: None,
            detail: String::new(),
        };
        assert!(status(429).retryable());
        assert!(status(503).retryable());
        assert!(!status(401).retryable());
        assert!(!status(400).retryable());
        assert!(Failure::Timeout(Duration::from_secs(1)).retryable());
        assert!(!Failure::Malformed("x".into()).retryable());
        assert!(!Failure::Empty.retryable());
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_milliseconds() {
        assert_eq!(
            parse_retry_after(Some("2"), None),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after(Some("2"), Some("150")),
            Some(Duration::from_millis(150))
        );
        assert_eq!(parse_retry_after(Some("soon"), None), None);
        assert_eq!(parse_retry_after(None, None), None);
    }

    #[test]
    fn backoff_grows_and_stays_within_bounds() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for retry in 1..8 {
            let full = (initial * (1 << (retry - 1))).min(max);
            for _ in 0..50 {
                let wait = backoff(retry, initial, max);
                assert!(wait >= full / 2 && wait <= full, "{retry}: {wait:?}");
            }
        }
    }

    #[test]
    fn rate_limiter_holds_requests_and_tokens_per_minute() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(2, 0);
        assert!(limiter.try_acquire(start, 10).is_ok());
        assert!(limiter.try_acquire(start, 10).is_ok());
        let wait = limiter.try_acquire(start, 10).unwrap_err();
        assert!(wait > Duration::from_secs(59), "{wait:?}");
        assert!(limiter.try_acquire(start + MINUTE, 10).is_ok());

        let mut limiter = RateLimiter::new(0, 100);
        assert!(limiter.try_acquire(start, 80).is_ok());
        assert!(limiter.try_acquire(start, 30).is_err());
        // Larger than the budget: goes once the window is empty.
        let mut limiter = RateLimiter::new(0, 100);
        assert!(limiter.try_acquire(start, 500).is_ok());
    }

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let start = Instant::now();
        let cooldown = Duration::from_secs(10);
        let mut breaker = Breaker::new(3, cooldown);
        for _ in 0..2 {
            breaker.admit(start).unwrap();
            breaker.failure(start);
        }
        assert_eq!(breaker.state(start), BreakerState::Closed);
        breaker.admit(start).unwrap();
        breaker.failure(start);
        assert_eq!(breaker.state(start), BreakerState::Open);
        assert!(breaker.admit(start + Duration::from_secs(5)).is_err());

        let later = start + cooldown;
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        breaker.admit(later).unwrap();
        assert!(breaker.admit(later).is_err(), "one probe at a time");
        breaker.failure(later);
        assert_eq!(
            breaker.state(later),
            BreakerState::Open,
            "a failed probe reopens"
        );

        let after = later + cooldown;
        breaker.admit(after).unwrap();
        breaker.success();
        assert_eq!(breaker.state(after), BreakerState::Closed);
        assert_eq!(breaker.consecutive_failures(), 0);
    }
}
