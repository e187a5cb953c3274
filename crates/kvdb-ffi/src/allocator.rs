//! The memory allocator of the C library: mimalloc, or the C library's
//! `malloc` when the environment variable `KVDB_ALLOCATOR` is `system`.
//!
//! A database of a million records makes three allocations per record
//! (skiplist node, chain, version) scattered over hundreds of megabytes, and
//! every point read or scan step lands on a few of them at random. With
//! 4 KiB pages each such access also misses the TLB; under virtualisation
//! the page walk that follows costs as much as the cache miss. mimalloc
//! takes memory from the OS in large aligned segments that the kernel can
//! back with transparent huge pages (where its setting is `madvise` or
//! `always`), which roughly halves the cost of a random read here. Redis
//! and RocksDB ship with jemalloc for similar reasons.
//!
//! Only the library's own (Rust) allocations go through it. Values handed
//! to C (`kvdb_get`) are still `malloc`ed, so `kvdb_free` and `free` both
//! remain right for them, and the host's `malloc` is untouched.
//!
//! The choice is made once, at the library's first allocation, and holds
//! for the life of the process, so every block is freed by the allocator
//! that made it. `KVDB_ALLOCATOR=system` is for tools that watch `malloc`
//! (valgrind, AddressSanitizer, heap profilers): the test suite runs its
//! sanitizer and valgrind builds that way.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CStr, c_char};
use std::sync::atomic::{AtomicU8, Ordering};

use mimalloc::MiMalloc;

#[global_allocator]
static ALLOCATOR: LibraryAllocator = LibraryAllocator;

/// Not decided yet.
const UNDECIDED: u8 = 0;
/// mimalloc.
const MIMALLOC: u8 = 1;
/// The C library's `malloc`.
const SYSTEM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// The allocator this process uses for the library's memory.
#[inline]
fn choice() -> u8 {
    match CHOICE.load(Ordering::Acquire) {
        UNDECIDED => decide(),
        decided => decided,
    }
}

#[cold]
fn decide() -> u8 {
    // SAFETY: the name is a NUL-terminated string; `getenv` does not
    // allocate (which matters inside an allocator) and returns NULL or a
    // NUL-terminated string that `CStr` only reads.
    let wanted = unsafe {
        let value = libc::getenv(c"KVDB_ALLOCATOR".as_ptr());
        !value.is_null() && std::ffi::CStr::from_ptr(value).to_bytes() == b"system"
    };
    let mine = if wanted { SYSTEM } else { MIMALLOC };
    // Threads racing here read the same environment; whichever stores
    // first decides for all.
    let decided =
        match CHOICE.compare_exchange(UNDECIDED, mine, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => mine,
            Err(decided) => decided,
        };
    // Stores count their memory in this allocator's block sizes. This is
    // the library's first allocation, so no store exists yet and the
    // setting takes (it allocates nothing).
    if decided == MIMALLOC {
        engine::set_block_sizes(engine::BlockSizes::Mimalloc);
    }
    decided
}

/// mimalloc or the system allocator, as [`choice`] says.
struct LibraryAllocator;

// SAFETY: each method forwards to one of two sound allocators, the same
// one for every call in the life of the process (`choice` never changes
// once decided, and nothing is allocated before it is), so a block is
// always freed or resized by the allocator that made it.
unsafe impl GlobalAlloc for LibraryAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe {
            if choice() == SYSTEM {
                System.alloc(layout)
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if choice() == SYSTEM {
                System.alloc_zeroed(layout)
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`; `ptr` came from the same allocator.
        unsafe {
            if choice() == SYSTEM {
                System.dealloc(ptr, layout)
            } else {
                MiMalloc.dealloc(ptr, layout)
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`.
        unsafe {
            if choice() == SYSTEM {
                System.realloc(ptr, layout, new_size)
            } else {
                MiMalloc.realloc(ptr, layout, new_size)
            }
        }
    }
}

/// The allocator the library uses for its own memory in this process:
/// `"mimalloc"`, or `"system"` when `KVDB_ALLOCATOR=system` was set when
/// the library first allocated (static; never NULL).
#[unsafe(no_mangle)]
pub extern "C" fn kvdb_allocator() -> *const c_char {
    let name: &'static CStr = if choice() == SYSTEM {
        c"system"
    } else {
        c"mimalloc"
    };
    name.as_ptr()
}
