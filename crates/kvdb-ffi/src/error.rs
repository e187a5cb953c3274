//! Errors at the C boundary and the thread-local detail of the last failure.

use std::cell::RefCell;
use std::ffi::c_char;

use crate::status::{
    KVDB_BUFFER_TOO_SMALL, KVDB_EXISTS, KVDB_INTERNAL, KVDB_INVALID_ARGUMENT, KVDB_NOT_FOUND,
    kvdb_status_t,
};

/// A failed call: the status to return and the detail to keep.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub(crate) status: kvdb_status_t,
    pub(crate) message: String,
}

impl FfiError {
    pub(crate) fn new(status: kvdb_status_t, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(KVDB_INVALID_ARGUMENT, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(KVDB_NOT_FOUND, message)
    }

    pub(crate) fn exists() -> Self {
        Self::new(KVDB_EXISTS, "the key already exists")
    }

    pub(crate) fn buffer_too_small(needed: usize, cap: usize) -> Self {
        Self::new(
            KVDB_BUFFER_TOO_SMALL,
            format!("the value is {needed} bytes; the buffer holds {cap}"),
        )
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(KVDB_INTERNAL, message)
    }
}

impl From<engine::Error> for FfiError {
    fn from(e: engine::Error) -> Self {
        Self::new(e.kind().code(), e.to_string())
    }
}

impl From<engine::IndexError> for FfiError {
    fn from(e: engine::IndexError) -> Self {
        engine::Error::from(e).into()
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `message` as the calling thread's last error, prefixed with the
/// function that failed.
pub(crate) fn set_last_error(function: &str, message: &str) {
    LAST_ERROR.with(|last| {
        let mut last = last.borrow_mut();
        last.clear();
        last.push_str(function);
        last.push_str(": ");
        last.push_str(message);
    });
}

/// Copies the calling thread's detailed message for its last failed call
/// into `buf` (NUL-terminated, truncated to `cap` bytes including the NUL)
/// and returns the full message length without the NUL. A successful call
/// does not clear it. With `buf` NULL or `cap` 0 nothing is copied: call
/// once to learn the length, again with a buffer of length + 1.
///
/// The message belongs to the OS thread. Go callers must read it in the same
/// cgo call as the failing function (a goroutine may move to another thread
/// between two cgo calls): call both from one C helper.
///
/// # Safety
///
/// `buf` is NULL or valid for writing `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kvdb_last_error(buf: *mut c_char, cap: usize) -> usize {
    crate::boundary::guard("kvdb_last_error", || {
        // SAFETY: forwarded contract.
        LAST_ERROR.with(|last| unsafe { copy_message(&last.borrow(), buf, cap) })
    })
}

/// Copies `text` into `buf` (NUL-terminated, truncated to `cap` bytes with
/// the NUL) unless `buf` is NULL or `cap` 0; returns the full length.
///
/// # Safety
///
/// `buf` is NULL or valid for writing `cap` bytes.
pub(crate) unsafe fn copy_message(text: &str, buf: *mut c_char, cap: usize) -> usize {
    if !buf.is_null() && cap > 0 {
        let n = text.len().min(cap - 1);
        // SAFETY: the caller gives `buf` valid for `cap` bytes; we write
        // `n + 1 <= cap` bytes and the source is a distinct Rust string.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(cap: usize) -> (usize, Vec<u8>) {
        let mut buf = vec![0x55u8; cap];
        // SAFETY: `buf` is valid for `cap` bytes.
        let n = unsafe { kvdb_last_error(buf.as_mut_ptr().cast(), cap) };
        (n, buf)
    }

    #[test]
    fn last_error_is_copied_truncated_and_nul_terminated() {
        set_last_error("kvdb_put", "key is too large");
        let full = "kvdb_put: key is too large";
        let (n, buf) = read(100);
        assert_eq!(n, full.len());
        assert_eq!(&buf[..n], full.as_bytes());
        assert_eq!(buf[n], 0);
        let (n, buf) = read(5);
        assert_eq!(
            n,
            full.len(),
            "the full length is returned even when truncated"
        );
        assert_eq!(&buf, b"kvdb\0");
        // SAFETY: NULL with cap 0 only asks for the length.
        let length_only = unsafe { kvdb_last_error(std::ptr::null_mut(), 0) };
        assert_eq!(length_only, full.len());
        let (_, buf) = read(1);
        assert_eq!(buf, [0]);
    }

    #[test]
    fn last_error_belongs_to_the_thread() {
        set_last_error("kvdb_get", "here");
        let other = std::thread::spawn(|| read(64).0).join().unwrap();
        assert_eq!(other, 0, "a new thread has no error");
        assert!(read(64).0 > 0);
    }
}
