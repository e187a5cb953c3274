#![allow(dead_code)] // each test binary uses part of the harness

//! Building the C library once, compiling C and C++ programs against it with
//! the `cc` crate's compiler detection, and running them plain, under
//! ASan/UBSan or under valgrind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The built library and the header it goes with.
pub(crate) struct Library {
    /// `target/<profile>`: holds libkvdb.so and libkvdb.a.
    pub(crate) dir: PathBuf,
    /// The repository root.
    pub(crate) root: PathBuf,
}

impl Library {
    pub(crate) fn include(&self) -> PathBuf {
        self.root.join("include")
    }

    pub(crate) fn shared(&self) -> PathBuf {
        self.dir.join("libkvdb.so")
    }

    pub(crate) fn source(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// Builds `kvdb-ffi` (same profile as this test) once per test process.
pub(crate) fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "-p", "kvdb-ffi"]).current_dir(&root);
        if env!("KVDB_FFI_PROFILE") == "release" {
            build.arg("--release");
        }
        let out = build.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "building kvdb-ffi failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // This test executable lives in target/<profile>/deps.
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        assert!(
            dir.join("libkvdb.so").exists(),
            "no libkvdb.so in {}",
            dir.display()
        );
        // Programs linked with -lkvdb record the SONAME (libkvdb.so.0):
        // kvdb-ffi's build script leaves that name beside the library.
        Library { dir, root }
    })
}

/// How a program is compiled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Build {
    /// -Wall -Wextra -Wpedantic -Werror, linked to libkvdb.so.
    Strict,
    /// Strict, plus -fsanitize=address,undefined.
    Sanitized,
    /// Strict, linked statically to libkvdb.a.
    Static,
    /// Strict, as a shared object (a plugin) linked to libkvdb.so.
    Plugin,
    /// Strict, not linked to kvdb at all (a host that dlopens it).
    Host,
}

fn compiler(cpp: bool) -> cc::Tool {
    let mut build = cc::Build::new();
    build
        .cpp(cpp)
        .target(env!("KVDB_FFI_TARGET"))
        .host(env!("KVDB_FFI_HOST"))
        .opt_level(1)
        .debug(true)
        .cargo_metadata(false)
        .warnings(false);
    build.get_compiler()
}

/// Compiles `sources` into `out` (an executable, or a shared object for
/// [`Build::Plugin`]).
pub(crate) fn compile(sources: &[&str], out: &Path, build: Build) -> PathBuf {
    let lib = library();
    let cpp = sources.iter().any(|s| s.ends_with(".cpp"));
    let mut cmd = compiler(cpp).to_command();
    cmd.arg(if cpp { "-std=c++17" } else { "-std=c11" })
        .args([
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-fno-omit-frame-pointer",
        ])
        .arg("-I")
        .arg(lib.include())
        .arg("-I")
        .arg(lib.source("ffi-tests/c"));
    if build == Build::Sanitized {
        cmd.arg("-fsanitize=address,undefined")
            .arg("-fno-sanitize-recover=all");
    }
    if build == Build::Plugin {
        cmd.args(["-shared", "-fPIC"]);
    }
    for s in sources {
        cmd.arg(lib.source(s));
    }
    cmd.arg("-o").arg(out);
    match build {
        Build::Static => {
            cmd.arg(lib.dir.join("libkvdb.a"))
                .args(["-lpthread", "-ldl", "-lm"]);
        }
        Build::Host => {
            cmd.args(["-ldl", "-lpthread"]);
        }
        _ => {
            cmd.arg(format!("-L{}", lib.dir.display()))
                .arg(format!("-Wl,-rpath,{}", lib.dir.display()))
                .args(["-lkvdb", "-lpthread", "-ldl"]);
        }
    }
    let output = cmd.output().expect("the C compiler runs");
    assert!(
        output.status.success(),
        "compiling {sources:?} ({build:?}) failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    if build == Build::Sanitized {
        sanitized().lock().unwrap().insert(out.to_path_buf());
    }
    out.to_path_buf()
}

/// The programs compiled with sanitizers, which [`run`] runs with the
/// library on the system allocator: AddressSanitizer checks only the
/// memory that goes through `malloc`.
fn sanitized() -> &'static Mutex<HashSet<PathBuf>> {
    static SANITIZED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    SANITIZED.get_or_init(Default::default)
}

/// The result of a program that reports `checks: N failures: M`.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) checks: u64,
    pub(crate) stdout: String,
}

fn report(what: &str, output: &Output) -> Checked {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let checks = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("checks: "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Checked { checks, stdout }
}

/// Runs a program directly; a sanitized one with the library on the system
/// allocator (`KVDB_ALLOCATOR=system`), so the sanitizer sees its memory.
pub(crate) fn run(exe: &Path, args: &[&str]) -> Checked {
    let mut command = Command::new(exe);
    if sanitized().lock().unwrap().contains(exe) {
        command.env("KVDB_ALLOCATOR", "system");
    }
    let output = command
        .args(args)
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=0:halt_on_error=1",
        )
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .env(
            "LSAN_OPTIONS",
            format!(
                "suppressions={}",
                library().source("ffi-tests/lsan.supp").display()
            ),
        )
        .output()
        .expect("the program runs");
    report(&exe.display().to_string(), &output)
}

/// True if valgrind can be run here.
pub(crate) fn have_valgrind() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a program under valgrind's memcheck: any error, or any definitely or
/// indirectly lost block, fails. The library runs on the system allocator
/// (`KVDB_ALLOCATOR=system`): memcheck tracks only blocks from `malloc`.
pub(crate) fn run_valgrind(exe: &Path, args: &[&str]) -> Checked {
    let output = Command::new("valgrind")
        .env("KVDB_ALLOCATOR", "system")
        .args([
            "--error-exitcode=97",
            "--leak-check=full",
            "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect",
            "--track-origins=yes",
            // Valgrind runs one thread at a time; without fair scheduling a
            // thread that never blocks (a reader polling a flag) can keep
            // the others from running at all.
            "--fair-sched=yes",
            "--quiet",
        ])
        .arg(format!(
            "--suppressions={}",
            library().source("ffi-tests/valgrind.supp").display()
        ))
        .arg(exe)
        .args(args)
        .output()
        .expect("valgrind runs");
    report(&format!("valgrind {}", exe.display()), &output)
}
