//! Asking the CPU to start loading memory that is about to be read, so that
//! the cache misses of several records overlap instead of queueing one
//! after the other.

/// Starts loading the two cache lines at `addr` into the cache. A hint
/// only: any address is allowed (a prefetch never faults), and on targets
/// without a stable prefetch instruction it does nothing.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: `prefetch` reads no memory and cannot fault, whatever the
        // address; SSE is part of the x86-64 baseline.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(addr as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(addr.wrapping_add(64) as *const i8);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}
