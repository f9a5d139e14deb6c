//! Clone reports kept warm. Detecting clones over a whole root is the one code-health
//! question that costs seconds on a large codebase; every later answer is brought up to date
//! file by file from the detection held in memory. So the clone questions asked of each root
//! (its files filter, bar and similarity — what `find_duplicate_code` and
//! `analyze_codebase_improvements` detect with) are remembered, in a small file beside the
//! store so they survive restarts, and one background thread answers them again, every class
//! measured, after the daemon starts and whenever a root's index has settled after a change.
//! The next time an agent asks, the answer comes from memory.
//!
//! Only questions asked in the last week are kept warm, the most recent
//! `health.kept_detections` of each root (as many as the root holds: warming more would evict
//! one another); `health.warm_clone_reports = false` turns it off.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::clones::{self, Options, SimilarSource};
use crate::engine::{Engine, Root};
use crate::search::FileFilter;
use crate::structure::{Scope, StructureError};
use crate::work::Work;

/// How long a root's index must stay unchanged before its reports are answered again: edits
/// come in bursts, and each answer costs a share of a full detection.
const SETTLE: Duration = Duration::from_secs(2);
/// How long clients must have been quiet (no request in flight or just ended) before a
/// report is answered in the background: a client paging through a report, or asking one
/// question after another, is not made to share the cores with it.
const QUIET: Duration = Duration::from_secs(1);
/// How often the worker looks for roots that changed.
const POLL: Duration = Duration::from_millis(500);
/// Questions not asked again for this long are forgotten.
const FORGET_AFTER_MS: u64 = 7 * 24 * 3600 * 1000;
/// Questions remembered, all roots together.
const MAX_QUESTIONS: usize = 16;
/// A question asked again is written down again (its date refreshed) at most this often.
const REFRESH_ASKED_MS: u64 = 3600 * 1000;
/// The file in the data directory listing the questions.
pub const QUESTIONS_FILE: &str = "clone-questions.json";

/// One clone question of one root: what decides the detection, not how the answer is paged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The root's path.
    pub root: PathBuf,
    /// Shortest clone, in lines.
    pub min_lines: u32,
    /// Least similarity.
    pub min_similarity: f32,
    /// Only files of these types take part (none: all).
    #[serde(default)]
    pub file_types: Vec<String>,
    /// Files matching these globs take no part.
    #[serde(default)]
    pub exclude_patterns: Vec<String>,
    /// Generated, minified and vendored files left out.
    pub skip_generated: bool,
    /// When it was last asked (ms since the Unix epoch).
    #[serde(default)]
    pub asked_ms: u64,
}

impl Question {
    /// Whether `other` asks the same of the same root, whenever it was asked.
    fn same(&self, other: &Question) -> bool {
        self.root == other.root
            && self.min_lines == other.min_lines
            && self.min_similarity == other.min_similarity
            && self.file_types == other.file_types
            && self.exclude_patterns == other.exclude_patterns
            && self.skip_generated == other.skip_generated
    }

    /// The question in `find_duplicate_code`'s argument names (without the root).
    pub fn describe(&self) -> String {
        let mut text = format!(
            "min_lines={} min_similarity={} include_generated={}",
            self.min_lines, self.min_similarity, !self.skip_generated
        );
        if !self.file_types.is_empty() {
            text.push_str(&format!(" file_types={:?}", self.file_types));
        }
        if !self.exclude_patterns.is_empty() {
            text.push_str(&format!(" exclude_patterns={:?}", self.exclude_patterns));
        }
        text
    }

    fn key(&self) -> String {
        format!("{}\0{}", self.root.display(), self.describe())
    }
}

/// How warm one question is.
#[derive(Debug, Clone, Copy, Default)]
struct Warmth {
    /// The index generation it was last answered at.
    answered: Option<u64>,
    /// The generation last seen, and since when (the index settles first).
    seen: Option<(u64, Instant)>,
    /// How long the last background answer took.
    last_ms: u64,
}

/// The clone questions remembered and how warm each is.
pub struct WarmReports {
    file: Option<PathBuf>,
    /// Most recently asked first.
    questions: Mutex<Vec<Question>>,
    warmth: Mutex<HashMap<String, Warmth>>,
}

impl WarmReports {
    /// The questions written in `file` (none when it is absent or unreadable: they are a
    /// hint, asked again they come back); `None` keeps them in memory only.
    pub fn load(file: Option<PathBuf>) -> WarmReports {
        let questions = file
            .as_deref()
            .and_then(|path| match std::fs::read(path) {
                Ok(bytes) => match serde_json::from_slice::<Vec<Question>>(&bytes) {
                    Ok(questions) => Some(questions),
                    Err(err) => {
                        tracing::warn!(
                            "ignoring {}: {err}; the clone questions it listed are kept warm \
                             again once asked",
                            path.display()
                        );
                        None
                    }
                },
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                Err(err) => {
                    tracing::warn!("cannot read {}: {err}", path.display());
                    None
                }
            })
            .unwrap_or_default();
        WarmReports {
            file,
            questions: Mutex::new(questions),
            warmth: Mutex::new(HashMap::new()),
        }
    }

