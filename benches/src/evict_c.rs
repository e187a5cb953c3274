//! kvdb's C library as the memory-limit benchmark drives it: an in-memory
//! database opened, written, read, reordered, limited and measured through
//! `libkvdb.so` loaded at run time, exactly as a C program calls it. The
//! library brings its own allocator (mimalloc), so its rows show what C
//! callers get at the limit beside what Rust callers get on the system
//! allocator.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;

use libloading::Library;

type Status = c_int;
type Db = c_void;

const KVDB_OK: Status = 0;
const KVDB_NOT_FOUND: Status = 1;
/// `KVDB_EVICT_ALLKEYS_LRU` in kvdb.h.
pub(crate) const ALLKEYS_LRU: c_int = 1;

/// The C functions the benchmark calls.
#[derive(Clone, Copy)]
struct Api {
    open: unsafe extern "C" fn(*const c_char, *const c_void, *mut *mut Db) -> Status,
    close: unsafe extern "C" fn(*mut Db) -> Status,
    put: unsafe extern "C" fn(*mut Db, *const c_void, usize, *const c_void, usize) -> Status,
    get_into: unsafe extern "C" fn(
        *mut Db,
        *const c_void,
        usize,
        *mut c_void,
        usize,
        *mut usize,
    ) -> Status,
    reorder: unsafe extern "C" fn(*mut Db) -> Status,
    set_memory_limit: unsafe extern "C" fn(*mut Db, u64, c_int) -> Status,
    memory_usage: unsafe extern "C" fn(*mut Db, *mut u64, *mut u64, *mut u64) -> Status,
}

/// The loaded library; opens databases.
pub(crate) struct CLibrary {
    api: Api,
    _lib: Library,
}

macro_rules! sym {
    ($lib:expr, $name:literal) => {
        // SAFETY: the symbol has the signature the field declares (kvdb.h).
        *unsafe { $lib.get(concat!($name, "\0").as_bytes()) }.expect(concat!("symbol ", $name))
    };
}

impl CLibrary {
    pub(crate) fn load(path: &Path) -> Self {
        // SAFETY: loading libkvdb runs no initialisers with requirements.
        let lib = unsafe { Library::new(path) }.unwrap_or_else(|e| {
            panic!(
                "loading {}: {e} (build it with scripts/build-lib.sh)",
                path.display()
            )
        });
        let api = Api {
            open: sym!(lib, "kvdb_open"),
            close: sym!(lib, "kvdb_close"),
            put: sym!(lib, "kvdb_put"),
            get_into: sym!(lib, "kvdb_get_into"),
            reorder: sym!(lib, "kvdb_reorder"),
            set_memory_limit: sym!(lib, "kvdb_set_memory_limit"),
            memory_usage: sym!(lib, "kvdb_memory_usage"),
        };
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
