//! Store tests: contents shared by hash with reference counts, symbols living and dying
//! with their content, schema and layout changes, the single-writer lock.
use super::*;

fn record(content: &[u8]) -> (FileRecord, Vec<u8>) {
    let record = FileRecord {
        size: content.len() as u64,
        mtime_ns: 1,
        hash: *blake3::hash(content).as_bytes(),
        language: "Rust".into(),
        lines: LineCounts::default(),
        skipped: None,
        indexed_ns: 0,
        doc_id: None,
    };
    (record, zstd::encode_all(content, 3).unwrap())
}

/// Stores `fn main() {}` (as made by `record`) at `main.rs` of `root`.
fn upsert_main(store: &Store, root: RootId, rec: &FileRecord, blob: &[u8]) {
    store
        .apply(
            root,
            vec![FileChange::Upsert {
                path: "main.rs".into(),
                record: rec.clone(),
                blob: Some(blob.to_vec()),
                raw: None,
                trigrams: Some(crate::trigram::trigrams(b"fn main() {}\n")),
                symbols: None,
            }],
        )
        .unwrap();
}

/// A change storing `record`'s content at `path` from its blob or its raw bytes, its
/// trigrams and symbols left to the store.
fn upsert(
    path: &str,
    record: &FileRecord,
    blob: Option<Vec<u8>>,
    raw: Option<&[u8]>,
) -> FileChange {
    FileChange::Upsert {
        path: path.into(),
        record: record.clone(),
        blob,
        raw: raw.map(<[u8]>::to_vec),
        trigrams: None,
        symbols: None,
    }
}

#[test]
fn contents_are_shared_and_refcounted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let a = store.add_root("/a", 0).unwrap();
    let b = store.add_root("/b", 0).unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(store.add_root("/a", 5).unwrap().id, a.id, "idempotent");

    let (rec, blob) = record(b"fn main() {}\n");
    for root in [a.id, b.id] {
        upsert_main(&store, root, &rec, &blob);
    }
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.content(&rec.hash).unwrap().unwrap(), b"fn main() {}\n");
    drop(snap);

    store
        .apply(
            a.id,
            vec![FileChange::Remove {
                path: "main.rs".into(),
            }],
        )
        .unwrap();
    let snap = store.snapshot().unwrap();
    assert!(
        snap.content(&rec.hash).unwrap().is_some(),
        "still used by b"
    );
    assert!(snap.file(a.id, "main.rs").unwrap().is_none());
    drop(snap);

    store
        .apply(
            b.id,
            vec![FileChange::Remove {
                path: "main.rs".into(),
            }],
        )
        .unwrap();
    assert!(
        store
            .snapshot()
            .unwrap()
            .content(&rec.hash)
            .unwrap()
            .is_none(),
        "last reference gone"
    );
}

#[test]
fn symbols_live_and_die_with_their_content_and_reload_into_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let source = b"/// Doc.\nfn main() {}\nstruct Point;\n";
    let parsed = crate::symbols::extract("Rust", source).unwrap();
    let (rec, blob) = record(source);
    let upsert = |path: &str, symbols: Option<ParsedSymbols>| FileChange::Upsert {
        path: path.into(),
        record: rec.clone(),
        blob: Some(blob.clone()),
        raw: None,
        trigrams: Some(crate::trigram::trigrams(source)),
        symbols,
    };
    let root = {
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let root = store.add_root("/r", 0).unwrap().id;
        // The second copy of the same content comes without symbols (as the indexer
        // sends it when only the path is new): its document still gets them.
        store
            .apply(
                root,
                vec![
                    upsert("a.rs", Some(ParsedSymbols::new(&parsed))),
                    upsert("b.rs", None),
                ],
            )
            .unwrap();
        let expected = [
            ("a.rs".to_string(), "main".to_string()),
            ("a.rs".into(), "Point".into()),
            ("b.rs".into(), "main".into()),
            ("b.rs".into(), "Point".into()),
        ];
        let mut expected = expected.to_vec();
        expected.sort();
        assert_eq!(store.definition_names(root), expected);
        let snap = store.snapshot().unwrap();
        assert_eq!(snap.symbols(&rec.hash).unwrap().unwrap(), parsed);
        drop(snap);
        store
            .apply(
                root,
                vec![FileChange::Remove {
                    path: "a.rs".into(),
                }],
            )
            .unwrap();
        root
    };
    // Reopened: definitions come back from the store.
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(
        store.definition_names(root),
        [
            ("b.rs".to_string(), "Point".to_string()),
            ("b.rs".into(), "main".into())
        ]
    );
    store
        .apply(
            root,
            vec![FileChange::Remove {
                path: "b.rs".into(),
            }],
        )
        .unwrap();
    assert!(
        store
            .snapshot()
            .unwrap()
            .symbols(&rec.hash)
            .unwrap()
            .is_none(),
        "symbols go with the last reference"
    );
    assert!(store.definition_names(root).is_empty());
}

