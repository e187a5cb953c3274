//! The C library from the outside: C and C++ programs compiled with
//! `-Wall -Wextra -Wpedantic -Werror` against include/kvdb.h and
//! libkvdb.so / libkvdb.a, run plain, under AddressSanitizer and
//! UndefinedBehaviorSanitizer, and under valgrind; a host that dlopens the
//! library; and a plugin that links it, loaded by a host.
//!
//! Each program prints `checks: N failures: M`; the total of checks is
//! printed by `c_level_checks_add_up` (run with `--nocapture`).

mod harness;

use std::sync::atomic::{AtomicU64, Ordering};

use harness::{Build, compile, have_valgrind, library, run, run_valgrind};

static CHECKS: AtomicU64 = AtomicU64::new(0);

fn counted(checked: harness::Checked) -> u64 {
    assert!(
        checked.checks > 0,
        "the program ran no checks:\n{}",
        checked.stdout
    );
    CHECKS.fetch_add(checked.checks, Ordering::Relaxed);
    checked.checks
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn api_test_covers_every_function() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/api_test.c"],
        &dir.path().join("api_test"),
        Build::Strict,
    );
    let n = counted(run(&exe, &[]));
    assert!(n > 300, "only {n} checks");
}

#[test]
fn api_test_is_clean_under_asan_and_ubsan() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/api_test.c"],
        &dir.path().join("api_test_asan"),
        Build::Sanitized,
    );
    counted(run(&exe, &[]));
}

#[test]
fn api_test_links_statically() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/api_test.c"],
        &dir.path().join("api_test_static"),
        Build::Static,
    );
    counted(run(&exe, &[]));
}

#[test]
fn api_test_is_clean_under_valgrind() {
    if !have_valgrind() {
        panic!("valgrind is not installed: scripts/test-all.sh installs it");
    }
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/api_test.c"],
        &dir.path().join("api_test_vg"),
        Build::Strict,
    );
    counted(run_valgrind(&exe, &[]));
}

#[test]
fn persistent_directory_reopens_and_locks() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/persist_test.c"],
        &dir.path().join("persist_test"),
        Build::Strict,
    );
    let db = dir.path().join("db");
    counted(run(&exe, &[db.to_str().unwrap()]));
    let asan = compile(
        &["ffi-tests/c/persist_test.c"],
        &dir.path().join("persist_asan"),
        Build::Sanitized,
    );
    let db2 = dir.path().join("db2");
    counted(run(&asan, &[db2.to_str().unwrap()]));
    let db3 = dir.path().join("db3");
    counted(run_valgrind(&exe, &[db3.to_str().unwrap()]));
}

/// Compiles `source` (a test taking a fresh directory argument) and runs it
/// plain, under ASan and UBSan, and under valgrind.
fn plain_asan_and_valgrind(source: &str) {
    let dir = tmp();
    let stem = source.trim_end_matches(".c");
    let source = format!("ffi-tests/c/{source}");
    let exe = compile(&[&source], &dir.path().join(stem), Build::Strict);
    counted(run(&exe, &[dir.path().join("plain").to_str().unwrap()]));
    let asan = compile(
        &[&source],
        &dir.path().join(format!("{stem}_asan")),
        Build::Sanitized,
    );
    counted(run(&asan, &[dir.path().join("asan").to_str().unwrap()]));
    counted(run_valgrind(
        &exe,
        &[dir.path().join("valgrind").to_str().unwrap()],
    ));
}

#[test]
fn backup_and_load_into_memory_plain_asan_and_valgrind() {
    plain_asan_and_valgrind("backup_test.c");
}

#[test]
fn change_streams_plain_asan_and_valgrind() {
    plain_asan_and_valgrind("watch_test.c");
}

#[test]
fn iterator_positions_survive_deletion_collection_and_moves() {
    plain_asan_and_valgrind("iter_churn_test.c");
}

#[test]
fn memory_limit_plain_asan_and_valgrind() {
    plain_asan_and_valgrind("memory_limit_test.c");
}

#[test]
fn multi_get_plain_asan_and_valgrind() {
    plain_asan_and_valgrind("multi_get_test.c");
}

#[test]
fn many_threads_share_one_handle() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/threads_test.c"],
        &dir.path().join("threads_test"),
        Build::Strict,
    );
    counted(run(&exe, &[]));
    let asan = compile(
        &["ffi-tests/c/threads_test.c"],
        &dir.path().join("threads_asan"),
        Build::Sanitized,
    );
    counted(run(&asan, &[]));
}

#[test]
fn many_threads_are_clean_under_valgrind() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/threads_test.c"],
        &dir.path().join("threads_vg"),
        Build::Strict,
    );
    counted(run_valgrind(&exe, &[]));
}

#[test]
fn derived_handles_outlive_close() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/outlive_test.c"],
        &dir.path().join("outlive"),
        Build::Strict,
    );
    counted(run(&exe, &[dir.path().join("a").to_str().unwrap()]));
    counted(run_valgrind(
        &exe,
        &[dir.path().join("b").to_str().unwrap()],
    ));
    let asan = compile(
        &["ffi-tests/c/outlive_test.c"],
        &dir.path().join("outlive_asan"),
        Build::Sanitized,
    );
    counted(run(&asan, &[dir.path().join("c").to_str().unwrap()]));
}

