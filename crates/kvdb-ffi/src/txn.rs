//! `kvdb_txn_t`: optimistic, serializable transactions. Owned by the caller
//! from `kvdb_txn_begin` until `kvdb_txn_commit` or `kvdb_txn_rollback`,
//! which always release it.

use std::ffi::c_void;
use std::ptr::NonNull;

use engine::{ErrorKind, Txn};

use crate::boundary::{
    Handle, bytes, engine, guard, handle, handle_mut, key_value, out, status, void, write,
};
use crate::db::kvdb_t;
use crate::error::FfiError;
use crate::iter::kvdb_iter_t;
use crate::iter_cursor::IterCursor;
use crate::kv::ttl;
use crate::status::kvdb_status_t;
use crate::value_out::{
    check_alloc_outs, check_into_args, copy_found, copy_into, deliver_copy, deliver_copy_fast,
    finish_into, finish_into_fast, key_not_found, plain_alloc_args, plain_into_args, plain_key,
};

/// A transaction (opaque). Used by one thread at a time; may move between
/// threads.
pub struct kvdb_txn_t {
    pub(crate) txn: TxnSlot,
}

impl Handle for kvdb_txn_t {
    fn inherited_across_fork(&self) -> bool {
        self.txn.is_inherited_across_fork()
    }
}

/// The transaction behind a handle: owned by the caller (`kvdb_txn_begin`),
/// or lent by `kvdb_txn_run` to its body for the length of one call.
// The owned handle is boxed once, by `kvdb_txn_begin`: boxing its `Txn`
// again to even out the variants would cost every transaction a second
// allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum TxnSlot {
    Owned(Txn),
    Lent {
        /// The transaction `kvdb_txn_run` holds a `&mut` to while its body
        /// runs.
        txn: NonNull<Txn>,
        /// The body tried to commit or roll back the handle itself.
        misused: bool,
    },
}

impl TxnSlot {
    /// A slot lending `txn`; the handle holding it must not outlive the
    /// borrow (`kvdb_txn_run` drops it before its closure returns).
    pub(crate) fn lend(txn: &mut Txn) -> Self {
        TxnSlot::Lent {
            txn: NonNull::from(txn),
            misused: false,
        }
    }

    /// Whether the body tried to end a lent transaction itself.
    pub(crate) fn misused(&self) -> bool {
        matches!(self, TxnSlot::Lent { misused: true, .. })
    }

    /// For a lent transaction, records that the body tried to end it and
    /// returns the error to report; `None` for an owned one.
    fn refuse_end(&mut self, call: &str) -> Option<FfiError> {
        match self {
            TxnSlot::Owned(_) => None,
            TxnSlot::Lent { misused, .. } => {
                *misused = true;
                Some(FfiError::invalid(format!(
                    "{call} on a transaction run by kvdb_txn_run: return KVDB_OK from the body to commit it, anything else to roll it back"
                )))
            }
        }
    }
}

impl std::ops::Deref for TxnSlot {
    type Target = Txn;

    fn deref(&self) -> &Txn {
        match self {
            TxnSlot::Owned(txn) => txn,
            // SAFETY: a lent slot is made by `TxnSlot::lend` from a `&mut Txn`
            // that `kvdb_txn_run` holds for as long as the handle exists (it
            // drops the handle before its closure returns, and the body may
            // not keep the handle past its call). The handle is used by one
            // thread at a time, so this shared borrow of `self` is the only
            // access to the transaction meanwhile.
            TxnSlot::Lent { txn, .. } => unsafe { txn.as_ref() },
        }
    }
}

impl std::ops::DerefMut for TxnSlot {
    fn deref_mut(&mut self) -> &mut Txn {
        match self {
            TxnSlot::Owned(txn) => txn,
            // SAFETY: as for `deref`; the exclusive borrow of `self` makes
            // this the only reference to the transaction while it lives.
            TxnSlot::Lent { txn, .. } => unsafe { txn.as_mut() },
        }
    }
}

/// Begins a transaction reading at the database as it is now; on success
/// `*out` receives it. End it with `kvdb_txn_commit` or `kvdb_txn_rollback`.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_begin(
    db: *mut kvdb_t,
    out_txn: *mut *mut kvdb_txn_t,
) -> kvdb_status_t {
    status("kvdb_txn_begin", || {
        let out_txn = out(out_txn, "out")?;
        // SAFETY: per the contract.
        let txn = unsafe { handle(db, "db") }?.db.begin()?;
        let handle = kvdb_txn_t {
            txn: TxnSlot::Owned(txn),
        };
        // SAFETY: checked non-NULL.
        unsafe { write(out_txn, Box::into_raw(Box::new(handle))) };
        Ok(())
    })
}

