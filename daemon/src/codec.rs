//! Small byte codecs for compact stored records: LEB128 varints, zigzag for signed deltas,
//! a bounds-checked reader that never panics or over-allocates on damaged bytes, and zstd
//! decompression with one context per thread.

/// Appends `value` as a LEB128 varint (7 bits per byte, low bits first).
pub fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// `value` mapped so small magnitudes of either sign make small varints.
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Reads what the functions above wrote; every read is checked (`None` when the bytes end
/// early or a varint is longer than a `u64`).
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// The next byte.
    pub fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    /// The next two bytes as a little-endian `u16`.
    pub fn u16_le(&mut self) -> Option<u16> {
        let (head, rest) = self.bytes.split_first_chunk::<2>()?;
        self.bytes = rest;
        Some(u16::from_le_bytes(*head))
    }

    /// The next four bytes as a little-endian `u32`.
    pub fn u32_le(&mut self) -> Option<u32> {
        let (head, rest) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = rest;
        Some(u32::from_le_bytes(*head))
    }

    /// The next varint.
    pub fn varint(&mut self) -> Option<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The next varint, if it fits a `u32`.
    pub fn varint_u32(&mut self) -> Option<u32> {
        u32::try_from(self.varint()?).ok()
    }

    /// A count of items each at least `min_bytes` long: refused when the bytes left could not
    /// hold that many, so a damaged count never allocates more than the input justifies.
    pub fn count(&mut self, min_bytes: usize) -> Option<usize> {
        let count = usize::try_from(self.varint()?).ok()?;
        (count.checked_mul(min_bytes.max(1))? <= self.remaining()).then_some(count)
    }
}

/// zstd level for the records the daemon stores besides file contents: symbols with their
/// clone fingerprints (compressed by the parse pass, after the text is searchable) and
/// trigram segments. On the benchmark corpus, against level 3 (1 for segments): the
/// `symbols` table 62.6 → 60.5 MiB, segments 19.8 → 18.8 MiB. Contents keep
/// `index.compression_level` (3 by default): at 7 they took 4.9 MiB less and decompressed
/// faster, but the first pass over a tree (every file searchable) took a third longer.
pub const ZSTD_LEVEL: i32 = 7;

/// zstd level for a file's content when the store compresses it itself (the indexer
/// compresses at `index.compression_level`, whose default this is).
pub const CONTENT_LEVEL: i32 = 3;

/// A frame claiming more than this is decompressed as a stream (no buffer of the claimed size
/// is reserved for it): larger than any record or file the indexer stores.
const LARGEST_FRAME: u64 = 256 << 20;

/// Decompresses one zstd frame (a stored content or symbols record). Searches decompress
/// thousands of contents per query, and a root's first code-health report every file's
/// symbols: each thread keeps one decompression context, and the output is allocated once at
/// the size the frame states (the stream decoder makes a context per call and grows its
/// buffer).
pub fn decompress(blob: &[u8]) -> std::io::Result<Vec<u8>> {
    decompress_with(blob, None)
}

/// [`decompress`] for a frame that may have been compressed with `dictionary` (a frame made
/// with another dictionary, or with one when `dictionary` is `None`, is an error).
pub fn decompress_with(
    blob: &[u8],
    dictionary: Option<&zstd::zstd_safe::DDict<'_>>,
) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static CONTEXT: std::cell::RefCell<Option<zstd::zstd_safe::DCtx<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    let size = match zstd::zstd_safe::get_frame_content_size(blob) {
        Ok(Some(size)) if size <= LARGEST_FRAME => size as usize,
        _ if dictionary.is_none() => return zstd::stream::decode_all(blob),
        _ => {
            return Err(std::io::Error::other(
                "a frame made with a dictionary does not state its size",
            ));
        }
    };
    CONTEXT.with(|cell| {
        let mut cell = cell.borrow_mut();
        let context = match cell.as_mut() {
            Some(context) => context,
            None => cell.insert(
                zstd::zstd_safe::DCtx::try_create()
                    .ok_or_else(|| std::io::Error::other("zstd: out of memory"))?,
            ),
        };
        let mut out = Vec::with_capacity(size);
        match dictionary {
            Some(dictionary) => context.decompress_using_ddict(&mut out, blob, dictionary),
            None => context.decompress(&mut out, blob),
        }
        .map_err(|code| std::io::Error::other(zstd::zstd_safe::get_error_name(code)))?;
        if out.len() != size {
            return Err(std::io::Error::other(format!(
                "the frame says {size} bytes but holds {}",
                out.len()
            )));
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip_at_the_edges() {
        let values = [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        let mut bytes = Vec::new();
        for &value in &values {
            push_varint(&mut bytes, value);
        }
        let mut reader = Reader::new(&bytes);
        for &value in &values {
            assert_eq!(reader.varint(), Some(value));
        }
        assert_eq!(reader.remaining(), 0);
        assert_eq!(reader.varint(), None);
        for value in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn damaged_bytes_are_refused_not_trusted() {
        // Eleven continuation bytes: longer than any u64.
        assert_eq!(Reader::new(&[0xff; 11]).varint(), None);
        // A varint cut short.
        assert_eq!(Reader::new(&[0x80]).varint(), None);
        // A count of a million four-byte items in a handful of bytes.
        let mut bytes = Vec::new();
        push_varint(&mut bytes, 1_000_000);
        bytes.extend_from_slice(&[0; 8]);
        assert_eq!(Reader::new(&bytes).count(4), None);
        let mut bytes = Vec::new();
        push_varint(&mut bytes, 2);
        bytes.extend_from_slice(&[0; 8]);
        assert_eq!(Reader::new(&bytes).count(4), Some(2));
        assert_eq!(Reader::new(&[1, 2, 3]).u32_le(), None);
        let mut bytes = Vec::new();
        push_varint(&mut bytes, u64::from(u32::MAX) + 1);
        assert_eq!(Reader::new(&bytes).varint_u32(), None);
    }
}
