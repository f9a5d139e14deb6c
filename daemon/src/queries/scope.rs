//! What a request is about: `codebase_path` and `file_path` arguments resolved to registered
//! roots (relative paths against the caller's base directory, blank meaning absent, an
//! agent's `..` climbing out of that directory refused, NUL bytes and overlong paths refused
//! before anything is resolved), and running a question on one root's consistent view once its
//! pending changes are indexed (read-your-writes), with the notes every answer carries about
//! freshness.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::work::Stopped;
use super::{Ctx, QueryError};
use crate::engine::paths::{NAME_MAX, PATH_MAX, PathProblem, check_path_text, normalize_relative};
use crate::engine::{Root, freshness_note};
use crate::structure::{Scope, StructureError};
use crate::watch::Freshness;
use codesage_shared::words::Words;

/// A root and, optionally, a directory inside it.
#[derive(Clone)]
pub struct RootScope {
    /// The root.
    pub root: Arc<Root>,
    /// Directory inside it, relative (`""` for the whole root).
    pub prefix: String,
}

impl RootScope {
    /// The whole of `root`.
    pub fn whole(root: Arc<Root>) -> RootScope {
        RootScope {
            root,
            prefix: String::new(),
        }
    }

    /// The scope's path, for answers (`/src/app` or `/src/app/lib`).
    pub fn display(&self) -> String {
        if self.prefix.is_empty() {
            self.root.path.display().to_string()
        } else {
            self.root.path.join(&self.prefix).display().to_string()
        }
    }
}

/// What running a question on a root produced, besides its answer.
pub struct OnRoot<T> {
    /// The answer.
    pub value: T,
    /// Freshness and work-in-progress notes.
    pub notes: Vec<String>,
    /// The index generation the answer was computed from.
    pub generation: u64,
    /// Why the work stopped early, if it did.
    pub stopped: Option<Stopped>,
    /// How fresh the root's index was when the question was asked.
    pub freshness: Freshness,
}

impl Ctx {
    /// A path argument made absolute: relative paths are taken relative to the caller's base
    /// directory (an MCP client's first root, the command line's working directory).
    pub fn resolve_path(&self, path: &str, argument: &str) -> Result<PathBuf, QueryError> {
        let trimmed = path.trim();
        if trimmed.is_empty() {
            return Err(QueryError::Failed(format!(
                "{} is empty",
                self.words().param(argument)
            )));
        }
        self.check_path_text(trimmed, argument)?;
        let path = PathBuf::from(trimmed);
        if path.is_absolute() {
            self.check_allowed(&path)?;
            return Ok(path);
        }
        match &self.caller.base_dir {
            Some(base) => {
                // An agent's relative paths stay inside its workspace root (a person at the
                // command line may well mean `../other`). Only checked here: the path itself
                // is resolved as the system would (a symlinked directory followed by `..` goes
                // where the link points), and whatever it reaches must still be inside a root
                // to be served.
                if self.words() == Words::Mcp && normalize_relative(&path).is_none() {
                    return Err(QueryError::Failed(format!(
                        "{} climbs out of the workspace root {} with `..`; give an absolute \
                         path instead",
                        path.display(),
                        base.display()
                    )));
                }
                let path = base.join(path);
                self.check_allowed(&path)?;
                Ok(path)
            }
            None => Err(QueryError::Failed(format!(
                "{} is a relative path and this client declared no workspace root to resolve it \
                 against; give an absolute path",
                path.display()
            ))),
        }
    }

    /// Refuses a path argument no file can have (a NUL byte, longer than the system allows),
    /// with a message that names the problem instead of quoting the argument.
    pub fn check_path_text(&self, path: &str, argument: &str) -> Result<(), QueryError> {
        let param = self.words().param(argument);
        let problem = match check_path_text(path) {
            Ok(()) => return Ok(()),
            Err(PathProblem::Nul(at)) => {
                format!("{param} contains a NUL byte (at byte {at}); a path cannot hold one")
            }
            Err(PathProblem::TooLong(length)) => format!(
                "{param} is {length} bytes long, longer than the {PATH_MAX} bytes a path may have"
            ),
            Err(PathProblem::NameTooLong(length)) => format!(
                "{param} holds a name {length} bytes long, longer than the {NAME_MAX} bytes a \
                 file name may have"
            ),
        };
        Err(QueryError::Failed(problem))
    }

