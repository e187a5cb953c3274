//! `kvdb_index_iter_t`: the records an index query found, in index key
//! order (then key order), taken from either end. Made by
//! `kvdb_index_iter_equal` / `_prefix` / `_range` at a snapshot or a fresh
//! view, or by `kvdb_txn_index_iter_*` inside a transaction (its own
//! writes included); owned by the caller until `kvdb_index_iter_free`.
//! Like `kvdb_iter_t`, it stays valid after `kvdb_close` and after its
//! snapshot is freed.

use std::ffi::{c_char, c_void};
use std::ops::Bound;

use engine::{IndexEntry, IndexIter, IndexQuery, TxnIndexIter};

use crate::boundary::{Handle, bytes, engine, guard, handle, handle_mut, out, status, write};
use crate::db::kvdb_t;
use crate::error::{FfiError, FfiResult};
use crate::index_def::text;
use crate::snapshot::kvdb_snapshot_t;
use crate::status::kvdb_status_t;
use crate::txn::kvdb_txn_t;

/// `kvdb_index_iter_range` flag: the lower bound itself is left out.
pub const KVDB_INDEX_LOWER_EXCLUSIVE: u32 = 1;
/// `kvdb_index_iter_range` flag: the upper bound itself is included.
pub const KVDB_INDEX_UPPER_INCLUSIVE: u32 = 2;

enum Found {
    View(IndexIter),
    Txn(TxnIndexIter),
}

/// The records an index query found (opaque). Not positioned until the
/// first `kvdb_index_iter_next` or `kvdb_index_iter_next_back`.
pub struct kvdb_index_iter_t {
    found: Found,
    current: Option<IndexEntry>,
}

impl Handle for kvdb_index_iter_t {
    fn inherited_across_fork(&self) -> bool {
        match &self.found {
            Found::View(it) => it.is_inherited_across_fork(),
            Found::Txn(it) => it.is_inherited_across_fork(),
        }
    }
}

/// A query read from C arguments, borrowing them.
enum Query<'a> {
    Equal(&'a [u8]),
    Prefix(&'a [u8]),
    Range(Option<&'a [u8]>, Option<&'a [u8]>, u32),
}

impl<'a> Query<'a> {
    fn to_engine(&self) -> FfiResult<IndexQuery<'a>> {
        Ok(match *self {
            Query::Equal(k) => IndexQuery::Equal(k),
            Query::Prefix(p) => IndexQuery::Prefix(p),
            Query::Range(lower, upper, flags) => {
                if flags & !(KVDB_INDEX_LOWER_EXCLUSIVE | KVDB_INDEX_UPPER_INCLUSIVE) != 0 {
                    return Err(FfiError::invalid(format!(
                        "unknown range flags {flags:#x} (use KVDB_INDEX_LOWER_EXCLUSIVE and KVDB_INDEX_UPPER_INCLUSIVE)"
                    )));
                }
                let lower = match lower {
                    None => Bound::Unbounded,
                    Some(k) if flags & KVDB_INDEX_LOWER_EXCLUSIVE != 0 => Bound::Excluded(k),
                    Some(k) => Bound::Included(k),
                };
                let upper = match upper {
                    None => Bound::Unbounded,
                    Some(k) if flags & KVDB_INDEX_UPPER_INCLUSIVE != 0 => Bound::Included(k),
                    Some(k) => Bound::Excluded(k),
                };
                IndexQuery::Range(lower, upper)
            }
        })
    }
}

/// A range bound: NULL (with length 0) is no bound.
///
/// # Safety
///
/// `ptr` is NULL or valid for `len` bytes for `'a`.
unsafe fn bound<'a>(ptr: *const c_void, len: usize, what: &str) -> FfiResult<Option<&'a [u8]>> {
    if ptr.is_null() && len == 0 {
        return Ok(None);
    }
    // SAFETY: per the contract.
    Ok(Some(unsafe { bytes(ptr, len, what) }?))
}