#[test]
fn files_are_scoped_to_their_root_and_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let a = store.add_root("/a", 0).unwrap();
    let b = store.add_root("/b", 0).unwrap();
    let (rec, blob) = record(b"x");
    let upsert = |path: &str| FileChange::Upsert {
        path: path.into(),
        record: rec.clone(),
        blob: Some(blob.clone()),
        raw: None,
        trigrams: Some(Vec::new()),
        symbols: None,
    };
    store
        .apply(a.id, vec![upsert("z.rs"), upsert("a.rs")])
        .unwrap();
    store.apply(b.id, vec![upsert("m.rs")]).unwrap();
    let names: Vec<_> = store
        .files(a.id)
        .unwrap()
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(names, ["a.rs", "z.rs"]);
}

#[test]
fn reopening_keeps_data_and_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store.add_root("/kept", 0).unwrap();
    }
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.roots().unwrap()[0].path, "/kept");
    {
        let txn = store.db.read().begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_KEY, (SCHEMA_VERSION + 1).to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    drop(store);
    let err = Store::open(dir.path(), 1 << 20).err().unwrap();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
    assert!(err.to_string().contains("upgrade"), "{err}");
}

#[test]
fn switching_the_trigram_index_drops_file_records_but_keeps_roots() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, blob) = record(b"fn main() {}\n");
    {
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let root = store.add_root("/kept", 0).unwrap();
        upsert_main(&store, root.id, &rec, &blob);
        assert_eq!(store.view(root.id).unwrap().index.segments.len(), 1);
    }
    let store = Store::open_with(
        dir.path(),
        1 << 20,
        Layout {
            trigram_index: false,
            symbols: true,
        },
    )
    .unwrap();
    let roots = store.roots().unwrap();
    assert_eq!(roots.len(), 1);
    assert!(store.files(roots[0].id).unwrap().is_empty());
    let view = store.view(roots[0].id).unwrap();
    assert!(!view.trigram_index);
    assert!(view.index.segments.is_empty());
}

#[test]
fn a_new_symbol_extractor_drops_file_records_so_they_are_parsed_again() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, blob) = record(b"fn main() {}\n");
    let root = {
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let root = store.add_root("/kept", 0).unwrap().id;
        upsert_main(&store, root, &rec, &blob);
        root
    };
    {
        // Same extractor: records stay.
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(store.files(root).unwrap().len(), 1);
    }
    {
        // A store written by an older extractor.
        let db =
            Database::create(dir.path().join(codesage_shared::paths::STORE_FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(
                EXTRACTOR_KEY,
                (crate::symbols::EXTRACTOR_VERSION - 1)
                    .to_le_bytes()
                    .as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.roots().unwrap().len(), 1);
    assert!(store.files(root).unwrap().is_empty());
}

#[test]
fn symbols_added_later_reach_every_root_holding_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let source = b"fn shared() {}\n";
    let (rec, blob) = record(source);
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let upsert = || FileChange::Upsert {
        path: "lib.rs".into(),
        record: rec.clone(),
        blob: Some(blob.clone()),
        raw: None,
        trigrams: Some(crate::trigram::trigrams(source)),
        symbols: None,
    };
    let first = store.add_root("/one", 0).unwrap().id;
    let second = store.add_root("/two", 0).unwrap().id;
    store.apply(first, vec![upsert()]).unwrap();
    store.apply(second, vec![upsert()]).unwrap();
    let defined = |root| {
        store.view(root).unwrap().index.docs.iter().all(|(_, doc)| {
            doc.definitions
                .as_ref()
                .is_some_and(|defs| defs.iter().any(|def| def.name == "shared"))
        })
    };
    assert!(!defined(first) && !defined(second));

    let parsed = ParsedSymbols::new(&crate::symbols::extract("Rust", source).unwrap());
    let (dead, _) = record(b"fn gone() {}\n");
    let stored = store
        .add_symbols(vec![
            (rec.hash, parsed.clone()),
            (dead.hash, parsed.clone()),
        ])
        .unwrap();
    assert_eq!(
        stored, 1,
        "symbols of content nobody references are not kept"
    );
    assert!(defined(first) && defined(second));
    assert!(
        store
            .snapshot()
            .unwrap()
            .symbols(&dead.hash)
            .unwrap()
            .is_none()
    );
    // Already there: not stored twice.
    assert_eq!(store.add_symbols(vec![(rec.hash, parsed)]).unwrap(), 0);
}

#[test]
fn second_open_reports_lock() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path(), 1 << 20).unwrap();
    let err = Store::open(dir.path(), 1 << 20).err().unwrap();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
}

