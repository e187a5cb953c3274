//! Every route by which a C program finds libkvdb, at build time and at run
//! time:
//! - a plain `cargo build` (the SONAME link beside the library; rpath or
//!   LD_LIBRARY_PATH);
//! - `make install` into a private prefix (pkg-config, then rpath or
//!   LD_LIBRARY_PATH), a lib64 or multiarch libdir, a DESTDIR stage,
//!   `install-strip`, and an install that needs no cargo on PATH;
//! - `cargo cinstall` (cargo-c), when it is installed;
//! - `make install` into the system prefix, where ldconfig makes the library
//!   found with no flag at all (run as root only, and only when no kvdb is
//!   installed there already).

mod harness;

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use harness::library;

/// Runs `cmd` under sh with `env` added (and no LD_LIBRARY_PATH unless
/// `env` sets it); panics with its output if it fails.
fn sh(cmd: &str, env: &[(&str, &str)]) -> String {
    let output = sh_output(cmd, env);
    assert!(
        output.status.success(),
        "`{cmd}` failed: {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sh_output(cmd: &str, env: &[(&str, &str)]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        // cargo test points LD_LIBRARY_PATH at target/<profile>: each test
        // says which way a program finds the library.
        .env_remove("LD_LIBRARY_PATH")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn root() -> &'static Path {
    &library().root
}

fn profile() -> &'static str {
    env!("KVDB_FFI_PROFILE")
}

/// Builds the kvdb shell (same profile as this test) once: `make install`
/// installs it with the library.
fn cli_built() {
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let release = if profile() == "release" {
            "--release"
        } else {
            ""
        };
        sh(
            &format!(
                "cd '{}' && '{}' build -q {release} -p kvdb-cli",
                root().display(),
                env!("CARGO")
            ),
            &[],
        );
    });
}

/// `make -s -C <root> <args>`, with PROFILE set to this test's build.
fn make(args: &str, env: &[(&str, &str)]) -> String {
    cli_built();
    sh(
        &format!(
            "make -s -C '{}' {args} PROFILE={}",
            root().display(),
            profile()
        ),
        env,
    )
}

/// Compiles examples-c/quickstart.c with `flags` into `exe`.
fn build_quickstart(exe: &Path, flags: &str, env: &[(&str, &str)]) {
    sh(
        &format!(
            "cc '{}/examples-c/quickstart.c' {flags} -o '{}'",
            root().display(),
            exe.display()
        ),
        env,
    );
}

/// The files every install puts under a prefix with libdir `lib`.
const INSTALLED: [&str; 6] = [
    "bin/kvdb",
    "include/kvdb.h",
    "include/kvdb.hpp",
    "lib/libkvdb.so.0.1.0",
    "lib/libkvdb.a",
    "lib/pkgconfig/kvdb.pc",
];

fn assert_installed(prefix: &Path) {
    for file in INSTALLED {
        assert!(prefix.join(file).is_file(), "{file} was not installed");
    }
}

/// The library at `path` records the SONAME programs link against.
fn assert_soname(path: &str) {
    let dynamic = sh(&format!("readelf -d '{path}'"), &[]);
    assert!(
        dynamic.contains("Library soname: [libkvdb.so.0]"),
        "{dynamic}"
    );
}

/// Runs the quick start and checks it worked.
fn runs(exe: &Path, env: &[(&str, &str)]) {
    let out = sh(&format!("'{}'", exe.display()), env);
    assert!(out.contains("user:1 = ada lovelace"), "{out}");
}

/// Held by the test that installs into the system prefix, and by the tests
/// that check a program cannot find the library without help (which the
/// system install would give it).
static LOADER_PATH: Mutex<()> = Mutex::new(());

fn loader_path() -> MutexGuard<'static, ()> {
    LOADER_PATH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether the dynamic linker's cache knows a libkvdb.so.0.
fn system_has_kvdb() -> bool {
    sh("ldconfig -p", &[]).contains("libkvdb.so.0 ")
}

/// Runs the quick start and checks the loader could not find libkvdb
/// (unless a kvdb installed on this machine is found instead).
fn cannot_find_library(exe: &Path) {
    if system_has_kvdb() {
        eprintln!(
            "a libkvdb.so.0 is installed on this machine: not checking that the loader fails without help"
        );
        return;
    }
    let out = sh_output(&format!("'{}'", exe.display()), &[]);
    assert!(!out.status.success(), "ran without a way to find libkvdb");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("libkvdb.so.0"), "{err}");
}