fn deliver(out_iter: *mut *mut kvdb_index_iter_t, found: Found) {
    let it = Box::into_raw(Box::new(kvdb_index_iter_t {
        found,
        current: None,
    }));
    // SAFETY: callers checked `out_iter` non-NULL before any work.
    unsafe { write(out_iter, it) };
}

/// Runs a query at a snapshot, or at a fresh view of `db`.
///
/// # Safety
///
/// As for `kvdb_index_iter_equal`; `query` reads only memory valid for the
/// call.
unsafe fn query_view<'q>(
    function: &'static str,
    db: *mut kvdb_t,
    snap: *const kvdb_snapshot_t,
    name: *const c_char,
    query: impl FnOnce() -> FfiResult<Query<'q>>,
    out_iter: *mut *mut kvdb_index_iter_t,
) -> kvdb_status_t {
    status(function, || {
        let out_iter = out(out_iter, "out")?;
        // SAFETY: per the callers' contracts.
        let (db, name) = unsafe { (handle(db, "db")?, text(name, "name")?) };
        let query = query()?.to_engine()?;
        let found = if snap.is_null() {
            engine(db.db.index(name, query))?
        } else {
            // SAFETY: per the callers' contracts.
            let snap = unsafe { handle(snap, "snapshot") }?;
            engine(snap.snapshot.index(name, query))?
        };
        deliver(out_iter, Found::View(found));
        Ok(())
    })
}

/// Runs a query inside a transaction.
///
/// # Safety
///
/// As for `kvdb_txn_index_iter_equal`.
unsafe fn query_txn<'q>(
    function: &'static str,
    txn: *mut kvdb_txn_t,
    name: *const c_char,
    query: impl FnOnce() -> FfiResult<Query<'q>>,
    out_iter: *mut *mut kvdb_index_iter_t,
) -> kvdb_status_t {
    status(function, || {
        let out_iter = out(out_iter, "out")?;
        // SAFETY: per the callers' contracts.
        let (txn, name) = unsafe { (handle_mut(txn, "txn")?, text(name, "name")?) };
        let query = query()?.to_engine()?;
        let found = engine(txn.txn.index(name, query))?;
        deliver(out_iter, Found::Txn(found));
        Ok(())
    })
}

/// The records whose index key in index `name` equals `ikey`, as of `snap`
/// (or of `db` now if `snap` is NULL). Query keys are in the records' own
/// form: the field's bytes, an integer in the struct's byte order, or a
/// JSON text such as `"alice"` or `30`. Fails with `KVDB_INVALID_ARGUMENT`
/// if there is no such index, it was completed after the view was taken, or
/// `ikey` cannot be read as the index reads records.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `snap` is NULL or a live
/// snapshot; `name` is NULL (an error) or a NUL-terminated string; `ikey`
/// is NULL or valid for `iklen` bytes; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_equal(
    db: *mut kvdb_t,
    snap: *const kvdb_snapshot_t,
    name: *const c_char,
    ikey: *const c_void,
    iklen: usize,
    out_iter: *mut *mut kvdb_index_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract; the key is read during the call only.
    unsafe {
        query_view(
            "kvdb_index_iter_equal",
            db,
            snap,
            name,
            || Ok(Query::Equal(bytes(ikey, iklen, "ikey")?)),
            out_iter,
        )
    }
}

/// The records whose index key starts with `prefix` (for a JSON string
/// field, an open string such as `"al` matches `"alice"`). As
/// `kvdb_index_iter_equal` otherwise.
///
/// # Safety
///
/// As for `kvdb_index_iter_equal`; `prefix` is NULL or valid for `plen`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_prefix(
    db: *mut kvdb_t,
    snap: *const kvdb_snapshot_t,
    name: *const c_char,
    prefix: *const c_void,
    plen: usize,
    out_iter: *mut *mut kvdb_index_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract; the prefix is read during the call only.
    unsafe {
        query_view(
            "kvdb_index_iter_prefix",
            db,
            snap,
            name,
            || Ok(Query::Prefix(bytes(prefix, plen, "prefix")?)),
            out_iter,
        )
    }
}

