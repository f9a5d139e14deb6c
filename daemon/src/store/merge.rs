//! Keeping the store small: the background thread that merges a root's trigram segments when
//! a size tier fills up (dropping dead documents) and compacts the file once the store has
//! been idle for a moment.

use super::*;

/// A root's segments are merged once a size tier holds this many of them.
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
    /// Merge `root`'s segments while a tier is full.
    Merge(RootId),
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
            Some(Maintenance::Merge(root)) => loop {
                match store.merge_once(root) {
                    Ok(true) => store.compaction_wanted.store(true, Ordering::SeqCst),
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(root, error = %err, "segment merge failed");
                        break;
                    }
                }
            },
            Some(Maintenance::Compact) => {}
            None => {
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

    /// Merges one tier of `root`'s segments if one is full; `true` if it merged.
    pub fn merge_once(&self, root: RootId) -> Result<bool> {
        let view = self.root_view(root);
        let index = Arc::clone(&view.current.read());
        let Some(chosen) = merge_plan(&index.segments) else {
            return Ok(false);
        };
        let parts: Vec<&Segment> = index
            .segments
            .iter()
            .filter(|(id, _)| chosen.contains(id))
            .map(|(_, segment)| segment.as_ref())
            .collect();
        let docs = index.docs.clone();
        let merged = Segment::merge(&parts, &|doc| docs.get(doc).is_some());
        let encoded = encode_segment(&merged)?;

        let txn = self.begin_write()?;
        // The root may have been removed since its segments were read: nothing to merge.
        if txn.open_table(ROOTS)?.get(root)?.is_none() {
            return Ok(false);
        }
        let new_id = {
            let mut counters = txn.open_table(COUNTERS)?;
            let new_id = next_counter(&mut counters, root, NEXT_SEGMENT)?;
            let mut segments = txn.open_table(SEGMENTS)?;
            for id in &chosen {
                remove_segment(&mut segments, root, *id)?;
            }
            if merged.trigram_count() > 0 {
                insert_segment(&mut segments, root, new_id, &encoded)?;
            }
            new_id
        };
        let mut current = view.current.write();
        self.commit(txn)?;
        let mut next = RootIndex::clone(&current);
        next.segments.retain(|(id, _)| !chosen.contains(id));
        if merged.trigram_count() > 0 {
            next.segments.push((new_id, Arc::new(merged)));
        }
        *current = Arc::new(next);
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

    /// Whether merges or a compaction are still to come (the store is still shrinking).
    pub fn maintenance_pending(&self) -> bool {
        self.compaction_wanted
            .load(std::sync::atomic::Ordering::SeqCst)
            || self
                .views
                .read()
                .values()
                .any(|view| merge_plan(&view.current.read().segments).is_some())
    }
}
