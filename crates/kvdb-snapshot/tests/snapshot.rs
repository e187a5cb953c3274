//! Snapshot files end to end: round trips on the real file system, every
//! flipped bit caught, fallback past damaged files, retention, and crashes
//! in the middle of writing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kvdb_snapshot::format::AccessKind;
use kvdb_snapshot::{
    SnapshotError, SnapshotFile, SnapshotWriter, list, load_newest, remove_temporaries, retain,
    snapshot_name,
};
use kvdb_vfs::{CrashOptions, SimFs, StdFs, Vfs};

fn dir() -> PathBuf {
    PathBuf::from("/db")
}

fn sim() -> Arc<SimFs> {
    let fs = Arc::new(SimFs::new());
    fs.create_dir_all(&dir()).unwrap();
    fs
}

fn entries(n: u32) -> Vec<(Vec<u8>, Vec<u8>, Option<u64>)> {
    (0..n)
        .map(|i| {
            let expiry = (i % 3 == 0).then_some(1_900_000_000_000 + u64::from(i));
            (
                format!("key{i:06}").into_bytes(),
                vec![i as u8; (i % 50) as usize],
                expiry,
            )
        })
        .collect()
}

fn write(
    fs: Arc<dyn Vfs>,
    dir: &Path,
    seq: u64,
    entries: &[(Vec<u8>, Vec<u8>, Option<u64>)],
) -> PathBuf {
    let mut w = SnapshotWriter::create(fs, dir, seq, 1_700_000_000_000 + seq).unwrap();
    for (k, v, e) in entries {
        w.add(k, v, *e).unwrap();
    }
    w.finish().unwrap().path
}

fn read_all(file: &SnapshotFile) -> Vec<(Vec<u8>, Vec<u8>, Option<u64>)> {
    file.entries()
        .map(|e| (e.key.to_vec(), e.value.to_vec(), e.expires_at))
        .collect()
}

#[test]
fn round_trip_on_the_real_file_system() {
    let tmp = tempfile::tempdir().unwrap();
    let data = entries(20_000);
    let path = write(Arc::new(StdFs), tmp.path(), 77, &data);
    assert_eq!(path, tmp.path().join(snapshot_name(77)));
    let file = SnapshotFile::open(&StdFs, &path).unwrap();
    assert_eq!(file.info().seq, 77);
    assert_eq!(file.info().entries, 20_000);
    assert_eq!(file.info().created_ms, 1_700_000_000_077);
    assert_eq!(read_all(&file), data);
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
}

#[test]
fn an_empty_snapshot_is_valid() {
    let fs = sim();
    let path = write(fs.clone(), &dir(), 0, &[]);
    let file = SnapshotFile::open(&*fs, &path).unwrap();
    assert_eq!(file.entries().count(), 0);
}

#[test]
fn every_flipped_bit_is_caught() {
    let fs = sim();
    let mut w =
        SnapshotWriter::create_recording(fs.clone(), &dir(), 5, 1, AccessKind::Frequency).unwrap();
    for (k, v, e) in entries(4) {
        w.add_with_access(&k, &v, e, 0x0102_0304).unwrap();
    }
    let path = w.finish().unwrap().path;
    let original = fs.read(&path).unwrap().to_vec();
    for bit in 0..original.len() * 8 {
        let mut damaged = original.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        assert!(
            kvdb_snapshot::verify(&damaged).is_err(),
            "flip of bit {bit} went unnoticed"
        );
    }
    assert!(kvdb_snapshot::verify(&original).is_ok());
}

