//! Online backup (`Db::backup_to`) and loading a directory into memory
//! (`Db::open_in_memory_from`): the copy holds exactly one moment, opens as
//! a durable database, keeps expiry times absolute, and loading it writes
//! nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kvdb::{Batch, Db, ErrorKind, ManualClock, Options, SyncPolicy, Ttl};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect()
}

fn manual(clock: &Arc<ManualClock>) -> Options {
    let mut o = Options::manual_maintenance();
    o.clock = clock.clone();
    o
}

#[test]
fn backup_of_an_in_memory_database_opens_as_a_durable_one_with_absolute_expiry() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let db = Db::in_memory_with(manual(&clock)).unwrap();
    db.put(b"plain", b"1").unwrap();
    db.put(&[0u8, 255, 7], &[1u8, 0, 2]).unwrap();
    db.put_with_ttl(b"lease", b"x", Duration::from_secs(60))
        .unwrap();
    db.put(b"gone", b"x").unwrap();
    db.delete(b"gone").unwrap();

    let backup = tempfile::tempdir().unwrap();
    let dir = backup.path().join("copy");
    let report = db.backup_to(&dir).unwrap();
    assert_eq!(report.entries, 3);
    db.put(b"after", b"not in the copy").unwrap();

    clock.advance(20_000);
    let copy = Db::open(&dir, manual(&clock)).unwrap();
    assert_eq!(copy.get(b"plain").unwrap(), Some(b"1".to_vec()));
    assert_eq!(copy.get(&[0u8, 255, 7]).unwrap(), Some(vec![1u8, 0, 2]));
    assert_eq!(copy.get(b"gone").unwrap(), None);
    assert_eq!(copy.get(b"after").unwrap(), None);
    // 60 s from the backup's clock, 20 s of which have passed: 40 s left.
    assert_eq!(
        copy.ttl(b"lease").unwrap(),
        Some(Ttl::Expires(Duration::from_secs(40)))
    );
    // The copy is an ordinary durable database: it takes writes and keeps them.
    copy.put(b"new", b"kept").unwrap();
    drop(copy);
    let again = Db::open(&dir, manual(&clock)).unwrap();
    assert_eq!(again.get(b"new").unwrap(), Some(b"kept".to_vec()));
    clock.advance(40_000);
    assert_eq!(again.get(b"lease").unwrap(), None);
}