#[test]
fn a_content_read_as_stored_but_gone_by_the_commit_is_stored_from_its_raw_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let a = store.add_root("/a", 0).unwrap();
    let b = store.add_root("/b", 0).unwrap();
    let (rec, blob) = record(b"fn main() {}\n");
    upsert_main(&store, a.id, &rec, &blob);
    assert!(store.stored_contents().unwrap().contains(&rec.hash));
    // Root b reads the same content while a still has it: no blob, only the raw bytes...
    let known_change = FileChange::Upsert {
        path: "main.rs".into(),
        record: rec.clone(),
        blob: None,
        raw: Some(b"fn main() {}\n".to_vec()),
        trigrams: Some(crate::trigram::trigrams(b"fn main() {}\n")),
        symbols: None,
    };
    // ...and a drops it before b's change is committed.
    store
        .apply(
            a.id,
            vec![FileChange::Remove {
                path: "main.rs".into(),
            }],
        )
        .unwrap();
    assert!(!store.stored_contents().unwrap().contains(&rec.hash));
    store.apply(b.id, vec![known_change]).unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!(snap.content(&rec.hash).unwrap().unwrap(), b"fn main() {}\n");
    drop(snap);
    assert!(store.check().unwrap().problems.is_empty());
}

#[test]
fn forgetting_a_root_frees_only_what_no_other_root_uses() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let a = store.add_root("/a", 0).unwrap();
    let b = store.add_root("/b", 0).unwrap();
    let (shared, shared_blob) = record(b"fn main() {}\n");
    upsert_main(&store, a.id, &shared, &shared_blob);
    upsert_main(&store, b.id, &shared, &shared_blob);
    let (own, own_blob) = record(b"fn only_b() {}\n");
    store
        .apply(
            b.id,
            vec![FileChange::Upsert {
                path: "own.rs".into(),
                record: own.clone(),
                blob: Some(own_blob),
                raw: None,
                trigrams: Some(crate::trigram::trigrams(b"fn only_b() {}\n")),
                symbols: None,
            }],
        )
        .unwrap();
    assert_eq!(store.remove_root(b.id).unwrap(), (2, 1));
    let snap = store.snapshot().unwrap();
    assert!(snap.content(&shared.hash).unwrap().is_some());
    assert!(snap.content(&own.hash).unwrap().is_none());
    assert!(snap.files(b.id).unwrap().is_empty());
    drop(snap);
    assert_eq!(store.roots().unwrap().len(), 1);
    assert!(store.view(b.id).unwrap().index.docs.iter().next().is_none());
    assert!(store.check().unwrap().problems.is_empty());
}

#[test]
fn postings_are_shared_by_content_across_roots_and_purged_once_dead() {
    use crate::trigram::TrigramQuery;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let a = store.add_root("/a", 0).unwrap();
    let b = store.add_root("/b", 0).unwrap();
    let (shared, shared_blob) = record(b"fn main() {}\n");
    upsert_main(&store, a.id, &shared, &shared_blob);
    assert_eq!(store.segment_figures().0, 1);
    // Root b holds the same content twice (another worktree, a copy inside it): nothing new
    // to post.
    let copy = upsert("copy.rs", &shared, None, Some(b"fn main() {}\n"));
    upsert_main(&store, b.id, &shared, &shared_blob);
    store.apply(b.id, vec![copy]).unwrap();
    assert_eq!(
        store.segment_figures().0,
        1,
        "no segment for known contents"
    );
    let (own, own_blob) = record(b"fn only_b() {}\n");
    store
        .apply(b.id, vec![upsert("own.rs", &own, Some(own_blob), None)])
        .unwrap();
    assert_eq!(store.segment_figures().0, 2);
    let paths = |store: &Store, root: RootId, pattern: &str| -> Vec<String> {
        let view = store.view(root).unwrap();
        let query = TrigramQuery::from_regex(pattern, false).unwrap();
        let mut paths: Vec<String> = view
            .index
            .candidates(&query)
            .unwrap()
            .into_iter()
            .map(|id| view.index.docs.get(id).unwrap().path.to_string())
            .collect();
        paths.sort();
        paths
    };
    assert_eq!(paths(&store, a.id, "main"), ["main.rs"]);
    assert_eq!(paths(&store, b.id, "main"), ["copy.rs", "main.rs"]);
    assert!(paths(&store, a.id, "only_b").is_empty(), "b's content only");
    assert_eq!(paths(&store, b.id, "only_b"), ["own.rs"]);
    assert!(store.check().unwrap().problems.is_empty());
    // The same after reading everything back from the file.
    drop(store);
    let reopened = Store::open(dir.path(), 1 << 20).unwrap();
    check_after_reopen(reopened, a.id, b.id, own.hash, paths);
}

