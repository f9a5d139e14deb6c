//! Applying what changed: a batch looks at the disk for each dirty path (still there? a file
//! or a directory? still eligible under the ignore rules?) and updates the store in one
//! transaction; new, moved-in or re-ruled directories are reconciled as subtrees; lost events
//! mean a full rescan.

use std::path::Path;

use super::*;

impl Applier {
    pub(super) fn full_rescan(&mut self, mut polling: bool) {
        if *self.shared.mode.lock() == WatchMode::Stopped {
            // The root had disappeared (an unmounted disk, a checkout moved away).
            if !self.root.is_dir() {
                self.retry_later();
                return;
            }
            tracing::info!(root = %self.root.display(), "the root is back; watching it again");
            self.start_watching();
            polling = *self.shared.mode.lock() == WatchMode::Polling;
        }
        let started = self.first_event.unwrap_or_else(Instant::now);
        let applying = Instant::now();
        if !polling {
            self.shared.set_mode(WatchMode::Rescanning, None);
        }
        self.dirty.clear();
        self.rescan = false;
        let stats = {
            let _writing = self.context.write_lock.lock();
            indexer::reconcile(
                &self.context.store,
                &self.context.root,
                &self.context.config.index,
                "",
                false,
                &Progress::default(),
                &self.context.cancel,
            )
        };
        match stats {
            Ok(stats) => {
                let changed = stats.files_read + stats.files_removed;
                let dirs = stats.dirs.clone();
                // Directories may have come and gone while events were lost.
                let current: HashSet<String> = dirs.iter().cloned().collect();
                let stale: Vec<String> = self
                    .known_dirs
                    .iter()
                    .filter(|dir| !current.contains(*dir))
                    .cloned()
                    .collect();
                for dir in stale {
                    self.remove_dirs_under(&dir);
                }
                self.add_dirs(dirs, true);
                self.finish_batch(started, applying, changed, true);
                if self.retry.take().is_some() && !polling {
                    // What made the earlier attempts fail is over (when polling, the error
                    // says why, and stays).
                    self.shared.report.lock().error = None;
                    tracing::info!(root = %self.root.display(), "rescan succeeded after failures");
                }
            }
            Err(err) => {
                tracing::warn!(root = %self.root.display(), error = %err, "rescan failed");
                self.shared.report.lock().error = Some(err.to_string());
                if self.root.is_dir() {
                    // Changes are not lost: the whole root is compared again later.
                    self.retry_later();
                } else {
                    self.shared.set_mode(
                        WatchMode::Stopped,
                        Some(format!(
                            "{} no longer exists (looked for from time to time: it is \
                             watched again if it comes back)",
                            self.root.display()
                        )),
                    );
                    self.watcher = None;
                    self.next_poll = None;
                    self.retry_later();
                    return;
                }
            }
        }
        if polling {
            self.next_poll =
                Some(Instant::now() + Duration::from_millis(self.config().poll_interval_ms));
        } else if *self.shared.mode.lock() == WatchMode::Rescanning {
            self.shared.set_mode(WatchMode::Watching, None);
        }
    }

