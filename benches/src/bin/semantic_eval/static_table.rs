//! The static-vector alternative the issue suggested, measured: a token-embedding table
//! distilled from the installed MiniLM (the model2vec method: every vocabulary token passed
//! through the model once as `[CLS] token [SEP]`, its mean-pooled output that token's row,
//! rows centred), a text's vector the IDF-weighted mean of its tokens' rows. It costs no
//! forward pass per chunk; the eval shows whether its vectors are worth having (alone, and
//! as a fourth signal on top of the hybrid).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use codesaged::semantic::embed::{Embedder, Priority};
use codesaged::semantic::fusion::Weights;
use codesaged::semantic::lexical::Bm25f;
use codesaged::semantic::vectors::Quantized;
use tokenizers::Tokenizer;

use crate::{Case, Pool, Scores, rank_of, score};

/// The distilled table with IDF weights.
pub struct StaticModel {
    dimension: usize,
    table: Vec<f32>,
    weights: Vec<f32>,
    tokenizer: Tokenizer,
}

impl StaticModel {
    /// The table distilled from `embedder` (cached in `dataset`), rows centred, every token
    /// weighing 1 until [`StaticModel::set_idf`].
    pub fn distilled(dataset: &Path, embedder: &Embedder) -> Result<StaticModel> {
        let dimension = embedder.dimension();
        let mut table = rows(dataset, embedder)?;
        let tokens = table.len() / dimension;
        let mut mean = vec![0.0f32; dimension];
        for row in table.chunks_exact(dimension) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(sum, value)| *sum += value);
        }
        for row in table.chunks_exact_mut(dimension) {
            row.iter_mut()
                .zip(&mean)
                .for_each(|(value, sum)| *value -= sum / tokens as f32);
        }
        Ok(StaticModel {
            dimension,
            table,
            weights: vec![1.0; tokens],
            tokenizer: embedder.tokenizer().clone(),
        })
    }

    /// Rows in the table.
    pub fn tokens(&self) -> usize {
        self.weights.len()
    }

    /// Weighs each token by its IDF over `docs` texts, `df[id]` of which hold token `id`.
    pub fn set_idf(&mut self, df: &[u32], docs: u32) {
        self.weights = df
            .iter()
            .map(|&d| ((docs as f32 + 1.0) / (d as f32 + 1.0)).ln())
            .collect();
    }

    /// The token ids of `text`.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .encode(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// The unit static vector of `text`.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0.0f32; self.dimension];
        for id in self.token_ids(text) {
            let start = id as usize * self.dimension;
            let weight = self.weights.get(id as usize).copied().unwrap_or(0.0);
            if let Some(row) = self.table.get(start..start + self.dimension) {
                for (sum, value) in vector.iter_mut().zip(row) {
                    *sum += value * weight;
                }
            }
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        vector.iter_mut().for_each(|value| *value /= norm);
        vector
    }
}

/// The raw rows, distilled once and kept in the dataset directory.
fn rows(dataset: &Path, embedder: &Embedder) -> Result<Vec<f32>> {
    let path = dataset.join(format!("static-{}.f32", embedder.dimension()));
    if let Ok(bytes) = std::fs::read(&path) {
        return Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    let tokenizer = embedder.tokenizer();
    let cls = tokenizer.token_to_id("[CLS]").unwrap_or(101);
    let sep = tokenizer.token_to_id("[SEP]").unwrap_or(102);
    let sequences: Vec<[u32; 3]> = (0..tokenizer.get_vocab_size(true) as u32)
        .map(|id| [cls, id, sep])
        .collect();
    let mut out = Vec::with_capacity(sequences.len() * embedder.dimension());
    for batch in sequences.chunks(1024) {
        let ids: Vec<&[u32]> = batch.iter().map(|sequence| &sequence[..]).collect();
        for vector in embedder.embed_ids(&ids, Priority::Background)? {
            out.extend(vector);
        }
    }
    let bytes: Vec<u8> = out.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&path, bytes)?;
    Ok(out)
}