/// The value of `key` as the transaction sees it (its own writes over its
/// view): as `kvdb_get`, a library-allocated copy released with `kvdb_free`;
/// `KVDB_NOT_FOUND` if absent. The read counts for commit validation.
///
/// # Safety
///
/// `txn` is NULL (an error) or a live transaction; `key` is NULL or valid
/// for `klen` bytes; `val` and `vlen` are valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_get(
    txn: *mut kvdb_txn_t,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    guard("kvdb_txn_get", || {
        if !plain_alloc_args(txn, key, klen, val, vlen) {
            // SAFETY: forwarded contract.
            return unsafe { txn_get_checked(txn, key, klen, val, vlen) };
        }
        // SAFETY: `txn` is a live transaction no other thread uses and `key`
        // is valid for `klen` bytes, per the contract (both seen non-NULL).
        // One inherited across fork() is refused by the read itself
        // (`Txn::get_with` checks the process before its pending writes).
        let (t, key) = unsafe { (&mut *txn, plain_key(key, klen)) };
        let found = t.txn.get_with(key, copy_found);
        // SAFETY: both out-parameters were seen non-NULL.
        unsafe { deliver_copy_fast("kvdb_txn_get", found, val, vlen) }
    })
}

/// `kvdb_txn_get` for arguments the hot path did not take: every check is
/// made in turn and the first that fails is reported.
///
/// # Safety
///
/// As for `kvdb_txn_get`.
#[cold]
#[inline(never)]
unsafe fn txn_get_checked(
    txn: *mut kvdb_txn_t,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    status("kvdb_txn_get", || {
        let (val, vlen) = check_alloc_outs(val, vlen)?;
        // SAFETY: per the contract.
        let (t, key) = unsafe { (handle_mut(txn, "txn")?, bytes(key, klen, "key")?) };
        let found = engine(t.txn.get_with(key, copy_found))?;
        // SAFETY: both out-parameters were checked non-NULL.
        unsafe { deliver_copy(found, val, vlen) }
    })
}

/// As `kvdb_get_into`, through the transaction (the read counts for commit
/// validation). `buf` must not overlap `key`.
///
/// # Safety
///
/// `txn` is NULL (an error) or a live transaction; `key` is NULL or valid
/// for `klen` bytes; `buf` is NULL or valid for writing `cap` bytes; `vlen`
/// is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_get_into(
    txn: *mut kvdb_txn_t,
    key: *const c_void,
    klen: usize,
    buf: *mut c_void,
    cap: usize,
    vlen: *mut usize,
) -> kvdb_status_t {
    guard("kvdb_txn_get_into", || {
        if !plain_into_args(txn, key, klen, buf, cap, vlen) {
            // SAFETY: forwarded contract.
            return unsafe { txn_get_into_checked(txn, key, klen, buf, cap, vlen) };
        }
        // SAFETY: `txn` is a live transaction no other thread uses and `key`
        // is valid for `klen` bytes, per the contract (both seen non-NULL).
        // One inherited across fork() is refused by the read itself
        // (`Txn::get_with` checks the process before its pending writes).
        let (t, key) = unsafe { (&mut *txn, plain_key(key, klen)) };
        // SAFETY: `buf` is valid for `cap` bytes per the contract and, seen
        // by `plain_into_args`, does not overlap the key.
        let found = t
            .txn
            .get_with(key, |v| v.map(|v| unsafe { copy_into(v, buf, cap) }));
        // SAFETY: `vlen` was seen non-NULL; valid per the contract.
        unsafe { finish_into_fast("kvdb_txn_get_into", found, cap, vlen) }
    })
}

/// `kvdb_txn_get_into` for arguments the hot path did not take: every
/// check is made in turn and the first that fails is reported.
///
/// # Safety
///
/// As for `kvdb_txn_get_into`.
#[cold]
#[inline(never)]
unsafe fn txn_get_into_checked(
    txn: *mut kvdb_txn_t,
    key: *const c_void,
    klen: usize,
    buf: *mut c_void,
    cap: usize,
    vlen: *mut usize,
) -> kvdb_status_t {
    status("kvdb_txn_get_into", || {
        let vlen = check_into_args(key, klen, buf, cap, vlen)?;
        // SAFETY: per the contract.
        let (t, key) = unsafe { (handle_mut(txn, "txn")?, bytes(key, klen, "key")?) };
        // SAFETY: `buf` is valid for `cap` bytes per the contract.
        let len = engine(
            t.txn
                .get_with(key, |v| v.map(|v| unsafe { copy_into(v, buf, cap) })),
        )?;
        // SAFETY: checked non-NULL.
        unsafe { finish_into(len, cap, vlen) }
    })
}

