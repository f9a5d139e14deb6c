//! The model behind the LLM-assisted tools: one entry point, [`Llm::complete`], that picks
//! the provider ([`route`]), answers from the reply cache when it can, respects the
//! client-side rate limit and the circuit breaker, retries what is worth retrying with
//! backoff ([`resilience`]), speaks the provider's wire format ([`wire`]) or asks the MCP
//! client's model ([`Sampler`]), and never takes longer than its deadline.
//!
//! It never fails a tool: every way it can go wrong is an [`Unavailable`] whose reason the
//! tool shows next to its offline analysis. Keys are only ever read from
//! [`codesage_shared::config::Secrets`], sent in headers, and scrubbed from anything a
//! provider sends back.

pub mod context;
pub mod offline;
pub mod resilience;
pub mod route;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use codesage_shared::config::{Config, LlmConfig, Secrets};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::store::{CachedReply, Store};
pub use codesage_shared::protocol::{
    LlmCacheStatus as ReplyCacheStats, LlmProviderStatus as ProviderStats, LlmStatus as LlmStats,
};
use resilience::{Breaker, Failure, RateLimiter, backoff};
use route::{Endpoint, Route};

/// What is sent to a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The instructions.
    pub system: String,
    /// The question with its context.
    pub user: String,
    /// Reply tokens asked for at most.
    pub max_tokens: u32,
}

impl Prompt {
    /// About how many tokens the prompt and its longest reply take (for the rate limit).
    pub fn estimated_tokens(&self) -> u64 {
        let text = crate::queries::page::estimate_tokens(self.system.as_bytes())
            + crate::queries::page::estimate_tokens(self.user.as_bytes());
        text as u64 + u64::from(self.max_tokens)
    }
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Its text.
    pub text: String,
    /// The model that answered.
    pub model: String,
    /// Prompt tokens, as the provider counted them (0 when it did not say).
    pub tokens_in: u64,
    /// Reply tokens, as the provider counted them.
    pub tokens_out: u64,
}

/// The MCP client's model, lent through `sampling/createMessage` (the MCP front end
/// provides it for clients that declare the sampling capability).
pub trait Sampler: Send + Sync {
    /// Asks the client's model; `model_hint` is a preference the client may ignore.
    fn sample<'a>(
        &'a self,
        prompt: &'a Prompt,
        model_hint: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Reply, Failure>>;
}

/// A model's answer as a tool reports it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Completion {
    /// The answer.
    #[serde(skip)]
    pub text: String,
    /// The provider that answered (`groq`, `openai`, `gemini`, `sampling`, a host).
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// Served from the reply cache (no call made).
    pub cached: bool,
    /// Attempts made (0 when cached).
    pub attempts: u32,
    /// Prompt tokens.
    pub tokens_in: u64,
    /// Reply tokens.
    pub tokens_out: u64,
    /// Time spent in the daemon, milliseconds (fractional: a cache hit takes microseconds).
    pub elapsed_ms: f64,
}

/// Why no model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Unavailable {
    /// Why, worded for the answer (`429 (rate limited) from groq after 3 tries`).
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// The request was cancelled (the tool stops instead of answering).
    pub cancelled: bool,
}

impl Unavailable {
    fn because(reason: impl Into<String>, attempts: u32) -> Unavailable {
        Unavailable {
            reason: reason.into(),
            attempts,
            cancelled: false,
        }
    }
}

/// One provider's limiter, breaker and counters.
struct ProviderState {
    breaker: Mutex<Breaker>,
    limiter: Mutex<RateLimiter>,
    stats: Mutex<ProviderStats>,
}

/// The LLM service of the daemon.
pub struct Llm {
    config: LlmConfig,
    secrets: Secrets,
    http: Result<reqwest::Client, String>,
    store: Arc<Store>,
    providers: Mutex<BTreeMap<String, Arc<ProviderState>>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

/// `duration` in milliseconds, to the microsecond.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Time kept back from a request's deadline for the tool to build its answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

impl Llm {
    /// The service for `config`, caching replies in `store`.
    pub fn new(config: &Config, store: Arc<Store>) -> Llm {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.llm.connect_timeout_ms))
            .user_agent(concat!("codesage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("cannot start the HTTP client: {err}"));
        Llm {
            config: config.llm.clone(),
            secrets: config.secrets.clone(),
            http,
            store,
            providers: Mutex::new(BTreeMap::new()),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// The route `tool` would take now, or why there is none.
    pub fn route(&self, tool: &str, client_samples: bool) -> Result<Route, String> {
        route::resolve(&self.config, &self.secrets, tool, client_samples)
    }

    /// `text` with every configured secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for secret in self.secrets.values() {
            if !secret.is_empty() && text.contains(secret) {
                text = text.replace(secret, "********");
            }
        }
        text
    }

    fn provider(&self, label: &str) -> Arc<ProviderState> {
        let mut providers = self.providers.lock();
        Arc::clone(providers.entry(label.to_string()).or_insert_with(|| {
            Arc::new(ProviderState {
                breaker: Mutex::new(Breaker::new(
                    self.config.breaker_failures,
                    Duration::from_millis(self.config.breaker_cooldown_ms),
                )),
                limiter: Mutex::new(RateLimiter::new(
                    self.config.requests_per_minute,
                    self.config.tokens_per_minute,
                )),
                stats: Mutex::new(ProviderStats::default()),
            })
        }))
    }

    /// The cache key of `prompt` on `route`.
    fn cache_key(route: &Route, prompt: &Prompt) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        for part in [
            route.label.as_str(),
            route.model.as_str(),
            prompt.system.as_str(),
            prompt.user.as_str(),
        ] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.update(&prompt.max_tokens.to_le_bytes());
        *hasher.finalize().as_bytes()
    }

