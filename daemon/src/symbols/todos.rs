//! TODO, FIXME, HACK and XXX markers in comments (never in strings: only comment nodes of
//! the syntax tree are read).

use serde::{Deserialize, Serialize};

/// The markers, as whole upper-case words.
pub const MARKERS: [&str; 4] = ["TODO", "FIXME", "HACK", "XXX"];

/// Characters of a marker's text kept at most.
const MAX_TEXT_CHARS: usize = 200;

/// One marker in a comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Todo {
    /// Its line (1-based).
    pub line: u32,
    /// `TODO`, `FIXME`, `HACK` or `XXX`.
    pub marker: String,
    /// The comment line from the marker on, without comment punctuation, shortened.
    pub text: String,
}

/// Whether `byte` may be part of a word.
fn word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Comment punctuation that may come before a marker at the start of a comment line.
fn is_comment_punctuation(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '/' | '*' | '#' | '-' | ';' | '!' | '<' | '{' | '%' | '\''
        )
}

/// The first marker on `line`, with its byte offset: an upper-case whole word that starts
/// the comment's text (`// TODO fix`, `# FIXME`) or is followed by `:` or `(` (`note: TODO:
/// …`, `XXX(ana)`); a marker word in prose (`the TODO list`) is not one.
fn find_marker(line: &str) -> Option<(usize, &'static str)> {
    let bytes = line.as_bytes();
    let text_start = line.len() - line.trim_start_matches(is_comment_punctuation).len();
    MARKERS
        .iter()
        .filter_map(|marker| {
            line.match_indices(marker)
                .find(|(at, _)| {
                    let before = at.checked_sub(1).map(|b| bytes[b]);
                    let after = bytes.get(at + marker.len()).copied();
                    !before.is_some_and(word_byte)
                        && !after.is_some_and(word_byte)
                        && (*at == text_start || matches!(after, Some(b':' | b'(')))
                })
                .map(|(at, _)| (at, *marker))
        })
        .min_by_key(|(at, _)| *at)
}

/// The markers in one comment starting on line `first_line`.
pub fn in_comment(text: &str, first_line: u32) -> Vec<Todo> {
    let mut found = Vec::new();
    for (offset, line) in text.lines().enumerate() {
        let Some((at, marker)) = find_marker(line) else {
            continue;
        };
        let rest = line[at..]
            .trim_end()
            .trim_end_matches("*/")
            .trim_end_matches("-->")
            .trim_end();
        let mut text: String = rest.chars().take(MAX_TEXT_CHARS).collect();
        if rest.chars().count() > MAX_TEXT_CHARS {
            text.push('…');
        }
        found.push(Todo {
            line: first_line + offset as u32,
            marker: marker.to_string(),
            text,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_whole_words_one_per_line() {
        let found = in_comment(
            "/* TODO: split this\n * nothing here, TODOS and XXXL are not markers\n * FIXME(ana) wrong for n=0 */",
            10,
        );
        // A marker word in prose is not a marker; one followed by a colon is.
        assert!(in_comment("// keeps the TODO list short", 1).is_empty());
        assert!(in_comment("// TODO/FIXME markers are listed", 1).len() == 1);
        assert_eq!(
            in_comment("// note: HACK: around a bug", 1)[0].marker,
            "HACK"
        );
        let lines: Vec<(u32, &str, &str)> = found
            .iter()
            .map(|todo| (todo.line, todo.marker.as_str(), todo.text.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (10, "TODO", "TODO: split this"),
                (12, "FIXME", "FIXME(ana) wrong for n=0")
            ]
        );
        assert_eq!(in_comment("# HACK around the bug", 3)[0].marker, "HACK");
        assert!(in_comment("// todo lower case is prose", 1).is_empty());
    }
}
