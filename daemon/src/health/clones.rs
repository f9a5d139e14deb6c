//! The clone report of one root, as `find_duplicate_code`, `codesage dups` and
//! `analyze_codebase_improvements` use it: which files take part, the classes found among
//! them (reused while the root does not change), and each shown class with exact ranges, its
//! kind and a snippet.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use super::Health;
use super::detect::{CloneClass, CloneKind, MIN_TOKENS};
use super::fingerprint::Fingerprints;
use super::index::{DetectionKey, FileHealth};
use super::refine;
use super::similar::{self, SimilarClass};
use super::source::{Source, SourceCache};
use crate::search::FileFilter;
use crate::structure::{Scope, StructureError};

/// Copies of one class listed by default: boilerplate copied hundreds of times would fill an
/// answer with one class (`max_copies` asks for more).
pub const MAX_LISTED_COPIES: usize = 50;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

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

/// What identifies a files filter among detections ([`Options::filter_key`]): the same for
/// every question with the same file types and exclusions, whichever tool asks.
pub fn filter_key(file_types: &[String], exclude_patterns: &[String]) -> String {
    format!("{file_types:?}|{exclude_patterns:?}")
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
    /// Where `similar` clones come from (none: token-based clones only).
    pub similar: Option<SimilarSource<'a>>,
}

/// The chunk vectors of a root, for `similar` clones.
pub struct SimilarSource<'a> {
    /// The root's semantic index.
    pub index: &'a parking_lot::Mutex<crate::semantic::index::SemanticIndex>,
    /// Least cosine of two definitions' vectors (the answer's `min_similarity` when higher).
    pub threshold: f32,
    /// Definitions compared at most (every pair is compared).
    pub max_chunks: usize,
}

/// What became of `similar` clones in a report.
#[derive(Debug, Clone, PartialEq)]
pub enum SimilarOutcome {
    /// Not asked for.
    Off,
    /// The root has no chunk vectors (no embedding model, or not embedded yet).
    NoVectors,
    /// More eligible definitions than the configured maximum: none compared.
    TooMany {
        /// Definitions that would be compared.
        eligible: usize,
        /// The maximum.
        limit: usize,
    },
    /// Compared: `embedded` of `total` chunks had vectors.
    Compared {
        /// Chunks with a vector.
        embedded: u64,
        /// Chunks in the root.
        total: u64,
    },
}

/// The classes of a root, before any is shown.
#[derive(Clone)]
pub struct Found {
    /// Candidate classes, largest first: those a few lines short of the bar are measured
    /// exactly before they are counted. (The detection's own list when the question takes
    /// every class: each page of a report finds it again.)
    pub classes: Arc<Vec<Arc<CloneClass>>>,
    verdicts: super::index::Verdicts,
    min_lines: u32,
    min_similarity: f32,
    /// Files compared.
    pub files_compared: usize,
    /// Files left out as generated, minified or vendored.
    pub skipped_generated: usize,
    /// A few of them, for the answer.
    pub skipped_examples: Vec<String>,
    /// Code files whose parse is still pending.
    pub pending: usize,
    /// Classes of definitions alike by their vectors, largest first.
    pub similar: Arc<Vec<SimilarClass>>,
    /// Whether and how `similar` clones were looked for.
    pub similar_outcome: SimilarOutcome,
    /// Document → the root's file: its path for presenting, its fingerprints (and line
    /// hashes) for measuring exact ranges.
    files: Arc<HashMap<u32, FileHealth>>,
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
    /// `exact`, `renamed` (identifiers or literals differ), `near` (a few lines differ) or
    /// `similar` (definitions whose embedding vectors are nearly the same).
    pub kind: String,
    /// Share of the copies' tokens that match (1 for exact and renamed); for `similar`, the
    /// lowest cosine of the definitions' vectors.
    pub similarity: f32,
    /// Lines of the shortest copy.
    pub lines: u32,
    /// Copies.
    pub copies: usize,
    /// Every copy as `path:start-end` (the first `max_copies`, by default
    /// [`MAX_LISTED_COPIES`], of a larger class).
    pub occurrences: Vec<String>,
    /// The same copies, structured.
    pub locations: Vec<Occurrence>,
    /// Copies past `max_copies`, counted but not listed (ask for more with `max_copies`, or
    /// narrow the question with `path`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted_copies: usize,
    /// The first copy's first lines.
    pub snippet: String,
}

impl ReportedClass {
    /// Lists at most `max` copies (all when 0), counting the rest in `unlisted_copies`.
    pub fn limit_copies(&mut self, max: usize) {
        if max > 0 && self.locations.len() > max {
            self.locations.truncate(max);
            self.occurrences.truncate(max);
        }
        self.unlisted_copies = self.copies - self.locations.len();
    }
}

/// Which of a root's files a question's files filter takes (its file types and exclusions,
/// and generated files left out or not), found once per root generation and filter: every
/// page of a report asks again, and finding them walks the whole root.
pub struct Taken {
    /// Documents taken.
    docs: HashSet<u32>,
    /// Files left out as generated, minified or vendored.
    skipped_generated: usize,
    /// A few of them, for the answer.
    skipped_examples: Vec<String>,
}

