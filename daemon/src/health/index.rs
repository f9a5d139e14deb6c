//! One root's code-health facts in memory (fingerprints, function metrics, TODO markers per
//! file), kept in step with the root's view (an edit reloads that file's facts only), and the
//! clone detections last asked for (`health.kept_detections`, one by default: each is large),
//! each reused until it falls out and brought up to date file by file when the root changes
//! (an edit re-matches the edited file only).

use std::collections::HashMap;
use std::sync::Arc;

use super::FileFacts;
use super::clones::Taken;
use super::detect::{CloneClass, Detection, FileIn};
use super::similar::SimilarClass;
use crate::store::{ContentHash, StoreError, View};

/// One file's facts.
#[derive(Debug, Clone)]
pub struct FileHealth {
    /// Path relative to the root.
    pub path: Arc<str>,
    /// Content hash.
    pub hash: ContentHash,
    /// Language name.
    pub language: Arc<str>,
    /// What is known of it.
    pub facts: Arc<FileFacts>,
}

/// What a detection was asked, for reusing its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionKey {
    /// The view's index generation.
    pub generation: u64,
    /// Which files took part (a description of the filter).
    pub files: String,
    /// Minimum lines.
    pub min_lines: u32,
    /// Minimum similarity.
    pub min_similarity: f32,
}

impl DetectionKey {
    /// Whether `other` asks the same of the root, at whatever generation.
    fn same_question(&self, other: &DetectionKey) -> bool {
        self.files == other.files
            && self.min_lines == other.min_lines
            && self.min_similarity == other.min_similarity
    }
}

/// A detection asked for, with its classes and the reports measured so far.
struct KeptDetection {
    key: DetectionKey,
    detection: Detection,
    classes: Arc<Vec<Arc<CloneClass>>>,
    verdicts: Verdicts,
}

/// What a `similar` clone search was asked, for reusing its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarKey {
    /// The token-based detection it was made beside.
    pub detection: DetectionKey,
    /// Chunk vectors of the root then.
    pub vectors: u64,
    /// The semantic index's generation then.
    pub semantic_generation: Option<u64>,
    /// Least cosine.
    pub threshold: f32,
}

/// A root's facts and last clone detection.
#[derive(Default)]
pub struct RootHealth {
    /// Shared with the reports being presented ([`RootHealth::files_shared`]); copied on
    /// write when a sync finds them still held.
    files: Arc<HashMap<u32, FileHealth>>,
    /// Code files whose stored structure had no fingerprints yet (parse pending), by hash.
    pending: HashMap<u32, ContentHash>,
    generation: Option<u64>,
    /// Most recently asked first, at most `health.kept_detections`.
    kept: Vec<KeptDetection>,
    last_similar: Option<(SimilarKey, Arc<Vec<SimilarClass>>)>,
    /// The files each recent files filter takes at this generation, most recently asked
    /// first: every page of a report asks again, and finding them walks the whole root.
    taken: Vec<(String, Arc<Taken>)>,
}

/// Files filters whose [`Taken`] are kept at once.
const KEPT_FILTERS: usize = 4;

/// Exact reports of the classes measured so far for the last detection, by class identity
/// (a digest of its places), `None` for those found shorter than the bar.
#[derive(Default)]
pub struct VerdictTable {
    /// The reports (behind an `Arc`: every page looks up the verdicts of the classes before
    /// it, and a table of small entries stays in cache).
    pub reports: parking_lot::Mutex<HashMap<u64, Option<Arc<super::clones::ReportedClass>>>>,
    /// Held while classes are being measured for a page, so that a request for the page a
    /// background measure is working on waits for it rather than measuring the same classes.
    pub measuring: parking_lot::Mutex<()>,
    /// Whether a background measure is queued and not yet started.
    pub queued: std::sync::atomic::AtomicBool,
    /// Where walks over the classes may begin ([`super::clones::Judged`]). Taken before
    /// `reports` when both are held.
    pub judged: parking_lot::Mutex<Option<super::clones::Judged>>,
}

/// The verdicts of one kept detection, shared with the reports being presented.
pub type Verdicts = Arc<VerdictTable>;

