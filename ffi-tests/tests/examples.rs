//! The C examples newcomers copy from compile under the strict flags, run
//! cleanly (also under AddressSanitizer and UndefinedBehaviorSanitizer) and
//! print what their comments promise.

mod harness;

use harness::{Build, compile};
use std::process::Command;

fn run_example(name: &str, build: Build, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(
        &[&format!("examples-c/{name}.c")],
        &dir.path().join(name),
        build,
    );
    let output = Command::new(&exe)
        .args(args)
        .current_dir(dir.path())
        .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
        .env("UBSAN_OPTIONS", "halt_on_error=1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} ({build:?}) failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn every_example_runs_and_says_what_it_should() {
    let expectations: [(&str, &[&str]); 9] = [
        (
            "quickstart",
            &[
                "user:1 = ada lovelace",
                "12 bytes needed",
                "visits = 3",
                "get user:1 again: not found",
            ],
        ),
        ("persistent", &["has run 1 time(s)"]),
        (
            "ttl",
            &[
                "otp after 80 ms: not found",
                "worker-2 takes the lock: key exists",
            ],
        ),
        ("batch", &["alice 70, bob 80, total 150"]),
        (
            "iterate",
            &[
                "fruit:cherry = 1",
                "veg:carrot = 2",
                "last key at or before fruit:c:\n  fruit:banana = 1",
                "  batch: fruit:apple fruit:banana fruit:cherry\n  batch: fruit:date veg:carrot\n",
            ],
        ),
        ("transfer", &["4000 transfers, total 500"]),
        (
            "indexes",
            &[
                "dept eng:\n  emp:001 ada    eng      5200\n  emp:003 cy     eng      70000\n",
                "highest first:\n  emp:001 ada    eng      5200\n  emp:004 dee    sales    4100\n",
                "hire eve with badge 1002: constraint violated",
                "badge 1003 is emp:003 (cy)",
            ],
        ),
        (
            "watch",
            &[
                "seq 1: price:apple = 1.20\n",
                "seq 3: price:apple = 1.10 (batch continues)\nseq 4: price:pear = 2.00\n",
                "seq 5: price:pear deleted\n",
            ],
        ),
        (
            "snapshot",
            &[
                "snapshot sees config = v1",
                "database has config = v2",
                "the snapshot holds 1 key(s)",
            ],
        ),
    ];
    for (name, lines) in expectations {
        for build in [Build::Strict, Build::Sanitized] {
            let out = run_example(name, build, &[]);
            for line in lines {
                assert!(
                    out.contains(line),
                    "{name} ({build:?}) did not print {line:?}:\n{out}"
                );
            }
        }
    }
}

#[test]
fn persistent_example_counts_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for n in 1..=3 {
        let out = run_example("persistent", Build::Strict, &[data]);
        assert!(out.contains(&format!("has run {n} time(s)")), "{out}");
    }
}
