//! The boundary every `extern "C"` function body runs inside: panics are
//! caught (never unwinding into C) and turned into `KVDB_INTERNAL` or the
//! return type's neutral value, and failures are recorded for
//! `kvdb_last_error`. Also the checks of pointer arguments.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{FfiError, FfiResult, set_last_error};
use crate::status::{KVDB_INTERNAL, KVDB_OK, kvdb_status_t};

/// What a function returns when its body panicked.
pub(crate) trait Fallback {
    fn fallback() -> Self;
}

impl Fallback for kvdb_status_t {
    fn fallback() -> Self {
        KVDB_INTERNAL
    }
}

impl Fallback for () {
    fn fallback() -> Self {}
}

impl Fallback for bool {
    fn fallback() -> Self {
        false
    }
}

impl Fallback for usize {
    fn fallback() -> Self {
        0
    }
}

impl<T> Fallback for *mut T {
    fn fallback() -> Self {
        std::ptr::null_mut()
    }
}

impl<T> Fallback for *const T {
    fn fallback() -> Self {
        std::ptr::null()
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Runs `body`, catching a panic.
///
/// Always inlined: a call to a shared copy would pass the body's captures
/// and result through memory on every call, about 50 instructions of a
/// 350-instruction get.
#[inline(always)]
pub(crate) fn guard<R: Fallback>(function: &'static str, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let text = panic_text(&*payload);
            set_last_error(
                function,
                &format!("internal error (a bug in kvdb): panic: {text}"),
            );
            R::fallback()
        }
    }
}

/// Runs a fallible `body` and returns its status, recording any failure.
pub(crate) fn status(function: &'static str, body: impl FnOnce() -> FfiResult) -> kvdb_status_t {
    guard(function, || match body() {
        Ok(()) => KVDB_OK,
        Err(e) => {
            set_last_error(function, &e.message);
            e.status
        }
    })
}

/// Runs a `void` function's `body`, recording any failure.
pub(crate) fn void(function: &'static str, body: impl FnOnce() -> FfiResult) {
    guard(function, || {
        if let Err(e) = body() {
            set_last_error(function, &e.message);
        }
    });
}

/// A handle type of the C API.
pub(crate) trait Handle {
    /// True if this process is a `fork()` child of the one that made the
    /// handle: then it refuses every call but its free (plain-memory handles,
    /// options and batches, work anywhere).
    fn inherited_across_fork(&self) -> bool {
        false
    }
}

/// The error for a handle used in a `fork()` child of the process that
/// made it. Out of line: the checks that return it run on every call.
#[cold]
#[inline(never)]
fn inherited_across_fork() -> FfiError {
    engine::Error::inherited_across_fork().into()
}

/// The error for a NULL pointer argument named `what`.
#[cold]
#[inline(never)]
fn null(what: &str) -> FfiError {
    FfiError::invalid(format!("{what} is NULL"))
}

/// A shared reference to the handle behind `ptr`, or an error naming it (or
/// saying it was inherited across `fork()`).
///
/// Inlined, with its errors made out of line, so that a call's checks of
/// its handle are a few compares: a scan step makes three calls.
///
/// # Safety
///
/// `ptr` is NULL or points to a live value of type `T` (a handle the library
/// returned and the caller has not freed).
#[inline]
pub(crate) unsafe fn handle<'a, T: Handle>(ptr: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: per the contract above.
    match unsafe { ptr.as_ref() } {
        None => Err(null(what)),
        Some(handle) if handle.inherited_across_fork() => Err(inherited_across_fork()),
        Some(handle) => Ok(handle),
    }
}

/// An exclusive reference to the handle behind `ptr`, or an error naming it
/// (or saying it was inherited across `fork()`).
///
/// # Safety
///
/// As for [`handle`], and no other thread uses the handle meanwhile (the C
/// API's rule for batch, snapshot and iterator handles).
#[inline]
pub(crate) unsafe fn handle_mut<'a, T: Handle>(ptr: *mut T, what: &str) -> FfiResult<&'a mut T> {
    // SAFETY: per the contract above.
    match unsafe { ptr.as_mut() } {
        None => Err(null(what)),
        Some(handle) if handle.inherited_across_fork() => Err(inherited_across_fork()),
        Some(handle) => Ok(handle),
    }
}

/// The byte buffer `(ptr, len)`: NULL with length 0 is empty; NULL with a
/// non-zero length is an invalid argument.
///
/// # Safety
///
/// Unless NULL, `ptr` is valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const c_void, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(FfiError::invalid(format!(
                "{what} is NULL but its length is {len}"
            )))
        };
    }
    if len > isize::MAX as usize {
        return Err(FfiError::invalid(format!(
            "{what} length {len} is impossible"
        )));
    }
    // SAFETY: per the contract above; `len` fits in isize.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// The key and value buffers of a call that stores a value.
///
/// # Safety
///
/// `key` and `val` are NULL or valid for reads of `klen` and `vlen` bytes
/// for `'a`.
pub(crate) unsafe fn key_value<'a>(
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
) -> FfiResult<(&'a [u8], &'a [u8])> {
    // SAFETY: per the contract.
    unsafe { Ok((bytes(key, klen, "key")?, bytes(val, vlen, "val")?)) }
}

/// Checks an out-parameter pointer before any work is done.
#[inline]
pub(crate) fn out<T>(ptr: *mut T, what: &str) -> FfiResult<*mut T> {
    if ptr.is_null() {
        Err(null(what))
    } else {
        Ok(ptr)
    }
}

/// Writes `value` through an out-parameter checked by [`out`].
///
/// # Safety
///
/// `ptr` (non-NULL) is valid for a write of `T`.
pub(crate) unsafe fn write<T>(ptr: *mut T, value: T) {
    // SAFETY: per the contract above; `write` does not read the old value,
    // which may be uninitialised.
    unsafe { ptr.write(value) }
}

/// Converts an optional engine failure into the boundary's error.
pub(crate) fn engine<T>(result: engine::Result<T>) -> FfiResult<T> {
    result.map_err(FfiError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal_with_detail() {
        let status = status("kvdb_test", || panic!("boom {}", 1));
        assert_eq!(status, KVDB_INTERNAL);
        let mut buf = [0u8; 128];
        // SAFETY: buf is valid for 128 bytes.
        let n = unsafe { crate::error::kvdb_last_error(buf.as_mut_ptr().cast(), buf.len()) };
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(text.starts_with("kvdb_test: internal error"), "{text}");
        assert!(text.contains("boom 1"), "{text}");
        let null: *mut u8 = guard("kvdb_test", || panic!("x"));
        assert!(null.is_null());
        assert!(!guard("kvdb_test", || -> bool { panic!("x") }));
    }

    #[test]
    fn byte_buffers_follow_the_null_rules() {
        // SAFETY: NULL pointers are never read.
        unsafe {
            assert_eq!(bytes(std::ptr::null(), 0, "key").unwrap(), b"");
            let err = bytes(std::ptr::null(), 3, "key").unwrap_err();
            assert_eq!(err.status, crate::status::KVDB_INVALID_ARGUMENT);
            assert!(err.message.contains("key is NULL"));
        }
        let data = *b"abc";
        // SAFETY: data is valid for 3 bytes.
        let read = unsafe { bytes(data.as_ptr().cast(), 3, "v") };
        assert_eq!(read.unwrap(), b"abc");
    }
}