/// The second half of the test above, on the store opened again.
fn check_after_reopen(
    store: Store,
    a: RootId,
    b: RootId,
    own: ContentHash,
    paths: impl Fn(&Store, RootId, &str) -> Vec<String>,
) {
    assert_eq!(paths(&store, b, "main"), ["copy.rs", "main.rs"]);
    assert_eq!(paths(&store, b, "only_b"), ["own.rs"]);
    // Forgetting b kills its own content: the segment posting only it is rewritten away,
    // the shared one stays for a.
    assert_eq!(store.remove_root(b).unwrap(), (3, 1));
    assert!(store.maintenance_pending());
    assert!(store.merge_once().unwrap());
    assert!(!store.merge_once().unwrap(), "nothing left to purge");
    assert_eq!(store.segment_figures().0, 1);
    assert_eq!(paths(&store, a, "main"), ["main.rs"]);
    assert!(store.snapshot().unwrap().content(&own).unwrap().is_none());
    let report = store.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // Stored again later, the content gets a new id and is posted again.
    let (_, own_blob) = record(b"fn only_b() {}\n");
    let (again, _) = record(b"fn only_b() {}\n");
    store
        .apply(a, vec![upsert("back.rs", &again, Some(own_blob), None)])
        .unwrap();
    assert_eq!(paths(&store, a, "only_b"), ["back.rs"]);
    assert!(store.check().unwrap().problems.is_empty());
}

#[test]
fn contents_and_symbols_larger_than_a_piece_come_back_whole_and_go_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let root = store.add_root("/a", 0).unwrap();
    // Text that barely compresses: several pieces once compressed.
    let mut state = 7u64;
    let text: String = (0..24_000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b'a' + ((state >> 33) % 26) as u8)
        })
        .collect();
    let content = format!("fn big() {{}}\n// {text}\n");
    let (rec, blob) = record(content.as_bytes());
    assert!(
        blob.len() > 3 * LARGEST_PIECE,
        "{} bytes compressed",
        blob.len()
    );
    let parsed = crate::symbols::extract("Rust", content.as_bytes()).unwrap();
    let symbols = ParsedSymbols::new(&parsed);
    store
        .apply(
            root.id,
            vec![FileChange::Upsert {
                path: "big.rs".into(),
                record: rec.clone(),
                blob: Some(blob.clone()),
                raw: None,
                trigrams: None,
                symbols: Some(symbols.clone()),
            }],
        )
        .unwrap();
    let snap = store.snapshot().unwrap();
    assert_eq!(
        snap.content(&rec.hash).unwrap().unwrap(),
        content.as_bytes()
    );
    assert_eq!(snap.blob_len(&rec.hash).unwrap(), blob.len() as u64);
    assert_eq!(snap.symbols(&rec.hash).unwrap().unwrap(), parsed);
    assert_eq!(
        snap.symbols_len(&rec.hash).unwrap(),
        symbols.encoded.len() as u64
    );
    drop(snap);
    let report = store.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.contents, 1);
    store
        .apply(
            root.id,
            vec![FileChange::Remove {
                path: "big.rs".into(),
            }],
        )
        .unwrap();
    let snap = store.snapshot().unwrap();
    assert!(snap.content(&rec.hash).unwrap().is_none());
    assert_eq!(snap.blob_len(&rec.hash).unwrap(), 0);
    drop(snap);
    let txn = store.begin_read().unwrap();
    assert_eq!(
        txn.open_table(BLOBS).unwrap().len().unwrap(),
        0,
        "every piece is gone"
    );
    assert_eq!(txn.open_table(SYMBOLS).unwrap().len().unwrap(), 0);
}

/// A store in `dir` with root `/kept` holding `main.rs` (`rec`, `blob`), marked as written
/// by schema `version`, with what `older_tables` writes in the same transaction.
fn store_marked_as_schema(
    dir: &std::path::Path,
    rec: &FileRecord,
    blob: &[u8],
    version: u32,
    older_tables: impl FnOnce(&redb::WriteTransaction),
) -> RootRecord {
    let store = Store::open(dir, 1 << 20).unwrap();
    let root = store.add_root("/kept", 0).unwrap();
    upsert_main(&store, root.id, rec, blob);
    let txn = store.db.read().begin_write().unwrap();
    older_tables(&txn);
    txn.open_table(META)
        .unwrap()
        .insert(SCHEMA_KEY, version.to_le_bytes().as_slice())
        .unwrap();
    txn.commit().unwrap();
    root
}

#[test]
fn a_store_of_schema_five_is_upgraded_keeping_roots_and_dropping_the_old_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, blob) = record(b"fn main() {}\n");
    // What a schema 5 store held: contents and symbols keyed by hash, whole.
    let root = store_marked_as_schema(dir.path(), &rec, &blob, 5, |txn| {
        let mut blobs = txn.open_table(LEGACY_BLOBS).unwrap();
        blobs.insert(rec.hash.as_slice(), blob.as_slice()).unwrap();
        txn.open_table(LEGACY_SYMBOLS)
            .unwrap()
            .insert(rec.hash.as_slice(), [1u8, 2, 3].as_slice())
            .unwrap();
    });
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(store.roots().unwrap()[0].path, "/kept");
    assert!(
        store.files(root.id).unwrap().is_empty(),
        "records are rebuilt"
    );
    let txn = store.begin_read().unwrap();
    let names: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|table| redb::TableHandle::name(&table).to_string())
        .collect();
    assert!(!names.contains(&"blobs".to_string()), "{names:?}");
    assert!(!names.contains(&"symbols".to_string()), "{names:?}");
    drop(txn);
    let report = store.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // And it indexes as a fresh store does.
    upsert_main(&store, root.id, &rec, &blob);
    assert_eq!(
        store
            .snapshot()
            .unwrap()
            .content(&rec.hash)
            .unwrap()
            .unwrap(),
        b"fn main() {}\n"
    );
}

