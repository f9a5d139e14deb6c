//! The sentence embedder: a BERT-family model (all-MiniLM-L6-v2 first) run in-process with
//! candle on the CPU, loaded from a local directory in the Hugging Face layout.
//!
//! It reproduces sentence-transformers: WordPiece tokens with `[CLS]`/`[SEP]`, truncated to
//! the model's sequence limit (256 for MiniLM, not the 128 its `tokenizer.json` ships with),
//! mean pooling over the real tokens (the attention mask, not the padding), L2 normalisation.
//! Batches are sorted by length so little padding is computed, and run side by side on the
//! pool's threads. Background work runs on a private thread pool of the configured budget, at
//! the lowest priority (idle scheduling on Linux), so it never takes a core a query wants; a
//! query's question runs on a second pool, so it never waits behind a batch. The encoder is
//! [`super::bert`].

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::bert::{Bert, BertConfig};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Why the embedder could not be loaded or could not embed.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or unreadable.
    #[error("cannot read {file} of the model in {dir}: {source}; run `codesage model install`")]
    Read {
        /// The model directory.
        dir: String,
        /// The file.
        file: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A model file is not what the embedder understands.
    #[error(
        "the model in {dir} is not usable ({file}: {reason}); run `codesage model install` to replace it"
    )]
    Invalid {
        /// The model directory.
        dir: String,
        /// The file.
        file: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The forward pass failed.
    #[error("embedding failed: {0}")]
    Compute(String),
}

/// A loaded model, ready to embed. Shared between threads behind an `Arc`.
pub struct Embedder {
    model: Bert,
    tokenizer: Tokenizer,
    dimension: usize,
    max_tokens: usize,
    pools: Arc<EmbedPools>,
}

/// The embedder's threads: a background pool of the configured budget at the lowest
/// priority, and a foreground pool for questions. Created once, by a thread of normal
/// priority: a thread inherits its creator's scheduling, and an idle-priority thread cannot
/// raise itself back (without privileges), so pools made by the background worker would run
/// questions at idle priority.
pub struct EmbedPools {
    background: rayon::ThreadPool,
    foreground: rayon::ThreadPool,
}

impl EmbedPools {
    /// `threads` background threads (at least one) and a foreground thread per core (up to
    /// four).
    pub fn new(threads: usize) -> Result<EmbedPools, EmbedError> {
        let background = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|n| format!("codesage-embed-{n}"))
            .start_handler(|_| lower_priority())
            .build()
            .map_err(|err| EmbedError::Compute(err.to_string()))?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let foreground = rayon::ThreadPoolBuilder::new()
            .num_threads(cores.min(4))
            .thread_name(|n| format!("codesage-query-embed-{n}"))
            .build()
            .map_err(|err| EmbedError::Compute(err.to_string()))?;
        Ok(EmbedPools {
            background,
            foreground,
        })
    }

    /// Runs `work` on the pool `priority` picks.
    pub fn install<R: Send>(&self, priority: Priority, work: impl FnOnce() -> R + Send) -> R {
        match priority {
            Priority::Background => self.background.install(work),
            Priority::Foreground => self.foreground.install(work),
        }
    }
}

impl std::fmt::Debug for EmbedPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbedPools")
            .field("background", &self.background.current_num_threads())
            .field("foreground", &self.foreground.current_num_threads())
            .finish()
    }
}

/// Which pool embeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Chunks, in the background: the configured thread budget, low priority.
    Background,
    /// A query's question or a handful of just-edited chunks: every core, now.
    Foreground,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("dimension", &self.dimension)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

/// Texts per forward pass: large enough to keep the matrix kernels busy, small enough that
/// length-sorted batches pad little.
pub const BATCH: usize = 32;

