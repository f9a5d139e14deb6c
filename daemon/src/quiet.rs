//! What the daemon does once clients go quiet after asking questions: the allocator's free
//! memory is handed back to the operating system. Answers allocate in bursts on the request
//! and worker threads (decompressed contents, match lists, clone reports, serialised
//! answers), and mimalloc keeps each thread's freed pages for that thread until it frees
//! again, so a daemon left idle after a busy minute would otherwise hold them for hours.
//! After a longer quiet (`memory.idle_release_secs`), the caches that are quick to refill —
//! decompressed contents, file sources quoted by clone reports — are emptied as well, and the
//! pages of the program's own code and grammar tables are handed back: an idle daemon keeps
//! its indexes, not copies of files nobody is reading.

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

/// Starts the task that hands free memory back once per quiet spell following questions, and
/// empties the quick-to-refill caches once per longer quiet (each part only when configured:
/// `memory.release_after_bursts`, `memory.idle_release_secs`). It ends at `shutdown`.
pub fn start(engine: Arc<Engine>, shutdown: CancellationToken) {
    let memory = &engine.config().memory;
    let release = memory.release_after_bursts;
    let program_pages = memory.release_program_pages;
    let empty_after =
        (memory.idle_release_secs > 0).then(|| Duration::from_secs(memory.idle_release_secs));
    if !release && empty_after.is_none() {
        return;
    }
    tokio::spawn(async move {
        // The last question (its end time) after which each step was taken.
        let mut released_after: Option<u64> = None;
        let mut emptied_after: Option<u64> = None;
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
            let in_flight = engine
                .mcp_requests()
                .in_flight
                .load(std::sync::atomic::Ordering::Relaxed);
            let quiet_for = |pause: Duration| {
                in_flight == 0
                    && metrics
                        .since_last_question()
                        .is_some_and(|since| since >= pause)
            };
            let empty =
                empty_after.is_some_and(|pause| emptied_after != Some(last) && quiet_for(pause));
            let hand_back = release && released_after != Some(last) && quiet_for(QUIET_FOR);
            if !empty && !hand_back {
                continue;
            }
            if empty {
                emptied_after = Some(last);
                engine.store().clear_content_cache();
                engine.health().clear_sources();
                // Parsing every language paged in grammar tables and code an idle daemon
                // does not need; they come back from the page cache on the next parse.
                let program = if program_pages {
                    crate::allocator::release_program_pages()
                } else {
                    0
                };
                tracing::debug!(
                    program_pages_mib = program >> 20,
                    "emptied the content and clone source caches after a quiet spell"
                );
            }
            released_after = Some(last);
            if !release {
                continue;
            }
            // It waits for every worker thread to take its turn: off the async threads.
            if let Err(err) =
                tokio::task::spawn_blocking(crate::allocator::release_free_memory).await
            {
                tracing::warn!(error = %err, "handing free memory back after questions");
            }
        }
    });
}
