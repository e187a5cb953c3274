//! The write-ahead log end to end on the simulated file system: round trips
//! across rotations, group commit, torn tails, corruption under each recovery
//! mode, injected I/O failures, truncation, and power loss.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use kvdb_vfs::{CrashOptions, SimFs, StdFs, Vfs};
use kvdb_wal::{RecoveryMode, SyncMode, Wal, WalError, WalOptions, WalReader, segment_name};

fn dir() -> PathBuf {
    PathBuf::from("/db")
}

fn new_fs() -> Arc<SimFs> {
    let fs = Arc::new(SimFs::new());
    fs.create_dir_all(&dir()).unwrap();
    fs
}

fn open(fs: &Arc<SimFs>, options: WalOptions) -> Wal {
    let recovered = WalReader::open(fs.clone(), &dir(), RecoveryMode::default())
        .unwrap()
        .finish()
        .unwrap();
    let next_seq = next_seq(&recovered);
    Wal::open(fs.clone(), &dir(), options, recovered, next_seq).unwrap()
}

/// Every record here holds one operation: the next record's sequence number.
fn next_seq(recovered: &kvdb_wal::Recovered) -> u64 {
    recovered.report.last_seq.map_or(1, |s| s + 1)
}

fn payload(seq: u64) -> Vec<u8> {
    format!("record {seq} ")
        .repeat((seq % 7) as usize + 1)
        .into_bytes()
}

fn append(wal: &Wal, seq: u64) -> u64 {
    wal.append(seq, 1, |buf| buf.extend_from_slice(&payload(seq)))
        .unwrap()
}

/// Replays the log with `mode`, returning the records' sequence numbers
/// (checking each payload) and the reader's report.
fn replay(
    fs: &Arc<SimFs>,
    mode: RecoveryMode,
) -> Result<(Vec<u64>, kvdb_wal::ReplayReport), WalError> {
    let mut reader = WalReader::open(fs.clone(), &dir(), mode)?;
    let mut seqs = Vec::new();
    while let Some(record) = reader.next_record()? {
        assert_eq!(
            record.payload,
            payload(record.seq),
            "payload of {}",
            record.seq
        );
        seqs.push(record.seq);
    }
    let recovered = reader.finish()?;
    Ok((seqs, recovered.report))
}

fn small_segments(sync: SyncMode) -> WalOptions {
    WalOptions {
        segment_bytes: 512,
        sync,
    }
}

fn newest_segment(fs: &Arc<SimFs>) -> PathBuf {
    let names = fs.list(&dir()).unwrap();
    dir().join(names.iter().filter(|n| n.ends_with(".log")).max().unwrap())
}

#[test]
fn records_round_trip_across_rotations_and_reopens() {
    let fs = new_fs();
    for sync in [SyncMode::GroupCommit, SyncMode::WriteThrough] {
        let fs = if sync == SyncMode::GroupCommit {
            fs.clone()
        } else {
            new_fs()
        };
        let wal = open(&fs, small_segments(sync));
        for seq in 1..=100 {
            let end = append(&wal, seq);
            if seq % 10 == 0 {
                wal.sync_to(end).unwrap();
            }
        }
        wal.sync().unwrap();
        assert!(
            wal.segments().len() > 5,
            "{sync:?} rotated: {:?}",
            wal.segments().len()
        );
        drop(wal);
        let wal = open(&fs, small_segments(sync));
        append(&wal, 101);
        wal.sync().unwrap();
        drop(wal);
        let (seqs, report) = replay(&fs, RecoveryMode::AbsoluteConsistency).unwrap();
        assert_eq!(seqs, (1..=101).collect::<Vec<_>>());
        assert_eq!(report.torn_tail, None);
        assert_eq!(report.last_seq, Some(101));
    }
}

