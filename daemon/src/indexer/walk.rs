//! The parallel, ignore-aware directory walk (ripgrep's `ignore` crate), configured from
//! [`IndexConfig`]: `.gitignore`/`.ignore`/`.codesageignore` files, hidden entries, excluded
//! directory names and file globs, symlink policy.

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

/// A configured walk over one root.
pub struct Walker {
    root: PathBuf,
    builder: WalkBuilder,
    exclude_globs: GlobSet,
}

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

impl Walker {
    /// Prepares a walk of `root` under `config`.
    pub fn new(root: &Path, config: &IndexConfig) -> Result<Walker, IndexError> {
        let exclude_globs =
            glob_set(&config.exclude_globs).map_err(|err| IndexError::Glob(err.to_string()))?;
        let exclude_dirs: Arc<HashSet<String>> =
            Arc::new(config.exclude_dirs.iter().cloned().collect());
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let respect = config.respect_gitignore;
        let mut builder = WalkBuilder::new(root);
        builder
            .hidden(!config.include_hidden)
            .follow_links(config.follow_symlinks)
            .git_ignore(respect)
            .git_global(respect)
            .git_exclude(respect)
            .ignore(respect)
            .parents(respect)
            .require_git(false)
            .threads(threads)
            .filter_entry(move |entry| {
                let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
                !(is_dir
                    && entry.depth() > 0
                    && entry
                        .file_name()
                        .to_str()
                        .is_some_and(|name| is_excluded_dir(name, &exclude_dirs)))
            });
        if respect {
            builder.add_custom_ignore_filename(CUSTOM_IGNORE_FILE);
        }
        Ok(Walker {
            root: root.to_path_buf(),
            builder,
            exclude_globs,
        })
    }

    /// Walks in parallel, calling `visit(relative_path, absolute_path, metadata)` for every
    /// regular file that is not excluded. `visit` returns false to stop the walk.
    pub fn run<F>(&self, cancel: &CancellationToken, visit: F)
    where
        F: Fn(String, &Path, &std::fs::Metadata) -> bool + Sync,
    {
        let visit = &visit;
        let root = &self.root;
        let exclude_globs = &self.exclude_globs;
        self.builder.build_parallel().run(|| {
            Box::new(move |result| {
                if cancel.is_cancelled() {
                    return WalkState::Quit;
                }
                let entry = match result {
                    Ok(entry) => entry,
                    Err(err) => {
                        tracing::debug!(error = %err, "walk error");
                        return WalkState::Continue;
                    }
                };
                // Directories are descended into by the walker itself. A symlink reports its
                // target's type only when links are followed, so unfollowed links (and sockets,
                // fifos, devices) are skipped here.
                if !entry.file_type().is_some_and(|kind| kind.is_file()) {
                    return WalkState::Continue;
                }
                let Some(relative) = relative_path(root, entry.path()) else {
                    tracing::warn!(path = %entry.path().display(), "path is not valid UTF-8; skipped");
                    return WalkState::Continue;
                };
                if exclude_globs.is_match(&relative) {
                    return WalkState::Continue;
                }
                let meta = match entry.metadata() {
                    Ok(meta) => meta,
                    Err(err) => {
                        tracing::debug!(path = %entry.path().display(), error = %err, "cannot stat");
                        return WalkState::Continue;
                    }
                };
                if visit(relative, entry.path(), &meta) {
                    WalkState::Continue
                } else {
                    WalkState::Quit
                }
            })
        });
    }
}

/// `path` relative to `root`, `/`-separated, if it is inside `root` and valid UTF-8.
pub fn relative_path(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?.to_str()?;
    if relative.is_empty() {
        return None;
    }
    Some(if std::path::MAIN_SEPARATOR == '/' {
        relative.to_string()
    } else {
        relative.replace(std::path::MAIN_SEPARATOR, "/")
    })
}
