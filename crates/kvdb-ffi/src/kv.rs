//! Keys and values: put, get, delete, TTLs, and the atomic read-modify-write
//! operations.

use std::ffi::c_void;
use std::time::Duration;

use engine::{CasOutcome, Ttl};

use crate::boundary::{bytes, engine, guard, handle, key_value, out, status, write};
use crate::db::kvdb_t;
use crate::error::{FfiError, FfiResult};
use crate::status::kvdb_status_t;
use crate::value_out::{
    check_alloc_outs, check_into_args, copy_found, copy_into, deliver_copy, deliver_copy_fast,
    finish_into, finish_into_fast, key_not_found, plain_alloc_args, plain_into_args, plain_key,
};

/// A TTL in milliseconds; 0 is an invalid argument.
pub(crate) fn ttl(ms: u64) -> FfiResult<Duration> {
    if ms == 0 {
        return Err(FfiError::invalid("ttl_ms must be at least 1"));
    }
    Ok(Duration::from_millis(ms))
}

/// The database, key and value arguments of a call that stores a value.
///
/// # Safety
///
/// `db` is NULL or a live handle; `key` and `val` are NULL or valid for
/// `klen` and `vlen` bytes for `'a`.
unsafe fn db_key_value<'a>(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
) -> FfiResult<(&'a kvdb_t, &'a [u8], &'a [u8])> {
    // SAFETY: per the contract.
    let (db, (key, val)) = unsafe { (handle(db, "db")?, key_value(key, klen, val, vlen)?) };
    Ok((db, key, val))
}

/// `KVDB_OK` if the put-if-absent stored its value, else `KVDB_EXISTS`.
fn stored_or_exists(stored: bool) -> FfiResult {
    if stored {
        Ok(())
    } else {
        Err(FfiError::exists())
    }
}

/// The body of a call that acts on one key and reports whether the key was
/// there: `f` returning false becomes `KVDB_NOT_FOUND`.
///
/// # Safety
///
/// `db` is NULL or a live handle; `key` is NULL or valid for `klen` bytes.
unsafe fn on_key(
    function: &'static str,
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    f: impl FnOnce(&engine::Db, &[u8]) -> FfiResult<bool>,
) -> kvdb_status_t {
    status(function, || {
        // SAFETY: per the contract.
        let (db, key) = unsafe { (handle(db, "db")?, bytes(key, klen, "key")?) };
        if f(&db.db, key)? {
            Ok(())
        } else {
            Err(key_not_found())
        }
    })
}

/// Stores `val` under `key`, replacing any value and TTL it had.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `key` and `val` are NULL or
/// valid for `klen` and `vlen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_put(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
) -> kvdb_status_t {
    status("kvdb_put", || {
        // SAFETY: per the contract.
        let (db, key, val) = unsafe { db_key_value(db, key, klen, val, vlen) }?;
        Ok(db.db.put(key, val)?)
    })
}

/// Stores `val` under `key`, expiring `ttl_ms` milliseconds from now
/// (`ttl_ms` 0 is `KVDB_INVALID_ARGUMENT`).
///
/// # Safety
///
/// As for `kvdb_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_put_ttl(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
    ttl_ms: u64,
) -> kvdb_status_t {
    status("kvdb_put_ttl", || {
        // SAFETY: per the contract.
        let (db, key, val) = unsafe { db_key_value(db, key, klen, val, vlen) }?;
        Ok(db.db.put_with_ttl(key, val, ttl(ttl_ms)?)?)
    })
}

/// Copies the value of `key` into a new buffer: on `KVDB_OK`, `*val` points
/// to `*vlen` bytes allocated by the library (release with `kvdb_free`; an
/// empty value still gets a non-NULL pointer). `KVDB_NOT_FOUND` if the key is
/// absent or expired; the out-parameters are then left untouched.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `key` is NULL or valid for
/// `klen` bytes; `val` and `vlen` are valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_get(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    guard("kvdb_get", || {
        if !plain_alloc_args(db, key, klen, val, vlen) {
            // SAFETY: forwarded contract.
            return unsafe { get_checked(db, key, klen, val, vlen) };
        }
        // SAFETY: `plain_alloc_args` passed; per the contract.
        let (db, key) = unsafe { plain_db_key(db, key, klen) };
        let found = db.db.get_with(key, copy_found);
        // SAFETY: both out-parameters were seen non-NULL.
        unsafe { deliver_copy_fast("kvdb_get", found, val, vlen) }
    })
}