    /// Asks the model of `tool` (see the module documentation); `model` overrides the
    /// configured model for this call. `sampler` is the client's model, when it lends one;
    /// `deadline` is the request's.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete(
        &self,
        tool: &str,
        model: Option<&str>,
        prompt: &Prompt,
        sampler: Option<&Arc<dyn Sampler>>,
        cancel: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Result<Completion, Unavailable> {
        let started = Instant::now();
        let mut route = self
            .route(tool, sampler.is_some())
            .map_err(|why| Unavailable::because(why, 0))?;
        if let Some(model) = model.map(str::trim).filter(|model| !model.is_empty()) {
            route.model = model.to_string();
        }
        let ttl_ms = self.config.cache_ttl_secs.saturating_mul(1000);
        let key = Self::cache_key(&route, prompt);
        if ttl_ms > 0 {
            match self.store.llm_reply(&key) {
                Ok(Some(cached))
                    if crate::clock::now_ms().saturating_sub(cached.created_ms) < ttl_ms =>
                {
                    self.cache_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(Completion {
                        text: cached.text,
                        provider: cached.provider,
                        model: cached.model,
                        cached: true,
                        attempts: 0,
                        tokens_in: cached.tokens_in,
                        tokens_out: cached.tokens_out,
                        elapsed_ms: millis(started.elapsed()),
                    });
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "cannot read the LLM reply cache"),
            }
            self.cache_misses.fetch_add(1, Ordering::Relaxed);
        }

        let state = self.provider(&route.label);
        state.stats.lock().calls += 1;
        let total = Duration::from_millis(self.config.total_timeout_ms);
        let mut give_up = started + total;
        if let Some(deadline) = deadline {
            give_up = give_up.min(deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline));
        }

        // The guard is dropped at the end of the statement: the breaker is locked again below.
        let admitted = state.breaker.lock().admit(Instant::now());
        if let Err(wait) = admitted {
            let failed = state.breaker.lock().consecutive_failures();
            let mut stats = state.stats.lock();
            stats.breaker_refusals += 1;
            stats.failures += 1;
            return Err(Unavailable::because(
                format!(
                    "the circuit breaker for {} is open after {failed} failed calls in a row \
                     (next try in {} s)",
                    route.label,
                    wait.as_secs_f64().ceil() as u64
                ),
                0,
            ));
        }

        // The client-side rate limit: wait for room, or give up if it comes too late.
        let tokens = prompt.estimated_tokens();
        let mut waited = false;
        loop {
            let now = Instant::now();
            let acquired = state.limiter.lock().try_acquire(now, tokens);
            let Err(wait) = acquired else {
                break;
            };
            if !waited {
                waited = true;
                state.stats.lock().rate_limited += 1;
            }
            if now + wait > give_up {
                state.breaker.lock().abandoned();
                state.stats.lock().failures += 1;
                return Err(Unavailable::because(
                    format!(
                        "the client-side rate limit for {} (llm.requests_per_minute = {}, \
                         llm.tokens_per_minute = {}) has no room before the deadline",
                        route.label, self.config.requests_per_minute, self.config.tokens_per_minute
                    ),
                    0,
                ));
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(self.cancelled(&state, 0)),
                _ = tokio::time::sleep(wait) => {}
            }
        }