    /// Notes that `question` was asked (now): it is kept warm from now on.
    pub fn remember(&self, mut question: Question) {
        let now = crate::clock::now_ms();
        question.asked_ms = now;
        let changed = {
            let mut questions = self.questions.lock();
            let known = questions.iter().position(|known| known.same(&question));
            let changed = match known {
                Some(0) if now.saturating_sub(questions[0].asked_ms) < REFRESH_ASKED_MS => false,
                Some(at) => {
                    questions.remove(at);
                    true
                }
                None => true,
            };
            if changed {
                questions.insert(0, question);
                questions.truncate(MAX_QUESTIONS);
            }
            changed.then(|| questions.clone())
        };
        if let Some(questions) = changed {
            self.save(&questions);
        }
    }

    /// The questions kept warm now: asked within the last week, the most recent `keep` of
    /// each root.
    fn current(&self, keep: usize) -> Vec<Question> {
        let now = crate::clock::now_ms();
        let mut per_root: HashMap<PathBuf, usize> = HashMap::new();
        self.questions
            .lock()
            .iter()
            .filter(|question| now.saturating_sub(question.asked_ms) < FORGET_AFTER_MS)
            .filter(|question| {
                let taken = per_root.entry(question.root.clone()).or_default();
                *taken += 1;
                *taken <= keep
            })
            .cloned()
            .collect()
    }

    /// The reports kept warm for `root` (the most recent `keep`), for `codesage status`,
    /// given its current index generation.
    pub fn status(
        &self,
        root: &Path,
        generation: u64,
        keep: usize,
    ) -> Vec<codesage_shared::protocol::CloneReportStatus> {
        let warmth = self.warmth.lock();
        self.current(keep)
            .iter()
            .filter(|question| question.root == root)
            .map(|question| {
                let warm = warmth.get(&question.key()).copied().unwrap_or_default();
                codesage_shared::protocol::CloneReportStatus {
                    question: question.describe(),
                    warm: warm.answered == Some(generation),
                    answered_generation: warm.answered.unwrap_or(0),
                    last_ms: warm.last_ms,
                }
            })
            .collect()
    }

    fn save(&self, questions: &[Question]) {
        let Some(path) = &self.file else {
            return;
        };
        let written = serde_json::to_vec_pretty(questions)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                let dir = path.parent().unwrap_or(Path::new("."));
                let mut file = tempfile::NamedTempFile::new_in(dir)?;
                std::io::Write::write_all(&mut file, &bytes)?;
                file.persist(path).map_err(|err| err.error)?;
                Ok(())
            });
        if let Err(err) = written {
            tracing::warn!(
                "cannot write {}: {err}; clone reports are kept warm until the daemon stops",
                path.display()
            );
        }
    }
}

/// Starts the worker keeping `engine`'s clone reports warm; it ends with the engine.
pub fn start_worker(engine: Weak<Engine>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("codesage-warm".into())
        .spawn(move || {
            crate::semantic::embed::lower_priority();
            loop {
                let Some(engine) = engine.upgrade() else {
                    return;
                };
                if engine.shutting_down() {
                    return;
                }
                if engine.config().health.warm_clone_reports {
                    // A panic in one answer must not end warming for the daemon's lifetime.
                    let round =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| round(&engine)));
                    if round.is_err() {
                        tracing::error!("keeping clone reports warm: a round panicked");
                    }
                }
                drop(engine);
                std::thread::sleep(POLL);
            }
        })
}

/// Answers at most one question whose root changed and has settled since it was last
/// answered (one per round, so shutdown and new changes are looked at in between), when
/// clients are quiet.
fn round(engine: &Arc<Engine>) {
    let busy = engine
        .mcp_requests()
        .in_flight
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        || engine
            .metrics()
            .since_last_question()
            .is_some_and(|since| since < QUIET);
    if busy {
        return;
    }
    let warm = engine.health().warm();
    for question in warm.current(engine.health().kept_detections()) {
        let Some(root) = engine
            .roots()
            .into_iter()
            .find(|root| root.path == question.root)
        else {
            continue;
        };
        if root.running_job().is_some() {
            continue;
        }
        let Ok(view) = engine.store().view(root.id) else {
            continue;
        };
        let generation = view.index.generation;
        let key = question.key();
        {
            let mut warmth = warm.warmth.lock();
            let state = warmth.entry(key.clone()).or_default();
            if state.answered == Some(generation) {
                continue;
            }
            match state.seen {
                Some((seen, since)) if seen == generation && since.elapsed() >= SETTLE => {}
                Some((seen, _)) if seen == generation => continue,
                _ => {
                    state.seen = Some((generation, Instant::now()));
                    continue;
                }
            }
        }
        let started = Instant::now();
        let answered = answer(engine, &root, &view, &question);
        let elapsed = started.elapsed().as_millis() as u64;
        match &answered {
            Ok(()) => tracing::debug!(
                root = %question.root.display(),
                question = %question.describe(),
                generation,
                ms = elapsed,
                "clone report kept warm"
            ),
            Err(StructureError::Cancelled) => return,
            Err(err) => tracing::warn!(
                "keeping the clone report of {} warm ({}): {err}",
                question.root.display(),
                question.describe()
            ),
        }
        // A failed answer is not retried until the index changes: it would fail again.
        let mut warmth = warm.warmth.lock();
        let state = warmth.entry(key).or_default();
        state.answered = Some(generation);
        state.last_ms = elapsed;
        return;
    }
}

