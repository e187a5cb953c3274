//! Every system the driver can open in-process stores, returns, deletes
//! and scans exactly what it is given, so no figure in RESULTS.md comes
//! from an adapter that quietly misses (Redis, a separate server, is
//! exercised only by the driver itself).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{Kind, Mode, Op, System};
use crate::Env;
use crate::keys::{Zipfian, key, value};

const KEYS: u64 = 300;
const KEY_LEN: usize = 16;

/// The value stored for record `i`: mostly 100 bytes, every 50th one
/// larger than the C adapter's first buffer, and record 7 empty.
fn value_of(i: u64, round: u64) -> Vec<u8> {
    let len = match i {
        7 => 0,
        i if i % 50 == 0 => 5_000,
        _ => 100,
    };
    value(i * 31 + round, len)
}

/// Builds libkvdb.so (this test's profile) once and returns its path.
fn ffi_lib() -> &'static PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .to_path_buf();
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "-p", "kvdb-ffi"]).current_dir(&root);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building kvdb-ffi failed");
        // This test executable lives in target/<profile>/deps.
        let exe = std::env::current_exe().expect("test executable");
        let lib = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>")
            .join("libkvdb.so");
        assert!(lib.exists(), "no {}", lib.display());
        lib
    })
}

fn env(data_dir: PathBuf) -> Env {
    Env {
        records: KEYS,
        key_len: KEY_LEN,
        load_order: (0..KEYS).collect(),
        values: vec![value(1, 100)],
        zipf: Zipfian::new(KEYS, 0.99),
        duration: Duration::from_millis(10),
        seed: 1,
        ffi_lib: ffi_lib().clone(),
        redis_server: PathBuf::from("redis-server"),
        data_dir,
    }
}

fn get(system: &dyn System, k: &[u8]) -> Option<Vec<u8>> {
    let mut out = b"stale".to_vec();
    system.get(k, &mut out).then_some(out)
}

/// A short description of a value for failure messages (some are 5,000
/// bytes).
fn summary(v: Option<&Vec<u8>>) -> String {
    match v {
        None => "absent".to_owned(),
        Some(v) => format!("{} bytes starting {:?}", v.len(), &v[..v.len().min(8)]),
    }
}

/// Asserts that `key` reads as `expected` (`None`: absent).
fn expect(system: &dyn System, key: &[u8], expected: Option<&Vec<u8>>, what: &str) {
    let got = get(system, key);
    assert!(
        got.as_ref() == expected,
        "{what}: got {}, expected {}",
        summary(got.as_ref()),
        summary(expected)
    );
}

/// The checks one opened system must pass.
fn conforms(name: &str, ordered: bool, system: &dyn System) {
    for i in 0..KEYS {
        system.put(&key(i, KEY_LEN), &value_of(i, 0));
    }
    for i in 0..KEYS {
        let what = format!("{name}: get of record {i}");
        expect(system, &key(i, KEY_LEN), Some(&value_of(i, 0)), &what);
    }
    expect(
        system,
        &key(KEYS, KEY_LEN),
        None,
        &format!("{name}: absent key"),
    );

    system.put(&key(3, KEY_LEN), &value_of(3, 1));
    let what = format!("{name}: overwrite");
    expect(system, &key(3, KEY_LEN), Some(&value_of(3, 1)), &what);

    assert!(system.delete(&key(4, KEY_LEN)), "{name}: delete present");
    assert!(!system.delete(&key(4, KEY_LEN)), "{name}: delete absent");
    expect(system, &key(4, KEY_LEN), None, &format!("{name}: deleted"));

    // A group: write a new key, read-modify-write another, delete a third.
    let (new, rmw, gone) = (key(KEYS + 1, KEY_LEN), key(5, KEY_LEN), key(6, KEY_LEN));
    let (v_new, v_rmw) = (value_of(KEYS + 1, 0), value_of(5, 2));
    let ops = [
        Op::Put(&new, &v_new),
        Op::Get(&new),
        Op::ReadModifyWrite(&rmw, &v_rmw),
        Op::Delete(&gone),
        Op::Scan(&new, 3),
    ];
    system.run(&ops, &mut Vec::new());
    expect(system, &new, Some(&v_new), &format!("{name}: run put"));
    expect(system, &rmw, Some(&v_rmw), &format!("{name}: run rmw"));
    expect(system, &gone, None, &format!("{name}: run delete"));

    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (KEYS + 10..KEYS + 20)
        .map(|i| (key(i, KEY_LEN), value_of(i, 0)))
        .collect();
    let borrowed: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    system.load_batch(&borrowed);
    system.flush();
    for (k, v) in &pairs {
        expect(system, k, Some(v), &format!("{name}: load_batch"));
    }

    // What is live now, in key order.
    let mut live: Vec<(Vec<u8>, Vec<u8>)> = (0..KEYS + 20)
        .filter_map(|i| get(system, &key(i, KEY_LEN)).map(|v| (key(i, KEY_LEN), v)))
        .collect();
    live.sort();
    let mut out = Vec::new();
    let scanned = system.scan(&live[10].0, 25, &mut out);
    if ordered {
        assert_eq!(scanned, Some(25), "{name}: scan count");
        assert!(out == live[34].1, "{name}: scan ends on the 25th entry");
        let all = system.scan(b"", usize::MAX, &mut out);
        assert_eq!(all, Some(live.len()), "{name}: full scan count");
        assert!(out == live[live.len() - 1].1, "{name}: full scan ends last");
        let stepped = system.scan_steps(&live[10].0, 25, &mut out);
        assert_eq!(stepped, Some(25), "{name}: stepped scan count");
        assert!(
            out == live[34].1,
            "{name}: stepped scan ends on the 25th entry"
        );
        let all = system.scan_steps(b"", usize::MAX, &mut out);
        assert_eq!(all, Some(live.len()), "{name}: full stepped scan count");
        assert!(
            out == live[live.len() - 1].1,
            "{name}: full stepped scan ends last"
        );
        let back = system.scan_back(&live[34].0, 25, &mut out);
        assert_eq!(back, Some(25), "{name}: backward scan count");
        assert!(
            out == live[10].1,
            "{name}: a backward scan ends on the 25th entry down"
        );
        let mut past_last = live[live.len() - 1].0.clone();
        past_last.push(0);
        let all = system.scan_back(&past_last, usize::MAX, &mut out);
        assert_eq!(all, Some(live.len()), "{name}: full backward scan count");
        assert!(out == live[0].1, "{name}: a full backward scan ends first");
    } else {
        assert_eq!(scanned, None, "{name}: unordered store cannot scan");
    }
}

#[test]
fn every_in_process_system_stores_returns_deletes_and_scans_exactly() {
    let mut checked = Vec::new();
    for kind in Kind::ALL {
        if !kind.available() || kind == Kind::Redis {
            continue;
        }
        let modes: &[Mode] = if kind.durable() {
            &[Mode::Memory, Mode::Durable]
        } else {
            &[Mode::Memory]
        };
        for &mode in modes {
            let dir = tempfile::tempdir().expect("temp dir");
            let env = env(dir.path().to_path_buf());
            let system = kind.open(mode, dir.path(), &env);
            let name = format!("{} ({mode:?})", kind.name());
            conforms(&name, kind != Kind::HashMap, system.as_ref());
            checked.push(name);
        }
    }
    // kvdb (both modes), kvdb through the C ABI, SkipMap, BTreeMap, HashMap
    // at least; the peers when their features are on.
    assert!(checked.len() >= 6, "checked only {checked:?}");
}
