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