    pub(super) fn apply_batch(&mut self) {
        let started = self.first_event.unwrap_or_else(Instant::now);
        let applying = Instant::now();
        let dirty = std::mem::take(&mut self.dirty);
        let count = dirty.len() as u64;
        let BatchPlan {
            mut changes,
            by_parent,
            mut removed_prefixes,
            mut subtrees,
        } = plan_batch(&self.root, dirty, &self.known_dirs);

        let write_lock = Arc::clone(&self.context.write_lock);
        let _writing = write_lock.lock();
        let store = Arc::clone(&self.context.store);
        let store = store.as_ref();
        let root_id = self.context.root.id;
        let snapshot = store.snapshot();

        // Which dirty entries are still part of the index, decided by the same walk rules.
        for (parent, names) in by_parent {
            if !self.known_dirs.contains(&parent) {
                // Inside an excluded or ignored directory (or one not yet known, whose own
                // event brings it in).
                continue;
            }
            let eligible = self.eligible(&parent, &names);
            for name in names {
                let relative = if parent.is_empty() {
                    name.clone()
                } else {
                    format!("{parent}/{name}")
                };
                match eligible.get(&name) {
                    Some(Entry::Dir) => subtrees.push(relative),
                    Some(Entry::File(meta)) => {
                        let previous = snapshot
                            .as_ref()
                            .ok()
                            .and_then(|snapshot| snapshot.file(root_id, &relative).ok().flatten());
                        if let Some(change) = self.examine_file(&relative, meta, previous.as_ref())
                        {
                            changes.push(change);
                        }
                    }
                    None => {
                        // Ignored now, excluded, a symlink, or gone.
                        changes.push(FileChange::Remove {
                            path: relative.clone(),
                        });
                        removed_prefixes.push(relative);
                    }
                }
            }
        }
        drop(snapshot);

        // Everything under a directory that disappeared or became ignored goes too.
        for prefix in &removed_prefixes {
            if let Ok(records) = store.files_under(root_id, prefix) {
                changes.extend(
                    records
                        .into_iter()
                        .map(|(path, _)| FileChange::Remove { path }),
                );
            }
        }
        let mut changed = changes.len() as u64;
        if let Err(err) = store.apply(root_id, changes) {
            tracing::error!(root = %self.root.display(), error = %err, "cannot apply changes; rescanning");
            self.rescan = true;
            return;
        }
        for prefix in &removed_prefixes {
            if self.known_dirs.contains(prefix) {
                self.remove_dirs_under(prefix);
            }
        }
        // New, moved-in or re-ruled directories are reconciled as a whole.
        subtrees.sort();
        subtrees.dedup();
        let mut covered: Vec<String> = Vec::new();
        for subtree in subtrees {
            if covered.iter().any(|done| {
                done.is_empty() || subtree == *done || subtree.starts_with(&format!("{done}/"))
            }) {
                continue;
            }
            // Watch the new directories before reading them: a file created after its
            // directory's watch exists produces an event, one created before is seen by the
            // walk below; none falls between.
            let dirs = self.walk_dirs(&subtree);
            self.add_dirs(dirs, false);
            let root_record = self.context.root.clone();
            match indexer::reconcile(
                store,
                &root_record,
                &self.context.config.index,
                &subtree,
                false,
                &Progress::default(),
                &self.context.cancel,
            ) {
                Ok(stats) => {
                    changed += stats.files_read + stats.files_removed;
                    // Directories under it that are now ignored leave the watch list.
                    let current: HashSet<&String> = stats.dirs.iter().collect();
                    let prefix = format!("{subtree}/");
                    let stale: Vec<String> = self
                        .known_dirs
                        .iter()
                        .filter(|dir| dir.starts_with(&prefix) && !current.contains(dir))
                        .cloned()
                        .collect();
                    for dir in stale {
                        self.remove_dirs_under(&dir);
                    }
                    self.add_dirs(stats.dirs, true);
                }
                Err(err) => {
                    tracing::warn!(root = %self.root.display(), %subtree, error = %err, "cannot reconcile directory; rescanning");
                    self.rescan = true;
                }
            }
            covered.push(subtree);
        }
        drop(_writing);
        self.shared.report.lock().events_applied += count;
        self.finish_batch(started, applying, changed, false);
    }

    /// Schedules the next attempt of a failed rescan (or the next look for a vanished root),
    /// each delay twice the last, up to [`MAX_RETRY_DELAY`].
    fn retry_later(&mut self) {
        let delay = self.retry.map_or(FIRST_RETRY_DELAY, |(_, delay)| {
            (delay * 2).min(MAX_RETRY_DELAY)
        });
        self.retry = Some((Instant::now() + delay, delay));
    }

    /// The entries among `names` in directory `parent` that belong in the index.
    pub(super) fn eligible(&self, parent: &str, names: &HashSet<String>) -> HashMap<String, Entry> {
        let found = Mutex::new(HashMap::new());
        let Ok(walker) = Walker::subtree(
            &self.root,
            parent,
            &self.context.config.index,
            Some(1),
            Some(names.clone()),
        ) else {
            return HashMap::new();
        };
        walker.run(&self.context.cancel, |entry| {
            match entry {
                Found::Dir { relative } if relative != parent => {
                    let name = relative.rsplit('/').next().unwrap_or(&relative).to_string();
                    found.lock().insert(name, Entry::Dir);
                }
                Found::File { relative, meta, .. } => {
                    let name = relative.rsplit('/').next().unwrap_or(&relative).to_string();
                    found.lock().insert(name, Entry::File(meta.clone()));
                }
                Found::Dir { .. } => {}
            }
            true
        });
        found.into_inner()
    }

    /// The change for one eligible file, `None` if its record is current.
    pub(super) fn examine_file(
        &self,
        relative: &str,
        meta: &std::fs::Metadata,
        previous: Option<&FileRecord>,
    ) -> Option<FileChange> {
        let size = meta.len();
        let mtime = mtime_ns(meta);
        if previous.is_some_and(|record| record.matches_stat(size, mtime)) {
            return None;
        }
        let absolute = self.root.join(relative);
        match indexer::analyze(
            relative,
            &absolute,
            size,
            mtime,
            previous,
            &self.context.config.index,
            true,
            None,
        ) {
            Ok(Some(analyzed)) => Some(analyzed.into_change(relative.to_string())),
            // Vanished since the event, or unreadable (e.g. permission denied): not served.
            Ok(None) | Err(_) => Some(FileChange::Remove {
                path: relative.to_string(),
            }),
        }
    }

