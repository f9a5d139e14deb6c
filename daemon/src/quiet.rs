//! What the daemon does once clients go quiet after asking questions: the allocator's free
//! memory is handed back to the operating system. Answers allocate in bursts on the request
//! and worker threads (decompressed contents, match lists, clone reports, serialised
//! answers), and mimalloc keeps each thread's freed pages for that thread until it frees
//! again, so a daemon left idle after a busy minute would otherwise hold them for hours.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

/// How long no question may have ended (and none be in flight) before memory is handed
/// back: longer than the pause between the calls of one agent's turn, shorter than the
/// pause while it thinks.
pub const QUIET_FOR: Duration = Duration::from_secs(5);

/// How often the quiet is looked for.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Starts the task that hands free memory back once per quiet spell following questions
/// (nothing when `memory.release_after_bursts` is off). It ends at `shutdown`.
pub fn start(engine: Arc<Engine>, shutdown: CancellationToken) {
    if !engine.config().memory.release_after_bursts {
        return;
    }
    tokio::spawn(async move {
        let mut released_after: Option<u64> = None;
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let metrics = engine.metrics();
            let Some(last) = metrics.last_question_ms() else {
                continue;
            };
            let idle = engine
                .mcp_requests()
                .in_flight
                .load(std::sync::atomic::Ordering::Relaxed)
                == 0
                && metrics
                    .since_last_question()
                    .is_some_and(|since| since >= QUIET_FOR);
            if released_after == Some(last) || !idle {
                continue;
            }
            released_after = Some(last);
            // It waits for every worker thread to take its turn: off the async threads.
            if let Err(err) =
                tokio::task::spawn_blocking(crate::allocator::release_free_memory).await
            {
                tracing::warn!(error = %err, "handing free memory back after questions");
            }
        }
    });
}
