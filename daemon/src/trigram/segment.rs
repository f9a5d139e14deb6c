//! Immutable segments: a sorted trigram table and delta+varint-encoded postings, in one
//! contiguous byte buffer that is stored (zstd-compressed) as a single redb value and held in
//! memory for queries.
//!
//! Layout (little endian):
//!
//! ```text
//! "CSTG" version:u8 0 0 0   trigrams:u32   docs:u32   min_doc:u32   max_doc:u32
//! table:    trigrams × (trigram:u32, postings_offset:u32, postings_count:u32)
//! postings: per trigram, ascending doc ids as LEB128 varints of the gaps
//! ```

use rayon::prelude::*;

use super::extract::Trigram;

const MAGIC: &[u8; 4] = b"CSTG";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 24;
const ENTRY_LEN: usize = 12;

/// A segment that cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[error("corrupt trigram segment: {0}")]
pub struct SegmentError(pub String);

/// An immutable trigram segment.
#[derive(Debug, Clone)]
pub struct Segment {
    bytes: Vec<u8>,
    trigrams: usize,
    docs: u32,
    min_doc: u32,
    max_doc: u32,
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Sorts (trigram << 32 | doc) pairs by trigram, stably: two counting passes over the 24
/// trigram bits, 12 at a time (linear, where a comparison sort needs about 20 passes).
fn sort_by_trigram(pairs: &mut Vec<u64>) {
    const DIGIT_BITS: u32 = 12;
    const BUCKETS: usize = 1 << DIGIT_BITS;
    let mut sorted = vec![0u64; pairs.len()];
    for shift in [32, 32 + DIGIT_BITS] {
        let digit = |pair: u64| ((pair >> shift) as usize) & (BUCKETS - 1);
        let mut starts = vec![0usize; BUCKETS];
        for &pair in pairs.iter() {
            starts[digit(pair)] += 1;
        }
        let mut sum = 0;
        for start in &mut starts {
            let count = *start;
            *start = sum;
            sum += count;
        }
        for &pair in pairs.iter() {
            let bucket = &mut starts[digit(pair)];
            sorted[*bucket] = pair;
            *bucket += 1;
        }
        std::mem::swap(pairs, &mut sorted);
    }
}

impl Segment {
    /// Builds a segment from documents and their (sorted, distinct) trigrams.
    pub fn build(docs: &[(u32, Vec<Trigram>)]) -> Segment {
        let total: usize = docs.iter().map(|(_, trigrams)| trigrams.len()).sum();
        // (trigram, doc) pairs packed into u64s sort into exactly the table order.
        let mut pairs: Vec<u64> = Vec::with_capacity(total);
        for (doc, trigrams) in docs {
            pairs.extend(
                trigrams
                    .iter()
                    .map(|&trigram| (u64::from(trigram) << 32) | u64::from(*doc)),
            );
        }
        if docs.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            // Documents come in id order (they do from the indexer), so a stable sort by
            // trigram alone leaves each posting list in document order.
            sort_by_trigram(&mut pairs);
        } else if pairs.len() > 1 << 20 {
            pairs.par_sort_unstable();
        } else {
            pairs.sort_unstable();
        }
        pairs.dedup();
        let mut writer = Writer::default();
        let mut start = 0;
        while start < pairs.len() {
            let trigram = (pairs[start] >> 32) as Trigram;
            let end = start
                + pairs[start..]
                    .iter()
                    .position(|pair| (pair >> 32) as Trigram != trigram)
                    .unwrap_or(pairs.len() - start);
            writer.push(trigram, pairs[start..end].iter().map(|pair| *pair as u32));
            start = end;
        }
        let ids = docs.iter().map(|(doc, _)| *doc);
        writer.finish(
            docs.len() as u32,
            ids.clone().min().unwrap_or(0),
            ids.max().unwrap_or(0),
        )
    }