#[test]
fn a_segment_whose_contents_all_died_is_purged_by_the_next_merge() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let root = store.add_root("/a", 0).unwrap();
    let (first, first_blob) = record(b"fn main() {}\n");
    upsert_main(&store, root.id, &first, &first_blob);
    assert!(!store.maintenance_pending());
    // The file is edited: its first content dies, and so do the postings of its segment.
    let edited = b"fn main() { edited() }\n";
    let (second, second_blob) = record(edited);
    store
        .apply(
            root.id,
            vec![upsert("main.rs", &second, Some(second_blob), None)],
        )
        .unwrap();
    assert_eq!(store.segment_figures().0, 2);
    assert!(
        store.maintenance_pending(),
        "a dead segment waits for the merger"
    );
    assert!(store.merge_once().unwrap());
    assert_eq!(
        store.segment_figures().0,
        1,
        "only the live content's segment is left"
    );
    assert!(!store.maintenance_pending());
    let view = store.view(root.id).unwrap();
    let query = crate::trigram::TrigramQuery::from_regex("edited", false).unwrap();
    assert_eq!(view.index.candidates(&query).map(|ids| ids.len()), Some(1));
}

/// Stores each of `contents` as file `f{index}.rs` of `root`, compressed at level 1 (so a
/// higher level settles them smaller).
fn store_as_files_at_level_one(store: &Store, root: RootId, contents: &[Vec<u8>]) {
    let changes: Vec<FileChange> = contents
        .iter()
        .enumerate()
        .map(|(at, content)| {
            let (record, _) = record(content);
            let blob = zstd::bulk::compress(content, 1).unwrap();
            upsert(&format!("f{at}.rs"), &record, Some(blob), None)
        })
        .collect();
    store.apply(root, changes).unwrap();
}

#[test]
fn contents_settle_smaller_at_a_higher_level_and_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let root = store.add_root("/a", 0).unwrap();
    // Text that a higher level compresses better than level 1 (long-range repeats with
    // variation), more of it than one batch reads, and one content too small to gain.
    // (Batches of 256 KiB here.)
    let contents: Vec<Vec<u8>> = (0..40u32)
        .map(|file| {
            (0..4000u32)
                .map(|line| {
                    format!(
                        "fn handler_{file}_{}(request: &Request) -> Response {{ route(request, {}) }}\n",
                        line % 97,
                        (line * 7919 + file) % 1013
                    )
                })
                .collect::<String>()
                .into_bytes()
        })
        .chain(std::iter::once(b"x".to_vec()))
        .collect();
    store_as_files_at_level_one(&store, root.id, &contents);
    let size_of_contents = |store: &Store| -> u64 {
        let txn = store.begin_read().unwrap();
        let blobs = txn.open_table(BLOBS).unwrap();
        blobs
            .iter()
            .unwrap()
            .map(|entry| entry.unwrap().1.value().len() as u64)
            .sum()
    };
    let before = size_of_contents(&store);

    // Off by default: nothing to do.
    assert_eq!(store.settle_batch().unwrap(), None);
    assert!(!store.settling_left());
    store.set_settled_level(9);
    assert!(store.settling_left());
    let mut batches = 0;
    let mut rewritten = 0;
    while let Some(batch) = store.settle_batch_of(256 << 10).unwrap() {
        batches += 1;
        rewritten += batch.rewritten;
        assert!(batch.bytes_after <= batch.bytes_before);
        assert!(batches < 100, "settling never ends");
    }
    assert!(batches >= 2, "{batches} batches");
    assert!(rewritten >= 40, "{rewritten} rewritten");
    let after = size_of_contents(&store);
    assert!(after < before, "{before} → {after}");
    // Every content reads the same; the store's own check passes; a second pass finds
    // nothing left.
    let snap = store.snapshot().unwrap();
    for content in &contents {
        let hash = *blake3::hash(content).as_bytes();
        assert_eq!(
            snap.content(&hash).unwrap().as_deref(),
            Some(content.as_slice())
        );
    }
    drop(snap);
    assert!(store.check().unwrap().problems.is_empty());
    assert_eq!(store.settle_batch().unwrap(), None);
    assert!(!store.settling_left());
    // A settled content whose last file goes is gone with it.
    store
        .apply(
            root.id,
            vec![FileChange::Remove {
                path: "f0.rs".into(),
            }],
        )
        .unwrap();
    let gone = *blake3::hash(&contents[0]).as_bytes();
    assert_eq!(store.snapshot().unwrap().content(&gone).unwrap(), None);
    let report = store.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.contents, contents.len() as u64 - 1);

    // A content added later is settled by the next pass; a reopened store remembers how far
    // settling went.
    let late =
        b"fn late() { late(); late(); late(); late(); late(); late(); late(); }\n".repeat(300);
    let (record_late, _) = record(&late);
    let blob = zstd::bulk::compress(&late, 1).unwrap();
    store
        .apply(
            root.id,
            vec![upsert("late.rs", &record_late, Some(blob), None)],
        )
        .unwrap();
    drop(store);
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    store.set_settled_level(9);
    let batch = store.settle_batch().unwrap().expect("the late content");
    assert_eq!(batch.contents, 1);
    assert_eq!(store.settle_batch().unwrap(), None);
    let snap = store.snapshot().unwrap();
    assert_eq!(
        snap.content(blake3::hash(&late).as_bytes())
            .unwrap()
            .as_deref(),
        Some(late.as_slice())
    );
}