/// The handle and key of a hot getter whose arguments passed
/// `plain_alloc_args` or `plain_into_args`. A handle inherited across
/// fork() is not refused here: the read itself refuses it.
///
/// # Safety
///
/// `db` is a non-NULL live handle and `key` is non-NULL and valid for
/// `klen <= isize::MAX` bytes for `'a`.
#[inline(always)]
unsafe fn plain_db_key<'a>(
    db: *const kvdb_t,
    key: *const c_void,
    klen: usize,
) -> (&'a kvdb_t, &'a [u8]) {
    // SAFETY: per the contract above.
    unsafe { (&*db, plain_key(key, klen)) }
}

/// `kvdb_get` for arguments `plain_alloc_args` did not pass: every check
/// is made in turn and the first that fails is reported.
///
/// # Safety
///
/// As for `kvdb_get`.
#[cold]
#[inline(never)]
unsafe fn get_checked(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    status("kvdb_get", || {
        let (val, vlen) = check_alloc_outs(val, vlen)?;
        // SAFETY: per the contract.
        let (db, key) = unsafe { (handle(db, "db")?, bytes(key, klen, "key")?) };
        let found = engine(db.db.get_with(key, copy_found))?;
        // SAFETY: both out-parameters were checked non-NULL.
        unsafe { deliver_copy(found, val, vlen) }
    })
}

/// Copies the value of `key` into the caller's buffer `buf` of `cap` bytes
/// and stores its length in `*vlen`. If the value is longer than `cap`,
/// returns `KVDB_BUFFER_TOO_SMALL` and still stores the required length in
/// `*vlen` (call with `buf` NULL and `cap` 0 to ask for it). `KVDB_NOT_FOUND`
/// if the key is absent or expired.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `key` is NULL or valid for
/// `klen` bytes; `buf` is NULL or valid for writing `cap` bytes; `vlen` is
/// valid for writing. `buf` and `key` must not overlap: a buffer that does
/// is `KVDB_INVALID_ARGUMENT` (copy the key elsewhere first).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_get_into(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    buf: *mut c_void,
    cap: usize,
    vlen: *mut usize,
) -> kvdb_status_t {
    guard("kvdb_get_into", || {
        if !plain_into_args(db, key, klen, buf, cap, vlen) {
            // SAFETY: forwarded contract.
            return unsafe { get_into_checked(db, key, klen, buf, cap, vlen) };
        }
        // SAFETY: `plain_into_args` passed; per the contract.
        let (db, key) = unsafe { plain_db_key(db, key, klen) };
        // SAFETY: `buf` is valid for `cap` bytes per the contract and, seen
        // by `plain_into_args`, does not overlap the key.
        let found = db
            .db
            .get_with(key, |v| v.map(|v| unsafe { copy_into(v, buf, cap) }));
        // SAFETY: `vlen` was seen non-NULL; valid per the contract.
        unsafe { finish_into_fast("kvdb_get_into", found, cap, vlen) }
    })
}

/// `kvdb_get_into` for arguments `plain_into_args` did not pass: every
/// check is made in turn and the first that fails is reported.
///
/// # Safety
///
/// As for `kvdb_get_into`.
#[cold]
#[inline(never)]
unsafe fn get_into_checked(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    buf: *mut c_void,
    cap: usize,
    vlen: *mut usize,
) -> kvdb_status_t {
    status("kvdb_get_into", || {
        let vlen = check_into_args(key, klen, buf, cap, vlen)?;
        // SAFETY: per the contract.
        let (db, key) = unsafe { (handle(db, "db")?, bytes(key, klen, "key")?) };
        // SAFETY: `buf` is valid for `cap` bytes per the contract.
        let len = engine(
            db.db
                .get_with(key, |v| v.map(|v| unsafe { copy_into(v, buf, cap) })),
        )?;
        // SAFETY: checked non-NULL.
        unsafe { finish_into(len, cap, vlen) }
    })
}

/// Removes `key`: `KVDB_OK` if a live key was removed, `KVDB_NOT_FOUND` if
/// there was none.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `key` is NULL or valid for
/// `klen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_delete(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { on_key("kvdb_delete", db, key, klen, |db, key| Ok(db.delete(key)?)) }
}

/// `KVDB_OK` if `key` holds a live value, `KVDB_NOT_FOUND` if not.
///
/// # Safety
///
/// As for `kvdb_delete`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_exists(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { on_key("kvdb_exists", db, key, klen, |db, key| Ok(db.exists(key)?)) }
}