        let scrub = |text: &str| self.scrub(text);
        let mut attempts = 0u32;
        let last_failure: Failure;
        let mut stop_reason: Option<String> = None;
        loop {
            let now = Instant::now();
            let remaining = give_up.saturating_duration_since(now);
            if remaining.is_zero() {
                last_failure =
                    Failure::Timeout(Duration::from_millis(self.config.total_timeout_ms));
                stop_reason = Some("the call's time ran out".into());
                break;
            }
            let timeout = Duration::from_millis(self.config.request_timeout_ms).min(remaining);
            attempts += 1;
            {
                let mut stats = state.stats.lock();
                stats.attempts += 1;
                if attempts > 1 {
                    stats.retries += 1;
                }
            }
            let attempt = async {
                match &route.endpoint {
                    Endpoint::Sampling => match sampler {
                        Some(sampler) => sampler.sample(prompt, &route.model, timeout).await,
                        None => Err(Failure::Declined("the client offers no sampling".into())),
                    },
                    endpoint => match &self.http {
                        Ok(http) => {
                            wire::send(
                                http,
                                endpoint,
                                &route.model,
                                prompt,
                                self.config.temperature,
                                timeout,
                                &scrub,
                            )
                            .await
                        }
                        Err(why) => Err(Failure::Connection(why.clone())),
                    },
                }
            };
            let outcome = tokio::select! {
                _ = cancel.cancelled() => return Err(self.cancelled(&state, attempts)),
                outcome = attempt => outcome,
            };
            match outcome {
                Ok(reply) => {
                    state.breaker.lock().success();
                    let tokens_in = if reply.tokens_in > 0 {
                        reply.tokens_in
                    } else {
                        tokens.saturating_sub(u64::from(prompt.max_tokens))
                    };
                    let tokens_out = if reply.tokens_out > 0 {
                        reply.tokens_out
                    } else {
                        crate::queries::page::estimate_tokens(reply.text.as_bytes()) as u64
                    };
                    {
                        let mut stats = state.stats.lock();
                        stats.succeeded += 1;
                        stats.tokens_in += tokens_in;
                        stats.tokens_out += tokens_out;
                    }
                    // A reply is scrubbed before anyone sees it or it is stored.
                    let text = self.scrub(&reply.text);
                    if ttl_ms > 0 {
                        let cached = CachedReply {
                            created_ms: crate::clock::now_ms(),
                            provider: route.label.clone(),
                            model: reply.model.clone(),
                            text: text.clone(),
                            tokens_in,
                            tokens_out,
                        };
                        if let Err(err) = self.store.put_llm_reply(
                            &key,
                            &cached,
                            self.config.cache_max_entries,
                            ttl_ms,
                        ) {
                            tracing::warn!(error = %err, "cannot store an LLM reply");
                        }
                    }
                    return Ok(Completion {
                        text,
                        provider: route.label.clone(),
                        model: reply.model,
                        cached: false,
                        attempts,
                        tokens_in,
                        tokens_out,
                        elapsed_ms: millis(started.elapsed()),
                    });
                }
                Err(failure) => {
                    tracing::warn!(provider = %route.label, attempt = attempts, failure = %failure, "LLM attempt failed");
                    if !failure.retryable() || attempts > self.config.max_retries {
                        last_failure = failure;
                        break;
                    }
                    let initial = Duration::from_millis(self.config.backoff_initial_ms);
                    let max = Duration::from_millis(self.config.backoff_max_ms);
                    let wait = match failure.retry_after() {
                        Some(asked) if asked > max => {
                            stop_reason = Some(format!(
                                "it asked to wait {} s, over llm.backoff_max_ms",
                                asked.as_secs_f64().ceil() as u64
                            ));
                            last_failure = failure;
                            break;
                        }
                        Some(asked) => asked,
                        None => backoff(attempts, initial, max),
                    };
                    if Instant::now() + wait >= give_up {
                        stop_reason = Some("no time left to retry".into());
                        last_failure = failure;
                        break;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return Err(self.cancelled(&state, attempts)),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
        state.breaker.lock().failure(Instant::now());
        let tries = if attempts == 1 { "try" } else { "tries" };
        let mut reason = format!(
            "{last_failure} from {} after {attempts} {tries}",
            route.label
        );
        if let Some(stop) = stop_reason {
            reason.push_str(&format!(" ({stop})"));
        }
        let reason = self.scrub(&reason);
        {
            let mut stats = state.stats.lock();
            stats.failures += 1;
            stats.last_error = Some(reason.clone());
        }
        Err(Unavailable::because(reason, attempts))
    }

    fn cancelled(&self, state: &ProviderState, attempts: u32) -> Unavailable {
        state.breaker.lock().abandoned();
        Unavailable {
            reason: "the request was cancelled".into(),
            attempts,
            cancelled: true,
        }
    }

    /// Figures for status output.
    pub fn stats(&self) -> LlmStats {
        let now = Instant::now();
        let providers = self
            .providers
            .lock()
            .iter()
            .map(|(label, state)| {
                let breaker = state.breaker.lock();
                let mut stats = state.stats.lock().clone();
                stats.breaker = breaker.state(now).as_str().to_string();
                stats.consecutive_failures = breaker.consecutive_failures();
                (label.clone(), stats)
            })
            .collect();
        let hits = self.cache_hits.load(Ordering::Relaxed);
        let misses = self.cache_misses.load(Ordering::Relaxed);
        LlmStats {
            provider: self.config.provider.as_str().to_string(),
            providers,
            cache: ReplyCacheStats {
                hits,
                misses,
                hit_rate: if hits + misses == 0 {
                    0.0
                } else {
                    hits as f64 / (hits + misses) as f64
                },
                entries: self.store.llm_reply_count().unwrap_or(0),
                ttl_secs: self.config.cache_ttl_secs,
            },
        }
    }
}
