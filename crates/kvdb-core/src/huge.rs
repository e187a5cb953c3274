//! Large zero-initialised arrays that ask the OS for transparent huge pages.
//!
//! A point lookup lands on a random slot of a hash table that, for a
//! million keys, spans 32 MiB. With 4 KiB pages nearly every such access
//! also misses the TLB, and the page walk that follows (two-dimensional
//! under virtualisation) costs as much as the cache miss itself. On 2 MiB
//! pages the whole table needs a handful of TLB entries. Arrays of at least
//! one huge page are aligned to it and marked `MADV_HUGEPAGE` (which works
//! when the system's transparent huge page setting is `madvise` or
//! `always`); smaller ones, and other systems, get ordinary memory.

use std::alloc::Layout;
use std::ptr::NonNull;

/// The huge page size this module aligns to (x86-64 and AArch64 with 4 KiB
/// base pages).
const HUGE_PAGE: usize = 2 << 20;

/// Types for which all-zero bytes are a valid value.
///
/// # Safety
///
/// An implementor must be valid (and meaningful to its users) when every
/// byte is zero, and must not need dropping.
pub(crate) unsafe trait Zeroable {}

/// A fixed-length array of `T`, zeroed, on huge pages when large enough.
pub(crate) struct ZeroedArray<T: Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    layout: Layout,
}

// SAFETY: the array owns its elements like a `Box<[T]>`; sending or
// sharing it is sound exactly when sending or sharing `T` is.
unsafe impl<T: Zeroable + Send> Send for ZeroedArray<T> {}
// SAFETY: as above.
unsafe impl<T: Zeroable + Sync> Sync for ZeroedArray<T> {}

impl<T: Zeroable> ZeroedArray<T> {
    /// `len` zeroed elements. Aborts, as `Box` does, if memory runs out.
    pub(crate) fn new(len: usize) -> Self {
        let bytes = std::mem::size_of::<T>()
            .checked_mul(len)
            .expect("array size overflows");
        let huge = bytes >= HUGE_PAGE;
        let align = if huge {
            HUGE_PAGE
        } else {
            std::mem::align_of::<T>()
        };
        // A zero-sized request is rounded up: `alloc` requires a non-zero
        // size, and one byte more is harmless.
        let layout = Layout::from_size_align(bytes.max(1), align.max(std::mem::align_of::<T>()))
            .expect("a valid layout");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            std::alloc::handle_alloc_error(layout);
        };
        if huge {
            advise_huge(raw, bytes);
        }
        Self { ptr, len, layout }
    }
}

/// Asks the kernel to back `[addr, addr + len)` with huge pages. A hint:
/// failure (an old kernel, huge pages off) leaves ordinary pages.
fn advise_huge(addr: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    // SAFETY: the range is one live allocation of ours; `MADV_HUGEPAGE`
    // changes how it is backed, never its contents or validity.
    unsafe {
        libc::madvise(addr.cast(), len, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (addr, len);
}

impl<T: Zeroable> std::ops::Deref for ZeroedArray<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points at `len` initialised elements (all-zero,
        // valid per `Zeroable`) that live as long as `self`; shared access
        // only.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Zeroable> Drop for ZeroedArray<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout; `T` needs no
        // drop (per `Zeroable`).
        unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), self.layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    // SAFETY: an all-zero `AtomicU64` is 0.
    unsafe impl Zeroable for AtomicU64 {}

    #[test]
    fn small_and_huge_arrays_start_zeroed_and_hold_writes() {
        for len in [0, 1, 100, HUGE_PAGE / 8, HUGE_PAGE / 8 * 3 + 5] {
            let array = ZeroedArray::<AtomicU64>::new(len);
            assert_eq!(array.len(), len);
            assert!(array.iter().all(|a| a.load(Ordering::Relaxed) == 0));
            for (i, a) in array.iter().enumerate() {
                a.store(i as u64, Ordering::Relaxed);
            }
            assert!(
                array
                    .iter()
                    .enumerate()
                    .all(|(i, a)| a.load(Ordering::Relaxed) == i as u64)
            );
            if len * 8 >= HUGE_PAGE {
                assert_eq!(
                    array.as_ptr() as usize % HUGE_PAGE,
                    0,
                    "aligned to a huge page"
                );
            }
        }
    }
}
