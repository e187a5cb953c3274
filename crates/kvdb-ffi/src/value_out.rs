//! Handing a value to the caller, shared by every get-like call: a
//! library-allocated copy (`kvdb_get`, `kvdb_snapshot_get`, `kvdb_txn_get`)
//! or a copy into the caller's buffer (`kvdb_get_into`, `kvdb_txn_get_into`).
//!
//! The getters (`kvdb_get`, `kvdb_get_into`, `kvdb_snapshot_get`,
//! `kvdb_txn_get`, `kvdb_txn_get_into`) run a short inline path when every
//! argument is plain and the value is found, and leave every other case
//! (a check to report, not found, a buffer too small, a failure) to
//! functions out of line that report exactly as the checked path does.

use std::ffi::c_void;
use std::mem::ManuallyDrop;

use crate::boundary::{out, status, write};
use crate::error::{FfiError, FfiResult};
use crate::memory::copy_out;
use crate::status::{KVDB_OK, kvdb_status_t};

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

/// True if the arguments of a get that allocates the copy need no further
/// check: `db`, `key`, `val` and `vlen` non-NULL and `klen` a possible
/// length. As [`plain_into_args`], for the hot path of a getter.
#[inline(always)]
pub(crate) fn plain_alloc_args<D>(
    db: *const D,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> bool {
    !(db.is_null() | key.is_null() | val.is_null() | vlen.is_null() | (klen > isize::MAX as usize))
}

/// The key of a hot getter whose arguments passed [`plain_alloc_args`] or
/// [`plain_into_args`].
///
/// # Safety
///
/// `key` is non-NULL and valid for reads of `klen <= isize::MAX` bytes for
/// `'a`.
#[inline(always)]
pub(crate) unsafe fn plain_key<'a>(key: *const c_void, klen: usize) -> &'a [u8] {
    // SAFETY: per the contract above.
    unsafe { std::slice::from_raw_parts(key.cast::<u8>(), klen) }
}

/// [`deliver_copy`] with the common case, a copy made, handled inline and
/// every other outcome (not found, no memory for the copy, a failure)
/// reported out of line as [`crate::boundary::status`] reports it.
///
/// # Safety
///
/// `val` and `vlen` are non-NULL and valid for writing.
#[inline(always)]
pub(crate) unsafe fn deliver_copy_fast(
    function: &'static str,
    found: engine::Result<Option<(FfiResult<*mut c_void>, usize)>>,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    // Not dropped where a copy was made: that outcome holds nothing to
    // free (the copy is the caller's), as in `finish_into_fast`.
    let found = ManuallyDrop::new(found);
    if let Ok(Some((Ok(ptr), len))) = *found {
        // SAFETY: per the contract.
        unsafe {
            write(val, ptr);
            write(vlen, len);
        }
        return KVDB_OK;
    }
    // SAFETY: per the contract.
    unsafe { deliver_copy_cold(function, ManuallyDrop::into_inner(found), val, vlen) }
}

/// [`deliver_copy_fast`] for every outcome but a copy made.
///
/// # Safety
///
/// As for [`deliver_copy_fast`].
#[cold]
#[inline(never)]
unsafe fn deliver_copy_cold(
    function: &'static str,
    found: engine::Result<Option<(FfiResult<*mut c_void>, usize)>>,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    // SAFETY: per the contract.
    status(function, || unsafe { deliver_copy(found?, val, vlen) })
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

/// True if the arguments of a get into the caller's buffer certainly need
/// no further check: `db`, `key` and `vlen` non-NULL, `klen` a possible
/// length, `buf` NULL only with `cap` 0, and `buf` not overlapping `key`
/// (judged conservatively: arguments this refuses may still be valid, and
/// the caller then checks them one by one).
///
/// A hot getter tests this first and leaves every other case to a checked
/// path out of line. Each instruction counts there: when reads miss the
/// cache, a shorter get lets the processor start the next get's loads
/// while this one's are still on their way.
#[inline(always)]
pub(crate) fn plain_into_args<D>(
    db: *const D,
    key: *const c_void,
    klen: usize,
    buf: *mut c_void,
    cap: usize,
    vlen: *mut usize,
) -> bool {
    let (key_at, buf_at) = (key as usize, buf as usize);
    // One of the ranges starts inside the other, counting an empty range
    // as starting inside the other too (then the checked path decides).
    let may_overlap = buf_at.wrapping_sub(key_at) < klen || key_at.wrapping_sub(buf_at) < cap;
    !(db.is_null()
        | key.is_null()
        | vlen.is_null()
        | (buf.is_null() & (cap != 0))
        | (klen > isize::MAX as usize)
        | may_overlap)
}

/// Ends a get into the caller's buffer: `KVDB_OK` with the length written
/// if the value was found and fit, else what [`finish_into`] and
/// [`crate::boundary::status`] report, worked out out of line.
///
/// # Safety
///
/// `vlen` is non-NULL and valid for writing.
#[inline(always)]
pub(crate) unsafe fn finish_into_fast(
    function: &'static str,
    found: engine::Result<Option<usize>>,
    cap: usize,
    vlen: *mut usize,
) -> kvdb_status_t {
    // Not dropped where the get succeeded: an `Ok` holds nothing to free,
    // and the drop glue of the error is a call the hot path need not make.
    let found = ManuallyDrop::new(found);
    if let Ok(Some(len)) = *found
        && len <= cap
    {
        // SAFETY: per the contract.
        unsafe { write(vlen, len) };
        return KVDB_OK;
    }
    // SAFETY: per the contract.
    unsafe { finish_into_cold(function, ManuallyDrop::into_inner(found), cap, vlen) }
}

/// [`finish_into_fast`] for every other outcome: not found, a value longer
/// than `cap`, or a failure.
///
/// # Safety
///
/// `vlen` is non-NULL and valid for writing.
#[cold]
#[inline(never)]
unsafe fn finish_into_cold(
    function: &'static str,
    found: engine::Result<Option<usize>>,
    cap: usize,
    vlen: *mut usize,
) -> kvdb_status_t {
    status(function, || {
        let len = found?;
        // SAFETY: per the contract.
        unsafe { finish_into(len, cap, vlen) }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(address: usize) -> *mut c_void {
        std::ptr::without_provenance_mut(address)
    }

    /// What the checked path of a get into a buffer accepts.
    fn checked_accepts(
        db: usize,
        key: usize,
        klen: usize,
        buf: usize,
        cap: usize,
        vlen: usize,
    ) -> bool {
        db != 0
            && key != 0
            && vlen != 0
            && klen <= isize::MAX as usize
            && !(buf == 0 && cap > 0)
            && !overlap(at(key), klen, at(buf), cap)
    }

    #[test]
    fn plain_into_args_passes_only_what_every_check_passes() {
        let addresses = [
            0,
            1,
            8,
            15,
            16,
            17,
            24,
            100,
            4096,
            usize::MAX / 2,
            usize::MAX - 8,
            usize::MAX,
        ];
        let lengths = [
            0,
            1,
            7,
            8,
            9,
            16,
            92,
            isize::MAX as usize,
            isize::MAX as usize + 1,
            usize::MAX,
        ];
        let mut plain = 0;
        for &db in &[0, 64] {
            for &vlen in &[0, 32] {
                for &key in &addresses {
                    for &klen in &lengths {
                        for &buf in &addresses {
                            for &cap in &lengths {
                                let fast = plain_into_args(
                                    at(db).cast_const(),
                                    at(key),
                                    klen,
                                    at(buf),
                                    cap,
                                    at(vlen).cast(),
                                );
                                if fast {
                                    plain += 1;
                                    assert!(
                                        checked_accepts(db, key, klen, buf, cap, vlen),
                                        "passed db {db} key {key}+{klen} buf {buf}+{cap} vlen {vlen}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(plain > 0);
    }

    #[test]
    fn plain_alloc_args_passes_only_non_null_pointers_and_possible_lengths() {
        let db = 1u8;
        let key = [1u8; 4];
        let (mut val, mut vlen) = (std::ptr::null_mut(), 0usize);
        let k = key.as_ptr().cast();
        assert!(plain_alloc_args(&db, k, 4, &mut val, &mut vlen));
        let no_db: *const u8 = std::ptr::null();
        assert!(!plain_alloc_args(no_db, k, 4, &mut val, &mut vlen));
        assert!(!plain_alloc_args(
            &db,
            std::ptr::null(),
            0,
            &mut val,
            &mut vlen
        ));
        assert!(!plain_alloc_args(
            &db,
            k,
            4,
            std::ptr::null_mut(),
            &mut vlen
        ));
        assert!(!plain_alloc_args(&db, k, 4, &mut val, std::ptr::null_mut()));
        assert!(!plain_alloc_args(
            &db,
            k,
            isize::MAX as usize + 1,
            &mut val,
            &mut vlen
        ));
    }

    #[test]
    fn plain_into_args_passes_separate_buffers() {
        let key = [1u8; 16];
        let mut buf = [0u8; 128];
        let mut vlen = 0usize;
        let db = 1u8;
        assert!(plain_into_args(
            &db,
            key.as_ptr().cast(),
            key.len(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut vlen,
        ));
        assert!(plain_into_args(
            &db,
            key.as_ptr().cast(),
            key.len(),
            std::ptr::null_mut(),
            0,
            &mut vlen
        ));
        // A buffer right after the key, and one right before it, touch no
        // byte of it.
        let both = [0u8; 64];
        let base = both.as_ptr() as *mut c_void;
        // SAFETY: both offsets stay inside `both`.
        let (after, key_at) = unsafe { (base.add(16), base.add(32)) };
        assert!(plain_into_args(&db, base, 16, after, 48, &mut vlen));
        assert!(plain_into_args(&db, key_at, 16, base, 32, &mut vlen));
        assert!(!plain_into_args(&db, key_at, 16, base, 33, &mut vlen));
    }
}
