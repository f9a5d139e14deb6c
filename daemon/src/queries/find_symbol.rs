//! `find_symbol(name, kind?, codebase_path?)`: where a symbol is defined — exact,
//! case-insensitive, prefix, substring and fuzzy matches of definition names, ranked, across
//! one codebase or every one the client works in.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::structure::lookup::{self, KindFilter, NameQuery, SymbolMatch};

/// Parameters of `find_symbol`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Name to look for: `parse_config`, `Store.get` / `Store::get` for a member, or part of
    /// a name (prefix, substring and fuzzy matches rank after exact ones).
    pub name: String,
    /// Only this kind: function (includes methods), method, class, struct, enum, trait,
    /// interface, constant, module, type, macro.
    #[serde(default)]
    pub kind: Option<String>,
    /// Indexed codebase (or directory) to search; defaults to the client's workspace roots
    /// (or every indexed codebase).
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_results` counts definitions.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// Definitions found by name.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The name asked for.
    pub name: String,
    /// Definitions that match, in all.
    pub total_matches: usize,
    /// The best matches first.
    pub symbols: Vec<SymbolMatch>,
    /// What to try when nothing matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Definitions per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "definitions",
        default: 20,
        max: 1000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let query = NameQuery::parse(&params.name).map_err(|err| ctx.fail(err))?;
    let kinds = KindFilter::parse(params.kind.as_deref()).map_err(|err| ctx.fail(err))?;
    let needed = pager.needed();
    let mut found: Vec<SymbolMatch> = Vec::new();
    let mut total = 0;
    let mut notes = Vec::new();
    let mut generation = 0;
    for scope in ctx.root_scopes(params.codebase_path.as_deref())? {
        let query = query.clone();
        let on = ctx
            .on_root(&scope, "definitions", move |scope| {
                lookup::find(scope, &query, kinds, needed)
            })
            .await?;
        let (matches, count) = on.value;
        found.extend(matches);
        total += count;
        notes.extend(on.notes);
        generation += on.generation;
    }
    // Roots were searched one after the other, each list ranked; the union ranks by how
    // the name matched, then by root, then by each root's own rank (a stable sort), so that
    // the first n of a longer list are the first n of a shorter one and pages line up.
    found.sort_by_key(|found| found.matched);
    found.truncate(needed);
    let hint = found.is_empty().then(|| {
        format!(
            "no definition matches; try a shorter part of the name, or {} / {} for uses in text",
            ctx.words().tool("find_references"),
            ctx.words().tool("search_codebase")
        )
    });
    let base = Answer::new(()).with_notes(notes).at_generation(generation);
    let name = params.name;
    pager.answer(base, found, Extent::Counted(total), |page| Output {
        name: name.clone(),
        total_matches: total,
        symbols: page,
        hint: hint.clone(),
    })
}
