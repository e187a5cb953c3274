//! kvdb's C library as the benchmarks load it: `libkvdb.so` opened at run
//! time and the functions they call resolved by name, with the C types they
//! exchange (kvdb.h).

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;

use libloading::Library;

pub(crate) type Status = c_int;
pub(crate) type Db = c_void;

/// The C functions the benchmarks call.
#[derive(Clone, Copy)]
pub(crate) struct Api {
    pub(crate) open: unsafe extern "C" fn(*const c_char, *const c_void, *mut *mut Db) -> Status,
    pub(crate) close: unsafe extern "C" fn(*mut Db) -> Status,
    pub(crate) put:
        unsafe extern "C" fn(*mut Db, *const c_void, usize, *const c_void, usize) -> Status,
    pub(crate) get_into: unsafe extern "C" fn(
        *mut Db,
        *const c_void,
        usize,
        *mut c_void,
        usize,
        *mut usize,
    ) -> Status,
    pub(crate) multi_get:
        unsafe extern "C" fn(*mut Db, *mut Lookup, usize, *mut c_void, usize) -> Status,
    pub(crate) delete: unsafe extern "C" fn(*mut Db, *const c_void, usize) -> Status,
    pub(crate) sync: unsafe extern "C" fn(*mut Db) -> Status,
    pub(crate) reorder: unsafe extern "C" fn(*mut Db) -> Status,
    pub(crate) iter_new: unsafe extern "C" fn(*mut Db, *const c_void, *mut *mut c_void) -> Status,
    pub(crate) iter_seek: unsafe extern "C" fn(*mut c_void, *const c_void, usize),
    pub(crate) iter_seek_for_prev: unsafe extern "C" fn(*mut c_void, *const c_void, usize),
    pub(crate) iter_next_batch: unsafe extern "C" fn(
        *mut c_void,
        *mut Pair,
        usize,
        *mut c_void,
        usize,
        *mut usize,
    ) -> Status,
    /// `kvdb_iter_next_batch_borrowed`, absent from libraries before it.
    pub(crate) iter_next_batch_borrowed:
        Option<unsafe extern "C" fn(*mut c_void, *mut Pair, usize, *mut usize) -> Status>,
    /// `kvdb_iter_prev_batch_borrowed`, absent from libraries before it.
    pub(crate) iter_prev_batch_borrowed:
        Option<unsafe extern "C" fn(*mut c_void, *mut Pair, usize, *mut usize) -> Status>,
    pub(crate) iter_free: unsafe extern "C" fn(*mut c_void),
    pub(crate) iter_valid: unsafe extern "C" fn(*const c_void) -> bool,
    pub(crate) iter_value:
        unsafe extern "C" fn(*const c_void, *mut *const c_void, *mut usize) -> Status,
    pub(crate) iter_next: unsafe extern "C" fn(*mut c_void),
    pub(crate) iter_prev: unsafe extern "C" fn(*mut c_void),
    pub(crate) options_new: unsafe extern "C" fn() -> *mut c_void,
    pub(crate) options_free: unsafe extern "C" fn(*mut c_void),
    pub(crate) options_set_sync: unsafe extern "C" fn(*mut c_void, c_int, u32) -> Status,
    pub(crate) set_memory_limit: unsafe extern "C" fn(*mut Db, u64, c_int) -> Status,
    pub(crate) memory_usage: unsafe extern "C" fn(*mut Db, *mut u64, *mut u64, *mut u64) -> Status,
}

/// `kvdb_pair_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Pair {
    pub(crate) key: *const c_void,
    pub(crate) klen: usize,
    pub(crate) val: *const c_void,
    pub(crate) vlen: usize,
}

impl Pair {
    pub(crate) const EMPTY: Pair = Pair {
        key: std::ptr::null(),
        klen: 0,
        val: std::ptr::null(),
        vlen: 0,
    };
}

/// `kvdb_lookup_t`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Lookup {
    pub(crate) key: *const c_void,
    pub(crate) klen: usize,
    pub(crate) val: *const c_void,
    pub(crate) vlen: usize,
    pub(crate) status: Status,
}

impl Lookup {
    pub(crate) const EMPTY: Lookup = Lookup {
        key: std::ptr::null(),
        klen: 0,
        val: std::ptr::null(),
        vlen: 0,
        status: 0,
    };
}

macro_rules! sym {
    ($lib:expr, $name:literal) => {
        // SAFETY: the symbol has the signature the field declares (kvdb.h).
        *unsafe { $lib.get(concat!($name, "\0").as_bytes()) }.expect(concat!("symbol ", $name))
    };
}

/// Loads the library at `path` and resolves every function of [`Api`];
/// panics naming the library or the symbol if either is missing (except for
/// the optional ones, which libraries of earlier commits lack). The
/// function pointers are valid only while the returned [`Library`] is
/// loaded: callers keep it beside them (and drop it after their database).
pub(crate) fn load(path: &Path) -> (Library, Api) {
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
        multi_get: sym!(lib, "kvdb_multi_get"),
        delete: sym!(lib, "kvdb_delete"),
        sync: sym!(lib, "kvdb_sync"),
        reorder: sym!(lib, "kvdb_reorder"),
        iter_new: sym!(lib, "kvdb_iter_new"),
        iter_seek: sym!(lib, "kvdb_iter_seek"),
        iter_seek_for_prev: sym!(lib, "kvdb_iter_seek_for_prev"),
        iter_next_batch: sym!(lib, "kvdb_iter_next_batch"),
        // SAFETY: the symbol has the signature the field declares (kvdb.h).
        iter_next_batch_borrowed: unsafe { lib.get(b"kvdb_iter_next_batch_borrowed\0") }
            .ok()
            .map(|f| *f),
        // SAFETY: as above.
        iter_prev_batch_borrowed: unsafe { lib.get(b"kvdb_iter_prev_batch_borrowed\0") }
            .ok()
            .map(|f| *f),
        iter_free: sym!(lib, "kvdb_iter_free"),
        iter_valid: sym!(lib, "kvdb_iter_valid"),
        iter_value: sym!(lib, "kvdb_iter_value"),
        iter_next: sym!(lib, "kvdb_iter_next"),
        iter_prev: sym!(lib, "kvdb_iter_prev"),
        options_new: sym!(lib, "kvdb_options_new"),
        options_free: sym!(lib, "kvdb_options_free"),
        options_set_sync: sym!(lib, "kvdb_options_set_sync"),
        set_memory_limit: sym!(lib, "kvdb_set_memory_limit"),
        memory_usage: sym!(lib, "kvdb_memory_usage"),
    };
    (lib, api)
}
