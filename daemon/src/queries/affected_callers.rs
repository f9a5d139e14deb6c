//! `affected_callers(codebase_path, since?, depth=1)`: who a change affects — the callers of
//! every symbol it modified or removed, across files and to `depth` levels, ranked (calls of
//! removed symbols and changed signatures first), and the imports and other references of
//! removed or re-signed symbols outside the change.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::changed_symbols::{BaseOut, ChangeArgs, change_notes};
use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::changes::callers::{self, AffectedCaller, OtherReference};
use crate::changes::{self, ChangeKind};
use crate::structure::graph::MAX_DEPTH;

/// Parameters of `affected_callers`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Which codebase and which change.
    #[serde(flatten)]
    pub change: ChangeArgs,
    /// Levels of callers to follow (1: direct callers; at most 3).
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Paging: `max_results` counts callers (the totals count all).
    #[serde(flatten)]
    pub page: PageArgs,
}

fn default_depth() -> usize {
    1
}

/// The affected callers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase.
    pub root: String,
    /// What the change is compared with.
    pub base: BaseOut,
    /// Levels followed.
    pub depth: usize,
    /// Changed symbols whose callers were followed (modified and removed ones).
    pub symbols_followed: usize,
    /// Callers, highest score first.
    pub callers: Vec<AffectedCaller>,
    /// Callers in all.
    pub total: usize,
    /// Callers outside the changed files.
    pub outside_change: usize,
    /// Imports and other references of removed or re-signed symbols outside the change.
    pub references: Vec<OtherReference>,
    /// Called names several definitions share, with how many: their calls may be of
    /// another definition (calls are resolved by name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ambiguous_names: BTreeMap<String, usize>,
}

/// Callers per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "callers",
        default: 50,
        max: 2000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let scope = ctx.root_scope(params.change.codebase_path.as_deref())?;
    let args = params.change.clone();
    let depth = params.depth.clamp(1, MAX_DEPTH);
    let on = ctx
        .on_root(&scope, "files", move |scope| {
            let change = changes::collect(scope, args.since.as_deref(), args.staged)?;
            let affected = callers::affected(scope, &change, depth)?;
            Ok((change, affected))
        })
        .await?;
    let (change, affected) = on.value;
    let mut notes = on.notes;
    notes.extend(change_notes(&change));
    if params.depth != depth {
        notes.push(format!("depth {} was taken as {depth} (1 to {MAX_DEPTH})", params.depth));
    }
    if affected.truncated {
        notes.push("a changed name had more callers than are followed; the rarest calls may be missing".into());
    }
    let added = change
        .symbols()
        .filter(|(_, s, _)| s.change == ChangeKind::Added)
        .count();
    if affected.symbols_followed == 0 && added > 0 {
        notes.push(format!(
            "the change only adds symbols ({added}); added symbols have no callers outside it yet"
        ));
    }
    let outside_change = affected.callers.iter().filter(|c| !c.in_change).count();
    let mut base = Answer::new(()).with_notes(notes).at_generation(on.generation);
    base.partial = on.stopped.is_some();
    let total = affected.callers.len();
    let root = scope.display();
    let base_out = BaseOut::of(&change);
    pager.answer(base, affected.callers, Extent::Counted(total), |page| Output {
        root: root.clone(),
        base: base_out.clone(),
        depth,
        symbols_followed: affected.symbols_followed,
        callers: page,
        total,
        outside_change,
        references: affected.references.clone(),
        ambiguous_names: affected.ambiguous.clone(),
    })
}