impl RootHealth {
    /// Heap bytes held (estimated): the files' facts, which the facts cache may share, and
    /// the kept detections.
    pub fn heap_bytes(&self) -> u64 {
        let files: u64 = self
            .files
            .values()
            .map(|file| std::mem::size_of::<FileHealth>() as u64 + file.facts.heap_bytes())
            .sum();
        let detection: u64 = self
            .kept
            .iter()
            .map(|kept| kept.detection.heap_bytes())
            .sum();
        let taken: u64 = self.taken.iter().map(|(_, taken)| taken.heap_bytes()).sum();
        files + detection + taken
    }

    /// Brings the facts up to `view`: files gone or changed dropped, new ones loaded
    /// (through `cache`, shared by roots holding the same content).
    pub fn sync(&mut self, view: &View, cache: &super::FactsCache) -> Result<(), StoreError> {
        if self.generation == Some(view.index.generation) {
            return Ok(());
        }
        self.taken.clear();
        let docs = &view.index.docs;
        let files = Arc::make_mut(&mut self.files);
        files.retain(|doc, file| docs.get(*doc).is_some_and(|live| live.hash == file.hash));
        self.pending
            .retain(|doc, hash| docs.get(*doc).is_some_and(|live| live.hash == *hash));
        // Files still waiting for their parse are looked at again at each new generation
        // (the parse's commit makes one).
        let wanted: Vec<(u32, &crate::trigram::index::Doc)> = docs
            .iter()
            .filter(|(doc, live)| {
                !files.contains_key(doc) && crate::symbols::grammars::has_grammar(&live.language)
            })
            .collect();
        // Decoding stored structures is most of a first sync: in parallel.
        let loaded: Vec<(u32, Option<Arc<FileFacts>>)> = {
            use rayon::prelude::*;
            wanted
                .par_iter()
                .map(|(doc, live)| {
                    if let Some(facts) = cache.get(&live.hash) {
                        return Ok((*doc, Some(facts)));
                    }
                    let facts = view
                        .snapshot
                        .symbols_without_calls(&live.hash)?
                        .map(|symbols| {
                            let facts = Arc::new(FileFacts::of(symbols, &live.language));
                            cache.insert(live.hash, Arc::clone(&facts));
                            facts
                        });
                    Ok((*doc, facts))
                })
                .collect::<Result<_, StoreError>>()?
        };
        for (doc, facts) in loaded {
            let Some(live) = docs.get(doc) else {
                continue;
            };
            match facts {
                Some(facts) => {
                    self.pending.remove(&doc);
                    files.insert(
                        doc,
                        FileHealth {
                            path: Arc::clone(&live.path),
                            hash: live.hash,
                            language: Arc::clone(&live.language),
                            facts,
                        },
                    );
                }
                None => {
                    self.pending.insert(doc, live.hash);
                }
            }
        }
        self.generation = Some(view.index.generation);
        Ok(())
    }

    /// The file with document id `doc`.
    pub fn file(&self, doc: u32) -> Option<&FileHealth> {
        self.files.get(&doc)
    }

    /// Every file with its document id.
    pub fn files(&self) -> impl Iterator<Item = (u32, &FileHealth)> {
        self.files.iter().map(|(doc, file)| (*doc, file))
    }

    /// Every file by document id, shared: for presenting classes after the root's lock is
    /// given back.
    pub fn files_shared(&self) -> Arc<HashMap<u32, FileHealth>> {
        Arc::clone(&self.files)
    }

    /// The files the filter described by `files` takes at this generation, found with
    /// `find` when not kept.
    pub fn taken(
        &mut self,
        files: &str,
        find: impl FnOnce(&HashMap<u32, FileHealth>) -> Taken,
    ) -> Arc<Taken> {
        let taken = match self.taken.iter().position(|(key, _)| key == files) {
            Some(at) => self.taken.remove(at).1,
            None => Arc::new(find(&self.files)),
        };
        self.taken
            .insert(0, (files.to_string(), Arc::clone(&taken)));
        self.taken.truncate(KEPT_FILTERS);
        taken
    }

