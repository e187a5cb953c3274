//! kvdb's C library as the memory-limit benchmark drives it: an in-memory
//! database opened, written, read, reordered, limited and measured through
//! `libkvdb.so` loaded at run time, exactly as a C program calls it. The
//! library brings its own allocator (mimalloc), so its rows show what C
//! callers get at the limit beside what Rust callers get on the system
//! allocator.

use std::ffi::c_int;
use std::path::Path;

use libloading::Library;

use crate::c_api::{self, Api, Db, Status};

const KVDB_OK: Status = 0;
const KVDB_NOT_FOUND: Status = 1;
/// `KVDB_EVICT_ALLKEYS_LRU` in kvdb.h.
pub(crate) const ALLKEYS_LRU: c_int = 1;

/// The loaded library; opens databases.
pub(crate) struct CLibrary {
    api: Api,
    _lib: Library,
}

impl CLibrary {
    pub(crate) fn load(path: &Path) -> Self {
        let (lib, api) = c_api::load(path);
        Self { api, _lib: lib }
    }

    /// A new in-memory database with the default options (background
    /// maintenance on).
    pub(crate) fn open_in_memory(&self) -> CDb<'_> {
        let mut db = std::ptr::null_mut();
        // SAFETY: NULL path and options open in memory; `db` is writable.
        let status = unsafe { (self.api.open)(std::ptr::null(), std::ptr::null(), &mut db) };
        assert_eq!(status, KVDB_OK, "kvdb_open");
        CDb {
            api: self.api,
            db,
            _lib: self,
        }
    }
}

/// An open database of the library; closed on drop.
pub(crate) struct CDb<'l> {
    api: Api,
    db: *mut Db,
    _lib: &'l CLibrary,
}

impl CDb<'_> {
    pub(crate) fn put(&self, key: &[u8], value: &[u8]) {
        // SAFETY: a live handle and valid buffers.
        let status = unsafe {
            (self.api.put)(
                self.db,
                key.as_ptr().cast(),
                key.len(),
                value.as_ptr().cast(),
                value.len(),
            )
        };
        assert_eq!(status, KVDB_OK, "kvdb_put");
    }

    /// True if `key` is present (its value is copied into a stack buffer).
    pub(crate) fn get(&self, key: &[u8]) -> bool {
        let mut buf = [0u8; 128];
        let mut len = 0usize;
        // SAFETY: a live handle, a valid key, a writable buffer of `buf.len()`
        // bytes and a writable length.
        let status = unsafe {
            (self.api.get_into)(
                self.db,
                key.as_ptr().cast(),
                key.len(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len,
            )
        };
        assert!(
            status == KVDB_OK || status == KVDB_NOT_FOUND,
            "kvdb_get_into: status {status}"
        );
        status == KVDB_OK
    }

    pub(crate) fn reorder(&self) {
        // SAFETY: a live handle.
        let status = unsafe { (self.api.reorder)(self.db) };
        assert_eq!(status, KVDB_OK, "kvdb_reorder");
    }

    pub(crate) fn set_memory_limit(&self, bytes: u64, policy: c_int) {
        // SAFETY: a live handle.
        let status = unsafe { (self.api.set_memory_limit)(self.db, bytes, policy) };
        assert_eq!(status, KVDB_OK, "kvdb_set_memory_limit");
    }

    /// Bytes used, the limit (0: none) and the keys evicted so far.
    pub(crate) fn memory_usage(&self) -> (u64, u64, u64) {
        let (mut used, mut limit, mut evicted) = (0, 0, 0);
        // SAFETY: a live handle and three writable out-parameters.
        let status =
            unsafe { (self.api.memory_usage)(self.db, &mut used, &mut limit, &mut evicted) };
        assert_eq!(status, KVDB_OK, "kvdb_memory_usage");
        (used, limit, evicted)
    }
}

impl Drop for CDb<'_> {
    fn drop(&mut self) {
        // SAFETY: `db` came from kvdb_open and is closed once.
        unsafe { (self.api.close)(self.db) };
    }
}