/// The remaining life of `key` in milliseconds in `*ms_left` (at least 1),
/// or -1 if the key has no TTL. `KVDB_NOT_FOUND` if the key is absent.
///
/// # Safety
///
/// As for `kvdb_delete`; `ms_left` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_ttl(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    ms_left: *mut i64,
) -> kvdb_status_t {
    status("kvdb_ttl", || {
        let ms_left = out(ms_left, "ms_left")?;
        // SAFETY: per the contract.
        let (db, key) = unsafe { (handle(db, "db")?, bytes(key, klen, "key")?) };
        let left = match db.db.ttl(key)?.ok_or_else(key_not_found)? {
            Ttl::Persistent => -1,
            Ttl::Expires(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        };
        // SAFETY: checked non-NULL.
        unsafe { write(ms_left, left) };
        Ok(())
    })
}

/// Gives the live key `key` a TTL of `ttl_ms` milliseconds from now.
/// `KVDB_NOT_FOUND` if absent; `ttl_ms` 0 is `KVDB_INVALID_ARGUMENT`.
///
/// # Safety
///
/// As for `kvdb_delete`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_expire(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    ttl_ms: u64,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        on_key("kvdb_expire", db, key, klen, |db, key| {
            Ok(db.expire(key, ttl(ttl_ms)?)?)
        })
    }
}

/// Removes the TTL of the live key `key` (`KVDB_OK` also if it had none).
/// `KVDB_NOT_FOUND` if absent.
///
/// # Safety
///
/// As for `kvdb_delete`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_persist(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        on_key(
            "kvdb_persist",
            db,
            key,
            klen,
            |db, key| Ok(db.persist(key)?),
        )
    }
}

/// Stores `val` under `key` only if the key is absent (or expired):
/// `KVDB_OK` if stored, `KVDB_EXISTS` if the key was present.
///
/// # Safety
///
/// As for `kvdb_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_put_if_absent(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
) -> kvdb_status_t {
    status("kvdb_put_if_absent", || {
        // SAFETY: per the contract.
        let (db, key, val) = unsafe { db_key_value(db, key, klen, val, vlen) }?;
        stored_or_exists(db.db.put_if_absent(key, val)?)
    })
}

/// Like `kvdb_put_if_absent`, with a TTL on the stored value (the lease or
/// lock idiom). `ttl_ms` 0 is `KVDB_INVALID_ARGUMENT`.
///
/// # Safety
///
/// As for `kvdb_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_put_if_absent_ttl(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
    ttl_ms: u64,
) -> kvdb_status_t {
    status("kvdb_put_if_absent_ttl", || {
        // SAFETY: per the contract.
        let (db, key, val) = unsafe { db_key_value(db, key, klen, val, vlen) }?;
        stored_or_exists(db.db.put_if_absent_with_ttl(key, val, ttl(ttl_ms)?)?)
    })
}

/// Replaces the value of `key` with `val` if it currently equals `expected`
/// (the key keeps its TTL): `KVDB_OK` if replaced, `KVDB_CONFLICT` if the
/// value differed, `KVDB_NOT_FOUND` if the key was absent.
///
/// # Safety
///
/// As for `kvdb_put`; `expected` is NULL or valid for `elen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_compare_and_swap(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    expected: *const c_void,
    elen: usize,
    val: *const c_void,
    vlen: usize,
) -> kvdb_status_t {
    status("kvdb_compare_and_swap", || {
        // SAFETY: per the contract.
        let (db, key, expected, val) = unsafe {
            (
                handle(db, "db")?,
                bytes(key, klen, "key")?,
                bytes(expected, elen, "expected")?,
                bytes(val, vlen, "val")?,
            )
        };
        match db.db.compare_and_swap(key, expected, val)? {
            CasOutcome::Swapped => Ok(()),
            CasOutcome::Mismatch => Err(FfiError::new(
                crate::status::KVDB_CONFLICT,
                "the current value differs from the expected one",
            )),
            CasOutcome::NotFound => Err(key_not_found()),
        }
    })
}

/// Adds `delta` to the decimal integer stored at `key` (absent counts as 0;
/// the key keeps its TTL) and stores the new value in `*out` if `out` is not
/// NULL. A value that is not a decimal integer, or an overflow, is
/// `KVDB_INVALID_ARGUMENT` and changes nothing.
///
/// # Safety
///
/// As for `kvdb_delete`; `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_increment(
    db: *mut kvdb_t,
    key: *const c_void,
    klen: usize,
    delta: i64,
    out_value: *mut i64,
) -> kvdb_status_t {
    status("kvdb_increment", || {
        // SAFETY: per the contract.
        let (db, key) = unsafe { (handle(db, "db")?, bytes(key, klen, "key")?) };
        let value = db.db.increment(key, delta)?;
        if !out_value.is_null() {
            // SAFETY: non-NULL and valid per the contract.
            unsafe { write(out_value, value) };
        }
        Ok(())
    })
}
