//! The database handle: opening (in memory or on a directory), shutdown, and
//! plain reads and writes.

use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kvdb_core::{Cursor, Iter, Op, PreparedBatch, Stats, Store};
use parking_lot::Mutex;

use crate::background::{Nudge, Worker};
use crate::error::{Error, Result};
use crate::evict::Eviction;
use crate::index::query::{IndexIter, IndexQuery};
use crate::index::registry::Registry;
use crate::index::{IndexDef, IndexInfo};
use crate::options::{Options, SyncPolicy};
use crate::persist::checkpoint::CheckpointReport;
use crate::persist::recovery::{RecoveryReport, recover};
use crate::persist::{DurabilityStats, Persist};
use crate::snapshot::Snapshot;
use crate::watch::Feed;

/// State shared by a database handle, its background threads and the
/// handles derived from it.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) options: Options,
    /// `None` in memory.
    pub(crate) persist: Option<Persist>,
    /// The secondary indexes kept.
    pub(crate) indexes: Arc<Registry>,
    /// Recent committed batches and the watchers of them.
    pub(crate) feed: Feed,
    /// The memory limit and what eviction did.
    pub(crate) eviction: Eviction,
    closed: AtomicBool,
}

impl Inner {
    /// Fails once the database is closed, and in a `fork()` child of the
    /// process that opened it.
    #[inline]
    pub(crate) fn check_open(&self) -> Result<()> {
        self.check_process()?;
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Fails in a `fork()` child of the process that opened the database.
    #[inline]
    pub(crate) fn check_process(&self) -> Result<()> {
        if self.store.is_inherited_across_fork() {
            return Err(Error::inherited_across_fork());
        }
        Ok(())
    }
}

/// An open database.
///
/// `Db` is `Send + Sync`: share it between threads by reference or in an
/// `Arc`. Reads never wait for writes; writes are serialised. Snapshots and
/// iterators taken from it stay usable after it is closed.
///
/// # fork()
///
/// A handle belongs to the process that opened it. In a child made by
/// `fork()` every call that can fail returns an
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind) error saying so
/// (snapshots' reads likewise), nothing touches the parent's files, and
/// dropping or closing the handle only forgets it: no lock is taken, no
/// thread joined, no file synced or unlocked, so the parent's database is
/// unaffected. The memory and file descriptors the child inherited stay
/// until it exits or calls `exec`, as with SQLite and LMDB, whose rule is
/// the same: open databases after `fork()`, not before.
pub struct Db {
    pub(crate) inner: Arc<Inner>,
    workers: Mutex<Vec<Worker>>,
    /// Where `reorder` asks the background reordering thread for a pass,
    /// and how it wakes it; `None` without that thread.
    reorder_requests: std::sync::OnceLock<(Arc<crate::reorder::Requests>, Nudge)>,
}

impl Db {
    /// Opens an empty in-memory database with default options. It touches no
    /// file; its contents are gone when it is closed.
    pub fn in_memory() -> Result<Db> {
        Self::in_memory_with(Options::default())
    }

    /// Opens an empty in-memory database with the given options.
    pub fn in_memory_with(options: Options) -> Result<Db> {
        options.validate()?;
        let store = Store::with_clock(Arc::clone(&options.clock));
        Self::in_memory_from_store(store, options)
    }

    /// An in-memory database over `store` (empty, or loaded from a backup).
    pub(crate) fn in_memory_from_store(store: Store, options: Options) -> Result<Db> {
        let feed = Feed::new(options.watch_retention_bytes, store.applied_seq());
        let eviction = Eviction::new(options.memory_limit, options.eviction, &store);
        Self::start(Inner {
            store,
            options,
            persist: None,
            indexes: Arc::default(),
            feed,
            eviction,
            closed: AtomicBool::new(false),
        })
    }

