//! Losing a file that held acknowledged writes is always an error, never a
//! database that opens empty or shorter: a damaged sole snapshot (every kind
//! of damage the loader checks for, including crafted files whose checksums
//! are valid), a log segment cut exactly at a record boundary, and a deleted
//! segment, in every recovery mode.

use std::path::{Path, PathBuf};

use kvdb::{Db, ErrorKind, Options, RecoveryMode};
use kvdb_snapshot::format::{
    AccessKind, ENTRY_HEADER_LEN, FOOTER_LEN, HEADER_LEN, Header, encode_entry, encode_footer,
    encode_header,
};

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::TolerateCorruptTail,
    RecoveryMode::AbsoluteConsistency,
    RecoveryMode::PointInTime,
];

/// No background work, and checkpoints drop every log segment their
/// snapshot covers: the snapshot alone holds what it covers.
fn options(mode: RecoveryMode) -> Options {
    let mut options = Options::manual_maintenance();
    options.recovery = mode;
    options.watch_log_retention_bytes = 0;
    options
}

mod common;
use common::files;

fn key(i: u32) -> Vec<u8> {
    format!("key{i:04}").into_bytes()
}

/// 100 keys, a checkpoint (which drops the log it covers), closed: the
/// snapshot is the only file holding the data.
fn checkpointed_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(RecoveryMode::default())).unwrap();
    for i in 0..100 {
        db.put(&key(i), &i.to_le_bytes()).unwrap();
    }
    db.checkpoint().unwrap();
    db.close().unwrap();
    let snapshots = files(dir.path(), ".kvs");
    assert_eq!(snapshots.len(), 1);
    (dir, snapshots[0].clone())
}

/// Every mode refuses to open `dir` with a corruption error.
fn assert_refused(dir: &Path, what: &str) {
    for mode in MODES {
        match Db::open(dir, options(mode)) {
            Ok(db) => panic!(
                "{what}: {mode:?} opened with {} of 100 keys",
                db.iter().count()
            ),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Corruption, "{what}, {mode:?}: {e}"),
        }
    }
}

/// A snapshot file built from parts, with valid checksums everywhere, so
/// only the structural checks can reject it.
fn crafted(seq: u64, count: u64, entries: &[u8], version: Option<u32>) -> Vec<u8> {
    let mut file = encode_header(&Header {
        seq,
        entries: count,
        created_ms: 1,
        access: AccessKind::None,
    })
    .to_vec();
    if let Some(v) = version {
        file[8..12].copy_from_slice(&v.to_le_bytes());
        let crc = crc32fast::hash(&file[..60]);
        file[60..64].copy_from_slice(&crc.to_le_bytes());
    }
    file.extend_from_slice(entries);
    file.extend_from_slice(&encode_footer(
        entries.len() as u64,
        crc32fast::hash(entries),
    ));
    file
}

fn entries(keys: &[&[u8]]) -> Vec<u8> {
    let mut buf = Vec::new();
    for k in keys {
        encode_entry(&mut buf, k, b"value", None, None);
    }
    buf
}

#[test]
fn a_damaged_sole_snapshot_is_an_error_in_every_mode() {
    let (dir, snapshot) = checkpointed_db();
    let original = std::fs::read(&snapshot).unwrap();
    let seq = u64::from_le_bytes(original[16..24].try_into().unwrap());
    let len = original.len();
    let mut damages: Vec<(String, Vec<u8>)> = Vec::new();
    for at in [
        0,
        20,
        HEADER_LEN + 3,
        len / 2,
        len - FOOTER_LEN + 2,
        len - 1,
    ] {
        let mut b = original.clone();
        b[at] ^= 0x10;
        damages.push((format!("bit flipped at byte {at}"), b));
    }
    damages.push(("truncated to zero".into(), Vec::new()));
    damages.push(("cut in half".into(), original[..len / 2].to_vec()));
    let three = entries(&[b"a", b"b", b"c"]);
    damages.push(("wrong entry count".into(), crafted(seq, 4, &three, None)));
    damages.push((
        "keys out of order".into(),
        crafted(seq, 3, &entries(&[b"a", b"c", b"b"]), None),
    ));
    damages.push((
        "a duplicate key".into(),
        crafted(seq, 3, &entries(&[b"a", b"b", b"b"]), None),
    ));
    let mut long = three.clone();
    long[4..8].copy_from_slice(&1000u32.to_le_bytes());
    damages.push((
        "a value running past the data".into(),
        crafted(seq, 3, &long, None),
    ));
    let mut footer = crafted(seq, 3, &three, None);
    let end = footer.len();
    footer[end - FOOTER_LEN..end - FOOTER_LEN + 8].copy_from_slice(&5u64.to_le_bytes());
    damages.push(("a wrong footer".into(), footer));
    damages.push((
        "an unknown format version".into(),
        crafted(seq, 3, &three, Some(9)),
    ));
    assert!(three.len() > ENTRY_HEADER_LEN);
    for (what, bytes) in damages {
        std::fs::write(&snapshot, &bytes).unwrap();
        assert_refused(dir.path(), &what);
    }
    std::fs::remove_file(&snapshot).unwrap();
    assert_refused(dir.path(), "snapshot deleted");
    // Put back, the same files open whole: the refusals changed nothing.
    std::fs::write(&snapshot, &original).unwrap();
    let db = Db::open(dir.path(), options(RecoveryMode::default())).unwrap();
    assert_eq!(db.iter().count(), 100);
}

