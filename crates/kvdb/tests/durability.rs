//! Durability of a database opened on a directory: reopening, the directory
//! lock, checkpoints, expiry across restarts, and in-memory mode touching no
//! file.

use std::sync::Arc;
use std::time::Duration;

use kvdb::vfs::{SimFs, Vfs};
use kvdb::{Batch, Db, ErrorKind, ManualClock, Options, SyncPolicy};

fn quiet() -> Options {
    Options::manual_maintenance()
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    db.put(b"a", b"1").unwrap();
    let mut batch = Batch::new();
    batch.put(b"b", b"2").unwrap();
    batch.put(b"c", b"3").unwrap();
    batch.delete(b"a").unwrap();
    db.write(&batch).unwrap();
    db.put_with_ttl(b"t", b"later", Duration::from_secs(3600))
        .unwrap();
    assert_eq!(db.increment(b"n", 41).unwrap(), 41);
    db.close().unwrap();

    let db = Db::open(dir.path(), quiet()).unwrap();
    let all: Vec<_> = db.iter().collect();
    assert_eq!(
        all,
        vec![
            (b"b".to_vec(), b"2".to_vec()),
            (b"c".to_vec(), b"3".to_vec()),
            (b"n".to_vec(), b"41".to_vec()),
            (b"t".to_vec(), b"later".to_vec()),
        ]
    );
    assert!(matches!(db.ttl(b"t").unwrap(), Some(kvdb::Ttl::Expires(_))));
    let report = db.recovery_report().unwrap();
    assert_eq!(report.wal_records_applied, 4);
    assert_eq!(report.torn_tail, None);
    assert_eq!(
        db.increment(b"n", 1).unwrap(),
        42,
        "writes continue after recovery"
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_locked_until_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    let err = Db::open(dir.path(), quiet()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked);
    assert!(err.to_string().contains("locked"), "{err}");
    db.close().unwrap();
    Db::open(dir.path(), quiet()).unwrap();
}

#[test]
fn dropping_without_close_also_releases_the_lock_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), quiet()).unwrap();
        db.put(b"k", b"v").unwrap();
    }
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn checkpoints_keep_covered_log_up_to_the_watch_retention_and_recovery_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quiet();
    options.wal_segment_bytes = 64 * 1024;
    options.snapshots_to_keep = 1;
    options.watch_log_retention_bytes = 200 * 1024;
    let db = Db::open(dir.path(), options.clone()).unwrap();
    for k in 0..5000u32 {
        db.put(&k.to_be_bytes(), &[7; 100]).unwrap();
    }
    let report = db.checkpoint().unwrap();
    assert!(report.wal_segments_removed > 0, "{report:?}");
    // Whole segments: the budget is reached, passed by less than one.
    assert!(
        (200 * 1024..(200 + 64 + 1) * 1024).contains(&report.wal_bytes_after),
        "{report:?}"
    );
    db.put(b"after", b"checkpoint").unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), options).unwrap();
    let recovered = db.recovery_report().unwrap().clone();
    assert_eq!(recovered.wal_records_applied, 1);
    // The kept segments the snapshot covers are not read at all; records
    // are skipped one by one only in the segment the snapshot ends in.
    assert!(recovered.wal_segments_skipped >= 3, "{recovered:?}");
    assert!(recovered.wal_records_skipped < 1000, "{recovered:?}");
    assert_eq!(db.get(b"after").unwrap(), Some(b"checkpoint".to_vec()));
}

#[test]
fn checkpoints_shrink_the_log_and_recovery_starts_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quiet();
    options.wal_segment_bytes = 64 * 1024;
    options.snapshots_to_keep = 1;
    options.watch_log_retention_bytes = 0;
    let db = Db::open(dir.path(), options.clone()).unwrap();
    for round in 0..5u32 {
        for k in 0..1000u32 {
            db.put(&k.to_be_bytes(), &[round as u8; 100]).unwrap();
        }
    }
    let before = db.durability_stats().unwrap();
    assert!(before.wal_segments > 5, "{before:?}");
    let report = db.checkpoint().unwrap();
    assert!(report.wrote_snapshot);
    assert_eq!(report.entries, 1000);
    assert!(report.wal_segments_removed >= before.wal_segments - 1);
    let after = db.durability_stats().unwrap();
    assert!(
        after.wal_bytes < before.wal_bytes / 10,
        "{} -> {}",
        before.wal_bytes,
        after.wal_bytes
    );
    assert_eq!(after.checkpoints, 1);
    db.put(b"after", b"checkpoint").unwrap();
    db.close().unwrap();

    let db = Db::open(dir.path(), options).unwrap();
    let report = db.recovery_report().unwrap().clone();
    assert_eq!(report.snapshot_entries, 1000);
    assert_eq!(
        report.wal_records_applied, 1,
        "only the write after the checkpoint"
    );
    assert_eq!(db.get(&7u32.to_be_bytes()).unwrap(), Some(vec![4; 100]));
    assert_eq!(db.get(b"after").unwrap(), Some(b"checkpoint".to_vec()));
    assert_eq!(db.iter().count(), 1001);
}

