//! What an eviction knows of the keys' use when a memory limit is set, or
//! its policy changes between LRU and LFU, at run time: nothing was
//! recorded before (no limit), or it was recorded in the other policy's
//! form. The keys held then count as written at that moment, neither
//! older nor more used than they are known to be.

use std::path::Path;
use std::sync::Arc;

use kvdb::vfs::{DirLock, FileBytes, StdFs, Vfs, WritableFile};
use kvdb::{Db, EvictionPolicy, Options, SyncPolicy};
use kvdb_snapshot::format::AccessKind;

const KEYS: u64 = 4_000;

fn key(i: u64) -> Vec<u8> {
    format!("key-{i:08}").into_bytes()
}

/// The fraction of the keys `of` that `db` holds.
fn held(db: &Db, of: impl Iterator<Item = u64>) -> f64 {
    let (mut held, mut all) = (0u32, 0u32);
    for i in of {
        all += 1;
        held += u32::from(db.get(&key(i)).unwrap().is_some());
    }
    f64::from(held) / f64::from(all)
}

fn even() -> impl Iterator<Item = u64> {
    (0..KEYS).step_by(2)
}

/// Puts [`KEYS`] keys into an in-memory database without a limit, sets one
/// at what they hold under `first` and then `policy` (if it differs), reads
/// the even keys twice, and writes `new` new keys, each evicting.
fn run(first: EvictionPolicy, policy: EvictionPolicy, new: u64) -> Db {
    let db = Db::in_memory_with(Options::manual_maintenance()).unwrap();
    for i in 0..KEYS {
        db.put(&key(i), &[b'v'; 100]).unwrap();
    }
    let used = db.memory_usage().used;
    db.set_memory_limit(used, first).unwrap();
    if first != policy {
        // Some use recorded in the first policy's form.
        for i in (1..KEYS).step_by(2) {
            db.get(&key(i)).unwrap();
        }
        db.set_memory_limit(used, policy).unwrap();
    }
    for _ in 0..2 {
        for i in even() {
            db.get(&key(i)).unwrap();
        }
    }
    for i in KEYS..KEYS + new {
        db.put(&key(i), &[b'n'; 100]).unwrap();
    }
    db
}

#[test]
fn keys_read_since_an_lfu_limit_was_set_outrank_keys_written_after_it() {
    // Read twice since the limit was set, an even key has been used more
    // than a new key written once; the odd keys, not used since, least.
    // 3,000 new keys evict the 2,000 odd keys and 1,000 more: new ones.
    let db = run(
        EvictionPolicy::AllKeysLfu,
        EvictionPolicy::AllKeysLfu,
        3_000,
    );
    let kept = held(&db, even());
    assert!(kept >= 0.9, "{:.0}% of the keys read kept", kept * 100.0);
}

#[test]
fn a_switch_from_lru_to_lfu_does_not_read_recency_as_frequency() {
    // The odd keys' LRU stamps, read as LFU counters, would rank them far
    // above keys read twice under LFU.
    let db = run(
        EvictionPolicy::AllKeysLru,
        EvictionPolicy::AllKeysLfu,
        3_000,
    );
    let kept = held(&db, even());
    assert!(kept >= 0.9, "{:.0}% of the keys read kept", kept * 100.0);
}

/// A file system that runs a hook at the first write to the first snapshot
/// file created: the header, before any entry is read.
struct HookedFs {
    hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

struct HookedFile {
    inner: Box<dyn WritableFile>,
    hook: Option<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for HookedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookedFs")
    }
}

impl WritableFile for HookedFile {
    fn append(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(hook) = self.hook.take() {
            hook();
        }
        self.inner.append(buf)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_at(offset, buf)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.inner.sync()
    }
}

impl Vfs for HookedFs {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        StdFs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        StdFs.list(dir)
    }
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn WritableFile>> {
        let inner = StdFs.create(path)?;
        let snapshot = path.to_string_lossy().ends_with(".kvs.tmp");
        let hook = if snapshot {
            self.hook.lock().unwrap().take()
        } else {
            None
        };
        Ok(Box::new(HookedFile { inner, hook }))
    }
    fn read(&self, path: &Path) -> std::io::Result<FileBytes> {
        StdFs.read(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> std::io::Result<()> {
        StdFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        StdFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        StdFs.remove(path)
    }
    fn sync_file(&self, path: &Path) -> std::io::Result<()> {
        StdFs.sync_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        StdFs.sync_dir(dir)
    }
    fn lock(&self, dir: &Path) -> std::io::Result<DirLock> {
        StdFs.lock(dir)
    }
}

#[test]
fn a_snapshot_a_policy_switch_overlaps_records_the_use_in_one_form() {
    // The switch from LFU to LRU happens after the checkpoint chose what
    // kind of use to record and before it read any key: every word it
    // reads is an LRU stamp. Recorded as LFU, the stamps would read as
    // counters (about 250 here, for keys written once: counter 5).
    let dir = tempfile::tempdir().unwrap();
    let (started, switch) = std::sync::mpsc::channel::<()>();
    let (switched, resume) = std::sync::mpsc::channel::<()>();
    let fs = Arc::new(HookedFs {
        hook: std::sync::Mutex::new(Some(Box::new(move || {
            started.send(()).unwrap();
            resume.recv().unwrap();
        }))),
    });
    let mut options = Options::manual_maintenance();
    options.sync = SyncPolicy::Never;
    options.vfs = fs;
    options.memory_limit = 1 << 40;
    options.eviction = EvictionPolicy::AllKeysLfu;
    let db = Db::open(dir.path(), options).unwrap();
    for i in 0..KEYS {
        db.put(&key(i), &[b'v'; 100]).unwrap();
    }
    std::thread::scope(|s| {
        let checkpoint = s.spawn(|| db.checkpoint().unwrap());
        switch.recv().unwrap();
        db.set_memory_limit(1 << 40, EvictionPolicy::AllKeysLru)
            .unwrap();
        switched.send(()).unwrap();
        checkpoint.join().unwrap();
    });
    let (_, path) = kvdb_snapshot::list(&StdFs, dir.path()).unwrap()[0].clone();
    let file = kvdb_snapshot::SnapshotFile::open(&StdFs, &path).unwrap();
    assert_eq!(
        file.info().access,
        AccessKind::Recency,
        "the kind after the switch"
    );
    let seq = file.info().seq;
    for entry in file.entries() {
        let age = entry.access.unwrap();
        assert!(
            u64::from(age) <= seq / 16,
            "an LRU age of {age} units of 16 writes at sequence {seq}"
        );
    }
}
