//! `kvdb_t`: opening and closing a database, syncing and checkpoints.
//! Owned by the caller from `kvdb_open` to `kvdb_close`; thread-safe.

use std::ffi::{CStr, c_char};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use engine::{Db, Options};

use crate::boundary::{handle, out, status, write};
use crate::error::{FfiError, set_last_error};
use crate::options::kvdb_options_t;
use crate::status::{KVDB_OK, kvdb_status_t};

/// An open database (opaque). Any number of threads may use one handle.
pub struct kvdb_t {
    pub(crate) db: Db,
}

impl crate::boundary::Handle for kvdb_t {
    fn inherited_across_fork(&self) -> bool {
        self.db.is_inherited_across_fork()
    }
}

/// Opens a database. `path` NULL or ":memory:" opens an in-memory database
/// that touches no file; otherwise `path` is a directory, created if missing,
/// whose contents are recovered. `opts` NULL means the defaults. On success
/// `*out` receives the handle (close it with `kvdb_close`).
///
/// If recovery repaired anything (cut a torn log tail, passed over a damaged
/// snapshot, set segments aside), the open still returns `KVDB_OK` and
/// `kvdb_last_error` then says what was repaired; `kvdb_recovery_info` and
/// `kvdb_recovery_message` give the details at any time.
///
/// Returns `KVDB_LOCKED` if the directory is open in this or another
/// process, `KVDB_CORRUPTION` if its files are damaged beyond what the
/// recovery mode tolerates, `KVDB_IO_ERROR` if it cannot be created or read.
///
/// # Safety
///
/// `path` is NULL or a NUL-terminated string; `opts` is NULL or a live
/// options handle; `out` is valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_open(
    path: *const c_char,
    opts: *const kvdb_options_t,
    out_db: *mut *mut kvdb_t,
) -> kvdb_status_t {
    status("kvdb_open", || {
        let out_db = out(out_db, "out")?;
        let options = if opts.is_null() {
            Options::default()
        } else {
            // SAFETY: per the contract.
            unsafe { handle(opts, "opts") }?.options.clone()
        };
        let db = if path.is_null() {
            Db::in_memory_with(options)
        } else {
            // SAFETY: per the contract, a NUL-terminated string.
            let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
            if bytes.is_empty() {
                return Err(FfiError::invalid(
                    "the path is empty (use NULL or \":memory:\" for memory)",
                ));
            }
            Db::open(Path::new(std::ffi::OsStr::from_bytes(bytes)), options)
        }?;
        if let Some(report) = db.recovery_report().filter(|r| r.repaired()) {
            // The open succeeded, but the caller should be able to learn
            // what recovery repaired without asking.
            set_last_error(
                "kvdb_open",
                &format!("opened after repairs (see kvdb_recovery_info):\n{report}"),
            );
        }
        // SAFETY: checked non-NULL above; the caller gives a writable slot.
        unsafe { write(out_db, Box::into_raw(Box::new(kvdb_t { db }))) };
        Ok(())
    })
}

/// Closes a database: refuses further writes, stops and joins its
/// background threads, checkpoints if `kvdb_options_set_checkpoint_on_close`
/// said so, makes every acknowledged write durable and releases the
/// directory lock; then frees the handle, whatever the result. NULL is a
/// no-op returning `KVDB_OK`. Snapshots, iterators and batches made from it
/// stay valid (reading their view) and must still be freed.
///
/// # Safety
///
/// `db` is NULL or a handle from `kvdb_open` not yet closed, and no other
/// thread is using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_close(db: *mut kvdb_t) -> kvdb_status_t {
    if db.is_null() {
        return KVDB_OK;
    }
    status("kvdb_close", || {
        // SAFETY: per the contract, `db` came from Box::into_raw in kvdb_open.
        let db = unsafe { Box::from_raw(db) };
        Ok(db.db.close()?)
    })
}

/// Makes every acknowledged write durable now, whatever the sync policy. A
/// no-op in memory.
///
/// # Safety
///
/// `db` is NULL (an error) or a live database handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_sync(db: *mut kvdb_t) -> kvdb_status_t {
    status("kvdb_sync", || {
        // SAFETY: per the contract.
        Ok(unsafe { handle(db, "db") }?.db.sync()?)
    })
}

/// Writes a snapshot file of the current state and removes the log it
/// covers; writers are not blocked meanwhile. A no-op returning `KVDB_OK` in
/// memory.
///
/// # Safety
///
/// `db` is NULL (an error) or a live database handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_checkpoint(db: *mut kvdb_t) -> kvdb_status_t {
    status("kvdb_checkpoint", || {
        // SAFETY: per the contract.
        unsafe { handle(db, "db") }?.db.checkpoint()?;
        Ok(())
    })
}

/// Puts the ordered index's nodes back in key order in memory now, so that
/// scans after random inserts read memory in order (several times faster).
/// Nothing readers see changes and reads never wait; writers wait for at
/// most a chunk of 256 keys at a time. A background thread does the same
/// when writes of new keys pause; call this after a bulk load to have it
/// done before going on.
///
/// # Safety
///
/// `db` is NULL (an error) or a live database handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_reorder(db: *mut kvdb_t) -> kvdb_status_t {
    status("kvdb_reorder", || {
        // SAFETY: per the contract.
        unsafe { handle(db, "db") }?.db.reorder()?;
        Ok(())
    })
}

/// Frees the memory of versions no snapshot or iterator can see any more,
/// now (the background collector does this every 100 ms unless disabled).
///
/// # Safety
///
/// `db` is NULL (an error) or a live database handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_collect_garbage(db: *mut kvdb_t) -> kvdb_status_t {
    status("kvdb_collect_garbage", || {
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        db.db.collect_garbage(usize::MAX);
        db.db.expire_cycle();
        Ok(())
    })
}