impl Embedder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`, to compute on
    /// `pools`; `max_tokens` caps every text's tokens (the model's position limit caps it too).
    pub fn load(
        dir: &Path,
        pools: Arc<EmbedPools>,
        max_tokens: usize,
    ) -> Result<Embedder, EmbedError> {
        let shown = dir.display().to_string();
        let read = |file: &'static str| {
            std::fs::read(dir.join(file)).map_err(|source| EmbedError::Read {
                dir: shown.clone(),
                file,
                source,
            })
        };
        let invalid = |file: &'static str, reason: String| EmbedError::Invalid {
            dir: shown.clone(),
            file,
            reason,
        };
        let config_value: serde_json::Value = serde_json::from_slice(&read("config.json")?)
            .map_err(|err| invalid("config.json", err.to_string()))?;
        let config: BertConfig = serde_json::from_value(config_value.clone())
            .map_err(|err| invalid("config.json", err.to_string()))?;
        let dimension = config_value
            .get("hidden_size")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| invalid("config.json", "no hidden_size".into()))?
            as usize;
        let positions = config_value
            .get("max_position_embeddings")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(512) as usize;
        // Sentence-transformers' limit for this family; more positions than trained for
        // would not help, fewer is the caller's choice.
        let max_tokens = max_tokens.clamp(8, positions.min(512));

        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|err| invalid("tokenizer.json", err.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..Default::default()
            }))
            .map_err(|err| invalid("tokenizer.json", err.to_string()))?;

        let weights = read("model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|err| invalid("model.safetensors", err.to_string()))?;
        let model =
            Bert::load(vb, &config).map_err(|err| invalid("model.safetensors", err.to_string()))?;
        Ok(Embedder {
            model,
            tokenizer,
            dimension,
            max_tokens,
            pools,
        })
    }

    /// Length of every vector.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Tokens per text at most (`[CLS]` and `[SEP]` included).
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Token count of `text` as the model sees it (truncated).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode(text, true)
            .map(|encoding| {
                encoding
                    .get_attention_mask()
                    .iter()
                    .filter(|&&m| m == 1)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Unit vectors for `texts`, in order, on the pool `priority` picks; the texts are
    /// sorted by length into batches so that padding stays small.
    pub fn embed(&self, texts: &[&str], priority: Priority) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.pools.install(priority, || self.embed_here(texts))
    }

    fn embed_here(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|err| EmbedError::Compute(err.to_string()))?;
        let ids: Vec<&[u32]> = encodings
            .iter()
            .map(|encoding| {
                let real = encoding
                    .get_attention_mask()
                    .iter()
                    .filter(|&&m| m == 1)
                    .count();
                &encoding.get_ids()[..real]
            })
            .collect();
        self.forward_sorted(&ids)
    }

    /// Unit vectors of token-id sequences (special tokens included, already truncated), in
    /// order, on the pool `priority` picks.
    pub fn embed_ids(
        &self,
        ids: &[&[u32]],
        priority: Priority,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.pools.install(priority, || self.forward_sorted(ids))
    }

    /// The tokenizer (its vocabulary and special tokens).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Forward passes over `ids`, sorted by length into batches so that padding stays small;
    /// mean-pooled unit vectors in input order.
    fn forward_sorted(&self, ids: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        use rayon::prelude::*;
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&index| ids[index].len());
        // Batches run side by side on the current pool's threads.
        let pooled: Vec<Vec<Vec<f32>>> = order
            .par_chunks(BATCH)
            .map(|batch| self.forward_batch(ids, batch))
            .collect::<Result<_, _>>()?;
        let mut vectors: Vec<Vec<f32>> = vec![Vec::new(); ids.len()];
        for (batch, pooled) in order.chunks(BATCH).zip(pooled) {
            for (&index, vector) in batch.iter().zip(pooled) {
                vectors[index] = vector;
            }
        }
        Ok(vectors)
    }

    /// Mean-pooled unit vectors of `ids[batch[..]]`, in `batch` order: one forward pass,
    /// padded to the longest.
    fn forward_batch(&self, ids: &[&[u32]], batch: &[usize]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let compute = |err: candle_core::Error| EmbedError::Compute(err.to_string());
        let len = batch
            .iter()
            .map(|&index| ids[index].len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut flat = Vec::with_capacity(batch.len() * len);
        let mut mask = Vec::with_capacity(batch.len() * len);
        for &index in batch {
            let take = ids[index].len();
            flat.extend_from_slice(ids[index]);
            mask.extend(std::iter::repeat_n(1u32, take));
            flat.extend(std::iter::repeat_n(0u32, len - take));
            mask.extend(std::iter::repeat_n(0u32, len - take));
        }
        let shape = (batch.len(), len);
        let flat = Tensor::from_vec(flat, shape, &Device::Cpu).map_err(compute)?;
        let mask = Tensor::from_vec(mask, shape, &Device::Cpu).map_err(compute)?;
        let padded = batch.iter().any(|&index| ids[index].len() < len);
        let hidden = self
            .model
            .forward(&flat, padded.then_some(&mask))
            .map_err(compute)?;
        mean_pool(&hidden, &mask).map_err(compute)
    }
}

/// Masked mean over the sequence, then L2 normalisation (sentence-transformers' pooling and
/// `normalize`, with their epsilons).
fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
    let count = mask.sum(1)?.maximum(1e-9f32)?;
    let mean = sum.broadcast_div(&count)?;
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12f32)?;
    mean.broadcast_div(&norm)?.to_vec2::<f32>()
}

/// Fixes candle's thread counts for the process. Matrix products split across
/// `RAYON_NUM_THREADS` threads of the calling pool (set here, unless the user set it, to the
/// number of cores, rayon's own default: candle otherwise works it out again for every
/// product, from `/proc/cpuinfo`, which cost a tenth of a question's embedding). Element-wise
/// kernels stay on the calling thread (`CANDLE_NUM_THREADS=1`): on a question's few tokens a
/// second thread costs more than it saves, and candle's own helper threads would run
/// background work at normal priority. Call it before any thread starts (it changes the
/// environment).
pub fn settle_compute_threads() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // SAFETY: called at start-up, before the process has started any other thread, so
    // nothing reads the environment concurrently.
    unsafe {
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            std::env::set_var("RAYON_NUM_THREADS", cores.to_string());
        }
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
    }
    // Rayon's global pool (search, indexing) is made now, by this thread of normal priority,
    // not lazily by whichever thread first uses it (see `EmbedPools`). An error means it
    // exists already.
    let _ = rayon::ThreadPoolBuilder::new().build_global();
}

/// Lowers the calling thread's scheduling priority so background work yields to the rest:
/// idle scheduling on Linux (the thread runs only when a core has nothing else to do), the
/// lowest nice value elsewhere.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler with pid 0 changes only the calling thread on Linux and
        // reads `param` during the call.
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
        if !idle {
            // SAFETY: setpriority with PRIO_PROCESS and id 0 changes only the calling thread
            // on Linux; it takes no pointers.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, 19);
            }
        }
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    // SAFETY: setpriority with PRIO_PROCESS and id 0 takes no pointers.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// Inner product of two vectors (their cosine, for unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
