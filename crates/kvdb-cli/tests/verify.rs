//! `kvdb verify` and `kvdb wal` on clean and damaged directories: each
//! damage the corruption tests make is reported with its file and offset,
//! a clean directory gets no output, and nothing is ever modified.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::files;
use kvdb::{Batch, Db, Options, SyncPolicy};

fn kvdb(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kvdb"))
        .args(args)
        .output()
        .unwrap()
}

fn named(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && !name.ends_with(".tmp")
        })
        .collect();
    paths.sort();
    paths
}

/// Two snapshots and log records after each; small segments so that the
/// log spans several.
fn database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Options::manual_maintenance();
    o.sync = SyncPolicy::Always;
    o.wal_segment_bytes = 4096;
    o.snapshots_to_keep = 2;
    let db = Db::open(dir.path(), o).unwrap();
    for round in 0..3u32 {
        for i in 0..40u32 {
            let mut b = Batch::new();
            b.put(format!("k{round}-{i}").as_bytes(), &[7u8; 64])
                .unwrap();
            b.delete(format!("k{round}-{}", i / 2).as_bytes()).unwrap();
            db.write(&b).unwrap();
        }
        if round < 2 {
            db.checkpoint().unwrap();
        }
    }
    dir
}

/// Runs verify; returns (sound, stdout) and checks nothing changed.
fn verify(dir: &Path) -> (bool, String) {
    let before = files(dir);
    let o = kvdb(&["verify", dir.to_str().unwrap()]);
    assert_eq!(files(dir), before, "verify modified the directory");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn flip(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_clean_directory_gets_no_output_and_status_zero() {
    let dir = database();
    assert_eq!(verify(dir.path()), (true, String::new()));
}

#[test]
fn a_flipped_byte_mid_log_is_reported_at_its_record() {
    let dir = database();
    let wal = kvdb(&["wal", dir.path().to_str().unwrap(), "--format", "json"]);
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&wal.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // A record in the middle of an older segment.
    let victim = records
        .iter()
        .find(|r| r["offset"].as_u64().unwrap() > 100)
        .unwrap();
    let segment = dir.path().join(victim["segment"].as_str().unwrap());
    let offset = victim["offset"].as_u64().unwrap();
    flip(&segment, offset + 20);
    let (sound, out) = verify(dir.path());
    assert!(!sound, "{out}");
    let expected = format!("{}:{offset}: error: checksum mismatch", segment.display());
    assert!(out.contains(&expected), "{out}\nexpected {expected}");
}

#[test]
fn a_torn_tail_of_the_newest_segment_is_a_note_not_an_error() {
    let dir = database();
    let newest = named(dir.path(), "wal-").pop().unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes.extend_from_slice(&[0x33; 11]);
    std::fs::write(&newest, bytes).unwrap();
    let (sound, out) = verify(dir.path());
    assert!(sound, "{out}");
    assert!(
        out.contains(&format!(
            "{}:{len}: note: incomplete record",
            newest.display()
        )),
        "{out}"
    );
}

#[test]
fn a_damaged_snapshot_is_reported_with_its_file() {
    let dir = database();
    let newest = named(dir.path(), "snap-").pop().unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    flip(&newest, len / 2);
    let (sound, out) = verify(dir.path());
    // The older snapshot and the log still cover it: the data is sound, but
    // the damaged file is reported.
    assert!(
        out.contains(&format!("{}:", newest.display())) && out.contains("snapshot damaged"),
        "{out}"
    );
    assert!(!sound, "a damaged snapshot file counts as an error: {out}");
}

#[test]
fn a_damaged_sole_snapshot_and_a_deleted_segment_are_errors() {
    let dir = database();
    let segments = named(dir.path(), "wal-");
    std::fs::remove_file(&segments[segments.len() - 2]).unwrap();
    let (sound, out) = verify(dir.path());
    assert!(!sound);
    assert!(out.contains("the log has a hole"), "{out}");
    assert!(out.contains("does not open"), "{out}");

    let dir = database();
    for snap in named(dir.path(), "snap-") {
        std::fs::write(&snap, b"not a snapshot").unwrap();
    }
    let (sound, out) = verify(dir.path());
    assert!(!sound);
    assert!(out.contains(":0: error: snapshot damaged"), "{out}");
}

#[test]
fn a_damaged_segment_header_is_reported_at_offset_zero() {
    let dir = database();
    let first = named(dir.path(), "wal-").remove(0);
    flip(&first, 3);
    let (sound, out) = verify(dir.path());
    assert!(!sound);
    assert!(
        out.contains(&format!(
            "{}:0: error: log segment header damaged",
            first.display()
        )),
        "{out}"
    );
}

#[test]
fn wal_lists_every_record_with_its_operations() {
    let dir = database();
    let o = kvdb(&["wal", dir.path().to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success());
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!records.is_empty());
    for pair in records.windows(2) {
        // Each batch holds a put and a delete: two sequence numbers.
        assert_eq!(
            pair[1]["seq"].as_u64().unwrap(),
            pair[0]["seq"].as_u64().unwrap() + 2
        );
    }
    assert!(records.iter().all(|r| r["puts"] == 1 && r["deletes"] == 1));
    let table = kvdb(&["wal", dir.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains(&format!("({} records)", records.len())),
        "{text}"
    );
}
