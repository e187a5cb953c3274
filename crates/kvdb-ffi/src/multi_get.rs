//! Reading many keys in one call: `kvdb_multi_get`,
//! `kvdb_snapshot_multi_get` and `kvdb_txn_multi_get` read every key of a
//! caller's array at one moment, with their memory accesses overlapped
//! (see the `kvdb` crate's `Db::get_many`), and copy the values into a
//! caller's buffer. One call crosses the library boundary for the lot,
//! which matters most where a crossing is dear (cgo, ctypes).

use std::ffi::c_void;
use std::mem::size_of;

use crate::boundary::{bytes, engine, handle, handle_mut, status};
use crate::db::kvdb_t;
use crate::error::{FfiError, FfiResult};
use crate::snapshot::kvdb_snapshot_t;
use crate::status::{KVDB_BUFFER_TOO_SMALL, KVDB_NOT_FOUND, KVDB_OK, kvdb_status_t};
use crate::txn::kvdb_txn_t;
use crate::value_out::overlap;

/// One key of a `kvdb_multi_get`: the key to read (filled in by the caller)
/// and what was found (filled in by the call).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kvdb_lookup_t {
    /// In: the key's first byte (NULL only with `klen` 0).
    pub key: *const c_void,
    /// In: the key's length in bytes.
    pub klen: usize,
    /// Out: the value's first byte, in the caller's buffer; NULL unless
    /// `status` is `KVDB_OK` and the value is not empty.
    pub val: *const c_void,
    /// Out: the value's length in bytes, also when it did not fit; 0 if
    /// the key was not found.
    pub vlen: usize,
    /// Out: `KVDB_OK` (the value is at `val`), `KVDB_NOT_FOUND` (absent,
    /// deleted or expired) or `KVDB_BUFFER_TOO_SMALL` (the value did not
    /// fit in what was left of the buffer; `vlen` says how long it is).
    pub status: kvdb_status_t,
}

/// The caller's arrays, checked: `n` lookups, each key readable and
/// outside both output areas, and `cap` bytes at `buf` apart from the
/// lookups.
struct Request<'a> {
    lookups: &'a mut [kvdb_lookup_t],
    keys: Vec<&'a [u8]>,
    buf: *mut u8,
    cap: usize,
}

impl<'a> Request<'a> {
    /// # Safety
    ///
    /// `lookups` is NULL or valid for reading and writing `n` lookups, each
    /// key NULL or valid for reading `klen` bytes, for `'a`; `buf` is NULL
    /// or valid for writing `cap` bytes for `'a`.
    unsafe fn check(
        lookups: *mut kvdb_lookup_t,
        n: usize,
        buf: *mut c_void,
        cap: usize,
    ) -> FfiResult<Self> {
        let lookups_len = n
            .checked_mul(size_of::<kvdb_lookup_t>())
            .filter(|&len| len <= isize::MAX as usize)
            .ok_or_else(|| FfiError::invalid(format!("n {n} is impossible")))?;
        if lookups.is_null() && n > 0 {
            return Err(FfiError::invalid(format!("lookups is NULL but n is {n}")));
        }
        if buf.is_null() && cap > 0 {
            return Err(FfiError::invalid(format!("buf is NULL but cap is {cap}")));
        }
        if cap > isize::MAX as usize {
            return Err(FfiError::invalid(format!("cap {cap} is impossible")));
        }
        if overlap(lookups.cast(), lookups_len, buf, cap) {
            return Err(FfiError::invalid("lookups and buf overlap"));
        }
        let lookups: &'a mut [kvdb_lookup_t] = if n == 0 {
            &mut []
        } else {
            // SAFETY: non-NULL (checked), valid for n lookups (the
            // contract), whose size fits in isize (checked).
            unsafe { std::slice::from_raw_parts_mut(lookups, n) }
        };
        let mut keys = Vec::with_capacity(n);
        for (i, lookup) in lookups.iter().enumerate() {
            // SAFETY: per the contract.
            let key = unsafe { bytes(lookup.key, lookup.klen, "key")? };
            let within = |ptr: *const u8, len: usize| {
                overlap(key.as_ptr().cast(), key.len(), ptr.cast_mut().cast(), len)
            };
            if within(buf.cast(), cap) {
                return Err(FfiError::invalid(format!(
                    "the key of lookups[{i}] overlaps buf: values would be written over keys"
                )));
            }
            if within(lookups.as_ptr().cast(), lookups_len) {
                return Err(FfiError::invalid(format!(
                    "the key of lookups[{i}] lies in the lookups array, which the call writes"
                )));
            }
            keys.push(key);
        }
        Ok(Self {
            lookups,
            keys,
            buf: buf.cast(),
            cap,
        })
    }

    /// Runs `read` over the keys and fills in each lookup: values are
    /// copied back to back into the buffer while they fit.
    fn fill(
        self,
        read: impl FnOnce(&[&[u8]], &mut dyn FnMut(usize, Option<&[u8]>)) -> FfiResult,
    ) -> FfiResult {
        let Self {
            lookups,
            keys,
            buf,
            cap,
        } = self;
        let mut used = 0usize;
        read(&keys, &mut |i, value| {
            let lookup = &mut lookups[i];
            let Some(value) = value else {
                (lookup.val, lookup.vlen, lookup.status) = (std::ptr::null(), 0, KVDB_NOT_FOUND);
                return;
            };
            lookup.vlen = value.len();
            if value.len() > cap - used {
                (lookup.val, lookup.status) = (std::ptr::null(), KVDB_BUFFER_TOO_SMALL);
                return;
            }
            lookup.status = KVDB_OK;
            if value.is_empty() {
                lookup.val = std::ptr::null();
                return;
            }
            // SAFETY: `buf` is valid for `cap` bytes (the contract) and
            // `used + value.len() <= cap`; it overlaps neither the lookups
            // nor any key (checked), and the value is the store's memory.
            unsafe {
                let at = buf.add(used);
                std::ptr::copy_nonoverlapping(value.as_ptr(), at, value.len());
                lookup.val = at.cast_const().cast();
            }
            used += value.len();
        })
    }
}

