//! Inputs that once broke a target, kept as named tests: each runs its target on the exact
//! input the fuzzer found (shrunk), and says what was wrong and where it was fixed.

use crate::targets;

/// A trigram segment whose table claims 3,338,665,986 postings for one trigram:
/// `Segment::from_bytes` accepted it (only offsets were checked), and the first lookup
/// reserved 13 GB for them. Fixed in `trigram/segment.rs`: a count that cannot fit in the
/// bytes after its offset is refused when the segment is decoded.
#[test]
fn segment_with_an_impossible_postings_count() {
    targets::segment_decode(include_bytes!(
        "crashes/segment_decode-impossible-count.bin"
    ));
}

/// A stored structure whose member starts on line 4294967294 of a 52-line file: splitting the
/// file into semantic chunks took the member's line as the end of its container's header
/// and indexed past the file's lines (the semantic worker would panic on such a record).
/// Fixed in `chunks/mod.rs`: members past the end of the file are ignored.
#[test]
fn symbols_with_a_member_past_the_end_of_the_file() {
    targets::symbols_decode(include_bytes!(
        "crashes/symbols_decode-member-past-the-end.bin"
    ));
}

/// A backup whose checksums match but whose store copy has a damaged page: redb panicked
/// (`unreachable!` in its B-tree cursor while loading the allocator state) inside
/// `backup::extract`, so `codesage restore` crashed instead of refusing the file, and the
/// same file as a live store made `Store::open` panic (the daemon crashed at start instead
/// of saying the store is damaged). Fixed in `backup.rs` and `store/mod.rs`: redb's open
/// (and the copy's integrity check) run under `catch_unwind`, and a panic refuses the file
/// as corrupt. (Kept compressed: the input is a 150 KB store copy.)
#[test]
fn backup_with_a_store_copy_that_makes_redb_panic() {
    let input = zstd::decode_all(&include_bytes!("crashes/backup-forged-store-copy.bin.zst")[..])
        .expect("the input decompresses");
    targets::backup(&input);
}

/// A stored structure with a function on lines 0 to 4294967295: its health facts counted
/// `end - start + 1` lines and overflowed (a panic in debug builds, a wrong count of 0 in
/// release). Fixed in `health/mod.rs` (`FunctionFacts::lines`) and `symbols/mod.rs`
/// (`Symbol::lines`, `Symbol::cyclomatic`): saturating arithmetic on stored numbers.
#[test]
fn symbols_with_a_function_spanning_every_line() {
    targets::symbols_decode(include_bytes!(
        "crashes/symbols_decode-line-count-overflow.bin"
    ));
}

/// A store file whose damaged pages redb's open accepts, then panics on (`cursor entry must
/// exist`) when `codesage check` reads the tables. Fixed in `store/maintain.rs` (the
/// integrity check and the table walk run under `catch_unwind`; a panic is reported as
/// damage) and `store/mod.rs` (the same for the schema check and the first load at open).
#[test]
fn store_file_that_makes_redb_panic_in_check() {
    let input = zstd::decode_all(
        &include_bytes!("crashes/backup-store-file-that-makes-redb-panic-in-check.bin.zst")[..],
    )
    .expect("the input decompresses");
    targets::backup(&input);
}

/// A store file on which redb panics while the store opens (caught since the fix above),
/// after which redb's own drop of the database panicked on the lock that panic had poisoned
/// (`PoisonError`), so refusing the file crashed anyway. Fixed in `store/mod.rs` (the
/// database is dropped under `catch_unwind`) and `backup.rs` (likewise after a panic in the
/// copy's check; before, that drop ran while unwinding, which aborts the process).
#[test]
fn store_file_whose_database_drop_panics() {
    let input =
        zstd::decode_all(&include_bytes!("crashes/backup-store-file-poisoned-by-redb.bin.zst")[..])
            .expect("the input decompresses");
    targets::backup(&input);
}

/// A store whose next-document counter was damaged to 0xde11330f01bf: the next write took
/// it as a document id, truncated to 32 bits (856,621,503), and the document table grew to
/// it a 40 KB chunk at a time (34 GB; the fuzz allocator stopped it at 4 GB). Fixed in
/// `store/write.rs` (counters are checked: past 32 bits, or at their maximum, they are
/// refused as corrupt) and `trigram/index.rs` (a gap of ids shares one empty chunk, so an
/// id near 2^32 costs a pointer per chunk and is skipped in one step by every scan).
#[test]
fn store_with_a_document_counter_past_32_bits() {
    targets::store_records(include_bytes!(
        "crashes/store_records-document-counter-past-2-32.bin"
    ));
}

/// A file record whose document id was damaged to 0xfffffffe: opening the store grew the
/// document table to it (160 GB in 40 KB chunks), and once that was cheap, every scan of
/// the table (searches, lookups, repacking) walked four billion empty slots. Fixed in
/// `trigram/index.rs` (see above), found with the record-field damage of `store_records`.
#[test]
fn store_with_a_document_id_near_2_32() {
    targets::store_records(include_bytes!(
        "crashes/store_records-document-id-near-2-32.bin"
    ));
}

/// A session whose only message is malformed JSON, the client's input ending right after
/// it (found by libFuzzer through `hello`): the framing layer queued its `-32700` answer,
/// but the task writing answers could see rmcp's end first and stop without sending it, so
/// the client got no answer at all, now and then. Fixed in `mcp/mod.rs`: at rmcp's end the
/// queued errors are written before the session closes. Repeated, as it was a race.
#[test]
fn malformed_message_then_the_end_of_input() {
    let input = include_bytes!("crashes/hello-malformed-message-then-end.bin");
    for _ in 0..100 {
        targets::hello(input);
    }
    let end = input
        .iter()
        .position(|&byte| byte == b'\n')
        .expect("a hello line")
        + 1;
    for _ in 0..200 {
        targets::mcp(&input[end..]);
    }
}

/// A store whose mutated records give a content an id near 2^32: the store-wide merge's
/// bitmap of live contents, indexed by content id from 0, grew to 540 MB (found by the test
/// suite's short run in CI). Fixed in `store/merge.rs`: live contents are a sorted list of
/// ids, with a bitmap from the lowest id only when the ids are dense.
#[test]
fn store_with_a_content_id_near_2_32() {
    targets::store_records(include_bytes!(
        "crashes/store_records-content-id-near-2-32.bin"
    ));
}

/// Runs target `$FUZZ_REPLAY_TARGET` on the file `$FUZZ_REPLAY` (a saved failure or a
/// libFuzzer artifact), to debug it before it becomes a test like the ones above; does
/// nothing without those variables.
#[test]
fn replay() {
    let (Some(target), Some(path)) = (
        std::env::var_os("FUZZ_REPLAY_TARGET"),
        std::env::var_os("FUZZ_REPLAY"),
    ) else {
        return;
    };
    let target = target.to_string_lossy();
    let run = targets::target(&target).unwrap_or_else(|| panic!("no target {target}"));
    run(&std::fs::read(&path).expect("the input file"));
}
