//! The C library's malloc (tree-sitter's and zstd's allocator) gives back what a burst on
//! another thread freed, once the daemon has configured it: glibc otherwise raises its trim
//! threshold to twice the largest block ever freed and keeps a thread arena's freed top.
//! Its own process (one test in this file), so no other test's allocations blur the figures.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

/// Resident memory of this process, in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf takes no pointers.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// On a fresh thread (its own C arena), frees one large block (what makes glibc raise its
/// thresholds: a file's parse tree), then fills and frees `total` bytes of blocks of 256 KiB,
/// touching every page; returns resident memory after, minus before, the burst.
fn resident_growth_after_a_burst(total: usize) -> i64 {
    std::thread::spawn(move || {
        const BLOCK: usize = 256 << 10;
        // SAFETY: plain malloc/free of blocks this function owns; each is written only
        // within its size and freed once.
        unsafe {
            let large = libc::malloc(24 << 20) as *mut u8;
            assert!(!large.is_null());
            large.write_bytes(1, 24 << 20);
            libc::free(large.cast());
            let before = resident_bytes() as i64;
            let blocks: Vec<*mut u8> = (0..total / BLOCK)
                .map(|_| {
                    let block = libc::malloc(BLOCK) as *mut u8;
                    assert!(!block.is_null());
                    block.write_bytes(7, BLOCK);
                    block
                })
                .collect();
            for block in blocks.into_iter().rev() {
                libc::free(block.cast());
            }
            resident_bytes() as i64 - before
        }
    })
    .join()
    .expect("burst thread")
}

#[test]
fn a_freed_burst_on_another_thread_goes_back_to_the_system() {
    codesaged::allocator::configure_c_allocator();
    let growth = resident_growth_after_a_burst(40 << 20);
    assert!(
        growth < 8 << 20,
        "40 MiB freed, but resident memory stayed {} MiB higher",
        growth >> 20
    );
}