#[test]
fn contents_settle_with_a_trained_dictionary_that_the_store_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let root = store.add_root("/a", 0).unwrap();
    // Many small files in one vocabulary (what a dictionary is for), each different.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let words = [
        "request", "response", "handler", "config", "error", "buffer", "result", "context",
        "session", "stream", "parser", "token", "value", "index", "store", "query",
    ];
    let contents: Vec<Vec<u8>> = (0..600)
        .map(|file| {
            let mut text = format!("// file {file}\nuse crate::prelude::*;\n\n");
            for _ in 0..(20 + next(20)) {
                let a = words[next(16) as usize];
                let b = words[next(16) as usize];
                let n = next(1000);
                text.push_str(&format!(
                    "pub fn {a}_{b}_{n}(input: &{a}Input) -> Result<{b}Output, Error> {{\n    \
                     let {a} = input.{b}.clone();\n    if {a}.is_empty() {{ return \
                     Err(Error::Missing(\"{b}\")); }}\n    Ok({b}Output::from({a}, {n}))\n}}\n\n"
                ));
            }
            text.into_bytes()
        })
        // One large content, which is settled without the dictionary.
        .chain(std::iter::once(
            (0..2000)
                .map(|line| format!("pub const LIMIT_{line}: usize = {};\n", line * 7))
                .collect::<String>()
                .into_bytes(),
        ))
        .collect();
    store_as_files_at_level_one(&store, root.id, &contents);
    let stored_blobs = |store: &Store| -> Vec<Vec<u8>> {
        let txn = store.begin_read().unwrap();
        let blobs = txn.open_table(BLOBS).unwrap();
        let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
        for entry in blobs.iter().unwrap() {
            let (key, piece) = entry.unwrap();
            let (id, _) = key.value();
            match out.last_mut() {
                Some((last, bytes)) if *last == id => bytes.extend_from_slice(piece.value()),
                _ => out.push((id, piece.value().to_vec())),
            }
        }
        out.into_iter().map(|(_, bytes)| bytes).collect()
    };
    let dictionary_ids = |store: &Store| -> Vec<u32> {
        let txn = store.begin_read().unwrap();
        let table = txn.open_table(DICTIONARIES).unwrap();
        let mut ids: Vec<u32> = table
            .iter()
            .unwrap()
            .map(|entry| entry.unwrap().0.value().0)
            .collect();
        ids.dedup();
        ids
    };

    store.set_settled_level(7);
    store.set_dictionary_threshold(1);
    while store.settle_batch_of(64 << 10).unwrap().is_some() {}
    let ids = dictionary_ids(&store);
    assert_eq!(ids.len(), 1, "one dictionary trained: {ids:?}");
    let blobs = stored_blobs(&store);
    let named = blobs
        .iter()
        .filter(|blob| {
            zstd::zstd_safe::get_dict_id_from_frame(blob).map(|id| id.get()) == Some(ids[0])
        })
        .count();
    assert!(
        named * 10 >= blobs.len() * 9,
        "{named} of {} use it",
        blobs.len()
    );
    let large = contents.last().unwrap();
    assert!(large.len() >= 16 << 10);
    let large_blob = {
        let txn = store.begin_read().unwrap();
        let ids = txn.open_table(CONTENT_IDS).unwrap();
        let id = ids
            .get(blake3::hash(large).as_bytes().as_slice())
            .unwrap()
            .unwrap()
            .value();
        with_content(
            &txn.open_table(BLOBS).unwrap(),
            id,
            |blob| Ok(blob.to_vec()),
        )
        .unwrap()
        .unwrap()
    };
    assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&large_blob), None);
    // It pays for itself: the settled contents and the dictionary together take less than
    // the same contents at the same level without one.
    let dictionary_len = {
        let txn = store.begin_read().unwrap();
        schema::pieces_len(&txn.open_table(DICTIONARIES).unwrap(), ids[0]).unwrap()
    };
    let with: u64 = blobs.iter().map(|blob| blob.len() as u64).sum::<u64>() + dictionary_len;
    let without: u64 = contents
        .iter()
        .map(|content| zstd::bulk::compress(content, 7).unwrap().len() as u64)
        .sum();
    assert!(
        with < without,
        "{with} with the dictionary, {without} without"
    );
    let read_back = |store: &Store| {
        let snap = store.snapshot().unwrap();
        for content in &contents {
            let hash = *blake3::hash(content).as_bytes();
            assert_eq!(
                snap.content(&hash).unwrap().as_deref(),
                Some(content.as_slice())
            );
        }
    };
    read_back(&store);
    let report = store.check().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // Reopened, the store reads them with the stored dictionary, and settles a later
    // content with it (no second one is trained).
    drop(store);
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    read_back(&store);
    let late = format!(
        "{}\npub fn late_handler() {{}}\n",
        String::from_utf8_lossy(&contents[3])
    )
    .into_bytes();
    let (record_late, _) = record(&late);
    store
        .apply(
            root.id,
            vec![upsert(
                "late.rs",
                &record_late,
                Some(zstd::bulk::compress(&late, 1).unwrap()),
                None,
            )],
        )
        .unwrap();
    store.set_settled_level(7);
    store.set_dictionary_threshold(1);
    assert_eq!(
        store.settle_batch().unwrap().map(|batch| batch.contents),
        Some(1)
    );
    assert_eq!(dictionary_ids(&store), ids);
    assert_eq!(
        store
            .snapshot()
            .unwrap()
            .content(blake3::hash(&late).as_bytes())
            .unwrap()
            .as_deref(),
        Some(late.as_slice())
    );
    assert!(store.check().unwrap().problems.is_empty());

    // A damaged dictionary: `check` says so, and reading a content that needs it is an
    // error, not a panic or wrong bytes.
    {
        let txn = store.begin_write().unwrap();
        txn.open_table(DICTIONARIES)
            .unwrap()
            .insert((ids[0], 0), [0u8; 16].as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    drop(store);
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let report = store.check().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|problem| problem.contains("dictionary")),
        "{:?}",
        report.problems
    );
    let hash = *blake3::hash(&contents[0]).as_bytes();
    let read = store.snapshot().unwrap().content(&hash);
    assert!(
        matches!(&read, Err(StoreError::Corrupt(message)) if message.contains("dictionary")),
        "{read:?}"
    );
}

