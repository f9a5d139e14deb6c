//! The clone report of one root, as `find_duplicate_code`, `codesage dups` and
//! `analyze_codebase_improvements` use it: which files take part, the classes found among
//! them (reused while the root does not change), and each shown class with exact ranges, its
//! kind and a snippet.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::Health;
use super::detect::CloneClass;
use super::fingerprint::{self, Fingerprints, Token};
use super::index::{DetectionKey, FileHealth};
use super::refine;
use crate::search::FileFilter;
use crate::structure::{Scope, StructureError};

/// Lines of a class's snippet at most.
const SNIPPET_LINES: usize = 8;
/// Characters of a snippet line at most.
const SNIPPET_LINE_CHARS: usize = 160;
/// Tokens per line above which a file counts as minified.
const MINIFIED_TOKENS_PER_LINE: u32 = 150;

/// Directory names whose files are vendored or generated.
const VENDORED_DIRS: &[&str] = &[
    "vendor",
    "vendors",
    "third_party",
    "third-party",
    "thirdparty",
    "node_modules",
    "bower_components",
    "dist",
];

/// File name endings of generated or minified code.
const GENERATED_SUFFIXES: &[&str] = &[
    ".min.js",
    ".min.mjs",
    ".min.css",
    "-min.js",
    ".bundle.js",
    "_pb2.py",
    "_pb2_grpc.py",
    ".pb.go",
    ".pb.cc",
    ".pb.h",
    ".g.dart",
    ".designer.cs",
    ".generated.ts",
    ".generated.js",
    ".generated.cs",
    "_generated.go",
    "_generated.rs",
];

/// Why a file is left out of clone detection by default, if it is: generated, minified or
/// vendored.
pub fn generated_reason(path: &str, prints: &Fingerprints) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    let mut components = lower.split('/');
    let name = components.next_back().unwrap_or("");
    if components.any(|dir| VENDORED_DIRS.contains(&dir)) {
        return Some("vendored");
    }
    if GENERATED_SUFFIXES
        .iter()
        .any(|suffix| name.ends_with(suffix))
    {
        return Some("generated");
    }
    let lines = prints.prints.last().map_or(1, |last| last.end_line.max(1));
    if prints.tokens / lines > MINIFIED_TOKENS_PER_LINE {
        return Some("minified");
    }
    None
}

/// What a report covers.
pub struct Options<'a> {
    /// Shortest clone, in lines.
    pub min_lines: u32,
    /// Least similarity (0 to 1).
    pub min_similarity: f32,
    /// File types and exclusions: files it refuses take no part.
    pub filter: &'a FileFilter,
    /// The arguments the filter was made from (what makes two detections the same).
    pub filter_key: &'a str,
    /// Leave generated, minified and vendored files out.
    pub skip_generated: bool,
    /// Only classes with a copy in this file or directory (relative to the root).
    pub touching: Option<&'a str>,
}

/// The classes of a root, before any is shown.
pub struct Found {
    /// Classes, largest first.
    pub classes: Vec<Arc<CloneClass>>,
    /// Files compared.
    pub files_compared: usize,
    /// Files left out as generated, minified or vendored.
    pub skipped_generated: usize,
    /// A few of them, for the answer.
    pub skipped_examples: Vec<String>,
    /// Code files whose parse is still pending.
    pub pending: usize,
    /// Document → path, for presenting.
    paths: HashMap<u32, (Arc<str>, Arc<str>)>,
    /// The root's fingerprints, all files.
    pub fingerprints: usize,
}

/// One occurrence in an answer.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Occurrence {
    /// Path relative to the codebase root.
    pub file_path: String,
    /// First line (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
}

/// One class in an answer.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReportedClass {
    /// `exact`, `renamed` (identifiers or literals differ) or `near` (a few lines differ).
    pub kind: String,
    /// Share of the copies' tokens that match (1 for exact and renamed).
    pub similarity: f32,
    /// Lines of the shortest copy.
    pub lines: u32,
    /// Copies.
    pub copies: usize,
    /// Every copy as `path:start-end`.
    pub occurrences: Vec<String>,
    /// Every copy, structured.
    pub locations: Vec<Occurrence>,
    /// The first copy's first lines.
    pub snippet: String,
}

