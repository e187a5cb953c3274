//! Injected I/O failures and simulated power loss, on the simulated file
//! system: a failed write or sync is reported to the caller and never
//! acknowledged or made visible; the database stays consistent (reads work,
//! further writes are refused until reopen); and after a crash every
//! acknowledged write under the `always` policy is present, no batch partial.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kvdb::vfs::{CrashOptions, SimFs};
use kvdb::{Batch, Db, ErrorKind, Options, SyncPolicy};
use parking_lot::Mutex;

fn options_on(fs: &Arc<SimFs>, sync: SyncPolicy) -> Options {
    let mut options = Options::manual_maintenance();
    options.vfs = fs.clone();
    options.sync = sync;
    options.wal_segment_bytes = 16 * 1024;
    options
}

fn reopen(image: SimFs) -> Db {
    Db::open("/db", options_on(&Arc::new(image), SyncPolicy::Always)).unwrap()
}

#[test]
fn a_failed_sync_is_reported_and_the_write_never_becomes_visible() {
    let fs = Arc::new(SimFs::new());
    let db = Db::open("/db", options_on(&fs, SyncPolicy::Always)).unwrap();
    db.put(b"k", b"old").unwrap();
    fs.fail_syncs_after(0);
    let err = db.put(b"k", b"new").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(
        err.to_string().contains("injected"),
        "the OS error is passed on: {err}"
    );
    assert_eq!(
        db.get(b"k").unwrap(),
        Some(b"old".to_vec()),
        "not acknowledged, not visible"
    );
    fs.clear_faults();
    let err = db.put(b"other", b"x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("reopen"), "{err}");
    assert_eq!(db.get(b"other").unwrap(), None);
    assert!(db.durability_stats().unwrap().wal_failure.is_some());
    assert_eq!(db.iter().count(), 1, "reads keep working");
    assert!(
        db.close().is_err(),
        "close reports that the log could not be synced"
    );
    // After a power failure either outcome of the failed write is allowed;
    // the acknowledged one is there.
    let db = reopen(fs.crash(CrashOptions {
        torn_tails: true,
        seed: 5,
    }));
    let v = db.get(b"k").unwrap().unwrap();
    assert!(v == b"old" || v == b"new");
}

#[test]
fn a_failed_write_is_reported_and_leaves_the_database_consistent() {
    for sync in [SyncPolicy::Always, SyncPolicy::Never] {
        let fs = Arc::new(SimFs::new());
        let db = Db::open("/db", options_on(&fs, sync)).unwrap();
        let mut batch = Batch::new();
        for i in 0..5u8 {
            batch.put(&[b'a', i], &[i; 50]).unwrap();
        }
        db.write(&batch).unwrap();
        fs.fail_writes_after(0);
        let mut batch = Batch::new();
        for i in 0..5u8 {
            batch.put(&[b'b', i], &[i; 50]).unwrap();
        }
        let err = db.write(&batch).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{sync:?}: {err}");
        assert_eq!(
            db.prefix(b"b").count(),
            0,
            "{sync:?}: the failed batch is invisible"
        );
        assert_eq!(db.prefix(b"a").count(), 5);
        fs.clear_faults();
        assert_eq!(db.put(b"c", b"x").unwrap_err().kind(), ErrorKind::Io);
        drop(db);
        // Reopen from what reached the disk (a half-written record is a torn tail).
        let db = reopen(fs.crash(CrashOptions {
            torn_tails: true,
            seed: 11,
        }));
        assert_eq!(db.prefix(b"a").count(), 5, "{sync:?}");
        let b = db.prefix(b"b").count();
        assert!(b == 0 || b == 5, "{sync:?}: partial batch of {b}");
    }
}

/// A write whose sync failed is not acknowledged, but its record may still
/// be in the file, unsynced, and the next open replays it. Writes
/// acknowledged after that open build on it: it must be made durable before
/// them, or a power failure leaves a hole in the log and the database does
/// not open.
#[test]
fn a_record_replayed_at_open_is_durable_before_writes_that_follow_it() {
    let fs = Arc::new(SimFs::new());
    let db = Db::open("/db", options_on(&fs, SyncPolicy::Always)).unwrap();
    db.put(b"first", b"1").unwrap();
    fs.fail_syncs_after(0);
    assert_eq!(db.put(b"unsynced", b"2").unwrap_err().kind(), ErrorKind::Io);
    assert_eq!(db.close().unwrap_err().kind(), ErrorKind::Io);
    fs.clear_faults();
    let db = Db::open("/db", options_on(&fs, SyncPolicy::Always)).unwrap();
    assert_eq!(
        db.get(b"unsynced").unwrap(),
        Some(b"2".to_vec()),
        "the record was in the file"
    );
    db.put(b"after", b"3").unwrap();
    drop(db);
    let db = Db::open(
        "/db",
        options_on(
            &Arc::new(fs.crash(CrashOptions {
                torn_tails: false,
                seed: 1,
            })),
            SyncPolicy::Always,
        ),
    )
    .unwrap_or_else(|e| panic!("the database does not open after a power failure: {e}"));
    let keys: Vec<Vec<u8>> = db.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [b"after".to_vec(), b"first".to_vec(), b"unsynced".to_vec()]
    );
}

