//! Semantic search: find code by what it does, fully local.
//!
//! Every indexed file is cut into chunks ([`crate::chunks`]); each root's chunks feed a
//! lexical BM25F index ([`lexical`]) and, when a model is installed ([`model`]), vectors from
//! a local sentence-embedding model ([`embed`], [`vectors`]); answers fuse both with symbol-name
//! matches ([`fusion`]). [`index`] holds one root's state and knows nothing of the store;
//! this module keeps it in step with the root's view ([`Semantic::sync`]) and owns the model;
//! [`worker`] embeds in the background and builds HNSW bases.
//!
//! Vectors are stored (quantised) by model fingerprint and embedding-text key, so a restart,
//! a second worktree or an unchanged chunk never costs a forward pass again.

mod bert;
pub mod embed;
pub mod fusion;
pub mod index;
pub mod lexical;
pub mod model;
pub mod vectors;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use codesage_shared::config::SemanticConfig;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::chunks;
use crate::indexer::language::{LANGUAGES, Language, OTHER};
use crate::store::{ContentHash, RootId, Store, StoreError, View, vector_key};
use embed::{EmbedPools, Embedder, Priority};
use index::{EmbedKey, Embedded, Prepared, SemanticIndex, embed_key, embed_text};
use vectors::Quantized;

pub use worker::start_worker;

/// Files a query chunks itself before answering; more are left to the background worker
/// (the answer says the lexical index is still being built).
const INLINE_SYNC_FILES: usize = 2_000;

/// Bytes per unit of a prepared file's weight (a chunk or one of its terms).
const PREPARED_BYTES_PER_WEIGHT: u64 = 16;

/// Weighs cached chunks by their size.
#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<(ContentHash, bool), Arc<Prepared>> for ByWeight {
    fn weight(&self, _key: &(ContentHash, bool), value: &Arc<Prepared>) -> u64 {
        value.weight()
    }
}

/// Version of what is embedded for a chunk (the text layout, pooling): part of the model
/// fingerprint, so a change re-embeds everything rather than mixing.
const EMBED_FORMAT: u32 = 1;

/// The model as the daemon has it.
#[derive(Clone)]
pub enum ModelState {
    /// Not looked for yet.
    Unchecked,
    /// No usable model: why (not installed, incomplete, corrupt), and when it was looked at.
    Unavailable(String, Instant),
    /// Loaded.
    Loaded(Arc<LoadedModel>),
    /// Turned off in the configuration.
    Disabled,
}

/// A loaded model and what identifies its vectors.
pub struct LoadedModel {
    /// The embedder.
    pub embedder: Embedder,
    /// Identifies the model, its token budget and the embedding format: vectors of another
    /// fingerprint are never mixed with these.
    pub fingerprint: u64,
}

/// Daemon-wide semantic state: the model and every root's semantic index.
pub struct Semantic {
    config: SemanticConfig,
    model_dir: PathBuf,
    store: Arc<Store>,
    model: RwLock<ModelState>,
    /// The embedder's threads, made here (by a thread of normal priority), or why they
    /// could not be.
    pools: Result<Arc<EmbedPools>, String>,
    roots: Mutex<HashMap<RootId, Arc<Mutex<SemanticIndex>>>>,
    /// Each root's embedding progress when its index was last free (see [`Semantic::progress`]).
    last_progress: Mutex<HashMap<RootId, Embedded>>,
    /// When a query last asked for each root's semantic index.
    asked: Mutex<HashMap<RootId, Instant>>,
    /// Each root's memory figures when its index was last free (see [`Semantic::memory`]).
    last_memory: Mutex<HashMap<RootId, SemanticMemory>>,
    /// Chunks by (content, parsed), so a content in several roots or worktrees is chunked
    /// once.
    prepared: quick_cache::sync::Cache<(ContentHash, bool), Arc<Prepared>, ByWeight>,
    wake: (Mutex<bool>, Condvar),
    stop: AtomicBool,
    /// Chunks embedded by the model since start.
    pub embedded_by_model: AtomicU64,
    /// Chunk vectors found in the store instead of computed since start.
    pub reused_from_store: AtomicU64,
}

