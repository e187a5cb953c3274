//! `kvdb_index_def_t`: the definition of a secondary index, made with one
//! of the built-in extractors or a C callback, then given to
//! `kvdb_options_add_index` (declared at open) or `kvdb_create_index`
//! (built on an open database). Owned by the caller
//! (`kvdb_index_def_new_*` / `kvdb_index_def_free`); both uses copy it.

use std::ffi::{CStr, c_char, c_int, c_void};

use engine::{Endian, IndexDef, IntType};

use crate::boundary::{Handle, bytes, guard, handle, handle_mut, out, status, write};
use crate::error::{FfiError, FfiResult};
use crate::options::kvdb_options_t;
use crate::status::kvdb_status_t;

/// An index definition (opaque).
pub struct kvdb_index_def_t {
    pub(crate) def: IndexDef,
}

impl Handle for kvdb_index_def_t {}

/// Value bytes compared as bytes.
pub const KVDB_INDEX_BYTES: c_int = 0;
/// A 32-bit unsigned integer, little-endian.
pub const KVDB_INDEX_U32_LE: c_int = 1;
/// A 32-bit unsigned integer, big-endian.
pub const KVDB_INDEX_U32_BE: c_int = 2;
/// A 32-bit signed integer, little-endian.
pub const KVDB_INDEX_I32_LE: c_int = 3;
/// A 32-bit signed integer, big-endian.
pub const KVDB_INDEX_I32_BE: c_int = 4;
/// A 64-bit unsigned integer, little-endian.
pub const KVDB_INDEX_U64_LE: c_int = 5;
/// A 64-bit unsigned integer, big-endian.
pub const KVDB_INDEX_U64_BE: c_int = 6;
/// A 64-bit signed integer, little-endian.
pub const KVDB_INDEX_I64_LE: c_int = 7;
/// A 64-bit signed integer, big-endian.
pub const KVDB_INDEX_I64_BE: c_int = 8;

/// The integer type a `KVDB_INDEX_*` constant names (`None` for bytes), or
/// an error for an unknown constant.
fn int_type(interpretation: c_int) -> FfiResult<Option<IntType>> {
    use Endian::{Big, Little};
    Ok(Some(match interpretation {
        KVDB_INDEX_BYTES => return Ok(None),
        KVDB_INDEX_U32_LE => IntType::U32(Little),
        KVDB_INDEX_U32_BE => IntType::U32(Big),
        KVDB_INDEX_I32_LE => IntType::I32(Little),
        KVDB_INDEX_I32_BE => IntType::I32(Big),
        KVDB_INDEX_U64_LE => IntType::U64(Little),
        KVDB_INDEX_U64_BE => IntType::U64(Big),
        KVDB_INDEX_I64_LE => IntType::I64(Little),
        KVDB_INDEX_I64_BE => IntType::I64(Big),
        other => {
            return Err(FfiError::invalid(format!(
                "unknown value interpretation {other} (use KVDB_INDEX_BYTES or a KVDB_INDEX_U32_LE..KVDB_INDEX_I64_BE constant)"
            )));
        }
    }))
}

/// The UTF-8 text of a NUL-terminated C string.
///
/// # Safety
///
/// `ptr` is NULL or a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, what: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(FfiError::invalid(format!("{what} is NULL")));
    }
    // SAFETY: per the contract, a NUL-terminated string.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| FfiError::invalid(format!("{what} is not UTF-8")))
}

/// Hands a new definition to the caller.
fn deliver(
    out_def: *mut *mut kvdb_index_def_t,
    make: impl FnOnce() -> FfiResult<IndexDef>,
) -> FfiResult {
    let out_def = out(out_def, "out")?;
    let def = make()?;
    // SAFETY: checked non-NULL.
    unsafe { write(out_def, Box::into_raw(Box::new(kvdb_index_def_t { def }))) };
    Ok(())
}

/// A definition of index `name` on field `field` (counted from 0) of keys
/// split at byte `delimiter`; keys without that field are not indexed.
///
/// # Safety
///
/// `name` is NULL (an error) or a NUL-terminated string; `out` is valid for
/// writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_def_new_key_field(
    name: *const c_char,
    delimiter: u8,
    field: u32,
    out_def: *mut *mut kvdb_index_def_t,
) -> kvdb_status_t {
    status("kvdb_index_def_new_key_field", || {
        deliver(out_def, || {
            // SAFETY: per the contract.
            let name = unsafe { text(name, "name") }?;
            Ok(IndexDef::key_field(name, delimiter, field as usize)?)
        })
    })
}