/// The records whose index key lies from `lower` (included) to `upper`
/// (excluded); a NULL bound with length 0 is open, so both NULL walk the
/// whole index. `flags` is 0 or a combination of
/// `KVDB_INDEX_LOWER_EXCLUSIVE` and `KVDB_INDEX_UPPER_INCLUSIVE`. As
/// `kvdb_index_iter_equal` otherwise.
///
/// # Safety
///
/// As for `kvdb_index_iter_equal`; `lower` and `upper` are NULL or valid for
/// `llen` and `ulen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_range(
    db: *mut kvdb_t,
    snap: *const kvdb_snapshot_t,
    name: *const c_char,
    lower: *const c_void,
    llen: usize,
    upper: *const c_void,
    ulen: usize,
    flags: u32,
    out_iter: *mut *mut kvdb_index_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract; the bounds are read during the call only.
    unsafe {
        query_view(
            "kvdb_index_iter_range",
            db,
            snap,
            name,
            || {
                Ok(Query::Range(
                    bound(lower, llen, "lower")?,
                    bound(upper, ulen, "upper")?,
                    flags,
                ))
            },
            out_iter,
        )
    }
}

/// As `kvdb_index_iter_equal`, inside a transaction: its own writes so far
/// are included, and the queried range and each record read count for its
/// commit validation.
///
/// # Safety
///
/// `txn` is NULL (an error) or a live transaction; otherwise as for
/// `kvdb_index_iter_equal`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_index_iter_equal(
    txn: *mut kvdb_txn_t,
    name: *const c_char,
    ikey: *const c_void,
    iklen: usize,
    out_iter: *mut *mut kvdb_index_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        query_txn(
            "kvdb_txn_index_iter_equal",
            txn,
            name,
            || Ok(Query::Equal(bytes(ikey, iklen, "ikey")?)),
            out_iter,
        )
    }
}

/// As `kvdb_index_iter_prefix`, inside a transaction (see
/// `kvdb_txn_index_iter_equal`).
///
/// # Safety
///
/// As for `kvdb_txn_index_iter_equal`; `prefix` is NULL or valid for `plen`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_index_iter_prefix(
    txn: *mut kvdb_txn_t,
    name: *const c_char,
    prefix: *const c_void,
    plen: usize,
    out_iter: *mut *mut kvdb_index_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        query_txn(
            "kvdb_txn_index_iter_prefix",
            txn,
            name,
            || Ok(Query::Prefix(bytes(prefix, plen, "prefix")?)),
            out_iter,
        )
    }
}

/// As `kvdb_index_iter_range`, inside a transaction (see
/// `kvdb_txn_index_iter_equal`).
///
/// # Safety
///
/// As for `kvdb_txn_index_iter_equal`; `lower` and `upper` are NULL or valid
/// for `llen` and `ulen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_index_iter_range(
    txn: *mut kvdb_txn_t,
    name: *const c_char,
    lower: *const c_void,
    llen: usize,
    upper: *const c_void,
    ulen: usize,
    flags: u32,
    out_iter: *mut *mut kvdb_index_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        query_txn(
            "kvdb_txn_index_iter_range",
            txn,
            name,
            || {
                Ok(Query::Range(
                    bound(lower, llen, "lower")?,
                    bound(upper, ulen, "upper")?,
                    flags,
                ))
            },
            out_iter,
        )
    }
}

