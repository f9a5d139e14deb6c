//! Extracting the distinct trigrams of a file's content.

/// A trigram packed into the low 24 bits of a `u32`.
pub type Trigram = u32;

/// Packs three bytes into a trigram.
pub fn pack(a: u8, b: u8, c: u8) -> Trigram {
    (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c)
}

/// The distinct trigrams of `content`, sorted, leaving out those that contain `\n`.
pub fn trigrams(content: &[u8]) -> Vec<Trigram> {
    if content.len() < 3 {
        return Vec::new();
    }
    // A bitmap over the 2^24 possible trigrams would be 2 MiB per call; a sort of the
    // (mostly repeated) trigram stream is cheaper for typical source files.
    let mut all: Vec<Trigram> = content
        .windows(3)
        .filter(|window| !window.contains(&b'\n'))
        .map(|window| pack(window[0], window[1], window[2]))
        .collect();
    all.sort_unstable();
    all.dedup();
    all.shrink_to_fit();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_sorted_and_no_newlines() {
        let found = trigrams(b"abcab\nabc");
        assert_eq!(
            found,
            vec![
                pack(b'a', b'b', b'c'),
                pack(b'b', b'c', b'a'),
                pack(b'c', b'a', b'b')
            ]
        );
        assert!(trigrams(b"ab").is_empty());
        assert!(trigrams(b"a\nb\nc").is_empty());
    }
}