#[test]
fn backup_of_a_durable_database_while_it_is_open() {
    let data = tempfile::tempdir().unwrap();
    let mut o = Options::manual_maintenance();
    o.sync = SyncPolicy::Always;
    let db = Db::open(data.path(), o).unwrap();
    for i in 0..1000u32 {
        db.put(format!("k{i:04}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    db.checkpoint().unwrap();
    db.put(b"k0000", b"changed after the checkpoint").unwrap();
    let backup = tempfile::tempdir().unwrap();
    let report = db.backup_to(backup.path()).unwrap();
    assert_eq!(report.entries, 1000);
    assert_eq!(
        files(backup.path()).len(),
        2,
        "one snapshot file and the lock file"
    );
    let copy = Db::open(backup.path(), Options::manual_maintenance()).unwrap();
    assert_eq!(
        copy.get(b"k0000").unwrap(),
        Some(b"changed after the checkpoint".to_vec())
    );
    assert_eq!(copy.iter().count(), 1000);
}

#[test]
fn backup_refuses_a_directory_that_is_not_empty() {
    let db = Db::in_memory().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious"), b"keep me").unwrap();
    let err = db.backup_to(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(files(dir.path()).len(), 1);
    assert_eq!(
        db.backup_to("").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

/// Two writers move amounts between accounts in batches that keep the total;
/// every backup taken meanwhile must hold exactly one moment: the total.
#[test]
fn backups_taken_during_concurrent_writes_hold_one_moment() {
    const ACCOUNTS: u32 = 50;
    let db = Arc::new(Db::in_memory().unwrap());
    for a in 0..ACCOUNTS {
        db.put(format!("acct{a:02}").as_bytes(), &1000i64.to_le_bytes())
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let (db, stop) = (Arc::clone(&db), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = (i % ACCOUNTS, (i * 7 + 3) % ACCOUNTS);
                    i += 1;
                    if from == to {
                        continue;
                    }
                    // A transaction reads both and writes both in one batch.
                    db.transaction(|txn| {
                        let (f, t) = (format!("acct{from:02}"), format!("acct{to:02}"));
                        let amount =
                            |v: Option<Vec<u8>>| i64::from_le_bytes(v.unwrap().try_into().unwrap());
                        let fv = amount(txn.get(f.as_bytes())?);
                        let tv = amount(txn.get(t.as_bytes())?);
                        txn.put(f.as_bytes(), &(fv - 5).to_le_bytes())?;
                        txn.put(t.as_bytes(), &(tv + 5).to_le_bytes())
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    let root = tempfile::tempdir().unwrap();
    for round in 0..10 {
        let dir = root.path().join(format!("b{round}"));
        db.backup_to(&dir).unwrap();
        let (copy, _) = Db::open_in_memory_from(&dir, Options::manual_maintenance()).unwrap();
        let total: i64 = copy
            .iter()
            .map(|(_, v)| i64::from_le_bytes(v.try_into().unwrap()))
            .sum();
        assert_eq!(total, i64::from(ACCOUNTS) * 1000, "backup {round}");
        assert_eq!(copy.iter().count(), ACCOUNTS as usize);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
}

#[test]
fn loading_into_memory_writes_nothing_and_keeps_expiry_absolute() {
    let clock = Arc::new(ManualClock::new(2_000_000));
    let data = tempfile::tempdir().unwrap();
    {
        let db = Db::open(data.path(), manual(&clock)).unwrap();
        db.put(b"snap", b"from the snapshot").unwrap();
        db.checkpoint().unwrap();
        db.put_with_ttl(b"logged", b"from the log", Duration::from_secs(10))
            .unwrap();
        let mut b = Batch::new();
        b.put(b"b1", b"1").unwrap();
        b.delete(b"snap").unwrap();
        b.put(b"snap", b"rewritten in the log").unwrap();
        db.write(&b).unwrap();
    }
    // A torn tail, as a crash mid-write leaves: recovery would cut it.
    let newest_segment = files(data.path())
        .into_keys()
        .filter(|name| name.ends_with(".log"))
        .max()
        .expect("a log segment");
    let mut torn = std::fs::OpenOptions::new()
        .append(true)
        .open(data.path().join(&newest_segment))
        .unwrap();
    std::io::Write::write_all(&mut torn, &[0x5a; 13]).unwrap();
    drop(torn);
    let before = files(data.path());
    clock.advance(4_000);
    let (mem, report) = Db::open_in_memory_from(data.path(), manual(&clock)).unwrap();
    assert_eq!(report.snapshot_entries, 1);
    assert!(report.wal_records_applied >= 2, "{report}");
    assert_eq!(
        mem.get(b"snap").unwrap(),
        Some(b"rewritten in the log".to_vec())
    );
    assert_eq!(
        mem.ttl(b"logged").unwrap(),
        Some(Ttl::Expires(Duration::from_secs(6)))
    );
    for i in 0..100u32 {
        mem.put(&i.to_le_bytes(), b"memory only").unwrap();
    }
    mem.checkpoint().unwrap();
    mem.sync().unwrap();
    drop(mem);
    assert_eq!(
        files(data.path()),
        before,
        "loading into memory changed the directory"
    );
}

#[test]
fn loading_into_memory_refuses_a_missing_or_open_directory() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope");
    let err = Db::open_in_memory_from(&missing, Options::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(!missing.exists(), "a missing directory was created");

    let open = Db::open(root.path(), Options::manual_maintenance()).unwrap();
    open.put(b"k", b"v").unwrap();
    let err = Db::open_in_memory_from(root.path(), Options::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Locked);
}

#[test]
fn a_backup_of_an_empty_database_opens_empty() {
    let db = Db::in_memory().unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(db.backup_to(dir.path()).unwrap().entries, 0);
    let copy = Db::open(dir.path(), Options::manual_maintenance()).unwrap();
    assert_eq!(copy.iter().count(), 0);
    copy.put(b"k", b"v").unwrap();
}
