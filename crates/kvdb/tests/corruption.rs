//! Damaged files on disk, each with its documented outcome: a torn or
//! garbage log tail is cut off and reported; a damaged or missing newest
//! snapshot is passed over for an older one; damage that would lose writes
//! (mid-log corruption, a hole in the log, a future format) is a corruption
//! error. Never a panic, never wrong data.

use std::path::Path;

use kvdb::{Db, ErrorKind, Options, RecoveryMode};

/// No background work, and checkpoints remove every log segment their
/// snapshot covers (these tests damage what is left after truncation).
fn quiet() -> Options {
    let mut options = Options::manual_maintenance();
    options.watch_log_retention_bytes = 0;
    options
}

mod common;
use common::files;

fn modify(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// A database with `batches` batches of 10 keys each ("b<n>/<i>" = n), all in
/// the log, closed.
fn logged_db(batches: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    write_batches(&db, 0..batches);
    db.close().unwrap();
    dir
}

fn write_batches(db: &Db, range: std::ops::Range<u32>) {
    for n in range {
        let mut batch = kvdb::Batch::new();
        for i in 0..10 {
            batch
                .put(format!("b{n:04}/{i}").as_bytes(), &n.to_be_bytes())
                .unwrap();
        }
        db.write(&batch).unwrap();
    }
}

/// Which batches are present; fails if any batch is partial or wrong.
fn whole_batches(db: &Db) -> Vec<u32> {
    let mut counts = std::collections::BTreeMap::new();
    for (k, v) in db.prefix(b"b") {
        let n: u32 = std::str::from_utf8(&k[1..5]).unwrap().parse().unwrap();
        assert_eq!(
            v,
            n.to_be_bytes(),
            "wrong value under {}",
            String::from_utf8_lossy(&k)
        );
        *counts.entry(n).or_insert(0) += 1;
    }
    for (n, c) in &counts {
        assert_eq!(*c, 10, "batch {n} is partial");
    }
    counts.into_keys().collect()
}

#[test]
fn a_log_cut_mid_record_loses_only_the_torn_batch() {
    let dir = logged_db(20);
    let wal = files(dir.path(), ".log").pop().unwrap();
    modify(&wal, |b| b.truncate(b.len() - 7));
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(whole_batches(&db), (0..19).collect::<Vec<_>>());
    let torn = db.recovery_report().unwrap().torn_tail.clone().unwrap();
    assert_eq!(torn.segment, wal);
    assert!(torn.dropped_bytes > 0);
    db.close().unwrap();
    // The repair is durable: the next open finds a clean log.
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(db.recovery_report().unwrap().torn_tail, None);
    assert_eq!(whole_batches(&db).len(), 19);
}

#[test]
fn garbage_appended_to_the_log_is_cut_off() {
    let dir = logged_db(5);
    let wal = files(dir.path(), ".log").pop().unwrap();
    modify(&wal, |b| {
        b.extend((0..1000u32).map(|i| (i * 7919 % 256) as u8))
    });
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(whole_batches(&db), (0..5).collect::<Vec<_>>());
    assert_eq!(
        db.recovery_report()
            .unwrap()
            .torn_tail
            .as_ref()
            .unwrap()
            .dropped_bytes,
        1000
    );
}

#[test]
fn a_flipped_bit_mid_log_is_a_corruption_error_or_a_point_in_time_prefix() {
    let dir = logged_db(20);
    let wal = files(dir.path(), ".log").pop().unwrap();
    let len = std::fs::metadata(&wal).unwrap().len() as usize;
    modify(&wal, |b| b[len / 2] ^= 0x04);
    for mode in [
        RecoveryMode::TolerateCorruptTail,
        RecoveryMode::AbsoluteConsistency,
    ] {
        let mut options = quiet();
        options.recovery = mode;
        let err = Db::open(dir.path(), options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corruption, "{mode:?}: {err}");
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
    let mut options = quiet();
    options.recovery = RecoveryMode::PointInTime;
    let db = Db::open(dir.path(), options).unwrap();
    let present = whole_batches(&db);
    assert!(!present.is_empty() && present.len() < 20);
    assert_eq!(
        present,
        (0..present.len() as u32).collect::<Vec<_>>(),
        "a prefix of batches"
    );
}

#[test]
fn random_bit_flips_in_the_log_never_yield_wrong_data() {
    for seed in 0..40u64 {
        let dir = logged_db(8);
        let wal = files(dir.path(), ".log").pop().unwrap();
        let len = std::fs::metadata(&wal).unwrap().len();
        let at = (seed * 2_654_435_761 % len) as usize;
        modify(&wal, |b| b[at] ^= 1 << (seed % 8));
        for mode in [RecoveryMode::TolerateCorruptTail, RecoveryMode::PointInTime] {
            let mut options = quiet();
            options.recovery = mode;
            match Db::open(dir.path(), options) {
                Ok(db) => {
                    let present = whole_batches(&db);
                    assert_eq!(present, (0..present.len() as u32).collect::<Vec<_>>());
                }
                Err(e) => assert_eq!(e.kind(), ErrorKind::Corruption, "seed {seed}: {e}"),
            }
        }
    }
}

fn two_snapshots() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    write_batches(&db, 0..10);
    db.checkpoint().unwrap();
    write_batches(&db, 10..20);
    db.checkpoint().unwrap();
    write_batches(&db, 20..25);
    db.close().unwrap();
    assert_eq!(files(dir.path(), ".kvs").len(), 2);
    dir
}

#[test]
fn a_deleted_newest_snapshot_falls_back_to_the_older_one() {
    let dir = two_snapshots();
    std::fs::remove_file(files(dir.path(), ".kvs").pop().unwrap()).unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(
        whole_batches(&db),
        (0..25).collect::<Vec<_>>(),
        "the log since the older snapshot was kept"
    );
}

#[test]
fn a_damaged_newest_snapshot_is_reported_and_passed_over() {
    let dir = two_snapshots();
    let newest = files(dir.path(), ".kvs").pop().unwrap();
    modify(&newest, |b| {
        let at = b.len() / 2;
        b[at] ^= 0x80;
    });
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(whole_batches(&db), (0..25).collect::<Vec<_>>());
    let report = db.recovery_report().unwrap();
    assert_eq!(report.snapshots_rejected.len(), 1);
    assert!(
        report.snapshots_rejected[0].contains("checksum"),
        "{:?}",
        report.snapshots_rejected
    );
    assert!(report.snapshot_seq.is_some());
}

#[test]
fn damage_in_a_log_segment_the_snapshot_covers_does_not_stop_an_open() {
    // Segments the snapshot covers are kept for change streams; recovery
    // needs nothing from them, so it does not read them.
    let dir = tempfile::tempdir().unwrap();
    let mut options = quiet();
    options.wal_segment_bytes = 4096;
    options.watch_log_retention_bytes = 1 << 20;
    let db = Db::open(dir.path(), options.clone()).unwrap();
    write_batches(&db, 0..40);
    db.checkpoint().unwrap();
    write_batches(&db, 40..45);
    db.close().unwrap();
    let logs = files(dir.path(), ".log");
    assert!(logs.len() >= 4, "{logs:?}");
    modify(&logs[1], |b| {
        let at = b.len() - 3;
        b[at] ^= 0x80;
    });
    let db = Db::open(dir.path(), options).unwrap();
    assert_eq!(whole_batches(&db), (0..45).collect::<Vec<_>>());
    let report = db.recovery_report().unwrap();
    assert!(report.wal_segments_skipped >= 2, "{report:?}");
    assert!(!report.repaired(), "{report:?}");
}

#[test]
fn losing_every_snapshot_after_the_log_was_truncated_is_an_error_not_silent_loss() {
    let dir = two_snapshots();
    for s in files(dir.path(), ".kvs") {
        std::fs::remove_file(s).unwrap();
    }
    let err = Db::open(dir.path(), quiet()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption);
    assert!(err.to_string().contains("hole"), "{err}");
}

#[test]
fn wrong_magic_and_future_versions_are_corruption_errors() {
    let dir = logged_db(3);
    let db = Db::open(dir.path(), quiet()).unwrap();
    write_batches(&db, 3..6);
    db.close().unwrap();
    let oldest = files(dir.path(), ".log").remove(0);
    modify(&oldest, |b| b[0] = b'Z');
    let err = Db::open(dir.path(), quiet()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
    modify(&oldest, |b| {
        b[0] = b'K';
        b[8..12].copy_from_slice(&7u32.to_le_bytes());
        let crc = crc32fast::hash(&b[..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
    });
    let err = Db::open(dir.path(), quiet()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption);
    assert!(err.to_string().contains("format version 7"), "{err}");

    let dir = two_snapshots();
    for s in files(dir.path(), ".kvs") {
        modify(&s, |b| {
            b[8..12].copy_from_slice(&3u32.to_le_bytes());
            let crc = crc32fast::hash(&b[..60]);
            b[60..64].copy_from_slice(&crc.to_le_bytes());
        });
    }
    // Both snapshots are from the future: the log alone has a hole.
    let err = Db::open(dir.path(), quiet()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corruption, "{err}");
}

#[test]
fn leftover_temporary_snapshot_files_are_removed() {
    let dir = logged_db(2);
    let tmp = dir.path().join("snap-00000000000000000099.kvs.tmp");
    std::fs::write(&tmp, b"half a snapshot").unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert!(!tmp.exists());
    assert_eq!(whole_batches(&db), vec![0, 1]);
}
