//! A TTL counts from the instant its write is applied, not from when the
//! call began: a put that waits for the write lock (behind a log append on
//! a slow disk, a transaction holding the lock) still gets its whole TTL.
//! Pinned with a log whose appends can be held, and a manual clock moved
//! while a writer waits.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kvdb::vfs::{DirLock, FileBytes, StdFs, Vfs, WritableFile};
use kvdb::{Batch, Clock, Db, Options, SyncPolicy, Ttl};

const START_MS: u64 = 5_000_000;
/// The TTL the waiting writer sets.
const TTL: Duration = Duration::from_millis(50);
/// How far the clock moves while the writer waits: past its TTL.
const WAIT_MS: u64 = 100;

/// A manual clock that counts its readings.
#[derive(Debug)]
struct CountingClock {
    now: AtomicU64,
    readings: AtomicU64,
}

impl Clock for CountingClock {
    fn now_ms(&self) -> u64 {
        self.readings.fetch_add(1, Ordering::SeqCst);
        self.now.load(Ordering::SeqCst)
    }
}

/// Holds the first log append made once armed until released.
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    armed: bool,
    holding: bool,
}

impl Gate {
    fn arm(&self) {
        self.state.lock().unwrap().armed = true;
    }

    /// Called by an append: waits there while the gate holds it.
    fn pass(&self) {
        let mut state = self.state.lock().unwrap();
        if !state.armed {
            return;
        }
        state.armed = false;
        state.holding = true;
        self.changed.notify_all();
        while state.holding {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn wait_holding(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.holding {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn release(&self) {
        self.state.lock().unwrap().holding = false;
        self.changed.notify_all();
    }
}

/// The real file system, with log appends that pass through a [`Gate`].
#[derive(Debug)]
struct GatedFs {
    gate: Arc<Gate>,
}

struct GatedFile {
    inner: Box<dyn WritableFile>,
    gate: Arc<Gate>,
}

impl WritableFile for GatedFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        self.gate.pass();
        self.inner.append(buf)
    }

    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.inner.write_at(offset, buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
    }
}

impl Vfs for GatedFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdFs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        StdFs.list(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(GatedFile {
            inner: StdFs.create(path)?,
            gate: Arc::clone(&self.gate),
        }))
    }
    fn read(&self, path: &Path) -> io::Result<FileBytes> {
        StdFs.read(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        StdFs.truncate(path, len)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        StdFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        StdFs.remove(path)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        StdFs.sync_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFs.sync_dir(dir)
    }
    fn lock(&self, dir: &Path) -> io::Result<DirLock> {
        StdFs.lock(dir)
    }
}

/// Runs `write` (which sets [`TTL`] on the key `lease`) while another put
/// holds the write lock in its log append, and moves the clock past the TTL
/// before letting that put go on; then checks that `lease` got its whole
/// TTL, counted from when the write was applied.
fn assert_ttl_counts_from_the_write(
    what: &str,
    write: impl FnOnce(&Db) -> kvdb::Result<()> + Send,
) {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let clock = Arc::new(CountingClock {
        now: AtomicU64::new(START_MS),
        readings: AtomicU64::new(0),
    });
    let mut options = Options::manual_maintenance();
    // Each record is written to the log as it comes, under the write lock.
    options.sync = SyncPolicy::Never;
    options.vfs = Arc::new(GatedFs {
        gate: Arc::clone(&gate),
    });
    options.clock = clock.clone();
    let db = Db::open(dir.path(), options).unwrap();
    gate.arm();
    thread::scope(|s| {
        let holder = s.spawn(|| db.put(b"holder", b"x"));
        gate.wait_holding();
        let before = clock.readings.load(Ordering::SeqCst);
        let waiter = s.spawn(|| write(&db));
        // Give the waiter time to start (and, if it reads the clock before
        // it waits for the lock, to read it) before the clock moves.
        let until = Instant::now() + Duration::from_millis(500);
        while clock.readings.load(Ordering::SeqCst) == before && Instant::now() < until {
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(20));
        clock.now.fetch_add(WAIT_MS, Ordering::SeqCst);
        gate.release();
        holder.join().unwrap().unwrap();
        waiter.join().unwrap().unwrap();
    });
    // The clock has not moved since the waiter's write was applied.
    assert_eq!(
        db.get(b"lease").unwrap().as_deref(),
        Some(&b"v"[..]),
        "{what} that waited {WAIT_MS} ms for the write lock stored a value already expired"
    );
    assert_eq!(db.ttl(b"lease").unwrap(), Some(Ttl::Expires(TTL)), "{what}");
}

#[test]
fn a_put_with_a_ttl_counts_it_from_when_it_is_applied() {
    assert_ttl_counts_from_the_write("a put with a TTL", |db| {
        db.put_with_ttl(b"lease", b"v", TTL)
    });
}

#[test]
fn a_batchs_ttls_count_from_when_it_is_applied() {
    assert_ttl_counts_from_the_write("a batch with a TTL", |db| {
        let mut batch = Batch::new();
        batch.put(b"other", b"w")?;
        batch.put_with_ttl(b"lease", b"v", TTL)?;
        db.write(&batch)
    });
}

#[test]
fn a_transactions_ttls_count_from_its_commit() {
    assert_ttl_counts_from_the_write("a transaction with a TTL", |db| {
        let mut txn = db.begin()?;
        txn.put_with_ttl(b"lease", b"v", TTL)?;
        txn.commit().map(drop)
    });
}
