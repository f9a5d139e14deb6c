//! A file's clone fingerprints: its token stream from the syntax tree (comments and
//! whitespace dropped; identifiers and literals normalised, so renamed copies match), k-gram
//! hashes over it, winnowed (Schleimer, Wilkerson and Aiken's MOSS method: the smallest hash
//! of every window of `WINDOW` k-grams), each kept with the raw k-gram's hash (equal raw
//! hashes: an exact copy, not a renamed one), its token position and its lines.
//!
//! Winnowing guarantees that two files sharing a run of at least `KGRAM + WINDOW - 1` tokens
//! share a fingerprint; shorter clones are not detected.

use serde::{Deserialize, Serialize};
use tree_sitter::Node;

/// Tokens per k-gram.
pub const KGRAM: usize = 25;
/// k-grams per winnowing window.
pub const WINDOW: usize = 16;
/// The longest pattern (in tokens) whose repetition makes a k-gram periodic: long enough for
/// a line of a table (`pub const NAME: u32 = 1;` is 8 tokens), short enough that a k-gram
/// holds two periods.
const MAX_PERIOD: usize = 12;

/// Shortest run of equal tokens sure to be detected.
pub const GUARANTEED_TOKENS: usize = KGRAM + WINDOW - 1;

/// One token of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Hash of the token with identifiers and literals normalised (`$id`, `$lit`).
    pub normalized: u32,
    /// Hash of the token's text.
    pub raw: u32,
    /// Its line (1-based).
    pub line: u32,
}

/// One selected k-gram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Hash of the normalised k-gram.
    pub hash: u32,
    /// Hash of the raw k-gram.
    pub raw: u32,
    /// Position of its first token in the file's token stream.
    pub token: u32,
    /// Line of its first token.
    pub start_line: u32,
    /// Line of its last token.
    pub end_line: u32,
    /// Its normalised tokens repeat one short pattern (a list of literals, a run of field
    /// declarations): it says something only where the raw tokens match too.
    pub periodic: bool,
}

/// One line of a file as clone reports measure it: the hashes of its code tokens, so a
/// copy's exact extent is found line by line without parsing the file again. Sixteen bits
/// each: lines are only ever compared with the lines facing them in a matched copy (and
/// within a copy for its verbatim share), where a chance equality of one in 65,536 moves a
/// copy's end by a line at worst, and they are most of what the store keeps per file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineHash {
    /// Hash of its normalised tokens.
    pub normalized: u16,
    /// Hash of its raw tokens.
    pub raw: u16,
    /// Code tokens on it (0: blank, or a comment only).
    pub tokens: u16,
}

/// A file's fingerprints, as stored with its symbols (in the compact form of
/// [`Fingerprints::to_bytes`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprints {
    /// Tokens in the file.
    pub tokens: u32,
    /// The selected k-grams, by position.
    pub prints: Vec<Fingerprint>,
    /// Line `n` (1-based) is `lines[n - 1]`, up to the last line holding a token.
    pub lines: Vec<LineHash>,
}

/// Version of [`Fingerprints::to_bytes`]'s layout, its first byte.
const ENCODING: u8 = 3;
/// Fewest bytes a line takes in the compact form (a blank line).
const MIN_LINE_BYTES: usize = 1;
/// Fewest bytes a k-gram takes in the compact form (a one-byte varint, a four-byte and a
/// two-byte hash).
const MIN_PRINT_BYTES: usize = 7;
/// Layout flag: each k-gram's first and last line are written out (else they follow from
/// its position and the lines' token counts).
const LINES_WRITTEN: u8 = 1;
/// Layout flag: every k-gram's raw hash takes four bytes (else only a periodic one's does,
/// the others' fitting in two).
const WIDE_RAW: u8 = 2;

/// Folds a 32-bit hash to 16 bits.
fn fold16(hash: u32) -> u16 {
    (hash ^ hash >> 16) as u16
}