/// Static vectors alone, and the hybrid re-ranked with them at a few weights (stripped
/// trees): (static alone, [(weight, hybrid + static)]).
pub fn evaluate(
    dataset: &Path,
    embedder: &Embedder,
    cases: &[Case],
    pools: &HashMap<(String, bool), Pool>,
    query_vector: &dyn Fn(&Case) -> Quantized,
    hybrid: &Weights,
) -> Result<(Scores, Vec<(f32, Scores)>)> {
    let mut model = StaticModel::distilled(dataset, embedder)?;
    // Token document frequencies over the stripped pools' chunk texts.
    let mut df = vec![0u32; model.tokens()];
    let mut docs = 0u32;
    for pool in pools.iter().filter(|((_, docs), _)| !docs).map(|(_, p)| p) {
        for key in &pool.plain_keys {
            let mut ids = model.token_ids(&pool.texts[key]);
            ids.sort_unstable();
            ids.dedup();
            ids.iter().for_each(|&id| df[id as usize] += 1);
            docs += 1;
        }
    }
    model.set_idf(&df, docs);
    let mut vectors: HashMap<(&str, &str, u32, u32), Vec<f32>> = HashMap::new();
    for ((package, with_docs), pool) in pools {
        if *with_docs {
            continue;
        }
        for ((path, start, end), key) in pool.plain_ranges.iter().zip(&pool.plain_keys) {
            vectors.insert((package, path, *start, *end), model.embed(&pool.texts[key]));
        }
    }
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();

    let alone: Vec<Option<usize>> = cases
        .iter()
        .map(|case| {
            let pool = &pools[&(case.package.clone(), false)];
            let question = model.embed(&case.query);
            let mut scored: Vec<(f32, (String, u32, u32))> = pool
                .plain_ranges
                .iter()
                .map(|(path, start, end)| {
                    let vector = &vectors[&(case.package.as_str(), &**path, *start, *end)];
                    (dot(&question, vector), (path.to_string(), *start, *end))
                })
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let results: Vec<_> = scored.into_iter().take(10).map(|(_, r)| r).collect();
            rank_of(&results, target(case))
        })
        .collect();

    let bm25f = Bm25f::default();
    let mut fused = Vec::new();
    for weight in [0.05f32, 0.1, 0.2] {
        let ranks: Vec<Option<usize>> = cases
            .iter()
            .map(|case| {
                let pool = &pools[&(case.package.clone(), false)];
                let question = model.embed(&case.query);
                let hits = pool.index.search(
                    &case.query,
                    Some(&query_vector(case)),
                    hybrid,
                    &bm25f,
                    128,
                    None,
                );
                let statics: Vec<f32> = hits
                    .iter()
                    .map(|hit| {
                        let key = (
                            case.package.as_str(),
                            &*hit.path,
                            hit.chunk.start_line,
                            hit.chunk.end_line,
                        );
                        vectors.get(&key).map_or(0.0, |v| dot(&question, v))
                    })
                    .collect();
                let best = statics.iter().copied().fold(f32::MIN, f32::max);
                let worst = statics.iter().copied().fold(f32::MAX, f32::min);
                let span = (best - worst).max(1e-6);
                let mut rescored: Vec<(f32, (String, u32, u32))> = hits
                    .iter()
                    .zip(&statics)
                    .map(|(hit, s)| {
                        let range = (
                            hit.path.to_string(),
                            hit.chunk.start_line,
                            hit.chunk.end_line,
                        );
                        (hit.score + weight * (s - worst) / span, range)
                    })
                    .collect();
                rescored.sort_by(|a, b| b.0.total_cmp(&a.0));
                let results: Vec<_> = rescored.into_iter().take(10).map(|(_, r)| r).collect();
                rank_of(&results, target(case))
            })
            .collect();
        fused.push((weight, score(&ranks)));
    }
    Ok((score(&alone), fused))
}

fn target(case: &Case) -> (&str, u32, u32) {
    (case.path.as_str(), case.stripped.0, case.stripped.1)
}
