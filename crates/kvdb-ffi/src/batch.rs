//! `kvdb_batch_t`: a list of writes applied atomically by `kvdb_write`.
//! Owned by the caller (`kvdb_batch_new` / `kvdb_batch_free`), reusable,
//! independent of any database.

use std::ffi::c_void;

use engine::Batch;

use crate::boundary::{bytes, guard, handle, handle_mut, key_value, status, void};
use crate::db::kvdb_t;
use crate::kv::ttl;
use crate::status::kvdb_status_t;

impl crate::boundary::Handle for kvdb_batch_t {}

/// A batch of writes (opaque).
pub struct kvdb_batch_t {
    batch: Batch,
}

/// A new, empty batch. Free with `kvdb_batch_free`. NULL only on an
/// internal failure.
#[unsafe(no_mangle)]
pub extern "C" fn kvdb_batch_new() -> *mut kvdb_batch_t {
    guard("kvdb_batch_new", || {
        Box::into_raw(Box::new(kvdb_batch_t {
            batch: Batch::new(),
        }))
    })
}

/// Frees a batch; NULL is a no-op.
///
/// # Safety
///
/// `b` is NULL or a batch from `kvdb_batch_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_batch_free(b: *mut kvdb_batch_t) {
    guard("kvdb_batch_free", || {
        if !b.is_null() {
            // SAFETY: per the contract, `b` came from Box::into_raw.
            drop(unsafe { Box::from_raw(b) });
        }
    });
}

/// Removes every operation from the batch; NULL is a no-op.
///
/// # Safety
///
/// `b` is NULL or a live batch.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_batch_clear(b: *mut kvdb_batch_t) {
    void("kvdb_batch_clear", || {
        if !b.is_null() {
            // SAFETY: per the contract.
            unsafe { handle_mut(b, "batch") }?.batch.clear();
        }
        Ok(())
    });
}

/// The number of operations in the batch (0 for NULL).
///
/// # Safety
///
/// `b` is NULL or a live batch.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_batch_count(b: *const kvdb_batch_t) -> usize {
    guard("kvdb_batch_count", || {
        // SAFETY: per the contract.
        unsafe { b.as_ref() }.map_or(0, |b| b.batch.len())
    })
}

/// Adds a put of `val` under `key`. Sizes are checked here
/// (`KVDB_TOO_LARGE`); a rejected operation is not added.
///
/// # Safety
///
/// `b` is NULL (an error) or a live batch; `key` and `val` are NULL or valid
/// for `klen` and `vlen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_batch_put(
    b: *mut kvdb_batch_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
) -> kvdb_status_t {
    status("kvdb_batch_put", || {
        // SAFETY: per the contract.
        let (b, (key, val)) =
            unsafe { (handle_mut(b, "batch")?, key_value(key, klen, val, vlen)?) };
        Ok(b.batch.put(key, val)?)
    })
}

/// Adds a put that expires `ttl_ms` milliseconds after the batch is written
/// (`ttl_ms` 0 is `KVDB_INVALID_ARGUMENT`).
///
/// # Safety
///
/// As for `kvdb_batch_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_batch_put_ttl(
    b: *mut kvdb_batch_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
    ttl_ms: u64,
) -> kvdb_status_t {
    status("kvdb_batch_put_ttl", || {
        // SAFETY: per the contract.
        let (b, (key, val)) =
            unsafe { (handle_mut(b, "batch")?, key_value(key, klen, val, vlen)?) };
        Ok(b.batch.put_with_ttl(key, val, ttl(ttl_ms)?)?)
    })
}

/// Adds a delete of `key`.
///
/// # Safety
///
/// `b` is NULL (an error) or a live batch; `key` is NULL or valid for
/// `klen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_batch_delete(
    b: *mut kvdb_batch_t,
    key: *const c_void,
    klen: usize,
) -> kvdb_status_t {
    status("kvdb_batch_delete", || {
        // SAFETY: per the contract.
        let (b, key) = unsafe { (handle_mut(b, "batch")?, bytes(key, klen, "key")?) };
        Ok(b.batch.delete(key)?)
    })
}

/// Applies every operation of the batch atomically: readers, iterators and
/// recovery see all of it or none. Later operations on the same key win. The
/// batch stays owned by the caller and can be reused.
///
/// # Safety
///
/// `db` and `b` are NULL (an error) or live handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_write(db: *mut kvdb_t, b: *const kvdb_batch_t) -> kvdb_status_t {
    status("kvdb_write", || {
        // SAFETY: per the contract.
        let (db, b) = unsafe { (handle(db, "db")?, handle(b, "batch")?) };
        Ok(db.db.write(&b.batch)?)
    })
}