/// Answers `question` in full on `view`, as `find_duplicate_code` would: the detection and
/// every class's exact measure stay in the root's health state.
fn answer(
    engine: &Engine,
    root: &Root,
    view: &crate::store::View,
    question: &Question,
) -> Result<(), StructureError> {
    let filter = FileFilter::new("", &question.file_types, &question.exclude_patterns)
        .map_err(|err| StructureError::InvalidArgument(err.to_string()))?;
    let work = Work::new(engine.cancel_on_shutdown(), None);
    let scope = Scope {
        view,
        root_id: root.id,
        root_path: &root.path,
        prefix: "",
        config: &engine.config().index,
        work: &work,
    };
    let semantic_index = engine.semantic().root_index(root.id);
    let health_config = &engine.config().health;
    let found = clones::find(
        &scope,
        engine.health(),
        &Options {
            min_lines: question.min_lines,
            min_similarity: question.min_similarity,
            filter: &filter,
            filter_key: &clones::filter_key(&question.file_types, &question.exclude_patterns),
            skip_generated: question.skip_generated,
            touching: None,
            similar: Some(SimilarSource {
                index: &semantic_index,
                threshold: health_config.similar_threshold,
                max_chunks: health_config.similar_max_chunks,
            }),
        },
    )?;
    let all = found.classes.len() + found.similar.len();
    found.page(&scope, engine.health(), 0, all)?;
    // Measured here, off any request's path: `status` shows this figure while a later
    // answer holds the root.
    let bytes = engine.health().root(root.id).lock().heap_bytes();
    engine.health().note_heap_bytes(root.id, bytes);
    if work.should_stop() {
        return Err(StructureError::Cancelled);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(root: &str, min_lines: u32) -> Question {
        Question {
            root: PathBuf::from(root),
            min_lines,
            min_similarity: 0.8,
            file_types: Vec::new(),
            exclude_patterns: Vec::new(),
            skip_generated: true,
            asked_ms: 0,
        }
    }

    #[test]
    fn questions_are_kept_most_recent_first_per_root_and_survive_a_reload() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join(QUESTIONS_FILE);
        let reports = WarmReports::load(Some(file.clone()));
        reports.remember(question("/a", 10));
        reports.remember(question("/b", 10));
        reports.remember(question("/a", 6));
        // Asked again: one entry, moved to the front.
        reports.remember(question("/a", 10));
        let lines = |questions: Vec<Question>| -> Vec<(String, u32)> {
            questions
                .into_iter()
                .map(|q| (q.root.display().to_string(), q.min_lines))
                .collect()
        };
        assert_eq!(
            lines(reports.current(1)),
            vec![("/a".to_string(), 10), ("/b".to_string(), 10)]
        );
        assert_eq!(
            lines(reports.current(2)),
            vec![
                ("/a".to_string(), 10),
                ("/a".to_string(), 6),
                ("/b".to_string(), 10)
            ]
        );
        let reloaded = WarmReports::load(Some(file.clone()));
        assert_eq!(lines(reloaded.current(2)), lines(reports.current(2)));
        // A question not asked for over a week is not kept warm.
        let mut old = question("/c", 10);
        old.asked_ms = crate::clock::now_ms() - FORGET_AFTER_MS - 1;
        std::fs::write(&file, serde_json::to_vec(&vec![old]).expect("json")).expect("write");
        assert!(WarmReports::load(Some(file.clone())).current(2).is_empty());
        // A damaged file is ignored, not fatal.
        std::fs::write(&file, b"{not json").expect("write");
        assert!(WarmReports::load(Some(file)).current(2).is_empty());
    }

    #[test]
    fn status_says_whether_a_question_is_answered_for_the_current_index() {
        let reports = WarmReports::load(None);
        reports.remember(question("/a", 10));
        let key = question("/a", 10).key();
        reports.warmth.lock().insert(
            key,
            Warmth {
                answered: Some(7),
                seen: None,
                last_ms: 12,
            },
        );
        let now = reports.status(Path::new("/a"), 7, 1);
        assert_eq!(now.len(), 1);
        assert!(now[0].warm);
        assert_eq!(now[0].last_ms, 12);
        assert!(!reports.status(Path::new("/a"), 8, 1)[0].warm);
        assert!(reports.status(Path::new("/b"), 7, 1).is_empty());
    }
}
