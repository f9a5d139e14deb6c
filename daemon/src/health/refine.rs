//! Exact boundaries for the clone classes an answer shows. Detection knows a clone by its
//! matched k-grams, which winnowing samples; here the copies' token streams (re-read from
//! the store and tokenised again, only for the classes shown) are compared token by token
//! outwards from the first and last matched k-gram, so each copy's first and last line are
//! those of the maximal matching run, and exact copies are told from renamed ones by their
//! raw tokens.

use super::detect::{CloneClass, CloneKind};
use super::fingerprint::{KGRAM, Token};

/// A copy's exact range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refined {
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
}

/// A class with exact ranges, one per place in `class.regions` order, and its kind with raw
/// tokens compared.
#[derive(Debug, Clone)]
pub struct RefinedClass {
    /// Ranges, one per place.
    pub ranges: Vec<Refined>,
    /// Exact, renamed or near.
    pub kind: CloneKind,
    /// Tokens of each copy (its longest matching run), one per place.
    pub tokens: Vec<u32>,
}

/// Refines `class`; `tokens_of(doc)` gives a document's token stream (`None` when it cannot
/// be read now: that place keeps its k-gram range).
pub fn refine(
    class: &CloneClass,
    tokens_of: &mut dyn FnMut(u32) -> Option<std::sync::Arc<Vec<Token>>>,
) -> RefinedClass {
    let mut ranges: Vec<Option<(u32, u32)>> = vec![None; class.regions.len()];
    let mut kind = CloneKind::Exact;
    let mut tokens: Vec<u32> = class
        .regions
        .iter()
        .map(|region| region.end - region.start + 1)
        .collect();
    for (pair, &(ia, ib)) in class.pairs.iter().zip(&class.ends) {
        let (Some(ta), Some(tb)) = (tokens_of(pair.a.doc), tokens_of(pair.b.doc)) else {
            kind = kind.max(pair.kind);
            continue;
        };
        let (Some(&(first_a, first_b)), Some(&(last_a, last_b))) =
            (pair.anchors.first(), pair.anchors.last())
        else {
            continue;
        };
        let same_file = pair.a.doc == pair.b.doc;
        let equal = |i: usize, j: usize| matches!((ta.get(i), tb.get(j)), (Some(x), Some(y)) if x.normalized == y.normalized);
        // Backwards from the first anchor, forwards from the last anchor's k-gram; two copies
        // in one file never grow into each other.
        let (mut sa, mut sb) = (first_a as usize, first_b as usize);
        let (mut ea, mut eb) = (last_a as usize + KGRAM - 1, last_b as usize + KGRAM - 1);
        while sa > 0 && sb > 0 && equal(sa - 1, sb - 1) && (!same_file || sb - 1 > ea) {
            sa -= 1;
            sb -= 1;
        }
        while equal(ea + 1, eb + 1) && (!same_file || ea + 1 < sb) {
            ea += 1;
            eb += 1;
        }
        // Whole lines only: a run that starts or ends inside a line (one literal before a
        // function, the `def name(args):` after it) is cut back to the lines it fills.
        let starts_line =
            |tokens: &[Token], at: usize| at == 0 || tokens[at - 1].line != tokens[at].line;
        let ends_line = |tokens: &[Token], at: usize| {
            at + 1 >= tokens.len() || tokens[at + 1].line != tokens[at].line
        };
        while sa < ea && !(starts_line(&ta, sa) && starts_line(&tb, sb)) {
            sa += 1;
            sb += 1;
        }
        while ea > sa && !(ends_line(&ta, ea) && ends_line(&tb, eb)) {
            ea -= 1;
            eb -= 1;
        }
        let (Some(start_a), Some(end_a), Some(start_b), Some(end_b)) =
            (ta.get(sa), ta.get(ea), tb.get(sb), tb.get(eb))
        else {
            kind = kind.max(pair.kind);
            continue;
        };
        let pair_kind = if pair.kind == CloneKind::Near {
            CloneKind::Near
        } else if ea - sa == eb - sb
            && ta[sa..=ea]
                .iter()
                .zip(&tb[sb..=eb])
                .all(|(x, y)| x.raw == y.raw)
        {
            CloneKind::Exact
        } else {
            CloneKind::Renamed
        };
        kind = kind.max(pair_kind);
        for (at, run) in [(ia, ea - sa + 1), (ib, eb - sb + 1)] {
            if let Some(longest) = tokens.get_mut(at) {
                *longest = (*longest).max(run as u32);
            }
        }
        for (at, (start, end)) in [
            (ia, (start_a.line, end_a.line)),
            (ib, (start_b.line, end_b.line)),
        ] {
            let range = ranges[at].get_or_insert((start, end));
            range.0 = range.0.min(start);
            range.1 = range.1.max(end);
        }
    }
    RefinedClass {
        ranges: class
            .regions
            .iter()
            .zip(ranges)
            .map(|(region, range)| {
                let (start_line, end_line) = range.unwrap_or((region.start_line, region.end_line));
                Refined {
                    start_line,
                    end_line,
                }
            })
            .collect(),
        kind,
        tokens,
    }
}