    /// Decodes a segment from its bytes, checking its structure.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Segment, SegmentError> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
            return Err(SegmentError("bad header".into()));
        }
        if bytes[4] != VERSION {
            return Err(SegmentError(format!("unknown version {}", bytes[4])));
        }
        let trigrams = read_u32(&bytes, 8) as usize;
        let docs = read_u32(&bytes, 12);
        let min_doc = read_u32(&bytes, 16);
        let max_doc = read_u32(&bytes, 20);
        let postings_start = HEADER_LEN + trigrams * ENTRY_LEN;
        if bytes.len() < postings_start {
            return Err(SegmentError("truncated table".into()));
        }
        let segment = Segment {
            bytes,
            trigrams,
            docs,
            min_doc,
            max_doc,
        };
        // Every postings list must lie inside the buffer: its offset, and its count too, as
        // each posting takes at least one byte (a damaged count would otherwise be believed
        // by `postings_into`, which reserves room for that many).
        let postings_len = segment.bytes.len() - postings_start;
        for index in 0..trigrams {
            let (_, offset, count) = segment.entry(index);
            if offset as usize > postings_len {
                return Err(SegmentError("postings offset out of range".into()));
            }
            if count as usize > postings_len - offset as usize {
                return Err(SegmentError(format!(
                    "trigram {index} claims {count} postings in {} bytes",
                    postings_len - offset as usize
                )));
            }
        }
        Ok(segment)
    }

    /// The encoded bytes (what is stored).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Documents indexed in this segment (live or not).
    pub fn docs(&self) -> u32 {
        self.docs
    }

    /// Distinct trigrams.
    pub fn trigram_count(&self) -> usize {
        self.trigrams
    }

    /// Smallest and largest document id.
    pub fn doc_range(&self) -> (u32, u32) {
        (self.min_doc, self.max_doc)
    }

    fn entry(&self, index: usize) -> (Trigram, u32, u32) {
        let at = HEADER_LEN + index * ENTRY_LEN;
        (
            read_u32(&self.bytes, at),
            read_u32(&self.bytes, at + 4),
            read_u32(&self.bytes, at + 8),
        )
    }

    fn find(&self, trigram: Trigram) -> Option<(u32, u32)> {
        let (mut low, mut high) = (0usize, self.trigrams);
        while low < high {
            let middle = (low + high) / 2;
            let (found, offset, count) = self.entry(middle);
            match found.cmp(&trigram) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some((offset, count)),
            }
        }
        None
    }

    /// How many documents contain `trigram` (0 if none).
    pub fn count(&self, trigram: Trigram) -> u32 {
        self.find(trigram).map_or(0, |(_, count)| count)
    }

    /// Appends the documents containing `trigram`, ascending, to `out`.
    pub fn postings_into(&self, trigram: Trigram, out: &mut Vec<u32>) {
        let Some((offset, count)) = self.find(trigram) else {
            return;
        };
        let postings_start = HEADER_LEN + self.trigrams * ENTRY_LEN;
        let mut at = postings_start + offset as usize;
        let mut previous = 0u32;
        out.reserve(count as usize);
        for index in 0..count {
            let mut value = 0u32;
            let mut shift = 0;
            // Structure was checked on load; a truncated varint ends the list early.
            while let Some(&byte) = self.bytes.get(at) {
                at += 1;
                value |= u32::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    break;
                }
                shift += 7;
                if shift > 28 {
                    break;
                }
            }
            previous = if index == 0 {
                value
            } else {
                previous.wrapping_add(value)
            };
            out.push(previous);
        }
    }

    /// Merges `segments` into one, keeping only the documents for which `live` holds.
    pub fn merge(segments: &[&Segment], live: &dyn Fn(u32) -> bool) -> Segment {
        // A k-way merge over the sorted tables; postings of one trigram are gathered into
        // one reused buffer, so memory stays at the size of the output.
        let mut positions = vec![0usize; segments.len()];
        let mut writer = Writer::default();
        let mut postings = Vec::new();
        let (mut min_doc, mut max_doc) = (u32::MAX, 0u32);
        let mut live_docs = std::collections::HashSet::new();
        loop {
            let next = segments
                .iter()
                .zip(&positions)
                .filter(|(segment, position)| **position < segment.trigrams)
                .map(|(segment, position)| segment.entry(*position).0)
                .min();
            let Some(trigram) = next else { break };
            postings.clear();
            for (segment, position) in segments.iter().zip(positions.iter_mut()) {
                if *position < segment.trigrams && segment.entry(*position).0 == trigram {
                    segment.postings_into(trigram, &mut postings);
                    *position += 1;
                }
            }
            postings.retain(|&doc| live(doc));
            if postings.is_empty() {
                continue;
            }
            postings.sort_unstable();
            postings.dedup();
            for &doc in &postings {
                min_doc = min_doc.min(doc);
                max_doc = max_doc.max(doc);
                live_docs.insert(doc);
            }
            writer.push(trigram, postings.iter().copied());
        }
        if live_docs.is_empty() {
            min_doc = 0;
        }
        writer.finish(live_docs.len() as u32, min_doc, max_doc)
    }
}

