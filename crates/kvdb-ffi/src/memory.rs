//! Memory handed to the caller.

use std::ffi::c_void;

use crate::boundary::guard;
use crate::error::{FfiError, FfiResult};

/// A `malloc`ed copy of `bytes` (at least one byte is allocated, so an
/// empty value still gets a non-NULL pointer).
pub(crate) fn copy_out(bytes: &[u8]) -> FfiResult<*mut c_void> {
    // SAFETY: malloc with a non-zero size; NULL is handled below.
    let ptr = unsafe { libc::malloc(bytes.len().max(1)) };
    if ptr.is_null() {
        return Err(FfiError::internal(format!(
            "out of memory allocating {} bytes",
            bytes.len()
        )));
    }
    // SAFETY: `ptr` is a fresh allocation of at least `bytes.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.cast::<u8>(), bytes.len()) };
    Ok(ptr)
}

/// Frees a buffer returned by the library (`kvdb_get`, `kvdb_snapshot_get`);
/// NULL is a no-op. The buffers come from `malloc`, so `free` works too.
///
/// # Safety
///
/// `ptr` is NULL or a buffer the library returned and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_free(ptr: *mut c_void) {
    guard("kvdb_free", || {
        // SAFETY: per the contract, `ptr` came from libc::malloc (copy_out).
        unsafe { libc::free(ptr) }
    });
}