/// A definition of index `name` on bytes `offset .. offset + len` of the
/// value (a field of a fixed-layout C struct). `interpretation` is
/// `KVDB_INDEX_BYTES` (compared as bytes) or one of the integer constants,
/// which sort numerically; `len` must then be the integer's width (4 or 8).
/// Values too short to hold the range are not indexed.
///
/// # Safety
///
/// As for `kvdb_index_def_new_key_field`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_def_new_value_bytes(
    name: *const c_char,
    offset: usize,
    len: usize,
    interpretation: c_int,
    out_def: *mut *mut kvdb_index_def_t,
) -> kvdb_status_t {
    status("kvdb_index_def_new_value_bytes", || {
        deliver(out_def, || {
            // SAFETY: per the contract.
            let name = unsafe { text(name, "name") }?;
            match int_type(interpretation)? {
                None => Ok(IndexDef::value_bytes(name, offset, len)?),
                Some(int) if int.width() == len => Ok(IndexDef::value_int(name, offset, int)?),
                Some(int) => Err(FfiError::invalid(format!(
                    "len is {len}, but the integer interpretation reads {} bytes",
                    int.width()
                ))),
            }
        })
    })
}

/// A definition of index `name` on the top-level field `field` of JSON
/// object values. Strings sort as strings, numbers numerically (30 and
/// 30.0 are one index key), and null < false < true < numbers < strings;
/// values that are not JSON objects, or lack the field, or hold an array or
/// object there, are not indexed.
///
/// # Safety
///
/// `name` and `field` are NULL (an error) or NUL-terminated strings; `out`
/// is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_def_new_json_field(
    name: *const c_char,
    field: *const c_char,
    out_def: *mut *mut kvdb_index_def_t,
) -> kvdb_status_t {
    status("kvdb_index_def_new_json_field", || {
        deliver(out_def, || {
            // SAFETY: per the contract.
            let (name, field) = unsafe { (text(name, "name")?, text(field, "field")?) };
            Ok(IndexDef::json_field(name, field)?)
        })
    })
}

/// Where a callback extractor adds the index keys of one record (opaque;
/// valid only during that call).
pub struct kvdb_index_keys_t {
    keys: *mut Vec<Vec<u8>>,
}

impl Handle for kvdb_index_keys_t {}

/// A callback extractor: called with `ctx` and a record's key and value,
/// it adds zero or more index keys with `kvdb_index_keys_add`.
pub type kvdb_index_extract_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
        out: *mut kvdb_index_keys_t,
    ),
>;

/// Releases a callback's context when the last copy of its definition is
/// gone.
pub type kvdb_free_fn = Option<unsafe extern "C" fn(ctx: *mut c_void)>;

/// A C callback and its context, released by `free_ctx` on drop.
struct CExtractor {
    extract: unsafe extern "C" fn(
        *mut c_void,
        *const c_void,
        usize,
        *const c_void,
        usize,
        *mut kvdb_index_keys_t,
    ),
    ctx: *mut c_void,
    free_ctx: kvdb_free_fn,
}

// SAFETY: `kvdb_index_def_new_callback`'s contract requires the callback
// and its context to be safe to call from any thread, several at once, and
// the context to be releasable from any thread.
unsafe impl Send for CExtractor {}
// SAFETY: as for Send.
unsafe impl Sync for CExtractor {}

impl CExtractor {
    fn call(&self, key: &[u8], value: &[u8], keys: &mut Vec<Vec<u8>>) {
        let mut sink = kvdb_index_keys_t { keys };
        // SAFETY: per the contract of `kvdb_index_def_new_callback`; the
        // buffers and `sink` outlive the call, and the callback keeps no
        // pointer to them after it returns.
        unsafe {
            (self.extract)(
                self.ctx,
                key.as_ptr().cast(),
                key.len(),
                value.as_ptr().cast(),
                value.len(),
                &mut sink,
            );
        }
    }
}

impl Drop for CExtractor {
    fn drop(&mut self) {
        if let Some(free) = self.free_ctx {
            // SAFETY: per the contract, `free_ctx` releases `ctx`, and this
            // is the last use of it.
            unsafe { free(self.ctx) };
        }
    }
}

