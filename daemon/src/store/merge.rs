//! Keeping the store small: the background thread that merges the store's trigram segments
//! when a size tier fills up or when most of a segment's contents are dead (a root forgotten,
//! files edited), dropping the contents no root holds, and compacts the file once the store
//! has been idle for a moment.

use super::*;

/// Segments are merged once a size tier holds this many of them.
pub(super) const MERGE_FANOUT: usize = 4;

/// What compacting the store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compaction {
    /// Pages were given back.
    Done,
    /// There was nothing to give back.
    NothingToDo,
    /// A transaction was open; try again later.
    Busy,
}

impl Compaction {
    /// How `codesage compact` words it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compaction::Done => "compacted",
            Compaction::NothingToDo => "nothing to do",
            Compaction::Busy => "busy",
        }
    }
}

/// Work for the maintenance thread.
pub(super) enum Maintenance {
    /// Merge segments while a tier is full or a segment is mostly dead.
    Merge,
    /// Compact once idle.
    Compact,
}

/// How long the store must be quiet before the maintenance thread compacts it.
pub(super) const IDLE_BEFORE_COMPACTION: std::time::Duration = std::time::Duration::from_secs(1);

/// The maintenance thread: merges segments when asked, and compacts the store after writes
/// once no request came for a while, retrying while transactions keep it busy.
pub(super) fn maintain(store: &Weak<Store>, requests: &crossbeam_channel::Receiver<Maintenance>) {
    use std::sync::atomic::Ordering;
    loop {
        let request = match requests.recv_timeout(IDLE_BEFORE_COMPACTION) {
            Ok(request) => Some(request),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        };
        let Some(store) = store.upgrade() else { return };
        match request {
            Some(Maintenance::Merge) => loop {
                match store.merge_once() {
                    Ok(true) => store.compaction_wanted.store(true, Ordering::SeqCst),
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "segment merge failed");
                        break;
                    }
                }
            },
            Some(Maintenance::Compact) => {}
            None => {
                settle_while_quiet(&store, requests);
                if requests.is_empty() && store.repacking_due() {
                    match store.repack_tables() {
                        Ok(repacked) if !repacked.is_empty() => {
                            // The copies of the tables' entries go back to the system.
                            crate::allocator::release_free_memory();
                            tracing::info!(tables = ?repacked, "repacked tables in key order");
                        }
                        Ok(_) => {}
                        Err(err) => tracing::warn!(error = %err, "repacking tables failed"),
                    }
                }
                if store.compaction_wanted.load(Ordering::SeqCst) {
                    let before = store.file_size();
                    match store.compact() {
                        Ok(Compaction::Busy) => {}
                        Ok(outcome) => {
                            store.compaction_wanted.store(false, Ordering::SeqCst);
                            if outcome == Compaction::Done {
                                tracing::info!(
                                    before,
                                    after = store.file_size(),
                                    "compacted the store"
                                );
                            }
                        }
                        Err(err) => {
                            store.compaction_wanted.store(false, Ordering::SeqCst);
                            tracing::warn!(error = %err, "store compaction failed");
                        }
                    }
                }
            }
        }
    }
}

/// Settles contents batch after batch while the store stays quiet and nothing else is asked
/// of the maintenance thread (see [`super::settle`]).
fn settle_while_quiet(store: &Store, requests: &crossbeam_channel::Receiver<Maintenance>) {
    let mut total = super::Settled::default();
    while requests.is_empty() && store.settling_due() {
        match store.settle_batch() {
            Ok(Some(batch)) => {
                total.contents += batch.contents;
                total.rewritten += batch.rewritten;
                total.bytes_before += batch.bytes_before;
                total.bytes_after += batch.bytes_after;
            }
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(error = %err, "settling stored contents failed");
                break;
            }
        }
    }
    // Prepared again (from the stored dictionary) by the next pass.
    store.drop_settling_dictionary();
    if total.contents > 0 {
        // The batches' buffers (tens of MiB in all on a large tree) go back to the system.
        crate::allocator::release_free_memory();
        tracing::info!(
            contents = total.contents,
            rewritten = total.rewritten,
            bytes_before = total.bytes_before,
            bytes_after = total.bytes_after,
            "settled stored contents"
        );
    }
}

/// The segments to merge next: every segment of the first size tier (by powers of
/// [`MERGE_FANOUT`] in documents) that holds at least [`MERGE_FANOUT`] of them.
pub(super) fn merge_plan(segments: &[(u64, Arc<Segment>)]) -> Option<Vec<u64>> {
    let tier = |segment: &Segment| {
        let mut docs = u64::from(segment.docs().max(1));
        let mut tier = 0u32;
        while docs >= MERGE_FANOUT as u64 {
            docs /= MERGE_FANOUT as u64;
            tier += 1;
        }
        tier
    };
    let mut tiers: HashMap<u32, Vec<u64>> = HashMap::new();
    for (id, segment) in segments {
        tiers.entry(tier(segment)).or_default().push(*id);
    }
    let mut full: Vec<(u32, Vec<u64>)> = tiers
        .into_iter()
        .filter(|(_, ids)| ids.len() >= MERGE_FANOUT)
        .collect();
    full.sort_by_key(|(tier, _)| *tier);
    full.into_iter().next().map(|(_, ids)| ids)
}

