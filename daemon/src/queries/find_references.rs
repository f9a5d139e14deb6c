//! `find_references(symbol, codebase_path?)`: every whole-word occurrence of a name (or of
//! the symbol a symbol id names), found through the trigram index and classified with the
//! parse as definition, call, import or other, with the symbol each occurrence is inside.
//! Lines are shown with their secrets withheld unless `security.serve_secrets` is set.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryError, QueryResult};
use crate::structure::Scope;
use crate::structure::references::{self, Reference};
use crate::symbols::ids::{self, SymbolId};

/// Parameters of `find_references`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// The name to find (`helper`, or `Store.get` — occurrences of `get` are listed), or a
    /// symbol id from an outline or search result (`src/store.py#Store.get`).
    pub symbol: String,
    /// Indexed codebase (or directory) to search; defaults to the client's workspace roots
    /// (or every indexed codebase).
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_results` counts occurrences.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The occurrences of a name.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The name searched for.
    pub symbol: String,
    /// The symbol id given, when one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol_id: Option<String>,
    /// Occurrences in root, path and line order.
    pub references: Vec<Reference>,
    /// Occurrences found, in all.
    pub total: u64,
    /// Occurrences per kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Files with at least one occurrence.
    pub files: u64,
    /// Files read to find them (the index's candidates).
    pub files_searched: u64,
}

/// Occurrences per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "occurrences",
        default: 200,
        max: 5000,
    }
}

/// Whether the symbol id names a definition in this scope's root.
fn id_defined_here(scope: &Scope<'_>, id: &SymbolId, text: &str) -> crate::structure::Result<bool> {
    let Some(record) = scope.view.snapshot.file(scope.root_id, &id.path)? else {
        return Ok(false);
    };
    let Some(definitions) = record
        .doc_id
        .and_then(|doc| scope.view.index.docs.get(doc))
        .and_then(|doc| doc.definitions.clone())
    else {
        return Ok(false);
    };
    let all = ids::assign(&id.path, &ids::definition_names(&definitions));
    Ok(all.iter().any(|candidate| candidate == text))
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let given = params.symbol.trim().to_string();
    let id = SymbolId::parse(&given);
    let name = id
        .as_ref()
        .map_or_else(|| given.clone(), |id| id.name().to_string());
    let needed = pager.needed();
    let mut references: Vec<Reference> = Vec::new();
    let mut output = Output {
        symbol: name.clone(),
        symbol_id: id.as_ref().map(|_| given.clone()),
        references: Vec::new(),
        total: 0,
        by_kind: BTreeMap::new(),
        files: 0,
        files_searched: 0,
    };
    let mut notes = Vec::new();
    let mut generation = 0;
    let mut id_found = false;
    let mut partial = false;
    for scope in ctx.root_scopes(params.codebase_path.as_deref())? {
        let name = name.clone();
        let id = id.clone();
        let given = given.clone();
        let on = ctx
            .on_root(&scope, "files", move |scope| {
                let defined = match &id {
                    Some(id) => id_defined_here(scope, id, &given)?,
                    None => false,
                };
                Ok((references::find(scope, &name, needed)?, defined))
            })
            .await?;
        let (report, defined) = on.value;
        id_found |= defined;
        partial |= on.stopped.is_some();
        output.symbol = report.symbol;
        output.total += report.total;
        output.files += report.files;
        output.files_searched += report.files_searched;
        for (kind, count) in report.by_kind {
            *output.by_kind.entry(kind.to_string()).or_insert(0) += count;
        }
        let room = needed.saturating_sub(references.len());
        references.extend(report.references.into_iter().take(room));
        notes.extend(on.notes);
        generation += on.generation;
    }
    if id.is_some() && !id_found {
        return Err(QueryError::Failed(format!(
            "no symbol has the id {given:?} in the indexed codebases (ids change when a symbol \
             is renamed or moved; {} lists the current ones)",
            ctx.words().tool("get_file_structure")
        )));
    }
    let serve_secrets = ctx.engine.config().security.serve_secrets;
    let mut withheld = 0;
    for reference in &mut references {
        let (shown, lines) =
            crate::redact::shown_text(&reference.file_path, &reference.line_content, serve_secrets);
        if let std::borrow::Cow::Owned(shown) = shown {
            reference.line_content = shown;
        }
        withheld += lines;
    }
    if withheld > 0 {
        notes.push(super::redaction_note(withheld));
    }
    let mut base = Answer::new(()).with_notes(notes).at_generation(generation);
    base.partial = partial;
    let total = output.total as usize;
    pager.answer(base, references, Extent::Counted(total), |page| Output {
        references: page,
        ..output.clone()
    })
}
