//! Finding the lines of one file's content that a regex matches, with grep semantics: a line
//! matches when the regex matches somewhere inside that line (a match may never span lines),
//! `^`/`$` anchor at line boundaries, and the line after a final newline does not exist.

use regex::bytes::Regex;

/// One matching line: its 1-based number and byte range (without the newline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchedLine {
    /// 1-based line number.
    pub number: u64,
    /// Offset of the first byte of the line.
    pub start: usize,
    /// Offset just past the last byte of the line (before its `\n`).
    pub end: usize,
}

/// Numbers lines for a scan that visits them in order, counting newlines only once.
#[derive(Debug)]
pub struct LineNumbers {
    /// Number of the line starting at `counted_to`.
    number: u64,
    counted_to: usize,
}

impl Default for LineNumbers {
    fn default() -> Self {
        LineNumbers {
            number: 1,
            counted_to: 0,
        }
    }
}

impl LineNumbers {
    /// The line of `content` from `start` to `end`, numbered; `start` must not precede the
    /// previous line asked for.
    pub fn line(&mut self, content: &[u8], start: usize, end: usize) -> MatchedLine {
        self.number += memchr::memchr_iter(b'\n', &content[self.counted_to..start]).count() as u64;
        self.counted_to = start;
        MatchedLine {
            number: self.number,
            start,
            end,
        }
    }
}

/// Calls `found` for every line of `content` that `regex` matches, in order, until it returns
/// false. `regex` must be compiled in multi-line mode so `^`/`$` match at line boundaries.
pub fn for_each_matching_line(
    regex: &Regex,
    content: &[u8],
    mut found: impl FnMut(MatchedLine) -> bool,
) {
    let mut search_from = 0;
    let mut lines = LineNumbers::default();
    while search_from <= content.len() {
        let Some(found_match) = regex.find_at(content, search_from) else {
            return;
        };
        let line_start = memchr::memrchr(b'\n', &content[..found_match.start()])
            .map_or(0, |newline| newline + 1);
        if line_start == content.len() && (content.is_empty() || content.ends_with(b"\n")) {
            // An empty match after the final newline: there is no line there.
            return;
        }
        let line_end = memchr::memchr(b'\n', &content[found_match.start()..])
            .map_or(content.len(), |offset| found_match.start() + offset);
        // A match that runs past the end of its line does not count as such; the line matches
        // only if the regex matches within the line alone.
        let matches_line =
            found_match.end() <= line_end || regex.is_match(&content[line_start..line_end]);
        if matches_line && !found(lines.line(content, line_start, line_end)) {
            return;
        }
        search_from = line_end + 1;
    }
}

/// Byte ranges of every line in `content` (without newlines), for context extraction.
pub fn line_ranges(content: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', content) {
        ranges.push((start, newline));
        start = newline + 1;
    }
    if start < content.len() {
        ranges.push((start, content.len()));
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pattern: &str, content: &str) -> Vec<u64> {
        let regex = regex::bytes::RegexBuilder::new(pattern)
            .multi_line(true)
            .build()
            .unwrap();
        let mut out = Vec::new();
        for_each_matching_line(&regex, content.as_bytes(), |line| {
            out.push(line.number);
            true
        });
        out
    }

    #[test]
    fn grep_semantics() {
        assert_eq!(lines("b", "a\nb\nc\nb"), [2, 4]);
        assert_eq!(
            lines("^", "a\nb\n"),
            [1, 2],
            "no line after the final newline"
        );
        assert_eq!(lines("^", ""), Vec::<u64>::new());
        assert_eq!(lines("^$", "a\n\nb"), [2]);
        assert_eq!(lines("x*", "a\nb"), [1, 2]);
        // `\s` could cross the newline; grep semantics forbid it.
        assert_eq!(lines(r"a\s+b", "a\nb\na b"), [3]);
        // A cross-line match starting on line 1 must not hide line 2's own match.
        assert_eq!(lines(r"a[^z]*b", "a\nab"), [2]);
        assert_eq!(lines("b$", "ab\r\nab"), [2], "no CRLF magic, like grep");
    }

    #[test]
    fn ranges_cover_every_line() {
        assert_eq!(line_ranges(b"a\nbc\n"), [(0, 1), (2, 4)]);
        assert_eq!(line_ranges(b"a\nbc"), [(0, 1), (2, 4)]);
        assert_eq!(line_ranges(b""), []);
    }
}