/// Moves to the next record from one end.
///
/// # Safety
///
/// `it` is NULL (an error) or a live index iterator.
unsafe fn step(function: &'static str, it: *mut kvdb_index_iter_t, back: bool) -> kvdb_status_t {
    status(function, || {
        // SAFETY: per the callers' contracts.
        let it = unsafe { handle_mut(it, "iterator") }?;
        it.current = match (&mut it.found, back) {
            (Found::View(i), false) => i.next(),
            (Found::View(i), true) => i.next_back(),
            (Found::Txn(i), false) => i.next(),
            (Found::Txn(i), true) => i.next_back(),
        };
        match it.current {
            Some(_) => Ok(()),
            None => Err(FfiError::not_found("no more records")),
        }
    })
}

/// Moves to the next record in ascending order, taken from the front:
/// `KVDB_OK` when positioned on one, `KVDB_NOT_FOUND` once every record has
/// been taken (from either end).
///
/// # Safety
///
/// `it` is NULL (an error) or a live index iterator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_next(it: *mut kvdb_index_iter_t) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { step("kvdb_index_iter_next", it, false) }
}

/// Moves to the next record in descending order, taken from the back; as
/// `kvdb_index_iter_next` otherwise. The two ends meet without repeating
/// or skipping a record.
///
/// # Safety
///
/// As for `kvdb_index_iter_next`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_next_back(it: *mut kvdb_index_iter_t) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { step("kvdb_index_iter_next_back", it, true) }
}

unsafe fn borrowed(
    function: &'static str,
    it: *const kvdb_index_iter_t,
    ptr: *mut *const c_void,
    len: *mut usize,
    part: impl FnOnce(&IndexEntry) -> &[u8],
) -> kvdb_status_t {
    status(function, || {
        let (ptr, len) = (out(ptr, "pointer")?, out(len, "length")?);
        // SAFETY: per the callers' contracts.
        let it = unsafe { handle(it, "iterator") }?;
        let entry = it
            .current
            .as_ref()
            .ok_or_else(|| FfiError::not_found("the iterator is not positioned on a record"))?;
        let bytes = part(entry);
        // SAFETY: both out-parameters were checked non-NULL.
        unsafe {
            write(ptr, bytes.as_ptr().cast());
            write(len, bytes.len());
        }
        Ok(())
    })
}

/// The current record's index key, in its ordered form (`docs/FORMAT.md`:
/// a key field or byte range as it is, an integer big-endian with the sign
/// bit flipped, a JSON scalar tagged), borrowed until the iterator moves or
/// is freed. `KVDB_NOT_FOUND` if not positioned.
///
/// # Safety
///
/// `it` is NULL (an error) or a live index iterator; `ikey` and `iklen` are
/// valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_index_key(
    it: *const kvdb_index_iter_t,
    ikey: *mut *const c_void,
    iklen: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        borrowed("kvdb_index_iter_index_key", it, ikey, iklen, |e| {
            &e.index_key
        })
    }
}

/// The current record's key (its primary key), borrowed like
/// `kvdb_index_iter_index_key`.
///
/// # Safety
///
/// As for `kvdb_index_iter_index_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_key(
    it: *const kvdb_index_iter_t,
    key: *mut *const c_void,
    klen: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { borrowed("kvdb_index_iter_key", it, key, klen, |e| &e.key) }
}

/// The current record's value, borrowed like `kvdb_index_iter_index_key`.
///
/// # Safety
///
/// As for `kvdb_index_iter_index_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_value(
    it: *const kvdb_index_iter_t,
    val: *mut *const c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { borrowed("kvdb_index_iter_value", it, val, vlen, |e| &e.value) }
}

/// Frees an index iterator; NULL is a no-op.
///
/// # Safety
///
/// `it` is NULL or an iterator from a `kvdb_*index_iter_*` call not yet
/// freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_iter_free(it: *mut kvdb_index_iter_t) {
    guard("kvdb_index_iter_free", || {
        if !it.is_null() {
            // SAFETY: per the contract, `it` came from Box::into_raw.
            drop(unsafe { Box::from_raw(it) });
        }
    });
}
