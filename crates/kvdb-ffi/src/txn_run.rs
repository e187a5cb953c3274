//! `kvdb_txn_run`: a transaction the library runs, retries and commits, as
//! `Db::transaction` does for Rust callers. A caller's own retry loop over
//! `kvdb_txn_begin`/`kvdb_txn_commit` can be starved by writers that keep
//! winning; this one cannot, because its last retry runs holding the write
//! lock.

use std::cell::Cell;
use std::ffi::c_void;

use crate::boundary::{handle, status};
use crate::db::kvdb_t;
use crate::error::FfiError;
use crate::status::{KVDB_OK, kvdb_status_t};
use crate::txn::{TxnSlot, kvdb_txn_t};

/// A transaction's body for `kvdb_txn_run`: called with a transaction and
/// `ctx`, it reads and writes through `txn` and returns `KVDB_OK` to commit,
/// anything else to roll back.
pub type kvdb_txn_body_fn =
    Option<unsafe extern "C" fn(txn: *mut kvdb_txn_t, ctx: *mut c_void) -> kvdb_status_t>;

/// Why an attempt ended without a commit, other than by the engine.
#[derive(Clone, Copy)]
enum Stopped {
    /// The body returned this status.
    Body(kvdb_status_t),
    /// The body committed or rolled back the handle itself.
    Misused,
}

/// Runs `body` in a transaction and commits it, retrying the whole
/// transaction when the commit conflicts, so that it commits however busy
/// its keys are: the first 16 attempts are optimistic, and the last retry
/// (the 17th attempt) runs holding the write lock, so that only an
/// eviction its own commit makes can conflict with it (it then runs again,
/// holding the lock, up to 16 times). Before each retry it waits for the
/// writes it conflicted with to become visible.
///
/// Returns `KVDB_OK` once committed. If `body` returns anything else, the
/// transaction is rolled back and that status is returned as is (with the
/// thread's last error as the body left it). The body must not commit, roll
/// back or keep `txn`, which is valid only during its call: ending it
/// itself fails with `KVDB_INVALID_ARGUMENT`, and so does the run, with
/// nothing committed. During the last retry other writes wait, and a write
/// through `db` from inside the body (rather than through `txn`) fails with
/// `KVDB_INVALID_ARGUMENT`. Other errors (`KVDB_IO_ERROR`,
/// `KVDB_MEMORY_LIMIT`, ...) are the commit's.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `body` is NULL (an error) or a
/// function that may be called with `ctx`, which must not unwind (a C++
/// exception or a Go panic must be caught inside it).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_txn_run(
    db: *mut kvdb_t,
    body: kvdb_txn_body_fn,
    ctx: *mut c_void,
) -> kvdb_status_t {
    let stopped = Cell::new(None);
    let result = status("kvdb_txn_run", || {
        let body = body.ok_or_else(|| FfiError::invalid("body is NULL"))?;
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        let ran = db.db.transaction(|txn| {
            let mut lent = kvdb_txn_t {
                txn: TxnSlot::lend(txn),
            };
            // SAFETY: `body` may be called with `ctx` (the contract), and
            // `lent` is a live handle for the length of the call: it borrows
            // `txn`, and is dropped below, before this closure returns.
            let code = unsafe { body(&mut lent, ctx) };
            let misused = lent.txn.misused();
            drop(lent);
            let why = if misused {
                Stopped::Misused
            } else if code != KVDB_OK {
                Stopped::Body(code)
            } else {
                return Ok(());
            };
            stopped.set(Some(why));
            // Any error ends the run without a retry; which one is
            // reported is decided below.
            Err(engine::Error::InvalidArgument("the body stopped".into()))
        });
        match (ran, stopped.get()) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(Stopped::Misused)) => Err(FfiError::invalid(
                "the body committed or rolled back its transaction itself: nothing was committed",
            )),
            // Reported below, leaving the body's own last error.
            (Err(_), Some(Stopped::Body(_))) => Ok(()),
            (Err(e), None) => Err(e.into()),
        }
    });
    match stopped.get() {
        Some(Stopped::Body(code)) => code,
        _ => result,
    }
}