#[test]
fn transactions_through_the_c_api() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/txn_test.c"],
        &dir.path().join("txn"),
        Build::Strict,
    );
    counted(run(&exe, &[]));
    counted(run(&exe, &[dir.path().join("db").to_str().unwrap()]));
    let asan = compile(
        &["ffi-tests/c/txn_test.c"],
        &dir.path().join("txn_asan"),
        Build::Sanitized,
    );
    counted(run(&asan, &[]));
    counted(run(&asan, &[dir.path().join("db_asan").to_str().unwrap()]));
    // Valgrind runs one thread at a time: fewer transfers.
    counted(run_valgrind(&exe, &[":memory:", "10"]));
}

#[test]
fn secondary_indexes_through_the_c_api() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/index_test.c"],
        &dir.path().join("index"),
        Build::Strict,
    );
    counted(run(&exe, &[]));
    counted(run(&exe, &[dir.path().join("db").to_str().unwrap()]));
    let asan = compile(
        &["ffi-tests/c/index_test.c"],
        &dir.path().join("index_asan"),
        Build::Sanitized,
    );
    counted(run(&asan, &[dir.path().join("db_asan").to_str().unwrap()]));
    counted(run_valgrind(
        &exe,
        &[dir.path().join("db_vg").to_str().unwrap()],
    ));
}

#[test]
fn the_library_allocator_is_mimalloc_unless_the_environment_says_system() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/allocator_test.c"],
        &dir.path().join("allocator"),
        Build::Strict,
    );
    let db = dir.path().join("db");
    counted(run(&exe, &["mimalloc", db.to_str().unwrap()]));
    // Under valgrind the harness sets KVDB_ALLOCATOR=system.
    let db = dir.path().join("db_vg");
    counted(run_valgrind(&exe, &["system", db.to_str().unwrap()]));
}

#[test]
fn resident_memory_stays_within_the_limit_on_the_default_allocator() {
    // Alone in its process: the program measures its own resident memory.
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/memory_limit_rss_test.c"],
        &dir.path().join("memory_limit_rss"),
        Build::Strict,
    );
    let checked = run(&exe, &[]);
    eprintln!("{}", checked.stdout.trim());
    counted(checked);
}

#[test]
fn recovery_is_reported_to_c_callers() {
    let dir = tmp();
    for (name, build) in [
        ("recovery", Build::Strict),
        ("recovery_asan", Build::Sanitized),
    ] {
        let exe = compile(
            &["ffi-tests/c/recovery_test.c"],
            &dir.path().join(name),
            build,
        );
        let db = dir.path().join(format!("{name}_db"));
        counted(run(&exe, &[db.to_str().unwrap()]));
    }
    let exe = compile(
        &["ffi-tests/c/recovery_test.c"],
        &dir.path().join("recovery_vg"),
        Build::Strict,
    );
    counted(run_valgrind(
        &exe,
        &[dir.path().join("vg_db").to_str().unwrap()],
    ));
}

#[test]
fn a_forked_child_cannot_use_inherited_handles() {
    let dir = tmp();
    // The sanitized run opens without background threads: the fork-safety
    // of ASan's allocator is the reason (see fork_test.c).
    for (name, build, threads) in [
        ("fork", Build::Strict, None),
        ("fork_asan", Build::Sanitized, Some("no-threads")),
    ] {
        let exe = compile(&["ffi-tests/c/fork_test.c"], &dir.path().join(name), build);
        let db = dir.path().join(format!("{name}_db"));
        let own = dir.path().join(format!("{name}_own"));
        let mut args = vec![db.to_str().unwrap(), own.to_str().unwrap()];
        args.extend(threads);
        counted(run(&exe, &args));
    }
}

#[test]
fn cpp_wrapper_header_works_plain_and_under_asan() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/cpp/api_test.cpp"],
        &dir.path().join("api_test_cpp"),
        Build::Strict,
    );
    let plain_db = dir.path().join("plain_db");
    counted(run(&exe, &[plain_db.to_str().unwrap()]));
    let asan = compile(
        &["ffi-tests/cpp/api_test.cpp"],
        &dir.path().join("api_test_cpp_asan"),
        Build::Sanitized,
    );
    let asan_db = dir.path().join("asan_db");
    counted(run(&asan, &[asan_db.to_str().unwrap()]));
}

#[test]
fn host_dlopens_and_dlcloses_the_library_repeatedly() {
    let dir = tmp();
    let exe = compile(
        &["ffi-tests/c/dlopen_host.c"],
        &dir.path().join("dlopen_host"),
        Build::Host,
    );
    let lib = library().shared();
    let db = dir.path().join("db");
    counted(run(&exe, &[lib.to_str().unwrap(), db.to_str().unwrap()]));
    counted(run_valgrind(
        &exe,
        &[
            lib.to_str().unwrap(),
            dir.path().join("db2").to_str().unwrap(),
        ],
    ));
}

#[test]
fn plugin_linking_kvdb_is_loaded_by_a_host() {
    let dir = tmp();
    let plugin = compile(
        &["ffi-tests/c/plugin.c"],
        &dir.path().join("libplugin.so"),
        Build::Plugin,
    );
    let host = compile(
        &["ffi-tests/c/plugin_host.c"],
        &dir.path().join("plugin_host"),
        Build::Host,
    );
    let db = dir.path().join("db");
    counted(run(
        &host,
        &[plugin.to_str().unwrap(), db.to_str().unwrap()],
    ));
}

/// Runs last by name order within this binary only when asked: prints the
/// total of C-level checks of the tests that ran in this process.
#[test]
fn zz_report_check_count() {
    eprintln!(
        "C-level checks run by this process so far: {}",
        CHECKS.load(Ordering::Relaxed)
    );
}