/// The first and last line of the k-gram at each of `positions`, from the token counts of
/// `lines` (the line of a token is the last line starting at or before it); `None` where a
/// position lies past the lines' tokens.
fn lines_of_kgrams(
    lines: &[LineHash],
    positions: impl Iterator<Item = u32>,
) -> Option<Vec<(u32, u32)>> {
    let mut starts = Vec::with_capacity(lines.len());
    let mut total: u64 = 0;
    for line in lines {
        starts.push(total);
        total += u64::from(line.tokens);
    }
    let line_of = |position: u64| -> Option<u32> {
        if position >= total {
            return None;
        }
        u32::try_from(starts.partition_point(|&start| start <= position)).ok()
    };
    positions
        .map(|token| {
            let first = u64::from(token);
            Some((line_of(first)?, line_of(first + KGRAM as u64 - 1)?))
        })
        .collect()
}

impl Fingerprints {
    /// The stored form. Hashes are random, so they are written as fixed bytes (a varint of
    /// a random `u32` takes five); a k-gram's position as a small delta from the previous
    /// one; its lines not at all when they follow from its position and the token count of
    /// each line (always, unless a line holds more than 65,535 tokens); the raw hash of a
    /// k-gram that is not periodic in two bytes (it only tells an exact copy from a renamed
    /// one, as does the raw line hash); a blank line as one byte. Exact for any value.
    pub fn to_bytes(&self) -> Vec<u8> {
        use crate::codec::{push_varint, zigzag};
        let derived = lines_of_kgrams(&self.lines, self.prints.iter().map(|print| print.token));
        let lines_follow = derived.is_some_and(|derived| {
            derived
                .iter()
                .zip(&self.prints)
                .all(|(&lines, print)| lines == (print.start_line, print.end_line))
        });
        let narrow_raw = self
            .prints
            .iter()
            .all(|print| print.periodic || print.raw <= u32::from(u16::MAX));
        let layout =
            if lines_follow { 0 } else { LINES_WRITTEN } | if narrow_raw { 0 } else { WIDE_RAW };
        let mut out =
            Vec::with_capacity(16 + self.lines.len() * 5 + self.prints.len() * MIN_PRINT_BYTES);
        out.push(ENCODING);
        push_varint(&mut out, u64::from(self.tokens));
        push_varint(&mut out, self.lines.len() as u64);
        for line in &self.lines {
            let hashed = line.normalized != 0 || line.raw != 0;
            push_varint(&mut out, u64::from(line.tokens) << 1 | u64::from(hashed));
            if hashed {
                out.extend_from_slice(&line.normalized.to_le_bytes());
                out.extend_from_slice(&line.raw.to_le_bytes());
            }
        }
        push_varint(&mut out, self.prints.len() as u64);
        out.push(layout);
        let (mut token, mut start_line) = (0i64, 0i64);
        for print in &self.prints {
            let delta = zigzag(i64::from(print.token) - token);
            push_varint(&mut out, delta << 1 | u64::from(print.periodic));
            out.extend_from_slice(&print.hash.to_le_bytes());
            if print.periodic || layout & WIDE_RAW != 0 {
                out.extend_from_slice(&print.raw.to_le_bytes());
            } else {
                out.extend_from_slice(&(print.raw as u16).to_le_bytes());
            }
            if layout & LINES_WRITTEN != 0 {
                push_varint(&mut out, zigzag(i64::from(print.start_line) - start_line));
                push_varint(
                    &mut out,
                    zigzag(i64::from(print.end_line) - i64::from(print.start_line)),
                );
            }
            token = i64::from(print.token);
            start_line = i64::from(print.start_line);
        }
        out
    }