impl Taken {
    /// The files of `files` that `options` takes.
    fn find(files: &HashMap<u32, FileHealth>, options: &Options<'_>) -> Taken {
        let mut taken = Taken {
            docs: HashSet::new(),
            skipped_generated: 0,
            skipped_examples: Vec::new(),
        };
        for (doc, file) in files {
            if !options.filter.accepts(&file.path, &file.language) {
                continue;
            }
            if options.skip_generated
                && let Some(reason) = generated_reason(&file.path, &file.facts.prints)
            {
                taken.skipped_generated += 1;
                if taken.skipped_examples.len() < 5 {
                    taken
                        .skipped_examples
                        .push(format!("{} ({reason})", file.path));
                }
                continue;
            }
            taken.docs.insert(*doc);
        }
        taken.skipped_examples.sort();
        taken
    }

    /// Heap bytes held (estimated).
    pub fn heap_bytes(&self) -> u64 {
        (self.docs.capacity() * (std::mem::size_of::<u32>() + 1)
            + self
                .skipped_examples
                .iter()
                .map(String::capacity)
                .sum::<usize>()) as u64
    }
}

/// Finds the clone classes of the root `scope` shows.
pub fn find(
    scope: &Scope<'_>,
    health: &Health,
    options: &Options<'_>,
) -> Result<Found, StructureError> {
    let root = health.root(scope.root_id);
    let mut root = root.lock();
    let started = std::time::Instant::now();
    root.sync(scope.view, health.cache())?;
    let synced = started.elapsed();
    let files_key = format!("{}|{}", options.filter_key, options.skip_generated);
    let taken = root.taken(&files_key, |files| Taken::find(files, options));
    let files = root.files_shared();
    let key = DetectionKey {
        generation: scope.view.index.generation,
        files: files_key,
        min_lines: options.min_lines,
        min_similarity: options.min_similarity,
    };
    let fingerprints = root.fingerprint_count();
    let pending = root.pending();
    // Detection knows a copy by its matched k-grams, which may stop a few lines short of it:
    // it runs with a lower bar, and the classes near the bar are measured exactly when a page
    // needs them.
    let keep = health.kept_detections();
    let (all, verdicts) = root.classes(
        key.clone(),
        options.min_lines,
        keep,
        |doc, _: &FileHealth| taken.docs.contains(&doc),
    );
    tracing::debug!(
        sync_ms = synced.as_millis() as u64,
        detect_ms = (started.elapsed() - synced).as_millis() as u64,
        candidates = all.len(),
        "clone detection"
    );
    let (similar, similar_outcome) = match &options.similar {
        None => (Arc::default(), SimilarOutcome::Off),
        Some(source) => similar_classes(&mut root, source, &key, &taken, scope, &all, options),
    };
    drop(root);
    let in_scope = |doc: u32| match options.touching {
        None => true,
        Some(prefix) => files.get(&doc).is_some_and(|FileHealth { path, .. }| {
            prefix.is_empty()
                || &**path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        }),
    };
    let classes = match options.touching {
        None => all,
        Some(_) => Arc::new(
            all.iter()
                .filter(|class| class.regions.iter().any(|region| in_scope(region.doc)))
                .cloned()
                .collect(),
        ),
    };
    let similar = if options.touching.is_some() {
        Arc::new(
            similar
                .iter()
                .filter(|class| class.members.iter().any(|member| in_scope(member.doc)))
                .cloned()
                .collect(),
        )
    } else {
        similar
    };
    Ok(Found {
        classes,
        similar,
        similar_outcome,
        verdicts,
        min_lines: options.min_lines,
        min_similarity: options.min_similarity,
        files_compared: taken.docs.len(),
        skipped_generated: taken.skipped_generated,
        skipped_examples: taken.skipped_examples.clone(),
        pending,
        files,
        fingerprints,
    })
}

/// The `similar` classes of the root (cached with its clone detection): definitions of the
/// files taken, at least `min_lines` long, whose vectors are close, less the pairs a
/// token-based candidate class already ties together.
fn similar_classes(
    root: &mut super::index::RootHealth,
    source: &SimilarSource<'_>,
    key: &DetectionKey,
    taken: &Taken,
    scope: &Scope<'_>,
    structural: &[Arc<CloneClass>],
    options: &Options<'_>,
) -> (Arc<Vec<SimilarClass>>, SimilarOutcome) {
    let threshold = source.threshold.max(options.min_similarity);
    let index = source.index.lock();
    let embedded = index.embedded();
    if embedded.done == 0 {
        return (Arc::default(), SimilarOutcome::NoVectors);
    }
    let outcome = SimilarOutcome::Compared {
        embedded: embedded.done,
        total: embedded.total,
    };
    let similar_key = super::index::SimilarKey {
        detection: key.clone(),
        vectors: embedded.done,
        semantic_generation: index.generation,
        threshold,
    };
    if let Some(cached) = root.similar(&similar_key) {
        return (cached, outcome);
    }
    let docs = &scope.view.index.docs;
    let chunks = index.chunk_vectors(|doc, file, chunk| {
        matches!(chunk.kind, crate::chunks::ChunkKind::Symbol(kind) if kind.is_callable())
            && chunk.end_line.saturating_sub(chunk.start_line) + 1 >= options.min_lines
            && taken.docs.contains(&doc)
            && docs.get(doc).is_some_and(|live| live.hash == file.hash)
    });
    drop(index);
    if chunks.len() > source.max_chunks {
        return (
            Arc::default(),
            SimilarOutcome::TooMany {
                eligible: chunks.len(),
                limit: source.max_chunks,
            },
        );
    }
    // Token-based places by document: a pair both of whose ends lie in places of one class
    // is already reported.
    let mut places: HashMap<u32, Vec<(u32, u32, usize)>> = HashMap::new();
    for (at, class) in structural.iter().enumerate() {
        for region in &class.regions {
            places
                .entry(region.doc)
                .or_default()
                .push((region.start_line, region.end_line, at));
        }
    }
    let classes_at = |member: &similar::Member| -> Vec<usize> {
        places
            .get(&member.doc)
            .into_iter()
            .flatten()
            .filter(|(start, end, _)| *start <= member.end_line && member.start_line <= *end)
            .map(|(_, _, class)| *class)
            .collect()
    };
    let covered = |a: &similar::Member, b: &similar::Member| {
        let of_a = classes_at(a);
        !of_a.is_empty() && classes_at(b).iter().any(|class| of_a.contains(class))
    };
    let found = Arc::new(similar::classes(&chunks, threshold, covered));
    root.keep_similar(similar_key, Arc::clone(&found));
    (found, outcome)
}

