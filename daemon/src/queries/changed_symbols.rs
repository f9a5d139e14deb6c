//! `changed_symbols(codebase_path, since?, staged?)`: the symbols a change added, modified and
//! removed, with their line ranges — a symbol-level diff of the working tree (or the staged
//! side) against `HEAD` or any revision, from git and the live index.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::changes::{self, Change, FileSummary, SymbolChange};

/// What every change tool is asked: which codebase, and which change.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ChangeArgs {
    /// Indexed codebase (or a directory inside one) in a git work tree. Defaults to the
    /// client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Compare with this revision (branch, tag, commit, `HEAD~3`); default `HEAD`, i.e. the
    /// uncommitted change. In a repository without commits every file is new.
    #[serde(default)]
    pub since: Option<String>,
    /// Review what is staged (git's index) instead of the working tree.
    #[serde(default)]
    pub staged: bool,
}

/// Parameters of `changed_symbols`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Which codebase and which change.
    #[serde(flatten)]
    pub change: ChangeArgs,
    /// Paging: `max_results` counts symbols (the totals count all).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// What the change is compared with.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BaseOut {
    /// The revision as asked (`HEAD` by default).
    pub since: String,
    /// The commit it resolved to.
    pub commit: String,
    /// The new side: `working_tree` or `staged`.
    pub compared: &'static str,
}

impl BaseOut {
    /// The base of `change`.
    pub fn of(change: &Change) -> BaseOut {
        BaseOut {
            since: change.base.named.clone(),
            commit: change.base.commit.clone(),
            compared: if change.base.staged {
                "staged"
            } else {
                "working_tree"
            },
        }
    }
}

/// The changed symbols.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase.
    pub root: String,
    /// What the change is compared with.
    pub base: BaseOut,
    /// Changed files, in path order.
    pub files: Vec<FileSummary>,
    /// Changed symbols, by file then line.
    pub symbols: Vec<SymbolChange>,
    /// Changed symbols in all.
    pub total: usize,
    /// Symbols per change (`added`, `modified`, `removed`).
    pub by_change: BTreeMap<String, usize>,
}

/// Symbols per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "symbols",
        default: 200,
        max: 5000,
    }
}

/// Notes every change answer carries: files over the comparison limit, unparsed files.
pub fn change_notes(change: &Change) -> Vec<String> {
    let mut notes = Vec::new();
    if change.files.is_empty() {
        notes.push(format!(
            "no file changed since {} ({})",
            change.base.named,
            if change.base.staged {
                "staged side"
            } else {
                "working tree, untracked files included"
            }
        ));
    }
    if change.unparsed_files > 0 {
        notes.push(format!(
            "{} changed files past the first {} are listed without their symbols",
            change.unparsed_files,
            changes::MAX_PARSED_FILES
        ));
    }
    let unparsed = change
        .files
        .iter()
        .filter(|file| file.not_parsed.is_some())
        .count();
    if unparsed > 0 {
        notes.push(format!(
            "{unparsed} changed files have no symbols compared (see each file's not_parsed)"
        ));
    }
    notes
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let scope = ctx.root_scope(params.change.codebase_path.as_deref())?;
    let args = params.change.clone();
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            changes::collect(scope, args.since.as_deref(), args.staged)
        })
        .await?;
    let change = on.value;
    let mut notes = on.notes;
    notes.extend(change_notes(&change));
    let files: Vec<FileSummary> = change.files.iter().map(|file| file.summary()).collect();
    let symbols: Vec<SymbolChange> = change.symbols().map(|(_, s, _)| s.clone()).collect();
    let mut by_change: BTreeMap<String, usize> = BTreeMap::new();
    for symbol in &symbols {
        *by_change.entry(symbol.change.as_str().to_string()).or_default() += 1;
    }
    let mut base = Answer::new(()).with_notes(notes).at_generation(on.generation);
    base.partial = on.stopped.is_some();
    let total = symbols.len();
    let root = scope.display();
    let base_out = BaseOut::of(&change);
    pager.answer(base, symbols, Extent::Counted(total), |page| Output {
        root: root.clone(),
        base: base_out.clone(),
        files: files.clone(),
        symbols: page,
        total,
        by_change: by_change.clone(),
    })
}