    /// Refuses a path a remote-mode client may not reach (see [`super::Caller::allowed`]).
    pub fn check_allowed(&self, path: &Path) -> Result<(), QueryError> {
        let Some(allowed) = &self.caller.allowed else {
            return Ok(());
        };
        let resolved = crate::engine::paths::resolve_absolute(path);
        if self.is_allowed(allowed, &resolved) {
            return Ok(());
        }
        Err(QueryError::Failed(format!(
            "{} is outside the directories this server shares ({}); ask its operator to add \
             it to remote.allowed_roots",
            path.display(),
            self.shared_directories(allowed).join(", ")
        )))
    }

    fn is_allowed(&self, allowed: &[PathBuf], resolved: &Path) -> bool {
        if allowed.is_empty() {
            self.engine
                .roots()
                .iter()
                .any(|root| resolved.starts_with(&root.path))
        } else {
            allowed.iter().any(|dir| resolved.starts_with(dir))
        }
    }

    fn shared_directories(&self, allowed: &[PathBuf]) -> Vec<String> {
        if allowed.is_empty() {
            self.engine
                .roots()
                .iter()
                .map(|root| root.path.display().to_string())
                .collect()
        } else {
            allowed
                .iter()
                .map(|dir| dir.display().to_string())
                .collect()
        }
    }

    /// The registered roots this caller may see.
    fn visible_roots(&self) -> Vec<Arc<Root>> {
        let roots = self.engine.roots();
        match &self.caller.allowed {
            None => roots,
            Some(allowed) => roots
                .into_iter()
                .filter(|root| self.is_allowed(allowed, &root.path))
                .collect(),
        }
    }

    /// An optional `codebase_path`, resolved; blank counts as absent everywhere.
    pub fn codebase_argument(&self, path: Option<&str>) -> Result<Option<PathBuf>, QueryError> {
        path.filter(|path| !path.trim().is_empty())
            .map(|path| self.resolve_path(path, "codebase_path"))
            .transpose()
    }

    /// The one root (and directory in it) a request is about: `codebase_path` if given, else
    /// the single one of the caller's default roots, else the single registered root.
    pub fn root_scope(&self, codebase_path: Option<&str>) -> Result<RootScope, QueryError> {
        if let Some(path) = self.codebase_argument(codebase_path)? {
            return self.locate_scope(&path);
        }
        let candidates: Vec<PathBuf> = if self.caller.default_roots.is_empty() {
            self.visible_roots()
                .iter()
                .map(|root| root.path.clone())
                .collect()
        } else {
            self.caller.default_roots.clone()
        };
        match candidates.as_slice() {
            [only] => self.locate_scope(only),
            [] => Err(self.nothing_indexed()),
            several => Err(QueryError::Failed(format!(
                "several codebases are indexed ({}); say which one with {}",
                several
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                self.words().param("codebase_path")
            ))),
        }
    }

    /// The roots a request is about: `codebase_path` if given (with the directory inside
    /// it), else the caller's default roots that are indexed, else every registered root.
    pub fn root_scopes(&self, codebase_path: Option<&str>) -> Result<Vec<RootScope>, QueryError> {
        if let Some(path) = self.codebase_argument(codebase_path)? {
            return Ok(vec![self.locate_scope(&path)?]);
        }
        let mut scopes: Vec<RootScope> = Vec::new();
        for path in &self.caller.default_roots {
            if let Ok(found) = self.locate_scope(path)
                && !scopes
                    .iter()
                    .any(|scope| scope.root.id == found.root.id && scope.prefix == found.prefix)
            {
                scopes.push(found);
            }
        }
        if scopes.is_empty() {
            scopes = self
                .visible_roots()
                .into_iter()
                .map(|root| RootScope {
                    root,
                    prefix: String::new(),
                })
                .collect();
        }
        if scopes.is_empty() {
            return Err(self.nothing_indexed());
        }
        Ok(scopes)
    }