    /// Fingerprints held, in all.
    pub fn fingerprint_count(&self) -> usize {
        self.files
            .values()
            .map(|file| file.facts.prints.prints.len())
            .sum()
    }

    /// Code files not parsed yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The candidate clone classes among the files `take` accepts, for copies of
    /// `min_lines` (see [`Detection::new`]), with the exact reports measured so far: reused when
    /// `key` is one of the questions kept, brought up to date when only the root changed
    /// since (the reports of classes the changed files are not in are kept). At most `keep`
    /// detections are held, most recently asked first.
    pub fn classes(
        &mut self,
        key: DetectionKey,
        min_lines: u32,
        keep: usize,
        take: impl Fn(u32, &FileHealth) -> bool,
    ) -> (Arc<Vec<Arc<CloneClass>>>, Verdicts) {
        if let Some(at) = self.kept.iter().position(|kept| kept.key == key) {
            let kept = self.kept.remove(at);
            let answer = (Arc::clone(&kept.classes), Arc::clone(&kept.verdicts));
            self.kept.insert(0, kept);
            return answer;
        }
        let mut inputs: Vec<FileIn> = self
            .files
            .iter()
            .filter(|(doc, file)| take(**doc, file))
            .map(|(doc, file)| FileIn {
                doc: *doc,
                prints: Arc::clone(&file.facts.prints),
            })
            .collect();
        inputs.sort_unstable_by_key(|input| input.doc);
        if let Some(at) = self
            .kept
            .iter()
            .position(|kept| kept.key.same_question(&key))
        {
            let mut last = self.kept.remove(at);
            let changed = last.detection.update(&inputs);
            if !changed.is_empty() {
                let classes = Arc::new(shared(last.detection.classes()));
                let stale: std::collections::HashSet<u64> = last
                    .classes
                    .iter()
                    .filter(|class| class.regions.iter().any(|r| changed.contains(&r.doc)))
                    .map(|class| class.id)
                    .collect();
                let current: std::collections::HashSet<u64> =
                    classes.iter().map(|class| class.id).collect();
                last.verdicts
                    .reports
                    .lock()
                    .retain(|id, _| !stale.contains(id) && current.contains(id));
                // The run was of the old lists: not kept holding them.
                *last.verdicts.judged.lock() = None;
                last.classes = classes;
            }
            // else: a new generation that touched none of these files, the same classes.
            last.key = key;
            let answer = (Arc::clone(&last.classes), Arc::clone(&last.verdicts));
            self.kept.insert(0, last);
            return answer;
        }
        let started = std::time::Instant::now();
        let detection = Detection::new(&inputs, min_lines, key.min_similarity);
        let detected = started.elapsed();
        let classes = Arc::new(shared(detection.classes()));
        tracing::debug!(
            detection_ms = detected.as_millis() as u64,
            grouping_ms = (started.elapsed() - detected).as_millis() as u64,
            classes = classes.len(),
            "clone classes"
        );
        let verdicts = Verdicts::default();
        self.kept.insert(
            0,
            KeptDetection {
                key,
                detection,
                classes: Arc::clone(&classes),
                verdicts: Arc::clone(&verdicts),
            },
        );
        self.kept.truncate(keep.max(1));
        (classes, verdicts)
    }

    /// The `similar` classes last found, if `key` was the question.
    pub fn similar(&self, key: &SimilarKey) -> Option<Arc<Vec<SimilarClass>>> {
        self.last_similar
            .as_ref()
            .filter(|(last, _)| last == key)
            .map(|(_, classes)| Arc::clone(classes))
    }

    /// Keeps the `similar` classes found for `key`.
    pub fn keep_similar(&mut self, key: SimilarKey, classes: Arc<Vec<SimilarClass>>) {
        self.last_similar = Some((key, classes));
    }
}

/// Classes behind shared pointers: every page of a report takes the ones it needs without
/// copying them.
fn shared(classes: Vec<CloneClass>) -> Vec<Arc<CloneClass>> {
    classes.into_iter().map(Arc::new).collect()
}
