//! `analyze_codebase_improvements`: a root-wide list of what to improve, ranked by impact,
//! each finding with its place, its measure, the threshold it crossed (from `[health]` in the
//! configuration) and why it matters: complex, long, deeply nested functions and long
//! parameter lists, the largest clone classes, undocumented public functions, TODO/FIXME
//! density, very large files, and dependencies declared but never imported or declared twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use codesage_shared::config::HealthConfig;
use serde::Serialize;

use super::Health;
use super::clones::{self, Options};
use crate::search::FileFilter;
use crate::structure::{Scope, StructureError};
use crate::symbols::deps::{self, Manifests};

/// Markers a file must hold before its density is judged.
const MIN_TODOS_FOR_DENSITY: usize = 3;

/// Clone classes the report lists at most (the largest).
const CLONE_CLASSES: usize = 50;

/// Names listed in one undocumented-functions finding at most.
const NAMES_LISTED: usize = 8;

/// One thing to improve.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// `complexity`, `function_length`, `nesting`, `parameters`, `duplication`,
    /// `undocumented`, `todo_density`, `file_length`, `unused_dependency` or
    /// `duplicate_dependency`.
    pub category: String,
    /// Where: `path:start-end`, `path`, or a manifest.
    pub location: String,
    /// The function, class of copies or dependency concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The measure.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// How much it matters, for ranking (the measure over its threshold, weighed by kind).
    pub impact: f64,
    /// Why it is worth fixing, in one line.
    pub why: String,
}

