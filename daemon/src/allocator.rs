//! The memory allocator the CodeSage binaries use: mimalloc, counting the bytes it holds for
//! the program. An indexing run or a large answer allocates hundreds of MiB for a moment;
//! mimalloc hands more of that back to the system afterwards than the platform allocator
//! does, and [`release_free_memory`] asks it to return what it still keeps once such a burst
//! is over. The live count is what `codesage status` compares resident memory with, so that
//! memory held by the program and memory kept by the allocator are told apart.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes currently allocated through [`Allocator`] (requested sizes).
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The allocator; each binary declares it with `#[global_allocator]`.
pub struct Allocator {}

// SAFETY: every call is forwarded unchanged to mimalloc, which upholds `GlobalAlloc`'s
// contract; the counter is bookkeeping only.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let pointer = unsafe { mimalloc::MiMalloc.alloc(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let pointer = unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        pointer
    }

    #[inline]
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { mimalloc::MiMalloc.dealloc(pointer, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    #[inline]
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let moved = unsafe { mimalloc::MiMalloc.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                LIVE_BYTES.fetch_add(new_size - layout.size(), Ordering::Relaxed);
            } else {
                LIVE_BYTES.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        moved
    }
}

/// Bytes the program holds on the heap right now, when this process uses [`Allocator`]
/// (`None` otherwise, e.g. in unit tests, which run on the platform allocator).
pub fn live_heap_bytes() -> Option<u64> {
    let bytes = LIVE_BYTES.load(Ordering::Relaxed);
    (bytes > 0).then_some(bytes as u64)
}

unsafe extern "C" {
    // Part of the mimalloc library the `mimalloc` crate links in.
    fn mi_collect(force: bool);
}

/// Below this many bytes the C library's malloc serves a request from its arenas, above it
/// from its own mapping (given back on free). Fixed here, because left to itself glibc raises
/// the threshold to the largest block ever freed (up to 32 MiB), and the trim threshold with it.
const C_MMAP_THRESHOLD: i32 = 1 << 20;

/// Free space at the top of a C library arena above this is given back at once.
const C_TRIM_THRESHOLD: i32 = 128 << 10;

/// Makes the C library's malloc (which tree-sitter and zstd allocate with) give freed memory
/// back. Left to itself, glibc raises its trim threshold to twice the largest block parsing
/// ever freed, and an arena other than the first one is trimmed only by `free` against that
/// threshold (`malloc_trim` releases only what lies between live blocks): after indexing the
/// benchmark corpus its arenas kept 31 MiB resident for 1.2 MiB in use. Called at start when
/// `memory.release_after_bursts` is on; `MALLOC_TRIM_THRESHOLD_` or `MALLOC_MMAP_THRESHOLD_`
/// in the environment win (the user chose them).
pub fn configure_c_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let chosen = |name: &str| std::env::var_os(name).is_some();
        if !chosen("MALLOC_MMAP_THRESHOLD_") {
            // SAFETY: `mallopt` takes no pointers and takes the arena lock itself.
            unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, C_MMAP_THRESHOLD) };
        }
        if !chosen("MALLOC_TRIM_THRESHOLD_") {
            // SAFETY: as above.
            unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, C_TRIM_THRESHOLD) };
        }
    }
}

