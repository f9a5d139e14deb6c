//! Settling stored contents: once the store has been quiet for a while after indexing, the
//! maintenance thread compresses the contents the indexer wrote again at a higher zstd level
//! (`index.settled_compression_level`), a batch per transaction, in id order, and moves each
//! to its settled key (its id with [`SETTLED_BIT`] set), so the settled contents fill the
//! end of the table leaf after leaf and the leaves they leave are freed whole. The first
//! index pass compresses fast so that a tree is searchable sooner; the level settled on
//! afterwards makes the store smaller and decompresses faster. A content's new form is kept
//! only when smaller and only after it decompressed back to the same bytes (else it moves
//! as it is). Contents are immutable under their id (ids are never given to another
//! content), so a batch compressed outside the transaction is still the right one if its
//! pieces are still there with the same length. How far settling has gone is one counter,
//! written in the same transaction as each batch: a crash loses at most the batch in flight.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::dictionary::DICTIONARY_BELOW;
use super::schema::{SETTLED_BIT, has_pieces, pieces_len, put_pieces, remove_pieces};
use super::*;

/// Counter (owned by the store-wide id) of the first content id not settled yet.
const SETTLED_BELOW: &str = "settled_below";

/// Compressed bytes read per batch: a few tens of milliseconds of compression, so a batch's
/// transaction never holds up a commit of the indexer for long.
const BATCH_BYTES: usize = 2 << 20;

/// How long the store must go without a commit (other than settling's own) before settling
/// begins: an indexing run commits far more often than this.
pub(super) const QUIET_BEFORE_SETTLING: Duration = Duration::from_secs(10);

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Contents looked at.
    pub contents: usize,
    /// Contents rewritten smaller.
    pub rewritten: usize,
    /// Compressed bytes before, of the contents looked at.
    pub bytes_before: u64,
    /// Compressed bytes after (the same as before for those not rewritten).
    pub bytes_after: u64,
}