/// The report before paging.
pub struct Report {
    /// Findings, highest impact first.
    pub findings: Vec<Finding>,
    /// Findings per category.
    pub by_category: BTreeMap<String, u64>,
    /// Files analysed.
    pub files: usize,
    /// Functions and methods analysed.
    pub functions: usize,
    /// Lines in the analysed files.
    pub lines: u64,
    /// Code files not parsed yet.
    pub pending: usize,
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Builds the report for `scope` with the thresholds of `config`.
pub fn analyze(
    scope: &Scope<'_>,
    health: &Health,
    config: &HealthConfig,
) -> Result<Report, StructureError> {
    let mut findings: Vec<Finding> = Vec::new();
    let mut push = |category: &str,
                    location: String,
                    subject: Option<String>,
                    value: f64,
                    threshold: f64,
                    weight: f64,
                    why: String| {
        findings.push(Finding {
            category: category.to_string(),
            location,
            subject,
            value: round(value),
            threshold: round(threshold),
            impact: round(weight * value / threshold.max(1e-9)),
            why,
        });
    };
    let records: HashMap<String, crate::store::FileRecord> = scope
        .view
        .snapshot
        .files(scope.root_id)?
        .into_iter()
        .filter(|(path, record)| record.skipped.is_none() && scope.contains(path))
        .collect();
    let (files, functions, pending, imported) = {
        let root = health.root(scope.root_id);
        let mut root = root.lock();
        root.sync(scope.view, health.cache())?;
        let mut files = 0;
        let mut functions = 0;
        let mut imported: HashSet<String> = HashSet::new();
        let mut entries: Vec<_> = root
            .files()
            .filter(|(_, file)| scope.contains(&file.path))
            .collect();
        entries.sort_unstable_by(|a, b| a.1.path.cmp(&b.1.path));
        for (_, file) in entries {
            if scope.work.should_stop() {
                break;
            }
            files += 1;
            let facts = &file.facts;
            for module in &facts.imports {
                imported.insert(
                    deps::top_level(&file.language, module)
                        .to_ascii_lowercase()
                        .replace('-', "_"),
                );
            }
            let mut undocumented = Vec::new();
            for function in &facts.functions {
                functions += 1;
                let location = format!(
                    "{}:{}-{}",
                    file.path, function.start_line, function.end_line
                );
                let subject = Some(function.name.clone());
                if function.complexity > config.max_complexity {
                    push(
                        "complexity",
                        location.clone(),
                        subject.clone(),
                        f64::from(function.complexity),
                        f64::from(config.max_complexity),
                        1.5,
                        format!(
                            "cyclomatic complexity {}: {} paths to test, hard to change safely; split it",
                            function.complexity, function.complexity
                        ),
                    );
                }
                if function.lines() > config.max_function_lines {
                    push(
                        "function_length",
                        location.clone(),
                        subject.clone(),
                        f64::from(function.lines()),
                        f64::from(config.max_function_lines),
                        1.0,
                        format!(
                            "{} lines: long functions do several things; extract the parts",
                            function.lines()
                        ),
                    );
                }
                if function.nesting > config.max_nesting {
                    push(
                        "nesting",
                        location.clone(),
                        subject.clone(),
                        f64::from(function.nesting),
                        f64::from(config.max_nesting),
                        1.2,
                        format!(
                            "control flow nested {} deep: hard to follow; return early or extract the inner blocks",
                            function.nesting
                        ),
                    );
                }
                if function.parameters > config.max_parameters {
                    push(
                        "parameters",
                        location.clone(),
                        subject.clone(),
                        f64::from(function.parameters),
                        f64::from(config.max_parameters),
                        0.8,
                        format!(
                            "{} parameters: easy to pass in the wrong order; group them in a type",
                            function.parameters
                        ),
                    );
                }
                if function.public && !function.documented {
                    undocumented.push(function.name.clone());
                }
            }
            if !undocumented.is_empty() {
                let count = undocumented.len();
                let mut names: Vec<String> = undocumented.into_iter().take(NAMES_LISTED).collect();
                if count > NAMES_LISTED {
                    names.push(format!("and {} more", count - NAMES_LISTED));
                }
                push(
                    "undocumented",
                    file.path.to_string(),
                    Some(names.join(", ")),
                    count as f64,
                    1.0,
                    0.3,
                    format!(
                        "{count} public functions without a doc comment: callers must read the code to use them"
                    ),
                );
            }
            let lines = records
                .get(&*file.path)
                .map_or(0, |record| record.lines.total);
            // A density needs a few markers to mean something.
            if facts.todos.len() >= MIN_TODOS_FOR_DENSITY && lines > 0 {
                let density = facts.todos.len() as f64 * 1000.0 / f64::from(lines);
                if density > f64::from(config.max_todo_density) {
                    push(
                        "todo_density",
                        file.path.to_string(),
                        None,
                        density,
                        f64::from(config.max_todo_density),
                        0.6,
                        format!(
                            "{} TODO/FIXME/HACK/XXX markers in {lines} lines: known unfinished work piles up here",
                            facts.todos.len()
                        ),
                    );
                }
            }
        }
        (files, functions, root.pending(), imported)
    };
    let mut lines_total = 0u64;
    let mut large: Vec<(&String, u32)> = Vec::new();
    for (path, record) in &records {
        lines_total += u64::from(record.lines.total);
        if record.lines.total > config.max_file_lines {
            large.push((path, record.lines.total));
        }
    }
    large.sort();
    for (path, lines) in large {
        push(
            "file_length",
            path.clone(),
            None,
            f64::from(lines),
            f64::from(config.max_file_lines),
            0.8,
            format!(
                "{lines} lines in one file: hard to navigate and review; split it by responsibility"
            ),
        );
    }
    // The largest clone classes.
    let found = default_clones(
        scope,
        health,
        config,
        (!scope.prefix.is_empty()).then_some(scope.prefix),
    )?;
    for mut class in found.page(scope, health, 0, CLONE_CLASSES)?.shown {
        class.limit_copies(super::clones::MAX_LISTED_COPIES);
        let lines = class.lines;
        let copies = class.copies;
        let location = class.occurrences.first().cloned().unwrap_or_default();
        push(
            "duplication",
            location,
            Some(format!("{copies} copies of {lines} lines ({})", class.kind)),
            (u64::from(lines) * copies as u64) as f64,
            f64::from(config.min_clone_lines * 2),
            1.0,
            format!(
                "{copies} copies of the same {lines} lines: a fix in one is missed in the others; extract it (find_duplicate_code lists every copy)"
            ),
        );
    }
    // Dependencies: declared but never imported, or declared twice.
    let mut manifests = Manifests::default();
    let mut manifest_paths: Vec<&String> = records
        .keys()
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            path.matches('/').count() <= 1 && Manifests::is_manifest(name)
        })
        .collect();
    manifest_paths.sort();
    for path in manifest_paths {
        if let Some(record) = records.get(path)
            && let Some(content) = scope.view.content(&record.hash)?
        {
            manifests.add(path, &String::from_utf8_lossy(&content));
        }
    }
    if !imported.is_empty() {
        let mut unused: Vec<(&String, &Vec<String>)> = manifests
            .declared_in
            .iter()
            .filter(|(name, _)| !imported.contains(*name) && !manifests.own_names.contains(*name))
            .collect();
        unused.sort();
        for (name, places) in unused {
            push("unused_dependency", places.join(", "), Some(name.clone()), 1.0, 1.0, 0.9,
                "declared but no parsed file imports it: it costs build time and attack surface (its import name may differ: check before removing)".to_string());
        }
    }
    let mut twice: Vec<(&String, &Vec<String>)> = manifests
        .declared_in
        .iter()
        .filter(|(_, places)| places.len() > 1)
        .collect();
    twice.sort();
    for (name, places) in twice {
        push(
            "duplicate_dependency",
            places.join(", "),
            Some(name.clone()),
            places.len() as f64,
            1.0,
            0.7,
            format!(
                "declared {} times: versions drift apart; keep one declaration",
                places.len()
            ),
        );
    }
    findings.sort_by(|a, b| {
        b.impact
            .total_cmp(&a.impact)
            .then_with(|| a.category.cmp(&b.category))
            .then_with(|| a.location.cmp(&b.location))
    });
    let mut by_category: BTreeMap<String, u64> = BTreeMap::new();
    for finding in &findings {
        *by_category.entry(finding.category.clone()).or_default() += 1;
    }
    Ok(Report {
        findings,
        by_category,
        files,
        functions,
        lines: lines_total,
        pending,
    })
}

/// The clone classes of the default clone question ([`clone_question`]), those with a copy
/// in `touching` (a file or directory of the root) when given: the question
/// `find_duplicate_code` asks by default, so the one detection kept warm for it serves this
/// report and `review_changes` too.
pub fn default_clones(
    scope: &Scope<'_>,
    health: &Health,
    config: &HealthConfig,
    touching: Option<&str>,
) -> Result<clones::Found, StructureError> {
    let question = clone_question(scope.root_path, config);
    let filter = FileFilter::default();
    clones::find(
        scope,
        health,
        &Options {
            min_lines: question.min_lines,
            min_similarity: question.min_similarity,
            filter: &filter,
            filter_key: &clones::filter_key(&[], &[]),
            skip_generated: question.skip_generated,
            touching,
            similar: None,
        },
    )
}

/// The clone question the report asks of `root` (`find_duplicate_code`'s default one, with
/// `health.min_clone_lines`), so the daemon can keep it warm.
pub fn clone_question(root: &std::path::Path, config: &HealthConfig) -> super::warm::Question {
    super::warm::Question {
        root: root.to_path_buf(),
        min_lines: config.min_clone_lines,
        min_similarity: 0.8,
        file_types: Vec::new(),
        exclude_patterns: Vec::new(),
        skip_generated: config.skip_generated,
        asked_ms: 0,
    }
}