/// Heap bytes of the semantic side, per part (estimates).
#[derive(Debug, Clone, Copy, Default)]
pub struct SemanticMemory {
    /// Files, chunks and their keys, the slot table; plus the chunk cache.
    pub chunks: u64,
    /// The lexical (BM25F) index.
    pub lexical: u64,
    /// Chunk and name vectors, HNSW graphs.
    pub vectors: u64,
}

/// What a semantic search found, with its caveats.
pub struct Found {
    /// Best first.
    pub hits: Vec<index::SemanticHit>,
    /// Embedding progress of the root.
    pub embedded: Embedded,
    /// Chunks in the root.
    pub chunks: u64,
    /// Why the neural retriever did not take part, if it did not.
    pub lexical_only: Option<String>,
    /// Files not chunked yet (the lexical index is still being built).
    pub files_pending: usize,
}

impl Semantic {
    /// The semantic state over `store`, with the model looked for in `model_dir`.
    pub fn new(
        config: SemanticConfig,
        model_dir: PathBuf,
        store: Arc<Store>,
        chunk_cache_bytes: u64,
    ) -> Semantic {
        let model = if config.neural {
            ModelState::Unchecked
        } else {
            ModelState::Disabled
        };
        let pools = EmbedPools::new(background_threads(config.threads))
            .map(Arc::new)
            .map_err(|err| format!("cannot start the embedding threads: {err}"));
        Semantic {
            config,
            model_dir,
            store,
            model: RwLock::new(model),
            pools,
            roots: Mutex::new(HashMap::new()),
            last_progress: Mutex::new(HashMap::new()),
            last_memory: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashMap::new()),
            prepared: quick_cache::sync::Cache::with_weighter(
                16_384,
                (chunk_cache_bytes / PREPARED_BYTES_PER_WEIGHT).max(1),
                ByWeight,
            ),
            wake: (Mutex::new(false), Condvar::new()),
            stop: AtomicBool::new(false),
            embedded_by_model: AtomicU64::new(0),
            reused_from_store: AtomicU64::new(0),
        }
    }

    /// Runs heavy background work (an HNSW build) on the embedder's idle-priority threads,
    /// or here when they could not be started.
    pub fn in_background<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        match &self.pools {
            Ok(pools) => pools.install(Priority::Background, work),
            Err(_) => work(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SemanticConfig {
        &self.config
    }

    /// Where the model is looked for.
    pub fn model_dir(&self) -> &std::path::Path {
        &self.model_dir
    }

    /// The loaded model, loading it if it is installed (an unavailable model is looked
    /// for again every few seconds, so `codesage model install` takes effect without a
    /// restart).
    pub fn model(&self) -> Result<Arc<LoadedModel>, String> {
        match &*self.model.read() {
            ModelState::Loaded(model) => return Ok(Arc::clone(model)),
            ModelState::Disabled => {
                return Err("the neural retriever is off (semantic.neural = false)".into());
            }
            ModelState::Unavailable(why, at) if at.elapsed() < Duration::from_secs(5) => {
                return Err(why.clone());
            }
            _ => {}
        }
        let mut state = self.model.write();
        if let ModelState::Loaded(model) = &*state {
            return Ok(Arc::clone(model));
        }
        match self.load_model() {
            Ok(model) => {
                tracing::info!(dir = %self.model_dir.display(), "embedding model loaded");
                *state = ModelState::Loaded(Arc::clone(&model));
                Ok(model)
            }
            Err(why) => {
                if !matches!(&*state, ModelState::Unavailable(previous, _) if *previous == why) {
                    tracing::info!("no embedding model: {why}");
                }
                *state = ModelState::Unavailable(why.clone(), Instant::now());
                Err(why)
            }
        }
    }

    fn load_model(&self) -> Result<Arc<LoadedModel>, String> {
        let status = model::status(&self.model_dir, true);
        if !status.installed {
            return Err(format!(
                "no usable embedding model in {} ({}); run `codesage model install`",
                self.model_dir.display(),
                status.problems.join("; ")
            ));
        }
        let pools = self.pools.clone()?;
        let embedder = Embedder::load(&self.model_dir, pools, self.config.max_tokens)
            .map_err(|err| err.to_string())?;
        let mut identity = blake3::Hasher::new();
        for file in model::FILES {
            identity.update(file.sha256.as_bytes());
        }
        identity.update(&(embedder.max_tokens() as u64).to_le_bytes());
        identity.update(&(embedder.dimension() as u64).to_le_bytes());
        identity.update(&EMBED_FORMAT.to_le_bytes());
        let digest = identity.finalize();
        let mut fingerprint = [0u8; 8];
        fingerprint.copy_from_slice(&digest.as_bytes()[..8]);
        Ok(Arc::new(LoadedModel {
            embedder,
            fingerprint: u64::from_be_bytes(fingerprint),
        }))
    }

    /// What the model state is, for status.
    pub fn model_state(&self) -> ModelState {
        self.model.read().clone()
    }

    /// The semantic index of `root`.
    pub fn root_index(&self, root: RootId) -> Arc<Mutex<SemanticIndex>> {
        Arc::clone(self.roots.lock().entry(root).or_default())
    }

    /// Forgets a root that was removed.
    pub fn forget_root(&self, root: RootId) {
        self.roots.lock().remove(&root);
        self.asked.lock().remove(&root);
        self.last_memory.lock().remove(&root);
        self.last_progress.lock().remove(&root);
    }

    /// Notes that a query needs `root`'s semantic index (it is kept, or built, from now on
    /// until it goes unused for `semantic.idle_release_secs`).
    pub fn demand(&self, root: RootId) {
        self.asked.lock().insert(root, Instant::now());
    }

    /// Whether the background worker keeps `root`'s index built: always with a model or
    /// without an idle limit; otherwise while queries keep asking for it.
    pub fn keeps(&self, root: RootId, model_loaded: bool) -> bool {
        if model_loaded || self.config.idle_release_secs == 0 {
            return true;
        }
        self.asked.lock().get(&root).is_some_and(|asked| {
            asked.elapsed() < Duration::from_secs(self.config.idle_release_secs)
        })
    }

    /// Drops `root`'s index if it has one; whether it held chunks.
    pub fn release_root(&self, root: RootId) -> bool {
        let Some(index) = self.roots.lock().remove(&root) else {
            return false;
        };
        self.last_memory.lock().remove(&root);
        self.last_progress.lock().remove(&root);
        let held = index.lock().chunk_count() > 0;
        if held {
            tracing::info!(root, "semantic: index unused for a while, memory released");
        }
        held
    }

    /// Embedding progress of `root`, if it has been chunked.
    pub fn progress(&self, root: RootId) -> Option<Embedded> {
        let index = self.roots.lock().get(&root).cloned()?;
        // The worker holds an index while it syncs a batch; a status report or a metrics
        // scrape takes the figures from the last time the index was free rather than wait.
        match index.try_lock_for(Duration::from_millis(2)) {
            Some(index) => {
                let progress = index.generation.map(|_| index.embedded());
                if let Some(progress) = progress {
                    self.last_progress.lock().insert(root, progress);
                }
                progress
            }
            None => self.last_progress.lock().get(&root).copied(),
        }
    }

    /// Heap bytes of every root's semantic index and of the chunk cache. A root whose index
    /// is busy (the worker syncing a batch) counts with its figures from the last time it
    /// was free, as [`Semantic::progress`] does.
    pub fn memory(&self) -> SemanticMemory {
        let roots: Vec<(RootId, Arc<Mutex<SemanticIndex>>)> = self
            .roots
            .lock()
            .iter()
            .map(|(root, index)| (*root, Arc::clone(index)))
            .collect();
        let mut total = SemanticMemory {
            chunks: self.prepared.weight() * PREPARED_BYTES_PER_WEIGHT,
            ..SemanticMemory::default()
        };
        for (root, index) in roots {
            let figures = match index.try_lock_for(Duration::from_millis(2)) {
                Some(index) => {
                    let (chunks, lexical, vectors) = index.heap_bytes();
                    let figures = SemanticMemory {
                        chunks,
                        lexical,
                        vectors,
                    };
                    self.last_memory.lock().insert(root, figures);
                    figures
                }
                None => self
                    .last_memory
                    .lock()
                    .get(&root)
                    .copied()
                    .unwrap_or_default(),
            };
            total.chunks += figures.chunks;
            total.lexical += figures.lexical;
            total.vectors += figures.vectors;
        }
        total
    }

    /// Wakes the background worker.
    pub fn wake(&self) {
        let (flag, condvar) = &self.wake;
        *flag.lock() = true;
        condvar.notify_one();
    }

    /// Tells the worker to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wait(&self, timeout: Duration) {
        let (flag, condvar) = &self.wake;
        let mut woken = flag.lock();
        if !*woken {
            condvar.wait_for(&mut woken, timeout);
        }
        *woken = false;
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Brings `index` up to `view`: removed files dropped, new and changed ones chunked (at
    /// most `budget` of them). Returns how many changed files are left.
    pub fn sync(
        &self,
        index: &mut SemanticIndex,
        view: &View,
        budget: usize,
    ) -> Result<usize, StoreError> {
        if index.generation == Some(view.index.generation) {
            return Ok(0);
        }
        let prepared_cache = &self.prepared;
        let gone: Vec<u32> = index
            .files()
            .filter(|(doc, file)| {
                view.index
                    .docs
                    .get(*doc)
                    .is_none_or(|live| live.hash != file.hash)
            })
            .map(|(doc, _)| doc)
            .collect();
        for doc in gone {
            index.remove_file(doc);
        }
        let mut left = 0;
        let mut done = 0;
        for (doc, live) in view.index.docs.iter() {
            let parsed = live.definitions.is_some();
            if index
                .file(doc)
                .is_some_and(|file| file.hash == live.hash && file.parsed == parsed)
            {
                continue;
            }
            if done >= budget {
                left += 1;
                continue;
            }
            done += 1;
            let key = (live.hash, parsed);
            let prepared = match prepared_cache.get(&key) {
                Some(prepared) => prepared,
                None => {
                    let Some(content) = view.content(&live.hash)? else {
                        continue;
                    };
                    let symbols = if parsed {
                        view.snapshot.symbols(&live.hash)?
                    } else {
                        None
                    };
                    let language = language_named(&live.language);
                    let prepared = Arc::new(Prepared::new(chunks::split(
                        &content,
                        language,
                        symbols.as_ref(),
                    )));
                    prepared_cache.insert(key, Arc::clone(&prepared));
                    prepared
                }
            };
            index.add_file(
                doc,
                Arc::clone(&live.path),
                live.hash,
                Arc::clone(&live.language),
                parsed,
                &prepared,
            );
        }
        if left == 0 {
            index.generation = Some(view.index.generation);
        }
        Ok(left)
    }

    /// The embedding texts of the chunks `wanted` lists (slot, document, key) from `view`:
    /// (slot, key, text) for each whose text still has that key.
    fn texts_for(
        view: &View,
        index: &SemanticIndex,
        wanted: &[(u32, u32, EmbedKey)],
    ) -> Result<Vec<(u32, EmbedKey, String)>, StoreError> {
        let mut by_doc: HashMap<u32, Vec<(u32, EmbedKey)>> = HashMap::new();
        for &(slot, doc, key) in wanted {
            by_doc.entry(doc).or_default().push((slot, key));
        }
        let mut out = Vec::with_capacity(wanted.len());
        for (doc, slots) in by_doc {
            let (Some(file), Some(live)) = (index.file(doc), view.index.docs.get(doc)) else {
                continue;
            };
            if live.hash != file.hash {
                continue;
            }
            let Some(content) = view.content(&file.hash)? else {
                continue;
            };
            let symbols = if file.parsed {
                view.snapshot.symbols(&file.hash)?
            } else {
                None
            };
            let pieces = chunks::split(&content, language_named(&live.language), symbols.as_ref());
            let texts: HashMap<EmbedKey, String> = pieces
                .iter()
                .map(|(_, fields)| {
                    let text = embed_text(fields);
                    (embed_key(&text), text)
                })
                .collect();
            for (slot, key) in slots {
                if let Some(text) = texts.get(&key) {
                    out.push((slot, key, text.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The stored vectors of `keys` under `model` (`None` where there is none, or where a
    /// stored one does not have the model's dimension).
    fn stored_vectors(
        &self,
        model: &LoadedModel,
        keys: impl Iterator<Item = EmbedKey>,
    ) -> Result<Vec<Option<Arc<Quantized>>>, String> {
        let keys: Vec<_> = keys
            .map(|key| vector_key(model.fingerprint, &key))
            .collect();
        let dimension = model.embedder.dimension();
        Ok(self
            .store
            .vectors(&keys)
            .map_err(|err| err.to_string())?
            .into_iter()
            .map(|stored| {
                stored
                    .and_then(|bytes| Quantized::decode(&bytes, dimension))
                    .map(Arc::new)
            })
            .collect())
    }

    /// Embeds `texts` with `model` and stores their vectors (one transaction).
    fn compute_vectors(
        &self,
        model: &LoadedModel,
        texts: &[(EmbedKey, &str)],
        priority: Priority,
    ) -> Result<Vec<Arc<Quantized>>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&str> = texts.iter().map(|(_, text)| *text).collect();
        let computed = model
            .embedder
            .embed(&refs, priority)
            .map_err(|err| err.to_string())?;
        let vectors: Vec<Arc<Quantized>> = computed
            .iter()
            .map(|vector| Arc::new(Quantized::new(vector)))
            .collect();
        let to_store: Vec<_> = texts
            .iter()
            .zip(&vectors)
            .map(|((key, _), vector)| (vector_key(model.fingerprint, key), vector.encode()))
            .collect();
        self.store
            .put_vectors(&to_store)
            .map_err(|err| err.to_string())?;
        Ok(vectors)
    }

    /// Gives the chunks `wanted` lists their vectors: from the store when already computed,
    /// else from the model (and then stored). Returns how many were computed.
    fn fill_vectors(
        &self,
        model: &LoadedModel,
        index: &Mutex<SemanticIndex>,
        view: &View,
        wanted: &[(u32, u32, EmbedKey)],
        priority: Priority,
    ) -> Result<usize, String> {
        let stored = self.stored_vectors(model, wanted.iter().map(|(_, _, key)| *key))?;
        let mut found = Vec::new();
        let mut compute = Vec::new();
        for (entry, stored) in wanted.iter().zip(stored) {
            match stored {
                Some(vector) => found.push((entry.0, entry.2, vector)),
                None => compute.push(*entry),
            }
        }
        let texts = if compute.is_empty() {
            Vec::new()
        } else {
            let guard = index.lock();
            Self::texts_for(view, &guard, &compute).map_err(|err| err.to_string())?
        };
        let keyed: Vec<(EmbedKey, &str)> = texts
            .iter()
            .map(|(_, key, text)| (*key, text.as_str()))
            .collect();
        let computed = self.compute_vectors(model, &keyed, priority)?;
        let fresh = computed.len();
        let mut guard = index.lock();
        guard.use_model(model.fingerprint);
        // Counted as installed: a chunk whose vector a concurrent fill already set is not
        // counted twice.
        let reused = found
            .into_iter()
            .filter(|(slot, key, vector)| guard.set_vector(*slot, key, Arc::clone(vector)))
            .count();
        let embedded = texts
            .iter()
            .zip(computed)
            .filter(|((slot, key, _), vector)| guard.set_vector(*slot, key, Arc::clone(vector)))
            .count();
        drop(guard);
        self.embedded_by_model
            .fetch_add(embedded as u64, Ordering::Relaxed);
        self.reused_from_store
            .fetch_add(reused as u64, Ordering::Relaxed);
        Ok(fresh)
    }

    /// Gives up to `limit` names of `index` without a vector theirs (from the store, else
    /// the model). Returns how many were missing.
    fn fill_names(
        &self,
        model: &LoadedModel,
        index: &Mutex<SemanticIndex>,
        limit: usize,
        priority: Priority,
    ) -> Result<usize, String> {
        let missing = index.lock().missing_names(limit);
        if missing.is_empty() {
            return Ok(0);
        }
        let stored = self.stored_vectors(model, missing.iter().map(|(key, _)| *key))?;
        let mut found = Vec::with_capacity(missing.len());
        let mut compute = Vec::new();
        for ((key, text), stored) in missing.iter().zip(stored) {
            match stored {
                Some(vector) => found.push((*key, vector)),
                None => compute.push((*key, text.as_str())),
            }
        }
        let computed = self.compute_vectors(model, &compute, priority)?;
        found.extend(compute.iter().map(|(key, _)| *key).zip(computed));
        let mut guard = index.lock();
        if guard.fingerprint == Some(model.fingerprint) {
            for (key, vector) in found {
                guard.set_name_vector(key, vector);
            }
        }
        Ok(missing.len())
    }

    /// Answers `question` over `root` on `view`: the index brought up to the view first
    /// (the few chunks a recent edit left without vectors embedded on the spot), then the
    /// fused search, `limit` hits, among files `allowed` accepts.
    pub fn search(
        &self,
        root: RootId,
        view: &View,
        question: &str,
        limit: usize,
        allowed: Option<index::FileAllowed<'_>>,
    ) -> Result<Found, String> {
        self.demand(root);
        let index = self.root_index(root);
        let files_pending = {
            let mut guard = index.lock();
            self.sync(&mut guard, view, INLINE_SYNC_FILES)
                .map_err(|err| err.to_string())?
        };
        let model = self.model();
        let (query_model, lexical_only) = match &model {
            Ok(model) => {
                let wanted = {
                    let mut guard = index.lock();
                    guard.use_model(model.fingerprint);
                    // The count is known: the files are only scanned when few chunks lack a
                    // vector (a query must not walk a large, half-embedded root).
                    let progress = guard.embedded();
                    if progress.total.saturating_sub(progress.done)
                        <= self.config.inline_embed_max as u64
                    {
                        guard.missing_vectors(self.config.inline_embed_max + 1)
                    } else {
                        self.wake();
                        Vec::new()
                    }
                };
                if !wanted.is_empty() && wanted.len() <= self.config.inline_embed_max {
                    self.fill_vectors(model, &index, view, &wanted, Priority::Foreground)?;
                    // Names are short: the few an edit brought are embedded now too.
                    self.fill_names(
                        model,
                        &index,
                        self.config.inline_embed_max,
                        Priority::Foreground,
                    )?;
                } else if !wanted.is_empty() {
                    self.wake();
                }
                (Some(Arc::clone(model)), None)
            }
            Err(why) => (None, Some(why.clone())),
        };
        if files_pending > 0 {
            self.wake();
        }
        let weights = fusion::Weights::from_config(&self.config);
        let bm25f = lexical::Bm25f::default();
        // The question is embedded on another thread while the lexical side runs here: on a
        // large root the two take about as long as each other.
        let (hits, guard) = std::thread::scope(|scope| {
            let embedding = query_model.as_ref().map(|model| {
                scope.spawn(move || {
                    let started = Instant::now();
                    let vectors = model
                        .embedder
                        .embed(&[question], Priority::Foreground)
                        .map_err(|err| err.to_string());
                    (vectors, started.elapsed())
                })
            });
            let started = Instant::now();
            let guard = index.lock();
            let locked = started.elapsed();
            let candidates = guard.lexical_candidates(question, &bm25f, limit, allowed);
            let lexical = started.elapsed();
            let mut embedding_time = Duration::ZERO;
            let query_vector = match embedding {
                Some(handle) => {
                    let (vectors, took) = handle
                        .join()
                        .map_err(|_| "the question's embedding failed".to_string())?;
                    embedding_time = took;
                    vectors?.first().map(|vector| Quantized::new(vector))
                }
                None => None,
            };
            let joined = started.elapsed();
            let hits = guard.rank(candidates, query_vector.as_ref(), &weights);
            tracing::debug!(
                lock_ms = locked.as_secs_f64() * 1e3,
                lexical_ms = (lexical - locked).as_secs_f64() * 1e3,
                question_ms = embedding_time.as_secs_f64() * 1e3,
                rank_ms = (started.elapsed() - joined).as_secs_f64() * 1e3,
                "semantic search"
            );
            Ok::<_, String>((hits, guard))
        })?;
        Ok(Found {
            hits,
            embedded: guard.embedded(),
            chunks: guard.chunk_count(),
            lexical_only,
            files_pending,
        })
    }
}

/// The language of a stored document by its name.
fn language_named(name: &str) -> &'static Language {
    LANGUAGES
        .iter()
        .find(|language| language.name == name)
        .unwrap_or(&OTHER)
}

/// The background embedder's thread budget: configured, or half the cores (at least one).
pub fn background_threads(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores / 2).max(1)
}