#[test]
fn group_commit_shares_syncs_between_concurrent_writers() {
    let fs = new_fs();
    // A sync that takes time, as a disk's does: the writers that append
    // meanwhile share the next one. With instant syncs, a loaded machine
    // can run each writer's append and sync alone, and nothing is grouped.
    fs.set_sync_delay(std::time::Duration::from_micros(200));
    let wal = Arc::new(open(&fs, WalOptions::default()));
    let next = Arc::new(parking_lot::Mutex::new(0u64));
    let syncs_before = fs.syncs();
    const THREADS: u64 = 16;
    const EACH: u64 = 200;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (wal, next) = (wal.clone(), next.clone());
            thread::spawn(move || {
                for _ in 0..EACH {
                    // Sequence order must match append order, as under the
                    // engine's write lock.
                    let end = {
                        let mut n = next.lock();
                        *n += 1;
                        append(&wal, *n)
                    };
                    wal.sync_to(end).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let syncs = fs.syncs() - syncs_before;
    let commits = THREADS * EACH;
    assert!(
        syncs < commits,
        "{syncs} syncs for {commits} commits: no grouping"
    );
    eprintln!("group commit: {commits} durable commits took {syncs} syncs");
    drop(wal);
    let (seqs, _) = replay(&fs, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(seqs.len() as u64, commits);
}

#[test]
fn a_torn_tail_is_cut_off_and_reported_then_the_log_continues() {
    let fs = new_fs();
    let wal = open(&fs, WalOptions::default());
    for seq in 1..=10 {
        append(&wal, seq);
    }
    wal.sync().unwrap();
    drop(wal);
    let segment = newest_segment(&fs);
    let full = fs.read(&segment).unwrap().len();
    fs.modify(&segment, |d| d.truncate(full - 5)).unwrap();
    assert!(matches!(
        replay(&fs, RecoveryMode::AbsoluteConsistency),
        Err(WalError::Corruption { .. })
    ));
    let (seqs, report) = replay(&fs, RecoveryMode::TolerateCorruptTail).unwrap();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    let torn = report.torn_tail.unwrap();
    assert_eq!(torn.segment, segment);
    assert!(torn.dropped_bytes > 0);
    assert_eq!(
        fs.read(&segment).unwrap().len() as u64,
        torn.offset,
        "the file was cut"
    );
    let wal = open(&fs, WalOptions::default());
    append(&wal, 10);
    wal.sync().unwrap();
    drop(wal);
    let (seqs, report) = replay(&fs, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    assert_eq!(report.torn_tail, None);
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail() {
    let fs = new_fs();
    let wal = open(&fs, WalOptions::default());
    for seq in 1..=5 {
        append(&wal, seq);
    }
    wal.sync().unwrap();
    drop(wal);
    let segment = newest_segment(&fs);
    fs.modify(&segment, |d| {
        d.extend((0..300u32).map(|i| (i * 37 % 251) as u8))
    })
    .unwrap();
    let (seqs, report) = replay(&fs, RecoveryMode::TolerateCorruptTail).unwrap();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(report.torn_tail.unwrap().dropped_bytes, 300);
}

fn flip_byte(fs: &Arc<SimFs>, path: &Path, at: usize) {
    fs.modify(path, |d| d[at] ^= 0x10).unwrap();
}

#[test]
fn damage_followed_by_intact_records_is_corruption_not_a_torn_tail() {
    let fs = new_fs();
    let wal = open(&fs, WalOptions::default());
    for seq in 1..=10 {
        append(&wal, seq);
    }
    wal.sync().unwrap();
    drop(wal);
    let segment = newest_segment(&fs);
    flip_byte(&fs, &segment, 40 + 16 + 3); // inside the first record's payload
    let err = replay(&fs, RecoveryMode::TolerateCorruptTail).unwrap_err();
    assert!(
        matches!(err, WalError::Corruption { offset: 40, .. }),
        "{err}"
    );
    // Point-in-time recovery keeps the consistent prefix (here: nothing).
    let (seqs, report) = replay(&fs, RecoveryMode::PointInTime).unwrap();
    assert!(seqs.is_empty());
    assert!(report.torn_tail.is_some());
}

#[test]
fn damage_in_an_older_segment_is_an_error_unless_point_in_time() {
    let fs = new_fs();
    let wal = open(&fs, small_segments(SyncMode::GroupCommit));
    for seq in 1..=60 {
        append(&wal, seq);
        wal.sync().unwrap();
    }
    drop(wal);
    let mut logs: Vec<_> = fs
        .list(&dir())
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 4);
    let victim = dir().join(&logs[1]);
    let victim_len = fs.read(&victim).unwrap().len();
    flip_byte(&fs, &victim, victim_len - 2);
    assert!(matches!(
        replay(&fs, RecoveryMode::TolerateCorruptTail),
        Err(WalError::Corruption { .. })
    ));
    let (seqs, report) = replay(&fs, RecoveryMode::PointInTime).unwrap();
    assert!(!seqs.is_empty());
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "a consistent prefix"
    );
    assert_eq!(report.discarded_segments.len(), logs.len() - 2);
    // The repaired log now replays cleanly, even strictly.
    let (again, _) = replay(&fs, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(again, seqs);
}

#[test]
fn wrong_magic_and_future_versions_are_reported() {
    let fs = new_fs();
    let wal = open(&fs, WalOptions::default());
    append(&wal, 1);
    wal.sync().unwrap();
    drop(wal);
    let wal = open(&fs, WalOptions::default());
    append(&wal, 2);
    wal.sync().unwrap();
    drop(wal);
    let first = dir().join(segment_name(1));
    fs.modify(&first, |d| d[0] = b'X').unwrap();
    let err = replay(&fs, RecoveryMode::TolerateCorruptTail).unwrap_err();
    assert!(matches!(err, WalError::Corruption { .. }), "{err}");
    fs.modify(&first, |d| {
        d[0] = b'K';
        d[8..12].copy_from_slice(&9u32.to_le_bytes());
        let crc = crc32fast::hash(&d[..24]);
        d[24..28].copy_from_slice(&crc.to_le_bytes());
    })
    .unwrap();
    let err = replay(&fs, RecoveryMode::PointInTime).unwrap_err();
    assert!(
        matches!(err, WalError::UnsupportedVersion { found: 9, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("format version 9"));
}

#[test]
fn a_failed_write_fails_the_log_and_loses_nothing_acknowledged() {
    let fs = new_fs();
    let wal = open(
        &fs,
        WalOptions {
            sync: SyncMode::WriteThrough,
            ..WalOptions::default()
        },
    );
    for seq in 1..=5 {
        append(&wal, seq);
    }
    wal.sync().unwrap();
    fs.fail_writes_after(0);
    let err = wal
        .append(6, 1, |b| b.extend_from_slice(&payload(6)))
        .unwrap_err();
    assert!(matches!(err, WalError::Io { .. }), "{err}");
    fs.clear_faults();
    let err = wal
        .append(7, 1, |b| b.extend_from_slice(&payload(7)))
        .unwrap_err();
    assert!(
        matches!(err, WalError::Failed(_)),
        "a failed log stays failed: {err}"
    );
    assert!(wal.sync().is_err());
    assert!(wal.failure().is_some());
    drop(wal);
    let image = Arc::new(fs.crash(CrashOptions {
        torn_tails: true,
        seed: 3,
    }));
    let (seqs, _) = replay(&image, RecoveryMode::TolerateCorruptTail).unwrap();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
}

#[test]
fn a_failed_sync_is_never_reported_durable() {
    let fs = new_fs();
    let wal = open(&fs, WalOptions::default());
    let end = append(&wal, 1);
    wal.sync_to(end).unwrap();
    fs.fail_syncs_after(0);
    let end = append(&wal, 2);
    assert!(matches!(wal.sync_to(end), Err(WalError::Io { .. })));
    assert!(matches!(wal.sync_to(end), Err(WalError::Failed(_))));
    fs.clear_faults();
    assert!(wal.sync_to(end).is_err(), "no retry can make it durable");
}

/// A log of three segments, records 1-3, 4-6 and 7 (the active one).
fn three_segments(fs: &Arc<SimFs>) -> Wal {
    let wal = open(fs, WalOptions::default());
    for seq in 1..=3 {
        append(&wal, seq);
    }
    wal.rotate().unwrap();
    for seq in 4..=6 {
        append(&wal, seq);
    }
    wal.rotate().unwrap();
    append(&wal, 7);
    wal.sync().unwrap();
    wal
}

/// The segment files of `wal`, oldest first; closes it.
fn closed_paths(wal: Wal) -> Vec<PathBuf> {
    wal.segments().iter().map(|s| s.path.clone()).collect()
}

#[test]
fn truncation_removes_only_segments_covered_by_the_sequence() {
    let fs = new_fs();
    let wal = three_segments(&fs);
    assert_eq!(
        wal.truncate_through(2).unwrap(),
        0,
        "segment 1 still holds seq 3"
    );
    assert_eq!(wal.truncate_through(5).unwrap(), 1);
    assert_eq!(
        wal.truncate_through(100).unwrap(),
        1,
        "the active segment stays"
    );
    assert_eq!(wal.segments().len(), 1);
    drop(wal);
    let (seqs, _) = replay(&fs, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(seqs, vec![7]);
}

/// Replays with segments covered through `covered` passed over.
fn replay_skipping(
    fs: &Arc<SimFs>,
    covered: u64,
) -> Result<(Vec<u64>, kvdb_wal::Recovered), WalError> {
    let mut reader = WalReader::open(fs.clone(), &dir(), RecoveryMode::AbsoluteConsistency)?;
    reader.skip_covered_through(covered);
    let mut seqs = Vec::new();
    while let Some(record) = reader.next_record()? {
        seqs.push(record.seq);
    }
    Ok((seqs, reader.finish()?))
}

#[test]
fn segments_covered_by_a_snapshot_are_passed_over_unread() {
    let fs = new_fs();
    let paths = closed_paths(three_segments(&fs));
    // Damage in the first segment shows whether it is read at all.
    let len = fs.read(&paths[0]).unwrap().len();
    flip_byte(&fs, &paths[0], len - 2);
    assert!(
        matches!(
            replay(&fs, RecoveryMode::AbsoluteConsistency),
            Err(WalError::Corruption { .. })
        ),
        "read in full, the damage is found"
    );
    let (seqs, recovered) = replay_skipping(&fs, 3).unwrap();
    assert_eq!(seqs, vec![4, 5, 6, 7]);
    assert_eq!(recovered.report.segments_skipped, 1);
    assert_eq!(recovered.segments.len(), 3, "a skipped segment is kept");
    let skipped = &recovered.segments[0];
    assert_eq!(skipped.path, paths[0]);
    assert_eq!(skipped.max_seq, 3, "no record in it starts above 3");
    assert_eq!(skipped.start_seq, Some(1));
    // Truncation after a skipped replay removes the covered segment.
    let wal = Wal::open(fs.clone(), &dir(), WalOptions::default(), recovered, 8).unwrap();
    assert_eq!(wal.truncate_through(3).unwrap(), 1);
    assert_eq!(wal.segments()[0].path, paths[1]);
}

#[test]
fn a_segment_with_any_record_above_the_covered_sequence_is_read() {
    let fs = new_fs();
    drop(three_segments(&fs));
    let (seqs, recovered) = replay_skipping(&fs, 2).unwrap();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>(), "record 3 is not covered");
    assert_eq!(recovered.report.segments_skipped, 0);
    let (seqs, recovered) = replay_skipping(&fs, 6).unwrap();
    assert_eq!(seqs, vec![7]);
    assert_eq!(recovered.report.segments_skipped, 2);
    let (seqs, recovered) = replay_skipping(&fs, 100).unwrap();
    assert_eq!(seqs, vec![7], "the newest segment is always read");
    assert_eq!(recovered.report.segments_skipped, 2);
}

#[test]
fn truncation_can_keep_the_newest_covered_segments_within_a_byte_budget() {
    let fs = new_fs();
    let wal = open(&fs, WalOptions::default());
    for seq in 1..=4 {
        append(&wal, seq);
        wal.rotate().unwrap();
    }
    append(&wal, 5);
    wal.sync().unwrap();
    let closed: Vec<u64> = wal.segments().iter().map(|s| s.bytes).collect();
    assert_eq!(closed.len(), 5);
    // A budget of one byte keeps one whole segment: the newest covered.
    assert_eq!(wal.truncate_through_keeping(4, 1).unwrap(), 3);
    assert_eq!(wal.segments().len(), 2);
    drop(wal);
    let (seqs, _) = replay(&fs, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(seqs, vec![4, 5]);
}

#[test]
fn power_loss_keeps_every_acknowledged_record() {
    for seed in 0..20u64 {
        let fs = new_fs();
        let options = WalOptions {
            segment_bytes: 4096,
            sync: SyncMode::GroupCommit,
        };
        let wal = Arc::new(open(&fs, options));
        let next = Arc::new(parking_lot::Mutex::new(0u64));
        let acked = Arc::new(parking_lot::Mutex::new(BTreeSet::new()));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (wal, next, acked) = (wal.clone(), next.clone(), acked.clone());
                thread::spawn(move || {
                    for _ in 0..100 {
                        let (seq, end) = {
                            let mut n = next.lock();
                            *n += 1;
                            (*n, append(&wal, *n))
                        };
                        wal.sync_to(end).unwrap();
                        acked.lock().insert(seq);
                    }
                })
            })
            .collect();
        // Crash at some moment while the writers run.
        thread::sleep(std::time::Duration::from_micros(200 + seed * 150));
        let acked_then: BTreeSet<u64> = acked.lock().clone();
        let image = Arc::new(fs.crash(CrashOptions {
            torn_tails: true,
            seed,
        }));
        for h in handles {
            h.join().unwrap();
        }
        let (seqs, _) = replay(&image, RecoveryMode::TolerateCorruptTail).unwrap();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "seed {seed}: a prefix"
        );
        let recovered: BTreeSet<u64> = seqs.into_iter().collect();
        assert!(
            acked_then.is_subset(&recovered),
            "seed {seed}: acknowledged records lost"
        );
    }
}

#[test]
fn the_real_file_system_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let fs: Arc<dyn Vfs> = Arc::new(StdFs);
    let recovered = WalReader::open(fs.clone(), tmp.path(), RecoveryMode::default())
        .unwrap()
        .finish()
        .unwrap();
    let wal = Wal::open(
        fs.clone(),
        tmp.path(),
        small_segments(SyncMode::GroupCommit),
        recovered,
        1,
    )
    .unwrap();
    for seq in 1..=50 {
        let end = append(&wal, seq);
        wal.sync_to(end).unwrap();
    }
    drop(wal);
    let mut reader = WalReader::open(fs, tmp.path(), RecoveryMode::AbsoluteConsistency).unwrap();
    let mut n = 0;
    while let Some(r) = reader.next_record().unwrap() {
        n += 1;
        assert_eq!(r.seq, n);
    }
    assert_eq!(n, 50);
}

#[test]
fn reopening_without_writes_does_not_pile_up_segments() {
    let fs = new_fs();
    let wal = open(&fs, WalOptions::default());
    append(&wal, 1);
    wal.sync().unwrap();
    drop(wal);
    for _ in 0..10 {
        drop(open(&fs, WalOptions::default()));
    }
    let logs = fs.list(&dir()).unwrap();
    assert_eq!(
        logs.len(),
        2,
        "the segment with the record and the newest: {logs:?}"
    );
    let (seqs, _) = replay(&fs, RecoveryMode::AbsoluteConsistency).unwrap();
    assert_eq!(seqs, vec![1]);
}