/// A class in a report's order: found from tokens or from vectors.
#[derive(Clone, Copy)]
enum Entry<'a> {
    Tokens(&'a Arc<CloneClass>),
    Vectors(&'a SimilarClass),
}

/// Where a walk over a report's classes may begin: the longest run of them from the first
/// whose every one has a verdict, with where each class meeting the bar in it sits, and how
/// many from each place on surely count. Kept with the verdicts for the class lists it was
/// made on, so the pages of a report, asked one after another, each walk their own classes
/// rather than every class before them again (three times: to find what to read, what to
/// measure, and what to show).
pub struct Judged {
    /// The lists the run is of.
    classes: Arc<Vec<Arc<CloneClass>>>,
    similar: Arc<Vec<SimilarClass>>,
    /// Classes (token- and vector-based, in report order) the run covers.
    len: usize,
    /// The place in report order of each class meeting the bar in the run, in order.
    accepted_at: Vec<u32>,
    /// For each place in report order (and one past the end): how many classes from there
    /// on surely count without being measured, and whether all of them do.
    surely_after: Vec<(u32, bool)>,
}

impl Judged {
    /// An empty run over `entries` of `found`.
    fn new(found: &Found, entries: &[Entry<'_>]) -> Judged {
        let mut surely_after = vec![(0u32, true); entries.len() + 1];
        for (at, entry) in entries.iter().enumerate().rev() {
            let counts = match entry {
                Entry::Tokens(class) => found.surely_counts(class),
                Entry::Vectors(_) => true,
            };
            let (after, all) = surely_after[at + 1];
            surely_after[at] = (after + u32::from(counts), all && counts);
        }
        Judged {
            classes: Arc::clone(&found.classes),
            similar: Arc::clone(&found.similar),
            len: 0,
            accepted_at: Vec::new(),
            surely_after,
        }
    }

    /// Where a walk that has passed `accepted` classes meeting the bar may begin: the place
    /// of the next one and `accepted`, when the run reaches it; else the run's end and the
    /// classes meeting the bar in it.
    fn resume(&self, accepted: usize) -> (usize, usize) {
        match self.accepted_at.get(accepted) {
            Some(&at) => (at as usize, accepted),
            None => (self.len, self.accepted_at.len()),
        }
    }

    /// Extends the run over the classes judged since.
    fn extend(
        &mut self,
        entries: &[Entry<'_>],
        reports: &HashMap<u64, Option<Arc<ReportedClass>>>,
    ) {
        while let Some(entry) = entries.get(self.len) {
            let counted = match entry {
                Entry::Vectors(_) => true,
                Entry::Tokens(class) => match reports.get(&class.id) {
                    Some(verdict) => verdict.is_some(),
                    None => break,
                },
            };
            if counted {
                self.accepted_at.push(self.len as u32);
            }
            self.len += 1;
        }
    }
}

/// One page of classes.
pub struct Page {
    /// The classes shown.
    pub shown: Vec<ReportedClass>,
    /// Classes meeting the bar: exact when `complete`, else a lower bound.
    pub total: usize,
    /// Whether every candidate was judged (so `total` is exact).
    pub complete: bool,
}

impl Found {
    /// Runs `with` on the judged run kept for this report's class lists (an empty one when
    /// the kept one is for others: the classes changed since).
    fn with_judged<T>(&self, entries: &[Entry<'_>], with: impl FnOnce(&mut Judged) -> T) -> T {
        let mut judged = self.verdicts.judged.lock();
        let current = judged.as_ref().is_some_and(|judged| {
            Arc::ptr_eq(&judged.classes, &self.classes)
                && Arc::ptr_eq(&judged.similar, &self.similar)
        });
        if !current {
            *judged = None;
        }
        with(judged.get_or_insert_with(|| Judged::new(self, entries)))
    }

    /// Whether candidate `class` surely meets the bar without being measured.
    fn surely_counts(&self, class: &CloneClass) -> bool {
        class.lines() >= self.min_lines
            && class
                .regions
                .iter()
                .all(|region| region.end - region.start + 1 >= MIN_TOKENS)
    }

    /// Classes `first..first + count` of those meeting the bar, with exact ranges, kinds and
    /// snippets (ranges measured on the stored fingerprints, each snippet's file read from
    /// the store), measuring the candidates near the bar on the way; one more is looked for,
    /// to know whether more follow.
    pub fn page(
        &self,
        scope: &Scope<'_>,
        health: &Health,
        first: usize,
        count: usize,
    ) -> Result<Page, StructureError> {
        let entries = self.entries();
        // Measured under the detection's measuring lock: a measure of this page begun in the
        // background ([`Found::measure_in_background`]) is waited for, not repeated.
        let mut refiner = {
            let _measuring = self.verdicts.measuring.lock();
            self.measured(scope, health, &entries, first, first + count)?
        };
        let mut shown = Vec::new();
        let (start, mut accepted) = self.with_judged(&entries, |judged| judged.resume(first));
        let mut walked = start;
        for entry in &entries[start..] {
            if accepted >= first + count || scope.work.should_stop() {
                break;
            }
            walked += 1;
            let wanted = accepted >= first && accepted < first + count;
            let class = match entry {
                Entry::Vectors(class) => {
                    if wanted {
                        shown.push(refiner.report_similar(class)?);
                    }
                    accepted += 1;
                    continue;
                }
                Entry::Tokens(class) => class,
            };
            // Whether the class counts (`None`: not measured yet), with its report when this
            // page shows it; reports of classes walked past are not copied.
            let known: Option<Option<Option<ReportedClass>>> =
                self.verdicts.reports.lock().get(&class.id).map(|verdict| {
                    verdict
                        .as_ref()
                        .map(|report| wanted.then(|| ReportedClass::clone(report)))
                });
            let counted = match known {
                Some(counted) => counted,
                None if !wanted && self.surely_counts(class) => Some(None),
                None => {
                    let report = refiner.report(class, self.min_lines, self.min_similarity)?;
                    self.verdicts
                        .reports
                        .lock()
                        .insert(class.id, report.clone().map(Arc::new));
                    report.map(|report| wanted.then_some(report))
                }
            };
            if let Some(report) = counted {
                shown.extend(report);
                accepted += 1;
            }
        }
        let (surely_after, all_after) = self.with_judged(&entries, |judged| {
            judged.extend(&entries, &self.verdicts.reports.lock());
            judged.surely_after[walked]
        });
        Ok(Page {
            shown,
            total: accepted + surely_after as usize,
            complete: all_after,
        })
    }

    /// Measures the classes that showing classes `first..end` of `entries` needs measured,
    /// reading the files they quote first, all in parallel: what [`Found::page`] does before
    /// it walks the classes, giving back the files read. The caller holds the detection's
    /// measuring lock.
    fn measured<'a, 'scope>(
        &'a self,
        scope: &'a Scope<'scope>,
        health: &'a Health,
        entries: &[Entry<'_>],
        first: usize,
        end: usize,
    ) -> Result<Refiner<'a, 'scope>, StructureError> {
        let mut refiner = Refiner::new(scope, &self.files, health.sources());
        refiner.prefetch(&self.likely_measured(entries, end))?;
        self.measure_ahead(scope, &refiner, entries, first, end)?;
        Ok(refiner)
    }

    /// Measures the classes of `first..end` ([`Found::measured`]) on the shared thread pool,
    /// off any request's path, on a view of the root taken there; nothing when the root's
    /// index is no longer at `generation` (the classes were found on that one). A client
    /// reading a report page by page asks for the next page once it has read this one:
    /// measuring it meanwhile uses a core that would wait, and a client that does not ask
    /// costs a page or two's measure. At most one such measure per detection is queued,
    /// and it gives way (does nothing) when a request is measuring the detection: many
    /// clients asking at once never tie the pool's threads up waiting on one another.
    pub fn measure_in_background(
        self,
        engine: Arc<crate::engine::Engine>,
        root_id: crate::store::RootId,
        root_path: std::path::PathBuf,
        generation: u64,
        (first, end): (usize, usize),
    ) {
        use std::sync::atomic::Ordering;
        if self.verdicts.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // A panic in a job spawned on the pool would end the process: caught and logged.
        rayon::spawn(move || {
            let measured = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.measure_now(&engine, root_id, &root_path, generation, (first, end));
            }));
            if measured.is_err() {
                tracing::error!("measuring the next pages of clones panicked");
            }
        });
    }

    /// The body of [`Found::measure_in_background`]'s job.
    fn measure_now(
        &self,
        engine: &crate::engine::Engine,
        root_id: crate::store::RootId,
        root_path: &std::path::Path,
        generation: u64,
        (first, end): (usize, usize),
    ) {
        use std::sync::atomic::Ordering;
        self.verdicts.queued.store(false, Ordering::Release);
        let Some(_measuring) = self.verdicts.measuring.try_lock() else {
            return;
        };
        let view = match engine.store().view(root_id) {
            Ok(view) if view.index.generation == generation => view,
            Ok(_) => return,
            Err(err) => {
                tracing::debug!(%err, "no view to measure the next page of clones on");
                return;
            }
        };
        let work = crate::work::Work::new(engine.cancel_on_shutdown(), None);
        let scope = Scope {
            view: &view,
            root_id,
            root_path,
            prefix: "",
            config: &engine.config().index,
            work: &work,
        };
        if let Err(err) = self.measured(&scope, engine.health(), &self.entries(), first, end) {
            tracing::debug!(%err, "measuring the next page of clones");
        }
    }

    /// Measures, in parallel, the classes a page of classes `first..end` will measure one by
    /// one: those without a verdict that the walk reaches if each of them counts, less those
    /// before `first` that surely count (a page walks past them without measuring). A class
    /// found short moves later ones up, so this goes on with those, round after round, until
    /// the page is known (near the bar, half the candidates can fall short: left to the walk,
    /// they would be measured on one thread).
    fn measure_ahead(
        &self,
        scope: &Scope<'_>,
        refiner: &Refiner<'_, '_>,
        entries: &[Entry<'_>],
        first: usize,
        end: usize,
    ) -> Result<(), StructureError> {
        use rayon::prelude::*;
        loop {
            let unmeasured = self.unmeasured(entries, first, end);
            if unmeasured.len() < 2 || scope.work.should_stop() {
                return Ok(());
            }
            let measured: Vec<(u64, Option<Arc<ReportedClass>>)> = unmeasured
                .par_iter()
                .filter(|_| !scope.work.should_stop())
                .map(|class| {
                    let report = refiner.report(class, self.min_lines, self.min_similarity)?;
                    Ok((class.id, report.map(Arc::new)))
                })
                .collect::<Result<_, StructureError>>()?;
            self.verdicts.reports.lock().extend(measured);
        }
    }

    /// The classes without a verdict that a walk up to the `end`th class meeting the bar
    /// measures if each of them counts, less those before `first` that surely count.
    fn unmeasured<'e>(
        &self,
        entries: &[Entry<'e>],
        first: usize,
        end: usize,
    ) -> Vec<&'e Arc<CloneClass>> {
        let mut unmeasured = Vec::new();
        let (start, mut accepted) = self.with_judged(entries, |judged| judged.resume(end));
        let verdicts = self.verdicts.reports.lock();
        for entry in &entries[start..] {
            if accepted >= end {
                break;
            }
            let class = match entry {
                Entry::Vectors(_) => {
                    accepted += 1;
                    continue;
                }
                Entry::Tokens(class) => class,
            };
            match verdicts.get(&class.id) {
                Some(verdict) => accepted += usize::from(verdict.is_some()),
                None if accepted < first && self.surely_counts(class) => accepted += 1,
                None => {
                    unmeasured.push(*class);
                    accepted += 1;
                }
            }
        }
        unmeasured
    }

    /// The documents a page up to `end` will most likely quote: the first copy's (by path)
    /// of each class without a verdict among the first `end` (earlier ones found short move
    /// later ones up; those are read when reached).
    fn likely_measured(&self, entries: &[Entry<'_>], end: usize) -> Vec<u32> {
        let judged = self.with_judged(entries, |judged| judged.len);
        let verdicts = self.verdicts.reports.lock();
        let mut docs: Vec<u32> = Vec::new();
        for entry in entries.iter().take(end).skip(judged) {
            match entry {
                Entry::Vectors(class) => docs.extend(class.members.iter().map(|m| m.doc)),
                Entry::Tokens(class) if !verdicts.contains_key(&class.id) => docs.extend(
                    class
                        .regions
                        .iter()
                        .map(|region| region.doc)
                        .min_by_key(|doc| self.files.get(doc).map(|file| &file.path)),
                ),
                Entry::Tokens(_) => {}
            }
        }
        docs.sort_unstable();
        docs.dedup();
        docs
    }

    /// Token-based and vector-based classes merged, largest first.
    fn entries(&self) -> Vec<Entry<'_>> {
        let mut entries = Vec::with_capacity(self.classes.len() + self.similar.len());
        let mut similar = self.similar.iter().peekable();
        for class in self.classes.iter() {
            while let Some(next) = similar.next_if(|next| next.size() > class.size()) {
                entries.push(Entry::Vectors(next));
            }
            entries.push(Entry::Tokens(class));
        }
        entries.extend(similar.map(Entry::Vectors));
        entries
    }
}

/// Reports classes with exact ranges, reading each quoted file once (and keeping it in the
/// shared source cache for the next page and report).
struct Refiner<'a, 'scope> {
    scope: &'a Scope<'scope>,
    files: &'a HashMap<u32, FileHealth>,
    cache: &'a SourceCache,
    sources: HashMap<u32, Option<Arc<Source>>>,
}

impl<'a, 'scope> Refiner<'a, 'scope> {
    fn new(
        scope: &'a Scope<'scope>,
        files: &'a HashMap<u32, FileHealth>,
        cache: &'a SourceCache,
    ) -> Self {
        Refiner {
            scope,
            files,
            cache,
            sources: HashMap::new(),
        }
    }

    /// Document `doc` as a source, from the cache or the store.
    fn read(&self, doc: u32) -> Result<Option<Arc<Source>>, StructureError> {
        let Some(live) = self.scope.view.index.docs.get(doc) else {
            return Ok(None);
        };
        if let Some(source) = self.cache.get(&live.hash) {
            return Ok(Some(source));
        }
        let Some(content) = self.scope.view.content(&live.hash)? else {
            return Ok(None);
        };
        let source = Arc::new(Source::new(content));
        self.cache.insert(live.hash, Arc::clone(&source));
        Ok(Some(source))
    }

    /// Reads `docs` in parallel.
    fn prefetch(&mut self, docs: &[u32]) -> Result<(), StructureError> {
        use rayon::prelude::*;
        let wanted: Vec<u32> = docs
            .iter()
            .copied()
            .filter(|doc| !self.sources.contains_key(doc))
            .collect();
        let read: Vec<(u32, Option<Arc<Source>>)> = wanted
            .par_iter()
            .map(|&doc| Ok((doc, self.read(doc)?)))
            .collect::<Result<_, StructureError>>()?;
        self.sources.extend(read);
        Ok(())
    }

    fn load(&mut self, doc: u32) -> Result<(), StructureError> {
        if !self.sources.contains_key(&doc) {
            let source = self.read(doc)?;
            self.sources.insert(doc, source);
        }
        Ok(())
    }

    /// The path of document `doc` (empty if the root no longer has it).
    fn path_of(&self, doc: u32) -> String {
        self.files
            .get(&doc)
            .map(|file| file.path.to_string())
            .unwrap_or_default()
    }

    fn source(&self, doc: u32) -> Option<&Arc<Source>> {
        self.sources.get(&doc)?.as_ref()
    }

    /// A `similar` class as an answer shows it.
    fn report_similar(&mut self, class: &SimilarClass) -> Result<ReportedClass, StructureError> {
        for member in &class.members {
            self.load(member.doc)?;
        }
        let mut located: Vec<(Occurrence, u32)> = class
            .members
            .iter()
            .map(|member| {
                let occurrence = Occurrence {
                    file_path: self.path_of(member.doc),
                    start_line: member.start_line,
                    end_line: member.end_line,
                };
                (occurrence, member.doc)
            })
            .collect();
        located.sort_by(|a, b| {
            (&a.0.file_path, a.0.start_line).cmp(&(&b.0.file_path, b.0.start_line))
        });
        Ok(self.reported(located, "similar", class.similarity, |doc| {
            self.source(doc).cloned()
        }))
    }

    /// The answer's form of a class whose copies are `located`.
    fn reported(
        &self,
        located: Vec<(Occurrence, u32)>,
        kind: &str,
        similarity: f32,
        source_of: impl Fn(u32) -> Option<Arc<Source>>,
    ) -> ReportedClass {
        let located = merge_overlapping(located);
        let first_doc = located.first().map(|(_, doc)| *doc);
        let locations: Vec<Occurrence> = located.into_iter().map(|(at, _)| at).collect();
        let copies = locations.len();
        // A class whose copies all turn out to be one place is no clone.
        let lines = if locations.len() < 2 {
            0
        } else {
            locations
                .iter()
                .map(|at| at.end_line.saturating_sub(at.start_line) + 1)
                .min()
                .unwrap_or(0)
        };
        let snippet = first_doc
            .zip(locations.first())
            .and_then(|(doc, at)| {
                let source = source_of(doc)?;
                Some(crate::snippet::lines(
                    &source.content,
                    at.start_line,
                    at.end_line,
                    SNIPPET_LINES,
                    SNIPPET_LINE_CHARS,
                ))
            })
            .unwrap_or_default();
        ReportedClass {
            kind: kind.to_string(),
            similarity: (similarity * 1000.0).round() / 1000.0,
            lines,
            copies,
            unlisted_copies: 0,
            occurrences: locations
                .iter()
                .map(|at| format!("{}:{}-{}", at.file_path, at.start_line, at.end_line))
                .collect(),
            locations,
            snippet,
        }
    }

    /// `class` as an answer shows it, with only the copies that measured exactly hold
    /// `min_lines` lines and [`MIN_TOKENS`] tokens and share enough lines verbatim with
    /// another copy ([`refine::MIN_VERBATIM_SHARE`]); `None` when fewer than two do.
    fn report(
        &self,
        class: &CloneClass,
        min_lines: u32,
        min_similarity: f32,
    ) -> Result<Option<ReportedClass>, StructureError> {
        let files = self.files;
        let refined = refine::refine(
            class,
            &|doc| files.get(&doc).map(|file| &*file.facts.prints),
            min_similarity,
        );
        let mut located: Vec<(Occurrence, u32)> = class
            .regions
            .iter()
            .zip(&refined.ranges)
            .zip(refined.tokens.iter().zip(&refined.verbatim))
            .filter(|(_, (tokens, verbatim))| **tokens >= MIN_TOKENS && **verbatim)
            .map(|((region, range), _)| {
                let definitions = self
                    .scope
                    .view
                    .index
                    .docs
                    .get(region.doc)
                    .and_then(|live| live.definitions.clone());
                // Trimmed to whole definitions, except where that would drop an exact
                // copy under the bar: the same tokens across the end of one definition and
                // the start of the next (two impl blocks copied together) are still a copy.
                // (Alike only up to names, such a stretch is mostly shared shape.)
                let whole = (range.start_line, range.end_line);
                let trimmed = within_definitions(
                    whole,
                    definitions.as_deref().unwrap_or(&Default::default()),
                    min_lines,
                );
                let trimmed = if refined.kind != CloneKind::Exact
                    || trimmed.1.saturating_sub(trimmed.0) + 1 >= min_lines
                {
                    trimmed
                } else {
                    whole
                };
                let (start_line, end_line) = match self.files.get(&region.doc) {
                    Some(file) => without_blank_ends(trimmed, &file.facts.prints),
                    None => trimmed,
                };
                let occurrence = Occurrence {
                    file_path: self.path_of(region.doc),
                    start_line,
                    end_line,
                };
                (occurrence, region.doc)
            })
            .collect();
        located.sort_by(|a, b| {
            (&a.0.file_path, a.0.start_line).cmp(&(&b.0.file_path, b.0.start_line))
        });
        located.retain(|(at, _)| at.end_line.saturating_sub(at.start_line) + 1 >= min_lines);
        let first = match located.first() {
            Some((_, doc)) => match self.sources.get(doc) {
                Some(source) => source.clone(),
                None => self.read(*doc)?,
            },
            None => None,
        };
        let report = self.reported(located, refined.kind.as_str(), refined.similarity, |_| {
            first.clone()
        });
        Ok((report.copies >= 2).then_some(report))
    }
}

/// A copy's range trimmed so it does not take a definition in half: when a definition starts
/// inside the range and ends after it, or starts before it and ends inside, the smaller of the
/// two sides is cut off when it is shorter than `min_lines` (a maximal match often runs on
/// into the next function's `def name(args):` line, which belongs to that function, or starts
/// on the attributes and the `fn name() {` line of a function whose body is the copy). A
/// side of `min_lines` or more is a copy in its own right (a file copied whole crosses every
/// definition) and stays.
fn within_definitions(
    (mut start, mut end): (u32, u32),
    definitions: &crate::symbols::Definitions,
    min_lines: u32,
) -> (u32, u32) {
    for (first_line, last_line) in definitions.spans() {
        // Definitions come in order of their first lines, and the range only shrinks: none
        // from here on can start inside it or enclose its start.
        if first_line > end {
            break;
        }
        if first_line > start && last_line > end {
            let before = first_line - start;
            let inside = end - first_line + 1;
            if before.min(inside) >= min_lines {
                continue;
            }
            if inside > before {
                start = first_line;
            } else {
                end = first_line - 1;
            }
        } else if last_line >= start && last_line < end && first_line < start {
            let inside = last_line - start + 1;
            let after = end - last_line;
            if inside.min(after) >= min_lines {
                continue;
            }
            if inside > after {
                end = last_line;
            } else {
                start = last_line + 1;
            }
        }
    }
    (start, end.max(start))
}

/// Copies sorted by path and start, with those of one file that mostly overlap made one
/// (exact ranges grown from two nearby matches can meet). Copies that overlap by a few lines
/// stay apart: in code that repeats itself (a run of similar blocks), each block is a copy
/// of the next, and merging every overlap would make the whole run one place.
fn merge_overlapping(located: Vec<(Occurrence, u32)>) -> Vec<(Occurrence, u32)> {
    let mut merged: Vec<(Occurrence, u32)> = Vec::with_capacity(located.len());
    for (at, doc) in located {
        if let Some((last, last_doc)) = merged.last_mut()
            && *last_doc == doc
            && at.start_line <= last.end_line
        {
            let overlap = last.end_line.min(at.end_line) - at.start_line + 1;
            let shorter =
                (last.end_line - last.start_line + 1).min(at.end_line - at.start_line + 1);
            if overlap * 4 >= shorter * 3 {
                last.end_line = last.end_line.max(at.end_line);
                continue;
            }
        }
        merged.push((at, doc));
    }
    merged
}

/// A range without the lines at its ends that hold no code (trimming at a definition can
/// leave the blank lines and comments before it).
fn without_blank_ends((mut start, mut end): (u32, u32), prints: &Fingerprints) -> (u32, u32) {
    while end > start && prints.line(end).tokens == 0 {
        end -= 1;
    }
    while start < end && prints.line(start).tokens == 0 {
        start += 1;
    }
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str, start_line: u32, end_line: u32) -> Occurrence {
        Occurrence {
            file_path: path.to_string(),
            start_line,
            end_line,
        }
    }

    fn definition(start_line: u32, end_line: u32) -> crate::symbols::Definitions {
        std::iter::once(crate::symbols::Definition {
            name: "f",
            index: 0,
            start_line,
            end_line,
            kind: crate::symbols::SymbolKind::Function,
            documented: false,
            parent: None,
            scope: None,
        })
        .collect()
    }

    fn file(path: &str, language: &str) -> FileHealth {
        FileHealth {
            path: Arc::from(path),
            hash: [0; 32],
            language: Arc::from(language),
            facts: Arc::default(),
        }
    }

    fn options<'a>(filter: &'a FileFilter, skip_generated: bool) -> Options<'a> {
        Options {
            min_lines: 10,
            min_similarity: 0.8,
            filter,
            filter_key: "",
            skip_generated,
            touching: None,
            similar: None,
        }
    }

    #[test]
    fn the_files_taken_follow_the_filter_and_leave_generated_ones_out_only_when_asked() {
        let files: HashMap<u32, FileHealth> = [
            (1, file("src/lib.rs", "Rust")),
            (2, file("vendor/dep/lib.rs", "Rust")),
            (3, file("web/app.min.js", "JavaScript")),
            (4, file("tools/build.py", "Python")),
        ]
        .into_iter()
        .collect();
        let everything = FileFilter::default();
        let taken = Taken::find(&files, &options(&everything, true));
        assert_eq!(taken.docs, HashSet::from([1, 4]));
        assert_eq!(taken.skipped_generated, 2);
        assert_eq!(
            taken.skipped_examples,
            ["vendor/dep/lib.rs (vendored)", "web/app.min.js (generated)"]
        );
        let taken = Taken::find(&files, &options(&everything, false));
        assert_eq!(taken.docs, HashSet::from([1, 2, 3, 4]));
        assert_eq!(taken.skipped_generated, 0);
        // A file the filter refuses is not counted as skipped for being generated.
        let rust = FileFilter::new("", &["rust".to_string()], &[]).expect("a filter");
        let taken = Taken::find(&files, &options(&rust, true));
        assert_eq!(taken.docs, HashSet::from([1]));
        assert_eq!(taken.skipped_generated, 1);
    }

    #[test]
    fn a_copy_keeps_the_larger_side_of_a_definition_it_crosses() {
        // Runs two lines into the next function: those are cut off.
        assert_eq!(
            within_definitions((10, 30), &definition(29, 50), 10),
            (10, 28)
        );
        // Starts on the attributes and header of a function whose body it is: the head goes.
        assert_eq!(
            within_definitions((8, 30), &definition(10, 50), 10),
            (10, 30)
        );
        // Starts on the last two lines of the previous function: those go.
        assert_eq!(
            within_definitions((19, 40), &definition(1, 20), 10),
            (21, 40)
        );
        // Mostly the tail of a function, then a line or two past it: the tail stays.
        assert_eq!(within_definitions((5, 22), &definition(1, 20), 10), (5, 20));
        // Ten lines or more on each side: both halves are copies, nothing is cut.
        assert_eq!(
            within_definitions((10, 40), &definition(25, 60), 10),
            (10, 40)
        );
        assert_eq!(
            within_definitions((10, 40), &definition(1, 24), 10),
            (10, 40)
        );
        // Inside one definition: untouched.
        assert_eq!(within_definitions((5, 15), &definition(1, 20), 10), (5, 15));
    }

    #[test]
    fn trimming_stops_at_the_first_definition_past_the_range_with_the_same_result() {
        // The trim as it was before it stopped early: every definition looked at.
        fn every_definition(
            (mut start, mut end): (u32, u32),
            definitions: &crate::symbols::Definitions,
            min_lines: u32,
        ) -> (u32, u32) {
            for (first, last) in definitions.spans() {
                if first > start && first <= end && last > end {
                    let (before, inside) = (first - start, end - first + 1);
                    if before.min(inside) >= min_lines {
                        continue;
                    }
                    if inside > before {
                        start = first;
                    } else {
                        end = first - 1;
                    }
                } else if last >= start && last < end && first < start {
                    let (inside, after) = (last - start + 1, end - last);
                    if inside.min(after) >= min_lines {
                        continue;
                    }
                    if inside > after {
                        end = last;
                    } else {
                        start = last + 1;
                    }
                }
            }
            (start, end.max(start))
        }
        // Nested definitions (classes holding methods, a function inside a method) of
        // several lengths, as a parse gives them.
        let mut source = String::new();
        for class in 0..4 {
            source.push_str(&format!("class C{class}:\n"));
            for method in 0..3 + class {
                source.push_str(&format!("    def m{method}(self):\n"));
                if method % 2 == 1 {
                    source.push_str("        def inner():\n            return 1\n");
                }
                for line in 0..(method * 3) % 7 + 1 {
                    source.push_str(&format!("        x = {line}\n"));
                }
                source.push('\n');
            }
        }
        let definitions = crate::symbols::extract("Python", source.as_bytes())
            .and_then(|symbols| symbols.definitions())
            .expect("definitions");
        assert!(definitions.len() > 20);
        let lines = source.lines().count() as u32 + 2;
        for start in 1..lines {
            for end in start..lines {
                for min_lines in [2, 5, 10] {
                    assert_eq!(
                        within_definitions((start, end), &definitions, min_lines),
                        every_definition((start, end), &definitions, min_lines),
                        "{start}-{end}, at least {min_lines}"
                    );
                }
            }
        }
    }

    #[test]
    fn copies_of_one_file_that_mostly_overlap_become_one() {
        let merged = merge_overlapping(vec![
            (at("a.rs", 10, 30), 1),
            (at("a.rs", 12, 34), 1),
            (at("a.rs", 15, 25), 1),
            (at("a.rs", 31, 50), 1),
            (at("a.rs", 51, 60), 1),
            (at("b.rs", 10, 30), 2),
        ]);
        let ranges: Vec<(String, u32, u32)> = merged
            .into_iter()
            .map(|(at, _)| (at.file_path, at.start_line, at.end_line))
            .collect();
        assert_eq!(
            ranges,
            vec![
                ("a.rs".to_string(), 10, 34),
                ("a.rs".to_string(), 31, 50),
                ("a.rs".to_string(), 51, 60),
                ("b.rs".to_string(), 10, 30),
            ]
        );
    }
}
