//! Link arguments of the shared library: its SONAME carries the major
//! version, and `-z nodelete` keeps it mapped after `dlclose` (Rust's
//! thread-local destructors may still run after a host unloads it;
//! rust-lang/rust#91979).

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkvdb.so.{major}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
