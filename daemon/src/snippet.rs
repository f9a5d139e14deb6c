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
    let text = String::from_utf8_lossy(content);
    let take = (end_line.saturating_sub(start_line) as usize + 1).min(max_lines);
    let mut out = String::new();
    for line in text
        .lines()
        .skip(start_line.saturating_sub(1) as usize)
        .take(take)
    {
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
}
