//! Passes the target, host and profile to the tests, which compile C
//! programs with the `cc` crate outside of a build script.

fn main() {
    for var in ["TARGET", "HOST", "PROFILE"] {
        let value = std::env::var(var).unwrap_or_default();
        println!("cargo:rustc-env=KVDB_FFI_{var}={value}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