/// After a failed write the log refuses every write until reopen. A
/// transaction is told so, not that it conflicted: the failed write's
/// version, applied but never published, is not a write it conflicts with,
/// and a retry could never succeed.
#[test]
fn a_transaction_after_a_log_failure_reports_the_failure_not_a_conflict() {
    let fs = Arc::new(SimFs::new());
    let db = Db::open("/db", options_on(&fs, SyncPolicy::Always)).unwrap();
    fs.fail_writes_after(0);
    assert_eq!(db.put(b"k", b"1").unwrap_err().kind(), ErrorKind::Io);
    fs.clear_faults();
    let mut txn = db.begin().unwrap();
    txn.put(b"k", b"2").unwrap();
    let err = txn.commit().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    let err = db.transaction(|t| t.put(b"k", b"3")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(db.get(b"k").unwrap(), None);
}

/// A write that reads before it decides does not decide on a failed write
/// (applied in memory, never visible): after a delete failed, a second
/// delete of the same key is refused, where it answered "nothing to delete"
/// while reads still found the key.
#[test]
fn writes_that_read_first_are_refused_after_a_log_failure() {
    let fs = Arc::new(SimFs::new());
    let db = Db::open("/db", options_on(&fs, SyncPolicy::Always)).unwrap();
    db.put(b"k", b"1").unwrap();
    fs.fail_writes_after(0);
    assert_eq!(db.delete(b"k").unwrap_err().kind(), ErrorKind::Io);
    fs.clear_faults();
    assert_eq!(db.get(b"k").unwrap(), Some(b"1".to_vec()));
    let kinds = [
        db.delete(b"k").map(drop),
        db.put_if_absent(b"k", b"2").map(drop),
        db.compare_and_swap(b"k", b"1", b"2").map(drop),
        db.persist(b"k").map(drop),
    ]
    .map(|r| r.map_err(|e| e.kind()));
    assert_eq!(kinds, [Err(ErrorKind::Io); 4]);
    assert_eq!(db.get(b"k").unwrap(), Some(b"1".to_vec()));
}

/// A write that reads and then writes nothing (a delete of an absent key, a
/// compare-and-swap that finds another value, a put-if-absent of a present
/// key) answers from what it read, which may include another writer's
/// delete still being synced. It must not answer before that delete is
/// visible, nor succeed if that delete's sync fails: its answer rests on it.
#[test]
fn a_write_that_writes_nothing_waits_for_what_it_read_to_be_durable() {
    type Probe = fn(&Db) -> kvdb::Result<String>;
    let probes: [(&str, Probe); 3] = [
        ("delete", |db| db.delete(b"k").map(|r| format!("{r}"))),
        ("compare-and-swap", |db| {
            db.compare_and_swap(b"k", b"1", b"2")
                .map(|r| format!("{r:?}"))
        }),
        ("put-if-absent", |db| {
            db.put_if_absent(b"k", b"2").map(|r| format!("{r}"))
        }),
    ];
    // What each answers once the first delete is visible.
    let after_delete = ["false", "NotFound", "true"];
    for ((name, probe), after) in probes.into_iter().zip(after_delete) {
        for sync_fails in [false, true] {
            let fs = Arc::new(SimFs::new());
            let db = Arc::new(Db::open("/db", options_on(&fs, SyncPolicy::Always)).unwrap());
            db.put(b"k", b"1").unwrap();
            fs.set_sync_delay(Duration::from_millis(300));
            if sync_fails {
                fs.fail_syncs_after(0);
            }
            let first = std::thread::spawn({
                let db = Arc::clone(&db);
                move || db.delete(b"k").map_err(|e| e.kind())
            });
            // The first delete is applied and waits for its sync.
            std::thread::sleep(Duration::from_millis(100));
            let answer = probe(&db).map_err(|e| e.kind());
            let seen = db.get(b"k").map_err(|e| e.kind());
            let first = first.join().unwrap();
            if sync_fails {
                assert_eq!(first, Err(ErrorKind::Io));
                assert_eq!(
                    answer,
                    Err(ErrorKind::Io),
                    "{name} answered from the delete whose sync failed"
                );
                assert_eq!(seen, Ok(Some(b"1".to_vec())));
            } else {
                assert_eq!(first, Ok(true));
                assert_eq!(answer, Ok(after.to_owned()), "{name}");
                if name != "put-if-absent" {
                    assert_eq!(
                        seen,
                        Ok(None),
                        "a read after the {name} still found the key"
                    );
                }
            }
        }
    }
}

#[test]
fn a_failed_checkpoint_is_reported_and_loses_nothing() {
    let fs = Arc::new(SimFs::new());
    let db = Db::open("/db", options_on(&fs, SyncPolicy::Always)).unwrap();
    for k in 0..100u32 {
        db.put(&k.to_be_bytes(), b"v").unwrap();
    }
    db.checkpoint().unwrap();
    for k in 100..200u32 {
        db.put(&k.to_be_bytes(), b"v").unwrap();
    }
    // Let the log's rotation through, fail in the snapshot write.
    fs.fail_writes_after(3);
    assert_eq!(db.checkpoint().unwrap_err().kind(), ErrorKind::Io);
    fs.clear_faults();
    drop(db);
    let db = reopen(fs.crash(CrashOptions {
        torn_tails: true,
        seed: 2,
    }));
    assert_eq!(db.iter().count(), 200);
}

#[test]
fn a_checkpoint_on_close_that_fails_is_reported_by_the_close_and_loses_nothing() {
    let fs = Arc::new(SimFs::new());
    let mut options = options_on(&fs, SyncPolicy::Always);
    options.checkpoint_on_close = true;
    let db = Db::open("/db", options).unwrap();
    for k in 0..200u32 {
        db.put(&k.to_be_bytes(), b"v").unwrap();
    }
    // Let the log's rotation through, fail in the snapshot write.
    fs.fail_writes_after(3);
    assert_eq!(db.close().unwrap_err().kind(), ErrorKind::Io);
    fs.clear_faults();
    let db = reopen(fs.crash(CrashOptions {
        torn_tails: true,
        seed: 3,
    }));
    assert_eq!(db.iter().count(), 200);
}

#[test]
fn a_checkpoint_on_close_leaves_a_snapshot_of_every_write_and_no_log_to_replay() {
    let fs = Arc::new(SimFs::new());
    let mut options = options_on(&fs, SyncPolicy::Always);
    options.checkpoint_on_close = true;
    let db = Db::open("/db", options).unwrap();
    for k in 0..200u32 {
        db.put(&k.to_be_bytes(), b"v").unwrap();
    }
    db.close().unwrap();
    // Power lost right after the close: the snapshot was synced.
    let image = fs.crash(CrashOptions {
        torn_tails: true,
        seed: 4,
    });
    let db = reopen(image);
    let report = db.recovery_report().unwrap();
    assert_eq!(report.snapshot_seq, Some(200));
    assert_eq!(report.snapshot_entries, 200);
    assert_eq!(report.wal_records_applied, 0);
    assert_eq!(db.iter().count(), 200);
}

/// A checkpoint that fails for a passing reason (no file descriptor for the
/// next log segment, a failed sync of the new segment or of the directory)
/// reports its own error and leaves the database writable: only a failed
/// write or sync of the log itself stops the log.
#[test]
fn a_transient_checkpoint_failure_leaves_the_database_writable() {
    type Fault = fn(&SimFs);
    let faults: [(&str, Fault); 3] = [
        ("no descriptor for the new segment", |fs| {
            fs.fail_creates_after(0)
        }),
        // The active segment's sync passes; the new segment's fails.
        ("the new segment's sync", |fs| fs.fail_syncs_after(1)),
        // ... and the directory sync after creating it.
        ("the directory sync", |fs| fs.fail_syncs_after(2)),
    ];
    for (what, fault) in faults {
        let fs = Arc::new(SimFs::new());
        let db = Db::open("/db", options_on(&fs, SyncPolicy::Always)).unwrap();
        for k in 0..50u32 {
            db.put(&k.to_be_bytes(), b"v").unwrap();
        }
        fault(&fs);
        let err = db.checkpoint().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{what}: {err}");
        fs.clear_faults();
        assert_eq!(
            db.durability_stats().unwrap().wal_failure,
            None,
            "{what}: the log is not failed"
        );
        for k in 50..100u32 {
            db.put(&k.to_be_bytes(), b"v")
                .unwrap_or_else(|e| panic!("{what}: write after the failure: {e}"));
        }
        db.checkpoint()
            .unwrap_or_else(|e| panic!("{what}: the next checkpoint: {e}"));
        for k in 100..120u32 {
            db.put(&k.to_be_bytes(), b"v").unwrap();
        }
        drop(db);
        let db = reopen(fs.crash(CrashOptions {
            torn_tails: true,
            seed: 4,
        }));
        assert_eq!(db.iter().count(), 120, "{what}");
    }
}

/// A segment that cannot be started when the active one is full is tried
/// again later; writes go on into the active segment meanwhile.
#[test]
fn a_failed_rotation_at_the_size_threshold_does_not_stop_writes() {
    for sync in [SyncPolicy::Always, SyncPolicy::Never] {
        let fs = Arc::new(SimFs::new());
        let db = Db::open("/db", options_on(&fs, sync)).unwrap();
        fs.fail_creates_after(0);
        // 16 KiB segments: 400 writes of 100 bytes pass the threshold.
        for k in 0..400u32 {
            db.put(&k.to_be_bytes(), &[7; 100])
                .unwrap_or_else(|e| panic!("{sync:?}: write {k}: {e}"));
        }
        let stats = db.durability_stats().unwrap();
        assert_eq!(stats.wal_segments, 1);
        assert!(
            stats.wal_rotation_failure.is_some(),
            "{sync:?}: the failed rotation is reported"
        );
        fs.clear_faults();
        for k in 400..800u32 {
            db.put(&k.to_be_bytes(), &[7; 100]).unwrap();
        }
        let stats = db.durability_stats().unwrap();
        assert!(stats.wal_segments > 1, "{sync:?}");
        assert_eq!(
            stats.wal_rotation_failure, None,
            "{sync:?}: cleared by a rotation"
        );
        db.sync().unwrap();
        drop(db);
        let db = reopen(fs.crash(CrashOptions {
            torn_tails: true,
            seed: 8,
        }));
        assert_eq!(db.iter().count(), 800, "{sync:?}");
    }
}

/// Writers on several threads commit batches under the `always` policy and
/// record each acknowledgement; power fails at a random moment. Every
/// acknowledged batch must be whole after recovery, and no batch partial.
#[test]
fn power_loss_keeps_every_acknowledged_batch_whole() {
    let mut verified = 0;
    for seed in 0..30u64 {
        let fs = Arc::new(SimFs::new());
        let mut options = options_on(&fs, SyncPolicy::Always);
        options.wal_segment_bytes = 8 * 1024;
        let db = Arc::new(Db::open("/db", options).unwrap());
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4u64)
            .map(|t| {
                let (db, acked, stop) = (db.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let id = t * 1_000_000 + n;
                        let mut batch = Batch::new();
                        for i in 0..4 {
                            batch
                                .put(format!("{id:08}/{i}").as_bytes(), &id.to_be_bytes())
                                .unwrap();
                        }
                        if n.is_multiple_of(5) && n > 0 {
                            batch.delete(format!("{:08}/0", id - 1).as_bytes()).unwrap();
                        }
                        db.write(&batch).unwrap();
                        acked.lock().insert(id);
                        if n % 50 == 49 {
                            let _ = db.checkpoint();
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(5 + seed % 20));
        let acked_then = acked.lock().clone();
        let image = fs.crash(CrashOptions {
            torn_tails: true,
            seed,
        });
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        let db = reopen(image);
        let mut batches: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for (k, v) in db.iter() {
            let key = String::from_utf8(k).unwrap();
            let (id, i) = key.split_once('/').unwrap();
            let id: u64 = id.parse().unwrap();
            assert_eq!(v, id.to_be_bytes());
            batches.entry(id).or_default().push(i.parse().unwrap());
        }
        for id in &acked_then {
            // Key 0 of a batch may be deleted by the writer's next batch.
            let keys = batches.get(id).map_or(&[][..], Vec::as_slice);
            assert!(
                keys == [1, 2, 3] || keys == [0, 1, 2, 3],
                "seed {seed}: acknowledged batch {id} is missing or partial: {keys:?}"
            );
        }
        for (id, keys) in &batches {
            assert!(
                keys == &[1, 2, 3] || keys == &[0, 1, 2, 3],
                "seed {seed}: batch {id} is partial: {keys:?}"
            );
        }
        verified += acked_then.len();
    }
    assert!(
        verified > 100,
        "only {verified} acknowledged batches were checked"
    );
    eprintln!("power-loss simulation: {verified} acknowledged batches verified across 30 crashes");
}
