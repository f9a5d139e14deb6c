//! zstd dictionaries for settled contents. Most source files are a few KiB, too small for
//! zstd to learn their language's common words from the file alone; a dictionary trained on
//! a sample of the store's own contents gives it those words up front (benchmark corpus:
//! settled contents 53.3 → 48.6 MB at level 7, the dictionary used for those under 16 KiB).
//! Settling (see [`super::settle`]) trains one the first time it has enough contents to
//! learn from and compresses every content it settles that is under 16 KiB with it (larger
//! ones gain little and would decompress slower). A frame names the dictionary it needs in
//! its header (zstd's dictionary id), so readers need no flag of their own: every
//! dictionary the store holds is loaded when it opens and kept in memory, decoded, for its
//! lifetime. Dictionaries are stored in pieces like contents, keyed by their id, and never
//! removed (a few hundred KiB; a content settled with one may live as long as the store).

use std::sync::atomic::Ordering;

use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::schema::{LeafFill, put_pieces, with_pieces};
use super::*;

/// Dictionaries by (dictionary id, piece).
pub(super) const DICTIONARIES: TableDefinition<(u32, u32), &[u8]> =
    TableDefinition::new("content_dictionaries");

/// META key of the id of the dictionary settling compresses with.
const CURRENT_KEY: &str = "content_dictionary";

/// Compressed bytes of unsettled contents below which no dictionary is trained: a small
/// store would spend more on the dictionary than it saves with it.
const TRAIN_FROM_BYTES: u64 = 8 << 20;

/// The largest dictionary trained (zstd's guidance: about a hundredth of the samples; the
/// samples are [`SAMPLES_PER_DICTIONARY_BYTE`] times its size). On the benchmark corpus 512
/// KiB saved 1.2 MiB more than 256 KiB and 2.3 MiB more than 112 KiB.
const LARGEST_DICTIONARY: usize = 512 << 10;

/// Contents this long or longer (decompressed) are settled without the dictionary: it saves
/// them little and slows their decompression. Benchmark corpus, level 7, a 512 KiB
/// dictionary against none (size saved; decompression time): under 4 KiB 33%, 15% faster;
/// 4–16 KiB 22%, 9% slower; 16–64 KiB 12%, 16% slower; from 64 KiB 7%, 30% slower. Below
/// 16 KiB, the contents decompress as fast as without a dictionary in all, and the store
/// keeps three fifths of what the dictionary saves.
pub(super) const DICTIONARY_BELOW: usize = 16 << 10;

/// How many bytes of samples (decompressed contents) a dictionary is trained from per byte
/// of its size: 32 MiB for the largest, a few seconds of one core.
const SAMPLES_PER_DICTIONARY_BYTE: usize = 64;

/// The dictionaries a store holds, decoded, by id: readers take a clone of the map (a new
/// dictionary replaces the map; it is added before the first content that needs it is
/// committed).
pub(super) struct Dictionaries {
    decoders: parking_lot::RwLock<Arc<HashMap<u32, Arc<DecoderDictionary<'static>>>>>,
    /// What the current settling pass compresses with, decided by its first batch (`None`:
    /// not decided yet; forgotten at the end of each pass).
    decision: parking_lot::Mutex<Option<Decision>>,
    /// Training was attempted in this process and failed: not tried again until the next
    /// start.
    training_failed: std::sync::atomic::AtomicBool,
    /// Compressed bytes of unsettled contents from which a dictionary is trained
    /// ([`TRAIN_FROM_BYTES`]; lower in tests).
    threshold: std::sync::atomic::AtomicU64,
}

impl Default for Dictionaries {
    fn default() -> Self {
        Dictionaries {
            decoders: Default::default(),
            decision: Default::default(),
            training_failed: Default::default(),
            threshold: std::sync::atomic::AtomicU64::new(TRAIN_FROM_BYTES),
        }
    }
}

