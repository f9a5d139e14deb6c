//! Property test: indexed search returns exactly what a brute-force scan returns, for random
//! corpora and random patterns (literals, Unicode, case-insensitive, alternations, classes,
//! anchors, repetitions, empty matches), also after random sequences of file changes and
//! segment merges.

use std::collections::BTreeSet;

use codesage_shared::config::Config;
use codesage_shared::protocol::SearchParams;
use codesaged::search::{Query, matcher};
use codesaged::store::{FileChange, FileRecord, LineCounts, Store};
use proptest::prelude::*;

/// Small alphabet so that random patterns actually match random contents.
const ALPHABET: &[&str] = &[
    "a", "b", "c", "A", "B", "ab", "abc", "_", " ", "\n", "é", "É", "ß", "K", "k", "1", "-", "(",
];

fn content() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..60).prop_map(|parts| parts.concat())
}

fn pattern() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            "a", "b", "ab", "abc", "bca", "A", "é", "É", "ß", "k", "_", " ", "1", "\\(", "-",
        ])
        .prop_map(String::from),
        prop::sample::select(vec![
            ".", "[ab]", "[^a]", "\\w", "\\s", "\\d", "[a-c]", "[éÉ]", "^", "$", "\\b", "\\B",
        ])
        .prop_map(String::from),
    ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}{b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(?:{a}|{b})")),
            inner.clone().prop_map(|a| format!("(?:{a})*")),
            inner.clone().prop_map(|a| format!("(?:{a})+")),
            inner.clone().prop_map(|a| format!("(?:{a})?")),
            inner.clone().prop_map(|a| format!("(?:{a}){{1,3}}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

/// Patterns whose most selective literal comes after their start, so that the search takes
/// the inner-literal line prefilter (asserted in `prefilter_patterns_take_the_prefilter`).
fn inner_literal_pattern() -> impl Strategy<Value = String> {
    (
        pattern(),
        prop::sample::select(vec![".*", "\\w+", "\\s*", "[^a]?", "", "(?:b|\\b)"]),
        prop::sample::select(vec![
            "abc", "bca", "_ab\\(", "éab", "ab c", "abc|bca", "ßab",
        ]),
        prop::sample::select(vec!["", "\\b", "$", "\\w*", "(?:a|1)"]),
    )
        .prop_map(|(start, middle, literal, end)| format!("{start}{middle}(?:{literal}){end}"))
}

struct Corpus {
    _dir: tempfile::TempDir,
    store: Store,
    root: u32,
    files: std::collections::BTreeMap<String, String>,
}

impl Corpus {
    fn new() -> Corpus {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let root = store.add_root("/corpus", 0).unwrap().id;
        Corpus {
            _dir: dir,
            store,
            root,
            files: Default::default(),
        }
    }

    fn upsert(path: &str, text: &str) -> FileChange {
        let bytes = text.as_bytes();
        FileChange::Upsert {
            path: path.to_string(),
            record: FileRecord {
                size: bytes.len() as u64,
                mtime_ns: 0,
                hash: *blake3::hash(bytes).as_bytes(),
                language: "Text".into(),
                lines: LineCounts::default(),
                skipped: None,
                indexed_ns: 0,
                doc_id: None,
            },
            blob: Some(zstd::encode_all(bytes, 1).unwrap()),
            raw: None,
            trigrams: Some(codesaged::trigram::trigrams(bytes)),
            symbols: None,
        }
    }

    /// A corpus of `f0.txt`, `f1.txt`, … holding `files`, in one batch.
    fn with_files(files: &[String]) -> Corpus {
        let mut corpus = Corpus::new();
        corpus.apply(
            files
                .iter()
                .enumerate()
                .map(|(index, text)| (format!("f{index}.txt"), Some(text.clone())))
                .collect(),
        );
        corpus
    }

    /// Applies one batch: `Some(text)` writes a file, `None` deletes it.
    fn apply(&mut self, batch: Vec<(String, Option<String>)>) {
        let mut changes = Vec::new();
        for (path, text) in batch {
            match text {
                Some(text) => {
                    changes.push(Corpus::upsert(&path, &text));
                    self.files.insert(path, text);
                }
                None => {
                    changes.push(FileChange::Remove { path: path.clone() });
                    self.files.remove(&path);
                }
            }
        }
        self.store.apply(self.root, changes).unwrap();
    }

    fn indexed(&self, params: &SearchParams) -> Option<BTreeSet<(String, u64)>> {
        indexed_in(&self.store, self.root, params)
    }

    fn brute_force(&self, params: &SearchParams) -> BTreeSet<(String, u64)> {
        brute_force(&self.files, params)
    }
}

/// What the index answers for `root`: (path, line) of every match.
fn indexed_in(store: &Store, root: u32, params: &SearchParams) -> Option<BTreeSet<(String, u64)>> {
    let query = Query::compile(params, None, &Config::default().search).ok()?;
    let view = store.view(root).unwrap();
    let outcome = query.run(&view).unwrap();
    assert!(!outcome.truncated);
    Some(
        outcome
            .files
            .into_iter()
            .flat_map(|file| {
                let path = file.file_path;
                file.matches
                    .into_iter()
                    .map(move |found| (path.clone(), found.line_number))
            })
            .collect(),
    )
}

/// What a scan of `files` finds: (path, line) of every match.
fn brute_force(
    files: &std::collections::BTreeMap<String, String>,
    params: &SearchParams,
) -> BTreeSet<(String, u64)> {
    let pattern = if params.fixed_strings {
        regex::escape(&params.pattern)
    } else {
        params.pattern.clone()
    };
    let regex = regex::bytes::RegexBuilder::new(&pattern)
        .multi_line(true)
        .case_insensitive(!params.case_sensitive)
        .build()
        .unwrap();
    let mut found = BTreeSet::new();
    for (path, text) in files {
        matcher::for_each_matching_line(&regex, text.as_bytes(), |line| {
            found.insert((path.clone(), line.number));
            true
        });
    }
    found
}

fn params(pattern: &str, case_sensitive: bool, fixed_strings: bool) -> SearchParams {
    SearchParams {
        pattern: pattern.to_string(),
        case_sensitive,
        fixed_strings,
        max_results: Some(0),
        unbounded: true,
        ..SearchParams::default()
    }
}

fn check(
    corpus: &Corpus,
    pattern: &str,
    case_sensitive: bool,
    fixed: bool,
) -> Result<(), TestCaseError> {
    let params = params(pattern, case_sensitive, fixed);
    if let Some(indexed) = corpus.indexed(&params) {
        let expected = corpus.brute_force(&params);
        prop_assert_eq!(
            indexed,
            expected,
            "pattern {:?} (case_sensitive {}, fixed {})",
            pattern,
            case_sensitive,
            fixed
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn indexed_search_equals_brute_force(
        files in prop::collection::vec(content(), 1..12),
        patterns in prop::collection::vec(pattern(), 1..6),
        case_sensitive in any::<bool>(),
    ) {
        let corpus = Corpus::with_files(&files);
        for pattern in &patterns {
            check(&corpus, pattern, case_sensitive, false)?;
        }
        // Literal search of pieces of the contents themselves (always selective).
        for text in files.iter().take(3) {
            let piece: String = text.chars().skip(2).take(5).collect();
            if !piece.is_empty() {
                check(&corpus, &piece, case_sensitive, true)?;
            }
        }
    }

    #[test]
    fn inner_literal_prefilter_is_exact(
        files in prop::collection::vec(content(), 1..12),
        patterns in prop::collection::vec(inner_literal_pattern(), 1..6),
        case_sensitive in any::<bool>(),
    ) {
        let corpus = Corpus::with_files(&files);
        for pattern in &patterns {
            check(&corpus, pattern, case_sensitive, false)?;
        }
    }

    #[test]
    fn stays_exact_through_changes_and_merges(
        steps in prop::collection::vec(
            prop::collection::vec((0usize..8, prop::option::weighted(0.8, content())), 1..5),
            1..14,
        ),
        patterns in prop::collection::vec(pattern(), 1..4),
        merges in prop::collection::vec(any::<bool>(), 14),
    ) {
        let mut corpus = Corpus::new();
        for (step, batch) in steps.into_iter().enumerate() {
            corpus.apply(
                batch
                    .into_iter()
                    .map(|(file, text)| (format!("dir/f{file}.rs"), text))
                    .collect(),
            );
            if merges[step] {
                while corpus.store.merge_once().unwrap() {}
            }
            for pattern in &patterns {
                check(&corpus, pattern, true, false)?;
                check(&corpus, pattern, false, false)?;
            }
        }
    }
}

/// One step of two worktrees sharing contents: a batch for one of them, a merge, or the
/// second forgotten and registered again.
#[derive(Debug, Clone)]
enum WorktreeStep {
    Batch(usize, Vec<(usize, Option<usize>)>),
    Merge,
    ForgetSecond,
}

fn worktree_step() -> impl Strategy<Value = WorktreeStep> {
    prop_oneof![
        6 => (
            0usize..2,
            prop::collection::vec((0usize..5, prop::option::weighted(0.8, 0usize..64)), 1..5)
        )
            .prop_map(|(root, batch)| WorktreeStep::Batch(root, batch)),
        2 => Just(WorktreeStep::Merge),
        1 => Just(WorktreeStep::ForgetSecond),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// Postings are shared by content across roots: each root still answers exactly from its
    /// own files while the other holds, drops and brings back the same contents, through
    /// merges and a root forgotten and registered again.
    #[test]
    fn roots_sharing_contents_each_stay_exact(
        pool in prop::collection::vec(content(), 2..6),
        steps in prop::collection::vec(worktree_step(), 1..16),
        patterns in prop::collection::vec(pattern(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let mut roots = [
            store.add_root("/first", 0).unwrap().id,
            store.add_root("/second", 0).unwrap().id,
        ];
        let mut files: [std::collections::BTreeMap<String, String>; 2] = Default::default();
        for step in steps {
            match step {
                WorktreeStep::Batch(root, batch) => {
                    let mut changes = Vec::new();
                    for (file, text) in batch {
                        let path = format!("f{file}.rs");
                        match text {
                            Some(index) => {
                                let text = &pool[index % pool.len()];
                                changes.push(Corpus::upsert(&path, text));
                                files[root].insert(path, text.clone());
                            }
                            None => {
                                changes.push(FileChange::Remove { path: path.clone() });
                                files[root].remove(&path);
                            }
                        }
                    }
                    store.apply(roots[root], changes).unwrap();
                }
                WorktreeStep::Merge => while store.merge_once().unwrap() {},
                WorktreeStep::ForgetSecond => {
                    store.remove_root(roots[1]).unwrap();
                    files[1].clear();
                    roots[1] = store.add_root("/second", 0).unwrap().id;
                }
            }
            for pattern in &patterns {
                for (root, files) in roots.iter().zip(&files) {
                    let params = params(pattern, true, false);
                    if let Some(indexed) = indexed_in(&store, *root, &params) {
                        prop_assert_eq!(indexed, brute_force(files, &params), "{:?}", pattern);
                    }
                }
            }
        }
        let report = store.check().unwrap();
        prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}

#[test]
fn prefilter_patterns_take_the_prefilter() {
    let config = Config::default().search;
    for pattern in [r"a.*(?:abc)", r"[ab]\w+(?:_ab\()\b", r"(?:a|b)\s*(?:éab)$"] {
        let query = Query::compile(&params(pattern, true, false), None, &config).unwrap();
        assert!(query.has_line_prefilter(), "{pattern:?}");
    }
}

#[test]
fn queries_with_and_without_trigrams_both_use_the_right_strategy() {
    let mut corpus = Corpus::new();
    corpus.apply(vec![
        (
            "a.rs".into(),
            Some("fn alpha_handler() {}\nlet x = 1;\n".into()),
        ),
        ("b.rs".into(), Some("fn beta() {}\n".into())),
    ]);
    let view = corpus.store.view(corpus.root).unwrap();
    let config = Config::default().search;
    let selective = Query::compile(&params(r"fn \w+_handler", true, false), None, &config).unwrap();
    let outcome = selective.run(&view).unwrap();
    assert_eq!(outcome.strategy, "trigram");
    assert_eq!(outcome.files_searched, 1, "only the candidate is verified");
    let scan = Query::compile(&params("x", true, false), None, &config).unwrap();
    assert_eq!(scan.run(&view).unwrap().strategy, "scan");
}
