//! A codebase's imports, per language, classified as internal, standard library or
//! third-party (by language conventions, the project's layout and its manifests), with counts
//! and the most imported modules.

use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;

use super::{Result, Scope, doc_symbols};
use crate::symbols::deps::{self, Manifests, Origin};
use crate::trigram::index::Doc;

/// Modules listed per language, and overall.
const TOP_MODULES: usize = 15;

/// Manifests deeper than this many directories below the scope are not read (those of
/// vendored or example projects would blur what the project itself declares).
const MANIFEST_DEPTH: usize = 2;

/// One imported module (its top-level name) and how often it is imported.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct ModuleCount {
    /// Top-level module or package (`std`, `os`, `react`, `github.com/x/y`).
    pub module: String,
    /// Language of the importing files.
    pub language: String,
    /// Where it comes from.
    pub origin: Origin,
    /// Import statements naming it.
    pub imports: u64,
    /// Files importing it.
    pub files: u64,
}

/// The imports of one language.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct LanguageImports {
    /// Files of this language (parsed).
    pub files: u64,
    /// Import statements.
    pub imports: u64,
    /// Of which internal.
    pub internal: u64,
    /// Of which standard library.
    pub standard_library: u64,
    /// Of which third-party.
    pub third_party: u64,
    /// Distinct top-level modules imported.
    pub distinct_modules: u64,
    /// The most imported modules.
    pub top_modules: Vec<ModuleCount>,
}

/// A third-party package and whether a manifest declares it.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Package {
    /// Its name as imported.
    pub name: String,
    /// Importing language.
    pub language: String,
    /// Import statements naming it.
    pub imports: u64,
    /// Declared in a manifest that was read.
    pub declared: bool,
}

/// The answer.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct DependenciesOverview {
    /// Manifests read, relative to the root.
    pub manifests: Vec<String>,
    /// Files whose imports were read.
    pub files: u64,
    /// Import statements.
    pub total_imports: u64,
    /// Import statements per origin.
    pub by_origin: BTreeMap<&'static str, u64>,
    /// Figures per language.
    pub by_language: BTreeMap<String, LanguageImports>,
    /// The most imported modules overall.
    pub most_imported: Vec<ModuleCount>,
    /// Third-party packages imported, most imported first.
    pub third_party_packages: Vec<Package>,
    /// Distinct third-party packages imported (listed or not).
    pub third_party_package_count: u64,
}

fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::Internal => "internal",
        Origin::StandardLibrary => "standard_library",
        Origin::ThirdParty => "third_party",
    }
}

/// The imports of every parsed file in `scope`.
pub fn overview(scope: &Scope<'_>) -> Result<DependenciesOverview> {
    scope.require_symbols()?;
    let docs = scope.docs();
    let mut manifests = Manifests::default();
    for doc in &docs {
        let relative = doc
            .path
            .strip_prefix(scope.prefix)
            .unwrap_or(&doc.path)
            .trim_start_matches('/');
        let file_name = relative.rsplit('/').next().unwrap_or(relative);
        if relative.matches('/').count() <= MANIFEST_DEPTH
            && Manifests::is_manifest(file_name)
            && let Some(content) = scope.view.content(&doc.hash)?
        {
            manifests.add(&doc.path, &String::from_utf8_lossy(&content));
        }
    }
    let internal = deps::internal_modules(
        docs.iter()
            .map(|doc| (doc.path.as_ref(), doc.language.as_ref())),
    );

    let parsed: Vec<&Doc> = docs
        .iter()
        .copied()
        .filter(|doc| crate::symbols::grammars::has_grammar(&doc.language))
        .collect();
    scope.work.set_total(parsed.len() as u64);
    let imports: Vec<Result<(&Doc, Vec<String>)>> = parsed
        .par_iter()
        .filter(|_| !scope.work.should_stop())
        .map(|doc| {
            scope.work.advance(1);
            let modules = doc_symbols(scope.view, doc)?
                .map(|symbols| symbols.imports.into_iter().map(|i| i.module).collect())
                .unwrap_or_default();
            Ok((*doc, modules))
        })
        .collect();

    let mut report = DependenciesOverview {
        manifests: manifests.read.clone(),
        ..DependenciesOverview::default()
    };
    // (language, top-level module) → (origin, imports, files)
    let mut modules: HashMap<(String, String), (Origin, u64, u64)> = HashMap::new();
    for entry in imports {
        let (doc, imported) = entry?;
        report.files += 1;
        let language = report
            .by_language
            .entry(doc.language.to_string())
            .or_default();
        language.files += 1;
        let mut seen_here: HashSet<String> = HashSet::new();
        for module in imported {
            let origin = deps::classify(&doc.language, &module, &manifests, &internal);
            let top = deps::top_level(&doc.language, &module);
            language.imports += 1;
            match origin {
                Origin::Internal => language.internal += 1,
                Origin::StandardLibrary => language.standard_library += 1,
                Origin::ThirdParty => language.third_party += 1,
            }
            report.total_imports += 1;
            *report.by_origin.entry(origin_name(origin)).or_insert(0) += 1;
            let counts = modules
                .entry((doc.language.to_string(), top.clone()))
                .or_insert((origin, 0, 0));
            counts.1 += 1;
            if seen_here.insert(top) {
                counts.2 += 1;
            }
        }
    }

    let mut all: Vec<ModuleCount> = modules
        .into_iter()
        .map(
            |((language, module), (origin, imports, files))| ModuleCount {
                module,
                language,
                origin,
                imports,
                files,
            },
        )
        .collect();
    all.sort_by(|a, b| {
        b.imports
            .cmp(&a.imports)
            .then_with(|| a.language.cmp(&b.language))
            .then_with(|| a.module.cmp(&b.module))
    });
    for (name, language) in report.by_language.iter_mut() {
        let of_language: Vec<&ModuleCount> =
            all.iter().filter(|count| &count.language == name).collect();
        language.distinct_modules = of_language.len() as u64;
        language.top_modules = of_language.into_iter().take(TOP_MODULES).cloned().collect();
    }
    report.third_party_packages = all
        .iter()
        .filter(|count| count.origin == Origin::ThirdParty)
        .map(|count| Package {
            name: count.module.clone(),
            language: count.language.clone(),
            imports: count.imports,
            declared: manifests.declares(&count.module),
        })
        .collect();
    report.third_party_package_count = report.third_party_packages.len() as u64;
    all.truncate(TOP_MODULES);
    report.most_imported = all;
    Ok(report)
}
