//! The daemon's fuzz targets (`daemon/tests/fuzz/targets.rs`) under libFuzzer, coverage
//! guided: one binary for all of them, the target named by `CODESAGE_FUZZ_TARGET`. Built and
//! run by `benches/fuzz.sh libfuzzer` with sanitizer-coverage flags on the stable toolchain
//! (no sanitizer: memory errors are Rust's to prevent; panics, aborts, hangs and oversized
//! allocations are what it finds). A crash leaves its input in the artifacts directory;
//! keep it as a named test in `daemon/tests/fuzz/regressions.rs`.

#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz/alloc_guard.rs"]
mod alloc_guard;
#[allow(dead_code)]
#[path = "../../tests/fuzz/fixture.rs"]
mod fixture;
#[allow(dead_code)]
#[path = "../../tests/fuzz/targets.rs"]
mod targets;

use std::sync::OnceLock;

#[global_allocator]
static ALLOCATOR: alloc_guard::Guard = alloc_guard::Guard;

/// The target this process runs.
fn chosen() -> fn(&[u8]) {
    static CHOSEN: OnceLock<fn(&[u8])> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let names: Vec<&str> = targets::TARGETS.iter().map(|(name, _)| *name).collect();
        let name = std::env::var("CODESAGE_FUZZ_TARGET")
            .unwrap_or_else(|_| panic!("set CODESAGE_FUZZ_TARGET to one of: {}", names.join(", ")));
        targets::target(&name)
            .unwrap_or_else(|| panic!("no target {name:?}; the targets are: {}", names.join(", ")))
    })
}

/// libfuzzer-sys aborts on every panic, also one the daemon catches: redb's panics on a
/// damaged store file are caught and refused by the store and backup code (see
/// `regressions.rs`), so they only print here; any other panic aborts as before, and one of
/// redb's that is not caught aborts at the target's boundary.
fn tolerate_caught_redb_panics() {
    let aborting = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_redb = info
            .location()
            .is_some_and(|location| location.file().contains("/redb-"));
        if in_redb {
            eprintln!("(redb panicked on a damaged file: {info})");
        } else {
            aborting(info);
        }
    }));
}

libfuzzer_sys::fuzz_target!(init: tolerate_caught_redb_panics(), |data: &[u8]| {
    chosen()(data);
});
