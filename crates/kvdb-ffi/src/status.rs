//! Status codes and their messages.

use std::ffi::{c_char, c_int};

/// The result of a fallible call: `KVDB_OK` (0) or one of the `KVDB_*` codes.
pub type kvdb_status_t = c_int;

/// Success.
pub const KVDB_OK: kvdb_status_t = 0;
/// No such key (or nothing to undo).
pub const KVDB_NOT_FOUND: kvdb_status_t = 1;
/// NULL where not allowed, bad mode, bad TTL, bad path.
pub const KVDB_INVALID_ARGUMENT: kvdb_status_t = 2;
/// The operating system refused a read, write or sync.
pub const KVDB_IO_ERROR: kvdb_status_t = 3;
/// A file failed its checksum or format check.
pub const KVDB_CORRUPTION: kvdb_status_t = 4;
/// Transaction conflict, or compare-and-swap mismatch.
pub const KVDB_CONFLICT: kvdb_status_t = 5;
/// put_if_absent found the key present.
pub const KVDB_EXISTS: kvdb_status_t = 6;
/// Key or value over the limit.
pub const KVDB_TOO_LARGE: kvdb_status_t = 7;
/// Caller buffer too small (the required size is reported).
pub const KVDB_BUFFER_TOO_SMALL: kvdb_status_t = 8;
/// The database directory is open elsewhere.
pub const KVDB_LOCKED: kvdb_status_t = 9;
/// A unique index already holds that index key.
pub const KVDB_CONSTRAINT: kvdb_status_t = 10;
/// A write (or an index build, `kvdb_create_index`) would pass the memory
/// limit and the eviction policy cannot make room; nothing was applied.
pub const KVDB_MEMORY_LIMIT: kvdb_status_t = 11;
/// kvdb_watch_next: no event arrived within the timeout.
pub const KVDB_TIMED_OUT: kvdb_status_t = 12;
/// A watcher needs changes no longer retained; kvdb_last_error names the
/// oldest sequence number still available.
pub const KVDB_LAGGED: kvdb_status_t = 13;
/// A bug: caught panic or broken invariant.
pub const KVDB_INTERNAL: kvdb_status_t = 99;

/// A static, NUL-terminated description of a status code; never NULL.
/// Unknown codes give "unknown status code".
#[unsafe(no_mangle)]
pub extern "C" fn kvdb_strerror(status: c_int) -> *const c_char {
    let text = match status {
        KVDB_OK => c"success",
        KVDB_NOT_FOUND => c"not found",
        KVDB_INVALID_ARGUMENT => c"invalid argument",
        KVDB_IO_ERROR => c"I/O error",
        KVDB_CORRUPTION => c"corruption",
        KVDB_CONFLICT => c"conflict",
        KVDB_EXISTS => c"key exists",
        KVDB_TOO_LARGE => c"key or value too large",
        KVDB_BUFFER_TOO_SMALL => c"buffer too small",
        KVDB_LOCKED => c"database locked",
        KVDB_CONSTRAINT => c"constraint violated",
        KVDB_MEMORY_LIMIT => c"memory limit reached",
        KVDB_TIMED_OUT => c"timed out",
        KVDB_LAGGED => c"watcher lagged: changes no longer retained",
        KVDB_INTERNAL => c"internal error",
        _ => c"unknown status code",
    };
    text.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_engine_error_kind_has_its_own_code_and_message() {
        for kind in engine::ErrorKind::ALL {
            let code = kind.code();
            // SAFETY: kvdb_strerror returns a static NUL-terminated string.
            let text = unsafe { CStr::from_ptr(kvdb_strerror(code)) };
            assert_ne!(text.to_str().unwrap(), "unknown status code", "{kind:?}");
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(kvdb_strerror(12345)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown status code");
        assert_eq!(engine::ErrorKind::Internal.code(), KVDB_INTERNAL);
        assert_eq!(engine::ErrorKind::Constraint.code(), KVDB_CONSTRAINT);
        assert_eq!(engine::ErrorKind::Lagged.code(), KVDB_LAGGED);
        assert_eq!(engine::ErrorKind::MemoryLimit.code(), KVDB_MEMORY_LIMIT);
    }
}
