//! A line prefilter for regexes whose most selective literal is not at their start.
//!
//! The regex engine accelerates a search with the literals a match *starts* with. For a
//! pattern like `fn \w+_unchecked\(` that is `fn `, which occurs on every other line of Rust
//! code, so the engine wakes up constantly and runs its automaton to no avail. Every match
//! of that pattern also contains `_unchecked(`, a far rarer string. Because a line matches
//! only when the regex matches within that line (grep semantics, see [`super::matcher`]), only
//! lines containing one of such *required literals* can match: the prefilter finds them with a
//! SIMD substring search (or Aho-Corasick for several literals) and runs the regex on those
//! lines alone. This is ripgrep's inner-literal optimisation.
//!
//! The prefilter is only built when it gives exactly the lines [`super::matcher`] gives: the
//! pattern may not use look-arounds whose meaning differs between a line on its own and the
//! same line inside the file (`\A`, `\z` and CRLF-mode anchors).

use aho_corasick::{AhoCorasick, packed};
use memchr::memmem;
use regex::bytes::Regex;
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{Hir, HirKind, Look};

use super::matcher::{LineNumbers, MatchedLine};

/// Required literals shorter than this are not worth a separate pass.
const MIN_LITERAL_LEN: usize = 3;
/// More alternatives than this make the literal search slower than the regex's own.
const MAX_LITERALS: usize = 64;

/// Finds the lines that contain at least one literal every match must contain.
#[derive(Debug)]
pub struct LinePrefilter {
    finder: Finder,
}

#[derive(Debug)]
enum Finder {
    One(Box<memmem::Finder<'static>>),
    /// Teddy, a SIMD search for a few dozen short literals.
    Packed(packed::Searcher),
    /// Where Teddy is unavailable (no SIMD, too many literals).
    Many(AhoCorasick),
}

impl Finder {
    /// Offset of an occurrence of a literal at or after `from`, none of which ends earlier.
    fn find(&self, haystack: &[u8], from: usize) -> Option<usize> {
        let rest = haystack.get(from..)?;
        match self {
            Finder::One(finder) => finder.find(rest).map(|offset| from + offset),
            Finder::Packed(teddy) => teddy.find(rest).map(|found| from + found.start()),
            Finder::Many(automaton) => automaton.find(rest).map(|found| from + found.start()),
        }
    }
}

impl LinePrefilter {
    /// The prefilter for `pattern` compiled with these flags, or `None` when the regex's own
    /// acceleration is as good (its best literals are its prefixes) or the prefilter could
    /// change the answer.
    pub fn new(pattern: &str, case_insensitive: bool) -> Option<LinePrefilter> {
        let hir = regex_syntax::ParserBuilder::new()
            .multi_line(true)
            .case_insensitive(case_insensitive)
            .build()
            .parse(pattern)
            .ok()?;
        let looks = hir.properties().look_set();
        if [Look::Start, Look::End, Look::StartCRLF, Look::EndCRLF]
            .into_iter()
            .any(|look| looks.contains(look))
        {
            return None;
        }
        let literals = best_inner_literals(&hir)?;
        let finder = if let [only] = literals.as_slice() {
            Finder::One(Box::new(memmem::Finder::new(only).into_owned()))
        } else if let Some(teddy) = packed::Builder::new().extend(&literals).build() {
            Finder::Packed(teddy)
        } else {
            Finder::Many(AhoCorasick::new(&literals).ok()?)
        };
        Some(LinePrefilter { finder })
    }

