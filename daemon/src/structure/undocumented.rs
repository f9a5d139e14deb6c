//! Functions and methods without a docstring or doc comment: in one file (with signatures),
//! or across a root or directory (from the in-memory definitions, no store reads) with totals
//! per language.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Result, Scope, parsed_file, qualified_name};
use crate::symbols::ids;

/// One undocumented function.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct Undocumented {
    /// Its name.
    pub name: String,
    /// `Class.method` style name, when known (single-file answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualified_name: Option<String>,
    /// Its id (`path#Class.method`), which `read_code_file` and `find_references` accept.
    pub symbol_id: String,
    /// `function` or `method`.
    pub kind: &'static str,
    /// File, relative to the root.
    pub file_path: String,
    /// First line.
    pub start_line: u32,
    /// Its signature line (single-file answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Documentation figures of one language.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct LanguageDocumentation {
    /// Functions and methods.
    pub functions: u64,
    /// Of which documented.
    pub documented: u64,
    /// Of which not.
    pub undocumented: u64,
    /// Share documented, in percent (one decimal).
    pub percent_documented: f64,
}

/// The answer.
#[derive(Debug, Clone, Default, Serialize, PartialEq, schemars::JsonSchema)]
pub struct UndocumentedReport {
    /// Undocumented functions, in path and line order (at most the limit).
    pub undocumented_functions: Vec<Undocumented>,
    /// Functions and methods examined.
    pub total_functions: u64,
    /// Of which undocumented.
    pub total_undocumented: u64,
    /// Figures per language.
    pub by_language: BTreeMap<String, LanguageDocumentation>,
    /// Files examined.
    pub files: u64,
}

impl UndocumentedReport {
    fn count(&mut self, language: &str, documented: bool) {
        let figures = self.by_language.entry(language.to_string()).or_default();
        figures.functions += 1;
        self.total_functions += 1;
        if documented {
            figures.documented += 1;
        } else {
            figures.undocumented += 1;
            self.total_undocumented += 1;
        }
    }

    fn finish(mut self, limit: usize) -> Self {
        for figures in self.by_language.values_mut() {
            figures.percent_documented = if figures.functions == 0 {
                100.0
            } else {
                (figures.documented as f64 * 1000.0 / figures.functions as f64).round() / 10.0
            };
        }
        self.undocumented_functions.truncate(limit);
        self
    }
}

/// The undocumented functions of the file at `relative`.
pub fn in_file(scope: &Scope<'_>, relative: &str, limit: usize) -> Result<UndocumentedReport> {
    let parsed = parsed_file(scope, relative)?;
    let mut report = UndocumentedReport {
        files: 1,
        ..UndocumentedReport::default()
    };
    let ids = ids::assign(&parsed.path, &ids::qualified_names(&parsed.symbols));
    for (index, symbol) in parsed.symbols.symbols.iter().enumerate() {
        if !symbol.kind.is_callable() {
            continue;
        }
        report.count(&parsed.language, symbol.documented);
        if !symbol.documented {
            report.undocumented_functions.push(Undocumented {
                name: symbol.name.clone(),
                qualified_name: Some(qualified_name(&parsed.symbols, index)),
                symbol_id: ids.get(index).cloned().unwrap_or_default(),
                kind: symbol.kind.as_str(),
                file_path: parsed.path.clone(),
                start_line: symbol.start_line,
                signature: Some(symbol.signature.clone()),
            });
        }
    }
    Ok(report.finish(limit))
}

/// The undocumented functions of every parsed file in `scope`.
pub fn in_scope(scope: &Scope<'_>, limit: usize) -> Result<UndocumentedReport> {
    scope.require_symbols()?;
    let mut report = UndocumentedReport::default();
    let docs = scope.docs();
    scope.work.set_total(docs.len() as u64);
    for doc in docs {
        if scope.work.should_stop() {
            break;
        }
        scope.work.advance(1);
        let Some(definitions) = &doc.definitions else {
            continue;
        };
        report.files += 1;
        let mut ids: Option<Vec<String>> = None;
        for (index, definition) in definitions.iter().enumerate() {
            if !definition.kind.is_callable() {
                continue;
            }
            report.count(&doc.language, definition.documented);
            if !definition.documented && report.undocumented_functions.len() < limit {
                let ids = ids.get_or_insert_with(|| {
                    ids::assign(&doc.path, &ids::definition_names(definitions))
                });
                report.undocumented_functions.push(Undocumented {
                    name: definition.name.to_string(),
                    symbol_id: ids.get(index).cloned().unwrap_or_default(),
                    qualified_name: None,
                    kind: definition.kind.as_str(),
                    file_path: doc.path.to_string(),
                    start_line: definition.start_line,
                    signature: None,
                });
            }
        }
    }
    Ok(report.finish(limit))
}