/// Accumulates a segment's table and postings in order.
#[derive(Default)]
struct Writer {
    entries: Vec<u8>,
    postings: Vec<u8>,
    trigrams: usize,
}

impl Writer {
    /// Appends one trigram with its ascending documents.
    fn push(&mut self, trigram: Trigram, docs: impl Iterator<Item = u32>) {
        let offset = self.postings.len() as u32;
        let mut count = 0u32;
        let mut previous = 0u32;
        for doc in docs {
            let gap = if count == 0 { doc } else { doc - previous };
            crate::codec::push_varint(&mut self.postings, u64::from(gap));
            previous = doc;
            count += 1;
        }
        self.entries.extend_from_slice(&trigram.to_le_bytes());
        self.entries.extend_from_slice(&offset.to_le_bytes());
        self.entries.extend_from_slice(&count.to_le_bytes());
        self.trigrams += 1;
    }

    fn finish(self, docs: u32, min_doc: u32, max_doc: u32) -> Segment {
        let mut bytes = Vec::with_capacity(HEADER_LEN + self.entries.len() + self.postings.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&[VERSION, 0, 0, 0]);
        bytes.extend_from_slice(&(self.trigrams as u32).to_le_bytes());
        bytes.extend_from_slice(&docs.to_le_bytes());
        bytes.extend_from_slice(&min_doc.to_le_bytes());
        bytes.extend_from_slice(&max_doc.to_le_bytes());
        bytes.extend_from_slice(&self.entries);
        bytes.extend_from_slice(&self.postings);
        Segment {
            bytes,
            trigrams: self.trigrams,
            docs,
            min_doc,
            max_doc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigram::extract::trigrams;

    #[test]
    fn build_lookup_round_trip_and_merge() {
        let docs = vec![
            (1, trigrams(b"hello world")),
            (2, trigrams(b"yellow")),
            (300, trigrams(b"hello again")),
        ];
        let segment = Segment::build(&docs);
        let ell = crate::trigram::extract::pack(b'e', b'l', b'l');
        let mut found = Vec::new();
        segment.postings_into(ell, &mut found);
        assert_eq!(found, [1, 2, 300]);
        assert_eq!(segment.count(ell), 3);
        assert_eq!(
            segment.count(crate::trigram::extract::pack(b'z', b'z', b'z')),
            0
        );

        let reloaded = Segment::from_bytes(segment.bytes().to_vec()).unwrap();
        let mut again = Vec::new();
        reloaded.postings_into(ell, &mut again);
        assert_eq!(again, found);
        assert!(Segment::from_bytes(b"nonsense".to_vec()).is_err());

        let other = Segment::build(&[(400, trigrams(b"shell"))]);
        let merged = Segment::merge(&[&segment, &other], &|doc| doc != 2);
        let mut merged_postings = Vec::new();
        merged.postings_into(ell, &mut merged_postings);
        assert_eq!(merged_postings, [1, 300, 400]);
        let yel = crate::trigram::extract::pack(b'y', b'e', b'l');
        assert_eq!(merged.count(yel), 0, "dead documents are dropped");
    }

    #[test]
    fn the_linear_sort_orders_pairs_as_a_full_sort_does() {
        // Documents in id order, trigrams spread over all 24 bits (xorshift).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut docs: Vec<(u32, Vec<Trigram>)> = Vec::new();
        for doc in (3..400u32).step_by(3) {
            let mut trigrams: Vec<Trigram> = (0..50)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state as u32) & 0x00FF_FFFF
                })
                .collect();
            trigrams.sort_unstable();
            trigrams.dedup();
            docs.push((doc, trigrams));
        }
        let mut pairs: Vec<u64> = docs
            .iter()
            .flat_map(|(doc, trigrams)| {
                trigrams
                    .iter()
                    .map(move |&trigram| (u64::from(trigram) << 32) | u64::from(*doc))
            })
            .collect();
        let mut expected = pairs.clone();
        expected.sort_unstable();
        sort_by_trigram(&mut pairs);
        assert_eq!(pairs, expected);
        // Out of id order, the build sorts fully: the same segment either way.
        let mut shuffled = docs.clone();
        shuffled.reverse();
        assert_eq!(
            Segment::build(&docs).bytes(),
            Segment::build(&shuffled).bytes()
        );
    }
}
