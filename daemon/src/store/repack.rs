//! Repacking tables whose keys arrive in no order: file records (keyed by path, written by
//! parallel indexing threads in the order they finish), content reference counts and content
//! ids (keyed by hash). redb splits a full leaf in two halves when a key lands inside it, so
//! such tables end up with leaves about two thirds full (benchmark corpus: 38% of the file
//! records table and a third of the two hash tables unused). Once the store is quiet the
//! maintenance thread rewrites such a table in key order in one transaction: appended in
//! order, redb fills each leaf before it starts the next, and the compaction that follows
//! gives the freed pages back.

use super::*;

/// A table is repacked when at least this share of its leaf bytes is unused…
const UNUSED_SHARE: f64 = 0.25;

/// …and it stores at least this much (smaller tables are not worth a transaction).
const SMALLEST: u64 = 256 << 10;

/// Tables larger than this are left alone: the rewrite holds the whole table in memory.
const LARGEST: u64 = 64 << 20;

/// Whether `table` has enough unused leaf space to be repacked.
fn wants_repacking(table: &impl ReadableTableMetadata) -> Result<bool> {
    let stats = table.stats()?;
    let stored = stats.stored_bytes();
    let unused = stats.fragmented_bytes();
    let total = stored + unused;
    Ok((SMALLEST..=LARGEST).contains(&stored) && unused as f64 >= total as f64 * UNUSED_SHARE)
}

/// Rewrites `definition`'s table in key order (every entry taken out and put back, in one
/// transaction) if it wants it; returns whether it did.
fn repack<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::WriteTransaction,
    definition: TableDefinition<K, V>,
) -> Result<bool> {
    let mut table = txn.open_table(definition)?;
    if !wants_repacking(&table)? {
        return Ok(false);
    }
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        entries.push((
            K::as_bytes(&key.value()).as_ref().to_vec(),
            V::as_bytes(&value.value()).as_ref().to_vec(),
        ));
    }
    table.retain(|_, _| false)?;
    for (key, value) in &entries {
        table.insert(K::from_bytes(key), V::from_bytes(value))?;
    }
    Ok(true)
}

impl Store {
    /// Whether the tables are due a look: the store has been quiet for
    /// [`super::settle::QUIET_BEFORE_SETTLING`] since a commit they have not been looked at
    /// after.
    pub(super) fn repacking_due(&self) -> bool {
        if self.write_failure.lock().is_some() {
            return false;
        }
        let last = *self.last_commit.lock();
        *self.repack_checked.lock() != Some(last)
            && last.elapsed() >= super::settle::QUIET_BEFORE_SETTLING
    }

    /// Repacks the tables written in no key order that have a quarter or more of their leaf
    /// space unused, all in one transaction; returns the names of those it repacked.
    pub(super) fn repack_tables(&self) -> Result<Vec<&'static str>> {
        *self.repack_checked.lock() = Some(*self.last_commit.lock());
        let txn = self.begin_write()?;
        let mut repacked = Vec::new();
        if repack(&txn, FILES)? {
            repacked.push("file records");
        }
        if repack(&txn, BLOB_REFS)? {
            repacked.push("content references");
        }
        if repack(&txn, CONTENT_IDS)? {
            repacked.push("content ids");
        }
        if repacked.is_empty() {
            txn.abort()?;
            return Ok(repacked);
        }
        let committed = self.commit_at(txn)?;
        // Not a change of the index: settling need not wait for it, and the tables need no
        // other look until the next commit.
        *self.last_settling_commit.lock() = Some(committed);
        *self.repack_checked.lock() = Some(committed);
        self.compaction_wanted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(repacked)
    }
}