    pub(super) fn finish_batch(
        &mut self,
        started: Instant,
        applying: Instant,
        changed: u64,
        rescan: bool,
    ) {
        let latency = started.elapsed();
        let apply_ms = applying.elapsed().as_secs_f64() * 1000.0;
        self.first_event = None;
        self.last_event = None;
        if changed > 0 {
            self.shared.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.shared
            .fresh_as_of_ms
            .fetch_max(now_ms(), Ordering::SeqCst);
        let micros = (latency.as_micros() as u64).clamp(1, 3_600_000_000);
        let (p50, p95) = {
            let mut histogram = self.shared.latency_us.lock();
            // Clamped into range, so recording cannot fail.
            let _ = histogram.record(micros);
            (
                histogram.value_at_quantile(0.5) as f64 / 1000.0,
                histogram.value_at_quantile(0.95) as f64 / 1000.0,
            )
        };
        let mut report = self.shared.report.lock();
        report.batches += 1;
        if rescan {
            report.rescans += 1;
        }
        if changed > 0 {
            report.last_update_ms = now_ms();
        }
        report.pending = self.dirty.len() as u64;
        report.last_latency_ms = Some(latency.as_secs_f64() * 1000.0);
        report.last_apply_ms = Some(apply_ms);
        report.latency_p50_ms = Some(p50);
        report.latency_p95_ms = Some(p95);
    }
}

/// What a batch of dirty paths means before the ignore rules and the store are consulted.
#[derive(Debug, Default, PartialEq)]
pub(super) struct BatchPlan {
    /// Removals of paths that no longer exist.
    pub(super) changes: Vec<FileChange>,
    /// Parent directory → names of the dirty entries in it that still exist (files, and
    /// directories that are new or may have been renamed), to check against the walk rules.
    pub(super) by_parent: HashMap<String, HashSet<String>>,
    /// Paths gone: every record under them goes too.
    pub(super) removed_prefixes: Vec<String>,
    /// Directories whose ignore files changed: reconciled as a whole.
    pub(super) subtrees: Vec<String>,
}

/// Sorts the dirty paths of a batch (absolute, with whether the change may have been
/// structural) by what they need: removal, a check against the walk rules, or a walk of
/// their directory. Looks at the disk (does the path exist, is it a directory) but not at
/// the store. Paths outside `root`, and the root itself, are ignored.
pub(super) fn plan_batch(root: &Path, dirty: Dirty, known_dirs: &HashSet<String>) -> BatchPlan {
    let mut plan = BatchPlan::default();
    for (path, structural) in dirty {
        let Some(relative) = walk::relative_path(root, &path) else {
            continue;
        };
        if relative.is_empty() {
            continue;
        }
        let (parent, name) = match relative.rsplit_once('/') {
            Some((parent, name)) => (parent.to_string(), name.to_string()),
            None => (String::new(), relative.clone()),
        };
        if IGNORE_FILES.contains(&name.as_str()) {
            // What is ignored below this directory may have changed.
            plan.subtrees.push(parent.clone());
        }
        match std::fs::symlink_metadata(&path) {
            Err(_) => {
                plan.changes.push(FileChange::Remove {
                    path: relative.clone(),
                });
                plan.removed_prefixes.push(relative);
            }
            Ok(meta) if meta.is_dir() => {
                if structural || !known_dirs.contains(&relative) {
                    plan.by_parent.entry(parent).or_default().insert(name);
                }
            }
            Ok(_) => {
                plan.by_parent.entry(parent).or_default().insert(name);
            }
        }
    }
    plan
}

pub(super) enum Entry {
    Dir,
    File(std::fs::Metadata),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[&str]) -> HashSet<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    #[test]
    fn a_batch_sorts_removals_checks_and_rewalks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("src/new_dir")).unwrap();
        std::fs::create_dir_all(root.join("src/known")).unwrap();
        std::fs::write(root.join("src/a.rs"), "fn a() {}").unwrap();
        std::fs::write(root.join("src/.gitignore"), "*.log").unwrap();
        let known = names(&["", "src", "src/known"]);
        let dirty: Dirty = [
            (root.join("src/a.rs"), false),
            (root.join("src/gone.rs"), true),
            (root.join("src/new_dir"), false),
            // A known directory whose contents changed (not structural): nothing to check.
            (root.join("src/known"), false),
            (root.join("src/.gitignore"), false),
            // Not inside the root, and the root itself: ignored.
            (PathBuf::from("/elsewhere/x.rs"), true),
            (root.clone(), true),
        ]
        .into_iter()
        .collect();
        let plan = plan_batch(&root, dirty, &known);
        assert_eq!(plan.removed_prefixes, ["src/gone.rs"]);
        assert_eq!(
            plan.changes,
            [FileChange::Remove {
                path: "src/gone.rs".into()
            }]
        );
        assert_eq!(plan.subtrees, ["src"]);
        assert_eq!(plan.by_parent.len(), 1, "{plan:?}");
        assert_eq!(
            plan.by_parent["src"],
            names(&["a.rs", "new_dir", ".gitignore"])
        );
    }

    #[test]
    fn a_renamed_known_directory_is_checked_again() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        let known = names(&["", "lib"]);
        let dirty: Dirty = [(root.join("lib"), true)].into_iter().collect();
        let plan = plan_batch(&root, dirty, &known);
        assert_eq!(plan.by_parent[""], names(&["lib"]));
        assert!(plan.changes.is_empty());
    }
}
