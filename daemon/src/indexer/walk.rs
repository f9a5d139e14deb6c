//! The parallel, ignore-aware directory walk (ripgrep's `ignore` crate), configured from
//! [`IndexConfig`]: `.gitignore`/`.ignore`/`.codesageignore` files, hidden entries, excluded
//! directory names and file globs, symlink policy.
//!
//! A walk can cover a whole root or start at a directory inside it (ignore files of every
//! ancestor still apply), optionally one level deep and only for some names: that is how
//! the watcher decides whether a changed path belongs in the index with exactly the rules of
//! a full walk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use codesage_shared::config::IndexConfig;
use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::{WalkBuilder, WalkState};
use tokio_util::sync::CancellationToken;

use super::IndexError;

/// Per-directory ignore file specific to CodeSage, with gitignore syntax.
pub const CUSTOM_IGNORE_FILE: &str = ".codesageignore";

/// Names of files whose contents change what is ignored.
pub const IGNORE_FILES: [&str; 3] = [".gitignore", ".ignore", CUSTOM_IGNORE_FILE];

/// Prefix of the marker files queries write to check that the index has caught up.
pub const COOKIE_PREFIX: &str = ".codesage-cookie-";

/// Builds the glob set of `patterns` (matched against `/`-separated relative paths).
pub fn glob_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(Glob::new(pattern)?);
        if !pattern.contains('/') {
            // A bare pattern such as `*.min.js` applies in every directory.
            builder.add(Glob::new(&format!("**/{pattern}"))?);
        }
    }
    builder.build()
}

/// Whether `name` (a directory's file name) is never descended into.
pub fn is_excluded_dir(name: &str, exclude_dirs: &HashSet<String>) -> bool {
    name == ".git" || exclude_dirs.contains(name)
}

/// What the walk found.
pub enum Found<'a> {
    /// A regular file that belongs in the index.
    File {
        /// Path relative to the root.
        relative: String,
        /// Absolute path.
        absolute: &'a Path,
        /// Its metadata.
        meta: &'a std::fs::Metadata,
    },
    /// A directory the walk descends into (or, one level deep, would).
    Dir {
        /// Path relative to the root (`""` for the root itself).
        relative: String,
    },
}

/// A configured walk over one root, or a directory inside it.
pub struct Walker {
    root: PathBuf,
    builder: WalkBuilder,
    exclude_globs: GlobSet,
    unreadable: Arc<Unreadable>,
    /// Walk on the calling thread: a listing of one directory (the watcher asks for one per
    /// batch, several a second under steady edits) or a single-threaded configuration.
    /// Starting walker threads for it cost more than the listing, and each short-lived
    /// thread left its allocator pages behind.
    sequential: bool,
}

/// Paths the walk could not read (a directory without permission, an I/O error), for status:
/// what is under them is missing from the index.
#[derive(Debug, Default)]
pub struct Unreadable {
    count: std::sync::atomic::AtomicU64,
    /// The first few, each with its error.
    first: parking_lot::Mutex<Vec<String>>,
}

/// How many unreadable paths are named (the rest are counted).
const UNREADABLE_NAMED: usize = 5;

impl Unreadable {
    fn record(&self, error: &ignore::Error) {
        // Only the filesystem refusing counts: a loop of links is expected, and a path that
        // vanished mid-walk is simply gone.
        if error
            .io_error()
            .is_none_or(|io| io.kind() == std::io::ErrorKind::NotFound)
        {
            return;
        }
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut first = self.first.lock();
        if first.len() < UNREADABLE_NAMED {
            first.push(error.to_string());
        }
    }

    /// How many paths could not be read, and the first few with their errors.
    pub fn report(&self) -> (u64, Vec<String>) {
        (
            self.count.load(std::sync::atomic::Ordering::Relaxed),
            self.first.lock().clone(),
        )
    }
}

impl Walker {
    /// Prepares a walk of the whole of `root` under `config`.
    pub fn new(root: &Path, config: &IndexConfig) -> Result<Walker, IndexError> {
        Walker::subtree(root, "", config, None, None)
    }

    /// Prepares a walk of `root/start` (`start` relative, `""` for the root), at most
    /// `max_depth` levels deep, and, when `only` is given, only into the entries of `start`
    /// with those names.
    pub fn subtree(
        root: &Path,
        start: &str,
        config: &IndexConfig,
        max_depth: Option<usize>,
        only: Option<HashSet<String>>,
    ) -> Result<Walker, IndexError> {
        let exclude_globs =
            glob_set(&config.exclude_globs).map_err(|err| IndexError::Glob(err.to_string()))?;
        let exclude_dirs: Arc<HashSet<String>> =
            Arc::new(config.exclude_dirs.iter().cloned().collect());
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let sequential = threads == 1 || max_depth.is_some_and(|depth| depth <= 1);
        let respect = config.respect_gitignore;
        // A procfs or sysfs mounted inside the root (a container image, a chroot) is not
        // code, and some of its files never end.
        let virtual_mounts = crate::mounts::virtual_mounts_under(root);
        let start_path = if start.is_empty() {
            root.to_path_buf()
        } else {
            root.join(start)
        };
        let mut builder = WalkBuilder::new(&start_path);
        builder
            .hidden(!config.include_hidden)
            .follow_links(config.follow_symlinks)
            .git_ignore(respect)
            .git_global(respect)
            .git_exclude(respect)
            .ignore(respect)
            .parents(respect)
            .require_git(false)
            .max_depth(max_depth)
            .threads(threads)
            .filter_entry(move |entry| {
                if entry.depth() == 0 {
                    return true;
                }
                let name = entry.file_name().to_str();
                if entry.depth() == 1
                    && let Some(only) = &only
                    && !name.is_some_and(|name| only.contains(name))
                {
                    return false;
                }
                if name.is_some_and(|name| name.starts_with(COOKIE_PREFIX)) {
                    return false;
                }
                let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
                if is_dir && virtual_mounts.iter().any(|mount| entry.path() == mount) {
                    return false;
                }
                !(is_dir && name.is_some_and(|name| is_excluded_dir(name, &exclude_dirs)))
            });
        if respect {
            builder.add_custom_ignore_filename(CUSTOM_IGNORE_FILE);
        }
        Ok(Walker {
            root: root.to_path_buf(),
            builder,
            exclude_globs,
            unreadable: Arc::default(),
            sequential,
        })
    }

