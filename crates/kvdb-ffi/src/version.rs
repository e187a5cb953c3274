//! The library version, as macros in the header and as a string at run time.

use std::ffi::c_char;

/// The major version (the header's `KVDB_VERSION_MAJOR`).
pub const KVDB_VERSION_MAJOR: u32 = 0;
/// The minor version.
pub const KVDB_VERSION_MINOR: u32 = 1;
/// The patch version.
pub const KVDB_VERSION_PATCH: u32 = 0;

/// The library's version as "MAJOR.MINOR.PATCH" (static; never NULL).
#[unsafe(no_mangle)]
pub extern "C" fn kvdb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_macros_match_the_package_version() {
        assert_eq!(
            KVDB_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            KVDB_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            KVDB_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        // SAFETY: kvdb_version returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(kvdb_version()) };
        assert_eq!(
            v.to_str().unwrap(),
            format!("{KVDB_VERSION_MAJOR}.{KVDB_VERSION_MINOR}.{KVDB_VERSION_PATCH}")
        );
    }
}
