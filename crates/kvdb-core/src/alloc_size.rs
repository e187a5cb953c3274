//! What an allocation really occupies: the block the allocator carves for
//! a request, so that the bytes a store reports are the bytes it holds, not
//! the bytes it asked for.
//!
//! Two allocators are modelled ([`BlockSizes`]):
//!
//! - glibc's malloc (the default) serves a request of `n` bytes below its
//!   mmap threshold with a chunk of `n` plus an 8-byte header, rounded up to
//!   16 bytes, 32 at least; above it (128 KiB by default) with whole pages
//!   plus a 16-byte header;
//! - mimalloc (what the C library allocates with) has no header and rounds
//!   a request up to its size class: 8 bytes, multiples of 16 up to 64, then
//!   four classes per doubling (80, 96, 112, 128, 160, ...).
//!
//! The model is process-wide and must not change while a store exists, or
//! a store would free blocks at sizes other than it counted them:
//! [`set_block_sizes`] refuses once the first store was created.

use std::sync::atomic::{AtomicU8, Ordering};

/// The mmap threshold glibc starts with.
const MMAP_THRESHOLD: usize = 128 * 1024;
const PAGE: usize = 4096;

/// Whose block sizes a store counts its memory in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockSizes {
    /// glibc's malloc: the system allocator on Linux (the default).
    Glibc,
    /// mimalloc's size classes.
    Mimalloc,
}

const GLIBC: u8 = 0;
const MIMALLOC: u8 = 1;
/// The model's bits in [`STATE`].
const MODEL_BITS: u8 = 1;
/// Set in [`STATE`] when the first store is created: the model is fixed
/// from then on.
const FROZEN: u8 = 2;

/// The model, and whether it is fixed.
static STATE: AtomicU8 = AtomicU8::new(GLIBC);

/// Makes stores count memory in `sizes`' block sizes: call it before the
/// first store of the process is created, with the allocator the process
/// uses (a Rust program that installs mimalloc as its global allocator, say).
/// Returns false, and changes nothing, once a store has been created with
/// another model.
pub fn set_block_sizes(sizes: BlockSizes) -> bool {
    let code = match sizes {
        BlockSizes::Glibc => GLIBC,
        BlockSizes::Mimalloc => MIMALLOC,
    };
    set_in(&STATE, code)
}

/// [`set_block_sizes`] on `state`.
fn set_in(state: &AtomicU8, code: u8) -> bool {
    let mut current = state.load(Ordering::Acquire);
    loop {
        if current & FROZEN != 0 {
            return current & MODEL_BITS == code;
        }
        match state.compare_exchange_weak(current, code, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(seen) => current = seen,
        }
    }
}

/// The block sizes stores count in.
pub fn block_sizes() -> BlockSizes {
    match model() {
        MIMALLOC => BlockSizes::Mimalloc,
        _ => BlockSizes::Glibc,
    }
}

/// Fixes the model for the life of the process (a store is being created).
pub(crate) fn freeze() {
    STATE.fetch_or(FROZEN, Ordering::AcqRel);
}

#[inline]
fn model() -> u8 {
    STATE.load(Ordering::Relaxed) & MODEL_BITS
}

/// Bytes the allocator occupies for a request of `request` bytes.
#[inline]
pub(crate) fn block(request: usize) -> usize {
    block_in(model(), request)
}

const fn block_in(model: u8, request: usize) -> usize {
    match model {
        MIMALLOC => mimalloc_block(request),
        _ => glibc_block(request),
    }
}

const fn glibc_block(request: usize) -> usize {
    if request >= MMAP_THRESHOLD {
        return (request + 16).div_ceil(PAGE) * PAGE;
    }
    let chunk = (request + 8 + 15) & !15;
    if chunk < 32 { 32 } else { chunk }
}

/// Requests above this are not in mimalloc's small and medium size classes:
/// counted at page granularity.
const MIMALLOC_CLASSES_MAX: usize = 128 * 1024;