/// What a settling pass compresses with at `level`: a dictionary prepared for it (zstd's
/// tables for the level besides a copy of the dictionary), or none.
struct Decision {
    level: i32,
    dictionary: Option<Arc<EncoderDictionary<'static>>>,
}

/// What settling compresses a batch with.
pub(super) struct SettlingDictionary {
    /// The dictionary, prepared for the settled level.
    pub(super) encoder: Arc<EncoderDictionary<'static>>,
    /// Its bytes when it was trained just now: stored with the batch that first uses it.
    pub(super) new: Option<(u32, Vec<u8>)>,
}

/// The decoded dictionaries of one moment: what a [`Snapshot`] decompresses with.
#[derive(Clone, Default)]
pub struct DecoderSet(Arc<HashMap<u32, Arc<DecoderDictionary<'static>>>>);

impl DecoderSet {
    /// Decompresses a stored content, with the dictionary its frame names if it names one.
    pub fn decompress(&self, blob: &[u8]) -> std::io::Result<Vec<u8>> {
        match zstd::zstd_safe::get_dict_id_from_frame(blob) {
            None => crate::codec::decompress(blob),
            Some(id) => {
                let dictionary = self.0.get(&id.get()).ok_or_else(|| {
                    std::io::Error::other(format!(
                        "it was compressed with dictionary {id}, which the store does not hold"
                    ))
                })?;
                crate::codec::decompress_with(blob, Some(dictionary.as_ddict()))
            }
        }
    }
}

impl Dictionaries {
    /// The dictionaries loaded now.
    pub(super) fn decoders(&self) -> DecoderSet {
        DecoderSet(Arc::clone(&self.decoders.read()))
    }

    /// Makes `bytes` (dictionary `id`) usable by readers.
    fn add_decoder(&self, id: u32, bytes: &[u8]) {
        let mut decoders = self.decoders.write();
        let mut map = HashMap::clone(&decoders);
        map.insert(id, Arc::new(DecoderDictionary::copy(bytes)));
        *decoders = Arc::new(map);
    }
}

/// Every dictionary stored in `table`, by id (a damaged one is left out: the contents that
/// need it fail to decompress, and `check` reports it).
fn stored_dictionaries(
    table: &impl ReadableTable<(u32, u32), &'static [u8]>,
) -> Result<Vec<(u32, Vec<u8>)>> {
    let mut ids = Vec::new();
    for entry in table.iter()? {
        let (id, piece) = entry?.0.value();
        if piece == 0 {
            ids.push(id);
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(bytes) = with_pieces(table, id, |bytes| Ok(bytes.to_vec()))? {
            out.push((id, bytes));
        }
    }
    Ok(out)
}

/// Why a stored dictionary cannot be used, if it cannot.
pub(super) fn dictionary_problem(id: u32, bytes: &[u8]) -> Option<String> {
    match zstd::zstd_safe::get_dict_id_from_dict(bytes) {
        Some(found) if found.get() == id => None,
        Some(found) => Some(format!("dictionary {id} holds the id {found}")),
        None => Some(format!("dictionary {id} is not a zstd dictionary")),
    }
}

/// A dictionary trained on `samples`, at most `max_size` bytes, with its id (`None` when
/// zstd could not train one from them: too few, too small or too alike).
fn train(samples: &[Vec<u8>], max_size: usize) -> Option<(u32, Vec<u8>)> {
    let dictionary = zstd::dict::from_samples(samples, max_size)
        .map_err(|err| tracing::info!(error = %err, "no dictionary for settled contents"))
        .ok()?;
    let id = zstd::zstd_safe::get_dict_id_from_dict(&dictionary)?.get();
    Some((id, dictionary))
}

impl Store {
    /// Loads the stored dictionaries (when the store opens).
    pub(super) fn load_dictionaries(&self) -> Result<()> {
        let txn = self.begin_read()?;
        for (id, bytes) in stored_dictionaries(&txn.open_table(DICTIONARIES)?)? {
            match dictionary_problem(id, &bytes) {
                None => self.dictionaries.add_decoder(id, &bytes),
                Some(problem) => tracing::warn!(problem, "a stored dictionary is damaged"),
            }
        }
        Ok(())
    }

    /// The dictionaries to decompress contents with.
    pub(super) fn decoders(&self) -> DecoderSet {
        self.dictionaries.decoders()
    }

    /// The dictionary settling compresses with at `level`: the store's current one, or one
    /// trained now on a sample of the unsettled contents from id `from` on. `None`: settle
    /// without one. Decided once per pass (the later batches reuse the decision).
    pub(super) fn settling_dictionary(
        &self,
        level: i32,
        from: u32,
    ) -> Result<Option<SettlingDictionary>> {
        let mut decision = self.dictionaries.decision.lock();
        if let Some(decided) = decision.as_ref().filter(|decided| decided.level == level) {
            return Ok(decided
                .dictionary
                .as_ref()
                .map(|dictionary| SettlingDictionary {
                    encoder: Arc::clone(dictionary),
                    new: None,
                }));
        }
        let chosen = self.choose_dictionary(from)?;
        let dictionary = chosen.as_ref().map(|(id, bytes, _)| {
            // Readers can use it before any content that needs it is committed.
            self.dictionaries.add_decoder(*id, bytes);
            Arc::new(EncoderDictionary::copy(bytes, level))
        });
        *decision = Some(Decision {
            level,
            dictionary: dictionary.clone(),
        });
        Ok(dictionary.map(|encoder| SettlingDictionary {
            encoder,
            new: chosen.and_then(|(id, bytes, new)| new.then_some((id, bytes))),
        }))
    }

    /// The store's current dictionary (id, bytes, `false`), or one trained now on the
    /// unsettled contents from id `from` on (`true`); `None` when the current one is damaged
    /// or there is none and none can be trained.
    fn choose_dictionary(&self, from: u32) -> Result<Option<(u32, Vec<u8>, bool)>> {
        let stored = {
            let txn = self.begin_read()?;
            let current = txn
                .open_table(META)?
                .get(CURRENT_KEY)?
                .map(|value| decode_u32(value.value()))
                .transpose()?;
            match current {
                Some(id) => with_pieces(&txn.open_table(DICTIONARIES)?, id, |bytes| {
                    Ok((id, bytes.to_vec()))
                })?,
                None => None,
            }
        };
        if let Some((id, bytes)) = stored {
            // A damaged current dictionary: contents are settled without one.
            return Ok(dictionary_problem(id, &bytes)
                .is_none()
                .then_some((id, bytes, false)));
        }
        if self.dictionaries.training_failed.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let Some(samples) = self.dictionary_samples(from)? else {
            return Ok(None);
        };
        let sampled: usize = samples.iter().map(Vec::len).sum();
        let size = (sampled / SAMPLES_PER_DICTIONARY_BYTE).min(LARGEST_DICTIONARY);
        let started = std::time::Instant::now();
        let Some((id, bytes)) = train(&samples, size) else {
            self.dictionaries
                .training_failed
                .store(true, Ordering::SeqCst);
            return Ok(None);
        };
        tracing::info!(
            id,
            bytes = bytes.len(),
            samples = samples.len(),
            sampled,
            ms = started.elapsed().as_millis() as u64,
            "trained a dictionary for settled contents"
        );
        Ok(Some((id, bytes, true)))
    }

    /// Decompressed contents to train a dictionary from: an even spread over the unsettled
    /// contents from id `from` on that are under [`DICTIONARY_BELOW`], about [`SAMPLES_PER_DICTIONARY_BYTE`] ×
    /// [`LARGEST_DICTIONARY`] bytes in all; `None` when those contents are fewer than
    /// [`TRAIN_FROM_BYTES`] compressed.
    fn dictionary_samples(&self, from: u32) -> Result<Option<Vec<Vec<u8>>>> {
        let threshold = self.dictionaries.threshold.load(Ordering::SeqCst);
        let txn = self.begin_read()?;
        let blobs = txn.open_table(BLOBS)?;
        // (id, compressed length, decompressed length as its frame states it).
        let mut sizes: Vec<(u32, u64, u64)> = Vec::new();
        for entry in blobs.range((from.min(SETTLED_BIT), 0)..(SETTLED_BIT, 0))? {
            let (key, piece) = entry?;
            let (id, _) = key.value();
            let len = piece.value().len() as u64;
            match sizes.last_mut() {
                Some((last, total, _)) if *last == id => *total += len,
                _ => {
                    let raw = zstd::zstd_safe::get_frame_content_size(piece.value())
                        .ok()
                        .flatten()
                        .unwrap_or(u64::MAX);
                    sizes.push((id, len, raw));
                }
            }
        }
        let compressed: u64 = sizes.iter().map(|&(_, len, _)| len).sum();
        if compressed < threshold {
            return Ok(None);
        }
        // Learnt from the contents it will be used for, an even spread of them.
        sizes.retain(|&(_, _, raw)| raw > 0 && raw < DICTIONARY_BELOW as u64);
        let small: u64 = sizes.iter().map(|&(_, _, raw)| raw).sum();
        let wanted = (SAMPLES_PER_DICTIONARY_BYTE * LARGEST_DICTIONARY) as u64;
        let step = small.div_ceil(wanted).max(1) as usize;
        let decoders = self.decoders();
        let mut samples = Vec::new();
        let mut sampled = 0u64;
        for &(id, _, _) in sizes.iter().step_by(step) {
            if sampled >= wanted {
                break;
            }
            let content = with_pieces(&blobs, id, |blob| {
                decoders
                    .decompress(blob)
                    .map_err(|err| StoreError::Corrupt(format!("content id {id}: {err}")))
            })?;
            if let Some(content) =
                content.filter(|content| !content.is_empty() && content.len() < DICTIONARY_BELOW)
            {
                sampled += content.len() as u64;
                samples.push(content);
            }
        }
        Ok(Some(samples))
    }

    /// Writes dictionary `id` (`bytes`) and makes it the one settling compresses with, in
    /// `txn` (with the first batch compressed with it).
    pub(super) fn store_dictionary(
        &self,
        txn: &redb::WriteTransaction,
        id: u32,
        bytes: &[u8],
    ) -> Result<()> {
        let mut table = txn.open_table(DICTIONARIES)?;
        if !schema::has_pieces(&table, id)? {
            put_pieces(&mut table, id, bytes, &LeafFill::default())?;
        }
        txn.open_table(META)?
            .insert(CURRENT_KEY, id.to_le_bytes().as_slice())?;
        Ok(())
    }

    /// Trains a dictionary from `bytes` of unsettled compressed contents on (tests use
    /// small stores).
    #[cfg(test)]
    pub(super) fn set_dictionary_threshold(&self, bytes: u64) {
        self.dictionaries.threshold.store(bytes, Ordering::SeqCst);
    }

    /// Forgets the pass's decision and drops its prepared dictionary (settling is done for
    /// now), or, when a commit that was to store a new dictionary failed, forgets it so the
    /// next pass trains again.
    pub(super) fn drop_settling_dictionary(&self) {
        *self.dictionaries.decision.lock() = None;
    }
}

/// The dictionaries stored in `txn`'s state, decoded (for `check`, which reads the file, not
/// what was loaded), with what is wrong with any that cannot be used.
pub(super) fn stored_decoders(txn: &ReadTransaction) -> Result<(DecoderSet, Vec<String>)> {
    let mut decoders = HashMap::new();
    let mut problems = Vec::new();
    for (id, bytes) in stored_dictionaries(&txn.open_table(DICTIONARIES)?)? {
        match dictionary_problem(id, &bytes) {
            None => {
                decoders.insert(id, Arc::new(DecoderDictionary::copy(&bytes)));
            }
            Some(problem) => problems.push(problem),
        }
    }
    Ok((DecoderSet(Arc::new(decoders)), problems))
}