/// Stores `val` under `key` when the transaction commits.
///
/// # Safety
///
/// `txn` is NULL (an error) or a live transaction; `key` and `val` are NULL
/// or valid for `klen` and `vlen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_put(
    txn: *mut kvdb_txn_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
) -> kvdb_status_t {
    status("kvdb_txn_put", || {
        // SAFETY: per the contract.
        let (t, (key, val)) =
            unsafe { (handle_mut(txn, "txn")?, key_value(key, klen, val, vlen)?) };
        Ok(t.txn.put(key, val)?)
    })
}

/// Stores `val` under `key` when the transaction commits, to expire `ttl_ms`
/// milliseconds after the commit (0 or above `KVDB_MAX_TTL_MS` is
/// `KVDB_INVALID_ARGUMENT`).
///
/// # Safety
///
/// As for `kvdb_txn_put`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_put_ttl(
    txn: *mut kvdb_txn_t,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
    ttl_ms: u64,
) -> kvdb_status_t {
    status("kvdb_txn_put_ttl", || {
        // SAFETY: per the contract.
        let (t, (key, val)) =
            unsafe { (handle_mut(txn, "txn")?, key_value(key, klen, val, vlen)?) };
        Ok(t.txn.put_with_ttl(key, val, ttl(ttl_ms)?)?)
    })
}

/// Removes `key` when the transaction commits: `KVDB_OK` if the key was live
/// as the transaction sees it, `KVDB_NOT_FOUND` if not (nothing is written;
/// the read still counts for validation).
///
/// # Safety
///
/// `txn` is NULL (an error) or a live transaction; `key` is NULL or valid
/// for `klen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_delete(
    txn: *mut kvdb_txn_t,
    key: *const c_void,
    klen: usize,
) -> kvdb_status_t {
    status("kvdb_txn_delete", || {
        // SAFETY: per the contract.
        let (t, key) = unsafe { (handle_mut(txn, "txn")?, bytes(key, klen, "key")?) };
        if t.txn.delete(key)? {
            Ok(())
        } else {
            Err(key_not_found())
        }
    })
}

/// Commits: the transaction's writes apply as one atomic batch (durable
/// before this returns under `KVDB_SYNC_ALWAYS`), or `KVDB_CONFLICT` if any
/// key it read or wrote, or any key in a range its iterators observed, was
/// written by anyone else after it began — then nothing applies. Releases
/// the handle whatever it returns; NULL is `KVDB_INVALID_ARGUMENT`.
///
/// Under a memory limit the commit first makes room, as any write does: an
/// eviction that takes a key the transaction read or observed makes it
/// `KVDB_CONFLICT` (the eviction stands), and `KVDB_MEMORY_LIMIT` means the
/// policy could not make room (nothing evicted or applied).
///
/// # Safety
///
/// `txn` is NULL or a live transaction, not used again after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_commit(txn: *mut kvdb_txn_t) -> kvdb_status_t {
    if txn.is_null() {
        return status("kvdb_txn_commit", || Err(FfiError::invalid("txn is NULL")));
    }
    status("kvdb_txn_commit", || {
        // SAFETY: per the contract, `txn` is a live handle.
        if let Some(refused) = unsafe { &mut *txn }.txn.refuse_end("kvdb_txn_commit") {
            return Err(refused);
        }
        // SAFETY: an owned handle (checked above) came from Box::into_raw
        // in kvdb_txn_begin; it is released here whatever happens.
        let t = unsafe { Box::from_raw(txn) };
        if t.inherited_across_fork() {
            return Err(engine::Error::inherited_across_fork().into());
        }
        let TxnSlot::Owned(owned) = t.txn else {
            unreachable!("checked above: the handle owns its transaction");
        };
        owned.commit()?;
        Ok(())
    })
}

