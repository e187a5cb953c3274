//! Handing a value to the caller, shared by every get-like call: a
//! library-allocated copy (`kvdb_get`, `kvdb_snapshot_get`, `kvdb_txn_get`)
//! or a copy into the caller's buffer (`kvdb_get_into`, `kvdb_txn_get_into`).

use std::ffi::c_void;

use crate::boundary::{out, write};
use crate::error::{FfiError, FfiResult};
use crate::memory::copy_out;

/// The error of a get that found nothing.
pub(crate) fn key_not_found() -> FfiError {
    FfiError::not_found("no such key")
}

/// Checks the out-parameters of a get that allocates the copy.
pub(crate) fn check_alloc_outs(
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> FfiResult<(*mut *mut c_void, *mut usize)> {
    Ok((out(val, "val")?, out(vlen, "vlen")?))
}

/// A library-allocated copy of `value` and its length, if there was one.
pub(crate) fn copy_found(value: Option<&[u8]>) -> Option<(FfiResult<*mut c_void>, usize)> {
    value.map(|v| (copy_out(v), v.len()))
}

/// Writes a found copy through the out-parameters (checked by
/// [`check_alloc_outs`]), or reports `KVDB_NOT_FOUND`.
///
/// # Safety
///
/// `val` and `vlen` are non-NULL and valid for writing.
pub(crate) unsafe fn deliver_copy(
    found: Option<(FfiResult<*mut c_void>, usize)>,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> FfiResult {
    let (ptr, len) = found.ok_or_else(key_not_found)?;
    let ptr = ptr?;
    // SAFETY: per the contract.
    unsafe {
        write(val, ptr);
        write(vlen, len);
    }
    Ok(())
}

/// True if the byte ranges `[a, a + alen)` and `[b, b + blen)` share a byte.
pub(crate) fn overlap(a: *const c_void, alen: usize, b: *mut c_void, blen: usize) -> bool {
    let (a, b) = (a as usize, b as usize);
    alen > 0 && blen > 0 && a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

/// Checks the arguments of a get into the caller's buffer, before the key
/// is read: `vlen` non-NULL, `buf` NULL only with `cap` 0, and `buf` not
/// overlapping `key`.
pub(crate) fn check_into_args(
    key: *const c_void,
    klen: usize,
    buf: *mut c_void,
    cap: usize,
    vlen: *mut usize,
) -> FfiResult<*mut usize> {
    let vlen = out(vlen, "vlen")?;
    if buf.is_null() && cap > 0 {
        return Err(FfiError::invalid(format!("buf is NULL but cap is {cap}")));
    }
    if overlap(key, klen, buf, cap) {
        return Err(FfiError::invalid(
            "buf overlaps key: the value would be written over the key being read",
        ));
    }
    Ok(vlen)
}

/// Copies `value` into `buf` if it fits in `cap` bytes; returns its length.
///
/// # Safety
///
/// `buf` is valid for writing `cap` bytes (or NULL with `cap` 0).
pub(crate) unsafe fn copy_into(value: &[u8], buf: *mut c_void, cap: usize) -> usize {
    if value.len() <= cap && !value.is_empty() {
        // SAFETY: `buf` is valid for `cap >= value.len()` bytes and, checked
        // by `check_into_args`, does not overlap the key; the value is the
        // store's own memory.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), buf.cast::<u8>(), value.len()) };
    }
    value.len()
}

/// Ends a get into the caller's buffer: the length is written whether the
/// value fit or not; `KVDB_BUFFER_TOO_SMALL` if it did not, `KVDB_NOT_FOUND`
/// if there was no value.
///
/// # Safety
///
/// `vlen` is non-NULL and valid for writing.
pub(crate) unsafe fn finish_into(len: Option<usize>, cap: usize, vlen: *mut usize) -> FfiResult {
    let len = len.ok_or_else(key_not_found)?;
    // SAFETY: per the contract; written on success and on BUFFER_TOO_SMALL.
    unsafe { write(vlen, len) };
    if len > cap {
        return Err(FfiError::buffer_too_small(len, cap));
    }
    Ok(())
}
