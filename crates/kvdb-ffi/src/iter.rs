//! `kvdb_iter_t`: a cursor over the keys of a read view, in ascending byte
//! order, skipping deleted and expired keys. Owned by the caller
//! (`kvdb_iter_new` / `kvdb_iter_free`); stays valid after `kvdb_close` and
//! after the snapshot it was made from is freed.
//!
//! Movement functions return nothing: misuse (a NULL iterator, a NULL key
//! with a non-zero length) leaves the iterator invalid and is recorded for
//! `kvdb_last_error`.

use std::ffi::c_void;

use crate::iter_cursor::IterCursor;

use crate::boundary::{bytes, guard, handle, handle_mut, out, status, void, write};
use crate::db::kvdb_t;
use crate::error::FfiError;
use crate::snapshot::kvdb_snapshot_t;
use crate::status::kvdb_status_t;

/// An iterator (opaque). Not positioned until a seek.
pub struct kvdb_iter_t {
    pub(crate) cursor: IterCursor,
    /// Where a transaction's iterator copies the pairs of its last borrowed
    /// batch (`kvdb_iter_next_batch_borrowed`); empty for others.
    pub(crate) scratch: Vec<u8>,
}

impl kvdb_iter_t {
    pub(crate) fn new(cursor: IterCursor) -> Self {
        Self {
            cursor,
            scratch: Vec::new(),
        }
    }
}

impl crate::boundary::Handle for kvdb_iter_t {
    fn inherited_across_fork(&self) -> bool {
        self.cursor.inherited_across_fork()
    }
}

unsafe fn new_iter(
    function: &'static str,
    db: *mut kvdb_t,
    snap: *const kvdb_snapshot_t,
    prefix: Option<(*const c_void, usize)>,
    out_iter: *mut *mut kvdb_iter_t,
) -> kvdb_status_t {
    status(function, || {
        let out_iter = out(out_iter, "out")?;
        // SAFETY: per the callers' contracts.
        let db = unsafe { handle(db, "db") }?;
        let view = if snap.is_null() {
            db.db.snapshot()
        } else {
            // SAFETY: per the callers' contracts.
            unsafe { handle(snap, "snapshot") }?.snapshot.clone()
        };
        let cursor = match prefix {
            None => view.into_cursor::<&[u8]>(..),
            Some((ptr, len)) => {
                // SAFETY: per the callers' contracts.
                let prefix = unsafe { bytes(ptr, len, "prefix") }?;
                let (lower, upper) = engine::prefix_bounds(prefix);
                view.into_cursor((lower, upper))
            }
        };
        // SAFETY: checked non-NULL.
        let cursor = IterCursor::View(cursor);
        // SAFETY: checked non-NULL.
        unsafe { write(out_iter, Box::into_raw(Box::new(kvdb_iter_t::new(cursor)))) };
        Ok(())
    })
}

/// A new iterator over `snap`, or over a fresh view of `db` taken now if
/// `snap` is NULL. Position it with a seek before reading.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `snap` is NULL or a live
/// snapshot; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_new(
    db: *mut kvdb_t,
    snap: *const kvdb_snapshot_t,
    out_iter: *mut *mut kvdb_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { new_iter("kvdb_iter_new", db, snap, None, out_iter) }
}

/// Like `kvdb_iter_new`, limited to the keys that start with `prefix`: seeks
/// and steps never leave that range.
///
/// # Safety
///
/// As for `kvdb_iter_new`; `prefix` is NULL or valid for `plen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_new_prefix(
    db: *mut kvdb_t,
    snap: *const kvdb_snapshot_t,
    prefix: *const c_void,
    plen: usize,
    out_iter: *mut *mut kvdb_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        new_iter(
            "kvdb_iter_new_prefix",
            db,
            snap,
            Some((prefix, plen)),
            out_iter,
        )
    }
}

/// Frees an iterator; NULL is a no-op.
///
/// # Safety
///
/// `it` is NULL or an iterator from `kvdb_iter_new*` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_free(it: *mut kvdb_iter_t) {
    guard("kvdb_iter_free", || {
        if !it.is_null() {
            // SAFETY: per the contract, `it` came from Box::into_raw.
            drop(unsafe { Box::from_raw(it) });
        }
    });
}

unsafe fn movement(function: &'static str, it: *mut kvdb_iter_t, f: impl FnOnce(&mut IterCursor)) {
    void(function, || {
        // SAFETY: per the callers' contracts.
        f(&mut unsafe { handle_mut(it, "iterator") }?.cursor);
        Ok(())
    });
}