/// The first content id not settled yet (past every id when the counter is out of range).
fn settled_below(counters: &impl ReadableTable<(u32, &'static str), u64>) -> Result<u32> {
    let below = counters
        .get((SHARED, SETTLED_BELOW))?
        .map(|value| value.value())
        .unwrap_or(0);
    Ok(u32::try_from(below).unwrap_or(u32::MAX))
}

impl Store {
    /// Sets the zstd level contents are settled to (0: never).
    pub fn set_settled_level(&self, level: i32) {
        self.settled_level.store(level, Ordering::SeqCst);
    }

    /// Whether contents are left to settle (settling on, and a content stored under its
    /// plain id at or past the settled counter). Errors count as nothing left.
    pub(super) fn settling_left(&self) -> bool {
        if self.settled_level.load(Ordering::SeqCst) <= 0 {
            return false;
        }
        let left = || -> Result<bool> {
            let txn = self.begin_read()?;
            let from = settled_below(&txn.open_table(COUNTERS)?)?;
            let blobs = txn.open_table(BLOBS)?;
            Ok(from < SETTLED_BIT && blobs.range((from, 0)..(SETTLED_BIT, 0))?.next().is_some())
        };
        left().unwrap_or(false)
    }

    /// Whether settling may run now: a level is set and no commit but settling's own came
    /// for [`QUIET_BEFORE_SETTLING`].
    pub(super) fn settling_due(&self) -> bool {
        // A store that cannot be written now says so in status; settling waits for it.
        if self.settled_level.load(Ordering::SeqCst) <= 0 || self.write_failure.lock().is_some() {
            return false;
        }
        let last = *self.last_commit.lock();
        *self.last_settling_commit.lock() == Some(last) || last.elapsed() >= QUIET_BEFORE_SETTLING
    }

    /// Settles the next batch of contents at the configured level; `None` when every
    /// content is settled (or settling is off).
    pub fn settle_batch(&self) -> Result<Option<Settled>> {
        self.settle_batch_of(BATCH_BYTES)
    }

    /// [`Store::settle_batch`], reading about `batch_bytes` of compressed contents.
    pub(super) fn settle_batch_of(&self, batch_bytes: usize) -> Result<Option<Settled>> {
        let level = self.settled_level.load(Ordering::SeqCst);
        if level <= 0 {
            return Ok(None);
        }
        let (from, batch) = {
            let txn = self.begin_read()?;
            let from = settled_below(&txn.open_table(COUNTERS)?)?;
            let blobs = txn.open_table(BLOBS)?;
            // Whole contents, pieces in key order, in one walk over the unsettled keys.
            let mut batch: Vec<(u32, Vec<u8>)> = Vec::new();
            let mut bytes = 0usize;
            for entry in blobs.range((from.min(SETTLED_BIT), 0)..(SETTLED_BIT, 0))? {
                let (key, piece) = entry?;
                let (id, _) = key.value();
                match batch.last_mut() {
                    Some((last, blob)) if *last == id => blob.extend_from_slice(piece.value()),
                    _ if bytes >= batch_bytes => break,
                    _ => batch.push((id, piece.value().to_vec())),
                }
                bytes += piece.value().len();
            }
            (from, batch)
        };
        if batch.is_empty() {
            return Ok(None);
        }
        let mut settled = Settled {
            contents: batch.len(),
            ..Settled::default()
        };
        let dictionary = self.settling_dictionary(level, from)?;
        let cannot =
            |err: std::io::Error| StoreError::Corrupt(format!("cannot settle contents: {err}"));
        let mut plain = zstd::bulk::Compressor::new(level).map_err(cannot)?;
        let mut with_dictionary = match &dictionary {
            Some(dictionary) => Some(
                zstd::bulk::Compressor::with_prepared_dictionary(&dictionary.encoder)
                    .map_err(cannot)?,
            ),
            None => None,
        };
        let decoders = self.decoders();
        // Compressed again outside any transaction (one per content of the batch, in its
        // order); a new form is kept only when smaller and exact.
        let again: Vec<Option<Vec<u8>>> = batch
            .iter()
            .map(|(_, blob)| {
                let raw = decoders.decompress(blob).ok()?;
                let again = match with_dictionary.as_mut() {
                    Some(compressor) if raw.len() < DICTIONARY_BELOW => compressor.compress(&raw),
                    _ => plain.compress(&raw),
                }
                .ok()?;
                let exact = again.len() < blob.len()
                    && decoders.decompress(&again).is_ok_and(|back| back == raw);
                exact.then_some(again)
            })
            .collect();
        drop((plain, with_dictionary));
        settled.bytes_before = batch.iter().map(|(_, blob)| blob.len() as u64).sum();
        settled.bytes_after = settled.bytes_before;
        let new_dictionary = dictionary.and_then(|dictionary| dictionary.new);
        let written =
            self.write_settled(from, &batch, &again, new_dictionary.as_ref(), &mut settled);
        if written.is_err() && new_dictionary.is_some() {
            // The dictionary was not stored: no later batch may use it.
            self.drop_settling_dictionary();
        }
        let committed = written?;
        *self.last_settling_commit.lock() = Some(committed);
        if settled.rewritten > 0 {
            self.compaction_wanted.store(true, Ordering::SeqCst);
        }
        Ok(Some(settled))
    }

    /// Writes a settled batch (and the dictionary it was first compressed with, if new) in
    /// one transaction; returns when it committed.
    fn write_settled(
        &self,
        from: u32,
        batch: &[(u32, Vec<u8>)],
        again: &[Option<Vec<u8>>],
        new_dictionary: Option<&(u32, Vec<u8>)>,
        settled: &mut Settled,
    ) -> Result<std::time::Instant> {
        let Some(&(last_id, _)) = batch.last() else {
            return Ok(std::time::Instant::now());
        };
        let txn = self.begin_write()?;
        if let Some((id, bytes)) = new_dictionary {
            self.store_dictionary(&txn, *id, bytes)?;
        }
        {
            let mut blobs = txn.open_table(BLOBS)?;
            // Each moved to its settled key, at the end of the table, in id order (the
            // leaves it leaves are freed whole), in its new form if it has one.
            for ((id, blob), again) in batch.iter().zip(again) {
                // Gone (its last reference dropped) or not as read: left alone.
                if !has_pieces(&blobs, *id)? || pieces_len(&blobs, *id)? != blob.len() as u64 {
                    continue;
                }
                remove_pieces(&mut blobs, *id)?;
                put_pieces(
                    &mut blobs,
                    *id | SETTLED_BIT,
                    again.as_deref().unwrap_or(blob),
                    &self.fills.settled,
                )?;
                if let Some(again) = again {
                    settled.rewritten += 1;
                    settled.bytes_after -= (blob.len() - again.len()) as u64;
                }
            }
            let mut counters = txn.open_table(COUNTERS)?;
            let below = u64::from(last_id) + 1;
            if below > u64::from(from) {
                counters.insert((SHARED, SETTLED_BELOW), below)?;
            }
        }
        self.commit_at(txn)
    }
}