/// A definition of index `name` whose keys `extract` computes: it is called
/// with `ctx` and a record's key and value (borrowed for the call) and adds
/// zero, one or several index keys with `kvdb_index_keys_add`. When the
/// definition and every index made from it are gone, `free_ctx` (if not
/// NULL) is called with `ctx` — also when this call fails.
///
/// The callback runs on the writing thread inside each write to the
/// database, and inside index queries of transactions that wrote; it may
/// run on several threads at once. It must be deterministic (the same
/// record gives the same keys), must not call into kvdb for the same
/// database (a write would deadlock), and must not unwind (a C++ exception
/// aborts the process). A callback index is not kept across a reopen: it
/// must be declared again (`kvdb_options_add_index`) before use.
///
/// # Safety
///
/// `name` is NULL (an error) or a NUL-terminated string; `extract` is NULL
/// (an error) or a function safe to call as described with `ctx`, from any
/// thread; `free_ctx` is NULL or releases `ctx` once, from any thread; `out`
/// is valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_def_new_callback(
    name: *const c_char,
    extract: kvdb_index_extract_fn,
    ctx: *mut c_void,
    free_ctx: kvdb_free_fn,
    out_def: *mut *mut kvdb_index_def_t,
) -> kvdb_status_t {
    status("kvdb_index_def_new_callback", || {
        let Some(extract) = extract else {
            let _release = CExtractor {
                extract: noop,
                ctx,
                free_ctx,
            };
            return Err(FfiError::invalid("extract is NULL"));
        };
        let extractor = CExtractor {
            extract,
            ctx,
            free_ctx,
        };
        deliver(out_def, || {
            // SAFETY: per the contract.
            let name = unsafe { text(name, "name") }?;
            Ok(IndexDef::callback(name, move |k, v, keys| {
                extractor.call(k, v, keys)
            })?)
        })
    })
}

/// Stands in for a NULL callback so that its context is still released.
unsafe extern "C" fn noop(
    _: *mut c_void,
    _: *const c_void,
    _: usize,
    _: *const c_void,
    _: usize,
    _: *mut kvdb_index_keys_t,
) {
}

/// Adds an index key (copied) for the record a callback extractor was
/// called with. An index key longer than 16 KiB fails the write later with
/// `KVDB_TOO_LARGE`.
///
/// # Safety
///
/// `keys` is NULL (an error) or the pointer the callback received, during
/// the callback; `ikey` is NULL or valid for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_keys_add(
    keys: *mut kvdb_index_keys_t,
    ikey: *const c_void,
    len: usize,
) -> kvdb_status_t {
    status("kvdb_index_keys_add", || {
        // SAFETY: per the contract.
        let (keys, ikey) = unsafe { (handle_mut(keys, "keys")?, bytes(ikey, len, "ikey")?) };
        // SAFETY: `keys.keys` points to the vector the callback was called
        // to fill, alive for the whole callback.
        unsafe { &mut *keys.keys }.push(ikey.to_vec());
        Ok(())
    })
}

/// Makes the defined index unique: a write that would give two records one
/// index key fails with `KVDB_CONSTRAINT` and applies nothing.
///
/// # Safety
///
/// `def` is NULL (an error) or a live definition.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_def_set_unique(def: *mut kvdb_index_def_t) -> kvdb_status_t {
    status("kvdb_index_def_set_unique", || {
        // SAFETY: per the contract.
        let def = unsafe { handle_mut(def, "def") }?;
        def.def = def.def.clone().unique();
        Ok(())
    })
}

/// Frees a definition; NULL is a no-op. Indexes made from it keep working.
///
/// # Safety
///
/// `def` is NULL or a definition from `kvdb_index_def_new_*` not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_index_def_free(def: *mut kvdb_index_def_t) {
    guard("kvdb_index_def_free", || {
        if !def.is_null() {
            // SAFETY: per the contract, `def` came from Box::into_raw.
            drop(unsafe { Box::from_raw(def) });
        }
    });
}

/// Declares an index (a copy of `def`) that `kvdb_open` builds from the
/// data it opens, before the call returns; indexes are never stored in the
/// database's files, so every open must declare them again. Fails if the
/// options already declare an index of that name.
///
/// # Safety
///
/// `opts` and `def` are NULL (an error) or live handles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_options_add_index(
    opts: *mut kvdb_options_t,
    def: *const kvdb_index_def_t,
) -> kvdb_status_t {
    status("kvdb_options_add_index", || {
        // SAFETY: per the contract.
        let (opts, def) = unsafe { (handle_mut(opts, "opts")?, handle(def, "def")?) };
        let name = def.def.name();
        if opts.options.indexes.iter().any(|d| d.name() == name) {
            return Err(FfiError::invalid(format!(
                "the options already declare an index named {name:?}"
            )));
        }
        opts.options.indexes.push(def.def.clone());
        Ok(())
    })
}