#[test]
fn a_store_of_schema_seven_or_eight_is_upgraded_as_it_is() {
    for old in [7, 8] {
        let dir = tempfile::tempdir().unwrap();
        let (rec, blob) = record(b"fn main() {}\n");
        let root = store_marked_as_schema(dir.path(), &rec, &blob, old, |_| {});
        // Versions 7 and 8 differ only by what they lack (dictionaries, bitmap postings):
        // records and contents stay.
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(store.files(root.id).unwrap().len(), 1, "from {old}");
        assert_eq!(
            store
                .snapshot()
                .unwrap()
                .content(&rec.hash)
                .unwrap()
                .as_deref(),
            Some(b"fn main() {}\n".as_slice())
        );
        let txn = store.begin_read().unwrap();
        let version = txn
            .open_table(META)
            .unwrap()
            .get(SCHEMA_KEY)
            .unwrap()
            .unwrap();
        assert_eq!(decode_u32(version.value()).unwrap(), SCHEMA_VERSION);
        drop(version);
        drop(txn);
        assert!(store.check().unwrap().problems.is_empty());
    }
}

#[test]
fn pieces_fill_their_leaves_to_the_last_bytes_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = redb::Database::create(dir.path().join("pieces.redb")).unwrap();
    let mut state = 11u64;
    let mut next = |below: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % below
    };
    let values: Vec<Vec<u8>> = (0..3000u32)
        .map(|at| {
            let len = match at % 5 {
                0 => 0,
                1 => next(200),
                _ => next(9000),
            };
            (0..len).map(|_| next(256) as u8).collect()
        })
        .collect();
    let table_of = |name: &str| -> TableDefinition<'static, (u32, u32), &'static [u8]> {
        TableDefinition::new(Box::leak(name.to_string().into_boxed_str()))
    };
    let fill = LeafFill::default();
    let txn = db.begin_write().unwrap();
    {
        let mut packed = txn.open_table(table_of("packed")).unwrap();
        let mut chunked = txn.open_table(table_of("chunked")).unwrap();
        for (id, value) in values.iter().enumerate() {
            put_pieces(&mut packed, id as u32, value, &fill).unwrap();
            // How pieces were cut before: a fixed size.
            chunked
                .insert((id as u32, 0), &value[..value.len().min(1000)])
                .unwrap();
            for (index, piece) in value.chunks(1000).enumerate().skip(1) {
                chunked.insert((id as u32, index as u32), piece).unwrap();
            }
        }
    }
    txn.commit().unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let packed = txn.open_table(table_of("packed")).unwrap();
    let chunked = txn.open_table(table_of("chunked")).unwrap();
    for (id, value) in values.iter().enumerate() {
        let read = with_pieces(&packed, id as u32, |bytes| Ok(bytes.to_vec())).unwrap();
        assert_eq!(read.as_deref(), Some(value.as_slice()), "value {id}");
        assert_eq!(pieces_len(&packed, id as u32).unwrap(), value.len() as u64);
    }
    let packed = packed.stats().unwrap();
    let chunked = chunked.stats().unwrap();
    assert!(
        packed.fragmented_bytes() * 100 < packed.stored_bytes(),
        "{} of {} bytes unused",
        packed.fragmented_bytes(),
        packed.stored_bytes()
    );
    assert!(
        packed.fragmented_bytes() * 4 < chunked.fragmented_bytes(),
        "packed {} unused, in pieces of 1,000 bytes {}",
        packed.fragmented_bytes(),
        chunked.fragmented_bytes()
    );
}

