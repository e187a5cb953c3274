//! Link arguments of the shared library, and its SONAME link.
//!
//! The SONAME carries the major version (`libkvdb.so.0`), and `-z nodelete`
//! keeps the library mapped after `dlclose` (Rust's thread-local destructors
//! may still run after a host unloads it; rust-lang/rust#91979).
//!
//! A program linked with `-lkvdb` records the SONAME, so a plain
//! `cargo build` must leave a file of that name beside `libkvdb.so`, as
//! `make install` and `cargo cinstall` do in their library directory: this
//! script makes the link `target/<profile>/libkvdb.so.0 -> libkvdb.so`. It
//! dangles until cargo links the library, a moment later.

use std::path::{Path, PathBuf};

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkvdb.so.{major}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
        #[cfg(unix)]
        if let Some(dir) = profile_dir() {
            link_soname(&dir, &major);
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// `target/[<triple>/]<profile>`, where cargo puts the library: OUT_DIR is
/// `<that>/build/kvdb-ffi-<hash>/out`. None when the layout is not that one
/// (then nothing outside OUT_DIR is touched).
#[cfg(unix)]
fn profile_dir() -> Option<PathBuf> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR")?);
    let build = out.parent()?.parent()?;
    if build.file_name()? != "build" {
        return None;
    }
    build.parent().map(Path::to_path_buf)
}

#[cfg(unix)]
fn link_soname(dir: &Path, major: &str) {
    let link = dir.join(format!("libkvdb.so.{major}"));
    if std::fs::read_link(&link).is_ok_and(|target| target == Path::new("libkvdb.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink("libkvdb.so", &link) {
        println!(
            "cargo:warning=could not link {} to libkvdb.so: {e}",
            link.display()
        );
    }
}
