//! The fuzz binaries' allocator: the system allocator, except that a single allocation over
//! [`LIMIT`], or holding more than [`TOTAL_LIMIT`] in all, stops the process with a message
//! naming the size (after saving the inputs being run). Decoders must not believe a length or
//! count read from damaged bytes (a count of 2^32 postings, a document id near 2^32) and
//! allocate for it; without this guard such a request may succeed lazily on an
//! overcommitting system and go unnoticed, or take the machine's memory.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The largest single allocation any input may cause.
pub const LIMIT: usize = 512 << 20;

/// The most memory the process may hold at once: a decoder that believes a damaged number
/// in small steps (a document table grown to a damaged document id, one chunk at a time)
/// is stopped here rather than by the machine running out of memory.
pub const TOTAL_LIMIT: usize = 4 << 30;

/// Bytes allocated now.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Inputs being run now, one slot per running target, so that an input that makes the
/// process abort is saved first (the abort gives the test harness no chance to report it).
struct Slot {
    input: AtomicPtr<u8>,
    len: AtomicUsize,
    path: AtomicPtr<libc::c_char>,
}

const SLOTS: usize = 32;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    input: AtomicPtr::new(std::ptr::null_mut()),
    len: AtomicUsize::new(0),
    path: AtomicPtr::new(std::ptr::null_mut()),
};

static RUNNING: [Slot; SLOTS] = [EMPTY; SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// Where a target's inputs go if the process has to abort while running one.
pub struct Recorder {
    slot: &'static Slot,
}

impl Recorder {
    /// A recorder saving to `path`.
    pub fn new(path: &std::path::Path) -> Recorder {
        let slot = &RUNNING[NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS];
        let path = CString::new(path.display().to_string()).expect("a path without NUL");
        slot.path.store(path.into_raw(), Ordering::Release);
        Recorder { slot }
    }

    /// Notes that `input` is being run, until the returned guard is dropped (also when the
    /// target panics).
    pub fn running<'a>(&'a self, input: &'a [u8]) -> Running<'a> {
        self.slot.len.store(input.len(), Ordering::Release);
        self.slot
            .input
            .store(input.as_ptr().cast_mut(), Ordering::Release);
        Running {
            slot: self.slot,
            _input: input,
        }
    }
}

/// An input being run (see [`Recorder::running`]).
pub struct Running<'a> {
    slot: &'static Slot,
    _input: &'a [u8],
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.slot
            .input
            .store(std::ptr::null_mut(), Ordering::Release);
    }
}

/// Writes every running input to its file, allocating nothing.
fn save_running() {
    for slot in &RUNNING {
        let input = slot.input.load(Ordering::Acquire);
        let path = slot.path.load(Ordering::Acquire);
        if input.is_null() || path.is_null() {
            continue;
        }
        let len = slot.len.load(Ordering::Acquire);
        // SAFETY: the path is a leaked C string; the input is alive while it is registered
        // (the process is about to abort, so it cannot be freed meanwhile by its owner,
        // which is waiting on this very allocation or on another thread's).
        unsafe {
            let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
            if fd >= 0 {
                libc::write(fd, input.cast(), len);
                libc::close(fd);
                let note = b"fuzz: the inputs being run were saved to: ";
                libc::write(2, note.as_ptr().cast(), note.len());
                libc::write(2, path.cast(), libc::strlen(path));
                libc::write(2, b"\n".as_ptr().cast(), 1);
            }
        }
    }
}

/// The allocator; each fuzz binary declares it with `#[global_allocator]`.
pub struct Guard;

/// Counts `size` more bytes, stopping the process past [`TOTAL_LIMIT`].
fn grow(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    if live > TOTAL_LIMIT {
        stop(live, b"fuzz: holding                      bytes exceeds the fuzz limit on memory (a length or count from damaged input was believed)\n", 14);
    }
}

/// Writes the message and aborts, allocating nothing.
fn oversized(size: usize) -> ! {
    stop(size, b"fuzz: an allocation of                      bytes exceeds the fuzz limit (a length or count from damaged input was believed)\n", 23);
}

/// Writes `template` with `size` at `at`, saves the running inputs and aborts, allocating
/// nothing.
fn stop<const N: usize>(size: usize, template: &[u8; N], at: usize) -> ! {
    let mut message = *template;
    let mut digits = [0u8; 20];
    let mut value = size;
    let mut count = 0;
    loop {
        digits[count] = b'0' + (value % 10) as u8;
        value /= 10;
        count += 1;
        if value == 0 {
            break;
        }
    }
    for index in 0..count {
        message[at + index] = digits[count - 1 - index];
    }
    // SAFETY: writing a valid buffer to the standard error descriptor.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
    }
    save_running();
    std::process::abort();
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds
// `GlobalAlloc`'s contract; oversized requests never return.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            oversized(layout.size());
        }
        grow(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            oversized(layout.size());
        }
        grow(layout.size());
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT {
            oversized(new_size);
        }
        grow(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