const fn mimalloc_block(request: usize) -> usize {
    let words = if request == 0 { 1 } else { request.div_ceil(8) };
    if words <= 8 {
        // 8 bytes, then whole 16-byte units.
        return if words == 1 {
            8
        } else {
            ((words + 1) & !1) * 8
        };
    }
    if request > MIMALLOC_CLASSES_MAX {
        return request.div_ceil(PAGE) * PAGE;
    }
    // Four classes per doubling: with w = words - 1 and b its top bit, the
    // class holds (5 + the two bits below b) << (b - 2) words.
    let w = words - 1;
    let b = usize::BITS - 1 - w.leading_zeros();
    (5 + ((w >> (b - 2)) & 3)) << (b - 2) << 3
}

/// The mean block of a skiplist node whose tower height `h` has probability
/// 2^-h (crossbeam-skiplist's distribution), for a node of `fixed` bytes
/// plus one pointer per level.
#[inline]
pub(crate) fn mean_tower_block<const FIXED: usize>() -> usize {
    match model() {
        MIMALLOC => const { mean_tower_block_in(MIMALLOC, FIXED) },
        _ => const { mean_tower_block_in(GLIBC, FIXED) },
    }
}

const fn mean_tower_block_in(model: u8, fixed: usize) -> usize {
    // Sum of block(fixed + 8h) / 2^h over h = 1..=32, in 2^-32 units.
    let mut total: u128 = 0;
    let mut h = 1;
    while h <= 32 {
        total += (block_in(model, fixed + 8 * h) as u128) << (32 - h);
        h += 1;
    }
    total.div_ceil(1 << 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_requests_round_like_glibc() {
        assert_eq!(glibc_block(0), 32);
        assert_eq!(glibc_block(24), 32);
        assert_eq!(glibc_block(25), 48);
        assert_eq!(glibc_block(120), 128);
        assert_eq!(glibc_block(121), 144);
    }

    #[test]
    fn large_requests_take_whole_pages() {
        assert_eq!(glibc_block(MMAP_THRESHOLD), MMAP_THRESHOLD + PAGE);
    }

    #[test]
    fn mimalloc_classes_match_what_mimalloc_reports() {
        for n in (1..=4096).chain([5000, 10_000, 65_536, 100_000, MIMALLOC_CLASSES_MAX]) {
            // SAFETY: the block is checked for null, asked for its usable
            // size while live, and freed once.
            let usable = unsafe {
                let p = libmimalloc_sys::mi_malloc(n);
                assert!(!p.is_null());
                let usable = libmimalloc_sys::mi_usable_size(p);
                libmimalloc_sys::mi_free(p);
                usable
            };
            assert_eq!(mimalloc_block(n), usable, "request {n}");
        }
        assert_eq!(mimalloc_block(120), 128);
        assert_eq!(mimalloc_block(129), 160);
    }

    #[test]
    fn the_model_can_change_only_until_a_store_fixes_it() {
        let state = AtomicU8::new(GLIBC);
        assert!(set_in(&state, MIMALLOC));
        assert!(set_in(&state, GLIBC));
        assert!(set_in(&state, MIMALLOC));
        state.fetch_or(FROZEN, Ordering::AcqRel);
        assert!(!set_in(&state, GLIBC), "refused once fixed");
        assert!(set_in(&state, MIMALLOC), "the model in force is accepted");
        assert_eq!(state.load(Ordering::Relaxed) & MODEL_BITS, MIMALLOC);
    }

    #[test]
    fn a_skiplist_node_averages_two_levels() {
        // Node of 16 bytes (key, count) plus 8 per level: 32, 48, 48, 64, ...
        let mean = mean_tower_block_in(GLIBC, 16);
        assert!((40..=48).contains(&mean), "{mean}");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn blocks_match_what_glibc_reports() {
        for n in [1usize, 24, 40, 100, 120, 130, 1000, 4000] {
            // SAFETY: the pointer malloc returns is checked for null, asked
            // for its usable size while live, and freed once.
            let usable = unsafe {
                let p = libc::malloc(n);
                assert!(!p.is_null());
                let usable = libc::malloc_usable_size(p);
                libc::free(p);
                usable
            };
            assert_eq!(glibc_block(n), usable + 8, "request {n}");
        }
    }
}