unsafe fn seek_with(
    function: &'static str,
    it: *mut kvdb_iter_t,
    key: *const c_void,
    klen: usize,
    f: impl FnOnce(&mut IterCursor, &[u8]),
) {
    void(function, || {
        // SAFETY: per the callers' contracts.
        let it = unsafe { handle_mut(it, "iterator") }?;
        // SAFETY: per the callers' contracts.
        match unsafe { bytes(key, klen, "key") } {
            Ok(key) => {
                f(&mut it.cursor, key);
                Ok(())
            }
            Err(e) => {
                // Leave the iterator invalid rather than where it was.
                it.cursor.reset();
                Err(e)
            }
        }
    });
}

/// Positions on the first key.
///
/// # Safety
///
/// `it` is NULL (recorded as an error) or a live iterator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_seek_to_first(it: *mut kvdb_iter_t) {
    // SAFETY: forwarded contract.
    unsafe { movement("kvdb_iter_seek_to_first", it, IterCursor::seek_to_first) }
}

/// Positions on the last key.
///
/// # Safety
///
/// As for `kvdb_iter_seek_to_first`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_seek_to_last(it: *mut kvdb_iter_t) {
    // SAFETY: forwarded contract.
    unsafe { movement("kvdb_iter_seek_to_last", it, IterCursor::seek_to_last) }
}

/// Positions on the first key at or after `key`.
///
/// # Safety
///
/// As for `kvdb_iter_seek_to_first`; `key` is NULL or valid for `klen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_seek(it: *mut kvdb_iter_t, key: *const c_void, klen: usize) {
    // SAFETY: forwarded contract.
    unsafe { seek_with("kvdb_iter_seek", it, key, klen, IterCursor::seek) }
}

/// Positions on the last key at or before `key`.
///
/// # Safety
///
/// As for `kvdb_iter_seek`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_seek_for_prev(
    it: *mut kvdb_iter_t,
    key: *const c_void,
    klen: usize,
) {
    // SAFETY: forwarded contract.
    unsafe {
        seek_with(
            "kvdb_iter_seek_for_prev",
            it,
            key,
            klen,
            IterCursor::seek_for_prev,
        )
    }
}

/// True if the iterator is positioned on a key (false for NULL).
///
/// # Safety
///
/// `it` is NULL or a live iterator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_valid(it: *const kvdb_iter_t) -> bool {
    guard("kvdb_iter_valid", || {
        // SAFETY: per the contract.
        unsafe { it.as_ref() }.is_some_and(|it| {
            !crate::boundary::Handle::inherited_across_fork(it) && it.cursor.valid()
        })
    })
}

/// Steps to the next key; does nothing if the iterator is not valid.
///
/// # Safety
///
/// As for `kvdb_iter_seek_to_first`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_next(it: *mut kvdb_iter_t) {
    // SAFETY: forwarded contract.
    unsafe { movement("kvdb_iter_next", it, IterCursor::next) }
}

/// Steps to the previous key; does nothing if the iterator is not valid.
///
/// # Safety
///
/// As for `kvdb_iter_seek_to_first`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_prev(it: *mut kvdb_iter_t) {
    // SAFETY: forwarded contract.
    unsafe { movement("kvdb_iter_prev", it, IterCursor::prev) }
}

unsafe fn borrowed(
    function: &'static str,
    it: *const kvdb_iter_t,
    ptr: *mut *const c_void,
    len: *mut usize,
    part: impl FnOnce(&IterCursor) -> Option<&[u8]>,
) -> kvdb_status_t {
    status(function, || {
        let (ptr, len) = (out(ptr, "pointer")?, out(len, "length")?);
        // SAFETY: per the callers' contracts.
        let it = unsafe { handle(it, "iterator") }?;
        let bytes = part(&it.cursor)
            .ok_or_else(|| FfiError::not_found("the iterator is not positioned on a key"))?;
        // SAFETY: both out-parameters were checked non-NULL.
        unsafe {
            write(ptr, bytes.as_ptr().cast());
            write(len, bytes.len());
        }
        Ok(())
    })
}

/// The current key: `*key` points into the iterator (do not free it) and
/// stays valid until the iterator moves or is freed. `KVDB_NOT_FOUND` if the
/// iterator is not valid.
///
/// # Safety
///
/// `it` is NULL (an error) or a live iterator; `key` and `klen` are valid
/// for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_key(
    it: *const kvdb_iter_t,
    key: *mut *const c_void,
    klen: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { borrowed("kvdb_iter_key", it, key, klen, IterCursor::key) }
}

/// The current value, borrowed like `kvdb_iter_key`.
///
/// # Safety
///
/// As for `kvdb_iter_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_iter_value(
    it: *const kvdb_iter_t,
    val: *mut *const c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { borrowed("kvdb_iter_value", it, val, vlen, IterCursor::value) }
}
