//! What an allocation really occupies: the block the system allocator
//! (glibc's malloc) carves for a request, so that the bytes a store reports
//! are the bytes it holds, not the bytes it asked for.
//!
//! glibc serves a request of `n` bytes below its mmap threshold with a
//! chunk of `n` plus an 8-byte header, rounded up to 16 bytes, 32 at least;
//! above it (128 KiB by default) with whole pages plus a 16-byte header.

/// The mmap threshold glibc starts with.
const MMAP_THRESHOLD: usize = 128 * 1024;
const PAGE: usize = 4096;

/// Bytes the allocator occupies for a request of `request` bytes.
pub(crate) const fn block(request: usize) -> usize {
    if request >= MMAP_THRESHOLD {
        return (request + 16).div_ceil(PAGE) * PAGE;
    }
    let chunk = (request + 8 + 15) & !15;
    if chunk < 32 { 32 } else { chunk }
}

/// The mean block of a skiplist node whose tower height `h` has probability
/// 2^-h (crossbeam-skiplist's distribution), for a node of `fixed` bytes
/// plus one pointer per level.
pub(crate) const fn mean_tower_block(fixed: usize) -> usize {
    // Sum of block(fixed + 8h) / 2^h over h = 1..=32, in 2^-32 units.
    let mut total: u128 = 0;
    let mut h = 1;
    while h <= 32 {
        total += (block(fixed + 8 * h) as u128) << (32 - h);
        h += 1;
    }
    total.div_ceil(1 << 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_requests_round_like_glibc() {
        assert_eq!(block(0), 32);
        assert_eq!(block(24), 32);
        assert_eq!(block(25), 48);
        assert_eq!(block(120), 128);
        assert_eq!(block(121), 144);
    }

    #[test]
    fn large_requests_take_whole_pages() {
        assert_eq!(block(MMAP_THRESHOLD), MMAP_THRESHOLD + PAGE);
    }

    #[test]
    fn a_skiplist_node_averages_two_levels() {
        // Node of 16 bytes (key, count) plus 8 per level: 32, 48, 48, 64, ...
        let mean = mean_tower_block(16);
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
            assert_eq!(block(n), usable + 8, "request {n}");
        }
    }
}
