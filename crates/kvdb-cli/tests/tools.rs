//! `kvdb stats | dump | load | backup | restore` on database directories:
//! dump then load reproduces binary keys, values and expiry instants
//! exactly; backup then restore too; the read-only tools change no file.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::files;
use kvdb::{Db, Options};

fn kvdb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvdb"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Every live record with its absolute expiry, read without changing `dir`.
fn contents(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>, Option<u64>)> {
    let (db, _) = Db::open_in_memory_from(dir, Options::manual_maintenance()).unwrap();
    let mut cursor = db.cursor::<&[u8]>(..);
    cursor.seek_to_first();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (cursor.key(), cursor.value()) {
        out.push((k.to_vec(), v.to_vec(), cursor.expires_at()));
        cursor.next();
    }
    out
}

/// A database with binary keys and values, TTLs, a deleted key, and data
/// both in a snapshot and in the log after it.
fn sample(dir: &Path) {
    let db = Db::open(dir, Options::manual_maintenance()).unwrap();
    for i in 0..=255u8 {
        db.put(&[b'b', i, 0], &[i, 255 - i, b'\n']).unwrap();
    }
    db.put_with_ttl(b"lease", b"x", Duration::from_secs(3600))
        .unwrap();
    db.put("caf\u{e9}".as_bytes(), "th\u{e9}".as_bytes())
        .unwrap();
    db.checkpoint().unwrap();
    db.put_with_ttl(&[0xff, 0xfe], &[0], Duration::from_secs(7200))
        .unwrap();
    db.put(b"gone", b"x").unwrap();
    db.delete(b"gone").unwrap();
    db.put(b"", b"empty key").unwrap();
}

#[test]
fn dump_then_load_reproduces_keys_values_and_expiry_exactly() {
    let root = tempfile::tempdir().unwrap();
    let (src, dst) = (root.path().join("src"), root.path().join("dst"));
    sample(&src);
    let before = files(&src);
    let dump = ok(kvdb(&["dump", src.to_str().unwrap()]));
    assert_eq!(files(&src), before, "dump changed the directory");
    let text = String::from_utf8(dump.stdout).unwrap();
    assert_eq!(text.lines().count(), 256 + 4);
    assert!(text.contains("\"expires_at_ms\""), "{text}");
    let file = root.path().join("dump.jsonl");
    std::fs::write(&file, &text).unwrap();
    let load = ok(kvdb(&[
        "load",
        dst.to_str().unwrap(),
        file.to_str().unwrap(),
    ]));
    assert!(String::from_utf8_lossy(&load.stderr).contains("loaded 260 records"));
    let (a, b) = (contents(&src), contents(&dst));
    assert_eq!(a.len(), 260);
    assert_eq!(a, b, "the loaded database differs from the dumped one");
    assert!(a.iter().filter(|(_, _, at)| at.is_some()).count() == 2);
}

#[test]
fn load_reports_the_line_of_a_bad_record_and_skips_expired_ones() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("in.jsonl");
    std::fs::write(
        &file,
        "{\"key\": \"a\", \"value\": \"1\"}\n{\"key\": \"old\", \"value\": \"x\", \"expires_at_ms\": 1}\n{\"key\": 5, \"value\": \"1\"}\n",
    )
    .unwrap();
    let dir = root.path().join("db");
    let o = kvdb(&["load", dir.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 3"), "{err}");
    std::fs::write(&file, "{\"key\": \"a\", \"value\": {\"hex\": \"00ff\"}}\n{\"key\": \"old\", \"value\": \"x\", \"expires_at_ms\": 1}\n").unwrap();
    let o = ok(kvdb(&[
        "load",
        dir.to_str().unwrap(),
        file.to_str().unwrap(),
    ]));
    assert!(String::from_utf8_lossy(&o.stderr).contains("1 already expired"));
    assert_eq!(contents(&dir), vec![(b"a".to_vec(), vec![0, 0xff], None)]);
}

#[test]
fn backup_then_restore_reproduces_the_database() {
    let root = tempfile::tempdir().unwrap();
    let (src, copy, restored) = (
        root.path().join("src"),
        root.path().join("copy"),
        root.path().join("restored"),
    );
    sample(&src);
    let before = files(&src);
    ok(kvdb(&[
        "backup",
        src.to_str().unwrap(),
        copy.to_str().unwrap(),
    ]));
    assert_eq!(files(&src), before, "backup changed the source directory");
    ok(kvdb(&[
        "restore",
        copy.to_str().unwrap(),
        restored.to_str().unwrap(),
    ]));
    assert_eq!(contents(&src), contents(&restored));
    // Restoring over an existing database is refused.
    let o = kvdb(&["restore", copy.to_str().unwrap(), src.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
}

#[test]
fn stats_describes_a_directory_without_changing_it() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    sample(&src);
    let before = files(&src);
    let o = ok(kvdb(&["stats", src.to_str().unwrap(), "--format", "json"]));
    let stats: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(stats["live_keys"], serde_json::json!(260));
    assert_eq!(stats["snapshot_entries"], serde_json::json!(258));
    assert!(stats["files"].as_array().unwrap().len() >= 2);
    assert_eq!(files(&src), before);
}

#[test]
fn tools_refuse_a_missing_or_open_directory() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("missing");
    let o = kvdb(&["dump", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no database directory"));
    assert!(!missing.exists());
    let open = Db::open(root.path(), Options::manual_maintenance()).unwrap();
    let o = kvdb(&["stats", root.path().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("open"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    drop(open);
}