/// Bytes the C library's malloc has handed out and not had back (tree-sitter's trees and
/// parsers, zstd's contexts): `None` where the C library does not say.
pub fn c_heap_in_use_bytes() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` takes no pointers and locks each arena while it counts.
        let info = unsafe { libc::mallinfo2() };
        Some((info.uordblks + info.hblkhd) as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// Drops what a burst left in this thread's own caches (its tree-sitter parsers, its
/// trigram bitmap), then hands the allocator's free pages of this thread back.
fn release_this_thread() {
    crate::symbols::drop_thread_parsers();
    crate::trigram::extract::drop_thread_bitmap();
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

/// Returns the free memory the allocator keeps to the operating system. Called after
/// bursts (an indexing run, building a root's semantic index, a clone report), not on
/// every request: it walks the free pages of this thread and of every thread of the
/// shared worker pool, where parsing and reports allocate (mimalloc keeps free pages per
/// thread, and an idle thread never gives its own back).
pub fn release_free_memory() {
    if live_heap_bytes().is_none() {
        return;
    }
    release_this_thread();
    rayon::broadcast(|_| release_this_thread());
    // The C libraries (tree-sitter's parse trees, zstd's contexts) allocate with the C
    // library's malloc, whose per-thread arenas keep what parsing freed.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One mapping of the program's own file that holds only what the file holds: no page of it
/// was ever written (its code and read-only tables).
#[derive(Debug, PartialEq, Eq)]
struct ProgramMapping {
    start: usize,
    len: usize,
    resident_bytes: u64,
}

/// The mappings of the file with inode `inode` in `/proc/self/smaps` text that are read-only,
/// private and have no anonymous page: dropping their pages loses nothing, the next access
/// reads them from the file again. A read-only mapping the loader wrote before protecting it
/// (the relocated data, `PT_GNU_RELRO`) has anonymous pages and is left alone.
fn clean_program_mappings(smaps: &str, inode: u64) -> Vec<ProgramMapping> {
    let mut found = Vec::new();
    let mut current: Option<ProgramMapping> = None;
    let mut clean = false;
    let mut finish = |mapping: Option<ProgramMapping>, clean: bool| {
        if let Some(mapping) = mapping.filter(|_| clean) {
            found.push(mapping);
        }
    };
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let is_header = fields
            .first()
            .is_some_and(|range| range.contains('-') && !range.ends_with(':'));
        if is_header {
            finish(current.take(), clean);
            let range = fields[0].split_once('-').and_then(|(start, end)| {
                Some((
                    usize::from_str_radix(start, 16).ok()?,
                    usize::from_str_radix(end, 16).ok()?,
                ))
            });
            let read_only_private = matches!(fields.get(1), Some(&"r--p") | Some(&"r-xp"));
            let same_file =
                fields.get(4).and_then(|field| field.parse::<u64>().ok()) == Some(inode);
            current = range
                .filter(|(start, end)| read_only_private && same_file && end > start)
                .map(|(start, end)| ProgramMapping {
                    start,
                    len: end - start,
                    resident_bytes: 0,
                });
            // Until its `Anonymous:` line says none, a mapping counts as written.
            clean = false;
            continue;
        }
        let Some(mapping) = current.as_mut() else {
            continue;
        };
        let kilobytes = || fields.get(1).and_then(|field| field.parse::<u64>().ok());
        match fields.first() {
            Some(&"Rss:") => mapping.resident_bytes = kilobytes().unwrap_or(0) << 10,
            Some(&"Anonymous:") => clean = kilobytes() == Some(0),
            _ => {}
        }
    }
    finish(current, clean);
    found
}

/// Hands back the resident pages of the program's own code and read-only data (the
/// tree-sitter grammars' parse tables above all: about 10 MiB of tables and 15 MiB of code
/// resident after parsing every language of a large tree, against 15 MiB in all for a daemon
/// that has only answered searches). They are clean pages of the executable: the next access
/// maps them again from the page cache (a minor fault each), so this costs the next parse a
/// few milliseconds at most. Called once a quiet spell follows questions, not after bursts:
/// those pages would be needed again at once. Returns the resident bytes handed back (0 where
/// the platform does not allow it).
pub fn release_program_pages() -> u64 {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(program) = std::fs::metadata("/proc/self/exe") else {
            return 0;
        };
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return 0;
        };
        let mut released = 0;
        for mapping in clean_program_mappings(&smaps, program.ino()) {
            // SAFETY: the range is a whole private, read-only mapping of the executable with
            // no anonymous page, so `MADV_DONTNEED` only drops clean copies of the file's
            // bytes (read-only: nothing can write one between the look and the advice); the
            // kernel maps the same bytes back on the next access, even to code running now.
            let advised = unsafe {
                libc::madvise(
                    mapping.start as *mut libc::c_void,
                    mapping.len,
                    libc::MADV_DONTNEED,
                )
            };
            if advised == 0 {
                released += mapping.resident_bytes;
            }
        }
        released
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// Resident pages of files mapped by this process (the program's code and tables, shared
/// libraries), in bytes: `None` where the platform does not say.
pub fn resident_file_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("RssFile:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0a0000000-55d0a1000000 r--p 00000000 fd:01 4242 /usr/bin/codesaged
Size:              16384 kB
Rss:                8192 kB
Anonymous:             0 kB
55d0a1000000-55d0a2000000 r-xp 01000000 fd:01 4242 /usr/bin/codesaged
Size:              16384 kB
Rss:               12000 kB
Anonymous:             0 kB
55d0a2000000-55d0a2100000 r--p 02000000 fd:01 4242 /usr/bin/codesaged
Size:               1024 kB
Rss:                1024 kB
Anonymous:           900 kB
55d0a2100000-55d0a2200000 rw-p 02100000 fd:01 4242 /usr/bin/codesaged
Size:               1024 kB
Rss:                  64 kB
Anonymous:            64 kB
7f0000000000-7f0000100000 r-xp 00000000 fd:01 77 /usr/lib/libc.so.6
Size:               1024 kB
Rss:                1000 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 rw-p 00000000 00:00 0
Size:               1024 kB
Rss:                1024 kB
Anonymous:          1024 kB
";

    #[test]
    fn only_the_programs_unwritten_read_only_mappings_are_chosen() {
        let chosen = clean_program_mappings(SMAPS, 4242);
        assert_eq!(
            chosen,
            vec![
                ProgramMapping {
                    start: 0x55d0a0000000,
                    len: 0x1000000,
                    resident_bytes: 8192 << 10,
                },
                ProgramMapping {
                    start: 0x55d0a1000000,
                    len: 0x1000000,
                    resident_bytes: 12000 << 10,
                },
            ]
        );
        // Another file's mappings, and a mapping whose `Anonymous:` line is missing, never.
        assert!(clean_program_mappings(SMAPS, 77).len() == 1);
        assert!(clean_program_mappings(SMAPS, 5).is_empty());
        let cut_short = "55d0a0000000-55d0a1000000 r--p 00000000 fd:01 4242 /x\nRss: 4 kB\n";
        assert!(clean_program_mappings(cut_short, 4242).is_empty());
    }

    #[test]
    fn the_program_keeps_running_after_its_pages_are_handed_back() {
        let before: u64 = (1..=1000u64).map(|n| n * n).sum();
        let released = release_program_pages();
        // The code below (and the test harness after it) runs from pages mapped again.
        let after: u64 = (1..=1000u64).map(|n| n * n).sum();
        assert_eq!(before, after);
        if cfg!(target_os = "linux") {
            assert!(released > 0, "nothing of the test program was resident");
        }
    }
}
