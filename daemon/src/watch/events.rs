//! Events and syncs: notifications mark paths dirty (cookie files answer read-your-writes
//! syncs), and the applier decides when a batch has settled, a sync is satisfied or a rescan
//! is due.

use super::*;

impl Applier {
    pub(super) fn on_event(&mut self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
                    self.fall_back_to_polling(&format!(
                        "the system's limit on watches is exhausted: {err}"
                    ));
                } else {
                    tracing::warn!(root = %self.root.display(), error = %err, "watcher error; rescanning");
                    self.shared.report.lock().error = Some(err.to_string());
                }
                self.rescan = true;
                return;
            }
        };
        if event.need_rescan() {
            tracing::warn!(root = %self.root.display(), "events were lost; rescanning");
            self.rescan = true;
            return;
        }
        if !may_change(&event.kind) {
            return;
        }
        let structural = !matches!(
            event.kind,
            EventKind::Access(_)
                | EventKind::Modify(notify::event::ModifyKind::Data(_))
                | EventKind::Modify(notify::event::ModifyKind::Metadata(_))
        );
        let now = Instant::now();
        for path in event.paths {
            if path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(COOKIE_PREFIX))
            {
                self.cookies_seen.insert(path);
                continue;
            }
            if !path.starts_with(&self.root) {
                continue;
            }
            if structural && path == self.root {
                // The root itself moved or was deleted (an unmount, a checkout moved away):
                // only a full rescan can tell what is left.
                self.rescan = true;
                continue;
            }
            let entry = self.dirty.entry(path).or_insert(false);
            *entry |= structural;
            self.first_event.get_or_insert(now);
            self.last_event = Some(now);
        }
        if self.dirty.len() > self.config().max_batch_paths {
            tracing::warn!(
                root = %self.root.display(),
                paths = self.dirty.len(),
                "too many changed paths for one batch; rescanning instead"
            );
            self.dirty.clear();
            self.rescan = true;
        }
        self.shared.report.lock().pending = self.dirty.len() as u64;
    }

    pub(super) fn on_sync(&mut self, request: SyncRequest) {
        self.waiting.push(request);
    }

    /// Applies the pending batch if it has settled, a sync is satisfied, a rescan is due or
    /// the poll interval has passed.
    pub(super) fn maybe_apply(&mut self) {
        if self.shared.overflowed.swap(false, Ordering::SeqCst) {
            self.rescan = true;
        }
        let polling = *self.shared.mode.lock() == WatchMode::Polling;
        let now = Instant::now();
        let poll_due = polling && self.next_poll.is_some_and(|at| now >= at);
        if self.retry.is_some_and(|(at, _)| now >= at) {
            self.rescan = true;
        }
        // A sync is ready when its cookie has been seen (every earlier event is queued before
        // it) or when there is no cookie to wait for.
        let ready_syncs: Vec<usize> = self
            .waiting
            .iter()
            .enumerate()
            .filter(|(_, request)| match &request.cookie {
                Some(cookie) => self.cookies_seen.contains(cookie),
                None => true,
            })
            .map(|(index, _)| index)
            .collect();
        let settled = match (self.first_event, self.last_event) {
            (Some(first), Some(last)) => {
                now >= last + Duration::from_millis(self.config().settle_ms)
                    || now >= first + Duration::from_millis(self.config().max_delay_ms)
            }
            _ => false,
        };
        // Syncs without a cookie in polling mode must see a fresh scan.
        let polling_sync = polling
            && ready_syncs
                .iter()
                .any(|&index| self.waiting[index].cookie.is_none());
        if self.rescan || poll_due || polling_sync {
            self.full_rescan(polling);
        } else if settled || (!ready_syncs.is_empty() && !self.dirty.is_empty()) {
            self.apply_batch();
        }
        if !ready_syncs.is_empty() {
            self.shared
                .fresh_as_of_ms
                .fetch_max(now_ms(), Ordering::SeqCst);
            for index in ready_syncs.into_iter().rev() {
                let request = self.waiting.swap_remove(index);
                if let Some(cookie) = &request.cookie {
                    self.cookies_seen.remove(cookie);
                }
                let _ = request.reply.send(());
            }
        }
        if self.waiting.is_empty() && self.cookies_seen.len() > 1024 {
            // Cookies of syncs that timed out; nobody waits for them any more.
            self.cookies_seen.clear();
        }
    }
}

/// Whether an event kind can mean that a file's content, name or existence changed (opens
/// and reads cannot; a close after writing can).
pub(super) fn may_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write)) => {
            true
        }
        EventKind::Access(_) => false,
        _ => true,
    }
}