    /// Calls `found` for every line of `content` that `regex` matches, exactly like
    /// [`super::matcher::for_each_matching_line`], but runs the regex only on lines that
    /// contain a required literal.
    pub fn for_each_matching_line(
        &self,
        regex: &Regex,
        content: &[u8],
        mut found: impl FnMut(MatchedLine) -> bool,
    ) {
        let mut search_from = 0;
        let mut lines = LineNumbers::default();
        while let Some(hit) = self.finder.find(content, search_from) {
            let line_start = memchr::memrchr(b'\n', &content[search_from..hit])
                .map_or(search_from, |newline| search_from + newline + 1);
            let line_end =
                memchr::memchr(b'\n', &content[hit..]).map_or(content.len(), |offset| hit + offset);
            // Without `\A`/`\z`, a match within the line is the same whether the regex sees
            // the line alone or the whole file: the line's neighbours are newlines either way.
            if regex.is_match(&content[line_start..line_end])
                && !found(lines.line(content, line_start, line_end))
            {
                return;
            }
            search_from = line_end + 1;
        }
    }
}

/// The literal set that the most selective part of `hir` requires, when it is better than
/// the literals matches start with.
fn best_inner_literals(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let parts: &[Hir] = match hir.kind() {
        HirKind::Concat(parts) => parts,
        HirKind::Capture(capture) => return best_inner_literals(&capture.sub),
        _ => return None,
    };
    let mut extractor = Extractor::new();
    extractor.kind(ExtractKind::Prefix);
    // Every match contains a match of each suffix of the concatenation, so it contains one
    // of the literals that suffix's matches start with.
    let quality = |seq: &Seq| -> Option<usize> {
        let literals = seq.literals()?;
        if literals.is_empty() || literals.len() > MAX_LITERALS {
            return None;
        }
        if literals
            .iter()
            .any(|literal| literal.as_bytes().contains(&b'\n'))
        {
            return None;
        }
        seq.min_literal_len()
    };
    let prefix_quality = quality(&extractor.extract(hir)).unwrap_or(0);
    let mut best: Option<(usize, Seq)> = None;
    for start in 1..parts.len() {
        let seq = extractor.extract(&Hir::concat(parts[start..].to_vec()));
        let Some(length) = quality(&seq) else {
            continue;
        };
        if length >= MIN_LITERAL_LEN
            && length > prefix_quality
            && best
                .as_ref()
                .is_none_or(|(best_length, _)| length > *best_length)
        {
            best = Some((length, seq));
        }
    }
    let (_, seq) = best?;
    let mut literals: Vec<Vec<u8>> = seq
        .literals()?
        .iter()
        .map(|literal| literal.as_bytes().to_vec())
        .collect();
    literals.sort();
    literals.dedup();
    Some(literals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::matcher::for_each_matching_line;
    use regex::bytes::RegexBuilder;

    fn lines(pattern: &str, content: &str, case_insensitive: bool) -> (Vec<u64>, Vec<u64>) {
        let regex = RegexBuilder::new(pattern)
            .multi_line(true)
            .case_insensitive(case_insensitive)
            .build()
            .unwrap();
        let prefilter = LinePrefilter::new(pattern, case_insensitive)
            .unwrap_or_else(|| panic!("{pattern:?} should get a prefilter"));
        let mut plain = Vec::new();
        for_each_matching_line(&regex, content.as_bytes(), |line| {
            plain.push(line.number);
            true
        });
        let mut filtered = Vec::new();
        prefilter.for_each_matching_line(&regex, content.as_bytes(), |line| {
            filtered.push(line.number);
            true
        });
        (plain, filtered)
    }

    #[test]
    fn picks_the_longest_required_literal_after_the_start() {
        let hir = regex_syntax::parse(r"fn \w+_unchecked\(").unwrap();
        assert_eq!(
            best_inner_literals(&hir),
            Some(vec![b"_unchecked(".to_vec()])
        );
        let hir = regex_syntax::parse(r"\w+(?:_mut|_ref)\b").unwrap();
        assert_eq!(
            best_inner_literals(&hir),
            Some(vec![b"_mut".to_vec(), b"_ref".to_vec()])
        );
    }

    #[test]
    fn left_to_the_regex_when_it_cannot_help_or_could_change_answers() {
        for pattern in [
            "spawn_blocking",   // a plain literal: the regex engine does this itself
            r"impl\w+ab",       // the prefix is the longer literal
            r"\w+_x",           // too short to pay off
            r"\Afoo\s+bar_baz", // \A differs between a line alone and inside the file
            r"foo\s+bar_baz\z",
            r"(?R)foo.*bar_baz$",
            r"a\w\nbcdef", // a literal with a newline never lies within one line
        ] {
            assert!(
                LinePrefilter::new(pattern, false).is_none(),
                "{pattern:?} should be left to the regex"
            );
        }
    }

    #[test]
    fn same_lines_as_the_plain_matcher() {
        let content = "fn get_unchecked(x)\nlet y = get_unchecked(1);\n  fn a_unchecked( fn b\n\
                       pub fn é_unchecked(\nfn x\n_unchecked(\nfn z_unchecked(";
        for (pattern, case_insensitive) in [
            (r"fn \w+_unchecked\(", false),
            (r"^\s*fn \w+_unchecked\(", false),
            (r"\bfn \w+_UNCHECKED\(", true),
            (r"fn\s+\w*_unchecked\(", false),
            (r"(?:pub )?fn \w+(?:_unchecked|_checked)\(", false),
        ] {
            let (plain, filtered) = lines(pattern, content, case_insensitive);
            assert!(!plain.is_empty(), "{pattern:?} should match something");
            assert_eq!(plain, filtered, "{pattern:?}");
        }
    }

    #[test]
    fn stops_when_told() {
        let regex = Regex::new(r"x\w+abc").unwrap();
        let prefilter = LinePrefilter::new(r"x\w+abc", false).unwrap();
        let mut seen = Vec::new();
        prefilter.for_each_matching_line(&regex, b"xyabc\nxzabc\nxwabc", |line| {
            seen.push(line.number);
            seen.len() < 2
        });
        assert_eq!(seen, [1, 2]);
    }
}
