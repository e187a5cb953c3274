//! `kvdb_snapshot_t`: a read view of a database at one moment. Owned by the
//! caller (`kvdb_snapshot_new` / `kvdb_snapshot_free`); stays valid after
//! `kvdb_close`.

use std::ffi::c_void;

use engine::Snapshot;

use crate::boundary::{bytes, engine, guard, handle, out, status, write};
use crate::db::kvdb_t;
use crate::status::kvdb_status_t;
use crate::value_out::{
    check_alloc_outs, copy_found, deliver_copy, deliver_copy_fast, plain_alloc_args, plain_key,
};

/// A read view (opaque). Versions it can see stay in memory until it is
/// freed.
pub struct kvdb_snapshot_t {
    pub(crate) snapshot: Snapshot,
}

impl crate::boundary::Handle for kvdb_snapshot_t {
    fn inherited_across_fork(&self) -> bool {
        self.snapshot.is_inherited_across_fork()
    }
}

/// Takes a snapshot of `db` as it is now; on success `*out` receives it.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `out` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_snapshot_new(
    db: *mut kvdb_t,
    out_snap: *mut *mut kvdb_snapshot_t,
) -> kvdb_status_t {
    status("kvdb_snapshot_new", || {
        let out_snap = out(out_snap, "out")?;
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        let snapshot = Box::into_raw(Box::new(kvdb_snapshot_t {
            snapshot: db.db.snapshot(),
        }));
        // SAFETY: checked non-NULL.
        unsafe { write(out_snap, snapshot) };
        Ok(())
    })
}

/// Frees a snapshot; NULL is a no-op.
///
/// # Safety
///
/// `s` is NULL or a snapshot from `kvdb_snapshot_new` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_snapshot_free(s: *mut kvdb_snapshot_t) {
    guard("kvdb_snapshot_free", || {
        if !s.is_null() {
            // SAFETY: per the contract, `s` came from Box::into_raw.
            drop(unsafe { Box::from_raw(s) });
        }
    });
}

/// The value of `key` as of the snapshot's moment, whatever was written
/// since: as `kvdb_get` (a library-allocated copy, released with
/// `kvdb_free`; `KVDB_NOT_FOUND` if it was absent or expired then).
///
/// # Safety
///
/// `s` is NULL (an error) or a live snapshot; `key` is NULL or valid for
/// `klen` bytes; `val` and `vlen` are valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_snapshot_get(
    s: *const kvdb_snapshot_t,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    guard("kvdb_snapshot_get", || {
        if !plain_alloc_args(s, key, klen, val, vlen) {
            // SAFETY: forwarded contract.
            return unsafe { snapshot_get_checked(s, key, klen, val, vlen) };
        }
        // SAFETY: `plain_alloc_args` passed, so `s` is a live snapshot and
        // `key` is valid for `klen` bytes per the contract. A snapshot
        // inherited across fork() is refused by the read itself.
        let (s, key) = unsafe { (&*s, plain_key(key, klen)) };
        let found = s.snapshot.get_with(key, copy_found);
        // SAFETY: both out-parameters were seen non-NULL.
        unsafe { deliver_copy_fast("kvdb_snapshot_get", found, val, vlen) }
    })
}

/// `kvdb_snapshot_get` for arguments `plain_alloc_args` did not pass: every
/// check is made in turn and the first that fails is reported.
///
/// # Safety
///
/// As for `kvdb_snapshot_get`.
#[cold]
#[inline(never)]
unsafe fn snapshot_get_checked(
    s: *const kvdb_snapshot_t,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    status("kvdb_snapshot_get", || {
        let (val, vlen) = check_alloc_outs(val, vlen)?;
        // SAFETY: per the contract.
        let (s, key) = unsafe { (handle(s, "snapshot")?, bytes(key, klen, "key")?) };
        let found = engine(s.snapshot.get_with(key, copy_found))?;
        // SAFETY: both out-parameters were checked non-NULL.
        unsafe { deliver_copy(found, val, vlen) }
    })
}

/// The sequence number the snapshot reads at: it holds every write with a
/// sequence number up to `*seq` and none after. Together with a change
/// stream started at `*seq + 1`, it gives a consistent copy and every later
/// change exactly once.
///
/// # Safety
///
/// `s` is NULL (an error) or a live snapshot; `seq` is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_snapshot_seq(
    s: *const kvdb_snapshot_t,
    seq: *mut u64,
) -> kvdb_status_t {
    status("kvdb_snapshot_seq", || {
        let seq = out(seq, "seq")?;
        // SAFETY: per the contract.
        let s = unsafe { handle(s, "snapshot") }?;
        // SAFETY: checked non-NULL above; the caller gives a writable slot.
        unsafe { write(seq, s.snapshot.seq()) };
        Ok(())
    })
}
