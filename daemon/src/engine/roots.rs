//! The registered roots: which directories may become roots, registering them, finding the
//! root a path belongs to, and keeping each fresh with its watcher (read-your-writes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use super::jobs::RootState;
use super::paths::{self, canonicalize_existing, normalize_relative, resolve_absolute};
use super::{Engine, EngineError};
use crate::clock::now_ms;
use crate::store::{RootId, RootRecord};
use crate::watch::{Context as WatchContext, Freshness, RootWatcher};

/// A registered root.
pub struct Root {
    /// Store key.
    pub id: RootId,
    /// Canonical path.
    pub path: PathBuf,
    pub(super) added_ms: u64,
    pub(super) state: Mutex<RootState>,
    /// Keeps the index fresh once the root is registered.
    watcher: Mutex<Option<Arc<RootWatcher>>>,
    /// Held while writing this root's records, so indexing runs and the watcher's batches
    /// never interleave.
    pub(super) write_lock: Arc<Mutex<()>>,
}

impl Root {
    /// A root as recorded in the store (no watcher yet).
    pub(super) fn from_record(record: &RootRecord) -> Root {
        Root {
            id: record.id,
            path: PathBuf::from(&record.path),
            added_ms: record.added_ms,
            state: Mutex::new(RootState::indexed_at(record.last_indexed_ms)),
            watcher: Mutex::new(None),
            write_lock: Arc::new(Mutex::new(())),
        }
    }

    /// The root's watcher, if it has one.
    pub fn watcher(&self) -> Option<Arc<RootWatcher>> {
        self.watcher.lock().clone()
    }

    pub(super) fn record(&self) -> RootRecord {
        RootRecord {
            id: self.id,
            path: self.path.to_string_lossy().into_owned(),
            added_ms: self.added_ms,
            last_indexed_ms: self.state.lock().last_indexed_ms,
        }
    }
}

impl Engine {
    /// Every registered root.
    pub fn roots(&self) -> Vec<Arc<Root>> {
        self.roots.read().clone()
    }

    /// Registers `path` as a root (idempotent). `strict` also refuses the home directory,
    /// for roots nobody typed (those an MCP client declares).
    pub fn register_root(&self, path: &Path, strict: bool) -> Result<Arc<Root>, EngineError> {
        if self.shutdown.is_cancelled() {
            return Err(EngineError::ShuttingDown);
        }
        let canonical = canonicalize_existing(path)?;
        if !canonical.is_dir() {
            return Err(EngineError::NotADirectory(canonical));
        }
        if canonical.parent().is_none() {
            return Err(EngineError::RootRefused {
                path: canonical,
                reason: "the filesystem root is not a codebase; index a project directory",
            });
        }
        if let Some(fs_type) = crate::mounts::virtual_filesystem(&canonical) {
            return Err(EngineError::VirtualFilesystem {
                path: canonical,
                fs_type,
            });
        }
        if strict && paths::home_dir().is_some_and(|home| home == canonical) {
            return Err(EngineError::RootRefused {
                path: canonical,
                reason: "the home directory is not indexed automatically; index a project directory",
            });
        }
        if let Some(root) = self.roots.read().iter().find(|root| root.path == canonical) {
            return Ok(Arc::clone(root));
        }
        let path_text = canonical.to_str().ok_or_else(|| EngineError::RootRefused {
            path: canonical.clone(),
            reason: "the path is not valid UTF-8",
        })?;
        let record = self.store.add_root(path_text, now_ms())?;
        let mut roots = self.roots.write();
        if let Some(root) = roots.iter().find(|root| root.id == record.id) {
            return Ok(Arc::clone(root));
        }
        let root = Arc::new(Root::from_record(&record));
        roots.push(Arc::clone(&root));
        tracing::info!(root = %root.path.display(), "registered root");
        Ok(root)
    }

    /// Forgets `root`: no longer watched, indexed or answered for; its records and every
    /// content no other root uses (with its symbols; its postings at the next merge) are
    /// removed from the store. Refused while the root is
    /// being indexed. Blocking (waits for the watcher to stop). Returns (files removed,
    /// contents freed).
    pub fn forget_root(&self, root: &Arc<Root>) -> Result<(u64, u64), EngineError> {
        // Out of the list first, so no new request or indexing run can find it.
        self.roots.write().retain(|other| other.id != root.id);
        if root.running_job().is_some() {
            self.roots.write().push(Arc::clone(root));
            return Err(EngineError::RootRefused {
                path: root.path.clone(),
                reason: "it is being indexed; wait for the run to finish (codesage status) \
                         and forget it then",
            });
        }
        if let Some(watcher) = root.watcher.lock().take() {
            watcher.stop();
        }
        let removed = {
            let _writing = root.write_lock.lock();
            self.store.remove_root(root.id)
        };
        let removed = match removed {
            Ok(removed) => removed,
            Err(err) => {
                // Still registered in the store: keep serving it.
                self.roots.write().push(Arc::clone(root));
                self.start_watch(root);
                return Err(err.into());
            }
        };
        self.health().forget_root(root.id);
        self.semantic().forget_root(root.id);
        tracing::info!(root = %root.path.display(), files = removed.0, contents = removed.1, "forgot root");
        Ok(removed)
    }

    /// Starts watching `root` for changes (once; later calls do nothing).
    pub fn start_watch(&self, root: &Arc<Root>) {
        let mut watcher = root.watcher.lock();
        if watcher.is_some() || self.shutdown.is_cancelled() {
            return;
        }
        *watcher = Some(RootWatcher::start(WatchContext {
            store: Arc::clone(&self.store),
            root: root.record(),
            config: Arc::clone(&self.config),
            write_lock: Arc::clone(&root.write_lock),
            cancel: self.shutdown.child_token(),
        }));
    }

    /// Waits until every change made to `root` before this call is in its index, and says how
    /// fresh the index is. Roots without a watcher answer at once, unconfirmed.
    pub async fn sync_root(&self, root: &Root) -> Freshness {
        match root.watcher() {
            Some(watcher) => watcher.sync().await,
            None => Freshness {
                index_generation: 0,
                fresh_as_of_ms: root.state.lock().last_indexed_ms,
                watch: "stopped",
                confirmed: false,
            },
        }
    }

    /// Finds the root containing `path` (absolute or relative to a root) and the path inside
    /// it (`""` for the root itself). The deepest root wins when roots nest.
    pub fn locate(&self, path: &Path) -> Result<(Arc<Root>, String), EngineError> {
        let roots = self.roots();
        if path.is_relative() {
            let relative = normalize_relative(path).ok_or_else(|| self.outside(path))?;
            // A relative path names a file in some root; prefer one where it exists.
            let mut fallback = None;
            for root in &roots {
                let candidate = root.path.join(&relative);
                if candidate.exists() {
                    return self.locate(&candidate);
                }
                fallback.get_or_insert(candidate);
            }
            return match fallback {
                Some(candidate) if roots.len() == 1 => self.locate(&candidate),
                _ => Err(self.outside(path)),
            };
        }
        let resolved = resolve_absolute(path);
        roots
            .iter()
            .filter_map(|root| Some((root, paths::inside(&root.path, &resolved)?)))
            .max_by_key(|(root, _)| root.path.as_os_str().len())
            .map(|(root, inside)| (Arc::clone(root), inside))
            .ok_or_else(|| self.outside(path))
    }

    fn outside(&self, path: &Path) -> EngineError {
        EngineError::OutsideRoots {
            path: path.to_path_buf(),
            roots: self.roots().iter().map(|root| root.path.clone()).collect(),
        }
    }
}