/// Contents some root holds: their ids, and a bitmap of them when the ids are dense enough
/// for one to be small (the usual case; ids only grow, and a damaged store may hold one near
/// 2^32, whose bitmap from 0 would take 512 MiB).
pub(super) struct LiveContents {
    /// Live content ids, sorted and distinct.
    ids: Vec<u32>,
    /// The same ids from `ids[0]` on, one bit each, when that takes at most a few words per id.
    bitmap: Option<Vec<u64>>,
}

impl LiveContents {
    fn of(indexes: &[Arc<RootIndex>]) -> LiveContents {
        let mut ids: Vec<u32> = indexes
            .iter()
            .flat_map(|index| index.contents.contents())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        LiveContents::from_sorted(ids)
    }

    fn from_sorted(ids: Vec<u32>) -> LiveContents {
        let bitmap = match (ids.first(), ids.last()) {
            (Some(&low), Some(&high)) if ((high - low) / 64) as usize <= ids.len() * 2 + 1024 => {
                let mut words = vec![0u64; ((high - low) / 64) as usize + 1];
                for id in &ids {
                    let bit = id - low;
                    words[(bit / 64) as usize] |= 1 << (bit % 64);
                }
                Some(words)
            }
            _ => None,
        };
        LiveContents { ids, bitmap }
    }

    fn contains(&self, content: u32) -> bool {
        match (&self.bitmap, self.ids.first()) {
            (Some(words), Some(&low)) => content.checked_sub(low).is_some_and(|bit| {
                words
                    .get((bit / 64) as usize)
                    .is_some_and(|word| word & (1 << (bit % 64)) != 0)
            }),
            _ => self.ids.binary_search(&content).is_ok(),
        }
    }

    /// Live contents with ids in `range` (inclusive).
    fn count_in(&self, (low, high): (u32, u32)) -> u64 {
        if low > high {
            return 0;
        }
        let from = self.ids.partition_point(|id| *id < low);
        let to = self.ids.partition_point(|id| *id <= high);
        (to - from) as u64
    }
}

/// The segments to rewrite because most of what they post is dead: each whose live contents
/// (estimated from above: those with ids in its range) are fewer than half its contents.
/// A rewritten segment holds only live contents, so it is never chosen again for this.
pub(super) fn purge_plan(
    segments: &[(u64, Arc<Segment>)],
    live: &LiveContents,
) -> Option<Vec<u64>> {
    let chosen: Vec<u64> = segments
        .iter()
        .filter(|(_, segment)| live.count_in(segment.doc_range()) * 2 < u64::from(segment.docs()))
        .map(|(id, _)| *id)
        .collect();
    (!chosen.is_empty()).then_some(chosen)
}

impl Store {
    /// Starts the background thread that merges segments when a root has too many.
    pub fn start_merger(self: &Arc<Self>) {
        let (sender, receiver) = crossbeam_channel::unbounded::<Maintenance>();
        let store: Weak<Store> = Arc::downgrade(self);
        let thread = std::thread::Builder::new()
            .name("store maintenance".into())
            .spawn(move || maintain(&store, &receiver));
        match thread {
            Ok(thread) => {
                *self.merge_requests.lock() = Some(sender);
                *self.merger.lock() = Some(thread);
            }
            Err(err) => tracing::warn!(error = %err, "cannot start the segment merger"),
        }
    }

    /// Stops the merger thread (after the merge it may be doing).
    pub fn stop_merger(&self) {
        self.merge_requests.lock().take();
        if let Some(thread) = self.merger.lock().take() {
            let _ = thread.join();
        }
    }

    /// Asks the maintenance thread to merge what needs merging.
    pub(super) fn request_merge(&self) {
        if let Some(sender) = self.merge_requests.lock().as_ref() {
            let _ = sender.send(Maintenance::Merge);
        }
    }

    /// Every root's current index.
    fn indexes(&self) -> Vec<Arc<RootIndex>> {
        let views: Vec<Arc<RootView>> = self.views.read().values().cloned().collect();
        views
            .iter()
            .map(|view| Arc::clone(&view.current.read()))
            .collect()
    }

