//! The database handle: construction, shutdown, and plain reads and writes.

use std::ops::RangeBounds;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kvdb_core::{Cursor, Iter, Op, Stats, Store, check_key, check_value};
use parking_lot::Mutex;

use crate::background::Worker;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::snapshot::Snapshot;

/// State shared by a database handle and the handles derived from it.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) options: Options,
    closed: AtomicBool,
}

impl Inner {
    /// Fails once the database is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }
}

/// An open database.
///
/// `Db` is `Send + Sync`: share it between threads by reference or in an
/// `Arc`. Reads never wait for writes; writes are serialised. Snapshots and
/// iterators taken from it stay usable after it is closed.
pub struct Db {
    pub(crate) inner: Arc<Inner>,
    workers: Mutex<Vec<Worker>>,
}

impl Db {
    /// Opens an empty in-memory database with default options. It touches no
    /// file; its contents are gone when it is closed.
    pub fn in_memory() -> Result<Db> {
        Self::in_memory_with(Options::default())
    }

    /// Opens an empty in-memory database with the given options.
    pub fn in_memory_with(options: Options) -> Result<Db> {
        let store = Store::with_clock(Arc::clone(&options.clock));
        let inner = Arc::new(Inner {
            store,
            options,
            closed: AtomicBool::new(false),
        });
        let db = Db {
            inner,
            workers: Mutex::new(Vec::new()),
        };
        db.start_workers()?;
        Ok(db)
    }

    fn start_workers(&self) -> Result<()> {
        let options = &self.inner.options;
        let mut workers = self.workers.lock();
        if let Some(interval) = options.expire_interval {
            let store = self.inner.store.clone();
            let config = options.expire;
            let worker = Worker::spawn("kvdb-expire", interval, move || {
                store.active_expire_cycle(&config);
            })
            .map_err(|e| Error::io("starting the expiry thread", e))?;
            workers.push(worker);
        }
        if let Some(interval) = options.gc_interval {
            let store = self.inner.store.clone();
            let per_pass = options.gc_keys_per_pass.max(1);
            let worker = Worker::spawn("kvdb-gc", interval, move || {
                store.collect_garbage(per_pass);
            })
            .map_err(|e| Error::io("starting the garbage-collection thread", e))?;
            workers.push(worker);
        }
        Ok(())
    }

    /// Stops and joins the background threads and closes the database.
    /// Snapshots and iterators taken earlier keep working on their view.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        let mut first_error = None;
        for mut worker in self.workers.lock().drain(..) {
            if let Err(message) = worker.stop() {
                first_error.get_or_insert(Error::Internal(message));
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The current value of `key`, copied.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.store.get(key)?)
    }

    /// Calls `f` with the current value of `key` borrowed (no copy), or with
    /// `None` if the key is absent or expired, and returns `f`'s result.
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(Option<&[u8]>) -> R) -> Result<R> {
        Ok(self.inner.store.get_with(key, |v| f(v.map(|v| v.value)))?)
    }

    /// True if `key` holds a live value.
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        Ok(self.inner.store.get_with(key, |v| v.is_some())?)
    }

    /// Stores `value` under `key`, replacing any value and TTL it had.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check_key(key)?;
        check_value(value)?;
        let writer = self.inner.begin_write()?;
        self.inner.commit_put(writer, key, value, None)
    }

    /// Removes `key`. Returns true if a live value was removed, false if
    /// there was none (then nothing is written).
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        check_key(key)?;
        let writer = self.inner.begin_write()?;
        if !writer.read(key, |v| v.is_some())? {
            return Ok(false);
        }
        self.inner.commit(writer, &[Op::Delete { key }])?;
        Ok(true)
    }

    /// A consistent read view of the database as it is now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.inner.store.snapshot())
    }

    /// Iterates over every live key in ascending order, as of now.
    pub fn iter(&self) -> Iter {
        self.inner.store.snapshot().iter()
    }

    /// Iterates over the live keys within `range`, as of now.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Iter {
        self.inner.store.snapshot().range(range)
    }

    /// Iterates over the live keys starting with `prefix`, as of now.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        self.inner.store.snapshot().prefix(prefix)
    }

    /// A positionable cursor over the live keys within `range`, as of now.
    pub fn cursor<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Cursor {
        self.inner.store.snapshot().cursor(range)
    }

    /// A copy of the database's statistics.
    pub fn stats(&self) -> Stats {
        self.inner.store.stats()
    }

    /// Runs one garbage-collection pass now, over at most `max_keys` keys.
    pub fn collect_garbage(&self, max_keys: usize) -> kvdb_core::GcReport {
        self.inner.store.collect_garbage(max_keys)
    }

    /// Runs one active expiry cycle now.
    pub fn expire_cycle(&self) -> kvdb_core::ExpireReport {
        self.inner
            .store
            .active_expire_cycle(&self.inner.options.expire)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("store", &self.inner.store)
            .finish()
    }
}