#[test]
fn a_checkpoint_without_new_writes_writes_no_second_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    db.put(b"k", b"v").unwrap();
    assert!(db.checkpoint().unwrap().wrote_snapshot);
    assert!(!db.checkpoint().unwrap().wrote_snapshot);
}

#[test]
fn background_checkpoints_run_when_the_log_grows() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = quiet();
    options.checkpoint_after_wal_bytes = Some(256 * 1024);
    options.checkpoint_check_interval = Duration::from_millis(10);
    options.wal_segment_bytes = 64 * 1024;
    options.sync = SyncPolicy::Never;
    let db = Db::open(dir.path(), options).unwrap();
    for k in 0..20_000u32 {
        db.put(&k.to_be_bytes(), &[1; 100]).unwrap();
    }
    let started = std::time::Instant::now();
    while db.durability_stats().unwrap().checkpoints == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no background checkpoint"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = db.durability_stats().unwrap();
    assert_eq!(stats.background_errors, 0, "{stats:?}");
    db.close().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(db.iter().count(), 20_000);
    assert!(db.recovery_report().unwrap().snapshot_seq.is_some());
}

/// The background checkpoint thread asks how much log has grown since the
/// last checkpoint while manual checkpoints run: it must never see the last
/// checkpoint ahead of the log, fail or stop.
#[test]
fn background_checkpoints_race_manual_ones_without_failing() {
    let mut options = quiet();
    // The simulated file system: checkpoints take microseconds, so many race.
    options.vfs = Arc::new(SimFs::new());
    options.checkpoint_after_wal_bytes = Some(1);
    options.checkpoint_check_interval = Duration::from_millis(1);
    options.sync = SyncPolicy::Never;
    // Each checkpoint starts a log segment: keep none it covers.
    options.watch_log_retention_bytes = 0;
    let db = Db::open("/db", options).unwrap();
    for k in 0..5000u32 {
        // A few keys: each checkpoint writes a small snapshot.
        db.put(&(k % 8).to_be_bytes(), &k.to_be_bytes()).unwrap();
        db.checkpoint().unwrap();
    }
    let stats = db.durability_stats().unwrap();
    assert_eq!(stats.background_errors, 0, "{stats:?}");
    db.close().expect("no background thread failed or panicked");
}

#[test]
fn expired_keys_are_not_resurrected_by_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut options = quiet();
    options.clock = clock.clone();
    let db = Db::open(dir.path(), options.clone()).unwrap();
    db.put_with_ttl(b"in-snapshot", b"x", Duration::from_millis(100))
        .unwrap();
    db.checkpoint().unwrap();
    db.put_with_ttl(b"in-log", b"y", Duration::from_millis(100))
        .unwrap();
    db.put(b"kept", b"z").unwrap();
    db.close().unwrap();
    clock.advance(101);
    let db = Db::open(dir.path(), options).unwrap();
    assert_eq!(db.get(b"in-snapshot").unwrap(), None);
    assert_eq!(db.get(b"in-log").unwrap(), None);
    assert_eq!(
        db.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        vec![b"kept".to_vec()]
    );
    // ... and the expiry cycle deletes them, garbage collection frees them.
    while db.expire_cycle().reclaimed > 0 {}
    db.collect_garbage(usize::MAX);
    assert_eq!(db.stats().keys_held, 1);
}

#[test]
fn in_memory_mode_touches_no_file() {
    let fs = Arc::new(SimFs::new());
    for path in [None, Some(":memory:")] {
        let mut options = Options::default();
        options.vfs = fs.clone();
        let db = match path {
            None => Db::in_memory_with(options).unwrap(),
            Some(p) => Db::open(p, options).unwrap(),
        };
        db.put(b"k", b"v").unwrap();
        db.put_with_ttl(b"t", b"v", Duration::from_secs(1)).unwrap();
        db.sync().unwrap();
        assert!(!db.checkpoint().unwrap().wrote_snapshot);
        assert!(db.recovery_report().is_none());
        assert!(db.durability_stats().is_none());
        db.close().unwrap();
    }
    assert_eq!(fs.writes(), 0);
    assert_eq!(fs.syncs(), 0);
    assert!(
        fs.list(std::path::Path::new("/")).is_err(),
        "not even a directory was made"
    );
}