    /// The file a request is about: `file_path` absolute, or relative to `codebase_path` when
    /// given, else to the caller's base directory or an indexed root. Returns its root and
    /// its path relative to the root.
    pub fn file_scope(
        &self,
        codebase_path: Option<&str>,
        file_path: &str,
    ) -> Result<(Arc<Root>, String), QueryError> {
        let file = PathBuf::from(file_path.trim());
        if file.as_os_str().is_empty() {
            return Err(QueryError::Failed(format!(
                "{} is empty",
                self.words().param("file_path")
            )));
        }
        self.check_path_text(file_path.trim(), "file_path")?;
        let requested = match self.codebase_argument(codebase_path)? {
            Some(codebase) if file.is_relative() => codebase.join(&file),
            _ => file,
        };
        self.check_allowed(&requested)?;
        let (root, relative) = self
            .engine
            .locate(&requested)
            .map_err(|err| self.fail(err))?;
        if relative.is_empty() {
            return Err(QueryError::Failed(format!(
                "{} is the codebase root, not a file",
                root.path.display()
            )));
        }
        Ok((root, relative))
    }

    fn locate_scope(&self, path: &Path) -> Result<RootScope, QueryError> {
        let (root, prefix) = self.engine.locate(path).map_err(|err| self.fail(err))?;
        Ok(RootScope { root, prefix })
    }

    fn nothing_indexed(&self) -> QueryError {
        QueryError::Failed(format!(
            "no codebase is indexed yet; {}",
            self.words().index_first()
        ))
    }

    /// Answers `question` about `scope`: waits until the root's pending changes are indexed,
    /// then runs it on one consistent view off the async threads (see [`Ctx::blocking`]).
    /// `what` names the units of work for progress messages.
    pub async fn on_root<T, F>(
        &self,
        scope: &RootScope,
        what: &'static str,
        question: F,
    ) -> Result<OnRoot<T>, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(&Scope<'_>) -> Result<T, StructureError> + Send + 'static,
    {
        let root = &scope.root;
        let freshness = self.engine.sync_root(root).await;
        let engine = Arc::clone(&self.engine);
        let task_root = Arc::clone(root);
        let prefix = scope.prefix.clone();
        let (answer, stopped) = self
            .blocking(what, move |work| {
                let view = engine.store().view(task_root.id)?;
                let generation = view.index.generation;
                let scope = Scope {
                    view: &view,
                    root_id: task_root.id,
                    root_path: &task_root.path,
                    prefix: &prefix,
                    config: &engine.config().index,
                    work,
                };
                Ok::<_, StructureError>((question(&scope)?, generation))
            })
            .await?;
        let (value, generation) = match answer {
            Ok(answer) => answer,
            Err(StructureError::Cancelled) => return Err(QueryError::Cancelled),
            Err(err) => return Err(self.fail(err)),
        };
        let mut notes = Vec::new();
        if let Some(job) = root.running_job() {
            let progress = job.snapshot();
            if progress.symbols_total > 0 {
                notes.push(format!(
                    "symbols of {} are still being extracted ({} of {} files parsed): answers \
                     may be incomplete",
                    root.path.display(),
                    progress.symbols_done,
                    progress.symbols_total
                ));
            } else {
                notes.push(format!(
                    "the index of {} is still being built ({} of {}{} files done): answers \
                     may be incomplete",
                    root.path.display(),
                    progress.files_done,
                    progress.files_seen,
                    if progress.walk_done { "" } else { "+" }
                ));
            }
        }
        notes.extend(freshness_note(root, &freshness));
        if stopped == Some(Stopped::Deadline) {
            notes.push(format!(
                "stopped at the deadline (server.answer_deadline_secs = {} s) with what was done \
                 by then: the answer is partial; narrow {} to get all of it",
                self.engine.config().server.answer_deadline_secs,
                self.words().param("codebase_path")
            ));
        }
        Ok(OnRoot {
            value,
            notes,
            generation,
            stopped,
            freshness,
        })
    }
}
