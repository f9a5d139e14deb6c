//! `list_undocumented_functions(file_path? | codebase_path?)`: functions and methods without
//! a docstring or doc comment, in one file or across a codebase, with per-language totals.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::scope::RootScope;
use super::{Answer, Ctx, Limits, PageArgs, QueryError, QueryResult};
use crate::structure::undocumented::{self, UndocumentedReport};

/// Parameters of `list_undocumented_functions`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// One file to check (absolute, or relative to codebase_path / the indexed root).
    #[serde(default)]
    pub file_path: Option<String>,
    /// A codebase (or a directory inside one) to check as a whole when no file_path is
    /// given; defaults to the client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_results` counts functions listed (the totals count all).
    #[serde(flatten)]
    pub page: PageArgs,
}

/// The undocumented functions.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase, directory or file checked.
    pub root: String,
    /// The report (its list holds this page's functions).
    #[serde(flatten)]
    pub report: UndocumentedReport,
}

/// Functions per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "functions",
        default: 200,
        max: 5000,
    }
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let needed = pager.needed();
    let file_path = params
        .file_path
        .as_deref()
        .filter(|path| !path.trim().is_empty());
    let (scope, on) = if let Some(file_path) = file_path {
        let (root, relative) = ctx.file_scope(params.codebase_path.as_deref(), file_path)?;
        let scope = RootScope::whole(root);
        let on = ctx
            .on_root(&scope, "files", move |scope| {
                undocumented::in_file(scope, &relative, needed)
            })
            .await?;
        (scope, on)
    } else {
        let scope = ctx
            .root_scope(params.codebase_path.as_deref())
            .map_err(|err| match err {
                QueryError::Failed(message) => QueryError::Failed(format!(
                    "{message} (or give {} to check a single file)",
                    ctx.words().param("file_path")
                )),
                other => other,
            })?;
        let on = ctx
            .on_root(&scope, "files", move |scope| {
                undocumented::in_scope(scope, needed)
            })
            .await?;
        (scope, on)
    };
    let mut report = on.value;
    let listed = std::mem::take(&mut report.undocumented_functions);
    let total = report.total_undocumented as usize;
    let mut base = Answer::new(()).with_notes(on.notes).at_generation(on.generation);
    base.partial = on.stopped.is_some();
    let root = scope.display();
    pager.answer(base, listed, Extent::Counted(total), |page| Output {
        root: root.clone(),
        report: UndocumentedReport {
            undocumented_functions: page,
            ..report.clone()
        },
    })
}
