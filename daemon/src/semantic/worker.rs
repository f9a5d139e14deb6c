//! The background semantic worker: one low-priority thread for the daemon that keeps every
//! root's semantic index in step with its view, embeds the chunks that have no vector yet
//! (after a root's indexing run, batch by batch, checking for edits between batches), builds
//! HNSW bases for large roots and sweeps vectors nobody needs from the store.
//!
//! Everything it does is resumable: vectors are stored as they are computed, so after a
//! restart only the chunks never embedded are left.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::Semantic;
use super::embed::Priority;
use crate::engine::Engine;

/// Files chunked per step (the index lock is released between steps).
const SYNC_STEP: usize = 500;
/// How often an idle worker looks for changes nobody told it about.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How often, at most, stored vectors are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Starts the worker for `engine`'s roots; it stops with [`Semantic::stop`] or when the
/// engine goes away.
pub fn start_worker(
    semantic: Arc<Semantic>,
    engine: Weak<Engine>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("codesage-semantic".into())
        .spawn(move || {
            super::embed::lower_priority();
            run(&semantic, &engine);
        })
}

fn run(semantic: &Semantic, engine: &Weak<Engine>) {
    let mut last_sweep = Instant::now();
    let mut was_busy = false;
    while !semantic.stopping() {
        let Some(engine) = engine.upgrade() else {
            return;
        };
        // A panic in one round (a model that misbehaves on some input) must not end semantic
        // indexing for the daemon's lifetime: it is logged and the next round goes on.
        let round =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(semantic, &engine)));
        let busy = match round {
            Ok(Ok(busy)) => busy,
            Ok(Err(err)) => {
                tracing::warn!("semantic indexing: {err}");
                false
            }
            Err(_) => {
                tracing::error!("semantic indexing: a round panicked; retrying after a pause");
                false
            }
        };
        if !busy && last_sweep.elapsed() > SWEEP_EVERY {
            last_sweep = Instant::now();
            if let Err(err) = sweep(semantic, &engine) {
                tracing::warn!("sweeping stored vectors: {err}");
            }
        }
        // Building or dropping indexes frees a lot at once: hand it back when a burst ends.
        if was_busy && !busy && engine.config().memory.release_after_bursts {
            crate::allocator::release_free_memory();
        }
        was_busy = busy;
        drop(engine);
        if !busy {
            semantic.wait(IDLE_POLL);
        }
    }
}

/// One round over the roots; whether there was work.
fn step(semantic: &Semantic, engine: &Engine) -> Result<bool, String> {
    let roots = engine.roots();
    let live: HashSet<_> = roots.iter().map(|root| root.id).collect();
    let known: Vec<_> = semantic.roots.lock().keys().copied().collect();
    for id in known {
        if !live.contains(&id) {
            semantic.forget_root(id);
        }
    }
    let mut busy = false;
    for root in roots {
        if semantic.stopping() {
            return Ok(busy);
        }
        let model = semantic.model();
        if !semantic.keeps(root.id, model.is_ok()) {
            busy |= semantic.release_root(root.id);
            continue;
        }
        let index = semantic.root_index(root.id);
        let view = engine
            .store()
            .view(root.id)
            .map_err(|err| err.to_string())?;
        loop {
            let left = semantic
                .sync(&mut index.lock(), &view, SYNC_STEP)
                .map_err(|err| err.to_string())?;
            if left == 0 || semantic.stopping() {
                break;
            }
            busy = true;
        }
        // Embedding waits for the root's indexing run (text and symbols) to finish.
        if root.running_job().is_some() {
            continue;
        }
        let Ok(model) = model else {
            continue;
        };
        let wanted = {
            let mut guard = index.lock();
            guard.use_model(model.fingerprint);
            guard.missing_vectors(semantic.config.batch_chunks)
        };
        if !wanted.is_empty() {
            semantic.fill_vectors(&model, &index, &view, &wanted, Priority::Background)?;
            busy = true;
            continue;
        }
        // Names are short: a larger batch costs about as much as a batch of chunks.
        if semantic.fill_names(
            &model,
            &index,
            semantic.config.batch_chunks * 4,
            Priority::Background,
        )? > 0
        {
            busy = true;
            continue;
        }
        let snapshot = {
            let guard = index.lock();
            guard
                .wants_base(semantic.config.hnsw_threshold)
                .then(|| guard.vector_snapshot())
        };
        if let Some(snapshot) = snapshot {
            let started = Instant::now();
            let built = semantic.in_background(|| super::vectors::build_base(snapshot));
            index.lock().install_base(built);
            tracing::info!(
                root = %root.path.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "semantic: HNSW base built"
            );
            busy = true;
        }
    }
    Ok(busy)
}

/// Deletes stored vectors no root's chunk has (texts edited away, files deleted, another
/// model's), once every root is fully embedded with the current model.
fn sweep(semantic: &Semantic, engine: &Engine) -> Result<(), String> {
    let Ok(model) = semantic.model() else {
        return Ok(());
    };
    let mut keep: HashSet<[u8; 16]> = HashSet::new();
    for root in engine.roots() {
        let index = semantic.root_index(root.id);
        let guard = index.lock();
        let progress = guard.embedded();
        if guard.generation.is_none() || progress.done < progress.total {
            return Ok(());
        }
        for (_, file) in guard.files() {
            keep.extend(file.keys.iter().copied());
            keep.extend(file.name_keys.iter().flatten().copied());
        }
    }
    let fingerprint = model.fingerprint.to_be_bytes();
    let removed = engine
        .store()
        .retain_vectors(|key| {
            key[..8] == fingerprint
                && <[u8; 16]>::try_from(&key[8..]).is_ok_and(|text| keep.contains(&text))
        })
        .map_err(|err| err.to_string())?;
    if removed > 0 {
        tracing::info!(removed, "semantic: stored vectors nobody uses were deleted");
    }
    Ok(())
}
