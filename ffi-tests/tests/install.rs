//! `make install` into a temporary prefix puts the header, both libraries
//! with their SONAME links and kvdb.pc in place, and a program builds with
//! `cc quickstart.c $(pkg-config --cflags --libs kvdb)` and runs.

mod harness;

use std::process::Command;

use harness::library;

fn sh(cmd: &str, env: &[(&str, &str)]) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`{cmd}` failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn install_then_build_with_pkg_config() {
    let lib = library();
    let prefix = tempfile::tempdir().unwrap();
    let p = prefix.path().to_str().unwrap();
    let profile = env!("KVDB_FFI_PROFILE");
    sh(
        &format!(
            "make -s -C '{}' install PREFIX='{p}' PROFILE={profile}",
            lib.root.display()
        ),
        &[],
    );

    for file in [
        "include/kvdb.h",
        "lib/libkvdb.so.0.1.0",
        "lib/libkvdb.a",
        "lib/pkgconfig/kvdb.pc",
    ] {
        assert!(
            prefix.path().join(file).is_file(),
            "{file} was not installed"
        );
    }
    assert_eq!(
        std::fs::read_link(prefix.path().join("lib/libkvdb.so.0"))
            .unwrap()
            .to_str(),
        Some("libkvdb.so.0.1.0")
    );
    assert_eq!(
        std::fs::read_link(prefix.path().join("lib/libkvdb.so"))
            .unwrap()
            .to_str(),
        Some("libkvdb.so.0")
    );
    let soname = sh(&format!("readelf -d '{p}/lib/libkvdb.so.0.1.0'"), &[]);
    assert!(
        soname.contains("Library soname: [libkvdb.so.0]"),
        "{soname}"
    );

    let pc_path = format!("{p}/lib/pkgconfig");
    let env = [("PKG_CONFIG_PATH", pc_path.as_str())];
    assert_eq!(sh("pkg-config --modversion kvdb", &env).trim(), "0.1.0");
    let exe = format!("{p}/quickstart");
    sh(
        &format!(
            "cc '{}/examples-c/quickstart.c' $(pkg-config --cflags --libs kvdb) -o '{exe}'",
            lib.root.display()
        ),
        &env,
    );
    let lib_dir = format!("{p}/lib");
    let out = sh(
        &format!("'{exe}'"),
        &[("LD_LIBRARY_PATH", lib_dir.as_str())],
    );
    assert!(out.contains("user:1 = ada lovelace"), "{out}");

    // Static linking against the installed archive works too.
    let static_exe = format!("{p}/quickstart_static");
    sh(
        &format!(
            "cc '{}/examples-c/quickstart.c' $(pkg-config --cflags kvdb) '{p}/lib/libkvdb.a' $(pkg-config --static --libs-only-l kvdb | sed 's/-lkvdb//') -o '{static_exe}'",
            lib.root.display()
        ),
        &env,
    );
    assert!(sh(&format!("'{static_exe}'"), &[]).contains("visits = 3"));

    sh(
        &format!("make -s -C '{}' uninstall PREFIX='{p}'", lib.root.display()),
        &[],
    );
    assert!(!prefix.path().join("include/kvdb.h").exists());
    assert!(!prefix.path().join("lib/libkvdb.so").exists());
}