    /// Merges one full tier of segments, or else the mostly dead ones, if any; `true` if it
    /// merged.
    pub fn merge_once(&self) -> Result<bool> {
        // The segments first, then the roots' contents: a commit swaps its root's index
        // before the segments, so every content a listed segment posts for a root is seen.
        let listed = Arc::clone(&self.segments.read());
        let live = LiveContents::of(&self.indexes());
        let Some(chosen) = merge_plan(&listed).or_else(|| purge_plan(&listed, &live)) else {
            return Ok(false);
        };
        let parts: Vec<&Segment> = listed
            .iter()
            .filter(|(id, _)| chosen.contains(id))
            .map(|(_, segment)| segment.as_ref())
            .collect();
        // A content dead now stays dead: ids are never given to another content.
        let merged = Segment::merge(&parts, &|content| live.contains(content));
        let encoded = encode_segment(&merged)?;

        let txn = self.begin_write()?;
        let new_id = {
            let mut counters = txn.open_table(COUNTERS)?;
            let new_id = next_counter(&mut counters, SHARED, NEXT_SEGMENT)?;
            let mut segments = txn.open_table(SEGMENTS)?;
            for id in &chosen {
                remove_segment(&mut segments, SHARED, *id)?;
            }
            if merged.trigram_count() > 0 {
                insert_segment(&mut segments, SHARED, new_id, &encoded)?;
            }
            new_id
        };
        {
            let mut shared = self.segments.write();
            self.commit(txn)?;
            let mut next: Vec<(u64, Arc<Segment>)> = shared
                .iter()
                .filter(|(id, _)| !chosen.contains(id))
                .cloned()
                .collect();
            if merged.trigram_count() > 0 {
                next.push((new_id, Arc::new(merged)));
            }
            *shared = Arc::new(next);
        }
        // Every root's index takes the new list (root lock first, as writers do), so the
        // merged-away segments are freed.
        let views: Vec<Arc<RootView>> = self.views.read().values().cloned().collect();
        for view in views {
            let mut current = view.current.write();
            let shared = Arc::clone(&self.segments.read());
            if !Arc::ptr_eq(&current.segments, &shared) {
                let mut next = RootIndex::clone(&current);
                next.segments = shared;
                *current = Arc::new(next);
            }
        }
        Ok(true)
    }

    /// Gives free space back to the filesystem and defragments (cheap: tens of milliseconds
    /// for a few hundred MiB). Impossible while any transaction is open: then it says `Busy`.
    pub fn compact(&self) -> Result<Compaction> {
        self.available()?;
        let compacted = self.compact_now();
        if let Err(err) = &compacted {
            self.failed_on_the_file(err);
        }
        compacted
    }

    fn compact_now(&self) -> Result<Compaction> {
        let mut db = self.db.write();
        let mut outcome = Compaction::NothingToDo;
        loop {
            match db.compact() {
                Ok(true) => outcome = Compaction::Done,
                Ok(false) => return Ok(outcome),
                Err(redb::CompactionError::TransactionInProgress) => return Ok(Compaction::Busy),
                Err(err) => return Err(StoreError::Db(err.into())),
            }
        }
    }

    /// Asks the maintenance thread to compact the store once it is idle (writes leave free
    /// pages behind).
    pub fn request_compaction(&self) {
        self.compaction_wanted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(sender) = self.merge_requests.lock().as_ref() {
            let _ = sender.send(Maintenance::Compact);
        }
    }

    /// Whether merges, settling or a compaction are still to come (the store is still
    /// shrinking).
    pub fn maintenance_pending(&self) -> bool {
        if self
            .compaction_wanted
            .load(std::sync::atomic::Ordering::SeqCst)
            || self.settling_left()
        {
            return true;
        }
        let listed = Arc::clone(&self.segments.read());
        merge_plan(&listed).is_some()
            || purge_plan(&listed, &LiveContents::of(&self.indexes())).is_some()
    }

    /// The store's segments: how many, and their encoded bytes in memory.
    pub fn segment_figures(&self) -> (usize, u64) {
        let listed = self.segments.read();
        (
            listed.len(),
            listed
                .iter()
                .map(|(_, segment)| segment.bytes().len() as u64)
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::LiveContents;

    #[test]
    fn live_contents_answer_alike_dense_or_sparse() {
        let dense = LiveContents::from_sorted(vec![3, 4, 64, 65, 200]);
        assert!(dense.bitmap.is_some());
        // An id near 2^32 (a damaged store) is held without a bitmap of 512 MiB.
        let sparse = LiveContents::from_sorted(vec![3, 4, 64, 65, 200, u32::MAX - 1]);
        assert!(sparse.bitmap.is_none());
        for live in [&dense, &sparse] {
            for id in [3, 4, 64, 65, 200] {
                assert!(live.contains(id), "{id}");
            }
            for id in [0, 2, 5, 63, 66, 199, 201, u32::MAX] {
                assert!(!live.contains(id), "{id}");
            }
            assert_eq!(live.count_in((0, 2)), 0);
            assert_eq!(live.count_in((3, 64)), 3);
            assert_eq!(live.count_in((4, 200)), 4);
            assert_eq!(live.count_in((201, 100)), 0);
        }
        assert_eq!(sparse.count_in((0, u32::MAX)), 6);
        let none = LiveContents::from_sorted(Vec::new());
        assert!(!none.contains(0));
        assert_eq!(none.count_in((0, u32::MAX)), 0);
    }
}
