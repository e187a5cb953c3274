//! Secondary indexes on an open database: create (built online), drop,
//! list, and the one-call lookup of a record by index key.

use std::ffi::{c_char, c_void};

use engine::IndexQuery;

use crate::boundary::{bytes, engine, handle, out, status, write};
use crate::db::kvdb_t;
use crate::error::FfiError;
use crate::index_def::{kvdb_index_def_t, text};
use crate::memory::copy_out;
use crate::snapshot::kvdb_snapshot_t;
use crate::status::kvdb_status_t;
use crate::value_out::check_alloc_outs;

/// Adds an index (a copy of `def`) to `db` and builds it from the records
/// held now, online: writers go on meanwhile and none is lost. Returns once
/// the index is complete; it can then be queried from views taken since.
/// Fails (leaving nothing of the index) if the name is taken or, for a
/// unique index, two records share an index key (`KVDB_CONSTRAINT`). Under
/// a memory limit the build makes room for the entries as it goes, as a
/// write does: the policy evicts keys (their entries with them), or the
/// build fails with `KVDB_MEMORY_LIMIT` (leaving nothing of the index; keys
/// evicted for it stay evicted). Not kept across a reopen: declare it with
/// `kvdb_options_add_index` (built whole as the database opens, which then
/// evicts down to the limit).
///
/// # Safety
///
/// `db` and `def` are NULL (an error) or live handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_create_index(
    db: *mut kvdb_t,
    def: *const kvdb_index_def_t,
) -> kvdb_status_t {
    status("kvdb_create_index", || {
        // SAFETY: per the contract.
        let (db, def) = unsafe { (handle(db, "db")?, handle(def, "def")?) };
        Ok(db.db.create_index(def.def.clone())?)
    })
}

/// Removes index `name` and its entries. Snapshots, iterators and
/// transactions made before keep reading what they saw; new queries fail.
/// `KVDB_INVALID_ARGUMENT` if there is no such index.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `name` is NULL (an error) or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_drop_index(db: *mut kvdb_t, name: *const c_char) -> kvdb_status_t {
    status("kvdb_drop_index", || {
        // SAFETY: per the contract.
        let (db, name) = unsafe { (handle(db, "db")?, text(name, "name")?) };
        Ok(db.db.drop_index(name)?)
    })
}

/// The names of the indexes `db` keeps, in creation order: `*names`
/// receives a library-allocated buffer (release it with `kvdb_free`) holding
/// each name followed by a NUL byte, and `*count` their number.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `names` and `count` are valid
/// for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_list(
    db: *const kvdb_t,
    names: *mut *mut c_char,
    count: *mut usize,
) -> kvdb_status_t {
    status("kvdb_index_list", || {
        let (names, count) = (out(names, "names")?, out(count, "count")?);
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        let indexes = db.db.indexes();
        let mut buf = Vec::new();
        for info in &indexes {
            buf.extend_from_slice(info.def.name().as_bytes());
            buf.push(0);
        }
        let ptr = copy_out(&buf)?;
        // SAFETY: both out-parameters were checked non-NULL.
        unsafe {
            write(names, ptr.cast());
            write(count, indexes.len());
        }
        Ok(())
    })
}

/// The first record (in key order) whose index key in index `name` equals
/// `ikey` (given in the records' own form: the field's bytes, the integer
/// in the struct's byte order, a JSON text such as `"alice"` or `30`), as of
/// `snap`, or of `db` now if `snap` is NULL. `*key` and `*val` receive
/// library-allocated copies (release each with `kvdb_free`);
/// `KVDB_NOT_FOUND` if no record has that index key. Made for unique
/// indexes; iterate with `kvdb_index_iter_equal` to see every match.
///
/// # Safety
///
/// `db` is NULL (an error) or a live handle; `snap` is NULL or a live
/// snapshot; `name` is NULL (an error) or a NUL-terminated string; `ikey`
/// is NULL or valid for `iklen` bytes; the out-parameters are valid for
/// writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_get(
    db: *mut kvdb_t,
    snap: *const kvdb_snapshot_t,
    name: *const c_char,
    ikey: *const c_void,
    iklen: usize,
    key: *mut *mut c_void,
    klen: *mut usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> kvdb_status_t {
    status("kvdb_index_get", || {
        let (key, klen) = check_alloc_outs(key, klen)?;
        let (val, vlen) = check_alloc_outs(val, vlen)?;
        // SAFETY: per the contract.
        let (name, ikey) = unsafe { (text(name, "name")?, bytes(ikey, iklen, "ikey")?) };
        let query = IndexQuery::Equal(ikey);
        // SAFETY: per the contract.
        let db = unsafe { handle(db, "db") }?;
        let found = if snap.is_null() {
            engine(db.db.index(name, query))?.next()
        } else {
            // SAFETY: per the contract.
            engine(
                unsafe { handle(snap, "snapshot") }?
                    .snapshot
                    .index(name, query),
            )?
            .next()
        };
        let found = found.ok_or_else(|| FfiError::not_found("no record has that index key"))?;
        let key_copy = copy_out(&found.key)?;
        let val_copy = match copy_out(&found.value) {
            Ok(ptr) => ptr,
            Err(e) => {
                // SAFETY: `key_copy` came from copy_out and is not handed out.
                unsafe { crate::memory::kvdb_free(key_copy) };
                return Err(e);
            }
        };
        // SAFETY: the out-parameters were checked non-NULL.
        unsafe {
            write(key, key_copy);
            write(klen, found.key.len());
            write(val, val_copy);
            write(vlen, found.value.len());
        }
        Ok(())
    })
}