#[test]
fn bad_options_and_paths_are_rejected() {
    let mut options = quiet();
    options.sync = SyncPolicy::Interval(Duration::ZERO);
    assert_eq!(
        Db::in_memory_with(options).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        Db::open("", quiet()).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    assert_eq!(
        Db::open(file.path(), quiet()).unwrap_err().kind(),
        ErrorKind::InvalidArgument,
        "a bad path, as the C API says"
    );
}

#[test]
fn interval_policy_syncs_in_the_background() {
    let fs = Arc::new(SimFs::new());
    let mut options = quiet();
    options.vfs = fs.clone();
    options.sync = SyncPolicy::Interval(Duration::from_millis(5));
    let db = Db::open("/db", options).unwrap();
    let syncs = fs.syncs();
    db.put(b"k", b"v").unwrap();
    assert_eq!(
        db.get(b"k").unwrap(),
        Some(b"v".to_vec()),
        "visible before any sync"
    );
    let started = std::time::Instant::now();
    while fs.syncs() == syncs {
        assert!(started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(1));
    }
    let image = fs.crash(kvdb::vfs::CrashOptions {
        torn_tails: false,
        seed: 1,
    });
    db.close().unwrap();
    let mut options = quiet();
    options.vfs = Arc::new(image);
    let db = Db::open("/db", options).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn group_commit_shares_syncs_across_sixteen_writers() {
    let fs = Arc::new(SimFs::new());
    // Syncs that take no time leave nothing to share whenever the scheduler
    // runs the writers one after another; a disk's flush takes a while.
    fs.set_sync_delay(Duration::from_millis(1));
    let mut options = quiet();
    options.vfs = fs.clone();
    let db = Arc::new(Db::open("/db", options).unwrap());
    let syncs = fs.syncs();
    let handles: Vec<_> = (0..16u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..200u32 {
                    db.put(&[t.to_be_bytes(), i.to_be_bytes()].concat(), b"v")
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let used = fs.syncs() - syncs;
    // 220-290 when measured: at least two commits per sync on average.
    assert!(used < 1600, "{used} syncs for 3200 commits");
    assert_eq!(db.iter().count(), 3200);
}

/// A log segment as format version 1 wrote it: a 32-byte header with no
/// start sequence number, then one frame per batch of single puts.
fn version_1_segment(id: u64, first_seq: u64, keys: &[&[u8]]) -> Vec<u8> {
    let mut seg = Vec::new();
    seg.extend_from_slice(b"KVDBWAL\0");
    seg.extend_from_slice(&1u32.to_le_bytes());
    seg.extend_from_slice(&0u32.to_le_bytes());
    seg.extend_from_slice(&id.to_le_bytes());
    let crc = crc32fast::hash(&seg);
    seg.extend_from_slice(&crc.to_le_bytes());
    seg.extend_from_slice(&0u32.to_le_bytes());
    for (i, key) in keys.iter().enumerate() {
        let mut payload = 1u32.to_le_bytes().to_vec();
        payload.push(1);
        payload.extend_from_slice(&(key.len() as u32).to_le_bytes());
        payload.extend_from_slice(key);
        payload.extend_from_slice(&1u32.to_le_bytes());
        payload.push(b'v');
        let seq = (first_seq + i as u64).to_le_bytes();
        let len = (payload.len() as u32).to_le_bytes();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&len);
        hasher.update(&seq);
        hasher.update(&payload);
        seg.extend_from_slice(&len);
        seg.extend_from_slice(&hasher.finalize().to_le_bytes());
        seg.extend_from_slice(&seq);
        seg.extend_from_slice(&payload);
    }
    seg
}

#[test]
fn a_log_written_by_format_version_1_still_opens_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let seg = |id: u64| dir.path().join(format!("wal-{id:020}.log"));
    std::fs::write(seg(1), version_1_segment(1, 1, &[b"a", b"b"])).unwrap();
    std::fs::write(seg(2), version_1_segment(2, 3, &[b"c"])).unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(db.iter().count(), 3);
    db.put(b"d", b"v").unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(
        db.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
    );
    db.checkpoint().unwrap();
    db.close().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(db.iter().count(), 4);
}

#[test]
fn deleting_the_lock_file_does_not_let_a_second_open_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    db.put(b"k", b"v").unwrap();
    std::fs::remove_file(dir.path().join("LOCK")).unwrap();
    let err = Db::open(dir.path(), quiet()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    // Replaced by another file of the same name: still locked.
    std::fs::write(dir.path().join("LOCK"), b"").unwrap();
    let err = Db::open(dir.path(), quiet()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
    db.close().unwrap();
    let db = Db::open(dir.path(), quiet()).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn a_path_that_is_a_regular_file_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"data").unwrap();
    let err = Db::open(&file, quiet()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"data", "left untouched");
}
