//! Hybrid ranking: the lexical, neural and symbol-name scores of each candidate, each
//! normalised to 0..1 over the candidates, summed with configured weights.
//!
//! Equal-weight reciprocal-rank fusion lets a weak retriever drag a strong one down; weighted
//! score fusion keeps how sure each retriever is. The weights come from the configuration
//! (defaults chosen on the docstring → function eval in `benches/semantic_eval`).

use std::collections::HashMap;

use super::lexical::LexicalHit;

/// Candidates each retriever contributes (more than the most results an answer may hold).
pub const CANDIDATES: usize = 128;

/// Fusion weights.
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    /// Of the lexical (BM25F) score.
    pub lexical: f32,
    /// Of the neural (cosine) score.
    pub neural: f32,
    /// Of the name match.
    pub name: f32,
    /// Of the similarity of the question to the definition's name as words.
    pub name_neural: f32,
}

impl Weights {
    /// The configured weights.
    pub fn from_config(config: &codesage_shared::config::SemanticConfig) -> Weights {
        Weights {
            lexical: config.weight_lexical,
            neural: config.weight_neural,
            name: config.weight_name,
            name_neural: config.weight_name_neural,
        }
    }
}

/// A fused candidate.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// Its slot.
    pub slot: u32,
    /// Fused score, 0..1 (higher is better).
    pub score: f32,
    /// BM25F score, if lexically matched.
    pub lexical: Option<f32>,
    /// Cosine similarity, if it has a vector.
    pub neural: Option<f32>,
    /// Name match, if any of its name's words matched.
    pub name: Option<f32>,
}

/// Fuses the retrievers' lists into the best `limit`. `neural_of` gives any candidate's
/// cosine (so a lexical candidate outside the neural list still gets its real similarity),
/// `name_neural_of` the cosine of the question and its name; `neural` is `None` when there is
/// no neural side at all.
pub fn fuse(
    lexical: &[LexicalHit],
    neural: Option<&[(u32, f32)]>,
    neural_of: impl Fn(u32) -> Option<f32>,
    name_neural_of: impl Fn(u32) -> Option<f32>,
    weights: &Weights,
    limit: usize,
) -> Vec<Candidate> {
    let mut candidates: HashMap<u32, Candidate> = HashMap::new();
    let lexical_max = lexical.iter().map(|hit| hit.score).fold(0.0f32, f32::max);
    for hit in lexical {
        candidates.insert(
            hit.slot,
            Candidate {
                slot: hit.slot,
                score: 0.0,
                lexical: Some(hit.score),
                neural: None,
                name: (hit.name_match > 0.0).then_some(hit.name_match),
            },
        );
    }
    let neural_list = neural.unwrap_or(&[]);
    for &(slot, _) in neural_list {
        candidates.entry(slot).or_insert(Candidate {
            slot,
            score: 0.0,
            lexical: None,
            neural: None,
            name: None,
        });
    }
    // The neural scale: from the weakest listed neighbour (0) to the best (1).
    let best = neural_list.first().map(|(_, score)| *score);
    let floor = neural_list.last().map(|(_, score)| *score);
    let use_neural = neural.is_some() && best.is_some();
    let total_weight = weights.lexical
        + weights.name
        + if use_neural {
            weights.neural + weights.name_neural
        } else {
            0.0
        };
    let total_weight = if total_weight > 0.0 {
        total_weight
    } else {
        1.0
    };
    // Name similarities are scaled like the cosines: over the candidates that have one.
    let name_cosines: HashMap<u32, f32> = if use_neural && weights.name_neural > 0.0 {
        candidates
            .keys()
            .filter_map(|&slot| name_neural_of(slot).map(|cosine| (slot, cosine)))
            .collect()
    } else {
        HashMap::new()
    };
    let name_best = name_cosines.values().copied().fold(f32::MIN, f32::max);
    let name_floor = name_cosines.values().copied().fold(f32::MAX, f32::min);
    for candidate in candidates.values_mut() {
        let lexical = match candidate.lexical {
            Some(score) if lexical_max > 0.0 => score / lexical_max,
            _ => 0.0,
        };
        let mut score = weights.lexical * lexical + weights.name * candidate.name.unwrap_or(0.0);
        if use_neural {
            candidate.neural = neural_of(candidate.slot);
            if let (Some(cosine), Some(best), Some(floor)) = (candidate.neural, best, floor) {
                let span = (best - floor).max(1e-6);
                score += weights.neural * ((cosine - floor) / span).clamp(0.0, 1.0);
            }
            if let Some(cosine) = name_cosines.get(&candidate.slot) {
                let span = (name_best - name_floor).max(1e-6);
                score += weights.name_neural * ((cosine - name_floor) / span).clamp(0.0, 1.0);
            }
        }
        candidate.score = score / total_weight;
    }
    let mut fused: Vec<Candidate> = candidates.into_values().collect();
    // Ties (equal scores) keep a stable order: by slot.
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.slot.cmp(&b.slot)));
    fused.truncate(limit);
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strong_neural_side_is_not_dragged_down_by_a_weak_lexical_one() {
        // Lexical prefers slot 1 a little; neural is sure of slot 2.
        let lexical = [
            LexicalHit {
                slot: 1,
                score: 5.0,
                name_match: 0.0,
            },
            LexicalHit {
                slot: 2,
                score: 4.5,
                name_match: 0.0,
            },
        ];
        let neural = [(2, 0.80), (3, 0.40), (1, 0.35)];
        let cosine = |slot: u32| neural.iter().find(|(s, _)| *s == slot).map(|(_, c)| *c);
        let weights = Weights {
            lexical: 0.35,
            neural: 0.55,
            name: 0.10,
            name_neural: 0.0,
        };
        let fused = fuse(&lexical, Some(&neural), cosine, |_| None, &weights, 10);
        assert_eq!(fused[0].slot, 2);
        assert_eq!(fused.len(), 3);
        assert!(fused.iter().all(|c| (0.0..=1.0).contains(&c.score)));
        // Without a neural side, lexical order stands.
        let fused = fuse(&lexical, None, |_| None, |_| None, &weights, 1);
        assert_eq!(fused[0].slot, 1);
        assert_eq!(fused.len(), 1);
        // A name that fits the question lifts its chunk over a slightly better body.
        let names = |slot: u32| Some(if slot == 3 { 0.9 } else { 0.2 });
        let weights = Weights {
            name_neural: 0.5,
            ..weights
        };
        let fused = fuse(&lexical, Some(&neural), cosine, names, &weights, 3);
        assert!(
            fused.iter().position(|c| c.slot == 3) < fused.iter().position(|c| c.slot == 1),
            "{fused:?}"
        );
    }
}