/// Reads the current values of the `n` keys in `lookups`, all at the same
/// moment (as through a snapshot taken for the call), and copies them back
/// to back (unaligned) into `buf`; each lookup's `val`, `vlen` and `status`
/// say what was found. A value that does not fit in what is left of the
/// `cap` bytes is not copied (its status is `KVDB_BUFFER_TOO_SMALL` and its
/// `vlen` its length); later values that fit still are. The reads overlap
/// their memory accesses: once the database outgrows the CPU's caches this
/// is several times faster than a `kvdb_get_into` per key.
///
/// Returns `KVDB_OK` when every key was looked up, whatever each found.
/// Fails, looking up no key and filling in no lookup, with
/// `KVDB_INVALID_ARGUMENT` for a NULL `db`, a NULL `lookups` with `n` > 0,
/// a NULL key with a non-zero `klen`, a NULL `buf` with a non-zero `cap`,
/// or a key or the lookups overlapping `buf` (or a key lying in the
/// lookups); and with `KVDB_TOO_LARGE` if a key is longer than
/// `KVDB_MAX_KEY_LEN`.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `lookups` is NULL or valid for
/// reading and writing `n` lookups, each key NULL or valid for `klen`
/// bytes; `buf` is NULL or writable memory of the caller's, valid for `cap`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_multi_get(
    db: *mut kvdb_t,
    lookups: *mut kvdb_lookup_t,
    n: usize,
    buf: *mut c_void,
    cap: usize,
) -> kvdb_status_t {
    status("kvdb_multi_get", || {
        // SAFETY: per the contract.
        let (db, request) = unsafe { (handle(db, "db")?, Request::check(lookups, n, buf, cap)?) };
        request.fill(|keys, f| engine(db.db.get_many_with(keys, f)))
    })
}

/// As `kvdb_multi_get`, reading the values as of the snapshot's moment.
///
/// # Safety
///
/// As for `kvdb_multi_get`, with `s` NULL (an error) or a live snapshot.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_snapshot_multi_get(
    s: *const kvdb_snapshot_t,
    lookups: *mut kvdb_lookup_t,
    n: usize,
    buf: *mut c_void,
    cap: usize,
) -> kvdb_status_t {
    status("kvdb_snapshot_multi_get", || {
        // SAFETY: per the contract.
        let (s, request) = unsafe {
            (
                handle(s, "snapshot")?,
                Request::check(lookups, n, buf, cap)?,
            )
        };
        request.fill(|keys, f| engine(s.snapshot.get_many_with(keys, f)))
    })
}

/// As `kvdb_multi_get`, through the transaction: each key's value as the
/// transaction sees it (its own write where it wrote the key, else the
/// value at its read view), and every key its own write did not answer
/// counts for commit validation, as through `kvdb_txn_get` (a key read as
/// absent included). Fails as `kvdb_multi_get` does, recording no read.
///
/// # Safety
///
/// As for `kvdb_multi_get`, with `txn` NULL (an error) or a live
/// transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_multi_get(
    txn: *mut kvdb_txn_t,
    lookups: *mut kvdb_lookup_t,
    n: usize,
    buf: *mut c_void,
    cap: usize,
) -> kvdb_status_t {
    status("kvdb_txn_multi_get", || {
        // SAFETY: per the contract.
        let (t, request) = unsafe {
            (
                handle_mut(txn, "txn")?,
                Request::check(lookups, n, buf, cap)?,
            )
        };
        request.fill(|keys, f| engine(t.txn.get_many_with(keys, f)))
    })
}