#[test]
fn tables_written_in_no_key_order_are_repacked_full_with_the_same_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    let root = store.add_root("/a", 0).unwrap();
    // Paths arrive in no order (as parallel indexing threads finish them).
    let mut state = 3u64;
    let mut order: Vec<u32> = (0..6000).collect();
    for at in (1..order.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        order.swap(at, (state >> 33) as usize % (at + 1));
    }
    let changes: Vec<FileChange> = order
        .iter()
        .map(|file| {
            let content = format!("fn f{file}() {{}}\n");
            let (record, blob) = record(content.as_bytes());
            upsert(
                &format!("src/module_{}/file_{file}.rs", file % 37),
                &record,
                Some(blob),
                None,
            )
        })
        .collect();
    store.apply(root.id, changes).unwrap();
    let unused_share = |store: &Store| -> f64 {
        let txn = store.begin_read().unwrap();
        let stats = txn.open_table(FILES).unwrap().stats().unwrap();
        stats.fragmented_bytes() as f64 / (stats.stored_bytes() + stats.fragmented_bytes()) as f64
    };
    let before = unused_share(&store);
    assert!(
        before >= 0.25,
        "{before:.2} of the file records' leaves unused"
    );
    let records = store.files(root.id).unwrap();

    let repacked = store.repack_tables().unwrap();
    assert!(repacked.contains(&"file records"), "{repacked:?}");
    let after = unused_share(&store);
    assert!(
        after < 0.05,
        "{after:.2} unused after repacking ({before:.2} before)"
    );
    assert_eq!(store.files(root.id).unwrap(), records);
    let snap = store.snapshot().unwrap();
    for (_, record) in &records {
        assert!(snap.content(&record.hash).unwrap().is_some());
    }
    drop(snap);
    assert!(store.check().unwrap().problems.is_empty());
    // Nothing left to repack; not due again until the next commit.
    assert!(!store.repacking_due());
    assert_eq!(store.repack_tables().unwrap(), Vec::<&str>::new());
}

#[test]
fn segment_chunks_each_fill_one_leaf_and_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = redb::Database::create(dir.path().join("segments.redb")).unwrap();
    let mut state = 7u64;
    // Incompressible bytes, as a compressed segment is: 300 KB in three segments.
    let segments: Vec<Vec<u8>> = [100_000usize, 150_000, 50_001]
        .iter()
        .map(|&len| {
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        })
        .collect();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(SEGMENTS).unwrap();
        for (id, bytes) in segments.iter().enumerate() {
            insert_segment(&mut table, SHARED, id as u64, bytes).unwrap();
        }
    }
    txn.commit().unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let table = txn.open_table(SEGMENTS).unwrap();
    for (id, bytes) in segments.iter().enumerate() {
        let mut read = Vec::new();
        for entry in table
            .range((SHARED, id as u64, 0)..=(SHARED, id as u64, u32::MAX))
            .unwrap()
        {
            let (_, value) = entry.unwrap();
            assert!(value.value().len() <= SEGMENT_CHUNK);
            read.extend_from_slice(value.value());
        }
        assert_eq!(&read, bytes, "segment {id}");
    }
    // No value larger than a page (which would take a run of pages compaction can seldom
    // move), and only the leaf of each segment's last, partial chunk has room left.
    let stats = table.stats().unwrap();
    assert!(
        stats.fragmented_bytes() < (segments.len() * 4096) as u64,
        "{} of {} bytes unused",
        stats.fragmented_bytes(),
        stats.stored_bytes()
    );
    let pages = stats.leaf_pages() as usize;
    let chunks: usize = segments
        .iter()
        .map(|s| s.len().div_ceil(SEGMENT_CHUNK))
        .sum();
    assert_eq!(pages, chunks, "one leaf per chunk");
}