#[test]
fn plain_cargo_build_leaves_a_library_programs_find_by_rpath_or_ld_library_path() {
    let _loader = loader_path();
    let lib = library();
    let soname = lib.dir.join("libkvdb.so.0");
    assert_eq!(
        std::fs::read_link(&soname).ok().as_deref(),
        Some(Path::new("libkvdb.so")),
        "cargo build left no SONAME link {}",
        soname.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = lib.dir.display();
    let include = lib.include();
    let include = include.display();

    let with_rpath = tmp.path().join("with_rpath");
    build_quickstart(
        &with_rpath,
        &format!("-I'{include}' -L'{dir}' -lkvdb -Wl,-rpath,'{dir}'"),
        &[],
    );
    runs(&with_rpath, &[]);

    let plain = tmp.path().join("plain");
    build_quickstart(&plain, &format!("-I'{include}' -L'{dir}' -lkvdb"), &[]);
    cannot_find_library(&plain);
    runs(&plain, &[("LD_LIBRARY_PATH", &dir.to_string())]);
}

#[test]
fn install_to_a_private_prefix_then_build_with_pkg_config() {
    let _loader = loader_path();
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path().to_str().unwrap();
    // An install builds nothing: it works with no cargo on PATH, as under
    // sudo, and says how programs find a library outside the linker's path.
    let said = make(
        &format!("install prefix='{p}'"),
        &[("PATH", "/usr/bin:/bin")],
    );
    assert!(said.contains("-Wl,-rpath"), "{said}");

    assert_installed(prefix.path());
    let shell = sh(
        &format!("'{p}/bin/kvdb' shell -c 'put k v' -c 'get k'"),
        &[],
    );
    assert_eq!(shell, "OK\nv\n");
    let link = |name: &str| std::fs::read_link(prefix.path().join(name)).unwrap();
    assert_eq!(link("lib/libkvdb.so.0"), Path::new("libkvdb.so.0.1.0"));
    assert_eq!(link("lib/libkvdb.so"), Path::new("libkvdb.so.0"));
    assert_soname(&format!("{p}/lib/libkvdb.so.0.1.0"));

    let pc_path = format!("{p}/lib/pkgconfig");
    let env = [("PKG_CONFIG_PATH", pc_path.as_str())];
    assert_eq!(sh("pkg-config --modversion kvdb", &env).trim(), "0.1.0");
    let lib_dir = format!("{p}/lib");
    assert_eq!(
        sh("pkg-config --variable=libdir kvdb", &env).trim(),
        lib_dir
    );

    // rpath taken from pkg-config: runs with no environment.
    let rpath_exe = prefix.path().join("quickstart_rpath");
    build_quickstart(
        &rpath_exe,
        "$(pkg-config --cflags --libs kvdb) -Wl,-rpath,$(pkg-config --variable=libdir kvdb)",
        &env,
    );
    runs(&rpath_exe, &[]);

    // Without rpath: the loader needs LD_LIBRARY_PATH.
    let exe = prefix.path().join("quickstart");
    build_quickstart(&exe, "$(pkg-config --cflags --libs kvdb)", &env);
    cannot_find_library(&exe);
    runs(&exe, &[("LD_LIBRARY_PATH", lib_dir.as_str())]);

    // Static linking against the installed archive.
    let static_exe = prefix.path().join("quickstart_static");
    build_quickstart(
        &static_exe,
        &format!(
            "$(pkg-config --cflags kvdb) '{p}/lib/libkvdb.a' $(pkg-config --static --libs-only-l kvdb | sed 's/-lkvdb//')"
        ),
        &env,
    );
    assert!(sh(&format!("'{}'", static_exe.display()), &[]).contains("visits = 3"));

    make(&format!("uninstall prefix='{p}'"), &[]);
    for file in [
        "bin/kvdb",
        "include/kvdb.h",
        "include/kvdb.hpp",
        "lib/libkvdb.so",
        "lib/libkvdb.so.0",
        "lib/libkvdb.so.0.1.0",
        "lib/libkvdb.a",
        "lib/pkgconfig/kvdb.pc",
    ] {
        assert!(
            !prefix.path().join(file).exists(),
            "uninstall left {file} in place"
        );
    }
}

#[test]
fn libdir_chooses_lib64_or_a_multiarch_directory() {
    for (var, sub) in [("LIBDIR", "lib64"), ("libdir", "lib/x86_64-linux-gnu")] {
        let prefix = tempfile::tempdir().unwrap();
        let p = prefix.path().to_str().unwrap();
        make(&format!("install prefix='{p}' {var}='{p}/{sub}'"), &[]);
        assert!(prefix.path().join(sub).join("libkvdb.so.0.1.0").is_file());
        assert!(!prefix.path().join("lib/libkvdb.so.0.1.0").exists());
        let pc_path = format!("{p}/{sub}/pkgconfig");
        let env = [("PKG_CONFIG_PATH", pc_path.as_str())];
        assert_eq!(
            sh("pkg-config --variable=libdir kvdb", &env).trim(),
            format!("{p}/{sub}")
        );
        let exe = prefix.path().join("quickstart");
        build_quickstart(
            &exe,
            "$(pkg-config --cflags --libs kvdb) -Wl,-rpath,$(pkg-config --variable=libdir kvdb)",
            &env,
        );
        runs(&exe, &[]);
        make(&format!("uninstall prefix='{p}' {var}='{p}/{sub}'"), &[]);
        assert!(!prefix.path().join(sub).join("libkvdb.so").exists());
    }
}

#[test]
fn destdir_stages_an_install_for_its_final_prefix_without_running_ldconfig() {
    let stage = tempfile::tempdir().unwrap();
    let d = stage.path().to_str().unwrap();
    let said = make(
        &format!("install DESTDIR='{d}' prefix=/usr libdir=/usr/lib64"),
        &[],
    );
    assert!(!said.contains("ldconfig"), "{said}");
    assert!(stage.path().join("usr/lib64/libkvdb.so.0.1.0").is_file());
    assert!(stage.path().join("usr/include/kvdb.h").is_file());
    let pc = std::fs::read_to_string(stage.path().join("usr/lib64/pkgconfig/kvdb.pc")).unwrap();
    assert!(pc.contains("libdir=/usr/lib64\n"), "{pc}");
    assert!(pc.contains("includedir=/usr/include\n"), "{pc}");
    assert!(!pc.contains(d), "the stage leaked into kvdb.pc: {pc}");
}

#[test]
fn install_strip_installs_libraries_without_debug_info() {
    let plain = tempfile::tempdir().unwrap();
    let stripped = tempfile::tempdir().unwrap();
    make(&format!("install prefix='{}'", plain.path().display()), &[]);
    make(
        &format!("install-strip prefix='{}'", stripped.path().display()),
        &[],
    );
    let size = |dir: &Path| {
        std::fs::metadata(dir.join("lib/libkvdb.so.0.1.0"))
            .unwrap()
            .len()
    };
    assert!(
        size(stripped.path()) < size(plain.path()),
        "install-strip left the library as large as install does"
    );
    let sections = sh(
        &format!(
            "readelf -S '{}/lib/libkvdb.so.0.1.0'",
            stripped.path().display()
        ),
        &[],
    );
    assert!(!sections.contains(".debug_"), "{sections}");
    let dynamic = sh(
        &format!(
            "nm -D --defined-only '{}/lib/libkvdb.so.0.1.0'",
            stripped.path().display()
        ),
        &[],
    );
    assert!(dynamic.contains("kvdb_open"), "the C API was stripped");
}

/// Uninstalls from the system prefix however the test ends.
struct SystemInstall;

impl Drop for SystemInstall {
    fn drop(&mut self) {
        let _ = sh_output(
            &format!(
                "make -s -C '{}' uninstall prefix=/usr/local",
                root().display()
            ),
            &[],
        );
    }
}

#[test]
fn install_to_the_system_prefix_runs_ldconfig_so_programs_need_no_flags() {
    let _loader = loader_path();
    let is_root = sh("id -u", &[]).trim() == "0";
    if !is_root || Path::new("/usr/local/include/kvdb.h").exists() {
        eprintln!(
            "skipped: needs root and no kvdb already installed in /usr/local (root: {is_root})"
        );
        return;
    }
    let _uninstall = SystemInstall;
    let said = make("install prefix=/usr/local", &[]);
    assert!(said.contains("ldconfig"), "{said}");
    assert!(system_has_kvdb());

    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("quickstart");
    build_quickstart(&exe, "-lkvdb", &[]);
    runs(&exe, &[]);

    make("uninstall prefix=/usr/local", &[]);
    assert!(!system_has_kvdb());
    assert!(!Path::new("/usr/local/lib/libkvdb.so.0").exists());
}

#[test]
fn cargo_cinstall_installs_the_same_library_headers_and_pkg_config() {
    if !sh_output("cargo cinstall --version", &[]).status.success() {
        eprintln!("skipped: cargo-c is not installed (cargo install cargo-c)");
        return;
    }
    let _loader = loader_path();
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path().to_str().unwrap();
    sh(
        &format!(
            "cd '{}' && cargo cinstall --release -p kvdb-ffi --prefix='{p}' --libdir='{p}/lib'",
            root().display()
        ),
        &[],
    );
    // cargo-c installs the library and headers; the kvdb shell is make's.
    for file in INSTALLED.iter().filter(|f| !f.starts_with("bin/")) {
        assert!(
            prefix.path().join(file).is_file(),
            "{file} was not installed"
        );
    }
    let header = std::fs::read(prefix.path().join("include/kvdb.h")).unwrap();
    assert_eq!(
        header,
        std::fs::read(root().join("include/kvdb.h")).unwrap(),
        "cargo cinstall installed another kvdb.h than the committed one"
    );
    assert_soname(&format!("{p}/lib/libkvdb.so.0.1.0"));
    let pc_path = format!("{p}/lib/pkgconfig");
    let env = [("PKG_CONFIG_PATH", pc_path.as_str())];
    let exe = prefix.path().join("quickstart");
    build_quickstart(
        &exe,
        "$(pkg-config --cflags --libs kvdb) -Wl,-rpath,$(pkg-config --variable=libdir kvdb)",
        &env,
    );
    runs(&exe, &[]);
}
