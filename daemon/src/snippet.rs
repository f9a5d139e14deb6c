//! Short excerpts of a file's lines for answers: the first lines of a range, each cut to a
//! readable length.

/// Up to `max_lines` lines of `content` from `start_line` to `end_line` (1-based,
/// inclusive), each cut at `max_chars` characters (marked with `…`).
pub fn lines(
    content: &[u8],
    start_line: u32,
    end_line: u32,
    max_lines: usize,
    max_chars: usize,
) -> String {
    let take = (end_line.saturating_sub(start_line) as usize + 1).min(max_lines);
    if take == 0 {
        return String::new();
    }
    // Only the lines shown are decoded: a snippet of a large file is taken often (one per
    // clone class), and decoding the whole file each time showed in profiles.
    let skip = start_line.saturating_sub(1) as usize;
    let begin = match skip.checked_sub(1) {
        None => 0,
        Some(newline) => match memchr::memchr_iter(b'\n', content).nth(newline) {
            Some(at) => at + 1,
            None => return String::new(),
        },
    };
    let rest = &content[begin..];
    let end = memchr::memchr_iter(b'\n', rest)
        .nth(take - 1)
        .map_or(rest.len(), |at| at + 1);
    let text = String::from_utf8_lossy(&rest[..end]);
    let mut out = String::new();
    for line in text.lines().take(take) {
        if !out.is_empty() {
            out.push('\n');
        }
        if line.chars().count() > max_chars {
            out.extend(line.chars().take(max_chars));
            out.push('…');
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_lines_cut_short() {
        let content = b"one\ntwo two two\nthree\nfour\n";
        assert_eq!(super::lines(content, 2, 4, 2, 5), "two t…\nthree");
        assert_eq!(super::lines(content, 4, 4, 8, 80), "four");
        assert_eq!(super::lines(content, 9, 12, 8, 80), "");
    }

    /// What decoding the whole file and skipping lines gave (the earlier implementation).
    fn whole_file(content: &[u8], start: u32, end: u32, max_lines: usize) -> String {
        let text = String::from_utf8_lossy(content);
        let take = (end.saturating_sub(start) as usize + 1).min(max_lines);
        let mut out = String::new();
        for line in text
            .lines()
            .skip(start.saturating_sub(1) as usize)
            .take(take)
        {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
        out
    }

    #[test]
    fn decoding_only_the_lines_shown_gives_the_same_text() {
        let contents: [&[u8]; 5] = [
            b"one\r\ntwo\r\nthree",
            b"a\nb\n\n\nc\n",
            b"\xff\xfe bad\nok\n\xc3\xa9t\xc3\xa9\nlast",
            b"",
            b"no newline at all",
        ];
        for content in contents {
            for start in 0..7 {
                for end in start..8 {
                    for max_lines in [0, 1, 2, 8] {
                        assert_eq!(
                            super::lines(content, start, end, max_lines, 1000),
                            whole_file(content, start, end, max_lines),
                            "{content:?} {start}-{end} max {max_lines}"
                        );
                    }
                }
            }
        }
    }
}