    /// What this walk could not read (filled in as it runs).
    pub fn unreadable(&self) -> Arc<Unreadable> {
        Arc::clone(&self.unreadable)
    }

    /// Walks (on the calling thread for a one-directory listing, else in parallel), calling `visit` for every regular
    /// file that belongs in the index and every directory descended into. `visit` returns
    /// false to stop the walk.
    pub fn run<F>(&self, cancel: &CancellationToken, visit: F)
    where
        F: Fn(Found<'_>) -> bool + Sync,
    {
        if self.sequential {
            for result in self.builder.build() {
                if matches!(self.step(result, cancel, &visit), WalkState::Quit) {
                    return;
                }
            }
            return;
        }
        let visit = &visit;
        self.builder
            .build_parallel()
            .run(|| Box::new(move |result| self.step(result, cancel, visit)));
    }

    /// One entry of the walk: filtered, stated and handed to `visit`.
    fn step<F>(
        &self,
        result: Result<ignore::DirEntry, ignore::Error>,
        cancel: &CancellationToken,
        visit: &F,
    ) -> WalkState
    where
        F: Fn(Found<'_>) -> bool + Sync,
    {
        if cancel.is_cancelled() {
            return WalkState::Quit;
        }
        let entry = match result {
            Ok(entry) => entry,
            Err(err) => {
                tracing::debug!(error = %err, "walk error");
                self.unreadable.record(&err);
                return WalkState::Continue;
            }
        };
        let Some(kind) = entry.file_type() else {
            return WalkState::Continue;
        };
        let Some(relative) = relative_path(&self.root, entry.path()) else {
            tracing::warn!(path = %entry.path().display(), "path is not valid UTF-8; skipped");
            return WalkState::Continue;
        };
        let keep_going = if kind.is_dir() {
            visit(Found::Dir { relative })
        } else if kind.is_file() {
            // A symlink reports its target's type only when links are followed, so
            // unfollowed links (and sockets, fifos, devices) never get here.
            if self.exclude_globs.is_match(&relative) {
                return WalkState::Continue;
            }
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(err) => {
                    tracing::debug!(path = %entry.path().display(), error = %err, "cannot stat");
                    return WalkState::Continue;
                }
            };
            visit(Found::File {
                relative,
                absolute: entry.path(),
                meta: &meta,
            })
        } else {
            true
        };
        if keep_going {
            WalkState::Continue
        } else {
            WalkState::Quit
        }
    }
}

/// `path` relative to `root`, `/`-separated (`""` for the root itself), if it is inside
/// `root` and valid UTF-8.
pub fn relative_path(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?.to_str()?;
    Some(if std::path::MAIN_SEPARATOR == '/' {
        relative.to_string()
    } else {
        relative.replace(std::path::MAIN_SEPARATOR, "/")
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use codesage_shared::config::Config;

    use super::*;

    /// Everything a walk reports, as `d:path` and `f:path`.
    fn seen(walker: &Walker) -> BTreeSet<String> {
        let found = parking_lot::Mutex::new(BTreeSet::new());
        walker.run(&CancellationToken::new(), |entry| {
            let item = match entry {
                Found::Dir { relative } => format!("d:{relative}"),
                Found::File { relative, .. } => format!("f:{relative}"),
            };
            found.lock().insert(item);
            true
        });
        found.into_inner()
    }

    #[test]
    fn a_one_directory_listing_runs_on_the_calling_thread_with_the_same_rules() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        for (path, text) in [
            ("a.py", "x = 1\n"),
            ("b.rs", "fn b() {}\n"),
            ("skipped.log", "noise\n"),
            ("src/c.py", "y = 2\n"),
            ("src/deep/d.py", "z = 3\n"),
            ("node_modules/e.js", "e\n"),
            (".gitignore", "skipped.log\n"),
        ] {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let mut config = Config::default().index;
        config.threads = 2;
        let names: HashSet<String> = ["a.py", "b.rs", "skipped.log", "src", "node_modules"]
            .into_iter()
            .map(String::from)
            .collect();

        let listing = Walker::subtree(root, "", &config, Some(1), Some(names)).expect("walker");
        assert!(listing.sequential);
        let listed = seen(&listing);

        let whole = Walker::subtree(root, "", &config, None, None).expect("walker");
        assert!(
            !whole.sequential,
            "a whole walk with two threads runs in parallel"
        );
        let everything = seen(&whole);
        assert!(everything.contains("f:src/deep/d.py"), "{everything:?}");

        // The listing is the whole walk's first level, under the same ignore rules.
        let first_level: BTreeSet<String> = everything
            .into_iter()
            .filter(|item| !item[2..].contains('/'))
            .collect();
        assert_eq!(listed, first_level);
        assert!(
            listed.contains("f:a.py") && listed.contains("d:src"),
            "{listed:?}"
        );
        assert!(!listed.contains("f:skipped.log"), "gitignored: {listed:?}");
        assert!(!listed.contains("d:node_modules"), "excluded: {listed:?}");
    }
}