/// Discards the transaction and releases the handle; NULL is a no-op.
///
/// # Safety
///
/// `txn` is NULL or a live transaction, not used again after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_rollback(txn: *mut kvdb_txn_t) {
    void("kvdb_txn_rollback", || {
        if txn.is_null() {
            return Ok(());
        }
        // SAFETY: per the contract, `txn` is a live handle.
        if let Some(refused) = unsafe { &mut *txn }.txn.refuse_end("kvdb_txn_rollback") {
            // kvdb_txn_run rolls it back once the body returns.
            return Err(refused);
        }
        // SAFETY: an owned handle (checked above) came from Box::into_raw.
        drop(unsafe { Box::from_raw(txn) });
        Ok(())
    });
}

/// Marks a savepoint: `kvdb_txn_rollback_to_savepoint` undoes the writes
/// made after it. Savepoints nest.
///
/// # Safety
///
/// `txn` is NULL (an error) or a live transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_savepoint(txn: *mut kvdb_txn_t) -> kvdb_status_t {
    status("kvdb_txn_savepoint", || {
        // SAFETY: per the contract.
        unsafe { handle_mut(txn, "txn") }?.txn.savepoint();
        Ok(())
    })
}

/// Undoes the transaction's writes since the newest savepoint and drops it;
/// `KVDB_NOT_FOUND` if there is none. Reads made since still count.
///
/// # Safety
///
/// `txn` is NULL (an error) or a live transaction.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_rollback_to_savepoint(txn: *mut kvdb_txn_t) -> kvdb_status_t {
    status("kvdb_txn_rollback_to_savepoint", || {
        // SAFETY: per the contract.
        let t = unsafe { handle_mut(txn, "txn") }?;
        t.txn.rollback_to_savepoint().map_err(|e| match e.kind() {
            ErrorKind::NotFound => FfiError::not_found("no savepoint to roll back to"),
            _ => e.into(),
        })
    })
}

unsafe fn txn_iter(
    function: &'static str,
    txn: *mut kvdb_txn_t,
    prefix: Option<(*const c_void, usize)>,
    out_iter: *mut *mut kvdb_iter_t,
) -> kvdb_status_t {
    status(function, || {
        let out_iter = out(out_iter, "out")?;
        // SAFETY: per the callers' contracts.
        let t = unsafe { handle(txn, "txn") }?;
        let cursor = match prefix {
            None => t.txn.cursor::<&[u8]>(..),
            // SAFETY: per the callers' contracts.
            Some((ptr, len)) => t.txn.prefix_cursor(unsafe { bytes(ptr, len, "prefix") }?),
        };
        let it = kvdb_iter_t::new(IterCursor::Txn(cursor));
        // SAFETY: checked non-NULL.
        unsafe { write(out_iter, Box::into_raw(Box::new(it))) };
        Ok(())
    })
}

/// An ordinary iterator (free it with `kvdb_iter_free`) over the
/// transaction's writes merged onto its view, as they are now. What it
/// looks at counts for commit validation: every span from where a seek or
/// step started to the key it stopped on, or to the end — so an insert into
/// a gap it walked over conflicts (phantoms included).
///
/// # Safety
///
/// `txn` is NULL (an error) or a live transaction; `out` is valid for
/// writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_iter_new(
    txn: *mut kvdb_txn_t,
    out_iter: *mut *mut kvdb_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe { txn_iter("kvdb_txn_iter_new", txn, None, out_iter) }
}

/// Like `kvdb_txn_iter_new`, limited to the keys that start with `prefix`;
/// the whole prefix range counts for commit validation.
///
/// # Safety
///
/// As for `kvdb_txn_iter_new`; `prefix` is NULL or valid for `plen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_iter_new_prefix(
    txn: *mut kvdb_txn_t,
    prefix: *const c_void,
    plen: usize,
    out_iter: *mut *mut kvdb_iter_t,
) -> kvdb_status_t {
    // SAFETY: forwarded contract.
    unsafe {
        txn_iter(
            "kvdb_txn_iter_new_prefix",
            txn,
            Some((prefix, plen)),
            out_iter,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::KVDB_INVALID_ARGUMENT;

    #[test]
    fn commit_of_null_is_an_invalid_argument_and_rollback_of_null_a_no_op() {
        // SAFETY: NULL is allowed and never dereferenced.
        let status = unsafe { kvdb_txn_commit(std::ptr::null_mut()) };
        assert_eq!(status, KVDB_INVALID_ARGUMENT);
        // SAFETY: as above.
        unsafe { kvdb_txn_rollback(std::ptr::null_mut()) };
    }
}
