//! Online backup into a new directory (`kvdb_backup`) and loading a backup
//! or database directory into an in-memory database
//! (`kvdb_open_in_memory_from`).

use std::ffi::{CStr, c_char};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use engine::{Db, Options};

use crate::boundary::{handle, out, status, write};
use crate::db::kvdb_t;
use crate::error::FfiError;
use crate::options::kvdb_options_t;
use crate::status::kvdb_status_t;

/// The directory `path` names, or an error for NULL or "".
///
/// # Safety
///
/// `path` is NULL or a NUL-terminated string.
unsafe fn dir<'a>(path: *const c_char) -> Result<&'a Path, FfiError> {
    if path.is_null() {
        return Err(FfiError::invalid("the path is NULL"));
    }
    // SAFETY: per the contract, a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    if bytes.is_empty() {
        return Err(FfiError::invalid("the path is empty"));
    }
    Ok(Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

/// Writes a consistent copy of `db` as of one moment into directory `path`
/// (created if missing; an existing one must be empty): one snapshot file,
/// which opens as a durable database with `kvdb_open` or loads into memory
/// with `kvdb_open_in_memory_from`. Online: other threads go on writing, and
/// none of their writes after the moment of the copy is in it. Works for an
/// in-memory database too. Expiry times stay absolute; indexes are not
/// copied (declare them when opening the copy).
///
/// `KVDB_INVALID_ARGUMENT` for a NULL or empty path or a directory that is
/// not empty; `KVDB_IO_ERROR` if it cannot be written.
///
/// # Safety
///
/// `db` is NULL (an error) or a live database handle; `path` is NULL (an
/// error) or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_backup(db: *mut kvdb_t, path: *const c_char) -> kvdb_status_t {
    status("kvdb_backup", || {
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        // SAFETY: per the contract.
        let dir = unsafe { dir(path) }?;
        db.db.backup_to(dir)?;
        Ok(())
    })
}

/// Opens an in-memory database holding the contents of backup or database
/// directory `path`, loaded as `kvdb_open` recovers (the newest valid
/// snapshot and the log after it, with the same checks), but without
/// writing or repairing anything there (a torn log tail is just not
/// loaded). The directory is locked while it is read: `KVDB_LOCKED` if it is
/// open elsewhere. Afterwards the database touches no file (`kvdb_sync` and
/// `kvdb_checkpoint` are no-ops) and is closed with `kvdb_close`. `opts` NULL
/// means the defaults; indexes declared in it are built from the loaded data.
///
/// `KVDB_INVALID_ARGUMENT` for a NULL or empty path or a directory that does
/// not exist; `KVDB_CORRUPTION` if its files are damaged beyond what the
/// recovery mode tolerates.
///
/// # Safety
///
/// `path` is NULL (an error) or a NUL-terminated string; `opts` is NULL or a
/// live options handle; `out_db` is valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_open_in_memory_from(
    path: *const c_char,
    opts: *const kvdb_options_t,
    out_db: *mut *mut kvdb_t,
) -> kvdb_status_t {
    status("kvdb_open_in_memory_from", || {
        let out_db = out(out_db, "out")?;
        // SAFETY: per the contract.
        let dir = unsafe { dir(path) }?;
        let options = if opts.is_null() {
            Options::default()
        } else {
            // SAFETY: per the contract.
            unsafe { handle(opts, "opts") }?.options.clone()
        };
        let (db, _report) = Db::open_in_memory_from(dir, options)?;
        // SAFETY: checked non-NULL above; the caller gives a writable slot.
        unsafe { write(out_db, Box::into_raw(Box::new(kvdb_t { db }))) };
        Ok(())
    })
}
