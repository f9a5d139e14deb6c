//! `get_dependencies_overview(codebase_path?)`: what a codebase imports, per language,
//! classified internal / standard library / third-party using the project's manifests, with
//! counts and the most imported modules. Pages hold languages first, then third-party
//! packages.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::page::Extent;
use super::{Answer, Ctx, Limits, PageArgs, QueryResult};
use crate::structure::dependencies::{self, LanguageImports, ModuleCount, Package};

/// Parameters of `get_dependencies_overview` (the original CodeSage's names).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Params {
    /// Indexed codebase (or a directory inside one). Defaults to the client's workspace root.
    #[serde(default)]
    pub codebase_path: Option<String>,
    /// Paging: `max_results` counts languages and packages together.
    #[serde(flatten)]
    pub page: PageArgs,
}

/// What a codebase imports.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Output {
    /// The codebase (or directory).
    pub root: String,
    /// Manifests read, relative to the root.
    pub manifests: Vec<String>,
    /// Files whose imports were read.
    pub files: u64,
    /// Import statements.
    pub total_imports: u64,
    /// Import statements per origin.
    pub by_origin: BTreeMap<String, u64>,
    /// The most imported modules overall.
    pub most_imported: Vec<ModuleCount>,
    /// Figures per language (this page's languages).
    pub by_language: BTreeMap<String, LanguageImports>,
    /// Third-party packages imported, most imported first (this page's).
    pub third_party_packages: Vec<Package>,
    /// Distinct third-party packages imported, in all.
    pub third_party_package_count: u64,
}

/// Languages and packages per answer.
pub fn limits(_config: &codesage_shared::config::Config) -> Limits {
    Limits {
        unit: "languages and packages",
        default: 120,
        max: 5000,
    }
}

/// One paged entry: a language's figures or a third-party package.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Row {
    Language(String, LanguageImports),
    Package(Package),
}

/// Runs the query.
pub async fn run(ctx: Ctx, params: Params) -> QueryResult<Output> {
    let pager = ctx.pager(&params.page, limits(ctx.engine.config()))?;
    let scope = ctx.root_scope(params.codebase_path.as_deref())?;
    let on = ctx
        .on_root(&scope, "files", dependencies::overview)
        .await?;
    let mut report = on.value;
    let mut rows: Vec<Row> = std::mem::take(&mut report.by_language)
        .into_iter()
        .map(|(name, figures)| Row::Language(name, figures))
        .collect();
    rows.extend(
        std::mem::take(&mut report.third_party_packages)
            .into_iter()
            .map(Row::Package),
    );
    let mut base = Answer::new(()).with_notes(on.notes).at_generation(on.generation);
    base.partial = on.stopped.is_some();
    let root = scope.display();
    pager.answer(base, rows, Extent::Complete, |page| {
        let mut by_language = BTreeMap::new();
        let mut packages = Vec::new();
        for row in page {
            match row {
                Row::Language(name, figures) => {
                    by_language.insert(name, figures);
                }
                Row::Package(package) => packages.push(package),
            }
        }
        Output {
            root: root.clone(),
            manifests: report.manifests.clone(),
            files: report.files,
            total_imports: report.total_imports,
            by_origin: report
                .by_origin
                .iter()
                .map(|(origin, count)| (origin.to_string(), *count))
                .collect(),
            most_imported: report.most_imported.clone(),
            by_language,
            third_party_packages: packages,
            third_party_package_count: report.third_party_package_count,
        }
    })
}