    /// Opens the database in directory `path`, creating it if missing and
    /// recovering its contents: the newest valid snapshot is loaded and the
    /// log after it replayed (a torn tail left by a crash is cut off and
    /// reported in [`Db::recovery_report`]). The path `":memory:"` opens an
    /// in-memory database instead.
    ///
    /// Fails with [`crate::ErrorKind::Locked`] if the directory is open in
    /// this or another process, and with [`crate::ErrorKind::Corruption`] if
    /// the files are damaged beyond what the recovery mode tolerates.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let dir = path.as_ref();
        if dir.as_os_str() == ":memory:" {
            return Self::in_memory_with(options);
        }
        if dir.as_os_str().is_empty() {
            return Err(Error::InvalidArgument("the database path is empty".into()));
        }
        options.validate()?;
        let vfs = Arc::clone(&options.vfs);
        vfs.create_dir_all(dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotADirectory => Error::InvalidArgument(format!(
                "the database path {} is not a directory",
                dir.display()
            )),
            _ => Error::io(format!("creating directory {}", dir.display()), e),
        })?;
        let lock = lock_dir(&*vfs, dir)?;
        let store = Store::with_clock(Arc::clone(&options.clock));
        let (wal, report) = recover(&store, &vfs, dir, &options)?;
        let persist = Persist::new(vfs, dir.to_path_buf(), wal, lock, report);
        let feed = Feed::new(options.watch_retention_bytes, store.applied_seq());
        let eviction = Eviction::new(options.memory_limit, options.eviction, &store);
        Self::start(Inner {
            store,
            options,
            persist: Some(persist),
            indexes: Arc::default(),
            feed,
            eviction,
            closed: AtomicBool::new(false),
        })
    }

    fn start(inner: Inner) -> Result<Db> {
        let db = Db {
            inner: Arc::new(inner),
            workers: Mutex::new(Vec::new()),
            reorder_requests: std::sync::OnceLock::new(),
        };
        for def in db.inner.options.indexes.clone() {
            db.inner.create_index_at_open(def)?;
        }
        // Recovered data over the limit is evicted down to it now.
        db.set_memory_limit(db.inner.options.memory_limit, db.inner.options.eviction)?;
        db.start_workers()?;
        Ok(db)
    }

    /// Starts the thread that unlinks the index nodes of keys evicted ahead
    /// of need (see `evict`), unless it runs already or background
    /// maintenance is off (then evictions unlink their victims themselves).
    pub(crate) fn start_unlinker(&self) -> Result<()> {
        let Some(interval) = self.inner.options.gc_interval else {
            return Ok(());
        };
        let mut workers = self.workers.lock();
        if self.inner.eviction.has_unlinker() {
            return Ok(());
        }
        let inner = Arc::clone(&self.inner);
        let name = "kvdb-unlink";
        let worker = Worker::spawn(name, interval, move || {
            inner.store.unlink_detached();
            inner.prepare_victims();
        })
        .map_err(|e| Error::io(format!("starting background thread {name}"), e))?;
        self.inner.eviction.set_unlinker(worker.nudge_handle());
        workers.push(worker);
        Ok(())
    }

    fn start_workers(&self) -> Result<()> {
        let options = &self.inner.options;
        let mut workers = self.workers.lock();
        let mut spawn = |name: &str, interval, job: Box<dyn FnMut() + Send>| {
            let worker = Worker::spawn(name, interval, job)
                .map_err(|e| Error::io(format!("starting background thread {name}"), e))?;
            let nudge = worker.nudge_handle();
            workers.push(worker);
            Ok::<Nudge, Error>(nudge)
        };
        if let Some(interval) = options.expire_interval {
            let inner = Arc::clone(&self.inner);
            spawn(
                "kvdb-expire",
                interval,
                Box::new(move || {
                    inner.expire_cycle();
                }),
            )?;
        }
        if let Some(interval) = options.gc_interval {
            let store = self.inner.store.clone();
            let per_pass = options.gc_keys_per_pass.max(1);
            spawn(
                "kvdb-gc",
                interval,
                Box::new(move || {
                    store.collect_garbage(per_pass);
                }),
            )?;
        }
        if let Some(interval) = options.reorder_interval {
            let inner = Arc::clone(&self.inner);
            let requests = Arc::new(crate::reorder::Requests::default());
            let served = Arc::clone(&requests);
            let mut ticks = crate::reorder::ReorderTicks::default();
            let nudge = spawn(
                "kvdb-reorder",
                interval,
                Box::new(move || {
                    if served.serve(&inner.store) {
                        return;
                    }
                    let limit = inner.eviction.limit();
                    let room = match limit {
                        0 => u64::MAX,
                        _ => limit.saturating_sub(inner.store.memory_used()),
                    };
                    ticks.tick(&inner.store, room);
                }),
            )?;
            let _ = self.reorder_requests.set((requests, nudge));
        }
        if self.inner.persist.is_none() {
            return Ok(());
        }
        if let SyncPolicy::Interval(interval) = options.sync {
            let inner = Arc::clone(&self.inner);
            spawn(
                "kvdb-sync",
                interval,
                Box::new(move || {
                    if let Some(persist) = &inner.persist
                        && let Err(e) = persist.wal.sync()
                    {
                        persist.note_background_error(&e.into());
                    }
                }),
            )?;
        }
        if options.checkpoint_after_wal_bytes.is_some() {
            let inner = Arc::clone(&self.inner);
            spawn(
                "kvdb-checkpoint",
                options.checkpoint_check_interval,
                Box::new(move || {
                    if let (Err(e), Some(persist)) = (inner.checkpoint_if_due(), &inner.persist) {
                        persist.note_background_error(&e);
                    }
                }),
            )?;
        }
        Ok(())
    }

    /// Closes the database: refuses new writes, stops and joins the
    /// background threads, checkpoints if
    /// [`crate::Options::checkpoint_on_close`] says so, makes every
    /// acknowledged write durable and releases the directory lock.
    /// Snapshots and iterators taken earlier keep working on their view.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<()> {
        if self.inner.store.is_inherited_across_fork() {
            // A fork() child: the background threads do not exist here, a
            // lock may be held forever by a parent thread, and the files are
            // the parent's. Forget everything instead of dropping it.
            std::mem::forget(Arc::clone(&self.inner));
            if let Some(mut workers) = self.workers.try_lock() {
                std::mem::forget(std::mem::take(&mut *workers));
            }
            return Ok(());
        }
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let mut first_error = None;
        // Let writes already past the open check finish before the final sync.
        drop(self.inner.store.writer());
        for mut worker in self.workers.lock().drain(..) {
            if let Err(message) = worker.stop() {
                first_error.get_or_insert(Error::Internal(message));
            }
        }
        if let Some(persist) = &self.inner.persist {
            if self.inner.options.checkpoint_on_close
                && let Err(e) = self.inner.checkpoint_open_or_closing()
            {
                first_error.get_or_insert(e);
            }
            if let Err(e) = persist.wal.sync() {
                first_error.get_or_insert(e.into());
            }
            persist.lock.lock().take();
        }
        // Blocked watchers wake up to find the database closed.
        self.inner.feed.wake_all();
        first_error.map_or(Ok(()), Err)
    }

    /// Makes every acknowledged write durable now, whatever the sync policy.
    /// A no-op in memory.
    pub fn sync(&self) -> Result<()> {
        self.inner.check_process()?;
        match &self.inner.persist {
            Some(persist) => Ok(persist.wal.sync()?),
            None => Ok(()),
        }
    }

    /// Writes a snapshot file of the current state and removes the log it
    /// covers. Writers are not blocked while the snapshot is written. A no-op
    /// in memory.
    pub fn checkpoint(&self) -> Result<CheckpointReport> {
        self.inner.checkpoint()
    }

    /// True if this process is a `fork()` child of the process that opened
    /// the database: the handle then refuses every call that can fail (see
    /// the type's docs).
    pub fn is_inherited_across_fork(&self) -> bool {
        self.inner.store.is_inherited_across_fork()
    }

    /// What recovery did when the database was opened (`None` in memory).
    pub fn recovery_report(&self) -> Option<&RecoveryReport> {
        self.inner.persist.as_ref().map(|p| &p.recovery)
    }

    /// The state of the database's files (`None` in memory).
    pub fn durability_stats(&self) -> Option<DurabilityStats> {
        self.inner.persist.as_ref().map(Persist::stats)
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

    /// The current values of `keys`, copied, in the same order (`None` for
    /// a key absent or expired). Every key is read at the same moment, as
    /// through a snapshot taken for the call, and the reads overlap their
    /// memory accesses: once the database outgrows the CPU's caches this
    /// is several times faster than a get per key. Fails, reading nothing,
    /// if any key is longer than [`crate::MAX_KEY_LEN`].
    pub fn get_many<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values = Vec::with_capacity(keys.len());
        self.get_many_with(keys, |_, v| values.push(v.map(<[u8]>::to_vec)))?;
        Ok(values)
    }

    /// As [`Db::get_many`], calling `f(i, value)` with each value borrowed
    /// (no copy), in order of `i`, the key's position in `keys`.
    pub fn get_many_with<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        mut f: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<()> {
        Ok(self
            .inner
            .store
            .get_many_with(keys, |i, v| f(i, v.map(|v| v.value)))?)
    }

    /// True if `key` holds a live value.
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        Ok(self.inner.store.get_with(key, |v| v.is_some())?)
    }

    /// Stores `value` under `key`, replacing any value and TTL it had.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let ops = [Op::Put {
            key,
            value,
            expires_at: None,
        }];
        let batch = PreparedBatch::new(&ops)?;
        let writer = self.inner.begin_write()?;
        self.inner.commit(writer, batch)
    }

    /// Removes `key`. Returns true if a live value was removed, false if
    /// there was none (then nothing is written).
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        let ops = [Op::Delete { key }];
        let batch = PreparedBatch::new(&ops)?;
        let writer = self.inner.begin_write()?;
        if !writer.read(key, |v| v.is_some())? {
            self.inner.settle_unwritten(writer)?;
            return Ok(false);
        }
        self.inner.commit(writer, batch)?;
        Ok(true)
    }

    /// A consistent read view of the database as it is now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.inner.store.snapshot(), Arc::clone(&self.inner.indexes))
    }

    /// Adds the secondary index `def` and builds it from the records held
    /// now, while other threads go on reading and writing (the write lock
    /// is taken for one chunk of records at a time). Returns once every
    /// record is indexed; views taken from then on may query it. Fails if
    /// an index of that name exists, or (unique index) two records share an
    /// index key ([`crate::ErrorKind::Constraint`]); then no trace of it is
    /// left. Under a memory limit the build makes room for its entries a
    /// chunk of records at a time, as a write does: the policy evicts keys
    /// (and their entries), or the build fails with
    /// [`crate::ErrorKind::MemoryLimit`], leaving no trace of the index
    /// (keys evicted for earlier chunks stay evicted). Not kept across a
    /// reopen: see [`Options::indexes`] (built whole as the database opens,
    /// which then evicts down to the limit).
    pub fn create_index(&self, def: IndexDef) -> Result<()> {
        self.inner.create_index(def)
    }

    /// Removes the index `name` and its entries. Snapshots and iterators
    /// taken before keep reading what they saw; new queries fail.
    pub fn drop_index(&self, name: &str) -> Result<()> {
        self.inner.check_open()?;
        self.inner.drop_index(name)
    }

    /// The indexes the database keeps.
    pub fn indexes(&self) -> Vec<IndexInfo> {
        self.inner
            .indexes
            .all()
            .iter()
            .map(|i| IndexInfo {
                def: i.def.clone(),
                ready: i.ready_seq().is_some(),
            })
            .collect()
    }

    /// The records index `name` finds for `query`, as of now, in index key
    /// order. See [`Snapshot::index`].
    pub fn index(&self, name: &str, query: IndexQuery<'_>) -> Result<IndexIter> {
        self.inner.check_process()?;
        crate::index::query::query(
            &self.inner.store.snapshot(),
            &self.inner.indexes,
            name,
            query,
        )
    }

    /// Iterates over every live key in ascending order, as of now.
    pub fn iter(&self) -> Iter {
        self.inner.store.snapshot().into_range::<&[u8]>(..)
    }

    /// Iterates over the live keys within `range`, as of now.
    pub fn range<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Iter {
        self.inner.store.snapshot().into_range(range)
    }

    /// Iterates over the live keys starting with `prefix`, as of now.
    pub fn prefix(&self, prefix: &[u8]) -> Iter {
        self.inner.store.snapshot().into_prefix(prefix)
    }

    /// A positionable cursor over the live keys within `range`, as of now.
    pub fn cursor<K: AsRef<[u8]>>(&self, range: impl RangeBounds<K>) -> Cursor {
        self.inner.store.snapshot().into_cursor(range)
    }

    /// A copy of the database's statistics.
    pub fn stats(&self) -> Stats {
        self.inner.store.stats()
    }

    /// Runs one garbage-collection pass now, over at most `max_keys` keys.
    pub fn collect_garbage(&self, max_keys: usize) -> kvdb_core::GcReport {
        self.inner.store.collect_garbage(max_keys)
    }

    /// Puts the ordered index's nodes in key order in memory now, finishing
    /// the pass under way if there is one: scans after random inserts run
    /// several times faster once their nodes are in order. Nothing readers
    /// see changes, and reads never wait for it; writers wait for at most
    /// one chunk of 256 keys at a time. The background thread does the same
    /// when writes of new keys pause (see [`Options::reorder_interval`]);
    /// call this after a bulk load to have it done before going on. Does
    /// nothing when no key was inserted since the last pass began. The pass
    /// runs on the background reordering thread (or, with it disabled, a
    /// short-lived one): the new nodes then come from memory the allocator
    /// gives that thread alone, one after the other, and not from holes the
    /// inserting threads left. It holds about 96 bytes per key until it
    /// ends, and the old nodes' memory then stays with the allocator for
    /// later records.
    ///
    /// Fails in a `fork()` child, on a thread that holds the write lock
    /// (inside a transaction's commit), once the database is closed, and if
    /// no thread can be started.
    pub fn reorder(&self) -> Result<kvdb_core::ReorderReport> {
        let store = &self.inner.store;
        if store.is_inherited_across_fork() {
            return Err(kvdb_core::CoreError::InheritedAcrossFork.into());
        }
        if store.scattered_keys() == 0 && !store.reorder_in_progress() {
            return Ok(kvdb_core::ReorderReport::default());
        }
        // The pass runs on another thread, which would wait forever for a
        // write lock this thread holds: refuse that here.
        drop(store.writer()?);
        // On a thread that inserts no keys, the new nodes come one after the
        // other from memory of that thread's own (see `Store::reorder`):
        // the background reordering thread, or a short-lived one.
        if let Some((requests, nudge)) = self.reorder_requests.get() {
            self.inner.check_open()?;
            let ticket = requests.ask();
            nudge.nudge();
            let closed = || self.inner.closed.load(Ordering::Acquire);
            return requests.wait(ticket, closed).ok_or(Error::Closed);
        }
        std::thread::scope(|scope| {
            let helper = std::thread::Builder::new()
                .name("kvdb-reorder-call".to_owned())
                .spawn_scoped(scope, || crate::reorder::full_pass(store))
                .map_err(|e| Error::io("starting the reordering thread", e))?;
            Ok(helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        })
    }

    /// Runs one active expiry cycle now: expired keys are deleted by
    /// writes of their own (logged, and seen by watchers as
    /// [`crate::Change::Expired`]).
    pub fn expire_cycle(&self) -> kvdb_core::ExpireReport {
        self.inner.expire_cycle()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.inner.store.is_inherited_across_fork() {
            // See `shutdown`: nothing of the parent's may be touched.
            std::mem::forget(Arc::clone(&self.inner));
            std::mem::forget(std::mem::take(self.workers.get_mut()));
            return;
        }
        let _ = self.shutdown();
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Db");
        if let Some(persist) = &self.inner.persist {
            d.field("dir", &persist.dir);
        }
        d.field("store", &self.inner.store).finish()
    }
}

/// Takes the lock of database directory `dir`: [`Error::Locked`] if it is
/// open in this or another process.
pub(crate) fn lock_dir(vfs: &dyn kvdb_vfs::Vfs, dir: &Path) -> Result<kvdb_vfs::DirLock> {
    vfs.lock(dir).map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => Error::Locked {
            path: dir.to_path_buf(),
        },
        _ => Error::io(format!("locking {}", dir.display()), e),
    })
}