#[test]
fn an_older_snapshot_and_the_log_cover_a_damaged_newest_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), options(RecoveryMode::default())).unwrap();
    for i in 0..50 {
        db.put(&key(i), b"v").unwrap();
    }
    db.checkpoint().unwrap();
    for i in 50..100 {
        db.put(&key(i), b"v").unwrap();
    }
    db.checkpoint().unwrap();
    db.close().unwrap();
    let newest = files(dir.path(), ".kvs").pop().unwrap();
    std::fs::write(&newest, b"").unwrap();
    let db = Db::open(dir.path(), options(RecoveryMode::default())).unwrap();
    assert_eq!(db.iter().count(), 100, "fallback recovers everything");
    let report = db.recovery_report().unwrap();
    assert_eq!(report.snapshots_rejected.len(), 1, "and it is reported");
}

/// Three sessions of 10 puts each, so the log holds three segments with
/// records followed by the empty one the last open started.
fn three_sessions() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for session in 0..3 {
        let db = Db::open(dir.path(), options(RecoveryMode::default())).unwrap();
        for i in 0..10 {
            db.put(&key(session * 10 + i), b"v").unwrap();
        }
        db.close().unwrap();
    }
    dir
}

/// Bytes of `segment` up to the end of its first `records` records.
fn record_boundary(segment: &Path, records: usize) -> u64 {
    let bytes = std::fs::read(segment).unwrap();
    let header = kvdb_wal::format::SEGMENT_HEADER_LEN;
    let mut at = header;
    for _ in 0..records {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += kvdb_wal::format::FRAME_HEADER_LEN + len;
    }
    at as u64
}

#[test]
fn a_segment_cut_at_a_record_boundary_before_an_empty_newest_one_is_an_error() {
    let dir = three_sessions();
    let db = Db::open(dir.path(), options(RecoveryMode::default())).unwrap();
    assert_eq!(db.iter().count(), 30);
    db.close().unwrap();
    let segments = files(dir.path(), ".log");
    // The newest segment is the empty one the last open started.
    let newest_with_records = &segments[segments.len() - 2];
    let cut = record_boundary(newest_with_records, 6);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(newest_with_records)
        .unwrap();
    f.set_len(cut).unwrap();
    drop(f);
    assert_refused(dir.path(), "4 whole records cut off a segment");
}

#[test]
fn a_deleted_segment_is_an_error_wherever_it_was() {
    for victim in 0..3 {
        let dir = three_sessions();
        let db = Db::open(dir.path(), options(RecoveryMode::default())).unwrap();
        db.close().unwrap();
        let segments = files(dir.path(), ".log");
        assert!(segments.len() >= 4, "{segments:?}");
        std::fs::remove_file(&segments[victim]).unwrap();
        assert_refused(dir.path(), &format!("segment {victim} deleted"));
    }
}

#[test]
fn a_damaged_snapshot_whose_log_was_kept_for_watchers_recovers_everything_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut keeping = options(RecoveryMode::default());
    keeping.watch_log_retention_bytes = 1 << 20;
    let db = Db::open(dir.path(), keeping.clone()).unwrap();
    for i in 0..100 {
        db.put(&key(i), &i.to_le_bytes()).unwrap();
    }
    db.checkpoint().unwrap();
    db.close().unwrap();
    let snapshot = files(dir.path(), ".kvs").remove(0);
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&snapshot, bytes).unwrap();
    let db = Db::open(dir.path(), keeping).unwrap();
    assert_eq!(db.iter().count(), 100);
    let report = db.recovery_report().unwrap();
    assert_eq!(report.snapshots_rejected.len(), 1, "{report:?}");
    assert_eq!(report.wal_records_applied, 100);
}

#[test]
fn the_error_for_a_damaged_sole_snapshot_names_the_file() {
    let (dir, snapshot) = checkpointed_db();
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&snapshot, bytes).unwrap();
    let err = Db::open(dir.path(), options(RecoveryMode::default())).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&snapshot.display().to_string()), "{text}");
    let source = std::error::Error::source(&err).expect("the loader's error is the source");
    let loader = source
        .downcast_ref::<kvdb_snapshot::SnapshotError>()
        .expect("a SnapshotError");
    assert!(
        matches!(loader, kvdb_snapshot::SnapshotError::Corrupt { path, .. } if *path == snapshot),
        "{loader:?}"
    );
}

#[test]
fn a_snapshot_this_build_cannot_read_is_named_when_the_log_after_it_is_kept() {
    // A database a newer build checkpointed (a format version this build
    // does not read), with writes after the checkpoint: the log holds
    // those, from just after the snapshot. The error must name the
    // snapshot and why it was passed over, not only the log's hole it
    // leaves.
    let (dir, snapshot) = checkpointed_db();
    let db = Db::open(dir.path(), options(RecoveryMode::default())).unwrap();
    db.put(b"after", b"the checkpoint").unwrap();
    db.close().unwrap();
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[8..12].copy_from_slice(&9u32.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&snapshot, &bytes).unwrap();
    let name = snapshot.file_name().unwrap().to_string_lossy().into_owned();
    for mode in MODES {
        let err = Db::open(dir.path(), options(mode)).map(drop).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corruption, "{mode:?}: {err}");
        let message = format!(
            "{err}: {}",
            std::error::Error::source(&err).map_or(String::new(), |s| s.to_string())
        );
        assert!(
            message.contains(&name) && message.contains("format version 9"),
            "{mode:?}: {message}"
        );
    }
}