#[test]
fn truncated_wrong_magic_and_future_versions_are_rejected_with_reasons() {
    let fs = sim();
    let path = write(fs.clone(), &dir(), 5, &entries(10));
    let original = fs.read(&path).unwrap().to_vec();
    for cut in [0, 10, 63, 64, 100, original.len() - 1] {
        fs.modify(&path, |d| *d = original[..cut].to_vec()).unwrap();
        let err = SnapshotFile::open(&*fs, &path).unwrap_err();
        assert!(
            matches!(err, SnapshotError::Corrupt { .. }),
            "cut at {cut}: {err}"
        );
    }
    fs.modify(&path, |d| {
        *d = original.clone();
        d[0] = b'X';
    })
    .unwrap();
    let err = SnapshotFile::open(&*fs, &path).unwrap_err();
    assert!(err.to_string().contains("bad magic"), "{err}");
    fs.modify(&path, |d| {
        *d = original.clone();
        d[8..12].copy_from_slice(&3u32.to_le_bytes());
        let crc = crc32fast::hash(&d[..60]);
        d[60..64].copy_from_slice(&crc.to_le_bytes());
    })
    .unwrap();
    let err = SnapshotFile::open(&*fs, &path).unwrap_err();
    assert!(
        matches!(err, SnapshotError::UnsupportedVersion { found: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("reads versions 1 to 2"), "{err}");
}

#[test]
fn entries_record_their_keys_use_when_the_file_says_so() {
    let fs = sim();
    let data = entries(300);
    let mut w =
        SnapshotWriter::create_recording(fs.clone(), &dir(), 8, 1, AccessKind::Recency).unwrap();
    for (i, (k, v, e)) in data.iter().enumerate() {
        w.add_with_access(k, v, *e, 1_000 + i as u32).unwrap();
    }
    let info = w.finish().unwrap();
    assert_eq!(info.access, AccessKind::Recency);
    // Each entry is 4 bytes longer than without access.
    let plain = SnapshotFile::open(&*fs, &write(fs.clone(), &dir(), 7, &data)).unwrap();
    assert_eq!(info.bytes, plain.info().bytes + 4 * 300);
    assert_eq!(plain.info().access, AccessKind::None);
    assert!(plain.entries().all(|e| e.access.is_none()));
    let file = SnapshotFile::open(&*fs, &info.path).unwrap();
    assert_eq!(file.info().access, AccessKind::Recency);
    assert_eq!(read_all(&file), data);
    let recorded: Vec<_> = file.entries().map(|e| e.access).collect();
    let expected: Vec<_> = (0..300).map(|i| Some(1_000 + i)).collect();
    assert_eq!(recorded, expected);
}

#[test]
fn only_a_file_that_records_access_needs_version_2() {
    // Builds before version 2 read version 1 files: a file that records no
    // access is written as one, and a database without LRU or LFU eviction
    // can still be opened by them.
    let fs = sim();
    let plain = write(fs.clone(), &dir(), 5, &entries(3));
    assert_eq!(fs.read(&plain).unwrap()[8..16], [1, 0, 0, 0, 0, 0, 0, 0]);
    let mut w =
        SnapshotWriter::create_recording(fs.clone(), &dir(), 6, 1, AccessKind::Recency).unwrap();
    w.add_with_access(b"k", b"v", None, 3).unwrap();
    let recording = w.finish().unwrap().path;
    assert_eq!(
        fs.read(&recording).unwrap()[8..16],
        [2, 0, 0, 0, 1, 0, 0, 0]
    );
}

#[test]
fn loading_falls_back_past_damaged_snapshots_and_reports_them() {
    let fs = sim();
    write(fs.clone(), &dir(), 10, &entries(3));
    write(fs.clone(), &dir(), 20, &entries(5));
    let newest = write(fs.clone(), &dir(), 30, &entries(7));
    fs.modify(&newest, |d| {
        let mid = d.len() / 2;
        d[mid] ^= 1;
    })
    .unwrap();
    let loaded = load_newest(&*fs, &dir()).unwrap();
    assert_eq!(loaded.snapshot.unwrap().info().seq, 20);
    assert_eq!(loaded.rejected.len(), 1);
    assert_eq!(loaded.rejected[0].path, newest);
    assert!(loaded.rejected[0].error.to_string().contains("checksum"));
    fs.remove(&dir().join(snapshot_name(20))).unwrap();
    assert_eq!(
        load_newest(&*fs, &dir())
            .unwrap()
            .snapshot
            .unwrap()
            .info()
            .seq,
        10
    );
}

#[test]
fn retention_keeps_the_newest() {
    let fs = sim();
    for seq in [1, 2, 3, 4] {
        write(fs.clone(), &dir(), seq, &entries(2));
    }
    assert_eq!(retain(&*fs, &dir(), 2).unwrap(), vec![4, 3]);
    let left: Vec<u64> = list(&*fs, &dir())
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(left, vec![4, 3]);
    assert_eq!(
        retain(&*fs, &dir(), 0).unwrap(),
        vec![4],
        "at least one is kept"
    );
}

#[test]
fn out_of_order_entries_are_refused_and_abandoned_writes_leave_nothing() {
    let fs = sim();
    let mut w = SnapshotWriter::create(fs.clone(), &dir(), 1, 0).unwrap();
    w.add(b"b", b"", None).unwrap();
    assert!(matches!(
        w.add(b"a", b"", None),
        Err(SnapshotError::InvalidEntry(_))
    ));
    assert!(matches!(
        w.add(b"b", b"", None),
        Err(SnapshotError::InvalidEntry(_))
    ));
    drop(w);
    assert!(fs.list(&dir()).unwrap().is_empty());
}

#[test]
fn a_crash_while_writing_leaves_no_snapshot_or_a_whole_one() {
    let fs = sim();
    write(fs.clone(), &dir(), 1, &entries(10));
    let mut w = SnapshotWriter::create(fs.clone(), &dir(), 2, 0).unwrap();
    for (k, v, e) in entries(100) {
        w.add(&k, &v, e).unwrap();
    }
    // Crash before finish: the old snapshot is what recovery finds.
    let image = fs.crash(CrashOptions {
        torn_tails: true,
        seed: 9,
    });
    remove_temporaries(&image, &dir()).unwrap();
    let loaded = load_newest(&image, &dir()).unwrap();
    assert_eq!(loaded.snapshot.unwrap().info().seq, 1);
    assert!(loaded.rejected.is_empty());
    assert!(
        image
            .list(&dir())
            .unwrap()
            .iter()
            .all(|n| !n.ends_with(".tmp"))
    );
    // After finish the new one is durable.
    w.finish().unwrap();
    let image = fs.crash(CrashOptions {
        torn_tails: true,
        seed: 9,
    });
    assert_eq!(
        load_newest(&image, &dir())
            .unwrap()
            .snapshot
            .unwrap()
            .info()
            .seq,
        2
    );
}

#[test]
fn write_failures_surface_and_leave_the_previous_snapshot() {
    let fs = sim();
    write(fs.clone(), &dir(), 1, &entries(10));
    fs.fail_syncs_after(0);
    let mut w = SnapshotWriter::create(fs.clone(), &dir(), 2, 0).unwrap();
    w.add(b"k", b"v", None).unwrap();
    assert!(matches!(w.finish(), Err(SnapshotError::Io { .. })));
    fs.clear_faults();
    assert_eq!(
        load_newest(&*fs, &dir())
            .unwrap()
            .snapshot
            .unwrap()
            .info()
            .seq,
        1
    );
    assert_eq!(
        list(&*fs, &dir()).unwrap().len(),
        1,
        "the failed file was removed"
    );
}