    /// Reads what [`Fingerprints::to_bytes`] wrote; `None` for anything else (damaged bytes
    /// never panic, and never allocate more than they could hold).
    pub fn from_bytes(bytes: &[u8]) -> Option<Fingerprints> {
        use crate::codec::{Reader, unzigzag};
        let mut reader = Reader::new(bytes);
        if reader.u8()? != ENCODING {
            return None;
        }
        let tokens = reader.varint_u32()?;
        let line_count = reader.count(MIN_LINE_BYTES)?;
        let mut lines = Vec::with_capacity(line_count);
        for _ in 0..line_count {
            let head = reader.varint()?;
            let tokens = u16::try_from(head >> 1).ok()?;
            let (normalized, raw) = if head & 1 == 1 {
                (reader.u16_le()?, reader.u16_le()?)
            } else {
                (0, 0)
            };
            lines.push(LineHash {
                normalized,
                raw,
                tokens,
            });
        }
        let print_count = reader.count(MIN_PRINT_BYTES)?;
        let layout = reader.u8()?;
        if layout & !(LINES_WRITTEN | WIDE_RAW) != 0 {
            return None;
        }
        let mut prints = Vec::with_capacity(print_count);
        let (mut token, mut start_line) = (0i64, 0i64);
        let at = |base: i64, delta: u64| -> Option<u32> {
            u32::try_from(base.checked_add(unzigzag(delta))?).ok()
        };
        for _ in 0..print_count {
            let head = reader.varint()?;
            let this_token = at(token, head >> 1)?;
            let periodic = head & 1 == 1;
            let hash = reader.u32_le()?;
            let raw = if periodic || layout & WIDE_RAW != 0 {
                reader.u32_le()?
            } else {
                u32::from(reader.u16_le()?)
            };
            let (this_start, end_line) = if layout & LINES_WRITTEN != 0 {
                let this_start = at(start_line, reader.varint()?)?;
                (this_start, at(i64::from(this_start), reader.varint()?)?)
            } else {
                (0, 0)
            };
            prints.push(Fingerprint {
                hash,
                raw,
                token: this_token,
                start_line: this_start,
                end_line,
                periodic,
            });
            token = i64::from(this_token);
            start_line = i64::from(this_start);
        }
        if layout & LINES_WRITTEN == 0 {
            let derived = lines_of_kgrams(&lines, prints.iter().map(|print| print.token))?;
            for (print, (start, end)) in prints.iter_mut().zip(derived) {
                (print.start_line, print.end_line) = (start, end);
            }
        }
        (reader.remaining() == 0).then_some(Fingerprints {
            tokens,
            prints,
            lines,
        })
    }

    /// Line `line` (1-based); a line past the last token is blank.
    pub fn line(&self, line: u32) -> LineHash {
        line.checked_sub(1)
            .and_then(|at| self.lines.get(at as usize))
            .copied()
            .unwrap_or_default()
    }
}

impl Serialize for Fingerprints {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.to_bytes())
    }
}

impl<'de> Deserialize<'de> for Fingerprints {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CompactForm;
        impl<'de> serde::de::Visitor<'de> for CompactForm {
            type Value = Fingerprints;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("the compact bytes of a file's clone fingerprints")
            }

            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Fingerprints, E> {
                Fingerprints::from_bytes(bytes)
                    .ok_or_else(|| E::custom("damaged clone fingerprints"))
            }
        }
        deserializer.deserialize_bytes(CompactForm)
    }
}

/// The per-line hashes of a token stream.
fn line_hashes(tokens: &[Token]) -> Vec<LineHash> {
    // Combined at 32 bits, folded to 16 once a line is whole.
    let mut lines: Vec<(u32, u32, u16)> = Vec::new();
    for token in tokens {
        let at = token.line.saturating_sub(1) as usize;
        if lines.len() <= at {
            lines.resize(at + 1, (0, 0, 0));
        }
        let (normalized, raw, count) = &mut lines[at];
        *normalized = (*normalized ^ token.normalized).wrapping_mul(0x0100_0193);
        *raw = (*raw ^ token.raw).wrapping_mul(0x0100_0193);
        *count = count.saturating_add(1);
    }
    lines
        .into_iter()
        .map(|(normalized, raw, tokens)| LineHash {
            normalized: fold16(normalized),
            raw: fold16(raw),
            tokens,
        })
        .collect()
}

