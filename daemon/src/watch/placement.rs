//! Where the watches go: on Linux one non-recursive watch per indexed directory (ignored
//! trees cost none), elsewhere one recursive watch; new directories are watched before they
//! are read; past the watch limits the root falls back to polling.

use super::*;

impl Applier {
    pub(super) fn start_watching(&mut self) {
        let dirs = self.walk_dirs("");
        self.known_dirs = dirs.iter().cloned().collect();
        if !self.config().enabled {
            self.fall_back_to_polling("watching is disabled in the configuration (watch.enabled)");
            return;
        }
        if self.known_dirs.len() > self.config().max_watches {
            let message = format!(
                "the root has {} directories, more than watch.max_watches ({})",
                self.known_dirs.len(),
                self.config().max_watches
            );
            self.fall_back_to_polling(&message);
            return;
        }
        let sender = self.sender.clone();
        let shared = Arc::clone(&self.shared);
        let handler = move |event: notify::Result<notify::Event>| {
            // inotify reports every open; reading files (ours included) must not fill the
            // queue, so only events that can mean a change are queued.
            if event.as_ref().is_ok_and(|event| !may_change(&event.kind)) {
                return;
            }
            if let Err(TrySendError::Full(_)) = sender.try_send(Message::Event(event)) {
                shared.overflowed.store(true, Ordering::SeqCst);
            }
        };
        let watcher = match notify::recommended_watcher(handler) {
            Ok(watcher) => watcher,
            Err(err) => {
                self.fall_back_to_polling(&watcher_creation_failed(&err));
                return;
            }
        };
        self.watcher = Some(Box::new(watcher));
        let mut all = vec![String::new()];
        if per_directory_watches() {
            all = dirs;
        }
        for dir in all {
            if let Err(message) = self.watch_dir(&dir) {
                self.fall_back_to_polling(&message);
                return;
            }
        }
        self.shared.set_mode(WatchMode::Watching, None);
        self.update_watched_count();
        tracing::info!(
            root = %self.root.display(),
            dirs = self.known_dirs.len(),
            "watching"
        );
    }

    /// Places the watch for one directory; an error message means watching is impossible.
    pub(super) fn watch_dir(&mut self, dir: &str) -> Result<(), String> {
        let Some(watcher) = self.watcher.as_mut() else {
            return Ok(());
        };
        let mode = if per_directory_watches() {
            RecursiveMode::NonRecursive
        } else {
            RecursiveMode::Recursive
        };
        let path = self.root.join(dir);
        match watcher.watch(&path, mode) {
            Ok(()) => Ok(()),
            Err(err) => match err.kind {
                notify::ErrorKind::MaxFilesWatch => Err(format!(
                    "the system's limit on watches is exhausted (raise fs.inotify.max_user_watches): {err}"
                )),
                // The directory vanished between listing and watching; its removal event
                // follows.
                notify::ErrorKind::PathNotFound => Ok(()),
                notify::ErrorKind::Io(ref io) if io.kind() == std::io::ErrorKind::NotFound => {
                    Ok(())
                }
                _ => Err(format!("cannot watch {}: {err}", path.display())),
            },
        }
    }

    pub(super) fn fall_back_to_polling(&mut self, reason: &str) {
        tracing::warn!(root = %self.root.display(), %reason, "falling back to polling");
        self.watcher = None;
        self.shared
            .set_mode(WatchMode::Polling, Some(reason.to_string()));
        self.next_poll =
            Some(Instant::now() + Duration::from_millis(self.config().poll_interval_ms));
        self.update_watched_count();
    }

    pub(super) fn update_watched_count(&self) {
        let count = match (&self.watcher, per_directory_watches()) {
            (None, _) => 0,
            (Some(_), true) => self.known_dirs.len(),
            (Some(_), false) => 1,
        };
        self.shared.report.lock().watched_dirs = count as u64;
    }

    /// Records new indexed directories and watches them. With `rescan_new`, each directory
    /// that was not known yet is also marked changed: it was read before its watch existed,
    /// so files created in between would otherwise be missed. (Directories about to be read
    /// anyway pass `false`.)
    pub(super) fn add_dirs(&mut self, dirs: Vec<String>, rescan_new: bool) {
        for dir in dirs {
            let new = self.known_dirs.insert(dir.clone());
            if new && rescan_new && !dir.is_empty() {
                let now = Instant::now();
                self.dirty.insert(self.root.join(&dir), true);
                self.first_event.get_or_insert(now);
                self.last_event = Some(now);
            }
            if new && per_directory_watches() && self.watcher.is_some() {
                if self.known_dirs.len() > self.config().max_watches {
                    let message = format!(
                        "the root grew past watch.max_watches ({}) directories",
                        self.config().max_watches
                    );
                    self.fall_back_to_polling(&message);
                    return;
                }
                if let Err(message) = self.watch_dir(&dir) {
                    self.fall_back_to_polling(&message);
                    return;
                }
            }
        }
        self.update_watched_count();
    }

    /// Forgets `dir` and every directory under it.
    pub(super) fn remove_dirs_under(&mut self, dir: &str) {
        let prefix = format!("{dir}/");
        let gone: Vec<String> = self
            .known_dirs
            .iter()
            .filter(|known| *known == dir || known.starts_with(&prefix))
            .cloned()
            .collect();
        for known in gone {
            self.known_dirs.remove(&known);
            if per_directory_watches()
                && let Some(watcher) = self.watcher.as_mut()
            {
                // Deleted directories lose their watch by themselves; moved-out ones do not.
                let _ = watcher.unwatch(&self.root.join(&known));
            }
        }
        self.update_watched_count();
    }

    pub(super) fn walk_dirs(&self, start: &str) -> Vec<String> {
        let Ok(walker) = Walker::subtree(&self.root, start, &self.context.config.index, None, None)
        else {
            return Vec::new();
        };
        let dirs = Mutex::new(Vec::new());
        walker.run(&self.context.cancel, |found| {
            if let Found::Dir { relative } = found {
                dirs.lock().push(relative);
            }
            true
        });
        dirs.into_inner()
    }
}

/// Whether each directory gets its own (non-recursive) watch. True where watches are cheap
/// per directory and recursive ones would cover ignored trees (inotify).
pub(super) fn per_directory_watches() -> bool {
    cfg!(any(target_os = "linux", target_os = "android"))
}

/// Why no watcher could be created, with what to do. On Linux, "too many open files" from
/// inotify_init means this user's inotify instances are used up (every program watching
/// files holds some), which the bare error does not say.
fn watcher_creation_failed(err: &notify::Error) -> String {
    #[cfg(target_os = "linux")]
    let instances_exhausted = matches!(
        &err.kind,
        notify::ErrorKind::Io(io) if io.raw_os_error() == Some(libc::EMFILE)
    );
    #[cfg(not(target_os = "linux"))]
    let instances_exhausted = false;
    if instances_exhausted {
        let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
            .map(|limit| limit.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        format!(
            "cannot create a watcher: this user's inotify instances are used up \
             (fs.inotify.max_user_instances = {limit}); close programs that watch files or \
             raise the limit (sysctl fs.inotify.max_user_instances=1024)"
        )
    } else {
        format!("cannot create a watcher: {err}")
    }
}
