//! Counting code, comment and blank lines with a language's comment syntax.
//!
//! This is a lexical approximation (string literals that contain comment tokens can mislead
//! it, as in most line counters); it runs on every indexed file, so it is a single pass with
//! no allocation.

use super::language::Language;
use crate::store::LineCounts;

/// Counts the lines of `content` as `language` would.
pub fn count(content: &[u8], language: &Language) -> LineCounts {
    let mut counts = LineCounts::default();
    if content.is_empty() {
        return counts;
    }
    // A final newline ends the last line; it does not start another.
    let body = content.strip_suffix(b"\n").unwrap_or(content);
    // End token of the block comment we are inside, if any.
    let mut open_block: Option<&[u8]> = None;
    for line in body.split(|&byte| byte == b'\n') {
        counts.total += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            if open_block.is_some() {
                counts.comment += 1;
            } else {
                counts.blank += 1;
            }
            continue;
        }
        if line_has_code(trimmed, language, &mut open_block) {
            counts.code += 1;
        } else {
            counts.comment += 1;
        }
    }
    counts
}

/// Walks one non-blank line, updating the block-comment state; true if any code is on it.
fn line_has_code<'a>(
    mut rest: &'a [u8],
    language: &'a Language,
    open_block: &mut Option<&'a [u8]>,
) -> bool {
    let mut has_code = false;
    loop {
        rest = rest.trim_ascii_start();
        if rest.is_empty() {
            return has_code;
        }
        if let Some(end) = *open_block {
            match memchr::memmem::find(rest, end) {
                Some(at) => {
                    rest = &rest[at + end.len()..];
                    *open_block = None;
                    continue;
                }
                None => return has_code,
            }
        }
        if language
            .line_comments
            .iter()
            .any(|token| rest.starts_with(token.as_bytes()))
        {
            // A block opener that starts with a line-comment token (Lua's `--[[`) wins.
            if let Some((start, end)) = language
                .block_comments
                .iter()
                .find(|(start, _)| rest.starts_with(start.as_bytes()))
            {
                rest = &rest[start.len()..];
                *open_block = Some(end.as_bytes());
                continue;
            }
            return has_code;
        }
        if let Some((start, end)) = language
            .block_comments
            .iter()
            .find(|(start, _)| rest.starts_with(start.as_bytes()))
        {
            rest = &rest[start.len()..];
            *open_block = Some(end.as_bytes());
            continue;
        }
        has_code = true;
        // Skip to the next place a comment could start.
        let next = (1..rest.len())
            .find(|&at| {
                language
                    .line_comments
                    .iter()
                    .chain(language.block_comments.iter().map(|(start, _)| start))
                    .any(|token| rest[at..].starts_with(token.as_bytes()))
            })
            .unwrap_or(rest.len());
        rest = &rest[next..];
    }
}

#[cfg(test)]
mod tests {
    use super::super::language::detect;
    use super::*;

    #[test]
    fn counts_c_style() {
        let source = b"// header\n\nfn main() { // trailing\n    /* block\n       still */ let x = 1;\n}\n/* a\n\n b */\n";
        let counts = count(source, detect("x.rs", b""));
        assert_eq!(
            counts,
            LineCounts {
                total: 9,
                code: 3,
                comment: 5,
                blank: 1
            }
        );
    }

    #[test]
    fn counts_hash_comments_and_no_trailing_newline() {
        let counts = count(b"# c\nx = 1\n\n  # d\ny", detect("a.py", b""));
        assert_eq!(
            counts,
            LineCounts {
                total: 5,
                code: 2,
                comment: 2,
                blank: 1
            }
        );
        assert_eq!(count(b"", detect("a.py", b"")), LineCounts::default());
    }
}