fn fnv(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in bytes {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Whether a node is a comment (every grammar names them so).
pub fn is_comment(node: Node<'_>) -> bool {
    node.kind().contains("comment")
}

/// Whether a node is left out of the token stream like a comment: import lists (every file
/// has one, and no one removes a copy of one) and Rust's `#[doc = "…"]` attributes (doc
/// comments in another spelling, all over generated bindings).
fn is_skipped(node: Node<'_>, content: &[u8]) -> bool {
    match node.kind() {
        "import_statement"
        | "import_from_statement"
        | "future_import_statement"
        | "use_declaration"
        | "extern_crate_declaration"
        | "import_declaration"
        | "package_declaration"
        | "package_clause"
        | "preproc_include"
        | "using_directive"
        | "namespace_use_declaration" => true,
        "attribute_item" | "inner_attribute_item" => {
            let text = &content[node.byte_range()];
            let inside = text
                .iter()
                .position(|&b| b == b'[')
                .map_or(&[][..], |at| &text[at + 1..]);
            let inside = inside.trim_ascii_start();
            inside.starts_with(b"doc") && inside[3..].trim_ascii_start().starts_with(b"=")
        }
        _ => false,
    }
}

/// Whether a node is a literal taken as one token (strings with their parts, numbers,
/// characters).
fn is_literal(kind: &str) -> bool {
    is_text(kind)
        || kind.contains("number")
        || kind.contains("integer")
        || kind.contains("float")
        || kind.contains("char_literal")
        || kind.contains("character_literal")
        || kind == "rune_literal"
        || kind == "regex"
}

/// Whether a literal is text (a string, a heredoc), whose words a multi-line one is taken as.
fn is_text(kind: &str) -> bool {
    (kind.contains("string") && !kind.contains("interpolation")) || kind == "heredoc_body"
}

/// The tokens of one line of text inside a literal: runs of word characters (letters,
/// digits, `_`, any non-ASCII byte), and runs of one repeated punctuation mark (`"""`, `>>>`,
/// `(`); whitespace separates them.
fn text_tokens(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii();
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        rest = &rest[start..];
        let first = rest[0];
        let len = if is_word(first) {
            rest.iter().position(|&b| !is_word(b)).unwrap_or(rest.len())
        } else {
            rest.iter().position(|&b| b != first).unwrap_or(rest.len())
        };
        let (token, after) = rest.split_at(len);
        rest = after;
        Some(token)
    })
}

/// Whether a leaf is a name (variables, fields, types, functions).
fn is_identifier(kind: &str) -> bool {
    kind.ends_with("identifier") || kind == "name" || kind == "constant" || kind == "variable_name"
}

/// The file's tokens, in order (without comments, imports and doc attributes); `on_comment`
/// sees every comment node (skipped otherwise).
pub fn tokens<'tree>(
    root: Node<'tree>,
    content: &[u8],
    mut on_comment: impl FnMut(Node<'tree>),
) -> Vec<Token> {
    let identifier = fnv(b"$id");
    let literal = fnv(b"$lit");
    let mut out = Vec::new();
    let mut cursor = root.walk();
    'walk: loop {
        let node = cursor.node();
        let kind = node.kind();
        let mut descend = false;
        if is_comment(node) {
            on_comment(node);
        } else if node.is_missing() || is_skipped(node, content) {
            // an error-recovery placeholder: no text
        } else if node.is_named()
            && is_text(kind)
            && node.start_position().row < node.end_position().row
        {
            // Text over several lines (a docstring, a doctest, a regex in a raw string): its
            // words and punctuation, each a token that matches only itself, as jscpd counts
            // them; one `$lit` for it would make a copied docstring no copy at all, and any
            // two alike.
            let first_row = node.start_position().row as u32;
            for (row, text) in content[node.byte_range()]
                .split(|&b| b == b'\n')
                .enumerate()
            {
                for word in text_tokens(text) {
                    let raw = fnv(word);
                    out.push(Token {
                        normalized: raw,
                        raw,
                        line: first_row + row as u32 + 1,
                    });
                }
            }
        } else if node.is_named() && is_literal(kind) {
            out.push(Token {
                normalized: literal,
                raw: fnv(&content[node.byte_range()]),
                line: node.start_position().row as u32 + 1,
            });
        } else if node.child_count() == 0 {
            let text = &content[node.byte_range()];
            if !text.iter().all(u8::is_ascii_whitespace) {
                let raw = fnv(text);
                out.push(Token {
                    normalized: if is_identifier(kind) { identifier } else { raw },
                    raw,
                    line: node.start_position().row as u32 + 1,
                });
            }
        } else {
            descend = true;
        }
        if descend && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                continue 'walk;
            }
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    out
}