/// Finds the clone classes of the root `scope` shows.
pub fn find(
    scope: &Scope<'_>,
    health: &Health,
    options: &Options<'_>,
) -> Result<Found, StructureError> {
    let root = health.root(scope.root_id);
    let mut root = root.lock();
    root.sync(scope.view, health.cache())?;
    let mut skipped_generated = 0;
    let mut skipped_examples = Vec::new();
    let mut taken: HashMap<u32, bool> = HashMap::new();
    let mut paths = HashMap::new();
    for (doc, file) in root.files() {
        paths.insert(doc, (Arc::clone(&file.path), Arc::clone(&file.language)));
        let mut take = options.filter.accepts(&file.path, &file.language);
        if take
            && options.skip_generated
            && let Some(reason) = generated_reason(&file.path, &file.facts.prints)
        {
            take = false;
            skipped_generated += 1;
            if skipped_examples.len() < 5 {
                skipped_examples.push(format!("{} ({reason})", file.path));
            }
        }
        taken.insert(doc, take);
    }
    skipped_examples.sort();
    let files_compared = taken.values().filter(|take| **take).count();
    let key = DetectionKey {
        generation: scope.view.index.generation,
        files: format!("{}|{}", options.filter_key, options.skip_generated),
        min_lines: options.min_lines,
        min_similarity: options.min_similarity,
    };
    let fingerprints = root.fingerprint_count();
    let pending = root.pending();
    let all = root.classes(key, |doc, _: &FileHealth| {
        taken.get(&doc).copied().unwrap_or(false)
    });
    drop(root);
    let touches = |class: &CloneClass| match options.touching {
        None => true,
        Some(prefix) => class.regions.iter().any(|region| {
            paths.get(&region.doc).is_some_and(|(path, _)| {
                prefix.is_empty()
                    || &**path == prefix
                    || path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        }),
    };
    let classes = all
        .iter()
        .filter(|class| touches(class))
        .map(|class| Arc::new(class.clone()))
        .collect();
    Ok(Found {
        classes,
        files_compared,
        skipped_generated,
        skipped_examples,
        pending,
        paths,
        fingerprints,
    })
}

impl Found {
    /// The path of document `doc`.
    pub fn path_of(&self, doc: u32) -> &str {
        self.paths.get(&doc).map_or("", |(path, _)| path)
    }

    /// The classes `range` selects, with exact ranges, kinds and snippets (their files are
    /// read from the store and tokenised again).
    pub fn present(
        &self,
        scope: &Scope<'_>,
        range: std::ops::Range<usize>,
    ) -> Result<Vec<ReportedClass>, StructureError> {
        let mut streams: HashMap<u32, Option<Arc<Vec<Token>>>> = HashMap::new();
        let mut contents: HashMap<u32, Option<Arc<[u8]>>> = HashMap::new();
        let mut out = Vec::new();
        let end = range.end.min(self.classes.len());
        let start = range.start.min(end);
        for class in &self.classes[start..end] {
            if scope.work.should_stop() {
                break;
            }
            for region in &class.regions {
                if contents.contains_key(&region.doc) {
                    continue;
                }
                let content = match scope.view.index.docs.get(region.doc) {
                    Some(live) => scope.view.content(&live.hash)?,
                    None => None,
                };
                let tokens = content.as_ref().and_then(|content| {
                    let (_, language) = self.paths.get(&region.doc)?;
                    fingerprint::file_tokens(language, content).map(Arc::new)
                });
                streams.insert(region.doc, tokens);
                contents.insert(region.doc, content);
            }
            let refined = refine::refine(class, &mut |doc| streams.get(&doc).cloned().flatten());
            let locations: Vec<Occurrence> = class
                .regions
                .iter()
                .zip(&refined.ranges)
                .map(|(region, range)| Occurrence {
                    file_path: self
                        .paths
                        .get(&region.doc)
                        .map(|(path, _)| path.to_string())
                        .unwrap_or_default(),
                    start_line: range.start_line,
                    end_line: range.end_line,
                })
                .collect();
            let lines = locations
                .iter()
                .map(|at| at.end_line.saturating_sub(at.start_line) + 1)
                .min()
                .unwrap_or(0);
            let snippet = class
                .regions
                .first()
                .zip(locations.first())
                .and_then(|(region, at)| {
                    let content = contents.get(&region.doc)?.as_ref()?;
                    Some(crate::snippet::lines(
                        content,
                        at.start_line,
                        at.end_line,
                        SNIPPET_LINES,
                        SNIPPET_LINE_CHARS,
                    ))
                })
                .unwrap_or_default();
            out.push(ReportedClass {
                kind: refined.kind.as_str().to_string(),
                similarity: (class.similarity * 1000.0).round() / 1000.0,
                lines,
                copies: locations.len(),
                occurrences: locations
                    .iter()
                    .map(|at| format!("{}:{}-{}", at.file_path, at.start_line, at.end_line))
                    .collect(),
                locations,
                snippet,
            });
        }
        Ok(out)
    }
}