/// Hashes of every k-gram of `values` (`values.len() - KGRAM + 1` of them), by a rolling
/// polynomial hash, mixed down to 32 bits.
fn kgram_hashes(values: impl Iterator<Item = u32> + Clone, count: usize) -> Vec<u32> {
    if count < KGRAM {
        return Vec::new();
    }
    const BASE: u64 = 0x9E37_79B9_7F4A_7C15 | 1;
    let top = (0..KGRAM - 1).fold(1u64, |power, _| power.wrapping_mul(BASE));
    let values: Vec<u64> = values.map(u64::from).collect();
    let mut hash = 0u64;
    let mut out = Vec::with_capacity(count - KGRAM + 1);
    for (at, &value) in values.iter().enumerate() {
        if at >= KGRAM {
            hash = hash.wrapping_sub(values[at - KGRAM].wrapping_mul(top));
        }
        hash = hash.wrapping_mul(BASE).wrapping_add(value);
        if at + 1 >= KGRAM {
            let mixed = (hash ^ (hash >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            out.push((mixed >> 32) as u32);
        }
    }
    out
}

/// For each of the `count` k-grams of `tokens`, whether it repeats a pattern of at most
/// `MAX_PERIOD` normalised tokens throughout (linear: runs of `token[i] == token[i + p]` are
/// measured once per period).
fn periodic_kgrams(tokens: &[Token], count: usize) -> Vec<bool> {
    let mut periodic = vec![false; count];
    let mut run = vec![0u32; tokens.len() + 1];
    for period in 1..=MAX_PERIOD.min(KGRAM - 1) {
        run[tokens.len()] = 0;
        for at in (0..tokens.len()).rev() {
            run[at] = if at + period < tokens.len()
                && tokens[at].normalized == tokens[at + period].normalized
            {
                run[at + 1] + 1
            } else {
                0
            };
        }
        for (at, flag) in periodic.iter_mut().enumerate() {
            *flag |= run[at] as usize >= KGRAM - period;
        }
    }
    periodic
}

/// The winnowed fingerprints of a token stream.
pub fn fingerprints(tokens: &[Token]) -> Fingerprints {
    let normalized = kgram_hashes(tokens.iter().map(|t| t.normalized), tokens.len());
    let raw = kgram_hashes(tokens.iter().map(|t| t.raw), tokens.len());
    let mut prints: Vec<Fingerprint> = Vec::new();
    let periodic = periodic_kgrams(tokens, normalized.len());
    // A periodic k-gram (a table of constants, a list of fields) is chosen by its raw hash:
    // chosen by the normalised one, every k-gram of such a table ties, and which one a
    // window keeps would depend on where the table starts, not on its content.
    let keys: Vec<u32> = (0..normalized.len())
        .map(|at| {
            if periodic[at] {
                raw[at]
            } else {
                normalized[at]
            }
        })
        .collect();
    let normalized_hashes = normalized;
    let normalized = &keys;
    // A raw k-gram hash only tells an exact copy from a renamed one (or keys a periodic
    // k-gram): sixteen bits do for the first, stored in two bytes.
    let select = |at: usize| Fingerprint {
        hash: normalized_hashes[at],
        raw: if periodic[at] {
            raw[at]
        } else {
            u32::from(fold16(raw[at]))
        },
        token: at as u32,
        start_line: tokens[at].line,
        end_line: tokens[at + KGRAM - 1].line,
        periodic: periodic[at],
    };
    if normalized.len() <= WINDOW {
        // Too short for a full window: its smallest k-gram stands for it.
        if let Some((at, _)) = normalized
            .iter()
            .enumerate()
            .min_by_key(|(at, hash)| (**hash, std::cmp::Reverse(*at)))
        {
            prints.push(select(at));
        }
    } else {
        // Robust winnowing: the minimum of each window, recorded when it changes; among
        // equal minima the one chosen before while it stays in the window, else the
        // rightmost. (Always the rightmost, a run of one repeated k-gram — a table of zeros,
        // a string of one repeated word — would keep every k-gram.)
        let mut window: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
        let mut last: Option<usize> = None;
        for at in 0..normalized.len() {
            while window
                .back()
                .is_some_and(|&back| normalized[back] >= normalized[at])
            {
                window.pop_back();
            }
            window.push_back(at);
            while window.front().is_some_and(|&front| front + WINDOW <= at) {
                window.pop_front();
            }
            if at + 1 < WINDOW {
                continue;
            }
            let Some(&minimum) = window.front() else {
                continue;
            };
            let kept = last
                .is_some_and(|last| last + WINDOW > at && normalized[last] == normalized[minimum]);
            if !kept && last != Some(minimum) {
                prints.push(select(minimum));
                last = Some(minimum);
            }
        }
    }
    Fingerprints {
        tokens: tokens.len() as u32,
        prints,
        lines: line_hashes(tokens),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(language: &str, source: &str) -> Vec<Token> {
        let grammar = crate::symbols::grammars::for_language(language).unwrap();
        let mut parser = tree_sitter::Parser::new();
        parser.set_language(&grammar.language).unwrap();
        let tree = parser.parse(source, None).unwrap();
        tokens(tree.root_node(), source.as_bytes(), |_| {})
    }

    #[test]
    fn comments_and_layout_do_not_count_and_names_are_normalised() {
        let a = parse(
            "Python",
            "def total(items):\n    # add them up\n    s = 0\n    for i in items:\n        s += i * 2\n    return s\n",
        );
        let b = parse(
            "Python",
            "def sum_all(values):\n    acc = 0\n\n    for v in values:  # each\n        acc += v * 3\n    return acc\n",
        );
        let normalized = |tokens: &[Token]| tokens.iter().map(|t| t.normalized).collect::<Vec<_>>();
        let raw = |tokens: &[Token]| tokens.iter().map(|t| t.raw).collect::<Vec<_>>();
        assert_eq!(normalized(&a), normalized(&b));
        assert_ne!(raw(&a), raw(&b));
        // The comment line is not a token's line; the `for` is on line 4.
        assert!(a.iter().all(|t| t.line != 2));
        assert_eq!(a.iter().filter(|t| t.line == 4).count(), 5);
        // Line hashes: the same normalised lines, other raw ones; blank and comment lines
        // hold no tokens.
        let (la, lb) = (fingerprints(&a), fingerprints(&b));
        assert_eq!(la.line(2).tokens, 0);
        assert_eq!(lb.line(3).tokens, 0);
        assert_eq!(la.line(4).tokens, 5);
        assert_eq!(la.line(4).normalized, lb.line(4).normalized);
        assert_ne!(la.line(4).raw, lb.line(4).raw);
        assert_eq!(la.line(1).normalized, lb.line(1).normalized);
        assert_eq!(la.line(99), LineHash::default());
    }

    #[test]
    fn a_k_gram_s_lines_follow_from_its_position_unless_a_line_overflows_its_count() {
        // Real source: every k-gram's lines are those of its first and last token, and the
        // stored form leaves them out (two bytes a k-gram fewer than writing them).
        let source = "def total(items):\n    s = 0\n\n    for i in items:\n        s += i * 2\n    return s\n"
            .repeat(30);
        let real = fingerprints(&parse("Python", &source));
        assert!(real.prints.len() > 10);
        let derived = lines_of_kgrams(&real.lines, real.prints.iter().map(|p| p.token));
        let expected: Vec<(u32, u32)> = real
            .prints
            .iter()
            .map(|p| (p.start_line, p.end_line))
            .collect();
        assert_eq!(derived, Some(expected));
        let mut written = real.clone();
        written.prints[0].start_line += 1;
        assert!(written.to_bytes().len() >= real.to_bytes().len() + 2 * real.prints.len());
        assert_eq!(Fingerprints::from_bytes(&written.to_bytes()), Some(written));
        // A line of more tokens than its count holds: the lines are written out, exactly.
        let mut tokens: Vec<Token> = (0..70_000u32)
            .map(|n| Token {
                normalized: n % 97,
                raw: n,
                line: 1,
            })
            .collect();
        tokens.extend((0..40u32).map(|n| Token {
            normalized: 1000 + n,
            raw: 1000 + n,
            line: 2,
        }));
        let long = fingerprints(&tokens);
        assert_eq!(long.lines[0].tokens, u16::MAX);
        assert!(long.prints.iter().any(|p| p.end_line == 2));
        assert_eq!(Fingerprints::from_bytes(&long.to_bytes()), Some(long));
    }

    #[test]
    fn the_compact_form_gives_back_exactly_what_was_stored() {
        let source = "def total(items):\n    # add them up\n    s = 0\n\n    for i in items:\n        s += i * 2\n    return s\n"
            .repeat(12);
        let real = fingerprints(&parse("Python", &source));
        assert!(real.prints.len() > 3 && real.lines.iter().any(|line| line.tokens == 0));
        // Values real files never produce: the form is exact for any of them.
        let odd = Fingerprints {
            tokens: u32::MAX,
            prints: vec![
                Fingerprint {
                    hash: u32::MAX,
                    raw: 0,
                    token: u32::MAX,
                    start_line: u32::MAX,
                    end_line: 0,
                    periodic: true,
                },
                Fingerprint {
                    hash: 0,
                    raw: u32::MAX,
                    token: 0,
                    start_line: 0,
                    end_line: u32::MAX,
                    periodic: false,
                },
            ],
            lines: vec![
                LineHash {
                    normalized: 0,
                    raw: 0,
                    tokens: u16::MAX,
                },
                LineHash {
                    normalized: 0,
                    raw: 7,
                    tokens: 0,
                },
                LineHash::default(),
            ],
        };
        for prints in [real, odd, Fingerprints::default()] {
            let bytes = prints.to_bytes();
            assert_eq!(Fingerprints::from_bytes(&bytes).as_ref(), Some(&prints));
            // Through serde, as it is stored inside a file's symbols.
            let stored = postcard::to_stdvec(&prints).unwrap();
            assert_eq!(
                postcard::from_bytes::<Fingerprints>(&stored).unwrap(),
                prints
            );
            // Every truncation, and a byte too many, is refused without a panic.
            for cut in 0..bytes.len() {
                assert_eq!(
                    Fingerprints::from_bytes(&bytes[..cut]),
                    None,
                    "cut at {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(Fingerprints::from_bytes(&longer), None);
        }
        let mut other_version = Fingerprints::default().to_bytes();
        other_version[0] = ENCODING + 1;
        assert_eq!(Fingerprints::from_bytes(&other_version), None);
    }

    #[test]
    fn text_over_several_lines_counts_word_by_word_and_matches_only_itself() {
        let source = |doc: &str, message: &str| {
            format!("def f(key):\n    \"\"\"\n    {doc}\n    \"\"\"\n    raise E(\"{message}\")\n")
        };
        let a = parse("Python", &source("a.b(c, [d, e]) f", "one two three"));
        let b = parse("Python", &source("a.b(c, [d, e]) g", "four"));
        // `"""`, then `a . b ( c , [ d , e ] ) f` on line 3, `"""` on line 4.
        assert_eq!(a.iter().filter(|t| t.line == 2).count(), 1, "{a:?}");
        assert_eq!(a.iter().filter(|t| t.line == 3).count(), 13, "{a:?}");
        assert_eq!(a.iter().filter(|t| t.line == 4).count(), 1, "{a:?}");
        // A one-line string stays one literal: alike up to it once normalised.
        assert_eq!(a.iter().filter(|t| t.line == 5).count(), 5);
        let on_line = |tokens: &[Token], line: u32| {
            tokens
                .iter()
                .filter(|t| t.line == line)
                .map(|t| t.normalized)
                .collect::<Vec<_>>()
        };
        assert_eq!(on_line(&a, 5), on_line(&b, 5));
        // Text is not normalised: the docstrings differ in their last word, so do the tokens.
        assert_ne!(on_line(&a, 3), on_line(&b, 3));
        assert_eq!(on_line(&a, 3)[..12], on_line(&b, 3)[..12]);
        assert_eq!(
            text_tokens("  >>> x_1 == ü(2)  ".as_bytes()).collect::<Vec<_>>(),
            [&b">>>"[..], b"x_1", b"==", "ü".as_bytes(), b"(", b"2", b")"]
        );
    }

    #[test]
    fn imports_and_doc_attributes_are_no_tokens() {
        let python = parse("Python", "import os\nfrom a.b import c, d\nx = 1\n");
        assert!(python.iter().all(|t| t.line == 3), "{python:?}");
        let rust = parse(
            "Rust",
            "use std::io;\n#[doc = \"text\"]\n#[derive(Debug)]\nstruct S;\n",
        );
        let lines: Vec<u32> = rust.iter().map(|t| t.line).collect();
        assert!(!lines.contains(&1) && !lines.contains(&2), "{lines:?}");
        assert!(lines.contains(&3) && lines.contains(&4), "{lines:?}");
        let java = parse("Java", "import java.util.List;\nclass A {}\n");
        assert!(java.iter().all(|t| t.line == 2));
    }

    #[test]
    fn a_run_of_one_repeated_kgram_keeps_one_fingerprint_per_window() {
        let token = |n: u32| Token {
            normalized: n,
            raw: n,
            line: 1,
        };
        let zeros: Vec<Token> = (0..10_000).map(|_| token(7)).collect();
        let prints = fingerprints(&zeros).prints;
        assert!(prints.len() <= 10_000 / WINDOW + 1, "{}", prints.len());
        // Each window still holds one.
        for pair in prints.windows(2) {
            assert!(pair[1].token - pair[0].token <= WINDOW as u32, "{pair:?}");
        }
        // Without repetition nothing changes: as many as always taking the rightmost minimum.
        let mut state = 12345u64;
        let varied: Vec<Token> = (0..20_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                token((state >> 33) as u32 % 50)
            })
            .collect();
        let hashes = kgram_hashes(varied.iter().map(|t| t.normalized), varied.len());
        let mut rightmost = 0;
        let mut last = None;
        for at in WINDOW - 1..hashes.len() {
            let window = &hashes[at + 1 - WINDOW..=at];
            let least = *window.iter().min().unwrap_or(&0);
            let chosen = at + 1 - WINDOW + window.iter().rposition(|&h| h == least).unwrap_or(0);
            if last != Some(chosen) {
                rightmost += 1;
                last = Some(chosen);
            }
        }
        assert!(fingerprints(&varied).prints.len() <= rightmost);
    }

    #[test]
    fn a_shared_run_long_enough_always_shares_a_fingerprint() {
        // Two streams sharing a run of GUARANTEED_TOKENS tokens at different offsets.
        let token = |n: u32| Token {
            normalized: n.wrapping_mul(2_654_435_761),
            raw: n,
            line: n / 8 + 1,
        };
        for shift in [0u32, 7, 33] {
            let shared: Vec<u32> = (10_000..10_000 + GUARANTEED_TOKENS as u32).collect();
            let a: Vec<Token> = (0..50)
                .chain(shared.clone())
                .chain(100..140)
                .map(token)
                .collect();
            let b: Vec<Token> = (500..500 + shift)
                .chain(shared)
                .chain(900..960)
                .map(token)
                .collect();
            let fa = fingerprints(&a);
            let fb = fingerprints(&b);
            assert!(
                fa.prints
                    .iter()
                    .any(|p| fb.prints.iter().any(|q| q.hash == p.hash)),
                "shift {shift}"
            );
            // Density: about 2 / (WINDOW + 1) of the k-grams.
            assert!(fa.prints.len() * (WINDOW + 1) <= 4 * (a.len() - KGRAM + 1));
        }
    }
}
